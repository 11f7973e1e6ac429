#!/usr/bin/env python3
"""Tables and chart of a benchmark results file (bench/results/<date>.json).

`python bench/report.py bench/results/DATE.json [--update-doc]` prints the
markdown again, redraws DATE.png and (with --update-doc) rewrites the results
section of docs/PERFORMANCE.md; run.py does all three after a run.
"""
import json
import os
import sys

SAT = 0.85  # below this server CPU share a throughput figure is not the server's limit
MAIN = ("echo_small", "echo_large", "latency", "idle", "sse", "broadcast")
COMPRESSION = ("echo_json", "echo_json_deflate", "idle_json", "idle_deflate")
BROADCAST = ("broadcast", "broadcast_fast")
SOCKETIO = ("sio_ack", "sio_room", "sio_idle")
# The Socket.IO peers and what each of our fronts is to do against them
# (ratios of ours ÷ peer; acks and room deliveries per server CPU-second).
SIO_PEERS = ("socketio-node", "socketio-uws", "python-socketio")
SIO_GOALS = {"socketio-node": 10.0, "socketio-uws": 3.0, "python-socketio": 30.0}
SIO_IDLE_GOAL = ("wsrt-c", 2000)  # bytes of server RSS per idle Socket.IO socket, at most
TLS = ("tls_echo_small", "tls_echo_large", "tls_handshake", "tls_idle")
# The TLS peers and what each of our fronts is to do against them, per
# server CPU-second (echo and handshakes).
TLS_GOALS = {"uws-tls": 1.0, "node-ws-tls": 3.0}


def runs_by(doc):
    table = {}
    for r in doc["runs"]:
        table.setdefault(r["server"], {})[r["scenario"]] = r
    order = sorted(table, key=lambda s: (not any(r.get("ours") for r in table[s].values()), list(table).index(s)))
    return order, table


def si(v, unit=""):
    if v is None:
        return "–"
    for div, suf in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suf}{unit}"
    return f"{v:.3g}{(' ' + unit) if unit else ''}"


def get(table, srv, sc, key):
    r = table.get(srv, {}).get(sc)
    if not r or not r.get("ok"):
        return None
    return r.get(key)


def cell(table, srv, sc, key, per_cpu=None, unit=""):
    r = table.get(srv, {}).get(sc)
    if r is None:
        return "n/a"
    if not r.get("ok"):
        return "FAILED"
    s = si(r.get(key), unit)
    if per_cpu and r.get(per_cpu) is not None:
        s += f" ({si(r[per_cpu])}/CPU-s)"
    util = r.get("server_cpu_util")
    if sc in ("echo_small", "echo_large", "echo_huge", "echo_json", "echo_json_deflate", "tls_echo_small", "tls_echo_large") and util is not None and util < SAT:
        s += " †"
    return s


def us(v):
    return "–" if v is None else (f"{v:.0f}" if v >= 10 else f"{v:.1f}")


def ratio(a, b, higher_better=True):
    if a is None or b is None or a == 0 or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


def markdown(doc):
    order, t = runs_by(doc)
    m = doc["machine"]
    out = [f"# wsrt benchmark, {doc['date']}", ""]
    out.append(f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, load average at start "
               f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}. Server pinned to core 0, load generator "
               f"to core 1, {'both at ' + doc.get('rt_policy', 'SCHED_FIFO') + ' priority 50' if doc['realtime_priority'] else 'normal priority (' + (doc.get('realtime_off_by') or 'chrt refused') + ')'}; "
               f"{doc['secs_per_run']:g} s measured per run after a 1 s warm-up; a fresh server for every run.")
    if doc.get("skipped"):
        out.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in doc["skipped"].items()) + ".")
    if doc.get("note"):
        out += ["", doc["note"]]
    tls = any(sc in TLS for s in order for sc in t[s])
    if tls:
        # The plain runs of a TLS benchmark are the figures beside TLS,
        # shown there.
        out += tls_tables(doc, order, t)
    main = [s for s in order if any(sc in MAIN for sc in t[s])]
    if main and not tls:
        out += main_tables(doc, main, t)
    if any(sc in BROADCAST for s in order for sc in t[s]):
        out += broadcast_tables(doc, order, t)
    if any(sc in COMPRESSION for s in order for sc in t[s]):
        out += compression_tables(doc, order, t)
    if any(sc in SOCKETIO for s in order for sc in t[s]):
        out += socketio_tables(doc, order, t)
    return "\n".join(out) + "\n"


def tls_tables(doc, order, t):
    """The TLS scenarios: one row per TLS server with its plain twin's
    figures beside, then ours ÷ each TLS peer against the goals."""
    rows = [s for s in order if any(sc in TLS for sc in t[s])]
    ours = [s for s in rows if any(r.get("ours") for r in t[s].values())]
    peers = [p for p in TLS_GOALS if p in rows]
    plain = lambda s: next((r.get("plain") for r in t[s].values() if r.get("plain")), None)
    pct = lambda v: "–" if v is None else f"{v:.0%}"
    title = lambda sc: doc["scenarios"].get(sc, sc)

    def pair(s, sc, psc, key, per):
        """TLS figure (per CPU-s) · plain figure (per CPU-s) · TLS ÷ plain per CPU-s."""
        tl, pl = cell(t, s, sc, key, per), cell(t, plain(s), psc, key, per)
        return f"{tl} | {pl} | {ratio(get(t, s, sc, per), get(t, plain(s), psc, per))}"

    neg = {}
    for s in rows:
        for sc in TLS:
            v = get(t, s, sc, "tls_negotiated")
            if v:
                neg.setdefault(v, [])
                if s not in neg[v]:
                    neg[v].append(s)
    out = ["", "## TLS", "",
           "Every server on TLS with the same certificate (ECDSA P-256, signed by a CA made for the run; made by "
           "openssl in a temporary directory, never kept) on 127.0.0.1. The generator is rustls 0.23 with the ring "
           "provider (as core): TLS 1.3 only, X25519 offered first, no session resumption (every connection a full "
           "handshake; servers still send their tickets, ignored), SNI `localhost`, every echo checked. Each TLS "
           "server's plain twin (the same server without TLS_CERT/TLS_KEY) beside it, in the same run. Per second "
           "of server CPU time (user + system, all threads) in parentheses: read that first. "
           f"† the server used under {SAT:.0%} of its core.", ""]
    if neg:
        out += ["Negotiated: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in neg.items()) + ".", ""]
    out += [f"**Echo** ({title('tls_echo_small')}; {title('tls_echo_large')}), msgs/s:", "",
            "| server | TLS 32 B | plain 32 B | TLS ÷ plain per CPU-s | TLS 64 KiB | plain 64 KiB | TLS ÷ plain per CPU-s |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in rows:
        out.append(f"| {s} | {pair(s, 'tls_echo_small', 'echo_small', 'msgs_per_s', 'msgs_per_server_cpu_s')} | "
                   f"{pair(s, 'tls_echo_large', 'echo_large', 'msgs_per_s', 'msgs_per_server_cpu_s')} |")
    out += ["", f"**Connections** ({title('tls_handshake')}; plain: the same without TLS), connections/s, and "
            f"**idle memory** ({title('tls_idle')} and as many plain ones held): the server's RSS growth per "
            "connection (user space only; kernel socket buffers are not in RSS).", "",
            "| server | TLS conns/s | plain conns/s | TLS ÷ plain per CPU-s | server CPU (TLS) | B / idle TLS conn | B / idle plain conn | TLS − plain |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in rows:
        bt, bp = get(t, s, "tls_idle", "bytes_per_conn"), get(t, plain(s), "plain_idle", "bytes_per_conn")
        out.append(f"| {s} | {pair(s, 'tls_handshake', 'plain_handshake', 'handshakes_per_s', 'handshakes_per_server_cpu_s')} | "
                   f"{pct(get(t, s, 'tls_handshake', 'server_cpu_util'))} | {si(bt)} | {si(bp)} | "
                   f"{'–' if bt is None or bp is None else f'{bt - bp:+,.0f}'} |")
    if ours and peers:
        out += ["", "**Ours ÷ each TLS peer**, per server CPU-second (↑ better) and idle memory per TLS connection "
                "(↓ better); goal: " + ", ".join(f"≥ {g:g}× {p}" for p, g in TLS_GOALS.items() if p in peers) +
                " (echo and connections per CPU-second).", "",
                "| ours | peer | echo 32 B ↑ | echo 64 KiB ↑ | connections ↑ | B / idle TLS conn ↓ | goal met |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for o in ours:
            for p in peers:
                rs = [get(t, o, sc, k) and get(t, p, sc, k) and get(t, o, sc, k) / get(t, p, sc, k)
                      for sc, k in (("tls_echo_small", "msgs_per_server_cpu_s"), ("tls_echo_large", "msgs_per_server_cpu_s"),
                                    ("tls_handshake", "handshakes_per_server_cpu_s"))]
                met = "–" if any(r is None for r in rs) else ", ".join(
                    f"{n} {'yes' if r >= TLS_GOALS[p] else 'NO'}" for n, r in zip(("32 B", "64 KiB", "conns"), rs))
                out.append(f"| {o} | {p} | " + " | ".join([
                    ratio(get(t, o, "tls_echo_small", "msgs_per_server_cpu_s"), get(t, p, "tls_echo_small", "msgs_per_server_cpu_s")),
                    ratio(get(t, o, "tls_echo_large", "msgs_per_server_cpu_s"), get(t, p, "tls_echo_large", "msgs_per_server_cpu_s")),
                    ratio(get(t, o, "tls_handshake", "handshakes_per_server_cpu_s"), get(t, p, "tls_handshake", "handshakes_per_server_cpu_s")),
                    ratio(get(t, o, "tls_idle", "bytes_per_conn"), get(t, p, "tls_idle", "bytes_per_conn")),
                    met]) + " |")
    out += ["", "Server / generator share of a core in each TLS run:", "",
            "| server | " + " | ".join(title(sc).split(":")[0] for sc in TLS[:3]) + " |", "| --- | --- | --- | --- |"]
    for s in rows:
        cells = []
        for sc in TLS[:3]:
            g, u = get(t, s, sc, "gen_cpu_util"), get(t, s, sc, "server_cpu_util")
            cells.append("n/a" if g is None else f"{pct(u)} / {pct(g)}")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return out


def socketio_tables(doc, order, t):
    """The Socket.IO scenarios: one table per scenario, then ours ÷ each
    Socket.IO peer against the goals."""
    rows = [s for s in order if any(sc in SOCKETIO for sc in t[s])]
    ours = [s for s in rows if any(r.get("ours") for r in t[s].values())]
    peers = [s for s in rows if s not in ours]
    title = lambda sc: doc["scenarios"].get(sc, sc)
    pct = lambda v: "–" if v is None else f"{v:.0%}"
    ms = lambda v: "–" if v is None else f"{v / 1e3:.3g}"
    out = ["", "## Socket.IO", "",
           "Engine.IO v4 / Socket.IO v5 over WebSocket at `/socket.io/?EIO=4&transport=websocket`, namespace `/`, "
           "every server at its default ping interval (25 s) and 1,000,000-byte max payload. The generator (Rust, "
           "bench/loadgen, no socket.io-client) answers every ping and checks every ack and every room message. "
           "Per second of server CPU time (user + system, all threads) in parentheses: read that first, it is what "
           "the goals are about; on a shared 2-core machine it is also the figure least moved by the generator "
           "and by other load.", ""]
    recov = [s for s in rows if any(r.get("ok") and r.get("sockets_with_recovery") for r in t[s].values())]
    if recov:
        out += [f"Connection state recovery on (the connect answer carries a `pid`; room broadcasts carry an offset "
                f"and are kept for replay): {', '.join(recov)}. The peers run socket.io's and python-socketio's "
                "defaults, without it: it costs the servers that have it, not the others.", ""]
    fail = lambda r: f"FAILED: {r.get('error', '')[:100]}"
    # The server's CPU share of its core, and how much of that the kernel
    # spent (on loopback a send's whole TCP path, the receiving side's too).
    srv_cpu = lambda r: pct(r.get("server_cpu_util")) + (
        f" ({pct(r['server_sys_share'])} kernel)" if r.get("server_sys_share") is not None else "")
    if any("sio_ack" in t[s] for s in rows):
        out += [f"**{title('sio_ack')}**: each socket keeps 16 `echo` emits with ack in flight; every ack must carry "
                "the payload of the emit it answers. Round trip from the emit to its ack, in ms, at that load (a "
                "closed loop: the server's queueing at full load, not an idle round trip).", "",
                "| server | acks/s (per CPU-s) | RTT p50 | RTT p99 | server CPU | generator CPU |",
                "| --- | --- | --- | --- | --- | --- |"]
        for s in rows:
            r = t[s].get("sio_ack")
            if r is None:
                continue
            if not r.get("ok"):
                out.append(f"| {s} | {fail(r)} | – | – | – | – |")
                continue
            out.append(f"| {s} | {cell(t, s, 'sio_ack', 'acks_per_s', 'acks_per_server_cpu_s')} | "
                       f"{ms(r.get('rtt_us_p50'))} | {ms(r.get('rtt_us_p99'))} | "
                       f"{srv_cpu(r)} | {pct(r.get('gen_cpu_util'))} |")
        out.append("")
    if any("sio_room" in t[s] for s in rows):
        out += [f"**{title('sio_room')}**: members join room `bench` (ack checked); the publisher emits `to-room` and "
                "keeps at most 8 messages not yet delivered to every member (closed loop: each server runs at its own "
                "pace, nothing piles up); every member must get every `room-msg` once and in order. Delivery latency "
                "from the publisher's send to the member's read, in ms.", "",
                "| server | deliveries/s (per CPU-s) | published msgs/s | p50 | p99 | server CPU | generator CPU |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for s in rows:
            r = t[s].get("sio_room")
            if r is None:
                continue
            if not r.get("ok"):
                out.append(f"| {s} | {fail(r)} | – | – | – | – | – |")
                continue
            out.append(f"| {s} | {cell(t, s, 'sio_room', 'deliveries_per_s', 'deliveries_per_server_cpu_s')} | "
                       f"{si(r.get('published_per_s'))} | {ms(r.get('delivery_us_p50'))} | {ms(r.get('delivery_us_p99'))} | "
                       f"{srv_cpu(r)} | {pct(r.get('gen_cpu_util'))} |")
        out.append("")
    if any("sio_idle" in t[s] for s in rows):
        out += [f"**{title('sio_idle')}**: sockets connected to namespace `/` and held; the server's RSS growth per "
                "socket (user space only).", "",
                "| server | RSS before | RSS held | bytes / socket | connected in |", "| --- | --- | --- | --- | --- |"]
        for s in rows:
            r = t[s].get("sio_idle")
            if r is None:
                continue
            if not r.get("ok"):
                out.append(f"| {s} | {fail(r)} | – | – | – |")
                continue
            out.append(f"| {s} | {si(r.get('rss_before'), 'B')} | {si(r.get('rss_held'), 'B')} | "
                       f"{si(r.get('bytes_per_conn'))} | {r.get('connect_s', 0):.1f} s |")
        out.append("")
    sio_peers = [p for p in SIO_PEERS if p in peers]
    if not ours:
        out += ["None of our fronts serves `/socket.io/` yet: the ratios to the goals appear once one does."]
        return out
    if not sio_peers:
        out += ["No Socket.IO peer ran (see Skipped above): no ratios to the goals."]
        return out
    out += ["### Ours ÷ each Socket.IO peer", "",
            "Goals, on acks and room deliveries: ≥ 10× socketio-node, ≥ 3× socketio-uws, ≥ 30× python-socketio; "
            f"idle memory per Socket.IO socket ≤ {SIO_IDLE_GOAL[1] / 1000:g} KB in the C front. "
            "Throughput (↑): above 1× ours does more; memory (↓): below 1× ours uses less. "
            "\"met\" compares the per-CPU-second ratios with the goal.", "",
            "| ours | peer | goal | acks/s ↑ | acks per CPU-s ↑ | ack RTT p50 ↓ | deliveries/s ↑ | deliveries per CPU-s ↑ | bytes / idle socket ↓ | met |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for o in ours:
        for p in sio_peers:
            goal = SIO_GOALS.get(p)
            ra = get(t, o, "sio_ack", "acks_per_server_cpu_s"), get(t, p, "sio_ack", "acks_per_server_cpu_s")
            rr = get(t, o, "sio_room", "deliveries_per_server_cpu_s"), get(t, p, "sio_room", "deliveries_per_server_cpu_s")
            got = [a / b for a, b in (ra, rr) if a and b]
            met = "–" if not got or goal is None else ("yes" if min(got) >= goal else "no")
            out.append(f"| {o} | {p} | ≥ {goal:g}× | " + " | ".join([
                ratio(get(t, o, "sio_ack", "acks_per_s"), get(t, p, "sio_ack", "acks_per_s")),
                ratio(*ra),
                ratio(get(t, o, "sio_ack", "rtt_us_p50"), get(t, p, "sio_ack", "rtt_us_p50")),
                ratio(get(t, o, "sio_room", "deliveries_per_s"), get(t, p, "sio_room", "deliveries_per_s")),
                ratio(*rr),
                ratio(get(t, o, "sio_idle", "bytes_per_conn"), get(t, p, "sio_idle", "bytes_per_conn")),
            ]) + f" | {met} |")
    c, limit = SIO_IDLE_GOAL
    b = get(t, c, "sio_idle", "bytes_per_conn")
    if b is not None:
        out += ["", f"Idle memory, {c}: {b:,.0f} B per Socket.IO socket (goal ≤ {limit:,} B): "
                f"{'met' if b <= limit else 'not met'}."]
    return out


def broadcast_tables(doc, order, t):
    """The pub/sub scenarios (issue 6): one publisher, 1,000 subscribers on
    /broadcast, 32 B messages; deliveries, losses and delivery latency."""
    rows = [s for s in order if any(sc in BROADCAST for sc in t[s])]
    ours = [s for s in rows if any(r.get("ours") for r in t[s].values())]
    peers = [s for s in rows if s not in ours]
    out = ["", "## Broadcast", "",
           "One publisher and 1,000 subscribers on `/broadcast`, 32 B messages published at a fixed rate; every "
           "subscriber must get every message in order (losses are counted after a 2 s drain). Delivery latency is "
           "from the publisher's send time to the subscriber's read, in µs. Deliveries per second of server CPU "
           "time in parentheses.", ""]
    for sc in BROADCAST:
        if not any(sc in t[s] for s in rows):
            continue
        out += [f"**{doc['scenarios'].get(sc, sc)}**", "",
                "| server | deliveries/s | lost | p50 | p99 | p99.9 | server CPU |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for s in rows:
            r = t[s].get(sc)
            if r is None:
                continue
            if not r.get("ok"):
                out.append(f"| {s} | FAILED: {r.get('error', '')[:80]} | – | – | – | – | – |")
                continue
            u = r.get("server_cpu_util")
            out.append(f"| {s} | {cell(t, s, sc, 'msgs_per_s', 'msgs_per_server_cpu_s')} | {r.get('lost', 0):.0f} | "
                       + " | ".join(us(r.get(f"delivery_us_{q}")) for q in ("p50", "p99", "p999"))
                       + f" | {'–' if u is None else f'{u:.0%}'} |")
        out.append("")
    if ours and peers:
        out += ["Ours ÷ peer at the highest rate: deliveries per server CPU-second (↑ above 1× ours is cheaper) and "
                "p99 delivery latency (↓ below 1× ours is faster).", "",
                "| ours | peer | deliveries/s ↑ | per CPU-s ↑ | p99 ↓ |", "| --- | --- | --- | --- | --- |"]
        sc = "broadcast_fast" if any("broadcast_fast" in t[s] for s in rows) else "broadcast"
        for o in ours:
            for p in peers:
                out.append(f"| {o} | {p} | " + " | ".join([
                    ratio(get(t, o, sc, "msgs_per_s"), get(t, p, sc, "msgs_per_s")),
                    ratio(get(t, o, sc, "msgs_per_server_cpu_s"), get(t, p, sc, "msgs_per_server_cpu_s")),
                    ratio(get(t, o, sc, "delivery_us_p99"), get(t, p, sc, "delivery_us_p99")),
                ]) + " |")
    return out


def compression_tables(doc, order, t):
    """The compression scenarios (issue 7): one row per server and deflate
    mode, then ratios of ours against the compressing peers."""
    def pick(s, *scs):
        for sc in scs:
            if sc in t[s]:
                return sc
        return None

    rows = [s for s in order if pick(s, *COMPRESSION)]
    out = ["", "## Compression (permessage-deflate)", "",
           "1 KiB JSON text messages (chat and dashboard objects whose numbers, names and text change every "
           "message), echoed and checked byte for byte after inflating. The generator offers "
           "`permessage-deflate; client_max_window_bits` (context takeover if the server agrees) and compresses "
           "at zlib level 1 (so that its own compression does not set the pace; the servers compress at their "
           "default, level 6 for both wsrt and ws). msgs/s with msgs per second of server CPU in parentheses; wire bytes per "
           "message each way, frame headers included (client frames carry a 4-byte mask key). Memory: RSS growth "
           "per connection with the connections open and idle, then after each has echoed one message (user space "
           "only).", "",
           "| server | deflate | " + doc["scenarios"].get("echo_json", "echo").split(",")[0] + " | server CPU | generator CPU | "
           "wire B/msg client → server | wire B/msg server → client | bytes / conn idle | bytes / conn after 1 msg |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in rows:
        e, i = pick(s, "echo_json", "echo_json_deflate"), pick(s, "idle_json", "idle_deflate")
        any_r = next(iter(t[s].values()))
        mode = any_r.get("deflate_mode", "?")
        ec = cell(t, s, e, "msgs_per_s", "msgs_per_server_cpu_s") if e else "n/a"
        gu, su = (get(t, s, e, "gen_cpu_util"), get(t, s, e, "server_cpu_util")) if e else (None, None)
        pct = lambda v: "–" if v is None else f"{v:.0%}"
        wo, wi = (get(t, s, e, "wire_out_per_msg"), get(t, s, e, "wire_in_per_msg")) if e else (None, None)
        num = lambda v: "–" if v is None else f"{v:,.0f}"
        io = get(t, s, i, "bytes_per_conn_open") if i else None
        iu = get(t, s, i, "bytes_per_conn_used") if i else None
        if i and not t[s][i].get("ok"):
            io = iu = None
        out.append(f"| {s} | {mode} | {ec} | {pct(su)} | {pct(gu)} | {num(wo)} | {num(wi)} | {si(io)} | {si(iu)} |")
    neg = [(s, r.get("negotiated")) for s in rows for r in t[s].values() if r.get("negotiated")]
    seen = {}
    for s, n in neg:
        seen.setdefault(s, n)
    if seen:
        out += ["", "Negotiated (the server's `Sec-WebSocket-Extensions` answer): " +
                "; ".join(f"{s}: `{n}`" for s, n in seen.items()) + "."]
    ours = [s for s in rows if any(r.get("ours") for r in t[s].values())]
    refs = [s for s in rows if s not in ours]
    off = lambda s: next(iter(t[s].values())).get("deflate_mode", "off") == "off"
    for p in refs:
        out += ["", f"### Relative to {p}", "",
                f"server ÷ {p}. Throughput (↑): above 1× the server is faster. Memory and wire bytes (↓): below 1× it uses less.", "",
                "| server | msgs/s ↑ | per CPU-s ↑ | bytes / conn idle ↓ | bytes / conn after 1 msg ↓ | wire server → client ↓ |",
                "| --- | --- | --- | --- | --- | --- |"]
        pe, pi = pick(p, "echo_json", "echo_json_deflate"), pick(p, "idle_json", "idle_deflate")
        # Like with like: compressing servers against compressing peers.
        for o in [o for o in ours if off(o) == off(p)]:
            oe, oi = pick(o, "echo_json", "echo_json_deflate"), pick(o, "idle_json", "idle_deflate")
            out.append(f"| {o} | " + " | ".join([
                ratio(get(t, o, oe, "msgs_per_s"), get(t, p, pe, "msgs_per_s")),
                ratio(get(t, o, oe, "msgs_per_server_cpu_s"), get(t, p, pe, "msgs_per_server_cpu_s")),
                ratio(get(t, o, oi, "bytes_per_conn_open"), get(t, p, pi, "bytes_per_conn_open")),
                ratio(get(t, o, oi, "bytes_per_conn_used"), get(t, p, pi, "bytes_per_conn_used")),
                ratio(get(t, o, oe, "wire_in_per_msg"), get(t, p, pe, "wire_in_per_msg")),
            ]) + " |")
    return out


def main_tables(doc, order, t):
    ours = [s for s in order if any(r.get("ours") for r in t[s].values())]
    peers = [s for s in order if s not in ours]
    out = ["", "## Throughput", "",
            "Messages per second (messages per second of server CPU time, user + system, in parentheses). "
            f"† the server used under {SAT:.0%} of its core: that figure is bounded by the generator or the machine, "
            "not the server; compare the per-CPU-second figure instead.", "",
            "| server | echo 64×16×32 B | echo 8×4×64 KiB | SSE 1,000 clients (events/s) | broadcast 1,000 subs (deliveries/s) |",
            "| --- | --- | --- | --- | --- |"]
    for s in order:
        bl = get(t, s, "broadcast", "lost")
        b = cell(t, s, "broadcast", "msgs_per_s", "msgs_per_server_cpu_s")
        if bl:
            b += f", {bl:.0f} lost"
        out.append(f"| {s} | {cell(t, s, 'echo_small', 'msgs_per_s', 'msgs_per_server_cpu_s')} | "
                   f"{cell(t, s, 'echo_large', 'msgs_per_s', 'msgs_per_server_cpu_s')} | "
                   f"{cell(t, s, 'sse', 'events_per_s', 'events_per_server_cpu_s')} | {b} |")
    out += ["", "## Latency and memory", "",
            "Round trip of 32 B echoes, 100 connections, 10,000 msgs/s in total on a fixed schedule (latency counted "
            "from the scheduled send time, so stalls are not hidden), in µs. Memory: the server's RSS growth with "
            "10,000 idle WebSocket connections open, per connection (user space only; kernel socket buffers are not in RSS).", "",
            "| server | p50 | p90 | p99 | p99.9 | max | RSS before | RSS with 10k idle | bytes / idle conn |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in order:
        row = [us(get(t, s, "latency", f"rtt_us_{q}")) for q in ("p50", "p90", "p99", "p999", "max")]
        if t.get(s, {}).get("latency") and not t[s]["latency"].get("ok"):
            row = ["FAILED"] + ["–"] * 4
        mem = [si(get(t, s, "idle", "rss_before"), "B"), si(get(t, s, "idle", "rss_held"), "B"),
               si(get(t, s, "idle", "bytes_per_conn"))]
        out.append(f"| {s} | " + " | ".join(row + mem) + " |")
    for o in ours:
        out += ["", f"## {o} relative to each peer", "",
                f"{o} ÷ peer. Throughput (↑): above 1× {o} is faster. Latency and memory (↓): below 1× {o} is better.", "",
                "| peer | echo 32 B msgs/s ↑ | echo 32 B per CPU-s ↑ | echo 64 KiB msgs/s ↑ | echo 64 KiB per CPU-s ↑ | RTT p50 ↓ | RTT p99 ↓ | bytes / idle conn ↓ | SSE per CPU-s ↑ |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in peers:
            out.append(f"| {p} | " + " | ".join([
                ratio(get(t, o, "echo_small", "msgs_per_s"), get(t, p, "echo_small", "msgs_per_s")),
                ratio(get(t, o, "echo_small", "msgs_per_server_cpu_s"), get(t, p, "echo_small", "msgs_per_server_cpu_s")),
                ratio(get(t, o, "echo_large", "msgs_per_s"), get(t, p, "echo_large", "msgs_per_s")),
                ratio(get(t, o, "echo_large", "msgs_per_server_cpu_s"), get(t, p, "echo_large", "msgs_per_server_cpu_s")),
                ratio(get(t, o, "latency", "rtt_us_p50"), get(t, p, "latency", "rtt_us_p50")),
                ratio(get(t, o, "latency", "rtt_us_p99"), get(t, p, "latency", "rtt_us_p99")),
                ratio(get(t, o, "idle", "bytes_per_conn"), get(t, p, "idle", "bytes_per_conn")),
                ratio(get(t, o, "sse", "events_per_server_cpu_s"), get(t, p, "sse", "events_per_server_cpu_s")),
            ]) + " |")
    out += ["", "## Generator headroom", "",
            "Share of a core used by the load generator process / by the server process during each measured window.", "",
            "| server | " + " | ".join(doc["scenarios"].get(k, k) for k in ("echo_small", "echo_large", "latency", "sse", "broadcast")) + " |",
            "| --- | --- | --- | --- | --- | --- |"]
    for s in order:
        cells = []
        for sc in ("echo_small", "echo_large", "latency", "sse", "broadcast"):
            g, u = get(t, s, sc, "gen_cpu_util"), get(t, s, sc, "server_cpu_util")
            cells.append("n/a" if g is None else f"{g:.0%} / {u:.0%}" if u is not None else f"{g:.0%} / –")
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return out


def chart(doc, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing, no chart", file=sys.stderr)
        return False
    order, t = runs_by(doc)
    if any(sc in TLS for s in order for sc in t[s]):
        return False  # a TLS run: its tables say it all
    order = [s for s in order if any(sc in MAIN for sc in t[s])]
    if not order:
        return False
    ours = {s for s in order if any(r.get("ours") for r in t[s].values())}
    colors = ["#d1495b" if s in ours else "#5b7c99" for s in order]
    has_bc = any("broadcast_fast" in t[s] for s in order)
    fig, ax = plt.subplots(2, 3 if has_bc else 2, figsize=(19 if has_bc else 13, 8.5))
    x = list(range(len(order)))

    def bars(a, sc, key, title, scale=1.0, ylabel="", log=False):
        vals = [(get(t, s, sc, key) or 0) / scale for s in order]
        a.bar(x, vals, color=colors)
        a.set_title(title, fontsize=10)
        a.set_xticks(x, order, rotation=30, ha="right", fontsize=8)
        a.set_ylabel(ylabel, fontsize=8)
        if log:
            a.set_yscale("log")
        for i, v in enumerate(vals):
            a.text(i, v, f"{v:,.0f}" if v >= 100 else f"{v:.3g}", ha="center", va="bottom", fontsize=7)

    bars(ax[0][0], "echo_small", "msgs_per_server_cpu_s", "echo 64×16×32 B: messages per server CPU-second (millions)", 1e6, "M msgs / CPU-s")
    bars(ax[0][1], "echo_large", "mb_per_s", "echo 8×4×64 KiB: MB/s echoed", 1.0, "MB/s")
    a = ax[1][0]
    w = 0.27
    for k, (q, shade) in enumerate((("p50", 0.45), ("p99", 0.75), ("p999", 1.0))):
        vals = [get(t, s, "latency", f"rtt_us_{q}") or 0 for s in order]
        a.bar([i + (k - 1) * w for i in x], vals, w, label=q.replace("p999", "p99.9"), color=colors, alpha=shade)
    a.set_yscale("log")
    a.set_title("RTT at 10k msgs/s, 100 conns (µs, log scale; bars p50 / p99 / p99.9)", fontsize=10)
    a.set_xticks(x, order, rotation=30, ha="right", fontsize=8)
    bars(ax[1][1], "idle", "bytes_per_conn", "RSS per idle connection, 10,000 open (bytes, log scale)", 1.0, "bytes", log=True)
    if has_bc:
        bars(ax[0][2], "broadcast_fast", "msgs_per_s", "broadcast 1 → 1,000 subs at 2,000 msgs/s: deliveries/s in order (millions)", 1e6, "M deliveries/s")
        bars(ax[1][2], "broadcast_fast", "delivery_us_p99", "broadcast at 2,000 msgs/s: p99 delivery latency (ms, log scale)", 1e3, "ms", log=True)
    fig.suptitle(f"wsrt (red) vs peers (blue) — {doc['date']}, 2-core shared machine: noisy, see docs/PERFORMANCE.md", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def update_doc(doc, doc_path):
    """Rewrites the results section of docs/PERFORMANCE.md (between its
    markers) with the tables of `doc` and a link to the latest chart."""
    begin, end = "<!-- results:begin", "<!-- results:end -->"
    with open(doc_path) as f:
        text = f.read()
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return False
    head = text[i:text.index("\n", i) + 1]
    body = markdown(doc).split("\n", 2)[2].replace("\n## ", "\n### ")
    new = head + "\nRun of " + doc["date"] + ".\n\n![benchmark chart](../bench/results/latest.png)\n\n" + body + "\n"
    with open(doc_path, "w") as f:
        f.write(text[:i] + new + text[j:])
    return True


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        d = json.load(f)
    print(markdown(d))
    chart(d, os.path.splitext(sys.argv[1])[0] + ".png")
    if "--update-doc" in sys.argv:
        update_doc(d, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "PERFORMANCE.md"))
