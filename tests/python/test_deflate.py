"""permessage-deflate (RFC 7692) against the C example with DEFLATE=shared
and DEFLATE=per-connection, driven by the `websockets` client (which offers
compression by default) and by hand-made frames for the error paths."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import zlib

import pytest

from test_websocket import (
    MiB,
    frame,
    parse_head,
    read_close,
    read_frame,
    run,
    upgrade_request,
    w,
    ws_connect,
)


def deflate_raw(data: bytes, *, wbits: int = 15) -> bytes:
    """One message as a permessage-deflate client sends it: raw deflate,
    sync-flushed, without the 00 00 ff ff tail."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


async def open_deflate(server, offer: str = "permessage-deflate"):
    """Raw handshake offering `offer`; returns (reader, writer, response headers)."""
    reader, writer = await w(asyncio.open_connection(server.host, server.port))
    writer.write(upgrade_request(server, extra=f"Sec-WebSocket-Extensions: {offer}\r\n"))
    await w(writer.drain())
    status, headers, _ = parse_head(await w(reader.readuntil(b"\r\n\r\n")))
    assert status == 101
    return reader, writer, headers


def test_negotiated_by_a_real_client_and_echoes(deflate_server):
    async def main():
        async with ws_connect(deflate_server, max_size=None) as ws:
            [ext] = ws.protocol.extensions
            assert ext.name == "permessage-deflate"
            shared = deflate_server.deflate_mode == "shared"
            # Shared mode insists on no context takeover both ways.
            assert ext.remote_no_context_takeover is shared
            assert ext.local_no_context_takeover is shared
            msgs = [json.dumps({"id": i, "user": "ana", "text": "hello " * (i % 50)}) for i in range(300)]
            msgs += [b"\x00\x01\x02" * 100_000, "é€𝄞" * 50_000, "", "short"]
            for m in msgs:
                await w(ws.send(m))
            for m in msgs:
                assert await w(ws.recv(), 30) == m
    run(main())


def test_server_messages_are_compressed_on_the_wire(deflate_server):
    async def main():
        reader, writer, headers = await open_deflate(deflate_server)
        assert headers["sec-websocket-extensions"].startswith("permessage-deflate")
        text = ("the quick brown fox jumps over the lazy dog " * 200).encode()
        writer.write(frame(0x1, text))  # sent uncompressed: RSV1 clear is always allowed
        await w(writer.drain())
        b0, b1 = await w(reader.readexactly(2))
        assert b0 == 0x80 | 0x40 | 0x1, f"expected FIN+RSV1 text, got {b0:#04x}"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await w(reader.readexactly(2)), "big")
        payload = await w(reader.readexactly(n))
        assert n < len(text) // 10
        assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == text
        # Below the threshold (256 bytes) messages go out as they are.
        writer.write(frame(0x1, b"tiny"))
        await w(writer.drain())
        _, op, payload = await read_frame(reader)
        assert (op, payload) == (0x1, b"tiny")
        writer.close()
    run(main())


def test_compressed_client_frames_fragmented_with_ping_between(deflate_server):
    async def main():
        reader, writer, _ = await open_deflate(deflate_server, "permessage-deflate; client_no_context_takeover")
        text = ("fragmented and compressed " * 100).encode()
        body = deflate_raw(text)
        cut = len(body) // 2
        writer.write(frame(0x1, body[:cut], fin=False, rsv=4)  # RSV1 on the first frame only
                     + frame(0x9, b"p")
                     + frame(0x0, body[cut:]))
        await w(writer.drain())
        _, op, payload = await read_frame(reader)
        assert (op, payload) == (0xA, b"p")
        b0, _ = await w(reader.readexactly(2))  # the echo: compressed again
        assert b0 & 0x40
        writer.close()
    run(main())


def test_compression_bomb_closes_1009_without_inflating_it_all(deflate_server):
    async def main():
        reader, writer, _ = await open_deflate(deflate_server)
        # 64 MiB of zeros deflate to ~64 KiB; the limit is 16 MiB.
        bomb = deflate_raw(bytes(64 * MiB))
        assert len(bomb) < 100_000
        writer.write(frame(0x2, bomb, rsv=4))
        await w(writer.drain())
        code, _ = await w(read_close(reader), 20)
        assert code == 1009
        writer.close()
    run(main())


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: (frame(0x2, b"\xff\xff\xff\xff\x00", rsv=4), 1007), id="corrupt-deflate"),
    pytest.param(lambda: (frame(0x1, deflate_raw(b"\xff\xfe not utf-8"), rsv=4), 1007), id="bad-utf8-inside"),
    pytest.param(lambda: (frame(0x9, b"", rsv=4), 1002), id="rsv1-on-ping"),
    pytest.param(lambda: (frame(0x1, b"a", fin=False) + frame(0x0, b"b", rsv=4), 1002), id="rsv1-on-continuation"),
    pytest.param(lambda: (frame(0x1, b"a", rsv=2), 1002), id="rsv2"),
])
def test_bad_compressed_input_closes(deflate_server, bad):
    async def main():
        data, expected = bad()
        reader, writer, _ = await open_deflate(deflate_server)
        writer.write(data)
        await w(writer.drain())
        code, _ = await w(read_close(reader), 20)
        assert code == expected
        writer.close()
    run(main())


@pytest.mark.parametrize("offer, expect", [
    # Unknown, malformed or repeated parameters decline that offer only.
    ("permessage-deflate; foo=1", None),
    ("permessage-deflate; server_max_window_bits=16", None),
    ("permessage-deflate; server_max_window_bits", None),
    ("permessage-deflate; client_no_context_takeover; client_no_context_takeover", None),
    ("x-webkit-deflate-frame", None),
    # ...and the next offer is tried.
    ("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10",
     "server_max_window_bits=10"),
    # client_max_window_bits is named only when the client offered it.
    ("permessage-deflate; client_max_window_bits=12", "client_max_window_bits=12"),
])
def test_offers(deflate_server, offer, expect):
    async def main():
        reader, writer, headers = await open_deflate(deflate_server, offer)
        got = headers.get("sec-websocket-extensions")
        if expect is None:
            assert got is None
            # Declined: the connection works, uncompressed; RSV1 is an error.
            writer.write(frame(0x1, b"x" * 1000))
            await w(writer.drain())
            _, op, payload = await read_frame(reader)
            assert (op, payload) == (0x1, b"x" * 1000)
        else:
            assert got is not None and got.startswith("permessage-deflate") and expect in got
            if "client_max_window_bits" not in offer:
                assert "client_max_window_bits" not in got
        writer.close()
    run(main())


def test_declined_when_deflate_is_off(server):
    async def main():
        async with ws_connect(server) as ws:
            assert ws.protocol.extensions == []
            await w(ws.send("x" * 5000))
            assert await w(ws.recv()) == "x" * 5000
    run(main())


@pytest.mark.parametrize("mode", ["fast", "3", "on"])
def test_unknown_deflate_mode_is_refused_with_the_librarys_message(built, mode):
    """DEFLATE goes to the library by the option's name
    (wsrt_config_set_by_name); the example does not check it, so the
    refusal and its message are the core's."""
    from conftest import ROOT, free_port

    env = dict(os.environ, PORT=str(free_port()), DEFLATE=mode)
    r = subprocess.run(
        [str(ROOT / "build" / "examples" / "echo_server")], env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
    )
    assert r.returncode == 2, r.stderr
    assert "invalid argument" in r.stderr and "deflate must be one of" in r.stderr, r.stderr
    assert mode in r.stderr, r.stderr
