"""Benchmark peer: `python-socketio` (AsyncServer) on one of the web servers
it supports, serving the Socket.IO contract at /socket.io/ on
127.0.0.1:$PORT, namespace "/":

    echo (...args, ack)   -> ack(...args)
    join (room, ack)      -> enter_room, ack({"ok": True, "room": room})
    to-room ({room, msg}) -> emit("room-msg", {"room", "msg"}) to the room
    message (...args)     -> emit("message-back", ...args) to the sender

SIO_PING_INTERVAL_MS / SIO_PING_TIMEOUT_MS (default 25000 / 20000), max
payload 1,000,000 bytes; everything else at python-socketio's defaults
(async_handlers on: every event runs in a task of its own).

    py_socketio.py [--server aiohttp|uvicorn|tornado] [--uvloop]
                   [--ws websockets-sansio|websockets]   (uvicorn's)

aiohttp (the default, on uvloop with --uvloop) is the one the runner uses:
of the three on uvloop it was the fastest on room deliveries per
CPU-second, within noise of uvicorn on acks, and the smallest per idle
socket (bench/results/2026-12-05-python-socketio-servers.md, and the
alternated -ab.md beside it). uvicorn runs python-engineio's
ASGI app with httptools and one of its WebSocket implementations on
`websockets` (sans-I/O by default; the older one is deprecated); tornado
its own WebSocket handler.
"""
import asyncio
import os
import signal
import sys

import socketio

PORT = int(os.environ.get("PORT", "9001"))
PING_INTERVAL = int(os.environ.get("SIO_PING_INTERVAL_MS", "25000")) / 1000
PING_TIMEOUT = int(os.environ.get("SIO_PING_TIMEOUT_MS", "20000")) / 1000
ARGS = sys.argv[1:]
SERVER = ARGS[ARGS.index("--server") + 1] if "--server" in ARGS else "aiohttp"
UVLOOP = "--uvloop" in ARGS
WS = ARGS[ARGS.index("--ws") + 1] if "--ws" in ARGS else "websockets-sansio"
MODES = {"aiohttp": "aiohttp", "uvicorn": "asgi", "tornado": "tornado"}
if SERVER not in MODES:
    sys.exit(f"py_socketio: unknown server {SERVER!r}")

sio = socketio.AsyncServer(
    async_mode=MODES[SERVER],
    ping_interval=PING_INTERVAL,
    ping_timeout=PING_TIMEOUT,
    max_http_buffer_size=1_000_000,
    cors_allowed_origins=None,
)


@sio.on("echo")
async def echo(sid, *args):
    return args  # a tuple: the ack carries every argument


@sio.on("join")
async def join(sid, room):
    await sio.enter_room(sid, room)
    return {"ok": True, "room": room}


@sio.on("to-room")
async def to_room(sid, p):
    if isinstance(p, dict) and isinstance(p.get("room"), str):
        await sio.emit("room-msg", {"room": p["room"], "msg": p.get("msg")}, to=p["room"])


@sio.on("message")
async def message(sid, *args):
    await sio.emit("message-back", args, to=sid)


async def until_sigterm():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop


async def serve_aiohttp():
    from aiohttp import web

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT, backlog=1024).start()
    print(f"python-socketio peer (aiohttp{', uvloop' if UVLOOP else ''}) on 127.0.0.1:{PORT}", file=sys.stderr)
    await until_sigterm()
    await runner.cleanup()


async def serve_tornado():
    import tornado.web

    app = tornado.web.Application([(r"/socket.io/", socketio.get_tornado_handler(sio))])
    app.listen(PORT, "127.0.0.1", backlog=1024)
    print(f"python-socketio peer (tornado{', uvloop' if UVLOOP else ''}) on 127.0.0.1:{PORT}", file=sys.stderr)
    await until_sigterm()


def serve_uvicorn():
    import uvicorn

    app = socketio.ASGIApp(sio)
    print(f"python-socketio peer (uvicorn, {WS}{', uvloop' if UVLOOP else ''}) on 127.0.0.1:{PORT}", file=sys.stderr)
    uvicorn.run(app, host="127.0.0.1", port=PORT, loop="uvloop" if UVLOOP else "asyncio",
                http="httptools", ws=WS, lifespan="off", log_level="warning",
                access_log=False, backlog=1024, ws_max_size=1_000_000, ws_ping_interval=None,
                ws_per_message_deflate=False)


if __name__ == "__main__":
    if SERVER == "uvicorn":
        serve_uvicorn()  # runs its own loop and handles SIGTERM itself
    else:
        main = serve_aiohttp if SERVER == "aiohttp" else serve_tornado
        if UVLOOP:
            import uvloop

            uvloop.run(main())
        else:
            asyncio.run(main())
