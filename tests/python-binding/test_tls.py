"""TLS in the Python front: the tls_* options (paths, PEM text, bytes,
pathlib.Path), `Server.tls_port`, `Server.reload_tls`, `Connection.tls`
and the TLS counters of `Stats`, against real peers: the `websockets`
client, httpx and Python's `ssl` module, trusting a CA that `trustme` makes
at test time (no certificate or key is committed). Also the example's TLS
contract (TLS_CERT, TLS_KEY, TLS_PORT, SIGHUP)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
import trustme
import wsrt
from conftest import HOST, ROOT, T, Example, free_port, run, running, w, ws_connect
from cryptography import x509
from test_sse import read_events

NAME = "localhost"


def wait_until(cond: Callable[[], Any], what: str, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Files:
    """A certificate's chain and key written to PEM files."""

    def __init__(self, cert: trustme.LeafCert, where: Path, stem: str):
        self.leaf = cert
        self.cert, self.key = where / f"{stem}.crt", where / f"{stem}.key"
        self.write(cert)

    def write(self, cert: trustme.LeafCert) -> None:
        """(Re)writes both files with `cert`, as a renewal does."""
        self.leaf = cert
        self.cert.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(self.key))

    @property
    def der(self) -> bytes:
        return der_of(self.leaf)


def der_of(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def client_context(ca: trustme.CA, cert: trustme.LeafCert | None = None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def tls_socket(port: int, ctx: ssl.SSLContext, name: str | None = NAME) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:port, the handshake done."""
    sock = socket.create_connection((HOST, port), timeout=T)
    try:
        return ctx.wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise


def served_der(port: int, ctx: ssl.SSLContext, name: str | None = NAME) -> bytes:
    """The certificate the server presents to a client asking for `name`."""
    with tls_socket(port, ctx, name) as s:
        der = s.getpeercert(binary_form=True)
        assert der is not None
        return der


def peer_der(ws: Any) -> bytes:
    """The server certificate of a `websockets` connection."""
    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert der is not None
    return der  # type: ignore[no-any-return]


def wss(port: int, path: str, ctx: ssl.SSLContext, name: str = NAME, **kw: Any) -> Any:
    return ws_connect(f"wss://{HOST}:{port}{path}", ssl=ctx, server_hostname=name, **kw)


def tls_server(seen: list[wsrt.Connection] | None = None, **options: Any) -> wsrt.Server:
    """/echo echoes; /sse sends "hello"; each opened connection goes to `seen`."""
    server = wsrt.Server(HOST, 0, **options)
    opened = (lambda c: seen.append(c)) if seen is not None else None
    server.websocket("/echo", on_open=opened, on_message=lambda ws, m: ws.send(m))

    def sse_open(stream: wsrt.SseStream) -> None:
        if seen is not None:
            seen.append(stream)
        stream.send("hello")

    server.sse("/sse", on_open=sse_open)
    return server


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def test_wss_echo_and_https_sse_show_the_handshake(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME, HOST), tmp_path, "server")
    seen: list[wsrt.Connection] = []
    server = tls_server(seen, tls_cert=str(files.cert), tls_key=str(files.key))
    ctx = client_context(ca)
    with running(server) as srv:
        assert server.tls_port == server.port

        async def client() -> None:
            async with wss(server.port, "/echo", ctx) as ws:
                for m in ("text", b"\x00binary\xff", "ü" * 70000):
                    await ws.send(m)
                    assert await w(ws.recv()) == m
                assert peer_der(ws) == files.der
            # An event stream over https, reached by address: no SNI.
            async with httpx.AsyncClient(timeout=T, trust_env=False, verify=ctx) as c:
                async with c.stream("GET", f"https://{HOST}:{server.port}/sse") as resp:
                    assert resp.status_code == 200
                    assert [e["data"] for e in await w(read_events(resp, 1))] == ["hello"]

        run(client())
        ws_conn, stream = seen
        assert isinstance(ws_conn, wsrt.WebSocket) and isinstance(stream, wsrt.SseStream)
        info = ws_conn.tls
        assert isinstance(info, wsrt.TlsInfo)
        assert info.version == "TLSv1.3" and info.cipher.startswith("TLS13_"), info
        assert info.server_name == NAME
        assert info.peer_subject is None and info.peer_certificate is None
        assert ws_conn.tls == info  # a value: equal each time it is read
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.version = "x"  # type: ignore[misc]
        assert stream.tls is not None and stream.tls.server_name is None
        st = srv.call(server.stats)
        assert st.tls_handshakes == 2 and st.tls_failures == 0, st


def test_tls_listen_beside_a_plain_port(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME), tmp_path, "server")
    seen: list[wsrt.Connection] = []
    server = tls_server(seen, tls_cert=files.cert, tls_key=files.key, tls_listen=f"{HOST}:0")
    assert server.tls_port is None  # not bound yet
    with running(server):
        tls_port = server.tls_port
        assert tls_port is not None and tls_port != server.port

        async def client() -> None:
            async with ws_connect(f"ws://{HOST}:{server.port}/echo") as plain:
                await plain.send("plain")
                assert await w(plain.recv()) == "plain"
            async with wss(tls_port, "/echo", client_context(ca)) as secure:
                await secure.send("secure")
                assert await w(secure.recv()) == "secure"

        run(client())
        plain_conn, secure_conn = seen
        assert plain_conn.tls is None
        assert secure_conn.tls is not None and secure_conn.tls.server_name == NAME
    without = wsrt.Server(HOST, 0)
    without.bind()
    assert without.tls_port is None


def test_sni_picks_the_certificate_and_defaults_to_the_first(ca: trustme.CA, tmp_path: Path) -> None:
    one, two = ca.issue_cert("one.test"), ca.issue_cert("two.test")
    # A tuple of a path and PEM bytes; the keys as a list of PEM text and a path.
    two_files = Files(two, tmp_path, "two")
    key_one = one.private_key_pem.bytes().decode()
    server = tls_server(tls_cert=(one_pem(one), two_files.cert), tls_key=[key_one, two_files.key])
    with running(server):
        ctx = client_context(ca)
        assert served_der(server.port, ctx, "one.test") == der_of(one)
        assert served_der(server.port, ctx, "two.test") == der_of(two)
        # A name no certificate has: the first, which the client then refuses
        # to trust for that name (so do not check the name here).
        loose = client_context(ca)
        loose.check_hostname = False
        assert served_der(server.port, loose, "unknown.test") == der_of(one)
        assert served_der(server.port, loose, None) == der_of(one)


def one_pem(cert: trustme.LeafCert) -> bytes:
    return b"".join(p.bytes() for p in cert.cert_chain_pems)


def test_client_certificates_required(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME), tmp_path, "server")
    seen: list[wsrt.Connection] = []
    server = tls_server(seen, tls_cert=files.cert, tls_key=files.key, tls_ca=ca.cert_pem.bytes(),
                        tls_client_auth="required")
    alice = ca.issue_cert("alice.test", common_name="alice")
    with running(server) as srv:
        # No certificate: TLS 1.3 finishes the client's side of the handshake,
        # then the server's alert ends the connection at the first read.
        with tls_socket(server.port, client_context(ca)) as s:
            with pytest.raises(ssl.SSLError) as refused:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
                s.recv(1024)
        assert refused.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED", refused.value
        # A certificate from another CA: refused too.
        other = trustme.CA().issue_cert("mallory.test", common_name="mallory")
        with tls_socket(server.port, client_context(ca, other)) as s:
            with pytest.raises(ssl.SSLError):
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
                s.recv(1024)
        wait_until(lambda: srv.call(server.stats).tls_failures == 2, "two refused handshakes")

        async def client() -> None:
            async with wss(server.port, "/echo", client_context(ca, alice)) as ws:
                await ws.send("alice")
                assert await w(ws.recv()) == "alice"

        run(client())
        info = seen[0].tls
        assert info is not None
        subject = x509.load_pem_x509_certificate(alice.cert_chain_pems[0].bytes()).subject
        assert info.peer_subject == subject.rfc4514_string()
        assert info.peer_subject.startswith("CN=alice,"), info.peer_subject
        assert info.peer_certificate == der_of(alice)
        st = srv.call(server.stats)
        assert (st.tls_failures, st.tls_handshakes) == (2, 1), st


def test_reload_changes_new_connections_only(ca: trustme.CA, tmp_path: Path) -> None:
    first = Files(ca.issue_cert(NAME), tmp_path, "first")
    second = Files(ca.issue_cert(NAME), tmp_path, "second")
    server = tls_server(tls_cert=str(first.cert), tls_key=str(first.key))
    ctx = client_context(ca)
    with running(server) as srv:

        async def client() -> None:
            async with wss(server.port, "/echo", ctx) as old:
                assert peer_der(old) == first.der
                # From a thread other than the server's loop, as a signal
                # handler or an admin endpoint would.
                await asyncio.to_thread(server.reload_tls, tls_cert=second.cert, tls_key=second.key)
                assert await asyncio.to_thread(served_der, server.port, ctx) == second.der
                async with wss(server.port, "/echo", ctx) as new:
                    assert peer_der(new) == second.der
                    await new.send("new")
                    assert await w(new.recv()) == "new"
                # The open connection keeps working, with its certificate.
                await old.send("still here")
                assert await w(old.recv()) == "still here"

        run(client())
        # On the loop thread too, back to the first.
        srv.call(lambda: server.reload_tls(tls_cert=first.cert, tls_key=first.key))
        assert served_der(server.port, ctx) == first.der


def test_a_bad_reload_raises_and_changes_nothing(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME), tmp_path, "server")
    server = tls_server(tls_cert=files.cert, tls_key=files.key)
    ctx = client_context(ca)
    missing = tmp_path / "renewed" / "server.crt"
    with running(server):
        with pytest.raises(OSError) as e:
            server.reload_tls(tls_cert=missing, tls_key=files.key)
        assert "tls_cert" in str(e.value) and str(missing) in str(e.value), e.value
        # A key that does not fit the certificate.
        other = Files(ca.issue_cert(NAME), tmp_path, "other")
        with pytest.raises(ValueError, match="tls_key #1 does not fit tls_cert #1"):
            server.reload_tls(tls_cert=files.cert, tls_key=other.key)
        with pytest.raises(ValueError, match="tls_cert and tls_key pair up"):
            server.reload_tls(tls_cert=[files.cert, other.cert], tls_key=files.key)
        with pytest.raises(ValueError, match="tls_listen cannot change"):
            server.reload_tls(tls_cert=files.cert, tls_key=files.key, tls_listen=f"{HOST}:1")
        # Only the tls_* options, named as in the constructor.
        with pytest.raises(TypeError, match="idle_timeout_ms"):
            server.reload_tls(tls_cert=files.cert, tls_key=files.key, idle_timeout_ms=5)
        with pytest.raises(TypeError, match='unknown option "tls_certs"'):
            server.reload_tls(tls_certs=files.cert, tls_key=files.key)
        with pytest.raises(TypeError, match="tls_key must be a string or a list of strings, not a number"):
            server.reload_tls(tls_cert=files.cert, tls_key=1)
        # The server goes on with what it had.
        assert served_der(server.port, ctx) == files.der

        async def client() -> None:
            async with wss(server.port, "/echo", ctx) as ws:
                await ws.send("fine")
                assert await w(ws.recv()) == "fine"

        run(client())
    plain = wsrt.Server(HOST, 0)
    with pytest.raises(RuntimeError, match="not bound"):
        plain.reload_tls(tls_cert=files.cert, tls_key=files.key)
    plain.bind()
    with pytest.raises(ValueError, match="no TLS listener"):
        plain.reload_tls(tls_cert=files.cert, tls_key=files.key)


def test_plain_http_on_the_tls_port_gets_400(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME), tmp_path, "server")
    server = tls_server(tls_cert=files.cert, tls_key=files.key)
    with running(server) as srv:
        with socket.create_connection((HOST, server.port), timeout=T) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        text = answer.decode()
        assert text.startswith("HTTP/1.1 400 Bad Request\r\n"), text
        assert "This port speaks TLS" in text, text
        wait_until(lambda: srv.call(server.stats).tls_failures == 1, "the refusal counted")
        assert srv.call(server.stats).tls_handshakes == 0


def test_min_version_refuses_older_clients(ca: trustme.CA, tmp_path: Path) -> None:
    files = Files(ca.issue_cert(NAME), tmp_path, "server")
    seen: list[wsrt.Connection] = []
    only12 = client_context(ca, max_version=ssl.TLSVersion.TLSv1_2)
    strict = tls_server(tls_cert=files.cert, tls_key=files.key, tls_min_version="1.3")
    with running(strict) as srv:
        with pytest.raises(ssl.SSLError) as e:
            tls_socket(strict.port, only12)
        assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
        assert served_der(strict.port, client_context(ca)) == files.der  # 1.3 is fine
        wait_until(lambda: srv.call(strict.stats).tls_failures == 1, "the refusal counted")
    # The default accepts TLS 1.2, and the request says so.
    lenient = tls_server(seen, tls_cert=files.cert, tls_key=files.key)
    with running(lenient):

        async def client() -> None:
            async with wss(lenient.port, "/echo", only12) as ws:
                await ws.send("1.2")
                assert await w(ws.recv()) == "1.2"

        run(client())
        info = seen[0].tls
        assert info is not None and info.version == "TLSv1.2", info
        assert not info.cipher.startswith("TLS13_"), info
    bad = wsrt.Server(HOST, 0, tls_cert=files.cert, tls_key=files.key, tls_min_version="1.1")
    with pytest.raises(ValueError, match='tls_min_version must be one of "1.2" \\(12\\)'):
        bad.bind()


class BytesPath:
    """An os.PathLike whose path is bytes."""

    def __init__(self, path: Path):
        self.path = os.fsencode(path)

    def __fspath__(self) -> bytes:
        return self.path


def test_options_as_bytes_paths_and_lists(ca: trustme.CA, tmp_path: Path) -> None:
    leaf = ca.issue_cert(NAME)
    files = Files(leaf, tmp_path, "server")
    ctx = client_context(ca)
    for cert, key in ((one_pem(leaf), files.key),  # PEM bytes, pathlib.Path
                      (files.cert, leaf.private_key_pem.bytes()),
                      ([BytesPath(files.cert)], (files.key,)),
                      (leaf.cert_chain_pems[0].bytes().decode(), str(files.key))):
        server = tls_server(tls_cert=cert, tls_key=key)
        with running(server):
            assert served_der(server.port, ctx) == files.der, (cert, key)
    # What is not text is refused by the core, naming the option.
    for options, message in (
        ({"tls_cert": b"\xff\xfe", "tls_key": files.key}, "tls_cert must be a string or a list of strings, "
                                                          "not bytes that are not UTF-8"),
        ({"tls_cert": [files.cert, 3], "tls_key": files.key}, "tls_cert must be a string or a list of strings, "
                                                              "not a list with an item that is not a str, bytes or path"),
        ({"tls_cert": files.cert, "tls_key": files.key, "tls_listen": 8443}, "tls_listen must be a string, not a number"),
        ({"tls_cert": files.cert, "tls_key": files.key, "tls_client_auth": b"required"},
         "tls_client_auth must be a string, not bytes"),
    ):
        with pytest.raises(TypeError) as e:
            wsrt.Server(HOST, 0, **options).bind()
        assert str(e.value) == message
    with pytest.raises(ValueError, match="tls_ca needs tls_cert and tls_key"):
        wsrt.Server(HOST, 0, tls_ca=ca.cert_pem.bytes()).bind()
    with pytest.raises(ValueError, match="tls_key #1: no usable PRIVATE KEY in the PEM text"):
        wsrt.Server(HOST, 0, tls_cert=files.cert, tls_key=b"-----BEGIN PRIVATE KEY-----\n").bind()


# -- the example ---------------------------------------------------------------


def example_tls(tmp_path: Path, ca: trustme.CA, **env: str) -> tuple[Example, Files]:
    files = Files(ca.issue_cert(NAME, HOST), tmp_path, "example")
    ex = Example(tmp_path / "server.stderr", env={"TLS_CERT": str(files.cert), "TLS_KEY": str(files.key), **env})
    return ex, files


def wait_log(ex: Example, text: str, count: int = 1) -> None:
    wait_until(lambda: ex.log().count(text) >= count, f"{text!r} in the example's log:\n{ex.log()}")


def test_example_serves_wss_and_reloads_on_sighup(ca: trustme.CA, tmp_path: Path) -> None:
    ex, files = example_tls(tmp_path, ca)
    ctx = client_context(ca)
    try:
        wait_log(ex, f"listening on https/wss 127.0.0.1:{ex.port} ")
        first = files.der

        async def echo(expect: bytes) -> None:
            async with wss(ex.port, "/echo", ctx) as ws:
                assert peer_der(ws) == expect
                await ws.send("over TLS")
                assert await w(ws.recv()) == "over TLS"

        run(echo(first))

        async def across_reload() -> None:
            async with wss(ex.port, "/echo", ctx) as old:
                # The files renewed in place, then SIGHUP.
                files.write(ca.issue_cert(NAME, HOST))
                assert files.der != first
                ex.proc.send_signal(signal.SIGHUP)
                await asyncio.to_thread(wait_log, ex, "TLS certificate reloaded")
                await echo(files.der)
                await old.send("old one")
                assert await w(old.recv()) == "old one"
                assert peer_der(old) == first

        run(across_reload())
        # A renewal gone wrong: the error is logged and the server goes on.
        files.cert.write_text("not a certificate")
        ex.proc.send_signal(signal.SIGHUP)
        wait_log(ex, "TLS reload failed, keeping the current certificate")
        assert "tls_cert #1" in ex.log()
        run(echo(files.der))
        assert ex.terminate() == 0, ex.log()
    finally:
        ex.kill()


def test_example_tls_port_beside_a_plain_port(ca: trustme.CA, tmp_path: Path) -> None:
    tls_port = free_port()
    ex, files = example_tls(tmp_path, ca, TLS_PORT=str(tls_port))
    try:
        wait_log(ex, f"listening on https/wss 127.0.0.1:{tls_port} and http/ws 127.0.0.1:{ex.port} ")

        async def client() -> None:
            async with ws_connect(f"{ex.ws_url}/echo") as plain:
                await plain.send("plain")
                assert await w(plain.recv()) == "plain"
            async with wss(tls_port, "/echo", client_context(ca)) as secure:
                assert peer_der(secure) == files.der
                await secure.send("secure")
                assert await w(secure.recv()) == "secure"

        run(client())
        assert ex.terminate() == 0, ex.log()
    finally:
        ex.kill()


@pytest.mark.parametrize("given", ["TLS_CERT", "TLS_KEY"])
def test_example_needs_both_files(given: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TLS_CERT", "TLS_KEY", "TLS_PORT")}
    env.update(PORT=str(free_port()), **{given: str(tmp_path / "x.pem")})
    r = subprocess.run([str(ROOT / "examples" / "run"), "python"], cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    missing = "TLS_KEY" if given == "TLS_CERT" else "TLS_CERT"
    assert f"TLS_CERT and TLS_KEY go together (PEM file paths): {given} is set, {missing} is not" in r.stderr
