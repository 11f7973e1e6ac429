//! The request head parser and the router.
//!
//! Input: a configuration byte (the head limits), split sizes, then the
//! bytes a client sends. Checked:
//! - the parser: a complete head is within the limits, its fields carry no
//!   CR, LF or `?` where they cannot, it parses the same from exactly its
//!   own bytes, every proper prefix of it is merely incomplete (so a head
//!   split across reads parses as in one), and it prints back to a head
//!   that parses to the same fields; an incomplete one is under the limit;
//! - the router: a connection fed the bytes in one read and one fed them
//!   in the fuzzer's splits write the same bytes and report the same
//!   events; the answer is one well-formed response (a 404 exactly when
//!   no route has the path); events follow the connection's life.

use crate::input::{chunks, Input};
use bytes::Bytes;
use std::time::{Duration, Instant};
use wsrt_proto::compress::SharedDeflate;
use wsrt_proto::http::{parse_request, HeadLimits, Parsed, RequestHead};
use wsrt_proto::{
    ConnEvent, Connection, Cx, DeflateConfig, DeflateMode, EngineSettings, Output, OverflowPolicy,
    Route, RouteKind, Settings,
};

const PATHS: &[&str] = &[
    "/ws",
    "/sse",
    "/auth",
    "/page",
    "/engine.io/",
    "/socket.io/",
];

fn settings(limits: HeadLimits) -> Settings {
    let page = RouteKind::Static {
        content_type: "text/html".into(),
        body: Bytes::from_static(b"<p>hi</p>"),
    };
    Settings {
        routes: vec![
            Route::new("/ws", RouteKind::WebSocket).with_subprotocols(["chat", "v2"]),
            Route::new("/sse", RouteKind::Sse).with_header("X-A", "1"),
            Route::new("/auth", RouteKind::WebSocket).with_approval(),
            Route::new("/page", page),
            Route::new("/engine.io/", RouteKind::EngineIo),
            Route::new(
                "/socket.io/",
                RouteKind::SocketIo {
                    namespaces: vec!["/".into(), "/chat".into()],
                },
            ),
        ],
        max_message_size: 4096,
        max_head_bytes: limits.max_head_bytes,
        max_headers: limits.max_headers,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        close_timeout: Duration::from_secs(5),
        sse_keepalive: Duration::from_secs(15),
        max_buffered: 1 << 20,
        overflow_policy: OverflowPolicy::Reject,
        allowed_origins: Vec::new(),
        deflate: DeflateConfig {
            mode: DeflateMode::PerConnection,
            threshold: 0,
            level: 6,
            window_bits: 15,
        },
        engine: EngineSettings {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1000,
            recovery_window: Duration::ZERO,
            cors_origins: vec!["https://a.example".into()],
            cors_credentials: true,
        },
    }
}

#[derive(Default)]
struct Out {
    bytes: Vec<u8>,
    events: Vec<String>,
    ended: bool,
}

impl Output for Out {
    fn queued(&self) -> usize {
        self.bytes.len()
    }
    fn append(&mut self, _need: usize, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.bytes)
    }
    fn append_frame(&mut self, header: &[u8], payload: &[u8]) {
        self.bytes.extend_from_slice(header);
        self.bytes.extend_from_slice(payload);
    }
    fn push_shared(&mut self, bytes: Bytes) {
        self.bytes.extend_from_slice(&bytes)
    }
    fn event(&mut self, event: ConnEvent<'_>) {
        assert!(!self.ended, "event after the end: {event:?}");
        let e = match event {
            ConnEvent::Request { endpoint, head, .. } => {
                assert!(PATHS.contains(&head.path.as_str()));
                format!("request {endpoint:?} {}", head.path)
            }
            ConnEvent::Open { head, protocol } => {
                if let Some(p) = &protocol {
                    assert!(["chat", "v2"].contains(&p.as_str()), "protocol {p}");
                }
                format!("open {} {protocol:?}", head.path)
            }
            ConnEvent::SseOpen { head } => format!("sse {}", head.path),
            ConnEvent::Message { kind, data, .. } => format!("message {kind:?} {}", data.len()),
            ConnEvent::Pong { data } => format!("pong {}", data.len()),
            ConnEvent::Close { code, .. } => {
                self.ended = true;
                format!("close {code}")
            }
            ConnEvent::SseClose => {
                self.ended = true;
                "sse close".into()
            }
            ConnEvent::Transport(t) => format!("transport {t:?}"),
        };
        self.events.push(e);
    }
}

/// Feeds `data` in the given pieces; returns what was written and heard.
fn route(settings: &Settings, data: &[u8], pieces: &[std::ops::Range<usize>]) -> Out {
    let now = Instant::now();
    let mut conn = Connection::new(now);
    let mut shared = SharedDeflate::default();
    let mut out = Out::default();
    for r in pieces {
        let mut buf = data[r.clone()].to_vec();
        let mut cx = Cx {
            now,
            settings,
            shared: &mut shared,
            out: &mut out,
        };
        conn.handle_read(&mut buf, &mut cx);
        cx.out.events.push("|".into());
        // The driver stops reading while the application decides, and
        // once the protocol is over.
        if conn.is_dead() || conn.is_lingering() || !conn.wants_input() {
            break;
        }
    }
    out.events.retain(|e| e != "|");
    out
}

fn check_head(head: &RequestHead, len: usize, limits: HeadLimits) {
    if limits.max_head_bytes > 0 {
        assert!(
            len <= limits.max_head_bytes,
            "a head of {len} bytes passed the limit"
        );
    }
    if limits.max_headers > 0 {
        assert!(
            head.headers.len() <= limits.max_headers,
            "too many headers passed"
        );
    }
    let line_safe = |s: &str| !s.contains(['\r', '\n']);
    assert!(!head.method.is_empty() && line_safe(&head.method) && !head.method.contains(' '));
    assert!(line_safe(&head.path) && !head.path.contains([' ', '?']));
    assert!(line_safe(&head.query) && !head.query.contains(' '));
    assert!(head.version <= 1);
    for (n, v) in &head.headers {
        assert!(
            !n.is_empty() && line_safe(n) && !n.contains([':', ' ']),
            "header name {n:?}"
        );
        assert!(line_safe(v), "header value {v:?}");
        assert!(
            v.trim_matches([' ', '\t']) == v,
            "header value not trimmed: {v:?}"
        );
    }
}

/// The head printed back as a client would send it.
fn print(head: &RequestHead) -> Vec<u8> {
    let mut s = format!("{} {}", head.method, head.path);
    // A target of only `?` has an empty path.
    if !head.query.is_empty() || head.path.is_empty() {
        s.push('?');
        s.push_str(&head.query);
    }
    s.push_str(&format!(" HTTP/1.{}\r\n", head.version));
    for (n, v) in &head.headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

pub fn http_head(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.byte();
    let splits = input.piece();
    let buf = input.rest();
    let limits = HeadLimits {
        max_head_bytes: [0, 64, 512, 8192][(cfg & 3) as usize],
        max_headers: [0, 2, 8, 64][(cfg >> 2 & 3) as usize],
    };
    let unlimited = HeadLimits {
        max_head_bytes: 0,
        max_headers: 0,
    };

    // The parser.
    let parsed = parse_request(buf, limits);
    match &parsed {
        Ok(Parsed::Complete(head, len)) => {
            let len = *len;
            assert!(len > 0 && len <= buf.len());
            assert!(
                buf[..len].ends_with(b"\n"),
                "a head that does not end a line"
            );
            check_head(head, len, limits);
            match parse_request(&buf[..len], limits) {
                Ok(Parsed::Complete(h, l)) => assert!(h == *head && l == len),
                _ => panic!("the head alone does not parse as in its context"),
            }
            // Splitting the head anywhere leaves an incomplete head, never
            // an error or another head.
            for cut in splits
                .iter()
                .map(|&s| s as usize * len / 256)
                .chain([len - 1])
            {
                match parse_request(&buf[..cut], unlimited) {
                    Ok(Parsed::Partial) => {}
                    Ok(Parsed::Complete(..)) => panic!("a prefix of {cut} bytes is a whole head"),
                    Err(e) => panic!("a prefix of {cut} bytes is an error: {e:?}"),
                }
            }
            let printed = print(head);
            match parse_request(&printed, unlimited) {
                Ok(Parsed::Complete(h, l)) => {
                    assert_eq!(l, printed.len());
                    assert_eq!(h, *head, "the printed head parses to other fields");
                }
                Ok(Parsed::Partial) => panic!("the printed head is incomplete"),
                Err(e) => panic!(
                    "the printed head {:?} of {head:?} is refused: {e:?}",
                    String::from_utf8_lossy(&printed)
                ),
            }
        }
        Ok(Parsed::Partial) => {
            if limits.max_head_bytes > 0 {
                assert!(
                    buf.len() < limits.max_head_bytes,
                    "an oversized head is still read"
                );
            }
        }
        Err(e) => assert!(
            matches!(e.status, 400 | 431),
            "parse error status {}",
            e.status
        ),
    }

    // The router: one read against the fuzzer's splits.
    let settings = settings(limits);
    let whole = route(&settings, buf, &chunks(buf.len(), &[]));
    let split = route(&settings, buf, &chunks(buf.len(), splits));
    assert_eq!(
        whole.events, split.events,
        "splitting the reads changed the events"
    );
    // A head both over the limit and malformed is refused as one or the
    // other, depending on how much of it had arrived when it was judged
    // (the last answer, after those to earlier kept-alive requests).
    let last = |b: &[u8]| {
        let at = b.windows(9).rposition(|w| w == b"HTTP/1.1 ").unwrap_or(0);
        let refused =
            b[at..].starts_with(b"HTTP/1.1 400 ") || b[at..].starts_with(b"HTTP/1.1 431 ");
        (b[..at].to_vec(), refused)
    };
    let (before_whole, refused_whole) = last(&whole.bytes);
    let (before_split, refused_split) = last(&split.bytes);
    assert!(
        whole.bytes == split.bytes
            || (limits.max_head_bytes > 0
                && refused_whole
                && refused_split
                && before_whole == before_split),
        "splitting the reads changed the answer:\n{:?}\n{:?}",
        String::from_utf8_lossy(&whole.bytes),
        String::from_utf8_lossy(&split.bytes)
    );

    let engine = whole.events.iter().any(|e| e.starts_with("transport"));
    if whole.bytes.is_empty() || engine {
        return;
    }
    let text = &whole.bytes;
    assert!(
        text.starts_with(b"HTTP/1.1 "),
        "answer does not start with a status line"
    );
    let status: u16 = std::str::from_utf8(&text[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let end = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("answer head not terminated");
    let head = std::str::from_utf8(&text[..end]).expect("answer head not UTF-8");
    for line in head.split("\r\n").skip(1) {
        assert!(line.contains(": "), "bad header line {line:?}");
    }
    if let Ok(Parsed::Complete(h, _)) = &parsed {
        let routed = PATHS.contains(&h.path.as_str());
        assert_eq!(
            status == 404,
            !routed,
            "status {status} for path {:?}",
            h.path
        );
        if status == 101 {
            assert!(whole.events.iter().any(|e| e.starts_with("open")));
        }
    } else {
        assert!(
            matches!(status, 400 | 431),
            "status {status} for a bad head"
        );
    }
}
