"""Socket.IO room emits across a cluster of the C, Python and Node examples
over one Redis, seen by stock python-socketio clients (one per server, plus
one outside the room): an `io.to(room).emit` on any server reaches the
room's sockets on every server once, in the order its sender emitted, and
nobody outside the room; `socket.broadcast.emit` reaches every socket of
the namespace on every server but the sender.

Runs in the Socket.IO tests' venv (.cache/sio-venv); `make test-cluster`.
"""

from __future__ import annotations

import asyncio
import collections

import pytest
import socketio
from servers import FRONTS, WAIT, start_cluster

pytestmark = pytest.mark.timeout(300)
ROOM = "cluster-room"


# Servers of one loop, and of two (WORKERS=2: one member each).
@pytest.fixture(scope="module", params=["1", "2"], ids=["one-loop", "two-loops"])
def cluster(request, tmp_path_factory):
    yield from start_cluster(tmp_path_factory.mktemp("cluster-sio"), request.param)


class Client:
    """A stock AsyncClient that records what it hears."""

    def __init__(self, name: str):
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.room_msgs: list[str] = []
        self.broadcasts: list[str] = []
        self.sio.on("room-msg", self._room_msg)
        self.sio.on("broadcast-msg", self._broadcast)

    # The examples keep connection state recovery on, so each event also
    # carries its recovery offset.
    async def _room_msg(self, data, offset=None):
        self.room_msgs.append(data["msg"])

    async def _broadcast(self, data, offset=None):
        self.broadcasts.append(data)

    async def connect(self, port: int) -> None:
        await self.sio.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=WAIT)

    def frm(self, prefix: str) -> list[str]:
        return [m for m in self.room_msgs if m.startswith(prefix)]


async def until(what: str, pred) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def scenario(servers) -> None:
    members = [Client(front) for front in FRONTS]
    outsider = Client("outside the room, on python")
    try:
        for c in members:
            await c.connect(servers[c.name].port)
            ack = await c.sio.call("join", ROOM, timeout=WAIT)
            assert ack == {"ok": True, "room": ROOM}, ack
        await outsider.connect(servers["python"].port)
        # Until every member has heard every member's probe, every server
        # is listening on Redis.
        for rnd in range(10**6):
            for c in members:
                await c.sio.emit("to-room", {"room": ROOM, "msg": f"probe:{c.name}:{rnd}"})
            await asyncio.sleep(0.05)
            if all(m.frm(f"probe:{c.name}:") for m in members for c in members):
                break
            assert rnd < WAIT / 0.05, "servers never linked"
        n = 100
        for i in range(n):
            for c in members:
                await c.sio.emit("to-room", {"room": ROOM, "msg": f"{c.name}:{i}"})
        for c in members:
            await c.sio.emit("to-room", {"room": ROOM, "msg": f"{c.name}:end"})
        for m in members:
            await until(f"{m.name} hears every end", lambda m=m: all(f"{c.name}:end" in m.room_msgs for c in members))
            for c in members:
                want = [f"{c.name}:{i}" for i in range(n)] + [f"{c.name}:end"]
                assert m.frm(f"{c.name}:") == want, f"{m.name}: what {c.name} emitted, once each and in order"
        assert outsider.room_msgs == [], "a socket outside the room hears none of it"
        # socket.broadcast.emit: everyone of the namespace but the sender.
        sender = members[0]
        await sender.sio.emit("broadcast", "to everyone else")
        others = members[1:] + [outsider]
        await until("every other socket", lambda: all(o.broadcasts == ["to everyone else"] for o in others))
        await asyncio.sleep(0.3)
        assert sender.broadcasts == [], "the sender does not hear its own broadcast"
        assert collections.Counter(len(o.broadcasts) for o in others) == {1: len(others)}, "once each"
    finally:
        for c in members + [outsider]:
            await c.sio.disconnect()


def test_room_emits_reach_the_room_on_every_server_once_and_in_order(cluster):
    redis, servers = cluster
    asyncio.run(asyncio.wait_for(scenario(servers), 120))
