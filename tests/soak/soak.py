#!/usr/bin/env python3
"""The soak (issue 17): the C example under thousands of churning
connections, its memory and descriptors watched.

Starts build/examples/echo_server with a raised descriptor limit, runs the
soak client (tests/soak, `soak`) against it for SOAK_SECS, samples the
server's RSS (/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd)
every second, and checks:

  - the client's checks: no echo, publish or event lost, reordered,
    repeated or altered on a connection that stayed up; every churn
    completed (clean closes answered, half-open WebSockets ended by the
    server's idle timeout); no unexpected close;
  - after warm-up, RSS and descriptors at the end within 5 % of their level
    just after warm-up, and no growth trend: a least-squares line through
    the samples after warm-up rises by less than 5 % of the level over
    that span;
  - once the client is gone, the server's descriptors back to what it had
    before the first connection, and a graceful stop (exit status 0).

Writes samples.csv, summary.json, summary.txt and soak.svg into --out
(default build/soak), and the chart to --svg as well when given (the long
run: docs/soak.svg). Exits 1 when a check fails, saying which.

Environment (each also a flag): SOAK_SECS (60), SOAK_CONNS (10000),
SOAK_CHURN (0.05), SOAK_DEFLATE (per-connection), SOAK_IDLE_TIMEOUT_MS
(10000), SOAK_HISTORY (100), SOAK_PORT (0: a free one). Standard library
only.
"""
import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOLERANCE = 0.05


def env(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--secs", type=float, default=float(env("SOAK_SECS", "60")))
    p.add_argument("--conns", type=int, default=int(env("SOAK_CONNS", "10000")))
    p.add_argument("--churn", type=float, default=float(env("SOAK_CHURN", "0.05")))
    p.add_argument("--deflate", default=env("SOAK_DEFLATE", "per-connection"))
    p.add_argument("--idle-timeout-ms", type=int, default=int(env("SOAK_IDLE_TIMEOUT_MS", "10000")))
    p.add_argument("--history", type=int, default=int(env("SOAK_HISTORY", "100")))
    p.add_argument("--port", type=int, default=int(env("SOAK_PORT", "0")))
    p.add_argument("--tolerance", type=float, default=float(env("SOAK_TOLERANCE", "0.05")),
                   help="how far above the level after warm-up the end and the trend may go (0.05)")
    p.add_argument("--rss-gate", type=lambda v: v not in ("0", "no", "off"), default=None,
                   help="fail on RSS growth too (default: when 5 minutes or more follow the warm-up)")
    p.add_argument("--mmap-threshold", default=env("SOAK_MALLOC_MMAP_THRESHOLD", "65536"),
                   help="the server's MALLOC_MMAP_THRESHOLD_ ('default': glibc's dynamic threshold)")
    p.add_argument("--server", default=os.path.join(ROOT, "build", "examples", "echo_server"))
    p.add_argument("--client", default=os.path.join(ROOT, "target", "ci-test", "soak"))
    p.add_argument("--out", default=os.path.join(ROOT, "build", "soak"))
    p.add_argument("--svg", help="also write the chart here (docs/soak.svg)")
    p.add_argument("client_args", nargs="*", help="more soak client options, after --")
    return p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpu():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def nofile_raiser(want):
    def raise_limit():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return raise_limit


def shim_env(server, out, idle_ms):
    """The preloaded shim (tests/soak/shim.c): the heap's bytes in use every
    second, and the idle timeout when the example does not read
    $IDLE_TIMEOUT_MS itself (otherwise that)."""
    shim = os.path.join(out, "shim.so")
    src = os.path.join(ROOT, "tests", "soak", "shim.c")
    if not os.path.exists(shim) or os.path.getmtime(shim) < os.path.getmtime(src):
        tmp = f"{shim}.{os.getpid()}"
        subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC", src,
                        "-I" + os.path.join(ROOT, "build", "include"), "-o", tmp, "-ldl", "-pthread"], check=True)
        os.replace(tmp, shim)
    mallinfo = os.path.join(out, "mallinfo")
    if os.path.exists(mallinfo):
        os.unlink(mallinfo)
    e = {"LD_PRELOAD": shim, "SOAK_MALLINFO_FILE": mallinfo}
    with open(server, "rb") as f:
        if b"IDLE_TIMEOUT_MS\0" in f.read():
            return {**e, "IDLE_TIMEOUT_MS": str(idle_ms)}, "IDLE_TIMEOUT_MS", mallinfo
    return {**e, "SOAK_IDLE_TIMEOUT_MS": str(idle_ms)}, "shim", mallinfo


def heap_kb(path):
    """(in use, heap size) in kB from the shim's file, or (None, None)."""
    try:
        with open(path) as f:
            used, size = (int(x) for x in f.read().split())
        return used // 1024, size // 1024
    except (OSError, ValueError):
        return None, None


def wait_listening(port, proc, secs=15):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def linear_fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def trend(samples, key, t0, t1):
    """Level just after warm-up, level at the end, and the fitted growth
    over [t0, t1] (all in the key's unit)."""
    window = [s for s in samples if t0 <= s["t"] <= t1]
    if len(window) < 10:
        return None
    # Medians of 10 s at least: the heap moves in steps of a few dozen
    # zlib states (about 350 KiB each with DEFLATE=per-connection).
    span = min(max(10.0, (t1 - t0) * 0.1), (t1 - t0) / 3)
    head = [s[key] for s in window if s["t"] <= t0 + span]
    tail = [s[key] for s in window if s["t"] >= t1 - span]
    slope, _ = linear_fit([s["t"] for s in window], [s[key] for s in window])
    level = median(head)
    return {
        "level": level,
        "end": median(tail),
        "end_change": (median(tail) - level) / level if level else 0.0,
        "slope_per_s": slope,
        "growth": slope * (t1 - t0),
        "growth_rel": slope * (t1 - t0) / level if level else 0.0,
        "min": min(s[key] for s in window),
        "max": max(s[key] for s in window),
    }


def svg_chart(samples, summary, path):
    """RSS and descriptors over time, two panels, hand-written SVG."""
    W, H, left, right, top, gap, ph = 880, 520, 70, 20, 40, 50, 190
    t_max = max(s["t"] for s in samples) or 1
    warm, load_end = summary["warmup_s"], summary["load_end_s"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">wsrt soak: C example, '
           f'{summary["conns"]:,} connections, {summary["churn"] * 100:g} % churned a second, '
           f'{summary["secs"]:g} s</text>']
    mib = lambda v: None if v is None else v / 1024  # noqa: E731
    # (series: key, label, colour, dashed), title, trend of the first series
    panels = [([("rss_kb", "RSS", "#1f77b4", False), ("heap_kb", "heap in use (mallinfo2)", "#7f7f7f", True)],
               "server memory (MiB)", summary["trend"].get("rss_kb"), mib),
              ([("fds", "open descriptors", "#d62728", False)], "server open descriptors",
               summary["trend"].get("fds"), lambda v: v)]
    pw = W - left - right
    for i, (series, label, tr, conv) in enumerate(panels):
        y0 = top + i * (ph + gap)
        vals = [conv(s[key]) for key, *_ in series for s in samples if s.get(key) is not None]
        vmax = max(vals) * 1.1 or 1
        sx = lambda t: left + pw * t / t_max  # noqa: E731
        sy = lambda v: y0 + ph - ph * v / vmax  # noqa: E731
        out.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        out.append(f'<rect x="{left}" y="{y0}" width="{sx(min(warm, t_max)) - left:.1f}" height="{ph}" '
                   'fill="#eee"/>')
        if load_end < t_max:
            out.append(f'<rect x="{sx(load_end):.1f}" y="{y0}" width="{left + pw - sx(load_end):.1f}" '
                       f'height="{ph}" fill="#f6f0e0"/>')
        for k in range(6):
            v = vmax * k / 5
            y = sy(v)
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
        if tr:
            tol = summary.get("tolerance", TOLERANCE)
            for f in (1 - tol, 1 + tol):
                y = sy(conv(tr["level"]) * f)
                out.append(f'<line x1="{sx(warm):.1f}" x2="{sx(load_end):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                           'stroke="#2ca02c" stroke-dasharray="4 3"/>')
        lx = left + 6
        for key, name, colour, dashed in series:
            pts = " ".join(f"{sx(s['t']):.1f},{sy(conv(s[key])):.1f}" for s in samples if s.get(key) is not None)
            dash = ' stroke-dasharray="6 3"' if dashed else ""
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
            if len(series) > 1:
                out.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{y0 + 30}" y2="{y0 + 30}" stroke="{colour}" '
                           f'stroke-width="2"{dash}/>')
                out.append(f'<text x="{lx + 22}" y="{y0 + 34}">{name}</text>')
                lx += 40 + 7 * len(name)
        out.append(f'<text x="{left + 6}" y="{y0 + 16}" font-weight="bold">{label}</text>')
        if tr:
            out.append(f'<text x="{left + pw - 6}" y="{y0 + 16}" text-anchor="end">{series[0][1]} after warm-up '
                       f'{conv(tr["level"]):,.1f}, end {tr["end_change"] * 100:+.1f} %, trend '
                       f'{tr["growth_rel"] * 100:+.1f} % (dashed green: +/- {summary.get("tolerance", TOLERANCE) * 100:g} %)</text>')
        for k in range(0, int(t_max) + 1, max(10, int(t_max / 10) // 10 * 10 or 10)):
            x = sx(k)
            out.append(f'<text x="{x:.1f}" y="{y0 + ph + 14}" text-anchor="middle">{k}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{H - 8}" text-anchor="middle">seconds since the first '
               'connection (grey: warm-up; beige: drain and disconnect)</text>')
    out.append("</svg>")
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def main():
    a = parse_args()
    os.makedirs(a.out, exist_ok=True)
    for path, what in ((a.server, "the C example (make examples)"), (a.client, "the soak client (cargo build)")):
        if not os.access(path, os.X_OK):
            sys.exit(f"soak: {path} missing: build {what} first")
    port = a.port or free_port()
    # The server holds every connection, the half-open ones until its idle
    # timeout ends them, and what is closing: room for twice as many.
    want_fds = 2 * a.conns + 8192
    server_env = dict(os.environ, PORT=str(port), DEFLATE=a.deflate, HISTORY=str(a.history))
    # A fixed mmap threshold: blocks above it (zlib states, per connection
    # with DEFLATE=per-connection) are mapped and unmapped with their
    # connection, so RSS follows what is live. glibc's default threshold
    # rises after the first such free, and the heap then grows for minutes
    # under churn with nothing leaked (docs/SOAK.md).
    if a.mmap_threshold != "default":
        server_env["MALLOC_MMAP_THRESHOLD_"] = a.mmap_threshold
    idle_env, idle_via, mallinfo = shim_env(a.server, a.out, a.idle_timeout_ms)
    server_env.update(idle_env)
    server_log = open(os.path.join(a.out, "server.log"), "w")
    server = subprocess.Popen([a.server], env=server_env, stdout=server_log, stderr=subprocess.STDOUT,
                              preexec_fn=nofile_raiser(want_fds))
    failures = []
    try:
        if not wait_listening(port, server):
            server_log.flush()
            sys.exit(f"soak: the example did not listen on {port}:\n" +
                     open(os.path.join(a.out, "server.log")).read())
        time.sleep(1.5)  # and the shim's first heap count
        base_fds, base_rss = fd_count(server.pid), rss_kb(server.pid)
        base_heap = heap_kb(mallinfo)[0]
        base_cpu = cpu_secs(server.pid)
        cmd = [a.client, "--addr", f"127.0.0.1:{port}", "--conns", str(a.conns), "--secs", str(a.secs),
               "--churn", str(a.churn), "--idle-timeout-ms", str(a.idle_timeout_ms)] + a.client_args
        print(f"soak: {a.conns:,} connections for {a.secs:g} s, {a.churn * 100:g} % churned a second, "
              f"DEFLATE={a.deflate}, idle timeout {a.idle_timeout_ms} ms (via {idle_via}); server pid "
              f"{server.pid} on port {port}, {base_fds} fds, {base_rss / 1024:.1f} MiB", flush=True)
        client_log = open(os.path.join(a.out, "client.log"), "w")
        start = time.monotonic()
        client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=client_log, text=True)
        lines, latest = [], {}

        def reader():
            for line in client.stdout:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                lines.append(d)
                latest.clear()
                latest.update(d)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        samples = []
        client_cpu = 0.0
        ncpu = os.cpu_count() or 1
        prev_host = host_cpu()
        prev_cpu = (0.0, 0.0)
        next_t = start + 1
        last_print = 0
        while True:
            time.sleep(max(0.0, next_t - time.monotonic()))
            next_t += 1
            if server.poll() is not None:
                failures.append(f"the server exited (status {server.returncode}) during the run")
                client.kill()
                break
            t = time.monotonic() - start
            c = dict(latest)
            s = {"t": round(t, 2), "rss_kb": rss_kb(server.pid), "fds": fd_count(server.pid),
                 "cpu_s": round(cpu_secs(server.pid) - base_cpu, 2), "stage": c.get("stage", "start"),
                 "client_cpu_s": round(cpu_secs(client.pid), 2) if client.poll() is None else None,
                 "up": sum(c.get(k, 0) for k in ("up_echo", "up_sub", "up_events", "up_ticks")),
                 "halfopen": c.get("halfopen_ws", 0) + c.get("halfopen_sse", 0),
                 "closing": c.get("closing", 0), "handshaking": c.get("handshaking", 0),
                 "echo_ok": c.get("echo_ok", 0), "bcast_ok": c.get("bcast_ok", 0),
                 "sse_ok": c.get("sse_ok", 0), "ticks_ok": c.get("ticks_ok", 0),
                 "churned": c.get("churn_clean", 0) + c.get("churn_reset", 0) + c.get("churn_halfopen", 0),
                 "failures": c.get("failures", 0), "client_running": client.poll() is None}
            s["rss_mib"] = s["rss_kb"] / 1024
            s["heap_kb"], s["heap_size_kb"] = heap_kb(mallinfo)
            # Cores busy on the whole machine in the last second, and how
            # much of it was neither the server nor the client (others'
            # builds and tests on a shared machine: a stall is theirs).
            host = host_cpu()
            busy = (host[0] - prev_host[0]) / max(1, host[1] - prev_host[1]) * ncpu
            ours = (s["cpu_s"] - prev_cpu[0]) + ((s["client_cpu_s"] or client_cpu) - prev_cpu[1])
            s["host_busy"] = round(busy, 2)
            s["others_busy"] = round(max(0.0, busy - ours), 2)
            prev_host, prev_cpu = host, (s["cpu_s"], s["client_cpu_s"] or client_cpu)
            samples.append(s)
            if t - last_print >= 10 or not s["client_running"]:
                last_print = t
                print(f"soak: t={t:5.0f}s {s['stage']:6} up={s['up']:,} half-open={s['halfopen']:,} "
                      f"churned={s['churned']:,} checked echo={s['echo_ok']:,} bcast={s['bcast_ok']:,} "
                      f"sse={s['sse_ok']:,} | server rss={s['rss_mib']:.1f} MiB fds={s['fds']:,} "
                      f"heap in use={(s['heap_kb'] or 0) / 1024:.1f} MiB cpu={s['cpu_s']:.1f}s (client {client_cpu:.1f}s, others {s['others_busy']:.1f} cores) | "
                      f"failures={s['failures']}", flush=True)
            if not s["client_running"]:
                break
            client_cpu = s["client_cpu_s"]
        client.wait()
        th.join(5)
        client_log.close()
        final = next((d for d in reversed(lines) if d.get("final")), None)
        load_end = next((d["t"] for d in lines if d.get("stage") == "drain"), a.secs)
        steady_from = next((d["t"] for d in lines if d.get("stage") == "steady"), None)
        # After the client: every connection gone from the server.
        deadline = time.monotonic() + 20
        after_fds = fd_count(server.pid) if server.poll() is None else -1
        while server.poll() is None and after_fds > base_fds and time.monotonic() < deadline:
            time.sleep(0.25)
            after_fds = fd_count(server.pid)
        time.sleep(1.5)  # the shim's next heap count
        after_rss = rss_kb(server.pid) if server.poll() is None else 0
        after_heap = heap_kb(mallinfo)[0]
        t = time.monotonic() - start
        if server.poll() is None:
            samples.append({**samples[-1], "t": round(t, 2), "rss_kb": after_rss, "rss_mib": after_rss / 1024,
                            "heap_kb": after_heap,
                            "fds": after_fds, "stage": "after", "client_running": False})
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                failures.append("the server did not stop within 20 s of SIGTERM")
        server_log.close()
    if server.returncode != 0 and not failures:
        failures.append(f"the server exited with status {server.returncode} on SIGTERM")

    # The checks.
    hold = a.idle_timeout_ms / 1000 * 1.5 + 5
    warmup = max(0.2 * a.secs, 10.0, (steady_from or 0) + hold)
    summary = {"conns": a.conns, "secs": a.secs, "churn": a.churn, "deflate": a.deflate,
               "idle_timeout_ms": a.idle_timeout_ms, "idle_timeout_via": idle_via, "history": a.history,
               "mmap_threshold": a.mmap_threshold, "tolerance": a.tolerance,
               "warmup_s": round(warmup, 1), "load_end_s": round(load_end, 1),
               "steady_from_s": steady_from, "base_fds": base_fds, "base_rss_kb": base_rss,
               "after_fds": after_fds, "after_rss_kb": after_rss, "after_heap_kb": after_heap,
               "base_heap_kb": base_heap,
               "server_cpu_s": samples[-1]["cpu_s"] if samples else 0, "client_cpu_s": client_cpu,
               "wall_s": round(time.monotonic() - start, 1), "trend": {}, "client": final,
               "others_busy_max": max((x.get("others_busy", 0) for x in samples), default=0),
               "others_busy_mean": round(sum(x.get("others_busy", 0) for x in samples) / max(1, len(samples)), 2)}
    if final is None:
        failures.append(f"the client gave no final report (exit status {client.returncode}); see "
                        f"{os.path.join(a.out, 'client.log')}")
    else:
        if final.get("failures", 0):
            kinds = ", ".join(f"{k} {n}" for k, n in final.get("failure_kinds", {}).items())
            failures.append(f"the client counted {final['failures']} failures ({kinds}); the first: " +
                            "; ".join(final.get("errors", [])[:5]))
        dropped = final.get("handshake_dropped", 0)
        if dropped > 0.01 * max(1, final.get("opened", 0)):
            failures.append(f"{dropped:,} requests never acknowledged by the server's kernel "
                            f"(over 1 % of {final.get('opened', 0):,} connections): its accept queue overflowed")
        if client.returncode not in (0, 1):
            failures.append(f"the client exited with status {client.returncode}")
    if load_end - warmup < 10:
        failures.append(f"too short to judge: {load_end - warmup:.0f} s of load after a warm-up of {warmup:.0f} s")
    else:
        # RSS is judged over five minutes or more after warm-up: in a
        # shorter run it still shows the allocator settling (pages of freed
        # blocks kept, mapped blocks touched further) while the heap in use
        # is flat. Then the heap in use (and the descriptors) decide, and
        # RSS is reported as a warning.
        rss_gate = a.rss_gate if a.rss_gate is not None else load_end - warmup >= 300
        summary["rss_gated"] = rss_gate
        warnings = summary["warnings"] = []
        for key in ("rss_kb", "fds", "heap_kb"):
            tr = trend([x for x in samples if x.get(key) is not None], key, warmup, load_end)
            if tr is None:
                failures.append(f"too few samples for {key}")
                continue
            summary["trend"][key] = tr
            out = failures if key != "rss_kb" or rss_gate else warnings
            if tr["end_change"] > a.tolerance:
                out.append(f"{key}: {tr['end']:,.0f} at the end of the load, {tr['end_change'] * 100:+.1f} % "
                           f"from {tr['level']:,.0f} after warm-up (limit {a.tolerance * 100:g} %)")
            if tr["growth_rel"] > a.tolerance:
                out.append(f"{key}: growing: the fitted line rises {tr['growth_rel'] * 100:.1f} % of the level "
                           f"over {load_end - warmup:.0f} s ({tr['slope_per_s']:+.2f}/s; limit {a.tolerance * 100:g} %)")
    if after_fds > base_fds:
        failures.append(f"fds: {after_fds} 20 s after the client left, {base_fds} before it came "
                        "(descriptors not released)")
    summary["ok"] = not failures
    summary["failures"] = failures

    # The records.
    cols = ["t", "stage", "rss_kb", "heap_kb", "heap_size_kb", "fds", "cpu_s", "client_cpu_s", "host_busy", "others_busy", "up", "halfopen", "closing", "handshaking", "churned",
            "echo_ok", "bcast_ok", "sse_ok", "ticks_ok", "failures"]
    with open(os.path.join(a.out, "samples.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for s in samples:
            f.write(",".join(str(s.get(k, "")) for k in cols) + "\n")
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    text = summary_text(summary)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text)
    if samples:
        svg_chart(samples, summary, os.path.join(a.out, "soak.svg"))
        if a.svg:
            svg_chart(samples, summary, a.svg)
    print(text, end="")
    for w in summary.get("warnings", []):
        print(f"soak: warning (not judged in a run this short): {w}")
    if failures:
        print("soak: FAILED", file=sys.stderr)
        for f in failures:
            print(f"soak:   {f}", file=sys.stderr)
        if summary.get("others_busy_mean", 0) > 1.0:
            print(f"soak: note: other processes kept {summary['others_busy_mean']:.2f} of {os.cpu_count()} cores "
                  "busy on average: a starved server answers late (handshakes, idle timeouts), which can "
                  "explain the failures above; the samples (others_busy) show when", file=sys.stderr)
        sys.exit(1)
    print(f"soak: passed (samples, summary and chart in {a.out})")


def summary_text(s):
    c = s["client"] or {}
    lines = [f"soak: {s['conns']:,} connections, {s['secs']:g} s, churn {s['churn'] * 100:g} %/s, "
             f"DEFLATE={s['deflate']}, idle timeout {s['idle_timeout_ms']} ms ({s['idle_timeout_via']}), "
             f"MALLOC_MMAP_THRESHOLD_ {s['mmap_threshold']}"]
    if c:
        checked = c["echo_ok"] + c["bcast_ok"] + c["sse_ok"] + c["ticks_ok"]
        lines += [
            f"  all up after {s['steady_from_s']} s; {c['opened']:,} connections opened in all "
            f"({c['deflate_conns']:,} with permessage-deflate, {c['resumes']:,} event streams resumed with "
            f"Last-Event-ID, {c['resumed_ok']:,} exactly, {c['snapshots']} snapshots; "
            f"{c.get('handshake_dropped', 0)} requests dropped by the server's kernel and retried)",
            f"  churned {c['churn_clean'] + c['churn_reset'] + c['churn_halfopen']:,}: {c['churn_clean']:,} clean "
            f"({c['clean_ok']:,} completed), {c['churn_reset']:,} reset, {c['churn_halfopen']:,} half-open "
            f"(WebSockets ended by the server: {c['halfopen_ended']:,}, the longest after "
            f"{c['halfopen_max_ms'] / 1000:.1f} s; event streams given up: {c['halfopen_sse_abandoned']:,})",
            f"  messages checked: {checked:,} (echoes {c['echo_ok']:,} of {c['echo_sent']:,} sent, "
            f"publishes {c['published']:,} seen {c['bcast_ok']:,} times on WebSockets and {c['sse_ok']:,} on "
            f"/events, ticks {c['ticks_ok']:,}; {c['inflated']:,} inflated; {c['pings']:,} pings answered); "
            f"lost at the end: {c['lost_echoes']} echoes, {c['lost_publishes']} publishes; "
            f"failures: {c['failures']}",
        ]
    for key, unit in (("rss_kb", "kB"), ("heap_kb", "kB"), ("fds", "")):
        tr = s["trend"].get(key)
        if tr:
            lines.append(f"  {key}: {tr['level']:,.0f}{unit} after warm-up ({s['warmup_s']:g} s), "
                         f"{tr['end']:,.0f}{unit} at the end ({tr['end_change'] * 100:+.1f} %), trend "
                         f"{tr['slope_per_s']:+.2f}{unit}/s = {tr['growth_rel'] * 100:+.1f} % over the run; "
                         f"range {tr['min']:,.0f}-{tr['max']:,.0f}")
    lines.append(f"  server: {s['base_fds']} fds and {s['base_rss_kb'] / 1024:.1f} MiB before, "
                 f"{s['after_fds']} fds and {s['after_rss_kb'] / 1024:.1f} MiB after the client left "
                 f"(heap in use {(s['after_heap_kb'] or 0) / 1024:.1f} MiB); "
                 f"{s['server_cpu_s']:.1f} s of CPU (the client {s['client_cpu_s']:.1f} s); {s['wall_s']:g} s in all; "
                 f"other processes kept {s['others_busy_mean']:.2f} cores busy on average "
                 f"(at most {s['others_busy_max']:.2f})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
