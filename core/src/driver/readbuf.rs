//! The loop's read buffer, from which payloads are lent instead of copied.
//!
//! Reads go into the free front of a block. When a read carries a message
//! (or another payload) the batch refers to, its bytes are split off the
//! block as a shared part: the payload reaches the application without a
//! copy into the event arena, and a reply that sends it back can queue the
//! same bytes (see `ConnOut::append_frame`). A read nothing refers to
//! leaves the block as it was, so the next read reuses the same bytes.
//!
//! A block whose free front has shrunk below a read's worth is retired and
//! comes back once every part of it is dropped (the batch after next, a
//! flushed queue), so a busy loop cycles through a few blocks without
//! allocating.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// The size of a block. Measured on the 64 KiB echo (`make bench`): reads
/// of up to 1 MiB take several frames whole where 64 KiB reads split
/// nearly every one, and cost the least CPU per message of 128 KiB to
/// 2 MiB blocks.
const BLOCK: usize = 1 << 20;
/// A read gets at least this much room; below it the block is retired.
const MIN_READ: usize = 256 * 1024;
/// Retired blocks kept for reuse; beyond this the oldest is let go (its
/// memory is freed when its last part is).
const KEEP_RETIRED: usize = 4;

pub(super) struct ReadBlocks {
    /// The free front of the current block: always fully initialised,
    /// at least `MIN_READ` long between reads.
    block: BytesMut,
    /// Blocks waiting for their parts to be dropped.
    retired: VecDeque<BytesMut>,
}

impl ReadBlocks {
    pub fn new() -> Self {
        ReadBlocks {
            block: BytesMut::zeroed(BLOCK),
            retired: VecDeque::new(),
        }
    }

    /// The block to read into (at least `MIN_READ` bytes), taken out so the
    /// loop can be borrowed while its bytes are handled; give it back with
    /// [`ReadBlocks::put_back`].
    pub fn take(&mut self) -> BytesMut {
        if self.block.len() < MIN_READ {
            self.renew();
        }
        std::mem::take(&mut self.block)
    }

    /// Returns the block after a read of `n` bytes; `lent`: the batch
    /// refers to those bytes, which become the returned part.
    pub fn put_back(&mut self, mut block: BytesMut, n: usize, lent: bool) -> Option<Bytes> {
        let part = lent.then(|| block.split_to(n).freeze());
        self.block = block;
        part
    }

    /// Replaces the current block with a retired one whose parts are all
    /// gone, or a new one.
    fn renew(&mut self) {
        // Kept even when a read took its last byte (no capacity left): the
        // handle is what reclaims the allocation later.
        let mut old = std::mem::take(&mut self.block);
        old.clear();
        self.retired.push_back(old);
        let reusable = self.retired.iter_mut().position(|b| b.try_reclaim(BLOCK));
        self.block = match reusable.and_then(|i| self.retired.remove(i)) {
            Some(mut b) => {
                debug_assert!(b.capacity() >= BLOCK);
                // SAFETY: a reclaimed block is a whole allocation made by
                // `BytesMut::zeroed` (`try_reclaim` never allocates) and
                // only ever overwritten with read bytes since, so all of
                // its capacity is initialised.
                unsafe { b.set_len(b.capacity()) };
                b
            }
            None => {
                if self.retired.len() > KEEP_RETIRED {
                    self.retired.pop_front();
                }
                BytesMut::zeroed(BLOCK)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_nobody_refers_to_reuses_the_same_bytes() {
        let mut r = ReadBlocks::new();
        let b = r.take();
        let at = b.as_ptr();
        assert!(r.put_back(b, 100, false).is_none());
        assert_eq!(r.take().as_ptr(), at);
    }

    #[test]
    fn lent_reads_are_parts_and_a_block_comes_back_when_they_are_dropped() {
        let mut r = ReadBlocks::new();
        let mut parts = Vec::new();
        let first = r.take();
        let start = first.as_ptr();
        let mut b = first;
        // Lend reads until the block is retired and a second one is made.
        loop {
            b[..4].copy_from_slice(b"abcd");
            parts.push(r.put_back(b, MIN_READ, true).unwrap());
            b = r.take();
            if b.as_ptr() < start || b.as_ptr() >= start.wrapping_add(BLOCK) {
                break;
            }
        }
        assert!(parts
            .iter()
            .all(|p| &p[..4] == b"abcd" && p.len() == MIN_READ));
        let second = b.as_ptr();
        // While parts of the first block live, the next renewal cannot
        // take it back; once they are dropped, it does.
        parts.clear();
        let n = b.len();
        let _held = r.put_back(b, n, true).unwrap();
        let b = r.take();
        assert_eq!(b.as_ptr(), start, "the first block is reused");
        assert_eq!(b.len(), BLOCK);
        assert_ne!(b.as_ptr(), second);
    }
}
