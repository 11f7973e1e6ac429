"""The cluster tests' servers: a redis-server of our own and the C,
Python and Node examples started through examples/run with PORT and
REDIS_URL. Shared by test_cluster.py (WebSocket and SSE clients) and
test_cluster_socketio.py (python-socketio clients)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 600.0  # examples/run builds what changed (a no-op after make)
STOP_TIMEOUT = 8.0
WAIT = 20.0
FRONTS = ("c", "python", "node")

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(what: str, pred, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Redis:
    """redis-server of our own on `port`."""

    def __init__(self, port: int, log_path: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run tests/tools/ensure-deps.sh", pytrace=False)
        self.port = port
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(log_path.parent), "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        wait_until("redis-server to answer PING", self.answers)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/"

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, as a restart does; waits for it to exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self._log.close()


class Example:
    """One example server (examples/run FRONT) in the cluster (`redis_url`
    None: on its own), with `env` added to its environment."""

    def __init__(self, front: str, redis_url: str | None, log_path: Path,
                 extra_env: dict[str, str] | None = None):
        self.front = front
        self.port = free_port()
        self.log_path = log_path
        env = dict(os.environ, PORT=str(self.port))
        for name in ("WSRT_DEMO_PAGE", "DEFLATE", "TLS_CERT", "TLS_KEY", "TLS_PORT", "REDIS_URL", "WORKERS"):
            env.pop(name, None)
        if redis_url is not None:
            env["REDIS_URL"] = redis_url
        env.update(extra_env or {})
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / "examples" / "run"), front], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{front} exited with {self.proc.returncode} before listening:\n{self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{front} not listening after {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ws(self, path: str = "/broadcast") -> ClientConnection:
        # Imported here: the Socket.IO tests' venv has no websockets.
        from websockets.sync.client import connect

        return connect(f"ws://{HOST}:{self.port}{path}", open_timeout=WAIT, max_size=None)

    def stats(self) -> dict[str, int]:
        """The example's /stats, with snake_case names (Node's are camelCase)."""
        with self.ws("/stats") as ws:
            raw = json.loads(ws.recv(timeout=WAIT))
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in raw.items()}

    def stop_and_check(self) -> None:
        already = self.proc.poll()
        if already is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        self._log.close()
        assert already is None, f"{self.front} died during the tests (exit {already}):\n{self.log()}"
        assert code == 0, f"{self.front} exited {code} after SIGTERM:\n{self.log()}"


def on_two_loops(front: str, logs: Path):
    """The example of `front` alone with WORKERS=2; a generator for a
    fixture: yields it, stops and checks it."""
    ex = Example(front, None, logs / f"{front}.stderr", {"WORKERS": "2"})
    try:
        yield ex
    finally:
        ex.stop_and_check()


def start_cluster(logs: Path, workers: str = "1"):
    """A Redis and one example of each front on it, each on `workers`
    loops; a generator for a fixture: yields (redis, {front: Example}),
    stops and checks them."""
    redis = Redis(free_port(), logs / "redis.log")
    servers: dict[str, Example] = {}
    try:
        for front in FRONTS:
            servers[front] = Example(front, redis.url, logs / f"{front}.stderr", {"WORKERS": workers})
        yield redis, servers
    finally:
        errors = []
        for s in servers.values():
            try:
                s.stop_and_check()
            except AssertionError as e:
                errors.append(str(e))
        redis.stop()
        assert not errors, "\n".join(errors)
