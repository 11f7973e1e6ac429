"""The small result types of publish/subscribe (named tuples: unpack them,
compare them, or read their fields)."""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["Published", "Replay", "Stats"]


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
    id is not one of this server's): nothing was replayed, so send the
    client a full snapshot now."""


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
