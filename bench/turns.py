#!/usr/bin/env python3
"""Tail latency and what the server does per loop turn (issue 16: "p99
round trip at 10,000 msgs/s <= uWebSockets.js's in every front; find what
delays the few slow replies"; `make bench-turns`).

    bench/turns.py [NAME=COMMAND ...] [--rounds 3] [--secs 5] [--out FILE.json]

Builds, when none are named (the commands of bench/ab.py's docstring):
wsrt-c=build/examples/echo_server, wsrt-python="examples/run python",
wsrt-node="examples/run node", uws="node bench/peers/uws.js". A COMMAND is
started from the checkout's root with $PORT (127.0.0.1 only) and
NODE_PATH set to the peers' packages (.cache/bench, `make bench-setup`).

Each build is started once first, unpinned at normal priority, so that
whatever `examples/run` builds is built before any measured run. Then, each
round, for each build in turn (alternating, as bench/ab.py does), two runs
of `loadgen latency` (100 connections, 10,000 msgs/s of 32 B in all, 1 s
warm-up then --secs measured), each against a fresh server pinned to core
0, the generator pinned to core 1, both SCHED_RR 50 when the machine
allows it (the server is raised once it listens, all its threads, so that
a build by `examples/run` never runs at real-time priority):

  untraced  the latency figures reported (tracing inflates latency);
  traced    the same load while `perf record -e raw_syscalls:sys_enter,
            raw_syscalls:sys_exit -p PID` records the server's system calls
            from 1.5 s after the generator starts for --secs - 2 s. Per
            server thread that made calls: calls per echoed message by
            name, each call's duration, and the busy span: from the exit
            of a wait call (epoll_wait, epoll_pwait, epoll_pwait2, poll,
            ppoll) to the enter of the next one, i.e. the server's own work
            per loop turn, its system calls included. Messages in the
            traced window are the generator's msgs/s times the traced
            seconds. The loop thread is the thread with most wait calls.

Every run pair (one build's untraced and traced runs, the trace's analysis
included) holds an exclusive flock on /tmp/wsrt-bench.lock, which other
benchmarks on this machine take too; it is released between builds. Waiting
for it more than $TURNS_LOCK_WAIT seconds (default 1800), SIGTERM or ^C
stop the runs; what was measured is still reported, marked incomplete.

Output: a markdown report on stdout; with --out, a JSON file with every
figure (the generator's whole result for both runs, every thread's counts
and distributions, the longest busy spans with the calls in them).
Needs perf with tracepoints (root) and target/release/loadgen
(`make bench-loadgen`).
"""
import collections
import contextlib
import fcntl
import heapq
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the runner's helpers: wait_port, stop, rt_allowed, paths)

DEFAULT_BUILDS = [
    ("wsrt-c", "build/examples/echo_server"),
    ("wsrt-python", "examples/run python"),
    ("wsrt-node", "examples/run node"),
    ("uws", "node bench/peers/uws.js"),
]
LOCK = "/tmp/wsrt-bench.lock"
LOCK_WAIT_S = float(os.environ.get("TURNS_LOCK_WAIT", "1800"))
RATE, CONNS, SIZE, WARMUP = 10000, 100, 32, 1
TRACE_DELAY = 1.5
PERF = "/usr/bin/perf" if os.path.exists("/usr/bin/perf") else "perf"
# What the examples read from the environment besides PORT: not inherited.
DROP_ENV = ("DEFLATE", "TLS_CERT", "TLS_KEY", "WORKERS", "REDIS_URL", "SIO_RECOVERY_WINDOW_MS")

# x86_64 system call numbers; others are shown as "NR n".
NR = {0: "read", 1: "write", 3: "close", 7: "poll", 9: "mmap", 10: "mprotect", 11: "munmap",
      12: "brk", 13: "rt_sigaction", 14: "rt_sigprocmask", 15: "rt_sigreturn", 16: "ioctl",
      19: "readv", 20: "writev", 24: "sched_yield", 28: "madvise", 35: "nanosleep", 39: "getpid",
      44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown", 54: "setsockopt",
      62: "kill", 72: "fcntl", 186: "gettid", 202: "futex", 228: "clock_gettime",
      230: "clock_nanosleep", 232: "epoll_wait", 233: "epoll_ctl", 234: "tgkill", 271: "ppoll",
      281: "epoll_pwait", 283: "timerfd_create", 286: "timerfd_settime", 287: "timerfd_gettime",
      288: "accept4", 290: "eventfd2", 291: "epoll_create1", 318: "getrandom", 441: "epoll_pwait2"}
WAITS = {7, 232, 271, 281, 441}
# Where a wait call's timeout is among its arguments (an int; for ppoll and
# epoll_pwait2 a pointer: non-null is counted as "may block").
TIMEOUT_ARG = {7: 2, 232: 3, 281: 3, 271: 2, 441: 3}
WRITES = ("writev", "sendto", "write", "sendmsg")
LINE = re.compile(r"\s*(.*?)\s+(\d+)\s+(\d+)\.(\d+):\s+raw_syscalls:sys_(enter|exit):\s+NR (\d+)\s*(.*)")
LONGEST = 10


def name_of(nr):
    return NR.get(nr, f"NR {nr}")


def pct(values, q):
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(round(q * len(values), 6)) - 1))]


def dist(values):
    """{n, p50, p99, p999, max} of values in ns, given in µs."""
    v = sorted(values)
    if not v:
        return {"n": 0}
    us = lambda x: round(x / 1e3, 2)
    return {"n": len(v), "p50": us(pct(v, .5)), "p99": us(pct(v, .99)), "p999": us(pct(v, .999)), "max": us(v[-1])}


@contextlib.contextmanager
def bench_lock(what):
    """Exclusive flock on LOCK for one run pair (other benchmarks on this
    machine take it too)."""
    f = open(LOCK, "a+")
    try:
        t0, said = time.time(), False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    print(f"turns: waiting for {LOCK} ({what})", file=sys.stderr)
                    said = True
                if time.time() - t0 > LOCK_WAIT_S:
                    raise TimeoutError(f"{LOCK} held for more than {LOCK_WAIT_S} s")
                time.sleep(0.5)
        if said:
            print(f"turns: got {LOCK} after {time.time() - t0:.0f} s", file=sys.stderr)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


class Stopped(Exception):
    pass


def on_term(signum, frame):
    raise Stopped(f"signal {signum}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(port):
    env = dict(os.environ, PORT=str(port), NODE_PATH=run.NODE_PATH)
    for k in DROP_ENV:
        env.pop(k, None)
    return env


def loadgen_cmd(port, pid, secs, rt):
    prio = ["chrt", "-r", "50"] if rt else []
    return prio + ["taskset", "-c", "1", run.LOADGEN, "latency", "--conns", str(CONNS), "--rate", str(RATE),
                   "--size", str(SIZE), "--secs", str(secs), "--warmup", str(WARMUP),
                   "--addr", f"127.0.0.1:{port}", "--server-pid", str(pid)]


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no result from the generator: {text.strip()[-300:]!r}")


def one(name, cmd, secs, rt, logdir, tag, trace):
    """A fresh server and one latency run; with `trace`, perf records the
    server's system calls during it and the result has the analysis."""
    port = free_port()
    log = open(os.path.join(logdir, f"{name}.{tag}.log"), "w")
    proc = subprocess.Popen(["taskset", "-c", "0"] + cmd.split(), cwd=run.ROOT, env=server_env(port),
                            stdout=log, stderr=log)
    try:
        if not run.wait_port(port, proc, 600):
            return {"ok": False, "error": "server did not listen: " + run.last_line(log.name)}
        pid = proc.pid  # taskset and examples/run exec the server
        if rt:
            r = subprocess.run(["chrt", "-a", "-r", "-p", "50", str(pid)], capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                return {"ok": False, "error": f"chrt: {r.stderr.strip()}"}
        time.sleep(0.3)
        lg_cmd = loadgen_cmd(port, pid, secs, rt)
        if not trace:
            r = subprocess.run(lg_cmd, capture_output=True, text=True, timeout=secs + 60)
            sys.stderr.write(r.stderr)
            return last_json(r.stdout)
        data = os.path.join(logdir, f"{name}.{tag}.perf.data")
        traced_s = max(secs - 2, 0.5)
        lg = subprocess.Popen(lg_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(TRACE_DELAY)
            rec = subprocess.run([PERF, "record", "-e", "raw_syscalls:sys_enter,raw_syscalls:sys_exit", "-m", "8M",
                                  "-p", str(pid), "-o", data, "--", "sleep", str(traced_s)],
                                 capture_output=True, text=True, timeout=traced_s + 60)
            out, err = lg.communicate(timeout=secs + 60)
        finally:
            if lg.poll() is None:
                lg.kill()
                lg.wait()
        sys.stderr.write(err)
        res = last_json(out)
        run.stop(proc)
        res["trace"] = analyse(data, res.get("msgs_per_s") or RATE, traced_s, rec)
        with contextlib.suppress(OSError):
            os.remove(data)
        return res
    finally:
        run.stop(proc)
        log.close()


class Thread:
    __slots__ = ("comm", "calls", "durs", "cur", "wait_exit", "block_exit", "span_calls", "span_sys",
                 "busy", "turns", "longest", "waits_zero", "waits_nonblocking", "wait_events", "unmatched")

    def __init__(self, comm):
        self.comm = comm
        self.calls = collections.Counter()
        self.durs = collections.defaultdict(list)
        self.cur = None            # (nr, enter ns, args) of the call in progress
        self.wait_exit = None      # ns of the last wait call's exit
        self.block_exit = None     # ns of the last exit of a wait call that may block
        self.span_calls = collections.Counter()
        self.span_sys = 0
        self.busy = []             # (span ns, ns in system calls, calls in span)
        self.turns = []            # ns from a blocking wait's exit to the next blocking wait's enter
        self.longest = []          # heap of (ns, start ns, ns in calls, {name: calls})
        self.waits_zero = 0        # wait calls that returned 0 (timed out or polled nothing)
        self.waits_nonblocking = 0  # wait calls with timeout 0
        self.wait_events = 0
        self.unmatched = 0


def may_block(nr, args):
    """Whether a wait call's timeout lets it block (from its traced arguments)."""
    try:
        a = args.strip().strip("()").split(",")[TIMEOUT_ARG[nr]].strip()
        return int(a, 16) != 0
    except (IndexError, ValueError, KeyError):
        return True


def analyse(data, msgs_per_s, traced_s, rec):
    """Per-thread figures from a perf.data of raw_syscalls enter/exit."""
    ps = subprocess.run([PERF, "script", "-i", data, "-F", "comm,tid,time,event,trace", "--ns"],
                        capture_output=True, text=True, timeout=300)
    lost = sum(int(n) for n in re.findall(r"lost (\d+) chunks", ps.stderr + rec.stderr))
    threads, t_first, t_last = {}, None, None
    for line in ps.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        comm, tid, t, kind, nr, rest = m[1], int(m[2]), int(m[3]) * 1_000_000_000 + int(m[4].ljust(9, "0")[:9]), m[5], int(m[6]), m[7]
        t_first = t if t_first is None else t_first
        t_last = t
        th = threads.get(tid)
        if th is None:
            th = threads[tid] = Thread(comm)
        if kind == "enter":
            if th.cur is not None:
                th.unmatched += 1
            th.cur = (nr, t, rest)
            if nr in WAITS:
                if th.wait_exit is not None:
                    heapq.heappush(th.longest, (t - th.wait_exit, th.wait_exit, th.span_sys, dict(th.span_calls)))
                    if len(th.longest) > LONGEST:
                        heapq.heappop(th.longest)
                    th.busy.append((t - th.wait_exit, th.span_sys, sum(th.span_calls.values())))
                    th.wait_exit = None
                if th.block_exit is not None and may_block(nr, rest):
                    th.turns.append(t - th.block_exit)
                    th.block_exit = None
            continue
        cur, th.cur = th.cur, None
        if cur is None or cur[0] != nr:
            th.unmatched += 1
            continue
        d = t - cur[1]
        th.calls[nr] += 1
        th.durs[nr].append(d)
        if nr in WAITS:
            ret = int(rest.lstrip("= ").split()[0]) if rest.startswith("=") else 0
            th.waits_zero += ret == 0
            th.wait_events += max(ret, 0)
            blocking = may_block(nr, cur[2])
            th.waits_nonblocking += not blocking
            th.wait_exit = t
            th.span_calls.clear()
            th.span_sys = 0
            if blocking:
                th.block_exit = t
        elif th.wait_exit is not None:
            th.span_calls[name_of(nr)] += 1
            th.span_sys += d
    msgs = msgs_per_s * traced_s
    out = {"traced_s": traced_s, "msgs_in_window": msgs, "msgs_basis": "generator msgs/s x traced seconds",
           "events_span_s": None if t_first is None else round((t_last - t_first) / 1e9, 3),
           "perf_lost_chunks": lost, "perf_stderr": (rec.stderr + ps.stderr)[-2000:], "threads": {}}
    for tid, th in threads.items():
        if not th.calls:
            continue
        waits = sum(n for nr, n in th.calls.items() if nr in WAITS)
        busy = sorted(b[0] for b in th.busy)
        tail = [b for b in th.busy if busy and b[0] >= pct(busy, .999)]
        out["threads"][str(tid)] = {
            "comm": th.comm,
            "calls": {name_of(nr): n for nr, n in th.calls.most_common()},
            "per_msg": {name_of(nr): round(n / msgs, 4) for nr, n in th.calls.most_common()},
            "all_per_msg": round(sum(th.calls.values()) / msgs, 4),
            "durations_us": {name_of(nr): dist(v) for nr, v in sorted(th.durs.items(), key=lambda x: -len(x[1]))},
            "waits": waits,
            "waits_per_msg": round(waits / msgs, 4),
            "waits_returning_0": th.waits_zero,
            "waits_with_timeout_0": th.waits_nonblocking,
            "events_per_wait": round(th.wait_events / waits, 3) if waits else None,
            "busy_us": dist(busy),
            "busy_over_us": {str(lim): sum(1 for b in busy if b > lim * 1000) for lim in (100, 250, 500, 1000)},
            "turn_between_blocking_waits_us": dist(th.turns),
            "tail_spans": {"n": len(tail),
                           "mean_us": round(statistics.mean(b[0] for b in tail) / 1e3, 1) if tail else None,
                           "mean_in_calls_us": round(statistics.mean(b[1] for b in tail) / 1e3, 1) if tail else None,
                           "mean_calls": round(statistics.mean(b[2] for b in tail), 1) if tail else None},
            "longest_spans": [{"us": round(d / 1e3, 1), "at_s": round((s - t_first) / 1e9, 4),
                               "in_calls_us": round(sc / 1e3, 1), "calls": c}
                              for d, s, sc, c in sorted(th.longest, reverse=True)],
            "unmatched_events": th.unmatched,
        }
    loops = sorted(out["threads"].items(), key=lambda kv: -kv[1]["waits"])
    out["loop_tid"] = loops[0][0] if loops and loops[0][1]["waits"] else None
    return out


def prepare(builds, logdir):
    """Starts each build once, unpinned at normal priority (what
    `examples/run` builds is built here); under the lock, since a build
    would disturb someone else's run."""
    ok = {}
    for name, cmd in builds:
        with bench_lock(f"prepare {name}"):
            started, _ = run.prepare(name, cmd.split(), free_port(), logdir, env={"NODE_PATH": run.NODE_PATH})
        ok[name] = started
        if not started:
            print(f"turns: {name} did not start ({run.last_line(os.path.join(logdir, name + '.prepare.log'))})",
                  file=sys.stderr)
    return ok


def main():
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__)
        return 0
    opts = {"--rounds": "3", "--secs": "5", "--out": None}
    builds, i = [], 0
    while i < len(args):
        if args[i] in opts and i + 1 < len(args):
            opts[args[i]] = args[i + 1]
            i += 2
        elif "=" in args[i] and not args[i].startswith("--"):
            builds.append(tuple(args[i].split("=", 1)))
            i += 1
        else:
            print(f"turns: unknown argument {args[i]!r}\n{__doc__}", file=sys.stderr)
            return 2
    builds = builds or DEFAULT_BUILDS
    rounds, secs, outp = int(opts["--rounds"]), float(opts["--secs"]), opts["--out"]
    if secs < 2.5:
        print("turns: --secs must be at least 2.5 (the trace lasts --secs - 2 s)", file=sys.stderr)
        return 2
    for need in (run.LOADGEN, PERF):
        if not shutil.which(need) and not os.path.exists(need):
            print(f"turns: {need} missing", file=sys.stderr)
            return 2
    rt = run.rt_allowed()
    logdir = tempfile.mkdtemp(prefix="wsrt-turns-")
    print(f"turns: server logs in {logdir}", file=sys.stderr)
    started, runs, incomplete = {}, [], None
    signal.signal(signal.SIGTERM, on_term)
    try:
        started = prepare(builds, logdir)
        for rnd in range(rounds):
            for name, cmd in builds:
                if not started[name]:
                    continue
                with bench_lock(f"{name} round {rnd}"):
                    for traced in (False, True):
                        try:
                            res = one(name, cmd, secs, rt, logdir, f"r{rnd}{'t' if traced else 'u'}", traced)
                        except (subprocess.TimeoutExpired, ValueError, OSError) as e:
                            res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                        res.update(build=name, round=rnd, traced=traced)
                        runs.append(res)
                        print(f"turns: round {rnd} {name} {'traced' if traced else 'untraced'}: p50 {res.get('rtt_us_p50')} "
                              f"p99 {res.get('rtt_us_p99')} p99.9 {res.get('rtt_us_p999')} max {res.get('rtt_us_max')} µs"
                              + (f" error {res['error']}" if res.get("error") else ""), file=sys.stderr)
    except (Stopped, KeyboardInterrupt, TimeoutError) as e:
        # What was measured is still written, marked incomplete.
        incomplete = f"{type(e).__name__}: {e}"
        print(f"turns: stopped ({incomplete}); writing what was measured", file=sys.stderr)
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": run.machine(), "rt": rt,
           "rt_policy": "SCHED_RR 50" if rt else None, "secs": secs, "rounds": rounds,
           "load": {"conns": CONNS, "rate": RATE, "size": SIZE, "warmup": WARMUP},
           "trace": {"delay_s": TRACE_DELAY, "secs": max(secs - 2, 0.5),
                     "events": "raw_syscalls:sys_enter,raw_syscalls:sys_exit",
                     "wait_calls": sorted(name_of(n) for n in WAITS)},
           "builds": dict(builds), "not_started": [n for n, ok in started.items() if not ok],
           "incomplete": incomplete, "runs": runs}
    if outp:
        with open(outp, "w") as f:
            json.dump(doc, f, indent=1)
    print(report(doc))
    return 1 if incomplete else 0


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def f0(v):
    return "–" if v is None else f"{v:.0f}"


def fmt(v):
    if v is None:
        return "–"
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}" if v >= 1 else f"{v:.2g}"


def report(doc):
    secs, rounds = doc["secs"], doc["rounds"]
    lines = [f"# Tail latency and loop turns ({doc['date'][:10]})", "",
             f"`bench/turns.py --rounds {rounds} --secs {secs:g}`: `loadgen latency`, {CONNS} connections, "
             f"{RATE:,} msgs/s of {SIZE} B in all, {WARMUP} s warm-up then {secs:g} s; server on core 0, generator "
             f"on core 1, {doc['rt_policy'] or 'normal priority'}; {doc['machine']['cpu']}, "
             f"{doc['machine']['cores']} cores, Linux {doc['machine']['kernel']}.", ""]
    if doc.get("incomplete"):
        lines += [f"**Incomplete** ({doc['incomplete']}): only the runs below were made.", ""]
    if doc["not_started"]:
        lines += [f"Did not start: {', '.join(doc['not_started'])}.", ""]
    lines += ["## 1. Round trip, untraced runs (µs)", "",
              "| build | round | p50 | p90 | p99 | p99.9 | max | server CPU |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    keys = ("rtt_us_p50", "rtt_us_p90", "rtt_us_p99", "rtt_us_p999", "rtt_us_max")
    medians = {}
    for name in doc["builds"]:
        rs = [r for r in doc["runs"] if r["build"] == name and not r["traced"]]
        for r in rs:
            if r.get("rtt_us_p99") is None:
                lines.append(f"| {name} | {r['round']} | {r.get('error', 'no result')} | | | | | |")
                continue
            cpu = r.get("server_cpu_util")
            lines.append(f"| {name} | {r['round']} | " + " | ".join(f0(r[k]) for k in keys)
                         + f" | {'–' if cpu is None else f'{cpu * 100:.0f} %'} |")
        m = {k: med([r.get(k) for r in rs]) for k in keys + ("server_cpu_util",)}
        medians[name] = m
        cpu = m["server_cpu_util"]
        lines.append(f"| **{name}** | **median** | " + " | ".join(f"**{f0(m[k])}**" for k in keys)
                     + f" | {'–' if cpu is None else f'{cpu * 100:.0f} %'} |")
    ref = "uws" if "uws" in medians and medians["uws"]["rtt_us_p99"] is not None else None
    if ref:
        ups = medians[ref]["rtt_us_p99"]
        cmp = []
        for name, m in medians.items():
            if name == ref or m["rtt_us_p99"] is None:
                continue
            cmp.append(f"{name} {m['rtt_us_p99']:.0f} ({'≤' if m['rtt_us_p99'] <= ups else '>'} {ups:.0f})")
        lines += ["", f"Median p99 against {ref}'s (the goal: ≤): " + ", ".join(cmp) + "."]

    lines += ["", f"## 2. Per loop turn, traced runs (median over rounds; {max(secs - 2, 0.5):g} s traced from "
              f"{TRACE_DELAY:g} s after the generator starts)", "",
              "Busy span: from the exit of a wait call to the enter of the next one, on the loop thread (the "
              "thread with most wait calls). Calls per message: per echoed message (generator msgs/s × traced "
              "seconds), loop thread; other threads' calls summed. Write calls: duration p50 / p99 µs.", "",
              "| build | loop thread | busy p50 µs | p99 | p99.9 | max | calls / msg, loop thread | other threads / msg "
              "| write calls p50 / p99 µs | traced p99 / p99.9 µs |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    tails = []
    for name in doc["builds"]:
        rs = [r for r in doc["runs"] if r["build"] == name and r["traced"] and r.get("trace", {}).get("loop_tid")]
        if not rs:
            lines.append(f"| {name} | no trace | | | | | | | | |")
            continue
        loops = [r["trace"]["threads"][r["trace"]["loop_tid"]] for r in rs]
        busy = {k: med([lp["busy_us"].get(k) for lp in loops]) for k in ("p50", "p99", "p999", "max")}
        names = []
        for lp in loops:
            names += [n for n in lp["per_msg"] if n not in names]
        per = [(n, med([lp["per_msg"].get(n, 0) for lp in loops])) for n in names]
        per = [(n, v) for n, v in per if v >= 0.005]
        others = med([sum(t["all_per_msg"] for tid, t in r["trace"]["threads"].items() if tid != r["trace"]["loop_tid"])
                      for r in rs])
        writes = []
        for w in WRITES:
            ds = [lp["durations_us"][w] for lp in loops if w in lp["durations_us"]]
            if ds and med([lp["per_msg"].get(w, 0) for lp in loops]) >= 0.01:
                writes.append(f"{w} {fmt(med([d['p50'] for d in ds]))} / {fmt(med([d['p99'] for d in ds]))}")
        lost = sum(r["trace"]["perf_lost_chunks"] for r in rs)
        comm = loops[0]["comm"]
        lines.append(f"| {name} | {comm}{' (perf lost ' + str(lost) + ' chunks)' if lost else ''} | "
                     + " | ".join(fmt(busy[k]) for k in ("p50", "p99", "p999", "max")) + " | "
                     + ", ".join(f"{n} {v:.2f}" for n, v in per) + f" | {'–' if others is None else f'{others:.3f}'} | "
                     + ("; ".join(writes) or "–") + f" | {f0(med([r.get('rtt_us_p99') for r in rs]))} / "
                     f"{f0(med([r.get('rtt_us_p999') for r in rs]))} |")
        waits = med([lp["waits_per_msg"] for lp in loops])
        nonblock = med([lp["waits_with_timeout_0"] / lp["waits"] for lp in loops if lp["waits"]])
        zero = med([lp["waits_returning_0"] / lp["waits"] for lp in loops if lp["waits"]])
        epw = med([lp["events_per_wait"] for lp in loops])
        turn = {k: med([lp["turn_between_blocking_waits_us"].get(k) for lp in loops]) for k in ("p50", "p99", "p999", "max")}
        ts = [lp["tail_spans"] for lp in loops if lp["tail_spans"]["n"]]
        top = collections.Counter()
        for lp in loops:
            for sp in lp["longest_spans"][:5]:
                top.update(sp["calls"])
        tails.append(f"| {name} | {fmt(waits)} | {'–' if nonblock is None else f'{nonblock * 100:.0f} %'} | "
                     f"{'–' if zero is None else f'{zero * 100:.0f} %'} | {fmt(epw)} | "
                     + " / ".join(fmt(turn[k]) for k in ("p50", "p99", "p999", "max")) + " | "
                     f"{fmt(med([t['mean_us'] for t in ts]))} | {fmt(med([t['mean_in_calls_us'] for t in ts]))} | "
                     f"{fmt(med([t['mean_calls'] for t in ts]))} | "
                     + (", ".join(f"{n} {c / (5 * len(loops)):.1f}" for n, c in top.most_common(4)) or "–") + " |")
    lines += ["", "## 3. Wait calls and the slowest turns, loop thread (median over rounds)", "",
              "Turn: from the exit of a wait call that may block to the enter of the next such call (wait calls "
              "with timeout 0 inside it). Slowest spans: busy spans at or above the run's p99.9; the longest 5 "
              "per run give the calls made in them.", "",
              "| build | wait calls / msg | with timeout 0 | returning 0 | events / wait | turn p50 / p99 / p99.9 / max µs "
              "| spans ≥ p99.9: mean µs | of it in calls µs | calls per span | calls per longest-5 span |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + tails
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
