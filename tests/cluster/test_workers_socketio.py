"""Socket.IO on two event loops in one process (WORKERS=2), seen by stock
python-socketio clients: each session lives on the loop that took its
handshake, and requests that the kernel gives to the other loop must be
handed to it. Half the clients stay on long-polling: a POST sent while
the long-poll GET holds the first connection goes on a new connection,
which lands on either loop (the other half upgrade to WebSocket, on the
kept-alive connection of the handshake). Every client must connect, have its acks answered, hear room emits
sent from sockets on either loop once and in order, and nobody outside
the room hears them.

Runs in the Socket.IO tests' venv (.cache/sio-venv); `make test-cluster`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import engineio.payload
import pytest
from servers import FRONTS, Example, on_two_loops
from test_cluster_socketio import WAIT, Client, until

pytestmark = pytest.mark.timeout(300)
ROOM = "workers-room"
CLIENTS = 12
MESSAGES = 30


@pytest.fixture(params=FRONTS)
def server(request, tmp_path: Path):
    yield from on_two_loops(request.param, tmp_path)


async def scenario(port: int) -> None:
    # python-engineio's polling client drops its session on a poll answer
    # of more than 16 packets (Payload.max_decode_packets, its documented
    # limit; the reference server sends such answers too): raised, as its
    # maintainers advise for bursts.
    engineio.payload.Payload.max_decode_packets = 10_000
    members = [Client(f"member{i}") for i in range(CLIENTS)]
    outsider = Client("outsider")
    try:
        for i, c in enumerate(members + [outsider]):
            transports = ["polling"] if i % 2 == 0 else ["polling", "websocket"]
            await c.sio.connect(f"http://127.0.0.1:{port}", transports=transports, wait_timeout=WAIT)
            for k in range(5):
                assert await c.sio.call("echo", f"hi{k}", timeout=WAIT) == f"hi{k}"
        for c in members:
            assert await c.sio.call("join", ROOM, timeout=WAIT) == {"ok": True, "room": ROOM}
        await until("the upgrades", lambda: all(
            c.sio.transport() == ("polling" if i % 2 == 0 else "websocket")
            for i, c in enumerate(members + [outsider])))
        senders = members[:3]
        for n in range(MESSAGES):
            for s in senders:
                await s.sio.emit("to-room", {"room": ROOM, "msg": f"{s.name}:{n}"})
        try:
            await until("every member heard every sender",
                        lambda: all(len(m.room_msgs) == len(senders) * MESSAGES for m in members))
        except AssertionError as e:
            heard = {m.name: (m.sio.transport(), len(m.room_msgs)) for m in members}
            raise AssertionError(f"{e}: heard {heard}") from None
        for m in members:
            for s in senders:
                assert m.frm(f"{s.name}:") == [f"{s.name}:{n}" for n in range(MESSAGES)], m.name
        await asyncio.sleep(0.2)
        assert outsider.room_msgs == []
    finally:
        for c in members + [outsider]:
            await c.sio.disconnect()


def test_stock_clients_on_two_loops(server: Example) -> None:
    asyncio.run(scenario(server.port))
