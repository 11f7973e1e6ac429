"""Drives the C example under valgrind (tests/reliability/valgrind.sh).

    valgrind_example.py DEFLATE VALGRIND-ARGS...

Starts `valgrind VALGRIND-ARGS build/examples/echo_server` with $DEFLATE
(off, shared, per-connection), exercises every route and the faults of
test_faults.py that reach different code (reset mid-frame and mid-deflate,
a slow subscriber ended with its queue, an Engine.IO session left open),
then sends SIGTERM with WebSockets, event streams and a session still open
and waits for the exit. Exit status: the server's (valgrind's
--error-exitcode when it found errors or leaks; 0 when clean), or 1 when a
check here failed. Timeouts are generous: under valgrind everything is
20-50 times slower.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faultlib import (C_SERVER, HOST, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, RawWs, deflate_message,  # noqa: E402
                      frame, frame_head, free_port, wait_for)

T = 60.0  # any single wait


def main() -> int:
    deflate, vg_args = sys.argv[1], sys.argv[2:]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("WSRT_DEMO_PAGE", "TLS_CERT", "TLS_KEY", "TLS_PORT",
                                                            "REDIS_URL", "WORKERS")}
    env.update(PORT=str(port), SSE_INTERVAL_MS="100", DEFLATE=deflate)
    if os.environ.get("RELIABILITY_WORKERS"):  # several event loops (issue 15), as in test_faults.py
        env["WORKERS"] = os.environ["RELIABILITY_WORKERS"]
    proc = subprocess.Popen(["valgrind", *vg_args, str(C_SERVER)], env=env, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None or _listening(port), T, "the server under valgrind to listen", 0.2)
        if proc.poll() is not None:
            print(f"valgrind_example: the server exited with {proc.returncode} before listening", file=sys.stderr)
            return 1
        kept = exercise(port, deflate)
        proc.send_signal(signal.SIGTERM)
        drain_until_closed(kept)
        code = proc.wait(timeout=T)
        print(f"valgrind_example: DEFLATE={deflate}: server exited {code}", file=sys.stderr)
        return code
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def exercise(port: int, deflate: str) -> list:
    from websockets.sync.client import connect

    def ws(path: str, **kw):
        return connect(f"ws://{HOST}:{port}{path}", proxy=None, open_timeout=T, close_timeout=T, ping_interval=None,
                       max_size=None, **kw)

    # /echo: text, binary, a large message (compressed when deflate is on).
    with ws("/echo") as c:
        for i in range(10):
            c.send(f"text {i}")
            assert c.recv(timeout=T) == f"text {i}"
        big = os.urandom(256 * 1024) + b"z" * (256 * 1024)
        c.send(big)
        assert c.recv(timeout=T) == big

    # /broadcast to WebSocket subscribers and the /events stream; /stats.
    events = socket.create_connection((HOST, port), timeout=T)
    events.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    with ws("/broadcast") as a, ws("/broadcast") as b:
        wait_for(lambda: _stat(ws, "broadcast_subscribers") >= 2, T, "the subscribers", 0.2)
        for i in range(5):
            a.send(f"news {i}")
        for sub in (a, b):
            assert [sub.recv(timeout=T) for _ in range(5)] == [f"news {i}" for i in range(5)]
    got = b""
    while b"news 4" not in got:
        chunk = events.recv(65536)
        assert chunk, "the /events stream ended early"
        got += chunk
    events.close()

    # /sse ticks.
    sse = socket.create_connection((HOST, port), timeout=T)
    sse.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: 5\r\n\r\n")
    got = b""
    while b"id: 7" not in got:
        chunk = sse.recv(65536)
        assert chunk, "the /sse stream ended early"
        got += chunk
    sse.close()

    # Resets in the middle of a frame, and of a compressed message.
    head, _ = frame_head(OP_BINARY, 64 * 1024)
    for cut in (head[:3], head + b"x" * 1000, frame(OP_TEXT, b"part", fin=False) + frame_head(OP_CONT, 500)[0]):
        r = RawWs(port, "/echo", timeout=T)
        r.send(cut)
        time.sleep(0.2)
        r.reset()
    if deflate != "off":
        text = b" ".join(b"word%d" % (i % 977) for i in range(40000))
        packed = deflate_message(text)
        r = RawWs(port, "/echo", extensions="permessage-deflate; client_max_window_bits", timeout=T)
        assert r.deflate, r.head
        r.send(frame(OP_TEXT, packed, rsv1=True))
        assert r.read_message() == (OP_TEXT, text)
        r.send(frame(OP_TEXT, packed, rsv1=True)[: len(packed) // 2])
        time.sleep(0.2)
        r.reset()

    # A slow subscriber: ended (with what was queued for it) by a publish.
    slow = RawWs(port, "/broadcast", rcvbuf=16384, timeout=T)
    with ws("/broadcast", compression=None) as pub:  # uncompressed: deflate is slow under valgrind
        wait_for(lambda: _stat(ws, "broadcast_subscribers") >= 2, T, "the subscribers", 0.2)
        payload = os.urandom(64 * 1024)
        for i in range(400):
            pub.send(struct.pack("!Q", i) + payload)
            assert struct.unpack("!Q", pub.recv(timeout=T)[:8])[0] == i
            if i % 20 == 19 and _stat(ws, "slow_closed") >= 1:
                break
    assert _stat(ws, "slow_closed") >= 1, "the slow subscriber was not closed"
    slow.close()

    # An Engine.IO session (the C example's Socket.IO contract) left open.
    with urllib.request.urlopen(f"http://{HOST}:{port}/engine.io/?EIO=4&transport=polling", timeout=T) as resp:
        assert resp.status == 200 and b'"sid"' in resp.read()

    # Left open for the shutdown: WebSockets (one with a message in flight),
    # an event stream.
    kept = []
    for _ in range(2):
        r = RawWs(port, "/echo", timeout=T)
        r.send(frame(OP_TEXT, b"in flight"))
        kept.append(r)
    s = socket.create_connection((HOST, port), timeout=T)
    s.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    kept.append(s)
    assert kept[0].read_message() == (OP_TEXT, b"in flight")
    return kept


def _stat(ws, name: str) -> int:
    import json

    with ws("/stats") as s:
        return json.loads(s.recv(timeout=T))[name]


def drain_until_closed(kept: list) -> None:
    """Reads what is left open to its end: WebSockets until their close
    frame (1001, answered), streams until EOF."""
    def one(c) -> None:
        try:
            if isinstance(c, RawWs):
                c.sock.settimeout(T)
                while True:
                    op, data = c.read_message()
                    if op == OP_CLOSE:
                        code = struct.unpack("!H", data[:2])[0]
                        assert code == 1001, f"closed with {code}, not 1001"
                        c.send(frame(OP_CLOSE, data[:2]))
                        c.close()
                        return
            else:
                while c.recv(65536):
                    pass
                c.close()
        except OSError as e:
            print(f"valgrind_example: a connection left open ended badly: {e!r}", file=sys.stderr)

    threads = [threading.Thread(target=one, args=(c,), daemon=True) for c in kept]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)


if __name__ == "__main__":
    sys.exit(main())
