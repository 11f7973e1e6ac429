"""permessage-deflate (RFC 7692) through the `wsrt` package: the `deflate*`
Server options, driven by the `websockets` client (which offers
compression by default) and by hand-made frames for what a well-behaved
client never sends (bombs, corrupt data, odd offers)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import struct
import subprocess
import threading
import time
import zlib
from typing import Any, Iterator

import pytest
import wsrt
from conftest import HOST, ROOT, T, Example, Running, free_port, run, running, w, ws_connect
from websockets.exceptions import ConnectionClosed

MiB = 1 << 20
LIMIT = 2 * MiB  # max_message_size of the servers under test
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
TAIL = b"\x00\x00\xff\xff"


# -- servers -------------------------------------------------------------------


class Echo:
    """An echo server on /echo that records each connection's close code by
    its query string (`/echo?name`)."""

    def __init__(self, **options: Any) -> None:
        self.closes: dict[str, int] = {}
        self._cv = threading.Condition()
        self.server = wsrt.Server(HOST, 0, max_message_size=LIMIT, **options)
        route = self.server.websocket("/echo")

        @route.on_message
        def echo(ws: wsrt.WebSocket, msg: str | bytes) -> None:
            ws.send(msg)

        @route.on_close
        def closed(ws: wsrt.WebSocket, code: int, reason: str) -> None:
            with self._cv:
                self.closes[ws.query] = code
                self._cv.notify_all()

    def close_code(self, name: str) -> int:
        """The code the server's on_close saw for `/echo?name`."""
        with self._cv:
            assert self._cv.wait_for(lambda: name in self.closes, T), f"no on_close for {name}"
            return self.closes[name]


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[tuple[Running, Echo]]:
    echo = Echo(**options)
    with running(echo.server) as srv:
        yield srv, echo


@pytest.fixture(scope="module", params=["shared", "per-connection"])
def deflate(request: pytest.FixtureRequest) -> Iterator[tuple[Running, Echo, str]]:
    with serving(deflate=request.param) as (srv, echo):
        yield srv, echo, request.param


# -- raw client ------------------------------------------------------------------


def deflate_raw(data: bytes, *, wbits: int = 15) -> bytes:
    """One message as a permessage-deflate client sends it: raw deflate,
    sync-flushed, without the 00 00 ff ff tail."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload: bytes, *, wbits: int = 15) -> bytes:
    return zlib.decompressobj(-wbits).decompress(payload + TAIL)


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """One masked client frame. `rsv` 4 is RSV1 (compressed)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    if not n:
        return head + key
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """(rsv1, opcode, payload) of the next server frame."""
    b0, b1 = await w(reader.readexactly(2))
    assert b0 & 0x80, "server fragmented a message"
    assert b0 & 0x30 == 0, f"server set RSV2/RSV3: {b0:#04x}"
    assert b1 & 0x80 == 0, "server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await w(reader.readexactly(2)))
    elif n == 127:
        (n,) = struct.unpack("!Q", await w(reader.readexactly(8)))
    return bool(b0 & 0x40), b0 & 0x0F, await w(reader.readexactly(n), 30)


async def read_close(reader: asyncio.StreamReader) -> int | None:
    """Reads frames up to the first close frame: its code."""
    while True:
        _, op, payload = await read_frame(reader)
        if op == 0x8:
            return struct.unpack("!H", payload[:2])[0] if payload else None


async def open_raw(srv: Running, name: str, offer: str | None = "permessage-deflate"
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str | None]:
    """A hand-made handshake on /echo?name offering `offer`; returns the
    streams and the response's Sec-WebSocket-Extensions (None if absent)."""
    reader, writer = await w(asyncio.open_connection(HOST, srv.server.port))
    ext = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else ""
    writer.write((
        f"GET /echo?{name} HTTP/1.1\r\nHost: {HOST}:{srv.server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    ).encode())
    await w(writer.drain())
    head = (await w(reader.readuntil(b"\r\n\r\n"))).decode("latin-1").split("\r\n")
    assert head[0].startswith("HTTP/1.1 101 "), head[0]
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return reader, writer, headers.get("sec-websocket-extensions")


async def echo_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   data: bytes) -> tuple[bool, int, bytes]:
    writer.write(frame(0x1, data))
    await w(writer.drain())
    return await read_frame(reader)


def ext_params(header: str) -> tuple[str, set[str]]:
    name, *params = [p.strip() for p in header.split(";")]
    return name, set(params)


# -- a byte-counting TCP proxy, for what `websockets` puts on the wire --------


class CountingProxy:
    def __init__(self, port: int) -> None:
        self.port = port
        self.up = 0    # client -> server bytes
        self.down = 0  # server -> client bytes
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> "CountingProxy":
        self._server = await asyncio.start_server(self._conn, HOST, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=T)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://{HOST}:{self._server.sockets[0].getsockname()[1]}"

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sr, sw = await asyncio.open_connection(HOST, self.port)

        async def pump(r: asyncio.StreamReader, wr: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await r.read(65536):
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    wr.write(data)
                    await wr.drain()
            except ConnectionError:
                pass
            finally:
                wr.close()

        await asyncio.gather(pump(cr, sw, True), pump(sr, cw, False))


# -- negotiation ---------------------------------------------------------------


def test_negotiated_with_the_websockets_client(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, mode = deflate

    async def main() -> None:
        async with ws_connect(f"{srv.ws_url}/echo?negotiated") as ws:
            header = ws.response.headers["Sec-WebSocket-Extensions"]
            name, params = ext_params(header)
            assert name == "permessage-deflate"
            # websockets offers `permessage-deflate; client_max_window_bits`.
            if mode == "shared":
                # One compressor and decompressor for every connection: no
                # context takeover either way, always.
                assert params == {"server_no_context_takeover", "client_no_context_takeover"}
            else:
                assert params == set(), header
            [ext] = ws.protocol.extensions
            assert ext.name == "permessage-deflate"
            assert ext.remote_no_context_takeover is (mode == "shared")
            assert ext.local_no_context_takeover is (mode == "shared")
            await ws.send("still works")
            assert await w(ws.recv()) == "still works"

    run(main())


def test_shared_mode_forces_no_context_takeover_on_any_offer() -> None:
    with serving(deflate="shared") as (srv, _):

        async def main() -> None:
            for i, offer in enumerate(["permessage-deflate",
                                       "permessage-deflate; server_no_context_takeover",
                                       "permessage-deflate; client_max_window_bits=10"]):
                reader, writer, got = await open_raw(srv, f"o{i}", offer)
                assert got is not None
                _, params = ext_params(got)
                assert {"server_no_context_takeover", "client_no_context_takeover"} <= params, got
                writer.close()

        run(main())


def test_per_connection_answers_what_was_offered() -> None:
    with serving(deflate="per-connection") as (srv, _):

        async def main() -> None:
            cases = [
                ("permessage-deflate", set()),
                ("permessage-deflate; client_no_context_takeover", {"client_no_context_takeover"}),
                ("permessage-deflate; server_no_context_takeover", {"server_no_context_takeover"}),
                ("permessage-deflate; server_max_window_bits=11", {"server_max_window_bits=11"}),
                ("permessage-deflate; client_max_window_bits=12", {"client_max_window_bits=12"}),
            ]
            for i, (offer, want) in enumerate(cases):
                reader, writer, got = await open_raw(srv, f"p{i}", offer)
                assert got is not None
                assert ext_params(got) == ("permessage-deflate", want), (offer, got)
                writer.close()

        run(main())


@pytest.mark.parametrize("offer", [
    "permessage-deflate; foo=1",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "x-webkit-deflate-frame",
])
def test_unacceptable_offer_falls_back_to_no_compression(
        deflate: tuple[Running, Echo, str], offer: str) -> None:
    srv, _, _ = deflate

    async def main() -> None:
        reader, writer, got = await open_raw(srv, "bad-offer", offer)
        assert got is None
        # Declined: messages flow uncompressed, even big compressible ones.
        rsv1, op, payload = await echo_raw(reader, writer, b"x" * 5000)
        assert (rsv1, op, payload) == (False, 0x1, b"x" * 5000)
        writer.close()

    run(main())


def test_unacceptable_offer_from_the_websockets_client(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate

    async def main() -> None:
        # The client's own compression off, a malformed offer sent instead:
        # the server must answer without the extension (websockets would
        # fail the handshake otherwise) and messages flow.
        async with ws_connect(f"{srv.ws_url}/echo?ws-bad-offer", compression=None,
                              additional_headers={"Sec-WebSocket-Extensions":
                                                  "permessage-deflate; server_max_window_bits=99"}) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
            await ws.send("y" * 10_000)
            assert await w(ws.recv()) == "y" * 10_000

    run(main())


def test_a_later_acceptable_offer_is_taken(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate

    async def main() -> None:
        reader, writer, got = await open_raw(
            srv, "second-offer", "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10")
        assert got is not None and "server_max_window_bits=10" in got
        text = b"second offer taken " * 100
        rsv1, op, payload = await echo_raw(reader, writer, text)
        assert rsv1 and op == 0x1 and inflate(payload, wbits=10) == text
        writer.close()

    run(main())


@pytest.mark.parametrize("option", [{}, {"deflate": "off"}, {"deflate": None}, {"deflate": 0}])
def test_off_declines_the_offer(option: dict[str, Any]) -> None:
    with serving(**option) as (srv, echo):

        async def main() -> None:
            async with ws_connect(f"{srv.ws_url}/echo?off") as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert ws.protocol.extensions == []
                big = "z" * 100_000
                await ws.send(big)
                assert await w(ws.recv()) == big
                await ws.send(b"\x00" * 3000)
                assert await w(ws.recv()) == b"\x00" * 3000
            # Not negotiated, so a compressed frame is a protocol error.
            reader, writer, got = await open_raw(srv, "off-rsv1")
            assert got is None
            writer.write(frame(0x1, deflate_raw(b"hello"), rsv=4))
            await w(writer.drain())
            assert await w(read_close(reader)) == 1002
            writer.close()

        run(main())
        assert echo.close_code("off-rsv1") == 1002


# -- messages ------------------------------------------------------------------

SIZES = [0, 1, 100, 255, 256, 257, 1000, 4096, 65535, 65536, 200_000, MiB]


def messages() -> list[str | bytes]:
    rnd = random.Random(7692)
    out: list[str | bytes] = []
    for n in SIZES:
        out.append(("ab€😀 " * n)[: n // 2])  # compressible text, about n bytes of UTF-8
        out.append("".join(chr(rnd.randrange(0x20, 0x3000)) for _ in range(min(n, 100_000))))  # noisy text
        out.append(bytes(i % 251 for i in range(n)))  # compressible binary
        out.append(rnd.randbytes(n))  # incompressible binary
    return out


def test_messages_round_trip_byte_identical(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate
    msgs = messages()

    async def main() -> None:
        # max_queue=None: the client keeps reading while it sends, so the
        # echoes never back up into the server's read pause.
        async with ws_connect(f"{srv.ws_url}/echo?round-trip", max_size=None, max_queue=None) as ws:
            assert ws.protocol.extensions, "compression not negotiated"
            for m in msgs:  # all in flight at once, then all back in order
                await w(ws.send(m))
            for m in msgs:
                got = await w(ws.recv(), 30)
                assert type(got) is type(m) and got == m, (type(m).__name__, len(m))
            # And one at a time.
            for m in msgs[::5]:
                await w(ws.send(m))
                assert await w(ws.recv(), 30) == m

    run(main(), 60)


def test_compressed_client_frames_are_inflated(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate

    async def main() -> None:
        reader, writer, _ = await open_raw(srv, "client-frames",
                                           "permessage-deflate; client_no_context_takeover")
        text = ("fragmented and compressed " * 100).encode()
        body = deflate_raw(text)
        cut = len(body) // 2
        # RSV1 on the first frame only, a ping between the fragments.
        writer.write(frame(0x1, body[:cut], fin=False, rsv=4) + frame(0x9, b"p") + frame(0x0, body[cut:]))
        binary = bytes(range(256)) * 40
        writer.write(frame(0x2, deflate_raw(binary), rsv=4))
        writer.write(frame(0x1, deflate_raw(b""), rsv=4))  # an empty compressed message
        await w(writer.drain())
        assert await read_frame(reader) == (False, 0xA, b"p")
        rsv1, op, payload = await read_frame(reader)
        assert rsv1 and op == 0x1 and inflate(payload) == text
        rsv1, op, payload = await read_frame(reader)
        assert rsv1 and op == 0x2 and inflate(payload) == binary
        assert await read_frame(reader) == (False, 0x1, b"")
        writer.close()

    run(main())


def test_server_messages_are_compressed_above_the_threshold(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate

    async def main() -> None:
        reader, writer, _ = await open_raw(srv, "threshold")
        text = b"the quick brown fox jumps over the lazy dog " * 200
        rsv1, op, payload = await echo_raw(reader, writer, text)
        assert rsv1 and op == 0x1
        assert len(payload) < len(text) // 10
        assert inflate(payload) == text
        # Below the default threshold (256 bytes) messages go out as they are.
        assert await echo_raw(reader, writer, b"a" * 255) == (False, 0x1, b"a" * 255)
        rsv1, _, payload = await echo_raw(reader, writer, b"a" * 256)
        assert rsv1 and inflate(payload) == b"a" * 256
        writer.close()

    run(main())


def test_compressible_messages_take_fewer_bytes_on_the_wire(deflate: tuple[Running, Echo, str]) -> None:
    srv, _, _ = deflate
    msgs = [json.dumps({"id": i, "user": "ana", "room": "lobby", "text": f"hello number {i} " * 60})
            for i in range(200)]
    size = sum(len(m) for m in msgs)

    async def main() -> tuple[int, int]:
        async with CountingProxy(srv.server.port) as proxy:
            async with ws_connect(f"{proxy.url}/echo?wire") as ws:
                assert ws.protocol.extensions
                for m in msgs:
                    await w(ws.send(m))
                for m in msgs:
                    assert await w(ws.recv()) == m
            return proxy.up, proxy.down

    up, down = run(main())
    # Handshake and frame headers included: still a fraction of the payload.
    assert up < size // 5, (up, size)
    assert down < size // 5, (down, size)


def test_context_takeover_follows_the_mode(deflate: tuple[Running, Echo, str]) -> None:
    """The same hard-to-compress message repeated: with context takeover
    (per-connection) every repeat costs a few bytes; with none (shared) each
    message is compressed on its own and costs nearly its size."""
    srv, _, mode = deflate
    msg = base64.b64encode(random.Random(1).randbytes(1536)).decode()  # 2048 chars
    n = 100
    size = n * len(msg)

    async def main() -> tuple[int, int]:
        async with CountingProxy(srv.server.port) as proxy:
            async with ws_connect(f"{proxy.url}/echo?takeover") as ws:
                for _ in range(n):
                    await w(ws.send(msg))
                for _ in range(n):
                    assert await w(ws.recv()) == msg
            return proxy.up, proxy.down

    up, down = run(main())
    if mode == "per-connection":
        assert up < size // 10 and down < size // 10, (up, down, size)
    else:
        assert up > size // 2 and down > size // 2, (up, down, size)


# -- the tuning options ------------------------------------------------------------


def test_threshold_and_level_options() -> None:
    with serving(deflate="shared", deflate_threshold=1000, deflate_level=0) as (srv, _):

        async def main() -> None:
            reader, writer, _ = await open_raw(srv, "level0")
            assert await echo_raw(reader, writer, b"b" * 999) == (False, 0x1, b"b" * 999)
            # Level 0: compressed (RSV1) but stored, so no smaller.
            rsv1, _, payload = await echo_raw(reader, writer, b"b" * 5000)
            assert rsv1 and len(payload) >= 5000 and inflate(payload) == b"b" * 5000
            writer.close()

        run(main())
    with serving(deflate="per-connection", deflate_threshold=0, deflate_level=9) as (srv, _):

        async def main() -> None:
            reader, writer, _ = await open_raw(srv, "level9")
            rsv1, _, payload = await echo_raw(reader, writer, b"c")  # threshold 0: even one byte
            assert rsv1 and inflate(payload) == b"c"
            rsv1, _, payload = await echo_raw(reader, writer, b"b" * 5000)
            assert rsv1 and len(payload) < 100 and inflate(payload) == b"b" * 5000
            writer.close()

        run(main())


def test_server_max_window_bits_option() -> None:
    # A 2 KiB chunk repeated: a 32 KiB window sees the repeats, a 512-byte
    # one cannot (and its output must inflate with a 512-byte window).
    chunk = base64.b64encode(random.Random(2).randbytes(1536))
    text = chunk * 6

    async def echo_with(srv: Running, offer: str) -> tuple[str | None, bytes]:
        reader, writer, got = await open_raw(srv, "window", offer)
        rsv1, _, payload = await echo_raw(reader, writer, text)
        assert rsv1
        writer.close()
        return got, payload

    with serving(deflate="shared", deflate_window_bits=9) as (srv, _):
        got, payload = run(echo_with(srv, "permessage-deflate; server_max_window_bits=12"))
        assert got is not None and "server_max_window_bits=9" in got
        assert inflate(payload, wbits=9) == text
        assert len(payload) > len(text) // 2
    with serving(deflate="shared") as (srv, _):
        got, payload = run(echo_with(srv, "permessage-deflate"))
        assert inflate(payload) == text
        assert len(payload) < len(text) // 3


# The core's messages (core/src/options.rs), passed through as they are:
# they name the option and the value refused.
@pytest.mark.parametrize("options, error, match", [
    ({"deflate": "gzip"}, ValueError, r'^deflate must be .*"per-connection".*, not "gzip"$'),
    ({"deflate": "Shared"}, ValueError, r'^deflate must be .*, not "Shared"$'),
    ({"deflate": 3}, ValueError, r"^deflate must be .*, not 3$"),
    ({"deflate": True}, TypeError, r"^deflate must be a string, not a boolean$"),
    ({"deflate": False}, TypeError, r"^deflate must be a string, not a boolean$"),
    ({"deflate_threshold": -1}, ValueError, r"^deflate_threshold must be .*9007199254740991.*, not -1$"),
    ({"deflate_threshold": 1 << 80}, ValueError, r"^deflate_threshold must be .*, not 1208925819614629174706176$"),
    ({"deflate_threshold": 1 << 53}, ValueError, r"^deflate_threshold must be .*, not 9007199254740992$"),
    ({"deflate_threshold": 1.5}, ValueError, r"^deflate_threshold must be a whole number, not 1.5$"),
    ({"deflate_level": 10}, ValueError, r"^deflate_level must be 0-9, not 10$"),
    ({"deflate_level": -1}, ValueError, r"^deflate_level must be 0-9, not -1$"),
    ({"deflate_level": "6"}, TypeError, r"^deflate_level must be a number, not a string$"),
    ({"deflate_level": True}, TypeError, r"^deflate_level must be a number, not a boolean$"),
    ({"deflate_window_bits": 8}, ValueError, r"^deflate_window_bits must be 9-15, not 8$"),
    ({"deflate_window_bits": 16}, ValueError, r"^deflate_window_bits must be 9-15, not 16$"),
    ({"deflate_window_bits": 0}, ValueError, r"^deflate_window_bits must be 9-15, not 0$"),
])
def test_bad_option_values(options: dict[str, Any], error: type, match: str) -> None:
    server = wsrt.Server(HOST, 0, **options)
    with pytest.raises(error, match=match):
        server.bind()


def test_bad_option_name() -> None:
    with pytest.raises(TypeError, match='unknown option "deflate_server_max_window_bits"'):
        wsrt.Server(HOST, 0, deflate_server_max_window_bits=10).bind()


def test_largest_threshold_means_never() -> None:
    with serving(deflate=1, deflate_threshold=(1 << 53) - 1) as (srv, _):  # 1: "shared"

        async def main() -> None:
            reader, writer, got = await open_raw(srv, "huge-threshold")
            assert got is not None  # negotiated, but nothing is big enough
            assert await echo_raw(reader, writer, b"d" * 100_000) == (False, 0x1, b"d" * 100_000)
            writer.close()

        run(main())


# -- hostile input -----------------------------------------------------------------


def test_compression_bomb_closes_1009(deflate: tuple[Running, Echo, str]) -> None:
    srv, echo, _ = deflate

    async def main() -> None:
        # Just under the limit inflates and echoes.
        reader, writer, _ = await open_raw(srv, "under-limit")
        ok = bytes(LIMIT - 1)
        writer.write(frame(0x2, deflate_raw(ok), rsv=4))
        await w(writer.drain())
        rsv1, op, payload = await read_frame(reader)
        assert rsv1 and op == 0x2 and inflate(payload) == ok
        writer.close()
        # 64 MiB of zeros in a ~64 KiB frame, against a 2 MiB limit.
        reader, writer, _ = await open_raw(srv, "bomb")
        bomb = deflate_raw(bytes(64 * MiB))
        assert len(bomb) < 100_000
        started = time.monotonic()
        writer.write(frame(0x2, bomb, rsv=4))
        await w(writer.drain())
        assert await w(read_close(reader), 20) == 1009
        assert time.monotonic() - started < 5
        writer.close()
        # The same from the websockets client: a message it compresses to
        # a few KiB but that inflates past the limit.
        async with ws_connect(f"{srv.ws_url}/echo?ws-bomb", max_size=None) as ws:
            await ws.send(bytes(LIMIT + 1))
            with pytest.raises(ConnectionClosed):
                await w(ws.recv())
            assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1009

    run(main())
    assert echo.close_code("bomb") == 1009
    assert echo.close_code("ws-bomb") == 1009


@pytest.mark.parametrize("name, data", [
    ("corrupt-deflate", frame(0x2, b"\xff\xff\xff\xff\x00", rsv=4)),
    ("corrupt-text", frame(0x1, b"\x07\x07\x07\x07\x07\x07", rsv=4)),
    ("bad-utf8-inside", frame(0x1, deflate_raw(b"\xff\xfe not utf-8"), rsv=4)),
])
def test_bad_compressed_data_closes_1007(deflate: tuple[Running, Echo, str], name: str, data: bytes) -> None:
    srv, echo, _ = deflate

    async def main() -> None:
        reader, writer, _ = await open_raw(srv, name)
        writer.write(data)
        await w(writer.drain())
        assert await w(read_close(reader), 20) == 1007
        writer.close()

    run(main())
    assert echo.close_code(name) == 1007


@pytest.mark.parametrize("name, data", [
    ("rsv1-on-ping", frame(0x9, b"", rsv=4)),
    ("rsv1-on-continuation", frame(0x1, b"a", fin=False) + frame(0x0, b"b", rsv=4)),
])
def test_rsv1_where_it_cannot_be_closes_1002(deflate: tuple[Running, Echo, str], name: str, data: bytes) -> None:
    srv, echo, _ = deflate

    async def main() -> None:
        reader, writer, _ = await open_raw(srv, name)
        writer.write(data)
        await w(writer.drain())
        assert await w(read_close(reader), 20) == 1002
        writer.close()

    run(main())
    assert echo.close_code(name) == 1002


# -- the example -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "shared", "per-connection"])
def test_example_honours_DEFLATE(tmp_path: Any, mode: str) -> None:
    ex = Example(tmp_path / "server.stderr", env={"DEFLATE": mode})
    try:

        async def client() -> tuple[int, int]:
            async with CountingProxy(ex.port) as proxy:
                async with ws_connect(f"{proxy.url}/echo", max_size=None) as ws:
                    header = ws.response.headers.get("Sec-WebSocket-Extensions")
                    if mode == "off":
                        assert header is None
                    else:
                        assert header is not None
                        want = ({"server_no_context_takeover", "client_no_context_takeover"}
                                if mode == "shared" else set())
                        assert ext_params(header) == ("permessage-deflate", want)
                    for m in ("text", b"\x00binary\xff" * 1000, "ü" * 70000):
                        await ws.send(m)
                        assert await w(ws.recv()) == m
                return proxy.up, proxy.down

        up, down = run(client())
        size = 4 + 8000 + 140000
        if mode == "off":
            assert up > size and down > size
        else:
            assert up < size // 10 and down < size // 10, (up, down)
        assert ex.terminate() == 0, ex.log()
    finally:
        ex.kill()


def test_example_refuses_a_bad_DEFLATE() -> None:
    env = dict(os.environ, PORT=str(free_port()), DEFLATE="gzip")
    r = subprocess.run([str(ROOT / "examples" / "run"), "python"], cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert re.search(r'deflate must be .*, not "gzip"', r.stderr), r.stderr  # the core's message
