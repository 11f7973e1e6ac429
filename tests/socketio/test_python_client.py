"""The stock python-socketio AsyncClient (aiohttp) against the example
contract's server: echo, acknowledgements both ways (with timeouts), rooms,
binary (bytes) both ways, namespaces and refusals; on WebSocket and on
HTTP long-polling.

With connection state recovery on, the server appends the packet's offset
(a string) to every EVENT it sends without an ack id, and python-socketio,
like the JavaScript client, passes it to the handler as one more argument:
`payload()` checks and drops it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any, Awaitable, Callable

import pytest
import socketio

pytestmark = pytest.mark.timeout(60)

T = 10.0  # bound of any single wait
TRANSPORTS = ["websocket", "polling"]
_seq = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-py-{os.getpid()}-{next(_seq)}"


def run(coro: Awaitable[Any], timeout: float = 45.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def payload(args: tuple, n: int) -> tuple:
    """`n` payload arguments followed by the recovery offset (a non-empty string)."""
    assert len(args) == n + 1, f"expected {n} argument(s) and the offset, got {args!r}"
    assert isinstance(args[-1], str) and args[-1], f"the last argument is the offset: {args!r}"
    return args[:-1]


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 31 + seed + (i >> 8)) & 0xFF for i in range(n))


class Client:
    """An AsyncClient whose events are collected per name."""

    def __init__(self, **kw: Any):
        self.sio = socketio.AsyncClient(reconnection=False, **kw)
        self.events: dict[tuple[str, str], list[tuple]] = {}
        self._arrived = asyncio.Event()

        @self.sio.on("*", namespace="*")
        async def any_event(event: str, namespace: str, *args: Any) -> None:
            self.events.setdefault((namespace, event), []).append(args)
            self._arrived.set()

    def got(self, event: str, namespace: str = "/") -> list[tuple]:
        return self.events.get((namespace, event), [])

    async def wait_for(self, pred: Callable[[], bool], what: str) -> None:
        async def loop() -> None:
            while not pred():
                self._arrived.clear()
                await self._arrived.wait()

        try:
            await asyncio.wait_for(loop(), T)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out after {T}s waiting for {what}") from None

    async def connect(self, url: str, transport: str = "websocket", **kw: Any) -> "Client":
        await self.sio.connect(url, transports=[transport], wait_timeout=T, **kw)
        assert self.sio.transport() == transport
        return self

    async def close(self) -> None:
        await self.sio.disconnect()


async def connected(url: str, transport: str = "websocket", **kw: Any) -> Client:
    c = Client()
    await c.connect(url, transport, **kw)
    await c.wait_for(lambda: bool(c.got("auth")), "the auth event")
    return c


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echo_and_message_back(sio_url: str, transport: str) -> None:
    async def main() -> None:
        c = await connected(sio_url, transport)
        try:
            assert payload(c.got("auth")[0], 1) == ({},)
            assert await c.sio.call("echo", "hi", timeout=T) == "hi"
            # Several arguments come back as a tuple, in order.
            got = await c.sio.call("echo", (1, "two", {"three": [3]}, [True, None]), timeout=T)
            assert got == (1, "two", {"three": [3]}, [True, None])
            assert await c.sio.call("message-with-ack", ("x", 2), timeout=T) == ("x", 2)
            await c.sio.emit("message", ("plain", 42, {"é": "✓"}))
            await c.wait_for(lambda: bool(c.got("message-back")), "message-back")
            assert payload(c.got("message-back")[0], 3) == ("plain", 42, {"é": "✓"})
        finally:
            await c.close()

    run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_acks_both_ways(sio_url: str, transport: str) -> None:
    async def main() -> None:
        c = await connected(sio_url, transport)
        questions: list[tuple] = []

        @c.sio.on("question")
        async def question(*args: Any) -> Any:
            questions.append(args)
            if args and args[0] == "slow":
                await asyncio.sleep(3)  # past the server's 1 s timeout
            return ("answer", args[0])  # the return value is the ack

        try:
            # An event nobody acks times out on the client; the session goes on.
            with pytest.raises(socketio.exceptions.TimeoutError):
                await c.sio.call("event-nobody-acks", "anyone?", timeout=0.5)
            assert await c.sio.call("echo", "after", timeout=T) == "after"
            # The server asks, the client answers.
            res = await c.sio.call("ask", {"q": "life"}, timeout=T)
            assert res == {"ok": True, "answer": ["answer", {"q": "life"}]}
            # The question asked for an ack: no offset appended.
            assert questions[0] == ({"q": "life"},)
            # An answer later than the server's timeout.
            res = await c.sio.call("ask", "slow", timeout=T)
            assert res == {"ok": False, "error": "timeout"}
        finally:
            await c.close()

    run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_bytes(sio_url: str, transport: str) -> None:
    async def main() -> None:
        c = await connected(sio_url, transport)
        big = pattern(100 * 1024, 3)
        small = pattern(7, 9)
        try:
            assert await c.sio.call("echo", big, timeout=T) == big
            sent = {"name": "big", "data": big, "nested": [small, {"deep": [b"", small]}]}
            got = await c.sio.call("echo", sent, timeout=T)
            assert got == sent
            assert isinstance(got["data"], bytes)
            await c.sio.emit("message", ("lead", sent))
            await c.wait_for(lambda: bool(c.got("message-back")), "message-back")
            lead, back = payload(c.got("message-back")[0], 2)
            assert lead == "lead"
            assert back == sent
        finally:
            await c.close()

    run(main())


def test_rooms(sio_url: str) -> None:
    async def main() -> None:
        everyone = unique("all")
        room = unique("room")
        clients = [await connected(sio_url) for _ in range(3)]
        a, b, outsider = clients
        try:
            for c in clients:
                assert await c.sio.call("join", everyone, timeout=T) == {"ok": True, "room": everyone}
            for c in (a, b):
                assert await c.sio.call("join", room, timeout=T) == {"ok": True, "room": room}
            me = await a.sio.call("whoami", timeout=T)
            assert me == {"id": a.sio.get_sid("/"), "rooms": sorted([everyone, room])}

            def msgs(c: Client, r: str) -> list[Any]:
                return [m["msg"] for (m,) in (payload(x, 1) for x in c.got("room-msg")) if m["room"] == r]

            async def barrier() -> None:
                tag = unique("barrier")
                await outsider.sio.emit("to-room", {"room": everyone, "msg": tag})
                for c in clients:
                    await c.wait_for(lambda c=c: tag in msgs(c, everyone), "the barrier")

            await a.sio.emit("to-room", {"room": room, "msg": "hello room"})
            await a.sio.emit("broadcast", "hello all")
            await barrier()
            assert msgs(a, room) == ["hello room"]
            assert msgs(b, room) == ["hello room"]
            assert msgs(outsider, room) == []
            broadcasts = {id(c): [payload(x, 1)[0] for x in c.got("broadcast-msg")] for c in clients}
            assert broadcasts[id(a)] == []
            assert broadcasts[id(b)] == ["hello all"]
            assert broadcasts[id(outsider)] == ["hello all"]

            assert await b.sio.call("leave", room, timeout=T) == {"ok": True, "room": room}
            await a.sio.emit("to-room", {"room": room, "msg": "after leave"})
            await barrier()
            assert msgs(a, room) == ["hello room", "after leave"]
            assert msgs(b, room) == ["hello room"]
        finally:
            for c in clients:
                await c.close()

    run(main())


def test_namespaces_and_refusals(sio_url: str) -> None:
    async def main() -> None:
        custom = Client()
        await custom.connect(sio_url, namespaces=["/custom"], auth={"token": "abc"})
        try:
            await custom.wait_for(lambda: bool(custom.got("auth", "/custom")), "auth on /custom")
            assert payload(custom.got("auth", "/custom")[0], 1) == ({"token": "abc"},)
            assert custom.got("auth") == [], "nothing on `/`, which this client did not connect"
        finally:
            await custom.close()

        nope = Client()
        errors: list[Any] = []
        nope.sio.on("connect_error", lambda data: errors.append(data), namespace="/nope")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await nope.connect(sio_url, namespaces=["/nope"])
        assert errors == [{"message": "Invalid namespace"}]
        await nope.close()

        bad = Client()
        bad_errors: list[Any] = []
        bad.sio.on("connect_error", lambda data: bad_errors.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await bad.connect(sio_url, auth={"token": "bad"})
        assert bad_errors == [{"message": "unauthorized", "data": {"reason": "bad token"}}]
        await bad.close()

        # The server is fine afterwards.
        c = await connected(sio_url)
        try:
            assert await c.sio.call("echo", "still", timeout=T) == "still"
        finally:
            await c.close()

    run(main())
