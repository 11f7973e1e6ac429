"""Helpers for the fault-injection tests: a server process we own, raw
WebSocket clients that can stop anywhere in a frame and reset the
connection, and the measurements the tests assert on (RSS, CPU time,
descriptors, the /stats counters).

Everything is on 127.0.0.1, every wait is bounded, and only processes
started here are ever signalled (by pid).
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
C_SERVER = ROOT / "build" / "examples" / "echo_server"
PY_ENV_PYTHON = ROOT / ".cache" / "pyenv" / "bin" / "python"
HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float, what: str, step: float = 0.02):
    """Polls `cond` until it returns something true; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        time.sleep(step)


class ServerProc:
    """A server process (the C example, or a script) on a free port."""

    def __init__(self, cmd: list[str], log_path: Path, env: Optional[dict[str, str]] = None,
                 nofile: Optional[int] = None, start_timeout: float = 30.0):
        self.port = free_port()
        self.log_path = log_path
        full = {k: v for k, v in os.environ.items()
                if k not in ("WSRT_DEMO_PAGE", "DEFLATE", "TLS_CERT", "TLS_KEY", "TLS_PORT", "REDIS_URL", "WORKERS")}
        full.update(PORT=str(self.port), SSE_INTERVAL_MS="50")
        full.update(env or {})

        def limits() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, preexec_fn=limits if nofile is not None else None)
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before listening:\n{self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server not listening after {start_timeout} s:\n{self.log()}")
            time.sleep(0.05)

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (every thread)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def terminate(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM; the exit code, or None if it did not exit in time (then killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self._log.close()

    def wait_stopped(self, timeout: float) -> Optional[int]:
        """After the test signalled the server itself: its exit code (None
        if it did not exit in time: then it is killed)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


# -- raw WebSocket -------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bool = True) -> bytes:
    """One client frame (masked)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    k = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload), "big")


def frame_head(opcode: int, length: int, fin: bool = True, rsv1: bool = False) -> tuple[bytes, bytes]:
    """A masked frame's head declaring `length` bytes, and its mask key."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        head = struct.pack("!BB", b0, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, length)
    key = os.urandom(4)
    return head + key, key


class RawWs:
    """A WebSocket client on a bare socket: it writes exactly the bytes a
    test asks for, reads frames, and can end with a reset."""

    def __init__(self, port: int, path: str, extensions: Optional[str] = None, rcvbuf: Optional[int] = None,
                 timeout: float = 10.0, lazy: bool = False):
        """Connects and sends the opening handshake; waits for the answer
        unless `lazy` (then finish_handshake does)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if extensions:
            req += f"Sec-WebSocket-Extensions: {extensions}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.head = ""
        self.deflate = False
        self._inflater = zlib.decompressobj(-15)
        if not lazy:
            self.finish_handshake(timeout)

    def finish_handshake(self, timeout: float) -> None:
        """Reads the 101 answer (socket.timeout if none comes in time)."""
        self.sock.settimeout(timeout)
        head = self._read_until(b"\r\n\r\n")
        self.sock.settimeout(10.0)
        self.head = head.decode("latin-1")
        if not self.head.startswith("HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {self.head!r}")
        self.deflate = "permessage-deflate" in self.head.lower()

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("EOF during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("EOF")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> tuple[int, bool, bool, bytes]:
        """(opcode, fin, rsv1, payload) of the next server frame."""
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        assert not (b1 & 0x80), "server frames are not masked"
        return b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), self._read_exact(n)

    def read_message(self) -> tuple[int, bytes]:
        """The next data message (control frames but close skipped), inflated if compressed."""
        parts: list[bytes] = []
        first_op, compressed = None, False
        while True:
            op, fin, rsv1, data = self.read_frame()
            if op in (OP_PING, OP_PONG):
                continue
            if op == OP_CLOSE:
                return op, data
            if first_op is None:
                first_op, compressed = op, rsv1
            parts.append(data)
            if fin:
                break
        payload = b"".join(parts)
        if compressed:
            payload = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
        return first_op, payload

    def reset(self) -> None:
        """Closes with SO_LINGER 0: the kernel sends RST, not FIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            self.sock.close()

    def close(self) -> None:
        self.sock.close()


def deflate_message(data: bytes) -> bytes:
    """A permessage-deflate payload: raw deflate, sync flush, tail dropped."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


# -- checks through ordinary clients -------------------------------------------

def echo_ok(port: int, payload: str = "are you there?", timeout: float = 10.0, **kw) -> bool:
    """A fresh /echo connection (the `websockets` client) gets its message back."""
    from websockets.sync.client import connect

    with connect(f"ws://{HOST}:{port}/echo", open_timeout=timeout, close_timeout=timeout, proxy=None, **kw) as ws:
        ws.send(payload)
        return ws.recv(timeout=timeout) == payload


def stats(port: int, timeout: float = 10.0) -> dict:
    """The example's counters (/stats), by their snake_case names (the Node
    example sends camelCase ones)."""
    from websockets.sync.client import connect

    with connect(f"ws://{HOST}:{port}/stats", open_timeout=timeout, close_timeout=timeout, proxy=None) as ws:
        counters = json.loads(ws.recv(timeout=timeout))
    return {re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k): v for k, v in counters.items()}
