"""The C example's pub/sub endpoints: /broadcast (every message from any
client is published to all clients there, the sender included) and /events
(an SSE stream of the same topic, with a history of $HISTORY events that a
client reconnecting with Last-Event-ID resumes from).

Clients: Python `websockets` for WebSocket, curl for SSE.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import websockets

from conftest import _finish, _start
from test_sse import CurlStream

T = 10.0
HISTORY = 5


@pytest.fixture(scope="module")
def pubsub_server(built, tmp_path_factory):
    srv = _start(built, tmp_path_factory, "pubsub", {"HISTORY": str(HISTORY)})
    yield srv
    _finish(srv)


async def connect(server, path="/broadcast", **kw):
    return await websockets.connect(server.ws_url + path, max_size=None, **kw)


async def settle(clients):
    """Round-trips one message through the topic so every client is known
    to be subscribed before the test's real traffic starts."""
    await clients[0].send("sync")
    for c in clients:
        assert await asyncio.wait_for(c.recv(), T) == "sync"


def test_every_client_gets_every_message_in_sender_order(pubsub_server):
    async def main():
        clients = [await connect(pubsub_server) for _ in range(5)]
        await settle(clients)

        async def send_all(i, c):
            for k in range(40):
                await c.send(f"{i}:{k}" if k % 2 else f"{i}:{k}".encode())

        await asyncio.gather(*(send_all(i, c) for i, c in enumerate(clients)))
        for c in clients:
            got = [await asyncio.wait_for(c.recv(), T) for _ in range(200)]
            for i in range(5):
                mine = [m for m in got if (m if isinstance(m, str) else m.decode()).startswith(f"{i}:")]
                # Each sender's messages arrive in its order, with its type.
                assert [m if isinstance(m, str) else m.decode() for m in mine] == [
                    f"{i}:{k}" for k in range(40)
                ]
                assert all(isinstance(m, str) == (k % 2 == 1) for k, m in enumerate(mine))
        for c in clients:
            await c.close()

    asyncio.run(main())


def test_echo_clients_are_not_subscribed(pubsub_server):
    async def main():
        echo = await connect(pubsub_server, "/echo")
        b = await connect(pubsub_server)
        await settle([b])
        await b.send("to the room")
        assert await asyncio.wait_for(b.recv(), T) == "to the room"
        await echo.send("just me")
        assert await asyncio.wait_for(echo.recv(), T) == "just me"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(echo.recv(), 0.3)
        await echo.close()
        await b.close()

    asyncio.run(main())


def publish(server, texts):
    async def main():
        c = await connect(server)
        await settle([c])
        for t in texts:
            await c.send(t)
        for t in texts:
            assert await asyncio.wait_for(c.recv(), T) == t
        await c.close()

    asyncio.run(main())


def test_sse_resumes_with_last_event_id_by_curl(pubsub_server):
    live = CurlStream(pubsub_server.url + "/events")
    try:
        # curl prints the response head only with the first body bytes,
        # so give it time to subscribe instead of waiting for the head.
        time.sleep(0.5)
        publish(pubsub_server, ["a1", "a2", "a3"])
        live.wait_head()
        assert live.status == 200
        evs = [e for e in live.events(4) if e.data != "sync"][:3]
        assert [e.data for e in evs] == ["a1", "a2", "a3"]
        ids = [int(e.last_event_id) for e in evs]
        assert ids == sorted(ids) and len(set(ids)) == 3
    finally:
        live.close()
    # Gone after a2's id (as if a3 was lost with the connection); two more
    # are published meanwhile.
    publish(pubsub_server, ["b1", "b2"])
    again = CurlStream(pubsub_server.url + "/events", f"Last-Event-ID: {ids[1]}")
    try:
        again.wait_head()
        missed = again.events(4)  # a3, sync, b1, b2 (the sync round trips are events too)
        assert [e.data for e in missed] == ["a3", "sync", "b1", "b2"]
        assert all(int(e.last_event_id) > ids[1] for e in missed)
        # Then live ones.
        publish(pubsub_server, ["c1"])
        assert [e.data for e in again.events(2)] == ["sync", "c1"]
    finally:
        again.close()


def test_sse_history_miss_sends_a_snapshot(pubsub_server):
    live = CurlStream(pubsub_server.url + "/events")
    try:
        time.sleep(0.5)
        publish(pubsub_server, ["old"])
        old_id = [e for e in live.events(2) if e.data == "old"][0].last_event_id
    finally:
        live.close()
    publish(pubsub_server, [f"n{i}" for i in range(HISTORY + 2)])
    for stale in (old_id, "banana", "1"):
        s = CurlStream(pubsub_server.url + "/events", f"Last-Event-ID: {stale}")
        try:
            s.wait_head()
            ev = s.next_event()
            assert (ev.type, ev.data) == ("snapshot", "history unavailable: start over"), stale
        finally:
            s.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_stalled_subscriber_is_closed_and_memory_stays_bounded(own_server):
    """A client that never reads is closed once 1 MiB is queued for it (the
    default slow-consumer limit and policy); the others get everything."""
    # (No tiny SO_RCVBUF: on loopback a window below one MSS makes the
    # final read-out crawl on zero-window probes. Instead more goes through
    # than any kernel buffers hold.)
    stalled = socket.create_connection((own_server.host, own_server.port))
    stalled.sendall(
        b"GET /broadcast HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert stalled.recv(12) == b"HTTP/1.1 101"
    body = "z" * 10_000

    async def main():
        good = await connect(own_server)
        await settle([good])
        before = rss_kib(own_server.proc.pid)
        peak = before
        for k in range(4000):  # 40 MB through the topic
            await good.send(f"{k:05d}{body}")
            if k % 100 == 99:
                for j in range(k - 99, k + 1):
                    assert await asyncio.wait_for(good.recv(), T) == f"{j:05d}{body}"
                peak = max(peak, rss_kib(own_server.proc.pid))
        await good.close()
        return before, peak

    before, peak = asyncio.run(main())
    # Queues are bounded by the limit (1 MiB) plus a message; allow for
    # allocator slack, but nothing like the 40 MB that went through.
    assert peak - before < 8 * 1024, f"RSS grew {peak - before} KiB"
    # The stalled client was closed: reading on finds the end of the stream.
    stalled.settimeout(T)
    total = 0
    try:
        while chunk := stalled.recv(65536):
            total += len(chunk)
    except ConnectionResetError:
        pass
    assert 0 < total < 30_000_000, total
    stalled.close()


@pytest.mark.parametrize("mode", ["shared", "per-connection"])
def test_broadcast_compressed_to_deflate_clients(built, tmp_path_factory, mode):
    srv = _start(built, tmp_path_factory, f"pubsub-{mode}", {"DEFLATE": mode})
    try:
        async def main():
            zipped = [await connect(srv, compression="deflate") for _ in range(3)]
            plain = await connect(srv, compression=None)
            for c in zipped:
                assert "permessage-deflate" in c.response.headers.get("Sec-WebSocket-Extensions", "")
            clients = zipped + [plain]
            await settle(clients)
            msgs = [f'{{"seq": {i}, "text": "{"hello world " * 50}"}}' for i in range(20)]
            for m in msgs:
                await zipped[0].send(m)
            for c in clients:
                assert [await asyncio.wait_for(c.recv(), T) for _ in msgs] == msgs
            for c in clients:
                await c.close()

        asyncio.run(main())
    finally:
        _finish(srv)
