//! An Engine.IO session with Socket.IO on top, fed the client's packets.
//!
//! Input: a configuration byte, then operations: a WebSocket text or
//! binary message (on the transport, or on the probe of a polling session
//! that upgrades), a long-polling POST body or GET, virtual time passing,
//! or the application's calls (accept or reject a namespace, emit with an
//! ack, answer an ack, disconnect a socket, close the session) and the
//! transport going away. Checked: everything the server sends is a valid
//! Engine.IO packet, and its Socket.IO packets decode (a binary packet is
//! followed by exactly its attachments); a polling payload decodes as a
//! body; events follow each socket's life (request, then open or close;
//! events and acks only while open; one close) and nothing follows the
//! session's end; an event's name is not reserved, its arguments are a
//! JSON array, it carries the attachments its packet announced and its
//! placeholders point at them; deadlines never lie in the past.

use crate::input::Input;
use crate::trace;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use wsrt_proto::eio::{self, Data};
use wsrt_proto::engine::{
    EngineCx, EngineSession, Gone, SessionEvent, SessionOutput, SocketKey, Via,
};
use wsrt_proto::http::RequestHead;
use wsrt_proto::sio::{self, RESERVED_EVENTS};
use wsrt_proto::{
    DeflateConfig, DeflateMode, EngineSettings, MessageKind, OverflowPolicy, Route, RouteKind,
    Settings, Transport,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Requested,
    Open,
    Closed,
}

#[derive(Default)]
struct Out {
    queued: usize,
    sockets: HashMap<u64, Life>,
    next: u64,
    /// The last socket requested, opened, the last event's ack id.
    requested: Option<u64>,
    open: Option<u64>,
    ack: Option<(u64, u64)>,
    ended: bool,
    /// Binary messages the last binary packet announced, still to come.
    attachments_due: usize,
    plain: bool,
}

impl Out {
    fn ws_send(&mut self, kind: MessageKind, data: &[u8]) {
        if trace() {
            eprintln!("sent {kind:?} {:?}", String::from_utf8_lossy(data));
        }
        self.queued += data.len();
        match kind {
            MessageKind::Binary => {
                assert!(
                    self.attachments_due > 0,
                    "a binary message nobody announced"
                );
                self.attachments_due -= 1;
            }
            MessageKind::Text => {
                assert_eq!(self.attachments_due, 0, "text before the attachments");
                let text = std::str::from_utf8(data).expect("text message not UTF-8");
                check_eio_text(text, self.plain, &mut self.attachments_due);
            }
        }
    }
    fn ws_queued(&self) -> usize {
        self.queued
    }
    fn event(&mut self, event: SessionEvent<'_>) {
        if trace() {
            eprintln!("event: {event:?}");
        }
        assert!(!self.ended, "event after the session ended: {event:?}");
        match event {
            SessionEvent::Open { .. } => assert!(self.plain),
            SessionEvent::Message { .. } => assert!(self.plain),
            SessionEvent::Close { .. } => {
                assert!(self.plain);
                self.ended = true;
            }
            SessionEvent::SocketRequest { socket, nsp, .. } => {
                assert!(nsp.starts_with('/'));
                assert_eq!(self.sockets.get(&socket), Some(&Life::Requested));
                self.requested = Some(socket);
            }
            SessionEvent::SocketOpen { socket, .. } => {
                let life = self
                    .sockets
                    .get_mut(&socket)
                    .expect("open of an unknown socket");
                assert_eq!(*life, Life::Requested, "socket opened twice");
                *life = Life::Open;
                self.open = Some(socket);
            }
            SessionEvent::Event {
                socket,
                name,
                args,
                attachments,
                ack,
            } => {
                assert_eq!(
                    self.sockets.get(&socket),
                    Some(&Life::Open),
                    "event on a closed socket"
                );
                assert!(
                    !RESERVED_EVENTS.contains(&name),
                    "reserved event {name:?} delivered"
                );
                let args = args.to_string();
                sio::array_inner(&args).expect("event arguments are not a JSON array");
                if let Ok(nums) = sio::placeholders(&args, attachments.len()) {
                    assert!(nums.iter().all(|n| *n < attachments.len()));
                }
                if let Some(id) = ack {
                    self.ack = Some((socket, id));
                }
            }
            SessionEvent::Ack {
                socket,
                args,
                attachments,
                ..
            } => {
                assert_eq!(
                    self.sockets.get(&socket),
                    Some(&Life::Open),
                    "ack on a closed socket"
                );
                sio::array_inner(args).expect("ack arguments are not a JSON array");
                assert!(attachments.len() <= sio::MAX_ATTACHMENTS);
            }
            SessionEvent::SocketClose { socket, .. } => {
                let life = self
                    .sockets
                    .get_mut(&socket)
                    .expect("close of an unknown socket");
                assert_ne!(*life, Life::Closed, "socket closed twice");
                *life = Life::Closed;
            }
        }
    }
    fn new_socket(&mut self, nsp: &str) -> SocketKey {
        assert!(nsp.starts_with('/'));
        self.next += 1;
        self.sockets.insert(self.next, Life::Requested);
        SocketKey {
            handle: self.next,
            sid: format!("s{}", self.next),
            pid: None,
        }
    }
}

/// The output of one call (the session takes its output by value).
struct OutRef<'a>(&'a mut Out);

impl SessionOutput for OutRef<'_> {
    fn ws_send(&mut self, kind: MessageKind, data: &[u8]) {
        self.0.ws_send(kind, data)
    }
    fn ws_queued(&self) -> usize {
        self.0.ws_queued()
    }
    fn event(&mut self, event: SessionEvent<'_>) {
        self.0.event(event)
    }
    fn new_socket(&mut self, nsp: &str) -> SocketKey {
        self.0.new_socket(nsp)
    }
    fn recover_socket(&mut self, _nsp: &str, _pid: &str, _offset: &str) -> Option<SocketKey> {
        None
    }
}

/// A text packet the server sent: a valid Engine.IO packet, and on a
/// Socket.IO session its messages are Socket.IO packets.
fn check_eio_text(text: &str, plain: bool, attachments_due: &mut usize) {
    let p = eio::Packet::decode_text(text).expect("the server sent a malformed packet");
    if p.kind == eio::PacketType::Message && !plain {
        let s = sio::Packet::decode(p.text()).unwrap_or_else(|e| {
            // CONNECT_ERROR to a refused namespace, ACKs, events: all must decode.
            panic!(
                "the server sent a bad Socket.IO packet {:?}: {e:?}",
                p.text()
            )
        });
        *attachments_due = s.attachments;
    }
}

/// A long-polling body the server answered with.
fn check_payload(body: &[u8], plain: bool) {
    if body.is_empty() {
        return;
    }
    let text = std::str::from_utf8(body).expect("payload not UTF-8");
    let mut due = 0;
    for p in eio::decode_payload(text) {
        let p = p.expect("the server sent a malformed payload");
        match &p.data {
            Data::Binary(_) => {
                assert!(due > 0, "an attachment nobody announced");
                due -= 1;
            }
            Data::Text(t) => {
                assert_eq!(due, 0, "text before the attachments");
                let mut packet = vec![b'0' + p.kind as u8];
                packet.extend_from_slice(t.as_bytes());
                check_eio_text(std::str::from_utf8(&packet).unwrap(), plain, &mut due);
            }
        }
    }
    assert_eq!(due, 0, "attachments missing at the end of a payload");
}

const STEPS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(21),
    Duration::from_secs(26),
    Duration::from_secs(46),
    Duration::from_secs(300),
];

pub fn engine_session(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.byte();
    let transport = if cfg & 1 == 0 {
        Transport::WebSocket
    } else {
        Transport::Polling
    };
    let plain = cfg & 2 != 0;
    let kind = if plain {
        RouteKind::EngineIo
    } else {
        RouteKind::SocketIo {
            namespaces: vec!["/".into(), "/chat".into()],
        }
    };
    let mut route = Route::new("/socket.io/", kind);
    if cfg & 4 != 0 {
        route = route.with_approval();
    }
    let settings = Settings {
        routes: vec![route],
        max_message_size: 1 << 16,
        max_head_bytes: 8192,
        max_headers: 64,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        close_timeout: Duration::from_secs(5),
        sse_keepalive: Duration::from_secs(15),
        max_buffered: if cfg & 8 != 0 { 200 } else { 1 << 20 },
        overflow_policy: if cfg & 16 != 0 {
            OverflowPolicy::Close
        } else {
            OverflowPolicy::Reject
        },
        allowed_origins: Vec::new(),
        deflate: DeflateConfig {
            mode: DeflateMode::Off,
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
            cors_origins: Vec::new(),
            cors_credentials: false,
        },
    };
    let head = Box::new(RequestHead {
        method: "GET".into(),
        path: "/socket.io/".into(),
        query: "EIO=4&transport=websocket".into(),
        version: 1,
        headers: vec![("Host".into(), "x".into())],
    });
    let mut now = Instant::now();
    let mut scratch = Vec::new();
    let mut out = Out {
        plain,
        ..Out::default()
    };
    let mut session = EngineSession::new(0, transport, head, &settings, now);
    macro_rules! cx {
        () => {
            &mut EngineCx {
                now,
                settings: &settings,
                scratch: &mut scratch,
                out: OutRef(&mut out),
            }
        };
    }
    session.start("sid", cx!());

    while !input.is_empty() {
        let op = input.byte();
        match op {
            0x00..=0x8f => {
                let piece = input.piece();
                let text;
                let (kind, bytes) = if op < 0x80 {
                    text = String::from_utf8_lossy(piece).into_owned();
                    (MessageKind::Text, text.as_bytes())
                } else {
                    (MessageKind::Binary, piece)
                };
                // A WebSocket message comes on the transport, or on the
                // probe of a polling session that upgrades; a polling
                // session without a probe has no WebSocket to send it.
                let via = if session.transport() == Transport::WebSocket {
                    Some(Via::Transport)
                } else if session.is_probing() {
                    Some(Via::Probe)
                } else {
                    None
                };
                if let Some(via) = via {
                    session.handle_ws_message(kind, bytes, via, cx!());
                }
            }
            0x90 => {
                let body = input.piece();
                let _ = session.handle_post(body, cx!());
            }
            0x91 => {
                let _ = session.handle_poll(cx!());
            }
            0x92 if session.poll_ready() => {
                let body = session.take_payload();
                if trace() {
                    eprintln!("payload {:?}", String::from_utf8_lossy(&body));
                }
                check_payload(&body, plain);
            }
            0xa0..=0xa7 => {
                let end = now + STEPS[(op & 7) as usize];
                let mut runs = 0;
                while let Some(at) = session.deadline(&settings) {
                    if at > end {
                        break;
                    }
                    assert!(at >= now, "a deadline in the past");
                    now = at;
                    session.handle_timeout(cx!());
                    runs += 1;
                    assert!(runs < 10_000, "timers re-arm without time passing");
                }
                now = end;
            }
            0xa8 => {
                if let Some(s) = out.requested.take() {
                    let key = SocketKey {
                        handle: s,
                        sid: format!("s{s}"),
                        pid: None,
                    };
                    let _ = session.accept_socket(&key, cx!());
                }
            }
            0xa9 => {
                if let Some(s) = out.requested.take() {
                    if session.reject_socket(s, "no", None, cx!()).is_ok() {
                        out.sockets.insert(s, Life::Closed);
                    }
                }
            }
            0xaa => {
                if let Some(s) = out.open {
                    let timeout = Some(Some(Duration::from_secs(5)));
                    let _ = session.emit(s, "hello", "[1,\"two\"]", &[], timeout, None, cx!());
                }
            }
            0xab => {
                if let Some(s) = out.open {
                    let args = "[{\"_placeholder\":true,\"num\":0}]";
                    let _ = session.emit(s, "bin", args, &[b"\x00\x01"], None, None, cx!());
                }
            }
            0xac => {
                if let Some((s, id)) = out.ack.take() {
                    let _ = session.ack(s, id, "[\"ok\"]", &[], cx!());
                }
            }
            0xad => {
                if let Some(s) = out.open {
                    let _ = session.disconnect_socket(s, cx!());
                }
            }
            0xae => {
                let _ = session.close(cx!());
            }
            0xaf => {
                let gone = match session.transport() {
                    Transport::WebSocket => Gone::WebSocket { failed: false },
                    Transport::Polling => Gone::Poll,
                };
                session.handle_transport_gone(gone, cx!());
            }
            0xb0 => out.queued = 0,
            // A WebSocket opens to upgrade a polling session.
            0xb1 if session.can_upgrade() => session.begin_probe(now),
            0xb2 if session.is_probing() => session.handle_transport_gone(Gone::Probe, cx!()),
            _ => {}
        }
        // An ended session has told the application of every socket.
        if !session.is_open() {
            let open = out
                .sockets
                .iter()
                .filter(|(_, l)| **l != Life::Closed)
                .count();
            assert_eq!(open, 0, "the session ended; {open} sockets were not closed");
        }
    }
    if session.poll_ready() {
        let body = session.take_payload();
        check_payload(&body, plain);
    }
    assert_eq!(out.attachments_due, 0, "announced attachments never sent");
}
