"""examples/python/echo_server.py (through `examples/run python`): the same
/echo and /sse contract as the C example, and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from conftest import STOP_TIMEOUT, T, Example, run, w, ws_connect
from test_sse import read_events
from websockets.exceptions import ConnectionClosed


def test_echo(example: Example) -> None:
    async def client() -> None:
        async with ws_connect(f"{example.ws_url}/echo") as ws:
            for m in ("text", b"\x00binary\xff", "ü" * 70000):
                await ws.send(m)
                assert await w(ws.recv()) == m

    run(client())


def test_sse_ticks_and_resume(example: Example) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
            async with c.stream("GET", f"{example.url}/sse") as resp:
                evs = await asyncio.wait_for(read_events(resp, 3), T)
            assert [e["id"] for e in evs] == ["1", "2", "3"]
            for e in evs:
                assert e["event"] == "tick"
                tick, ms = e["data"].split("\n")
                assert tick == f"tick {e['id']}"
                assert abs(int(ms) - time.time() * 1000) < 5000
            # A client reconnecting with Last-Event-ID: N resumes at N+1.
            async with c.stream("GET", f"{example.url}/sse", headers={"Last-Event-ID": "41"}) as resp:
                evs = await asyncio.wait_for(read_events(resp, 2), T)
            assert [e["id"] for e in evs] == ["42", "43"]

    run(go())


def test_connect_close_cycles_do_not_grow_rss(example: Example) -> None:
    """Closed connections are freed: the server's RSS stays flat across many
    connect/echo/close cycles (after a warm-up that sizes its pools)."""

    async def cycles(n: int, batch: int = 50) -> None:
        async def one() -> None:
            async with ws_connect(f"{example.ws_url}/echo") as ws:
                await ws.send("x" * 512)
                await w(ws.recv())

        for _ in range(n // batch):
            await asyncio.gather(*(one() for _ in range(batch)))

    run(cycles(500), timeout=40)
    time.sleep(0.2)
    base = example.rss_kib()
    run(cycles(1500), timeout=40)
    time.sleep(0.2)
    grown = example.rss_kib() - base
    assert grown < 2048, f"server RSS grew by {grown} KiB over 1500 connect/close cycles"


def test_sigterm_closes_1001_and_exits_0(tmp_path: pytest.TempPathFactory) -> None:
    ex = Example(tmp_path / "server.stderr")  # type: ignore[operator]
    try:

        async def client() -> None:
            async with ws_connect(f"{ex.ws_url}/echo") as ws:
                await ws.send("x")
                assert await w(ws.recv()) == "x"
                ex.proc.terminate()
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1001

        run(client())
        assert ex.proc.wait(STOP_TIMEOUT) == 0, ex.log()
        assert "stopped" in ex.log()
    finally:
        ex.kill()
