//! End-to-end tests: a real `Server` on a background thread, driven through
//! real sockets on 127.0.0.1. Well-behaved traffic comes from `tungstenite`
//! (a client we did not write); malformed traffic from hand-written bytes on
//! a plain `TcpStream`. Every socket has read and write timeouts, so a test
//! that goes wrong fails instead of hanging.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::Message;
use wsrt::{
    Broadcast, Config, ConnId, Endpoint, ErrorKind, Event, EventType, Events, Handle, MessageKind,
    Route, RouteKind, Server, SseEvent,
};

/// How long any single wait in a test may take before the test fails.
const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Harness: a server thread, its events as owned values, calls into it.
// ---------------------------------------------------------------------------

/// An event copied out of the batch so it can cross to the test thread.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Request {
        conn: ConnId,
        endpoint: Endpoint,
        path: String,
        protocols: Vec<String>,
    },
    Open {
        conn: ConnId,
        path: String,
        protocol: Option<String>,
    },
    Message {
        conn: ConnId,
        kind: MessageKind,
        data: Vec<u8>,
    },
    Pong {
        conn: ConnId,
        data: Vec<u8>,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    SseOpen {
        conn: ConnId,
        path: String,
        last_event_id: Option<String>,
    },
    SseClose {
        conn: ConnId,
    },
    Drain {
        conn: ConnId,
    },
    Wake,
    Sio {
        conn: ConnId,
        name: String,
        args: String,
        ack: u64,
    },
    SioAck {
        conn: ConnId,
        ack: u64,
        code: u16,
        args: String,
    },
}

impl Ev {
    fn from_event(ev: &Event, events: &Events) -> Ev {
        let conn = ev.conn;
        let request = events.request(ev);
        let path = || request.expect("request").path().to_string();
        match ev.kind {
            EventType::Request => Ev::Request {
                conn,
                endpoint: ev.endpoint,
                path: path(),
                protocols: request.expect("request").protocols.clone(),
            },
            EventType::Open => Ev::Open {
                conn,
                path: path(),
                protocol: (ev.data.len > 0).then(|| events.text(ev).to_string()),
            },
            EventType::Message => Ev::Message {
                conn,
                kind: ev.message_kind(),
                data: events.payload(ev).to_vec(),
            },
            EventType::Pong => Ev::Pong {
                conn,
                data: events.payload(ev).to_vec(),
            },
            EventType::Close => Ev::Close {
                conn,
                code: ev.code,
                reason: events.text(ev).to_string(),
            },
            EventType::SseOpen => Ev::SseOpen {
                conn,
                path: path(),
                last_event_id: request
                    .expect("request")
                    .last_event_id()
                    .map(str::to_string),
            },
            EventType::SseClose => Ev::SseClose { conn },
            EventType::Drain => Ev::Drain { conn },
            EventType::Wake => Ev::Wake,
            EventType::SioEvent => Ev::Sio {
                conn,
                name: events.name(ev).to_string(),
                args: events.text(ev).to_string(),
                ack: ev.ack,
            },
            EventType::SioAck => Ev::SioAck {
                conn,
                ack: ev.ack,
                code: ev.code,
                args: events.text(ev).to_string(),
            },
        }
    }
}

type App = Box<dyn FnMut(&mut Server, &Event, &Events) + Send>;
type Call = Box<dyn FnOnce(&mut Server) + Send>;

/// A server running its poll loop on a background thread. Every event is
/// copied to the test thread (before the app closure sees it); `call` runs
/// a closure on the loop thread between polls. Dropping it stops the loop.
struct TestServer {
    addr: SocketAddr,
    handle: Handle,
    events: Receiver<Ev>,
    /// Events received but not yet matched by a `wait`.
    pending: VecDeque<Ev>,
    calls: Sender<Call>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A config listening on an ephemeral loopback port.
fn cfg() -> Config {
    Config::new("127.0.0.1:0")
}

/// The app that echoes every message back.
fn echo() -> App {
    Box::new(|server, ev, events| {
        if ev.kind == EventType::Message {
            let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
        }
    })
}

/// The app that does nothing (tests drive the server through `call`).
fn idle_app() -> App {
    Box::new(|_, _, _| {})
}

impl TestServer {
    fn start(config: Config, mut app: App) -> TestServer {
        let mut server = Server::bind(config).expect("bind");
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback());
        let handle = server.handle();
        let (ev_tx, ev_rx) = mpsc::channel();
        let (call_tx, call_rx) = mpsc::channel::<Call>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("wsrt-{addr}"))
            .spawn(move || {
                let mut events = Events::new();
                while !stop2.load(Ordering::SeqCst) {
                    server
                        .poll(&mut events, Some(Duration::from_millis(5)))
                        .expect("poll");
                    for ev in &events {
                        let _ = ev_tx.send(Ev::from_event(ev, &events));
                        app(&mut server, ev, &events);
                    }
                    while let Ok(call) = call_rx.try_recv() {
                        call(&mut server);
                    }
                }
            })
            .expect("spawn server thread");
        TestServer {
            addr,
            handle,
            events: ev_rx,
            pending: VecDeque::new(),
            calls: call_tx,
            stop,
            thread: Some(thread),
        }
    }

    fn echo(config: Config) -> TestServer {
        Self::start(config, echo())
    }

    /// Runs `f` on the loop thread and returns its result.
    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        self.calls
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .expect("server thread is gone");
        rx.recv_timeout(WAIT)
            .expect("server thread did not run the call")
    }

    /// The first event (pending or new) that `pred` accepts; others stay
    /// pending for later waits. Fails the test after `WAIT`.
    fn wait(&mut self, what: &str, mut pred: impl FnMut(&Ev) -> bool) -> Ev {
        if let Some(i) = self.pending.iter().position(&mut pred) {
            return self.pending.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) if pred(&ev) => return ev,
                Ok(ev) => self.pending.push_back(ev),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out waiting for {what}; unmatched: {:?}",
                        self.pending
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("server thread ended while waiting for {what}")
                }
            }
        }
    }

    /// Asserts that no event matching `pred` arrives within `dur`.
    fn assert_none_within(&mut self, dur: Duration, what: &str, mut pred: impl FnMut(&Ev) -> bool) {
        if let Some(ev) = self.pending.iter().find(|e| pred(e)) {
            panic!("unexpected {what}: {ev:?}");
        }
        let deadline = Instant::now() + dur;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.events.recv_timeout(left) {
                Ok(ev) if pred(&ev) => panic!("unexpected {what}: {ev:?}"),
                Ok(ev) => self.pending.push_back(ev),
                Err(RecvTimeoutError::Timeout) => return,
                Err(RecvTimeoutError::Disconnected) => panic!("server thread ended"),
            }
        }
    }

    /// Moves every event already sent to the pending list.
    fn collect(&mut self) -> &VecDeque<Ev> {
        while let Ok(ev) = self.events.try_recv() {
            self.pending.push_back(ev);
        }
        &self.pending
    }

    fn wait_open(&mut self) -> ConnId {
        match self.wait("Open", |e| matches!(e, Ev::Open { .. })) {
            Ev::Open { conn, .. } => conn,
            _ => unreachable!(),
        }
    }

    fn wait_sse_open(&mut self) -> (ConnId, Option<String>) {
        match self.wait("SseOpen", |e| matches!(e, Ev::SseOpen { .. })) {
            Ev::SseOpen {
                conn,
                last_event_id,
                ..
            } => (conn, last_event_id),
            _ => unreachable!(),
        }
    }

    fn wait_request(&mut self) -> (ConnId, Vec<String>) {
        match self.wait("Request", |e| matches!(e, Ev::Request { .. })) {
            Ev::Request {
                conn, protocols, ..
            } => (conn, protocols),
            _ => unreachable!(),
        }
    }

    fn wait_message(&mut self, id: ConnId) -> (MessageKind, Vec<u8>) {
        match self.wait(
            "Message",
            |e| matches!(e, Ev::Message { conn, .. } if *conn == id),
        ) {
            Ev::Message { kind, data, .. } => (kind, data),
            _ => unreachable!(),
        }
    }

    /// The close code and reason the app was told for `id`.
    fn wait_close(&mut self, id: ConnId) -> (u16, String) {
        match self.wait(
            "Close",
            |e| matches!(e, Ev::Close { conn, .. } if *conn == id),
        ) {
            Ev::Close { code, reason, .. } => (code, reason),
            _ => unreachable!(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let result = t.join();
            if result.is_err() && !std::thread::panicking() {
                panic!("server thread panicked");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Raw TCP client helpers.
// ---------------------------------------------------------------------------

fn tcp(addr: SocketAddr) -> TcpStream {
    assert!(addr.ip().is_loopback());
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// The key from RFC 6455 §1.3 and the accept value the RFC gives for it.
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid WebSocket upgrade request for `path`, plus `extra` header lines
/// (each ending in CRLF).
fn ws_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "bad status line {status_line:?}"
    );
    let status = status_line[9..12].parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    (status, headers)
}

/// Reads a response head byte by byte (so nothing after it is consumed).
fn read_head(s: &mut TcpStream) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) => panic!(
                "EOF inside response head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => head.push(b[0]),
            Err(e) => panic!("reading response head: {e}"),
        }
        assert!(head.len() < 16 << 10, "response head too long");
    }
    parse_head(std::str::from_utf8(&head).unwrap())
}

/// Reads until the server closes; fails on timeout or reset.
fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .unwrap_or_else(|e| panic!("expected EOF, got {e} after {} bytes", all.len()));
    all
}

/// Sends `request` on a new connection and reads the whole answer, which
/// must end with the server closing the connection.
fn http(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut s = tcp(addr);
    s.write_all(request).unwrap();
    let all = read_to_eof(&mut s);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&all)));
    let (status, headers) = parse_head(std::str::from_utf8(&all[..split + 4]).unwrap());
    let body = all[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        assert_eq!(
            len.1.parse::<usize>().unwrap(),
            body.len(),
            "Content-Length"
        );
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Completes a WebSocket handshake by hand; returns the socket and the 101
/// answer's headers.
fn raw_ws_with(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, Vec<(String, String)>) {
    let mut s = tcp(addr);
    s.write_all(ws_request(path, extra).as_bytes()).unwrap();
    let (status, headers) = read_head(&mut s);
    assert_eq!(status, 101, "{headers:?}");
    (s, headers)
}

fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    raw_ws_with(addr, path, "").0
}

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Encodes a client frame; `mask: None` produces an (illegal) unmasked one.
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = frame_header(fin, opcode, payload.len() as u64, mask);
    match mask {
        Some(m) => v.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4])),
        None => v.extend_from_slice(payload),
    }
    v
}

fn frame_header(fin: bool, opcode: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        v.push(m | len as u8);
    } else if len <= u16::MAX as u64 {
        v.push(m | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(m) = mask {
        v.extend_from_slice(&m);
    }
    v
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, payload, Some(MASK))
}

/// A frame as the server sent it (must be unmasked).
#[derive(Debug)]
struct RawFrame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

fn read_frame(s: &mut TcpStream) -> RawFrame {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    assert_eq!(h[1] & 0x80, 0, "server frames must not be masked");
    assert_eq!(h[0] & 0x70, 0, "no RSV bits");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("frame payload");
    RawFrame {
        fin: h[0] & 0x80 != 0,
        opcode: h[0] & 0x0f,
        payload,
    }
}

/// Reads a close frame (the next frame must be one); returns code and reason.
fn read_close(s: &mut TcpStream) -> (Option<u16>, String) {
    let f = read_frame(s);
    assert_eq!(f.opcode, OP_CLOSE, "expected a close frame, got {f:?}");
    assert!(f.fin);
    if f.payload.is_empty() {
        return (None, String::new());
    }
    let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
    (
        Some(code),
        String::from_utf8(f.payload[2..].to_vec()).unwrap(),
    )
}

/// The server closed its side: the next read returns 0 (no data, no reset).
fn expect_eof(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("expected EOF, got {n} bytes: {:?}", &b[..n]),
        Err(e) => panic!("expected EOF, got error {e}"),
    }
}

// ---------------------------------------------------------------------------
// tungstenite client helpers.
// ---------------------------------------------------------------------------

type Ws = tungstenite::WebSocket<TcpStream>;

fn ws(addr: SocketAddr, path: &str) -> Ws {
    let stream = tcp(addr);
    let (ws, resp) = tungstenite::client(format!("ws://{addr}{path}"), stream)
        .unwrap_or_else(|e| panic!("handshake with {path}: {e}"));
    assert_eq!(resp.status(), 101);
    ws
}

/// The next text or binary message (control frames are skipped).
fn next_data(ws: &mut Ws) -> Message {
    loop {
        match ws.read().expect("read message") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io)
        if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

// ---------------------------------------------------------------------------
// Echo.
// ---------------------------------------------------------------------------

#[test]
fn echo_text_and_binary_in_order() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut c = ws(ts.addr, "/echo?x=1");
    let conn = ts.wait_open();
    assert!(ts.pending.is_empty(), "{:?}", ts.pending);
    let sent = vec![
        Message::text("hello"),
        Message::binary(vec![1u8, 2, 3, 0, 255]),
        Message::text(""),
        Message::binary(Vec::<u8>::new()),
        Message::text("héllo wörld ✓ 🎉"),
        Message::binary(vec![9u8; 126]),
        Message::binary(vec![8u8; 65536]),
    ];
    for m in &sent {
        c.send(m.clone()).unwrap();
    }
    for m in &sent {
        assert_eq!(&next_data(&mut c), m);
    }
    // The app saw the same messages, with the right kinds.
    for m in &sent {
        let (kind, data) = ts.wait_message(conn);
        match m {
            Message::Text(t) => {
                assert_eq!(kind, MessageKind::Text);
                assert_eq!(data, t.as_bytes());
            }
            Message::Binary(b) => {
                assert_eq!(kind, MessageKind::Binary);
                assert_eq!(data, &b[..]);
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn echo_one_mebibyte_binary() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut c = ws(ts.addr, "/echo");
    let conn = ts.wait_open();
    let big: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 % 251) as u8).collect();
    c.send(Message::binary(big.clone())).unwrap();
    match next_data(&mut c) {
        Message::Binary(b) => assert!(b[..] == big[..], "1 MiB echo differs"),
        other => panic!("{other:?}"),
    }
    let (kind, data) = ts.wait_message(conn);
    assert_eq!(kind, MessageKind::Binary);
    assert!(data == big);
    // And a large text message, gathered across many reads.
    let text: String = "0123456789abcdef".repeat(40_000);
    c.send(Message::text(text.clone())).unwrap();
    assert_eq!(next_data(&mut c), Message::text(text));
}

#[test]
fn echoes_share_the_read_buffer_and_survive_its_reuse() {
    // Echoes of large messages go out as shares of the bytes they arrived
    // in. Each client sends 2.4 MiB of distinct 48 KiB messages (whole in
    // a read or split across two) before reading anything, so its echoes
    // wait in the queue while the loop reads on through several read
    // blocks: none of the queued bytes may change.
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut clients: Vec<_> = (0..3).map(|_| ws(ts.addr, "/echo")).collect();
    for _ in 0..3 {
        ts.wait_open();
    }
    const N: usize = 50;
    let body = |c: usize, i: usize| -> Vec<u8> {
        (0..48 * 1024 + i)
            .map(|j| (j * 7 + i * 13 + c * 101) as u8)
            .collect()
    };
    for i in 0..N {
        for (c, client) in clients.iter_mut().enumerate() {
            client.write(Message::binary(body(c, i))).unwrap();
        }
    }
    for client in &mut clients {
        client.flush().unwrap();
    }
    for i in 0..N {
        for (c, client) in clients.iter_mut().enumerate() {
            match next_data(client) {
                Message::Binary(b) => {
                    assert!(b[..] == body(c, i)[..], "client {c}, echo {i} differs")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn many_small_messages_in_order() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut c = ws(ts.addr, "/echo");
    let conn = ts.wait_open();
    const N: usize = 3000;
    for i in 0..N {
        // Queue them all, then flush once: they reach the server in a few
        // big reads holding many frames each.
        c.write(Message::text(format!("message {i}"))).unwrap();
    }
    c.flush().unwrap();
    for i in 0..N {
        assert_eq!(next_data(&mut c), Message::text(format!("message {i}")));
    }
    for i in 0..N {
        let (_, data) = ts.wait_message(conn);
        assert_eq!(data, format!("message {i}").as_bytes());
    }
}

#[test]
fn fragmented_message_is_reassembled() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut c = ws(ts.addr, "/echo");
    let conn = ts.wait_open();
    // Text in three fragments with a ping between them (control frames may
    // be interleaved, §5.4), then a two-fragment binary message.
    for f in [
        Frame::message("Hel", OpCode::Data(Data::Text), false),
        Frame::ping(&b"mid"[..]),
        Frame::message("lo, wö", OpCode::Data(Data::Continue), false),
        Frame::message("rld", OpCode::Data(Data::Continue), true),
        Frame::message(vec![1u8, 2], OpCode::Data(Data::Binary), false),
        Frame::message(vec![3u8], OpCode::Data(Data::Continue), true),
    ] {
        c.write(Message::Frame(f)).unwrap();
    }
    c.flush().unwrap();
    assert_eq!(c.read().unwrap(), Message::Pong("mid".into()));
    assert_eq!(c.read().unwrap(), Message::text("Hello, wörld"));
    assert_eq!(c.read().unwrap(), Message::binary(vec![1u8, 2, 3]));
    assert_eq!(
        ts.wait_message(conn),
        (MessageKind::Text, "Hello, wörld".as_bytes().to_vec())
    );
    assert_eq!(ts.wait_message(conn), (MessageKind::Binary, vec![1, 2, 3]));
}

#[test]
fn utf8_sequence_split_across_fragments_is_accepted() {
    let ts = TestServer::echo(cfg().websocket("/echo"));
    let mut s = raw_ws(ts.addr, "/echo");
    let text = "€uro"; // € is e2 82 ac
    let b = text.as_bytes();
    let mut out = frame(false, OP_TEXT, &b[..1], Some(MASK));
    out.extend(frame(false, OP_CONT, &b[1..2], Some(MASK)));
    out.extend(frame(true, OP_CONT, &b[2..], Some(MASK)));
    s.write_all(&out).unwrap();
    let f = read_frame(&mut s);
    assert!(f.fin);
    assert_eq!(f.opcode, OP_TEXT);
    assert_eq!(f.payload, b);
}

// ---------------------------------------------------------------------------
// Opening handshake answers.
// ---------------------------------------------------------------------------

#[test]
fn handshake_errors() {
    let ts = TestServer::echo(cfg().websocket("/ws"));
    let addr = ts.addr;

    let r = http(addr, ws_request("/nope", "").as_bytes());
    assert_eq!(r.status, 404);
    assert!(!r.body.is_empty());

    let r = http(
        addr,
        ws_request("/ws", "")
            .replacen("GET", "POST", 1)
            .replacen("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n", 1)
            .as_bytes(),
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));

    let r = http(
        addr,
        ws_request("/ws", "")
            .replace("Host: 127.0.0.1\r\n", "")
            .as_bytes(),
    );
    assert_eq!(r.status, 400, "missing Host");

    let r = http(
        addr,
        ws_request("/ws", "")
            .replace("Version: 13", "Version: 8")
            .as_bytes(),
    );
    assert_eq!(r.status, 426, "version 8");
    assert_eq!(r.header("sec-websocket-version"), Some("13"));

    for bad_key in ["abc", "AAAAAAAAAAAAAAAAAAAAAA==x", "AAAAAAAAAAAAAAAAAAAA"] {
        let r = http(
            addr,
            ws_request("/ws", "").replace(RFC_KEY, bad_key).as_bytes(),
        );
        assert_eq!(r.status, 400, "key {bad_key:?}");
    }
    let r = http(
        addr,
        ws_request("/ws", "")
            .replace(&format!("Sec-WebSocket-Key: {RFC_KEY}\r\n"), "")
            .as_bytes(),
    );
    assert_eq!(r.status, 400, "missing key");

    let r = http(addr, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(r.status, 426, "plain GET");
    assert_eq!(r.header("upgrade"), Some("websocket"));

    let r = http(addr, b"GARBAGE\r\n\r\n");
    assert_eq!(r.status, 400, "garbage");
}

#[test]
fn upgrade_tokens_in_lists_are_case_insensitive() {
    let ts = TestServer::echo(cfg().websocket("/ws"));
    let req = ws_request("/ws", "")
        .replace("Upgrade: websocket", "Upgrade: WebSocket")
        .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    let mut s = tcp(ts.addr);
    s.write_all(req.as_bytes()).unwrap();
    let (status, headers) = read_head(&mut s);
    assert_eq!(status, 101, "{headers:?}");
    // Connection tokens split over two header lines count too.
    let req = ws_request("/ws", "").replace(
        "Connection: Upgrade\r\n",
        "Connection: keep-alive\r\nConnection: upgrade\r\n",
    );
    let mut s = tcp(ts.addr);
    s.write_all(req.as_bytes()).unwrap();
    assert_eq!(read_head(&mut s).0, 101);
}

#[test]
fn accept_key_and_headers_are_correct() {
    let ts = TestServer::echo(cfg().websocket("/ws"));
    // An offered extension is not taken up (none is implemented).
    let (_s, headers) = raw_ws_with(
        ts.addr,
        "/ws",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("sec-websocket-accept"), Some(RFC_ACCEPT));
    assert!(h("upgrade").unwrap().eq_ignore_ascii_case("websocket"));
    assert!(h("connection").unwrap().eq_ignore_ascii_case("upgrade"));
    assert_eq!(h("sec-websocket-protocol"), None);
    assert_eq!(h("sec-websocket-extensions"), None);
}

#[test]
fn oversized_heads_get_431() {
    let mut config = cfg().websocket("/ws");
    config.max_head_bytes = 1024;
    config.max_headers = 8;
    let ts = TestServer::echo(config);

    let big = format!("X-Big: {}\r\n", "a".repeat(2000));
    let r = http(ts.addr, ws_request("/ws", &big).as_bytes());
    assert_eq!(r.status, 431, "head over max_head_bytes");

    // The same, arriving in small pieces (the partial-head path).
    let mut s = tcp(ts.addr);
    let req = ws_request("/ws", &big);
    let mut answer = Vec::new();
    for chunk in req.as_bytes().chunks(100) {
        if s.write_all(chunk).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    s.read_to_end(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // 6 request headers + 4 extra = 10 > 8.
    let extra = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n";
    let r = http(ts.addr, ws_request("/ws", extra).as_bytes());
    assert_eq!(r.status, 431, "more than max_headers");

    // Within both limits still works.
    let (_s, _) = raw_ws_with(ts.addr, "/ws", "A: 1\r\n");
}

#[test]
fn origin_allow_list() {
    let mut config = cfg().websocket("/ws").sse("/events");
    config.allowed_origins = vec!["https://good.example".into()];
    let ts = TestServer::echo(config);

    let r = http(
        ts.addr,
        ws_request("/ws", "Origin: https://evil.example\r\n").as_bytes(),
    );
    assert_eq!(r.status, 403);
    let r = http(
        ts.addr,
        b"GET /events HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n",
    );
    assert_eq!(r.status, 403, "SSE is checked too");

    raw_ws_with(ts.addr, "/ws", "Origin: https://good.example\r\n");
    // Non-browser clients send no Origin and pass.
    raw_ws_with(ts.addr, "/ws", "");
}

#[test]
fn subprotocol_negotiation_follows_server_order() {
    let route = Route::new("/p", RouteKind::WebSocket).with_subprotocols(["b", "a"]);
    let mut ts = TestServer::echo(cfg().route(route));
    let proto = |extra: &str| {
        let (_s, h) = raw_ws_with(ts.addr, "/p", extra);
        h.into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .map(|(_, v)| v)
    };
    assert_eq!(
        proto("Sec-WebSocket-Protocol: a, b\r\n").as_deref(),
        Some("b")
    );
    assert_eq!(proto("Sec-WebSocket-Protocol: a\r\n").as_deref(), Some("a"));
    assert_eq!(proto("Sec-WebSocket-Protocol: c\r\n"), None);
    assert_eq!(proto(""), None);
    assert_eq!(
        proto("Sec-WebSocket-Protocol: c\r\nSec-WebSocket-Protocol: a\r\n").as_deref(),
        Some("a")
    );
    // The app is told what was chosen.
    let mut seen = Vec::new();
    for _ in 0..5 {
        match ts.wait("Open", |e| matches!(e, Ev::Open { .. })) {
            Ev::Open { protocol, path, .. } => {
                assert_eq!(path, "/p");
                seen.push(protocol)
            }
            _ => unreachable!(),
        }
    }
    let s = |x: &str| Some(x.to_string());
    assert_eq!(seen, vec![s("b"), s("a"), None, None, s("a")]);

    // tungstenite checks the answer against what it asked for.
    let mut req =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/p", ts.addr))
            .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "a, b".parse().unwrap());
    let (_c, resp) = tungstenite::client(req, tcp(ts.addr)).unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        &"b".parse::<tungstenite::http::HeaderValue>().unwrap()
    );
}

#[test]
fn static_page_and_its_errors() {
    let ts = TestServer::echo(cfg().websocket("/ws").static_page(
        "/health",
        "text/plain",
        &b"ok"[..],
    ));
    let r = http(ts.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.body, b"ok");
    let r = http(ts.addr, b"POST /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
    let r = http(ts.addr, b"GET /health HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);

    // HEAD gets the head GET would get, and no body (RFC 9110 §9.3.2),
    // on the page and on error answers alike.
    for (req, status_line, length) in [
        (
            &b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "HTTP/1.1 200 OK",
            "Content-Length: 2",
        ),
        (
            &b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "HTTP/1.1 404 Not Found",
            "Content-Length: 10",
        ),
    ] {
        let mut s = tcp(ts.addr);
        s.write_all(req).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8(all).unwrap();
        assert!(text.starts_with(status_line), "{text}");
        assert!(text.contains(length), "{text}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "HEAD answer carried a body: {text:?}"
        );
    }
}

#[test]
fn frame_pipelined_with_handshake_is_delivered() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut s = tcp(ts.addr);
    let mut bytes = ws_request("/echo", "").into_bytes();
    bytes.extend(masked(OP_TEXT, b"early"));
    bytes.extend(masked(OP_BINARY, b"bird"));
    s.write_all(&bytes).unwrap();
    assert_eq!(read_head(&mut s).0, 101);
    let conn = ts.wait_open();
    assert_eq!(
        ts.wait_message(conn),
        (MessageKind::Text, b"early".to_vec())
    );
    assert_eq!(
        ts.wait_message(conn),
        (MessageKind::Binary, b"bird".to_vec())
    );
    let f = read_frame(&mut s);
    assert_eq!((f.opcode, &f.payload[..]), (OP_TEXT, &b"early"[..]));
    let f = read_frame(&mut s);
    assert_eq!((f.opcode, &f.payload[..]), (OP_BINARY, &b"bird"[..]));
}

#[test]
fn handshake_and_frames_in_tiny_pieces() {
    let mut ts = TestServer::echo(cfg().websocket("/echo"));
    let mut s = tcp(ts.addr);
    let mut bytes = ws_request("/echo", "").into_bytes();
    let head_len = bytes.len();
    bytes.extend(masked(OP_TEXT, "split across many reads".as_bytes()));
    bytes.extend(masked(OP_BINARY, &[3u8; 300]));
    // One byte per write, with pauses so the server sees many short reads.
    for (i, b) in bytes.iter().enumerate() {
        s.write_all(&[*b]).unwrap();
        if i % 7 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
        if i + 1 == head_len {
            assert_eq!(read_head(&mut s).0, 101);
        }
    }
    let conn = ts.wait_open();
    assert_eq!(ts.wait_message(conn).1, b"split across many reads");
    assert_eq!(ts.wait_message(conn).1, vec![3u8; 300]);
    assert_eq!(read_frame(&mut s).payload, b"split across many reads");
    assert_eq!(read_frame(&mut s).payload, vec![3u8; 300]);
}

#[test]
fn slowloris_is_dropped_after_handshake_timeout() {
    let mut config = cfg().websocket("/ws");
    config.handshake_timeout = Duration::from_millis(300);
    let ts = TestServer::echo(config);

    // When the timer fires is proto's, tested in virtual time
    // (core/proto/tests/connection.rs); here, that the loop runs it.
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg")
        .unwrap();
    expect_eof(&mut s);

    // One that connects and says nothing at all goes the same way.
    let mut s = tcp(ts.addr);
    expect_eof(&mut s);

    // A completed handshake is not subject to the timeout.
    let mut c = ws(ts.addr, "/ws");
    std::thread::sleep(Duration::from_millis(500));
    c.send(Message::text("still here")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("still here"));
}

// ---------------------------------------------------------------------------
// Protocol violations on the wire.
// ---------------------------------------------------------------------------

/// Opens a raw WebSocket, sends `bytes`, and expects a close frame with
/// `code` followed by EOF; the app must see the same code.
fn expect_failure(ts: &mut TestServer, bytes: &[u8], code: u16) {
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    s.write_all(bytes).unwrap();
    let (got, _reason) = read_close(&mut s);
    assert_eq!(got, Some(code));
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, code);
}

#[test]
fn unmasked_frame_fails_with_1002() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    expect_failure(&mut ts, &frame(true, OP_TEXT, b"hi", None), 1002);
}

#[test]
fn other_protocol_errors_fail_with_1002() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    // Reserved opcode.
    expect_failure(&mut ts, &masked(0x3, b""), 1002);
    // RSV1 without an extension.
    let mut f = masked(OP_TEXT, b"x");
    f[0] |= 0x40;
    expect_failure(&mut ts, &f, 1002);
    // Continuation with nothing to continue.
    expect_failure(&mut ts, &masked(OP_CONT, b"x"), 1002);
    // Fragmented ping.
    expect_failure(&mut ts, &frame(false, OP_PING, b"", Some(MASK)), 1002);
    // Ping with more than 125 bytes.
    expect_failure(&mut ts, &masked(OP_PING, &[0u8; 126]), 1002);
    // Close with a reserved code.
    expect_failure(&mut ts, &masked(OP_CLOSE, &1006u16.to_be_bytes()), 1002);
    // New text frame inside a fragmented message.
    let mut f = frame(false, OP_TEXT, b"a", Some(MASK));
    f.extend(masked(OP_TEXT, b"b"));
    expect_failure(&mut ts, &f, 1002);
}

#[test]
fn invalid_utf8_fails_with_1007() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    expect_failure(&mut ts, &masked(OP_TEXT, &[b'o', b'k', 0xff, 0xfe]), 1007);
    // Truncated sequence at the end of a message.
    expect_failure(&mut ts, &masked(OP_TEXT, &[0xe2, 0x82]), 1007);
    // Invalid close reason.
    let mut p = 1000u16.to_be_bytes().to_vec();
    p.push(0xc0);
    expect_failure(&mut ts, &masked(OP_CLOSE, &p), 1007);
}

#[test]
fn oversized_message_fails_with_1009_from_the_header_alone() {
    let mut config = cfg().websocket("/ws");
    config.max_message_size = 1000;
    let mut ts = TestServer::echo(config);

    // Exactly at the limit is fine.
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    s.write_all(&masked(OP_BINARY, &[5u8; 1000])).unwrap();
    let f = read_frame(&mut s);
    assert_eq!((f.opcode, f.payload.len()), (OP_BINARY, 1000));

    // Only the header of a 1 MiB frame: the answer must not wait for the
    // payload.
    s.write_all(&frame_header(true, OP_BINARY, 1 << 20, Some(MASK)))
        .unwrap();
    assert_eq!(read_close(&mut s).0, Some(1009));
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1009);

    // Fragments that add up to too much are caught too.
    let mut out = frame(false, OP_TEXT, &[b'a'; 600], Some(MASK));
    out.extend(frame_header(true, OP_CONT, 600, Some(MASK)));
    expect_failure(&mut ts, &out, 1009);
}

// ---------------------------------------------------------------------------
// Closing.
// ---------------------------------------------------------------------------

#[test]
fn client_close_is_echoed_and_reported() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    c.close(Some(CloseFrame {
        code: 4001.into(),
        reason: "bye".into(),
    }))
    .unwrap();
    match c.read().unwrap() {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4001),
        other => panic!("expected the close echo, got {other:?}"),
    }
    // tungstenite (as a client) reports ConnectionClosed only once the
    // server has closed the TCP connection.
    match c.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the server to close TCP, got {other:?}"),
    }
    assert_eq!(ts.wait_close(conn), (4001, "bye".to_string()));
}

#[test]
fn client_close_raw_wire_and_empty_close() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let mut p = 4001u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    s.write_all(&masked(OP_CLOSE, &p)).unwrap();
    assert_eq!(read_close(&mut s).0, Some(4001));
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn), (4001, "bye".to_string()));
    drop(s);

    // A close frame without a code: echoed empty, reported as 1005.
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    s.write_all(&masked(OP_CLOSE, b"")).unwrap();
    assert_eq!(read_close(&mut s).0, None);
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1005);
}

#[test]
fn data_after_client_close_is_ignored() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let mut out = masked(OP_CLOSE, &1000u16.to_be_bytes());
    out.extend(masked(OP_TEXT, b"too late"));
    s.write_all(&out).unwrap();
    assert_eq!(read_close(&mut s).0, Some(1000));
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1000);
    ts.assert_none_within(Duration::from_millis(100), "Message", |e| {
        matches!(e, Ev::Message { .. })
    });
}

#[test]
fn server_close_reaches_client() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    ts.call(move |s| s.close(conn, 1000, "done")).unwrap();
    match c.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 1000);
            assert_eq!(f.reason.as_str(), "done");
        }
        other => panic!("expected close, got {other:?}"),
    }
    // tungstenite answers; the server then has both closes.
    match c.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the close handshake to finish, got {other:?}"),
    }
    assert_eq!(ts.wait_close(conn).0, 1000);
    // The connection is gone for the app.
    assert!(matches!(
        ts.call(move |s| s.send_text(conn, "late")),
        Err(e) if matches!(e.kind(), ErrorKind::UnknownConnection | ErrorKind::Closed)
    ));
}

#[test]
fn server_close_then_sends_are_refused() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let r = ts.call(move |s| {
        let a = s.close(conn, 3000, "");
        let b = s.send_text(conn, "after close");
        let c = s.close(conn, 1000, "");
        (
            a.is_ok(),
            matches!(b, Err(e) if e.kind() == ErrorKind::Closed),
            c.is_err(),
        )
    });
    assert_eq!(r, (true, true, true));
    assert_eq!(read_close(&mut s), (Some(3000), String::new()));
    // The server sent FIN after its close frame.
    expect_eof(&mut s);
    s.write_all(&masked(OP_CLOSE, &3000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(ts.wait_close(conn).0, 3000);
}

#[test]
fn invalid_close_arguments_are_rejected() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
        assert!(
            matches!(
                ts.call(move |s| s.close(conn, code, "")),
                Err(e) if e.kind() == ErrorKind::InvalidArgument
            ),
            "code {code}"
        );
    }
    let long = "x".repeat(124);
    assert!(matches!(
        ts.call(move |s| s.close(conn, 1000, &long)),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
    assert!(matches!(
        ts.handle.close(conn, 1006, ""),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
    // None of that touched the connection.
    c.send(Message::text("alive")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("alive"));
    let unknown = ConnId::from_raw(u64::MAX);
    assert!(matches!(
        ts.call(move |s| s.close(unknown, 1000, "")),
        Err(e) if e.kind() == ErrorKind::UnknownConnection
    ));
}

#[test]
fn abrupt_disconnect_reports_1006() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    drop(c);
    assert_eq!(ts.wait_close(conn).0, 1006);
    // Exactly one close event.
    ts.assert_none_within(Duration::from_millis(200), "second Close", |e| {
        matches!(e, Ev::Close { .. })
    });
    assert_eq!(ts.call(|s| s.connection_count()), 0);
}

// ---------------------------------------------------------------------------
// Ping / pong.
// ---------------------------------------------------------------------------

#[test]
fn client_ping_gets_pong_with_payload() {
    let ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    c.send(Message::Ping("are you there".into())).unwrap();
    assert_eq!(c.read().unwrap(), Message::Pong("are you there".into()));
    c.send(Message::Ping(Vec::new().into())).unwrap();
    assert_eq!(c.read().unwrap(), Message::Pong(Vec::new().into()));
    // Unsolicited pongs are allowed and ignored by the server.
    c.send(Message::Pong("x".into())).unwrap();
    c.send(Message::text("after")).unwrap();
    assert_eq!(c.read().unwrap(), Message::text("after"));
}

#[test]
fn app_ping_yields_pong_event() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    ts.call(move |s| s.ping(conn, b"abc")).unwrap();
    assert_eq!(c.read().unwrap(), Message::Ping("abc".into()));
    c.flush().unwrap(); // sends tungstenite's automatic pong
    match ts.wait("Pong", |e| matches!(e, Ev::Pong { .. })) {
        Ev::Pong { conn: c2, data } => {
            assert_eq!(c2, conn);
            assert_eq!(data, b"abc");
        }
        _ => unreachable!(),
    }
    assert!(matches!(
        ts.call(move |s| s.ping(conn, &[0u8; 126])),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
}

// ---------------------------------------------------------------------------
// Idle timeout.
// ---------------------------------------------------------------------------

#[test]
fn idle_peer_is_pinged_then_dropped() {
    let mut config = cfg().websocket("/ws");
    config.idle_timeout = Duration::from_millis(400);
    let mut ts = TestServer::echo(config);
    // When (half the idle time, all of it) is proto's, tested in virtual
    // time; here, that the loop runs the timers and drops the socket.
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let f = read_frame(&mut s);
    assert_eq!(f.opcode, OP_PING, "{f:?}");
    // We never answer.
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1006);
}

#[test]
fn responsive_peer_survives_idle_timeout() {
    let mut config = cfg().websocket("/ws");
    config.idle_timeout = Duration::from_millis(400);
    let mut ts = TestServer::echo(config);
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    c.get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pings = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1600) {
        match c.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) if is_timeout(&e) => {}
            Err(e) => panic!("connection lost: {e}"),
        }
    }
    assert!(pings >= 2, "only {pings} pings in 1.6 s");
    c.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    c.send(Message::text("still alive")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("still alive"));
    ts.assert_none_within(
        Duration::from_millis(50),
        "Close",
        |e| matches!(e, Ev::Close { conn: c2, .. } if *c2 == conn),
    );
}

#[test]
fn raw_pongs_keep_idle_connection_alive() {
    let mut config = cfg().websocket("/ws");
    config.idle_timeout = Duration::from_millis(400);
    let mut ts = TestServer::echo(config);
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(1300) {
        let f = read_frame(&mut s);
        assert_eq!(f.opcode, OP_PING, "{f:?}");
        pings += 1;
        s.write_all(&masked(OP_PONG, &f.payload)).unwrap();
    }
    assert!(pings >= 3, "{pings} pings");
    s.write_all(&masked(OP_TEXT, b"ok")).unwrap();
    assert_eq!(read_frame(&mut s).payload, b"ok");
    ts.assert_none_within(
        Duration::from_millis(50),
        "Close",
        |e| matches!(e, Ev::Close { conn: c2, .. } if *c2 == conn),
    );
}

// ---------------------------------------------------------------------------
// Approval.
// ---------------------------------------------------------------------------

#[test]
fn approval_accept_with_protocol() {
    let route = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let mut ts = TestServer::echo(cfg().route(route));
    let mut s = tcp(ts.addr);
    // A frame pipelined behind the request waits for the verdict.
    let mut bytes = ws_request("/auth", "Sec-WebSocket-Protocol: chat, superchat\r\n").into_bytes();
    bytes.extend(masked(OP_TEXT, b"queued"));
    s.write_all(&bytes).unwrap();
    let (conn, protocols) = ts.wait_request();
    assert_eq!(protocols, vec!["chat".to_string(), "superchat".to_string()]);

    // Nothing is answered before the app decides.
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut b = [0u8; 1];
    let e = s.read(&mut b).unwrap_err();
    assert!(matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    s.set_read_timeout(Some(WAIT)).unwrap();
    // More bytes sent while waiting are kept too.
    s.write_all(&masked(OP_TEXT, b"while waiting")).unwrap();

    assert!(matches!(
        ts.call(move |s| s.accept(conn, Some("nope"), &[])),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
    assert!(matches!(
        ts.call(move |s| s.send_text(conn, "too early")),
        Err(e) if e.kind() == ErrorKind::WrongState
    ));
    ts.call(move |s| s.accept(conn, Some("chat"), &[])).unwrap();
    assert!(matches!(
        ts.call(move |s| s.accept(conn, None, &[])),
        Err(e) if e.kind() == ErrorKind::WrongState
    ));
    let (status, headers) = read_head(&mut s);
    assert_eq!(status, 101);
    assert!(headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-protocol") && v == "chat"));
    match ts.wait("Open", |e| matches!(e, Ev::Open { .. })) {
        Ev::Open {
            conn: c2, protocol, ..
        } => {
            assert_eq!(c2, conn);
            assert_eq!(protocol.as_deref(), Some("chat"));
        }
        _ => unreachable!(),
    }
    assert_eq!(ts.wait_message(conn).1, b"queued");
    assert_eq!(ts.wait_message(conn).1, b"while waiting");
    assert_eq!(read_frame(&mut s).payload, b"queued");
    assert_eq!(read_frame(&mut s).payload, b"while waiting");
}

#[test]
fn approval_reject() {
    let route = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let mut ts = TestServer::echo(cfg().route(route));
    let mut s = tcp(ts.addr);
    s.write_all(ws_request("/auth", "").as_bytes()).unwrap();
    let (conn, protocols) = ts.wait_request();
    assert!(protocols.is_empty());
    assert!(matches!(
        ts.call(move |s| s.reject(conn, 200, "", &[])),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
    ts.call(move |s| s.reject(conn, 401, "no", &[])).unwrap();
    let all = read_to_eof(&mut s);
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    assert!(text.ends_with("\r\n\r\nno"), "{text}");
    // The app chose this; it gets no Close for it.
    ts.assert_none_within(Duration::from_millis(100), "Close", |e| {
        matches!(e, Ev::Close { .. })
    });
}

#[test]
fn approval_times_out() {
    let route = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let mut config = cfg().route(route);
    config.handshake_timeout = Duration::from_millis(300);
    let mut ts = TestServer::echo(config);
    // The app never answers: dropped after handshake_timeout.
    let mut s = tcp(ts.addr);
    s.write_all(ws_request("/auth", "").as_bytes()).unwrap();
    let (conn, _) = ts.wait_request();
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1006);
}

#[test]
fn sse_with_approval() {
    let route = Route::new("/events", RouteKind::Sse).with_approval();
    let mut config = cfg().route(route);
    config.sse_keepalive = Duration::ZERO;
    let mut ts = TestServer::echo(config);
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 9\r\n\r\n")
        .unwrap();
    let (conn, protocols) = match ts.wait("Request", |e| matches!(e, Ev::Request { .. })) {
        Ev::Request {
            conn,
            endpoint,
            protocols,
            path,
        } => {
            assert_eq!(endpoint, Endpoint::Sse);
            assert_eq!(path, "/events");
            (conn, protocols)
        }
        _ => unreachable!(),
    };
    assert!(protocols.is_empty());
    assert!(matches!(
        ts.call(move |s| s.accept(conn, Some("chat"), &[])),
        Err(e) if e.kind() == ErrorKind::InvalidArgument
    ));
    ts.call(move |s| s.accept(conn, None, &[])).unwrap();
    assert_eq!(read_head(&mut s).0, 200);
    let (c2, last) = ts.wait_sse_open();
    assert_eq!((c2, last.as_deref()), (conn, Some("9")));
    ts.call(move |s| s.sse_comment(conn, "hi")).unwrap();
    assert_eq!(read_n(&mut s, 6), b": hi\n\n");
}

#[test]
fn client_leaving_during_approval_is_reported_promptly() {
    // Default handshake_timeout (10 s): the Close must come from seeing the
    // client hang up, not from the timer.
    let ws_route = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let sse_route = Route::new("/events", RouteKind::Sse).with_approval();
    let mut ts = TestServer::echo(cfg().route(ws_route).route(sse_route));

    let mut s = tcp(ts.addr);
    s.write_all(ws_request("/auth", "").as_bytes()).unwrap();
    let (conn, _) = ts.wait_request();
    let start = Instant::now();
    drop(s);
    assert_eq!(ts.wait_close(conn).0, 1006);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(
        ts.call(move |s| s.accept(conn, None, &[])),
        Err(e) if e.kind() == ErrorKind::UnknownConnection
    ));

    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (conn, _) = ts.wait_request();
    let start = Instant::now();
    drop(s);
    ts.wait(
        "SseClose",
        |e| matches!(e, Ev::SseClose { conn: c } if *c == conn),
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Server-Sent Events.
// ---------------------------------------------------------------------------

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).expect("read_exact");
    v
}

fn sse_config() -> Config {
    let mut config = cfg().sse("/events").websocket("/ws");
    config.sse_keepalive = Duration::ZERO;
    config
}

#[test]
fn sse_stream_headers_and_events() {
    let mut ts = TestServer::echo(sse_config());
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events?topic=x HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: 42\r\n\r\n")
        .unwrap();
    let (status, headers) = read_head(&mut s);
    assert_eq!(status, 200);
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("content-type"), Some("text/event-stream"));
    assert_eq!(h("cache-control"), Some("no-cache"));
    assert_eq!(h("x-accel-buffering"), Some("no"));
    assert_eq!(h("content-length"), None);
    let (conn, last) = ts.wait_sse_open();
    assert_eq!(last.as_deref(), Some("42"));

    ts.call(move |s| {
        s.sse_send(
            conn,
            &SseEvent {
                event: Some("update"),
                id: Some("43"),
                retry: Some(1500),
                data: "line one\nline two\r\nline three",
            },
        )?;
        s.sse_send(
            conn,
            &SseEvent {
                data: "plain",
                ..Default::default()
            },
        )?;
        s.sse_comment(conn, "note")
    })
    .unwrap();
    let expect =
        "event: update\nid: 43\nretry: 1500\ndata: line one\ndata: line two\ndata: line three\n\n\
                  data: plain\n\n: note\n\n";
    assert_eq!(
        String::from_utf8(read_n(&mut s, expect.len())).unwrap(),
        expect
    );

    // Fields the format cannot carry are refused; nothing is sent.
    let r = ts.call(move |s| {
        let bad_id = s.sse_send(
            conn,
            &SseEvent {
                id: Some("4\n4"),
                data: "x",
                ..Default::default()
            },
        );
        let bad_event = s.sse_send(
            conn,
            &SseEvent {
                event: Some("a\rb"),
                data: "x",
                ..Default::default()
            },
        );
        let ws_send = s.send_text(conn, "not a websocket");
        (
            matches!(bad_id, Err(e) if e.kind() == ErrorKind::InvalidArgument),
            matches!(bad_event, Err(e) if e.kind() == ErrorKind::InvalidArgument),
            matches!(ws_send, Err(e) if e.kind() == ErrorKind::WrongState),
        )
    });
    assert_eq!(r, (true, true, true));

    // The client goes away.
    drop(s);
    ts.wait(
        "SseClose",
        |e| matches!(e, Ev::SseClose { conn: c } if *c == conn),
    );
    assert!(matches!(
        ts.call(move |s| s.sse_comment(conn, "gone")),
        Err(e) if e.kind() == ErrorKind::UnknownConnection
    ));
}

#[test]
fn sse_without_last_event_id_and_app_close() {
    let mut ts = TestServer::echo(sse_config());
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut s).0, 200);
    let (conn, last) = ts.wait_sse_open();
    assert_eq!(last, None);
    ts.call(move |s| {
        s.sse_send(
            conn,
            &SseEvent {
                data: "last",
                ..Default::default()
            },
        )?;
        s.close(conn, 1000, "")
    })
    .unwrap();
    assert_eq!(read_to_eof(&mut s), b"data: last\n\n");
    ts.wait(
        "SseClose",
        |e| matches!(e, Ev::SseClose { conn: c } if *c == conn),
    );

    let r = http(ts.addr, b"POST /events HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
}

#[test]
fn sse_keepalive_comment() {
    let mut config = sse_config();
    config.sse_keepalive = Duration::from_millis(200);
    let mut ts = TestServer::echo(config);
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut s).0, 200);
    let (conn, _) = ts.wait_sse_open();
    let ka = b": keep-alive\n\n";
    assert_eq!(read_n(&mut s, ka.len()), ka);
    assert_eq!(read_n(&mut s, ka.len()), ka, "and again");
    drop(s);
    ts.wait(
        "SseClose",
        |e| matches!(e, Ev::SseClose { conn: c } if *c == conn),
    );
}

#[test]
fn sse_keepalive_only_when_quiet() {
    let mut config = sse_config();
    config.sse_keepalive = Duration::from_millis(300);
    let mut ts = TestServer::echo(config);
    let mut s = tcp(ts.addr);
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut s).0, 200);
    let (conn, _) = ts.wait_sse_open();
    // Events every 100 ms: the stream is never quiet for 300 ms, so only
    // events arrive.
    let expect = b"data: tick\n\n";
    for _ in 0..10 {
        ts.call(move |s| {
            s.sse_send(
                conn,
                &SseEvent {
                    data: "tick",
                    ..Default::default()
                },
            )
        })
        .unwrap();
        assert_eq!(read_n(&mut s, expect.len()), expect);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then silence: a keep-alive follows.
    let ka = b": keep-alive\n\n";
    assert_eq!(read_n(&mut s, ka.len()), ka);
}

// ---------------------------------------------------------------------------
// Backpressure.
// ---------------------------------------------------------------------------

#[test]
fn backpressure_then_drain() {
    const MAX: usize = 64 << 10;
    const CHUNK: usize = 16 << 10;
    let mut config = cfg().websocket("/ws");
    config.max_buffered = MAX;
    let mut ts = TestServer::start(config, idle_app());
    let mut s = raw_ws(ts.addr, "/ws"); // never reads until told to
    let conn = ts.wait_open();

    // Send and flush until the socket stops taking bytes and the queue hits
    // the cap.
    let (sent, buffered) = ts.call(move |s| {
        let payload = vec![0xabu8; CHUNK];
        let mut sent = 0usize;
        loop {
            match s.send_binary(conn, &payload) {
                Ok(()) => sent += 1,
                Err(e) if e.kind() == ErrorKind::Backpressure => break,
                Err(e) => panic!("send failed: {e}"),
            }
            assert!(sent < 100_000, "never saw backpressure");
            s.flush();
        }
        (sent, s.buffered_amount(conn).unwrap())
    });
    assert!(buffered > 0, "nothing reported as buffered");
    assert!(buffered <= MAX, "buffered {buffered} over the cap");
    assert!(
        buffered + CHUNK + 14 > MAX,
        "refused with room left: {buffered}"
    );

    // Now read everything: every accepted message arrives intact.
    for i in 0..sent {
        let f = read_frame(&mut s);
        assert_eq!(f.opcode, OP_BINARY, "message {i}");
        assert!(f.fin);
        assert_eq!(f.payload.len(), CHUNK);
        assert!(f.payload.iter().all(|&b| b == 0xab));
    }
    ts.wait(
        "Drain",
        |e| matches!(e, Ev::Drain { conn: c } if *c == conn),
    );
    assert_eq!(ts.call(move |s| s.buffered_amount(conn).unwrap()), 0);
    // Sending works again.
    ts.call(move |s| s.send_text(conn, "after drain")).unwrap();
    assert_eq!(read_frame(&mut s).payload, b"after drain");
}

#[test]
fn peer_that_sends_without_reading_is_paused_not_buffered() {
    const PAUSE: usize = 64 << 10;
    const N: usize = 2000;
    const SIZE: usize = 8 << 10;
    let mut config = cfg().websocket("/ws");
    config.read_pause_buffered = PAUSE;
    let mut ts = TestServer::echo(config);
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    // 16 MiB of messages to an echo server, without reading the echoes:
    // more than the kernel buffers hold, so the server must stop reading.
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            w.write_all(&masked(OP_BINARY, &[i as u8; SIZE])).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    // The pause is checked before each read, but echoes are queued by the
    // app after the poll that read their requests, so one turn may add up
    // to its read budget (16 reads of 64 KiB, and a resumed read can share
    // a turn with an event-driven one). Without the pause this would be
    // ~12 MiB: all that the kernel buffers could not absorb.
    let buffered = ts.call(move |s| s.buffered_amount(conn).unwrap());
    assert!(
        buffered <= PAUSE + (2 << 20) + (64 << 10),
        "{buffered} bytes queued for a peer that does not read"
    );
    let handled = ts
        .collect()
        .iter()
        .filter(|e| matches!(e, Ev::Message { .. }))
        .count();
    assert!(handled < N, "server never paused ({handled} messages)");
    // Reading resumes as the peer catches up; everything arrives in order.
    for i in 0..N {
        let f = read_frame(&mut s);
        assert_eq!(f.opcode, OP_BINARY);
        assert_eq!(f.payload.len(), SIZE);
        assert!(f.payload.iter().all(|&b| b == i as u8), "message {i}");
    }
    writer.join().unwrap();
}

#[test]
fn hang_up_while_reading_is_paused_is_still_seen() {
    // The peer sends more than the read pause allows, then shuts its side
    // (FIN) while we are not reading. epoll reports that hang-up once; the
    // resumed reads must still go on to EOF, or the connection would sit
    // until the idle timeout.
    const N: usize = 400;
    const SIZE: usize = 8 << 10;
    let mut config = cfg().websocket("/ws");
    config.read_pause_buffered = 16 << 10;
    config.idle_timeout = Duration::from_secs(60);
    let mut ts = TestServer::echo(config);
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..N {
            w.write_all(&masked(OP_BINARY, &[i as u8; SIZE])).unwrap();
        }
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..N {
        let f = read_frame(&mut s);
        assert!(
            f.payload.len() == SIZE && f.payload[0] == i as u8,
            "echo {i}"
        );
    }
    writer.join().unwrap();
    // All echoed; the server has seen the FIN and closes its side too.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("server did not close after the peer's FIN");
    assert!(rest.is_empty());
    assert_eq!(ts.wait_close(conn).0, 1006);
}

#[test]
fn ping_flood_without_reading_does_not_grow_the_queue() {
    const MAX: usize = 64 << 10;
    let mut config = cfg().websocket("/ws");
    config.max_buffered = MAX;
    let mut ts = TestServer::start(config, idle_app());
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    // ~13 MiB of 125-byte pings whose pongs are never read: far more than
    // the kernel buffers hold.
    let ping = masked(OP_PING, &[7u8; 125]);
    let batch: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    for _ in 0..100 {
        s.write_all(&batch).unwrap();
    }
    // A marker: once the app sees it, every ping before it was handled.
    s.write_all(&masked(OP_TEXT, b"marker")).unwrap();
    ts.wait_message(conn);
    let buffered = ts.call(move |s| s.buffered_amount(conn).unwrap());
    assert!(buffered <= MAX + 127, "{buffered} bytes of pongs queued");
    assert_eq!(ts.call(|s| s.connection_count()), 1);
}

#[test]
fn overflow_policy_close_fails_with_1008() {
    let mut config = cfg().websocket("/ws");
    config.max_buffered = 4096;
    config.overflow_policy = wsrt::OverflowPolicy::Close;
    let mut ts = TestServer::start(config, idle_app());
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let r = ts.call(move |s| {
        let a = s.send_binary(conn, &[1u8; 3000]);
        let b = s.send_binary(conn, &[2u8; 3000]);
        (
            a.is_ok(),
            matches!(b, Err(e) if e.kind() == ErrorKind::Backpressure),
        )
    });
    assert_eq!(r, (true, true));
    assert_eq!(read_frame(&mut s).payload, vec![1u8; 3000]);
    assert_eq!(read_close(&mut s).0, Some(1008));
    expect_eof(&mut s);
    s.write_all(&masked(OP_CLOSE, &1008u16.to_be_bytes()))
        .unwrap();
    assert_eq!(ts.wait_close(conn).0, 1008);
}

// ---------------------------------------------------------------------------
// Handle from other threads.
// ---------------------------------------------------------------------------

#[test]
fn handle_wake_send_close_from_another_thread() {
    let mut ts = TestServer::echo(cfg().websocket("/ws"));
    let mut c = ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    let h = ts.handle.clone();
    std::thread::spawn(move || {
        h.wake().unwrap();
        h.send(conn, MessageKind::Text, "from afar".into()).unwrap();
        h.send(conn, MessageKind::Binary, vec![1u8, 2, 3].into())
            .unwrap();
        assert!(matches!(
            h.send(conn, MessageKind::Text, vec![0xffu8].into()),
            Err(e) if e.kind() == ErrorKind::InvalidArgument
        ));
    })
    .join()
    .unwrap();
    ts.wait("Wake", |e| *e == Ev::Wake);
    assert_eq!(next_data(&mut c), Message::text("from afar"));
    assert_eq!(next_data(&mut c), Message::binary(vec![1u8, 2, 3]));
    let h = ts.handle.clone();
    std::thread::spawn(move || h.close(conn, 4000, "bye from afar").unwrap())
        .join()
        .unwrap();
    match c.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 4000);
            assert_eq!(f.reason.as_str(), "bye from afar");
        }
        other => panic!("{other:?}"),
    }
    let _ = c.flush();
    assert_eq!(ts.wait_close(conn).0, 4000);
}

#[test]
fn wake_interrupts_a_blocking_poll() {
    // A loop blocked in a long poll returns promptly on wake. (A bounded
    // timeout rather than `None`, so a broken wake fails instead of hanging.)
    let mut server = Server::bind(cfg().websocket("/ws")).unwrap();
    let h = server.handle();
    let t = std::thread::spawn(move || {
        let mut events = Events::new();
        let start = Instant::now();
        while start.elapsed() < WAIT {
            server.poll(&mut events, Some(WAIT)).unwrap();
            if events.iter().any(|e| e.kind == EventType::Wake) {
                return start.elapsed();
            }
        }
        panic!("no Wake event");
    });
    std::thread::sleep(Duration::from_millis(100));
    h.wake().unwrap();
    let took = t.join().unwrap();
    assert!(took < Duration::from_secs(2), "{took:?}");
}

// ---------------------------------------------------------------------------
// Graceful shutdown.
// ---------------------------------------------------------------------------

#[test]
fn graceful_shutdown() {
    let mut config = cfg().websocket("/ws").sse("/events");
    config.sse_keepalive = Duration::ZERO;
    let mut ts = TestServer::echo(config);
    let mut clients: Vec<Ws> = (0..3).map(|_| ws(ts.addr, "/ws")).collect();
    let conns: Vec<ConnId> = (0..3).map(|_| ts.wait_open()).collect();
    let mut sse = tcp(ts.addr);
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut sse).0, 200);
    let (sse_conn, _) = ts.wait_sse_open();
    // A half-sent request is simply dropped.
    let mut half = tcp(ts.addr);
    half.write_all(b"GET /ws HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));

    ts.call(|s| s.begin_shutdown());
    assert!(!ts.call(|s| s.is_finished()));

    for c in &mut clients {
        match c.read().unwrap() {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
        let _ = c.flush(); // tungstenite's close reply
    }
    expect_eof(&mut sse);
    expect_eof(&mut half);
    ts.wait(
        "SseClose",
        |e| matches!(e, Ev::SseClose { conn } if *conn == sse_conn),
    );
    for conn in conns {
        assert_eq!(ts.wait_close(conn).0, 1001);
    }

    // The listener is gone.
    match TcpStream::connect(ts.addr) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
        Ok(mut s) => {
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut b = [0u8; 1];
            assert!(!matches!(s.read(&mut b), Ok(1)), "new connection served");
        }
    }

    drop(clients);
    drop(sse);
    drop(half);
    let deadline = Instant::now() + WAIT;
    while !ts.call(|s| s.is_finished()) {
        assert!(Instant::now() < deadline, "shutdown did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ts.call(|s| s.connection_count()), 0);
}

#[test]
fn shutdown_answers_pending_approvals_503() {
    let route = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let mut ts = TestServer::echo(cfg().route(route));
    let mut s = tcp(ts.addr);
    s.write_all(ws_request("/auth", "").as_bytes()).unwrap();
    let (conn, _) = ts.wait_request();
    ts.handle.shutdown().unwrap();
    let text = String::from_utf8(read_to_eof(&mut s)).unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert_eq!(ts.wait_close(conn).0, 1001);
    drop(s);
    let deadline = Instant::now() + WAIT;
    while !ts.call(|s| s.is_finished()) {
        assert!(Instant::now() < deadline, "shutdown did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shutdown_drops_unresponsive_peers_after_close_timeout() {
    let mut config = cfg().websocket("/ws");
    config.close_timeout = Duration::from_millis(300);
    let mut ts = TestServer::echo(config);
    // Reads the close frame but never answers it or hangs up.
    let mut s = raw_ws(ts.addr, "/ws");
    let conn = ts.wait_open();
    ts.call(|s| s.begin_shutdown());
    assert_eq!(read_close(&mut s).0, Some(1001));
    expect_eof(&mut s);
    assert_eq!(ts.wait_close(conn).0, 1006);
    let deadline = Instant::now() + WAIT;
    while !ts.call(|s| s.is_finished()) {
        assert!(Instant::now() < deadline, "shutdown did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Scale.
// ---------------------------------------------------------------------------

#[test]
fn five_hundred_concurrent_clients() {
    const THREADS: usize = 10;
    const PER: usize = 50;
    let ts = TestServer::echo(cfg().websocket("/ws"));
    let addr = ts.addr;
    // Channels with timeouts rather than barriers, so a failing worker
    // cannot leave the others (or the test) waiting forever.
    let (connected_tx, connected_rx) = mpsc::channel::<()>();
    let mut go = Vec::new();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let connected = connected_tx.clone();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            go.push(go_tx);
            std::thread::spawn(move || {
                let mut clients: Vec<Ws> = (0..PER).map(|_| ws(addr, "/ws")).collect();
                connected.send(()).unwrap();
                go_rx.recv_timeout(WAIT).expect("no go signal");
                for (i, c) in clients.iter_mut().enumerate() {
                    c.send(Message::text(format!("client {t}-{i}"))).unwrap();
                }
                for (i, c) in clients.iter_mut().enumerate() {
                    assert_eq!(next_data(c), Message::text(format!("client {t}-{i}")));
                }
            })
        })
        .collect();
    for _ in 0..THREADS {
        connected_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a client thread failed to connect");
    }
    // All 500 are open at once.
    let deadline = Instant::now() + WAIT;
    loop {
        let n = ts.call(|s| s.connection_count());
        if n == THREADS * PER {
            break;
        }
        assert!(Instant::now() < deadline, "{n} connections");
        std::thread::sleep(Duration::from_millis(10));
    }
    for g in go {
        g.send(()).unwrap();
    }
    for w in workers {
        w.join().expect("client thread failed");
    }
}

#[test]
fn max_connections_closes_extra_connections() {
    let mut config = cfg().websocket("/ws");
    config.max_connections = 2;
    let ts = TestServer::echo(config);
    let a = ws(ts.addr, "/ws");
    let _b = ws(ts.addr, "/ws");
    let mut s = tcp(ts.addr);
    let _ = s.write_all(ws_request("/ws", "").as_bytes());
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => assert!(buf.is_empty(), "extra connection was served"),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
    }
    // Room frees up when one leaves.
    drop(a);
    let deadline = Instant::now() + WAIT;
    while ts.call(|s| s.connection_count()) > 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = ws(ts.addr, "/ws");
    c.send(Message::text("in")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("in"));
}

// ---------------------------------------------------------------------------
// Socket.IO through the Rust API and, from other threads, the Handle.
// ---------------------------------------------------------------------------

/// A raw Socket.IO client on the WebSocket transport, connected to `/`.
fn sio_client(addr: SocketAddr) -> Ws {
    let mut c = ws(addr, "/socket.io/?EIO=4&transport=websocket");
    let open = next_data(&mut c).into_text().unwrap();
    assert!(open.starts_with("0{\"sid\":"), "{open}");
    c.send(Message::text("40")).unwrap();
    let connect = next_data(&mut c).into_text().unwrap();
    assert!(connect.starts_with("40{\"sid\":"), "{connect}");
    c
}

fn text_of(c: &mut Ws) -> String {
    next_data(c).into_text().unwrap().to_string()
}

#[test]
fn socketio_events_acks_and_emits_from_other_threads() {
    let mut ts = TestServer::start(cfg().socket_io("/socket.io/", ["/"]), idle_app());
    let mut a = sio_client(ts.addr);
    let sa = ts.wait_open();
    let mut b = sio_client(ts.addr);
    let sb = ts.wait_open();

    // A client event with an ack id, answered from another thread.
    a.send(Message::text("421[\"hi\",{\"x\":1}]")).unwrap();
    let ev = ts.wait("SioEvent", |e| matches!(e, Ev::Sio { .. }));
    let Ev::Sio {
        conn,
        name,
        args,
        ack,
    } = ev
    else {
        unreachable!()
    };
    assert_eq!(
        (conn, name.as_str(), args.as_str(), ack),
        (sa, "hi", "[{\"x\":1}]", 1)
    );
    let h = ts.handle.clone();
    std::thread::spawn(move || h.ack(sa, 1, "[\"ok\"]", &[]).unwrap())
        .join()
        .unwrap();
    assert_eq!(text_of(&mut a), "431[\"ok\"]");

    // An emit and a room broadcast from another thread: only members get it.
    ts.call(move |s| s.subscribe(sa, "room")).unwrap();
    let h = ts.handle.clone();
    std::thread::spawn(move || {
        h.emit(sb, "direct", "[2]", &[]).unwrap();
        h.broadcast(&Broadcast {
            rooms: &["room"],
            ..Broadcast::new("/", "r", "[3]")
        })
        .unwrap();
        h.emit(sb, "barrier", "[]", &[]).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(text_of(&mut b), "42[\"direct\",2]");
    assert_eq!(text_of(&mut b), "42[\"barrier\"]", "b is in no room");
    assert_eq!(text_of(&mut a), "42[\"r\",3]");

    // Bad arguments are refused on the calling thread, with a message.
    let refused = |r: wsrt::Result<()>| r.unwrap_err().to_string();
    assert!(refused(ts.handle.emit(sa, "connect", "[]", &[])).contains("reserved"));
    assert!(refused(ts.handle.emit(sa, "x", "{}", &[])).contains("JSON array"));
    assert!(refused(ts.handle.ack(sa, 1, "[]", &[b"x"])).contains("placeholder"));

    // A server emit with an ack that times out.
    let id = ts
        .call(move |s| s.emit(sa, "q", "[]", &[], Some(Some(Duration::from_millis(50)))))
        .unwrap()
        .expect("an ack id");
    assert_eq!(text_of(&mut a), format!("42{id}[\"q\"]"));
    let ev = ts.wait("SioAck", |e| matches!(e, Ev::SioAck { .. }));
    assert!(
        matches!(ev, Ev::SioAck { conn, ack, code: 1, .. } if conn == sa && ack == id),
        "{ev:?}"
    );
}

// ---------------------------------------------------------------------------
// The request a connection keeps.
// ---------------------------------------------------------------------------

/// What the app saw of a request: path, query, headers, peer, protocols.
type SeenRequest = (
    String,
    String,
    Vec<(String, String)>,
    SocketAddr,
    Vec<String>,
);

fn seen(r: &wsrt::Request) -> SeenRequest {
    let headers = r.head.headers.clone();
    (
        r.path().into(),
        r.query().into(),
        headers,
        r.peer,
        r.protocols.clone(),
    )
}

#[test]
fn an_open_connection_keeps_its_request_until_the_batch_of_its_close_event_is_over() {
    // At each close event the app reports the request the event carries
    // and the one `request` serves then.
    let (closed_tx, closed_rx) = mpsc::channel();
    let app: App = Box::new(move |server, ev, events| {
        if matches!(ev.kind, EventType::Close | EventType::SseClose) {
            let served = server.request(ev.conn).map(|r| seen(&r));
            let _ = closed_tx.send((ev.conn, events.request(ev).map(seen), served.ok()));
        }
    });
    let auth = Route::new("/auth", RouteKind::WebSocket).with_approval();
    let mut ts = TestServer::start(sse_config().route(auth), app);

    let extra = "X-Test: one\r\nSec-WebSocket-Protocol: chat, superchat\r\nCookie: a=b\r\n";
    let (mut s, _) = raw_ws_with(ts.addr, "/ws?room=7", extra);
    let conn = ts.wait_open();
    let kept = ts.call(move |s| s.request(conn)).map(|r| seen(&r)).unwrap();
    let (path, query, headers, peer, protocols) = &kept;
    assert_eq!((path.as_str(), query.as_str()), ("/ws", "room=7"));
    assert_eq!(*peer, s.local_addr().unwrap());
    assert_eq!(protocols, &["chat", "superchat"]);
    // What the handshake used is not kept; everything else is, in order.
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Host", "X-Test", "Sec-WebSocket-Protocol", "Cookie"]
    );
    assert_eq!(headers[1].1, "one");

    // The close event carries the same request, and the server still
    // serves it while the app handles that batch.
    s.write_all(&masked(OP_CLOSE, &1000u16.to_be_bytes()))
        .unwrap();
    let at_close = closed_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(at_close, (conn, Some(kept.clone()), Some(kept)));

    // An event stream keeps every header (it had no WebSocket handshake),
    // its Last-Event-ID, and offers no subprotocols.
    let mut sse = tcp(ts.addr);
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAccept: text/event-stream\r\nLast-Event-ID: 41\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut sse).0, 200);
    let (stream, _) = ts.wait_sse_open();
    // A later poll has run: the closed WebSocket's request is gone.
    assert!(matches!(
        ts.call(move |s| s.request(conn)),
        Err(e) if e.kind() == ErrorKind::UnknownConnection
    ));
    let r = ts.call(move |s| s.request(stream)).unwrap();
    assert_eq!((r.path(), r.last_event_id()), ("/events", Some("41")));
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(r.protocols.is_empty() && r.tls.is_none());
    let kept = seen(&r);
    // The client leaves: the stream is gone from the server's table at
    // once, and its request is still served in the batch that says so.
    drop(sse);
    let at_close = closed_rx.recv_timeout(WAIT).unwrap();
    assert_eq!(at_close, (stream, Some(kept.clone()), Some(kept)));

    // A request awaiting approval has its REQUEST event's; one the client
    // leaves before it is answered has none to keep.
    let mut s = tcp(ts.addr);
    s.write_all(ws_request("/auth", "").as_bytes()).unwrap();
    let (conn, _) = ts.wait_request();
    assert!(matches!(
        ts.call(move |s| s.request(conn)),
        Err(e) if e.kind() == ErrorKind::WrongState
    ));
    drop(s);
    assert_eq!(closed_rx.recv_timeout(WAIT).unwrap(), (conn, None, None));
}
