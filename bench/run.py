#!/usr/bin/env python3
"""wsrt benchmark runner (`make bench`).

For every server (ours through `examples/run FRONT`, the peers from
bench/peers) and every scenario: start the server fresh pinned to core 0,
run the load generator pinned to core 1 (both at SCHED_FIFO priority when
the machine allows it), stop the server. The generator reads the server's
CPU time and RSS from /proc itself, over exactly its measured window.
Writes bench/results/<date>.json, .md and .png (and latest.md/latest.png).

Environment: BENCH_SECS (measured seconds per run, default 4),
BENCH_SERVERS / BENCH_SCENARIOS (comma lists to run a subset),
BENCH_RT=0 (no real-time priority), BENCH_RT_POLICY=fifo (SCHED_FIFO
instead of SCHED_RR), BENCH_PORT (first port, default 9300),
BENCH_SMOKE=1 (the CI smoke: ours only, tiny runs, no files written),
BENCH_TAG=NAME (results go to <date>-NAME.json/.md; latest.* and
docs/PERFORMANCE.md are left alone), BENCH_SIO_IDLE_CONNS and
BENCH_SIO_ROOM_MEMBERS (Socket.IO idle sockets and room members, default
10000 and 1000: smaller for a quick look only).

Compression (issue 7): the scenarios echo_json, echo_json_deflate,
idle_json and idle_deflate run 1 KiB JSON messages (loadgen --payload json)
against the servers that serve them: each of our fronts that reads $DEFLATE
as three servers (wsrt-FRONT with compression off, wsrt-FRONT-deflate-shared,
wsrt-FRONT-deflate-conn), node-ws and node-ws-deflate (ws's
perMessageDeflate). `make bench-deflate` runs just those.

Socket.IO: the scenarios sio_ack, sio_room and sio_idle (loadgen sio-ack,
sio-room, sio-idle: Engine.IO v4 / Socket.IO v5 over WebSocket at
/socket.io/, namespace "/") run against socketio-node (socket.io 4.8 on
its default engine), socketio-uws (socket.io 4.8 attached to
uWebSockets.js), python-socketio (on aiohttp and uvloop), wsrt-rust (the
contract on the Rust API: core/examples/sio_contract.rs, built here with
cargo) and each of our fronts whose example answers the WebSocket
handshake at /socket.io/ (the runner asks the running example; a front
that does not is listed as skipped, with the reason). `make bench-socketio` runs just those. The other web servers
python-socketio can run on are there for comparison, run only when named
in BENCH_SERVERS: python-socketio-aiohttp-asyncio,
python-socketio-uvicorn, python-socketio-uvicorn-websockets,
python-socketio-tornado.

TLS (`make bench-tls`): the scenarios tls_echo_small, tls_echo_large,
tls_handshake and tls_idle (loadgen --tls CA.pem: rustls with the ring
provider, TLS 1.3, no session resumption) run against the TLS servers:
wsrt-FRONT-tls (each of our examples that reads $TLS_CERT/$TLS_KEY),
uws-tls (uWebSockets.js SSLApp) and node-ws-tls (ws on https), all given
the same ECDSA P-256 certificate, made for the run by openssl in a
temporary directory (a CA and a leaf for localhost and 127.0.0.1) and
removed after it. plain_handshake and plain_idle are the same handshake
and idle runs without TLS, against the plain twins (wsrt-FRONT, uws,
node-ws), for the figures beside. These servers and scenarios run only
when named (BENCH_SERVERS, BENCH_SCENARIOS), never in `make bench`.
"""
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, ".cache", "bench")
LOADGEN = os.path.join(ROOT, "target", "release", "loadgen")
RESULTS = os.path.join(ROOT, "bench", "results")
PEERS = os.path.join(ROOT, "bench", "peers")
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SECS = float(os.environ.get("BENCH_SECS", "1" if SMOKE else "4"))
SSE_INTERVAL_MS = 100
NODE_PATH = os.path.join(CACHE, "node", "node_modules")
PY = os.path.join(CACHE, "venv", "bin", "python")
SIO_CONTRACT = os.path.join(ROOT, "target", "release", "examples", "sio_contract")


def ours_fronts():
    """The fronts `examples/run` knows today (python and node land later)."""
    with open(os.path.join(ROOT, "examples", "run")) as f:
        text = f.read()
    return [fr for fr in ("c", "python", "node") if f"\n  {fr})" in text]


EXAMPLE_FILES = {"c": "c/echo_server.c", "python": "python/echo_server.py", "node": "node/echo_server.mjs"}


def fronts_whose_example_has(marker):
    """Our fronts whose example server's source mentions `marker`: how the
    runner tells which features an example has grown."""
    out = []
    for fr in ours_fronts():
        try:
            with open(os.path.join(ROOT, "examples", EXAMPLE_FILES[fr])) as f:
                if marker in f.read():
                    out.append(fr)
        except (OSError, KeyError):
            pass
    return out


def deflate_fronts():
    """Our fronts whose example reads $DEFLATE (off|shared|per-connection)."""
    return fronts_whose_example_has("DEFLATE")


def broadcast_fronts():
    """Our fronts whose example serves /broadcast (pub/sub landed there)."""
    return fronts_whose_example_has("/broadcast")


def tls_fronts():
    """Our fronts whose example reads $TLS_CERT/$TLS_KEY (TLS on $PORT)."""
    return fronts_whose_example_has("TLS_CERT")


def make_certs(d):
    """A CA and a leaf signed by it, both ECDSA P-256, the leaf for
    localhost and 127.0.0.1, into directory `d`; returns (ca, cert, key)
    paths. The leaf file holds the leaf only (every server sends it as
    is). Made fresh for every run, never kept."""
    def ossl(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=wsrt bench CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", "ca.pem")
    # PKCS#8 ("BEGIN PRIVATE KEY"), which every server reads.
    ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem")
    ossl("req", "-new", "-key", "key.pem", "-subj", "/CN=localhost", "-out", "leaf.csr")
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-sha256",
         "-days", "2", "-extfile", "leaf.ext", "-out", "cert.pem")
    return tuple(os.path.join(d, f) for f in ("ca.pem", "cert.pem", "key.pem"))


# Set by main() when a TLS server runs: (ca, cert, key) paths.
TLS_FILES = None
OPENSSL_MISSING = None if shutil.which("openssl") else "no openssl (it makes the run's certificate)"


def server_env(extra):
    """A server's environment from its `extra`: its own, plus the run's
    certificate and key for a TLS server."""
    env = dict(extra.get("env") or {})
    if extra.get("tls"):
        env.update(TLS_CERT=TLS_FILES[1], TLS_KEY=TLS_FILES[2])
    return env


def servers():
    """name -> (argv, what it serves, is it ours, why it is unavailable,
    extra: env for the server, for compression runs the base server and
    its deflate mode, "explicit" for servers run only when named, and
    "build" for a command that builds it, run before its first start)."""
    s = {}
    dfl = deflate_fronts()
    for fr in ours_fronts():
        argv = [os.path.join(ROOT, "examples", "run"), fr]
        base = f"wsrt-{fr}"
        # "sio" until the running example says otherwise (see sio_probe).
        serves = {"echo", "sse", "sio"} | ({"json"} if fr in dfl else set())
        if fr in broadcast_fronts():
            serves |= {"broadcast"}
        s[base] = (argv, serves, True, None,
                   {"env": {"DEFLATE": "off"} if fr in dfl else {}, "base": base, "deflate": "off"})
        if fr in dfl:
            for mode, suffix in (("shared", "shared"), ("per-connection", "conn")):
                s[f"{base}-deflate-{suffix}"] = (argv, {"deflate"}, True, None,
                                                 {"env": {"DEFLATE": mode}, "base": base, "deflate": mode})
    # TLS on $PORT: the same example with the run's certificate.
    for fr in tls_fronts():
        argv = [os.path.join(ROOT, "examples", "run"), fr]
        s[f"wsrt-{fr}-tls"] = (argv, {"tls"}, True, OPENSSL_MISSING,
                               {"env": {"DEFLATE": "off"} if fr in dfl else {}, "tls": True, "explicit": True,
                                "plain": f"wsrt-{fr}"})
    # The Socket.IO contract on the Rust API (core/examples/sio_contract.rs):
    # the core's Socket.IO without a front's conversion, there from the
    # start, while the fronts' examples grow /socket.io/.
    s["wsrt-rust"] = ([SIO_CONTRACT], {"sio"}, True, None if shutil.which("cargo") else "no cargo",
                      {"env": {}, "build": ["cargo", "build", "--release", "-q", "-p", "wsrt", "--example", "sio_contract"]})
    node_ok = None if os.path.isdir(os.path.join(NODE_PATH, "ws")) else "node packages not installed"
    uws_ok = None if os.path.isdir(os.path.join(NODE_PATH, "uwebsockets")) else "uwebsockets not installed"
    py_ok = None if os.path.exists(PY) else "python venv not installed"
    tokio = os.path.join(CACHE, "rust-tokio-target", "release", "wsrt-bench-peer-tokio")
    full = {"echo", "broadcast", "sse"}
    plain = {"env": {}}
    s["uws"] = (["node", os.path.join(PEERS, "uws.js")], full, False, uws_ok, plain)
    s["node-ws"] = (["node", os.path.join(PEERS, "node-ws.js")], full | {"json"}, False, node_ok,
                    {"env": {}, "base": "node-ws", "deflate": "off"})
    s["node-ws-deflate"] = (["node", os.path.join(PEERS, "node-ws.js")], {"deflate"}, False, node_ok,
                            {"env": {"DEFLATE": "1"}, "base": "node-ws", "deflate": "perMessageDeflate"})
    s["uws-tls"] = (["node", os.path.join(PEERS, "uws.js")], {"tls"}, False, uws_ok or OPENSSL_MISSING,
                    {"env": {}, "tls": True, "explicit": True, "plain": "uws"})
    s["node-ws-tls"] = (["node", os.path.join(PEERS, "node-ws.js")], {"tls"}, False, node_ok or OPENSSL_MISSING,
                        {"env": {}, "tls": True, "explicit": True, "plain": "node-ws"})
    s["rust-tokio"] = ([tokio], {"echo", "broadcast"}, False, None if os.path.exists(tokio) else "not built", plain)
    s["picows"] = ([PY, os.path.join(PEERS, "py_picows.py")], {"echo", "broadcast"}, False, py_ok, plain)
    s["websockets-uvloop"] = ([PY, os.path.join(PEERS, "py_websockets.py"), "--uvloop"], {"echo", "broadcast"}, False, py_ok, plain)
    s["websockets"] = ([PY, os.path.join(PEERS, "py_websockets.py")], {"echo", "broadcast"}, False, py_ok, plain)
    sio_node_ok = None if os.path.isdir(os.path.join(NODE_PATH, "socket.io")) else "socket.io not installed"
    sio_uws_ok = sio_node_ok or uws_ok
    sio_py_ok = None if os.path.exists(os.path.join(CACHE, "socketio-python.stamp")) and not py_ok else "python-socketio not installed"
    sio = {"sio"}
    s["socketio-node"] = (["node", os.path.join(PEERS, "socketio.js")], sio, False, sio_node_ok, plain)
    s["socketio-uws"] = (["node", os.path.join(PEERS, "socketio-uws.js")], sio, False, sio_uws_ok, plain)
    pysio = os.path.join(PEERS, "py_socketio.py")
    s["python-socketio"] = ([PY, pysio, "--server", "aiohttp", "--uvloop"], sio, False, sio_py_ok, plain)
    # The other servers python-socketio runs on: compared once to pick the
    # one above (bench/results/2026-12-05-python-socketio-servers*.md), run
    # again only when named.
    only = {"env": {}, "explicit": True}
    s["python-socketio-aiohttp-asyncio"] = ([PY, pysio, "--server", "aiohttp"], sio, False, sio_py_ok, only)
    s["python-socketio-uvicorn"] = ([PY, pysio, "--server", "uvicorn", "--uvloop"], sio, False, sio_py_ok, only)
    s["python-socketio-uvicorn-websockets"] = ([PY, pysio, "--server", "uvicorn", "--uvloop", "--ws", "websockets"], sio, False, sio_py_ok, only)
    s["python-socketio-tornado"] = ([PY, pysio, "--server", "tornado", "--uvloop"], sio, False, sio_py_ok, only)
    return s


# Compression scenarios: 1 KiB JSON messages; the generator offers
# permessage-deflate with context takeover (the server may decline takeover:
# wsrt's shared mode does) and compresses at level 1: at zlib's default
# level 6 its own compression costs as much CPU per message as the server's
# whole echo, so it, not the server, would set the pace. Memory: connections
# opened and held, then one message each.
JSON_SIZE = "1024"
IDLE_DEFLATE_CONNS = "2000"


# Socket.IO. The smoke runs the servers with a 200 ms ping interval and
# has every connection answer at least one ping.
SIO_SMOKE_ENV = {"SIO_PING_INTERVAL_MS": "200", "SIO_PING_TIMEOUT_MS": "1000"}
SIO_IDLE_CONNS = os.environ.get("BENCH_SIO_IDLE_CONNS", "10000")
SIO_ROOM_MEMBERS = os.environ.get("BENCH_SIO_ROOM_MEMBERS", "1000")


# TLS: idle connections held (TLS and plain alike), and connections at a
# time in the handshake scenario. "{CA}" in arguments is the run's CA.
TLS_IDLE_CONNS = os.environ.get("BENCH_TLS_IDLE_CONNS", "5000")
TLS_CHURN_CONNS = "16"
# Run only when named in BENCH_SCENARIOS.
EXPLICIT_SCENARIOS = {"tls_echo_small", "tls_echo_large", "tls_handshake", "tls_idle",
                      "plain_handshake", "plain_idle"}


def scenarios():
    """name -> (what the server must serve, loadgen arguments, title[,
    env for the server])."""
    secs = str(SECS)
    tls = ["--tls", "{CA}"]
    tls_scen = {
        "tls_echo_small": ("tls", ["echo", "--conns", "64", "--inflight", "16", "--size", "32", "--secs", secs] + tls, "TLS echo 64×16×32 B"),
        "tls_echo_large": ("tls", ["echo", "--conns", "8", "--inflight", "4", "--size", "65536", "--secs", secs] + tls, "TLS echo 8×4×64 KiB"),
        "tls_handshake": ("tls", ["handshake", "--conns", TLS_CHURN_CONNS, "--size", "32", "--secs", secs] + tls,
                          f"TLS connections, {TLS_CHURN_CONNS} at a time: connect, full TLS 1.3 handshake, WebSocket upgrade, one 32 B echo, reset"),
        "tls_idle": ("tls", ["idle", "--conns", TLS_IDLE_CONNS, "--secs", "1"] + tls, f"idle {int(TLS_IDLE_CONNS):,} TLS conns"),
        "plain_handshake": ("echo", ["handshake", "--conns", TLS_CHURN_CONNS, "--size", "32", "--secs", secs],
                            f"plain connections, {TLS_CHURN_CONNS} at a time: connect, WebSocket upgrade, one 32 B echo, reset"),
        "plain_idle": ("echo", ["idle", "--conns", TLS_IDLE_CONNS, "--secs", "1"], f"idle {int(TLS_IDLE_CONNS):,} plain conns"),
    }
    if SMOKE:
        return smoke_scenarios(secs) | tls_scen_smoke(secs)
    return base_scenarios(secs) | tls_scen


def tls_scen_smoke(secs):
    tls = ["--tls", "{CA}"]
    return {
        "tls_echo_small": ("tls", ["echo", "--conns", "4", "--inflight", "4", "--size", "32", "--secs", secs, "--warmup", "0.5"] + tls, "TLS echo 4×4×32 B"),
        "tls_echo_large": ("tls", ["echo", "--conns", "2", "--inflight", "2", "--size", "65536", "--secs", secs, "--warmup", "0.5"] + tls, "TLS echo 2×2×64 KiB"),
        "tls_handshake": ("tls", ["handshake", "--conns", "4", "--size", "32", "--secs", secs, "--warmup", "0.5"] + tls, "TLS connections 4 at a time"),
        "tls_idle": ("tls", ["idle", "--conns", "100", "--secs", "0.3", "--warmup", "0.2"] + tls, "idle 100 TLS conns"),
    }


def smoke_scenarios(secs):
    return {
        "sio_ack": ("sio", ["sio-ack", "--conns", "8", "--inflight", "4", "--size", "32", "--secs", secs, "--warmup", "0.5", "--expect-pings", "1"], "Socket.IO ack 8×4×32 B", SIO_SMOKE_ENV),
        "sio_room": ("sio", ["sio-room", "--conns", "50", "--window", "4", "--size", "32", "--secs", secs, "--warmup", "0.5", "--expect-pings", "1"], "Socket.IO room 1 → 50 members", SIO_SMOKE_ENV),
        "sio_idle": ("sio", ["sio-idle", "--conns", "200", "--secs", "0.5", "--warmup", "0.2", "--expect-pings", "1"], "Socket.IO idle 200 sockets", SIO_SMOKE_ENV),
        "echo_small": ("echo", ["echo", "--conns", "8", "--inflight", "4", "--size", "32", "--secs", secs, "--warmup", "0.5"], "echo 8×4×32 B"),
        "echo_large": ("echo", ["echo", "--conns", "2", "--inflight", "2", "--size", "65536", "--secs", secs, "--warmup", "0.5"], "echo 2×2×64 KiB"),
        "latency": ("echo", ["latency", "--conns", "10", "--rate", "1000", "--secs", secs, "--warmup", "0.5"], "latency 10 conns at 1k msgs/s"),
        "idle": ("echo", ["idle", "--conns", "200", "--secs", "0.5", "--warmup", "0.2"], "idle 200 conns"),
        "sse": ("sse", ["sse", "--conns", "20", "--interval-ms", str(SSE_INTERVAL_MS), "--secs", secs, "--warmup", "0.5"], "SSE 20 clients"),
        "broadcast": ("broadcast", ["broadcast", "--conns", "50", "--rate", "200", "--size", "32", "--secs", secs, "--warmup", "0.5"], "broadcast 1 → 50 subs at 200 msgs/s"),
        # Compression kept from rotting: one short run each, C front, per-connection mode.
        "echo_json_deflate": ("deflate", ["echo", "--conns", "4", "--inflight", "4", "--size", JSON_SIZE, "--payload", "json", "--deflate", "takeover", "--deflate-level", "1", "--secs", secs, "--warmup", "0.5"], "echo 4×4×1 KiB JSON, deflate"),
        "idle_deflate": ("deflate", ["idle", "--conns", "100", "--idle-send", "1", "--payload", "json", "--size", JSON_SIZE, "--deflate", "takeover", "--deflate-level", "1", "--secs", "0.3", "--warmup", "0.2"], "idle 100 conns, deflate, 1 message each"),
    }


def base_scenarios(secs):
    return {
        "echo_small": ("echo", ["echo", "--conns", "64", "--inflight", "16", "--size", "32", "--secs", secs], "echo 64×16×32 B"),
        "echo_large": ("echo", ["echo", "--conns", "8", "--inflight", "4", "--size", "65536", "--secs", secs], "echo 8×4×64 KiB"),
        "echo_huge": ("echo", ["echo", "--conns", "4", "--inflight", "2", "--size", "1048576", "--secs", secs], "echo 4×2×1 MiB"),
        "latency": ("echo", ["latency", "--conns", "100", "--rate", "10000", "--size", "32", "--secs", secs], "latency 100 conns at 10k msgs/s"),
        "idle": ("echo", ["idle", "--conns", "10000", "--secs", "2"], "idle 10,000 conns"),
        "sse": ("sse", ["sse", "--conns", "1000", "--interval-ms", str(SSE_INTERVAL_MS), "--secs", secs], f"SSE 1,000 clients, tick every {SSE_INTERVAL_MS} ms"),
        "broadcast": ("broadcast", ["broadcast", "--conns", "1000", "--rate", "100", "--size", "32", "--secs", secs], "broadcast 1 → 1,000 subs at 100 msgs/s"),
        # A hundred times the rate: 100,000 deliveries/s at 100 msgs/s is no
        # effort for anyone; this is where fan-out cost shows.
        "broadcast_fast": ("broadcast", ["broadcast", "--conns", "1000", "--rate", "2000", "--size", "32", "--secs", secs], "broadcast 1 → 1,000 subs at 2,000 msgs/s"),
        "echo_json": ("json", ["echo", "--conns", "32", "--inflight", "8", "--size", JSON_SIZE, "--payload", "json", "--secs", secs], "echo 32×8×1 KiB JSON, uncompressed"),
        "echo_json_deflate": ("deflate", ["echo", "--conns", "32", "--inflight", "8", "--size", JSON_SIZE, "--payload", "json", "--deflate", "takeover", "--deflate-level", "1", "--secs", secs], "echo 32×8×1 KiB JSON, permessage-deflate"),
        "idle_json": ("json", ["idle", "--conns", IDLE_DEFLATE_CONNS, "--idle-send", "1", "--payload", "json", "--size", JSON_SIZE, "--secs", "1"], f"idle {IDLE_DEFLATE_CONNS} conns, uncompressed, then 1 message each"),
        "idle_deflate": ("deflate", ["idle", "--conns", IDLE_DEFLATE_CONNS, "--idle-send", "1", "--payload", "json", "--size", JSON_SIZE, "--deflate", "takeover", "--deflate-level", "1", "--secs", "1"], f"idle {IDLE_DEFLATE_CONNS} conns, permessage-deflate, then 1 message each"),
        # Socket.IO (the servers at their default ping interval, 25 s).
        "sio_ack": ("sio", ["sio-ack", "--conns", "64", "--inflight", "16", "--size", "32", "--secs", secs], "Socket.IO emit with ack 64×16×32 B"),
        # Closed loop: the publisher keeps at most 8 messages not yet
        # delivered to every member, so every server runs at its own
        # capacity and nothing piles up; compare deliveries per CPU-second.
        "sio_room": ("sio", ["sio-room", "--conns", SIO_ROOM_MEMBERS, "--publishers", "1", "--window", "8", "--size", "32", "--secs", secs], f"Socket.IO room: 1 publisher → {int(SIO_ROOM_MEMBERS):,} members, window 8"),
        "sio_idle": ("sio", ["sio-idle", "--conns", SIO_IDLE_CONNS, "--secs", "2"], f"Socket.IO idle {int(SIO_IDLE_CONNS):,} sockets"),
    }


def rt_allowed():
    if os.environ.get("BENCH_RT", "1") == "0" or not shutil.which("chrt"):
        return False
    return subprocess.run(["chrt", "-f", "1", "true"], capture_output=True).returncode == 0


def wait_port(port, proc, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sio_probe(port):
    """None if the server on `port` answers the Engine.IO WebSocket
    handshake at /socket.io/ (101), else why it does not (the generator
    checks everything after that)."""
    req = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    head = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(req)
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = c.recv(4096)
                if not chunk:
                    break
                head += chunk
    except OSError as e:
        if not head:
            return f"does not serve /socket.io/ yet (the handshake to /socket.io/ failed: {e})"
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status.startswith("HTTP/1.1 101"):
        return None
    return f"does not serve /socket.io/ yet (the WebSocket handshake to /socket.io/ got {status or 'no answer'!r})"


def prepare(name, argv, port, logdir, env=None, probe=False, build=None):
    """Starts one of our fronts once at normal priority, unpinned, so that
    whatever `examples/run` (or `build`) builds is built before any
    measured run (and never at real-time priority). Returns (started, why
    it serves no Socket.IO or None; asked only with `probe`)."""
    env = dict(os.environ, PORT=str(port), **(env or {}))
    with open(os.path.join(logdir, f"{name}.prepare.log"), "w") as log:
        if build and subprocess.run(build, stdout=log, stderr=log, cwd=ROOT).returncode != 0:
            return False, None
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=ROOT)
        try:
            if not wait_port(port, proc, 900):
                return False, None
            return True, sio_probe(port) if probe else None
        finally:
            stop(proc)


def last_line(path):
    """The last non-empty line of a log (why a server did not start)."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        return lines[-1][:160] if lines else ""
    except OSError:
        return ""


# SCHED_RR rather than SCHED_FIFO: the same for a single-threaded process,
# but a server whose threads wait on each other on its one core (ws with
# perMessageDeflate hands zlib work to libuv's thread pool) livelocks under
# SCHED_FIFO, where a runnable thread never yields to one of equal priority
# (0 messages in 4 s at 95% CPU).
RT_POLICY = os.environ.get("BENCH_RT_POLICY", "rr")


def run_one(name, argv, scen, lg_args, port, rt, logdir, extra_env=None):
    prio = ["chrt", "-r" if RT_POLICY == "rr" else "-f", "50"] if rt else []
    env = dict(os.environ, PORT=str(port), SSE_INTERVAL_MS=str(SSE_INTERVAL_MS), NODE_PATH=NODE_PATH)
    env.pop("DEFLATE", None)
    env.update(extra_env or {})
    log = open(os.path.join(logdir, f"{name}.{scen}.log"), "w")
    proc = subprocess.Popen(prio + ["taskset", "-c", "0"] + argv, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        if not wait_port(port, proc, 180):
            return {"ok": False, "error": f"server did not listen (see {log.name})"}
        time.sleep(0.5)  # let it settle (JIT, lazy allocations) before the baseline
        lg_args = [TLS_FILES[0] if a == "{CA}" else a for a in lg_args]
        cmd = prio + ["taskset", "-c", "1", LOADGEN] + lg_args + [
            "--addr", f"127.0.0.1:{port}", "--server-pid", str(proc.pid), "--label", name]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        sys.stderr.write(r.stderr)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"ok": False, "error": f"loadgen exit {r.returncode}: {r.stderr.strip()[-300:]}"}
        return res
    finally:
        stop(proc)
        log.close()


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "load_avg_at_start": os.getloadavg()}


def versions():
    v = {}
    for k, f in (("node", "node.stamp"), ("python", "python.stamp"),
                 ("socketio_node", "socketio-node.stamp"), ("socketio_python", "socketio-python.stamp")):
        p = os.path.join(CACHE, f)
        if os.path.exists(p):
            v[k] = open(p).read().strip()
    try:
        v["node_runtime"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    v["rust-tokio"] = "tokio 1 + tokio-tungstenite 0.26 (bench/peers/rust-tokio)"
    try:
        v["wsrt"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return v


def main():
    srv = servers()
    scen = scenarios()
    want_srv = [s for s in os.environ.get("BENCH_SERVERS", "").split(",") if s]
    want_scen = [s for s in os.environ.get("BENCH_SCENARIOS", "").split(",") if s]
    if SMOKE and not want_srv:
        # The Rust example keeps the Socket.IO modes honest until the C
        # example serves /socket.io/ (then both run them).
        want_srv = ["wsrt-c", "wsrt-c-deflate-conn", "wsrt-rust"] + (["wsrt-c-tls"] if "c" in tls_fronts() else [])
    names = [n for n in srv if n in want_srv or not want_srv and not srv[n][4].get("explicit")]
    global TLS_FILES
    tmp = None
    if any(srv[n][4].get("tls") and not srv[n][3] for n in names):
        tmp = tempfile.TemporaryDirectory(prefix="wsrt-bench-tls-")
        TLS_FILES = make_certs(tmp.name)
    try:
        return run_all(srv, scen, names, want_scen, [n for n in want_srv if n not in srv])
    finally:
        if tmp:
            tmp.cleanup()


def run_all(srv, scen, names, want_scen, unknown):
    rt = rt_allowed()
    logdir = os.path.join(CACHE, "logs")
    os.makedirs(logdir, exist_ok=True)
    print(f"bench: servers {', '.join(names)}; {SECS:g} s per run; real-time priority: {'yes' if rt else 'no'}", file=sys.stderr)
    runs, skipped, nskipped = [], {}, 0
    for n in unknown:
        fr = n[len("wsrt-"):-len("-tls")] if n.startswith("wsrt-") and n.endswith("-tls") else None
        skipped[n] = (f"examples/{EXAMPLE_FILES.get(fr, fr)} does not read TLS_CERT yet" if fr
                      else "no such server in bench/run.py")
        print(f"bench: {n} skipped: {skipped[n]}", file=sys.stderr)
    base, count = int(os.environ.get("BENCH_PORT", "9300")), 0
    for name in names:
        argv, caps, ours, why, extra = srv[name]
        if why:
            skipped[name] = why
            print(f"bench: {name} skipped: {why}", file=sys.stderr)
            continue
        explicit = set() if SMOKE else EXPLICIT_SCENARIOS
        todo = [sc for sc in scen if (sc in want_scen or not want_scen and sc not in explicit) and scen[sc][0] in caps]
        if not todo:
            continue
        if ours:
            started, no_sio = prepare(name, argv, base + 50, logdir, server_env(extra),
                                      probe=any(scen[sc][0] == "sio" for sc in todo), build=extra.get("build"))
            if not started:
                skipped[name] = f"did not build or start: {last_line(os.path.join(logdir, f'{name}.prepare.log'))!r} (see .cache/bench/logs)"
                print(f"bench: {name} skipped: {skipped[name]}", file=sys.stderr)
                continue
            if no_sio:
                left = [sc for sc in todo if scen[sc][0] == "sio"]
                todo = [sc for sc in todo if scen[sc][0] != "sio"]
                nskipped += len(left)
                skipped[f"{name} Socket.IO"] = no_sio
                print(f"bench: {name}: {', '.join(left)} skipped: {no_sio}", file=sys.stderr)
        for sc in todo:
            need, lg_args, title = scen[sc][:3]
            env = dict(server_env(extra), **(scen[sc][3] if len(scen[sc]) > 3 else {}))
            count += 1
            res = run_one(name, argv, sc, lg_args, base + count % 50, rt, logdir, env)
            res.update(server=name, scenario=sc, title=title, ours=ours)
            if "base" in extra:
                res.update(base=extra["base"], deflate_mode=extra["deflate"])
            if "plain" in extra:
                res.update(plain=extra["plain"])
            runs.append(res)
    failed = [r for r in runs if not r.get("ok")]
    for r in failed:
        print(f"bench: FAILED {r['server']} {r['scenario']}: {r.get('error')}", file=sys.stderr)
    if SMOKE:
        done = len(runs) - len(failed)
        sys.stderr.flush()
        print(f"bench-smoke: {done} passed, {len(failed)} failed" + (f", {nskipped} skipped" if nskipped else ""), flush=True)
        return 1 if failed or not runs else 0
    doc = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
           "realtime_priority": rt, "realtime_off_by": "BENCH_RT=0" if os.environ.get("BENCH_RT") == "0" else None,
           "rt_policy": ("SCHED_RR" if RT_POLICY == "rr" else "SCHED_FIFO") if rt else None, "secs_per_run": SECS, "sse_interval_ms": SSE_INTERVAL_MS,
           "versions": versions(), "skipped": skipped,
           "scenarios": {k: v[2] for k, v in scen.items()}, "runs": runs}
    os.makedirs(RESULTS, exist_ok=True)
    tag = os.environ.get("BENCH_TAG", "")
    stem = os.path.join(RESULTS, datetime.date.today().isoformat() + (f"-{tag}" if tag else ""))
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    import report
    md = report.markdown(doc)
    with open(stem + ".md", "w") as f:
        f.write(md)
    drew = report.chart(doc, stem + ".png")
    if not tag:
        shutil.copy(stem + ".md", os.path.join(RESULTS, "latest.md"))
        if drew:
            shutil.copy(stem + ".png", os.path.join(RESULTS, "latest.png"))
        report.update_doc(doc, os.path.join(ROOT, "docs", "PERFORMANCE.md"))
    print(md)
    print(f"bench: wrote {stem}.json/.md" + ("/.png" if drew else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
