//! The application's calls on one connection, and the commands other
//! threads queue. Arguments are checked by the public API before they get
//! here; the protocol decides whether the call fits the connection.

use super::{Command, Driver};
use crate::error::{Error, ErrorKind, Result};
use crate::event::{ConnId, Event, EventType, IdKind, Request};
use crate::proto::engine::http::Transport;
use crate::proto::engine::reason;
use crate::proto::sse::SseEvent;
use crate::proto::{ConnState, MessageKind, Refusal};
use crate::pubsub::Publish;
use std::net::SocketAddr;

impl Driver {
    fn live_slot(&self, id: ConnId) -> Result<usize> {
        self.slot(id).ok_or_else(Error::unknown_connection)
    }

    /// Runs a protocol call for the application; a refused send marks the
    /// connection for a drain event.
    fn app_call(
        &mut self,
        id: ConnId,
        f: impl FnOnce(
            &mut crate::proto::Connection,
            &mut crate::proto::Cx<'_, super::ConnOut<'_>>,
        ) -> Result<(), Refusal>,
    ) -> Result<()> {
        let slot = self.live_slot(id)?;
        let r = self.with_proto(slot, f);
        if r == Err(Refusal::Backpressure) {
            if let Some(c) = self.conns.get_mut(slot) {
                c.wants_drain = true;
            }
        }
        r.map_err(Error::from)
    }

    pub fn send(&mut self, id: ConnId, kind: MessageKind, data: &[u8]) -> Result<()> {
        match id.kind() {
            IdKind::Conn => self.app_call(id, |c, cx| c.send(kind, data, cx)),
            IdKind::Session => {
                let s = self
                    .session_slot(id)
                    .ok_or_else(Error::unknown_connection)?;
                self.with_session(s, |sess, cx| sess.send(kind, data, cx))
                    .map_err(Error::from)
            }
            IdKind::Socket => Err(Refusal::WrongState(
                "a Socket.IO socket takes events (emit), not messages",
            )
            .into()),
        }
    }

    pub fn ping(&mut self, id: ConnId, payload: &[u8]) -> Result<()> {
        if id.kind() != IdKind::Conn {
            self.known(id)?;
            return Err(Refusal::WrongState("Engine.IO runs its own heartbeat").into());
        }
        self.app_call(id, |c, cx| c.ping(payload, cx))
    }

    /// Closes a WebSocket (close handshake with `code`), an event stream,
    /// a plain Engine.IO session, or disconnects a socket from its
    /// namespace (`code` and `reason` only mean something to a WebSocket).
    pub fn close(&mut self, id: ConnId, code: u16, reason: &str) -> Result<()> {
        // Starts a timer: from now, not from the last turn (a host loop may
        // close from a timer of its own, long after it).
        self.now = std::time::Instant::now();
        match id.kind() {
            IdKind::Conn => self.app_call(id, |c, cx| c.close(code, reason, cx)),
            IdKind::Session => {
                let s = self
                    .session_slot(id)
                    .ok_or_else(Error::unknown_connection)?;
                self.with_session(s, |sess, cx| sess.close(cx))
                    .map_err(Error::from)
            }
            IdKind::Socket => self.disconnect_socket(id),
        }
    }

    /// Drops a connection, or a session (a socket's whole session) at
    /// once.
    pub fn terminate(&mut self, id: ConnId) -> Result<()> {
        match id.kind() {
            IdKind::Conn => self.app_call(id, |c, cx| c.terminate(cx)),
            IdKind::Session => {
                let s = self
                    .session_slot(id)
                    .ok_or_else(Error::unknown_connection)?;
                self.with_session(s, |sess, cx| {
                    sess.end(
                        reason::FORCED_CLOSE,
                        crate::proto::eio::PacketType::Close,
                        cx,
                    )
                });
                Ok(())
            }
            IdKind::Socket => self.terminate_session_of(id),
        }
    }

    /// Errors for an id the server does not know.
    fn known(&self, id: ConnId) -> Result<()> {
        let known = match id.kind() {
            IdKind::Conn => self.slot(id).is_some(),
            IdKind::Session => self.session_slot(id).is_some(),
            IdKind::Socket => self.socket_slot(id).is_some(),
        };
        known.then_some(()).ok_or_else(Error::unknown_connection)
    }

    pub fn accept(
        &mut self,
        id: ConnId,
        protocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<()> {
        if id.kind() == IdKind::Socket {
            if protocol.is_some() || !headers.is_empty() {
                return Err(Error::invalid(
                    "a Socket.IO connection is accepted without subprotocol or headers",
                ));
            }
            return self.accept_socket(id);
        }
        self.now = std::time::Instant::now(); // the idle timer starts
        self.app_call(id, |c, cx| c.accept(protocol, headers, cx))?;
        // Reading was paused while the app decided.
        if let Some(slot) = self.slot(id) {
            self.conns[slot].read_ready = true;
            self.resume.push(slot);
        }
        Ok(())
    }

    pub fn reject(
        &mut self,
        id: ConnId,
        status: u16,
        body: &str,
        headers: &[(String, String)],
    ) -> Result<()> {
        if id.kind() == IdKind::Socket {
            // Socket.IO has no status or headers: the body is the message.
            return self.reject_socket(id, body, None);
        }
        self.app_call(id, |c, cx| c.reject(status, body, headers, cx))
    }

    pub fn sse_send(&mut self, id: ConnId, event: &SseEvent<'_>) -> Result<()> {
        self.app_call(id, |c, cx| c.sse_send(event, cx))
    }

    pub fn sse_comment(&mut self, id: ConnId, text: &str) -> Result<()> {
        self.app_call(id, |c, cx| c.sse_comment(text, cx))
    }

    /// The session that carries a session's or a socket's traffic.
    fn session_of(&self, id: ConnId) -> Result<usize> {
        match id.kind() {
            IdKind::Session => self.session_slot(id).ok_or_else(Error::unknown_connection),
            IdKind::Socket => self
                .socket_slot(id)
                .and_then(|s| self.sockets[s].session)
                .ok_or_else(Error::unknown_connection),
            IdKind::Conn => Err(Error::unknown_connection()),
        }
    }

    /// Bytes queued and not yet written: a connection's, or what a
    /// session's transport (its WebSocket, or its next poll) holds.
    pub fn buffered_amount(&self, id: ConnId) -> Result<usize> {
        if id.kind() == IdKind::Conn {
            return Ok(self.conns[self.live_slot(id)?].out.len());
        }
        let s = &self.sessions[self.session_of(id)?];
        Ok(
            match s.ws.filter(|_| s.proto.transport() == Transport::WebSocket) {
                Some(w) => self.conns.get(w).map_or(0, |c| c.out.len()),
                None => s.proto.buffered(),
            },
        )
    }

    pub fn peer_addr(&self, id: ConnId) -> Result<SocketAddr> {
        if id.kind() == IdKind::Conn {
            return Ok(self.conns[self.live_slot(id)?].socket.tcp().peer_addr()?);
        }
        Ok(self.sessions[self.session_of(id)?].peer)
    }

    /// The request that opened an open WebSocket or event stream, as it
    /// keeps it (see `KeptRequest`).
    pub fn request(&self, id: ConnId) -> Result<Request> {
        if id.kind() != IdKind::Conn {
            return Err(Error::unknown_connection());
        }
        if let Some(ended) = self.ended_requests.iter().rev().find(|e| e.id == id) {
            return Ok(ended.request());
        }
        let conn = &self.conns[self.live_slot(id)?];
        match &conn.request {
            Some(kept) => Ok(kept.request(conn.socket.tls_info())),
            None => Err(Error::new(
                ErrorKind::WrongState,
                "not open yet: its request is the one its REQUEST event carries",
            )),
        }
    }

    /// The state the application sees; `Closed` for ids the server no
    /// longer knows.
    pub fn state(&self, id: ConnId) -> ConnState {
        match id.kind() {
            IdKind::Conn => self
                .slot(id)
                .map_or(ConnState::Closed, |s| self.conns[s].proto.state()),
            IdKind::Session => self
                .session_slot(id)
                .map_or(ConnState::Closed, |s| self.sessions[s].proto.state()),
            IdKind::Socket => match self.session_of(id) {
                Err(_) => ConnState::Closed,
                Ok(_) if self.socket_connected(id) => ConnState::Open,
                Ok(_) => ConnState::Connecting,
            },
        }
    }

    pub fn set_user_data(&mut self, id: ConnId, data: usize) -> Result<()> {
        match id.kind() {
            IdKind::Conn => {
                let slot = self.live_slot(id)?;
                self.conns[slot].user_data = data;
            }
            IdKind::Session => {
                let s = self.session_of(id)?;
                self.sessions[s].user_data = data;
            }
            IdKind::Socket => {
                self.known(id)?;
                self.sockets[id.slot()].user_data = data;
            }
        }
        Ok(())
    }

    pub fn user_data(&self, id: ConnId) -> Result<usize> {
        match id.kind() {
            IdKind::Conn => Ok(self.conns[self.live_slot(id)?].user_data),
            IdKind::Session => Ok(self.sessions[self.session_of(id)?].user_data),
            IdKind::Socket => {
                self.known(id)?;
                Ok(self.sockets[id.slot()].user_data)
            }
        }
    }

    /// Runs what other threads queued. Their outcomes are not reported
    /// back: the connection may have gone meanwhile.
    pub(super) fn run_commands(&mut self) {
        for cmd in self.inbox.take() {
            let _ = match cmd {
                Command::Wake => {
                    let ev = Event::new(EventType::Wake, ConnId::NONE, 0);
                    self.events.push(ev);
                    Ok(())
                }
                Command::Send { conn, kind, data } => self.send(conn, kind, &data),
                Command::Ping { conn, data } => self.ping(conn, &data),
                Command::Close { conn, code, reason } => self.close(conn, code, &reason),
                Command::Terminate { conn } => self.terminate(conn),
                Command::SseSend {
                    conn,
                    event,
                    id,
                    retry,
                    data,
                } => {
                    let ev = SseEvent {
                        event: event.as_deref(),
                        id: id.as_deref(),
                        retry,
                        data: &data,
                    };
                    self.sse_send(conn, &ev)
                }
                Command::SseComment { conn, text } => self.sse_comment(conn, &text),
                Command::Subscribe { conn, topic } => self.subscribe(conn, &topic).map(drop),
                Command::Unsubscribe { conn, topic } => self.unsubscribe(conn, &topic).map(drop),
                Command::Resume {
                    conn,
                    topic,
                    last_event_id,
                } => self
                    .resume(conn, &topic, last_event_id.as_deref())
                    .map(drop),
                Command::SetTopicHistory { topic, limit } => {
                    self.set_topic_history(&topic, limit);
                    Ok(())
                }
                Command::ClearTopicHistory { topic } => {
                    self.clear_topic_history(&topic);
                    Ok(())
                }
                Command::Publish {
                    topic,
                    kind,
                    data,
                    exclude,
                    on_slow,
                    sse_event,
                } => {
                    let msg = Publish {
                        kind,
                        data: &data,
                        exclude,
                        on_slow,
                        sse_event: sse_event.as_deref(),
                    };
                    self.publish(topic.as_deref(), &msg).map(drop)
                }
                Command::Emit {
                    socket,
                    event,
                    args,
                    attachments,
                } => {
                    let att: Vec<&[u8]> = attachments.iter().map(|a| &a[..]).collect();
                    self.emit(socket, &event, &args, &att, None).map(drop)
                }
                Command::Ack {
                    socket,
                    id,
                    args,
                    attachments,
                } => {
                    let att: Vec<&[u8]> = attachments.iter().map(|a| &a[..]).collect();
                    self.ack(socket, id, &args, &att)
                }
                Command::Broadcast(b) => b.borrowed(|b| self.broadcast(b)).map(drop),
                Command::Cluster(m) => {
                    let _ = self.apply_cluster(&m, None);
                    Ok(())
                }
                Command::Adopt(a) => {
                    self.adopt(*a);
                    Ok(())
                }
                Command::Shutdown => {
                    self.begin_shutdown();
                    Ok(())
                }
            };
        }
    }
}
