"""The API's exceptions (each the one the core names for an error kind,
`ErrorKind::python_exception`) and its small value types (named tuples:
unpack them, compare them, or read their fields)."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, NamedTuple, Optional, Tuple, Union

__all__ = ["Accept", "BackpressureError", "ConnectionClosedError", "ConnectionRefusedError", "Headers", "InvalidStateError", "Published",
           "Reject", "Replay", "ServerStoppedError", "Stats", "TlsInfo", "UnknownConnectionError", "WsrtError"]


class WsrtError(Exception):
    """Base class of wsrt's own errors (the others are ValueError, TypeError and OSError)."""


class ConnectionClosedError(WsrtError):
    """The connection is closing or closed: nothing more can be sent on it."""


class UnknownConnectionError(ConnectionClosedError):
    """The connection is no longer known to the server: its end was reported."""


class InvalidStateError(WsrtError):
    """The call does not fit the connection (a WebSocket call on an event
    stream, an answer to a request that awaits none, ...)."""


class BackpressureError(WsrtError):
    """Queuing this would pass max_buffered; nothing was queued (await
    `drained()`, or wait for on_drain)."""


class ServerStoppedError(WsrtError):
    """The server has shut down."""


class ConnectionRefusedError(WsrtError):  # noqa: A001 (wsrt.ConnectionRefusedError, as docs/API.md names it)
    """Raised by a Socket.IO approve hook to refuse the socket: the
    client's connect_error gets `message` and `data` (any JSON value)."""

    def __init__(self, message: str = "connection refused", data: object = None) -> None:
        if not isinstance(message, str):
            raise TypeError(f"message is a str, not {type(message).__name__}")
        super().__init__(message, data)
        self.message, self.data = message, data

Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]
"""Response headers: a dict or a list of (name, value) pairs."""


class Accept(NamedTuple):
    """An `approve` hook's answer: accept, choosing one of the subprotocols
    the client offered (None: the first of the route's `subprotocols` the
    client offered) and adding response headers."""

    subprotocol: Optional[str] = None
    headers: Headers = None


class Reject(NamedTuple):
    """An `approve` hook's answer: refuse with an HTTP status (400-599), a
    short text body and response headers."""

    status: int = 403
    body: str = ""
    headers: Headers = None


class Published(NamedTuple):
    """What one `Server.publish` / `publish_all` did."""

    delivered: int
    """Subscribers the message was queued for."""
    dropped: int
    """Slow subscribers that did not get it (policy "drop")."""
    closed: int
    """Slow subscribers closed because of it (policy "close")."""
    event_id: Optional[int]
    """Its id when the topic keeps history (SSE subscribers see it as
    ``id:``), else None."""


class Replay(NamedTuple):
    """What `SseStream.resume` did. The stream is subscribed either way."""

    replayed: int
    """Events from the topic's history queued to the stream (in order,
    before anything published later); 0 when it missed none."""
    missed: bool
    """True when the history no longer covers the client's last id (or the
    id is not one of this server instance's): nothing was replayed, so
    send the client a full snapshot now."""


class Stats(NamedTuple):
    """The server's counters (since it started) and gauges (now)."""

    connections: int
    websockets: int
    sse_streams: int
    buffered_bytes: int
    """Bytes queued for all connections and not yet taken by the sockets."""
    topics: int
    published: int
    """Publish calls (to a topic or to everyone)."""
    delivered: int
    """Messages queued to subscribers by publishes."""
    dropped: int
    """Messages not queued to slow subscribers (policy "drop")."""
    slow_closed: int
    """Connections closed as slow subscribers (policy "close")."""
    tls_handshakes: int = 0
    """TLS handshakes completed."""
    tls_failures: int = 0
    """TLS connections refused or given up before their handshake completed
    (plain HTTP or garbage on a TLS port, a protocol version or certificate
    refused, the handshake timeout)."""
    cluster_published: int = 0
    """Publishes sent to the cluster's Redis (`cluster_redis_url`)."""
    cluster_received: int = 0
    """Publishes of other servers of the cluster delivered here (their
    deliveries count in `delivered`)."""
    cluster_dropped: int = 0
    """Publishes that did not reach the cluster (queue to Redis full, no
    connection to Redis, or it broke before Redis confirmed them); local
    subscribers got them all the same."""


@dataclasses.dataclass(frozen=True)
class TlsInfo:
    """A TLS connection's handshake, as `Connection.tls` shows it (None on
    a plain connection)."""

    version: str
    """"TLSv1.2" or "TLSv1.3"."""
    cipher: str
    """The IANA name of the cipher suite ("TLS13_AES_128_GCM_SHA256")."""
    server_name: Optional[str]
    """The server name the client asked for (SNI), if any."""
    peer_subject: Optional[str]
    """The client certificate's subject as an RFC 4514 string
    ("CN=alice,O=Example"), only when one was sent and verified against
    tls_ca."""
    peer_certificate: Optional[bytes]
    """That certificate, DER encoded."""
