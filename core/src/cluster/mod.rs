//! A cluster of servers over Redis publish/subscribe: a publish on one
//! server reaches the subscribers of every server.
//!
//! Beside the loop run two threads with a connection each (redis-rs's
//! synchronous client; the loop never waits on Redis):
//!
//! - the publisher takes the loop's publishes from a bounded queue and
//!   PUBLISHes them to `wsrt:t:<topic>` (`wsrt:all` for a publish to
//!   everyone), everything queued in one pipelined round trip;
//! - the subscriber listens on `wsrt:all` and on the channel of every topic
//!   with local subscribers (the loop tells it when a topic gains its first
//!   or loses its last one), and hands what other servers published to the
//!   loop, which delivers it locally and never forwards it again.
//!
//! Every message carries its server's random node id ([`envelope`]): a
//! server skips its own (it delivered them when they were published), so
//! each subscriber gets a message once, in the order its server published.
//!
//! Faults: a publish that cannot be queued (queue full) or sent (no
//! connection, connection lost) is counted as dropped, never kept; both
//! threads reconnect with back-off (100 ms doubling to 2 s) and the
//! subscriber subscribes anew to every current topic. What other servers
//! publish while the subscriber is away is not delivered here.

mod envelope;

use crate::config::SlowConsumerPolicy;
use crate::error::{Error, Result};
use crate::proto::MessageKind;
use crate::pubsub::Publish;
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Publishes waiting for the publisher thread; past this they are dropped.
const QUEUE: usize = 65_536;
/// Most publishes in one pipelined round trip.
const MAX_BATCH: usize = 1024;
/// Channels per SUBSCRIBE when subscribing anew.
const SUBSCRIBE_CHUNK: usize = 512;
/// How often the subscriber looks at topic changes while no message comes.
const POLL: Duration = Duration::from_millis(50);
/// Connecting, and any command's reply: longer is a lost connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long stopping waits for the threads.
const STOP_WAIT: Duration = Duration::from_secs(2);

const ALL: &str = "wsrt:all";
const TOPIC_PREFIX: &str = "wsrt:t:";

/// A publish from another server, for the loop to deliver locally.
#[derive(Debug)]
pub(crate) struct Remote {
    pub topic: Option<String>,
    pub kind: MessageKind,
    pub data: Bytes,
    pub sse_event: Option<String>,
    pub on_slow: Option<SlowConsumerPolicy>,
}

/// Hands a [`Remote`] to the loop; false once the loop is gone.
pub(crate) type Sink = Box<dyn Fn(Remote) -> bool + Send>;

/// The cluster's counters in `Stats`.
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
}

/// `(cluster_published, cluster_received, cluster_dropped)`.
pub(crate) type ClusterStats = (u64, u64, u64);

struct Outgoing {
    channel: String,
    envelope: Vec<u8>,
}

enum Change {
    Join(String),
    Leave(String),
}

/// This server's end of the bus; dropping it stops both threads.
pub(crate) struct Cluster {
    node: u64,
    queue: Option<SyncSender<Outgoing>>,
    changes: Option<Sender<Change>>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// Disconnected once both threads have ended.
    done: Receiver<()>,
}

/// The client for `url`, or a clear refusal naming the option as `name`
/// (the URL is checked when the server binds; Redis need not be up).
fn client(url: &str, name: &str) -> Result<redis::Client> {
    redis::Client::open(url).map_err(|e| {
        // redis-rs shows "what - Kind: detail"; the kind is noise here.
        let shown = e.to_string();
        let mut why = shown
            .split("- ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Some(d) = e.detail() {
            why = format!("{why}: {d}");
        }
        Error::invalid(format!(
            "{name} {url:?} is not a Redis URL (redis://host:port/ or \
             redis+unix:///path): {why}"
        ))
    })
}

fn node_id() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        use std::hash::{BuildHasher, Hasher};
        // std seeds RandomState from the OS per process.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        return h.finish();
    }
    u64::from_le_bytes(b)
}

impl Cluster {
    /// Checks `url` (the option's value, named `name` in a refusal) and
    /// starts both threads; `sink` takes what other servers publish.
    pub fn start(url: &str, name: &str, sink: Sink) -> Result<Cluster> {
        let client = client(url, name)?;
        let node = node_id();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (queue, queued) = mpsc::sync_channel(QUEUE);
        let (changes, changed) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let publisher = Publisher {
            client: client.clone(),
            queue: queued,
            counters: counters.clone(),
            stop: stop.clone(),
            _done: done_tx.clone(),
        };
        let subscriber = Subscriber {
            client,
            changes: changed,
            sink,
            node,
            counters: counters.clone(),
            stop: stop.clone(),
            wanted: HashSet::new(),
            backoff: Backoff::default(),
            _done: done_tx,
        };
        thread::Builder::new()
            .name("wsrt-cluster-pub".into())
            .spawn(move || publisher.run())?;
        thread::Builder::new()
            .name("wsrt-cluster-sub".into())
            .spawn(move || subscriber.run())?;
        Ok(Cluster {
            node,
            queue: Some(queue),
            changes: Some(changes),
            counters,
            stop,
            done,
        })
    }

    /// Queues a local publish for the other servers (never blocks: a full
    /// queue drops it, counted).
    pub fn publish(&self, topic: Option<&str>, msg: &Publish<'_>) {
        let Some(queue) = &self.queue else {
            return;
        };
        let channel = match topic {
            Some(t) => format!("{TOPIC_PREFIX}{t}"),
            None => ALL.to_string(),
        };
        let envelope = envelope::Envelope {
            node: self.node,
            kind: msg.kind,
            sse_event: msg.sse_event,
            on_slow: msg.on_slow,
            payload: msg.data,
        }
        .encode();
        match queue.try_send(Outgoing { channel, envelope }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `topic` gained its first local subscriber.
    pub fn joined(&self, topic: &str) {
        if let Some(c) = &self.changes {
            let _ = c.send(Change::Join(topic.to_string()));
        }
    }

    /// `topic` lost its last local subscriber.
    pub fn left(&self, topic: &str) {
        if let Some(c) = &self.changes {
            let _ = c.send(Change::Leave(topic.to_string()));
        }
    }

    pub fn stats(&self) -> ClusterStats {
        let c = &self.counters;
        (
            c.published.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
        )
    }

    /// Stops both threads: the publisher sends what is queued if it is
    /// connected, the subscriber leaves. Waits for them at most
    /// `STOP_WAIT` (a thread stuck on a hung Redis ends on its own when
    /// its timeout fires).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.queue = None;
        self.changes = None;
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// When to try connecting again: 100 ms after a failure, doubling to 2 s
/// while failures follow, back to 100 ms once connected.
struct Backoff {
    delay: Duration,
    next: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: BACKOFF_FIRST,
            next: None,
        }
    }
}

impl Backoff {
    fn due(&self) -> bool {
        self.next.is_none_or(|n| Instant::now() >= n)
    }

    fn failed(&mut self) {
        self.next = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }

    fn connected(&mut self) {
        *self = Backoff::default();
    }
}

struct Publisher {
    client: redis::Client,
    queue: Receiver<Outgoing>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    _done: Sender<()>,
}

impl Publisher {
    /// Until the loop lets go of the queue and it is empty.
    fn run(self) {
        // Connected before the first publish, if Redis is there.
        let mut con: Option<redis::Connection> = connect(&self.client).ok();
        let mut backoff = Backoff::default();
        let mut batch: Vec<Outgoing> = Vec::new();
        while let Ok(first) = self.queue.recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if con.is_none() && backoff.due() && !self.stop.load(Ordering::Acquire) {
                match connect(&self.client) {
                    Ok(c) => {
                        con = Some(c);
                        backoff.connected();
                    }
                    Err(_) => backoff.failed(),
                }
            }
            let sent = con.as_mut().is_some_and(|c| {
                let mut p = redis::pipe();
                for m in &batch {
                    p.cmd("PUBLISH")
                        .arg(&m.channel)
                        .arg(&m.envelope[..])
                        .ignore();
                }
                p.query::<()>(c).is_ok()
            });
            let n = batch.len() as u64;
            batch.clear();
            if sent {
                self.counters.published.fetch_add(n, Ordering::Relaxed);
            } else {
                // Not confirmed: some may have reached Redis before the
                // connection broke, but none is sent twice.
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
                if con.take().is_some() {
                    backoff.failed();
                }
            }
        }
    }
}

/// Why the subscriber stopped listening.
enum Ended {
    /// The server is stopping or gone.
    Stop,
    /// The connection failed: connect again.
    Lost,
}

struct Subscriber {
    client: redis::Client,
    changes: Receiver<Change>,
    sink: Sink,
    node: u64,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// Topics with local subscribers.
    wanted: HashSet<String>,
    backoff: Backoff,
    _done: Sender<()>,
}

fn channel_of(topic: &str) -> String {
    format!("{TOPIC_PREFIX}{topic}")
}

impl Subscriber {
    fn run(mut self) {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let ended = match connect(&self.client) {
                Ok(mut con) => self.listen(&mut con),
                Err(_) => Ended::Lost,
            };
            match ended {
                Ended::Stop => return,
                Ended::Lost => {
                    self.backoff.failed();
                    if !self.wait() {
                        return;
                    }
                }
            }
        }
    }

    /// Waits out the back-off, keeping up with topic changes; false if
    /// the server stops meanwhile.
    fn wait(&mut self) -> bool {
        let until = self.backoff.next.unwrap_or_else(Instant::now);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match self.changes.recv_timeout(left) {
                Ok(c) => {
                    self.apply(c);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return true,
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Records a change in `wanted`; returns its topic.
    fn apply(&mut self, c: Change) -> String {
        match c {
            Change::Join(t) => {
                self.wanted.insert(t.clone());
                t
            }
            Change::Leave(t) => {
                self.wanted.remove(&t);
                t
            }
        }
    }

    fn listen(&mut self, con: &mut redis::Connection) -> Ended {
        let mut ps = con.as_pubsub();
        // Replies within IO_TIMEOUT while (un)subscribing; POLL while
        // waiting for messages, to look at topic changes.
        let mut subscribed: HashSet<String> = HashSet::new();
        let initial: Vec<String> = std::iter::once(ALL.to_string())
            .chain(self.wanted.iter().map(|t| channel_of(t)))
            .collect();
        let ok = ps.set_read_timeout(Some(IO_TIMEOUT)).is_ok()
            && initial
                .chunks(SUBSCRIBE_CHUNK)
                .all(|c| ps.subscribe(c).is_ok())
            && ps.set_read_timeout(Some(POLL)).is_ok();
        if !ok {
            return Ended::Lost;
        }
        subscribed.extend(self.wanted.iter().cloned());
        self.backoff.connected();
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ended::Stop;
            }
            let mut touched: Vec<String> = Vec::new();
            loop {
                match self.changes.try_recv() {
                    Ok(c) => touched.push(self.apply(c)),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ended::Stop,
                }
            }
            if !touched.is_empty() {
                touched.sort_unstable();
                touched.dedup();
                let (mut sub, mut unsub) = (Vec::new(), Vec::new());
                for t in touched {
                    match (self.wanted.contains(&t), subscribed.contains(&t)) {
                        (true, false) => sub.push(t),
                        (false, true) => unsub.push(t),
                        _ => {}
                    }
                }
                let channels = |ts: &[String]| ts.iter().map(|t| channel_of(t)).collect::<Vec<_>>();
                let ok = ps.set_read_timeout(Some(IO_TIMEOUT)).is_ok()
                    && (sub.is_empty() || ps.subscribe(channels(&sub)).is_ok())
                    && (unsub.is_empty() || ps.unsubscribe(channels(&unsub)).is_ok())
                    && ps.set_read_timeout(Some(POLL)).is_ok();
                if !ok {
                    return Ended::Lost;
                }
                for t in unsub {
                    subscribed.remove(&t);
                }
                subscribed.extend(sub);
            }
            match ps.get_message() {
                Ok(msg) => {
                    if !self.deliver(&msg) {
                        return Ended::Stop;
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => return Ended::Lost,
            }
        }
    }

    /// Hands another server's publish to the loop; false once the loop is
    /// gone. Our own messages and anything unreadable are skipped.
    fn deliver(&self, msg: &redis::Msg) -> bool {
        let channel = msg.get_channel_name();
        let topic = match channel {
            ALL => None,
            c => match c.strip_prefix(TOPIC_PREFIX) {
                Some(t) => Some(t.to_string()),
                None => return true,
            },
        };
        let Ok(e) = envelope::decode(msg.get_payload_bytes()) else {
            return true;
        };
        if e.node == self.node {
            return true;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        (self.sink)(Remote {
            topic,
            kind: e.kind,
            data: Bytes::copy_from_slice(e.payload),
            sse_event: e.sse_event.map(str::to_string),
            on_slow: e.on_slow,
        })
    }
}
