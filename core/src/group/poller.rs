//! One loop of a server, driven by a thread of the application's own:
//! what thread-per-core programs use instead of the merged `poll` (C:
//! `wsrt_server_split`). Each `LoopPoller` polls its loop and hands that
//! loop's events to its thread; calls on connections go through a
//! `Handle` (`LoopPoller::handle`: any loop's connection, from any
//! thread); publishes reach every loop in one order, as with the worker
//! threads.

use super::loops::Loops;
use super::wait::wait_readable;
use crate::error::Result;
use crate::event::Events;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

pub struct LoopPoller {
    loops: Arc<Loops>,
    index: usize,
    /// Batches the loop's worker made before the loops were handed out.
    pending: VecDeque<Events>,
}

impl LoopPoller {
    pub(crate) fn new(loops: Arc<Loops>, index: usize, pending: VecDeque<Events>) -> LoopPoller {
        LoopPoller {
            loops,
            index,
            pending,
        }
    }

    /// Which loop this is (`ConnId::loop_index` of its connections).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Runs the loop once, as `Server::poll` does with one loop: waits up
    /// to `timeout` (and the loop's timers) for I/O outside the loop's
    /// lock (so that other threads' calls reach it meanwhile), then runs
    /// a turn and replaces `events` with what happened on this loop.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        if let Some(batch) = self.pending.pop_front() {
            *events = batch;
            return Ok(());
        }
        let (fd, timers) = self
            .loops
            .with(self.index, |d| (d.raw_fd(), d.next_timeout()))?;
        let wait = match (timeout, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if wait != Some(Duration::ZERO) {
            wait_readable(fd, wait);
        }
        self.loops
            .with(self.index, |d| d.poll(events, Some(Duration::ZERO)))?
    }

    /// The loop's epoll descriptor, for a host event loop (readable when
    /// `poll` has work; honour `next_timeout` too).
    pub fn raw_fd(&self) -> Result<std::os::fd::RawFd> {
        self.loops.with(self.index, |d| d.raw_fd())
    }

    /// How long a host loop may wait before calling `poll` (timers).
    pub fn next_timeout(&self) -> Option<Duration> {
        self.loops
            .with(self.index, |d| d.next_timeout())
            .ok()
            .flatten()
    }

    /// True once a shutdown has begun and this loop's connections are
    /// gone (a handle's `shutdown` reaches every loop).
    pub fn is_finished(&self) -> bool {
        self.loops
            .with(self.index, |d| d.is_finished())
            .unwrap_or(true)
    }

    /// The loops this one belongs to (what its handle reaches: see
    /// `LoopPoller::handle`, defined beside `Handle`).
    pub(crate) fn loops(&self) -> Arc<Loops> {
        self.loops.clone()
    }
}

impl Drop for LoopPoller {
    /// Closes this loop: its listener and connections (a shutdown first
    /// closes them gracefully).
    fn drop(&mut self) {
        self.loops.close(self.index);
    }
}
