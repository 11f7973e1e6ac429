"""Fixtures for the `wsrt` Python package's tests.

The package is installed into .cache/pyenv by tests/python-binding/venv.sh
(`make test-python-binding` runs it first). Servers under test run in a
thread of their own with their own asyncio loop (`running(server)`), or as
the example process (`example` fixture, through `examples/run python`).
Clients are real third-party ones: `websockets` and `httpx`. Everything
listens on and connects to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import wsrt

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
T = 10.0  # seconds for any single await
TEST_TIMEOUT = 60  # per test, via pytest-timeout
STOP_TIMEOUT = 8.0  # the core's close timeout (5 s) and a margin


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def run(coro: Any, timeout: float = 30.0) -> Any:
    """Runs a coroutine to completion on a fresh loop, never longer than `timeout`."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def w(aw: Any, timeout: float = T) -> Any:
    return asyncio.wait_for(aw, timeout)


def ws_connect(url: str, **kw: Any) -> Any:
    from websockets.asyncio.client import connect

    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    kw.setdefault("proxy", None)  # never through a proxy: loopback only
    return connect(url, **kw)


class Running:
    """A wsrt.Server serving under asyncio on a thread of its own."""

    def __init__(self, server: wsrt.Server):
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._main, name="wsrt-server", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            await self.server.start()
            self.loop = asyncio.get_running_loop()
            self._started.set()
            try:
                await self.server.wait_closed()
            finally:
                await self.server.shutdown()

        try:
            asyncio.run(main())
        except BaseException as e:  # reported by stop()
            self.error = e
        finally:
            self._started.set()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.server.port}"

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs fn(*args) on the server's loop thread and returns its result."""
        assert self.loop is not None
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def go() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as e:
                fut.set_exception(e)

        self.loop.call_soon_threadsafe(go)
        return fut.result(T)

    def start(self) -> "Running":
        self.thread.start()
        assert self._started.wait(T), "server did not start"
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), "server did not finish its shutdown"
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def running(server: wsrt.Server) -> Iterator[Running]:
    r = Running(server).start()
    try:
        yield r
    finally:
        r.stop()


class Example:
    """The example server (examples/run python, or `command`) as a process."""

    def __init__(self, log_path: Path, sse_interval_ms: int = 50, env: dict[str, str] | None = None,
                 command: list[str] | None = None):
        self.port = free_port()
        self.log_path = log_path
        self.sse_interval_ms = sse_interval_ms
        # Only what is asked for: no demo page or compression from the
        # caller's environment.
        full = {k: v for k, v in os.environ.items() if k not in ("WSRT_DEMO_PAGE", "DEFLATE")}
        full.update(PORT=str(self.port), SSE_INTERVAL_MS=str(sse_interval_ms), **(env or {}))
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            command or [str(ROOT / "examples" / "run"), "python"],
            cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        deadline = time.monotonic() + 120  # examples/run may rebuild the package
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"example exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"example not listening after 120 s:\n{self.log()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def terminate(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    ex = Example(tmp_path_factory.mktemp("example") / "server.stderr")
    try:
        yield ex
    finally:
        already = ex.proc.poll()
        code = ex.terminate()
    assert already is None, f"example died during the tests (exit {already}):\n{ex.log()}"
    assert code == 0, f"example exited {code} after SIGTERM:\n{ex.log()}"


@pytest.fixture(scope="session", autouse=True)
def _enough_fds() -> None:
    # 1,000 client and 1,000 server sockets live in this one process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))
