"""The Python face's contract server for the cross-front test (see
README.md here): options from a JSON argument passed to wsrt.Server as
they are, /ws echo, /sse greeting, /probe edge calls, outcomes as JSON
lines on stdout. Serves until stdin reaches EOF.

    .cache/pyenv/bin/python tests/contract/server.py '{"idle_timeout_ms": 0}'
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable, Optional

import wsrt

# The error kinds' names, by the exception each maps to (docs/API.md);
# subclasses before their bases.
KINDS = [
    (wsrt.UnknownConnectionError, "unknown_connection"),
    (wsrt.ConnectionClosedError, "closed"),
    (wsrt.InvalidStateError, "wrong_state"),
    (wsrt.BackpressureError, "backpressure"),
    (wsrt.ServerStoppedError, "stopped"),
    (wsrt.WsrtError, "internal"),
    (ValueError, "invalid_argument"),
    (TypeError, "invalid_type"),
    (OSError, "io"),
]


def kind(e: BaseException) -> str:
    return next(name for cls, name in KINDS if isinstance(e, cls))


def outcome(call: Callable[[], Any]) -> str:
    try:
        call()
        return "ok"
    except Exception as e:  # every wsrt error is an Exception
        return kind(e)


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    options = json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")
    server = wsrt.Server("127.0.0.1", 0, **options)
    stale: Optional[wsrt.WebSocket] = None  # the last /ws connection whose close was seen

    def echo(ws: wsrt.WebSocket, message: str | bytes) -> None:
        ws.send(message)

    def closed(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        nonlocal stale
        stale = ws

    server.websocket("/ws", on_message=echo, on_close=closed)
    server.sse("/sse", on_open=lambda stream: stream.send("hello"))

    @server.websocket("/probe").on_message
    def probes(ws: wsrt.WebSocket, message: str | bytes) -> None:
        if message != "run":
            return
        assert stale is not None, "a /ws connection opens and closes before the probes"
        for name, call in [
            ("bad_utf8", lambda: ws.send(b"\xff\xfe".decode("utf-8", "surrogateescape"))),
            ("topic_2k", lambda: ws.subscribe("a" * 2048)),
            ("topic_1k", lambda: ws.subscribe("a" * 1024)),
            ("publish_2k", lambda: server.publish("a" * 2048, "x")),
            ("close_code", lambda: ws.close(1005)),
            ("ping_126", lambda: ws.ping(bytes(126))),
            ("stale_send", lambda: stale.send("late")),  # type: ignore[union-attr]
        ]:
            say(probe=name, outcome=outcome(call))
        say(probe="stale_state", outcome=stale.state.name)
        say(probe="close", outcome=outcome(lambda: ws.close(1000)))
        say(probe="send_after_close", outcome=outcome(lambda: ws.send("x")))

    try:
        server.bind()
    except Exception as e:
        say(ok=False, kind=kind(e), message=str(e))
        return
    say(ok=True, port=server.port)

    def wait_for_eof() -> None:
        sys.stdin.read()
        server.stop()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    server.serve_forever()
    say(probe="after_close", outcome=outcome(lambda: server.publish("t", "x")))


if __name__ == "__main__":
    main()
