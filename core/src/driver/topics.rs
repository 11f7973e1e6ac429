//! Topic membership and history: which connections hear which topic, and
//! the bounded record of recent events that lets an SSE client resume.
//!
//! Membership is kept from both sides so that joining, leaving and closing
//! are O(1) in the topic's size: a topic lists its subscribers, and each
//! connection lists its topics with its position in each topic's list.

use crate::event::ConnId;
use crate::proto::MessageKind;
use crate::pubsub::HistoryLimit;
use bytes::Bytes;
use slab::Slab;
use std::collections::{HashMap, VecDeque};

/// Topic names are looked up on every publish (and, in many apps, every
/// message): a fast hash with a random per-process seed, which keeps the
/// resistance to crafted collisions that names chosen by clients call for.
type NameMap<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;
use std::hash::{BuildHasher, Hasher};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

use crate::event_id::{self, LOCAL_TAG_MAX as TAG_MAX, SEQ_BITS, SEQ_MAX};

/// A connection's topics. Most connections have none, so the list costs a
/// pointer until the first subscription (a `Vec` would cost three words on
/// every idle connection).
#[derive(Debug, Default)]
#[allow(clippy::box_collection)] // the point: one word in every `Conn`
pub(super) struct Memberships(Option<Box<Vec<Membership>>>);

impl Memberships {
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|v| v.is_empty())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Membership> {
        self.0.as_deref().map_or(&[][..], |v| v.as_slice()).iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Membership> {
        self.0
            .as_deref_mut()
            .map_or(&mut [][..], |v| v.as_mut_slice())
            .iter_mut()
    }

    pub fn push(&mut self, m: Membership) {
        self.0.get_or_insert_with(Default::default).push(m);
    }

    pub fn swap_remove(&mut self, i: usize) -> Membership {
        let v = self.0.as_mut().expect("index into an empty list");
        let m = v.swap_remove(i);
        if v.is_empty() {
            self.0 = None;
        }
        m
    }

    /// Takes every membership, leaving none.
    pub fn take(&mut self) -> Vec<Membership> {
        self.0.take().map_or_else(Vec::new, |b| *b)
    }
}

/// One subscriber of a topic.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subscriber {
    pub slot: usize,
    pub id: ConnId,
}

/// A connection's membership of one topic: the topic's key and the index
/// of the connection in that topic's subscriber list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Membership {
    pub topic: u32,
    pub pos: u32,
}

/// A published event as the history keeps it.
#[derive(Debug)]
pub(super) struct Entry {
    pub id: u64,
    pub at: Instant,
    pub kind: MessageKind,
    /// The WebSocket frame (uncompressed) and, for text, the SSE event:
    /// the same bytes the live subscribers got, shared.
    pub frame: Bytes,
    pub sse: Option<Bytes>,
    pub payload: Bytes,
}

#[derive(Debug)]
pub(super) struct History {
    pub limit: HistoryLimit,
    pub entries: VecDeque<Entry>,
    /// Every event of this topic with an id at or below this may be gone
    /// from `entries`: a client that last saw an older id missed some.
    pub complete_after: u64,
    /// In a cluster, once Redis sequences the topic: the epoch of its ids
    /// and the last one recorded. `entries` then mirror the topic's
    /// history in Redis, as far as this server heard it or read it back.
    pub cluster: Option<(u64, u64)>,
    /// In a cluster: this server delivered events of its own after the
    /// cluster events below this (Redis was away); no replay may start
    /// before it, whatever Redis holds.
    pub floor: u64,
}

/// What a history makes of an event with a cluster id.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sequenced {
    /// Next in line (or after a gap, which it records).
    New,
    /// Heard already.
    Duplicate,
}

impl History {
    /// Takes note of an event Redis sequenced, before it is delivered: a
    /// new epoch starts the mirror afresh; a gap (this server was not
    /// listening) means clients that last saw an id before it missed
    /// events the mirror lacks.
    pub fn sequenced(&mut self, id: u64) -> Sequenced {
        let (epoch, last) = (event_id::epoch(id), id - 1);
        match self.cluster {
            Some((e, l)) if e == epoch && id <= l => return Sequenced::Duplicate,
            Some((e, l)) if e == epoch && id == l + 1 => {}
            Some((e, _)) if e == epoch => self.complete_after = self.complete_after.max(last),
            _ => {
                self.entries.clear();
                self.complete_after = last;
                self.floor = 0;
            }
        }
        self.cluster = Some((epoch, id));
        Sequenced::New
    }

    /// Fills the mirror with events read back from the topic's stream in
    /// Redis (oldest first). The read waited for every event this server
    /// was going to hear live up to it, so what it holds and this server
    /// has not heard never comes: the newest run without a gap, live and
    /// read back together, is what a client may be replayed.
    pub fn backfill(&mut self, epoch: u64, stored: Vec<Entry>, now: Instant) {
        let Some(newest) = stored.last().map(|e| e.id) else {
            return;
        };
        let last = match self.cluster {
            Some((e, last)) if e == epoch => last,
            _ => {
                // None yet, or of an epoch Redis has left behind.
                self.entries.clear();
                self.floor = 0;
                0
            }
        };
        let mut all: std::collections::BTreeMap<u64, Entry> =
            stored.into_iter().map(|e| (e.id, e)).collect();
        all.extend(self.entries.drain(..).map(|e| (e.id, e)));
        let mut run: Vec<Entry> = Vec::new();
        for (id, e) in all.into_iter().rev() {
            if run.last().is_some_and(|next| next.id != id + 1) {
                break;
            }
            run.push(e);
        }
        run.reverse();
        let start = run.first().map_or(newest, |e| e.id);
        self.entries = run.into();
        self.cluster = Some((epoch, last.max(newest)));
        self.complete_after = self.floor.max(start - 1);
        self.trim(now);
    }

    /// Takes note of an event this server delivered with an id of its own
    /// while Redis sequences the topic (Redis was away): it is not in the
    /// mirror, so a client that last saw any cluster id so far missed it.
    pub fn unsequenced(&mut self) {
        if let Some((_, last)) = self.cluster {
            self.floor = last + 1;
            self.complete_after = self.complete_after.max(self.floor);
        }
    }

    /// Whether `id` is one this history can place: its server's (`ours`)
    /// or, once Redis sequences the topic, the cluster's, and not from
    /// its future.
    pub fn knows(&self, id: u64, ours: bool) -> bool {
        match self.cluster {
            Some((epoch, last)) => event_id::epoch(id) == epoch && id <= last,
            None => ours,
        }
    }

    /// Drops what the limit no longer allows.
    pub fn trim(&mut self, now: Instant) {
        let max_events = match self.limit.max_events {
            0 => usize::MAX,
            n => n,
        };
        let max_age = self.limit.max_age;
        while self.entries.len() > max_events
            || (!max_age.is_zero()
                && self
                    .entries
                    .front()
                    .is_some_and(|e| now.saturating_duration_since(e.at) > max_age))
        {
            let Some(e) = self.entries.pop_front() else {
                break;
            };
            self.complete_after = self.complete_after.max(e.id);
        }
    }
}

#[derive(Debug)]
pub(super) struct Topic {
    pub name: Box<str>,
    pub subs: Vec<Subscriber>,
    pub history: Option<History>,
    /// In a cluster: the number of the interest (subscribers or history)
    /// the subscriber thread was told of; 0 while there is none.
    pub interest: u64,
    /// Redis relays this topic's publishes back to this server.
    pub relayed: bool,
    /// The subscriber count last announced to the cluster.
    pub announced: usize,
}

impl Topic {
    /// Whether the cluster should relay it here.
    pub fn wanted(&self) -> bool {
        !self.subs.is_empty() || self.history.is_some()
    }
}

/// Counters reported by [`crate::Server::stats`].
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub published: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub slow_closed: u64,
}

pub(super) struct Topics {
    by_name: NameMap<u32>,
    pub list: Slab<Topic>,
    /// The last event id handed out. Ids increase across every topic. Their
    /// top bits are random per server instance, so an id from another
    /// instance (an earlier run, another worker behind the same load
    /// balancer) is recognised as a miss instead of being matched to a
    /// different event that happens to have the same number here.
    pub last_event_id: u64,
    pub counters: Counters,
    /// Reused list of slots for publishing to everyone.
    pub scratch: Vec<usize>,
}

impl Default for Topics {
    fn default() -> Self {
        // std seeds RandomState from the OS per process: a random tag.
        let tag = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            & TAG_MAX;
        Topics {
            by_name: NameMap::default(),
            list: Slab::new(),
            last_event_id: tag.max(1) << SEQ_BITS,
            counters: Counters::default(),
            scratch: Vec::new(),
        }
    }
}

impl Topics {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(|k| &**k)
    }

    pub fn key(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn get_or_create(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.by_name.get(name) {
            return k;
        }
        let key = self.list.insert(Topic {
            name: name.into(),
            subs: Vec::new(),
            history: None,
            interest: 0,
            relayed: false,
            announced: 0,
        }) as u32;
        self.by_name.insert(name.into(), key);
        key
    }

    /// Forgets a topic nobody hears, nothing is remembered of and the
    /// cluster was not told of.
    pub fn drop_if_unused(&mut self, key: u32) {
        let t = &self.list[key as usize];
        if t.subs.is_empty() && t.history.is_none() && t.interest == 0 {
            let t = self.list.remove(key as usize);
            self.by_name.remove(&t.name);
        }
    }

    /// Adds a subscriber; returns its membership record.
    pub fn join(&mut self, key: u32, sub: Subscriber) -> Membership {
        let subs = &mut self.list[key as usize].subs;
        subs.push(sub);
        Membership {
            topic: key,
            pos: (subs.len() - 1) as u32,
        }
    }

    /// Removes the subscriber at `pos`. If another subscriber moved into
    /// its place, returns it so its membership's `pos` can be updated.
    pub fn leave(&mut self, m: Membership) -> Option<Subscriber> {
        let subs = &mut self.list[m.topic as usize].subs;
        subs.swap_remove(m.pos as usize);
        let moved = subs.get(m.pos as usize).copied();
        self.drop_if_unused(m.topic);
        moved
    }

    pub fn next_event_id(&mut self) -> u64 {
        if self.last_event_id & SEQ_MAX == SEQ_MAX {
            // 2^33 events in one run: move to the next tag. Older ids then
            // belong to another tag, which replay treats as a miss.
            let tag = ((self.last_event_id >> SEQ_BITS) + 1) & TAG_MAX;
            self.last_event_id = tag.max(1) << SEQ_BITS;
        }
        self.last_event_id += 1;
        self.last_event_id
    }

    /// Whether `id` was handed out by this instance under its current tag.
    pub fn is_ours(&self, id: u64) -> bool {
        id >> SEQ_BITS == self.last_event_id >> SEQ_BITS && id <= self.last_event_id
    }

    /// Forgets a topic's history (and the topic, if nobody hears it).
    pub fn clear_history(&mut self, name: &str) {
        if let Some(key) = self.key(name) {
            self.list[key as usize].history = None;
            self.drop_if_unused(key);
        }
    }

    pub fn set_history(&mut self, name: &str, limit: HistoryLimit, now: Instant) {
        let key = self.get_or_create(name);
        let topic = &mut self.list[key as usize];
        if topic.history.is_none() {
            // Events published before history was kept had no id and are
            // not known: burn an id, so that every id a client may hold
            // (from this topic's earlier history or another topic) is
            // below it and counts as missed.
            let floor = self.next_event_id();
            self.list[key as usize].history = Some(History {
                limit,
                entries: VecDeque::new(),
                complete_after: floor,
                cluster: None,
                floor: 0,
            });
        }
        let h = self.list[key as usize].history.as_mut().expect("just set");
        h.limit = limit;
        h.trim(now);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, at: Instant) -> Entry {
        Entry {
            id,
            at,
            kind: MessageKind::Text,
            frame: Bytes::new(),
            sse: None,
            payload: Bytes::new(),
        }
    }

    #[test]
    fn trim_by_count_and_age_records_what_was_lost() {
        let t0 = Instant::now(); // an arbitrary epoch
        let mut h = History {
            limit: HistoryLimit {
                max_events: 3,
                max_age: Duration::from_secs(10),
            },
            entries: VecDeque::new(),
            complete_after: 100,
            cluster: None,
            floor: 0,
        };
        for i in 0..5 {
            h.entries
                .push_back(entry(101 + i, t0 + Duration::from_secs(i)));
        }
        h.trim(t0);
        assert_eq!(h.entries.front().unwrap().id, 103);
        assert_eq!(h.complete_after, 102);
        // At t0+13 s the events of t0+2 s is 11 s old: gone.
        h.trim(t0 + Duration::from_secs(13));
        assert_eq!(h.entries.front().unwrap().id, 104);
        assert_eq!(h.complete_after, 103);
    }

    #[test]
    fn a_mirror_of_the_cluster_history_knows_what_it_may_replay() {
        let epoch = event_id::CLUSTER_EPOCH + 7;
        let id = |seq: u64| event_id::cluster_id(epoch, seq).unwrap();
        let limit = HistoryLimit {
            max_events: 100,
            max_age: Duration::ZERO,
        };
        let mut h = History {
            limit,
            entries: VecDeque::from([entry(3, Instant::now())]),
            complete_after: 1,
            cluster: None,
            floor: 0,
        };
        // The first sequenced event starts the mirror: local entries go,
        // a client that saw the one before it missed nothing.
        assert_eq!(h.sequenced(id(10)), Sequenced::New);
        assert!(h.entries.is_empty());
        assert_eq!(
            (h.complete_after, h.cluster),
            (id(9), Some((epoch, id(10))))
        );
        assert!(h.knows(id(10), false) && h.knows(id(9), false));
        assert!(!h.knows(id(11), false), "an id from the future");
        assert!(
            !h.knows(3, true),
            "a local id once Redis sequences the topic"
        );
        assert_eq!(h.sequenced(id(11)), Sequenced::New);
        assert_eq!(h.complete_after, id(9));
        assert_eq!(h.sequenced(id(11)), Sequenced::Duplicate);
        assert_eq!(h.sequenced(id(5)), Sequenced::Duplicate);
        // A gap: whoever saw less than 14 missed 12 and 13.
        assert_eq!(h.sequenced(id(14)), Sequenced::New);
        assert_eq!(h.complete_after, id(13));
        // Delivered here while Redis was away: a client that saw 14 missed it.
        h.unsequenced();
        assert_eq!(h.complete_after, id(15));
        // Another epoch (Redis lost its data): the old ids are unknown.
        h.entries.push_back(entry(id(14), Instant::now()));
        let other = event_id::cluster_id(epoch + 1, 1).unwrap();
        assert_eq!(h.sequenced(other), Sequenced::New);
        assert!(h.entries.is_empty() && !h.knows(id(14), false) && h.knows(other, false));
    }

    #[test]
    fn a_backfill_joins_what_redis_kept_to_what_was_heard_live() {
        let t0 = Instant::now();
        let epoch = event_id::CLUSTER_EPOCH + 2;
        let id = |seq: u64| event_id::cluster_id(epoch, seq).unwrap();
        let stored = |seqs: std::ops::RangeInclusive<u64>| seqs.map(|q| entry(id(q), t0)).collect();
        let mut h = History {
            limit: HistoryLimit {
                max_events: 100,
                max_age: Duration::ZERO,
            },
            entries: VecDeque::new(),
            complete_after: 1,
            cluster: None,
            floor: 0,
        };
        // Heard live from 50 on (subscribed late): a gap before it.
        for q in 50..=60 {
            assert_eq!(h.sequenced(id(q)), Sequenced::New);
            h.entries.push_back(entry(id(q), t0)); // as the loop records it
        }
        assert_eq!(h.complete_after, id(49));
        // Redis kept 20..=55: one run from 20 to 60.
        h.backfill(epoch, stored(20..=55), t0);
        let ids: Vec<u64> = h.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, (20..=60).map(id).collect::<Vec<_>>());
        assert_eq!(
            (h.complete_after, h.cluster),
            (id(19), Some((epoch, id(60))))
        );
        assert!(h.knows(id(19), false));
        // Events it delivered alone set a floor no backfill lowers.
        h.unsequenced();
        h.backfill(epoch, stored(1..=60), t0);
        assert_eq!(h.complete_after, id(61));
        // A kept run with a hole: only the newest part counts.
        let mut h2 = History {
            cluster: None,
            floor: 0,
            entries: VecDeque::new(),
            ..h
        };
        let mut holed: Vec<Entry> = stored(1..=5);
        holed.extend(stored(8..=9));
        h2.backfill(epoch, holed, t0);
        assert_eq!(h2.entries.len(), 2);
        assert_eq!(h2.complete_after, id(7));
        // The limit holds.
        h2.limit.max_events = 3;
        h2.backfill(epoch, stored(1..=9), t0);
        assert_eq!(
            h2.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![id(7), id(8), id(9)]
        );
        assert_eq!(h2.complete_after, id(6));
    }

    #[test]
    fn ids_fit_a_javascript_number_and_roll_over_to_a_new_tag() {
        let mut t = Topics::default();
        let first = t.next_event_id();
        assert!(first < 1 << 53 && t.is_ours(first));
        t.last_event_id |= SEQ_MAX; // the last id of this tag
        let old = t.last_event_id;
        let next = t.next_event_id();
        assert!(next < 1 << 53 && next >> SEQ_BITS != old >> SEQ_BITS);
        assert!(!t.is_ours(old) && !t.is_ours(first) && t.is_ours(next));
    }

    #[test]
    fn leaving_moves_the_last_subscriber_into_the_gap() {
        let mut t = Topics::default();
        let k = t.get_or_create("room");
        let subs: Vec<_> = (0..3)
            .map(|i| {
                t.join(
                    k,
                    Subscriber {
                        slot: i,
                        id: ConnId::from_raw(i as u64 + 1),
                    },
                )
            })
            .collect();
        let moved = t.leave(subs[0]).unwrap();
        assert_eq!(moved.slot, 2);
        assert_eq!(t.list[k as usize].subs[0].slot, 2);
        assert!(t.leave(Membership { topic: k, pos: 1 }).is_none());
        assert!(t.leave(Membership { topic: k, pos: 0 }).is_none());
        assert_eq!(t.key("room"), None, "an unused topic is forgotten");
    }
}
