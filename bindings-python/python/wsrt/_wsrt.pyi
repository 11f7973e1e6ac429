"""Type stubs for the native module wsrt._wsrt (built from src/lib.rs)."""

from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._types import Published, Replay, Stats

__version__: str

EV_REQUEST: int
EV_OPEN: int
EV_MESSAGE: int
EV_PONG: int
EV_CLOSE: int
EV_SSE_OPEN: int
EV_SSE_CLOSE: int
EV_DRAIN: int
EV_WAKE: int

class WsrtError(Exception):
    """Base class of the errors wsrt raises (other than ValueError, TypeError and OSError)."""

class ConnectionClosedError(WsrtError):
    """The connection is closed or closing: nothing more can be sent on it."""

class BackpressureError(WsrtError):
    """Queuing this would pass the connection's max_buffered limit; nothing was queued."""

class InvalidStateError(WsrtError):
    """The call does not fit the connection's state (e.g. sending before it is accepted)."""

BytesLike = Union[bytes, bytearray, memoryview]

class WebSocket:
    """A WebSocket connection: one object for its whole life (accept hook,
    on_open, messages, on_close). Keep per-connection state in ``ws.data``
    (a dict) or in your own dict keyed by the connection (it is hashable)."""

    def send(self, data: Union[str, BytesLike]) -> None:
        """Sends a text (str) or binary (bytes-like) message. Raises
        ConnectionClosedError once closed or closing, BackpressureError past
        max_buffered, TypeError for other types."""
    def ping(self, data: Union[str, BytesLike, None] = None) -> None:
        """Sends a ping (payload at most 125 bytes); the pong goes to on_pong."""
    def subscribe(self, topic: str) -> bool:
        """Joins `topic` (1-1024 bytes): every Server.publish to it reaches
        this connection. False if it already had. A connection leaves all
        its topics when it closes. ValueError for a bad topic,
        ConnectionClosedError once closed, InvalidStateError before it is
        accepted."""
    def unsubscribe(self, topic: str) -> bool:
        """Leaves `topic`; False if it was not subscribed (or is closed)."""
    def is_subscribed(self, topic: str) -> bool:
        """Whether this connection is subscribed to `topic`."""
    def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the close handshake (code 1000-1003, 1007-1014, 3000-4999;
        reason at most 123 bytes). Does nothing if already closed/closing."""
    def drained(self) -> Awaitable[None]:
        """Done once everything queued has reached the socket (or the
        connection has closed). Asyncio mode, on the server's loop."""
    def header(self, name: str) -> Optional[str]:
        """The first value of a request header (case-insensitive)."""
    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def remote_address(self) -> Tuple[str, int]: ...
    @property
    def offered_subprotocols(self) -> List[str]: ...
    @property
    def subprotocol(self) -> Optional[str]: ...
    @property
    def state(self) -> str:
        """"pending" (awaiting the accept hook), "open" or "closed"."""
    @property
    def closed(self) -> bool: ...
    @property
    def close_code(self) -> Optional[int]: ...
    @property
    def close_reason(self) -> Optional[str]: ...
    @property
    def buffered_amount(self) -> int:
        """Bytes queued and not yet taken by the socket."""
    @property
    def route(self) -> Any: ...
    @property
    def data(self) -> Dict[str, Any]:
        """A dict for the application's own per-connection state."""
    @property
    def _opened(self) -> bool: ...
    def _accept(self, subprotocol: Optional[str] = None) -> None: ...
    def _reject(self, status: int, body: str = "") -> None: ...
    def _flush(self) -> None: ...
    def _mark_closed(self) -> None: ...

class SseStream:
    """A Server-Sent Events stream: one object for its whole life."""

    def send(
        self,
        data: str,
        event: Optional[str] = None,
        id: Union[str, int, None] = None,
        retry: Optional[int] = None,
    ) -> None:
        """Sends one event. ValueError for an event name or id containing
        CR, LF or NUL; ConnectionClosedError once the stream has ended."""
    def subscribe(self, topic: str) -> bool:
        """Joins `topic` (1-1024 bytes): every Server.publish to it reaches
        this connection. False if it already had. A connection leaves all
        its topics when it closes. ValueError for a bad topic,
        ConnectionClosedError once closed, InvalidStateError before it is
        accepted."""
    def unsubscribe(self, topic: str) -> bool:
        """Leaves `topic`; False if it was not subscribed (or is closed)."""
    def is_subscribed(self, topic: str) -> bool:
        """Whether this connection is subscribed to `topic`."""
    def resume(self, topic: str, last_event_id: Union[str, int, None] = None) -> Replay:
        """Subscribes to `topic` and queues, from its history
        (Server.set_topic_history), every event after `last_event_id`
        (default: the Last-Event-ID the client sent), in order and before
        anything published later. Returns Replay(replayed, missed):
        `missed` is True when the history no longer covers that id (or it
        is not one of this server's ids): nothing was replayed, so send the
        client a full snapshot. With no id nothing is missed."""
    def comment(self, text: str) -> None: ...
    def close(self) -> None: ...
    def drained(self) -> Awaitable[None]: ...
    def header(self, name: str) -> Optional[str]: ...
    @property
    def last_event_id(self) -> Optional[str]:
        """The Last-Event-ID the client sent (where it left off), or None."""
    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def remote_address(self) -> Tuple[str, int]: ...
    @property
    def state(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def buffered_amount(self) -> int: ...
    @property
    def route(self) -> Any: ...
    @property
    def data(self) -> Dict[str, Any]:
        """A dict for the application's own per-connection state."""
    @property
    def _opened(self) -> bool: ...
    def _accept(self, subprotocol: Optional[str] = None) -> None: ...
    def _reject(self, status: int, body: str = "") -> None: ...
    def _flush(self) -> None: ...
    def _mark_closed(self) -> None: ...

class Core:
    """The native server (internal; use wsrt.Server)."""

    def __init__(self, listen: str, routes: Sequence[Any], **options: Any) -> None:
        """Binds `listen` ("IP:port") with `routes` and the options of
        wsrt.Server: max_message_size, max_buffered, read_pause_buffered,
        max_head_bytes, max_headers, max_connections (int); handshake_timeout,
        close_timeout (float seconds); idle_timeout, sse_keepalive (float
        seconds or None); allowed_origins (list of str or None);
        close_on_overflow (bool); deflate ("off" | "shared" |
        "per-connection" | None | False); deflate_threshold (int >= 0);
        deflate_level (int 0-9); deflate_server_max_window_bits (int 9-15);
        slow_consumer_limit (int >= 1024); slow_consumer_policy ("drop" |
        "close").
        Raises TypeError for an unknown option or a value of the wrong type,
        ValueError for one out of range, OSError if it cannot listen."""
    @property
    def port(self) -> int: ...
    def fileno(self) -> int: ...
    def claim(
        self,
        on_dirty: Optional[Callable[[], Any]] = None,
        drain_waiter: Optional[Callable[[Any], Awaitable[None]]] = None,
    ) -> None: ...
    def poll(self, timeout: Optional[float] = 0.0) -> List[Tuple[int, Any, Any]]: ...
    def end_turn(self) -> Optional[float]: ...
    def begin_shutdown(self) -> None: ...
    def request_shutdown(self) -> None: ...
    def wake(self) -> None: ...
    def is_finished(self) -> bool: ...
    def connection_count(self) -> int: ...
    def connections(self) -> List[Union[WebSocket, SseStream]]: ...
    def publish(
        self,
        topic: Optional[str],
        data: Union[str, BytesLike],
        exclude: Union[WebSocket, SseStream, int, None] = None,
        on_slow: Optional[str] = None,
        sse_event: Optional[str] = None,
    ) -> Published:
        """To `topic`'s subscribers, or to every connection when None. Any thread."""
    def subscriber_count(self, topic: str) -> int: ...
    def set_topic_history(self, topic: str, max_events: int, max_age: Optional[float] = None) -> None: ...
    def stats(self) -> Stats: ...
