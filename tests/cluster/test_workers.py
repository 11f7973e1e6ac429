"""Several event loops in one process: each front's example with WORKERS=2
(two loops on threads of their own, one listening port shared with
SO_REUSEPORT, the handlers on the application's one thread).

Clients open enough connections that both loops serve some (the kernel
spreads them by address), and must see exactly what one loop would give
them: every /broadcast message once and in each sender's order, echoes on
/echo in order, an SSE client resuming on /events with its Last-Event-ID
(whichever loop it lands on) gets exactly the events it missed, /stats adds
the loops up, and SIGTERM ends the server cleanly (exit 0).

Run with `make test-cluster` (which builds the three examples first).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import FRONTS, WAIT, Example, on_two_loops, wait_until
from test_cluster import Listener, send_all, sse_listener

pytestmark = pytest.mark.timeout(300)

SUBSCRIBERS = 40
SENDERS = 3
MESSAGES = 100


@pytest.fixture(params=FRONTS)
def server(request, tmp_path: Path):
    yield from on_two_loops(request.param, tmp_path)


def test_two_loops_serve_like_one(server: Example) -> None:
    # The port answers before the example prints its banner (the loops
    # listen first), so wait for the line rather than read the log once.
    wait_until("the example's '2 workers' banner", lambda: "2 workers" in server.log())
    listeners = [Listener(f"ws{i}", ws=server.ws()) for i in range(SUBSCRIBERS)]
    senders = listeners[:SENDERS]
    wait_until("every subscriber counted", lambda: server.stats()["websockets"] >= SUBSCRIBERS)
    for i, s in enumerate(senders):
        send_all(s, f"s{i}:", MESSAGES)
    for listener in listeners:
        listener.until("every sender's end", lambda got: all(f"s{i}:end" in got for i in range(SENDERS)))
        for i in range(SENDERS):
            want = [f"s{i}:{n}" for n in range(MESSAGES)] + [f"s{i}:end"]
            assert listener.frm(f"s{i}:") == want, f"{listener.name} from sender {i}"

    # Echo in order on connections over both loops.
    echoes = [server.ws("/echo") for _ in range(10)]
    for n, ws in enumerate(echoes):
        for k in range(20):
            ws.send(f"e{n}:{k}")
        assert [ws.recv(timeout=WAIT) for _ in range(20)] == [f"e{n}:{k}" for k in range(20)]
        ws.send(bytes([n, 1, 2]))
        assert ws.recv(timeout=WAIT) == bytes([n, 1, 2])
    for ws in echoes:
        ws.close()

    # Resume: an SSE client leaves, misses events, and comes back (several
    # times, so that both loops serve a resume).
    first = sse_listener("sse", server.port)
    senders[0].send("r:0")
    first.until("r:0", lambda got: "r:0" in got)
    last_id = first.ids[first.got.index("r:0")]
    first.close()
    for k in range(1, 6):
        senders[0].send(f"r:{k}")
    for listener in listeners:
        listener.until("r:5", lambda got: "r:5" in got)
    for attempt in range(8):
        again = sse_listener(f"sse{attempt}", server.port, last_id)
        again.until("the missed events", lambda got: "r:5" in got)
        assert again.frm("r:") == [f"r:{k}" for k in range(1, 6)], again.got
        ids = [int(i) for i, m in zip(again.ids, again.got) if m.startswith("r:")]
        assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > int(last_id), ids
        again.close()

    stats = server.stats()
    # The /stats connection itself is a WebSocket too.
    assert stats["websockets"] == SUBSCRIBERS + 1, stats
    assert stats["published"] == SENDERS * (MESSAGES + 1) + 6, stats
    for listener in listeners:
        listener.close()


def test_bad_workers_is_refused_with_the_cores_message(tmp_path: Path) -> None:
    for front in FRONTS:
        log = tmp_path / f"{front}.stderr"
        with pytest.raises(RuntimeError) as err:
            Example(front, None, log, {"WORKERS": "many"})
        assert "workers must be a number or \"auto\"" in str(err.value), str(err.value)
