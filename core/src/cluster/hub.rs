//! What the loops of one server share about the cluster (`workers` > 1):
//! the server is one member, with one node id and one pair of Redis
//! connections, whatever its number of loops.
//!
//! - Interest: Redis is asked to relay a topic while any loop wants it
//!   (the union), under one number that every loop's `Relayed` check
//!   compares with; a loop that wants a topic Redis relays already is told
//!   so at once (the `Relayed` went by before it asked).
//! - Counts: the server announces the sum of its loops' subscribers.
//!
//! A backfill (a read of a topic's history) any loop asks for is answered
//! to every loop; the subscriber merges the same reads asked together, and
//! a read applied again changes nothing.
//!
//! With one loop it changes nothing: a topic is joined and left as that
//! loop says, its count is that loop's.

use super::FromCluster;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Hub {
    /// Numbers each interest (a topic joined), for `Relayed` to name.
    last_number: u64,
    topics: HashMap<String, Interest>,
    /// Each topic's subscribers on each loop, while any has some.
    counts: HashMap<String, Vec<u64>>,
    loops: usize,
}

struct Interest {
    number: u64,
    /// The loops that want it (bit per loop).
    loops: u64,
    /// Redis relays it here.
    relayed: bool,
}

/// What loop `i` joining a topic gets.
pub(super) struct Joined {
    /// The number the topic's `Relayed` carries.
    pub number: u64,
    /// Redis relays the topic already.
    pub relayed: bool,
    /// This is the server's first interest in it: ask Redis.
    pub ask: bool,
}

impl Hub {
    pub fn new(loops: usize) -> Hub {
        Hub {
            loops: loops.max(1),
            ..Hub::default()
        }
    }

    pub fn join(&mut self, i: usize, topic: &str) -> Joined {
        if let Some(t) = self.topics.get_mut(topic) {
            t.loops |= 1 << i;
            return Joined {
                number: t.number,
                relayed: t.relayed,
                ask: false,
            };
        }
        self.last_number += 1;
        self.topics.insert(
            topic.to_string(),
            Interest {
                number: self.last_number,
                loops: 1 << i,
                relayed: false,
            },
        );
        Joined {
            number: self.last_number,
            relayed: false,
            ask: true,
        }
    }

    /// Loop `i` no longer wants `topic`: true if no loop does (leave it).
    pub fn leave(&mut self, i: usize, topic: &str) -> bool {
        let Some(t) = self.topics.get_mut(topic) else {
            return false;
        };
        t.loops &= !(1 << i);
        if t.loops != 0 {
            return false;
        }
        self.topics.remove(topic);
        true
    }

    /// Loop `i` is closed: the topics only it wanted (to leave), and the
    /// totals of the topics it had subscribers of (to announce).
    pub fn forget(&mut self, i: usize) -> (Vec<String>, Vec<(String, u64)>) {
        let wanted: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, t)| t.loops & (1 << i) != 0)
            .map(|(name, _)| name.clone())
            .collect();
        let left = wanted.into_iter().filter(|t| self.leave(i, t)).collect();
        let counted: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, per_loop)| per_loop.get(i).is_some_and(|&n| n != 0))
            .map(|(name, _)| name.clone())
            .collect();
        let totals = counted
            .into_iter()
            .map(|t| {
                let n = self.count(i, &t, 0);
                (t, n)
            })
            .collect();
        (left, totals)
    }

    /// Loop `i` has `n` subscribers of `topic`: the server's total.
    pub fn count(&mut self, i: usize, topic: &str, n: u64) -> u64 {
        let loops = self.loops;
        let per_loop = self
            .counts
            .entry(topic.to_string())
            .or_insert_with(|| vec![0; loops]);
        if let Some(c) = per_loop.get_mut(i) {
            *c = n;
        }
        let total = per_loop.iter().sum();
        if total == 0 {
            self.counts.remove(topic);
        }
        total
    }

    /// Notes what the cluster's threads tell the loops, before they do.
    pub fn observe(&mut self, m: &FromCluster) {
        match m {
            FromCluster::Relayed(list) => {
                for (name, number) in list {
                    if let Some(t) = self.topics.get_mut(name) {
                        t.relayed |= t.number == *number;
                    }
                }
            }
            FromCluster::Lost => self.topics.values_mut().for_each(|t| t.relayed = false),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_joined_once_and_left_with_its_last_loop() {
        let mut h = Hub::new(2);
        let a = h.join(0, "t");
        assert!(a.ask && !a.relayed);
        let b = h.join(1, "t");
        assert!(!b.ask && b.number == a.number);
        assert!(!h.leave(0, "t"));
        assert!(h.leave(1, "t"));
        // A new interest gets a new number: an old `Relayed` is stale.
        assert!(h.join(1, "t").number > a.number);
    }

    #[test]
    fn a_loop_joining_a_relayed_topic_is_told_so() {
        let mut h = Hub::new(2);
        let a = h.join(0, "t");
        h.observe(&FromCluster::Relayed(vec![("t".into(), a.number + 7)]));
        assert!(!h.join(1, "t").relayed, "an answer to another interest");
        h.observe(&FromCluster::Relayed(vec![("t".into(), a.number)]));
        h.leave(1, "t");
        assert!(h.join(1, "t").relayed);
        h.observe(&FromCluster::Lost);
        h.leave(1, "t");
        assert!(!h.join(1, "t").relayed);
    }

    #[test]
    fn counts_add_up_over_the_loops() {
        let mut h = Hub::new(3);
        assert_eq!(h.count(0, "t", 4), 4);
        assert_eq!(h.count(2, "t", 5), 9);
        assert_eq!(h.count(0, "t", 1), 6);
        assert_eq!(h.count(2, "t", 0), 1);
        assert_eq!(h.count(0, "t", 0), 0);
        assert!(h.counts.is_empty());
    }

    #[test]
    fn a_closed_loop_leaves_what_only_it_wanted_and_its_count() {
        let mut h = Hub::new(2);
        h.join(0, "both");
        h.join(1, "both");
        h.join(1, "mine");
        h.count(0, "both", 2);
        h.count(1, "both", 3);
        h.count(1, "mine", 1);
        let (left, mut totals) = h.forget(1);
        totals.sort();
        assert_eq!(left, vec!["mine".to_string()]);
        assert_eq!(totals, vec![("both".into(), 2), ("mine".into(), 0)]);
        assert!(h.leave(0, "both"));
    }
}
