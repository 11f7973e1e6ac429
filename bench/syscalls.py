#!/usr/bin/env python3
"""System calls per broadcast delivery, ours beside uWebSockets.js
(issue 16: "report syscalls per delivery beside uWebSockets.js's";
`make bench-syscalls`).

Each server (the three fronts' examples and bench/peers/uws.js) starts on
a free port pinned to core 0; `loadgen broadcast` (core 1) subscribes
SUBS clients to /broadcast and publishes RATE messages/s of SIZE bytes,
every delivery verified. After a warm-up, `perf stat` counts the server's
system calls (the raw_syscalls tracepoint, and the write/read/epoll
families one by one) for WINDOW seconds; deliveries in that window are the
generator's deliveries/s times the window. The server's user and system
CPU time over the same window (/proc) is given per delivery too: at a
fixed rate a server with CPU to spare writes more often (fewer messages per
write), so its total CPU per delivery says little; its user-space time per
delivery is what its own code costs. A figure, not a check.

Environment: SYSCALLS_SUBS (default 1000), SYSCALLS_RATE (1000),
SYSCALLS_SIZES (comma list, default 32,1024), SYSCALLS_WINDOW (3),
SYSCALLS_SERVERS (comma list of wsrt-c, wsrt-python, wsrt-node, uws).
Needs perf with tracepoints (root) and the peers of `make bench-setup`
for uws.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (wait_port, stop, free ports, paths)

SUBS = int(os.environ.get("SYSCALLS_SUBS", "1000"))
RATE = int(os.environ.get("SYSCALLS_RATE", "1000"))
SIZES = [int(s) for s in os.environ.get("SYSCALLS_SIZES", "32,1024").split(",") if s]
WINDOW = float(os.environ.get("SYSCALLS_WINDOW", "3"))
WARMUP = 1.5
FAMILIES = {
    "write": ["write", "writev", "sendto", "sendmsg"],
    "read": ["read", "readv", "recvfrom", "recvmsg"],
    "poll": ["epoll_wait", "epoll_pwait", "epoll_pwait2"],
}
SERVERS = {
    "wsrt-c": ([os.path.join(run.ROOT, "examples", "run"), "c"], {}),
    "wsrt-python": ([os.path.join(run.ROOT, "examples", "run"), "python"], {}),
    "wsrt-node": ([os.path.join(run.ROOT, "examples", "run"), "node"], {}),
    "uws": (["node", os.path.join(run.PEERS, "uws.js")], {"NODE_PATH": run.NODE_PATH}),
}


def perf_count(pid, secs):
    """{event: count} of the process's system calls over `secs`."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for f in FAMILIES.values() for c in f]
    out = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(events), "-p", str(pid), "--", "sleep", str(secs)],
                         capture_output=True, text=True).stderr
    counts = {}
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].isdigit():
            counts[parts[2]] = int(parts[0])
    return counts


def one(name, size, logdir):
    argv, extra = SERVERS[name]
    port = run.free_port() if hasattr(run, "free_port") else free_port()
    env = dict(os.environ, PORT=str(port), **extra)
    log = open(os.path.join(logdir, f"syscalls-{name}.log"), "w")
    server = subprocess.Popen(["taskset", "-c", "0", *argv], env=env, stdout=log, stderr=log)
    try:
        if not run.wait_port(port, server, 60):
            return {"error": "did not listen"}
        pid = server_pid(server.pid, argv)
        gen = subprocess.Popen(["taskset", "-c", "1", run.LOADGEN, "broadcast", "--addr", f"127.0.0.1:{port}",
                                "--conns", str(SUBS), "--rate", str(RATE), "--size", str(size),
                                "--secs", str(WINDOW + 1.5), "--warmup", str(WARMUP)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(WARMUP + 0.5)
        cpu0 = cpu_times(pid)
        counts = perf_count(pid, WINDOW)
        cpu1 = cpu_times(pid)
        text = gen.communicate(timeout=120)[0]
        m = re.search(r"(\d+) deliveries/s, (\d+) lost", text)
        if gen.returncode != 0 or not m or m.group(2) != "0":
            return {"error": f"generator: {text.strip()[-300:]}"}
        deliveries = int(m.group(1)) * WINDOW
        per = {"all": counts.get("raw_syscalls:sys_enter", 0) / deliveries}
        for fam, calls in FAMILIES.items():
            per[fam] = sum(counts.get(f"syscalls:sys_enter_{c}", 0) for c in calls) / deliveries
        per["user_ns"] = (cpu1[0] - cpu0[0]) * 1e9 / deliveries
        per["sys_ns"] = (cpu1[1] - cpu0[1]) * 1e9 / deliveries
        return {"per_delivery": per, "deliveries_per_s": int(m.group(1))}
    finally:
        run.stop(server)
        log.close()


def cpu_times(pid):
    """(user, system) CPU seconds of the process so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


def server_pid(pid, argv):
    """The server process: examples/run execs the example, node runs as
    itself; if a wrapper stayed, its one child."""
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        kids = []
    return int(kids[0]) if len(kids) == 1 and not argv[0].endswith("node") else pid


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    if not shutil.which("perf"):
        print("bench-syscalls: no perf", file=sys.stderr)
        return 1
    want = [s for s in os.environ.get("SYSCALLS_SERVERS", ",".join(SERVERS)).split(",") if s]
    logdir = os.path.join(run.CACHE, "logs")
    os.makedirs(logdir, exist_ok=True)
    print(f"# System calls per broadcast delivery ({time.strftime('%Y-%m-%dT%H:%M:%S')})\n")
    print(f"{SUBS:,} subscribers of /broadcast, {RATE:,} publishes/s, {WINDOW:g} s counted by `perf stat` after "
          f"{WARMUP:g} s; server on core 0, generator on core 1; every delivery verified.\n")
    print("| server | message | all calls / delivery | writes / delivery | reads / delivery | epoll waits / delivery "
          "| user CPU ns / delivery | system CPU ns / delivery |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in SIZES:
        for name in want:
            r = one(name, size, logdir)
            if "error" in r:
                print(f"| {name} | {size} B | {r['error']} | | | | | |")
                continue
            p = r["per_delivery"]
            print(f"| {name} | {size} B | {p['all']:.3f} | {p['write']:.3f} | {p['read']:.3f} | {p['poll']:.4f} "
                  f"| {p['user_ns']:.0f} | {p['sys_ns']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
