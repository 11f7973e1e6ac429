#!/usr/bin/env python3
"""Side-by-side comparison of builds (before/after a change), alternating
A, B, A, B... so drift of the machine hits both alike.

    bench/ab.py NAME_A="COMMAND" NAME_B="COMMAND" [--rounds 3] [--secs 3]
                [--scenarios echo_large,echo_small,broadcast,idle]
                [--mallocs] [--out results.json]

A COMMAND is a server binary or a command line (e.g. the C example's
binary, or "/path/to/checkout/examples/run python"), started with $PORT.
Socket.IO scenarios (sio_ack, sio_room, sio_idle: the runner's, see
bench/run.py) compare a front with a peer the same way, e.g.
    bench/ab.py wsrt-c=build/examples/echo_server \
        socketio-node="node bench/peers/socketio.js" \
        --scenarios sio_ack,sio_room,sio_idle
(NODE_PATH is set to the peers' packages in .cache/bench). For them the
table's msgs/s columns are acks/s and room deliveries/s.
Each round runs, for each build, a fresh server pinned to core 0 and the
load generator pinned to core 1 (SCHED_RR priority 50 when allowed): the
64 KiB echo (8 conns x 4 in flight), the 32 B echo (64 x 16), a broadcast
to 1,000 subscribers at 2,000 msgs/s (/broadcast) and 10,000 idle
connections (bytes of server RSS per connection), 1 s warm-up then --secs
measured. The generator reports msgs/s, msgs per server
CPU-second and the server's page faults per message (/proc counters over
the measured window). With --mallocs, one extra unmeasured run per build
and scenario counts libc malloc calls per message with a perf uprobe
(`perf probe -x libc.so.6 malloc` must exist: the script adds it if
missing and removes what it added).

Build the old commit in a worktree first, e.g.
    git worktree add --detach .cache/wt-before 032b163 && make -C .cache/wt-before examples
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: wait_port, stop, rt_allowed)

SCEN = {
    "echo_large": ["echo", "--conns", "8", "--inflight", "4", "--size", "65536"],
    "echo_small": ["echo", "--conns", "64", "--inflight", "16", "--size", "32"],
    "echo_huge": ["echo", "--conns", "4", "--inflight", "2", "--size", "1048576"],
    "broadcast": ["broadcast", "--conns", "1000", "--rate", "2000", "--size", "32"],
    "idle": ["idle", "--conns", "10000"],
    "latency": ["latency", "--conns", "100", "--rate", "10000", "--size", "32"],
    "sio_ack": ["sio-ack", "--conns", "64", "--inflight", "16", "--size", "32"],
    "sio_room": ["sio-room", "--conns", "1000", "--publishers", "1", "--window", "8", "--size", "32"],
    "sio_idle": ["sio-idle", "--conns", "10000"],
}
# What each scenario counts: the rate and its per-server-CPU-second figure.
RATE = {"sio_ack": ("acks_per_s", "acks_per_server_cpu_s"),
        "sio_room": ("deliveries_per_s", "deliveries_per_server_cpu_s")}
MEMORY = ("idle", "sio_idle")
LATENCY = ("latency",)
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def one(binary, scen, port, rt, secs, malloc=False):
    prio = ["chrt", "-r", "50"] if rt and not malloc else []
    env = dict(os.environ, PORT=str(port), NODE_PATH=run.NODE_PATH)
    env.pop("DEFLATE", None)
    proc = subprocess.Popen(prio + ["taskset", "-c", "0"] + binary.split(), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not run.wait_port(port, proc, 30):
            return {"ok": False, "error": "server did not listen"}
        time.sleep(0.3)
        cmd = prio + ["taskset", "-c", "1", run.LOADGEN] + SCEN[scen] + [
            "--secs", str(secs if scen not in MEMORY else 2), "--warmup", "1", "--addr", f"127.0.0.1:{port}", "--server-pid", str(proc.pid)]
        perf = None
        if malloc:
            lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(1.2)
            perf = subprocess.run(["perf", "stat", "-x", ",", "-e", "probe_libc:malloc", "-p", str(proc.pid),
                                   "--", "sleep", str(max(secs - 0.5, 0.5))], capture_output=True, text=True)
            out, err = lg.communicate(timeout=60)
        else:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            out, err = r.stdout, r.stderr
        sys.stderr.write(err)
        res = json.loads(out.strip().splitlines()[-1])
        if perf is not None:
            count = next((int(l.split(",")[0]) for l in perf.stderr.splitlines()
                          if "probe_libc:malloc" in l and l.split(",")[0].isdigit()), None)
            dur = max(secs - 0.5, 0.5)
            res["mallocs_per_s"] = None if count is None else count / dur
            res["mallocs_per_msg"] = None if count is None or not res.get("msgs_per_s") else count / dur / res["msgs_per_s"]
        return res
    finally:
        run.stop(proc)


def main():
    args = sys.argv[1:]
    builds = [a.split("=", 1) for a in args if "=" in a and not a.startswith("--")]
    opt = lambda k, d: args[args.index(k) + 1] if k in args else d
    rounds, secs, outp = int(opt("--rounds", "3")), float(opt("--secs", "3")), opt("--out", None)
    scens = opt("--scenarios", ",".join(SCEN)).split(",")
    rt = run.rt_allowed()
    runs, port = [], 9500
    for rnd in range(rounds):
        for name, binary in builds:
            for scen in scens:
                port += 1
                res = one(binary, scen, port, rt, secs)
                res.update(build=name, scenario=scen, round=rnd)
                runs.append(res)
                rk, ck = RATE.get(scen, ("msgs_per_s", "msgs_per_server_cpu_s"))
                print(f"ab: round {rnd} {name} {scen}: {res.get(rk)} /s, "
                      f"{res.get(ck)} /CPU-s, {res.get('page_faults_per_msg')} faults/msg, "
                      f"{res.get('bytes_per_conn')} B/conn", file=sys.stderr)
    mallocs = []
    if "--mallocs" in args:
        have = "probe_libc:malloc" in subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True).stdout
        if not have:
            subprocess.run(["perf", "probe", "-q", "-x", LIBC, "malloc"], capture_output=True)
        try:
            for name, binary in builds:
                for scen in [s for s in scens if s.startswith("echo")]:
                    port += 1
                    res = one(binary, scen, port, rt, secs, malloc=True)
                    res.update(build=name, scenario=scen)
                    mallocs.append(res)
                    print(f"ab: mallocs {name} {scen}: {res.get('mallocs_per_msg')} per message "
                          f"(at {res.get('msgs_per_s')} msgs/s under the probe)", file=sys.stderr)
        finally:
            if not have:
                subprocess.run(["perf", "probe", "-q", "-d", "probe_libc:malloc"], capture_output=True)
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": run.machine(), "rt": rt,
           "rt_policy": "SCHED_RR" if rt else None, "secs": secs, "builds": dict(builds),
           "scenarios": scens, "runs": runs, "malloc_runs": mallocs}
    if outp:
        with open(outp, "w") as f:
            json.dump(doc, f, indent=1)
    print(table(doc))


def table(doc):
    out = ["| scenario | build | msgs/s (each round) | median msgs/s | msgs / CPU-s (each round) | median / CPU-s | "
           "page faults / msg (each round) | mallocs / msg |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lat = ["", "| latency 100 conns, 10k msgs/s | build | p50 µs | p99 µs (each round) | median p99 | p99.9 µs (each round) | max µs (each round) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    mem = ["", "| idle 10,000 conns | build | server RSS per connection (each round) | median | "
           "of it anonymous memory (each round; without code paged in from files) | median |",
           "| --- | --- | --- | --- | --- | --- |"]
    for scen in doc.get("scenarios", list(SCEN)):
        if scen in LATENCY:
            for name in doc["builds"]:
                rs = [r for r in doc["runs"] if r["build"] == name and r["scenario"] == scen and r.get("rtt_us_p99") is not None]
                each = lambda q: ", ".join(f"{r[q]:.0f}" for r in rs) or "–"
                p99 = [r["rtt_us_p99"] for r in rs]
                lat.append(f"| {scen} | {name} | {each('rtt_us_p50')} | {each('rtt_us_p99')} | "
                           f"{f'{statistics.median(p99):.0f}' if p99 else '–'} | {each('rtt_us_p999')} | {each('rtt_us_max')} |")
            continue
        if scen in MEMORY:
            for name in doc["builds"]:
                rs = [r for r in doc["runs"] if r["build"] == name and r["scenario"] == scen]
                cols = []
                for key in ("bytes_per_conn", "anon_bytes_per_conn"):
                    b = [r[key] for r in rs if r.get(key) is not None]
                    cols.append(f"{', '.join(f'{v:.0f} B' for v in b) or '–'} | "
                                f"{f'{statistics.median(b):.0f} B' if b else '–'}")
                mem.append(f"| {scen} | {name} | {' | '.join(cols)} |")
            continue
        for name in doc["builds"]:
            rk, ck = RATE.get(scen, ("msgs_per_s", "msgs_per_server_cpu_s"))
            rs = [r for r in doc["runs"] if r["build"] == name and r["scenario"] == scen and r.get("ok")]
            rate = [r[rk] for r in rs]
            cpu = [r[ck] for r in rs if r.get(ck)]
            pf = [r["page_faults_per_msg"] for r in rs if r.get("page_faults_per_msg") is not None]
            ml = [r["mallocs_per_msg"] for r in doc["malloc_runs"]
                  if r["build"] == name and r["scenario"] == scen and r.get("mallocs_per_msg") is not None]
            k = lambda v: f"{v / 1e3:.1f} k" if v < 1e6 else f"{v / 1e6:.2f} M"
            out.append(f"| {scen} | {name} | {', '.join(k(v) for v in rate)} | {k(statistics.median(rate)) if rate else '–'} | "
                       f"{', '.join(k(v) for v in cpu)} | {k(statistics.median(cpu)) if cpu else '–'} | "
                       f"{', '.join(f'{v:.3g}' for v in pf) or '–'} | {f'{ml[0]:.3f}' if ml else '–'} |")
    return "\n".join(out + (lat if len(lat) > 3 else []) + (mem if len(mem) > 3 else []))


if __name__ == "__main__":
    sys.exit(main())
