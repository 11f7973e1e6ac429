//! A raw SSE client for the tests: sends the request, then parses events
//! off the socket, so that every byte the server writes is seen.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// A raw SSE client: sends the request, then parses events off the socket.
pub struct Sse {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One parsed SSE event: (id, event name, data).
pub type SseMsg = (Option<String>, Option<String>, String);

impl Sse {
    pub fn connect(addr: SocketAddr, last_event_id: Option<&str>) -> Sse {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let extra = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        .unwrap();
        let mut sse = Sse {
            stream,
            buf: Vec::new(),
        };
        let head = sse.read_until(b"\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        sse
    }

    pub fn read_until(&mut self, delim: &[u8]) -> String {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let rest = self.buf.split_off(i + delim.len());
                let out = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8(out).unwrap();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("SSE read");
            assert!(n > 0, "SSE stream ended");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next event (comments skipped). Keep-alive comments do not make
    /// it wait longer than `WAIT` for the event: a missing event fails the
    /// test instead of hanging it.
    pub fn next(&mut self) -> SseMsg {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no SSE event within {WAIT:?} (only comments)"
            );
            let block = self.read_until(b"\n\n");
            let (mut id, mut event, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            if !data.is_empty() {
                return (id, event, data.join("\n"));
            }
        }
    }

    /// Asserts nothing but comments arrive within `dur`.
    pub fn assert_quiet(&mut self, dur: Duration) {
        self.stream.set_read_timeout(Some(dur)).unwrap();
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(n) => {
                let s = String::from_utf8_lossy(&chunk[..n]);
                assert!(s.starts_with(':'), "unexpected SSE bytes: {s:?}");
            }
            Err(e) => panic!("SSE read failed: {e}"),
        }
        assert!(self.buf.is_empty(), "unexpected buffered SSE bytes");
        self.stream.set_read_timeout(Some(WAIT)).unwrap();
    }
}
