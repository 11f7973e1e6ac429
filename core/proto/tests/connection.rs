//! The connection state machine in virtual time: no socket, no clock, no
//! sleeping. Bytes go in, `now` moves when the test says so, and the test
//! reads the bytes, events and deadlines that come out.

mod support;

use bytes::Bytes;
use std::time::{Duration, Instant};
use wsrt_proto::compress::SharedDeflate;
use wsrt_proto::frame::{parse_header, OpCode};
use wsrt_proto::sse::SseEvent;
use wsrt_proto::{
    ConnEvent, ConnState, Connection, Cx, DeflateMode, MessageKind, Output, OverflowPolicy,
    Refusal, Route, RouteKind, Settings,
};

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Request,
    Open(Option<String>),
    SseOpen,
    Message(MessageKind, Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    SseClose,
    Transport,
}

#[derive(Default)]
struct Out {
    bytes: Vec<u8>,
    events: Vec<Ev>,
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
        self.events.push(match event {
            ConnEvent::Request { .. } => Ev::Request,
            ConnEvent::Open { protocol, .. } => Ev::Open(protocol),
            ConnEvent::SseOpen { .. } => Ev::SseOpen,
            ConnEvent::Message { kind, data, .. } => Ev::Message(kind, data.to_vec()),
            ConnEvent::Pong { data } => Ev::Pong(data.to_vec()),
            ConnEvent::Close { code, reason } => Ev::Close(code, reason.to_string()),
            ConnEvent::SseClose => Ev::SseClose,
            ConnEvent::Transport(_) => Ev::Transport,
        })
    }
}

fn settings() -> Settings {
    support::settings(vec![
        Route::new("/ws", RouteKind::WebSocket),
        Route::new("/sse", RouteKind::Sse),
        Route::new("/auth", RouteKind::WebSocket).with_approval(),
        support::page("/page", b"hi"),
    ])
}

/// One connection and a virtual clock.
struct T {
    conn: Connection,
    out: Out,
    shared: SharedDeflate,
    settings: Settings,
    now: Instant,
}

const WS_REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

impl T {
    fn new(settings: Settings) -> T {
        // An arbitrary epoch: every later time is this plus what the test
        // lets pass.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        T {
            conn: Connection::new(now),
            out: Out::default(),
            shared: SharedDeflate::default(),
            settings,
            now,
        }
    }

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
        let mut data = data.to_vec();
        let (c, mut cx) = self.cx();
        c.handle_read(&mut data, &mut cx);
    }

    fn websocket(settings: Settings) -> T {
        let mut t = T::new(settings);
        t.read(WS_REQUEST);
        assert_eq!(t.take_events(), vec![Ev::Open(None)]);
        assert!(t.take_bytes().starts_with(b"HTTP/1.1 101 "));
        t
    }

    fn sse(settings: Settings) -> T {
        let mut t = T::new(settings);
        t.read(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(t.take_events(), vec![Ev::SseOpen]);
        assert!(t.take_bytes().starts_with(b"HTTP/1.1 200 OK"));
        t
    }

    /// Lets `d` pass, running the timers whenever a deadline falls due,
    /// as the driver does. Returns how many times they ran.
    fn advance(&mut self, d: Duration) -> usize {
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
            assert!(runs < 1_000_000, "timers re-arm without time passing");
            if let Some(next) = self.conn.deadline(&self.settings) {
                assert!(next > self.now, "re-armed for now: the loop would spin");
            }
        }
        self.now = end;
        runs
    }

    fn release(&mut self) {
        let (c, mut cx) = self.cx();
        c.release(&mut cx);
    }

    fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.out.events)
    }

    fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out.bytes)
    }

    /// The server frames written since the last take: (opcode, payload).
    fn take_frames(&mut self) -> Vec<(u8, Vec<u8>)> {
        let bytes = self.take_bytes();
        let mut frames = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (h, n) = parse_header(rest).unwrap().expect("whole frame");
            let len = h.payload_len as usize;
            frames.push((h.opcode, rest[n..n + len].to_vec()));
            rest = &rest[n + len..];
        }
        frames
    }
}

/// A masked client frame.
fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut v = vec![0x80 | opcode as u8];
    assert!(payload.len() < 126);
    v.push(0x80 | payload.len() as u8);
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------------------
// Server-Sent Events keep-alive.
// ---------------------------------------------------------------------------

#[test]
fn sse_keepalive_zero_never_fires_and_never_spins() {
    // The bug this guards: a zero keep-alive re-armed itself for "now"
    // forever, so the first event never left and memory grew.
    let mut s = settings();
    s.sse_keepalive = Duration::ZERO;
    let mut t = T::sse(s);
    assert_eq!(t.conn.deadline(&t.settings), None);
    assert_eq!(t.advance(secs(3600)), 0);
    assert!(t.take_bytes().is_empty());
    let (c, mut cx) = t.cx();
    c.sse_send(
        &SseEvent {
            data: "first",
            ..Default::default()
        },
        &mut cx,
    )
    .unwrap();
    assert_eq!(t.take_bytes(), b"data: first\n\n");
}

#[test]
fn sse_keepalive_comments_only_when_quiet() {
    let mut t = T::sse(settings());
    let start = t.now;
    assert_eq!(t.conn.deadline(&t.settings), Some(start + secs(15)));
    // 14 s of quiet: nothing yet.
    assert_eq!(t.advance(secs(14)), 0);
    // An event at 14 s resets the quiet period.
    let (c, mut cx) = t.cx();
    c.sse_send(
        &SseEvent {
            data: "x",
            ..Default::default()
        },
        &mut cx,
    )
    .unwrap();
    t.take_bytes();
    t.advance(secs(14));
    assert!(t.take_bytes().is_empty(), "28 s in, 14 s quiet: no comment");
    t.advance(secs(1));
    assert_eq!(t.take_bytes(), b": keep-alive\n\n");
    // Then one every 15 s.
    t.advance(secs(45));
    assert_eq!(t.take_bytes(), b": keep-alive\n\n".repeat(3));
}

// ---------------------------------------------------------------------------
// WebSocket idle pings.
// ---------------------------------------------------------------------------

#[test]
fn silent_peer_is_pinged_at_half_the_idle_timeout_then_dropped() {
    let mut s = settings();
    s.idle_timeout = secs(60);
    let mut t = T::websocket(s);
    t.advance(Duration::from_millis(29_999));
    assert!(t.take_frames().is_empty());
    t.advance(Duration::from_millis(1));
    assert_eq!(t.take_frames(), vec![(OpCode::Ping as u8, vec![])]);
    t.advance(Duration::from_millis(29_999));
    assert!(!t.conn.is_dead());
    t.advance(Duration::from_millis(1));
    assert!(t.conn.is_dead());
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(1006, "peer stopped answering pings".into())]
    );
}

#[test]
fn any_frame_from_the_peer_resets_the_idle_timer() {
    let mut s = settings();
    s.idle_timeout = secs(60);
    let mut t = T::websocket(s);
    t.advance(secs(30));
    assert_eq!(t.take_frames().len(), 1, "pinged at 30 s");
    // A pong 50 s in: silent for 20 s only.
    t.advance(secs(20));
    t.read(&frame(OpCode::Pong, b""));
    t.advance(secs(29));
    assert!(t.take_frames().is_empty() && !t.conn.is_dead());
    t.advance(secs(1));
    assert_eq!(t.take_frames().len(), 1, "pinged again 30 s after the pong");
    t.read(&frame(OpCode::Text, b"alive"));
    t.advance(secs(59));
    assert!(!t.conn.is_dead());
}

#[test]
fn idle_timeout_zero_never_pings() {
    let mut s = settings();
    s.idle_timeout = Duration::ZERO;
    let mut t = T::websocket(s);
    assert_eq!(t.conn.deadline(&t.settings), None);
    assert_eq!(t.advance(secs(86_400)), 0);
    assert!(t.take_bytes().is_empty());
    assert_eq!(t.conn.state(), ConnState::Open);
}

// ---------------------------------------------------------------------------
// Handshake timeout.
// ---------------------------------------------------------------------------

#[test]
fn slowloris_is_dropped_at_the_handshake_timeout() {
    let mut t = T::new(settings());
    t.read(b"GET /ws HTTP/1.1\r\nHost:");
    t.advance(Duration::from_millis(9_999));
    assert!(!t.conn.is_dead());
    t.advance(Duration::from_millis(1));
    assert!(t.conn.is_dead());
    // The app never knew it.
    assert!(t.take_events().is_empty());
}

#[test]
fn handshake_timeout_zero_waits_for_the_head_forever() {
    let mut s = settings();
    s.handshake_timeout = Duration::ZERO;
    let mut t = T::new(s);
    t.read(b"GET /ws HTTP/1.1\r\n");
    assert_eq!(t.advance(secs(86_400)), 0);
    t.read(&WS_REQUEST[18..]);
    assert_eq!(t.take_events(), vec![Ev::Open(None)]);
}

#[test]
fn an_unanswered_approval_times_out_and_the_app_hears_1006() {
    let mut t = T::new(settings());
    t.read(&WS_REQUEST.to_vec().replace_path("/auth"));
    assert_eq!(t.take_events(), vec![Ev::Request]);
    assert_eq!(t.conn.state(), ConnState::Connecting);
    assert!(!t.conn.wants_input());
    t.advance(secs(10));
    assert!(t.conn.is_dead());
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(1006, "handshake timed out".into())]
    );
}

trait ReplacePath {
    fn replace_path(&self, path: &str) -> Vec<u8>;
}

impl ReplacePath for Vec<u8> {
    fn replace_path(&self, path: &str) -> Vec<u8> {
        let s = String::from_utf8(self.clone()).unwrap();
        s.replacen("/ws", path, 1).into_bytes()
    }
}

// ---------------------------------------------------------------------------
// The close handshake.
// ---------------------------------------------------------------------------

#[test]
fn our_close_waits_close_timeout_for_the_answer() {
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    c.close(4000, "bye", &mut cx).unwrap();
    assert_eq!(t.conn.state(), ConnState::Closing);
    assert!(t.conn.fin_after_flush());
    let frames = t.take_frames();
    assert_eq!(frames[0].0, OpCode::Close as u8);
    // Sends are refused once closing.
    let (c, mut cx) = t.cx();
    assert_eq!(
        c.send(MessageKind::Text, b"late", &mut cx),
        Err(Refusal::Closed)
    );
    t.advance(Duration::from_millis(4_999));
    assert!(!t.conn.is_dead());
    t.advance(Duration::from_millis(1));
    assert!(t.conn.is_dead());
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(1006, "close handshake timed out".into())]
    );
}

#[test]
fn the_peers_answer_completes_our_close_and_lingers() {
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    c.close(1000, "", &mut cx).unwrap();
    t.take_bytes();
    t.read(&frame(OpCode::Close, &1000u16.to_be_bytes()));
    assert_eq!(t.take_events(), vec![Ev::Close(1000, String::new())]);
    assert!(t.conn.is_lingering());
    // Lingering lasts close_timeout at most.
    t.advance(secs(5));
    assert!(t.conn.is_dead());
    assert!(t.take_events().is_empty(), "one close event only");
}

#[test]
fn close_timeout_zero_lingers_until_the_peer_hangs_up() {
    let mut s = settings();
    s.close_timeout = Duration::ZERO;
    let mut t = T::websocket(s);
    let (c, mut cx) = t.cx();
    c.close(1000, "", &mut cx).unwrap();
    assert_eq!(t.advance(secs(86_400)), 0);
    assert_eq!(t.conn.state(), ConnState::Closing);
}

#[test]
fn a_peer_close_is_echoed_after_the_replies_to_earlier_messages() {
    let mut t = T::websocket(settings());
    let mut wire = frame(OpCode::Text, b"question");
    wire.extend(frame(OpCode::Close, &[0x0f, 0xa0, b'o', b'k'])); // 4000 "ok"
    t.read(&wire);
    assert_eq!(
        t.take_events(),
        vec![
            Ev::Message(MessageKind::Text, b"question".to_vec()),
            Ev::Close(4000, "ok".into())
        ]
    );
    // The app answers the message in the same batch: allowed.
    assert_eq!(t.conn.state(), ConnState::Closed);
    assert!(t.conn.awaits_release());
    let (c, mut cx) = t.cx();
    c.send(MessageKind::Text, b"answer", &mut cx).unwrap();
    t.release();
    let frames = t.take_frames();
    assert_eq!(frames[0], (OpCode::Text as u8, b"answer".to_vec()));
    assert_eq!(
        frames[1],
        (OpCode::Close as u8, 4000u16.to_be_bytes().to_vec())
    );
    assert!(t.conn.is_lingering());
}

#[test]
fn a_protocol_violation_fails_with_its_code_after_the_batch() {
    let mut t = T::websocket(settings());
    // An unmasked frame: 1002.
    t.read(&[0x81, 0x01, b'x']);
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(1002, "client frame not masked".into())]
    );
    assert!(
        t.take_bytes().is_empty(),
        "the close frame waits for the batch"
    );
    t.release();
    let frames = t.take_frames();
    assert_eq!(frames[0].0, OpCode::Close as u8);
    assert_eq!(&frames[0].1[..2], &1002u16.to_be_bytes());
}

#[test]
fn eof_without_a_close_frame_reports_1006_once() {
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    c.handle_eof(&mut cx);
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(
            1006,
            "connection closed without a close frame".into()
        )]
    );
    t.release();
    assert!(t.conn.is_lingering());
    assert!(
        t.take_bytes().is_empty(),
        "no close frame to a peer that left"
    );
    let (c, mut cx) = t.cx();
    c.handle_eof(&mut cx);
    assert!(t.take_events().is_empty());
}

#[test]
fn terminate_drops_at_once_and_reports_1006() {
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    c.terminate(&mut cx).unwrap();
    assert!(t.conn.is_dead());
    assert!(t.take_bytes().is_empty(), "no close handshake");
    assert_eq!(
        t.take_events(),
        vec![Ev::Close(1006, "terminated by the server".into())]
    );
    let (c, mut cx) = t.cx();
    assert_eq!(c.terminate(&mut cx), Err(Refusal::Closed));
}

#[test]
fn shutdown_closes_a_websocket_with_1001_and_ends_a_stream() {
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    c.shutdown(&mut cx);
    let frames = t.take_frames();
    assert_eq!(&frames[0].1[..2], &1001u16.to_be_bytes());
    let mut t = T::sse(settings());
    let (c, mut cx) = t.cx();
    c.shutdown(&mut cx);
    assert_eq!(t.take_events(), vec![Ev::SseClose]);
    assert!(t.conn.is_lingering());
}

// ---------------------------------------------------------------------------
// Sends and limits.
// ---------------------------------------------------------------------------

#[test]
fn a_send_past_max_buffered_is_refused_or_closes() {
    let mut s = settings();
    s.max_buffered = 1024;
    let mut t = T::websocket(s.clone());
    let (c, mut cx) = t.cx();
    c.send(MessageKind::Binary, &[0; 900], &mut cx).unwrap();
    assert_eq!(
        c.send(MessageKind::Binary, &[0; 200], &mut cx),
        Err(Refusal::Backpressure)
    );
    assert_eq!(t.conn.state(), ConnState::Open);

    s.overflow_policy = OverflowPolicy::Close;
    let mut t = T::websocket(s);
    let (c, mut cx) = t.cx();
    c.send(MessageKind::Binary, &[0; 900], &mut cx).unwrap();
    assert_eq!(
        c.send(MessageKind::Binary, &[0; 200], &mut cx),
        Err(Refusal::Backpressure)
    );
    assert_eq!(t.conn.state(), ConnState::Closing);
    let frames = t.take_frames();
    assert_eq!(&frames[1].1[..2], &1008u16.to_be_bytes());
}

#[test]
fn max_buffered_zero_is_no_limit() {
    let mut s = settings();
    s.max_buffered = 0;
    let mut t = T::websocket(s);
    let big = vec![7u8; 100_000];
    for _ in 0..50 {
        let (c, mut cx) = t.cx();
        c.send(MessageKind::Binary, &big, &mut cx).unwrap();
    }
    assert!(t.out.bytes.len() > 5_000_000);
}

#[test]
fn max_message_size_zero_is_no_limit() {
    let mut s = settings();
    s.max_message_size = 0;
    let mut t = T::websocket(s);
    // A 64 KiB frame header (126 + 16-bit length), masked.
    let payload = vec![b'a'; 70_000];
    let mut wire = vec![0x82u8, 0x80 | 127];
    wire.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    wire.extend_from_slice(&[0, 0, 0, 0]);
    wire.extend_from_slice(&payload);
    t.read(&wire);
    assert_eq!(
        t.take_events(),
        vec![Ev::Message(MessageKind::Binary, payload)]
    );
}

#[test]
fn wrong_calls_for_the_phase_are_refused() {
    let mut t = T::sse(settings());
    let (c, mut cx) = t.cx();
    assert!(matches!(
        c.send(MessageKind::Text, b"x", &mut cx),
        Err(Refusal::WrongState(_))
    ));
    assert!(matches!(
        c.accept(None, &[], &mut cx),
        Err(Refusal::WrongState(_))
    ));
    let mut t = T::websocket(settings());
    let (c, mut cx) = t.cx();
    assert!(matches!(
        c.sse_comment("x", &mut cx),
        Err(Refusal::WrongState(_))
    ));
    assert!(matches!(
        c.ping(&[0; 126], &mut cx),
        Err(Refusal::InvalidArgument(_))
    ));
    assert!(matches!(
        c.close(1005, "", &mut cx),
        Err(Refusal::InvalidArgument(_))
    ));
}

#[test]
fn response_headers_on_accept_and_reject() {
    let mut t = T::new(settings());
    t.read(&WS_REQUEST.to_vec().replace_path("/auth"));
    t.take_events();
    let bad = vec![("X-Evil".to_string(), "a\r\nInjected: yes".to_string())];
    let (c, mut cx) = t.cx();
    assert!(matches!(
        c.accept(None, &bad, &mut cx),
        Err(Refusal::InvalidArgument(_))
    ));
    let reserved = vec![("Content-Length".to_string(), "0".to_string())];
    assert!(matches!(
        c.accept(None, &reserved, &mut cx),
        Err(Refusal::InvalidArgument(_))
    ));
    let good = vec![("Set-Cookie".to_string(), "session=1".to_string())];
    c.accept(None, &good, &mut cx).unwrap();
    let head = String::from_utf8(t.take_bytes()).unwrap();
    assert!(head.contains("\r\nSet-Cookie: session=1\r\n"), "{head}");

    let mut t = T::new(settings());
    t.read(&WS_REQUEST.to_vec().replace_path("/auth"));
    let www = vec![("WWW-Authenticate".to_string(), "Bearer".to_string())];
    let (c, mut cx) = t.cx();
    c.reject(401, "no", &www, &mut cx).unwrap();
    let answer = String::from_utf8(t.take_bytes()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401 ") && answer.contains("WWW-Authenticate: Bearer\r\n"));
    assert!(t.conn.is_lingering());
}

#[test]
fn route_headers_go_on_every_answer_that_opens_it() {
    let mut s = settings();
    s.routes[1] =
        Route::new("/sse", RouteKind::Sse).with_header("Access-Control-Allow-Origin", "*");
    let mut t = T::new(s);
    t.read(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = String::from_utf8(t.take_bytes()).unwrap();
    assert!(
        head.contains("Access-Control-Allow-Origin: *\r\n"),
        "{head}"
    );
}

// ---------------------------------------------------------------------------
// Compression state.
// ---------------------------------------------------------------------------

#[test]
fn an_idle_compressor_is_released_after_30_seconds_whatever_the_idle_timeout() {
    let mut s = settings();
    s.idle_timeout = Duration::ZERO;
    s.deflate.mode = DeflateMode::PerConnection;
    s.deflate.threshold = 0;
    let mut t = T::new(s);
    let req = String::from_utf8(WS_REQUEST.to_vec()).unwrap().replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    t.read(req.as_bytes());
    t.take_bytes();
    assert_eq!(t.conn.deadline(&t.settings), None, "nothing to release yet");
    let (c, mut cx) = t.cx();
    c.send(MessageKind::Text, &b"hello ".repeat(100), &mut cx)
        .unwrap();
    let start = t.now;
    assert_eq!(t.conn.deadline(&t.settings), Some(start + secs(30)));
    t.advance(secs(30));
    assert_eq!(
        t.conn.deadline(&t.settings),
        None,
        "released: no timer left"
    );
}

// ---------------------------------------------------------------------------
// No schedule makes the timers spin.
// ---------------------------------------------------------------------------

#[test]
fn every_timer_moves_forward_under_any_settings() {
    // Every combination of off / tiny / ordinary timers, each phase.
    let values = [Duration::ZERO, Duration::from_millis(1), secs(3)];
    for &hs in &values {
        for &idle in &values {
            for &close in &values {
                for &ka in &values {
                    let mut s = settings();
                    s.handshake_timeout = hs;
                    s.idle_timeout = idle;
                    s.close_timeout = close;
                    s.sse_keepalive = ka;
                    // `advance` asserts no deadline is re-armed for now.
                    let mut t = T::new(s.clone());
                    t.read(b"GET /ws HTTP/1.1\r\n");
                    t.advance(secs(10));
                    let mut t = T::websocket(s.clone());
                    t.advance(secs(10));
                    let mut t = T::websocket(s.clone());
                    let (c, mut cx) = t.cx();
                    c.close(1000, "", &mut cx).unwrap();
                    t.advance(secs(10));
                    let mut t = T::sse(s);
                    t.advance(secs(10));
                }
            }
        }
    }
}
