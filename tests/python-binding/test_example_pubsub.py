"""examples/python/echo_server.py's pub/sub endpoints, the same contract as
the C example's (tests/python/test_broadcast.py): /broadcast (every message
from any client is published to all clients there, the sender included)
and /events (an SSE stream of the same topic, with a history of $HISTORY
events that a client reconnecting with Last-Event-ID resumes from).

The example runs with this interpreter (the one the package under test is
installed in). Clients: `websockets` and `httpx`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any, Iterator

import pytest
from conftest import HOST, ROOT, T, Example, run, w, ws_connect
from test_pubsub import FrameReader
from test_sse import client as sse_client
from test_sse import read_events

HISTORY = 5


class Events:
    """Reads a stream's events a few at a time (one line iterator for the
    whole response), as EventSource parses them."""

    def __init__(self, resp: Any) -> None:
        self.lines = resp.aiter_lines()

    async def _take(self, n: int) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        cur: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if cur:
                    events.append(cur)
                    cur = {}
                    if len(events) == n:
                        break
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                cur[name] = cur[name] + "\n" + value if name in cur else value
        return events

    async def take(self, n: int) -> list[dict[str, str]]:
        return await w(self._take(n))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    # The example as it ships (Socket.IO recovery on): publishes no socket
    # can hear are not kept for recovery, so the memory bound below holds.
    ex = Example(tmp_path_factory.mktemp("example-pubsub") / "server.stderr",
                 env={"HISTORY": str(HISTORY)},
                 command=[sys.executable, str(ROOT / "examples" / "python" / "echo_server.py")])
    try:
        yield ex
    finally:
        already = ex.proc.poll()
        code = ex.terminate()
    assert already is None, f"example died during the tests (exit {already}):\n{ex.log()}"
    assert code == 0, f"example exited {code} after SIGTERM:\n{ex.log()}"


def connect(ex: Example, path: str = "/broadcast") -> Any:
    return ws_connect(f"{ex.ws_url}{path}", max_size=None)


async def settle(clients: list[Any]) -> None:
    """Round-trips one message through the topic, so every client is known
    to be subscribed before the test's real traffic starts."""
    await clients[0].send("sync")
    for c in clients:
        assert await w(c.recv()) == "sync"


def test_every_client_gets_every_message_in_sender_order(example: Example) -> None:
    async def go() -> None:
        clients = [await connect(example) for _ in range(5)]
        await settle(clients)

        async def send_all(i: int, c: Any) -> None:
            for k in range(40):
                await c.send(f"{i}:{k}" if k % 2 else f"{i}:{k}".encode())

        await asyncio.gather(*(send_all(i, c) for i, c in enumerate(clients)))
        for c in clients:
            got = [await w(c.recv()) for _ in range(200)]
            for i in range(5):
                mine = [m for m in got if (m if isinstance(m, str) else m.decode()).startswith(f"{i}:")]
                # Each sender's messages arrive in its order, with its type.
                assert [m if isinstance(m, str) else m.decode() for m in mine] == [f"{i}:{k}" for k in range(40)]
                assert all(isinstance(m, str) == (k % 2 == 1) for k, m in enumerate(mine))
        for c in clients:
            await c.close()

    run(go())


def test_echo_clients_are_not_subscribed(example: Example) -> None:
    async def go() -> None:
        echo = await connect(example, "/echo")
        b = await connect(example)
        await settle([b])
        await b.send("to the room")
        assert await w(b.recv()) == "to the room"
        await echo.send("just me")
        assert await w(echo.recv()) == "just me"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(echo.recv(), 0.3)
        await echo.close()
        await b.close()

    run(go())


async def publish(ex: Example, texts: list[str]) -> None:
    c = await connect(ex)
    await settle([c])
    for t in texts:
        await c.send(t)
    for t in texts:
        assert await w(c.recv()) == t
    await c.close()


def test_sse_resumes_with_last_event_id(example: Example) -> None:
    async def go() -> None:
        async with sse_client() as hc:
            async with hc.stream("GET", f"{example.url}/events") as resp:
                assert resp.status_code == 200
                await publish(example, ["a1", "a2", "a3"])
                evs = (await w(read_events(resp, 4)))[1:]  # after "sync"
            assert [e["data"] for e in evs] == ["a1", "a2", "a3"]
            ids = [int(e["id"]) for e in evs]
            assert ids == sorted(ids) and len(set(ids)) == 3
            # Gone after a2 (as if a3 was lost with the connection); two
            # more are published meanwhile.
            await publish(example, ["b1", "b2"])
            async with hc.stream("GET", f"{example.url}/events", headers={"Last-Event-ID": str(ids[1])}) as resp:
                # a3, sync, b1, b2 (the sync round trips are events too), then live ones.
                events = Events(resp)
                missed = await events.take(4)
                assert [e["data"] for e in missed] == ["a3", "sync", "b1", "b2"]
                assert all(int(e["id"]) > ids[1] for e in missed) and "event" not in missed[0]
                await publish(example, ["c1"])
                assert [e["data"] for e in await events.take(2)] == ["sync", "c1"]

    run(go())


def test_sse_history_miss_sends_a_snapshot(example: Example) -> None:
    async def go() -> None:
        async with sse_client() as hc:
            async with hc.stream("GET", f"{example.url}/events") as resp:
                await publish(example, ["old"])
                old_id = [e for e in await w(read_events(resp, 2)) if e["data"] == "old"][0]["id"]
            await publish(example, [f"n{i}" for i in range(HISTORY + 2)])
            for stale in (old_id, "banana", "1"):
                async with hc.stream("GET", f"{example.url}/events", headers={"Last-Event-ID": stale}) as resp:
                    (ev,) = await w(read_events(resp, 1))
                    assert ev == {"event": "snapshot", "data": "history unavailable: start over"}, stale

    run(go())


def test_stalled_subscriber_is_closed_and_memory_stays_bounded(example: Example) -> None:
    """A client that never reads is closed once 1 MiB is queued for it (the
    default slow-consumer limit and policy); the others get everything."""
    stalled = socket.create_connection((HOST, example.port), timeout=T)
    stalled.sendall(
        b"GET /broadcast HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += stalled.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    body = "z" * 10_000

    async def go() -> tuple[int, int]:
        good = await connect(example)
        await settle([good])
        before = peak = example.rss_kib()
        for k in range(4000):  # 40 MB through the topic
            await good.send(f"{k:05d}{body}")
            if k % 50 == 49:
                for j in range(k - 49, k + 1):
                    assert await w(good.recv()) == f"{j:05d}{body}"
                peak = max(peak, example.rss_kib())
        await good.close()
        return before, peak

    before, peak = run(go(), timeout=50)
    # Queues are bounded by the limit (1 MiB) plus a message; allow for
    # allocator slack, but nothing like the 40 MB that went through.
    assert peak - before < 8 * 1024, f"RSS grew {peak - before} KiB"
    # The stalled client was closed: reading on finds the end of the stream
    # after at most what the kernel and the 1 MiB queue held.
    reader = FrameReader(stalled)
    total = 0
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            total += len(reader.frame()[1])
    assert 0 < total < 30_000_000, total
    stalled.close()
