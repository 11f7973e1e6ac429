"""The C example's /echo endpoint, driven by the `websockets` client and by
hand-made bytes for what a well-behaved client would never send.

Every await has a timeout; every connection goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import socket
import struct
import subprocess
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.protocol import State

T = 10.0  # seconds for any single await
MiB = 1 << 20
MAX_MESSAGE = 16 * MiB
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3


def run(coro, timeout: float = 30.0):
    """Runs a coroutine to completion, never longer than `timeout`."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def w(aw, timeout: float = T):
    return asyncio.wait_for(aw, timeout)


def ws_connect(server, path: str = "/echo", **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    kw.setdefault("proxy", None)  # never through a proxy: loopback only
    return connect(f"{server.ws_url}{path}", **kw)


# ---------------------------------------------------------------------------
# Raw protocol helpers
# ---------------------------------------------------------------------------

def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
          rsv: int = 0, length: int | None = None) -> bytes:
    """One WebSocket frame. `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 1 << 16:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next server frame; servers never mask."""
    b0, b1 = await w(reader.readexactly(2))
    assert b0 & 0x70 == 0, f"server set RSV bits: {b0:#04x}"
    assert b1 & 0x80 == 0, "server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await w(reader.readexactly(2)))
    elif n == 127:
        (n,) = struct.unpack("!Q", await w(reader.readexactly(8)))
    payload = await w(reader.readexactly(n), 30)
    return bool(b0 & 0x80), b0 & 0x0F, payload


async def read_close(reader) -> tuple[int | None, bytes]:
    """Reads frames up to the first close frame: its (code, reason)."""
    while True:
        _, op, payload = await read_frame(reader)
        if op == 0x8:
            if not payload:
                return None, b""
            return struct.unpack("!H", payload[:2])[0], payload[2:]


def upgrade_request(server, path: str = "/echo", *, key: str = SAMPLE_KEY, version: str = "13",
                    method: str = "GET", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: {version}\r\n"
        f"{extra}\r\n"
    ).encode()


def parse_head(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {raw[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status), headers, body


async def http_exchange(server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends raw request bytes, reads the response to EOF (the server closes)."""
    reader, writer = await w(asyncio.open_connection(server.host, server.port))
    try:
        writer.write(request)
        await w(writer.drain())
        raw = await w(reader.read())  # to EOF
    finally:
        writer.close()
    return parse_head(raw)


async def open_raw(server, path: str = "/echo"):
    """A hand-made WebSocket handshake; returns (reader, writer) after 101."""
    reader, writer = await w(asyncio.open_connection(server.host, server.port))
    writer.write(upgrade_request(server, path))
    await w(writer.drain())
    raw = await w(reader.readuntil(b"\r\n\r\n"))
    status, headers, _ = parse_head(raw)
    assert status == 101, raw
    expect = base64.b64encode(hashlib.sha1((SAMPLE_KEY + GUID).encode()).digest()).decode()
    assert headers["sec-websocket-accept"] == expect
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    return reader, writer


# ---------------------------------------------------------------------------
# Echo through a real client
# ---------------------------------------------------------------------------

def test_echo_text_and_binary_pipelined_in_order(server):
    n = 1000
    msgs = [f"text message {i}" if i % 2 == 0 else f"binary {i}".encode() * (1 + i % 7) for i in range(n)]

    async def main():
        async with ws_connect(server) as ws:
            async def sender():
                for m in msgs:  # all sent before anything is read back
                    await w(ws.send(m))

            send_task = asyncio.create_task(sender())
            got = [await w(ws.recv()) for _ in range(n)]
            await w(send_task)
            return got

    got = run(main())
    for i, (sent, echoed) in enumerate(zip(msgs, got)):
        assert type(echoed) is type(sent), f"message {i}: type {type(echoed)} for {type(sent)}"
        assert echoed == sent, f"message {i} out of order or changed"


def test_unicode_text(server):
    texts = [
        "",
        "héllo wörld",
        "日本語のテキスト",
        "emoji 😀🎉🚀 and 𝄞 (4-byte)",
        "mixed \u0000 nul \u007f del \u00a0 nbsp \ufeff bom",
        "combining e\u0301 a\u0308",
        "\U0010ffff max code point",
        "ü" * 70000,  # 140000 bytes, a 64-bit length header
    ]

    async def main():
        async with ws_connect(server) as ws:
            for t in texts:
                await w(ws.send(t))
                assert await w(ws.recv()) == t

    run(main())


@pytest.mark.parametrize("size", [1 * MiB, 15 * MiB, MAX_MESSAGE], ids=["1MiB", "15MiB", "16MiB-limit"])
def test_large_binary(server, size):
    data = os.urandom(size)

    async def main():
        async with ws_connect(server, max_size=None, write_limit=4 * MiB) as ws:
            await w(ws.send(data), 30)
            echoed = await w(ws.recv(), 30)
            assert isinstance(echoed, bytes)
            assert len(echoed) == size
            assert echoed == data

    run(main(), 60)


def test_message_over_limit_closes_1009(server):
    """One byte over max message size (16 MiB): close 1009."""
    data = bytes(MAX_MESSAGE + 1)

    async def main():
        ws = await w(ws_connect(server, max_size=None))
        try:
            try:
                await w(ws.send(data), 30)
            except ConnectionClosed:
                pass
            with pytest.raises(ConnectionClosed):
                await w(ws.recv(), 30)
            await w(ws.wait_closed(), 30)
            assert ws.protocol.close_rcvd is not None, "no close frame from the server"
            assert ws.protocol.close_rcvd.code == 1009
        finally:
            # Not close() on a closed connection: with a write still buffered
            # when the peer went away, websockets 17.4 on Python 3.11 aborts
            # an already-lost asyncio transport (AttributeError).
            if ws.state is not State.CLOSED:
                await w(ws.close(), 30)

    run(main(), 60)


def test_fragmented_messages(server):
    async def main():
        async with ws_connect(server) as ws:
            await w(ws.send(["frag", "ment", "ed ", "tëxt"]))
            assert await w(ws.recv()) == "fragmented tëxt"
            await w(ws.send([b"\x00\x01", b"", b"\x02" * 1000, b"\xff"]))
            assert await w(ws.recv()) == b"\x00\x01" + b"\x02" * 1000 + b"\xff"

            async def chunks():
                for i in range(50):
                    yield f"<{i}>"

            await w(ws.send(chunks()))
            assert await w(ws.recv()) == "".join(f"<{i}>" for i in range(50))
            # A whole message after fragmented ones is still echoed alone.
            await w(ws.send("after"))
            assert await w(ws.recv()) == "after"

    run(main())


def test_ping_pong(server):
    async def main():
        async with ws_connect(server) as ws:
            for payload in (b"", b"hello", os.urandom(125)):
                pong = await w(ws.ping(payload))
                await w(pong)  # resolved only by a pong carrying this payload
            # Still echoing afterwards.
            await w(ws.send("still here"))
            assert await w(ws.recv()) == "still here"

    run(main())


def test_client_close_4000_is_echoed(server):
    async def main():
        async with ws_connect(server) as ws:
            await w(ws.send("x"))
            assert await w(ws.recv()) == "x"
            await w(ws.close(4000, "bye"))
            assert ws.protocol.close_sent.code == 4000
            assert ws.protocol.close_rcvd is not None, "server sent no close frame"
            assert ws.protocol.close_rcvd.code == 4000
            assert ws.close_code == 4000

    run(main())


def test_200_concurrent_clients(server):
    clients = 250
    per_client = 10

    async def main():
        conns = await w(asyncio.gather(*(ws_connect(server) for _ in range(clients))), 30)
        try:
            async def echo(i, ws):
                for j in range(per_client):
                    msg = f"client {i} message {j}" if j % 2 else f"client {i} message {j}".encode()
                    await w(ws.send(msg))
                    assert await w(ws.recv()) == msg

            await w(asyncio.gather(*(echo(i, ws) for i, ws in enumerate(conns))), 30)
        finally:
            await w(asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True), 30)
        for ws in conns:
            assert ws.close_code == 1000

    run(main(), 60)


# ---------------------------------------------------------------------------
# Hand-made frames
# ---------------------------------------------------------------------------

def test_raw_handshake_and_echo_with_interleaved_ping(server):
    async def main():
        reader, writer = await open_raw(server)
        writer.write(frame(0x1, b"hel", fin=False) + frame(0x9, b"ping!") + frame(0x0, b"lo", fin=True))
        await w(writer.drain())
        fin, op, payload = await read_frame(reader)
        assert (fin, op, payload) == (True, 0xA, b"ping!"), "pong first, with the ping's payload"
        fin, op, payload = await read_frame(reader)
        assert (fin, op, payload) == (True, 0x1, b"hello")
        writer.write(frame(0x8, close_payload(1000)))
        await w(writer.drain())
        assert await read_close(reader) == (1000, b"")
        assert await w(reader.read()) == b"", "server should close TCP after the close handshake"
        writer.close()

    run(main())


def test_invalid_utf8_text_closes_1007(server):
    async def main():
        reader, writer = await open_raw(server)
        writer.write(frame(0x1, b"ok \xff\xfe not utf-8"))
        await w(writer.drain())
        code, _ = await read_close(reader)
        assert code == 1007
        writer.close()

    run(main())


def test_invalid_utf8_across_fragments_closes_1007(server):
    async def main():
        reader, writer = await open_raw(server)
        # "é" is C3 A9: split it, then continue with a byte that is not a continuation.
        writer.write(frame(0x1, b"caf\xc3", fin=False) + frame(0x0, b"(", fin=True))
        await w(writer.drain())
        code, _ = await read_close(reader)
        assert code == 1007
        writer.close()

    run(main())


def test_unmasked_frame_closes_1002(server):
    async def main():
        reader, writer = await open_raw(server)
        writer.write(frame(0x1, b"unmasked", mask=False))
        await w(writer.drain())
        code, _ = await read_close(reader)
        assert code == 1002
        writer.close()

    run(main())


def test_17mib_header_closes_1009_before_payload(server):
    async def main():
        reader, writer = await open_raw(server)
        # Only the header (and mask key); not one byte of the 17 MiB.
        writer.write(frame(0x2, b"", length=17 * MiB))
        await w(writer.drain())
        code, _ = await read_close(reader)
        assert code == 1009
        writer.close()

    run(main())


# ---------------------------------------------------------------------------
# HTTP errors
# ---------------------------------------------------------------------------

def test_unknown_path_404(server):
    async def main():
        status, _, _ = await http_exchange(server, upgrade_request(server, "/nope"))
        assert status == 404
        status, _, _ = await http_exchange(
            server, f"GET /nope HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert status == 404

    run(main())


def test_post_405(server):
    async def main():
        status, _, _ = await http_exchange(server, upgrade_request(server, method="POST"))
        assert status == 405
        body = b"hello"
        status, _, _ = await http_exchange(
            server,
            f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)
        assert status == 405

    run(main())


def test_version_8_is_426_with_version_header(server):
    async def main():
        status, headers, _ = await http_exchange(server, upgrade_request(server, version="8"))
        assert status == 426
        assert headers.get("sec-websocket-version") == "13"

    run(main())


@pytest.mark.parametrize("key", [
    "not-base64!!",
    base64.b64encode(b"fifteen bytes!!").decode(),      # 15 bytes, not 16
    base64.b64encode(b"seventeen bytes!!").decode(),    # 17 bytes
    "",
])
def test_bad_key_400(server, key):
    async def main():
        status, _, _ = await http_exchange(server, upgrade_request(server, key=key))
        assert status == 400

    run(main())


def test_oversized_head_431(server):
    async def main():
        big = upgrade_request(server, extra="X-Filler: " + "a" * (9 * 1024) + "\r\n")
        status, _, _ = await http_exchange(server, big)
        assert status == 431
        many = upgrade_request(server, extra="".join(f"X-H{i}: v\r\n" for i in range(70)))
        status, _, _ = await http_exchange(server, many)
        assert status == 431
        # The server is fine afterwards.
        async with ws_connect(server) as ws:
            await w(ws.send("ok"))
            assert await w(ws.recv()) == "ok"

    run(main())


# ---------------------------------------------------------------------------
# Graceful shutdown (each test has its own server)
# ---------------------------------------------------------------------------

CLOSE_TIMEOUT = 5.0  # the server's default close_timeout


def test_sigterm_closes_websockets_with_1001(own_server):
    srv = own_server

    async def main():
        conns = [await w(ws_connect(srv)) for _ in range(3)]
        for ws in conns:
            await w(ws.send("before"))
            assert await w(ws.recv()) == "before"
        srv.proc.send_signal(signal.SIGTERM)
        for ws in conns:
            with pytest.raises(ConnectionClosedOK):
                await w(ws.recv())
            await w(ws.wait_closed())
            assert ws.protocol.close_rcvd is not None, "no close frame from the server"
            assert ws.protocol.close_rcvd.code == 1001

    run(main())
    code = srv.proc.wait(timeout=CLOSE_TIMEOUT + 3)
    assert code == 0, f"server exited {code} after SIGTERM:\n{srv.log()}"


def test_sigterm_exit_is_prompt_once_close_handshake_done(own_server):
    """After SIGTERM the server sends close 1001 and FIN; the client answers
    with its close frame and FIN in one go. Every connection has then
    finished, so the server must not sit out its close timeout."""
    srv = own_server

    async def main():
        reader, writer = await open_raw(srv)
        writer.write(frame(0x1, b"hi"))
        await w(writer.drain())
        assert await read_frame(reader) == (True, 0x1, b"hi")
        srv.proc.send_signal(signal.SIGTERM)
        code, reason = await read_close(reader)
        assert code == 1001
        assert await w(reader.read()) == b"", "server should half-close after its close frame"
        # The close reply and FIN in one TCP segment (corked, then FIN
        # appended to the queued data), so the server sees both in a single
        # readiness event, as it does whenever a client answers quickly.
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        writer.write(frame(0x8, close_payload(code, reason)))
        writer.write_eof()
        writer.close()
        await w(writer.wait_closed())

    run(main())
    t0 = time.monotonic()
    try:
        code = srv.proc.wait(timeout=CLOSE_TIMEOUT + 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server still running {CLOSE_TIMEOUT + 3}s after SIGTERM:\n{srv.log()}")
    took = time.monotonic() - t0
    assert code == 0, f"server exited {code} after SIGTERM:\n{srv.log()}"
    assert took < 2.0, (
        f"server took {took:.2f}s to exit after the close handshake had finished "
        f"(its close timeout is {CLOSE_TIMEOUT}s): it did not notice the peer's EOF")
