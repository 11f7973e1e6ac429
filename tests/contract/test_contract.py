"""The cross-front contract: Rust, C, Python and Node given the same edge
values must do the same thing (see README.md here and docs/API.md).

For every option of the core's schema (read from the Rust contract server's
``--schema``) the harness derives edge values -- 0, the smallest and largest
allowed, one past either end, a negative, a fraction, a value of the wrong
type, an unknown choice -- and the outcome docs/API.md promises for each. It
starts every face's contract server with each value and checks the outcome;
where the value is accepted, a WebSocket echo and a first SSE event must go
through (an option at 0 turns a timer or limit off: it must never stop the
server from serving). Then the connection-level probes (invalid UTF-8 as
text, a 2 KiB topic, a bad close code, a send to a closed id, a call after
close) run on every face, and every face must give the expected outcome.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0

FRONTS = {
    "rust": [str(ROOT / "target/release/examples/contract_server")],
    "c": [str(ROOT / "build/tests/contract_server")],
    "python": [str(ROOT / ".cache/pyenv/bin/python"), str(ROOT / "tests/contract/server.py")],
    "node": ["node", str(ROOT / "tests/contract/server.mjs")],
}

EXPECTED_PROBES = {
    "bad_utf8": "invalid_argument",
    "topic_2k": "invalid_argument",
    "topic_1k": "ok",
    "publish_2k": "invalid_argument",
    "close_code": "invalid_argument",
    "ping_126": "invalid_argument",
    "stale_send": "unknown_connection",
    "stale_state": "CLOSED",
    "close": "ok",
    "send_after_close": "closed",
    "after_close": "stopped",
}


def schema() -> list[dict]:
    out = subprocess.run(FRONTS["rust"] + ["--schema"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def spelled(front: str, option: str) -> list[str]:
    """How a front names the option in its messages: its own spelling
    (C: the constant, or the name given to wsrt_config_set_by_name)."""
    spec = next((o for o in SCHEMA if o["name"] == option), None)
    if spec is None:
        return [option]
    return {
        "node": [spec["js_name"]],
        "c": ["WSRT_OPT_" + option.upper(), option],
    }.get(front, [option])


SCHEMA: list[dict] = []


def cases() -> list[tuple[str, object, str, bool, bool]]:
    """(option, value, expected outcome, C can express it, it must serve).

    Accepted values must also serve a WebSocket echo and an SSE event,
    except the smallest allowed limits, which may legitimately refuse the
    test's own requests (a 64-byte head limit answers its handshake 431)."""
    out = []
    SCHEMA[:] = schema()
    for o in SCHEMA:
        name, unit = o["name"], o["unit"]
        if name.startswith("tls_"):
            # Set alone, a TLS option is refused when the server is made:
            # certificates and keys pair up, and the others need them (the
            # TLS cases with certificates are in each front's TLS tests).
            if unit in ("list", "text"):
                value = ["x.pem"] if unit == "list" else "127.0.0.1:0"
                out.append((name, value, "invalid_argument", False, True))
                out.append((name, 5, "invalid_type", False, True))
                out.append((name, None, "ok", False, True))
                continue
            if name == "tls_client_auth":
                for choice, number in o["choices"]:
                    outcome = "ok" if number == 0 else "invalid_argument"
                    out.append((name, choice, outcome, True, True))
                    out.append((name, number, outcome, True, True))
                out.append((name, 3, "invalid_argument", True, True))
                out.append((name, True, "invalid_type", False, True))
                continue
        if name == "cluster_redis_url":
            # The URL is checked when the server is made; Redis itself need
            # not be up (nothing listens on port 1): the server serves.
            out.append((name, "redis://127.0.0.1:1/", "ok", False, True))
            out.append((name, "http://127.0.0.1/", "invalid_argument", False, True))
            out.append((name, 5, "invalid_type", False, True))
            out.append((name, None, "ok", False, True))
            continue
        if unit == "list":
            out.append((name, ["https://app.example"], "ok", True, True))
            # One string is a list of one.
            out.append((name, "https://app.example", "ok", False, True))
            out.append((name, 5, "invalid_type", False, True))
            continue
        if unit == "flag":
            # Python and Node take a boolean; C takes 1 or 0 (its cases
            # are numbers, so only the type errors are shared).
            out.append((name, True, "ok", False, True))
            out.append((name, False, "ok", False, True))
            out.append((name, "yes", "invalid_type", False, True))
            out.append((name, None, "ok", False, True))
            out.append((name, 1, "ok", True, True))
            out.append((name, 2, "invalid_argument", True, True))
            continue
        if unit == "threads":
            # 0 and "auto" are one loop per core (two here), the maximum
            # 64 loops: every front serves through several loops.
            out.append((name, 0, "ok", True, True))
            out.append((name, "auto", "ok", False, True))
            out.append((name, 2, "ok", True, True))
            out.append((name, o["max"], "ok", True, True))
            out.append((name, o["max"] + 1, "invalid_argument", True, True))
            out.append((name, -1, "invalid_argument", False, True))
            out.append((name, 1.5, "invalid_argument", False, True))
            out.append((name, "5", "invalid_type", False, True))
            out.append((name, True, "invalid_type", False, True))
            out.append((name, None, "ok", False, True))
            continue
        if unit == "choice":
            numbers = [v for _, v in o["choices"]]
            for choice, number in o["choices"]:
                out.append((name, choice, "ok", True, True))
                out.append((name, number, "ok", True, True))
            out.append((name, 0, "ok" if 0 in numbers else "invalid_argument", True, True))
            out.append((name, max(numbers) + 1, "invalid_argument", True, True))
            out.append((name, "bogus", "invalid_argument", True, True))
            out.append((name, True, "invalid_type", False, True))
            continue
        lo, hi = o["min"], o["max"]
        zero_ok = o["zero_is_off"] or lo == 0
        out.append((name, 0, "ok" if zero_ok else "invalid_argument", True, True))
        out.append((name, hi, "ok", True, True))
        out.append((name, hi + 1, "invalid_argument", True, True))
        if lo > 1:
            out.append((name, lo, "ok", True, False))
            out.append((name, lo - 1, "invalid_argument", True, True))
        out.append((name, -1, "invalid_argument", False, True))
        out.append((name, 1.5, "invalid_argument", False, True))
        out.append((name, "5", "invalid_type", False, True))
        out.append((name, True, "invalid_type", False, True))
        out.append((name, None, "ok", False, True))
    out.append(("no_such_option", 1, "invalid_type", True, True))
    return out


def expected_for(front: str, expected: str) -> str:
    # C has no type errors of its own: its types are the compiler's, and a
    # name it does not know is an unknown option id.
    if front == "c" and expected == "invalid_type":
        return "invalid_argument"
    return expected


class Running:
    """One contract server, started with some options."""

    def __init__(self, front: str, options: dict):
        self.proc = subprocess.Popen(
            FRONTS[front] + [json.dumps(options)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            self.proc.kill()
            raise AssertionError(f"{front} printed nothing for {options}: {err}")
        self.first = json.loads(line)

    def lines(self) -> list[dict]:
        """Ends the server (EOF on stdin) and returns the rest of its output."""
        try:
            # communicate() closes stdin: the server's cue to shut down.
            rest, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the server did not shut down")
        assert self.proc.returncode == 0, err
        return [json.loads(x) for x in rest.splitlines() if x.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def serves(port: int) -> None:
    """A WebSocket echo (text and binary) and a first SSE event go through."""
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\x01"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        got = b""
        while b"data: hello\n\n" not in got:
            chunk = s.recv(4096)
            assert chunk, f"stream ended before its first event: {got!r}"
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 ")


def outcome_of(front: str, option: str, value: object, serve: bool) -> tuple[str, str]:
    server = Running(front, {option: value})
    try:
        first = server.first
        if not first["ok"]:
            return first["kind"], first.get("message", "")
        if serve:
            serves(first["port"])
        rest = server.lines()
        assert {"probe": "after_close", "outcome": "stopped"} in rest, rest
        return "ok", ""
    finally:
        server.kill()


def fronts_to_test() -> list[str]:
    only = os.environ.get("CONTRACT_FRONTS")
    return only.split(",") if only else list(FRONTS)


CASES = cases()


@pytest.mark.parametrize("front", fronts_to_test())
def test_option_edge_values(front: str) -> None:
    todo = [c for c in CASES if front != "c" or c[3]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: (c, outcome_of(front, c[0], c[1], c[4])), todo))
    wrong = []
    for (option, value, expected, _, _), (got, message) in results:
        want = expected_for(front, expected)
        if got != want:
            wrong.append(f"{option}={value!r}: expected {want}, got {got} {message!r}")
        elif got != "ok" and option != "no_such_option" and not any(n in message for n in spelled(front, option)):
            wrong.append(f"{option}={value!r}: the message does not name the option: {message!r}")
    assert not wrong, f"{front}: " + "\n".join(wrong)


@pytest.mark.parametrize("front", fronts_to_test())
def test_connection_probes(front: str) -> None:
    server = Running(front, {})
    try:
        assert server.first["ok"], server.first
        port = server.first["port"]
        # A /ws connection that opens and closes: the stale id.
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"
        with connect(f"ws://127.0.0.1:{port}/probe", open_timeout=TIMEOUT) as probe:
            probe.send("run")
            # The probes end by closing the connection.
            try:
                while True:
                    probe.recv(timeout=TIMEOUT)
            except Exception:
                pass
            assert probe.close_code == 1000, probe.close_code
        got = {l["probe"]: l["outcome"] for l in server.lines() if "probe" in l}
        assert got == EXPECTED_PROBES, f"{front}: {got}"
    finally:
        server.kill()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
