"""wsrt: a native WebSocket (RFC 6455) and Server-Sent Events server.

The protocol engine is Rust (the wsrt core); this package gives it a
Python face that works under asyncio (handlers may be ``async def``) and in
plain blocking code::

    import asyncio, wsrt

    server = wsrt.Server("127.0.0.1", 9001)

    @server.websocket("/echo").on_message
    def echo(ws, message):
        ws.send(message)

    asyncio.run(server.serve())      # or server.serve_forever()

Publish/subscribe: ``ws.subscribe("news")`` (or ``stream.subscribe`` /
``stream.resume`` for SSE) and ``server.publish("news", data)``.

See ``help(wsrt.Server)``, ``help(wsrt.WebSocket)`` and
``help(wsrt.SseStream)``.
"""

from ._server import Accept, Reject, Server, SseRoute, WebSocketRoute
from ._types import Published, Replay, Stats
from ._wsrt import (
    BackpressureError,
    ConnectionClosedError,
    InvalidStateError,
    SseStream,
    WebSocket,
    WsrtError,
    __version__,
)

__all__ = [
    "Accept",
    "BackpressureError",
    "ConnectionClosedError",
    "InvalidStateError",
    "Published",
    "Reject",
    "Replay",
    "Server",
    "SseRoute",
    "SseStream",
    "Stats",
    "WebSocket",
    "WebSocketRoute",
    "WsrtError",
    "__version__",
]
