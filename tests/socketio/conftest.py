"""Fixtures of the Python side of the Socket.IO end-to-end tests.

The server under test implements the example contract (README.md here).
run.mjs passes its URL in SIO_URL (and the front in SIO_FRONT); run on its
own, this suite starts the server itself through serve.sh on a free loopback
port and stops it with SIGTERM at the end (it must exit 0). The clients are
python-socketio's AsyncClient (aiohttp), from .cache/sio-venv (venv.sh).
Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOST = "127.0.0.1"
FRONT = os.environ.get("SIO_FRONT", "reference")
START_TIMEOUT = 30.0 if FRONT == "reference" else 900.0  # a wsrt front may build first
STOP_TIMEOUT = 8.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sio_url() -> Iterator[str]:
    given = os.environ.get("SIO_URL")
    if given:
        yield given.rstrip("/")
        return
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIO_")}
    env["PORT"] = str(port)
    log = tempfile.NamedTemporaryFile(prefix=f"wsrt-sio-{FRONT}-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [str(HERE / "serve.sh"), FRONT], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    )

    def text() -> str:
        return Path(log.name).read_text(errors="replace")

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{FRONT} server exited {proc.returncode} before listening:\n{text()}", pytrace=False)
        try:
            with socket.create_connection((HOST, port), timeout=1):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{FRONT} server not listening after {START_TIMEOUT}s:\n{text()}", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        died = proc.poll()
        if died is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            code = None
        log.close()
        assert died is None, f"the server died during the tests (exit {died}):\n{text()}"
        assert code == 0, f"the server did not exit 0 on SIGTERM (got {code}):\n{text()}"
