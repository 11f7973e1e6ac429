"""Closed connections are freed: their Python objects die with them, and
neither the number of live Python objects nor traced Python memory grows
across many connect/close cycles."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref

import wsrt
from conftest import HOST, run, running, w, ws_connect


def test_connection_objects_are_freed() -> None:
    # Weakly held: a dead connection leaves the set, so the set itself does
    # not grow while connections are freed.
    live: weakref.WeakSet[wsrt.WebSocket] = weakref.WeakSet()
    opened_count = 0
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/echo")

    @route.on_open
    def opened(ws: wsrt.WebSocket) -> None:
        nonlocal opened_count
        ws.data["name"] = f"user {ws.id}"  # per-connection state dies with it too
        live.add(ws)
        opened_count += 1

    @route.on_message
    async def echo(ws: wsrt.WebSocket, msg: str | bytes) -> None:  # a task per message
        ws.send(msg)

    with running(server) as srv:

        async def cycles(n: int, batch: int = 50) -> None:
            async def one() -> None:
                async with ws_connect(f"{srv.ws_url}/echo") as ws:
                    await ws.send("ping")
                    assert await w(ws.recv()) == "ping"

            for _ in range(n // batch):
                await asyncio.gather(*(one() for _ in range(batch)))

        def live_objects() -> int:
            gc.collect()
            return len(gc.get_objects())

        def settled() -> None:
            # Every server-side close has been handled.
            for _ in range(500):
                if srv.call(lambda: len(server.connections)) == 0:
                    return
                asyncio.run(asyncio.sleep(0.01))
            raise AssertionError("connections still open on the server")

        run(cycles(200))
        settled()
        tracemalloc.start()
        try:
            objects0 = srv.call(live_objects)
            traced0 = tracemalloc.get_traced_memory()[0]
            run(cycles(1000), timeout=40)
            settled()
            objects1 = srv.call(live_objects)
            traced1 = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

        alive = srv.call(lambda: len(live))
        assert opened_count == 1200
        assert alive == 0, f"{alive} closed connection objects still alive"
        # A few hundred objects of slack for the client library's caches.
        assert objects1 - objects0 < 500, f"live Python objects grew by {objects1 - objects0}"
        assert traced1 - traced0 < 512 * 1024, f"traced Python memory grew by {traced1 - traced0} bytes"
