//! The connection state machine fed arbitrary bytes in arbitrary splits.
//!
//! Input: a configuration byte, a count `n`, `n` operation bytes, then the
//! byte stream the peer sends (frames after a handshake the target makes,
//! or, in raw mode, the whole request too). The operations read the next
//! chunk of the stream, let virtual time pass (running the timers as the
//! driver does), or make the application's calls (send, ping, close,
//! accept, reject, shutdown, terminate); what is left of the stream is
//! read last, then EOF and the linger run out.
//!
//! Checked after every step: the events follow the connection's life
//! (open before messages, one end, nothing after it; text is UTF-8;
//! messages within the size limit; a close code the application may
//! hear), the state agrees with the events, the bytes written are one
//! valid response head then valid server frames (unmasked, a close code
//! from the allowed set, nothing after our close frame, every data frame
//! one the application sent, compressed ones inflating to it), the write
//! queue grows by at most a pong per read past `max_buffered`, the heap
//! stays within the configured limits, deadlines never lie in the past,
//! and at the end the connection is dead and the application was told.

use crate::input::Input;
use crate::{alloc, trace};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wsrt_proto::compress::SharedDeflate;
use wsrt_proto::deflate::Inflater;
use wsrt_proto::frame::{is_valid_close_code, parse_header};
use wsrt_proto::sse::SseEvent;
use wsrt_proto::{
    ConnEvent, ConnState, Connection, Cx, DeflateConfig, DeflateMode, Endpoint, EngineSettings,
    MessageKind, Output, OverflowPolicy, Route, RouteKind, Settings,
};

/// What the application has heard, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Nothing,
    Request { sse: bool },
    Open { sse: bool },
    End,
}

struct Out {
    /// Every byte written; the transport has taken `all[..drained]`.
    all: Vec<u8>,
    drained: usize,
    heard: Heard,
    max_message: usize,
    events: usize,
}

impl Output for Out {
    fn queued(&self) -> usize {
        self.all.len() - self.drained
    }
    fn append(&mut self, _need: usize, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.all)
    }
    fn append_frame(&mut self, header: &[u8], payload: &[u8]) {
        self.all.extend_from_slice(header);
        self.all.extend_from_slice(payload);
    }
    fn push_shared(&mut self, bytes: Bytes) {
        self.all.extend_from_slice(&bytes)
    }
    fn event(&mut self, event: ConnEvent<'_>) {
        self.events += 1;
        if trace() {
            eprintln!("event: {event:?}");
        }
        let heard = self.heard;
        assert!(heard != Heard::End, "event after the end: {event:?}");
        self.heard = match event {
            ConnEvent::Request { endpoint, .. } => {
                assert_eq!(heard, Heard::Nothing, "request event out of place");
                Heard::Request {
                    sse: endpoint == Endpoint::Sse,
                }
            }
            ConnEvent::Open { .. } => {
                assert!(
                    matches!(heard, Heard::Nothing | Heard::Request { sse: false }),
                    "open event out of place: {heard:?}"
                );
                Heard::Open { sse: false }
            }
            ConnEvent::SseOpen { .. } => {
                assert!(
                    matches!(heard, Heard::Nothing | Heard::Request { .. }),
                    "SSE open out of place: {heard:?}"
                );
                Heard::Open { sse: true }
            }
            ConnEvent::Message { kind, data, buffer } => {
                assert_eq!(heard, Heard::Open { sse: false }, "message out of place");
                if let Some(b) = buffer {
                    assert!(
                        std::ptr::eq(&b[..], data),
                        "a message's buffer is not its data"
                    );
                }
                assert!(
                    data.len() <= self.max_message,
                    "a message of {} bytes passed the limit of {}",
                    data.len(),
                    self.max_message
                );
                if kind == MessageKind::Text {
                    assert!(std::str::from_utf8(data).is_ok(), "text message not UTF-8");
                }
                heard
            }
            ConnEvent::Pong { data } => {
                assert_eq!(heard, Heard::Open { sse: false }, "pong out of place");
                assert!(data.len() <= 125, "pong payload over 125 bytes");
                heard
            }
            ConnEvent::Close { code, reason } => {
                assert!(
                    matches!(
                        heard,
                        Heard::Open { sse: false } | Heard::Request { sse: false }
                    ),
                    "close event out of place: {heard:?}"
                );
                assert!(
                    is_valid_close_code(code) || code == 1005 || code == 1006,
                    "the application heard close code {code}"
                );
                assert!(reason.len() <= 123 || code == 1006, "close reason too long");
                Heard::End
            }
            ConnEvent::SseClose => {
                assert!(
                    matches!(
                        heard,
                        Heard::Open { sse: true } | Heard::Request { sse: true }
                    ),
                    "SSE close out of place: {heard:?}"
                );
                Heard::End
            }
            ConnEvent::Transport(t) => panic!("transport event without an Engine.IO route: {t:?}"),
        };
    }
}

/// Reads what the server wrote: one response head, then (after a 101)
/// server frames.
struct Wire {
    pos: usize,
    status: Option<u16>,
    head_only: bool,
    /// permessage-deflate was accepted: the client's decompressor.
    inflater: Option<Inflater>,
    close_sent: bool,
    /// Messages the application sent, not yet seen on the wire.
    expected: VecDeque<(MessageKind, Vec<u8>)>,
}

impl Wire {
    fn check(&mut self, all: &[u8]) {
        if self.status.is_none() && self.pos < all.len() {
            let rest = &all[self.pos..];
            let end = find(rest, b"\r\n\r\n").expect("a partial response head was written");
            let head = std::str::from_utf8(&rest[..end]).expect("response head not UTF-8");
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            assert!(
                status_line.starts_with("HTTP/1.1 "),
                "status line {status_line:?}"
            );
            let status: u16 = status_line[9..12].parse().expect("status code");
            assert!((100..600).contains(&status));
            let mut length = None;
            for line in lines {
                let (name, value) = line.split_once(": ").expect("header line without ': '");
                assert!(!name.is_empty() && !name.contains([' ', '\r', '\n']));
                assert!(!value.contains(['\r', '\n']));
                if name.eq_ignore_ascii_case("sec-websocket-extensions") {
                    assert_eq!(status, 101);
                    assert!(
                        value.starts_with("permessage-deflate"),
                        "extension {value:?}"
                    );
                    let reset = value.contains("server_no_context_takeover");
                    self.inflater = Some(Inflater::new(15, reset));
                }
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.parse::<usize>().expect("content-length"));
                }
            }
            self.status = Some(status);
            self.pos += end + 4;
            if let (Some(len), false) = (length, self.head_only) {
                assert!(
                    all.len() - self.pos <= len,
                    "body longer than its Content-Length"
                );
            }
        }
        if self.status != Some(101) {
            return;
        }
        while self.pos < all.len() {
            assert!(!self.close_sent, "bytes written after our close frame");
            let rest = &all[self.pos..];
            let (h, n) = parse_header(rest)
                .expect("server frame length")
                .expect("a partial frame header was written");
            let len = h.payload_len as usize;
            assert!(rest.len() >= n + len, "a partial frame was written");
            let payload = &rest[n..n + len];
            self.pos += n + len;
            assert!(h.mask.is_none(), "server frame masked");
            assert!(h.fin, "server fragmented a message");
            assert!(h.rsv & 0b011 == 0, "RSV2/RSV3 set");
            let compressed = h.rsv & 0b100 != 0;
            match h.opcode {
                1 | 2 => {
                    let kind = if h.opcode == 1 {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    };
                    let (want_kind, want) = self
                        .expected
                        .pop_front()
                        .expect("a data frame the application did not send");
                    assert_eq!(kind, want_kind);
                    if compressed {
                        let inflater = self
                            .inflater
                            .as_mut()
                            .expect("RSV1 without permessage-deflate");
                        let mut out = Vec::new();
                        inflater
                            .inflate_message(payload, &mut out, want.len())
                            .expect("our compressed frame does not inflate");
                        assert!(
                            out == want,
                            "a compressed frame inflates to another message"
                        );
                    } else {
                        assert!(payload == want, "a data frame is not the message sent");
                    }
                }
                8..=10 => {
                    assert!(!compressed, "RSV1 on a control frame");
                    assert!(len <= 125, "control frame over 125 bytes");
                    if h.opcode == 8 {
                        self.close_sent = true;
                        assert!(len != 1, "close frame with a 1-byte payload");
                        if len >= 2 {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            assert!(is_valid_close_code(code), "we sent close code {code}");
                            assert!(std::str::from_utf8(&payload[2..]).is_ok());
                        }
                    }
                    if h.opcode == 9 {
                        assert!(payload.is_empty() || payload == PING, "unexpected ping");
                    }
                }
                op => panic!("server sent opcode {op}"),
            }
        }
    }
}

/// A limit of 0 is none.
fn limit(v: usize) -> usize {
    if v == 0 {
        usize::MAX
    } else {
        v
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const PING: &[u8] = b"fz";
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// How much virtual time each timer operation lets pass.
const STEPS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(31),
    Duration::from_secs(61),
    Duration::from_secs(130),
    Duration::from_secs(600),
];

struct Run {
    conn: Connection,
    out: Out,
    shared: SharedDeflate,
    settings: Settings,
    now: Instant,
    wire: Wire,
    /// The level of the heap before the connection existed.
    base: isize,
    /// Heap the limits allow beyond what the target itself holds.
    allowance: isize,
    dead_at: Option<usize>,
    start: Instant,
}

impl Run {
    fn cx(&mut self) -> (&mut Connection, Cx<'_, &mut Out>) {
        let cx = Cx {
            now: self.now,
            settings: &self.settings,
            shared: &mut self.shared,
            out: &mut self.out,
        };
        (&mut self.conn, cx)
    }

    fn read(&mut self, data: &[u8]) {
        let before = self.out.queued();
        let connecting = self.conn.state() == ConnState::Connecting;
        let mut buf = data.to_vec();
        let (c, mut cx) = self.cx();
        c.handle_read(&mut buf, &mut cx);
        drop(buf);
        // Pongs stop once the queue passes `max_buffered`: a peer that
        // pings without reading cannot grow it further.
        let room = limit(self.settings.max_buffered);
        let slack = 127 + if connecting { 4096 } else { 0 };
        let after = self.out.queued();
        assert!(
            after <= before.max(room).saturating_add(slack),
            "a read grew the write queue from {before} to {after} (max_buffered {room})"
        );
    }

    fn release(&mut self) {
        let (c, mut cx) = self.cx();
        c.release(&mut cx);
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut runs = 0;
        while let Some(at) = self.conn.deadline(&self.settings) {
            if at > end {
                break;
            }
            assert!(at >= self.now, "a deadline in the past");
            self.now = at;
            let (c, mut cx) = self.cx();
            c.handle_timeout(&mut cx);
            runs += 1;
            assert!(runs < 10_000, "timers re-arm without time passing");
            if let Some(next) = self.conn.deadline(&self.settings) {
                assert!(next > self.now, "re-armed for now: the loop would spin");
            }
        }
        self.now = end;
    }

    fn send(&mut self, kind: MessageKind, data: &[u8]) {
        let (c, mut cx) = self.cx();
        if c.send(kind, data, &mut cx).is_ok() {
            self.wire.expected.push_back((kind, data.to_vec()));
            let limit = limit(self.settings.max_buffered);
            // Deflate may add a few bytes to incompressible data.
            assert!(
                self.out.queued() <= limit.saturating_add(64),
                "a send was accepted past max_buffered"
            );
        }
    }

    fn op(&mut self, op: u8, stream: &mut Input<'_>) {
        if trace() {
            eprintln!("op {op:#04x} at {:?}", self.now - self.start);
        }
        match op {
            0x00..=0x9f => {
                self.release();
                let n = if op < 0x80 {
                    op as usize + 1
                } else {
                    (op as usize - 0x7f) * 128
                };
                let chunk = stream.take(n);
                if !chunk.is_empty() {
                    self.read(chunk);
                }
            }
            0xa0..=0xa7 => {
                self.release();
                self.advance(STEPS[(op & 7) as usize]);
            }
            0xa8 => self.send(MessageKind::Text, b"hello"),
            0xa9 => {
                let text = "gr\u{fc}\u{df}e \u{1f600} wsrt ".repeat(12);
                self.send(MessageKind::Text, text.as_bytes())
            }
            0xaa => {
                let data: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
                self.send(MessageKind::Binary, &data)
            }
            0xab => {
                let (c, mut cx) = self.cx();
                let _ = c.close(1000, "bye", &mut cx);
            }
            0xac => {
                let (c, mut cx) = self.cx();
                let _ = c.ping(PING, &mut cx);
            }
            0xad => {
                self.release();
                let (c, mut cx) = self.cx();
                c.handle_eof(&mut cx);
            }
            0xae => {
                let (c, mut cx) = self.cx();
                c.shutdown(&mut cx);
            }
            0xaf => {
                let (c, mut cx) = self.cx();
                let _ = c.terminate(&mut cx);
            }
            0xb0 => {
                let (c, mut cx) = self.cx();
                let _ = c.accept(None, &[], &mut cx);
            }
            0xb1 => {
                let (c, mut cx) = self.cx();
                if c.reject(403, "no", &[], &mut cx).is_ok() {
                    // The application's own choice: no end event follows.
                    assert!(matches!(self.out.heard, Heard::Request { .. }));
                    self.out.heard = Heard::End;
                }
            }
            0xb2 => self.out.drained = self.out.all.len(),
            0xb3 => {
                let ev = SseEvent {
                    event: Some("tick"),
                    id: Some("7"),
                    retry: None,
                    data: "a\r\nb",
                };
                let (c, mut cx) = self.cx();
                let _ = c.sse_send(&ev, &mut cx);
            }
            _ => self.release(),
        }
    }

    /// The invariants that hold between any two steps.
    fn check(&mut self) {
        let heard = self.out.heard;
        let state = self.conn.state();
        if heard == Heard::End {
            assert_eq!(
                state,
                ConnState::Closed,
                "the end was reported, the state is {state:?}"
            );
        }
        if state == ConnState::Closed {
            assert!(
                matches!(heard, Heard::End | Heard::Nothing),
                "closed without telling the application ({heard:?})"
            );
        }
        if let Some(len) = self.dead_at {
            assert_eq!(self.out.all.len(), len, "output after the connection died");
        } else if self.conn.is_dead() {
            self.dead_at = Some(self.out.all.len());
        }
        self.wire.check(&self.out.all);
        if self.wire.status == Some(101) {
            assert!(
                matches!(heard, Heard::Open { sse: false } | Heard::End),
                "101 answered without an open event"
            );
        }
        let held = self.out.all.capacity() as isize
            + self
                .wire
                .expected
                .iter()
                .map(|m| m.1.capacity() + 64)
                .sum::<usize>() as isize;
        let used = alloc::peak() - self.base;
        assert!(
            used <= self.allowance + 2 * held,
            "the heap grew by {used} bytes (allowance {}, target's own {held})",
            self.allowance
        );
    }
}

pub fn ws_connection(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.byte();
    let nops = input.byte() as usize;
    let ops = input.take(nops);
    let mut stream = Input::new(input.rest());
    let stream_len = stream.data.len();

    let (mode, threshold) = match cfg & 3 {
        0 => (DeflateMode::Off, 64),
        1 => (DeflateMode::Shared, 64),
        2 => (DeflateMode::PerConnection, 64),
        _ => (DeflateMode::PerConnection, 0),
    };
    let max_message = [0, 125, 1000, 65536][(cfg >> 2 & 3) as usize];
    let max_buffered = if cfg & 0x10 != 0 { 300 } else { 1 << 20 };
    let overflow_policy = if cfg & 0x20 != 0 {
        OverflowPolicy::Close
    } else {
        OverflowPolicy::Reject
    };
    let raw = cfg >> 6 == 3;
    let offer = match cfg >> 6 {
        0 => None,
        1 => Some("permessage-deflate; client_max_window_bits"),
        _ => Some(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=9",
        ),
    };
    let page = RouteKind::Static {
        content_type: "text/plain".into(),
        body: Bytes::from_static(b"hi"),
    };
    let settings = Settings {
        routes: vec![
            Route::new("/ws", RouteKind::WebSocket).with_subprotocols(["chat"]),
            Route::new("/sse", RouteKind::Sse),
            Route::new("/auth", RouteKind::WebSocket).with_approval(),
            Route::new("/sse-auth", RouteKind::Sse).with_approval(),
            Route::new("/page", page),
        ],
        max_message_size: max_message,
        max_head_bytes: 8192,
        max_headers: 64,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        close_timeout: Duration::from_secs(5),
        sse_keepalive: Duration::from_secs(15),
        max_buffered,
        overflow_policy,
        allowed_origins: Vec::new(),
        deflate: DeflateConfig {
            mode,
            threshold,
            level: 6,
            window_bits: 15,
        },
        engine: EngineSettings {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            recovery_window: Duration::ZERO,
            cors_origins: Vec::new(),
            cors_credentials: false,
        },
    };
    // What the limits allow the state machine to hold: zlib contexts, a
    // message being gathered and its inflated copy, the request head and
    // the read buffers, with room to spare. No limit: what the input can
    // inflate to (deflate's ratio is at most ~1032:1).
    let per_message = match max_message {
        0 => 1100 * stream_len,
        n => 4 * n,
    };
    let allowance = (2 << 20) + per_message + 8 * stream_len;

    let now = Instant::now();
    let base = alloc::live();
    let mut run = Run {
        conn: Connection::new(now),
        out: Out {
            all: Vec::new(),
            drained: 0,
            heard: Heard::Nothing,
            max_message: limit(max_message),
            events: 0,
        },
        shared: SharedDeflate::default(),
        settings,
        now,
        wire: Wire {
            pos: 0,
            status: None,
            head_only: false,
            inflater: None,
            close_sent: false,
            expected: VecDeque::new(),
        },
        base,
        allowance: allowance as isize,
        dead_at: None,
        start: now,
    };

    alloc::reset_peak();
    if !raw {
        let mut req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(o) = offer {
            req.push_str(&format!("Sec-WebSocket-Extensions: {o}\r\n"));
        }
        req.push_str("\r\n");
        run.read(req.as_bytes());
        run.check();
        assert_eq!(
            run.wire.status,
            Some(101),
            "the target's handshake was refused"
        );
    } else {
        // A HEAD request is answered without a body.
        run.wire.head_only = stream.data.starts_with(b"HEAD ");
    }

    for &op in ops {
        alloc::reset_peak();
        run.op(op, &mut stream);
        run.check();
    }
    alloc::reset_peak();
    if !stream.is_empty() {
        run.release();
        let rest = stream.rest();
        run.read(rest);
        run.check();
    }
    // The peer hangs up; the linger and every timer run out.
    alloc::reset_peak();
    run.release();
    run.check();
    let (c, mut cx) = run.cx();
    c.handle_eof(&mut cx);
    run.check();
    run.release();
    run.check();
    run.advance(Duration::from_secs(1000));
    run.check();
    assert!(run.conn.is_dead(), "still alive after EOF and every timer");
    assert!(
        matches!(run.out.heard, Heard::Nothing | Heard::End),
        "dead without telling the application ({:?})",
        run.out.heard
    );
    assert!(run.out.events < 1 << 20);
    if trace() {
        eprintln!("wrote: {:?}", String::from_utf8_lossy(&run.out.all));
    }
}
