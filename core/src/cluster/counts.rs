//! Subscriber counts across the cluster, kept without asking Redis on a
//! call: every server announces its own counts on `wsrt:counts` (a change
//! soon after it happens, everything every [`HEARTBEAT`], nothing when it
//! stops) and keeps what the others announced, forgetting a server not
//! heard from for [`EXPIRY`] (it crashed or lost Redis). A count is
//! therefore as fresh as the last announcement: a snapshot, not a lock.
//!
//! ```text
//! version u8 (4) | node u64 LE | kind u8 (0 change, 1 everything)
//!   | entries: count u32 LE, each: topic length u32 LE | topic | count u64 LE
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);
pub(super) const EXPIRY: Duration = Duration::from_secs(5);

const VERSION: u8 = 4;

/// One announcement.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Announcement {
    pub node: u64,
    /// Everything this server counts (topics not listed have none); else
    /// changes only.
    pub everything: bool,
    pub entries: Vec<(String, u64)>,
}

impl Announcement {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            14 + self
                .entries
                .iter()
                .map(|(t, _)| 12 + t.len())
                .sum::<usize>(),
        );
        v.push(VERSION);
        v.extend_from_slice(&self.node.to_le_bytes());
        v.push(self.everything as u8);
        v.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (topic, n) in &self.entries {
            v.extend_from_slice(&(topic.len() as u32).to_le_bytes());
            v.extend_from_slice(topic.as_bytes());
            v.extend_from_slice(&n.to_le_bytes());
        }
        v
    }

    pub fn decode(b: &[u8]) -> Result<Announcement, &'static str> {
        let mut r = b;
        let mut take = |n: usize| -> Result<&[u8], &'static str> {
            if r.len() < n {
                return Err("truncated");
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Ok(head)
        };
        if take(1)? != [VERSION] {
            return Err("unknown version");
        }
        let node = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        let everything = match take(1)?[0] {
            0 => false,
            1 => true,
            _ => return Err("unknown kind"),
        };
        let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let mut entries = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let topic = std::str::from_utf8(take(len)?).map_err(|_| "topic is not UTF-8")?;
            let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
            entries.push((topic.to_string(), count));
        }
        if !r.is_empty() {
            return Err("bytes after the end");
        }
        Ok(Announcement {
            node,
            everything,
            entries,
        })
    }
}

/// What the other servers announced.
#[derive(Debug, Default)]
pub(super) struct Elsewhere {
    nodes: HashMap<u64, Node>,
    /// Sum over the nodes, by topic.
    totals: HashMap<String, u64>,
}

#[derive(Debug)]
struct Node {
    heard: Instant,
    topics: HashMap<String, u64>,
}

impl Elsewhere {
    pub fn apply(&mut self, a: Announcement, now: Instant) {
        let node = self.nodes.entry(a.node).or_insert_with(|| Node {
            heard: now,
            topics: HashMap::new(),
        });
        node.heard = now;
        if a.everything {
            for (topic, n) in node.topics.drain() {
                subtract(&mut self.totals, &topic, n);
            }
        }
        for (topic, n) in a.entries {
            let old = match n {
                0 => node.topics.remove(&topic),
                n => node.topics.insert(topic.clone(), n),
            };
            if let Some(old) = old {
                subtract(&mut self.totals, &topic, old);
            }
            if n > 0 {
                *self.totals.entry(topic).or_default() += n;
            }
        }
        if a.everything && node.topics.is_empty() {
            // Nothing counted there (or the server is leaving): forgotten
            // until it announces again.
            self.nodes.remove(&a.node);
        }
    }

    /// Forgets servers not heard from for `EXPIRY`.
    pub fn expire(&mut self, now: Instant) {
        let totals = &mut self.totals;
        self.nodes.retain(|_, node| {
            let alive = now.saturating_duration_since(node.heard) < EXPIRY;
            if !alive {
                for (topic, n) in node.topics.drain() {
                    subtract(totals, &topic, n);
                }
            }
            alive
        });
    }

    /// Forgets everything (this server lost its subscription: it hears no
    /// announcements until it is back).
    pub fn clear(&mut self) {
        *self = Elsewhere::default();
    }

    pub fn count(&self, topic: &str) -> u64 {
        self.totals.get(topic).copied().unwrap_or(0)
    }
}

fn subtract(totals: &mut HashMap<String, u64>, topic: &str, n: u64) {
    if let Some(t) = totals.get_mut(topic) {
        *t = t.saturating_sub(n);
        if *t == 0 {
            totals.remove(topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(node: u64, everything: bool, entries: &[(&str, u64)]) -> Announcement {
        Announcement {
            node,
            everything,
            entries: entries.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn decode_reads_what_encode_wrote_and_refuses_garbage() {
        let x = a(9, true, &[("room", 3), ("caf\u{e9}", 0), ("", 1)]);
        let v = x.encode();
        assert_eq!(Announcement::decode(&v), Ok(x));
        for cut in 0..v.len() {
            assert!(Announcement::decode(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = v.clone();
        bad[9] = 2;
        assert_eq!(Announcement::decode(&bad), Err("unknown kind"));
        let mut bad = v;
        bad.push(0);
        assert_eq!(Announcement::decode(&bad), Err("bytes after the end"));
    }

    #[test]
    fn counts_add_up_change_and_expire_in_virtual_time() {
        let t0 = Instant::now(); // an arbitrary epoch
        let mut e = Elsewhere::default();
        e.apply(a(1, true, &[("room", 2), ("other", 1)]), t0);
        e.apply(a(2, false, &[("room", 3)]), t0);
        assert_eq!(
            (e.count("room"), e.count("other"), e.count("none")),
            (5, 1, 0)
        );
        // A change, then a topic's last subscriber leaving.
        e.apply(a(2, false, &[("room", 1)]), t0);
        e.apply(a(1, false, &[("other", 0)]), t0);
        assert_eq!((e.count("room"), e.count("other")), (3, 0));
        // Everything replaces what a server counted before.
        e.apply(a(1, true, &[("new", 4)]), t0 + Duration::from_secs(3));
        assert_eq!((e.count("room"), e.count("new")), (1, 4));
        // Server 2 went quiet at t0: gone once EXPIRY has passed.
        e.expire(t0 + EXPIRY - Duration::from_millis(1));
        assert_eq!(e.count("room"), 1);
        e.expire(t0 + EXPIRY);
        assert_eq!((e.count("room"), e.count("new")), (0, 4));
        // A server leaving says it counts nothing.
        e.apply(a(1, true, &[]), t0 + EXPIRY);
        assert_eq!(e.count("new"), 0);
        assert!(e.nodes.is_empty() && e.totals.is_empty());
    }
}
