"""A connection's request (`path`, `query`, `headers`, `header(name)`,
`remote_address`, `tls`, `offered_subprotocols`, `last_event_id`): read
from the core while the connection is open (without the headers only the
WebSocket handshake used, as every front serves it), and from its close
event once it is closed, for as long as the application keeps the object.
The approve hook still sees the whole request."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import wsrt
from conftest import HOST, T, run, running, w, ws_connect
from websockets.exceptions import ConnectionClosed

HANDSHAKE_ONLY = {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}


def request_of(conn: Any) -> dict[str, Any]:
    """What a connection tells of its request."""
    got = dict(path=conn.path, query=conn.query, headers=conn.headers, x_test=conn.header("x-test"),
               cookie=conn.header("COOKIE"), missing=conn.header("x-missing"), addr=conn.remote_address,
               tls=conn.tls)
    if isinstance(conn, wsrt.WebSocket):
        got["offered"] = conn.offered_subprotocols
    else:
        got["last_event_id"] = conn.last_event_id
    return got


def test_websocket_request_open_at_close_and_after() -> None:
    kept: list[wsrt.WebSocket] = []
    seen: dict[str, dict[str, Any]] = {}
    opened, closed = threading.Event(), threading.Event()
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/room", subprotocols=["chat.v2"])

    @route.on_open
    def on_open(ws: wsrt.WebSocket) -> None:
        kept.append(ws)
        seen["open"] = request_of(ws)
        seen["open"]["repr"] = repr(ws)
        opened.set()

    @route.on_message
    def on_message(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        seen["message"] = request_of(ws)
        ws.send("ok")

    @route.on_close
    def on_close(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        seen["close"] = request_of(ws)
        seen["close"]["state"] = ws.state
        closed.set()

    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/room?user=ann&x=1", subprotocols=["chat.v1", "chat.v2"],
                                  additional_headers={"X-Test": "yes", "Cookie": "a=1; b=2"}) as ws:
                seen["client"] = {"addr": ws.local_address[:2]}
                assert await asyncio.to_thread(opened.wait, T)
                # From this thread (not the server's loop), while open.
                seen["other_thread"] = request_of(kept[0])
                await ws.send("hi")
                assert await w(ws.recv()) == "ok"
            assert await asyncio.to_thread(closed.wait, T)
            # After the close, the server still running.
            seen["after"] = request_of(kept[0])

        run(client())
    # After the server stopped too.
    seen["stopped"] = request_of(kept[0])

    opened_view = seen["open"]
    assert opened_view["path"] == "/room" and opened_view["query"] == "user=ann&x=1"
    assert opened_view["x_test"] == "yes" and opened_view["cookie"] == "a=1; b=2"
    assert opened_view["missing"] is None and opened_view["tls"] is None
    assert opened_view["addr"] == tuple(seen["client"]["addr"]) and opened_view["addr"][0] == HOST
    assert opened_view["offered"] == ["chat.v1", "chat.v2"]
    assert " /room " in opened_view["repr"]
    names = [k.lower() for k, _ in opened_view["headers"]]
    assert not HANDSHAKE_ONLY & set(names), names
    assert "host" in names and "sec-websocket-protocol" in names
    assert ("X-Test", "yes") in opened_view["headers"] and ("Cookie", "a=1; b=2") in opened_view["headers"]
    for when in ("other_thread", "message", "close", "after", "stopped"):
        view = {k: v for k, v in seen[when].items() if k != "state"}
        assert view == {k: v for k, v in opened_view.items() if k != "repr"}, when
    assert seen["close"]["state"] is wsrt.ConnState.CLOSED
    assert kept[0].state is wsrt.ConnState.CLOSED and " /room " in repr(kept[0])


def test_approve_sees_the_whole_request_open_the_kept_one() -> None:
    seen: dict[str, Any] = {}
    closed = threading.Event()
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/private", on_message=lambda ws, m: ws.send(m))

    @route.approve
    async def approve(ws: wsrt.WebSocket) -> None:
        await asyncio.sleep(0.01)
        seen["approve"] = (ws, ws.headers, ws.header("Sec-WebSocket-Key"), ws.path, ws.query)

    @route.on_open
    def on_open(ws: wsrt.WebSocket) -> None:
        seen["open"] = (ws, ws.headers, ws.header("Sec-WebSocket-Key"), ws.path, ws.query)

    @route.on_close
    def on_close(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        seen["close"] = (ws, ws.headers, ws.header("Sec-WebSocket-Key"), ws.path, ws.query)
        closed.set()

    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/private?t=1", additional_headers={"Authorization": "x"}) as ws:
                await ws.send("in")
                assert await w(ws.recv()) == "in"
            assert await asyncio.to_thread(closed.wait, T)

        run(client())
    a_ws, a_headers, a_key, a_path, a_query = seen["approve"]
    o_ws, o_headers, o_key, o_path, o_query = seen["open"]
    assert a_ws is o_ws is seen["close"][0]
    assert a_key is not None and ("Sec-WebSocket-Key", a_key) in a_headers
    assert {"upgrade", "connection", "sec-websocket-version"} <= {k.lower() for k, _ in a_headers}
    assert o_key is None and not HANDSHAKE_ONLY & {k.lower() for k, _ in o_headers}
    assert ("Authorization", "x") in o_headers and (a_path, a_query) == (o_path, o_query) == ("/private", "t=1")
    assert seen["close"][1:] == seen["open"][1:]


def test_sse_request_open_at_close_and_after() -> None:
    kept: list[wsrt.SseStream] = []
    seen: dict[str, dict[str, Any]] = {}
    closed = threading.Event()
    server = wsrt.Server(HOST, 0)
    route = server.sse("/feed")

    @route.on_open
    def on_open(stream: wsrt.SseStream) -> None:
        kept.append(stream)
        seen["open"] = request_of(stream)
        stream.send("one", id=int(stream.last_event_id or 0) + 1)

    @route.on_close
    def on_close(stream: wsrt.SseStream) -> None:
        seen["close"] = request_of(stream)
        closed.set()

    with running(server) as srv:

        async def go() -> None:
            async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
                headers = {"Last-Event-ID": "41", "X-Test": "sse", "Cookie": "c=3"}
                async with c.stream("GET", f"{srv.url}/feed?topic=a", headers=headers) as resp:
                    assert resp.status_code == 200
                    async for line in resp.aiter_lines():
                        if line.startswith("id:"):
                            assert line == "id: 42"
                            break
                    seen["other_thread"] = request_of(kept[0])
                    # The server ends the stream (on_close follows).
                    await asyncio.to_thread(srv.call, kept[0].close)
            assert await asyncio.to_thread(closed.wait, T)
            seen["after"] = request_of(kept[0])

        run(go())
    seen["stopped"] = request_of(kept[0])

    opened = seen["open"]
    assert opened["path"] == "/feed" and opened["query"] == "topic=a" and opened["last_event_id"] == "41"
    assert opened["x_test"] == "sse" and opened["cookie"] == "c=3" and opened["addr"][0] == HOST
    assert ("Last-Event-ID", "41") in opened["headers"] and opened["tls"] is None
    for when in ("other_thread", "close", "after", "stopped"):
        assert seen[when] == opened, when


def test_sse_client_leaving_keeps_the_request() -> None:
    kept: list[wsrt.SseStream] = []
    closed = threading.Event()
    server = wsrt.Server(HOST, 0)
    server.sse("/feed", on_open=lambda s: (kept.append(s), s.send("x")), on_close=lambda s: closed.set())

    with running(server) as srv:

        async def go() -> None:
            async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
                async with c.stream("GET", f"{srv.url}/feed?q", headers={"Last-Event-ID": "7"}) as resp:
                    async for line in resp.aiter_lines():
                        if line.startswith("data:"):
                            break
            # The client left: the server finds out on its next write.
            for _ in range(200):
                if closed.is_set():
                    break
                srv.call(lambda: kept[0].state is wsrt.ConnState.OPEN and kept[0].comment("ping"))
                await asyncio.sleep(0.02)
            assert closed.is_set()

        run(go())
    assert kept[0].path == "/feed" and kept[0].query == "q" and kept[0].last_event_id == "7"


def test_closed_websocket_keeps_its_request_after_a_client_abort() -> None:
    kept: list[wsrt.WebSocket] = []
    closed = threading.Event()
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/w")
    route.on_open(lambda ws: kept.append(ws))
    route.on_close(lambda ws, code, reason: closed.set())

    with running(server) as srv:

        async def client() -> None:
            ws = await ws_connect(f"{srv.ws_url}/w?abort=1", additional_headers={"X-Test": "gone"})
            await ws.send("x")
            ws.transport.abort()  # no close handshake: 1006
            try:
                await ws.wait_closed()
            except ConnectionClosed:
                pass
            assert await asyncio.to_thread(closed.wait, T)

        run(client())
    assert kept[0].query == "abort=1" and kept[0].header("X-Test") == "gone"
    assert kept[0].remote_address[0] == HOST
