"""wsrt example server in Python: the same contract as examples/c/echo_server.c.

  /echo  every WebSocket message is sent back on the same connection, in
         order, with the same type (text or binary)
  /sse   an event "tick" every $SSE_INTERVAL_MS ms (default 1000), ids
         counting up from 1, data "tick <id>\\n<unix time ms>"; a client
         reconnecting with Last-Event-ID: N resumes at N+1
  /broadcast  every WebSocket message from any client here is published
         to every client here, the sender included (topic "broadcast")
  /events an SSE stream of the text published on /broadcast; the topic
         keeps its last $HISTORY events (default 100; 0: none), so a
         client reconnecting with Last-Event-ID gets exactly what it
         missed, or an event "snapshot" when that is no longer known
  /stats a WebSocket that gets the server's counters as one JSON text
         (the fields of wsrt.Stats, and broadcast_subscribers: the topic's
         subscribers across the cluster) and is closed (1000)
  /      if $WSRT_DEMO_PAGE names an HTML file, that page

and the Socket.IO example contract (tests/socketio/README.md), as
core/examples/sio_contract.rs serves it:

  /socket.io/  Socket.IO, namespaces "/" (auth.token "bad" is refused) and
         "/custom"; room "broadcast" of "/" is the topic of /broadcast
  /engine.io/  plain Engine.IO: every message is sent back
  /chat, /socket.io/socket.io.min.js  the files $WSRT_CHAT_PAGE and
         $WSRT_SIO_CLIENT name, if set

$SIO_PING_INTERVAL_MS, $SIO_PING_TIMEOUT_MS and $SIO_CONNECT_TIMEOUT_MS
(defaults 25000, 20000, 45000) set the heartbeat and the connect timeout;
connection state recovery keeps a dropped socket for
$SIO_RECOVERY_WINDOW_MS (default 120000; 0: off), and with it the core
keeps the broadcasts and publishes of that window (at most max_buffered
bytes) for the sockets that come back.

$DEFLATE (off, shared, per-connection) turns on permessage-deflate; it goes
to the server as it is, so a bad value is the core's error.

$WORKERS (default 1; 0 or auto: one per core) runs that many event loops on
threads of their own; handlers still run on this thread. More than one
does not combine with $REDIS_URL yet (the library says so).
Listens on 127.0.0.1:$PORT (default 9001). SIGTERM or SIGINT shuts down
gracefully (WebSockets closed with 1001) and exits 0.

TLS: $TLS_CERT and $TLS_KEY (PEM file paths, both or neither) make $PORT
speak TLS (https, wss); with $TLS_PORT as well, $PORT stays plain and
127.0.0.1:$TLS_PORT speaks TLS beside it. SIGHUP reloads the certificate
and key from the same paths (new connections get them; on error the server
keeps the old ones and says why).

Cluster: with $REDIS_URL (redis://host:port/ or redis+unix:///path),
servers sharing that Redis form one cluster: /broadcast and /events span
them all. Redis away: each server goes on serving its own clients.

Run it with `examples/run python` (which builds and installs the package
into .cache/pyenv first).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import sys
import time

import wsrt


def env_int(name: str, default: int, minimum: int = 1) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        sys.exit(f"echo_server.py: {name} must be an integer of at least {minimum}")
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


def tls_options() -> dict[str, str]:
    """The tls_* options $TLS_CERT, $TLS_KEY and $TLS_PORT ask for."""
    cert, key = os.environ.get("TLS_CERT") or "", os.environ.get("TLS_KEY") or ""
    if bool(cert) != bool(key):
        given, missing = ("TLS_CERT", "TLS_KEY") if cert else ("TLS_KEY", "TLS_CERT")
        log(f"TLS_CERT and TLS_KEY go together (PEM file paths): {given} is set, {missing} is not")
        sys.exit(2)
    tls_port = env_int("TLS_PORT", 0)
    if tls_port and not cert:
        log("TLS_PORT needs TLS_CERT and TLS_KEY")
        sys.exit(2)
    if not cert:
        return {}
    options = {"tls_cert": cert, "tls_key": key}
    if tls_port:
        options["tls_listen"] = f"127.0.0.1:{tls_port}"
    return options


def reload_tls(server: wsrt.Server, tls: dict[str, str]) -> None:
    """SIGHUP: the certificate and key read again from the same paths. The
    server checks everything before it changes anything, so on error it
    goes on as it was."""
    if not tls:
        log("SIGHUP: no TLS to reload (TLS_CERT and TLS_KEY are not set)")
        return
    try:
        server.reload_tls(tls_cert=tls["tls_cert"], tls_key=tls["tls_key"])
    except (ValueError, TypeError, OSError) as e:
        log(f"SIGHUP: TLS reload failed, keeping the current certificate: {e}")
    else:
        log(f"SIGHUP: TLS certificate reloaded from {tls['tls_cert']} (new connections use it)")


async def main() -> None:
    port = env_int("PORT", 9001)
    tls = tls_options()
    interval = env_int("SSE_INTERVAL_MS", 1000) / 1000.0
    history = env_int("HISTORY", 100, minimum=0)  # 0: no history
    deflate = os.environ.get("DEFLATE") or "off"
    # WORKERS: event loops on threads of their own (0 or "auto": one per
    # core); handlers still run here.
    workers_env = os.environ.get("WORKERS") or "1"
    workers: int | str = int(workers_env) if workers_env.isdigit() else workers_env
    server = wsrt.Server(
        "127.0.0.1", port, deflate=deflate,
        sio_ping_interval_ms=env_int("SIO_PING_INTERVAL_MS", 25_000),
        sio_ping_timeout_ms=env_int("SIO_PING_TIMEOUT_MS", 20_000),
        sio_connect_timeout_ms=env_int("SIO_CONNECT_TIMEOUT_MS", 45_000),
        sio_max_payload=1_000_000, cors_origins=["*"],
        sio_recovery_window_ms=int(os.environ.get("SIO_RECOVERY_WINDOW_MS") or 120_000),
        cluster_redis_url=os.environ.get("REDIS_URL") or None, workers=workers, **tls)

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

    @server.websocket("/stats").on_open
    def stats(ws: wsrt.WebSocket) -> None:
        counters = server.stats()._asdict()
        counters["broadcast_subscribers"] = server.cluster_subscriber_count("broadcast")
        ws.send(json.dumps(counters))
        ws.close(1000)

    page = os.environ.get("WSRT_DEMO_PAGE")
    if page:
        with open(page, "rb") as f:
            server.static("/", f.read(), "text/html; charset=utf-8")

    @server.engineio("/engine.io/").on_message
    def eio_echo(session: wsrt.EngineIOSession, message: str | bytes) -> None:
        try:
            session.send(message)
        except wsrt.ConnectionClosedError:
            pass

    socket_io(server, server.socketio("/socket.io/"))
    for name, path, kind in (("WSRT_CHAT_PAGE", "/chat", "text/html; charset=utf-8"),
                             ("WSRT_SIO_CLIENT", "/socket.io/socket.io.min.js", "application/javascript")):
        try:
            with open(os.environ.get(name) or "", "rb") as f:
                server.static(path, f.read(), kind)
        except OSError:
            pass

    try:
        server.bind()  # the options are checked (and the TLS files read) here, by the core
    except (ValueError, TypeError, OSError) as e:
        log(str(e))
        sys.exit(2)
    if history:
        server.set_topic_history("broadcast", max_events=history)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_tls, server, tls)

    async with server:
        secure = server.tls_port
        where = (f"127.0.0.1:{server.port}" if secure is None
                 else f"https/wss 127.0.0.1:{secure}" if secure == server.port
                 else f"https/wss 127.0.0.1:{secure} and http/ws 127.0.0.1:{server.port}")
        log(f"wsrt {wsrt.__version__} (Python) listening on {where} "
            f"(/echo, /sse, /broadcast, /events, /stats, /engine.io/, /socket.io/; {workers} workers)"
            + (f", deflate {deflate}" if deflate != "off" else ""))
        if os.environ.get("REDIS_URL"):
            log(f"cluster over {os.environ['REDIS_URL']}")
        if page:
            log(f"demo page at {'http' if secure is None else 'https'}://127.0.0.1:{secure or server.port}/")
        await stop.wait()
        log("signal received, shutting down")
    # Leaving the block closed every WebSocket with 1001 and ended every
    # stream; the tick tasks end with their streams.
    for task in streams.values():
        task.cancel()
    log("stopped")


def socket_io(server: wsrt.Server, sio: wsrt.SocketIO) -> None:
    """The Socket.IO example contract's namespaces "/" and "/custom"."""
    reasons: collections.deque[dict[str, str]] = collections.deque(maxlen=100)

    def arg(args: tuple, key: str | None = None, default: object = "") -> object:
        """The first argument (or its `key`), as Rust's `first[key]`."""
        v = args[0] if args else None
        if key is not None:
            v = v.get(key) if isinstance(v, dict) else None
        return default if v is None and default is not None else v

    def text(args: tuple, key: str | None = None, default: str = "") -> str:
        v = arg(args, key, default)
        return v if isinstance(v, str) else default

    @sio.approve
    def check(socket: wsrt.Socket) -> None:
        auth = socket.auth
        if isinstance(auth, dict) and auth.get("token") == "bad":
            raise wsrt.ConnectionRefusedError("unauthorized", {"reason": "bad token"})

    def hello(socket: wsrt.Socket) -> None:
        socket.emit("auth", socket.auth)

    sio.on_connect(hello)
    sio.of("/custom").on_connect(hello)

    def presence(room: str) -> int:
        count = server.subscriber_count(room) if room else 0
        try:
            sio.emit("presence", {"room": room, "count": count}, to=room)
        except ValueError:
            pass  # not a room name (the core's check)
        return count

    def chat_part(socket: wsrt.Socket) -> None:
        room = socket.data.pop("chat", (None, None))[0]
        if room is not None:
            try:
                socket.leave(room)
            except (ValueError, wsrt.ConnectionClosedError):
                pass
            presence(room)

    @sio.on_disconnect
    def gone(socket: wsrt.Socket, reason: str) -> None:
        reasons.append({"id": socket.sid, "reason": reason})
        room = socket.data.pop("chat", (None, None))[0]
        if room is not None:
            presence(room)

    @sio.on("message")
    def message(socket: wsrt.Socket, *args: object) -> None:
        socket.emit("message-back", *args)

    @sio.on("message-with-ack")
    @sio.on("echo")
    def echo(socket: wsrt.Socket, *args: object) -> tuple:
        return args

    def rooms_call(join: bool):  # join / leave
        def handler(socket: wsrt.Socket, *args: object) -> dict:
            room = text(args)
            try:
                socket.join(room) if join else socket.leave(room)
            except ValueError:
                pass  # not a room name (the core's check)
            return {"ok": True, "room": room}
        return handler

    sio.on("join")(rooms_call(True))
    sio.on("leave")(rooms_call(False))

    @sio.on("to-room")
    def to_room(socket: wsrt.Socket, *args: object) -> None:
        room = text(args, "room")
        try:
            sio.emit("room-msg", {"room": room, "msg": arg(args, "msg", None)}, to=room)
        except ValueError:
            pass

    @sio.on("broadcast")
    def broadcast(socket: wsrt.Socket, *args: object) -> None:
        socket.broadcast("broadcast-msg", arg(args, None, None))

    @sio.on("ask")
    async def ask(socket: wsrt.Socket, *args: object) -> dict:
        try:
            answer = await socket.call("question", arg(args, None, None), timeout_ms=1000)
        except (TimeoutError, wsrt.ConnectionClosedError):
            return {"ok": False, "error": "timeout"}
        answer = [] if answer is None else list(answer) if isinstance(answer, tuple) else [answer]
        return {"ok": True, "answer": answer}

    @sio.on("disconnect-me")
    def disconnect_me(socket: wsrt.Socket, *args: object) -> None:
        socket.disconnect()

    @sio.on("whoami")
    def whoami(socket: wsrt.Socket, *args: object) -> dict:
        return {"id": socket.sid, "rooms": sorted(socket.rooms)}

    @sio.on("reasons")
    def list_reasons(socket: wsrt.Socket, *args: object) -> list:
        return list(reasons)

    @sio.on("chat-join")
    def chat_join(socket: wsrt.Socket, *args: object) -> dict:
        room, nick = text(args, "room"), text(args, "nick", "anonymous")
        chat_part(socket)
        socket.data["chat"] = (room, nick)
        try:
            socket.join(room)
        except ValueError:
            pass
        return {"ok": True, "room": room, "count": presence(room)}

    @sio.on("chat-message")
    def chat_message(socket: wsrt.Socket, *args: object) -> None:
        room, nick = socket.data.get("chat", (None, None))
        if room is not None:
            try:
                sio.emit("chat-message", {"room": room, "nick": nick, "text": arg(args, "text", None)}, to=room)
            except ValueError:
                pass

    @sio.on("chat-leave")
    def chat_leave(socket: wsrt.Socket, *args: object) -> None:
        chat_part(socket)


def log(msg: str) -> None:
    print(f"echo_server.py: {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="echo_server.py: %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
