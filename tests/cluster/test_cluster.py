"""A cluster of three example servers -- C, Python and Node -- over one
Redis (Debian's redis-server on a free port of 127.0.0.1, no persistence).

Each server runs through examples/run with PORT and REDIS_URL. A WebSocket
client on each server's /broadcast and an SSE client on /events must get
every message sent on any server exactly once, in the order its sender sent
it. An SSE client that leaves one server and comes back to another with its
Last-Event-ID gets exactly the events it missed, with the ids and in the
order the first server gave them (the examples keep history on the topic,
so Redis sequences it). Redis stopped (SIGTERM) and started again on the same port: the servers
keep serving their own clients meanwhile, count the publishes that could
not reach Redis (read from each example's /stats), subscribe again, and
deliver across servers again.

Every test runs twice: with servers of one loop, and with WORKERS=2 (each
server is still one member of the cluster: its two loops share one Redis
subscription and deliver what comes in one order).

Run with `make test-cluster` (which builds the three examples first).
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from servers import FRONTS, HOST, WAIT, Example, Redis, start_cluster, wait_until  # noqa: F401
from websockets.sync.client import ClientConnection

pytestmark = pytest.mark.timeout(300)


class Listener:
    """What one client received, in order: a WebSocket on /broadcast or
    an SSE stream on /events (text data only)."""

    def __init__(self, name: str, ws: ClientConnection | None = None, sse: socket.socket | None = None):
        self.name, self.ws, self.sse = name, ws, sse
        self.got: list[str] = []
        self.ids: list[str | None] = []  # SSE: each event's id, beside `got`
        self._buf = b""

    def send(self, text: str) -> None:
        assert self.ws is not None
        self.ws.send(text)

    def pump(self, wait: float = 0.02) -> None:
        """Reads what has arrived (waits up to `wait` for the first)."""
        if self.ws is not None:
            while True:
                try:
                    msg = self.ws.recv(timeout=wait)
                except TimeoutError:
                    return
                assert isinstance(msg, str), msg
                self.got.append(msg)
                wait = 0
        else:
            assert self.sse is not None
            self.sse.settimeout(wait)
            try:
                chunk = self.sse.recv(65536)
            except (TimeoutError, socket.timeout):
                return
            assert chunk, "the event stream ended"
            self.feed(chunk)

    def feed(self, chunk: bytes) -> None:
        """Parses SSE bytes into `got` and `ids`."""
        self._buf += chunk
        while b"\n\n" in self._buf:
                event, self._buf = self._buf.split(b"\n\n", 1)
                lines = event.split(b"\n")
                data = [ln[6:] for ln in lines if ln.startswith(b"data: ")]
                ids = [ln[4:].decode() for ln in lines if ln.startswith(b"id: ")]
                if data:
                    self.got.append(b"\n".join(data).decode())
                    self.ids.append(ids[-1] if ids else None)

    def close(self) -> None:
        for conn in (self.ws, self.sse):
            if conn is not None:
                conn.close()

    def until(self, what: str, pred) -> None:
        deadline = time.monotonic() + WAIT
        while not pred(self.got):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}; got {self.got[-20:]}")
            self.pump()

    def frm(self, prefix: str) -> list[str]:
        return [m for m in self.got if m.startswith(prefix)]


def sse_listener(name: str, port: int, last_event_id: str | None = None) -> Listener:
    """An SSE client on /events, its response head read (events that came
    with the head are kept for the listener)."""
    s = socket.create_connection((HOST, port), timeout=WAIT)
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    s.sendall(f"GET /events HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n{resume}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "no answer to the SSE request"
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    listener = Listener(name, sse=s)
    listener.feed(rest)
    return listener


_links = iter(range(10**6))


def link(senders: list[Listener], listeners: list[Listener]) -> None:
    """Probes from every sender until every listener heard every sender:
    each server is then subscribed to the topic on Redis. (Probes of an
    earlier link do not count.)"""
    tag = next(_links)
    deadline = time.monotonic() + WAIT
    for rnd in range(10**6):
        for i, s in enumerate(senders):
            s.send(f"probe:{tag}:{i}:{rnd}")
        for listener in listeners:
            listener.pump()
        if all(listener.frm(f"probe:{tag}:{i}:") for listener in listeners for i in range(len(senders))):
            return
        if time.monotonic() > deadline:
            missing = [(listener.name, i) for listener in listeners for i in range(len(senders))
                       if not listener.frm(f"probe:{tag}:{i}:")]
            raise AssertionError(f"servers never linked; unheard (listener, sender): {missing}")
        time.sleep(0.05)


def send_all(sender: Listener, prefix: str, n: int) -> None:
    for i in range(n):
        sender.send(f"{prefix}{i}")
    sender.send(f"{prefix}end")


def check_exactly_once(listener: Listener, prefixes: list[str], n: int) -> None:
    listener.until("every end marker", lambda got: all(f"{p}end" in got for p in prefixes))
    for p in prefixes:
        want = [f"{p}{i}" for i in range(n)] + [f"{p}end"]
        assert listener.frm(p) == want, f"{listener.name}: what {p} sent, once each and in order"


# Every test twice: servers of one loop, and servers of two loops (each
# server one member of the cluster, its loops sharing the bus).
@pytest.fixture(scope="module", params=["1", "2"], ids=["one-loop", "two-loops"])
def cluster(request, tmp_path_factory):
    yield from start_cluster(tmp_path_factory.mktemp("cluster"), request.param)


def test_every_message_reaches_every_server_once_and_in_order(cluster):
    redis, servers = cluster
    with contextlib.ExitStack() as stack:
        clients = [Listener(front, ws=stack.enter_context(servers[front].ws())) for front in FRONTS]
        sse = stack.enter_context(contextlib.closing(sse_listener("sse on python", servers["python"].port)))
        link(clients, clients + [sse])
        n = 200
        for i in range(n):  # interleaved across the three servers
            for c in clients:
                c.send(f"{c.name}:{i}")
        for c in clients:
            c.send(f"{c.name}:end")
        for listener in clients + [sse]:
            check_exactly_once(listener, [f"{f}:" for f in FRONTS], n)
        for front, srv in servers.items():
            st = srv.stats()
            assert st["cluster_dropped"] == 0, (front, st)
            assert st["cluster_received"] >= 2 * (n + 1), (front, st)


def test_subscriber_counts_add_up_across_the_servers(cluster):
    redis, servers = cluster
    with contextlib.ExitStack() as stack:
        per_front = {"c": 1, "python": 2, "node": 3}
        clients = {f: [stack.enter_context(servers[f].ws()) for _ in range(n)] for f, n in per_front.items()}

        def counts() -> dict[str, int]:
            return {f: srv.stats()["broadcast_subscribers"] for f, srv in servers.items()}

        # Every front's example asks its front's cluster_subscriber_count.
        wait_until("6 subscribers seen on every server", lambda: set(counts().values()) == {6})
        clients["node"].pop().close()
        wait_until("5 once one left", lambda: set(counts().values()) == {5})
        assert clients["c"]


def test_sse_resumes_on_another_server_with_exactly_what_it_missed(cluster):
    redis, servers = cluster
    with contextlib.ExitStack() as stack:
        clients = [Listener(front, ws=stack.enter_context(servers[front].ws())) for front in FRONTS]
        first = sse_listener("sse on c", servers["c"].port)
        link(clients, clients + [first])
        for i in range(3):
            for c in clients:
                c.send(f"seen:{c.name}:{i}")
        first.until("what it saw", lambda got: len([m for m in got if m.startswith("seen:")]) == 9)
        last_seen = first.ids[-1]
        assert last_seen is not None and first.got[-1].startswith("seen:")
        first.close()
        # Missed by the client: published on every server, interleaved.
        for i in range(5):
            for c in clients:
                c.send(f"missed:{c.name}:{i}")
        for c in clients:
            c.until("every missed event", lambda got: len([m for m in got if m.startswith("missed:")]) == 15)
        order = clients[0].frm("missed:")
        assert all(c.frm("missed:") == order for c in clients), "one order on every server"
        for front in ("python", "node", "c"):
            back = stack.enter_context(contextlib.closing(sse_listener(f"sse back on {front}", servers[front].port, last_seen)))
            back.until("the missed events", lambda got: len(got) >= 15)
            assert back.got[:15] == order, f"{front}: exactly the missed events, in order (no snapshot)"
            want = [str(int(last_seen) + i) for i in range(1, 16)]
            assert back.ids[:15] == want, f"{front}: the ids the cluster gave them"
            assert int(want[-1]) < 2**53, "exact as a JavaScript number"
        # An id the history cannot place is told so (a snapshot).
        forged = stack.enter_context(contextlib.closing(sse_listener("forged id", servers["python"].port, "12345")))
        forged.until("a snapshot", lambda got: len(got) >= 1)
        assert forged.got[0] == "history unavailable: start over", forged.got


def test_redis_restart_local_delivery_goes_on_drops_counted_delivery_resumes(cluster, tmp_path):
    redis, servers = cluster
    with contextlib.ExitStack() as stack:
        clients = [Listener(front, ws=stack.enter_context(servers[front].ws())) for front in FRONTS]
        local = Listener("second client on c", ws=stack.enter_context(servers["c"].ws()))
        sse = stack.enter_context(contextlib.closing(sse_listener("sse on node", servers["node"].port)))
        link(clients, clients + [local, sse])
        before = {front: srv.stats()["cluster_dropped"] for front, srv in servers.items()}
        redis.stop()
        # Every server keeps serving its own clients, and counts what
        # could not reach Redis.
        sent = {front: 0 for front in FRONTS}
        deadline = time.monotonic() + WAIT
        while not all(servers[f].stats()["cluster_dropped"] > before[f] for f in FRONTS):
            assert time.monotonic() < deadline, {f: servers[f].stats() for f in FRONTS}
            for c in clients:
                c.send(f"down:{c.name}:{sent[c.name]}")
                sent[c.name] += 1
            time.sleep(0.05)
        for c in clients:
            c.send(f"down:{c.name}:end")
        for c in clients:
            want = [f"down:{c.name}:{i}" for i in range(sent[c.name])] + [f"down:{c.name}:end"]
            c.until("its own server's publishes", lambda got, w=want[-1]: w in got)
            assert c.frm("down:") == want, f"{c.name}: only its own server's publishes, all of them"
        local.until("the c client's publishes", lambda got: "down:c:end" in got)
        assert local.frm("down:") == [f"down:c:{i}" for i in range(sent["c"])] + ["down:c:end"]
        # Back on the same port: every server reconnects and subscribes anew.
        restarted = Redis(redis.port, tmp_path / "redis.log")
        # The fixture stops the Redis it started; this one is ours.
        stack.callback(restarted.stop)
        link(clients, clients + [local, sse])
        n = 50
        for c in clients:
            send_all(c, f"{c.name}:again:", n)
        for listener in clients + [local, sse]:
            check_exactly_once(listener, [f"{f}:again:" for f in FRONTS], n)
        assert not [m for m in sse.got if m.startswith("down:") and not m.startswith("down:node:")], \
            "nothing published elsewhere while Redis was away arrives"
