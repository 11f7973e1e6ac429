//! What the application thread, the workers and handles share: the loops
//! (each behind a mutex held for one turn or one call, never while a
//! worker waits for I/O), the queue of batches waiting for the
//! application, and the one order publishes reach the loops in.

use super::wait::{wait_readable, EventFd};
use crate::cluster::FromCluster;
use crate::driver::{CarriedForms, Driver, Inbox};
use crate::error::{Error, Result};
use crate::event::{ConnId, Events};
use crate::pubsub::{Broadcast, HistoryLimit, Publish, Published};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One turn's events of one loop, lent to the application.
pub(super) struct Batch {
    pub loop_index: usize,
    pub events: Events,
}

pub(crate) struct Loops {
    /// `None` once the server is dropped (handles may outlive it).
    drivers: Vec<Mutex<Option<Driver>>>,
    inboxes: Vec<Arc<Inbox>>,
    /// Held while a publish or a history change goes through every loop,
    /// so that each sees them in one order and hands out the same ids.
    order: Mutex<()>,
    ready: Mutex<VecDeque<Batch>>,
    /// Readable while `ready` holds a batch (written and drained under its
    /// lock): what the application's event loop watches.
    ready_fd: EventFd,
    /// Batch buffers the application is done with, for the workers to
    /// fill again (their arenas keep their capacity).
    spare: Mutex<Vec<Events>>,
    stop: AtomicBool,
    /// Workers that have ended (their loop finished): counted before
    /// they wake the application, so that a wake it drained unawares is
    /// still seen.
    exits: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a handler of another thread does not make the loop's
    // state unusable: every call leaves it consistent between steps.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loops {
    pub fn new(drivers: Vec<Driver>) -> Result<Loops> {
        Ok(Loops {
            inboxes: drivers.iter().map(Driver::inbox).collect(),
            drivers: drivers.into_iter().map(|d| Mutex::new(Some(d))).collect(),
            order: Mutex::new(()),
            ready: Mutex::new(VecDeque::new()),
            ready_fd: EventFd::new()?,
            spare: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            exits: AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.drivers.len()
    }

    /// Runs `f` on loop `i` (locked for the call); an error once the
    /// server is gone.
    pub fn with<R>(&self, i: usize, f: impl FnOnce(&mut Driver) -> R) -> Result<R> {
        match lock(&self.drivers[i]).as_mut() {
            Some(d) => Ok(f(d)),
            None => Err(Error::stopped()),
        }
    }

    /// The loop that owns `conn`; an id no loop of this server made is
    /// unknown.
    pub fn owner(&self, conn: ConnId) -> Result<usize> {
        match conn.loop_index() {
            i if i < self.len() => Ok(i),
            _ => Err(Error::unknown_connection()),
        }
    }

    pub fn inbox(&self, i: usize) -> &Inbox {
        &self.inboxes[i]
    }

    /// Makes every loop run a turn (to write what was queued from here).
    pub fn nudge_all(&self) {
        self.inboxes.iter().for_each(|i| i.nudge());
    }

    /// Publishes on every loop in turn, the first counting it: the forms
    /// are made once and shared, the ids agree, the counts add up.
    pub fn publish(&self, topic: Option<&str>, msg: &Publish<'_>) -> Result<Published> {
        let _order = lock(&self.order);
        let mut carried = CarriedForms::default();
        let mut total = Published::default();
        for i in 0..self.len() {
            let r = self.with(i, |d| d.publish_in_group(topic, msg, i == 0, &mut carried))??;
            total.delivered += r.delivered;
            total.dropped += r.dropped;
            total.closed += r.closed;
            total.event_id = total.event_id.or(r.event_id);
            if carried.sequenced() {
                break; // every loop delivers it when Redis brings it back
            }
        }
        Ok(total)
    }

    /// Emits a Socket.IO broadcast on every loop in turn, the first
    /// counting it (and sending it to the cluster).
    pub fn broadcast(&self, b: &Broadcast<'_>) -> Result<usize> {
        let _order = lock(&self.order);
        let mut queued = 0;
        for i in 0..self.len() {
            queued += self.with(i, |d| d.broadcast_in_group(b, i == 0))??;
        }
        Ok(queued)
    }

    /// Hands what the cluster's threads bring to every loop, in the order
    /// of the group's own publishes, and wakes the loops that have
    /// something to write.
    pub fn apply_cluster(&self, m: &FromCluster) {
        let order = lock(&self.order);
        let mut carried = CarriedForms::default();
        // A loop closed (the server is going) takes nothing.
        let mut wrote = 0u64; // a bit per loop (at most 64)
        for i in 0..self.len() {
            let r = self.with(i, |d| d.apply_cluster(m, Some(&mut carried)));
            wrote |= u64::from(r.unwrap_or(false)) << i;
        }
        drop(order);
        for i in (0..self.len()).filter(|i| wrote & (1 << i) != 0) {
            self.inboxes[i].nudge();
        }
    }

    pub fn set_topic_history(&self, topic: &str, limit: HistoryLimit) -> Result<()> {
        let _order = lock(&self.order);
        (0..self.len()).try_for_each(|i| self.with(i, |d| d.set_topic_history(topic, limit)))
    }

    pub fn clear_topic_history(&self, topic: &str) -> Result<()> {
        let _order = lock(&self.order);
        (0..self.len()).try_for_each(|i| self.with(i, |d| d.clear_topic_history(topic)))
    }

    /// A worker hands its turn's events over.
    pub(super) fn push_ready(&self, batch: Batch) {
        let mut ready = lock(&self.ready);
        ready.push_back(batch);
        if ready.len() == 1 {
            self.ready_fd.signal();
        }
    }

    /// The next batch, waiting up to `timeout` (`None`: until one comes)
    /// unless a worker has ended since `seen_exits` (the application
    /// then looks at `is_finished` again).
    pub(super) fn pop_ready(
        &self,
        timeout: Option<Duration>,
        seen_exits: &mut usize,
    ) -> Option<Batch> {
        if let Some(b) = self.try_pop() {
            return Some(b);
        }
        // Read after the drain in `try_pop`: a worker that ended before
        // it is counted here; one that ends after it leaves the eventfd
        // readable for the wait.
        let exits = self.exits.load(Ordering::SeqCst);
        if exits != *seen_exits {
            *seen_exits = exits;
            return None;
        }
        if timeout != Some(Duration::ZERO) {
            wait_readable(self.ready_fd.raw(), timeout);
        }
        self.try_pop()
    }

    fn try_pop(&self) -> Option<Batch> {
        let mut ready = lock(&self.ready);
        let b = ready.pop_front();
        if ready.is_empty() {
            // Also clears a wake without a batch (`wake_app`).
            self.ready_fd.drain();
        }
        b
    }

    /// The batches loop `i`'s worker left for the application, in order
    /// (taken when the loops are handed to the application's threads).
    pub(super) fn take_ready(&self, i: usize) -> VecDeque<Events> {
        let mut ready = lock(&self.ready);
        let (mine, others) = ready.drain(..).partition(|b| b.loop_index == i);
        *ready = others;
        mine.into_iter().map(|b: Batch| b.events).collect()
    }

    /// Wakes the application without a batch: a worker has ended (its
    /// loop's shutdown is over), so `is_finished` may have changed.
    pub(super) fn wake_app(&self) {
        self.exits.fetch_add(1, Ordering::SeqCst);
        let _ready = lock(&self.ready);
        self.ready_fd.signal();
    }

    /// A buffer the application is done with (emptied).
    pub(super) fn recycle(&self, mut events: Events) {
        events.clear();
        let mut spare = lock(&self.spare);
        if spare.len() <= self.len() {
            spare.push(events);
        }
    }

    /// A buffer for a worker's next turn.
    pub(super) fn buffer(&self) -> Events {
        lock(&self.spare).pop().unwrap_or_default()
    }

    pub fn ready_fd(&self) -> std::os::fd::RawFd {
        self.ready_fd.raw()
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Stops the workers (they see it at their next wake) and closes the
    /// loops once they have: sockets close, handles fail from then on.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.nudge_all();
    }

    pub fn close_all(&self) {
        (0..self.len()).for_each(|i| self.close(i));
    }

    /// Closes loop `i`: its listener and connections go with it.
    pub fn close(&self, i: usize) {
        // Dropped after the lock is released: the last loop's end of the
        // cluster bus waits for the bus's threads, which may be waiting
        // for this very lock to hand the loop a message.
        let driver = lock(&self.drivers[i]).take();
        drop(driver);
    }
}
