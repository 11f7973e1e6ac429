"""Fault injection against real servers (tests/reliability/README.md says
what each test checks).

The C example serves most tests (it is the library through its C ABI, the
way an application uses it); the throwing-handler tests run small Python
and Node servers (servers/). Faults are made with bare sockets where they
must be exact (a frame cut at a given byte, then RST), with the
`websockets` client elsewhere. Every test asserts what the server does
after the fault, through connections that did nothing wrong.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import select
import socket
import struct
import termios
import threading
import time

import pytest

from faultlib import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, RawWs, deflate_message, echo_ok, frame,
                      frame_head, stats, wait_for)


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def connections_back_to(port: int, baseline: int, timeout: float = 10.0) -> None:
    """The server's connection count returns to `baseline` (every faulty
    connection was noticed and freed)."""
    last = {}

    def back() -> bool:
        last.update(stats(port))
        return last["connections"] == baseline

    try:
        wait_for(back, timeout, f"connections back to {baseline}", step=0.1)
    except AssertionError:
        raise AssertionError(f"connections stayed at {last.get('connections')} (baseline {baseline}): {last}")


def baseline_connections(port: int) -> int:
    """What /stats reports with no client but itself."""
    return stats(port)["connections"]


def words(n: int, seed: int = 7) -> bytes:
    """Text that compresses, but not to nothing."""
    rnd = random.Random(seed)
    vocab = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(500)]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(vocab) + b" "
    return bytes(out[:n])


# -- EMFILE ---------------------------------------------------------------------


def test_emfile_keeps_serving_and_accepts_again(start_server):
    """With `ulimit -n` low, the server fills its descriptors with
    connections; then it keeps serving them, does not spin, and accepts the
    connection waiting in the backlog as soon as descriptors free up."""
    nofile = 64
    srv = start_server.c(nofile=nofile)
    base = srv.open_fds()
    assert base < nofile - 20, f"the server already holds {base} descriptors"

    opened: list[RawWs] = []
    pending = None
    for _ in range(nofile + 16):
        c = RawWs(srv.port, "/echo", lazy=True)
        try:
            c.finish_handshake(timeout=1.5)
        except socket.timeout:
            pending = c  # sits in the backlog: the server has no descriptor for it
            break
        opened.append(c)
    assert pending is not None, f"{len(opened)} connections with `ulimit -n {nofile}` and no EMFILE"
    assert len(opened) >= nofile - base - 4, f"only {len(opened)} connections before EMFILE (base {base})"
    assert srv.open_fds() >= nofile - 1, f"server holds {srv.open_fds()} of {nofile} descriptors"

    # Every open connection is still served.
    for i, c in enumerate(opened):
        c.send(frame(OP_TEXT, f"still {i}".encode()))
    for i, c in enumerate(opened):
        assert c.read_message() == (OP_TEXT, f"still {i}".encode())

    # Out of descriptors is not a busy loop.
    cpu0, t0 = srv.cpu_seconds(), time.monotonic()
    time.sleep(1.0)
    cpu = srv.cpu_seconds() - cpu0
    assert cpu < 0.25 * (time.monotonic() - t0), f"server used {cpu:.2f} s of CPU in 1 s while out of descriptors"
    assert select.select([pending.sock], [], [], 0)[0] == [], "the pending connection was answered while at EMFILE"

    # Free four descriptors: the waiting connection is accepted and served.
    for c in opened[:4]:
        c.reset()
    del opened[:4]
    pending.finish_handshake(timeout=5.0)
    pending.send(frame(OP_TEXT, b"accepted at last"))
    assert pending.read_message() == (OP_TEXT, b"accepted at last")
    pending.close()
    for c in opened[:4]:
        c.close()
    del opened[:4]
    assert echo_ok(srv.port), "a new connection is served once descriptors are free"
    for c in opened:
        c.close()
    assert srv.alive()


# -- resets in the middle of a frame -------------------------------------------


def _cut_cases() -> list[tuple[str, bytes]]:
    big = os.urandom(64 * 1024)
    head, key = frame_head(OP_BINARY, len(big))
    whole = head + bytes(b ^ key[i & 3] for i, b in enumerate(big[:4096]))
    frag1 = frame(OP_TEXT, b"first half, ", fin=False)
    huge_head, _ = frame_head(OP_BINARY, 8 << 20)
    return [
        ("one byte of the header", head[:1]),
        ("header without its mask key", head[:4]),
        ("header and half the mask key", head[:len(head) - 2]),
        ("4 KiB of a 64 KiB payload", whole),
        ("a continuation cut short", frag1 + frame_head(OP_CONT, 1000)[0] + b"x" * 300),
        ("100 KiB of an 8 MiB frame", huge_head + os.urandom(100 * 1024)),
        ("half a close frame", frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye")[:5]),
        ("half a ping", frame(OP_PING, b"0123456789")[:8]),
    ]


def test_reset_mid_frame(start_server):
    """A peer that resets the connection in the middle of a frame (every
    kind of cut) is dropped and freed; other connections, including one
    echoing all along, see nothing of it."""
    srv = start_server.c()
    base = baseline_connections(srv.port)
    witness = RawWs(srv.port, "/echo")
    n = 0
    for rounds in range(3):
        for name, cut in _cut_cases():
            c = RawWs(srv.port, "/echo")
            if rounds > 0:  # the server has served this connection before the cut
                c.send(frame(OP_TEXT, b"hello"))
                assert c.read_message() == (OP_TEXT, b"hello"), name
            c.send(cut)
            if rounds == 2:
                time.sleep(0.02)  # let the server read the partial frame first
            c.reset()
            n += 1
            witness.send(frame(OP_TEXT, f"witness {n}".encode()))
            assert witness.read_message() == (OP_TEXT, f"witness {n}".encode()), f"after {name}"
    witness.close()
    assert echo_ok(srv.port)
    connections_back_to(srv.port, base)
    assert srv.alive()


def test_reset_while_the_server_writes(start_server):
    """A peer that sends megabytes to echo without reading any, then
    resets, is freed with everything queued for it."""
    srv = start_server.c()
    base = baseline_connections(srv.port)
    for _ in range(3):
        c = RawWs(srv.port, "/echo", rcvbuf=8192)
        payload = os.urandom(256 * 1024)
        c.sock.settimeout(2.0)
        try:
            for _ in range(24):
                c.send(frame(OP_BINARY, payload))
        except socket.timeout:
            pass  # the server stopped reading: its queue for us is full enough
        wait_for(lambda: stats(srv.port)["buffered_bytes"] > 512 * 1024, 5, "the echoes to queue up")
        c.reset()
    assert echo_ok(srv.port)
    connections_back_to(srv.port, base)
    wait_for(lambda: stats(srv.port)["buffered_bytes"] < 4096, 5, "the queues of the reset peers to be freed")


@pytest.mark.parametrize("mode", ["shared", "per-connection"])
def test_reset_mid_deflate_stream(start_server, mode):
    """permessage-deflate negotiated, a compressed message cut in the middle
    (of a frame, of a fragmented message, of the deflate stream) and the
    connection reset: the server frees the inflater and goes on compressing
    and inflating for everyone else."""
    srv = start_server.c({"DEFLATE": mode})
    base = baseline_connections(srv.port)
    text = words(300 * 1024)
    packed = deflate_message(text)
    assert len(packed) < len(text) // 2

    def deflate_client() -> RawWs:
        c = RawWs(srv.port, "/echo", extensions="permessage-deflate; client_max_window_bits")
        assert c.deflate, f"permessage-deflate not negotiated: {c.head!r}"
        return c

    # The raw client really speaks deflate: a whole compressed message echoes.
    c = deflate_client()
    c.send(frame(OP_TEXT, packed, rsv1=True))
    assert c.read_message() == (OP_TEXT, text)
    c.close()

    witness = deflate_client()
    half = len(packed) // 2
    cuts = [
        ("half of a one-frame compressed message", frame(OP_TEXT, packed, rsv1=True)[: 14 + half]),
        ("a whole first fragment, half a continuation",
         frame(OP_TEXT, packed[:half], rsv1=True, fin=False) + frame(OP_CONT, packed[half:])[: 14 + 1000]),
        ("half the deflate stream in whole frames, then nothing",
         frame(OP_TEXT, packed[:half], rsv1=True, fin=False)),
        ("a message after a good one (context taken over), cut",
         frame(OP_TEXT, packed, rsv1=True) + frame(OP_TEXT, packed, rsv1=True)[: 14 + half]),
    ]
    for i, (name, cut) in enumerate(cuts * 2):
        c = deflate_client()
        c.send(cut)
        if i >= len(cuts):
            time.sleep(0.02)  # the server inflates part of it first
        c.reset()
        msg = words(2000, seed=i)
        witness.send(frame(OP_TEXT, deflate_message(msg), rsv1=True))
        assert witness.read_message() == (OP_TEXT, msg), f"after {name}"
    witness.close()
    c = deflate_client()
    c.send(frame(OP_TEXT, packed, rsv1=True))
    assert c.read_message() == (OP_TEXT, text), "a new deflate connection after the resets"
    c.close()
    connections_back_to(srv.port, base)
    assert srv.alive()


# -- a subscriber that stops reading -------------------------------------------


class Subscriber(threading.Thread):
    """Reads a /broadcast connection, recording the sequence numbers."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.ws = RawWs(port, "/broadcast")
        self.seqs: list[int] = []
        self.close_code = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                op, data = self.ws.read_message()
                if op == OP_CLOSE:
                    self.close_code = close_code(data)
                    try:  # answer the close handshake, then close the socket
                        self.ws.send(frame(OP_CLOSE, data[:2]))
                    except OSError:
                        pass
                    self.ws.sock.shutdown(socket.SHUT_RDWR)
                    return
                self.seqs.append(struct.unpack("!Q", data[:8])[0])
        except BaseException as e:  # reported by the test
            self.error = e


class RssPeak:
    """Samples a server's RSS every 20 ms; `.peak` is the highest seen."""

    def __init__(self, srv):
        self.srv, self.peak, self._stop = srv, srv.rss_kib(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.srv.rss_kib())
            except (OSError, RuntimeError):
                return
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        self.peak = max(self.peak, self.srv.rss_kib())
        return self.peak


def _broadcast(subs: list, first: int, count: int, size: int) -> None:
    """`count` messages of `size` bytes, numbered from `first`, published
    by subs[0] to /broadcast; waits until every one of `subs` has them."""
    filler = os.urandom(size - 8)
    window = 8  # 512 KiB in flight: under slow_consumer_limit (1 MiB) for readers that keep up
    for i in range(first, first + count):
        if i - first >= window:
            wait_for(lambda: all(len(s.seqs) > i - window or s.error for s in subs), 10, f"message {i - window}",
                     step=0.0005)
        subs[0].ws.send(frame(OP_BINARY, struct.pack("!Q", i) + filler))
    wait_for(lambda: all(len(s.seqs) == first + count or s.error for s in subs), 20,
             "every message at the fast subscribers")


@pytest.mark.parametrize("front", ["c", "python", "node"])
def test_slow_subscriber_is_dropped_and_memory_bounded(start_server, front):
    """A subscriber that stops reading during a broadcast of 37 MiB: the
    server's memory stays bounded (it does not queue the broadcast for it),
    it closes that subscriber (the default slow_consumer_policy) and the
    others get every message, in order. Memory is compared with the same
    broadcast just before, without the slow subscriber: the peak RSS may
    not be more than 16 MiB higher (Node's collector alone moves its RSS by
    30 MiB here, so a bound on growth from the start would not do)."""
    srv = start_server.example(front, {"HISTORY": "0"})  # no history: nothing is kept by design
    subs = [Subscriber(srv.port) for _ in range(3)]
    for s in subs:
        s.start()
    wait_for(lambda: stats(srv.port)["broadcast_subscribers"] == 3, 5, "3 subscribers")
    count, size = 600, 64 * 1024

    sampler = RssPeak(srv)
    _broadcast(subs, 0, count, size)
    without_slow = sampler.stop()

    slow = RawWs(srv.port, "/broadcast", rcvbuf=16384)
    wait_for(lambda: stats(srv.port)["broadcast_subscribers"] == 4, 5, "the slow subscriber")
    sampler = RssPeak(srv)
    _broadcast(subs, count, count, size)
    with_slow = sampler.stop()

    for s in subs:
        assert s.error is None, s.error
        assert s.seqs == list(range(2 * count)), "a fast subscriber missed or reordered messages"
    assert with_slow - without_slow < 16 * 1024, (
        f"peak RSS {with_slow} KiB with a subscriber that does not read, {without_slow} KiB without, "
        f"for the same {count * size >> 20} MiB broadcast")
    st = stats(srv.port)
    assert st["slow_closed"] >= 1, f"the slow subscriber was not closed: {st}"
    # What reached the slow subscriber: a prefix of the broadcast, then the
    # end of its connection. The core ends it at once (a close frame would
    # wait behind all it has not read: core/src/driver/fanout.rs), so the
    # peer sees EOF or a reset; a close frame, if one comes, says 1008.
    slow.sock.settimeout(10)
    seqs, end = [], None
    try:
        while True:
            op, data = slow.read_message()
            if op == OP_CLOSE:
                end = close_code(data)
                break
            seqs.append(struct.unpack("!Q", data[:8])[0])
    except socket.timeout:
        end = "still open after 10 s of silence"
    except (ConnectionError, OSError):
        end = "ended"
    assert seqs == list(range(count, count + len(seqs))) and len(seqs) < count, (
        f"slow subscriber got {len(seqs)} messages")
    assert end in (1008, "ended"), f"the slow subscriber's connection: {end}"
    slow.close()
    for s in subs:
        s.ws.close()
    assert echo_ok(srv.port)


# -- SIGTERM under load ---------------------------------------------------------


class EchoLoad:
    """One /echo connection under load: a thread sends numbered messages,
    another reads the echoes until the server's close frame."""

    def __init__(self, port: int, n: int):
        self.ws = RawWs(port, "/echo")
        self.ws.sock.settimeout(15)
        self.n = n
        self.sent = 0
        self.got: list[int] = []
        self.close_code = None
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.pad = b"." * 1000
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]
        for t in self.threads:
            t.start()

    def _send(self) -> None:
        try:
            while not self.stop.is_set():
                self.ws.send(frame(OP_TEXT, b"%d %d " % (self.n, self.sent) + self.pad))
                self.sent += 1
                if self.sent % 50 == 0:
                    time.sleep(0.001)
        except OSError:
            pass  # the server went away mid-send: expected after SIGTERM

    def _read(self) -> None:
        try:
            while True:
                op, data = self.ws.read_message()
                if op == OP_CLOSE:
                    self.close_code = close_code(data)
                    self.stop.set()
                    try:  # answer the close handshake, then close the socket
                        self.ws.send(frame(OP_CLOSE, data[:2]))
                    except OSError:
                        pass
                    self.ws.sock.shutdown(socket.SHUT_RDWR)
                    return
                n, seq = data.split(b" ", 2)[:2]
                assert int(n) == self.n
                self.got.append(int(seq))
        except BaseException as e:
            self.error = e
            self.stop.set()


class SseReader(threading.Thread):
    """Reads /sse until EOF (a reset is an error)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        self.data = b""
        self.eof = False
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.eof = True
                    return
                self.data += chunk
        except BaseException as e:
            self.error = e
        finally:
            self.sock.close()


@pytest.mark.parametrize("front", ["c", "python", "node"])
def test_sigterm_under_load(start_server, front):
    """SIGTERM while clients echo, publish and stream: every WebSocket gets
    close 1001 after an unbroken, in-order run of its echoes; every event
    stream ends with a clean EOF; the server exits 0. Each front's example
    (they drive the core's loop differently)."""
    srv = start_server.example(front)
    loads = [EchoLoad(srv.port, i) for i in range(4)]
    subs = [Subscriber(srv.port) for _ in range(2)]
    for s in subs:
        s.start()
    sse = [SseReader(srv.port) for _ in range(2)]
    stop_pub = threading.Event()

    def publish() -> None:
        i = 0
        try:
            while not stop_pub.is_set():
                subs[0].ws.send(frame(OP_BINARY, struct.pack("!Q", i) + b"x" * 500))
                i += 1
                time.sleep(0.001)
        except OSError:
            pass

    pub = threading.Thread(target=publish, daemon=True)
    pub.start()
    wait_for(lambda: all(len(x.got) > 100 for x in loads) and all(len(s.seqs) > 50 for s in subs), 10,
             "load running on every connection")

    t0 = time.monotonic()
    srv.proc.send_signal(15)
    code = srv.wait_stopped(timeout=10)
    took = time.monotonic() - t0
    stop_pub.set()
    assert code == 0, f"exit {code} after SIGTERM:\n{srv.log()}"
    # Every client answers the close at once: the shutdown does not wait
    # for the close timeout (5 s) to run out.
    assert took < 4.0, f"the shutdown took {took:.1f} s"
    for x in loads:
        for t in x.threads:
            t.join(5)
        assert x.error is None, f"echo client {x.n}: {x.error!r}"
        assert x.close_code == 1001, f"echo client {x.n} ended without close 1001 ({x.close_code})"
        assert x.got == list(range(len(x.got))), f"echo client {x.n}: echoes lost or reordered"
    for s in subs:
        s.join(5)
        assert s.error is None, s.error
        assert s.close_code == 1001, f"subscriber ended without close 1001 ({s.close_code})"
        assert s.seqs == list(range(len(s.seqs))), "a subscriber's broadcasts have a hole"
    for s in sse:
        s.join(5)
        assert s.error is None, f"event stream: {s.error!r}"
        assert s.eof, "an event stream did not end with EOF"
        assert b"event: tick" in s.data


def _server_side_queues(server_port: int, client_port: int) -> tuple[int, int]:
    """(tx, rx) queue of the server's end of a loopback connection, from
    /proc/net/tcp: bytes it wrote that the kernel still holds, bytes that
    arrived and it has not read."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    raise AssertionError("the server's end of the connection is not in /proc/net/tcp")


@pytest.mark.parametrize("front", ["c", "python", "node"])
def test_sigterm_flushes_what_is_queued(start_server, front):
    """A client sends 6 MiB to echo without reading; once the server has
    read what it will (it stops reading past read_pause_buffered) and holds
    echoes in its own queue, SIGTERM: every echo of every message it read
    arrives, in order, then the close frame 1001."""
    srv = start_server.example(front)
    c = RawWs(srv.port, "/echo", rcvbuf=8192)
    client_port = c.sock.getsockname()[1]
    size = 64 * 1024
    frames = [frame(OP_BINARY, struct.pack("!Q", i) + os.urandom(size - 8)) for i in range(96)]
    flen = len(frames[0])
    data = b"".join(frames)
    c.sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + 10
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += c.sock.send(data[sent:])
        except BlockingIOError:
            if not select.select([], [c.sock], [], 0.3)[1]:
                break  # nothing more goes: the server has stopped reading
    c.sock.setblocking(True)

    # Wait until nothing moves: our unsent bytes, what the server has not
    # read, what it has queued.
    def snapshot() -> tuple[int, int, int]:
        unsent = struct.unpack("i", fcntl.ioctl(c.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        rx = _server_side_queues(srv.port, client_port)[1]
        return unsent, rx, stats(srv.port)["buffered_bytes"]

    seen = [None, 0]

    def settled() -> bool:
        now = snapshot()
        seen[1] = seen[1] + 1 if now == seen[0] else 0
        seen[0] = now
        return seen[1] >= 3

    wait_for(settled, 10, "the connection to settle", step=0.1)
    unsent, unread, queued = seen[0]
    read_by_server = (sent - unsent - unread) // flen
    assert queued > 0, "the server holds no echoes of its own: nothing for the shutdown to flush"
    assert read_by_server > 0
    srv.proc.send_signal(15)
    c.sock.settimeout(10)
    seqs = []
    while True:
        op, payload = c.read_message()
        if op == OP_CLOSE:
            break
        seqs.append(struct.unpack("!Q", payload[:8])[0])
    assert seqs == list(range(len(seqs))), "echoes out of order or with a hole"
    assert len(seqs) >= read_by_server, (
        f"{len(seqs)} echoes delivered, but the server had read {read_by_server} messages "
        f"({queued} bytes queued in the server at SIGTERM)")
    assert close_code(payload) == 1001
    c.send(frame(OP_CLOSE, payload[:2]))
    c.close()
    assert srv.wait_stopped(timeout=10) == 0


# -- handlers that throw ------------------------------------------------------------


def _throwing_handler(srv, paths: tuple[str, ...]) -> None:
    from websockets.sync.client import connect

    url = srv.ws_url
    with connect(f"{url}/echo", proxy=None, open_timeout=10) as echo:
        echo.send("before")
        assert echo.recv(timeout=10) == "before"
        for path in paths:
            with connect(f"{url}{path}", proxy=None, open_timeout=10, ping_interval=None) as bad:
                for i in range(20):
                    bad.send(f"{path}-{i}")
                # The connection is alive and its frames are still read.
                pong = bad.ping().wait(5)
                assert srv.alive(), f"the server died when its {path} handler threw:\n{srv.log()[-3000:]}"
                assert pong, f"no pong on {path} after its handler threw"
            echo.send(f"after {path}")
            assert echo.recv(timeout=10) == f"after {path}"
    assert echo_ok(srv.port)
    assert srv.alive(), f"the server died:\n{srv.log()}"
    want = [re.compile(re.escape(f"boom {p}-{i}") + r"(?![\w-])") for p in paths for i in range(20)]
    wait_for(lambda: all(w.search(srv.log()) for w in want), 10, "every error reported on stderr")


@pytest.mark.parametrize("front", ["python", "node"])
def test_throwing_handler_is_reported_not_fatal(start_server, front):
    """A message handler that throws on every message: the server keeps
    serving that connection and every other one, and each error is
    reported (by the default error hook, on stderr). Python: a plain and an
    `async def` handler; Node: a plain one (an async one: the test below)."""
    if front == "python":
        _throwing_handler(start_server.python_throwing(), ("/throw", "/throw-async"))
    else:
        _throwing_handler(start_server.node_throwing(), ("/throw",))


def test_node_async_handler_rejection_is_reported_not_fatal(start_server):
    """An `async message()` handler that throws (a rejected promise) reaches
    the error hook like a plain throw, and the process goes on (docs/API.md:
    "A handler that throws ... does not stop the server or the process").
    Found by this suite: route handlers' promises were not looked at, and
    the process died of an unhandled rejection."""
    _throwing_handler(start_server.node_throwing(), ("/throw-async",))


def test_workers_close_is_answered_promptly(start_server):
    """With WORKERS=2 (several event loops) a client's close frame is
    answered at once, as with one loop. Found by this suite: the close frame
    owed until the application had handled the batch waited for something
    else to wake the loop (5-10 s here), because Driver::wait_time did not
    count owed close frames as work for the next turn."""
    srv = start_server.c({"WORKERS": "2"})
    c = RawWs(srv.port, "/echo")
    c.send(frame(OP_TEXT, b"hi"))
    assert c.read_message() == (OP_TEXT, b"hi")
    c.sock.settimeout(10)
    t0 = time.monotonic()
    c.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
    op, data = c.read_message()
    took = time.monotonic() - t0
    eof = c.sock.recv(16)
    closed = time.monotonic() - t0
    c.close()
    assert op == OP_CLOSE and close_code(data) == 1000
    assert eof == b""
    # A bound far above a loop's turn, far below the 5-10 s it used to take.
    assert took < 2.0 and closed < 2.0, f"close answered after {took:.1f} s, TCP closed after {closed:.1f} s"
