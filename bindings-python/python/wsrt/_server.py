"""The `Server` class: routes, handler dispatch, and the two ways to run it
(an asyncio loop, or a blocking loop on the caller's thread).

Everything protocol-related happens in the native core (`wsrt._wsrt`); this
module only routes the core's event batches to Python handlers and drives
the core from the host's event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from . import _wsrt
from ._types import Published, Stats
from ._wsrt import SseStream, WebSocket

__all__ = [
    "Accept",
    "Reject",
    "Server",
    "SseRoute",
    "WebSocketRoute",
]

log = logging.getLogger("wsrt")

_EV_REQUEST = _wsrt.EV_REQUEST
_EV_OPEN = _wsrt.EV_OPEN
_EV_MESSAGE = _wsrt.EV_MESSAGE
_EV_PONG = _wsrt.EV_PONG
_EV_CLOSE = _wsrt.EV_CLOSE
_EV_SSE_OPEN = _wsrt.EV_SSE_OPEN
_EV_SSE_CLOSE = _wsrt.EV_SSE_CLOSE
_EV_DRAIN = _wsrt.EV_DRAIN

_OPTIONS = frozenset(
    {
        "max_message_size",
        "max_buffered",
        "read_pause_buffered",
        "max_head_bytes",
        "max_headers",
        "max_connections",
        "handshake_timeout",
        "close_timeout",
        "idle_timeout",
        "sse_keepalive",
        "allowed_origins",
        "close_on_overflow",
        "deflate",
        "deflate_threshold",
        "deflate_level",
        "deflate_server_max_window_bits",
        "slow_consumer_limit",
        "slow_consumer_policy",
    }
)


class Accept:
    """An accept hook's answer: accept the request, optionally choosing one
    of the subprotocols the client offered (by default the first of the
    route's `subprotocols` that the client offered, if any)."""

    __slots__ = ("subprotocol",)

    def __init__(self, subprotocol: Optional[str] = None) -> None:
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise TypeError("subprotocol must be a str or None")
        self.subprotocol = subprotocol

    def __repr__(self) -> str:
        return f"Accept(subprotocol={self.subprotocol!r})"


class Reject:
    """An accept hook's answer: refuse the request with an HTTP status
    (400-599) and a short text body."""

    __slots__ = ("status", "body")

    def __init__(self, status: int = 403, body: str = "") -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"reject status must be an int in 400-599, not {status!r}")
        if not isinstance(body, str):
            raise TypeError("reject body must be a str")
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"Reject({self.status}, {self.body!r})"


Verdict = Union[Accept, Reject, bool, int, None]
Conn = Union[WebSocket, SseStream]
_MaybeAwaitable = Optional[Awaitable[Any]]


def _check_handler(name: str, fn: Any) -> None:
    if fn is not None and not callable(fn):
        raise TypeError(f"{name} must be callable, not {type(fn).__name__}")


class _Route:
    kind = ""

    def __init__(self, server: "Server", path: str) -> None:
        self._server = server
        self.path = path
        self.subprotocols: List[str] = []
        self.content_type = ""
        self.body = b""
        self._accept: Optional[Callable[..., Any]] = None

    @property
    def approve(self) -> bool:
        # Read by the core at bind time: routes with an accept hook wait for
        # the application's verdict on each request.
        return self._accept is not None

    def _set(self, attr: str, fn: Any) -> Any:
        _check_handler(attr.lstrip("_"), fn)
        if attr == "_accept" and self._server._core is not None:
            raise RuntimeError("an accept hook cannot be added after the server has started")
        setattr(self, attr, fn)
        return fn

    def accept(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: the accept hook, called with the pending connection
        (path, query, headers, remote_address, offered_subprotocols) before
        anything is answered. It returns (or, if async, resolves to)
        `Accept(...)`/`True`/`None` to accept, or `Reject(status, body)`,
        an int status or `False` (403) to refuse. If it raises, the request
        is refused with 500."""
        return self._set("_accept", fn)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"


class WebSocketRoute(_Route):
    """A WebSocket endpoint. Set handlers with the decorators (or the
    keyword arguments of `Server.websocket`); any of them may be `async def`
    under asyncio."""

    kind = "websocket"

    def __init__(self, server: "Server", path: str) -> None:
        super().__init__(server, path)
        self._on_open: Optional[Callable[..., Any]] = None
        self._on_message: Optional[Callable[..., Any]] = None
        self._on_close: Optional[Callable[..., Any]] = None
        self._on_pong: Optional[Callable[..., Any]] = None

    def on_open(self, fn: Callable[[WebSocket], _MaybeAwaitable]) -> Callable[[WebSocket], _MaybeAwaitable]:
        """Decorator: `fn(ws)` when a connection opens."""
        return self._set("_on_open", fn)

    def on_message(
        self, fn: Callable[[WebSocket, Union[str, bytes]], _MaybeAwaitable]
    ) -> Callable[[WebSocket, Union[str, bytes]], _MaybeAwaitable]:
        """Decorator: `fn(ws, data)` for each message (`str` for text,
        `bytes` for binary)."""
        return self._set("_on_message", fn)

    def on_close(
        self, fn: Callable[[WebSocket, int, str], _MaybeAwaitable]
    ) -> Callable[[WebSocket, int, str], _MaybeAwaitable]:
        """Decorator: `fn(ws, code, reason)` once, when an opened connection
        has ended."""
        return self._set("_on_close", fn)

    def on_pong(
        self, fn: Callable[[WebSocket, bytes], _MaybeAwaitable]
    ) -> Callable[[WebSocket, bytes], _MaybeAwaitable]:
        """Decorator: `fn(ws, payload)` when the answer to `ws.ping()` arrives."""
        return self._set("_on_pong", fn)


class SseRoute(_Route):
    """A Server-Sent Events endpoint."""

    kind = "sse"

    def __init__(self, server: "Server", path: str) -> None:
        super().__init__(server, path)
        self._on_open: Optional[Callable[..., Any]] = None
        self._on_close: Optional[Callable[..., Any]] = None

    def on_open(self, fn: Callable[[SseStream], _MaybeAwaitable]) -> Callable[[SseStream], _MaybeAwaitable]:
        """Decorator: `fn(stream)` when a stream opens (see
        `stream.last_event_id` for where a reconnecting client left off)."""
        return self._set("_on_open", fn)

    def on_close(self, fn: Callable[[SseStream], _MaybeAwaitable]) -> Callable[[SseStream], _MaybeAwaitable]:
        """Decorator: `fn(stream)` once, when an opened stream has ended."""
        return self._set("_on_close", fn)


class _StaticRoute(_Route):
    kind = "static"


class Server:
    """A WebSocket + Server-Sent Events server on one port.

    Declare routes, then run it either under asyncio::

        async with server:          # binds, serves in the background
            await stop_event.wait()
        # leaving the block shut it down gracefully (WebSockets get 1001)

    or on the calling thread with `serve_forever()` (handlers must then be
    plain functions).

    Options (all optional; the core's defaults otherwise): max_message_size
    (bytes, 16 MiB; larger closes with 1009), max_buffered (bytes queued per
    connection, 32 MiB), read_pause_buffered (1 MiB), close_on_overflow
    (False: a send past max_buffered raises BackpressureError; True: closes
    with 1008), max_head_bytes, max_headers, max_connections,
    handshake_timeout / close_timeout (seconds), idle_timeout and
    sse_keepalive (seconds, or None to disable), allowed_origins (list of
    Origin values browsers may connect from).

    Compression (permessage-deflate, RFC 7692), off by default:
    deflate="shared" (one compressor and decompressor for the whole server,
    reset after every message: no per-connection memory; always negotiates
    server_no_context_takeover and client_no_context_takeover) or
    deflate="per-connection" (context takeover as the client offers it:
    best ratio, ~300 KiB of zlib state per connection that uses it);
    "off", None or False decline every offer. deflate_threshold (bytes,
    256: shorter messages go out uncompressed), deflate_level (zlib level
    0-9, 6) and deflate_server_max_window_bits (9-15, 15: our compressor's
    window) tune it. Compressing secrets next to attacker-chosen text in
    one message stream can leak them (CRIME/BREACH): turn it on where
    bandwidth matters. A compressed message inflating past
    max_message_size closes with 1009, bad deflate data with 1007.

    Publish/subscribe: connections join topics (`ws.subscribe(topic)`,
    `stream.subscribe(topic)` or `stream.resume(topic)` for SSE replay) and
    `publish(topic, data)` sends one message to all of them, encoded once
    in the core. slow_consumer_limit (bytes, 1 MiB) is what a subscriber
    may have queued before a publish finds it slow; slow_consumer_policy
    says what then happens: "close" (the default: a WebSocket closes with
    1008, an SSE stream ends, so no subscriber silently misses messages) or
    "drop" (it skips that message; for data the next message supersedes).

    Unknown option names raise TypeError here; option values are checked
    when the server binds (`bind`, `start`, `async with`, `serve_forever`),
    raising ValueError or TypeError.

    Threading: the server and its connections are used on the thread that
    runs it. From other threads, `stop()` is always safe, and `publish`,
    `publish_all` and the connections' `send`/`close`/`ping`/SSE `send`
    work too (they wake the loop, which writes what they queued).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9001, **options: Any) -> None:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise TypeError(f"unknown Server option(s): {', '.join(sorted(unknown))}")
        if not isinstance(host, str):
            raise TypeError("host must be a str")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0-65535, not {port!r}")
        self.host = host
        self._port = port
        self._options = options
        self._routes: Dict[str, _Route] = {}
        self._core: Optional[_wsrt.Core] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._mode = ""  # "", "asyncio" or "sync"
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._drain_waiters: Dict[int, List["asyncio.Future[None]"]] = {}
        self._timer: Optional[asyncio.TimerHandle] = None
        self._soon: Optional[asyncio.Handle] = None
        self._finished: Optional["asyncio.Future[None]"] = None
        self._done = False
        # set_topic_history calls made before the server binds.
        self._histories: Dict[str, Tuple[Any, Any]] = {}

    # -- routes --------------------------------------------------------------

    def _add(self, route: _Route) -> None:
        if self._core is not None:
            raise RuntimeError("routes cannot be added after the server has started")
        if not isinstance(route.path, str) or not route.path.startswith("/"):
            raise ValueError(f"route path must be a str starting with '/', not {route.path!r}")
        if route.path in self._routes:
            raise ValueError(f"route {route.path!r} is already defined")
        self._routes[route.path] = route

    def websocket(
        self,
        path: str,
        *,
        on_open: Optional[Callable[[WebSocket], _MaybeAwaitable]] = None,
        on_message: Optional[Callable[[WebSocket, Union[str, bytes]], _MaybeAwaitable]] = None,
        on_close: Optional[Callable[[WebSocket, int, str], _MaybeAwaitable]] = None,
        on_pong: Optional[Callable[[WebSocket, bytes], _MaybeAwaitable]] = None,
        accept: Optional[Callable[[WebSocket], Union[Verdict, Awaitable[Verdict]]]] = None,
        subprotocols: Sequence[str] = (),
    ) -> WebSocketRoute:
        """Adds a WebSocket endpoint at `path` (matched exactly, without
        the query). `subprotocols` are the ones this endpoint speaks, in
        order of preference. Returns the route, whose decorators set the
        handlers too."""
        route = WebSocketRoute(self, path)
        if isinstance(subprotocols, str) or not all(isinstance(p, str) for p in subprotocols):
            raise TypeError("subprotocols must be a sequence of str")
        route.subprotocols = list(subprotocols)
        for name, fn in (
            ("_on_open", on_open),
            ("_on_message", on_message),
            ("_on_close", on_close),
            ("_on_pong", on_pong),
            ("_accept", accept),
        ):
            route._set(name, fn)
        self._add(route)
        return route

    def sse(
        self,
        path: str,
        *,
        on_open: Optional[Callable[[SseStream], _MaybeAwaitable]] = None,
        on_close: Optional[Callable[[SseStream], _MaybeAwaitable]] = None,
        accept: Optional[Callable[[SseStream], Union[Verdict, Awaitable[Verdict]]]] = None,
    ) -> SseRoute:
        """Adds a Server-Sent Events endpoint at `path`."""
        route = SseRoute(self, path)
        for name, fn in (("_on_open", on_open), ("_on_close", on_close), ("_accept", accept)):
            route._set(name, fn)
        self._add(route)
        return route

    def static(
        self, path: str, body: Union[str, bytes], content_type: str = "text/html; charset=utf-8"
    ) -> None:
        """Answers GET `path` with a fixed 200 response."""
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError("static body must be str or bytes")
        route = _StaticRoute(self, path)
        route.body = bytes(body)
        route.content_type = content_type
        self._add(route)

    # -- state ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once started (useful with port=0), else the
        configured one."""
        return self._core.port if self._core is not None else self._port

    @property
    def connections(self) -> List[Conn]:
        """The live connections (WebSockets and SSE streams, including ones
        awaiting the accept hook)."""
        return self._core.connections() if self._core is not None else []

    @property
    def running(self) -> bool:
        return self._core is not None and not self._done

    def _bind(self) -> _wsrt.Core:
        if self._done:
            raise RuntimeError("this server has been shut down; make a new one")
        if self._core is None:
            core = _wsrt.Core(f"{self.host}:{self._port}", list(self._routes.values()), **self._options)
            for topic, (max_events, max_age) in self._histories.items():
                core.set_topic_history(topic, max_events, max_age)
            self._histories.clear()
            self._core = core
        return self._core

    def bind(self) -> None:
        """Binds the listening socket now (`start`, `async with` and
        `serve_forever` do it if needed). After this, `port` is the real
        port and routes are fixed."""
        self._bind()

    def stop(self) -> None:
        """Begins a graceful shutdown: stop accepting, close WebSockets with
        1001, end SSE streams. Safe from any thread and from signal
        handlers; `serve_forever` returns and `wait_closed` completes once
        every connection is gone."""
        core = self._core
        if core is not None and not self._done:
            core.request_shutdown()

    # -- publish/subscribe ---------------------------------------------------

    def _bound(self, what: str) -> _wsrt.Core:
        core = self._core
        if core is None:
            raise RuntimeError(f"{what}() needs a bound server: call bind() or start it first")
        return core

    def publish(
        self,
        topic: str,
        data: Union[str, bytes, bytearray, memoryview],
        *,
        exclude: Union[WebSocket, SseStream, int, None] = None,
        on_slow: Optional[str] = None,
        sse_event: Optional[str] = None,
    ) -> Published:
        """Sends `data` to every subscriber of `topic`, WebSockets and SSE
        streams alike: a `str` as a text message, bytes-like as a binary
        one (SSE streams carry text only, so they skip binary messages).
        The frame is encoded once in the core and queued to each.

        `exclude` is a connection (or its id) that does not get it, usually
        the sender. `on_slow` ("drop" or "close") overrides the server's
        slow_consumer_policy for this message. `sse_event` is the
        ``event:`` name SSE subscribers see (default: none, i.e.
        "message"). Returns `Published(delivered, dropped, closed,
        event_id)`; `event_id` is set when the topic keeps history.

        Safe from any thread. ValueError for an empty or over-long topic
        (1-1024 bytes), a bad policy or an event name with CR/LF/NUL;
        TypeError for wrong types; RuntimeError before the server binds."""
        return self._bound("publish").publish(topic, data, exclude, on_slow, sse_event)  # type: ignore[no-any-return]

    def publish_all(
        self,
        data: Union[str, bytes, bytearray, memoryview],
        *,
        exclude: Union[WebSocket, SseStream, int, None] = None,
        on_slow: Optional[str] = None,
        sse_event: Optional[str] = None,
    ) -> Published:
        """Like `publish`, to every open WebSocket and SSE stream of the
        server, subscribed to anything or not."""
        return self._bound("publish_all").publish(None, data, exclude, on_slow, sse_event)  # type: ignore[no-any-return]

    def subscriber_count(self, topic: str) -> int:
        """Live subscribers of `topic` (0 before the server binds)."""
        if self._core is None:
            if not isinstance(topic, str):
                raise TypeError(f"topic must be a str, not {type(topic).__name__}")
            return 0
        return self._core.subscriber_count(topic)

    def set_topic_history(self, topic: str, max_events: int, max_age: Optional[float] = None) -> None:
        """Makes `topic` keep its last `max_events` published events (0
        turns history off and forgets it), each for at most `max_age`
        seconds (None: until pushed out), so an SSE client reconnecting
        with Last-Event-ID gets what it missed (`SseStream.resume`). Event
        ids increase across all topics; an id from another server
        instance (an earlier run, another worker) is a miss. May be
        called before the server binds (values are then checked at bind)."""
        if self._core is None:
            self._histories[topic] = (max_events, max_age)
            return
        self._core.set_topic_history(topic, max_events, max_age)

    def stats(self) -> Stats:
        """Counters and gauges: connections, websockets, sse_streams,
        buffered_bytes, topics, published, delivered, dropped, slow_closed
        (all 0 before the server binds)."""
        if self._core is None:
            return Stats(0, 0, 0, 0, 0, 0, 0, 0, 0)
        return self._core.stats()

    # -- dispatch (both modes) -------------------------------------------------

    def _dispatch(self, batch: List[Tuple[int, Any, Any]], _MESSAGE: int = _EV_MESSAGE) -> None:
        # The hot path is the first branch: one attribute chain and a call per
        # message, with the event kind compared against a local.
        for kind, conn, data in batch:
            if kind == _MESSAGE:
                fn = conn.route._on_message
                if fn is not None:
                    try:
                        r = fn(conn, data)
                        if r is not None:
                            self._spawn(r, conn, "on_message")
                    except Exception:
                        self._failed(conn, "on_message")
            elif kind == _EV_OPEN or kind == _EV_SSE_OPEN:
                self._call(conn.route._on_open, conn, "on_open", (conn,))
            elif kind == _EV_CLOSE:
                conn._mark_closed()
                if conn._opened:
                    self._wake_drain(conn)
                    self._call(
                        conn.route._on_close, conn, "on_close", (conn, conn.close_code, conn.close_reason)
                    )
            elif kind == _EV_SSE_CLOSE:
                conn._mark_closed()
                if conn._opened:
                    self._wake_drain(conn)
                    self._call(conn.route._on_close, conn, "on_close", (conn,))
            elif kind == _EV_DRAIN:
                self._wake_drain(conn)
            elif kind == _EV_PONG:
                self._call(conn.route._on_pong, conn, "on_pong", (conn, data))
            elif kind == _EV_REQUEST:
                self._ask(conn)
            # _EV_WAKE: nothing to do; the turn itself flushed.

    def _call(self, fn: Optional[Callable[..., Any]], conn: Conn, what: str, args: Tuple[Any, ...]) -> None:
        if fn is None:
            return
        try:
            r = fn(*args)
            if r is not None:
                self._spawn(r, conn, what)
        except Exception:
            self._failed(conn, what)

    def _spawn(self, r: Any, conn: Conn, what: str) -> None:
        if not inspect.isawaitable(r):
            return
        if self._mode != "asyncio":
            if inspect.iscoroutine(r):
                r.close()
            log.error("wsrt: %s of %s returned an awaitable; async handlers need the asyncio mode "
                      "(async with server / await server.serve())", what, conn.route.path)
            self._abort(conn)
            return
        task = self._loop.create_task(self._guard(r, conn, what))  # type: ignore[union-attr]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, aw: Awaitable[Any], conn: Conn, what: str) -> None:
        try:
            await aw
        except Exception:
            self._failed(conn, what)

    def _failed(self, conn: Conn, what: str) -> None:
        log.exception("wsrt: %s handler for %s raised", what, conn.path)
        self._abort(conn)

    @staticmethod
    def _abort(conn: Conn) -> None:
        try:
            if isinstance(conn, WebSocket):
                if conn.state == "pending":
                    conn._reject(500, "internal error")
                else:
                    conn.close(1011, "internal error")
            elif conn.state == "pending":
                conn._reject(500, "internal error")
            else:
                conn.close()
        except _wsrt.WsrtError:
            pass

    # -- the accept hook -----------------------------------------------------

    def _ask(self, conn: Conn) -> None:
        hook = conn.route._accept
        try:
            verdict = hook(conn)
        except Exception:
            log.exception("wsrt: accept hook for %s raised; answering 500", conn.path)
            self._abort(conn)
            return
        if inspect.isawaitable(verdict):
            if self._mode != "asyncio":
                if inspect.iscoroutine(verdict):
                    verdict.close()
                log.error("wsrt: the accept hook of %s is async; that needs the asyncio mode", conn.path)
                self._abort(conn)
                return
            task = self._loop.create_task(self._ask_later(verdict, conn))  # type: ignore[union-attr]
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._apply(conn, verdict)

    async def _ask_later(self, verdict: Awaitable[Verdict], conn: Conn) -> None:
        try:
            v = await verdict
        except Exception:
            log.exception("wsrt: accept hook for %s raised; answering 500", conn.path)
            self._abort(conn)
            return
        self._apply(conn, v)

    @staticmethod
    def _choose(conn: Conn) -> Optional[str]:
        if not isinstance(conn, WebSocket):
            return None
        offered = conn.offered_subprotocols
        for p in conn.route.subprotocols:
            if p in offered:
                return p
        return None

    def _apply(self, conn: Conn, v: Any) -> None:
        if conn.state != "pending":
            return  # the client left meanwhile
        try:
            if v is None or v is True:
                conn._accept(self._choose(conn))
            elif isinstance(v, Accept):
                conn._accept(v.subprotocol if v.subprotocol is not None else self._choose(conn))
            elif v is False:
                conn._reject(403, "forbidden")
            elif isinstance(v, Reject):
                conn._reject(v.status, v.body)
            elif isinstance(v, int):
                conn._reject(Reject(v).status, "")
            else:
                raise TypeError(
                    f"the accept hook returned {type(v).__name__}; expected Accept, Reject, bool, int or None"
                )
        except Exception:
            log.exception("wsrt: cannot apply the accept hook's answer for %s; answering 500", conn.path)
            self._abort(conn)

    # -- drain ---------------------------------------------------------------

    def _drain_waiter(self, conn: Conn) -> "asyncio.Future[None]":
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is not loop:
            raise RuntimeError("drained() must be awaited on the server's event loop")
        fut: asyncio.Future[None] = loop.create_future()
        if conn.state != "pending":
            conn._flush()  # only what the socket would not take stays queued
        if conn.closed or conn.buffered_amount == 0:
            fut.set_result(None)
        else:
            self._drain_waiters.setdefault(conn.id, []).append(fut)
        return fut

    def _wake_drain(self, conn: Conn) -> None:
        if self._drain_waiters:
            for fut in self._drain_waiters.pop(conn.id, ()):
                if not fut.done():
                    fut.set_result(None)

    # -- asyncio mode ----------------------------------------------------------

    async def start(self) -> None:
        """Binds (if needed) and starts serving on the running event loop;
        returns at once. Pair with `shutdown()` (or use `async with`)."""
        if self._mode:
            raise RuntimeError("the server is already running")
        core = self._bind()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._mode = "asyncio"
        self._finished = loop.create_future()
        core.claim(self._on_dirty, self._drain_waiter)
        loop.add_reader(core.fileno(), self._turn)
        self._turn()

    def _on_dirty(self) -> None:
        # Output queued outside a turn (a task, a timer): flush it soon, once.
        self._loop.call_soon(self._flush_now)  # type: ignore[union-attr]

    def _flush_now(self) -> None:
        core = self._core
        if core is not None and not self._done:
            self._arm(core.end_turn())

    def _turn(self) -> None:
        core = self._core
        if core is None or self._done:
            return
        try:
            batch = core.poll(0.0)
            if batch:
                self._dispatch(batch)
        finally:
            wait = core.end_turn()
        if core.is_finished():
            self._finish()
        else:
            self._arm(wait)

    def _arm(self, wait: Optional[float]) -> None:
        if wait is None:
            return
        loop = self._loop
        if wait <= 0.0:
            if self._soon is None:
                self._soon = loop.call_soon(self._soon_turn)  # type: ignore[union-attr]
            return
        when = loop.time() + wait  # type: ignore[union-attr]
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return  # an earlier wake-up is set; it re-arms as needed
            timer.cancel()
        self._timer = loop.call_at(when, self._timer_turn)  # type: ignore[union-attr]

    def _soon_turn(self) -> None:
        self._soon = None
        self._turn()

    def _timer_turn(self) -> None:
        self._timer = None
        self._turn()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        core = self._core
        if self._mode == "asyncio":
            loop = self._loop
            loop.remove_reader(core.fileno())  # type: ignore[union-attr]
            for h in (self._timer, self._soon):
                if h is not None:
                    h.cancel()
            self._timer = self._soon = None
            for futs in self._drain_waiters.values():
                for fut in futs:
                    if not fut.done():
                        fut.set_result(None)
            self._drain_waiters.clear()
            if self._finished is not None and not self._finished.done():
                self._finished.set_result(None)
        core.claim(None, None)  # type: ignore[union-attr]

    async def shutdown(self, timeout: Optional[float] = None) -> None:
        """Gracefully shuts down and waits until every connection is gone
        (the core drops stragglers after `close_timeout`). Handler tasks
        still running afterwards are cancelled. `timeout` bounds the wait
        (asyncio.TimeoutError)."""
        core = self._core
        if core is None or self._mode != "asyncio":
            self._done = True
            return
        if not self._done:
            core.begin_shutdown()
            self._arm(0.0)
        await asyncio.wait_for(asyncio.shield(self._finished), timeout)  # type: ignore[arg-type]
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Waits until the server has shut down (after `stop()` or
        `shutdown()`)."""
        if self._finished is None:
            raise RuntimeError("the server is not running under asyncio")
        await asyncio.shield(self._finished)

    async def serve(self) -> None:
        """Serves until `stop()` is called or the awaiting task is
        cancelled, then shuts down gracefully."""
        await self.start()
        try:
            await self.wait_closed()
        finally:
            await self.shutdown()

    async def __aenter__(self) -> "Server":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    # -- blocking mode -------------------------------------------------------

    def serve_forever(self) -> None:
        """Serves on the calling thread until `stop()` (from a handler,
        another thread or a signal handler) or Ctrl-C, then shuts down
        gracefully and returns (re-raising KeyboardInterrupt after a Ctrl-C).
        Handlers run on this thread and must be plain functions."""
        if self._mode:
            raise RuntimeError("the server is already running")
        for route in self._routes.values():
            for name in ("_on_open", "_on_message", "_on_close", "_on_pong", "_accept"):
                fn = getattr(route, name, None)
                if fn is not None and inspect.iscoroutinefunction(fn):
                    raise TypeError(
                        f"{name.lstrip('_')} of {route.path} is async; run the server under asyncio "
                        "(async with server: ... / asyncio.run(server.serve())) or use plain functions"
                    )
        core = self._bind()
        self._mode = "sync"
        core.claim(None, None)
        interrupted = False
        try:
            while not core.is_finished():
                try:
                    batch = core.poll(None)
                    if batch:
                        self._dispatch(batch)
                except KeyboardInterrupt:
                    if interrupted:
                        raise
                    interrupted = True
                    log.info("wsrt: interrupted; shutting down")
                    core.begin_shutdown()
                finally:
                    core.end_turn()
        finally:
            self._finish()
        if interrupted:
            raise KeyboardInterrupt

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._done else "not started")
        return f"<wsrt.Server {self.host}:{self.port} {state} routes={list(self._routes)}>"

