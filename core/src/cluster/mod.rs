//! A cluster of servers over Redis publish/subscribe: a publish on one
//! server reaches the subscribers of every server.
//!
//! Beside the loop run two threads with a connection each (redis-rs's
//! synchronous client; the loop never waits on Redis):
//!
//! - the [`publisher`] takes the loop's publishes from a bounded queue and
//!   sends them, everything queued in one pipelined round trip: a publish
//!   to a topic without history is a `PUBLISH` to `wsrt:t:<topic>`
//!   (`wsrt:all` for a publish to everyone); one to a topic with history
//!   is [`sequence`]d: Redis gives it its event id and keeps it in the
//!   topic's stream;
//! - the [`subscriber`] listens on `wsrt:all`, on `wsrt:sio` (Socket.IO
//!   broadcasts, [`broadcast`]) and on the channel of every
//!   topic with local subscribers or history (the loop tells it when a
//!   topic gains or loses its interest), and hands what comes to the loop.
//!
//! Every message carries its server's random node id ([`envelope`]). A
//! plain publish is delivered by its own server at once and skipped when
//! Redis brings it back; a sequenced one is delivered by every server,
//! its own included, when Redis brings it back, so all agree on its id and
//! order. While Redis does not relay a topic back (no connection, not yet
//! subscribed), its server delivers sequenced publishes itself, with ids
//! of its own ([`crate::event_id`]).
//!
//! Faults: a publish that cannot be queued (queue full) or sent (no
//! connection, connection lost) is counted as dropped, never kept; a
//! sequenced one its server waited for comes back to it to deliver
//! locally. Both threads reconnect with back-off (100 ms doubling to 2 s)
//! and the subscriber subscribes anew to every current topic. What other
//! servers publish while the subscriber is away is not delivered here.

mod broadcast;
mod counts;
mod envelope;
mod hub;
mod publisher;
mod sequence;
mod subscriber;

use crate::config::SlowConsumerPolicy;
use crate::error::{Error, Result};
use crate::proto::MessageKind;
use crate::pubsub::{HistoryLimit, Publish};
use bytes::Bytes;
use publisher::{Outgoing, Publisher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use subscriber::{Change, Subscriber};

/// Publishes waiting for the publisher thread; past this they are dropped.
const QUEUE: usize = 65_536;
/// Connecting, and any command's reply: longer is a lost connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long stopping waits for the threads.
const STOP_WAIT: Duration = Duration::from_secs(2);

const ALL: &str = "wsrt:all";
/// Socket.IO broadcasts (room emits) of every namespace.
const SIO: &str = "wsrt:sio";
/// Subscriber counts ([`counts`]).
const COUNTS: &str = "wsrt:counts";
const TOPIC_PREFIX: &str = "wsrt:t:";

fn channel_of(topic: &str) -> String {
    format!("{TOPIC_PREFIX}{topic}")
}

/// A publish for the loop to deliver locally.
#[derive(Debug)]
pub(crate) struct Remote {
    pub topic: Option<String>,
    pub kind: MessageKind,
    pub data: Bytes,
    pub sse_event: Option<String>,
    pub on_slow: Option<SlowConsumerPolicy>,
    /// The event id Redis gave a sequenced publish.
    pub id: Option<u64>,
    /// This server's connection the publish excludes (a sequenced publish
    /// of this server's, come back).
    pub exclude: Option<crate::ConnId>,
}

/// What the cluster's threads tell the loop.
#[derive(Debug)]
pub(crate) enum FromCluster {
    /// A publish to deliver here.
    Publish(Remote),
    /// Redis relays these topics (with the interest numbers the loop gave
    /// them when asking) to this server now.
    Relayed(Vec<(String, u64)>),
    /// The subscription is lost: Redis relays nothing until `Relayed`.
    Lost,
    /// Sequenced publishes of this server that Redis did not take: deliver
    /// them here, with ids of this server's own.
    Unsent(Vec<Remote>),
    /// Another server's Socket.IO broadcast, for this server's sockets.
    Broadcast(Box<crate::pubsub::OwnedBroadcast>),
    /// A topic's events as Redis kept them (oldest first, each with its
    /// age), read after every event this server was going to hear live up
    /// to the read was handed over.
    History {
        topic: String,
        epoch: u64,
        events: Vec<(Duration, Remote)>,
    },
}

/// Hands a [`FromCluster`] to the loop; false once the loop is gone.
pub(crate) type Sink = Arc<dyn Fn(FromCluster) -> bool + Send + Sync>;

/// The cluster's counters in `Stats`.
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
}

/// `(cluster_published, cluster_received, cluster_dropped)`.
pub(crate) type ClusterStats = (u64, u64, u64);

/// One loop's end of the server's bus: every loop of a server shares one
/// [`Bus`] (one node id, one pair of Redis connections); the bus stops
/// when the last loop lets go of it.
pub(crate) struct Cluster {
    bus: Arc<Bus>,
    /// Which loop of the server this is (0 alone).
    index: usize,
}

struct Bus {
    node: u64,
    queue: Option<SyncSender<Outgoing>>,
    /// Joins and leaves are sent under `hub`'s lock, so that those of
    /// several loops reach the subscriber in the order the hub decided
    /// them.
    changes: Option<Sender<Change>>,
    hub: Arc<Mutex<hub::Hub>>,
    counters: Arc<Counters>,
    /// The publisher is connected (sequenced publishes can be sent).
    publisher_up: Arc<AtomicBool>,
    /// Subscriber counts the other servers announced.
    elsewhere: Arc<Mutex<counts::Elsewhere>>,
    stop: Arc<AtomicBool>,
    /// Disconnected once both threads have ended (in a mutex only to make
    /// the bus shareable: it is read once, when the bus is dropped).
    done: Mutex<Receiver<()>>,
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

/// Checks `url` as [`Cluster::start`] would, before anything listens.
pub(crate) fn check_url(url: &str, name: &str) -> Result<()> {
    client(url, name).map(drop)
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// Checks `url` (the option's value, named `name` in a refusal) and
    /// starts both threads for a server of `loops` loops; `sink` takes
    /// what they have for the loops. Returns each loop's end, in order.
    pub fn start(url: &str, name: &str, sink: Sink, loops: usize) -> Result<Vec<Cluster>> {
        let client = client(url, name)?;
        let node = node_id();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let publisher_up = Arc::new(AtomicBool::new(false));
        let elsewhere = Arc::new(Mutex::new(counts::Elsewhere::default()));
        let hub = Arc::new(Mutex::new(hub::Hub::new(loops)));
        // The hub learns what the loops are told before they are told it.
        let sink: Sink = {
            let hub = hub.clone();
            Arc::new(move |m| {
                lock(&hub).observe(&m);
                sink(m)
            })
        };
        let (queue, queued) = mpsc::sync_channel(QUEUE);
        let (changes, changed) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let publisher = Publisher::new(
            client.clone(),
            node,
            queued,
            sink.clone(),
            counters.clone(),
            publisher_up.clone(),
            stop.clone(),
            done_tx.clone(),
        );
        let subscriber = Subscriber::new(
            client,
            node,
            changed,
            sink,
            elsewhere.clone(),
            counters.clone(),
            stop.clone(),
            done_tx,
        );
        thread::Builder::new()
            .name("wsrt-cluster-pub".into())
            .spawn(move || publisher.run())?;
        thread::Builder::new()
            .name("wsrt-cluster-sub".into())
            .spawn(move || subscriber.run())?;
        let bus = Arc::new(Bus {
            node,
            queue: Some(queue),
            changes: Some(changes),
            hub,
            counters,
            publisher_up,
            elsewhere,
            stop,
            done: Mutex::new(done),
        });
        Ok((0..loops.max(1))
            .map(|index| Cluster {
                bus: bus.clone(),
                index,
            })
            .collect())
    }

    /// Whether a sequenced publish can go out now.
    pub fn publisher_up(&self) -> bool {
        self.bus.publisher_up.load(Ordering::Acquire)
    }

    /// Queues a local publish for the other servers; false if it could
    /// not be (a full queue drops it, counted: it never blocks).
    /// `history`: the topic keeps history, so Redis sequences it;
    /// `delivered`: this server delivered it already (else it waits for
    /// Redis to bring it back, and delivers it itself if it was not
    /// queued).
    pub fn publish(
        &self,
        topic: Option<&str>,
        msg: &Publish<'_>,
        history: Option<HistoryLimit>,
        delivered: bool,
    ) -> bool {
        let envelope = envelope::Envelope {
            node: self.bus.node,
            kind: msg.kind,
            sse_event: msg.sse_event,
            on_slow: msg.on_slow,
            delivered_at_origin: delivered,
            // Only a publish this server waits for needs it back.
            excluded: msg.exclude.filter(|_| !delivered),
            payload: msg.data,
        }
        .encode();
        let out = match (topic, history) {
            (Some(t), Some(limit)) => Outgoing::Sequenced {
                topic: t.to_string(),
                limit,
                envelope,
            },
            (Some(t), None) => Outgoing::Plain {
                channel: channel_of(t),
                envelope,
            },
            (None, _) => Outgoing::Plain {
                channel: ALL.to_string(),
                envelope,
            },
        };
        self.bus.send(out)
    }

    /// Queues a local Socket.IO broadcast for the other servers (never
    /// blocks: a full queue drops it, counted).
    pub fn broadcast(&self, b: &crate::pubsub::Broadcast<'_>) {
        self.bus.send(Outgoing::Plain {
            channel: SIO.to_string(),
            envelope: broadcast::encode(self.bus.node, b),
        });
    }

    /// This loop's count of `topic`'s subscribers changed to `n`; the
    /// others hear of the server's total soon (never blocks: a full queue
    /// drops it, and the next heartbeat says it again).
    pub fn count(&self, topic: &str, n: usize) {
        let mut hub = lock(&self.bus.hub);
        let total = hub.count(self.index, topic, n as u64);
        // Under the hub's lock, so that the totals go out in the order
        // they were made (the publisher keeps the last one).
        self.bus.announce(topic, total);
    }

    /// Subscribers of `topic` on the other servers, as they last
    /// announced.
    pub fn count_elsewhere(&self, topic: &str) -> usize {
        lock(&self.bus.elsewhere).count(topic) as usize
    }

    /// `topic` gained interest on this loop (its first subscriber here,
    /// or history): returns the number a `Relayed` for it will carry, and
    /// whether Redis relays it to this server already (another loop
    /// wanted it first).
    pub fn joined(&self, topic: &str) -> (u64, bool) {
        let mut hub = lock(&self.bus.hub);
        let j = hub.join(self.index, topic);
        if let (true, Some(c)) = (j.ask, &self.bus.changes) {
            let _ = c.send(Change::Join(topic.to_string(), j.number));
        }
        (j.number, j.relayed)
    }

    /// Asks for `topic`'s events as Redis keeps them (at most `count`, 0:
    /// all), to fill the server's history; they come as
    /// [`FromCluster::History`], to every loop. For a topic Redis relays
    /// here.
    pub fn backfill(&self, topic: &str, count: usize) {
        if let Some(c) = &self.bus.changes {
            let _ = c.send(Change::Backfill(topic.to_string(), count));
        }
    }

    /// `topic` lost its last subscriber and its history on this loop.
    pub fn left(&self, topic: &str) {
        let mut hub = lock(&self.bus.hub);
        if let (true, Some(c)) = (hub.leave(self.index, topic), &self.bus.changes) {
            let _ = c.send(Change::Leave(topic.to_string()));
        }
    }

    /// The server's counters (every loop's end gives the same).
    pub fn stats(&self) -> ClusterStats {
        let c = &self.bus.counters;
        (
            c.published.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Cluster {
    /// A loop closed before the others (a thread-per-core program freed
    /// it): the topics only it wanted are left, its subscribers no longer
    /// counted.
    fn drop(&mut self) {
        let mut hub = lock(&self.bus.hub);
        let (left, totals) = hub.forget(self.index);
        for (topic, total) in totals {
            self.bus.announce(&topic, total);
        }
        if let Some(c) = &self.bus.changes {
            left.into_iter()
                .for_each(|t| drop(c.send(Change::Leave(t))));
        }
    }
}

impl Bus {
    /// The server's count of `topic`'s subscribers for the other servers
    /// (never blocks: a full queue drops it, and the next heartbeat says
    /// it again).
    fn announce(&self, topic: &str, total: u64) {
        if let Some(queue) = &self.queue {
            let _ = queue.try_send(Outgoing::Count {
                topic: topic.to_string(),
                n: total,
            });
        }
    }

    fn send(&self, out: Outgoing) -> bool {
        let sent = self.queue.as_ref().is_some_and(|q| q.try_send(out).is_ok());
        if !sent {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }
}

impl Drop for Bus {
    /// Stops both threads: the publisher sends what is queued if it is
    /// connected, the subscriber leaves. Waits for them at most
    /// `STOP_WAIT` (a thread stuck on a hung Redis ends on its own when
    /// its timeout fires).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.queue = None;
        self.changes = None;
        let _ = lock(&self.done).recv_timeout(STOP_WAIT);
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
