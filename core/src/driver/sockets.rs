//! Socket.IO sockets on the loop: one per namespace a session joined,
//! each with its own id, user data and rooms (rooms are topics). A socket
//! that disconnects for a transport reason is kept, detached, for the
//! recovery window: a client that reconnects with its private id within
//! it gets the same socket back, its rooms rejoined and the broadcasts it
//! missed replayed.

use super::ids::{self, IdText};
use super::topics::Memberships;
use super::Driver;
use crate::error::{Error, Result};
use crate::event::{ConnId, IdKind};
use crate::proto::engine::SocketKey;
use std::time::{Duration, Instant};

/// Bookkeeping a session call leaves for the loop (it needs tables the
/// call does not hold: topics, the recovery log).
pub(super) enum AfterSession {
    /// A socket left; detach it for recovery, or free it.
    SocketClosed { slot: usize, recoverable: bool },
    /// A socket was recovered: rejoin its rooms, replay what it missed.
    SocketRecovered { slot: usize, offset: u64 },
}

pub(super) struct Socket {
    pub id: ConnId,
    pub sid: IdText,
    /// The private id a client recovers the socket with (recovery on).
    pid: Option<IdText>,
    /// The session it belongs to; `None` while detached.
    pub session: Option<usize>,
    pub nsp: Box<str>,
    pub user_data: usize,
    pub topics: Memberships,
    detached: Option<Box<Detached>>,
    /// The last broadcast that reached it (one copy per broadcast, however
    /// many of its rooms the broadcast names).
    pub mark: u64,
}

/// A disconnected socket kept for recovery.
struct Detached {
    until: Instant,
    rooms: Vec<Box<str>>,
}

impl Socket {
    pub fn new(id: ConnId, sid: IdText, pid: Option<IdText>, session: usize, nsp: &str) -> Socket {
        Socket {
            id,
            sid,
            pid,
            session: Some(session),
            nsp: nsp.into(),
            user_data: 0,
            topics: Memberships::default(),
            detached: None,
            mark: 0,
        }
    }

    /// Whether a client reconnecting with `pid` to `nsp` may have this
    /// detached socket back now.
    pub fn recoverable_by(&self, pid: &str, nsp: &str, now: Instant) -> bool {
        self.session.is_none()
            && self.detached.as_ref().is_some_and(|d| now < d.until)
            && self.pid.as_ref().is_some_and(|p| ids::as_str(p) == pid)
            && *self.nsp == *nsp
    }

    /// Joins the socket to a session again (its rooms follow).
    pub fn attach(&mut self, session: usize) {
        self.session = Some(session);
    }

    pub fn key(&self) -> SocketKey {
        SocketKey {
            handle: self.id.raw(),
            sid: ids::as_str(&self.sid).to_string(),
            pid: self.pid.as_ref().map(|p| ids::as_str(p).to_string()),
        }
    }
}

impl Driver {
    /// The slot of a live (attached) socket.
    pub(super) fn socket_slot(&self, id: ConnId) -> Option<usize> {
        (id.kind() == IdKind::Socket)
            .then(|| id.slot())
            .filter(|&s| {
                self.sockets
                    .get(s)
                    .is_some_and(|x| x.id == id && x.session.is_some())
            })
    }

    /// The socket and its session, for an application call.
    fn socket_and_session(&self, id: ConnId) -> Result<(usize, usize)> {
        let slot = self.socket_slot(id).ok_or_else(Error::unknown_connection)?;
        let session = self.sockets[slot].session.expect("attached");
        Ok((slot, session))
    }

    /// The socket named by its public id (Socket.IO's `socket.id`).
    pub fn socket_by_sid(&self, sid: &str) -> Option<ConnId> {
        let id = ids::decode(sid, IdKind::Socket)?;
        let slot = self.socket_slot(id)?;
        (ids::as_str(&self.sockets[slot].sid) == sid).then_some(id)
    }

    /// A socket's public id.
    pub fn socket_sid(&self, id: ConnId) -> Result<String> {
        let (slot, _) = self.socket_and_session(id)?;
        Ok(ids::as_str(&self.sockets[slot].sid).to_string())
    }

    /// A socket's namespace.
    pub fn socket_namespace(&self, id: ConnId) -> Result<String> {
        let (slot, _) = self.socket_and_session(id)?;
        Ok(self.sockets[slot].nsp.to_string())
    }

    /// Emits an event to one socket; with `ack`, returns the ack's id.
    pub fn emit(
        &mut self,
        id: ConnId,
        name: &str,
        args: &str,
        attachments: &[&[u8]],
        ack: Option<Option<Duration>>,
    ) -> Result<Option<u64>> {
        let (slot, s) = self.socket_and_session(id)?;
        self.now = Instant::now();
        // With recovery on, an emit without an ack is kept like a
        // broadcast to the socket's own room, and carries its offset.
        let offset = match ack {
            None if !self.config.sio_recovery_window.is_zero() => {
                let sid = ids::as_str(&self.sockets[slot].sid).to_string();
                let nsp = self.sockets[slot].nsp.clone();
                let inner = crate::proto::sio::array_inner(args)
                    .map_err(|_| Error::invalid("arguments must be a JSON array"))?;
                let kept: Vec<bytes::Bytes> = attachments
                    .iter()
                    .map(|a| bytes::Bytes::copy_from_slice(a))
                    .collect();
                self.log_broadcast(Some(&nsp), &[&sid], &[], None, name, inner, &kept)
            }
            _ => None,
        };
        self.with_session(s, |sess, cx| {
            sess.emit(id.raw(), name, args, attachments, ack, offset, cx)
        })
        .map_err(Error::from)
    }

    /// Acknowledges the client's event `ack_id`.
    pub fn ack(
        &mut self,
        id: ConnId,
        ack_id: u64,
        args: &str,
        attachments: &[&[u8]],
    ) -> Result<()> {
        let (_, s) = self.socket_and_session(id)?;
        self.with_session(s, |sess, cx| {
            sess.ack(id.raw(), ack_id, args, attachments, cx)
        })
        .map_err(Error::from)
    }

    pub(super) fn accept_socket(&mut self, id: ConnId) -> Result<()> {
        let (slot, s) = self.socket_and_session(id)?;
        let key = self.sockets[slot].key();
        self.with_session(s, |sess, cx| sess.accept_socket(&key, cx))
            .map_err(Error::from)
    }

    /// Refuses a Socket.IO connection awaiting approval: the client gets
    /// CONNECT_ERROR with `message` and, if given, `data` (JSON).
    pub fn reject_socket(&mut self, id: ConnId, message: &str, data: Option<&str>) -> Result<()> {
        let (slot, s) = self.socket_and_session(id)?;
        self.with_session(s, |sess, cx| {
            sess.reject_socket(id.raw(), message, data, cx)
        })
        .map_err(Error::from)?;
        // Refused before it was connected: nothing to report or keep.
        self.free_socket(slot);
        Ok(())
    }

    pub(super) fn disconnect_socket(&mut self, id: ConnId) -> Result<()> {
        let (_, s) = self.socket_and_session(id)?;
        self.with_session(s, |sess, cx| sess.disconnect_socket(id.raw(), cx))
            .map_err(Error::from)
    }

    /// Ends a socket's whole session at once.
    pub(super) fn terminate_session_of(&mut self, id: ConnId) -> Result<()> {
        let (_, s) = self.socket_and_session(id)?;
        self.with_session(s, |sess, cx| {
            sess.end(
                crate::proto::engine::reason::FORCED_SERVER_CLOSE,
                crate::proto::eio::PacketType::Close,
                cx,
            )
        });
        Ok(())
    }

    /// Whether a socket is connected (not awaiting approval).
    pub(super) fn socket_connected(&self, id: ConnId) -> bool {
        self.socket_and_session(id)
            .is_ok_and(|(_, s)| self.sessions[s].proto.socket_connected(id.raw()))
    }

    /// The bookkeeping session calls left: sockets that left (detached
    /// for recovery, or freed) and sockets recovered.
    pub(super) fn run_session_chores(&mut self) {
        while let Some(chore) = self.session_chores.pop() {
            match chore {
                AfterSession::SocketClosed { slot, recoverable } => {
                    if recoverable {
                        self.detach_socket(slot);
                    } else {
                        self.free_socket(slot);
                    }
                }
                AfterSession::SocketRecovered { slot, offset } => self.recover(slot, offset),
            }
        }
    }

    fn detach_socket(&mut self, slot: usize) {
        let until = self.now + self.config.sio_recovery_window;
        let rooms: Vec<Box<str>> = self.sockets[slot]
            .topics
            .iter()
            .map(|m| self.topics.list[m.topic as usize].name.clone())
            .collect();
        let id = self.sockets[slot].id;
        self.drop_memberships(id);
        let s = &mut self.sockets[slot];
        s.session = None;
        s.user_data = 0;
        s.detached = Some(Box::new(Detached { until, rooms }));
        self.detached_sockets += 1;
        self.timers.push(until, slot, id);
    }

    pub(super) fn free_socket(&mut self, slot: usize) {
        if let Some(s) = self.sockets.get(slot) {
            let id = s.id;
            if s.detached.is_some() {
                self.detached_sockets -= 1;
            }
            self.drop_memberships(id);
            self.sockets.remove(slot);
        }
    }

    /// A recovered socket rejoins its rooms and gets what it missed.
    fn recover(&mut self, slot: usize, offset: u64) {
        let Some(d) = self.sockets.get_mut(slot).and_then(|s| s.detached.take()) else {
            return;
        };
        self.detached_sockets -= 1;
        let id = self.sockets[slot].id;
        for room in d.rooms.iter() {
            let _ = self.subscribe(id, room);
        }
        self.replay_missed(slot, offset);
    }

    /// A socket's timer: the end of its recovery window.
    pub(super) fn socket_timer(&mut self, slot: usize, id: ConnId) {
        let expired = self.sockets.get(slot).is_some_and(|s| {
            s.id == id && s.detached.as_ref().is_some_and(|d| self.now >= d.until)
        });
        if expired {
            self.free_socket(slot);
        }
    }
}
