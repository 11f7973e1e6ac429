"""Socket.IO and plain Engine.IO: `SocketIO`, `Namespace`, `Socket` and
`EngineIOSession`. The protocol, the rooms (topics) and every check are
the core's; this module turns Python values into the JSON arguments the
core takes (`bytes`, also nested, as attachments) and back, and calls the
application's handlers."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from ._conn import WebSocket
from ._server import Handler, Route
from ._types import ConnectionClosedError, ConnectionRefusedError
from ._wsrt import Connection, ConnState, Core, EventType

if TYPE_CHECKING:
    from ._server import Server

__all__ = ["EngineIORoute", "EngineIOSession", "Namespace", "Socket", "SocketIO"]

_REQUEST, _OPEN, _CLOSE, _DRAIN, _SIO_EVENT, _SIO_ACK = (
    int(EventType.REQUEST), int(EventType.OPEN), int(EventType.CLOSE), int(EventType.DRAIN),
    int(EventType.SIO_EVENT), int(EventType.SIO_ACK))
_ANSWERED, _TIMED_OUT = 0, 1
_BINARY = (bytes, bytearray, memoryview)
_pack_natively = Core.pack_args
# What a handler returns that is certainly not awaitable (its exact type):
# no inspect.isawaitable call for the usual ack values.
_PLAIN = frozenset((type(None), tuple, list, dict, str, int, float, bool, bytes))


class _Binary(Exception):
    """A bytes-like value among the arguments: they take the slow path."""


def _plain(v: Any) -> Any:
    if isinstance(v, _BINARY):
        raise _Binary
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


_encoder = {"separators": (",", ":"), "allow_nan": False}
_dumps = json.JSONEncoder(**_encoder, default=_plain).encode  # type: ignore[arg-type]
_loads = json.JSONDecoder().decode


def _pack(args: Tuple[Any, ...]) -> Tuple[str, List[bytes]]:
    """Arguments as the core takes them: a JSON array, each bytes-like
    value (at any depth) a placeholder for its attachment, numbered in
    the order the encoder meets them. The native encoder does it when it
    can; Python's json otherwise (same text, same errors)."""
    packed = _pack_natively(args)
    if packed is not None:
        return packed
    try:
        return _dumps(args), []
    except _Binary:
        pass
    atts: List[bytes] = []

    def binary(v: Any) -> Any:
        if isinstance(v, _BINARY):
            atts.append(bytes(v))
            return {"_placeholder": True, "num": len(atts) - 1}
        return _plain(v)

    return json.JSONEncoder(**_encoder, default=binary).encode(args), atts  # type: ignore[arg-type]


def _unpack(text: str, atts: Optional[Tuple[bytes, ...]]) -> List[Any]:
    """The core's JSON arguments as Python values (placeholders: bytes):
    what the native parser leaves to Python's json (it calls this)."""
    args = _loads(text)
    if not atts:
        return args  # type: ignore[no-any-return]

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            n = v.get("num")
            if v.get("_placeholder") is True and type(n) is int and 0 <= n < len(atts):
                return atts[n]
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return [walk(a) for a in args]


def _result(args: Tuple[Any, ...]) -> Any:
    """An ack's arguments as `call` returns them: None, the one value, or a tuple."""
    return None if not args else args[0] if len(args) == 1 else tuple(args)


def _rooms(name: str, v: Any) -> List[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple, set, frozenset)) and all(isinstance(r, str) for r in v):
        return list(v)
    raise TypeError(f"{name} is a room (str) or a list of rooms, not {type(v).__name__}")


class EngineIOSession(WebSocket):
    """A plain Engine.IO session (long-polling or WebSocket underneath):
    `send(str or bytes)`, `close()`; its end reports the reason as
    `close_reason`."""

    __slots__ = ()


class EngineIORoute(Route):
    """A plain Engine.IO endpoint: handlers as a WebSocket route's
    (`on_open(session)`, `on_message(session, data)`, `on_close(session,
    code, reason)`)."""

    kind = "engineio"

    def on_message(self, fn: Handler) -> Handler:
        """Decorator: `fn(session, data)` for each message (str or bytes)."""
        return self._set("on_message", fn)


class Socket(Connection):
    """A Socket.IO socket: one client in one namespace. Arrives in the
    approve hook, `on_connect`, the event handlers and `on_disconnect`."""

    __slots__ = {
        "_ns": "", "_acks": "", "_opened": "",
        "sid": "The socket's id, as the client knows it (`socket.id`).",
        "namespace": "The namespace's name.",
        "auth": "The handshake's auth payload (None if the client sent none).",
        "recovered": "Whether connection state recovery brought it back (id and rooms kept).",
    }
    sid: str
    namespace: str
    auth: Any
    recovered: bool

    def __init__(self, core: Any) -> None:  # made by the server
        self._acks: Optional[Dict[int, asyncio.Future[Any]]] = None  # made by the first call()
        self._ns: Optional[Namespace] = None
        self._opened, self.sid, self.namespace, self.auth, self.recovered = False, "", "", None, False

    def __repr__(self) -> str:
        return f"<wsrt.Socket {self.sid or '?'} {self.namespace}>"

    @property
    def request(self) -> Socket:
        """The handshake request: `.path`, `.query`, `.headers`,
        `.header(name)`, `.remote_address`, `.tls`."""
        return self

    @property
    def rooms(self) -> List[str]:
        """The rooms it is in (the core's topics of the socket)."""
        return self._core.topics(self.id)  # type: ignore[no-any-return]

    def emit(self, event: str, *args: Any) -> None:
        """Emits `event` with `args` (JSON values; bytes anywhere in them
        go as binary attachments) to this socket."""
        body, atts = _pack(args)
        self._core.emit(self.id, event, body, atts)

    async def call(self, event: str, *args: Any, timeout_ms: Any = None) -> Any:
        """Emits `event` and waits for the client's ack: None, its one
        value, or a tuple of them. `timeout_ms` (0 or None: none) ends the
        wait with TimeoutError; the socket's end with ConnectionClosedError.
        Awaited on the server's event loop."""
        loop = asyncio.get_running_loop()
        if self._ns is None or loop is not self._ns._sio._server._loop:
            raise RuntimeError("call() is awaited on the server's event loop")
        body, atts = _pack(args)
        ack = self._core.emit(self.id, event, body, atts, 0 if timeout_ms is None else timeout_ms)
        fut: asyncio.Future[Any] = loop.create_future()
        if self._acks is None:
            self._acks = {}
        self._acks[ack] = fut
        return await fut

    def join(self, room: str) -> None:
        """Joins `room` (a topic of the core: `Server.publish` to it reaches
        the socket as event "message")."""
        self.subscribe(room)

    def leave(self, room: str) -> None:
        """Leaves `room`."""
        self.unsubscribe(room)

    def broadcast(self, event: str, *args: Any, to: Union[str, Iterable[str], None] = None) -> int:
        """Emits to every socket of its namespace (or of the rooms `to`)
        but this one; returns how many it was queued for."""
        return self._space()._send(event, args, to, None, self.id)

    def disconnect(self) -> None:
        """Disconnects the socket ("server namespace disconnect")."""
        self.close()

    def _space(self) -> Namespace:
        if self._ns is None:
            raise ConnectionClosedError("the socket is not connected")
        return self._ns


class Namespace:
    """One namespace of a Socket.IO endpoint: its handlers and its emits."""

    def __init__(self, sio: SocketIO, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"a namespace is a str, not {type(name).__name__}")
        self._sio, self.name = sio, name
        self._approve: Optional[Handler] = None
        self._on_connect: Optional[Handler] = None
        self._on_disconnect: Optional[Handler] = None
        self._handlers: Dict[str, Handler] = {}

    def _hook(self, name: str, fn: Any) -> Any:
        if not callable(fn):
            raise TypeError(f"{name} must be callable, not {type(fn).__name__}")
        if name == "_approve" and self._sio._server._core is not None:
            raise RuntimeError("an approve hook cannot be added once the server is bound")
        setattr(self, name, fn)
        return fn

    def approve(self, fn: Handler) -> Handler:
        """Decorator: `fn(socket)` decides on each connection to the
        namespace (`socket.auth`, `socket.request`); it returns (or
        resolves to) True or None to accept, or raises
        `wsrt.ConnectionRefusedError(message, data)` to refuse (the
        client's connect_error gets both). Anything else raised refuses
        with "server error"."""
        return self._hook("_approve", fn)

    def on_connect(self, fn: Handler) -> Handler:
        """Decorator: `fn(socket)` once a socket has connected."""
        return self._hook("_on_connect", fn)

    def on_disconnect(self, fn: Handler) -> Handler:
        """Decorator: `fn(socket, reason)` when a connected socket has gone."""
        return self._hook("_on_disconnect", fn)

    def on(self, event: str) -> Callable[[Handler], Handler]:
        """Decorator: `fn(socket, *args)` for each `event` the client
        emits; what it returns (or resolves to) is the ack if the client
        asked for one (a tuple for several arguments, None for none)."""
        if not isinstance(event, str):
            raise TypeError(f"an event name is a str, not {type(event).__name__}")

        def add(fn: Handler) -> Handler:
            if not callable(fn):
                raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
            self._handlers[event] = fn
            return fn
        return add

    def emit(self, event: str, *args: Any, to: Union[str, Iterable[str], None] = None,
             skip: Union[Socket, str, None] = None, exclude_rooms: Union[str, Iterable[str], None] = None) -> int:
        """Emits to every socket of the namespace, or those in any of the
        rooms `to`, except `skip` (a socket or its sid) and sockets in
        `exclude_rooms`; returns how many it was queued for."""
        if skip is None or isinstance(skip, Socket):
            conn = None if skip is None else skip.id
        elif isinstance(skip, str):
            found = self._sio._server._c.socket_by_id(skip)
            conn = None if found is None else found.id
        else:
            raise TypeError(f"skip is a Socket or a sid (str), not {type(skip).__name__}")
        return self._send(event, args, to, exclude_rooms, conn)

    def _send(self, event: str, args: Tuple[Any, ...], to: Any, exclude: Any, conn: Optional[int]) -> int:
        rooms, out = _rooms("to", to), _rooms("exclude_rooms", exclude)
        body, atts = _pack(args)
        return self._sio._server._c.broadcast(self.name, event, body, atts, rooms, out, conn)  # type: ignore[no-any-return]


class SocketIO(Namespace):
    """A Socket.IO endpoint; itself its namespace "/", `of(name)` the
    others. Made by `Server.socketio(path)`."""

    def __init__(self, server: Server, path: str) -> None:
        self._server, self.path = server, path
        super().__init__(self, "/")
        self._spaces: Dict[str, Namespace] = {"/": self}
        self._route = _SioRoute(server, path, self)

    # The sid-addressed calls python-socketio users know; each is a
    # Socket method reached through the socket's id.

    def emit(self, event: str, *args: Any, to: Union[str, Iterable[str], None] = None,  # type: ignore[override]
             skip: Union[Socket, str, None] = None, exclude_rooms: Union[str, Iterable[str], None] = None,
             skip_sid: Optional[str] = None, namespace: Optional[str] = None) -> int:
        """`Namespace.emit` on `namespace` (default "/"); `skip_sid` is
        python-socketio's name for `skip`."""
        space = self._space_of(namespace)
        return Namespace.emit(space, event, *args, to=to, skip=skip if skip_sid is None else skip_sid,
                              exclude_rooms=exclude_rooms)

    def get_socket(self, sid: str, namespace: Optional[str] = None) -> Socket:
        """The connected socket with this id (in `namespace`, if given);
        ConnectionClosedError if there is none."""
        s = self._server._c.socket_by_id(sid) if isinstance(sid, str) else None
        if not isinstance(s, Socket) or (namespace is not None and s.namespace != namespace):
            raise ConnectionClosedError(f"no connected socket {sid!r}")
        return s

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """`get_socket(sid).join(room)`."""
        self.get_socket(sid, namespace).join(room)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        """`get_socket(sid).leave(room)`."""
        self.get_socket(sid, namespace).leave(room)

    async def call(self, event: str, *args: Any, to: str, timeout_ms: Any = None,
                   namespace: Optional[str] = None) -> Any:
        """`await get_socket(to).call(event, *args, timeout_ms=...)`."""
        return await self.get_socket(to, namespace).call(event, *args, timeout_ms=timeout_ms)

    def _space_of(self, namespace: Optional[str]) -> Namespace:
        space = self._spaces.get("/" if namespace is None else namespace)
        if space is None:
            raise ValueError(f"no namespace {namespace!r} on this endpoint")
        return space

    def of(self, name: str) -> Namespace:
        """The namespace `name` (made and served on first use, before the
        server binds)."""
        ns = self._spaces.get(name)
        if ns is None:
            if self._server._core is not None:
                raise RuntimeError("namespaces cannot be added once the server is bound")
            ns = self._spaces[name] = Namespace(self, name)
        return ns


class _SioRoute(Route):
    """The Socket.IO endpoint as the server's route list holds it: turns
    the core's events into the namespaces' handler calls."""

    kind = "socketio"

    def __init__(self, server: Server, path: str, sio: SocketIO) -> None:
        super().__init__(server, path)
        self._sio = sio

    @property  # type: ignore[override]
    def subprotocols(self) -> List[str]:  # the namespaces, as the core takes them
        return list(self._sio._spaces)

    @subprotocols.setter
    def subprotocols(self, _: Any) -> None:
        pass

    @property
    def _approve(self) -> Optional[bool]:  # type: ignore[override]
        return True if any(ns._approve for ns in self._sio._spaces.values()) else None

    @_approve.setter
    def _approve(self, _: Any) -> None:
        pass

    # A client's event mostly never reaches Python's dispatch: the native
    # module calls its handler and acks it (`Core::call_handler`), and
    # hands over here only what needs Python (`_on_result`, `_on_error`).
    # Those of a socket with an earlier event in the batch come as records
    # (`_on_event`), to keep the socket's order.

    def _on_event(self, s: Socket, data: Tuple[str, Tuple[Any, ...], Optional[int]]) -> None:
        """A client's event as a record of the batch."""
        name, args, ack = data
        ns = s._ns
        fn = None if ns is None else ns._handlers.get(name)
        if fn is None:
            return
        r = fn(s, *args)
        if r is not None and type(r) not in _PLAIN and inspect.isawaitable(r):
            return self._server._spawn(r, self._answer_later, (s, ack))  # type: ignore[arg-type]
        if ack is not None and not s._ack(ack, r):
            self._answer_json(s, ack, r)

    def _on_result(self, s: Socket, ack: Optional[int], r: Any) -> None:
        """What an event's handler returned, when it is not a plain value
        the native module could ack: awaited, or packed with json."""
        try:
            if r is not None and inspect.isawaitable(r):
                return self._server._spawn(r, self._answer_later, (s, ack))  # type: ignore[arg-type]
            if ack is not None:
                self._answer(s, ack, r)
        except Exception as e:
            self._server._error(e, s)

    def _on_error(self, s: Socket, exc: BaseException) -> None:
        """What an event's handler (or its ack) raised."""
        self._server._error(exc, s)

    def _event(self, kind: int, s: Socket, data: Any) -> Any:
        server = self._server
        if kind == _SIO_EVENT:
            self._on_event(s, data)
        elif kind == _SIO_ACK:
            ack, code, args = data
            fut = s._acks.pop(ack, None) if s._acks else None
            if fut is not None and not fut.done():
                if code == _ANSWERED:
                    fut.set_result(_result(args))
                elif code == _TIMED_OUT:
                    fut.set_exception(TimeoutError(f"no ack within the timeout (ack {ack})"))
                else:
                    fut.set_exception(ConnectionClosedError("the socket was disconnected"))
        elif kind == _REQUEST:
            self._setup(s, data)
            fn = s._ns._approve if s._ns is not None else None
            try:
                v = None if fn is None else fn(s)
                if inspect.isawaitable(v):
                    return server._spawn(v, self._decide_later, s)  # type: ignore[arg-type]
            except Exception as e:
                v = e
            self._decide(s, v)
        elif kind == _OPEN:
            self._setup(s, data)
            s._opened, s.recovered, s.sid = True, data[2], data[3]
            fn = s._ns._on_connect if s._ns is not None else None
            return None if fn is None else fn(s)
        elif kind == _CLOSE:
            for fut in (s._acks or {}).values():
                if not fut.done():
                    fut.set_exception(ConnectionClosedError("the socket was disconnected"))
            s._acks = None
            fn = s._ns._on_disconnect if s._ns is not None and s._opened else None
            return None if fn is None else fn(s, data[1])
        elif kind == _DRAIN:
            server._wake(s)
        return None

    def _setup(self, s: Socket, data: Any) -> None:
        s.namespace, s._ns = data[0], self._sio._spaces.get(data[0])
        try:
            s.auth = _loads(data[1]) if data[1] else None
        except ValueError:
            s.auth = None

    def _answer(self, s: Socket, ack: int, value: Any) -> None:
        if not s._ack(ack, value):  # packed natively unless it needs json
            self._answer_json(s, ack, value)

    def _answer_json(self, s: Socket, ack: int, value: Any) -> None:
        args = () if value is None else value if isinstance(value, tuple) else (value,)
        body, atts = _pack(args)
        self._server._c.ack(s.id, ack, body, atts)

    async def _answer_later(self, aw: Any, target: Tuple[Socket, Optional[int]]) -> None:
        s, ack = target
        try:
            value = await aw
            if ack is not None:
                self._answer(s, ack, value)
        except Exception as e:
            self._server._error(e, s)

    async def _decide_later(self, aw: Any, s: Socket) -> None:
        try:
            v = await aw
        except Exception as e:
            v = e
        self._decide(s, v)

    def _decide(self, s: Socket, v: Any) -> None:
        core = self._server._c
        try:
            if s.state is not ConnState.CONNECTING:
                return  # the client left meanwhile
            if v is None or v is True:
                return core.accept(s.id, None, [])
            if isinstance(v, ConnectionRefusedError):
                try:
                    data = None if v.data is None else _dumps(v.data)
                except _Binary:
                    raise TypeError("a refusal's data is JSON without bytes") from None
                return core.reject_socket(s.id, v.message, data)
            if isinstance(v, BaseException):
                raise v
            raise TypeError(f"approve returned {type(v).__name__}: expected True or None "
                            "(raise wsrt.ConnectionRefusedError to refuse)")
        except Exception as e:
            self._server._error(e, s)
            try:
                core.reject_socket(s.id, "server error", None)
            except Exception:
                pass
