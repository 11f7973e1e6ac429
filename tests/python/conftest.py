"""Fixtures that run the C example server (examples/run c) for the tests.

`make -s examples` runs once per session; each server is then started through
examples/run (which execs the binary, so the process we hold is the server
itself) on a free loopback port with SSE_INTERVAL_MS=50. At teardown the
server gets SIGTERM and must exit 0 within a few seconds. Its stderr goes to
a file, attached to the report of any test that fails while it runs.

TLS servers get a certificate for 127.0.0.1 and localhost from a CA made for
the session by trustme (TLS_CERT/TLS_KEY; TLS_PORT for TLS beside a plain
PORT); their clients trust that CA alone (TlsFiles.client_context).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SSE_INTERVAL_MS = 50
START_TIMEOUT = 60.0  # examples/run runs make again: a no-op, unless sources moved
STOP_TIMEOUT = 8.0  # the server's close timeout (5 s) and a margin
TEST_TIMEOUT = 60  # per test, via pytest-timeout: nothing may hang the suite


class TlsFiles:
    """A certificate and its key from the test CA, as the PEM files that
    TLS_CERT and TLS_KEY name."""

    def __init__(self, ca, directory: Path):
        self.ca = ca
        self.cert_path = directory / "cert.pem"
        self.key_path = directory / "key.pem"
        self.der = b""
        self.issue()

    def issue(self) -> bytes:
        """Writes a new certificate (and key) for 127.0.0.1 and localhost
        over the files, each replaced whole by a rename; returns its DER."""
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        _replace(self.key_path, cert.private_key_pem.bytes())
        _replace(self.cert_path, b"".join(pem.bytes() for pem in cert.cert_chain_pems))
        self.der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
        return self.der

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA alone (names checked)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=self.ca.cert_pem.bytes().decode())
        return ctx


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """One running example server."""

    def __init__(self, log_path: Path, extra_env: dict[str, str] | None = None,
                 tls: TlsFiles | None = None, tls_beside: bool = False):
        """`tls`: PORT speaks TLS with those files; with `tls_beside`, PORT
        stays plain and TLS is on a port of its own (TLS_PORT)."""
        self.host = HOST
        self.port = free_port()
        self.tls = tls
        self.tls_port = (free_port() if tls_beside else self.port) if tls else None
        self.log_path = log_path
        self.sse_interval_ms = SSE_INTERVAL_MS
        env = dict(os.environ, PORT=str(self.port), SSE_INTERVAL_MS=str(SSE_INTERVAL_MS))
        for name in ("WSRT_DEMO_PAGE", "DEFLATE", "TLS_CERT", "TLS_KEY", "TLS_PORT"):
            env.pop(name, None)
        if tls:
            env.update(TLS_CERT=str(tls.cert_path), TLS_KEY=str(tls.key_path))
            if tls_beside:
                env["TLS_PORT"] = str(self.tls_port)
        env.update(extra_env or {})
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / "examples" / "run"), "c"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self._wait_listening()

    @property
    def url(self) -> str:
        """Base HTTP URL, e.g. http://127.0.0.1:PORT"""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def wss_url(self) -> str:
        """wss://127.0.0.1:TLS_PORT (the TLS port: PORT, or TLS_PORT beside it)."""
        return f"wss://{self.host}:{self.tls_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before listening:\n{self.log()}"
                )
            try:
                for port in {self.port, self.tls_port or self.port}:
                    with socket.create_connection((self.host, port), timeout=1):
                        pass
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server not listening on {self.port} after {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self) -> int | None:
        """SIGTERM; the exit code, or None if it did not exit in time (then killed)."""
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

    def stop_and_check(self) -> None:
        already = self.proc.poll()
        code = self.terminate()
        assert already is None, f"server died during the tests (exit {already}):\n{self.log()}"
        assert code is not None, f"server did not exit within {STOP_TIMEOUT}s of SIGTERM:\n{self.log()}"
        assert code == 0, f"server exited {code} after SIGTERM:\n{self.log()}"


@pytest.fixture(scope="session")
def built() -> None:
    """Builds the library and the example once per session."""
    r = subprocess.run(
        ["make", "-s", "examples"], cwd=ROOT, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=900,
    )
    if r.returncode != 0:
        pytest.fail(f"make -s examples failed ({r.returncode}):\n{r.stdout}\n{r.stderr}", pytrace=False)


_running: list[Server] = []


def _start(built, tmp_path_factory, name: str, extra_env: dict[str, str] | None = None,
           **tls) -> Server:
    srv = Server(tmp_path_factory.mktemp(name) / "server.stderr", extra_env, **tls)
    _running.append(srv)
    return srv


def _finish(srv: Server) -> None:
    try:
        srv.stop_and_check()
    finally:
        _running.remove(srv)


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    """The server shared by a test module: yields a Server (base URL: .url)."""
    srv = _start(built, tmp_path_factory, "server")
    yield srv
    _finish(srv)


@pytest.fixture(scope="module", params=["shared", "per-connection"])
def deflate_server(request, built, tmp_path_factory):
    """The example with permessage-deflate on, in each mode (DEFLATE=...)."""
    srv = _start(built, tmp_path_factory, f"deflate-{request.param}", {"DEFLATE": request.param})
    srv.deflate_mode = request.param
    yield srv
    _finish(srv)


@pytest.fixture
def own_server(built, tmp_path_factory):
    """A server for one test alone (for tests that stop it themselves)."""
    srv = _start(built, tmp_path_factory, "own-server")
    yield srv
    if srv.proc.poll() is None:
        _finish(srv)
    else:  # the test stopped it and checked how
        srv._log.close()
        _running.remove(srv)


@pytest.fixture(scope="session")
def test_ca():
    """A CA made for this session (trustme): it signs every TLS server's
    certificate, and TLS clients trust it alone."""
    import trustme

    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(built, tmp_path_factory, test_ca):
    """The example speaking TLS on its PORT (TLS_CERT, TLS_KEY); .tls holds
    its files and the client context."""
    tls = TlsFiles(test_ca, tmp_path_factory.mktemp("tls-files"))
    srv = _start(built, tmp_path_factory, "tls-server", tls=tls)
    yield srv
    _finish(srv)


@pytest.fixture(scope="module")
def tls_beside_server(built, tmp_path_factory, test_ca):
    """The example with a plain PORT and TLS on TLS_PORT beside it."""
    tls = TlsFiles(test_ca, tmp_path_factory.mktemp("tls-files"))
    srv = _start(built, tmp_path_factory, "tls-beside-server", tls=tls, tls_beside=True)
    yield srv
    _finish(srv)


@pytest.fixture
def own_tls_server(built, tmp_path_factory, test_ca):
    """A TLS server for one test alone (for tests that change its files)."""
    tls = TlsFiles(test_ca, tmp_path_factory.mktemp("tls-files"))
    srv = _start(built, tmp_path_factory, "own-tls-server", tls=tls)
    yield srv
    _finish(srv)


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(_running):
            try:
                text = srv.log()
            except (OSError, ValueError):
                continue
            report.sections.append((f"server stderr (port {srv.port})", text[-20000:]))
