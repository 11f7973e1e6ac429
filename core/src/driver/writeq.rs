//! Per-connection output queue, flushed with `writev`.
//!
//! Small frames are appended to an owned buffer borrowed from a loop-wide
//! pool, so a busy connection reuses the same memory for every message and
//! an idle one holds none. Large or shared payloads (one encoded frame sent
//! to many connections) are queued as `Bytes` without copying.

use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Owned chunks are filled up to this before a new one is started.
const CHUNK_FILL: usize = 64 * 1024;
/// Borrowed payloads up to this size are copied into a pooled buffer;
/// bigger ones get an allocation of their own. Up to the pool's buffer
/// size, the pool spares a malloc (and its page faults) per message.
pub(super) const COPY_INTO_POOL_LIMIT: usize = BufferPool::MAX_POOLED_CAPACITY - 64;
/// At most this many slices go into one `writev`.
const MAX_IOVECS: usize = 64;

#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Shared(Bytes),
    /// Bytes of the loop's read buffer (a reply with a received payload),
    /// which keep a whole read block from reuse while queued.
    Lent(Bytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(b) | Chunk::Lent(b) => b,
        }
    }
}

/// Recycled buffers for owned chunks, shared by every connection of a loop.
#[derive(Debug, Default)]
pub(super) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    const MAX_POOLED: usize = 256;
    const MAX_POOLED_CAPACITY: usize = 256 * 1024;

    fn take(&mut self, need: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut v) => {
                v.reserve(need);
                v
            }
            None => Vec::with_capacity(need.max(4096)),
        }
    }

    fn give(&mut self, mut v: Vec<u8>) {
        if self.free.len() < Self::MAX_POOLED && v.capacity() <= Self::MAX_POOLED_CAPACITY {
            v.clear();
            self.free.push(v);
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct WriteQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    head: usize,
    len: usize,
    /// `Lent` chunks queued.
    lent: usize,
}

impl WriteQueue {
    /// Bytes queued and not yet accepted by the socket.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends through a closure that writes into an owned tail buffer, so
    /// encoders write straight into the queue.
    pub fn append_with<R>(
        &mut self,
        pool: &mut BufferPool,
        need: usize,
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> R {
        let reuse_tail = matches!(self.chunks.back(), Some(Chunk::Owned(v)) if v.len() + need <= CHUNK_FILL.max(v.capacity()));
        if !reuse_tail {
            self.reserve_one();
            self.chunks.push_back(Chunk::Owned(pool.take(need)));
        }
        let Some(Chunk::Owned(tail)) = self.chunks.back_mut() else {
            unreachable!()
        };
        let before = tail.len();
        let r = f(tail);
        self.len += tail.len() - before;
        r
    }

    pub fn append(&mut self, pool: &mut BufferPool, bytes: &[u8]) {
        self.append_with(pool, bytes.len(), |v| v.extend_from_slice(bytes));
    }

    /// Queues shared bytes without copying.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.reserve_one();
            self.chunks.push_back(Chunk::Shared(bytes));
        }
    }

    /// Queues bytes of the loop's read buffer without copying (see
    /// [`WriteQueue::unpin`]).
    pub fn push_lent(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.lent += 1;
            self.reserve_one();
            self.chunks.push_back(Chunk::Lent(bytes));
        }
    }

    /// Copies lent chunks into buffers of their own: called when the
    /// socket stops taking bytes, so a peer that does not read holds what
    /// it is owed, not the read blocks those bytes arrived in.
    pub fn unpin(&mut self) {
        if self.lent == 0 {
            return;
        }
        for c in self.chunks.iter_mut() {
            if let Chunk::Lent(b) = c {
                *c = Chunk::Shared(Bytes::copy_from_slice(b));
            }
        }
        self.lent = 0;
    }

    /// An idle connection has written one chunk (its handshake answer)
    /// and may never queue two: its first push reserves room for one, not
    /// the four a `VecDeque` reserves by default; a busier one grows as
    /// usual, once.
    fn reserve_one(&mut self) {
        if self.chunks.capacity() == 0 {
            self.chunks.reserve_exact(1);
        }
    }

    /// Writes as much as the socket takes. Returns `Ok(true)` when the queue
    /// is empty, `Ok(false)` when the socket would block.
    pub fn flush<W: Write>(&mut self, w: &mut W, pool: &mut BufferPool) -> io::Result<bool> {
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut n = 0;
            for (i, c) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                let b = c.bytes();
                slices[i] = IoSlice::new(if i == 0 { &b[self.head..] } else { b });
                n += 1;
            }
            match w.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written, pool),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn consume(&mut self, mut n: usize, pool: &mut BufferPool) {
        self.len -= n;
        while n > 0 {
            let front_left = self.chunks[0].bytes().len() - self.head;
            if n < front_left {
                self.head += n;
                return;
            }
            n -= front_left;
            self.head = 0;
            match self.chunks.pop_front() {
                Some(Chunk::Owned(v)) => pool.give(v),
                Some(Chunk::Lent(_)) => self.lent -= 1,
                _ => {}
            }
        }
        if self.len == 0 {
            // An owned chunk emptied exactly; hand any leftovers back.
            while let Some(c) = self.chunks.pop_front() {
                if let Chunk::Owned(v) = c {
                    pool.give(v);
                }
            }
            self.head = 0;
            self.lent = 0;
        }
    }

    /// Drops everything queued (the connection is going away).
    pub fn clear(&mut self, pool: &mut BufferPool) {
        for c in self.chunks.drain(..) {
            if let Chunk::Owned(v) = c {
                pool.give(v);
            }
        }
        self.head = 0;
        self.len = 0;
        self.lent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then would block
    /// once every `block_every` calls.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        calls: usize,
        block_every: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % self.block_every == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut left = self.cap;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                self.out.extend_from_slice(&b[..take]);
                left -= take;
                n += take;
                if left == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn mixed_chunks_arrive_in_order_through_partial_writes() {
        let mut pool = BufferPool::default();
        let mut q = WriteQueue::default();
        let mut expect = Vec::new();
        for i in 0..200u32 {
            let small = i.to_be_bytes();
            q.append(&mut pool, &small);
            expect.extend_from_slice(&small);
            if i % 17 == 0 {
                let big = Bytes::from(vec![i as u8; 20_000]);
                expect.extend_from_slice(&big);
                q.push_shared(big);
            }
        }
        assert_eq!(q.len(), expect.len());
        let mut w = Trickle {
            out: Vec::new(),
            cap: 777,
            calls: 0,
            block_every: 5,
        };
        while !q.flush(&mut w, &mut pool).unwrap() {}
        assert_eq!(w.out, expect);
        assert!(q.is_empty());
        assert!(!pool.free.is_empty(), "owned buffers go back to the pool");
    }

    #[test]
    fn unpin_lets_go_of_the_read_block_and_keeps_the_bytes() {
        let mut pool = BufferPool::default();
        let mut q = WriteQueue::default();
        let block = Bytes::from((0..100u8).collect::<Vec<u8>>());
        q.append(&mut pool, b"head");
        q.push_lent(block.slice(10..40));
        q.push_lent(block.slice(50..60));
        let mut w = Trickle {
            out: Vec::new(),
            cap: 20,
            calls: 0,
            block_every: 2,
        };
        // Part of the first lent chunk goes out, then the socket blocks.
        assert!(!q.flush(&mut w, &mut pool).unwrap());
        q.unpin();
        assert!(block.is_unique(), "the queue no longer holds the block");
        while !q.flush(&mut w, &mut pool).unwrap() {}
        let mut expect = b"head".to_vec();
        expect.extend(10..40u8);
        expect.extend(50..60u8);
        assert_eq!(w.out, expect);
        assert_eq!(q.lent, 0);
    }
}
