"""A small chat server on wsrt, in plain blocking Python (no asyncio).

  /      a minimal page to try it in a browser
  /chat  WebSocket: ws://127.0.0.1:$PORT/chat?room=lobby&name=ann
         every text message is sent to everyone in the same room as
         "ann: message"; joins and leaves are announced

The approve hook refuses a connection without a valid name (400) or whose
name is taken in that room (409). Each room is a topic: a connection
subscribes to "room:<name>" when it joins, and one `server.publish` sends a
line to everyone there (encoded once, fanned out in the core; a member too
slow to keep up is closed with 1008, the default slow-consumer policy).
Closing leaves the topic by itself. Listens on 127.0.0.1:$PORT (default
9002); SIGTERM/SIGINT shut down gracefully.

    .cache/pyenv/bin/python examples/python/chat.py   # after `make python-dev`
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections import defaultdict
from urllib.parse import parse_qs

import wsrt

NAME = re.compile(r"^[\w.-]{1,32}$")
PAGE = """<!doctype html><meta charset="utf-8"><title>wsrt chat</title>
<input id="msg" placeholder="say something" autofocus><pre id="log"></pre>
<script>
const p = new URLSearchParams(location.search);
const name = p.get("name") || "guest" + Math.floor(Math.random() * 1000);
const ws = new WebSocket(`ws://${location.host}/chat?room=${p.get("room") || "lobby"}&name=${name}`);
ws.onmessage = (e) => { document.getElementById("log").textContent += e.data + "\\n"; };
ws.onclose = (e) => { document.getElementById("log").textContent += `[closed ${e.code}]\\n`; };
document.getElementById("msg").onkeydown = (e) => {
  if (e.key === "Enter" && e.target.value) { ws.send(e.target.value); e.target.value = ""; }
};
</script>
"""

# Who is in which room, for the approve hook's name check.
rooms: dict[str, dict[str, wsrt.WebSocket]] = defaultdict(dict)


def who(ws: wsrt.WebSocket) -> tuple[str, str]:
    q = parse_qs(ws.query)
    return q.get("room", ["lobby"])[0], q.get("name", [""])[0]


def topic(room: str) -> str:
    return f"room:{room}"


def main() -> None:
    port = int(os.environ.get("PORT", "9002"))
    server = wsrt.Server("127.0.0.1", port, max_message_size=4096)
    server.static("/", PAGE)
    chat = server.websocket("/chat")

    @chat.approve
    def check(ws: wsrt.WebSocket) -> wsrt.Reject | None:
        room, name = who(ws)
        if not NAME.match(name) or not NAME.match(room):
            return wsrt.Reject(400, "room and name must be 1-32 letters, digits, '.', '-' or '_'")
        if name in rooms[room]:
            return wsrt.Reject(409, f"{name} is already in {room}")
        return None  # accept

    @chat.on_open
    def joined(ws: wsrt.WebSocket) -> None:
        room, name = who(ws)
        ws.data.update(room=room, name=name)
        rooms[room][name] = ws
        ws.subscribe(topic(room))
        here = server.subscriber_count(topic(room))
        server.publish(topic(room), f"* {name} joined {room} ({here} here)")

    @chat.on_message
    def said(ws: wsrt.WebSocket, message: str | bytes) -> None:
        if isinstance(message, bytes):
            ws.close(1003, "text only")
            return
        # The sender sees its own line too: that is how it knows the room got it.
        server.publish(topic(ws.data["room"]), f"{ws.data['name']}: {message}")

    @chat.on_close
    def left(ws: wsrt.WebSocket, code: int, reason: str) -> None:
        room, name = ws.data["room"], ws.data["name"]
        if rooms[room].get(name) is ws:
            del rooms[room][name]
            # A closed connection has already left the topic.
            server.publish(topic(room), f"* {name} left")
        if not rooms[room]:
            del rooms[room]

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())
    server.bind()
    print(f"chat.py: http://127.0.0.1:{server.port}/?room=lobby&name=you", file=sys.stderr, flush=True)
    server.serve_forever()
    print("chat.py: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
