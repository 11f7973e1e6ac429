//! A thread-safe handle: every operation on connections and topics, from
//! any thread. Arguments are checked here, on the calling thread, so a bad
//! one is an error for the caller; the loop runs the call at its next turn,
//! and what happens then (the connection has gone meanwhile, its queue is
//! full) is not reported back: the loop's events and `stats` tell.

use crate::args::{check_history, check_message, check_publish, check_topic};
use crate::driver::{Command, Inbox};
use crate::error::{Error, Result};
use crate::event::ConnId;
use crate::group::Loops;
use crate::proto::sio::check_outgoing;
use crate::proto::sse::{self, SseEvent};
use crate::proto::{check_close, MessageKind};
use crate::pubsub::{Broadcast, HistoryLimit, OwnedBroadcast, Publish};
use bytes::Bytes;
use std::sync::Arc;

/// Cheap to clone; calls never block on I/O. With several loops
/// (`workers`), a call on a connection goes to its loop's queue, and a
/// publish or a history change is made on the calling thread, through
/// every loop in the one order all publishes take (it waits for a loop's
/// turn in progress, never for I/O).
#[derive(Clone)]
pub struct Handle {
    route: Route,
}

#[derive(Clone)]
enum Route {
    One(Arc<Inbox>),
    Group(Arc<Loops>),
}

impl Handle {
    pub(crate) fn new(inbox: Arc<Inbox>) -> Handle {
        Handle {
            route: Route::One(inbox),
        }
    }

    pub(crate) fn group(loops: Arc<Loops>) -> Handle {
        Handle {
            route: Route::Group(loops),
        }
    }

    /// The queue of the loop `conn` belongs to.
    fn inbox_of(&self, conn: ConnId) -> Result<&Inbox> {
        match &self.route {
            Route::One(inbox) => Ok(inbox),
            Route::Group(loops) => Ok(loops.inbox(loops.owner(conn)?)),
        }
    }

    /// The queue of the first loop (what is not about one connection).
    fn first_inbox(&self) -> &Inbox {
        match &self.route {
            Route::One(inbox) => inbox,
            Route::Group(loops) => loops.inbox(0),
        }
    }

    /// Makes the next (or current) `poll` return with a wake event.
    pub fn wake(&self) -> Result<()> {
        self.first_inbox().submit(Command::Wake)
    }

    /// Queues a message.
    pub fn send(&self, conn: ConnId, kind: MessageKind, data: Bytes) -> Result<()> {
        check_message(kind, &data)?;
        self.inbox_of(conn)?
            .submit(Command::Send { conn, kind, data })
    }

    pub fn ping(&self, conn: ConnId, data: Bytes) -> Result<()> {
        if data.len() > 125 {
            return Err(Error::invalid("ping payload is over 125 bytes"));
        }
        self.inbox_of(conn)?.submit(Command::Ping { conn, data })
    }

    pub fn close(&self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        check_close(code, reason)?;
        self.inbox_of(conn)?.submit(Command::Close {
            conn,
            code,
            reason: reason.to_string(),
        })
    }

    pub fn terminate(&self, conn: ConnId) -> Result<()> {
        self.inbox_of(conn)?.submit(Command::Terminate { conn })
    }

    pub fn sse_send(&self, conn: ConnId, event: &SseEvent<'_>) -> Result<()> {
        sse::validate(event).map_err(|e| Error::invalid(e.to_string()))?;
        self.inbox_of(conn)?.submit(Command::SseSend {
            conn,
            event: event.event.map(str::to_string),
            id: event.id.map(str::to_string),
            retry: event.retry,
            data: event.data.to_string(),
        })
    }

    pub fn sse_comment(&self, conn: ConnId, text: &str) -> Result<()> {
        self.inbox_of(conn)?.submit(Command::SseComment {
            conn,
            text: text.to_string(),
        })
    }

    pub fn subscribe(&self, conn: ConnId, topic: &str) -> Result<()> {
        check_topic(topic)?;
        self.inbox_of(conn)?.submit(Command::Subscribe {
            conn,
            topic: topic.to_string(),
        })
    }

    pub fn unsubscribe(&self, conn: ConnId, topic: &str) -> Result<()> {
        check_topic(topic)?;
        self.inbox_of(conn)?.submit(Command::Unsubscribe {
            conn,
            topic: topic.to_string(),
        })
    }

    /// Subscribes and replays what the client missed, as `Server::resume`
    /// (the outcome, replayed or missed, is not reported back: use the
    /// loop thread when the app must send a snapshot on a miss).
    pub fn resume(&self, conn: ConnId, topic: &str, last_event_id: Option<&str>) -> Result<()> {
        check_topic(topic)?;
        self.inbox_of(conn)?.submit(Command::Resume {
            conn,
            topic: topic.to_string(),
            last_event_id: last_event_id.map(str::to_string),
        })
    }

    pub fn set_topic_history(&self, topic: &str, limit: HistoryLimit) -> Result<()> {
        check_topic(topic)?;
        check_history(&limit)?;
        if let Route::Group(loops) = &self.route {
            return loops.set_topic_history(topic, limit);
        }
        self.first_inbox().submit(Command::SetTopicHistory {
            topic: topic.to_string(),
            limit,
        })
    }

    pub fn clear_topic_history(&self, topic: &str) -> Result<()> {
        check_topic(topic)?;
        if let Route::Group(loops) = &self.route {
            return loops.clear_topic_history(topic);
        }
        self.first_inbox().submit(Command::ClearTopicHistory {
            topic: topic.to_string(),
        })
    }

    /// Publishes, as `Server::publish` (`topic` `None`: to everyone, as
    /// `Server::publish_all`). The outcome is counted in `Server::stats`.
    pub fn publish(&self, topic: Option<&str>, msg: &Publish<'_>) -> Result<()> {
        if let Some(t) = topic {
            check_topic(t)?;
        }
        check_publish(msg)?;
        if let Route::Group(loops) = &self.route {
            loops.publish(topic, msg)?;
            loops.nudge_all();
            return Ok(());
        }
        self.first_inbox().submit(Command::Publish {
            topic: topic.map(str::to_string),
            kind: msg.kind,
            data: Bytes::copy_from_slice(msg.data),
            exclude: msg.exclude,
            on_slow: msg.on_slow,
            sse_event: msg.sse_event.map(str::to_string),
        })
    }

    /// Emits a Socket.IO event to one socket, as `Server::emit` without an
    /// ack (an ack's answer is an event of the loop's thread: emit with an
    /// ack there).
    pub fn emit(
        &self,
        socket: ConnId,
        event: &str,
        args: &str,
        attachments: &[&[u8]],
    ) -> Result<()> {
        check_outgoing(Some(event), args, attachments.len()).map_err(Error::invalid)?;
        self.inbox_of(socket)?.submit(Command::Emit {
            socket,
            event: event.to_string(),
            args: args.to_string(),
            attachments: owned(attachments),
        })
    }

    /// Acknowledges a client's event, as `Server::ack`.
    pub fn ack(&self, socket: ConnId, id: u64, args: &str, attachments: &[&[u8]]) -> Result<()> {
        check_outgoing(None, args, attachments.len()).map_err(Error::invalid)?;
        self.inbox_of(socket)?.submit(Command::Ack {
            socket,
            id,
            args: args.to_string(),
            attachments: owned(attachments),
        })
    }

    /// Emits to many sockets, as `Server::broadcast`.
    pub fn broadcast(&self, b: &Broadcast<'_>) -> Result<()> {
        for room in b.rooms.iter().chain(b.except_rooms) {
            check_topic(room)?;
        }
        check_outgoing(Some(b.event), b.args, b.attachments.len()).map_err(Error::invalid)?;
        match &self.route {
            Route::One(inbox) => inbox.submit(Command::Broadcast(Box::new(OwnedBroadcast::new(b)))),
            // Each loop emits to its own sockets of the rooms, in the
            // order publishes take.
            Route::Group(loops) => {
                loops.broadcast(b)?;
                loops.nudge_all();
                Ok(())
            }
        }
    }

    /// Begins a graceful shutdown, as `Server::begin_shutdown`.
    pub fn shutdown(&self) -> Result<()> {
        match &self.route {
            Route::One(inbox) => inbox.submit(Command::Shutdown),
            Route::Group(loops) => {
                (0..loops.len()).try_for_each(|i| loops.inbox(i).submit(Command::Shutdown))
            }
        }
    }
}

impl crate::group::LoopPoller {
    /// A handle: every call on connections and topics of any loop, from
    /// any thread.
    pub fn handle(&self) -> Handle {
        Handle::group(self.loops())
    }
}

fn owned(attachments: &[&[u8]]) -> Vec<Bytes> {
    attachments
        .iter()
        .map(|a| Bytes::copy_from_slice(a))
        .collect()
}
