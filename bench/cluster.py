#!/usr/bin/env python3
"""Cluster benchmark (issue 15, `make bench-cluster`): what a publish costs
when it goes through Redis to the servers of a cluster, beside the same
publish on one server.

The C example (build/examples/echo_server: /broadcast publishes every
message to topic "broadcast", which keeps $HISTORY events) and Debian's
redis-server, started here on free 127.0.0.1 ports (Redis with --save ""
--appendonly no, in a temporary directory). Cases, side by side in every
repetition:

  single         one server A, no Redis: publisher and subscribers on A
  cross          A and B over one Redis: publisher on A, subscribers on B
  local          A and B over one Redis: publisher and subscribers on A
                 (a topic with history is sequenced by Redis, so A's own
                 subscribers wait for Redis too)
  cross-nohist,  the same two with HISTORY=0 (a topic without history:
  local-nohist   delivered locally at once, PUBLISHed to the others), when
                 the example takes HISTORY=0; skipped, with the reason,
                 when it refuses it

each under two loads (loadgen broadcast, every delivery verified: each
subscriber gets every message once and in order):

  latency        10 subscribers, 10,000 publishes/s (open loop: latency
                 counts from each publish's due time)
  latency-low    the same at BENCH_CLUSTER_LOW_RATE publishes/s (default
                 3,000): on a 2-core machine the cluster's three processes
                 share one core, which 10,000 publishes/s can fill; this
                 one shows the added latency of the path itself
  throughput     1,000 subscribers at BENCH_CLUSTER_TP_RATE publishes/s
                 (default 1,000): deliveries/s and deliveries per CPU-second
                 of the whole system (A, B and redis-server for a cluster)

Every process set is fresh (Redis too). The servers and Redis are pinned
to core 0, the generator to core 1, all at SCHED_RR priority 50 when the
machine allows it (BENCH_RT=0: not), as bench/run.py does. The example is
built once (`make -s examples`) and copied with its libwsrt.so into
.cache/bench/cluster-build for the run (removed after), so every case of a
run measures the same build even if core is rebuilt meanwhile. The
generator reads the CPU time of A (--server-pid), B and redis-server
(--cpu-pid) from /proc over its measured window. After each run A's and
B's counters (/stats) are read: cluster_dropped must stay 0.

Environment: BENCH_SECS (measured seconds per run, default 5),
BENCH_CLUSTER_REPS (repetitions, default 3), BENCH_CLUSTER_TP_RATE,
BENCH_CLUSTER_LAT_SUBS (default 10), BENCH_CLUSTER_TP_SUBS (default 1000),
WORKERS (passed to the examples: their loops per server, default 1),
BENCH_CLUSTER_CASES (comma list), BENCH_CLUSTER_LOADS (comma list of
latency, latency-low, throughput), BENCH_CLUSTER_REDIS_CORE (the core
redis-server is pinned to, default 0), BENCH_CLUSTER_TAG (results go to
bench/results/<date>-TAG.json/.md, default "cluster"; "" writes nothing),
BENCH_RT=0. Timing gates nothing: a run fails only when the generator
reports a failed check, a loss, or a server a dropped cluster publish.
"""
import atexit
import base64
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: wait_port, stop, rt_allowed, machine)

ROOT = run.ROOT
SECS = float(os.environ.get("BENCH_SECS", "5"))
REPS = int(os.environ.get("BENCH_CLUSTER_REPS", "3"))
LAT_RATE = 10_000
LOW_RATE = int(os.environ.get("BENCH_CLUSTER_LOW_RATE", "3000"))
LAT_SUBS = int(os.environ.get("BENCH_CLUSTER_LAT_SUBS", "10"))
TP_SUBS = int(os.environ.get("BENCH_CLUSTER_TP_SUBS", "1000"))
TP_RATE = int(os.environ.get("BENCH_CLUSTER_TP_RATE", "1000"))
TAG = os.environ.get("BENCH_CLUSTER_TAG", "cluster")
REDIS_CORE = os.environ.get("BENCH_CLUSTER_REDIS_CORE", "0")
GOAL_ADDED_P99_US = 1000.0
EXAMPLE = os.path.join(ROOT, "build", "examples", "echo_server")
LIBDIR = os.path.join(ROOT, "build", "lib")
SNAPSHOT = os.path.join(run.CACHE, "cluster-build")

# name -> (cluster?, subscribers on B?, topic history?, title)
CASES = {
    "single": (False, False, True, "one server: publisher and subscribers on A"),
    "cross": (True, True, True, "cluster of 2: publisher on A, subscribers on B (history: sequenced by Redis)"),
    "local": (True, False, True, "cluster of 2: publisher and subscribers on A (history: sequenced by Redis)"),
    "cross-nohist": (True, True, False, "cluster of 2: publisher on A, subscribers on B (no history: PUBLISH)"),
    "local-nohist": (True, False, False, "cluster of 2: publisher and subscribers on A (no history: local at once)"),
}
LOADS = {
    "latency": (LAT_SUBS, LAT_RATE),
    "latency-low": (LAT_SUBS, LOW_RATE),
    "throughput": (TP_SUBS, TP_RATE),
}

_procs = []  # every process started and not yet stopped, for the exit handlers


def cleanup():
    for p in list(_procs):
        run.stop(p)
        _procs.remove(p)
    shutil.rmtree(SNAPSHOT, ignore_errors=True)


def on_signal(sig, _frame):
    raise SystemExit(128 + sig)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, env, log, cwd=ROOT):
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=cwd)
    _procs.append(p)
    return p


def stop(p):
    run.stop(p)
    if p in _procs:
        _procs.remove(p)


def snapshot():
    """Builds the example (normal priority, unpinned) and copies it and
    its library aside; returns (argv, env, how it was built). When the
    build fails (core in the middle of an edit), the last build is used,
    and the results say so."""
    made = subprocess.run(["make", "-s", "-C", ROOT, "examples"], stdout=sys.stderr).returncode == 0
    if not os.path.exists(EXAMPLE):
        raise SystemExit("bench-cluster: no build/examples/echo_server and `make examples` failed")
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(EXAMPLE)).isoformat(timespec="seconds")
    how = f"make examples: {'ok' if made else 'FAILED, the previous build is used'}; echo_server of {stamp}"
    if not made:
        print(f"bench-cluster: `make examples` failed: using the previous build ({stamp})", file=sys.stderr)
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    os.makedirs(SNAPSHOT)
    shutil.copy2(EXAMPLE, SNAPSHOT)
    # The binary's RUNPATH is build/lib; LD_LIBRARY_PATH comes first.
    shutil.copy2(os.path.realpath(os.path.join(LIBDIR, "libwsrt.so.0")), os.path.join(SNAPSHOT, "libwsrt.so.0"))
    return [os.path.join(SNAPSHOT, "echo_server")], {"LD_LIBRARY_PATH": SNAPSHOT}, how


def build_info():
    git = lambda *a: subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True).stdout.strip()
    return {"wsrt": git("describe", "--always", "--dirty"),
            "uncommitted_core_ffi": [l.strip() for l in git("status", "--short", "--", "core", "ffi").splitlines()],
            "redis": subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()}


def history_zero_refused(argv, env):
    """Why the example cannot run the topic without history (HISTORY=0),
    or None if it starts with it."""
    port = free_port()
    e = dict(os.environ, **env, PORT=str(port), HISTORY="0")
    p = subprocess.Popen(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if run.wait_port(port, p, 10):
            return None
        err = p.stderr.read().strip() if p.poll() is not None else "did not listen"
        return f"examples/c/echo_server.c refuses HISTORY=0 (exit {p.returncode}: {err!r})"
    finally:
        run.stop(p)


def read_stats(port):
    """The server's counters from /stats (one JSON text, then a close)."""
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET /stats HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as c:
        c.sendall(req)
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            buf += chunk
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            body = buf[head_end + 4:]
            if len(body) < 2:
                continue
            n, off = body[1] & 0x7F, 2
            if n == 126:
                if len(body) < 4:
                    continue
                n, off = int.from_bytes(body[2:4], "big"), 4
            if len(body) >= off + n:
                return json.loads(body[off:off + n])
    return None


def one(case, load, argv, env0, rt, logdir, rep):
    cluster, subs_on_b, history, _ = CASES[case]
    subs, rate = LOADS[load]
    prio = ["chrt", "-r", "50"] if rt else []
    pin0 = prio + ["taskset", "-c", "0"]
    tmp = tempfile.mkdtemp(prefix="wsrt-bench-cluster-")
    log = open(os.path.join(logdir, f"cluster.{case}.{load}.{rep}.log"), "w")
    procs = {}
    try:
        env = dict(os.environ, **env0)
        env.pop("REDIS_URL", None)
        env.pop("DEFLATE", None)
        if not history:
            env["HISTORY"] = "0"
        if cluster:
            rport = free_port()
            procs["redis"] = start(prio + ["taskset", "-c", REDIS_CORE, "redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no", "--daemonize", "no",
                                           "--dir", tmp], dict(os.environ), log, cwd=tmp)
            if not run.wait_port(rport, procs["redis"], 10):
                return {"ok": False, "error": "redis-server did not listen"}
            env["REDIS_URL"] = f"redis://127.0.0.1:{rport}/"
        ports = {}
        for name in ("A", "B") if cluster else ("A",):
            ports[name] = free_port()
            procs[name] = start(pin0 + argv, dict(env, PORT=str(ports[name])), log)
        for name in ports:
            if not run.wait_port(ports[name], procs[name], 30):
                return {"ok": False, "error": f"server {name} did not listen (see {log.name})"}
        time.sleep(0.5)  # both subscribed in Redis, lazy allocations done
        cmd = prio + ["taskset", "-c", "1", run.LOADGEN, "broadcast", "--conns", str(subs), "--rate", str(rate),
                      "--size", "32", "--secs", str(SECS), "--warmup", "1",
                      "--addr", f"127.0.0.1:{ports['A']}", "--server-pid", str(procs["A"].pid),
                      "--label", f"{case} {load}"]
        if subs_on_b:
            cmd += ["--sub-addr", f"127.0.0.1:{ports['B']}"]
        for name in ("B", "redis"):
            if name in procs:
                cmd += ["--cpu-pid", str(procs[name].pid)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECS + 120)
        sys.stderr.write(r.stderr)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"ok": False, "error": f"loadgen exit {r.returncode}: {r.stderr.strip()[-300:]}"}
        # The system's CPU: A's alone, or A + B + redis-server.
        pids = {"A": procs["A"].pid} | {n: procs[n].pid for n in ("B", "redis") if n in procs}
        res["cpu_s"] = {n: res.get("server_cpu_s") if n == "A" else res.get(f"cpu_s_pid{p}") for n, p in pids.items()}
        total = res.get("total_cpu_s") if cluster else res.get("server_cpu_s")
        res["system_cpu_s"] = total
        res["deliveries_per_system_cpu_s"] = round(res["delivered"] / total) if total and res.get("delivered") else None
        for name, port in ports.items():
            try:
                st = read_stats(port) or {}
            except (OSError, ValueError) as e:
                st = {"error": str(e)}
            res[f"stats_{name}"] = {k: v for k, v in st.items() if k.startswith("cluster_") or k == "error"}
            if st.get("cluster_dropped"):
                res["ok"] = False
                res["error"] = f"server {name} dropped {st['cluster_dropped']} cluster publishes"
        if res.get("ok") and res.get("lost"):
            res["ok"] = False
            res["error"] = f"{res['lost']:.0f} deliveries lost"
        return res
    finally:
        for p in procs.values():
            stop(p)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def spread(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return fmt(vals[0])
    return f"{fmt(statistics.median(vals))} ({fmt(min(vals))}–{fmt(max(vals))})"


def us(v):
    return f"{v / 1e3:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def k(v):
    if v is None:
        return "–"
    return f"{v / 1e6:.2f} M" if v >= 995e3 else f"{v / 1e3:.0f} k"


def markdown(doc):
    runs, cases = doc["runs"], doc["cases"]
    n = doc["reps"]
    sel = lambda c, l: [r for r in runs if r["case"] == c and r["load"] == l and r.get("ok")]
    out = [f"# Cluster benchmark ({doc['date']})", "",
           f"{n} repetition(s), cases interleaved in each; {doc['secs']:g} s measured per run after 1 s warm-up; "
           f"32 B binary messages to /broadcast (topic \"broadcast\"); servers ({doc.get('workers', '1')} loop(s) each) on core 0, "
           f"redis-server on core {doc.get('redis_core', '0')}, "
           f"generator on core 1, {'SCHED_RR 50' if doc['rt'] else 'normal priority'}. "
           f"Figures: median of the repetitions (min–max). Load average at start: "
           f"{', '.join(f'{x:.2f}' for x in doc['machine']['load_avg_at_start'])}.", ""]
    for reason in sorted(set(doc["skipped"].values())):
        out += [f"Skipped ({', '.join(c for c, r in doc['skipped'].items() if r == reason)}): {reason}", ""]
    ran = doc.get("loads_run", list(LOADS))
    for load in ("latency", "latency-low"):
        if load in ran:
            out += latency_table(doc, load, cases, sel)
    if "throughput" in ran:
        out += throughput_table(doc, cases, sel)
    failed = [r for r in runs if not r.get("ok")]
    out += ["", f"Runs: {len(runs)}, failed: {len(failed)}."]
    for r in failed:
        out.append(f"- FAILED rep {r['rep']} {r['case']} {r['load']}: {r.get('error')}")
    out += ["", "Build: " + doc["build"]["wsrt"] + (" (uncommitted in core/ffi: " + ", ".join(doc["build"]["uncommitted_core_ffi"]) + ")"
                                                   if doc["build"]["uncommitted_core_ffi"] else "") + "; " + doc["build"]["example"] + "; " + doc["build"]["redis"]]
    return "\n".join(out) + "\n"


def latency_table(doc, load, cases, sel):
    subs, rate = doc["loads"][load]
    out = [f"## Latency: {subs} subscribers, {rate:,} publishes/s", "",
           "| case | delivery p50 | p99 | p99.9 | max | added p99 vs single (per rep) | ≤ 1 ms | "
           "system CPU (A + B + redis) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    single = {r["rep"]: r for r in sel("single", load)}
    for c in cases:
        rs = sel(c, load)
        q = lambda key: spread([r.get(f"delivery_us_{key}") for r in rs], us)
        added = [r["delivery_us_p99"] - single[r["rep"]]["delivery_us_p99"] for r in rs if r["rep"] in single] \
            if c != "single" else []
        a = "–" if c == "single" else (f"{med(added):+.0f} µs ({', '.join(f'{v:+.0f}' for v in added)})" if added else "–")
        goal = "" if c == "single" or not added else ("yes" if med(added) <= GOAL_ADDED_P99_US else "**no**")
        util = spread([r["system_cpu_s"] / r["secs"] * 100 for r in rs if r.get("system_cpu_s")], lambda v: f"{v:.0f}%")
        out.append(f"| {c} | {q('p50')} | {q('p99')} | {q('p999')} | {q('max')} | {a} | {goal} | {util} |")
    return out + [""]


def throughput_table(doc, cases, sel):
    subs, rate = doc["loads"]["throughput"]
    out = [f"## Throughput: {subs:,} subscribers, {rate:,} publishes/s", "",
            "| case | deliveries/s | system CPU (A + B + redis) | deliveries / system CPU-s | vs single | "
            "CPU-s: A / B / redis | delivery p50 | p99 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = med([r.get("deliveries_per_system_cpu_s") for r in sel("single", "throughput")])
    for c in cases:
        rs = sel(c, "throughput")
        eff = med([r.get("deliveries_per_system_cpu_s") for r in rs])
        util = spread([r["system_cpu_s"] / r["secs"] * 100 for r in rs if r.get("system_cpu_s")], lambda v: f"{v:.0f}%")
        parts = " / ".join(f"{med([r['cpu_s'].get(p) for r in rs]):.2f}" if any(r["cpu_s"].get(p) is not None for r in rs)
                           else "–" for p in ("A", "B", "redis"))
        out.append(f"| {c} | {spread([r.get('msgs_per_s') for r in rs], k)} | {util} | "
                   f"{spread([r.get('deliveries_per_system_cpu_s') for r in rs], k)} | "
                   f"{f'{eff / base:.2f}×' if eff and base else '–'} | {parts} | "
                   f"{spread([r.get('delivery_us_p50') for r in rs], us)} | {spread([r.get('delivery_us_p99') for r in rs], us)} |")
    return out


def main():
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not shutil.which("redis-server"):
        print("bench-cluster: no redis-server", file=sys.stderr)
        return 1
    argv, env0, how = snapshot()
    rt = run.rt_allowed()
    logdir = os.path.join(run.CACHE, "logs")
    os.makedirs(logdir, exist_ok=True)
    want = [c for c in os.environ.get("BENCH_CLUSTER_CASES", "").split(",") if c] or list(CASES)
    loads = [l for l in os.environ.get("BENCH_CLUSTER_LOADS", "").split(",") if l] or list(LOADS)
    skipped = {}
    if any(not CASES[c][2] for c in want):
        why = history_zero_refused(argv, env0)
        if why:
            for c in [c for c in want if not CASES[c][2]]:
                skipped[c] = why
            print(f"bench-cluster: {', '.join(skipped)} skipped: {why}", file=sys.stderr)
    cases = [c for c in want if c not in skipped]
    doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": run.machine(), "rt": rt,
           "rt_policy": "SCHED_RR" if rt else None, "secs": SECS, "reps": REPS, "build": dict(build_info(), example=how),
           "cases": cases, "titles": {c: CASES[c][3] for c in cases}, "loads": LOADS, "loads_run": loads,
           "redis_core": REDIS_CORE, "workers": os.environ.get("WORKERS", "1"), "skipped": skipped,
           "runs": []}
    print(f"bench-cluster: {', '.join(cases)}; {REPS} rep(s) of {SECS:g} s; real-time priority: {'yes' if rt else 'no'}",
          file=sys.stderr)
    for rep in range(REPS):
        for load in loads:
            for case in cases:
                res = one(case, load, argv, env0, rt, logdir, rep)
                res.update(case=case, load=load, rep=rep)
                doc["runs"].append(res)
                if not res.get("ok"):
                    print(f"bench-cluster: FAILED rep {rep} {case} {load}: {res.get('error')}", file=sys.stderr)
    md = markdown(doc)
    print(md)
    if TAG:
        stem = os.path.join(run.RESULTS, datetime.date.today().isoformat() + f"-{TAG}")
        with open(stem + ".json", "w") as f:
            json.dump(doc, f, indent=1)
        with open(stem + ".md", "w") as f:
            f.write(md)
        print(f"bench-cluster: wrote {stem}.json/.md", file=sys.stderr)
    return 1 if any(not r.get("ok") for r in doc["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
