//! Engine.IO sessions on the loop. A session outlives the HTTP requests
//! and WebSocket that carry it, so it lives in a table of its own; its
//! transports are ordinary connections whose protocol hands what they
//! bring (a request, a message, their end) to the [`TransportInbox`]
//! during a protocol call, and the loop runs it against the session right
//! after ([`Driver::drain_transports`]). Every session call goes through
//! [`Driver::with_session`], and what follows it (answer the parked poll,
//! close a finished probe, free, re-arm the timer) is decided in one
//! place, [`Driver::after_session`].

use super::conn::Conn;
use super::ids::{self, IdText};
use super::inbox::{Input, TransportInbox};
use super::sockets::{AfterSession, Socket};
use super::topics::Memberships;
use super::writeq::BufferPool;
use super::Driver;
use crate::event::{ConnId, Event, EventType, Events, IdKind, Request, NO_ACK};
use crate::proto::compress::SharedDeflate;
use crate::proto::engine::http::{EngineError, Transport};
use crate::proto::engine::{
    reason, EngineCx, EngineSession, Gone, SessionEvent, SessionOutput, SocketKey, Via,
};
use crate::proto::http::RequestHead;
use crate::proto::{eio, DeflateConfig, Endpoint, MessageKind, RequestKind};
use slab::Slab;
use std::net::SocketAddr;
use std::time::Instant;

pub(super) struct Session {
    pub id: ConnId,
    pub sid: IdText,
    pub proto: EngineSession,
    /// Its WebSocket: the transport, or the one probing to become it.
    pub ws: Option<usize>,
    /// The connection of its parked poll.
    pub poll: Option<usize>,
    /// The deadline it has in the timer heap.
    pub armed: Option<Instant>,
    /// The application's value (plain Engine.IO sessions).
    pub user_data: usize,
    /// Topics a plain Engine.IO session is subscribed to.
    pub topics: Memberships,
    pub peer: SocketAddr,
    /// The TLS handshake of the connection that opened it.
    pub tls: Option<Box<crate::tls::TlsInfo>>,
}

/// A session's [`SessionOutput`]: its WebSocket (if any), the event batch,
/// the socket table and what the loop must do after the call.
pub(super) struct SessionOut<'a> {
    pub ws: Option<&'a mut Conn>,
    pub wrote_ws: bool,
    pub pool: &'a mut BufferPool,
    pub shared: &'a mut SharedDeflate,
    pub deflate: &'a DeflateConfig,
    pub now: Instant,
    pub events: &'a mut Events,
    pub inbox: &'a mut TransportInbox,
    pub ended: &'a mut Vec<super::conn::EndedRequest>,
    pub session: ConnId,
    pub session_slot: usize,
    pub user_data: usize,
    pub peer: SocketAddr,
    pub tls: Option<&'a crate::tls::TlsInfo>,
    pub sockets: &'a mut Slab<Socket>,
    pub ids: &'a mut ids::IdSource,
    pub id_counter: &'a mut super::ids::IdCounter,
    pub recovery: bool,
    pub log: &'a super::sio_fanout::RecoveryLog,
    pub after: &'a mut Vec<AfterSession>,
}

impl SessionOut<'_> {
    fn request(&self, head: RequestHead) -> Request {
        Request {
            head,
            peer: self.peer,
            protocols: Vec::new(),
            tls: self.tls.map(|t| Box::new(t.clone())),
        }
    }

    fn socket_event(&self, kind: EventType, socket: u64) -> Event {
        let id = ConnId::from_raw(socket);
        let user_data = self
            .sockets
            .get(id.slot())
            .filter(|s| s.id == id)
            .map_or(0, |s| s.user_data);
        let mut ev = Event::new(kind, id, user_data);
        ev.endpoint = Endpoint::SocketIo;
        ev
    }
}

impl SessionOutput for SessionOut<'_> {
    fn ws_send(&mut self, kind: MessageKind, data: &[u8]) {
        let Some(conn) = self.ws.as_deref_mut() else {
            return;
        };
        let (proto, mut out) = conn.parts(self.pool, self.events, self.inbox, self.ended);
        if let Some(ws) = proto.engine_websocket() {
            ws.push_message(kind, data, self.deflate, self.shared, &mut out, self.now);
            self.wrote_ws = true;
        }
    }

    fn ws_queued(&self) -> usize {
        self.ws.as_deref().map_or(0, |c| c.out.len())
    }

    fn event(&mut self, event: SessionEvent<'_>) {
        let session = |kind| {
            let mut ev = Event::new(kind, self.session, self.user_data);
            ev.endpoint = Endpoint::EngineIo;
            ev
        };
        match event {
            SessionEvent::Message { kind, data } => {
                let mut ev = session(EventType::Message);
                ev.text = kind == MessageKind::Text;
                ev.data = self.events.store(data);
                self.events.push(ev);
            }
            SessionEvent::Open { head } => {
                let ev = session(EventType::Open);
                let request = self.request(*head);
                self.events.push_with_request(ev, request);
            }
            SessionEvent::Close { reason } => {
                let mut ev = session(EventType::Close);
                ev.data = self.events.store(reason.as_bytes());
                self.events.push(ev);
            }
            SessionEvent::SocketRequest {
                socket,
                nsp,
                auth,
                head,
            } => {
                let mut ev = self.socket_event(EventType::Request, socket);
                ev.name = self.events.store(nsp.as_bytes());
                ev.data = self.events.store(auth.as_bytes());
                let request = self.request(head);
                self.events.push_with_request(ev, request);
            }
            SessionEvent::SocketOpen {
                socket,
                nsp,
                auth,
                head,
                recovered,
            } => {
                let mut ev = self.socket_event(EventType::Open, socket);
                ev.recovered = recovered;
                ev.name = self.events.store(nsp.as_bytes());
                ev.data = self.events.store(auth.as_bytes());
                let request = self.request(head);
                self.events.push_with_request(ev, request);
            }
            SessionEvent::Event {
                socket,
                name,
                args,
                attachments,
                ack,
            } => {
                let mut ev = self.socket_event(EventType::SioEvent, socket);
                ev.name = self.events.store(name.as_bytes());
                ev.data = self.events.store2(args.0, args.1);
                ev.ack = ack.unwrap_or(NO_ACK);
                if !attachments.is_empty() {
                    self.events.store_attachments(&mut ev, attachments);
                }
                self.events.push(ev);
            }
            SessionEvent::Ack {
                socket,
                id,
                outcome,
                args,
                attachments,
            } => {
                let mut ev = self.socket_event(EventType::SioAck, socket);
                ev.ack = id;
                ev.code = outcome as u16;
                ev.data = self.events.store(args.as_bytes());
                if !attachments.is_empty() {
                    self.events.store_attachments(&mut ev, attachments);
                }
                self.events.push(ev);
            }
            SessionEvent::SocketClose { socket, reason } => {
                let mut ev = self.socket_event(EventType::Close, socket);
                ev.data = self.events.store(reason.as_bytes());
                self.events.push(ev);
                let id = ConnId::from_raw(socket);
                if self.sockets.get(id.slot()).is_some_and(|s| s.id == id) {
                    let recoverable = self.recovery
                        && crate::proto::engine::RECOVERABLE_REASONS.contains(&reason);
                    self.after.push(AfterSession::SocketClosed {
                        slot: id.slot(),
                        recoverable,
                    });
                }
            }
        }
    }

    fn new_socket(&mut self, nsp: &str) -> SocketKey {
        let entry = self.sockets.vacant_entry();
        let id = self.id_counter.next(IdKind::Socket, entry.key());
        let sid = self.ids.make(id);
        let pid = self.recovery.then(|| self.ids.make(id));
        entry.insert(Socket::new(id, sid, pid, self.session_slot, nsp));
        SocketKey {
            handle: id.raw(),
            sid: ids::as_str(&sid).to_string(),
            pid: pid.map(|p| ids::as_str(&p).to_string()),
        }
    }

    fn recover_socket(&mut self, nsp: &str, pid: &str, offset: &str) -> Option<SocketKey> {
        let id = ids::decode(pid, IdKind::Socket)?;
        let offset: u64 = offset.parse().ok()?;
        if !self.log.covers(offset) {
            return None; // some of what it missed is gone: a new socket
        }
        let s = self.sockets.get_mut(id.slot())?;
        if s.id != id || !s.recoverable_by(pid, nsp, self.now) {
            return None;
        }
        s.attach(self.session_slot);
        self.after.push(AfterSession::SocketRecovered {
            slot: id.slot(),
            offset,
        });
        Some(SocketKey {
            handle: id.raw(),
            sid: ids::as_str(&s.sid).to_string(),
            pid: Some(pid.to_string()),
        })
    }
}

impl Driver {
    /// Runs what Engine.IO transports handed over, in order, until none is
    /// left. Not re-entered: calls it makes that hand over more leave
    /// their items for this loop.
    pub(super) fn drain_transports(&mut self) {
        if self.draining {
            return;
        }
        self.draining = true;
        while !self.transports.is_empty() {
            let mut inbox = std::mem::take(&mut self.transports);
            let (items, bytes) = inbox.split();
            for item in items {
                match item {
                    Input::Request {
                        conn,
                        route,
                        transport,
                        kind,
                        sid,
                        body,
                        head,
                    } => self.on_engine_request(
                        conn,
                        route,
                        transport,
                        kind,
                        sid.as_deref(),
                        &bytes[body],
                        head,
                    ),
                    Input::Message {
                        conn,
                        session,
                        kind,
                        data,
                    } => self.on_transport_message(conn, session, kind, &bytes[data]),
                    Input::Gone {
                        conn,
                        session,
                        failed,
                    } => self.on_transport_gone(conn, session, failed),
                }
            }
            inbox.clear();
            if self.transports.is_empty() {
                // Keep the allocations.
                self.transports = inbox;
            }
        }
        self.draining = false;
    }

    fn conn_alive(&self, id: ConnId) -> Option<usize> {
        self.conns
            .get(id.slot())
            .filter(|c| c.id == id)
            .map(|_| id.slot())
    }

    pub(super) fn session_slot(&self, id: ConnId) -> Option<usize> {
        (id.kind() == IdKind::Session)
            .then(|| id.slot())
            .filter(|&s| self.sessions.get(s).is_some_and(|x| x.id == id))
    }

    /// The session a request's sid names.
    fn session_by_sid(&self, sid: &str) -> Option<usize> {
        let id = ids::decode(sid, IdKind::Session)?;
        let slot = self.session_slot(id)?;
        (ids::as_str(&self.sessions[slot].sid) == sid).then_some(slot)
    }

    /// Answers a waiting Engine.IO request with an error.
    fn refuse(&mut self, conn: usize, err: EngineError) {
        self.conns[conn].session = ConnId::NONE;
        self.with_proto(conn, |c, cx| {
            let _ = c.engine_error(err, cx);
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_engine_request(
        &mut self,
        conn: ConnId,
        route: usize,
        transport: Transport,
        kind: RequestKind,
        sid: Option<&str>,
        body: &[u8],
        head: Option<Box<RequestHead>>,
    ) {
        if let Some((sid, owner)) = sid.and_then(|s| Some((s, self.owner_elsewhere(s)?))) {
            if let Some(c) = self.conn_alive(conn) {
                let req = super::handoff::Request {
                    route,
                    transport,
                    kind,
                    sid,
                    body,
                };
                self.hand_over(c, owner, req);
            }
            return;
        }
        let session = sid.and_then(|s| self.session_by_sid(s));
        if kind == RequestKind::RefusedPost {
            // Over maxPayload or not text: answered; the session ends.
            if let Some(s) = session {
                self.with_session(s, |sess, cx| {
                    sess.end(reason::TRANSPORT_ERROR, eio::PacketType::Close, cx)
                });
            }
            return;
        }
        let Some(c) = self.conn_alive(conn) else {
            return; // the client left before we got to it
        };
        let Some(head) = head.filter(|_| sid.is_none()) else {
            let Some(s) = session.filter(|&s| self.sessions[s].proto.route() == route) else {
                return self.refuse(c, EngineError::UnknownSid);
            };
            return match kind {
                RequestKind::Get => self.poll_request(s, c),
                RequestKind::Post => self.post_request(s, c, body),
                RequestKind::WebSocket => self.upgrade_request(s, c),
                RequestKind::RefusedPost => {}
            };
        };
        self.handshake(c, route, transport, head);
    }

    /// A new session, on the handshake's connection.
    fn handshake(&mut self, c: usize, route: usize, transport: Transport, head: Box<RequestHead>) {
        // Its transports were counted when accepted; sessions are
        // bounded by the same limit.
        let max = self.config.max_connections;
        if max != 0 && self.sessions.len() >= max {
            return self.refuse(c, EngineError::BadRequest);
        }
        let slot = self.sessions.vacant_entry().key();
        let id = self.id_counter.next(IdKind::Session, slot);
        let sid = self.ids.make(id);
        let peer = self.conns[c]
            .socket
            .tcp()
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let tls = self.conns[c].socket.tls_info().map(Box::new);
        // Linked first: frames sent right behind the handshake are read
        // while the WebSocket opens, and must find their session.
        self.conns[c].session = id;
        if transport == Transport::WebSocket {
            // The 101 goes before the open packet.
            self.with_proto(c, |conn, cx| {
                let _ = conn.engine_open_websocket(cx);
            });
            if self
                .conn_alive(self.conns.get(c).map_or(ConnId::NONE, |x| x.id))
                .is_none()
            {
                return;
            }
        }
        let proto = EngineSession::new(route, transport, head, &self.settings, self.now);
        let inserted = self.sessions.insert(Session {
            id,
            sid,
            proto,
            ws: (transport == Transport::WebSocket).then_some(c),
            poll: (transport == Transport::Polling).then_some(c),
            armed: None,
            user_data: 0,
            topics: Memberships::default(),
            peer,
            tls,
        });
        debug_assert_eq!(slot, inserted);
        self.with_session(slot, |sess, cx| sess.start(ids::as_str(&sid), cx));
    }

    fn poll_request(&mut self, s: usize, c: usize) {
        // A second poll while one is parked ends the session: the parked
        // one is answered (with the close packet), this one refused.
        let duplicate = self.sessions[s].poll.is_some();
        if !duplicate {
            self.sessions[s].poll = Some(c);
            self.conns[c].session = self.sessions[s].id;
        }
        if let Err(e) = self.with_session(s, |sess, cx| sess.handle_poll(cx)) {
            if !duplicate {
                if let Some(sess) = self.sessions.get_mut(s) {
                    sess.poll = None;
                }
            }
            if self
                .conn_alive(self.conns.get(c).map_or(ConnId::NONE, |x| x.id))
                .is_some()
            {
                self.refuse(c, e);
            }
        }
    }

    fn post_request(&mut self, s: usize, c: usize, body: &[u8]) {
        match self.with_session(s, |sess, cx| sess.handle_post(body, cx)) {
            Ok(()) => {
                self.with_proto(c, |conn, cx| {
                    let _ = conn.engine_ok(cx);
                });
            }
            Err(e) => self.refuse(c, e),
        }
    }

    fn upgrade_request(&mut self, s: usize, c: usize) {
        let proto = &self.sessions[s].proto;
        if proto.is_open() && !proto.can_upgrade() {
            // Already upgraded, or another WebSocket is probing: as the
            // reference server does, the handshake completes and this
            // WebSocket is closed at once; the session is not touched.
            return self.with_proto(c, |conn, cx| {
                if conn.engine_open_websocket(cx).is_ok() {
                    conn.engine_close(cx);
                }
            });
        }
        if !proto.can_upgrade() {
            return self.refuse(c, EngineError::BadRequest);
        }
        // Linked first: a probe sent right behind the handshake is read
        // while the WebSocket opens, and must find its session probing.
        self.conns[c].session = self.sessions[s].id;
        let sess = &mut self.sessions[s];
        sess.ws = Some(c);
        sess.proto.begin_probe(self.now);
        self.with_proto(c, |conn, cx| {
            let _ = conn.engine_open_websocket(cx);
        });
        self.after_session(s);
    }

    fn on_transport_message(
        &mut self,
        conn: ConnId,
        session: ConnId,
        kind: MessageKind,
        data: &[u8],
    ) {
        let Some(s) = self.session_slot(session) else {
            return;
        };
        let sess = &self.sessions[s];
        if sess.ws != Some(conn.slot()) {
            return;
        }
        let via = match sess.proto.transport() {
            Transport::WebSocket => Via::Transport,
            Transport::Polling => Via::Probe,
        };
        self.with_session(s, |sess, cx| sess.handle_ws_message(kind, data, via, cx));
    }

    fn on_transport_gone(&mut self, conn: ConnId, session: ConnId, failed: bool) {
        let Some(s) = self.session_slot(session) else {
            return;
        };
        let sess = &mut self.sessions[s];
        let which = if sess.ws == Some(conn.slot()) {
            sess.ws = None;
            match sess.proto.transport() {
                Transport::WebSocket => Gone::WebSocket { failed },
                Transport::Polling => Gone::Probe,
            }
        } else if sess.poll == Some(conn.slot()) {
            sess.poll = None;
            Gone::Poll
        } else {
            return; // a POST's connection
        };
        self.with_session(s, |sess, cx| sess.handle_transport_gone(which, cx));
    }

    /// Runs one call on a session's state machine, then
    /// [`Driver::after_session`].
    pub(super) fn with_session<R>(
        &mut self,
        slot: usize,
        f: impl FnOnce(&mut EngineSession, &mut EngineCx<'_, SessionOut<'_>>) -> R,
    ) -> R {
        let recovery = !self.config.sio_recovery_window.is_zero();
        let sess = &mut self.sessions[slot];
        let ws = match sess.ws {
            Some(w) => self.conns.get_mut(w),
            None => None,
        };
        let mut cx = EngineCx {
            now: self.now,
            settings: &self.settings,
            scratch: &mut self.scratch,
            out: SessionOut {
                ws,
                wrote_ws: false,
                pool: &mut self.pool,
                shared: &mut self.shared_deflate,
                deflate: &self.config.deflate,
                now: self.now,
                events: &mut self.events,
                inbox: &mut self.transports,
                ended: &mut self.ended_requests,
                session: sess.id,
                session_slot: slot,
                user_data: sess.user_data,
                peer: sess.peer,
                tls: sess.tls.as_deref(),
                sockets: &mut self.sockets,
                ids: &mut self.ids,
                id_counter: &mut self.id_counter,
                recovery,
                log: &self.recovery,
                after: &mut self.session_chores,
            },
        };
        let r = f(&mut sess.proto, &mut cx);
        let wrote = cx.out.wrote_ws;
        if wrote {
            if let Some(w) = self.sessions[slot].ws {
                self.mark_dirty(w);
            }
        }
        self.after_session(slot);
        r
    }

    /// What follows a session call: the loop's bookkeeping for its
    /// sockets, the parked poll answered, a finished probe closed, the
    /// session freed once over, its timer armed.
    pub(super) fn after_session(&mut self, slot: usize) {
        if !self.session_chores.is_empty() {
            self.run_session_chores();
        }
        let Some(sess) = self.sessions.get_mut(slot) else {
            return;
        };
        if sess.proto.poll_ready() && sess.poll.is_some() {
            let payload = sess.proto.take_payload();
            if let Some(c) = sess.poll.take() {
                self.answer_poll(c, &payload);
            }
        }
        let sess = &mut self.sessions[slot];
        if let Some(w) = sess.ws {
            let is_transport = sess.proto.transport() == Transport::WebSocket;
            if !is_transport && !sess.proto.is_probing() {
                // The probe failed or timed out.
                sess.ws = None;
                self.close_transport(w);
            }
        }
        let sess = &mut self.sessions[slot];
        if sess.proto.is_finished() {
            return self.free_session(slot);
        }
        if let Some(at) = sess.proto.deadline(&self.settings) {
            if sess.armed.is_none_or(|a| at < a) {
                sess.armed = Some(at);
                self.timers.push(at, slot, sess.id);
            }
        }
    }

    fn answer_poll(&mut self, c: usize, payload: &[u8]) {
        if let Some(conn) = self.conns.get_mut(c) {
            conn.session = ConnId::NONE;
            self.with_proto(c, |conn, cx| {
                let _ = conn.engine_payload(payload, cx);
            });
        }
    }

    /// Closes a connection that carried a session (after what is queued).
    fn close_transport(&mut self, c: usize) {
        if let Some(conn) = self.conns.get_mut(c) {
            conn.session = ConnId::NONE;
            self.with_proto(c, |conn, cx| conn.engine_close(cx));
        }
    }

    fn free_session(&mut self, slot: usize) {
        let mut sess = self.sessions.remove(slot);
        if let Some(c) = sess.poll.take() {
            let mut payload = sess.proto.take_payload();
            if payload.is_empty() {
                eio::append_to_payload(&mut payload, eio::PacketType::Noop, &eio::Data::Text(""));
            }
            self.answer_poll(c, &payload);
        }
        if let Some(w) = sess.ws.take() {
            self.close_transport(w);
        }
        for m in sess.topics.take() {
            self.leave(m);
        }
    }

    /// A session's timer fired.
    pub(super) fn session_timer(&mut self, slot: usize, id: ConnId, at: Instant) {
        match self.sessions.get_mut(slot) {
            Some(s) if s.id == id && s.armed == Some(at) => s.armed = None,
            _ => return, // superseded
        }
        self.with_session(slot, |s, cx| s.handle_timeout(cx));
    }

    /// Sessions and the connections that are not their transports: what
    /// stats and `max_connections` count.
    pub fn connection_count(&self) -> usize {
        let transports = self
            .conns
            .iter()
            .filter(|(_, c)| c.proto.is_engine_transport())
            .count();
        self.conns.len() - transports + self.sessions.len()
    }
}
