//! The subscriber thread: listens on `wsrt:all` and on the channel of
//! every topic the loop has an interest in, and hands what comes to the
//! loop.

use super::counts::{Announcement, Elsewhere};
use super::{broadcast, sequence, ALL, COUNTS, IO_TIMEOUT, SIO, TOPIC_PREFIX};
use super::{channel_of, connect, envelope, Backoff, Counters, FromCluster, Remote, Sink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Channels per SUBSCRIBE when subscribing anew.
const SUBSCRIBE_CHUNK: usize = 512;
/// How often the subscriber looks at topic changes while no message comes.
const POLL: Duration = Duration::from_millis(50);

pub(super) enum Change {
    /// Interest in a topic, with the number `Relayed` answers it with.
    Join(String, u64),
    Leave(String),
    /// Read a relayed topic's events back from its stream (at most this
    /// many, 0: all).
    Backfill(String, usize),
}

/// A backfill read, waiting for its marker.
struct Pending {
    topic: String,
    epoch: u64,
    events: Vec<(Duration, Remote)>,
}

/// Why the subscriber stopped listening.
enum Ended {
    /// The server is stopping or gone.
    Stop,
    /// The connection failed: connect again.
    Lost,
}

pub(super) struct Subscriber {
    client: redis::Client,
    changes: Receiver<Change>,
    sink: Sink,
    node: u64,
    elsewhere: Arc<Mutex<Elsewhere>>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    /// Topics the loop has an interest in, with its numbers.
    wanted: HashMap<String, u64>,
    /// For backfill reads: a plain connection (a subscribed one takes no
    /// other command), this server's own channel for the markers, and
    /// the reads waiting for theirs.
    reader: Option<redis::Connection>,
    own_channel: String,
    pending: HashMap<u64, Pending>,
    markers: u64,
    backoff: Backoff,
    _done: Sender<()>,
}

impl Subscriber {
    #[allow(clippy::too_many_arguments)] // one call site, each piece named there
    pub fn new(
        client: redis::Client,
        node: u64,
        changes: Receiver<Change>,
        sink: Sink,
        elsewhere: Arc<Mutex<Elsewhere>>,
        counters: Arc<Counters>,
        stop: Arc<AtomicBool>,
        done: Sender<()>,
    ) -> Subscriber {
        Subscriber {
            client,
            changes,
            sink,
            node,
            elsewhere,
            counters,
            stop,
            wanted: HashMap::new(),
            reader: None,
            own_channel: format!("wsrt:n:{node:016x}"),
            pending: HashMap::new(),
            markers: 0,
            backoff: Backoff::default(),
            _done: done,
        }
    }

    pub fn run(mut self) {
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
                    // Not subscribed: a backfill is asked again once
                    // relayed.
                    self.apply(c);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return true,
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Records a change in `wanted` and returns its topic; a backfill
    /// (None) is left to the caller.
    fn apply(&mut self, c: Change) -> Option<String> {
        match c {
            Change::Join(t, n) => {
                self.wanted.insert(t.clone(), n);
                Some(t)
            }
            Change::Leave(t) => {
                self.wanted.remove(&t);
                Some(t)
            }
            Change::Backfill(..) => None,
        }
    }

    /// Reads `topic`'s stream and, in the same transaction, publishes a
    /// marker to this server's own channel: Redis writes the marker to the
    /// subscription after every event published before the read, so when
    /// the marker comes, everything this server was going to hear live up
    /// to the read has been handed to the loop, and the read goes after it.
    fn backfill(&mut self, topic: &str, count: usize) {
        if self.reader.is_none() {
            self.reader = connect(&self.client).ok();
        }
        let Some(con) = self.reader.as_mut() else {
            return; // asked again when the topic is relayed anew
        };
        self.markers += 1;
        let marker = self.markers;
        let mut p = redis::pipe();
        p.atomic();
        p.cmd("HGET").arg(sequence::seq_key(topic)).arg("epoch");
        let read = p
            .cmd("XREVRANGE")
            .arg(sequence::history_key(topic))
            .arg("+")
            .arg("-");
        if count > 0 {
            read.arg("COUNT").arg(count);
        }
        p.cmd("PUBLISH")
            .arg(&self.own_channel)
            .arg(&marker.to_le_bytes()[..])
            .ignore();
        match p.query::<(Option<u64>, redis::Value)>(con) {
            Ok((Some(epoch), kept)) => {
                let events = sequence::read_kept(epoch, &kept);
                let topic = topic.to_string();
                self.pending.insert(
                    marker,
                    Pending {
                        topic,
                        epoch,
                        events,
                    },
                );
            }
            Ok((None, _)) => {} // never sequenced: nothing kept
            Err(_) => self.reader = None,
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Elsewhere> {
        self.elsewhere.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the loop Redis relays these topics now; false once the loop
    /// is gone.
    fn relayed<'a>(&self, topics: impl Iterator<Item = &'a String>) -> bool {
        let list: Vec<(String, u64)> = topics
            .filter_map(|t| self.wanted.get(t).map(|&n| (t.clone(), n)))
            .collect();
        list.is_empty() || (self.sink)(FromCluster::Relayed(list))
    }

    fn listen(&mut self, con: &mut redis::Connection) -> Ended {
        let mut ps = con.as_pubsub();
        // Replies within IO_TIMEOUT while (un)subscribing; POLL while
        // waiting for messages, to look at topic changes.
        self.pending.clear(); // their markers went with the old connection
        let initial: Vec<String> = [ALL, SIO, COUNTS, self.own_channel.as_str()]
            .into_iter()
            .map(str::to_string)
            .chain(self.wanted.keys().map(|t| channel_of(t)))
            .collect();
        let ok = ps.set_read_timeout(Some(IO_TIMEOUT)).is_ok()
            && initial
                .chunks(SUBSCRIBE_CHUNK)
                .all(|c| ps.subscribe(c).is_ok())
            && ps.set_read_timeout(Some(POLL)).is_ok();
        if !ok {
            return Ended::Lost;
        }
        let mut subscribed: std::collections::HashSet<String> =
            self.wanted.keys().cloned().collect();
        self.backoff.connected();
        if !self.relayed(subscribed.iter()) {
            return Ended::Stop;
        }
        let ended = loop {
            if self.stop.load(Ordering::Acquire) {
                break Ended::Stop;
            }
            let mut touched: Vec<String> = Vec::new();
            let mut backfills: Vec<(String, usize)> = Vec::new();
            loop {
                match self.changes.try_recv() {
                    Ok(Change::Backfill(t, n)) => backfills.push((t, n)),
                    Ok(c) => touched.extend(self.apply(c)),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ended::Stop,
                }
            }
            // The loops of a server ask for the same read together.
            backfills.sort_unstable();
            backfills.dedup();
            for (t, n) in backfills {
                self.backfill(&t, n);
            }
            if !touched.is_empty() {
                touched.sort_unstable();
                touched.dedup();
                let (mut sub, mut unsub) = (Vec::new(), Vec::new());
                for t in &touched {
                    match (self.wanted.contains_key(t), subscribed.contains(t)) {
                        (true, false) => sub.push(t.clone()),
                        (false, true) => unsub.push(t.clone()),
                        _ => {}
                    }
                }
                let channels = |ts: &[String]| ts.iter().map(|t| channel_of(t)).collect::<Vec<_>>();
                let ok = ps.set_read_timeout(Some(IO_TIMEOUT)).is_ok()
                    && (sub.is_empty() || ps.subscribe(channels(&sub)).is_ok())
                    && (unsub.is_empty() || ps.unsubscribe(channels(&unsub)).is_ok())
                    && ps.set_read_timeout(Some(POLL)).is_ok();
                if !ok {
                    break Ended::Lost;
                }
                for t in unsub {
                    subscribed.remove(&t);
                }
                subscribed.extend(sub);
                // Every touched topic still wanted is relayed now, under
                // the number of its latest join.
                if !self.relayed(touched.iter()) {
                    return Ended::Stop;
                }
            }
            self.counts().expire(Instant::now());
            match ps.get_message() {
                Ok(msg) => {
                    if !self.deliver(&msg) {
                        return Ended::Stop;
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break Ended::Lost,
            }
        };
        // Announcements missed while away would leave counts wrong.
        self.counts().clear();
        if matches!(ended, Ended::Lost) && !(self.sink)(FromCluster::Lost) {
            return Ended::Stop;
        }
        ended
    }

    /// Hands a publish to the loop; false once the loop is gone. A plain
    /// publish of ours (delivered when it was published) and anything
    /// unreadable are skipped.
    fn deliver(&mut self, msg: &redis::Msg) -> bool {
        let channel = msg.get_channel_name();
        if channel == self.own_channel {
            let marker = msg.get_payload_bytes().try_into().map(u64::from_le_bytes);
            return match marker.ok().and_then(|m| self.pending.remove(&m)) {
                Some(p) => (self.sink)(FromCluster::History {
                    topic: p.topic,
                    epoch: p.epoch,
                    events: p.events,
                }),
                None => true,
            };
        }
        if channel == COUNTS {
            if let Ok(a) = Announcement::decode(msg.get_payload_bytes()) {
                if a.node != self.node {
                    self.counts().apply(a, Instant::now());
                }
            }
            return true;
        }
        if channel == SIO {
            return match broadcast::decode(msg.get_payload_bytes()) {
                Ok((node, _)) if node == self.node => true,
                Ok((_, b)) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    (self.sink)(FromCluster::Broadcast(Box::new(b)))
                }
                Err(_) => true,
            };
        }
        let topic = match channel {
            ALL => None,
            c => match c.strip_prefix(TOPIC_PREFIX) {
                Some(t) => Some(t.to_string()),
                None => return true,
            },
        };
        let Ok((id, bytes)) = envelope::split_sequenced(msg.get_payload_bytes()) else {
            return true;
        };
        let Ok(e) = envelope::decode(bytes) else {
            return true;
        };
        let ours = e.node == self.node;
        if ours && (id.is_none() || e.delivered_at_origin) {
            return true;
        }
        if !ours {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
        }
        (self.sink)(FromCluster::Publish(e.to_remote(topic, id, ours)))
    }
}
