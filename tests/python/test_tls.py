"""The C example over TLS (TLS_CERT, TLS_KEY, TLS_PORT, SIGHUP), with real
clients: `websockets` and Python's `ssl` trusting only the session's test CA
(trustme, conftest.py), so every connection also checks that the server
presents a certificate that CA signed for 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
from websockets.asyncio.client import connect

from conftest import HOST, ROOT, TlsFiles, free_port

T = 10.0  # seconds to wait for any one step
MiB = 1 << 20


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def w(aw, timeout: float = T):
    return asyncio.wait_for(aw, timeout)


def wss_connect(server, path: str = "/echo", **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    kw.setdefault("proxy", None)
    return connect(f"{server.wss_url}{path}", ssl=server.tls.client_context(), **kw)


def peer_der(ws) -> bytes:
    """The certificate the server presented on this connection (DER)."""
    return ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)


def tls_socket(server, port: int | None = None) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, port or server.tls_port), timeout=T)
    return server.tls.client_context().wrap_socket(raw, server_hostname=HOST)


def read_until(sock, marker: bytes, limit: int = 1 << 20) -> bytes:
    """Reads until `marker` has arrived (or the peer closes); all of it."""
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def read_all(sock) -> bytes:
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
    return buf


def wait_for_log(server, text: str, timeout: float = T) -> str:
    """The server's log once it holds `text` (polled: the server writes it
    when it gets round to it)."""
    deadline = time.monotonic() + timeout
    while text not in (log := server.log()):
        assert time.monotonic() < deadline, f"{text!r} not in the server's log after {timeout}s:\n{log}"
        time.sleep(0.02)
    return log


# ---------------------------------------------------------------------------
# TLS on PORT
# ---------------------------------------------------------------------------

def test_startup_line_says_https_and_wss(tls_server):
    log = wait_for_log(tls_server, "listening on")
    assert f"listening on 127.0.0.1:{tls_server.port} (https, wss)" in log


def test_wss_echo_text_binary_and_1mib(tls_server):
    async def go():
        async with wss_connect(tls_server, max_size=None, write_limit=4 * MiB) as ws:
            assert peer_der(ws) == tls_server.tls.der
            assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            await w(ws.send("héllo"))
            assert await w(ws.recv()) == "héllo"
            await w(ws.send(b"\x00\x01\xfe\xff"))
            assert await w(ws.recv()) == b"\x00\x01\xfe\xff"
            big = os.urandom(MiB)
            await w(ws.send(big))
            assert await w(ws.recv()) == big
            text = "wsrt " * (MiB // 5)
            await w(ws.send(text))
            assert await w(ws.recv()) == text
            # Many small messages in a row come back in order.
            for i in range(200):
                await ws.send(f"m{i}")
            assert [await w(ws.recv()) for _ in range(200)] == [f"m{i}" for i in range(200)]

    run(go())


def test_https_sse_first_events_arrive(tls_server):
    with tls_socket(tls_server) as s:
        s.sendall(f"GET /sse HTTP/1.1\r\nHost: {HOST}:{tls_server.port}\r\n"
                  "Accept: text/event-stream\r\n\r\n".encode())
        got = read_until(s, b"\nid: 2\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert b"content-type: text/event-stream" in head.lower(), head
    events = [e for e in body.split(b"\n\n") if e]
    assert events[0].startswith(b"event: tick\nid: 1\ndata: tick 1\n"), body
    assert events[1].startswith(b"event: tick\nid: 2\ndata: tick 2\n"), body


def test_plain_http_on_the_tls_port_gets_400(tls_server):
    with socket.create_connection((HOST, tls_server.port), timeout=T) as s:
        s.sendall(f"GET /echo HTTP/1.1\r\nHost: {HOST}:{tls_server.port}\r\n\r\n".encode())
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"This port speaks TLS: use https:// or wss://." in answer, answer


def test_untrusted_certificate_is_refused_by_the_client(tls_server):
    """The check above means something: a client that does not trust the
    test CA refuses the server's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_default_certs()
    raw = socket.create_connection((HOST, tls_server.port), timeout=T)
    with pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(raw, server_hostname=HOST)
    raw.close()


# ---------------------------------------------------------------------------
# TLS_PORT beside a plain PORT
# ---------------------------------------------------------------------------

def test_tls_port_beside_plain_port(tls_beside_server):
    srv = tls_beside_server
    assert srv.tls_port != srv.port
    log = wait_for_log(srv, "listening on")
    assert f"127.0.0.1:{srv.port} (http, ws) and 127.0.0.1:{srv.tls_port} (https, wss)" in log

    async def go():
        plain_cm = connect(f"{srv.ws_url}/echo", open_timeout=T, ping_interval=None, proxy=None)
        async with plain_cm as plain, wss_connect(srv) as secure:
            assert plain.transport.get_extra_info("ssl_object") is None
            assert peer_der(secure) == srv.tls.der
            # Both open at once, messages interleaved.
            for i in range(20):
                await w(plain.send(f"plain {i}"))
                await w(secure.send(f"secure {i}".encode()))
            for i in range(20):
                assert await w(plain.recv()) == f"plain {i}"
                assert await w(secure.recv()) == f"secure {i}".encode()

    run(go())
    # Each port keeps to its side: plain HTTP on TLS_PORT gets the 400, a
    # TLS handshake on the plain PORT gets no certificate.
    with socket.create_connection((HOST, srv.tls_port), timeout=T) as s:
        s.sendall(f"GET /echo HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert read_all(s).startswith(b"HTTP/1.1 400 ")
    raw = socket.create_connection((HOST, srv.port), timeout=T)
    with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout)):
        srv.tls.client_context().wrap_socket(raw, server_hostname=HOST)
    raw.close()


# ---------------------------------------------------------------------------
# SIGHUP: the certificate reloaded from the same paths
# ---------------------------------------------------------------------------

def test_sighup_reload_new_connections_see_the_new_certificate(own_tls_server):
    srv = own_tls_server
    first = srv.tls.der

    async def go():
        async with wss_connect(srv) as old:
            assert peer_der(old) == first
            await w(old.send("before"))
            assert await w(old.recv()) == "before"

            second = srv.tls.issue()
            assert second != first
            srv.proc.send_signal(signal.SIGHUP)
            wait_for_log(srv, "SIGHUP: TLS certificate reloaded")
            async with wss_connect(srv) as new:
                assert peer_der(new) == second
                await w(new.send("after"))
                assert await w(new.recv()) == "after"

            # The connection made before the reload goes on, on its old
            # certificate.
            assert peer_der(old) == first
            await w(old.send(b"still here"))
            assert await w(old.recv()) == b"still here"

    run(go())


def test_sighup_with_broken_files_keeps_the_old_certificate(own_tls_server):
    srv = own_tls_server
    srv.tls.cert_path.write_text("not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    log = wait_for_log(srv, "SIGHUP: TLS reload failed")
    assert "tls_cert" in log.split("SIGHUP: TLS reload failed", 1)[1], log

    async def go():
        async with wss_connect(srv) as ws:
            assert peer_der(ws) == srv.tls.der  # the certificate it started with
            await w(ws.send("ok"))
            assert await w(ws.recv()) == "ok"

    run(go())
    assert srv.proc.poll() is None


# ---------------------------------------------------------------------------
# Start-up errors
# ---------------------------------------------------------------------------

def start_failing(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PORT=str(free_port()))
    for name in ("TLS_CERT", "TLS_KEY", "TLS_PORT", "WSRT_DEMO_PAGE", "DEFLATE"):
        env.pop(name, None)
    env.update(env_extra)
    return subprocess.run([str(ROOT / "examples" / "run"), "c"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("only", ["TLS_CERT", "TLS_KEY"])
def test_only_one_of_cert_and_key_exits_2(built, test_ca, tmp_path, only):
    tls = TlsFiles(test_ca, tmp_path)
    path = tls.cert_path if only == "TLS_CERT" else tls.key_path
    r = start_failing({only: str(path)})
    assert r.returncode == 2, r.stderr
    assert "TLS_CERT and TLS_KEY go together" in r.stderr, r.stderr


@pytest.mark.parametrize("content", ["not a certificate\n", "-----BEGIN GARBAGE-----\n"])
def test_bad_certificate_exits_1_with_the_library_message(built, test_ca, tmp_path, content):
    tls = TlsFiles(test_ca, tmp_path)
    tls.cert_path.write_text(content)
    r = start_failing({"TLS_CERT": str(tls.cert_path), "TLS_KEY": str(tls.key_path)})
    assert r.returncode == 1, r.stderr
    assert "echo_server: listen: invalid argument (tls_cert #1: " in r.stderr, r.stderr


def test_key_of_another_certificate_exits_1(built, test_ca, tmp_path):
    tls = TlsFiles(test_ca, tmp_path)
    (tmp_path / "other").mkdir()
    other = TlsFiles(test_ca, tmp_path / "other")
    r = start_failing({"TLS_CERT": str(tls.cert_path), "TLS_KEY": str(other.key_path)})
    assert r.returncode == 1, r.stderr
    assert "tls_key #1 does not fit tls_cert #1" in r.stderr, r.stderr


def test_missing_key_file_exits_1_naming_it(built, test_ca, tmp_path):
    tls = TlsFiles(test_ca, tmp_path)
    missing = tmp_path / "no-such-key.pem"
    r = start_failing({"TLS_CERT": str(tls.cert_path), "TLS_KEY": str(missing)})
    assert r.returncode == 1, r.stderr
    assert "tls_key" in r.stderr and str(missing) in r.stderr, r.stderr
