"""A wsrt server whose handlers raise (tests/reliability/test_faults.py).

  /echo         every message back (the connection that must keep working)
  /throw        on_message raises RuntimeError("boom <message>") every time
  /throw-async  the same from an `async def` handler

The error hook is the default one (the "wsrt" logger), so what the test
reads on stderr is what an application gets without configuring anything.
Listens on 127.0.0.1:$PORT; SIGTERM shuts down gracefully and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import wsrt


async def main() -> None:
    server = wsrt.Server("127.0.0.1", int(os.environ["PORT"]))

    @server.websocket("/echo").on_message
    def echo(ws: wsrt.WebSocket, message: str | bytes) -> None:
        ws.send(message)

    @server.websocket("/throw").on_message
    def throw(ws: wsrt.WebSocket, message: str | bytes) -> None:
        raise RuntimeError(f"boom {message}")

    @server.websocket("/throw-async").on_message
    async def throw_async(ws: wsrt.WebSocket, message: str | bytes) -> None:
        await asyncio.sleep(0)
        raise RuntimeError(f"boom {message}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"throwing_server.py: listening on 127.0.0.1:{server.port}", file=sys.stderr, flush=True)
        await stop.wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="throwing_server.py: %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
