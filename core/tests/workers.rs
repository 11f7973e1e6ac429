//! Several loops in one process (`workers`): a real `Server` with two
//! loops, its application on one thread, real clients (`tungstenite`,
//! plain TCP for SSE) on 127.0.0.1, publishes from a third thread.
//!
//! The app under test: WebSockets on `/ws` and SSE streams on `/sse` join
//! topic "room" (SSE with `resume`); a WebSocket message is echoed, or
//! answered with its connection's id and loop when it is "who?"; Engine.IO
//! sessions on `/engine.io/` get their messages back.

mod common;

use common::app::AppThread;
use common::sse::Sse;
use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::Message;
use wsrt::{Config, ConnId, EventType, Events, HistoryLimit, Publish, Server};

const WAIT: Duration = Duration::from_secs(20);

struct Harness {
    addr: SocketAddr,
    app: AppThread,
    /// Every connection the app saw open, in order.
    opened: Arc<Mutex<Vec<ConnId>>>,
}

fn two_loops() -> Config {
    let mut c = Config::new("127.0.0.1:0")
        .websocket("/ws")
        .sse("/sse")
        .engine_io("/engine.io/");
    c.workers = 2;
    c
}

/// One HTTP/1.1 request on a connection of its own (so that each lands on
/// either loop): the answer's status line and body.
fn http(addr: SocketAddr, request: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn eio_get(addr: SocketAddr, sid: &str) -> String {
    let req = format!(
        "GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = http(addr, &req);
    assert!(status.contains("200"), "{status}: {body}");
    body
}

fn eio_post(addr: SocketAddr, sid: &str, body: &str) {
    let req = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, answer) = http(addr, &req);
    assert_eq!(
        (status.contains("200"), answer.as_str()),
        (true, "ok"),
        "{status}"
    );
}

impl Harness {
    fn start(config: Config) -> Harness {
        let server = Server::bind(config).expect("bind");
        assert_eq!(server.loop_count(), 2);
        let addr = server.local_addr();
        let opened = Arc::new(Mutex::new(Vec::new()));
        let seen = opened.clone();
        let app = AppThread::start(server, move |server, ev, events| {
            let conn = ev.conn;
            match ev.kind {
                EventType::Open => {
                    server.subscribe(conn, "room").unwrap();
                    seen.lock().unwrap().push(conn);
                }
                EventType::SseOpen => {
                    server.resume(conn, "room", None).unwrap();
                    seen.lock().unwrap().push(conn);
                }
                EventType::Message if events.payload(ev) == b"who?" => {
                    let reply = format!("{} {}", conn.raw(), conn.loop_index());
                    server.send_text(conn, &reply).unwrap();
                }
                EventType::Message => {
                    let data = events.payload(ev).to_vec();
                    server.send(conn, ev.message_kind(), &data).unwrap();
                }
                _ => {}
            }
        });
        Harness { addr, app, opened }
    }

    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        self.app.call(f)
    }

    /// Waits until the app has seen `n` connections open.
    fn wait_opened(&self, n: usize) -> Vec<ConnId> {
        let deadline = Instant::now() + WAIT;
        loop {
            let opened = self.opened.lock().unwrap().clone();
            if opened.len() >= n {
                return opened;
            }
            assert!(Instant::now() < deadline, "{} of {n} opened", opened.len());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn ws(&self) -> tungstenite::WebSocket<TcpStream> {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://{}/ws", self.addr);
        tungstenite::client(url, stream).expect("handshake").0
    }
}

fn text(ws: &mut tungstenite::WebSocket<TcpStream>) -> String {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

fn history(max_events: usize) -> HistoryLimit {
    HistoryLimit {
        max_events,
        max_age: Duration::ZERO,
    }
}

/// How many of `ids` each loop owns.
fn per_loop(ids: &[ConnId]) -> [usize; 2] {
    let mut n = [0; 2];
    ids.iter().for_each(|id| n[id.loop_index()] += 1);
    n
}

#[test]
fn two_loops_deliver_ten_thousand_publishes_from_a_third_thread_to_a_thousand_subscribers() {
    const SUBS: usize = 1000;
    const STREAMS: usize = 20;
    const MSGS: usize = 10_000;
    let h = Harness::start(two_loops());
    h.call(|s| s.set_topic_history("room", history(100)))
        .unwrap();
    let clients: Vec<_> = (0..SUBS).map(|_| h.ws()).collect();
    let streams: Vec<_> = (0..STREAMS).map(|_| Sse::connect(h.addr, None)).collect();
    let opened = h.wait_opened(SUBS + STREAMS);
    let spread = per_loop(&opened);
    assert!(
        spread.iter().all(|&n| n >= 100),
        "the kernel spreads connections over both loops: {spread:?}"
    );
    let unique: HashSet<_> = opened.iter().collect();
    assert_eq!(unique.len(), opened.len(), "ids are unique across loops");
    let indexes: HashSet<_> = opened.iter().map(|c| c.index()).collect();
    assert_eq!(indexes.len(), opened.len(), "so are their table indexes");
    assert_eq!(
        h.call(|s| s.subscriber_count("room")),
        SUBS + STREAMS,
        "counts add up over the loops"
    );
    let st = h.call(|s| s.stats());
    assert_eq!((st.websockets, st.sse_streams), (SUBS, STREAMS));

    // Readers on four threads, each client checked for 0..MSGS in order.
    let mut it = clients.into_iter();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let mut socks: Vec<_> = it.by_ref().take(SUBS / 4).collect();
            std::thread::spawn(move || {
                for i in 0..MSGS {
                    let want = format!("m{i}");
                    for ws in socks.iter_mut() {
                        assert_eq!(text(ws), want);
                    }
                }
                socks.len()
            })
        })
        .collect();
    let sse_reader = std::thread::spawn(move || {
        let mut streams = streams;
        let mut first_id = None;
        for i in 0..MSGS {
            for s in streams.iter_mut() {
                let (id, _, data) = s.next();
                assert_eq!(data, format!("m{i}"));
                let id: u64 = id.expect("history gives ids").parse().unwrap();
                let first = *first_id.get_or_insert(id - i as u64);
                assert_eq!(id, first + i as u64, "one sequence of ids on both loops");
            }
        }
        streams.len()
    });

    // The third thread: publishes through a handle.
    let handle = h.call(|s| s.handle());
    let publisher = std::thread::spawn(move || {
        for i in 0..MSGS {
            handle
                .publish(Some("room"), &Publish::text(&format!("m{i}")))
                .unwrap();
        }
    });
    publisher.join().unwrap();
    let got: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(got, SUBS);
    assert_eq!(sse_reader.join().unwrap(), STREAMS);
    let st = h.call(|s| s.stats());
    assert_eq!(st.published, MSGS as u64, "one publish counted once");
    assert_eq!(st.delivered, ((SUBS + STREAMS) * MSGS) as u64);
    assert_eq!((st.dropped, st.slow_closed), (0, 0));
    assert_eq!(st.topics, 1, "a topic on both loops counts once");
}

#[test]
fn a_resume_on_either_loop_replays_exactly_what_was_missed() {
    let h = Harness::start(two_loops());
    h.call(|s| s.set_topic_history("room", history(100)))
        .unwrap();
    let ids: Vec<u64> = h.call(|s| {
        (0..50)
            .map(|i| {
                let r = s.publish("room", &Publish::text(&format!("e{i}"))).unwrap();
                r.event_id.expect("a topic with history")
            })
            .collect()
    });
    // Enough reconnects that both loops serve some (checked below).
    let mut loops_seen = HashSet::new();
    for n in 0..16 {
        let mut s = Sse::connect(h.addr, Some(&ids[19].to_string()));
        let opened = h.wait_opened(n + 1);
        loops_seen.insert(opened[n].loop_index());
        for (i, id) in ids.iter().enumerate().skip(20) {
            let (got_id, _, data) = s.next();
            assert_eq!((data, got_id), (format!("e{i}"), Some(id.to_string())));
        }
        s.assert_quiet(Duration::from_millis(20));
    }
    assert_eq!(loops_seen.len(), 2, "16 streams all landed on one loop");
}

#[test]
fn calls_on_an_id_reach_its_loop_from_the_app_and_from_handles() {
    let h = Harness::start(two_loops());
    let mut clients: Vec<_> = (0..24).map(|_| h.ws()).collect();
    let opened = h.wait_opened(clients.len());
    assert!(
        per_loop(&opened).iter().all(|&n| n > 0),
        "24 clients on one loop"
    );
    // Opens from two loops reach the app in either order: each client asks
    // for its id.
    let mut ids = Vec::new();
    for ws in clients.iter_mut() {
        ws.send(Message::text("who?")).unwrap();
        let who = text(ws);
        let (raw, loop_index) = who.split_once(' ').unwrap();
        let id = ConnId::from_raw(raw.parse().unwrap());
        assert!(opened.contains(&id), "{who}");
        assert_eq!(loop_index, id.loop_index().to_string());
        ws.send(Message::text("echo")).unwrap();
        assert_eq!(text(ws), "echo");
        ids.push(id);
    }
    let opened = ids;
    // A handle sends to each connection on its own loop.
    let handle = h.call(|s| s.handle());
    for (ws, id) in clients.iter_mut().zip(&opened) {
        handle
            .send(
                *id,
                wsrt::MessageKind::Text,
                format!("to {}", id.raw()).into(),
            )
            .unwrap();
        assert_eq!(text(ws), format!("to {}", id.raw()));
    }
    // An id no loop of this server made is unknown, not another's.
    let stray = ConnId::from_raw(opened[0].raw() | 63 << 26);
    let err = h.call(move |s| s.send_text(stray, "x")).unwrap_err();
    assert_eq!(err.kind(), wsrt::ErrorKind::UnknownConnection);
    assert!(handle
        .send(stray, wsrt::MessageKind::Text, "x".into())
        .is_err());
    // Closing from the app reaches the right loop.
    for (ws, id) in clients.iter_mut().zip(&opened) {
        let id = *id;
        h.call(move |s| s.close(id, 4000, "bye")).unwrap();
        match ws.read() {
            Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 4000),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[test]
fn a_shutdown_drains_every_loop() {
    let h = Harness::start(two_loops());
    let mut clients: Vec<_> = (0..16).map(|_| h.ws()).collect();
    let opened = h.wait_opened(clients.len());
    assert!(
        per_loop(&opened).iter().all(|&n| n > 0),
        "16 clients on one loop"
    );
    h.call(|s| s.begin_shutdown());
    for ws in clients.iter_mut() {
        match ws.read() {
            Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected 1001, got {other:?}"),
        }
    }
    drop(clients);
    let deadline = Instant::now() + WAIT;
    while !h.call(|s| s.is_finished()) {
        assert!(Instant::now() < deadline, "the loops never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(TcpStream::connect(h.addr).is_err(), "still listening");
}

#[test]
fn workers_zero_is_one_per_core() {
    let mut c = Config::new("127.0.0.1:0").websocket("/ws");
    c.workers = 0;
    let cores = std::thread::available_parallelism().unwrap().get().min(64);
    assert_eq!(Server::bind(c).unwrap().loop_count(), cores);

    let mut c = Config::new("127.0.0.1:0").socket_io("/socket.io/", ["/"]);
    c.workers = 2;
    assert_eq!(
        Server::bind(c).unwrap().loop_count(),
        2,
        "Socket.IO on two loops"
    );
}

#[test]
fn a_shutdown_from_a_handle_ends_a_poll_that_waits_without_a_timeout() {
    let mut server = Server::bind(two_loops()).expect("bind");
    let handle = server.handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.shutdown().unwrap();
    });
    let mut events = Events::new();
    let deadline = Instant::now() + WAIT;
    // No connection, so no batch: only the loops finishing can wake it.
    while !server.is_finished() {
        assert!(Instant::now() < deadline, "never finished");
        server.poll(&mut events, None).unwrap();
    }
    stopper.join().unwrap();
}

#[test]
fn engine_io_requests_reach_their_session_on_either_loop() {
    let h = Harness::start(two_loops());
    let (status, open) = http(
        h.addr,
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains("200"), "{status}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // Each request on a new connection: 40 of them land on both loops;
    // those on the other loop are handed to the session's.
    for i in 0..20 {
        eio_post(h.addr, &sid, &format!("4m{i}"));
        assert_eq!(eio_get(h.addr, &sid), format!("4m{i}"), "the echo of m{i}");
    }
    // The upgrade too, on a connection of its own (either loop).
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
        h.addr
    );
    let stream = TcpStream::connect(h.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (mut ws, _) = tungstenite::client(url, stream).expect("upgrade");
    ws.send(Message::text("2probe")).unwrap();
    assert_eq!(text(&mut ws), "3probe");
    // The parked poll is answered (noop) so the client can upgrade.
    assert_eq!(eio_get(h.addr, &sid), "6");
    ws.send(Message::text("5")).unwrap();
    ws.send(Message::text("4over ws")).unwrap();
    assert_eq!(text(&mut ws), "4over ws");
}

#[test]
fn a_thread_per_loop_polls_its_own_loop_and_answers_through_a_handle() {
    let server = Server::bind(two_loops()).expect("bind");
    let addr = server.local_addr();
    let pollers = server.into_loop_pollers().unwrap();
    assert_eq!(pollers.len(), 2);
    let handle = pollers[0].handle();
    let served: Arc<Mutex<Vec<(usize, ConnId)>>> = Arc::default();
    let threads: Vec<_> = pollers
        .into_iter()
        .map(|mut p| {
            let served = served.clone();
            std::thread::spawn(move || {
                let handle = p.handle();
                let mut events = Events::new();
                while !p.is_finished() {
                    p.poll(&mut events, Some(Duration::from_millis(50)))
                        .unwrap();
                    for ev in &events {
                        assert_eq!(ev.conn.loop_index(), p.index(), "only this loop's events");
                        match ev.kind {
                            EventType::Open => {
                                served.lock().unwrap().push((p.index(), ev.conn));
                                handle.subscribe(ev.conn, "room").unwrap();
                            }
                            EventType::Message => {
                                let data = events.payload(ev).to_vec().into();
                                handle.send(ev.conn, ev.message_kind(), data).unwrap();
                            }
                            _ => {}
                        }
                    }
                }
            })
        })
        .collect();
    let mut clients: Vec<_> = (0..16)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            tungstenite::client(format!("ws://{addr}/ws"), stream)
                .unwrap()
                .0
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    while served.lock().unwrap().len() < clients.len() {
        assert!(Instant::now() < deadline, "not every open was seen");
        std::thread::sleep(Duration::from_millis(2));
    }
    let on_each: Vec<usize> = (0..2)
        .map(|i| served.lock().unwrap().iter().filter(|s| s.0 == i).count())
        .collect();
    assert!(
        on_each.iter().all(|&n| n > 0),
        "16 clients on one loop: {on_each:?}"
    );
    for (n, ws) in clients.iter_mut().enumerate() {
        ws.send(Message::text(format!("echo {n}"))).unwrap();
        assert_eq!(text(ws), format!("echo {n}"));
    }
    // Subscribed through the handle by the loops' threads (subscriptions
    // queued before this publish have run: each client's echo came after).
    for i in 0..50 {
        handle
            .publish(Some("room"), &Publish::text(&format!("p{i}")))
            .unwrap();
    }
    for ws in clients.iter_mut() {
        for i in 0..50 {
            assert_eq!(text(ws), format!("p{i}"));
        }
    }
    // A shutdown through the handle ends both loops' threads.
    handle.shutdown().unwrap();
    for ws in clients.iter_mut() {
        match ws.read() {
            Ok(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected 1001, got {other:?}"),
        }
    }
    drop(clients);
    for t in threads {
        t.join().unwrap();
    }
}
