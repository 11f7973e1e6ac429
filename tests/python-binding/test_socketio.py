"""The `wsrt` package's Socket.IO and Engine.IO side, driven by the stock
`python-socketio` / `python-engineio` AsyncClient (aiohttp underneath)."""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import queue
import random
from typing import Any

import engineio
import pytest
import socketio
import wsrt
from conftest import HOST, T, run, running, w, ws_connect
from websockets.frames import Frame, Opcode


def client(**kw: Any) -> socketio.AsyncClient:
    return socketio.AsyncClient(reconnection=False, request_timeout=T, **kw)


async def connect(srv: Any, c: socketio.AsyncClient, namespaces: Any = None, auth: Any = None,
                  transports: Any = ("websocket",)) -> None:
    await c.connect(srv.url, namespaces=namespaces, auth=auth, transports=list(transports), wait_timeout=T)


def app(**options: Any) -> tuple[wsrt.Server, wsrt.SocketIO, "queue.Queue[Any]"]:
    """A server whose "/" namespace echoes, acks, joins, asks and reports
    into a queue the test reads."""
    server = wsrt.Server(HOST, 0, **options)
    sio = server.socketio()
    seen: "queue.Queue[Any]" = queue.Queue()

    @sio.on_connect
    def hello(s: wsrt.Socket) -> None:
        seen.put(("connect", s.sid, s.namespace, s.auth, s.recovered, s.header("host")))

    @sio.on_disconnect
    def bye(s: wsrt.Socket, reason: str) -> None:
        seen.put(("disconnect", s.sid, reason))

    @sio.on("echo")
    def echo(s: wsrt.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("back")
    def back(s: wsrt.Socket, *args: Any) -> None:
        s.emit("back", *args)

    @sio.on("sum")
    async def total(s: wsrt.Socket, a: int, b: int) -> int:
        await asyncio.sleep(0.01)
        return a + b

    @sio.on("nothing")
    def nothing(s: wsrt.Socket) -> None:
        return None

    @sio.on("ask")
    async def ask(s: wsrt.Socket, event: str, timeout_ms: int) -> Any:
        try:
            return {"answer": await s.call(event, "q?", timeout_ms=timeout_ms)}
        except TimeoutError:
            return "timeout"

    @sio.on("join")
    def join(s: wsrt.Socket, room: str) -> list[str]:
        s.join(room)
        return sorted(s.rooms)

    @sio.on("leave")
    def leave(s: wsrt.Socket, room: str) -> list[str]:
        s.leave(room)
        return sorted(s.rooms)

    @sio.on("kick")
    def kick(s: wsrt.Socket) -> None:
        s.disconnect()

    return server, sio, seen


def take(q: "queue.Queue[Any]", kind: str) -> Any:
    while True:
        item = q.get(timeout=T)
        if item[0] == kind:
            return item


def test_events_and_acks_both_ways() -> None:
    server, sio, seen = app()
    with running(server) as srv:

        async def go() -> None:
            c = client()
            got: asyncio.Queue[Any] = asyncio.Queue()
            c.on("back", lambda *a: got.put_nowait(a))
            c.on("question", lambda q: f"answer to {q}")

            async def slow(q: str) -> str:
                await asyncio.sleep(0.5)
                return "late"

            c.on("slow", slow)
            await connect(srv, c, auth={"token": "t"})
            assert await w(c.call("echo", (1, "two", {"three": [3]}, None))) == (1, "two", {"three": [3]}, None)
            assert await w(c.call("echo", "one")) == "one"
            assert await w(c.call("sum", (2, 3))) == 5
            assert await w(c.call("nothing")) is None
            await c.emit("back", ("x", 1))
            assert await w(got.get()) == ("x", 1)
            # server -> client with an ack; then a timeout (the client answers late)
            assert await w(c.call("ask", ("question", 2000))) == {"answer": "answer to q?"}
            assert await w(c.call("ask", ("slow", 100))) == "timeout"
            sid = c.get_sid("/")
            await c.disconnect()
            return sid

        sid = run(go())
        _, got_sid, nsp, auth, recovered, host = take(seen, "connect")
        assert (got_sid, nsp, auth, recovered) == (sid, "/", {"token": "t"}, False)
        assert host == f"{HOST}:{server.port}"
        # python-socketio's disconnect() aborts the transport right after
        # queueing its DISCONNECT packet: either may arrive first
        _, got_sid, reason = take(seen, "disconnect")
        assert got_sid == sid and reason in ("client namespace disconnect", "transport close")


def test_binary_arguments_nested_both_ways() -> None:
    server, sio, seen = app()
    with running(server) as srv:

        async def go() -> None:
            c = client()
            got: asyncio.Queue[Any] = asyncio.Queue()
            c.on("back", lambda *a: got.put_nowait(a))
            await connect(srv, c)
            value = {"a": b"\x00\x01\xff", "list": [b"x", 1, {"deep": b""}], "n": None}
            assert await w(c.call("echo", (b"top", value))) == (b"top", value)
            await c.emit("back", (value, b"y" * 100_000))
            assert await w(got.get()) == (value, b"y" * 100_000)
            await c.disconnect()

        run(go())
        # Python's other bytes-likes go as binary too.
        server2, sio2, seen2 = app()
        received: "queue.Queue[Any]" = queue.Queue()

        @sio2.on_connect
        def hello(s: wsrt.Socket) -> None:
            s.emit("bin", bytearray(b"ba"), memoryview(b"mv"), (b"t",))

        with running(server2) as srv2:

            async def go2() -> None:
                c = client()
                c.on("bin", lambda *a: received.put(a))
                await connect(srv2, c)
                await asyncio.sleep(0.2)
                await c.disconnect()

            run(go2())
        assert received.get(timeout=T) == (b"ba", b"mv", [b"t"])


def test_rooms_and_emits_to_many() -> None:
    server, sio, seen = app()

    @sio.on("shout")
    def shout(s: wsrt.Socket, to: Any, skip_me: bool, exclude: Any) -> int:
        return sio.emit("shout", s.sid, to=to, skip=s if skip_me else None, exclude_rooms=exclude)

    @sio.on("others")
    def others(s: wsrt.Socket, to: Any) -> int:
        return s.broadcast("others", s.sid, to=to)

    with running(server) as srv:

        async def go() -> None:
            clients = [client() for _ in range(3)]
            inbox: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in clients]
            for c, q in zip(clients, inbox):
                c.on("shout", q.put_nowait)
                c.on("others", q.put_nowait)
                await connect(srv, c)
            a, b, c3 = clients
            assert await w(a.call("join", "red")) == ["red"]
            assert await w(b.call("join", "red")) == ["red"]
            assert await w(b.call("join", "blue")) == ["blue", "red"]
            assert await w(b.call("leave", "blue")) == ["red"]
            assert await w(c3.call("join", "blue")) == ["blue"]

            async def inboxes() -> list[list[Any]]:
                await asyncio.sleep(0.2)
                out = []
                for q in inbox:
                    items = []
                    while not q.empty():
                        items.append(q.get_nowait())
                    out.append(items)
                return out

            a_sid = a.get_sid("/")
            assert await w(a.call("shout", ("red", False, None))) == 2
            assert await inboxes() == [[a_sid], [a_sid], []]
            assert await w(a.call("shout", (["red", "blue"], True, None))) == 2
            assert await inboxes() == [[], [a_sid], [a_sid]]
            assert await w(a.call("shout", (None, False, "red"))) == 1
            assert await inboxes() == [[], [], [a_sid]]
            assert await w(a.call("others", (None,))) == 2
            assert await inboxes() == [[], [a_sid], [a_sid]]
            assert await w(a.call("others", "red")) == 1
            assert await inboxes() == [[], [a_sid], []]
            # skip by sid; a publish to the room's topic reaches sockets as "message"
            got: asyncio.Queue[Any] = asyncio.Queue()
            b.on("message", got.put_nowait)
            assert srv.call(lambda: sio.emit("shout", "srv", to="red", skip=b.get_sid("/"))) == 1
            srv.call(lambda: server.publish("red", "published"))
            assert await w(got.get()) == "published"
            assert (await inboxes())[0] == ["srv"]
            # from a thread that is not the server's loop: carried out at its next turn
            assert await asyncio.to_thread(lambda: sio.emit("shout", "thread", to="blue")) == 1
            assert await inboxes() == [[], [], ["thread"]]
            for c in clients:
                await c.disconnect()

        run(go())


def test_sid_addressed_calls_as_python_socketio_has_them() -> None:
    """`sio.enter_room(sid, room)`, `sio.leave_room`, `sio.emit(...,
    skip_sid=, namespace=)` and `await sio.call(event, to=sid)`."""
    server, sio, seen = app()
    admin = sio.of("/admin")

    @sio.on("enter")
    def enter(s: wsrt.Socket, room: str) -> list[str]:
        sio.enter_room(s.sid, room)
        return sorted(s.rooms)

    @sio.on("exit")
    def exit_(s: wsrt.Socket, room: str) -> list[str]:
        sio.leave_room(s.sid, room, namespace="/")
        return sorted(s.rooms)

    @sio.on("round")
    async def round_trip(s: wsrt.Socket) -> Any:
        return await sio.call("question", "q?", to=s.sid, timeout_ms=2000)

    @sio.on("to-room")
    def to_room(s: wsrt.Socket, room: str) -> int:
        return sio.emit("news", room, to=room, skip_sid=s.sid)

    @sio.on("to-admin")
    def to_admin(s: wsrt.Socket) -> int:
        return sio.emit("news", "admin", namespace="/admin")

    with running(server) as srv:

        async def go() -> None:
            a, b = client(), client()
            news: list[asyncio.Queue[Any]] = [asyncio.Queue(), asyncio.Queue()]
            a.on("question", lambda q: f"answer to {q}")
            b.on("news", news[1].put_nowait)
            b.on("news", news[1].put_nowait, namespace="/admin")
            await connect(srv, a)
            await connect(srv, b, namespaces=["/", "/admin"])
            assert await w(a.call("enter", "red")) == ["red"]
            assert await w(b.call("enter", "red")) == ["red"]
            assert await w(a.call("to-room", "red")) == 1
            assert await w(news[1].get()) == "red"
            assert await w(a.call("to-admin")) == 1
            assert await w(news[1].get()) == "admin"
            assert await w(a.call("exit", "red")) == []
            assert await w(a.call("round")) == "answer to q?"
            # An unknown sid or namespace is an error with a message.
            with pytest.raises(wsrt.ConnectionClosedError, match="no connected socket"):
                sio.enter_room("no-such-sid", "red")
            with pytest.raises(ValueError, match="no namespace"):
                sio.emit("x", namespace="/nope")
            with pytest.raises(wsrt.ConnectionClosedError):
                sio.get_socket(a.get_sid("/"), namespace="/admin")
            await a.disconnect()
            await b.disconnect()

        run(go())
        assert admin.name == "/admin"


def test_approve_refuses_with_message_and_data() -> None:
    server, sio, seen = app()
    errors: "queue.Queue[Any]" = queue.Queue()

    @sio.approve
    async def check(s: wsrt.Socket) -> Any:
        await asyncio.sleep(0)
        token = (s.auth or {}).get("token")
        if token == "bad":
            raise wsrt.ConnectionRefusedError("unauthorized", {"reason": "bad token"})
        if token == "weird":
            return 42
        if token == "boom":
            raise RuntimeError("boom")
        return True

    custom = sio.of("/custom")

    @custom.approve
    def custom_check(s: wsrt.Socket) -> None:
        if s.query.find("deny") >= 0:
            raise wsrt.ConnectionRefusedError("no")

    server.on_error = lambda exc, conn: errors.put(exc)
    with running(server) as srv:

        async def refused(auth: Any, nsp: str = "/") -> Any:
            c = client()
            got: asyncio.Queue[Any] = asyncio.Queue()
            c.on("connect_error", got.put_nowait, namespace=nsp)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await connect(srv, c, namespaces=[nsp], auth=auth)
            await c.disconnect()
            return await w(got.get())

        async def go() -> None:
            assert await refused({"token": "bad"}) == {"message": "unauthorized", "data": {"reason": "bad token"}}
            assert (await refused({"token": "weird"}))["message"] == "server error"
            assert (await refused({"token": "boom"}))["message"] == "server error"
            c = client()
            await connect(srv, c, namespaces=["/", "/custom"], auth={"token": "good"})
            assert c.connected and c.get_sid("/custom") != c.get_sid("/")
            await c.disconnect()

        run(go())
        assert isinstance(errors.get(timeout=T), TypeError)
        assert str(errors.get(timeout=T)) == "boom"


def test_disconnect_reasons_and_closed_socket_errors() -> None:
    server, sio, seen = app()
    sockets: "queue.Queue[wsrt.Socket]" = queue.Queue()
    waits: "queue.Queue[Any]" = queue.Queue()

    @sio.on_connect
    def keep(s: wsrt.Socket) -> None:
        sockets.put(s)

    @sio.on("wait-forever")
    async def wait_forever(s: wsrt.Socket) -> None:
        try:
            await s.call("never", timeout_ms=0)
        except Exception as e:
            waits.put(e)

    with running(server) as srv:

        async def go() -> None:
            c = client()
            gone: asyncio.Queue[Any] = asyncio.Queue()
            c.on("disconnect", lambda *a: gone.put_nowait(a))
            await connect(srv, c)
            await c.emit("kick")
            await w(gone.get())
            c2 = client()

            async def never() -> None:
                await asyncio.sleep(30)

            c2.on("never", never)
            await connect(srv, c2, transports=("polling",))
            await c2.emit("wait-forever")
            await asyncio.sleep(0.2)
            await c2.disconnect()

        run(go())
        kicked = sockets.get(timeout=T)
        reasons = [take(seen, "disconnect")[2], take(seen, "disconnect")[2]]
        assert reasons[0] == "server namespace disconnect"
        assert reasons[1] in ("client namespace disconnect", "transport close")
        assert isinstance(waits.get(timeout=T), wsrt.ConnectionClosedError)
        # a gone socket: ConnectionClosedError, never a crash or a hang
        for fn in (lambda: kicked.emit("x", 1), lambda: kicked.join("r"), lambda: kicked.rooms):
            with pytest.raises(wsrt.ConnectionClosedError):
                srv.call(fn)

        async def call_gone() -> Any:
            return await kicked.call("x", timeout_ms=1000)

        with pytest.raises(wsrt.ConnectionClosedError):
            asyncio.run_coroutine_threadsafe(call_gone(), srv.loop).result(T)


def test_server_disconnect_reason_is_reported() -> None:
    server, sio, seen = app()
    with running(server) as srv:

        async def go() -> str:
            c = client()
            await connect(srv, c)
            sid = c.get_sid("/")
            await c.emit("kick")
            for _ in range(100):
                if not c.connected:
                    break
                await asyncio.sleep(0.05)
            return sid

        sid = run(go())
        assert take(seen, "disconnect") == ("disconnect", sid, "server namespace disconnect")


def test_bad_input_raises_with_a_message() -> None:
    server, sio, seen = app()
    outcomes: "queue.Queue[Any]" = queue.Queue()

    @sio.on("try")
    def attempt(s: wsrt.Socket, what: str) -> None:
        calls = {
            "unserializable": lambda: s.emit("x", object()),
            "nan": lambda: s.emit("x", float("nan")),
            "reserved": lambda: s.emit("connect", 1),
            "event-type": lambda: s.emit(5),  # type: ignore[arg-type]
            "to-type": lambda: sio.emit("x", to=5),
            "skip-type": lambda: sio.emit("x", skip=5),  # type: ignore[arg-type]
            "room-empty": lambda: s.join(""),
            "timeout": lambda: s._core.emit(s.id, "x", "[]", [], -1),
        }
        try:
            calls[what]()
            outcomes.put(None)
        except Exception as e:
            outcomes.put(e)

    with running(server) as srv:

        async def go() -> None:
            c = client()
            await connect(srv, c)
            for what in ("unserializable", "nan", "reserved", "event-type", "to-type", "skip-type", "room-empty",
                         "timeout"):
                await c.emit("try", what)
            await asyncio.sleep(0.3)
            assert await w(c.call("echo", "still here")) == "still here"
            await c.disconnect()

        run(go())
    want = [TypeError, ValueError, ValueError, TypeError, TypeError, TypeError, ValueError, ValueError]
    got = [outcomes.get(timeout=T) for _ in want]
    assert [type(e) for e in got] == want, got
    assert all(str(e) for e in got)
    with pytest.raises(TypeError):
        wsrt.ConnectionRefusedError(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sio.on(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sio.on_connect(5)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        sio.of("/late")


def test_options_and_engineio_sessions() -> None:
    for bad, exc in (({"sio_ping_interval_ms": -1}, ValueError), ({"cors_origins": 5}, TypeError),
                     ({"cors_credentials": "yes"}, TypeError), ({"sio_max_payload": "big"}, TypeError)):
        s = wsrt.Server(HOST, 0, **bad)
        s.socketio()
        with pytest.raises(exc) as e:
            s.bind()
        assert next(iter(bad)) in str(e.value)
    server = wsrt.Server(HOST, 0, sio_ping_interval_ms=300, sio_ping_timeout_ms=200, sio_connect_timeout_ms=1000,
                         sio_max_payload=100_000, sio_recovery_window_ms=5000, cors_origins=["*"],
                         cors_credentials=True)
    opened: "queue.Queue[Any]" = queue.Queue()
    eio = server.engineio("/engine.io/")

    @eio.on_open
    def hi(s: wsrt.EngineIOSession) -> None:
        opened.put(type(s))

    @eio.on_message
    def echo(s: wsrt.EngineIOSession, msg: Any) -> None:
        s.send(msg)

    @eio.on_close
    def closed(s: wsrt.EngineIOSession, code: int, reason: str) -> None:
        opened.put(reason)

    server.socketio().on("echo")(lambda s, *a: a)
    with running(server) as srv:

        async def go() -> None:
            for transports in (["polling"], ["websocket"]):
                c = engineio.AsyncClient(request_timeout=T)
                got: asyncio.Queue[Any] = asyncio.Queue()
                c.on("message", got.put_nowait)
                await c.connect(srv.url, transports=transports, engineio_path="engine.io")
                await c.send("text")
                assert await w(got.get()) == "text"
                await c.send(b"\x00bin")
                assert await w(got.get()) == b"\x00bin"
                await c.disconnect()
            # a Socket.IO client outlives a few short heartbeats
            sc = client()
            await connect(srv, sc)
            await asyncio.sleep(1.0)
            assert sc.connected and await w(sc.call("echo", 1)) == 1
            await sc.disconnect()

        run(go())
        assert opened.get(timeout=T) is wsrt.EngineIOSession


def test_async_handlers_errors_go_to_on_error(caplog: pytest.LogCaptureFixture) -> None:
    server, sio, seen = app()

    @sio.on("fail")
    async def fail(s: wsrt.Socket) -> None:
        raise RuntimeError("handler failed")

    with caplog.at_level(logging.ERROR, logger="wsrt"), running(server) as srv:

        async def go() -> None:
            c = client()
            await connect(srv, c)
            await c.emit("fail")
            assert await w(c.call("echo", 7)) == 7
            await c.disconnect()

        run(go())
    assert "handler failed" in caplog.text


def test_arguments_convert_as_json_does() -> None:
    """Event arguments are parsed, and acks written, by the native module:
    the values come out as Python's json has them, and what it leaves to
    json (big ints, int keys, subclasses, lone surrogates, NaN, objects)
    gives json's result or error."""
    errors: "queue.Queue[BaseException]" = queue.Queue()
    server, sio, seen = app(on_error=lambda e, conn: errors.put(e))

    class Color(enum.IntEnum):
        RED = 1

    class Text(str):
        pass

    Pair = collections.namedtuple("Pair", "a b")

    @sio.on("types")
    def types(s: wsrt.Socket) -> Any:
        return Color.RED, {1: "int key", "k": 2**70}, Text("sub"), Pair(1.5, [b"bin"])

    @sio.on("lone")
    def lone(s: wsrt.Socket) -> Any:
        return "a\ud800b"

    @sio.on("pair")
    def pair(s: wsrt.Socket) -> Any:
        return Pair("a", "b")

    @sio.on("bad")
    def bad(s: wsrt.Socket, what: str) -> Any:
        if what == "raise":
            raise RuntimeError("sync handler failed")
        return float("nan") if what == "nan" else object()

    # What the native module converts both ways, then what it leaves to json.
    values = ("ascii", "é ü 中文 😀", 'quote " back \\ nl \n tab \t ctl \x01 del \x7f', "", -2**63,
              2**63 - 1, 0, -1, 1.0, 0.1, -2.5e-7, 1e300, 5e-324, True, False, None, [], {}, [[[]]],
              {"k": [1, {"n": None, "é": "\U0001f600"}], "": 0})
    json_only = (2**70, "a\ud800b")
    with running(server) as srv:

        async def go() -> None:
            c = client()
            await connect(srv, c)
            got = await w(c.call("echo", values))
            assert got == values and [type(v) for v in got] == [type(v) for v in values]
            assert await w(c.call("echo", json_only)) == json_only
            assert await w(c.call("types")) == (1, {"1": "int key", "k": 2**70}, "sub", [1.5, [b"bin"]])
            assert await w(c.call("lone")) == "a\ud800b"
            assert await w(c.call("pair")) == ("a", "b")  # a tuple (subclass): one argument each
            for what in ("raise", "nan", "object"):  # each asks for an ack it never gets
                await c.emit("bad", what, callback=lambda *a: None)
            assert await w(c.call("echo", "still here")) == "still here"
            await c.disconnect()

        run(go())
    got = [errors.get(timeout=T) for _ in range(3)]
    assert [type(e) for e in got] == [RuntimeError, ValueError, TypeError], got
    assert errors.empty()


def test_a_sockets_events_keep_their_order_within_one_read() -> None:
    """A socket's connect and its first events, read at once, reach the
    application in order: on_connect first, then each event, each acked."""
    server = wsrt.Server(HOST, 0)
    sio = server.socketio()

    @sio.on_connect
    def hello(s: wsrt.Socket) -> None:
        s.data["count"] = 0

    @sio.on("count")
    def count(s: wsrt.Socket, *args: Any) -> int:
        s.data["count"] += 1
        return s.data["count"]

    def frame(text: str) -> bytes:  # one masked text frame
        return Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[])

    with running(server) as srv:

        async def go() -> list[str]:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            assert (await w(reader.readuntil(b"\r\n\r\n"))).startswith(b"HTTP/1.1 101")

            async def text() -> str:  # a short unmasked text frame from the server
                head = await w(reader.readexactly(2))
                assert head[0] == 0x81 and head[1] < 126, head
                return (await w(reader.readexactly(head[1]))).decode()

            assert (await text()).startswith("0{")
            # The connect and five events in one write: one read for the server.
            writer.write(b"".join(frame(f) for f in ["40", *(f'42{i}["count"]' for i in range(1, 6))]))
            got = [await text() for _ in range(6)]
            writer.close()
            return got

        got = run(go())
    assert got[0].startswith("40{") and got[1:] == [f"43{i}[{i}]" for i in range(1, 6)], got


def test_raw_json_arguments_read_as_json_reads_them() -> None:
    """Argument texts no Python client writes (huge integer literals, -0,
    1e400, repeated keys, floats that need correct rounding, placeholders
    nested or look-alike; the core refuses a placeholder it cannot count)
    reach the handler as json.loads reads them."""
    server = wsrt.Server(HOST, 0)
    sio = server.socketio()
    seen: "queue.Queue[tuple[Any, ...]]" = queue.Queue()

    @sio.on("probe")
    def probe(s: wsrt.Socket, *args: Any) -> None:
        seen.put(args)

    rng = random.Random(7)
    floats = ",".join(repr(rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300)) for _ in range(300))
    texts = [
        "123456789012345678901234567890, -9223372036854775809, 18446744073709551615, "
        "9223372036854775807, -9223372036854775808",
        "-0, -0.0, 0.0, 1e19, -1e19, 1E2, 1e400, -1e400, 1e-400, 2.2250738585072011e-308",
        '{"a": 1, "b": 2, "a": 3}, {"k": {"k": [1], "k": [2]}}',
        '"\\ud83d\\ude00 \\u00e9 \\n \\/", "\\ud800 lone", "plain"',
        floats,
        "0.30000000000000004, 9007199254740993.0, 1.7976931348623157e308, 5e-324",
        " [ [ ] , { } ] , null , true , false ",
    ]
    binary_text = ('[{"x": [{"_placeholder": true, "num": 1}]}, {"_placeholder": true, "num": 0, "extra": 1},'
                   ' {"_placeholder": 1, "num": 0}, {"num": 1, "_placeholder": true}]')
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"ws://{HOST}:{server.port}/socket.io/?EIO=4&transport=websocket") as ws:
                assert (await w(ws.recv())).startswith("0{")
                await ws.send("40")
                assert (await w(ws.recv())).startswith("40{")
                for text in texts:
                    await ws.send(f'42["probe",{text}]')
                    got = await w(asyncio.get_running_loop().run_in_executor(None, seen.get, True, T))
                    want = json.loads(f"[{text}]")
                    assert repr(list(got)) == repr(want), text  # repr: -0.0, int or float, key order
                await ws.send(f'452-["probe",{binary_text[1:]}')
                await ws.send(b"zero")
                await ws.send(b"one")
                got = await w(asyncio.get_running_loop().run_in_executor(None, seen.get, True, T))
                assert list(got) == [{"x": [b"one"]}, b"zero", {"_placeholder": 1, "num": 0}, b"one"]

        run(go())
