//! A worker: one loop's thread. It waits for its loop's I/O outside the
//! lock, runs a turn under it, and hands the turn's events to the
//! application; it then waits until the application is done with them
//! (its next `poll` or `flush`), as a single loop's next turn does (close
//! frames owed after a batch and the ids of ended connections depend on
//! that), while the other loops go on.

use super::loops::{Batch, Loops};
use super::wait::wait_readable;
use crate::event::Events;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn run(loops: Arc<Loops>, index: usize, done: Receiver<()>) {
    turns(&loops, index, done);
    // Finished (or stopped): the application may be waiting for nothing
    // but this to see the server finished.
    loops.wake_app();
}

fn turns(loops: &Loops, index: usize, done: Receiver<()>) {
    let mut events = Events::new();
    loop {
        if loops.stopping() {
            return;
        }
        let Ok((fd, timeout, finished)) =
            loops.with(index, |d| (d.raw_fd(), d.next_timeout(), d.is_finished()))
        else {
            return;
        };
        if finished {
            return;
        }
        if timeout != Some(Duration::ZERO) {
            wait_readable(fd, timeout);
            if loops.stopping() {
                return;
            }
        }
        match loops.with(index, |d| d.poll(&mut events, Some(Duration::ZERO))) {
            Ok(Ok(())) => {}
            // The epoll descriptor failed (it does not in practice): the
            // loop cannot go on; its connections close with the server.
            _ => return,
        }
        if events.is_empty() {
            continue;
        }
        loops.push_ready(Batch {
            loop_index: index,
            events: std::mem::take(&mut events),
        });
        match done.recv() {
            Ok(()) => events = loops.buffer(),
            Err(_) => return, // the server is gone
        }
    }
}
