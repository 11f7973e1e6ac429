//! Connection deadlines in a min-heap with lazy invalidation.
//!
//! Each connection remembers the one deadline it asked for. Activity never
//! touches the heap: when an entry fires, the connection recomputes what it
//! needs from its timestamps (last read, close start, ...) and asks again.
//! So an active connection costs one heap entry per timeout period, not one
//! per message, and stale entries are skipped when popped.

use super::Driver;
use crate::event::{ConnId, IdKind};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Default)]
pub(super) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, usize, ConnId)>>,
}

impl TimerHeap {
    pub fn push(&mut self, at: Instant, slot: usize, id: ConnId) {
        self.heap.push(Reverse((at, slot, id)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops one entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize, ConnId)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}

impl Driver {
    /// Runs every connection timer due now, then the loop's own.
    pub(super) fn run_timers(&mut self) {
        // Taken first, then run: a timer that re-arms for now (it should
        // not) waits for the next turn instead of spinning in this one.
        let mut due = Vec::new();
        while let Some(entry) = self.timers.pop_due(self.now) {
            due.push(entry);
        }
        for (at, slot, id) in due {
            match id.kind() {
                IdKind::Session => {
                    self.session_timer(slot, id, at);
                    continue;
                }
                IdKind::Socket => {
                    self.socket_timer(slot, id);
                    continue;
                }
                IdKind::Conn => {}
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id != id || conn.armed != Some(at) {
                continue; // superseded
            }
            conn.armed = None;
            self.with_proto(slot, |c, cx| c.handle_timeout(cx));
        }
        self.retry_accept();
        self.check_shutdown_deadline();
    }
}
