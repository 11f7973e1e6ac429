"""Publish/subscribe through the `wsrt` package: topics joined by WebSocket
(`websockets` client, and a raw socket that stops reading) and SSE (`httpx`)
connections, fan-out, exclusion, publish_all, leaving topics, the
slow-consumer policies, SSE replay by Last-Event-ID, and bad arguments."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from datetime import timedelta
from typing import Any, Callable

import httpx
import pytest
import wsrt
from conftest import HOST, T, Running, run, running, w, ws_connect
from test_sse import client as sse_client
from test_sse import read_events


def wait_until(cond: Callable[[], bool], what: str, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def topic_server(topic: str = "t", closes: list[int] | None = None, **options: Any) -> wsrt.Server:
    """/ws and /sse join `topic` when they open; /plain joins nothing.
    A message on /ws is published to the topic, excluding the sender when
    it starts with "x:". Close codes of /ws go to `closes`."""
    server = wsrt.Server(HOST, 0, **options)
    ws_route = server.websocket("/ws")
    if closes is not None:
        ws_route.on_close(lambda ws, code, reason: closes.append(code))

    @ws_route.on_open
    def opened(ws: wsrt.WebSocket) -> None:
        assert ws.subscribe(topic) is True
        assert ws.subscribe(topic) is False  # already
        assert ws.is_subscribed(topic)

    @ws_route.on_message
    def message(ws: wsrt.WebSocket, data: str | bytes) -> None:
        excl = isinstance(data, str) and data.startswith("x:")
        server.publish(topic, data, exclude=ws if excl else None)

    server.websocket("/plain")
    server.sse("/sse", on_open=lambda s: s.subscribe(topic))
    return server


# -- raw WebSocket client (never reads unless asked) -----------------------------


def raw_ws(srv: Running, path: str = "/ws") -> socket.socket:
    s = socket.create_connection((HOST, srv.server.port), timeout=T)
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


class FrameReader:
    """Reads the server's (unmasked, unfragmented) frames off a raw socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        return b0 & 0x0F, self._need(n)


# -- fan-out -------------------------------------------------------------------


def test_fan_out_to_many_subscribers_in_order_from_another_thread() -> None:
    """100 WebSocket subscribers each get all 1,000 messages, in order,
    published by a thread that is not the server's loop thread (through
    the core's handle: no result, the outcome is counted in stats)."""
    # 100,000 deliveries: the asyncio clients, not the server, set the
    # pace, and 400,000 of them overran the timeout on a loaded 2-core CI.
    subs, msgs = 100, 1000
    results: list[wsrt.Published | None] = []
    with running(topic_server("fan")) as srv:

        def publisher() -> None:
            for i in range(msgs):
                data: str | bytes = f"m{i}" if i % 2 else f"b{i}".encode()
                results.append(srv.server.publish("fan", data))

        async def go() -> None:
            clients = await asyncio.gather(*(ws_connect(f"{srv.ws_url}/ws") for _ in range(subs)))
            await asyncio.to_thread(wait_until, lambda: srv.server.subscriber_count("fan") == subs,
                                    "subscriptions")
            th = threading.Thread(target=publisher)
            th.start()

            async def drain(c: Any) -> list[str | bytes]:
                return [await w(c.recv()) for _ in range(msgs)]

            got = await asyncio.gather(*(drain(c) for c in clients))
            th.join(T)
            want = [f"m{i}" if i % 2 else f"b{i}".encode() for i in range(msgs)]
            for g in got:
                assert g == want
            await asyncio.gather(*(c.close() for c in clients))

        run(go(), timeout=50)
        assert results == [None] * msgs
        st = srv.server.stats()
        assert st.delivered == subs * msgs and st.published == msgs and st.dropped == st.slow_closed == 0


def test_exclude_sender_and_publish_from_handler() -> None:
    with running(topic_server()) as srv:

        async def go() -> None:
            a, b, c = [await ws_connect(f"{srv.ws_url}/ws") for _ in range(3)]
            await asyncio.to_thread(wait_until, lambda: srv.server.subscriber_count("t") == 3, "subs")
            # Without a cluster, the cluster's count is this server's.
            assert srv.server.cluster_subscriber_count("t") == 3
            await a.send("x:not to me")
            assert await w(b.recv()) == "x:not to me"
            assert await w(c.recv()) == "x:not to me"
            await a.send("to all")
            # The excluded message never reached `a`: the next one does first.
            assert await w(a.recv()) == "to all"
            assert [await w(b.recv()), await w(c.recv())] == ["to all", "to all"]
            # exclude by id, from outside the loop thread.
            conn = next(x for x in srv.server.connections if x.route.path == "/ws")
            assert srv.server.publish("t", "by id", exclude=conn.id) is None  # not the loop thread
            assert [await w(x.recv()) for x in (b, c)] == ["by id"] * 2
            r = srv.call(lambda: srv.server.publish("t", "by id", exclude=conn.id))
            assert r.delivered == 2
            for x in (a, b, c):
                await x.close()

        run(go())


def test_websocket_and_sse_share_a_topic_binary_skips_sse() -> None:
    with running(topic_server("mix")) as srv:

        async def go() -> None:
            async with sse_client() as hc, hc.stream("GET", f"{srv.url}/sse") as resp:
                assert resp.status_code == 200
                ws = await ws_connect(f"{srv.ws_url}/ws")
                await asyncio.to_thread(wait_until, lambda: srv.server.subscriber_count("mix") == 2, "subs")
                pub = srv.server.publish
                r1 = srv.call(pub, "mix", "first\nline two")
                r2 = srv.call(lambda: pub("mix", b"\x00bin", sse_event="ignored"))
                r3 = srv.call(pub, "mix", bytearray(b"ba"))
                r4 = srv.call(lambda: pub("mix", "named", sse_event="news"))
                assert [r.delivered for r in (r1, r2, r3, r4)] == [2, 1, 1, 2]
                assert r1.event_id is None  # no history on this topic
                assert [await w(ws.recv()) for _ in range(4)] == ["first\nline two", b"\x00bin", b"ba", "named"]
                evs = await w(read_events(resp, 2))
                assert evs == [{"data": "first\nline two"}, {"event": "news", "data": "named"}]
                st = srv.server.stats()
                assert (st.websockets, st.sse_streams, st.topics) == (1, 1, 1)
                await ws.close()

        run(go())


def test_publish_all_reaches_every_connection() -> None:
    with running(topic_server()) as srv:

        async def go() -> None:
            async with sse_client() as hc, hc.stream("GET", f"{srv.url}/sse") as resp:
                sub = await ws_connect(f"{srv.ws_url}/ws")
                plain = await ws_connect(f"{srv.ws_url}/plain")
                await asyncio.to_thread(wait_until, lambda: srv.server.stats().connections == 3, "conns")
                assert srv.server.subscriber_count("t") == 2
                r = srv.call(srv.server.publish_all, "everyone")
                assert r == wsrt.Published(3, 0, 0, None)
                server_side = next(c for c in srv.server.connections if c.path == "/ws")
                r = srv.call(lambda: srv.server.publish_all(b"binary", exclude=server_side))
                assert r.delivered == 1  # plain only: sub excluded, SSE skips binary
                r = srv.call(srv.server.publish, "t", "topic only")
                assert r.delivered == 2
                assert [await w(sub.recv()), await w(sub.recv())] == ["everyone", "topic only"]
                assert [await w(plain.recv()), await w(plain.recv())] == ["everyone", b"binary"]
                assert await w(read_events(resp, 2)) == [{"data": "everyone"}, {"data": "topic only"}]
                await sub.close()
                await plain.close()

        run(go())


def test_unsubscribe_and_close_leave_topics() -> None:
    server = wsrt.Server(HOST, 0)
    conns: list[wsrt.WebSocket] = []
    closed: list[wsrt.WebSocket] = []
    route = server.websocket("/ws")
    route.on_open(conns.append)
    route.on_close(lambda ws, code, reason: closed.append(ws))
    with running(server) as srv:

        async def go() -> None:
            a = await ws_connect(f"{srv.ws_url}/ws")
            b = await ws_connect(f"{srv.ws_url}/ws")
            await asyncio.to_thread(wait_until, lambda: len(conns) == 2, "opens")
            ca, cb = conns
            for c in (ca, cb):
                assert srv.call(c.subscribe, "one") and srv.call(c.subscribe, "two")
            assert srv.server.subscriber_count("one") == srv.server.subscriber_count("two") == 2
            assert srv.call(ca.unsubscribe, "one") is True
            assert srv.call(ca.unsubscribe, "one") is False
            assert srv.call(ca.unsubscribe, "never") is False
            assert not ca.is_subscribed("one") and ca.is_subscribed("two") and cb.is_subscribed("one")
            assert srv.server.subscriber_count("one") == 1
            srv.server.publish("one", "one-only")
            srv.server.publish("two", "two")
            assert await w(a.recv()) == "two"  # not "one-only"
            assert [await w(b.recv()), await w(b.recv())] == ["one-only", "two"]
            await b.close()
            await asyncio.to_thread(wait_until, lambda: len(closed) == 1, "close")
            assert srv.server.subscriber_count("one") == 0
            assert srv.server.subscriber_count("two") == 1
            assert srv.call(srv.server.publish, "one", "nobody").delivered == 0
            assert not cb.is_subscribed("two")
            # Its end was reported: the core no longer knows it.
            with pytest.raises(wsrt.UnknownConnectionError):
                srv.call(cb.unsubscribe, "two")
            with pytest.raises(wsrt.ConnectionClosedError):
                srv.call(cb.subscribe, "two")
            await a.close()
            await asyncio.to_thread(wait_until, lambda: srv.server.subscriber_count("two") == 0, "leave")

        run(go())


# -- slow consumers ----------------------------------------------------------------

BODY = "z" * 10_000
N_SLOW = 4000  # 40 MB through the topic: more than any kernel buffers hold


def flood(loop: asyncio.AbstractEventLoop, srv: Running, good: Any, on_slow: str | None) -> list[wsrt.Published]:
    """Publishes N_SLOW 10 KB messages (from this thread, not the server's)
    in batches of 50, the good client reading each batch completely before
    the next (so its queue stays well under the 1 MiB limit)."""

    async def go() -> list[wsrt.Published]:
        out: list[wsrt.Published] = []
        for k in range(0, N_SLOW, 50):
            out += srv.call(lambda: [srv.server.publish("t", f"{j:05d}{BODY}", on_slow=on_slow)
                                     for j in range(k, k + 50)])
            for j in range(k, k + 50):
                assert await w(good.recv()) == f"{j:05d}{BODY}"
        return out

    return loop.run_until_complete(go())


def test_slow_consumer_closed_by_default_while_others_get_everything() -> None:
    codes: list[int] = []
    with running(topic_server(closes=codes)) as srv:
        stalled = raw_ws(srv)
        loop = asyncio.new_event_loop()
        try:
            good = loop.run_until_complete(ws_connect(f"{srv.ws_url}/ws"))
            wait_until(lambda: srv.server.subscriber_count("t") == 2, "subs")
            results = flood(loop, srv, good, None)
            loop.run_until_complete(good.close())
        finally:
            loop.close()
        assert sum(r.closed for r in results) == 1
        assert sum(r.dropped for r in results) == 0
        st = srv.server.stats()
        assert st.slow_closed == 1 and st.dropped == 0
        wait_until(lambda: len(codes) == 2, "both closes")
        assert sorted(codes) == [1000, 1008]  # the good client's and the stalled one's
        assert srv.server.subscriber_count("t") == 0
        # Reading on finds the end of the stream after what was queued.
        reader = FrameReader(stalled)
        total = 0
        with pytest.raises((EOFError, ConnectionResetError)):
            while True:
                total += len(reader.frame()[1])
        assert 0 < total < 30_000_000, total
        stalled.close()


@pytest.mark.parametrize("where", ["server option", "per publish"])
def test_slow_consumer_drop_skips_messages_and_keeps_it(where: str) -> None:
    server = topic_server(**({"slow_consumer_policy": "drop"} if where == "server option" else {}))
    with running(server) as srv:
        stalled = raw_ws(srv)
        loop = asyncio.new_event_loop()
        try:
            good = loop.run_until_complete(ws_connect(f"{srv.ws_url}/ws"))
            wait_until(lambda: srv.server.subscriber_count("t") == 2, "subs")
            results = flood(loop, srv, good, "drop" if where == "per publish" else None)
            dropped = sum(r.dropped for r in results)
            assert dropped > 0 and sum(r.closed for r in results) == 0
            st = srv.server.stats()
            assert st.dropped == dropped and st.slow_closed == 0
            assert srv.server.subscriber_count("t") == 2  # still subscribed
            # The stalled client reads out what it was given, in order,
            # then gets a message published once its queue is empty.
            reader = FrameReader(stalled)
            seqs: list[int] = []
            while True:
                if len(seqs) == N_SLOW - dropped:
                    srv.server.publish("t", "end")
                opcode, payload = reader.frame()
                assert opcode == 1
                if payload == b"end":
                    break
                seqs.append(int(payload[:5]))
                assert payload[5:] == BODY.encode()
            assert seqs == sorted(set(seqs)) and len(seqs) == N_SLOW - dropped
            assert seqs[0] == 0  # the first ones fit under the limit
            assert loop.run_until_complete(w(good.recv())) == "end"
            loop.run_until_complete(good.close())
        finally:
            loop.close()
        stalled.close()


# -- SSE history and replay ------------------------------------------------------------


def test_sse_resume_replays_exactly_what_was_missed_then_live() -> None:
    server = wsrt.Server(HOST, 0)
    replays: list[wsrt.Replay] = []

    def opened(stream: wsrt.SseStream) -> None:
        r = stream.resume("feed")  # the client's Last-Event-ID by default
        replays.append(r)
        if r.missed:
            stream.send("history unavailable: start over", event="snapshot")

    def explicit(stream: wsrt.SseStream) -> None:
        replays.append(stream.resume("feed", last_event_id=int(stream.query)))

    server.sse("/feed", on_open=opened)
    server.sse("/explicit", on_open=explicit)
    server.bind()
    server.set_topic_history("feed", 5)
    with running(server) as srv:

        def publish(*texts: str) -> list[int]:
            ids = []
            for t in texts:
                r = srv.call(srv.server.publish, "feed", t)
                assert r.event_id is not None
                ids.append(r.event_id)
            return ids

        async def stream(hc: httpx.AsyncClient, path: str, n: int, last: int | str | None = None,
                         then: Callable[[], Any] | None = None) -> list[dict[str, str]]:
            headers = {} if last is None else {"Last-Event-ID": str(last)}
            before = len(replays)
            async with hc.stream("GET", f"{srv.url}{path}", headers=headers) as resp:
                assert resp.status_code == 200
                if then is not None:
                    await asyncio.to_thread(wait_until, lambda: len(replays) > before, "subscribe")
                    then()
                return await w(read_events(resp, n))

        async def go() -> None:
            async with sse_client() as hc:
                before = srv.server.subscriber_count("feed")
                ids = []
                evs = await stream(hc, "/feed", 3, then=lambda: ids.extend(publish("a1", "a2", "a3")))
                assert before == 0 and replays[-1] == wsrt.Replay(0, False)
                assert [(e["data"], int(e["id"])) for e in evs] == list(zip(["a1", "a2", "a3"], ids))
                assert ids == sorted(ids)
                ids += publish("b1", "b2")
                # Back after a2 (a3 lost with the connection): a3, b1, b2, then live c1.
                evs = await stream(hc, "/feed", 4, last=ids[1], then=lambda: ids.extend(publish("c1")))
                assert replays[-1] == wsrt.Replay(3, False)
                assert [e["data"] for e in evs] == ["a3", "b1", "b2", "c1"]
                assert [int(e["id"]) for e in evs] == ids[2:6]
                # Up to date: nothing to replay.
                evs = await stream(hc, "/feed", 1, last=ids[-1], then=lambda: ids.extend(publish("d1")))
                assert replays[-1] == wsrt.Replay(0, False) and evs[0]["data"] == "d1"
                # An explicit id (an int) instead of the header.
                evs = await stream(hc, f"/explicit?{ids[-2]}", 1)
                assert replays[-1] == wsrt.Replay(1, False) and evs[0]["data"] == "d1"
                # Six more push ids[0..] out of a 5-event history: a miss.
                publish(*(f"n{i}" for i in range(6)))
                for stale in (ids[1], "banana", "1", str(ids[-1] + 10**9)):
                    evs = await stream(hc, "/feed", 1, last=stale)
                    assert replays[-1] == wsrt.Replay(0, True), stale
                    assert evs == [{"event": "snapshot", "data": "history unavailable: start over"}]

        run(go())


def test_history_max_age_and_off() -> None:
    server = wsrt.Server(HOST, 0)
    got: list[wsrt.Replay] = []
    server.sse("/s", on_open=lambda s: got.append(s.resume("aged")))
    with running(server) as srv:
        srv.server.set_topic_history("aged", 10, max_age_ms=timedelta(seconds=1))
        old = srv.call(srv.server.publish, "aged", "old").event_id
        fresh_after = srv.call(srv.server.publish, "aged", "x").event_id
        assert old is not None and fresh_after is not None

        async def go() -> None:
            async with sse_client() as hc:
                async with hc.stream("GET", f"{srv.url}/s", headers={"Last-Event-ID": str(old)}) as resp:
                    assert (await w(read_events(resp, 1)))[0]["data"] == "x"
                assert got[-1] == wsrt.Replay(1, False)
                await asyncio.sleep(1.3)  # both are now older than max_age
                async with hc.stream("GET", f"{srv.url}/s", headers={"Last-Event-ID": str(old)}) as resp:
                    assert resp.status_code == 200
                    await asyncio.to_thread(wait_until, lambda: len(got) == 2, "resume")
                assert got[-1] == wsrt.Replay(0, True)

        run(go())
        srv.server.clear_topic_history("aged")
        assert srv.call(srv.server.publish, "aged", "y").event_id is None
        srv.server.set_topic_history("aged", max_age_ms=500)  # an age bound alone
        assert srv.call(srv.server.publish, "aged", "z").event_id is not None


# -- arguments ---------------------------------------------------------------------


def test_bad_arguments_raise_clear_errors() -> None:
    for options, exc, match in (({"slow_consumer_policy": "sometimes"}, ValueError, "slow_consumer_policy"),
                                ({"slow_consumer_policy": True}, TypeError, "slow_consumer_policy"),
                                ({"slow_consumer_limit": 10}, ValueError, "slow_consumer_limit")):
        with pytest.raises(exc, match=match):
            wsrt.Server(HOST, 0, **options).bind()
    server = wsrt.Server(HOST, 0, slow_consumer_limit=1 << 16, slow_consumer_policy=1)  # 1: "drop"
    for call in (lambda: server.publish("t", "x"), server.stats, lambda: server.subscriber_count("t")):
        with pytest.raises(RuntimeError, match="bind"):
            call()
    errors: list[BaseException] = []
    route = server.websocket("/ws")

    @route.on_open
    def opened(ws: wsrt.WebSocket) -> None:
        for bad in ("", "x" * 1025, 5):
            try:
                ws.subscribe(bad)  # type: ignore[arg-type]
            except (ValueError, TypeError) as e:
                errors.append(e)
        ws.send("done")

    server.bind()
    assert server.stats() == wsrt.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0)
    for args, kw, exc, msg in (
        (("", "x"), {}, ValueError, "topic"),
        ((b"t", "x"), {}, TypeError, "topic"),
        (("t", 5), {}, TypeError, "str or bytes"),
        (("t", "\udcff"), {}, ValueError, "UTF-8"),
        (("t", "x"), {"on_slow": "later"}, ValueError, 'on_slow must be .*, not "later"'),
        (("t", "x"), {"on_slow": 3}, ValueError, "on_slow must be .*, not 3"),
        (("t", "x"), {"on_slow": True}, TypeError, "on_slow"),
        (("t", "x"), {"sse_event": "a\nb"}, ValueError, "event name"),
        (("t", "x"), {"sse_event": 3}, TypeError, "sse_event"),
        (("t", "x"), {"exclude": "me"}, TypeError, "exclude"),
    ):
        with pytest.raises(exc, match=msg):
            server.publish(*args, **kw)
    for args, msg in ((("t", -1), "max_events"), (("t", 5, -1), "max_age_ms"), (("t",), "max_events or max_age"),
                      (("t", 0, 1 << 40), "max_age"), (("", 5), "topic")):
        with pytest.raises(ValueError, match=msg):
            server.set_topic_history(*args)
    # Nothing was published by the refused calls.
    assert server.stats().published == 0
    with running(server) as srv:

        async def go() -> None:
            async with ws_connect(f"{srv.ws_url}/ws") as ws:
                assert await w(ws.recv()) == "done"

        run(go())
    assert [type(e) for e in errors] == [ValueError, ValueError, TypeError]
    assert "1-1024 bytes" in str(errors[0]) and "'topic'" in errors[2].__notes__[0]  # PyO3 notes the argument
