"""Benchmark peer: Python `picows` on uvloop (as picows recommends).

127.0.0.1:$PORT: /echo sends every frame's payload back with its type
(the generator never fragments); /broadcast sends every message to every
/broadcast connection, the sender included (picows has no publish: a loop).
"""
import asyncio
import os
import signal
import sys

import uvloop
from picows import WSListener, WSMsgType, WSTransport, ws_create_server

PORT = int(os.environ.get("PORT", "9001"))
SUBSCRIBERS = set()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame):
        t = frame.msg_type
        if t == WSMsgType.BINARY or t == WSMsgType.TEXT:
            transport.send(t, frame.get_payload_as_memoryview())
        elif t == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class Broadcast(WSListener):
    def on_ws_connected(self, transport):
        SUBSCRIBERS.add(transport)

    def on_ws_disconnected(self, transport):
        SUBSCRIBERS.discard(transport)

    def on_ws_frame(self, transport, frame):
        t = frame.msg_type
        if t == WSMsgType.BINARY or t == WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            for s in SUBSCRIBERS:
                s.send(t, payload)
        elif t == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def route(request):
    if request.path == b"/echo" or request.path == "/echo":
        return Echo()
    if request.path == b"/broadcast" or request.path == "/broadcast":
        return Broadcast()
    return None


async def main():
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await ws_create_server(route, "127.0.0.1", PORT, max_frame_size=16 << 20, backlog=1024)
    print(f"picows peer on 127.0.0.1:{PORT}", file=sys.stderr)
    await stop
    server.close()


if __name__ == "__main__":
    uvloop.run(main())
