//! Engine.IO requests that reach another loop than their session's. With
//! several loops, the kernel gives each new connection to any loop, so a
//! long-poll or the WebSocket upgrade of a session may arrive on a loop
//! that does not hold it. The session id names its loop: the connection
//! is taken off this loop, whole (socket, TLS state, protocol state and
//! what it had buffered), and handed to the owning loop's inbox with its
//! request, which that loop then serves as if it had read it itself.

use super::conn::Conn;
use super::{Command, Driver, Inbox};
use crate::event::IdKind;
use crate::proto::engine::http::Transport;
use crate::proto::RequestKind;
use std::sync::Arc;

/// A transport connection and its request, on their way to the loop
/// that owns the request's session.
pub(crate) struct Adoption {
    conn: Conn,
    route: usize,
    transport: Transport,
    kind: RequestKind,
    sid: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for Adoption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Adoption({:?})", self.sid)
    }
}

/// What `hand_over` needs to know of the request.
pub(super) struct Request<'a> {
    pub route: usize,
    pub transport: Transport,
    pub kind: RequestKind,
    pub sid: &'a str,
    pub body: &'a [u8],
}

impl Driver {
    /// Tells this loop the inboxes of every loop of its group (its own
    /// included), so that it can hand requests over.
    pub fn set_siblings(&mut self, inboxes: Vec<Arc<Inbox>>) {
        self.siblings = inboxes;
    }

    /// The loop the session `sid` names, when it is another loop of the
    /// group.
    pub(super) fn owner_elsewhere(&self, sid: &str) -> Option<usize> {
        let id = super::ids::decode(sid, IdKind::Session)?;
        let owner = id.loop_index();
        (owner != self.id_counter.loop_index() && owner < self.siblings.len()).then_some(owner)
    }

    /// Moves the transport connection in `slot` and its request to loop
    /// `owner`. If that loop has stopped, the connection closes.
    pub(super) fn hand_over(&mut self, slot: usize, owner: usize, req: Request<'_>) {
        let mut conn = self.conns.remove(slot);
        let _ = self.poll.registry().deregister(conn.socket.tcp_mut());
        // Timers and lists of this loop that still name the slot check the
        // id (or find the slot empty) and skip it.
        conn.armed = None;
        conn.dirty = false;
        let adoption = Adoption {
            conn,
            route: req.route,
            transport: req.transport,
            kind: req.kind,
            sid: req.sid.to_string(),
            body: req.body.to_vec(),
        };
        let _ = self.siblings[owner].submit(Command::Adopt(Box::new(adoption)));
    }

    /// Takes a connection another loop handed over and serves its request.
    pub(super) fn adopt(&mut self, a: Adoption) {
        let Adoption {
            mut conn,
            route,
            transport,
            kind,
            sid,
            body,
        } = a;
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        conn.id = self.id_counter.next(IdKind::Conn, slot);
        conn.schedule_key = 0;
        let token = mio::Token(slot);
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(conn.socket.tcp_mut(), token, interest)
            .is_err()
        {
            return; // dropped: closed
        }
        let id = conn.id;
        entry.insert(conn);
        // Arms its timers here.
        self.after(slot, false);
        self.on_engine_request(id, route, transport, kind, Some(&sid), &body, None);
        if !self.transports.is_empty() {
            self.drain_transports();
        }
    }
}
