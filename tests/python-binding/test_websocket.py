"""The `wsrt` package's WebSocket side, driven by the `websockets` client."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
import wsrt
from conftest import HOST, T, run, running, w, ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def echo_server(**options: object) -> wsrt.Server:
    server = wsrt.Server(HOST, 0, **options)

    @server.websocket("/echo").on_message
    def echo(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        ws.send(msg)

    return server


def route(server: wsrt.Server, path: str) -> wsrt.Route:
    return next(r for r in server._routes if r.path == path)


def close_code(ws: object) -> int | None:
    rcvd = ws.protocol.close_rcvd  # type: ignore[attr-defined]
    return None if rcvd is None else rcvd.code


def test_echo_text_and_binary_in_order() -> None:
    with running(echo_server()) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/echo") as ws:
                sent = [f"msg {i}" if i % 2 else f"bin {i}".encode() for i in range(500)]
                for m in sent:
                    await ws.send(m)
                got = [await w(ws.recv()) for _ in sent]
                assert got == sent
                big = bytes(range(256)) * 4096  # 1 MiB
                await ws.send(big)
                assert await w(ws.recv()) == big
                await ws.send("é☃😀")
                assert await w(ws.recv()) == "é☃😀"

        run(client())


def test_send_accepts_bytes_like_and_async_handlers() -> None:
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/x")

    @route.on_open
    async def opened(ws: wsrt.WebSocket) -> None:
        await asyncio.sleep(0)
        ws.send(bytearray(b"ba"))
        ws.send(memoryview(b"xmvx")[1:3])
        ws.send(b"by")

    @route.on_message
    async def later(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        await asyncio.sleep(0.01)  # sends from a task, outside any event turn
        ws.send(f"late {msg}")

    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/x") as ws:
                assert [await w(ws.recv()) for _ in range(3)] == [b"ba", b"mv", b"by"]
                await ws.send("hi")
                assert await w(ws.recv()) == "late hi"

        run(client())


def test_request_attributes_and_server_close() -> None:
    seen: dict[str, object] = {}
    closed: list[tuple[int, str]] = []
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/room", subprotocols=["chat.v2", "chat.v1"])

    @route.on_open
    def opened(ws: wsrt.WebSocket) -> None:
        seen.update(path=ws.path, query=ws.query, ua=ws.header("X-Test"), proto=ws.subprotocol,
                    addr=ws.remote_address, state=ws.state, hdrs=dict(ws.headers))

    @route.on_message
    def msg(ws: wsrt.WebSocket, data: str | bytes) -> None:
        ws.close(4001, "bye now")

    @route.on_close
    def on_close(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        closed.append((code, reason))

    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/room?user=ann", subprotocols=["chat.v1", "chat.v2"],
                                  additional_headers={"X-Test": "yes"}) as ws:
                assert ws.subprotocol == "chat.v2"  # the server's preference
                await ws.send("x")
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert close_code(ws) == 4001
                assert ws.protocol.close_rcvd.reason == "bye now"

        run(client())
    assert seen["path"] == "/room" and seen["query"] == "user=ann" and seen["ua"] == "yes"
    assert seen["proto"] == "chat.v2" and seen["state"] is wsrt.ConnState.OPEN
    assert seen["addr"][0] == HOST and seen["hdrs"]["X-Test"] == "yes"
    assert closed == [(4001, "bye now")]


def test_oversized_message_closes_1009() -> None:
    closes: list[int] = []
    server = echo_server(max_message_size=1024)
    route(server, "/echo").on_close(lambda ws, code, reason: closes.append(code))
    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/echo") as ws:
                await ws.send("a" * 1024)
                assert await w(ws.recv()) == "a" * 1024
                await ws.send(b"b" * 1025)
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert close_code(ws) == 1009

        run(client())
    assert closes == [1009]


def test_invalid_utf8_closes_1007() -> None:
    with running(echo_server()) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/echo") as ws:
                await ws.send(b"ok \xff\xfe not utf-8", text=True)
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert close_code(ws) == 1007

        run(client())


def test_approve_hook_refuses_and_accepts() -> None:
    asked: list[tuple[str, wsrt.ConnState]] = []
    server = echo_server()
    route = server.websocket("/private", on_message=lambda ws, m: ws.send(m))

    @route.approve
    async def check(ws: wsrt.WebSocket) -> wsrt.Accept | wsrt.Reject:
        asked.append((ws.path, ws.state))
        await asyncio.sleep(0.01)  # e.g. a token lookup
        if ws.header("Authorization") != "Bearer good":
            return wsrt.Reject(401, "who are you?")
        return wsrt.Accept()

    server.websocket("/nobody", approve=lambda ws: False)
    server.websocket("/teapot", approve=lambda ws: 418)

    def broken(ws: wsrt.WebSocket) -> None:
        raise RuntimeError("hook bug")

    server.websocket("/broken", approve=broken)
    with running(server) as srv:

        async def client() -> None:
            with pytest.raises(InvalidStatus) as e:
                await ws_connect(f"{srv.ws_url}/private")
            assert e.value.response.status_code == 401
            assert b"who are you?" in e.value.response.body
            for path, status in (("/nobody", 403), ("/teapot", 418), ("/broken", 500)):
                with pytest.raises(InvalidStatus) as e:
                    await ws_connect(f"{srv.ws_url}{path}")
                assert e.value.response.status_code == status, path
            async with ws_connect(f"{srv.ws_url}/private",
                                  additional_headers={"Authorization": "Bearer good"}) as ws:
                await ws.send("in")
                assert await w(ws.recv()) == "in"

        run(client())
    assert asked == [("/private", wsrt.ConnState.CONNECTING)] * 2


def test_approve_hook_chooses_subprotocol() -> None:
    server = wsrt.Server(HOST, 0)
    server.websocket("/p", subprotocols=["a", "b"], approve=lambda ws: wsrt.Accept("b"),
                     on_open=lambda ws: ws.send(ws.subprotocol or "none"))
    # Accepting without naming one: the route's preference among the offered.
    server.websocket("/q", subprotocols=["b", "a"], approve=lambda ws: True,
                     on_open=lambda ws: ws.send(ws.subprotocol or "none"))
    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/p", subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"
                assert await w(ws.recv()) == "b"
            async with ws_connect(f"{srv.ws_url}/q", subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"
                assert await w(ws.recv()) == "b"

        run(client())


def test_ping_pong_and_drained() -> None:
    pongs: list[bytes] = []
    amounts: list[int] = []
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/p")

    @route.on_open
    async def opened(ws: wsrt.WebSocket) -> None:
        ws.ping(b"are you there")
        ws.send(b"x" * (8 << 20))
        amounts.append(ws.buffered_amount)
        await asyncio.wait_for(ws.drained(), T)
        amounts.append(ws.buffered_amount)
        ws.send("drained")

    route.on_pong(lambda ws, data: pongs.append(data))
    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/p", max_size=None) as ws:
                assert len(await w(ws.recv())) == 8 << 20
                assert await w(ws.recv()) == "drained"

        run(client())
    assert pongs == [b"are you there"]
    assert amounts[-1] == 0


def test_api_errors_are_clear_exceptions() -> None:
    results: dict[str, BaseException | None] = {}
    server = wsrt.Server(HOST, 0)
    route = server.websocket("/e")

    def attempt(name: str, fn: object) -> None:
        try:
            fn()  # type: ignore[operator]
            results[name] = None
        except BaseException as e:
            results[name] = e

    @route.on_open
    def opened(ws: wsrt.WebSocket) -> None:
        attempt("int", lambda: ws.send(42))
        attempt("code", lambda: ws.close(999))
        attempt("reason", lambda: ws.close(1000, "r" * 124))
        attempt("ping", lambda: ws.ping(b"p" * 126))
        attempt("surrogates", lambda: ws.send(b"\xff".decode("utf-8", "surrogateescape")))
        attempt("sse_on_ws", lambda: wsrt.SseStream.comment(ws, "x"))  # type: ignore[arg-type]
        ws.close(1000, "done")
        attempt("after_close", lambda: ws.send("late"))

    ended = threading.Event()

    @route.on_close
    def closed(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        attempt("closed", lambda: ws.send("later"))
        attempt("close_again", lambda: ws.close())
        ended.set()

    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/e") as ws:
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())

        run(client())
        assert ended.wait(T)
    assert isinstance(results["int"], TypeError) and "int" in str(results["int"])
    assert isinstance(results["code"], ValueError) and "close code" in str(results["code"])
    assert isinstance(results["reason"], ValueError) and "123 bytes" in str(results["reason"])
    assert isinstance(results["ping"], ValueError) and "125 bytes" in str(results["ping"])
    # A str holding undecodable bytes reaches the core's UTF-8 check.
    assert isinstance(results["surrogates"], ValueError) and "UTF-8" in str(results["surrogates"])
    assert isinstance(results["sse_on_ws"], wsrt.InvalidStateError)
    assert isinstance(results["after_close"], wsrt.ConnectionClosedError)
    assert isinstance(results["closed"], wsrt.ConnectionClosedError)
    assert isinstance(results["close_again"], wsrt.ConnectionClosedError)
    with pytest.raises(TypeError, match="unknown option"):
        wsrt.Server(HOST, 0, max_mesage_size=1).bind()


def test_handler_that_raises_keeps_server_and_connection(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[tuple[BaseException, object]] = []
    server = wsrt.Server(HOST, 0, on_error=lambda exc, conn: errors.append((exc, conn)))
    logged = wsrt.Server(HOST, 0)  # the default on_error: the "wsrt" logger

    def bad(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        ws.send(msg)
        raise KeyError(f"handler bug {msg}")

    async def bad_async(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        ws.send(msg)
        raise KeyError(f"async bug {msg}")

    for s in (server, logged):
        s.websocket("/bad", on_message=bad)
        s.websocket("/async", on_message=bad_async)
    with caplog.at_level(logging.ERROR, logger="wsrt"), running(server) as srv, running(logged) as lg:

        async def client(url: str) -> None:
            for path in ("/bad", "/async"):
                async with ws_connect(f"{url}{path}") as ws:
                    for i in range(3):
                        await ws.send(f"m{i}")
                        assert await w(ws.recv()) == f"m{i}"

        run(client(srv.ws_url))
        run(client(lg.ws_url))
    assert [str(e) for e, _ in errors] == [f"'{k} bug m{i}'" for k in ("handler", "async") for i in range(3)]
    assert all(isinstance(e, KeyError) and isinstance(c, wsrt.WebSocket) for e, c in errors)
    assert "handler bug m2" in caplog.text and "async bug m2" in caplog.text


def test_send_from_another_thread() -> None:
    server = wsrt.Server(HOST, 0)

    def opened(ws: wsrt.WebSocket) -> None:
        def worker() -> None:
            for i in range(3):
                ws.send(f"from thread {i}")

        threading.Thread(target=worker).start()

    server.websocket("/t", on_open=opened)
    with running(server) as srv:

        async def client() -> None:
            async with ws_connect(f"{srv.ws_url}/t") as ws:
                assert [await w(ws.recv()) for _ in range(3)] == [f"from thread {i}" for i in range(3)]

        run(client())


def test_serve_forever_blocking_mode() -> None:
    server = echo_server()
    server.bind()
    opened = threading.Event()
    route(server, "/echo").on_open(lambda ws: opened.set())
    t = threading.Thread(target=server.serve_forever)
    t.start()
    try:

        async def client() -> None:
            async with ws_connect(f"ws://{HOST}:{server.port}/echo") as ws:
                await ws.send("sync")
                assert await w(ws.recv()) == "sync"
                server.stop()  # from another thread: a graceful shutdown
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert close_code(ws) == 1001

        run(client())
    finally:
        server.stop()
        t.join(T)
    assert not t.is_alive() and opened.is_set()

    async_server = wsrt.Server(HOST, 0)

    async def h(ws: wsrt.WebSocket, m: object) -> None: ...

    async_server.websocket("/a", on_message=h)
    with pytest.raises(TypeError, match="async"):
        async_server.serve_forever()


def test_graceful_shutdown_closes_1001() -> None:
    server = echo_server()
    srv = running(server)
    with srv as r:

        async def client() -> None:
            async with ws_connect(f"{r.ws_url}/echo") as ws:
                await ws.send("x")
                assert await w(ws.recv()) == "x"
                await asyncio.get_running_loop().run_in_executor(None, r.stop)
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert close_code(ws) == 1001

        run(client())
    assert not server.running


def test_thousand_concurrent_connections() -> None:
    n = 1000
    server = echo_server()
    opened = 0

    def count(ws: wsrt.WebSocket) -> None:
        nonlocal opened
        opened += 1

    route(server, "/echo").on_open(count)
    with running(server) as srv:

        async def one(i: int, all_open: asyncio.Event, ready: list[int]) -> None:
            async with ws_connect(f"{srv.ws_url}/echo", open_timeout=30) as ws:
                ready.append(i)
                if len(ready) == n:
                    all_open.set()
                await w(all_open.wait(), 40)
                await ws.send(f"hello {i}")
                assert await w(ws.recv(), 30) == f"hello {i}"

        async def client() -> None:
            all_open = asyncio.Event()
            ready: list[int] = []
            await asyncio.gather(*(one(i, all_open, ready) for i in range(n)))

        run(client(), timeout=50)
        assert opened == n
        assert wait_until(lambda: srv.call(lambda: len(server.connections)) == 0), "connections left open"


def wait_until(cond: object, timeout: float = T) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_replies_to_a_batch_precede_the_close_it_caused() -> None:
    """A message and a protocol error in one read: the handler still answers
    the message, then the 1002 close follows (Autobahn 3.2 strict). The
    state the handler sees is the core's: CLOSED, the batch having reported
    the end."""
    import base64
    import os
    import socket
    import struct

    states: list[wsrt.ConnState] = []
    server = wsrt.Server(HOST, 0)

    def echo(ws: wsrt.WebSocket, msg: str | bytes) -> None:
        states.append(ws.state)
        ws.send(msg)

    server.websocket("/echo", on_message=echo)

    def frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bytes([0x80 | rsv << 4 | opcode, 0x80 | len(payload)]) + mask + masked

    with running(server) as srv:
        with socket.create_connection((HOST, server.port), timeout=T) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101")
            rest = head.split(b"\r\n\r\n", 1)[1]
            s.sendall(frame(1, b"Hello, world!") + frame(1, b"bad", rsv=2))
            data = rest
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert data[:2] == bytes([0x81, 13]) and data[2:15] == b"Hello, world!", data
        assert data[15] == 0x88 and struct.unpack("!H", data[17:19])[0] == 1002, data
    assert states == [wsrt.ConnState.CLOSED]
