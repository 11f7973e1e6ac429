//! Work handed to the loop from other threads: a queue behind a mutex and
//! the waker that makes the loop look at it. Arguments are checked by the
//! caller (`Handle`) before they are queued; outcomes on the loop (the
//! connection has gone meanwhile) are not reported back.

use crate::config::SlowConsumerPolicy;
use crate::error::{Error, Result};
use crate::event::ConnId;
use crate::proto::MessageKind;
use crate::pubsub::HistoryLimit;
use bytes::Bytes;
use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug)]
pub(crate) enum Command {
    Wake,
    Send {
        conn: ConnId,
        kind: MessageKind,
        data: Bytes,
    },
    Ping {
        conn: ConnId,
        data: Bytes,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    Terminate {
        conn: ConnId,
    },
    SseSend {
        conn: ConnId,
        event: Option<String>,
        id: Option<String>,
        retry: Option<u64>,
        data: String,
    },
    SseComment {
        conn: ConnId,
        text: String,
    },
    Subscribe {
        conn: ConnId,
        topic: String,
    },
    Unsubscribe {
        conn: ConnId,
        topic: String,
    },
    Resume {
        conn: ConnId,
        topic: String,
        last_event_id: Option<String>,
    },
    SetTopicHistory {
        topic: String,
        limit: HistoryLimit,
    },
    ClearTopicHistory {
        topic: String,
    },
    Publish {
        topic: Option<String>,
        kind: MessageKind,
        data: Bytes,
        exclude: Option<ConnId>,
        on_slow: Option<SlowConsumerPolicy>,
        sse_event: Option<String>,
    },
    Emit {
        socket: ConnId,
        event: String,
        args: String,
        attachments: Vec<Bytes>,
    },
    Ack {
        socket: ConnId,
        id: u64,
        args: String,
        attachments: Vec<Bytes>,
    },
    Broadcast(Box<crate::pubsub::OwnedBroadcast>),
    /// From the cluster's threads: a publish to deliver here (never
    /// forwarded), or news of what Redis relays.
    Cluster(Box<crate::cluster::FromCluster>),
    /// From another loop of the group: an Engine.IO request of a session
    /// of this loop, with its connection.
    Adopt(Box<super::handoff::Adoption>),
    Shutdown,
}

/// The loop's inbox, shared with every handle.
pub(crate) struct Inbox {
    list: Mutex<Vec<Command>>,
    waker: Waker,
    /// Cleared when the server is dropped, so handles that outlive it fail
    /// instead of queuing work nobody will run.
    alive: AtomicBool,
}

impl Inbox {
    pub fn new(waker: Waker) -> Inbox {
        Inbox {
            list: Mutex::new(Vec::new()),
            waker,
            alive: AtomicBool::new(true),
        }
    }

    pub fn submit(&self, cmd: Command) -> Result<()> {
        if !self.alive.load(Ordering::Acquire) {
            return Err(Error::stopped());
        }
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let first = list.is_empty();
        list.push(cmd);
        drop(list);
        // The loop takes the whole list after a wake: one wake for a list
        // that was empty covers everything queued before it is taken (a
        // busy sender, such as the cluster's subscriber thread, then costs
        // the loop one eventfd write and one wake-up per batch).
        match first {
            true => self.waker.wake().map_err(Error::from),
            false => Ok(()),
        }
    }

    /// Makes the loop run a turn (to write what another thread queued on
    /// it), without a command or an event.
    pub fn nudge(&self) {
        let _ = self.waker.wake();
    }

    pub fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn close(&self) {
        self.alive.store(false, Ordering::Release);
    }
}
