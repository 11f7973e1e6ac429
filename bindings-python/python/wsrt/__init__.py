"""wsrt: a native WebSocket (RFC 6455), Server-Sent Events, Engine.IO v4
and Socket.IO v5 server.

The engine is the Rust wsrt core; this package gives it a Python face that
works under asyncio (handlers may be ``async def``) and in plain blocking
code::

    import asyncio, wsrt

    server = wsrt.Server("127.0.0.1", 9001, idle_timeout_ms=60_000)

    @server.websocket("/echo").on_message
    def echo(ws, message):
        ws.send(message)

    asyncio.run(server.serve())      # or server.serve_forever()

See ``help(wsrt.Server)``, ``help(wsrt.WebSocket)``, ``help(wsrt.SseStream)``
and docs/API.md (options, units, events, errors).
"""

from ._conn import Connection, SseStream, WebSocket
from ._server import Route, Server, SseRoute, WebSocketRoute
from ._sio import EngineIORoute, EngineIOSession, Namespace, Socket, SocketIO
from ._types import (
    Accept,
    BackpressureError,
    ConnectionClosedError,
    ConnectionRefusedError,
    InvalidStateError,
    Published,
    Reject,
    Replay,
    ServerStoppedError,
    Stats,
    TlsInfo,
    UnknownConnectionError,
    WsrtError,
)
from ._wsrt import ConnState, EventType, __version__

__all__ = [
    "Accept", "BackpressureError", "ConnState", "Connection", "ConnectionClosedError",
    "ConnectionRefusedError", "EngineIORoute", "EngineIOSession", "EventType", "InvalidStateError",
    "Namespace", "Published", "Reject", "Replay", "Route", "Server", "ServerStoppedError", "Socket",
    "SocketIO", "SseRoute", "SseStream", "Stats", "TlsInfo", "UnknownConnectionError", "WebSocket",
    "WebSocketRoute", "WsrtError", "__version__",
]
