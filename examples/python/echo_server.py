"""wsrt example server in Python: the same contract as examples/c/echo_server.c.

  /echo  every WebSocket message is sent back on the same connection, in
         order, with the same type (text or binary)
  /sse   an event "tick" every $SSE_INTERVAL_MS ms (default 1000), ids
         counting up from 1, data "tick <id>\\n<unix time ms>"; a client
         reconnecting with Last-Event-ID: N resumes at N+1
  /broadcast  every WebSocket message from any client here is published
         to every client here, the sender included (topic "broadcast")
  /events an SSE stream of the text published on /broadcast; the topic
         keeps its last $HISTORY events (default 100), so a client
         reconnecting with Last-Event-ID gets exactly what it missed, or
         an event "snapshot" when that is no longer known
  /      if $WSRT_DEMO_PAGE names an HTML file, that page

$DEFLATE (off, shared, per-connection) turns on permessage-deflate; it goes
to the server as it is, so a bad value is the core's error.
Listens on 127.0.0.1:$PORT (default 9001). SIGTERM or SIGINT shuts down
gracefully (WebSockets closed with 1001) and exits 0.

Run it with `examples/run python` (which builds and installs the package
into .cache/pyenv first).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

import wsrt


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) <= 0:
        sys.exit(f"echo_server.py: {name} must be a positive integer")
    return int(value)


def resume_id(stream: wsrt.SseStream) -> int:
    """Last-Event-ID as a number; anything else starts from the beginning."""
    v = stream.last_event_id
    return int(v) if v and v.isdigit() and len(v) <= 19 else 0


async def ticks(stream: wsrt.SseStream, interval: float) -> None:
    """Sends "tick" events on one stream until it ends."""
    loop = asyncio.get_running_loop()
    next_id = resume_id(stream) + 1
    due = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            stream.send(f"tick {next_id}\n{time.time_ns() // 1_000_000}", event="tick", id=next_id)
            next_id += 1
        except wsrt.BackpressureError:
            pass  # a slow reader skips ticks rather than growing its queue
        except (wsrt.ConnectionClosedError, wsrt.ServerStoppedError):
            return
        due += interval
        if due <= loop.time():
            due = loop.time() + interval  # fell behind: don't burst


async def main() -> None:
    port = env_int("PORT", 9001)
    interval = env_int("SSE_INTERVAL_MS", 1000) / 1000.0
    history = env_int("HISTORY", 100)
    deflate = os.environ.get("DEFLATE") or "off"
    server = wsrt.Server("127.0.0.1", port, deflate=deflate)

    echo = server.websocket("/echo")

    @echo.on_message
    def on_message(ws: wsrt.WebSocket, message: str | bytes) -> None:
        # Backpressure cannot lose echoes: wsrt stops reading from a
        # connection long before its queue reaches the cap.
        try:
            ws.send(message)
        except wsrt.ConnectionClosedError:
            pass

    sse = server.sse("/sse")
    streams: dict[wsrt.SseStream, asyncio.Task[None]] = {}

    @sse.on_open
    def on_open(stream: wsrt.SseStream) -> None:
        streams[stream] = asyncio.get_running_loop().create_task(ticks(stream, interval))

    @sse.on_close
    def on_close(stream: wsrt.SseStream) -> None:
        task = streams.pop(stream, None)
        if task is not None:
            task.cancel()

    broadcast = server.websocket("/broadcast")

    @broadcast.on_open
    def joined(ws: wsrt.WebSocket) -> None:
        ws.subscribe("broadcast")

    @broadcast.on_message
    def publish(ws: wsrt.WebSocket, message: str | bytes) -> None:
        # Encoded once in the core and queued to every subscriber; one too
        # slow to keep up is closed (the default slow-consumer policy).
        server.publish("broadcast", message)

    @server.sse("/events").on_open
    def follow(stream: wsrt.SseStream) -> None:
        # Replays what the client missed since its Last-Event-ID, if the
        # history still holds it.
        if stream.resume("broadcast").missed:
            # A real app would send its full state here.
            stream.send("history unavailable: start over", event="snapshot")

    page = os.environ.get("WSRT_DEMO_PAGE")
    if page:
        with open(page, "rb") as f:
            server.static("/", f.read(), "text/html; charset=utf-8")

    try:
        server.bind()  # the options are checked here, by the core
    except (ValueError, TypeError) as e:
        sys.exit(f"echo_server.py: {e}")
    server.set_topic_history("broadcast", max_events=history)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with server:
        log(f"wsrt {wsrt.__version__} (Python) listening on 127.0.0.1:{server.port} "
            "(/echo, /sse, /broadcast, /events)"
            + (f", deflate {deflate}" if deflate != "off" else ""))
        if page:
            log(f"demo page at http://127.0.0.1:{server.port}/")
        await stop.wait()
        log("signal received, shutting down")
    # Leaving the block closed every WebSocket with 1001 and ended every
    # stream; the tick tasks end with their streams.
    for task in streams.values():
        task.cancel()
    log("stopped")


def log(msg: str) -> None:
    print(f"echo_server.py: {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="echo_server.py: %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
