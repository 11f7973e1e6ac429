//! The application's calls on one connection, and the commands other
//! threads queue. Arguments are checked by the public API before they get
//! here; the protocol decides whether the call fits the connection.

use super::{Command, Driver};
use crate::error::{Error, Result};
use crate::event::{ConnId, Event, EventType};
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
        self.app_call(id, |c, cx| c.send(kind, data, cx))
    }

    pub fn ping(&mut self, id: ConnId, payload: &[u8]) -> Result<()> {
        self.app_call(id, |c, cx| c.ping(payload, cx))
    }

    pub fn close(&mut self, id: ConnId, code: u16, reason: &str) -> Result<()> {
        // Starts a timer: from now, not from the last turn (a host loop may
        // close from a timer of its own, long after it).
        self.now = std::time::Instant::now();
        self.app_call(id, |c, cx| c.close(code, reason, cx))
    }

    pub fn terminate(&mut self, id: ConnId) -> Result<()> {
        self.app_call(id, |c, cx| c.terminate(cx))
    }

    pub fn accept(
        &mut self,
        id: ConnId,
        protocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<()> {
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
        self.app_call(id, |c, cx| c.reject(status, body, headers, cx))
    }

    pub fn sse_send(&mut self, id: ConnId, event: &SseEvent<'_>) -> Result<()> {
        self.app_call(id, |c, cx| c.sse_send(event, cx))
    }

    pub fn sse_comment(&mut self, id: ConnId, text: &str) -> Result<()> {
        self.app_call(id, |c, cx| c.sse_comment(text, cx))
    }

    pub fn buffered_amount(&self, id: ConnId) -> Result<usize> {
        Ok(self.conns[self.live_slot(id)?].out.len())
    }

    pub fn peer_addr(&self, id: ConnId) -> Result<SocketAddr> {
        Ok(self.conns[self.live_slot(id)?].socket.peer_addr()?)
    }

    /// The connection's state; `Closed` for ids the server no longer knows.
    pub fn state(&self, id: ConnId) -> ConnState {
        self.slot(id)
            .map_or(ConnState::Closed, |s| self.conns[s].proto.state())
    }

    pub fn set_user_data(&mut self, id: ConnId, data: usize) -> Result<()> {
        let slot = self.live_slot(id)?;
        self.conns[slot].user_data = data;
        Ok(())
    }

    pub fn user_data(&self, id: ConnId) -> Result<usize> {
        Ok(self.conns[self.live_slot(id)?].user_data)
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
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
                Command::Shutdown => {
                    self.begin_shutdown();
                    Ok(())
                }
            };
        }
    }
}
