//! Engine.IO sessions and Socket.IO on them, without sockets or clocks:
//! packets and time go in, payloads, WebSocket messages and events come
//! out. Every timer (heartbeat, upgrade, connect, ack) is driven by
//! passing a later `Instant`.

mod support;

use std::time::{Duration, Instant};
use wsrt_proto::engine::http::{EngineError, Transport};
use wsrt_proto::engine::{
    AckOutcome, EngineCx, EngineSession, Gone, SessionEvent, SessionOutput, SocketKey, Via,
};
use wsrt_proto::http::RequestHead;
use wsrt_proto::{MessageKind, Route, RouteKind, Settings};

const PING_INTERVAL: Duration = Duration::from_millis(300);
const PING_TIMEOUT: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const UPGRADE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Open,
    Message(MessageKind, Vec<u8>),
    Close(String),
    SocketRequest(u64, String, String),
    SocketOpen(u64, String, String),
    Event(u64, String, String, Vec<Vec<u8>>, Option<u64>),
    Ack(u64, u64, AckOutcome, String),
    SocketClose(u64, String),
}

#[derive(Default)]
struct Out {
    ws: Vec<(MessageKind, Vec<u8>)>,
    events: Vec<Ev>,
    sockets: u64,
}

impl SessionOutput for &mut Out {
    fn ws_send(&mut self, kind: MessageKind, data: &[u8]) {
        self.ws.push((kind, data.to_vec()));
    }
    fn ws_queued(&self) -> usize {
        0
    }
    fn event(&mut self, event: SessionEvent<'_>) {
        self.events.push(match event {
            SessionEvent::Open { .. } => Ev::Open,
            SessionEvent::Message { kind, data } => Ev::Message(kind, data.to_vec()),
            SessionEvent::Close { reason } => Ev::Close(reason.into()),
            SessionEvent::SocketRequest {
                socket, nsp, auth, ..
            } => Ev::SocketRequest(socket, nsp.into(), auth.into()),
            SessionEvent::SocketOpen {
                socket, nsp, auth, ..
            } => Ev::SocketOpen(socket, nsp.into(), auth.into()),
            SessionEvent::Event {
                socket,
                name,
                args,
                attachments,
                ack,
            } => Ev::Event(
                socket,
                name.into(),
                args.to_string(),
                attachments.to_vec(),
                ack,
            ),
            SessionEvent::Ack {
                socket,
                id,
                outcome,
                args,
                ..
            } => Ev::Ack(socket, id, outcome, args.into()),
            SessionEvent::SocketClose { socket, reason } => Ev::SocketClose(socket, reason.into()),
        })
    }
    fn new_socket(&mut self, _nsp: &str) -> SocketKey {
        self.sockets += 1;
        SocketKey {
            handle: self.sockets,
            sid: format!("sid{}", self.sockets),
            pid: None,
        }
    }
    fn recover_socket(&mut self, _nsp: &str, _pid: &str, _offset: &str) -> Option<SocketKey> {
        None
    }
}

fn settings(kind: RouteKind) -> Settings {
    let mut s = support::settings(vec![Route::new("/engine.io/", kind)]);
    s.engine.ping_interval = PING_INTERVAL;
    s.engine.ping_timeout = PING_TIMEOUT;
    s.engine.connect_timeout = CONNECT_TIMEOUT;
    s.engine.upgrade_timeout = UPGRADE_TIMEOUT;
    s
}

fn head() -> Box<RequestHead> {
    Box::new(RequestHead {
        method: "GET".into(),
        path: "/engine.io/".into(),
        query: "EIO=4&transport=polling".into(),
        version: 1,
        headers: vec![("Host".into(), "x".into())],
    })
}

/// A session under test with its virtual clock.
struct Harness {
    settings: Settings,
    session: EngineSession,
    out: Out,
    scratch: Vec<u8>,
    now: Instant,
}

impl Harness {
    fn new(kind: RouteKind, transport: Transport) -> Harness {
        let settings = settings(kind);
        // An arbitrary epoch: every later time is this plus what the test
        // lets pass.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let session = EngineSession::new(0, transport, head(), &settings, now);
        let mut h = Harness {
            settings,
            session,
            out: Out::default(),
            scratch: Vec::new(),
            now,
        };
        h.run(|s, cx| s.start("SID", cx));
        h
    }

    fn polling(kind: RouteKind) -> Harness {
        let mut h = Harness::new(kind, Transport::Polling);
        let open = h.take();
        assert!(open.starts_with("0{\"sid\":\"SID\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}"), "{open}");
        h
    }

    fn sio() -> Harness {
        Harness::polling(RouteKind::SocketIo {
            namespaces: vec!["/".into(), "/admin".into()],
        })
    }

    fn run<R>(
        &mut self,
        f: impl FnOnce(&mut EngineSession, &mut EngineCx<'_, &mut Out>) -> R,
    ) -> R {
        let mut cx = EngineCx {
            now: self.now,
            settings: &self.settings,
            scratch: &mut self.scratch,
            out: &mut self.out,
        };
        f(&mut self.session, &mut cx)
    }

    /// The payload a poll would carry now (and the poll is answered).
    fn take(&mut self) -> String {
        let bytes = self.session.take_payload();
        String::from_utf8(bytes).expect("a polling payload is text")
    }

    fn post(&mut self, body: &str) -> Result<(), EngineError> {
        self.run(|s, cx| s.handle_post(body.as_bytes(), cx))
    }

    fn poll(&mut self) -> Result<(), EngineError> {
        self.run(|s, cx| s.handle_poll(cx))
    }

    fn advance_to_deadline(&mut self) {
        let at = self
            .session
            .deadline(&self.settings)
            .expect("a timer is armed");
        assert!(at >= self.now, "deadlines never lie in the past");
        self.now = at;
        self.run(|s, cx| s.handle_timeout(cx));
    }

    fn events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.out.events)
    }
}

#[test]
fn polling_heartbeat_pings_every_interval_and_ends_without_pong() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    assert_eq!(h.events(), vec![Ev::Open]);
    let start = h.now;
    assert_eq!(h.session.deadline(&h.settings), Some(start + PING_INTERVAL));

    // Just before the interval nothing happens.
    h.now = start + PING_INTERVAL - Duration::from_millis(1);
    h.run(|s, cx| s.handle_timeout(cx));
    assert_eq!(h.take(), "");

    h.advance_to_deadline();
    assert_eq!(h.take(), "2");
    assert_eq!(
        h.session.deadline(&h.settings),
        Some(start + PING_INTERVAL + PING_TIMEOUT)
    );

    // A pong in time: the next ping comes an interval after the pong (as
    // the reference server schedules it).
    h.now += Duration::from_millis(50);
    h.post("3").unwrap();
    assert_eq!(h.session.deadline(&h.settings), Some(h.now + PING_INTERVAL));
    h.advance_to_deadline();
    assert_eq!(h.take(), "2");

    // No pong this time.
    h.advance_to_deadline();
    assert_eq!(h.events(), vec![Ev::Close("ping timeout".into())]);
    assert!(!h.session.is_open());
}

#[test]
fn a_second_concurrent_poll_is_refused_and_ends_the_session() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    h.events();
    h.poll().unwrap();
    assert_eq!(h.poll(), Err(EngineError::BadRequest));
    assert_eq!(h.events(), vec![Ev::Close("transport error".into())]);
    // The parked poll gets the close packet.
    assert_eq!(h.take(), "1");
}

#[test]
fn messages_in_a_post_reach_the_app_in_order_and_bad_packets_end_the_session() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    h.events();
    h.post("4hello\x1ebAQID\x1e4").unwrap();
    assert_eq!(
        h.events(),
        vec![
            Ev::Message(MessageKind::Text, b"hello".to_vec()),
            Ev::Message(MessageKind::Binary, vec![1, 2, 3]),
            Ev::Message(MessageKind::Text, Vec::new()),
        ]
    );
    assert_eq!(h.post("9bogus"), Err(EngineError::BadRequest));
    assert_eq!(h.events(), vec![Ev::Close("parse error".into())]);
    assert_eq!(h.post("4late"), Err(EngineError::BadRequest));
    assert!(h.events().is_empty(), "nothing after the end");
}

#[test]
fn sends_are_batched_into_one_payload_text_and_binary() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    h.run(|s, cx| s.send(MessageKind::Text, b"a", cx)).unwrap();
    h.run(|s, cx| s.send(MessageKind::Binary, &[0xff, 0], cx))
        .unwrap();
    assert_eq!(h.take(), "4a\x1eb/wA=");
    // A text message may not hold the record separator of the payload.
    assert!(h
        .run(|s, cx| s.send(MessageKind::Text, b"a\x1eb", cx))
        .is_err());
}

#[test]
fn upgrade_probe_noop_and_switch() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    h.session.begin_probe(h.now);
    assert!(h.session.is_probing());
    h.run(|s, cx| s.handle_ws_message(MessageKind::Text, b"2probe", Via::Probe, cx));
    assert_eq!(h.out.ws, vec![(MessageKind::Text, b"3probe".to_vec())]);
    // The poll that arrives now is released at once with a noop.
    h.poll().unwrap();
    assert_eq!(h.take(), "6");
    h.run(|s, cx| s.handle_ws_message(MessageKind::Text, b"5", Via::Probe, cx));
    assert_eq!(h.session.transport(), Transport::WebSocket);
    // From now on, messages go on the WebSocket, and polls are refused.
    h.out.ws.clear();
    h.run(|s, cx| s.send(MessageKind::Text, b"hi", cx)).unwrap();
    assert_eq!(h.out.ws, vec![(MessageKind::Text, b"4hi".to_vec())]);
    assert_eq!(h.poll(), Err(EngineError::BadRequest));
}

#[test]
fn an_unfinished_upgrade_is_abandoned_after_the_upgrade_timeout() {
    let mut h = Harness::polling(RouteKind::EngineIo);
    h.session.begin_probe(h.now);
    let deadline = h.session.deadline(&h.settings).unwrap();
    // The ping comes first (300 ms); answer it, and the probe's 500 ms remain.
    assert_eq!(deadline, h.now + PING_INTERVAL);
    h.advance_to_deadline();
    h.post("3").unwrap();
    h.now += UPGRADE_TIMEOUT - PING_INTERVAL;
    h.run(|s, cx| s.handle_timeout(cx));
    assert!(!h.session.is_probing(), "the probe was abandoned");
    assert!(h.session.is_open(), "the session stays on polling");
    assert_eq!(h.session.transport(), Transport::Polling);
}

#[test]
fn a_websocket_transport_that_fails_ends_with_transport_error() {
    let mut h = Harness::new(RouteKind::EngineIo, Transport::WebSocket);
    h.events();
    h.run(|s, cx| s.handle_transport_gone(Gone::WebSocket { failed: true }, cx));
    assert_eq!(h.events(), vec![Ev::Close("transport error".into())]);

    let mut h = Harness::new(RouteKind::EngineIo, Transport::WebSocket);
    h.events();
    h.run(|s, cx| s.handle_transport_gone(Gone::WebSocket { failed: false }, cx));
    assert_eq!(h.events(), vec![Ev::Close("transport close".into())]);
}

#[test]
fn socketio_connect_timeout_ends_a_session_without_namespace() {
    let mut h = Harness::sio();
    // A Socket.IO session is not reported before a namespace is joined.
    assert!(h.events().is_empty());
    // Keep the heartbeat answered so only the connect timeout can fire.
    let start = h.now;
    while h.now < start + CONNECT_TIMEOUT {
        h.advance_to_deadline();
        if h.session.is_open() && h.take() == "2" {
            h.post("3").unwrap();
        }
    }
    assert!(!h.session.is_open(), "closed by the connect timeout");
    assert_eq!(h.now, start + CONNECT_TIMEOUT);
}

#[test]
fn socketio_events_acks_and_namespaces() {
    let mut h = Harness::sio();
    h.post("40").unwrap();
    let open = h.events();
    assert_eq!(open, vec![Ev::SocketOpen(1, "/".into(), "{}".into())]);
    assert_eq!(h.take(), "40{\"sid\":\"sid1\"}");

    // An unknown namespace is refused and nothing else changes.
    h.post("40/nope,").unwrap();
    assert_eq!(h.take(), "44/nope,{\"message\":\"Invalid namespace\"}");
    assert!(h.session.is_open());

    // An event with an ack id, and its answer.
    h.post("421[\"echo\",1,{\"a\":[2]}]").unwrap();
    assert_eq!(
        h.events(),
        vec![Ev::Event(
            1,
            "echo".into(),
            "[1,{\"a\":[2]}]".into(),
            vec![],
            Some(1)
        )]
    );
    h.run(|s, cx| s.ack(1, 1, "[\"ok\"]", &[], cx)).unwrap();
    assert_eq!(h.take(), "431[\"ok\"]");

    // A binary event: the attachment completes it.
    h.post("451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebAQI=")
        .unwrap();
    assert_eq!(
        h.events(),
        vec![Ev::Event(
            1,
            "up".into(),
            "[{\"_placeholder\":true,\"num\":0}]".into(),
            vec![vec![1, 2]],
            None
        )]
    );

    // A client namespace disconnect.
    h.post("41").unwrap();
    assert_eq!(
        h.events(),
        vec![Ev::SocketClose(1, "client namespace disconnect".into())]
    );
}

#[test]
fn socketio_server_ack_times_out_in_virtual_time() {
    let mut h = Harness::sio();
    h.post("40").unwrap();
    h.events();
    h.take();
    let timeout = Duration::from_millis(100);
    let id = h
        .run(|s, cx| s.emit(1, "question", "[1]", &[], Some(Some(timeout)), None, cx))
        .unwrap()
        .expect("an ack id");
    assert_eq!(h.take(), format!("42{id}[\"question\",1]"));
    assert_eq!(h.session.deadline(&h.settings), Some(h.now + timeout));
    h.advance_to_deadline();
    assert_eq!(
        h.events(),
        vec![Ev::Ack(1, id, AckOutcome::TimedOut, "[]".into())]
    );
    // A late answer is ignored.
    h.post(&format!("43{id}[\"late\"]")).unwrap();
    assert!(h.events().is_empty());

    // One answered in time.
    let id = h
        .run(|s, cx| s.emit(1, "question", "[2]", &[], Some(Some(timeout)), None, cx))
        .unwrap()
        .unwrap();
    h.take();
    h.post(&format!("43{id}[\"yes\"]")).unwrap();
    assert_eq!(
        h.events(),
        vec![Ev::Ack(1, id, AckOutcome::Answered, "[\"yes\"]".into())]
    );
}

#[test]
fn socketio_malformed_packets_close_the_session_with_forced_close() {
    for bad in ["4abc", "42{}", "42[\"echo\"", "49[\"x\"]"] {
        let mut h = Harness::sio();
        h.post("40").unwrap();
        h.events();
        let _ = h.post(bad);
        let events = h.events();
        assert_eq!(
            events,
            vec![Ev::SocketClose(1, "forced close".into())],
            "after {bad:?}"
        );
        assert!(!h.session.is_open(), "after {bad:?}");
    }
}
