"""Fixtures for the fault-injection tests (tests/reliability/README.md).

`make test-faults` builds the C example, the Python package (.cache/pyenv)
and the Node addon first; run directly, the tests expect them built. Each
test starts the servers it needs (`start_server`), on free loopback ports;
at teardown every server still running gets SIGTERM and must exit 0. The
stderr of every server a test started is attached to its report when it
fails.
"""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path
from typing import Iterator, Optional

import pytest

from faultlib import C_SERVER, HERE, PY_ENV_PYTHON, ROOT, ServerProc

TEST_TIMEOUT = 25  # seconds per test (pytest-timeout): nothing may hang the run


@pytest.fixture(scope="session", autouse=True)
def _enough_fds() -> None:
    # Tests open a few hundred client sockets in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_running: list[ServerProc] = []


class Starter:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.servers: list[ServerProc] = []

    def _start(self, cmd: list[str], name: str, env: Optional[dict[str, str]], nofile: Optional[int]) -> ServerProc:
        srv = ServerProc(cmd, self.tmp / f"{name}-{len(self.servers)}.stderr", env, nofile)
        self.servers.append(srv)
        _running.append(srv)
        return srv

    def c(self, env: Optional[dict[str, str]] = None, nofile: Optional[int] = None) -> ServerProc:
        """The C example (examples/c/echo_server.c), as `make examples` built it."""
        if not C_SERVER.exists():
            pytest.fail(f"{C_SERVER} is missing: run `make examples` (make test-faults does)", pytrace=False)
        env = dict(env or {})
        if os.environ.get("RELIABILITY_WORKERS"):  # the example's event loops ($WORKERS)
            env.setdefault("WORKERS", os.environ["RELIABILITY_WORKERS"])
        return self._start([str(C_SERVER)], "c", env, nofile)

    def example(self, front: str, env: Optional[dict[str, str]] = None) -> ServerProc:
        """The example server of `front` (c, python or node): the same
        routes (/echo, /sse, /broadcast, /events, /stats) in each."""
        if front == "c":
            return self.c(env)
        if front == "python":
            if not PY_ENV_PYTHON.exists():
                pytest.fail(f"{PY_ENV_PYTHON} is missing: run `make python-dev`", pytrace=False)
            cmd = [str(PY_ENV_PYTHON), str(ROOT / "examples" / "python" / "echo_server.py")]
        else:
            node = shutil.which("node")
            if node is None or not (ROOT / "examples" / "node" / "node_modules" / "wsrt").exists():
                pytest.fail("node and examples/node/node_modules are needed: run `make node-addon`", pytrace=False)
            cmd = [node, str(ROOT / "examples" / "node" / "echo_server.mjs")]
        return self._start(cmd, front, env, None)

    def python_throwing(self) -> ServerProc:
        if not PY_ENV_PYTHON.exists():
            pytest.fail(f"{PY_ENV_PYTHON} is missing: run `make python-dev`", pytrace=False)
        return self._start([str(PY_ENV_PYTHON), str(HERE / "servers" / "throwing_server.py")], "python", None, None)

    def node_throwing(self) -> ServerProc:
        node = shutil.which("node")
        if node is None or not (ROOT / "bindings-node" / "wsrt.node").exists():
            pytest.fail("node and bindings-node/wsrt.node are needed: run `make node-addon`", pytrace=False)
        return self._start([node, str(HERE / "servers" / "throwing_server.mjs")], "node", None, None)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Starter]:
    """Starts servers for one test; each must still be running at the end
    and exit 0 on SIGTERM (unless the test stopped it itself)."""
    starter = Starter(tmp_path)
    yield starter
    problems = []
    for srv in starter.servers:
        try:
            if srv.proc.returncode is not None and srv._log.closed:
                continue  # the test stopped it and checked how
            already = srv.proc.poll()
            code = srv.terminate()
            if already is not None:
                problems.append(f"server {srv.port} died during the test (exit {already}):\n{srv.log()[-5000:]}")
            elif code != 0:
                problems.append(f"server {srv.port} exited {code} after SIGTERM:\n{srv.log()[-5000:]}")
        finally:
            _running.remove(srv)
    assert not problems, "\n".join(problems)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(_running):
            report.sections.append((f"server stderr (port {srv.port})", srv.log()[-20000:]))
