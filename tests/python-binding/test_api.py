"""The front contract as the Python package shows it (docs/API.md): options
by the core's schema (names, milliseconds or timedelta, the rule for
zero, the core's errors), terminate, response headers, states from the
core, host names and IPv6, calls from other threads, and the server after
its shutdown."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from datetime import timedelta
from typing import Any, Callable

import httpx
import pytest
import wsrt
from conftest import HOST, T, run, running, w, ws_connect
from test_sse import read_events
from websockets.exceptions import ConnectionClosed, InvalidStatus

# Options whose 0 is a value (a timer or a limit off, a level, a choice).
ZERO_OK = ["max_message_size", "max_head_bytes", "max_headers", "handshake_timeout_ms", "idle_timeout_ms",
           "close_timeout_ms", "max_buffered", "read_pause_buffered", "overflow_policy", "sse_keepalive_ms",
           "max_connections", "deflate", "deflate_threshold", "deflate_level", "slow_consumer_limit"]


def wait_until(cond: Callable[[], Any], what: str, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def contract_server(host: str = HOST, **options: Any) -> wsrt.Server:
    """/ws echoes; /sse sends "hello" when it opens."""
    server = wsrt.Server(host, 0, **options)
    server.websocket("/ws", on_message=lambda ws, m: ws.send(m))
    server.sse("/sse", on_open=lambda s: s.send("hello"))
    return server


def serves(port: int, host: str = HOST) -> None:
    """An echo round trip (text and binary) and a first SSE event, twice,
    with a pause between: a server that spins or hangs fails the second."""

    async def go() -> None:
        url = f"ws://{host if ':' not in host else f'[{host}]'}:{port}/ws"
        async with ws_connect(url) as ws:
            for m in ("hello", b"\x00\x01"):
                await ws.send(m)
                assert await w(ws.recv()) == m

    for _ in range(2):
        run(go())
        with socket.create_connection((host, port), timeout=T) as s:
            s.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            got = b""
            while b"data: hello\n\n" not in got:
                chunk = s.recv(4096)
                assert chunk, f"stream ended before its first event: {got!r}"
                got += chunk
            assert got.startswith(b"HTTP/1.1 200 ")
            time.sleep(0.2)


# -- options -------------------------------------------------------------------


@pytest.mark.parametrize("name", ZERO_OK + ["all"])
def test_option_at_zero_binds_and_serves(name: str) -> None:
    options = dict.fromkeys(ZERO_OK, 0) if name == "all" else {name: 0}
    with running(contract_server(**options)) as srv:
        serves(srv.server.port)


# The core's message names the option and the value refused.
@pytest.mark.parametrize("name, value, shown", [
    ("idle_timeout_ms", 1 << 31, "2147483648"),
    ("idle_timeout_ms", -1, "-1"),
    ("sse_keepalive_ms", timedelta(days=30), "2592000000"),
    ("handshake_timeout_ms", timedelta(milliseconds=-1), "-1"),
    ("max_head_bytes", 63, "63"),
    ("max_buffered", 1023, "1023"),
    ("max_connections", 1 << 100, str(1 << 100)),
    ("max_headers", 1.5, "1.5"),
    ("deflate_level", 10, "10"),
    ("deflate_window_bits", 0, "0"),
    ("slow_consumer_policy", 0, "0"),
    ("overflow_policy", "never", '"never"'),
])
def test_option_out_of_range_is_the_cores_value_error(name: str, value: Any, shown: str) -> None:
    server = contract_server(**{name: value})
    with pytest.raises(ValueError, match=rf"^{name} must be .*, not {re.escape(shown)}$"):
        server.bind()


@pytest.mark.parametrize("name, value, match", [
    ("idle_timeout_ms", "5", "idle_timeout_ms must be a number, not a string"),
    ("idle_timeout_ms", True, "idle_timeout_ms must be a number, not a boolean"),
    ("deflate", True, "deflate must be a string, not a boolean"),
    ("allowed_origins", {"https://app.example"}, "allowed_origins must be a string or a list of strings, not set"),
    ("allowed_origins", 5, "allowed_origins must be a string or a list of strings, not a number"),
    ("allowed_origins", [5], "allowed_origins"),
    ("max_connections", object(), "max_connections"),
    ("no_such_option", 1, 'unknown option "no_such_option"'),
])
def test_option_of_a_wrong_type_is_a_type_error(name: str, value: Any, match: str) -> None:
    server = contract_server(**{name: value})
    with pytest.raises(TypeError, match=match):
        server.bind()


def test_options_take_timedelta_and_none() -> None:
    # A timedelta becomes milliseconds (rounded up): 24 days fit the
    # largest timer (2^31-1 ms), 25 days (2,160,000,000 ms) do not.
    with pytest.raises(ValueError, match="handshake_timeout_ms .* not 2160000000"):
        contract_server(handshake_timeout_ms=timedelta(days=25)).bind()
    server = contract_server(handshake_timeout_ms=timedelta(days=24), idle_timeout_ms=None,
                             allowed_origins=("https://app.example",), close_timeout_ms=timedelta(microseconds=1))
    with running(server) as srv:
        serves(srv.server.port)  # no Origin: allowed


# -- connections ---------------------------------------------------------------


def test_terminate_drops_at_once_and_reports_1006() -> None:
    closes: list[tuple[int, int | None]] = []
    ended: list[wsrt.SseStream] = []
    server = wsrt.Server(HOST, 0)
    server.websocket("/t", on_message=lambda ws, m: ws.terminate(),
                     on_close=lambda ws, code, reason: closes.append((code, ws.close_code)))
    server.sse("/s", on_open=lambda s: (s.send("bye"), s.terminate()), on_close=ended.append)
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/t") as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())
                assert ws.protocol.close_rcvd is None  # no close frame: the socket dropped
            async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
                async with c.stream("GET", f"{srv.url}/s") as resp:
                    await w(resp.aread())  # the stream ends: the socket dropped

        run(go())
        wait_until(lambda: closes and ended, "on_close")
    assert closes == [(1006, 1006)] and len(ended) == 1


def test_state_transitions_come_from_the_core() -> None:
    states: list[tuple[str, wsrt.ConnState]] = []
    conns: list[wsrt.WebSocket] = []
    server = wsrt.Server(HOST, 0)

    def approve(ws: wsrt.WebSocket) -> bool:
        states.append(("approve", ws.state))
        conns.append(ws)
        return True

    def message(ws: wsrt.WebSocket, m: str | bytes) -> None:
        ws.close(4000, "done")
        states.append(("closing", ws.state))

    server.websocket("/ws", approve=approve, on_message=message,
                     on_open=lambda ws: states.append(("open", ws.state)),
                     on_close=lambda ws, code, reason: states.append(("close", ws.state)))
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/ws") as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosed):
                    await w(ws.recv())

        run(go())
        wait_until(lambda: len(states) == 4, "on_close")
        assert srv.call(lambda: conns[0].state) is wsrt.ConnState.CLOSED  # unknown to the core now
    S = wsrt.ConnState
    assert states == [("approve", S.CONNECTING), ("open", S.OPEN), ("closing", S.CLOSING), ("close", S.CLOSED)]


def test_response_headers_on_approval_refusal_and_routes() -> None:
    def approve(ws: wsrt.WebSocket) -> Any:
        if ws.query == "no":
            return wsrt.Reject(401, "who are you?", {"WWW-Authenticate": 'Bearer realm="x"'})
        if ws.query == "bad":
            return wsrt.Accept(headers={"Content-Length": "5"})  # wsrt writes that one: refused (500)
        return wsrt.Accept(headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])

    errors: list[BaseException] = []
    server = wsrt.Server(HOST, 0, on_error=lambda e, c: errors.append(e))
    server.websocket("/ws", approve=approve, headers={"X-Route": "ws"})
    server.sse("/sse", headers={"Access-Control-Allow-Origin": "*"}, on_open=lambda s: s.send("hi"))
    server.static("/", "page", headers=[("Cache-Control", "no-store")])
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/ws") as ws:
                assert ws.response.headers["X-Route"] == "ws"
                assert ws.response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
            with pytest.raises(InvalidStatus) as e:
                await ws_connect(f"{srv.ws_url}/ws?no")
            assert e.value.response.status_code == 401
            assert e.value.response.headers["WWW-Authenticate"] == 'Bearer realm="x"'
            with pytest.raises(InvalidStatus) as e:
                await ws_connect(f"{srv.ws_url}/ws?bad")
            assert e.value.response.status_code == 500
            async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
                async with c.stream("GET", f"{srv.url}/sse") as resp:
                    assert resp.headers["access-control-allow-origin"] == "*"
                    assert await w(read_events(resp, 1)) == [{"data": "hi"}]
                r = await c.get(f"{srv.url}/")
                assert r.text == "page" and r.headers["cache-control"] == "no-store"

        run(go())
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host, connect_to", [("localhost", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"),
                                              ("::1", "::1"), ("::", "::1")])
def test_host_names_and_ipv6(host: str, connect_to: str) -> None:
    if ":" in connect_to and not ipv6():
        pytest.skip("no IPv6 loopback here")
    with running(contract_server(host)) as srv:
        serves(srv.server.port, connect_to)


def test_calls_from_another_thread_go_through_the_handle() -> None:
    pongs: list[bytes] = []
    conns: dict[str, Any] = {}
    server = wsrt.Server(HOST, 0)
    server.websocket("/ws", on_open=lambda ws: conns.update(ws=ws), on_pong=lambda ws, p: pongs.append(p))
    server.sse("/sse", on_open=lambda s: conns.update(sse=s))
    with running(server) as srv:

        async def go() -> None:
            # This thread is not the server's: the calls are queued to its loop.
            async with ws_connect(f"{srv.ws_url}/ws") as ws:
                await asyncio.to_thread(wait_until, lambda: "ws" in conns, "open")
                peer = conns["ws"]
                assert peer.ping(b"there?") is None and peer.subscribe("room") is None
                peer.send("from a thread")
                assert await w(ws.recv()) == "from a thread"
                await asyncio.to_thread(wait_until, lambda: pongs == [b"there?"], "pong")
                assert peer.is_subscribed("room")
                assert srv.call(srv.server.publish, "room", "to the room") == wsrt.Published(1, 0, 0, None)
                assert await w(ws.recv()) == "to the room"
                with pytest.raises(ValueError, match="125 bytes"):  # checked on this thread
                    peer.ping(bytes(126))
            async with httpx.AsyncClient(timeout=T, trust_env=False) as c:
                async with c.stream("GET", f"{srv.url}/sse") as resp:
                    await asyncio.to_thread(wait_until, lambda: "sse" in conns, "stream")
                    conns["sse"].comment("ignored")
                    conns["sse"].send("from a thread", event="x", id=7, retry_ms=timedelta(seconds=2))
                    comments: list[str] = []
                    events = await w(read_events(resp, 1, comments))
                    assert events == [{"event": "x", "id": "7", "retry": "2000", "data": "from a thread"}]
                    assert comments == ["ignored"]

        run(go())


def test_calls_after_shutdown_raise_server_stopped() -> None:
    kept: list[wsrt.WebSocket] = []
    server = wsrt.Server(HOST, 0)
    server.websocket("/ws", on_open=kept.append)
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/ws") as ws:
                await asyncio.to_thread(wait_until, lambda: kept, "open")
                await ws.send("x")

        run(go())
    ws = kept[0]
    for call in (lambda: server.publish("t", "x"), lambda: server.publish_all("x"), lambda: ws.send("x"),
                 lambda: ws.subscribe("t"), ws.close, lambda: server.set_topic_history("t", 5)):
        with pytest.raises(wsrt.ServerStoppedError):
            call()
    # From another thread too: no loop runs any more.
    errors: list[BaseException] = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(wsrt.ServerStoppedError, ws.ping).value))
    t.start()
    t.join(T)
    assert len(errors) == 1
    with pytest.raises(RuntimeError, match="runs once"):
        run(server.start())


def test_large_bytes_sent_from_a_handler_arrive_whole() -> None:
    # Large payloads made and dropped in the handler arrive whole, over
    # several reads of the client and writes of the server.
    sizes = [40_000, 100_000, 1 << 20, 33_000, 70_000]

    def opened(ws: wsrt.WebSocket) -> None:
        for i, n in enumerate(sizes):
            ws.send(bytes((j * 7 + i) & 0xFF for j in range(n)))

    server = wsrt.Server(HOST, 0)
    server.websocket("/big", on_open=opened)
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/big", max_size=None) as ws:
                for i, n in enumerate(sizes):
                    m = await w(ws.recv())
                    assert m == bytes((j * 7 + i) & 0xFF for j in range(n)), f"message {i} differs"

        run(go())


def test_large_received_messages_sent_back_arrive_intact() -> None:
    # Three clients each send 2.4 MiB of distinct 48 KiB messages before
    # reading any echo, so echoes wait in the queue while the loop reads on
    # through its read blocks; every 5th message is also kept and sent again
    # from a later batch's handler (after its own batch is gone).
    count, size = 50, 48 * 1024
    kept: dict[int, bytes] = {}

    def message(ws: wsrt.WebSocket, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        ws.send(data)
        if (before := kept.pop(ws.id, None)) is not None:
            ws.send(before)
        if data[0] % 5 == 0:
            kept[ws.id] = data

    def payload(client: int, i: int) -> bytes:
        return bytes([i]) + bytes((client * 31 + i + j) & 0xFF for j in range(size - 1))

    def expected(client: int) -> list[bytes]:
        out, held = [], None
        for i in range(count):
            out.append(payload(client, i))
            if held is not None:
                out.append(held)
                held = None
            if i % 5 == 0:
                held = payload(client, i)
        return out

    server = wsrt.Server(HOST, 0)
    server.websocket("/echo", on_message=message)
    with running(server) as srv:

        async def one(client: int) -> None:
            async with ws_connect(f"{srv.ws_url}/echo", max_size=None, write_limit=1 << 24) as ws:
                for i in range(count):
                    await w(ws.send(payload(client, i)))
                want = expected(client)
                for k, m in enumerate(want):
                    got = await w(ws.recv())
                    assert got == m, f"client {client}: echo {k} differs"

        async def all_clients() -> None:
            await asyncio.gather(*(one(c) for c in range(3)))

        run(all_clients())


def test_backpressure_then_on_drain() -> None:
    drained: list[int] = []
    server = wsrt.Server(HOST, 0, max_buffered=1 << 20)

    def opened(ws: wsrt.WebSocket) -> None:
        try:
            while True:  # nothing is written before the turn ends: the queue fills
                ws.send(bytes(1 << 16))
                ws.data["sent"] = ws.data.get("sent", 0) + 1
        except wsrt.BackpressureError:
            pass

    def drain(ws: wsrt.WebSocket) -> None:
        drained.append(ws.buffered_amount)
        ws.send(f"drained after {ws.data['sent']}")

    server.websocket("/d", on_open=opened, on_drain=drain)
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/d") as ws:
                got = []
                while isinstance(m := await w(ws.recv()), bytes):
                    got.append(m)
                assert 8 <= len(got) <= 16 and m == f"drained after {len(got)}"

        run(go())
    assert drained == [0]
