//! The publisher thread: sends the loop's publishes to Redis, everything
//! queued in one pipelined round trip.

use super::counts::{Announcement, HEARTBEAT};
use super::{connect, envelope, sequence, Backoff, Counters, FromCluster, Remote, Sink, COUNTS};
use crate::pubsub::HistoryLimit;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Most publishes in one pipelined round trip.
const MAX_BATCH: usize = 1024;

pub(super) enum Outgoing {
    /// A `PUBLISH` of the envelope.
    Plain { channel: String, envelope: Vec<u8> },
    /// A run of the sequencing script.
    Sequenced {
        topic: String,
        limit: HistoryLimit,
        envelope: Vec<u8>,
    },
    /// This server's count of a topic's subscribers, to announce.
    Count { topic: String, n: u64 },
}

impl Outgoing {
    /// A sequenced publish its server waits for, as the loop delivers it
    /// when Redis did not take it.
    fn unsent(&self) -> Option<Remote> {
        let Outgoing::Sequenced {
            topic, envelope, ..
        } = self
        else {
            return None;
        };
        let e = envelope::decode(envelope).ok()?;
        (!e.delivered_at_origin).then(|| e.to_remote(Some(topic.clone()), None, true))
    }
}

pub(super) struct Publisher {
    client: redis::Client,
    node: u64,
    /// This server's subscriber counts (topics with none left out), and
    /// those changed since they were last announced.
    counts: HashMap<String, u64>,
    changed: HashMap<String, u64>,
    /// Whether the others may hold a count of ours (so that stopping
    /// tells them there is none).
    announced_any: bool,
    queue: Receiver<Outgoing>,
    sink: Sink,
    counters: Arc<Counters>,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    _done: Sender<()>,
}

/// A connection with the sequencing script loaded.
struct Link {
    con: redis::Connection,
    sha: String,
    /// The epoch proposed for topics Redis has none for: random per
    /// connection, so that a Redis restarted without its data starts
    /// topics in an epoch their old ids do not belong to.
    epoch: u64,
}

impl Publisher {
    #[allow(clippy::too_many_arguments)] // one call site, each piece named there
    pub fn new(
        client: redis::Client,
        node: u64,
        queue: Receiver<Outgoing>,
        sink: Sink,
        counters: Arc<Counters>,
        up: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
        done: Sender<()>,
    ) -> Publisher {
        Publisher {
            client,
            node,
            counts: HashMap::new(),
            changed: HashMap::new(),
            announced_any: false,
            queue,
            sink,
            counters,
            up,
            stop,
            _done: done,
        }
    }

    fn link(&self) -> Option<Link> {
        let mut con = connect(&self.client).ok()?;
        let sha = sequence::load(&mut con).ok()?;
        let epoch = sequence::proposed_epoch(super::node_id());
        Some(Link { con, sha, epoch })
    }

    /// Until the loop lets go of the queue and it is empty.
    pub fn run(mut self) {
        // Connected before the first publish, if Redis is there.
        let mut link = self.link();
        self.up.store(link.is_some(), Ordering::Release);
        let mut backoff = Backoff::default();
        let mut heartbeat = Instant::now() + HEARTBEAT;
        let mut batch: Vec<Outgoing> = Vec::new();
        loop {
            // Wakes for the heartbeat and, disconnected, to connect again
            // when the back-off allows even if nothing is published, so
            // that sequenced publishes wait for Redis again soon.
            let wake = match (&link, backoff.next) {
                (None, Some(at)) => at.min(heartbeat),
                _ => heartbeat,
            };
            match self
                .queue
                .recv_timeout(wake.saturating_duration_since(Instant::now()))
            {
                Ok(m) => batch.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while batch.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if link.is_none() && backoff.due() && !self.stop.load(Ordering::Acquire) {
                link = self.link();
                match link {
                    Some(_) => backoff.connected(),
                    None => backoff.failed(),
                }
                self.up.store(link.is_some(), Ordering::Release);
            }
            let everything = Instant::now() >= heartbeat;
            if everything {
                heartbeat = Instant::now() + HEARTBEAT;
            }
            let announcement = self.announcement(&mut batch, everything);
            if batch.is_empty() && announcement.is_none() {
                continue;
            }
            let sent = link
                .as_mut()
                .is_some_and(|l| self.send(l, &batch, announcement.as_deref()));
            let n = batch.len() as u64;
            if sent {
                self.counters.published.fetch_add(n, Ordering::Relaxed);
            } else {
                // Not confirmed: some may have reached Redis before the
                // connection broke, but none is sent twice.
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
                let unsent: Vec<Remote> = batch.iter().filter_map(Outgoing::unsent).collect();
                if !unsent.is_empty() && !(self.sink)(FromCluster::Unsent(unsent)) {
                    return;
                }
                if link.take().is_some() {
                    self.up.store(false, Ordering::Release);
                    backoff.failed();
                }
            }
            batch.clear();
        }
        // Stopping: the others forget this server's counts now rather
        // than when they expire.
        if let (Some(l), true) = (link.as_mut(), self.announced_any) {
            self.counts.clear();
            if let Some(a) = self.announcement(&mut batch, true) {
                let _ = self.send(l, &[], Some(&a));
            }
        }
    }

    /// Takes the count changes out of `batch` into this server's counts;
    /// returns what to announce (the changes, or `everything`), if
    /// anything.
    fn announcement(&mut self, batch: &mut Vec<Outgoing>, everything: bool) -> Option<Vec<u8>> {
        batch.retain(|m| match m {
            Outgoing::Count { topic, n } => {
                match n {
                    0 => self.counts.remove(topic),
                    n => self.counts.insert(topic.clone(), *n),
                };
                self.changed.insert(topic.clone(), *n);
                false
            }
            _ => true,
        });
        let entries: Vec<(String, u64)> = match everything {
            true => {
                if self.counts.is_empty() && !self.announced_any {
                    return None;
                }
                self.announced_any = !self.counts.is_empty();
                self.changed.clear();
                self.counts.iter().map(|(t, n)| (t.clone(), *n)).collect()
            }
            false if self.changed.is_empty() => return None,
            false => {
                let changed: Vec<(String, u64)> = self.changed.drain().collect();
                self.announced_any |= changed.iter().any(|(_, n)| *n > 0);
                changed
            }
        };
        let a = Announcement {
            node: self.node,
            everything,
            entries,
        };
        Some(a.encode())
    }

    fn send(&self, link: &mut Link, batch: &[Outgoing], counts: Option<&[u8]>) -> bool {
        let mut p = redis::pipe();
        if let Some(a) = counts {
            p.cmd("PUBLISH").arg(COUNTS).arg(a).ignore();
        }
        for m in batch {
            match m {
                Outgoing::Plain { channel, envelope } => {
                    p.cmd("PUBLISH").arg(channel).arg(&envelope[..]).ignore();
                }
                Outgoing::Sequenced {
                    topic,
                    limit,
                    envelope,
                } => {
                    let channel = super::channel_of(topic);
                    sequence::add_to(
                        &mut p, &link.sha, topic, &channel, link.epoch, *limit, envelope,
                    );
                }
                Outgoing::Count { .. } => {} // taken into the announcement
            }
        }
        p.query::<()>(&mut link.con).is_ok()
    }
}
