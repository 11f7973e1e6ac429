"""`WebSocket` and `SseStream`: the application's handle on a connection.
What they share is the native `Connection` (id, route, request, `data`,
topics, close); every call goes to the core with the connection's id; the
state, the checks and the errors are the core's."""

from __future__ import annotations

from typing import Any, List, Optional, Union

from ._types import Replay
from ._wsrt import Connection

__all__ = ["Connection", "SseStream", "WebSocket"]


class WebSocket(Connection):
    """A WebSocket connection."""

    __slots__ = {
        "_opened": "",
        "subprotocol": "The negotiated subprotocol (None before open, or if none).",
        "close_code": "Once closed: the peer's code (1005 if its close frame had none), 1006 if it "
                      "ended without a close handshake, or the code wsrt failed it with.",
        "close_reason": "Once closed: the close reason.",
    }
    subprotocol: Optional[str]
    close_code: Optional[int]
    close_reason: Optional[str]

    def __init__(self, core: Any) -> None:  # made by the server (src/lib.rs: Core::make)
        self._opened, self.subprotocol, self.close_code, self.close_reason = False, None, None, None

    # The native method itself, so that a send is one call; it is the
    # base's, so it reaches the core's checks on any connection.
    send = Connection._send

    @property
    def offered_subprotocols(self) -> List[str]:
        """The subprotocols the client offered, in its order."""
        return self._offered

    def ping(self, payload: Union[str, bytes] = b"") -> None:
        """Sends a ping (at most 125 bytes); its pong goes to on_pong."""
        self._core.ping(self.id, payload)


class SseStream(Connection):
    """A Server-Sent Events stream."""

    __slots__ = ("_opened",)

    def __init__(self, core: Any) -> None:
        self._opened = False

    @property
    def last_event_id(self) -> Optional[str]:
        """The Last-Event-ID the client sent (where it left off), or None."""
        return self._last_event_id

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
