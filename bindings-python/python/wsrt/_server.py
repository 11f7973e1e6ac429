"""The `Server` class: routes, handler dispatch, and the two ways to run it
(an asyncio loop, or a blocking loop on the caller's thread). The core
(`wsrt._wsrt`) does everything else: this module routes its event batches
to Python handlers and drives it from the host's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from . import _wsrt
from ._conn import Connection, SseStream, WebSocket
from ._types import Accept, Headers, Published, Reject, Stats
from ._wsrt import ConnState, EventType

if TYPE_CHECKING:
    from ._sio import EngineIORoute, SocketIO

__all__ = ["Route", "Server", "SseRoute", "WebSocketRoute"]

log = logging.getLogger("wsrt")

_REQUEST, _OPEN, _MESSAGE, _PONG, _CLOSE, _SSE_OPEN, _SSE_CLOSE, _DRAIN, _SIO_EVENT = (
    int(EventType.REQUEST), int(EventType.OPEN), int(EventType.MESSAGE), int(EventType.PONG),
    int(EventType.CLOSE), int(EventType.SSE_OPEN), int(EventType.SSE_CLOSE), int(EventType.DRAIN),
    int(EventType.SIO_EVENT))
_HANDLERS = ("on_open", "on_message", "on_close", "on_pong", "on_drain", "approve")

Handler = Callable[..., Optional[Awaitable[Any]]]


def _pairs(headers: Headers) -> List[Tuple[str, str]]:
    return list(headers.items()) if hasattr(headers, "items") else list(headers or ())  # type: ignore[union-attr]


def _log_error(exc: BaseException, conn: Optional[Connection]) -> None:
    """The default `on_error`: logs the exception on the "wsrt" logger."""
    log.error("wsrt: a handler of %r raised", conn, exc_info=exc)


class Route:
    """A route and its handlers. Set them with the decorators or the
    keyword arguments of `Server.websocket` / `Server.sse`; under asyncio
    any of them may be `async def`."""

    kind = "static"

    def __init__(self, server: Server, path: str, subprotocols: Sequence[str] = (),
                 headers: Headers = None, **handlers: Optional[Handler]) -> None:
        self._server, self.path, self.headers, self.subprotocols = server, path, headers, subprotocols
        self.content_type, self.body = "", b""
        for name in _HANDLERS:
            self._set(name, handlers.get(name))

    def _set(self, name: str, fn: Any) -> Any:
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable, not {type(fn).__name__}")
        if name == "approve" and self._server._core is not None:
            raise RuntimeError("an approve hook cannot be added once the server is bound")
        setattr(self, "_" + name, fn)
        return fn

    def on_open(self, fn: Handler) -> Handler:
        """Decorator: `fn(conn)` when a connection opens."""
        return self._set("on_open", fn)

    def on_close(self, fn: Handler) -> Handler:
        """Decorator: once an opened connection has ended, `fn(ws, code,
        reason)` for a WebSocket, `fn(stream)` for an event stream."""
        return self._set("on_close", fn)

    def on_drain(self, fn: Handler) -> Handler:
        """Decorator: `fn(conn)` when a queue that had backed up (a send
        refused with BackpressureError) has been written out."""
        return self._set("on_drain", fn)

    def approve(self, fn: Handler) -> Handler:
        """Decorator: `fn(conn)` decides on each request before anything is
        answered (conn.state is CONNECTING). It returns (or, if async,
        resolves to) `Accept(subprotocol, headers)`, True or None to accept,
        `Reject(status, body, headers)`, False (403) or a status to refuse.
        If it raises, the request is refused with 500."""
        return self._set("approve", fn)

class WebSocketRoute(Route):
    """A WebSocket endpoint."""

    kind = "websocket"

    def on_message(self, fn: Handler) -> Handler:
        """Decorator: `fn(ws, data)` for each message (str for text, bytes
        for binary)."""
        return self._set("on_message", fn)

    def on_pong(self, fn: Handler) -> Handler:
        """Decorator: `fn(ws, payload)` when the answer to `ws.ping()` arrives."""
        return self._set("on_pong", fn)


class SseRoute(Route):
    """A Server-Sent Events endpoint."""

    kind = "sse"


class Server:
    """A WebSocket and Server-Sent Events server on one port.

    Options are keyword arguments named as in the core's schema
    (docs/API.md): durations in milliseconds (`idle_timeout_ms`, ...) or
    as `datetime.timedelta`; 0 turns a timer or a limit off; None is the
    default. TLS: `tls_cert` and `tls_key` (and `tls_ca`) take a PEM file's
    path (str or `os.PathLike`) or PEM text (str or bytes), or a list of
    those; `tls_listen="host:port"` speaks TLS there beside the plain port. The core checks them when the server binds (`bind`, `start`,
    `async with`, `serve_forever`): ValueError for a value out of range,
    TypeError for a wrong type or an unknown name, OSError if it cannot
    listen. `host` may be a name ("localhost": every address it has), an
    IPv4 or IPv6 address ("::1", "0.0.0.0", "::").

    Run it under asyncio (`async with server:` or `await server.serve()`;
    handlers may be `async def`) or on the calling thread with
    `serve_forever()`. Every method may be called from any thread: from a
    thread other than the loop's, calls that act on a connection or a topic
    are carried out at the loop's next turn and return None.

    A handler that raises goes to `on_error(exc, conn)` (default: logged
    on the "wsrt" logger); the server and the connection carry on.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9001,
                 on_error: Optional[Callable[[BaseException, Optional[Connection]], Any]] = None,
                 **options: Any) -> None:
        self.host, self._port, self._options = host, port, options
        self.on_error = on_error or _log_error
        self._routes: List[Route] = []
        self._core: Optional[_wsrt.Core] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._mode = ""  # "", "asyncio" or "sync"
        self._tasks: Set[asyncio.Task[Any]] = set()
        self._drains: Dict[Connection, List[asyncio.Future[None]]] = {}
        self._timer: Optional[asyncio.TimerHandle] = None
        self._soon: Optional[asyncio.Handle] = None
        self._finished: Optional[asyncio.Future[None]] = None
        self._done = False

    # -- routes -----------------------------------------------------------------

    def _add(self, route: Any) -> Any:
        if self._core is not None:
            raise RuntimeError("routes cannot be added once the server is bound")
        self._routes.append(route)
        return route

    def websocket(self, path: str, *, on_open: Optional[Handler] = None, on_message: Optional[Handler] = None,
                  on_close: Optional[Handler] = None, on_pong: Optional[Handler] = None,
                  on_drain: Optional[Handler] = None, approve: Optional[Handler] = None,
                  subprotocols: Sequence[str] = (), headers: Headers = None) -> WebSocketRoute:
        """Adds a WebSocket endpoint at `path` (matched exactly, without the
        query). `subprotocols` are the ones it speaks, in order of
        preference; `headers` are added to its 101 answers."""
        return self._add(WebSocketRoute(self, path, subprotocols, headers, on_open=on_open, on_message=on_message,
                                        on_close=on_close, on_pong=on_pong, on_drain=on_drain, approve=approve))

    def sse(self, path: str, *, on_open: Optional[Handler] = None, on_close: Optional[Handler] = None,
            on_drain: Optional[Handler] = None, approve: Optional[Handler] = None,
            headers: Headers = None) -> SseRoute:
        """Adds a Server-Sent Events endpoint at `path`."""
        return self._add(SseRoute(self, path, (), headers, on_open=on_open, on_close=on_close,
                                  on_drain=on_drain, approve=approve))

    def engineio(self, path: str = "/engine.io/", *, on_open: Optional[Handler] = None,
                 on_message: Optional[Handler] = None, on_close: Optional[Handler] = None,
                 approve: Optional[Handler] = None, headers: Headers = None) -> EngineIORoute:
        """Adds a plain Engine.IO endpoint at `path` (long-polling and
        WebSocket, the upgrade and the heartbeat are the core's): each
        session is an `EngineIOSession`, handled as a WebSocket route's."""
        from ._sio import EngineIORoute
        return self._add(EngineIORoute(self, path, (), headers, on_open=on_open, on_message=on_message,
                                       on_close=on_close, approve=approve))

    def socketio(self, path: str = "/socket.io/") -> SocketIO:
        """Adds a Socket.IO endpoint at `path`; returns its `SocketIO`
        (namespace "/"; `of(name)` for others). The sio_* and cors_*
        options of the server apply to it."""
        from ._sio import SocketIO
        sio = SocketIO(self, path)
        self._add(sio._route)
        return sio

    def static(self, path: str, body: Union[str, bytes], content_type: str = "text/html; charset=utf-8",
               headers: Headers = None) -> None:
        """Answers GET `path` with a fixed 200 response."""
        route = self._add(Route(self, path, (), headers))
        route.content_type, route.body = content_type, body.encode() if isinstance(body, str) else body

    # -- state ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once bound (useful with port=0), else the configured one."""
        return self._core.port if self._core is not None else self._port

    @property
    def tls_port(self) -> Optional[int]:
        """Once bound, the port TLS is spoken on (`port` itself, or
        tls_listen's when that is set); None without TLS or before binding."""
        return self._core.tls_port if self._core is not None else None

    def reload_tls(self, **options: Any) -> None:
        """Replaces the certificates (and the client-certificate settings)
        by the tls_* options given, as the constructor takes them: the whole
        TLS configuration, so an option not given is at its default
        (tls_listen cannot change). Every file is read and checked first:
        on error (ValueError, TypeError, OSError naming the option) nothing
        changes. New connections use the new certificates, open ones keep
        theirs. From any thread."""
        self._c.reload_tls(options)

    @property
    def connections(self) -> List[Connection]:
        """The live connections (including ones awaiting approval)."""
        return self._core.connections() if self._core is not None else []  # type: ignore[return-value]

    @property
    def running(self) -> bool:
        return self._core is not None and not self._done

    def bind(self) -> None:
        """Checks the options and binds now (`start`, `async with` and
        `serve_forever` do it if needed); routes are fixed from then on."""
        self._bind()

    def _bind(self) -> _wsrt.Core:
        if self._core is None:
            routes = [(r.kind, r.path, r._approve is not None, r.subprotocols,  # type: ignore[attr-defined]
                       _pairs(r.headers), r.content_type, r.body, r) for r in self._routes]
            from ._sio import EngineIOSession, Socket
            classes = (WebSocket, SseStream, EngineIOSession, Socket)
            self._core = _wsrt.Core(self.host, self._port, routes, self._options, classes)
        return self._core

    @property
    def _c(self) -> _wsrt.Core:
        if self._core is None:
            raise RuntimeError("the server is not bound yet: call bind() or start it first")
        return self._core

    def stop(self) -> None:
        """Begins a graceful shutdown: stop accepting, close WebSockets with
        1001, end event streams. From any thread or a signal handler."""
        if self._core is not None and not self._done:
            self._core.request_shutdown()

    # -- publish/subscribe ------------------------------------------------------

    def publish(self, topic: str, data: Union[str, bytes, bytearray, memoryview], exclude: Any = None,
                on_slow: Union[str, int, None] = None, sse_event: Optional[str] = None) -> Optional[Published]:
        """Sends `data` to every subscriber of `topic`, WebSockets and event
        streams alike: str as text, bytes-like as binary (which event
        streams skip). Encoded once in the core. `exclude`: a connection
        (or its id) that does not get it; `on_slow` ("drop" or "close"):
        this message's slow-consumer policy; `sse_event`: the `event:` name
        streams see. Returns `Published`, or None from another thread (the
        outcome is then counted in `stats()`)."""
        r = self._c.publish(topic, data, getattr(exclude, "id", exclude), on_slow, sse_event)
        return None if r is None else Published(*r)

    def publish_all(self, data: Union[str, bytes, bytearray, memoryview], exclude: Any = None,
                    on_slow: Union[str, int, None] = None, sse_event: Optional[str] = None) -> Optional[Published]:
        """Like `publish`, to every open WebSocket and event stream."""
        r = self._c.publish(None, data, getattr(exclude, "id", exclude), on_slow, sse_event)
        return None if r is None else Published(*r)

    def subscriber_count(self, topic: str) -> int:
        """Live subscribers of `topic`."""
        return self._c.subscriber_count(topic)

    def cluster_subscriber_count(self, topic: str) -> int:
        """Live subscribers of `topic` on every server of the cluster:
        this server's as they are, each other server's as it last
        announced them (within about a second; a server not heard from
        for 5 s is left out). Without a cluster, `subscriber_count`."""
        return self._c.cluster_subscriber_count(topic)

    def set_topic_history(self, topic: str, max_events: Any = 0, max_age_ms: Any = 0) -> None:
        """Makes `topic` keep its last `max_events` events, each for at
        most `max_age_ms` (0: no such bound; a timedelta is fine), for
        `SseStream.resume`. Event ids carry a random tag of this server
        instance: an id from another instance (an earlier run, another
        worker) is a miss."""
        self._c.set_topic_history(topic, max_events, max_age_ms)

    def clear_topic_history(self, topic: str) -> None:
        """Stops keeping `topic`'s history and forgets it."""
        self._c.clear_topic_history(topic)

    def stats(self) -> Stats:
        """Counters and gauges (see `Stats`)."""
        return Stats(*self._c.stats())

    # -- dispatch -----------------------------------------------------------------

    def _dispatch(self, batch: List[Tuple[int, Connection, Any, Route]]) -> None:
        for kind, c, data, route in batch:
            try:
                if kind == _MESSAGE:  # the common case first, with no call of its own
                    fn = route._on_message  # type: ignore[attr-defined]
                    r = None if fn is None else fn(c, data)
                elif kind == _SIO_EVENT:  # Socket.IO's common case, as directly
                    r = route._on_event(c, data)  # type: ignore[attr-defined]
                elif kind == _REQUEST and data is None:  # a Socket.IO request has data
                    self._ask(c, route)
                    continue
                else:
                    r = self._event(kind, c, data, route)
                if r is not None and inspect.isawaitable(r):
                    self._spawn(r, self._guard, c)
            except Exception as e:
                self._error(e, c)

    def _event(self, kind: int, c: Any, data: Any, route: Any) -> Any:
        if route.kind == "socketio":
            return route._event(kind, c, data)
        if kind == _OPEN or kind == _SSE_OPEN:
            c._opened = True
            if kind == _OPEN:
                c.subprotocol = data or None
            fn, args = route._on_open, (c,)
        elif kind == _CLOSE or kind == _SSE_CLOSE:
            self._wake(c)
            if kind == _CLOSE:
                c.close_code, c.close_reason = data
            fn, args = route._on_close if c._opened else None, (c, *data) if kind == _CLOSE else (c,)
        elif kind == _PONG:
            fn, args = route._on_pong, (c, data)
        elif kind == _DRAIN:
            self._wake(c)
            fn, args = route._on_drain, (c,)
        else:
            return None
        return None if fn is None else fn(*args)

    def _spawn(self, aw: Awaitable[Any], wrap: Callable[..., Any], conn: Connection) -> None:
        if self._mode != "asyncio":
            if inspect.iscoroutine(aw):
                aw.close()
            raise TypeError("an async handler needs the server running under asyncio "
                            "(async with server / await server.serve())")
        task = self._loop.create_task(wrap(aw, conn))  # type: ignore[union-attr]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, aw: Awaitable[Any], conn: Connection) -> None:
        try:
            await aw
        except Exception as e:
            self._error(e, conn)

    def _error(self, exc: BaseException, conn: Optional[Connection]) -> None:
        try:
            self.on_error(exc, conn)
        except Exception:
            log.exception("wsrt: on_error raised")

    # -- approval -----------------------------------------------------------------

    def _ask(self, conn: Connection, route: Any) -> None:
        try:
            v = route._approve(conn)
            if inspect.isawaitable(v):
                return self._spawn(v, self._ask_later, conn)
        except Exception as e:
            self._error(e, conn)
            v = 500
        self._answer(conn, v)

    async def _ask_later(self, aw: Awaitable[Any], conn: Connection) -> None:
        try:
            v = await aw
        except Exception as e:
            self._error(e, conn)
            v = 500
        self._answer(conn, v)

    def _answer(self, conn: Connection, v: Any) -> None:
        if conn.state is not ConnState.CONNECTING:
            return  # the client left meanwhile
        core = self._c
        try:
            if v is None or v is True or isinstance(v, Accept):
                a = v if isinstance(v, Accept) else Accept()
                return core.accept(conn.id, a.subprotocol, _pairs(a.headers))
            r = Reject() if v is False else Reject(v) if isinstance(v, int) else v
            if not isinstance(r, Reject):
                raise TypeError(f"approve returned {type(v).__name__}: expected Accept, Reject, bool, int or None")
            core.reject(conn.id, r.status, r.body, _pairs(r.headers))
        except Exception as e:
            self._error(e, conn)
            with contextlib.suppress(Exception):
                core.reject(conn.id, 500, "", [])

    # -- drain --------------------------------------------------------------------

    def _drained(self, conn: Connection) -> asyncio.Future[None]:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is not loop:
            raise RuntimeError("drained() is awaited on the server's event loop")
        fut: asyncio.Future[None] = loop.create_future()
        self._c.flush()  # what the socket takes now is not waited for
        if conn.state is ConnState.CLOSED or conn.buffered_amount == 0:
            fut.set_result(None)
        else:
            self._drains.setdefault(conn, []).append(fut)
        return fut

    def _wake(self, conn: Connection) -> None:
        for fut in self._drains.pop(conn, ()):
            if not fut.done():
                fut.set_result(None)

    # -- asyncio ------------------------------------------------------------------

    async def start(self) -> None:
        """Binds (if needed) and starts serving on the running event loop;
        returns at once. Pair with `close()` (or use `async with`)."""
        self._claim("asyncio")
        self._loop = loop = asyncio.get_running_loop()
        self._finished = loop.create_future()
        self._c.claim(True, self._on_dirty)
        loop.add_reader(self._c.fileno(), self._turn)
        self._turn()

    def _claim(self, mode: str) -> None:
        if self._mode:
            raise RuntimeError("a server runs once: make a new one to serve again")
        self._bind()
        self._mode = mode

    def _on_dirty(self) -> None:
        # Output queued outside a turn (a task, a timer): flush it soon, once.
        self._loop.call_soon(self._flush_now)  # type: ignore[union-attr]

    def _flush_now(self) -> None:
        if not self._done:
            self._arm(self._c.end_turn())

    def _turn(self) -> None:
        core = self._c
        if self._done:
            return
        try:
            batch = core.poll()
            if batch:
                self._dispatch(batch)
        finally:
            wait = core.end_turn()
        if core.is_finished():
            self._finish()
        else:
            self._arm(wait)

    def _arm(self, wait: Optional[float]) -> None:
        loop = self._loop
        if wait is None or loop is None:
            return
        if wait <= 0.0:
            if self._soon is None:
                self._soon = loop.call_soon(self._soon_turn)
            return
        when = loop.time() + wait
        if self._timer is not None:
            if self._timer.when() <= when:
                return  # an earlier wake-up is set; it re-arms as needed
            self._timer.cancel()
        self._timer = loop.call_at(when, self._timer_turn)

    def _soon_turn(self) -> None:
        self._soon = None
        self._turn()

    def _timer_turn(self) -> None:
        self._timer = None
        self._turn()

    def _finish(self) -> None:
        self._done = True
        if self._mode == "asyncio":
            self._loop.remove_reader(self._c.fileno())  # type: ignore[union-attr]
            for h in (self._timer, self._soon):
                if h is not None:
                    h.cancel()
            for conn in list(self._drains):
                self._wake(conn)
            if self._finished is not None and not self._finished.done():
                self._finished.set_result(None)
        self._c.claim(False)  # no loop thread any more: calls meet the stopped server

    async def close(self, timeout: Optional[float] = None) -> None:
        """Shuts down gracefully and waits until every connection is gone
        (the core drops stragglers after close_timeout_ms). Handler tasks
        still running afterwards are cancelled. `timeout` (seconds) bounds
        the wait (asyncio.TimeoutError)."""
        if self._mode != "asyncio":
            return self.stop()
        if not self._done:
            self._c.begin_shutdown()
            self._arm(0.0)
        await asyncio.wait_for(asyncio.shield(self._finished), timeout)  # type: ignore[arg-type]
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    shutdown = close

    async def wait_closed(self) -> None:
        """Waits until the server has shut down (after `stop()` or `close()`)."""
        if self._finished is None:
            raise RuntimeError("the server is not running under asyncio")
        await asyncio.shield(self._finished)

    async def serve(self) -> None:
        """Serves until `stop()` or until the awaiting task is cancelled,
        then shuts down gracefully."""
        await self.start()
        try:
            await self.wait_closed()
        finally:
            await self.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- blocking -----------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serves on the calling thread until `stop()` (from a handler,
        another thread or a signal handler) or Ctrl-C, then shuts down
        gracefully and returns (re-raising KeyboardInterrupt after Ctrl-C).
        Handlers must be plain functions."""
        for r in self._routes:
            for name in _HANDLERS:
                if inspect.iscoroutinefunction(getattr(r, "_" + name)):
                    raise TypeError(f"{name} of {r.path} is async: serve under asyncio "
                                    "(async with server / asyncio.run(server.serve())) or use plain functions")
        self._claim("sync")
        core = self._c
        core.claim(True)
        interrupted = False
        try:
            while not core.is_finished():
                try:
                    batch = core.poll(True)
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
        state = "running" if self.running else "stopped" if self._done else "not started"
        return f"<wsrt.Server {self.host}:{self.port} {state} routes={[r.path for r in self._routes]}>"
