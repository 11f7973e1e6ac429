"""The C example's /sse endpoint, read by curl (-N, always with --max-time)
and parsed the way a browser's EventSource would (WHATWG HTML, "Server-sent
events", event stream interpretation).

The server runs with SSE_INTERVAL_MS=50 (conftest.py).
"""

from __future__ import annotations

import asyncio
import codecs
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

T = 10.0  # seconds to wait for any one event
CLOCK_SLACK_MS = 5000  # a timestamp must be this close to our clock

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


# ---------------------------------------------------------------------------
# A small WHATWG-style event stream parser
# ---------------------------------------------------------------------------

@dataclass
class Event:
    type: str
    data: str
    last_event_id: str
    retry: int | None
    fields: list[str] = field(default_factory=list)  # field names, in order, as sent
    comments: int = 0


class SSEParser:
    """Feeds on bytes, returns dispatched events (WHATWG §9.2.6)."""

    _eol = re.compile(r"\r\n|\r|\n")

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._started = False
        self.last_event_id = ""
        self.retry: int | None = None
        self.unknown_fields: list[str] = []
        self._reset()

    def _reset(self):
        self._data = ""
        self._type = ""
        self._fields: list[str] = []
        self._comments = 0

    def feed(self, chunk: bytes, final: bool = False) -> list[Event]:
        self._buf += self._decoder.decode(chunk, final)
        if not self._started and self._buf:
            self._started = True
            if self._buf.startswith("\ufeff"):
                self._buf = self._buf[1:]
        events = []
        while True:
            m = self._eol.search(self._buf)
            if m is None:
                break
            if m.group() == "\r" and m.end() == len(self._buf) and not final:
                break  # maybe the first half of a CRLF
            line, self._buf = self._buf[: m.start()], self._buf[m.end():]
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
        return events  # an unterminated last event is discarded, as the spec says

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self._comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._fields.append(name)
        if name == "event":
            self._type = value
        elif name == "data":
            self._data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        else:
            self.unknown_fields.append(name)
        return None

    def _dispatch(self) -> Event | None:
        if self._data == "":
            self._reset()
            return None
        ev = Event(
            type=self._type or "message",
            data=self._data[:-1],
            last_event_id=self.last_event_id,
            retry=self.retry,
            fields=self._fields,
            comments=self._comments,
        )
        self._reset()
        return ev


def test_parser_itself():
    p = SSEParser()
    stream = (b"\xef\xbb\xbf: comment\r\nevent: a\r\nid: 7\rdata: x\ndata:y\n"
              b"retry: 300\nbogus\n\ndata\n\nid\nevent: empty\n\n")
    events = []
    for i in range(len(stream)):  # byte by byte: splits CRLF, UTF-8, everything
        events += p.feed(stream[i:i + 1])
    events += p.feed(b"", final=True)
    assert [(e.type, e.data, e.last_event_id) for e in events] == [("a", "x\ny", "7"), ("message", "", "7")]
    assert events[0].retry == 300 and events[0].comments == 1
    assert p.unknown_fields == ["bogus"]
    assert p.last_event_id == ""  # "id" with no value resets it


# ---------------------------------------------------------------------------
# curl
# ---------------------------------------------------------------------------

def curl_cmd(url: str, *args: str, max_time: float = 20) -> list[str]:
    return ["curl", "-sS", "-N", "-i", "--noproxy", "*", "--max-time", str(max_time), *args, url]


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no response head in {raw[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


class CurlStream:
    """`curl -N` on an SSE URL in the background, its events parsed as they come."""

    def __init__(self, url: str, *headers: str, max_time: float = 20):
        args = [a for h in headers for a in ("-H", h)]
        self.proc = subprocess.Popen(
            curl_cmd(url, *args, max_time=max_time),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.parser = SSEParser()
        self._events: queue.Queue = queue.Queue()
        self._head_ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        raw = b""
        try:
            while not self._head_ready.is_set():
                chunk = self.proc.stdout.read1(65536)
                if not chunk:
                    return
                raw += chunk
                if b"\r\n\r\n" in raw:
                    self.status, self.headers, body = split_response(raw)
                    self._head_ready.set()
                    for ev in self.parser.feed(body):
                        self._events.put(ev)
            while chunk := self.proc.stdout.read1(65536):
                for ev in self.parser.feed(chunk):
                    self._events.put(ev)
        finally:
            self._head_ready.set()
            self._events.put(None)  # end of stream

    def wait_head(self, timeout: float = T):
        assert self._head_ready.wait(timeout), "no response head"
        assert self.status is not None, f"stream ended without a response: {self.stderr_now()}"

    def next_event(self, timeout: float = T) -> Event:
        try:
            ev = self._events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s") from None
        assert ev is not None, f"stream ended (curl exit {self.proc.poll()}): {self.stderr_now()}"
        return ev

    def events(self, n: int, timeout: float = T) -> list[Event]:
        return [self.next_event(timeout) for _ in range(n)]

    def ended(self, timeout: float = T) -> bool:
        """True if the stream ends (after any events still queued) in time."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if ev is None:
                return True

    def stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(curl still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        self._thread.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def open_stream(server):
    streams: list[CurlStream] = []

    def _open(*headers: str, path: str = "/sse") -> CurlStream:
        s = CurlStream(server.url + path, *headers)
        streams.append(s)
        return s

    yield _open
    for s in streams:
        s.close()


def check_tick(ev: Event, expect_id: int):
    assert ev.type == "tick"
    assert ev.last_event_id == str(expect_id)
    lines = ev.data.split("\n")
    assert len(lines) == 2, f"data should be two lines: {ev.data!r}"
    assert lines[0] == f"tick {expect_id}"
    assert lines[1].isdigit(), f"second data line is not a number: {lines[1]!r}"
    ts = int(lines[1])
    now = time.time() * 1000
    assert abs(ts - now) < CLOCK_SLACK_MS, f"timestamp {ts} is {ts - now:+.0f} ms from now"
    # Exactly the fields of one tick: nothing unknown, nothing twice (but data).
    assert Counter(ev.fields) == {"event": 1, "id": 1, "data": 2}, ev.fields
    return ts


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_curl_max_time_headers_and_first_events(server):
    """The plainest use: curl -N for a while, then look at what came."""
    r = subprocess.run(curl_cmd(server.url + "/sse", max_time=0.6), capture_output=True, timeout=15)
    assert r.returncode == 28, f"curl should stop on --max-time, got {r.returncode}: {r.stderr!r}"
    status, headers, body = split_response(r.stdout)
    assert status == 200
    assert headers["content-type"].split(";")[0].strip() == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert "content-length" not in headers
    p = SSEParser()
    events = p.feed(body)
    assert len(events) >= 3, f"only {len(events)} events in 0.6 s at 50 ms: {body!r}"
    for i, ev in enumerate(events, start=1):
        check_tick(ev, i)
    assert p.unknown_fields == []


def test_response_headers(open_stream):
    s = open_stream()
    s.wait_head()
    assert s.status == 200
    assert s.headers["content-type"].split(";")[0].strip() == "text/event-stream"
    assert s.headers["cache-control"] == "no-cache"
    assert s.headers["x-accel-buffering"] == "no"


def test_events_in_order_with_ids_and_timestamps(server, open_stream):
    s = open_stream()
    n = 20
    events = s.events(n)
    stamps = [check_tick(ev, i) for i, ev in enumerate(events, start=1)]
    assert stamps == sorted(stamps), f"timestamps go back: {stamps}"
    # 19 intervals of 50 ms; the server never bursts to catch up.
    span = stamps[-1] - stamps[0]
    assert span >= (n - 1) * server.sse_interval_ms * 0.6, f"{n} ticks in only {span} ms"
    assert s.parser.unknown_fields == []
    assert s.parser.retry is None


@pytest.mark.parametrize("last_id, first", [("41", 42), ("0", 1), ("not-a-number", 1)])
def test_last_event_id_resumes(open_stream, last_id, first):
    s = open_stream(f"Last-Event-ID: {last_id}")
    for i, ev in enumerate(s.events(3), start=first):
        check_tick(ev, i)


def test_disconnect_does_not_disturb_other_streams(server, open_stream):
    a = open_stream()
    b = open_stream()
    check_tick(a.next_event(), 1)
    check_tick(b.next_event(), 1)
    check_tick(a.next_event(), 2)
    check_tick(b.next_event(), 2)
    a.proc.kill()  # the client vanishes mid-stream
    a.proc.wait(timeout=5)
    for i, ev in enumerate(b.events(10), start=3):
        check_tick(ev, i)
    # A new stream counts from 1 on its own, and b keeps going.
    c = open_stream()
    check_tick(c.next_event(), 1)
    for ev in b.events(3):
        assert ev.type == "tick"
    assert b.proc.poll() is None
    assert server.proc.poll() is None


def test_many_concurrent_streams_count_independently(server):
    """100 streams from raw sockets; each has its own ids from 1."""
    n_streams, n_events = 100, 3

    async def one(k: int):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), T)
        try:
            hdr = f"Last-Event-ID: {k * 1000}\r\n" if k % 2 else ""
            writer.write(f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{hdr}\r\n".encode())
            await asyncio.wait_for(writer.drain(), T)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
            assert head.startswith(b"HTTP/1.1 200 ")
            p = SSEParser()
            events: list[Event] = []
            while len(events) < n_events:
                chunk = await asyncio.wait_for(reader.read(4096), T)
                assert chunk, "stream ended early"
                events += p.feed(chunk)
            first = k * 1000 + 1 if k % 2 else 1
            for i, ev in enumerate(events[:n_events], start=first):
                check_tick(ev, i)
        finally:
            writer.close()

    async def main():
        await asyncio.gather(*(one(k) for k in range(n_streams)))

    asyncio.run(asyncio.wait_for(main(), 30))


def test_non_get_is_405(server):
    r = subprocess.run(curl_cmd(server.url + "/sse", "-X", "POST", "-d", "x", max_time=5),
                       capture_output=True, timeout=15)
    assert r.returncode == 0, r.stderr
    status, _, _ = split_response(r.stdout)
    assert status == 405


def test_sigterm_ends_streams_and_exits_0(own_server):
    srv = own_server
    s = CurlStream(srv.url + "/sse")
    try:
        check_tick(s.next_event(), 1)
        srv.proc.send_signal(signal.SIGTERM)
        assert s.ended(10), "SSE stream still open after the server got SIGTERM"
        assert s.proc.wait(timeout=5) == 0, f"curl: {s.stderr_now()}"
    finally:
        s.close()
    code = srv.proc.wait(timeout=5)
    assert code == 0, f"server exited {code} after SIGTERM:\n{srv.log()}"
