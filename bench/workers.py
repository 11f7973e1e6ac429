#!/usr/bin/env python3
"""Several loops in one process (issue 15, `make bench-workers`): the C
example with WORKERS=1 beside WORKERS=2, per server CPU-second.

`workers` > 1 runs that many event loops, each on its own thread with its
own SO_REUSEPORT listener; the application's handlers stay on one thread
(the main one), which gets each loop's batch of events through an eventfd
and hands it back before that loop's next turn. Publishes go through every
loop under one group lock. This measures what that costs and what it buys
on this 2-core machine, where the generator needs a core too.

Servers (the C example, build/examples/echo_server, copied with its
libwsrt.so into .cache/bench/workers-build for the run, as bench/cluster.py
does), all at SCHED_RR 50 when the machine allows it (BENCH_RT=0: not):

  w1-pinned   WORKERS=1 on core 0, generator on core 1 (as bench/run.py)
  w2-pinned   WORKERS=2 on core 0 only, generator on core 1: both loops and
              the application thread share one core; what the hand-off
              costs at equal cores (no parallelism to gain)
  w1-free     WORKERS=1, nothing pinned (server and generator share both cores)
  w2-free     WORKERS=2, nothing pinned: the fair comparison with w1-free

Loads (every echo and delivery verified by the generator):

  echo        100 connections x 16 in flight x 32 B, closed loop: msgs/s
  echo-rate   100 connections, 20,000 msgs/s of 32 B on a fixed schedule
              (loadgen latency): equal load for every server, so server CPU
              per message compares directly; batches of one message or so,
              so this is the hand-off cost per batch (per wake-up)
  bcast       1 publisher -> 1,000 subscribers, 1,000 publishes/s of 32 B
              (1 M deliveries/s, open loop)
  bcast-fast  the same at 2,000 publishes/s (2 M deliveries/s)

Server CPU: /proc/PID/stat utime + stime (all threads), read by the
generator over exactly its measured window (--server-pid); the generator's
own CPU and each core's busy share come from it too. The split between the
application thread (the main thread) and the loop threads (wsrt-loop-N) is
read here from /proc/PID/task/*/stat over most of the measured window
(from 1.5 s after the generator starts, past its connections and warm-up,
to about 0.5 s before its window ends; roughly, for BENCH_SECS under 2).

Each repetition runs every load and server side by side, the order of the
servers reversed in odd repetitions. A server that does not exit within 2 s
of SIGTERM is killed, and the results say so.

Environment: BENCH_SECS (measured seconds per run, default 4),
BENCH_WORKERS_REPS (default 3), BENCH_WORKERS_CASES, BENCH_WORKERS_LOADS
(comma lists), BENCH_WORKERS_FRONTS (comma list of c, python, node; default
c: the Python and Node examples through examples/run, slower to start),
BENCH_WORKERS_TAG (results go to bench/results/<date>-TAG.json/.md,
default "workers"; "" writes nothing), BENCH_WORKERS_WAIT (seconds to wait
for a running soak test to end before measuring, default 900), BENCH_RT=0.
Timing gates nothing: a run fails only when the generator reports a failed
check or a loss.
"""
import atexit
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: wait_port, rt_allowed, machine)
import cluster  # noqa: E402  (free_port)
from cluster import k, med, spread  # noqa: E402  (the report's number formats)

ROOT = run.ROOT
SECS = float(os.environ.get("BENCH_SECS", "4"))
REPS = int(os.environ.get("BENCH_WORKERS_REPS", "3"))
TAG = os.environ.get("BENCH_WORKERS_TAG", "workers")
WAIT_SOAK = float(os.environ.get("BENCH_WORKERS_WAIT", "900"))
EXAMPLE = os.path.join(ROOT, "build", "examples", "echo_server")
LIBDIR = os.path.join(ROOT, "build", "lib")
SNAPSHOT = os.path.join(run.CACHE, "workers-build")
ECHO_RATE = 20_000

# name -> (WORKERS, server cores (None: any), generator cores, title)
CASES = {
    "w1-pinned": (1, "0", "1", "WORKERS=1 on core 0, generator on core 1"),
    "w2-pinned": (2, "0", "1", "WORKERS=2 on core 0 only (2 loops + app thread on one core), generator on core 1"),
    "w1-free": (1, None, None, "WORKERS=1, unpinned (server and generator share both cores)"),
    "w2-free": (2, None, None, "WORKERS=2, unpinned (server and generator share both cores)"),
}
# name -> (loadgen arguments, what is counted, title)
LOADS = {
    "echo": (["echo", "--path", "/echo", "--conns", "100", "--inflight", "16", "--size", "32"],
             "msgs", "echo 100 conns x 16 in flight x 32 B (closed loop)"),
    "echo-rate": (["latency", "--path", "/echo", "--conns", "100", "--rate", str(ECHO_RATE), "--size", "32"],
                  "msgs", f"echo 100 conns at {ECHO_RATE:,} msgs/s, 32 B (fixed rate)"),
    "bcast": (["broadcast", "--conns", "1000", "--rate", "1000", "--size", "32"],
              "deliveries", "broadcast 1 -> 1,000 subscribers at 1,000 publishes/s, 32 B"),
    "bcast-fast": (["broadcast", "--conns", "1000", "--rate", "2000", "--size", "32"],
                   "deliveries", "broadcast 1 -> 1,000 subscribers at 2,000 publishes/s, 32 B"),
}
ONE = {"msgs": "msg", "deliveries": "delivery"}
FRONT_ARGV = {"python": [os.path.join(ROOT, "examples", "run"), "python"],
              "node": [os.path.join(ROOT, "examples", "run"), "node"]}

_procs = []


def cleanup():
    for p in list(_procs):
        stop(p)
    shutil.rmtree(SNAPSHOT, ignore_errors=True)


def on_signal(sig, _frame):
    raise SystemExit(128 + sig)


def stop(p, grace=2.0):
    """SIGTERM, then SIGKILL after `grace` s; True if it exited by itself."""
    clean = True
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            clean = False
            p.kill()
            p.wait()
    if p in _procs:
        _procs.remove(p)
    return clean


def build_info():
    git = lambda *a: subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True).stdout.strip()
    return {"wsrt": git("describe", "--always", "--dirty"),
            "uncommitted_core_ffi": [l.strip() for l in git("status", "--short", "--", "core", "ffi").splitlines()]}


def snapshot():
    """Builds the C example and copies it and its library aside (as
    bench/cluster.py does); returns (argv, env, how it was built)."""
    made = subprocess.run(["make", "-s", "-C", ROOT, "examples"], stdout=sys.stderr).returncode == 0
    if not os.path.exists(EXAMPLE):
        raise SystemExit("bench-workers: no build/examples/echo_server and `make examples` failed")
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(EXAMPLE)).isoformat(timespec="seconds")
    how = f"make examples: {'ok' if made else 'FAILED, the previous build is used'}; echo_server of {stamp}"
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    os.makedirs(SNAPSHOT)
    shutil.copy2(EXAMPLE, SNAPSHOT)
    shutil.copy2(os.path.realpath(os.path.join(LIBDIR, "libwsrt.so.0")), os.path.join(SNAPSHOT, "libwsrt.so.0"))
    return [os.path.join(SNAPSHOT, "echo_server")], {"LD_LIBRARY_PATH": SNAPSHOT}, how


def others_busy():
    """Processes of other work that would disturb the run (a soak test)."""
    out = subprocess.run(["ps", "-eo", "pid=,comm=,pcpu=,args="], capture_output=True, text=True).stdout
    return [l.strip()[:160] for l in out.splitlines() if l.split()[1:2] == ["soak"]]


def wait_for_quiet():
    """Waits (polling every 30 s, up to WAIT_SOAK s) while a soak test
    runs; returns what was seen."""
    t0, seen = time.time(), []
    while True:
        busy = others_busy()
        if not busy:
            return {"waited_s": round(time.time() - t0), "soak_seen": seen}
        seen = busy
        if time.time() - t0 > WAIT_SOAK:
            print(f"bench-workers: a soak test still runs after {WAIT_SOAK:.0f} s; measuring anyway", file=sys.stderr)
            return {"waited_s": round(time.time() - t0), "soak_seen": seen, "soak_running": True}
        print(f"bench-workers: a soak test runs ({busy[0]}); waiting", file=sys.stderr)
        time.sleep(30)


def thread_cpu(pid):
    """tid -> (name, utime + stime in s) of every thread of `pid`."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def split_threads(pid, a, b):
    """CPU seconds of the application (main) thread, the loop threads and
    the rest between samples `a` and `b`."""
    app = loops = rest = 0.0
    for tid, (name, c1) in b.items():
        d = c1 - a.get(tid, (name, 0.0))[1]
        if tid == pid:
            app += d
        elif name.startswith("wsrt-loop"):
            loops += d
        else:
            rest += d
    return {"app": round(app, 3), "loops": round(loops, 3), "other": round(rest, 3)}


def one(front, case, load, argv, env0, rt, logdir, rep):
    workers, score, gcore, _ = CASES[case]
    args, _, _ = LOADS[load]
    prio = ["chrt", "-r", "50"] if rt else []
    port = cluster.free_port()
    env = dict(os.environ, **env0, PORT=str(port), WORKERS=str(workers))
    for k in ("REDIS_URL", "DEFLATE", "TLS_CERT", "TLS_KEY"):
        env.pop(k, None)
    log = open(os.path.join(logdir, f"workers.{front}.{case}.{load}.{rep}.log"), "w")
    spin = prio + (["taskset", "-c", score] if score else [])
    p = subprocess.Popen(spin + argv, env=env, stdout=log, stderr=log, cwd=ROOT)
    _procs.append(p)
    try:
        if not run.wait_port(port, p, 60):
            return {"ok": False, "error": f"server did not listen (see {log.name})"}
        time.sleep(0.3)
        threads = len(os.listdir(f"/proc/{p.pid}/task"))
        gspin = prio + (["taskset", "-c", gcore] if gcore else [])
        cmd = gspin + [run.LOADGEN, *args, "--secs", str(SECS), "--warmup", "1",
                       "--addr", f"127.0.0.1:{port}", "--server-pid", str(p.pid), "--label", f"{front} {case} {load}"]
        t0 = time.time()
        g = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The thread split over most of the measured window.
        time.sleep(1.5 if SECS >= 2 else 1.2)
        a, ta = thread_cpu(p.pid), time.time()
        time.sleep(SECS - 1.0 if SECS >= 2 else max(0.2, SECS - 0.4))
        b, tb = thread_cpu(p.pid), time.time()
        out, err = g.communicate(timeout=SECS + 120)
        sys.stderr.write(err)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"ok": False, "error": f"loadgen exit {g.returncode}: {err.strip()[-300:]}"}
        split = split_threads(p.pid, a, b)
        tot = sum(split.values())
        res["threads"] = threads
        res["thread_cpu_s"] = split
        res["thread_window_s"] = round(tb - ta, 2)
        res["app_share"] = round(split["app"] / tot, 3) if tot > 0 else None
        res["wall_s"] = round(time.time() - t0, 1)
        if res.get("ok") and res.get("lost"):
            res["ok"] = False
            res["error"] = f"{res['lost']:.0f} deliveries lost"
        return res
    finally:
        clean = stop(p)
        log.close()
        if not clean:
            _hung.append(f"{front} {case} {load} rep {rep}")


_hung = []


def pct(v):
    return f"{v * 100:.0f}%"


def summary(doc):
    """Medians per (front, case, load), the ratios, the per-message costs
    and the 16-core projection."""
    s = {}
    for r in doc["runs"]:
        if not r.get("ok"):
            continue
        key = (r["front"], r["case"], r["load"])
        s.setdefault(key, []).append(r)
    m = {}
    for key, rs in s.items():
        cpu_per = [r["server_cpu_s"] / r["msgs"] if r.get("server_cpu_s") and r.get("msgs")
                   else (r["server_cpu_s"] / r["delivered"] if r.get("server_cpu_s") and r.get("delivered") else None)
                   for r in rs]
        m[key] = {"n": len(rs), "rate": med([r.get("msgs_per_s") for r in rs]),
                  "per_cpu_s": med([r.get("msgs_per_server_cpu_s") for r in rs]),
                  "server_util": med([r.get("server_cpu_util") for r in rs]),
                  "gen_util": med([r.get("gen_cpu_util") for r in rs]),
                  "app_share": med([r.get("app_share") for r in rs]),
                  "us_per_msg": med([c * 1e6 for c in cpu_per if c])}
    out = {"medians": {"|".join(key): v for key, v in m.items()}, "ratios": {}, "costs": {}}
    for front in doc["fronts"]:
        for load in doc["loads"]:
            g = lambda c: m.get((front, c, load))
            for num, den in (("w2-free", "w1-free"), ("w2-free", "w1-pinned"), ("w2-pinned", "w1-pinned")):
                a, b = g(num), g(den)
                if a and b and a["rate"] and b["rate"] and a["per_cpu_s"] and b["per_cpu_s"]:
                    out["ratios"][f"{front}|{load}|{num}/{den}"] = {
                        "throughput": round(a["rate"] / b["rate"], 3),
                        "per_cpu_s": round(a["per_cpu_s"] / b["per_cpu_s"], 3)}
            for two, one_ in (("w2-free", "w1-free"), ("w2-pinned", "w1-pinned")):
                a, b = g(two), g(one_)
                if a and b and a["us_per_msg"] and b["us_per_msg"]:
                    out["costs"][f"{front}|{load}|{two}-{one_}"] = {
                        "w1_us": round(b["us_per_msg"], 4), "w2_us": round(a["us_per_msg"], 4),
                        "handoff_us": round(a["us_per_msg"] - b["us_per_msg"], 4),
                        "w2_app_us": round(a["us_per_msg"] * a["app_share"], 4) if a["app_share"] is not None else None,
                        "w2_loops_us": round(a["us_per_msg"] * (1 - a["app_share"]), 4) if a["app_share"] is not None else None}
    # 16 cores: one core for the application thread, 15 for loops; the
    # loops scale until the application thread saturates.
    proj = {}
    for front in doc["fronts"]:
        for load, base in (("echo", "w2-free"), ("echo-rate", "w2-free"), ("bcast-fast", "w2-free")):
            a, one_ = m.get((front, base, load)), m.get((front, "w1-pinned", "echo" if load.startswith("echo") else load))
            if not a or a["app_share"] is None or not a["us_per_msg"] or not one_ or not one_["us_per_msg"]:
                continue
            app, loops = a["us_per_msg"] * a["app_share"], a["us_per_msg"] * (1 - a["app_share"])
            app_cap = 1e6 / app if app > 0 else None
            loop_cap = 15 * 1e6 / loops if loops > 0 else None
            single = 0.95 * 1e6 / one_["us_per_msg"]  # one loop on one core (95% RT cap here)
            proj[f"{front}|{load}"] = {"app_us": round(app, 4), "loops_us": round(loops, 4),
                                       "single_loop_us": round(one_["us_per_msg"], 4),
                                       "app_thread_cap_per_s": round(app_cap) if app_cap else None,
                                       "loops_cap_15_cores_per_s": round(loop_cap) if loop_cap else None,
                                       "projected_16_cores_per_s": round(min(x for x in (app_cap, loop_cap) if x)),
                                       "single_loop_per_s": round(single),
                                       "loops_until_app_saturates": round(app_cap / (1e6 / loops), 1) if app_cap and loops > 0 else None}
    out["projection"] = proj
    return out


def markdown(doc):
    runs, sm = doc["runs"], doc["summary"]
    out = [f"# Several loops: WORKERS=1 vs WORKERS=2 ({doc['date']})", "",
           f"{doc['reps']} repetition(s), every load and server side by side in each (server order reversed in odd "
           f"repetitions); {doc['secs']:g} s measured per run after 1 s warm-up; "
           f"{'SCHED_RR 50' if doc['rt'] else 'normal priority'}; a fresh server for every run. "
           f"Machine: {doc['machine']['cpu']}, {doc['machine']['cores']} cores; load average at start "
           f"{', '.join(f'{x:.2f}' for x in doc['machine']['load_avg_at_start'])}, at end "
           f"{', '.join(f'{x:.2f}' for x in doc['machine'].get('load_avg_at_end', []))} (other work at normal "
           f"priority: real-time priority keeps it off our processes but not off the cores' busy figures); "
           f"soak test seen before the run: {'yes, waited ' + str(doc['quiet']['waited_s']) + ' s' if doc['quiet']['soak_seen'] else 'no'}"
           f"{' (still running: figures disturbed)' if doc['quiet'].get('soak_running') else ''}.",
           "", "Figures: median of the repetitions (min–max). Server CPU: user + system of all its threads "
           "over the measured window. App share: the main (application) thread's part of the server's CPU.", ""]
    for c, (w, sc, gc, title) in CASES.items():
        if c in doc["cases"]:
            out.append(f"- **{c}**: {title}")
    out.append("")
    for front in doc["fronts"]:
        for load in doc["loads"]:
            what = LOADS[load][1]
            out += [f"## {front}: {LOADS[load][2]}", "",
                    f"| server | {what}/s | {what} / server CPU-s | server CPU | generator CPU | app share | µs server CPU / {ONE[what]} |",
                    "| --- | --- | --- | --- | --- | --- | --- |"]
            for case in doc["cases"]:
                rs = [r for r in runs if r["front"] == front and r["case"] == case and r["load"] == load and r.get("ok")]
                if not rs:
                    continue
                mm = sm["medians"].get(f"{front}|{case}|{load}", {})
                out.append(f"| {case} | {spread([r.get('msgs_per_s') for r in rs], k)} | "
                           f"{spread([r.get('msgs_per_server_cpu_s') for r in rs], k)} | "
                           f"{spread([r.get('server_cpu_util') for r in rs], pct)} | "
                           f"{spread([r.get('gen_cpu_util') for r in rs], pct)} | "
                           f"{spread([r.get('app_share') for r in rs], pct) if case.startswith('w2') else '–'} | "
                           f"{mm.get('us_per_msg', 0):.3f} |")
            out.append("")
    out += ["## Ratios, WORKERS=2 / WORKERS=1 (of the medians)", "",
            "| front | load | pair | throughput | per server CPU-s |", "| --- | --- | --- | --- | --- |"]
    for key, v in sm["ratios"].items():
        front, load, pair = key.split("|")
        out.append(f"| {front} | {load} | {pair} | {v['throughput']:.2f}× | {v['per_cpu_s']:.2f}× |")
    out += ["", "## Server CPU per message (µs): the hand-off", "",
            "| front | load | pair | WORKERS=1 | WORKERS=2 | difference | WORKERS=2: app thread | loop threads |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, v in sm["costs"].items():
        front, load, pair = key.split("|")
        out.append(f"| {front} | {load} | {pair} | {v['w1_us']:.3f} | {v['w2_us']:.3f} | {v['handoff_us']:+.3f} | "
                   f"{v['w2_app_us'] if v['w2_app_us'] is None else format(v['w2_app_us'], '.3f')} | "
                   f"{v['w2_loops_us'] if v['w2_loops_us'] is None else format(v['w2_loops_us'], '.3f')} |")
    out += ["", "## 16 cores (projection from w2-free: 1 core for the application thread, 15 for loops)", "",
            "| front | load | app µs/msg | loops µs/msg | app thread cap | 15 loops cap | projected | one loop (w1-pinned) | loops before the app thread saturates |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, v in sm["projection"].items():
        front, load = key.split("|")
        out.append(f"| {front} | {load} | {v['app_us']:.3f} | {v['loops_us']:.3f} | {k(v['app_thread_cap_per_s'])}/s | "
                   f"{k(v['loops_cap_15_cores_per_s'])}/s | {k(v['projected_16_cores_per_s'])}/s | "
                   f"{k(v['single_loop_per_s'])}/s | {v['loops_until_app_saturates']} |")
    failed = [r for r in runs if not r.get("ok")]
    out += ["", f"Runs: {len(runs)}, failed: {len(failed)}."]
    for r in failed:
        out.append(f"- FAILED rep {r['rep']} {r['front']} {r['case']} {r['load']}: {r.get('error')}")
    if doc["hung"]:
        out.append(f"- Did not exit within 2 s of SIGTERM (killed): {len(doc['hung'])} of {len(runs)} runs "
                   f"({', '.join(sorted(set(' '.join(h.split()[:2]) for h in doc['hung'])))})")
    b = doc["build"]
    out += ["", "Build: " + b["wsrt"] + (" (uncommitted in core/ffi: " + ", ".join(b["uncommitted_core_ffi"]) + ")"
                                         if b["uncommitted_core_ffi"] else "") + "; " + b["example"]]
    return "\n".join(out) + "\n"


def main():
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    quiet = wait_for_quiet()
    argv_c, env_c, how = snapshot()
    rt = run.rt_allowed()
    logdir = os.path.join(run.CACHE, "logs")
    os.makedirs(logdir, exist_ok=True)
    cases = [c for c in os.environ.get("BENCH_WORKERS_CASES", "").split(",") if c] or list(CASES)
    loads = [l for l in os.environ.get("BENCH_WORKERS_LOADS", "").split(",") if l] or list(LOADS)
    fronts = [f for f in os.environ.get("BENCH_WORKERS_FRONTS", "c").split(",") if f]
    argvs = {"c": (argv_c, env_c)}
    for fr in fronts:
        if fr != "c":
            # Built once, unpinned and at normal priority (as bench/run.py does).
            ok, _ = run.prepare(f"workers-{fr}", FRONT_ARGV[fr], cluster.free_port(), logdir)
            if not ok:
                print(f"bench-workers: the {fr} example did not start; left out", file=sys.stderr)
                continue
            argvs[fr] = (FRONT_ARGV[fr], {})
    fronts = [f for f in fronts if f in argvs]
    doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": run.machine(), "rt": rt,
           "secs": SECS, "reps": REPS, "build": dict(build_info(), example=how), "quiet": quiet,
           "fronts": fronts, "cases": cases, "loads": loads,
           "titles": {c: CASES[c][3] for c in cases} | {l: LOADS[l][2] for l in loads}, "runs": []}
    print(f"bench-workers: {', '.join(fronts)} x {', '.join(cases)} x {', '.join(loads)}; {REPS} rep(s) of {SECS:g} s; "
          f"real-time priority: {'yes' if rt else 'no'}", file=sys.stderr)
    for rep in range(REPS):
        order = cases if rep % 2 == 0 else cases[::-1]
        for front in fronts:
            for load in loads:
                for case in order:
                    res = one(front, case, load, *argvs[front], rt, logdir, rep)
                    res.update(front=front, case=case, load=load, rep=rep)
                    doc["runs"].append(res)
                    if not res.get("ok"):
                        print(f"bench-workers: FAILED rep {rep} {front} {case} {load}: {res.get('error')}", file=sys.stderr)
    doc["hung"] = list(_hung)
    doc["machine"]["load_avg_at_end"] = os.getloadavg()
    doc["summary"] = summary(doc)
    md = markdown(doc)
    print(md)
    if TAG:
        stem = os.path.join(run.RESULTS, datetime.date.today().isoformat() + f"-{TAG}")
        with open(stem + ".json", "w") as f:
            json.dump(doc, f, indent=1)
        with open(stem + ".md", "w") as f:
            f.write(md)
        print(f"bench-workers: wrote {stem}.json/.md", file=sys.stderr)
    return 1 if any(not r.get("ok") for r in doc["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
