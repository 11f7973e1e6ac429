"""Benchmark peer: Python `websockets` (asyncio API), optionally on uvloop.

127.0.0.1:$PORT: /echo sends every message back; /broadcast sends every
message to every /broadcast connection, the sender included, with
websockets' own broadcast(). `--uvloop` runs it on uvloop.
"""
import asyncio
import os
import signal
import sys

from websockets.asyncio.server import broadcast, serve

PORT = int(os.environ.get("PORT", "9001"))
SUBSCRIBERS = set()


async def handler(ws):
    path = ws.request.path
    if path == "/echo":
        async for msg in ws:
            await ws.send(msg)
    elif path == "/broadcast":
        SUBSCRIBERS.add(ws)
        try:
            async for msg in ws:
                broadcast(SUBSCRIBERS, msg)
        finally:
            SUBSCRIBERS.discard(ws)
    else:
        await ws.close(1008, "unknown path")


async def main():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, "127.0.0.1", PORT, compression=None, max_size=16 << 20, backlog=1024):
        print(f"websockets peer on 127.0.0.1:{PORT}", file=sys.stderr)
        await stop


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
