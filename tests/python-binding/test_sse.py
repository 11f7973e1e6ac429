"""The `wsrt` package's Server-Sent Events side, read with `httpx`."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import wsrt
from conftest import HOST, T, run, running


async def read_events(resp: httpx.Response, n: int, comments: list[str] | None = None) -> list[dict[str, str]]:
    """The first `n` events of a stream, as field dicts (multi-line data
    joined by \\n), the way EventSource reads them; comment lines go to
    `comments`."""
    if comments is None:
        comments = []
    events: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    async for line in resp.aiter_lines():
        if line == "":
            if cur:
                events.append(cur)
                cur = {}
                if len(events) == n:
                    return events
            continue
        if line.startswith(":"):
            comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        cur[name] = cur[name] + "\n" + value if name in cur else value
    return events


def client() -> httpx.AsyncClient:
    # Loopback only, never a proxy from the environment.
    return httpx.AsyncClient(timeout=T, trust_env=False)


def test_events_fields_and_last_event_id() -> None:
    seen: list[str | None] = []
    closed: list[int] = []
    errors: dict[str, BaseException] = {}
    server = wsrt.Server(HOST, 0)
    route = server.sse("/events")

    @route.on_open
    def opened(stream: wsrt.SseStream) -> None:
        seen.append(stream.last_event_id)
        start = int(stream.last_event_id or 0) + 1
        stream.comment("hello")
        stream.send("first line\nsecond line", event="tick", id=start, retry_ms=2500)
        stream.send("plain", id=str(start + 1))
        for name, bad in (("id", lambda: stream.send("x", id="a\nb")),
                          ("event", lambda: stream.send("x", event="a\rb")),
                          ("data", lambda: stream.send(b"bytes")),  # type: ignore[arg-type]
                          ("idtype", lambda: stream.send("x", id=1.5)),  # type: ignore[arg-type]
                          ("retry", lambda: stream.send("x", retry_ms=-1)),
                          ("ws_send", lambda: wsrt.WebSocket.send(stream, "x"))):  # type: ignore[arg-type]
            try:
                bad()
            except Exception as e:
                errors[name] = e

    route.on_close(lambda stream: closed.append(stream.id))

    with running(server) as srv:

        async def go() -> None:
            async with client() as c:
                async with c.stream("GET", f"{srv.url}/events") as resp:
                    assert resp.status_code == 200
                    assert resp.headers["content-type"].startswith("text/event-stream")
                    comments: list[str] = []
                    first, second = await asyncio.wait_for(read_events(resp, 2, comments), T)
                assert comments == ["hello"]
                assert first == {"event": "tick", "id": "1", "retry": "2500",
                                 "data": "first line\nsecond line"}
                assert second == {"id": "2", "data": "plain"}
                # A reconnecting EventSource sends the last id it saw.
                async with c.stream("GET", f"{srv.url}/events", headers={"Last-Event-ID": "2"}) as resp:
                    first, _ = await asyncio.wait_for(read_events(resp, 2), T)
                assert first["id"] == "3"

        run(go())
    assert seen == [None, "2"]
    assert isinstance(errors["id"], ValueError) and "SSE id" in str(errors["id"])
    assert isinstance(errors["event"], ValueError) and "event name" in str(errors["event"])
    assert isinstance(errors["data"], TypeError) and "str" in str(errors["data"])
    assert isinstance(errors["idtype"], TypeError)
    assert isinstance(errors["retry"], ValueError) and "retry_ms" in str(errors["retry"])
    assert isinstance(errors["ws_send"], wsrt.InvalidStateError)


def test_server_closes_stream_and_send_after_close_raises() -> None:
    after: list[BaseException] = []
    server = wsrt.Server(HOST, 0)

    async def opened(stream: wsrt.SseStream) -> None:
        stream.send("only one")
        await asyncio.sleep(0.02)
        stream.close()
        try:
            stream.send("too late")
        except wsrt.ConnectionClosedError as e:
            after.append(e)

    server.sse("/once", on_open=opened)
    with running(server) as srv:

        async def go() -> None:
            async with client() as c:
                async with c.stream("GET", f"{srv.url}/once") as resp:
                    body = await asyncio.wait_for(resp.aread(), T)  # ends when the server closes
            assert body == b"data: only one\n\n"

        run(go())
    assert len(after) == 1


def test_approve_hook_refuses_stream_and_static_page() -> None:
    server = wsrt.Server(HOST, 0)
    server.sse("/feed", approve=lambda s: wsrt.Reject(401, "token?") if s.query != "token=ok" else None,
               on_open=lambda s: s.send("welcome"))
    server.static("/", "<h1>hi</h1>")
    with running(server) as srv:

        async def go() -> None:
            async with client() as c:
                r = await c.get(f"{srv.url}/feed")
                assert r.status_code == 401 and "token?" in r.text
                async with c.stream("GET", f"{srv.url}/feed?token=ok") as resp:
                    assert resp.status_code == 200
                    (ev,) = await asyncio.wait_for(read_events(resp, 1), T)
                    assert ev == {"data": "welcome"}
                r = await c.get(f"{srv.url}/")
                assert r.status_code == 200 and r.text == "<h1>hi</h1>"
                assert r.headers["content-type"] == "text/html; charset=utf-8"
                r = await c.get(f"{srv.url}/missing")
                assert r.status_code == 404

        run(go())


@pytest.mark.parametrize("n", [50])
def test_client_disconnect_reports_close(n: int) -> None:
    opened: list[wsrt.SseStream] = []
    closed: list[wsrt.SseStream] = []
    server = wsrt.Server(HOST, 0)
    server.sse("/s", on_open=lambda s: (opened.append(s), s.send("hi")), on_close=closed.append)
    with running(server) as srv:

        async def one(c: httpx.AsyncClient) -> None:
            async with c.stream("GET", f"{srv.url}/s") as resp:
                await asyncio.wait_for(read_events(resp, 1), T)

        async def go() -> None:
            async with client() as c:
                await asyncio.gather(*(one(c) for _ in range(n)))

        run(go())
        for _ in range(int(T / 0.02)):
            if len(closed) == n:
                break
            time.sleep(0.02)
    assert len(opened) == n and sorted(s.id for s in closed) == sorted(s.id for s in opened)
    assert all(s.state is wsrt.ConnState.CLOSED for s in closed)
