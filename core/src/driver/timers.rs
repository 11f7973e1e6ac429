//! Connection deadlines in a min-heap with lazy invalidation.
//!
//! Each connection remembers the one deadline it asked for. Activity never
//! touches the heap: when an entry fires, the connection recomputes what it
//! needs from its timestamps (last read, close start, ...) and asks again.
//! So an active connection costs one heap entry per timeout period, not one
//! per message, and stale entries are skipped when popped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl TimerHeap {
    pub fn push(&mut self, at: Instant, slot: usize, id: u64) {
        self.heap.push(Reverse((at, slot, id)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops one entry that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, usize, u64)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
