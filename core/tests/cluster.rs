//! A cluster of servers over a real Redis (Debian's `redis-server`,
//! started here on a free port of 127.0.0.1): publishes cross servers once
//! and in order, Redis going away stops nothing local and is counted, and
//! delivery comes back with it. Clients are tungstenite WebSockets.
//!
//! Without `redis-server` on PATH every test says so loudly and returns
//! (tests/tools/ensure-deps.sh installs it, so `make test` has it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tungstenite::Message;
use wsrt::{
    Config, EventType, Events, HistoryLimit, OptionValue, Publish, Replay, Server, SseEvent, Stats,
};

mod common;
use common::sse::{Sse, SseMsg};

const WAIT: Duration = Duration::from_secs(15);
const TOPIC: &str = "room";

fn have_redis() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "\n*** SKIPPED: redis-server is not installed (run tests/tools/ensure-deps.sh); \
             the cluster tests did not run ***\n"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of our own, without persistence.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let r = Redis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + WAIT;
        while r.client().get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }

    /// SIGTERM, as an operator's restart does; waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            c.wait().unwrap();
        }
    }

    /// Subscribers of a topic's channel, across the cluster.
    fn numsub(&self, topic: &str) -> i64 {
        let mut con = self.client().get_connection().unwrap();
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("wsrt:t:{topic}"))
            .query::<Vec<(String, i64)>>(&mut con)
            .unwrap()
            .remove(0);
        n
    }

    /// Connections other than the one asking.
    fn clients(&self) -> usize {
        let mut con = self.client().get_connection().unwrap();
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        list.lines().count() - 1
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

use common::calls::Call;

/// A server on its own thread: /ws subscribes every WebSocket to "room"
/// and publishes what each sends to it (as the examples' /broadcast).
struct Node {
    addr: SocketAddr,
    /// The loops that opened a WebSocket, and an SSE stream (bit per loop).
    ws_loops: Arc<AtomicU64>,
    sse_loops: Arc<AtomicU64>,
    calls: Sender<Call>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Node {
    fn start(redis_url: &str) -> Node {
        Node::start_with(redis_url, false)
    }

    /// `history`: "room" keeps 1,000 events, and /sse resumes it from the
    /// client's Last-Event-ID, with `event: snapshot` when it cannot.
    fn start_with(redis_url: &str, history: bool) -> Node {
        Node::start_loops(redis_url, history, 1)
    }

    /// As `start_with`, on `workers` loops.
    fn start_loops(redis_url: &str, history: bool, workers: i128) -> Node {
        let mut config = Config::new("127.0.0.1:0").websocket("/ws").sse("/sse");
        config
            .set("cluster_redis_url", OptionValue::Str(redis_url))
            .unwrap();
        config.set("workers", OptionValue::Int(workers)).unwrap();
        let mut server = Server::bind(config).expect("bind");
        if history {
            let limit = HistoryLimit {
                max_events: 1000,
                max_age: Duration::ZERO,
            };
            server.set_topic_history(TOPIC, limit).unwrap();
        }
        let addr = server.local_addr();
        let (calls, call_rx) = mpsc::channel::<Call>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (ws_loops, sse_loops) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (ws_seen, sse_seen) = (ws_loops.clone(), sse_loops.clone());
        let thread = std::thread::spawn(move || {
            let mut events = Events::new();
            while !stop2.load(Ordering::SeqCst) {
                server
                    .poll(&mut events, Some(Duration::from_millis(5)))
                    .unwrap();
                for ev in &events {
                    let on_loop = 1 << ev.conn.loop_index();
                    match ev.kind {
                        EventType::Open => ws_seen.fetch_or(on_loop, Ordering::SeqCst),
                        EventType::SseOpen => sse_seen.fetch_or(on_loop, Ordering::SeqCst),
                        _ => 0,
                    };
                    match ev.kind {
                        EventType::Open => {
                            server.subscribe(ev.conn, TOPIC).unwrap();
                        }
                        EventType::Message => {
                            let data = events.payload(ev).to_vec();
                            let mut msg = Publish::new(ev.message_kind(), &data);
                            if data.starts_with(b"not-me:") {
                                msg = msg.with_exclude(ev.conn); // to all but the sender
                            }
                            server.publish(TOPIC, &msg).unwrap();
                        }
                        EventType::SseOpen
                            if server.resume(ev.conn, TOPIC, None).unwrap() == Replay::Missed =>
                        {
                            let snapshot = SseEvent {
                                event: Some("snapshot"),
                                data: "full state",
                                ..SseEvent::default()
                            };
                            server.sse_send(ev.conn, &snapshot).unwrap();
                        }
                        _ => {}
                    }
                }
                while let Ok(call) = call_rx.try_recv() {
                    call(&mut server);
                }
            }
        });
        Node {
            addr,
            ws_loops,
            sse_loops,
            calls,
            stop,
            thread: Some(thread),
        }
    }

    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        common::calls::call(&self.calls, f)
    }

    fn stats(&self) -> Stats {
        self.call(|s| s.stats())
    }

    /// Waits until `pred` holds of the stats.
    fn wait_stats(&self, what: &str, pred: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.stats();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn client(&self) -> Client {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let (ws, resp) = tungstenite::client(format!("ws://{}/ws", self.addr), tcp).unwrap();
        assert_eq!(resp.status(), 101);
        Client {
            ws,
            got: Vec::new(),
        }
    }

    /// Stops the loop and drops the server (and its end of the bus).
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Client {
    ws: tungstenite::WebSocket<TcpStream>,
    /// Every text received, in order.
    got: Vec<String>,
}

impl Client {
    fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).unwrap();
    }

    /// Reads what has arrived (returns when a read times out).
    fn pump(&mut self) {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => self.got.push(t.to_string()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return
                }
                Err(e) => panic!("client read: {e}"),
            }
        }
    }

    /// Reads until `pred` holds of what arrived.
    fn until(&mut self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !pred(&self.got) {
            assert!(Instant::now() < deadline, "{what}: got {:?}", self.got);
            self.pump();
        }
    }

    /// What arrived from `prefix` (`"a:"` for "a:0", "a:1", ...), in order.
    fn from(&self, prefix: &str) -> Vec<&str> {
        self.got
            .iter()
            .filter(|m| m.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

/// Sends probes from each client until every client has heard a probe
/// from every client: all servers then subscribe to the topic on Redis.
fn link(clients: &mut [&mut Client]) {
    // Probes of earlier links do not count.
    static LINKS: AtomicUsize = AtomicUsize::new(0);
    let link = LINKS.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + WAIT;
    for round in 0.. {
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&format!("probe:{link}:{i}:{round}"));
        }
        for c in clients.iter_mut() {
            c.pump();
        }
        let linked = clients
            .iter()
            .all(|c| (0..clients.len()).all(|i| !c.from(&format!("probe:{link}:{i}:")).is_empty()));
        if linked {
            return;
        }
        assert!(Instant::now() < deadline, "servers never linked");
    }
}

/// Checks that each of `senders` reached `c` exactly `n` times, in order,
/// once `c` has got each sender's end marker.
fn check_exactly_once(c: &mut Client, senders: &[&str], n: usize) {
    c.until("every end marker", |got| {
        senders
            .iter()
            .all(|s| got.iter().any(|m| *m == format!("{s}end")))
    });
    for s in senders {
        let want: Vec<String> = (0..n)
            .map(|i| format!("{s}{i}"))
            .chain([format!("{s}end")])
            .collect();
        assert_eq!(c.from(s), want, "what {s} sent, once each and in order");
    }
}

fn send_all(c: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        c.send(&format!("{prefix}{i}"));
    }
    c.send(&format!("{prefix}end"));
}

#[test]
fn a_publish_reaches_every_server_once_and_in_order() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let (a, b, c) = (
        Node::start(&redis.url()),
        Node::start(&redis.url()),
        Node::start(&redis.url()),
    );
    let (mut a1, mut a2, mut b1, mut c1) = (a.client(), a.client(), b.client(), c.client());
    link(&mut [&mut a1, &mut b1, &mut c1]);
    let n = 300;
    // Interleaved from three servers.
    for i in 0..n {
        a1.send(&format!("a:{i}"));
        b1.send(&format!("b:{i}"));
        c1.send(&format!("c:{i}"));
    }
    a1.send("a:end");
    b1.send("b:end");
    c1.send("c:end");
    for cl in [&mut a1, &mut a2, &mut b1, &mut c1] {
        check_exactly_once(cl, &["a:", "b:", "c:"], n);
    }
    // Remote deliveries are not forwarded again: every server sent to the
    // bus exactly what was published on it.
    for node in [&a, &b, &c] {
        let s = node.wait_stats("all sent to Redis", |s| s.cluster_published == s.published);
        assert_eq!(s.cluster_dropped, 0, "{s:?}");
        assert!(s.cluster_received >= 2 * (n as u64 + 1), "{s:?}");
    }
    assert_eq!(redis.numsub(TOPIC), 3);
}

#[test]
fn the_last_subscriber_leaving_unsubscribes_and_stopping_disconnects() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let mut a = Node::start(&redis.url());
    let mut b = Node::start(&redis.url());
    // Each server: a publisher and a subscriber connection.
    let deadline = Instant::now() + WAIT;
    while redis.clients() != 4 {
        assert!(
            Instant::now() < deadline,
            "4 connections: {}",
            redis.clients()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut a1, mut b1) = (a.client(), b.client());
    link(&mut [&mut a1, &mut b1]);
    assert_eq!(redis.numsub(TOPIC), 2);
    drop(b1);
    b.wait_stats("b's client gone", |s| s.websockets == 0);
    let deadline = Instant::now() + WAIT;
    while redis.numsub(TOPIC) != 1 {
        assert!(Instant::now() < deadline, "b left the topic's channel");
        std::thread::sleep(Duration::from_millis(10));
    }
    // a goes on alone.
    a1.send("alone");
    a1.until("its own publish", |got| got.iter().any(|m| m == "alone"));
    a.wait_stats("sent", |s| s.cluster_published == s.published);
    a.stop();
    b.stop();
    let deadline = Instant::now() + WAIT;
    while redis.clients() != 0 {
        assert!(
            Instant::now() < deadline,
            "stopped servers close their connections: {}",
            redis.clients()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn redis_going_away_stops_nothing_local_and_delivery_comes_back() {
    if !have_redis() {
        return;
    }
    let mut redis = Redis::start(free_port());
    let (a, b) = (Node::start(&redis.url()), Node::start(&redis.url()));
    let (mut a1, mut a2, mut b1) = (a.client(), a.client(), b.client());
    link(&mut [&mut a1, &mut b1]);
    redis.stop();
    // Local delivery goes on; what cannot reach Redis is counted.
    let deadline = Instant::now() + WAIT;
    let mut sent = 0;
    while a.stats().cluster_dropped == 0 {
        assert!(Instant::now() < deadline, "no drop counted");
        a1.send(&format!("down:{sent}"));
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    a1.send("down:end");
    let want: Vec<String> = (0..sent)
        .map(|i| format!("down:{i}"))
        .chain(["down:end".to_string()])
        .collect();
    a2.until("every local publish", |got| {
        got.iter().any(|m| m == "down:end")
    });
    assert_eq!(a2.from("down:"), want);
    a.wait_stats("every publish sent or dropped", |s| {
        s.published == s.cluster_published + s.cluster_dropped
    });
    // Back on the same port: both servers reconnect and subscribe anew.
    let redis = Redis::start(redis.port);
    link(&mut [&mut a1, &mut b1]);
    assert!(
        b1.from("down:").is_empty(),
        "nothing sent while Redis was away arrives"
    );
    send_all(&mut b1, "b:", 100);
    send_all(&mut a1, "a:", 100);
    for cl in [&mut a1, &mut a2, &mut b1] {
        check_exactly_once(cl, &["a:", "b:"], 100);
    }
    let s = a.stats();
    assert!(s.cluster_dropped >= 1 && s.cluster_received >= 101, "{s:?}");
    drop(redis);
}

#[test]
fn an_unreachable_redis_at_bind_is_no_error() {
    if !have_redis() {
        return;
    }
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let a = Node::start(&url);
    let mut a1 = a.client();
    send_all(&mut a1, "a:", 5);
    check_exactly_once(&mut a1, &["a:"], 5);
    let s = a.wait_stats("six drops", |s| s.cluster_dropped == 6);
    assert_eq!((s.published, s.cluster_published), (6, 0));
    // Redis comes: the server connects to it.
    let _redis = Redis::start(port);
    let b = Node::start(&url);
    let mut b1 = b.client();
    link(&mut [&mut a1, &mut b1]);
}

#[test]
fn a_bad_url_is_refused_at_bind() {
    for (url, why) in [
        ("http://127.0.0.1:6379/", "not a redis URL"),
        ("rediss://127.0.0.1:6379/", "TLS"),
        ("redis://", "missing hostname"),
        ("127.0.0.1:6379", "did not parse"),
        ("redis://127.0.0.1:6379/x", "database number"),
    ] {
        let mut c = Config::new("127.0.0.1:0");
        c.set_text("cluster_redis_url", url).unwrap();
        let err = Server::bind(c).err().expect(url).to_string();
        assert!(
            err.contains(&format!("cluster_redis_url {url:?} is not a Redis URL")),
            "{url}: {err}"
        );
        assert!(
            err.to_lowercase().contains(&why.to_lowercase()),
            "{url}: {err}"
        );
    }
    let mut c = Config::new("127.0.0.1:0");
    let err = c
        .set("clusterRedisUrl", OptionValue::Int(6379))
        .unwrap_err()
        .to_string();
    assert!(err.contains("clusterRedisUrl must be a string"), "{err}");
    // A refusal at bind names the option as it was set.
    c.set("clusterRedisUrl", OptionValue::Str("http://h/"))
        .unwrap();
    let err = Server::bind(c.clone()).err().unwrap().to_string();
    assert!(
        err.starts_with("clusterRedisUrl \"http://h/\" is not a Redis URL"),
        "{err}"
    );
    c.set("clusterRedisUrl", OptionValue::Str("redis://h/"))
        .unwrap();
    assert_eq!(c.cluster.redis_url, "redis://h/");
    c.set("cluster_redis_url", OptionValue::Default).unwrap();
    assert_eq!(c.cluster.redis_url, "");
}

/// An SSE client that heard every text of `want` (and nothing else but
/// probes) returns their ids.
fn sse_texts(s: &mut Sse, want: &[String]) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let (id, event, data): SseMsg = s.next();
        assert_eq!(event, None, "{data}");
        if data.starts_with("probe:") {
            continue;
        }
        ids.push(id.expect("an id").parse::<u64>().unwrap());
        got.push(data);
    }
    assert_eq!(got, want);
    ids
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Two servers on `redis` whose "room" keeps history.
fn history_pair(redis: &Redis) -> (Node, Node) {
    (
        Node::start_with(&redis.url(), true),
        Node::start_with(&redis.url(), true),
    )
}

/// A cluster id: the epoch's top bit set, exact as a JavaScript number.
fn is_cluster_id(id: u64) -> bool {
    (1 << 52..1 << 53).contains(&id)
}

#[test]
fn an_sse_client_resumes_on_another_server_with_exactly_what_it_missed() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let (a, b) = history_pair(&redis);
    let (mut a1, mut b1) = (a.client(), b.client());
    link(&mut [&mut a1, &mut b1]);
    let mut s = Sse::connect(a.addr, None);
    // Published on both servers; the SSE stream is on a.
    let (seen_a, seen_b) = (texts("x:", 3), texts("w:", 3));
    send_all(&mut a1, "x:", 2);
    a1.until("x:end", |g| g.iter().any(|m| m == "x:end"));
    send_all(&mut b1, "w:", 2);
    b1.until("w:end", |g| g.iter().any(|m| m == "w:end"));
    let mut seen: Vec<String> = seen_a[..2].to_vec();
    seen.push("x:end".into());
    seen.extend(seen_b[..2].iter().cloned());
    seen.push("w:end".into());
    let ids = sse_texts(&mut s, &seen);
    assert!(ids.iter().all(|&i| is_cluster_id(i)), "{ids:?}");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "one sequence: {ids:?}"
    );
    let last_seen = *ids.last().unwrap();
    drop(s);
    // Missed by the client: publishes on both servers, interleaved.
    for i in 0..5 {
        a1.send(&format!("y:{i}"));
        b1.send(&format!("z:{i}"));
    }
    a1.send("y:end");
    b1.send("z:end");
    a1.until("both ends", |g| {
        g.iter().any(|m| m == "y:end") && g.iter().any(|m| m == "z:end")
    });
    b1.until("both ends", |g| {
        g.iter().any(|m| m == "y:end") && g.iter().any(|m| m == "z:end")
    });
    // Every server delivered them in the one order Redis gave them.
    let order = |c: &Client| -> Vec<String> {
        c.got
            .iter()
            .filter(|m| m.starts_with("y:") || m.starts_with("z:"))
            .cloned()
            .collect()
    };
    let missed = order(&a1);
    assert_eq!(missed, order(&b1), "the same order on every server");
    // Resumed on b, and on a: exactly the missed events, with the ids a
    // gave the client's first stream (one sequence, on every server).
    for node in [&b, &a] {
        let mut again = Sse::connect(node.addr, Some(&last_seen.to_string()));
        let ids = sse_texts(&mut again, &missed);
        let want: Vec<u64> = (1..=missed.len() as u64).map(|i| last_seen + i).collect();
        assert_eq!(ids, want);
        // And then live, next in line.
        a1.send("live");
        let next = sse_texts(&mut again, &["live".to_string()]);
        assert!(next[0] > want[want.len() - 1]);
    }
    // An id from the future (or another epoch) is a miss: a snapshot.
    let mut forged = Sse::connect(b.addr, Some(&(last_seen + 1_000_000).to_string()));
    assert_eq!(forged.next().1.as_deref(), Some("snapshot"));
    for node in [&a, &b] {
        let st = node.stats();
        assert_eq!(st.cluster_dropped, 0, "{st:?}");
    }
}

/// Publishes `prefix:0`, `prefix:1`, ... until the SSE stream gets one
/// with a cluster id (Redis relays the topic to its server); returns it.
fn first_sequenced(c: &mut Client, s: &mut Sse, prefix: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    (0..)
        .map(|k| {
            assert!(Instant::now() < deadline, "never sequenced");
            c.send(&format!("{prefix}:{k}"));
            sse_texts(s, &[format!("{prefix}:{k}")])[0]
        })
        .find(|&id| is_cluster_id(id))
        .unwrap()
}

#[test]
fn while_redis_is_away_a_topic_with_history_is_served_locally_and_old_ids_miss() {
    if !have_redis() {
        return;
    }
    let port = free_port();
    let mut redis = Redis::start(port);
    let a = Node::start_with(&redis.url(), true);
    let mut a1 = a.client();
    link(&mut [&mut a1]);
    let mut s = Sse::connect(a.addr, None);
    let before = first_sequenced(&mut a1, &mut s, "before");
    redis.stop();
    // Local clients are served, with ids of this server's own.
    send_all(&mut a1, "during:", 3);
    a1.until("during:end", |g| g.iter().any(|m| m == "during:end"));
    let mut during = texts("during:", 3);
    during.push("during:end".into());
    let ids = sse_texts(&mut s, &during);
    assert!(ids.iter().all(|&i| i < 1 << 52), "{ids:?}");
    a.wait_stats("drops counted", |st| st.cluster_dropped > 0);
    // The mirror lacks them: a client that last saw `before` starts over.
    let mut old = Sse::connect(a.addr, Some(&before.to_string()));
    assert_eq!(old.next().1.as_deref(), Some("snapshot"));
    // Redis back (empty): once it relays the topic again, a new epoch.
    let redis = Redis::start(port);
    let after = first_sequenced(&mut a1, &mut s, "after");
    assert_ne!(after >> 33, before >> 33, "{after} after {before}");
    let mut fresh = Sse::connect(a.addr, Some(&after.to_string()));
    a1.send("next");
    assert_eq!(
        sse_texts(&mut fresh, &["next".to_string()]),
        vec![after + 1]
    );
    drop(redis);
}

/// Waits until `node` counts `want` subscribers of "room" in the cluster.
fn wait_cluster_count(node: &Node, want: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = node.call(|s| s.cluster_subscriber_count(TOPIC));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster count {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscriber_counts_add_up_across_the_cluster() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let (a, mut b, c) = (
        Node::start(&redis.url()),
        Node::start(&redis.url()),
        Node::start(&redis.url()),
    );
    let a_clients: Vec<Client> = (0..2).map(|_| a.client()).collect();
    let mut b_clients: Vec<Client> = (0..3).map(|_| b.client()).collect();
    for node in [&a, &b, &c] {
        wait_cluster_count(node, 5);
    }
    assert_eq!(
        a.call(|s| s.subscriber_count(TOPIC)),
        2,
        "local stays local"
    );
    assert_eq!(c.call(|s| s.subscriber_count(TOPIC)), 0);
    b_clients.pop();
    for node in [&a, &b, &c] {
        wait_cluster_count(node, 4);
    }
    // A server that stops says so: the others drop its count at once
    // (not after the 5 s a silent one takes).
    let stopped = Instant::now();
    b.stop();
    for node in [&a, &c] {
        wait_cluster_count(node, 2);
    }
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopped.elapsed()
    );
    drop((a_clients, b_clients));
}

#[test]
fn a_server_started_later_fills_its_history_from_redis() {
    later_server_fills_its_history(1);
}

#[test]
fn a_server_of_two_loops_started_later_fills_both_histories_from_redis() {
    later_server_fills_its_history(2);
}

/// b, on `workers` loops, starts after a published: every loop of b
/// replays what it read from Redis.
fn later_server_fills_its_history(workers: i128) {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let a = Node::start_with(&redis.url(), true);
    let mut a1 = a.client();
    // As in the other history tests: a's publishes come back from Redis
    // before the test's own are sent.
    link(&mut [&mut a1]);
    let mut s = Sse::connect(a.addr, None);
    let seen = first_sequenced(&mut a1, &mut s, "seen");
    let missed = texts("k:", 5);
    for m in &missed {
        a1.send(m);
    }
    let ids = sse_texts(&mut s, &missed);
    // b starts after all of it: what it can replay, it read from Redis.
    let b = Node::start_loops(&redis.url(), true, workers);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = Sse::connect(b.addr, Some(&seen.to_string()));
        let (id, event, data) = again.next();
        if event.as_deref() == Some("snapshot") {
            // Not filled yet (b is still subscribing or reading).
            assert!(Instant::now() < deadline, "b never filled its history");
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        assert_eq!((id, data), (Some(ids[0].to_string()), missed[0].clone()));
        assert_eq!(sse_texts(&mut again, &missed[1..]), ids[1..]);
        break;
    }
    // Every loop got the read (resumes until each loop has served one).
    let every_loop = (1u64 << workers) - 1;
    b.sse_loops.store(0, Ordering::SeqCst);
    while b.sse_loops.load(Ordering::SeqCst) != every_loop {
        assert!(Instant::now() < deadline, "every resume on one loop");
        let mut again = Sse::connect(b.addr, Some(&seen.to_string()));
        assert_eq!(sse_texts(&mut again, &missed), ids);
    }
    // And an id older than what Redis keeps (1,000 events here: all of
    // them) is still exact: from the very first sequenced event.
    let mut all = Sse::connect(b.addr, Some(&(seen - 1).to_string()));
    let first = all.next();
    assert_eq!(first.0, Some(seen.to_string()), "{first:?}");
}

#[test]
fn a_sequenced_publish_still_excludes_its_sender() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let (a, b) = history_pair(&redis);
    let (mut a1, mut a2, mut b1) = (a.client(), a.client(), b.client());
    link(&mut [&mut a1, &mut b1]);
    let mut s = Sse::connect(a.addr, None);
    first_sequenced(&mut a1, &mut s, "sequenced");
    // Comes back from Redis to a, where a1 is left out.
    a1.send("not-me:hello");
    a1.send("mark");
    sse_texts(&mut s, &["not-me:hello".to_string(), "mark".to_string()]);
    for c in [&mut a2, &mut b1] {
        c.until("both", |g| g.iter().any(|m| m == "mark"));
        assert!(c.got.iter().any(|m| m == "not-me:hello"));
    }
    a1.until("its mark", |g| g.iter().any(|m| m == "mark"));
    assert!(!a1.got.iter().any(|m| m == "not-me:hello"), "{:?}", a1.got);
}

#[test]
fn a_server_of_two_loops_is_one_member_of_the_cluster() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(free_port());
    let a = Node::start_loops(&redis.url(), true, 2);
    let b = Node::start_with(&redis.url(), true);
    // WebSockets on a until both of its loops serve some.
    let mut on_a = vec![a.client()];
    let deadline = Instant::now() + WAIT;
    while a.ws_loops.load(Ordering::SeqCst) != 0b11 {
        assert!(
            Instant::now() < deadline && on_a.len() < 64,
            "one loop took all"
        );
        on_a.push(a.client());
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut b1 = b.client();
    let mut all: Vec<&mut Client> = on_a.iter_mut().chain([&mut b1]).collect();
    link(&mut all);
    // One member: one subscription to the topic.
    assert_eq!(redis.numsub(TOPIC), 2);
    for node in [&a, &b] {
        wait_cluster_count(node, all.len());
    }

    // Every client sends (so both loops of a publish); everyone hears
    // every sender once and in order, in the one order Redis gave.
    let n = 40;
    let prefixes: Vec<String> = (0..all.len()).map(|i| format!("s{i}:")).collect();
    for (c, p) in all.iter_mut().zip(&prefixes) {
        send_all(c, p, n);
    }
    let senders: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    for c in all.iter_mut() {
        check_exactly_once(c, &senders, n);
    }
    let sent = |c: &Client| -> Vec<String> {
        c.got
            .iter()
            .filter(|m| m.starts_with('s'))
            .cloned()
            .collect()
    };
    let order = sent(all[0]);
    assert!(all.iter().all(|c| sent(c) == order), "one order everywhere");
    drop(all);
    let st = a.wait_stats("all sent", |s| s.cluster_published == s.published);
    assert_eq!(st.cluster_dropped, 0, "{st:?}");

    // An SSE client of b leaves, misses events published on both servers,
    // and resumes on a, on either loop: exactly what it missed.
    let mut s = Sse::connect(b.addr, None);
    send_all(&mut b1, "x:", 2);
    let mut seen = texts("x:", 2);
    seen.push("x:end".into());
    let last_seen = *sse_texts(&mut s, &seen).last().unwrap();
    assert!(is_cluster_id(last_seen), "{last_seen}");
    drop(s);
    let spread = on_a.len();
    for i in 0..5 {
        on_a[i % spread].send(&format!("y:{i}"));
        b1.send(&format!("z:{i}"));
    }
    let is_missed = |m: &String| m.starts_with("y:") || m.starts_with("z:");
    b1.until("all ten", |g| {
        g.iter().filter(|m| is_missed(m)).count() == 10
    });
    let missed: Vec<String> = b1.got.iter().filter(|m| is_missed(m)).cloned().collect();
    let want: Vec<u64> = (1..=missed.len() as u64).map(|i| last_seen + i).collect();
    let deadline = Instant::now() + WAIT;
    while a.sse_loops.load(Ordering::SeqCst) != 0b11 {
        assert!(Instant::now() < deadline, "every resume on one loop");
        let mut again = Sse::connect(a.addr, Some(&last_seen.to_string()));
        assert_eq!(sse_texts(&mut again, &missed), want);
    }
    for node in [&a, &b] {
        let st = node.stats();
        assert_eq!(st.cluster_dropped, 0, "{st:?}");
    }
}
