"""`WebSocket` and `SseStream`: the application's handle on a connection.
Every call goes to the core with the connection's id; the state, the
checks and the errors are the core's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Dict, List, Optional, Tuple, Union

from ._types import Replay
from ._wsrt import ConnState

if TYPE_CHECKING:
    from ._server import Route, Server

__all__ = ["Connection", "SseStream", "WebSocket"]


class Connection:
    """What `WebSocket` and `SseStream` share. One object per connection
    for its whole life (the approve hook, on_open, ..., on_close); methods
    may be called from any thread. Per-connection state goes in `data`."""

    __slots__ = {
        "_server": "", "_core": "", "_opened": "", "__weakref__": "",
        "route": "The route it arrived on.",
        "id": "An int that identifies the connection within its server.",
        "path": "The request path, without the query string.",
        "query": "The query string (what followed `?`), not decoded.",
        "headers": "The request headers as (name, value) pairs, in the order received.",
        "remote_address": "The peer's (host, port).",
        "data": "A dict for the application's own per-connection state.",
    }
    route: Route
    id: int
    path: str
    query: str
    headers: List[Tuple[str, str]]
    remote_address: Tuple[str, int]
    data: Dict[str, Any]

    def __init__(self, server: Server, route: Route, conn: int, request: Tuple[Any, ...]) -> None:
        self._server, self._core, self.route, self.id, self._opened = server, server._core, route, conn, False
        self.path, self.query, self.headers, self.remote_address = request[:4]
        self.data = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.id:x} {self.path} {self.state.name}>"

    def header(self, name: str) -> Optional[str]:
        """The first value of a request header (any case), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def state(self) -> ConnState:
        """`ConnState` CONNECTING (awaiting approval), OPEN, CLOSING (closed
        by the application, the end not yet reported) or CLOSED."""
        return ConnState(self._core.state(self.id))

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this connection and not yet taken by the socket."""
        return self._core.buffered_amount(self.id)

    def subscribe(self, topic: str) -> Optional[bool]:
        """Joins `topic`: every `Server.publish` to it reaches this
        connection. False if it already had (None from another thread). A
        connection leaves all its topics when it closes."""
        return self._core.subscribe(self.id, topic)

    def unsubscribe(self, topic: str) -> Optional[bool]:
        """Leaves `topic`; False if it was not subscribed (None from another thread)."""
        return self._core.unsubscribe(self.id, topic)

    def is_subscribed(self, topic: str) -> bool:
        """Whether this connection is subscribed to `topic`."""
        return self._core.is_subscribed(self.id, topic)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Closes a WebSocket with `code` and `reason` (the close handshake
        ends in the background; on_close reports the end) or ends an event
        stream (on_close follows)."""
        self._core.close(self.id, code, reason)

    def terminate(self) -> None:
        """Drops the connection at once, without a close handshake; on_close
        follows (a WebSocket's with 1006)."""
        self._core.terminate(self.id)

    def drained(self) -> Awaitable[None]:
        """Done once everything queued has been written to the socket (or
        the connection has ended). Under asyncio, on the server's loop."""
        return self._server._drained(self)


class WebSocket(Connection):
    """A WebSocket connection."""

    __slots__ = {
        "offered_subprotocols": "The subprotocols the client offered, in its order.",
        "subprotocol": "The negotiated subprotocol (None before open, or if none).",
        "close_code": "Once closed: the peer's code (1005 if its close frame had none), 1006 if it "
                      "ended without a close handshake, or the code wsrt failed it with.",
        "close_reason": "Once closed: the close reason.",
    }
    offered_subprotocols: List[str]
    subprotocol: Optional[str]
    close_code: Optional[int]
    close_reason: Optional[str]

    def __init__(self, server: Server, route: Route, conn: int, request: Tuple[Any, ...]) -> None:
        super().__init__(server, route, conn, request)
        self.offered_subprotocols, self.subprotocol, self.close_code, self.close_reason = request[4], None, None, None

    def send(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Sends a text (str) or binary (bytes-like) message."""
        self._core.send(self.id, data)

    def ping(self, payload: Union[str, bytes] = b"") -> None:
        """Sends a ping (at most 125 bytes); its pong goes to on_pong."""
        self._core.ping(self.id, payload)


class SseStream(Connection):
    """A Server-Sent Events stream."""

    __slots__ = {"last_event_id": "The Last-Event-ID the client sent (where it left off), or None."}
    last_event_id: Optional[str]

    def __init__(self, server: Server, route: Route, conn: int, request: Tuple[Any, ...]) -> None:
        super().__init__(server, route, conn, request)
        self.last_event_id = request[5]

    def send(self, data: str, event: Optional[str] = None, id: Union[str, int, None] = None,
             retry_ms: Optional[int] = None) -> None:
        """Sends one event: `data` (may span lines), its `event` type, its
        `id` (what a reconnecting client sends back as Last-Event-ID) and
        `retry_ms`, the client's reconnection delay (int or timedelta)."""
        self._core.sse_send(self.id, data, event, str(id) if isinstance(id, int) else id, retry_ms)

    def comment(self, text: str) -> None:
        """Sends a comment line (ignored by EventSource; keeps proxies awake)."""
        self._core.sse_comment(self.id, text)

    def resume(self, topic: str, last_event_id: Union[str, int, None] = None) -> Replay:
        """Subscribes to `topic` and queues, from its history
        (`Server.set_topic_history`), every event after `last_event_id`
        (None: the Last-Event-ID the client sent), in order and before
        anything published later. `Replay.missed`: nothing could be
        replayed, so send the client a full snapshot."""
        last = str(last_event_id) if isinstance(last_event_id, int) else last_event_id
        return Replay(*self._core.resume(self.id, topic, last))
