//! Publish/subscribe end to end: a real `Server` on a thread, real clients
//! (`tungstenite` for WebSocket, plain TCP for SSE) on 127.0.0.1.
//!
//! The app under test: WebSocket clients on `/ws` join topic "room" and
//! every message they send is published there (sender included); SSE
//! clients on `/sse` join "room" with `resume` and get an
//! `event: snapshot` when the history cannot cover their `Last-Event-ID`.

mod common;

use common::sse::Sse;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tungstenite::Message;
use wsrt::{
    Config, ConnId, Event, EventType, Events, HistoryLimit, MessageKind, Publish, Replay, Server,
    SlowConsumerPolicy, SseEvent, Stats,
};

const WAIT: Duration = Duration::from_secs(10);

use common::app::AppThread;

/// What the app saw, for the test to check.
#[derive(Default)]
struct Seen {
    opened: Vec<ConnId>,
    sse_opened: Vec<ConnId>,
    closes: Vec<(ConnId, u16, String)>,
    replays: Vec<Replay>,
}

struct Harness {
    addr: SocketAddr,
    app: AppThread,
    seen: Arc<Mutex<Seen>>,
}

impl Harness {
    fn start(config: Config) -> Harness {
        let config = config.websocket("/ws").sse("/sse");
        let server = Server::bind(config).expect("bind");
        let addr = server.local_addr();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let seen2 = seen.clone();
        let app = AppThread::start(server, move |s, ev, events| app(s, ev, events, &seen2));
        Harness { addr, app, seen }
    }

    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        self.app.call(f)
    }

    fn stats(&self) -> Stats {
        self.call(|s| s.stats())
    }

    /// Waits until `cond` holds for what the app saw.
    fn wait_for(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(&self.seen.lock().unwrap()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn subscribers(&self) -> usize {
        self.call(|s| s.subscriber_count("room"))
    }

    fn ws(&self) -> tungstenite::WebSocket<TcpStream> {
        let before = self.subscribers();
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let url = format!("ws://{}/ws", self.addr);
        let (ws, _) = tungstenite::client(url, stream).expect("handshake");
        let deadline = Instant::now() + WAIT;
        while self.subscribers() <= before {
            assert!(Instant::now() < deadline, "the client never subscribed");
            std::thread::sleep(Duration::from_millis(1));
        }
        ws
    }
}

fn app(server: &mut Server, ev: &Event, events: &Events, seen: &Mutex<Seen>) {
    let conn = ev.conn;
    match ev.kind {
        EventType::Open => {
            assert!(server.subscribe(conn, "room").unwrap());
            assert!(!server.subscribe(conn, "room").unwrap(), "already in");
            seen.lock().unwrap().opened.push(conn);
        }
        EventType::Message => {
            let msg = Publish::new(ev.message_kind(), events.payload(ev));
            server.publish("room", &msg).unwrap();
        }
        EventType::SseOpen => {
            // No id given: the stream's own Last-Event-ID.
            let replay = server.resume(conn, "room", None).unwrap();
            if replay == Replay::Missed {
                let snapshot = SseEvent {
                    event: Some("snapshot"),
                    data: "full state",
                    ..SseEvent::default()
                };
                server.sse_send(conn, &snapshot).unwrap();
            }
            let mut s = seen.lock().unwrap();
            s.sse_opened.push(conn);
            s.replays.push(replay);
        }
        EventType::Close => {
            let reason = events.text(ev).to_string();
            seen.lock().unwrap().closes.push((conn, ev.code, reason));
        }
        _ => {}
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

#[test]
fn thousand_subscribers_get_ten_thousand_messages_in_order() {
    const SUBS: usize = 1000;
    const MSGS: usize = 10_000;
    let h = Harness::start(Config::new("127.0.0.1:0"));
    let clients: Vec<_> = (0..SUBS).map(|_| h.ws()).collect();
    assert_eq!(h.subscribers(), SUBS);
    // Readers on four threads, each checking its clients see 0..MSGS in order.
    let chunks: Vec<Vec<_>> = {
        let mut it = clients.into_iter();
        (0..4)
            .map(|_| it.by_ref().take(SUBS / 4).collect())
            .collect()
    };
    let readers: Vec<_> = chunks
        .into_iter()
        .map(|mut socks| {
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
    // The publisher: batches of 500 per loop turn, as an app's timer would.
    for batch in 0..MSGS / 500 {
        h.call(move |s| {
            for i in batch * 500..(batch + 1) * 500 {
                let m = format!("m{i}");
                let r = s.publish("room", &Publish::text(&m)).unwrap();
                assert_eq!((r.delivered, r.dropped, r.closed), (SUBS, 0, 0));
            }
        });
    }
    let got: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(got, SUBS);
    let st = h.stats();
    assert_eq!(st.delivered, (SUBS * MSGS) as u64);
    assert_eq!((st.dropped, st.slow_closed), (0, 0));
}

#[test]
fn one_publish_reaches_websocket_and_sse_and_skips_the_excluded() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    let mut a = h.ws();
    let mut b = h.ws();
    let mut sse = Sse::connect(h.addr, None);
    h.wait_for("SSE subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.subscribers(), 3);
    // A client message is published to everyone, the sender included.
    a.send(Message::text("hello\nworld")).unwrap();
    assert_eq!(text(&mut a), "hello\nworld");
    assert_eq!(text(&mut b), "hello\nworld");
    assert_eq!(sse.next(), (None, None, "hello\nworld".to_string()));
    // Excluding a connection; an SSE event name.
    let a_id = h.seen.lock().unwrap().opened[0];
    let r = h.call(move |s| {
        s.publish(
            "room",
            &Publish::text("x").with_exclude(a_id).with_sse_event("chat"),
        )
        .unwrap()
    });
    assert_eq!(r.delivered, 2);
    assert_eq!(text(&mut b), "x");
    assert_eq!(sse.next(), (None, Some("chat".into()), "x".into()));
    // Binary goes to WebSockets only: SSE carries text.
    let r = h.call(|s| s.publish("room", &Publish::binary(&[0, 1, 2])).unwrap());
    assert_eq!(r.delivered, 2);
    for ws in [&mut a, &mut b] {
        assert_eq!(ws.read().unwrap(), Message::binary(vec![0u8, 1, 2]));
    }
    // To everyone, topic or not.
    let r = h.call(|s| s.publish_all(&Publish::text("all")).unwrap());
    assert_eq!(r.delivered, 3);
    assert_eq!(text(&mut a), "all");
    assert_eq!(text(&mut b), "all");
    assert_eq!(sse.next().2, "all");
    // Bad input is an error, not a send.
    let bad = h.call(|s| {
        let invalid = Publish::new(MessageKind::Text, &[0xff, 0xfe]);
        (
            s.publish("room", &invalid).is_err(),
            s.publish("", &Publish::text("x")).is_err(),
            s.publish("room", &Publish::text("x").with_sse_event("a\nb"))
                .is_err(),
            s.publish("nobody", &Publish::text("x")).unwrap().delivered,
        )
    });
    assert_eq!(bad, (true, true, true, 0));
    sse.assert_quiet(Duration::from_millis(100));
}

#[test]
fn leaving_by_unsubscribe_close_or_hang_up() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    let mut a = h.ws();
    let mut b = h.ws();
    let c = h.ws();
    let ids = h.seen.lock().unwrap().opened.clone();
    assert_eq!(h.subscribers(), 3);
    let a_id = ids[0];
    assert!(h.call(move |s| s.unsubscribe(a_id, "room").unwrap()));
    assert!(!h.call(move |s| s.unsubscribe(a_id, "room").unwrap()));
    assert_eq!(h.subscribers(), 2);
    // Closing (client side) and hanging up both leave the topic.
    b.close(None).unwrap();
    drop(c);
    let deadline = Instant::now() + WAIT;
    while h.subscribers() != 0 {
        assert!(Instant::now() < deadline, "closed clients still subscribed");
        std::thread::sleep(Duration::from_millis(2));
    }
    // a still works, off the topic.
    let r = h.call(|s| s.publish("room", &Publish::text("gone")).unwrap());
    assert_eq!(r.delivered, 0);
    assert_eq!(
        h.call(|s| s.stats().topics),
        0,
        "an empty topic is forgotten"
    );
    h.call(move |s| s.send_text(a_id, "direct").unwrap());
    assert_eq!(text(&mut a), "direct");
}

/// A client that never reads: its queue fills once the kernel buffers do.
fn stalled_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = [0u8; 129];
    s.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

fn slow_consumer(policy: SlowConsumerPolicy) {
    const LIMIT: usize = 64 * 1024;
    let mut cfg = Config::new("127.0.0.1:0");
    cfg.slow_consumer_limit = LIMIT;
    cfg.slow_consumer_policy = policy;
    let h = Harness::start(cfg);
    let _stalled = stalled_client(h.addr);
    h.wait_for("stalled client open", |s| s.opened.len() == 1);
    let stalled_id = h.seen.lock().unwrap().opened[0];
    let mut good = h.ws();
    let body = "x".repeat(1000);
    let mut max_buffered = 0;
    // 20 MB in total: far past what the kernel buffers of the stalled
    // client hold, so its queue must hit the limit.
    for round in 0..200 {
        let b = body.clone();
        let (r, st) = h.call(move |s| {
            let mut total = wsrt::Published::default();
            for _ in 0..100 {
                let r = s.publish("room", &Publish::text(&b)).unwrap();
                total.delivered += r.delivered;
                total.dropped += r.dropped;
                total.closed += r.closed;
            }
            (total, s.stats())
        });
        max_buffered = max_buffered.max(st.buffered_bytes);
        assert!(r.delivered >= 100, "round {round}: the good client missed");
        for _ in 0..100 {
            assert_eq!(text(&mut good).len(), 1000);
        }
    }
    let st = h.stats();
    // Bounded: two queues of at most the limit plus one message each.
    assert!(
        max_buffered <= 2 * (LIMIT + 1100),
        "queued {max_buffered} bytes"
    );
    match policy {
        SlowConsumerPolicy::Drop => {
            assert!(st.dropped > 0, "the stalled client was never skipped");
            assert_eq!(st.slow_closed, 0);
            assert_eq!(h.subscribers(), 2, "dropping keeps the subscriber");
        }
        SlowConsumerPolicy::Close => {
            assert_eq!(st.slow_closed, 1);
            assert_eq!(st.dropped, 0);
            h.wait_for("slow close reported", |s| {
                s.closes
                    .iter()
                    .any(|(c, code, _)| *c == stalled_id && *code == 1008)
            });
            assert_eq!(h.subscribers(), 1);
        }
    }
}

#[test]
fn slow_consumer_dropped_while_others_receive() {
    slow_consumer(SlowConsumerPolicy::Drop);
}

#[test]
fn slow_consumer_closed_while_others_receive() {
    slow_consumer(SlowConsumerPolicy::Close);
}

#[test]
fn publish_policy_overrides_the_config() {
    let mut cfg = Config::new("127.0.0.1:0");
    cfg.slow_consumer_limit = 16 * 1024;
    let h = Harness::start(cfg); // config policy: Close
    let _stalled = stalled_client(h.addr);
    h.wait_for("open", |s| s.opened.len() == 1);
    let body = "y".repeat(4000);
    let st = h.call(move |s| {
        for _ in 0..2000 {
            let msg = Publish::text(&body).with_on_slow(SlowConsumerPolicy::Drop);
            s.publish("room", &msg).unwrap();
        }
        s.flush();
        s.stats()
    });
    assert!(st.dropped > 0);
    assert_eq!(st.slow_closed, 0);
    assert_eq!(h.subscribers(), 1);
}

fn history_harness(max_events: usize) -> Harness {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    h.call(move |s| {
        s.set_topic_history(
            "room",
            HistoryLimit {
                max_events,
                max_age: Duration::ZERO,
            },
        )
        .unwrap()
    });
    h
}

fn publish_n(h: &Harness, from: usize, to: usize) -> Vec<u64> {
    h.call(move |s| {
        (from..to)
            .map(|i| {
                let r = s.publish("room", &Publish::text(&format!("e{i}"))).unwrap();
                r.event_id.expect("a topic with history gives ids")
            })
            .collect()
    })
}

#[test]
fn sse_reconnect_gets_exactly_the_missed_events() {
    let h = history_harness(100);
    let mut first = Sse::connect(h.addr, None);
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    let ids = publish_n(&h, 0, 10);
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids increase");
    let mut last = String::new();
    for i in 0..5 {
        let (id, _, data) = first.next();
        assert_eq!(data, format!("e{i}"));
        last = id.unwrap();
    }
    // The client drops after e4 (e5..e9 were sent but it never read them)
    // and events go on without it.
    drop(first);
    publish_n(&h, 10, 13);
    let mut again = Sse::connect(h.addr, Some(&last));
    h.wait_for("resubscribed", |s| s.replays.len() == 2);
    assert_eq!(h.seen.lock().unwrap().replays[1], Replay::Replayed(8));
    for i in 5..13 {
        let (id, event, data) = again.next();
        assert_eq!((event, data), (None, format!("e{i}")));
        assert!(id.is_some());
    }
    // Then live ones, once each.
    publish_n(&h, 13, 14);
    assert_eq!(again.next().2, "e13");
    again.assert_quiet(Duration::from_millis(100));
    // A client that saw everything gets nothing replayed.
    let newest = h.call(|s| s.publish("room", &Publish::text("e14")).unwrap().event_id);
    assert_eq!(again.next().2, "e14");
    let mut current = Sse::connect(h.addr, Some(&newest.unwrap().to_string()));
    h.wait_for("third", |s| s.replays.len() == 3);
    assert_eq!(h.seen.lock().unwrap().replays[2], Replay::Replayed(0));
    current.assert_quiet(Duration::from_millis(100));
}

#[test]
fn sse_history_miss_is_reported_to_the_app() {
    let h = history_harness(3);
    let ids = publish_n(&h, 0, 10);
    // e1 is long gone (only e7..e9 are kept): the app is told.
    let mut sse = Sse::connect(h.addr, Some(&ids[1].to_string()));
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Missed);
    assert_eq!(
        sse.next(),
        (None, Some("snapshot".into()), "full state".into())
    );
    // An id just before the kept ones is fine: e7..e9 replayed.
    let mut ok = Sse::connect(h.addr, Some(&ids[6].to_string()));
    h.wait_for("second", |s| s.replays.len() == 2);
    assert_eq!(h.seen.lock().unwrap().replays[1], Replay::Replayed(3));
    for i in 7..10 {
        assert_eq!(ok.next().2, format!("e{i}"));
    }
    // Ids that are not ours: garbage, from the future, from before start.
    for bad in ["banana", "99999999999999999999", "1"] {
        let n = h.seen.lock().unwrap().replays.len();
        let _c = Sse::connect(h.addr, Some(bad));
        h.wait_for("bad id", |s| s.replays.len() == n + 1);
        assert_eq!(
            *h.seen.lock().unwrap().replays.last().unwrap(),
            Replay::Missed,
            "{bad}"
        );
    }
    sse.assert_quiet(Duration::from_millis(50));
}

#[test]
fn history_is_bounded_by_age() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    h.call(|s| {
        s.set_topic_history(
            "room",
            HistoryLimit {
                max_events: 1000,
                max_age: Duration::from_millis(200),
            },
        )
        .unwrap()
    });
    let ids = publish_n(&h, 0, 3);
    std::thread::sleep(Duration::from_millis(300));
    let _sse = Sse::connect(h.addr, Some(&ids[0].to_string()));
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Missed);
}

#[test]
fn publish_from_another_thread() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    let mut a = h.ws();
    let handle = h.call(|s| s.handle());
    std::thread::spawn(move || {
        handle
            .publish(Some("room"), &Publish::text("from afar"))
            .unwrap();
        assert!(handle
            .publish(Some("room"), &Publish::new(MessageKind::Text, &[0xffu8]))
            .is_err());
    })
    .join()
    .unwrap();
    assert_eq!(text(&mut a), "from afar");
}

/// Keeps `n` events of `topic` (0: turns its history off).
fn set_history(h: &Harness, topic: &'static str, n: usize) {
    h.call(move |s| {
        if n == 0 {
            return s.clear_topic_history(topic).unwrap();
        }
        s.set_topic_history(
            topic,
            HistoryLimit {
                max_events: n,
                max_age: Duration::ZERO,
            },
        )
        .unwrap()
    });
}

fn publish_body(h: &Harness, n: usize, body: String) -> Vec<u64> {
    h.call(move |s| {
        (0..n)
            .map(|_| {
                s.publish("room", &Publish::text(&body))
                    .unwrap()
                    .event_id
                    .unwrap()
            })
            .collect()
    })
}

#[test]
fn a_replay_that_fits_is_not_mistaken_for_a_slow_consumer() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    set_history(&h, "room", 2000);
    // 200 x 4 KB: 800 KB to replay, under the 1 MiB limit.
    let ids = publish_body(&h, 200, "z".repeat(4000));
    let mut sse = Sse::connect(h.addr, Some(&ids[0].to_string()));
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Replayed(199));
    let r = h.call(|s| s.publish("room", &Publish::text("live")).unwrap());
    assert_eq!((r.delivered, r.closed), (1, 0));
    for want in &ids[1..] {
        let (id, _, data) = sse.next();
        assert_eq!((id.unwrap(), data.len()), (want.to_string(), 4000));
    }
    assert_eq!(sse.next().2, "live");
}

#[test]
fn a_replay_too_big_for_the_limit_is_a_miss_with_nothing_queued() {
    let mut cfg = Config::new("127.0.0.1:0");
    cfg.slow_consumer_limit = 16 * 1024;
    let h = Harness::start(cfg);
    set_history(&h, "room", 100);
    let ids = publish_body(&h, 100, "q".repeat(1000));
    let mut sse = Sse::connect(h.addr, Some(&ids[0].to_string()));
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Missed);
    // The snapshot comes first and at once: no part of the history before it.
    let (_, event, _) = sse.next();
    assert_eq!(event.as_deref(), Some("snapshot"));
    let r = h.call(|s| s.publish("room", &Publish::text("live")).unwrap());
    assert_eq!((r.delivered, r.closed), (1, 0));
    assert_eq!(sse.next().2, "live");
}

#[test]
fn history_turned_off_and_on_again_reports_the_gap() {
    let h = Harness::start(Config::new("127.0.0.1:0"));
    let _ws = h.ws(); // keeps "room" alive while history is off
    set_history(&h, "room", 100);
    let x = h.call(|s| {
        s.publish("room", &Publish::text("e0"))
            .unwrap()
            .event_id
            .unwrap()
    });
    set_history(&h, "room", 0);
    h.call(|s| {
        s.publish("room", &Publish::text("e1, published without history"))
            .unwrap()
    });
    set_history(&h, "room", 100);
    let _sse = Sse::connect(h.addr, Some(&x.to_string()));
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Missed);
}

#[test]
fn ids_of_another_server_instance_are_misses() {
    // Two workers (or a server and its restarted self) with the same
    // history: an id of one must not be matched to an event of the other.
    let h1 = history_harness(1000);
    let h2 = history_harness(1000);
    let ids1 = publish_n(&h1, 0, 500);
    let ids2 = publish_n(&h2, 0, 500);
    assert!(
        ids1.iter().all(|i| !ids2.contains(i)),
        "instances share ids"
    );
    for (h, foreign) in [(&h2, ids1[250]), (&h1, ids2[250])] {
        let _sse = Sse::connect(h.addr, Some(&foreign.to_string()));
        h.wait_for("subscribed", |s| s.replays.len() == 1);
        assert_eq!(h.seen.lock().unwrap().replays[0], Replay::Missed);
    }
}

#[test]
fn slow_sse_subscribers_of_a_history_topic_are_closed_not_skipped() {
    let mut cfg = Config::new("127.0.0.1:0");
    cfg.slow_consumer_limit = 16 * 1024;
    cfg.slow_consumer_policy = SlowConsumerPolicy::Drop;
    let h = Harness::start(cfg);
    set_history(&h, "room", 10);
    // A stalled SSE client: never reads.
    let _stalled = Sse::connect(h.addr, None);
    h.wait_for("subscribed", |s| s.replays.len() == 1);
    let body = "s".repeat(4000);
    let st = h.call(move |s| {
        for _ in 0..5000 {
            s.publish("room", &Publish::text(&body)).unwrap();
        }
        s.stats()
    });
    // Skipping an event would let the client resume past it: it is closed,
    // and on reconnecting gets what the history has.
    assert_eq!((st.dropped, st.slow_closed), (0, 1));
    assert_eq!(st.sse_streams, 0);
}
