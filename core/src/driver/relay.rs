//! The loop's side of the cluster: which topics the subscriber thread
//! listens to for this server, and what the cluster's threads hand back.

use super::fanout::{encode_forms, CarriedForms, Origin};
use super::topics::Entry;
use super::Driver;
use crate::args::check_publish;
use crate::cluster::{FromCluster, Remote};
use crate::pubsub::Publish;
use std::time::{Duration, Instant};

impl Driver {
    /// Tells the cluster when a topic's subscriber count changes and when
    /// its interest (local subscribers or history) begins or ends; call
    /// after every change of either. A topic the cluster was told of is
    /// kept until it is told the interest ended.
    pub(super) fn sync_interest(&mut self, key: u32) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(t) = self.topics.list.get_mut(key as usize) else {
            return;
        };
        if t.subs.len() != t.announced {
            t.announced = t.subs.len();
            c.count(&t.name, t.announced);
        }
        match (t.wanted(), t.interest) {
            (true, 0) => {
                let relayed;
                (t.interest, relayed) = c.joined(&t.name);
                // Another loop of this server asked first, and Redis
                // relays the topic already: its `Relayed` went by.
                if relayed {
                    t.relayed = true;
                    self.backfill(key);
                }
            }
            (false, n) if n != 0 => {
                c.left(&t.name);
                t.interest = 0;
                t.relayed = false;
                self.topics.drop_if_unused(key);
            }
            _ => {}
        }
    }

    /// Subscribers of `topic` on every server of the cluster (this one's
    /// as they are, the others' as they last announced them).
    pub fn cluster_subscriber_count(&self, topic: &str) -> usize {
        self.subscriber_count(topic) + self.subscribers_elsewhere(topic)
    }

    /// Subscribers of `topic` on the other servers of the cluster, as
    /// they last announced them.
    pub fn subscribers_elsewhere(&self, topic: &str) -> usize {
        self.cluster
            .as_ref()
            .map_or(0, |c| c.count_elsewhere(topic))
    }

    /// Applies what the cluster's threads bring. A group applies it to
    /// each of its loops in turn, carrying a publish's forms from one to
    /// the next (`carried`). True if it queued output (the loop has
    /// writing to do).
    pub(crate) fn apply_cluster(
        &mut self,
        m: &FromCluster,
        carried: Option<&mut CarriedForms>,
    ) -> bool {
        match m {
            FromCluster::Publish(r) => {
                return self.deliver_remote(r, Origin::Relayed(r.id), carried);
            }
            FromCluster::Relayed(list) => {
                for (name, interest) in list {
                    let Some(k) = self.topics.key(name) else {
                        continue;
                    };
                    let t = &mut self.topics.list[k as usize];
                    // An answer to an interest since ended is stale.
                    if t.interest != *interest || t.relayed {
                        continue;
                    }
                    t.relayed = true;
                    self.backfill(k);
                }
            }
            FromCluster::History {
                topic,
                epoch,
                events,
            } => self.fill_history(topic, *epoch, events),
            FromCluster::Lost => {
                for (_, t) in self.topics.list.iter_mut() {
                    t.relayed = false;
                }
            }
            FromCluster::Unsent(list) => {
                let mut wrote = false;
                for r in list {
                    wrote |= self.deliver_remote(r, Origin::Unsent, None);
                }
                return wrote;
            }
            FromCluster::Broadcast(b) => {
                // As for a publish: what fails the checks is not ours to
                // report.
                let _ = b.borrowed(|b| self.deliver_broadcast(b, false));
                return true;
            }
        }
        false
    }

    /// Asks Redis for what it keeps of a relayed topic with history, to
    /// fill this server's (events published before it listened, or while
    /// it was away).
    pub(super) fn backfill(&mut self, key: u32) {
        let (Some(c), Some(t)) = (&self.cluster, self.topics.list.get(key as usize)) else {
            return;
        };
        if let (true, Some(h)) = (t.relayed, &t.history) {
            c.backfill(&t.name, h.limit.max_events);
        }
    }

    fn fill_history(&mut self, topic: &str, epoch: u64, events: &[(Duration, Remote)]) {
        let Some(k) = self.topics.key(topic) else {
            return;
        };
        let now = Instant::now();
        let entries: Vec<Entry> = events
            .iter()
            .filter_map(|(age, r)| {
                let msg = Publish::new(r.kind, &r.data);
                let msg = Publish {
                    sse_event: r.sse_event.as_deref(),
                    ..msg
                };
                check_publish(&msg).ok()?;
                let (frame, header_len, sse) = encode_forms(&msg, r.id);
                Some(Entry {
                    id: r.id?,
                    at: now.checked_sub(*age).unwrap_or(now),
                    kind: r.kind,
                    payload: frame.slice(header_len..),
                    frame,
                    sse,
                })
            })
            .collect();
        if let Some(h) = self.topics.list[k as usize].history.as_mut() {
            h.backfill(epoch, entries, now);
        }
    }

    /// True if it queued output (a delivery, or a slow subscriber's close).
    fn deliver_remote(
        &mut self,
        r: &Remote,
        origin: Origin,
        carried: Option<&mut CarriedForms>,
    ) -> bool {
        let msg = Publish {
            kind: r.kind,
            data: &r.data,
            exclude: r.exclude,
            on_slow: r.on_slow,
            sse_event: r.sse_event.as_deref(),
        };
        // What fails a check was checked by the publishing server (or is
        // another version's): nothing to tell anyone.
        self.deliver_publish(r.topic.as_deref(), &msg, origin, carried)
            .is_ok_and(|p| p.delivered + p.closed > 0)
    }
}
