//! The mio event loop: accepting, reading, writing, timers and shutdown.
//! Protocol decisions are delegated to `proto`; this module moves bytes and
//! keeps per-connection state.

pub(crate) mod compress;
pub(crate) mod conn;
mod open;
mod timers;
pub(crate) mod topics;
pub(crate) mod writeq;

use crate::config::Config;
use crate::event::{ConnId, Endpoint, Event, Events, MessageKind, Span};
use crate::proto::frame::{self, OpCode};
use crate::proto::ws::Incoming;
use crate::server::Command;
use conn::{Conn, OwedClose, Phase};
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use slab::Slab;
use std::io::{self, Read};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timers::TimerHeap;
use writeq::BufferPool;

pub(crate) const LISTENER: Token = Token(usize::MAX);
pub(crate) const WAKER: Token = Token(usize::MAX - 1);

/// One read buffer serves every connection of the loop.
const READ_BUFFER: usize = 64 * 1024;
/// Reads per connection per turn before others get a go.
const READ_BUDGET: usize = 16;

/// Everything but the `Poll` itself, so the loop can iterate mio's events
/// while mutating connections.
pub(crate) struct Loop {
    pub config: Config,
    pub registry: Registry,
    pub listener: Option<TcpListener>,
    pub conns: Slab<Conn>,
    pub next_generation: u32,
    pub timers: TimerHeap,
    pub pool: BufferPool,
    pub read_buf: Vec<u8>,
    /// Connections with queued output not yet written this turn.
    pub dirty: Vec<usize>,
    /// Connections with unread input we postponed (budget, backpressure,
    /// approval just granted).
    pub resume: Vec<usize>,
    /// permessage-deflate contexts shared by connections that reset them
    /// after every message.
    pub shared_deflate: compress::SharedDeflate,
    /// Publish/subscribe topics and their histories.
    pub topics: topics::Topics,
    /// Connections owing a close frame once the app has handled the batch.
    pub owed_closes: Vec<usize>,
    /// Events for the app, accumulated until `poll` hands them over.
    pub events: Events,
    pub commands: Arc<Mutex<Vec<Command>>>,
    pub now: Instant,
    pub accept_retry_at: Option<Instant>,
    pub shutdown_deadline: Option<Instant>,
}

impl Loop {
    /// The slot of a live connection.
    pub fn slot(&self, id: ConnId) -> Option<usize> {
        let slot = (id.0 & 0xffff_ffff) as usize;
        match self.conns.get(slot) {
            Some(c) if c.id == id => Some(slot),
            _ => None,
        }
    }

    /// Turn work: commands from other threads, postponed reads.
    pub fn run_commands(&mut self) {
        let cmds = std::mem::take(&mut *self.commands.lock().unwrap_or_else(|e| e.into_inner()));
        for cmd in cmds {
            match cmd {
                Command::Wake => self.events.push(Event::Wake),
                Command::Send { conn, kind, data } => {
                    if let Some(slot) = self.slot(conn) {
                        let opcode = if kind == MessageKind::Text {
                            OpCode::Text
                        } else {
                            OpCode::Binary
                        };
                        let _ = self.queue_message(slot, opcode, &data);
                    }
                }
                Command::Publish {
                    topic,
                    kind,
                    data,
                    exclude,
                } => {
                    let mut msg = crate::pubsub::Publish::new(kind, &data);
                    msg.exclude = exclude;
                    let _ = self.publish(topic.as_deref(), &msg);
                }
                Command::Close { conn, code, reason } => {
                    let _ = self.close(conn, code, &reason);
                }
                Command::Shutdown => self.begin_shutdown(),
            }
        }
    }

    pub fn accept_all(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((mut socket, _peer)) => {
                    if self
                        .config
                        .max_connections
                        .is_some_and(|m| self.conns.len() >= m)
                    {
                        continue; // dropped: closed at once
                    }
                    let _ = socket.set_nodelay(true);
                    let entry = self.conns.vacant_entry();
                    let slot = entry.key();
                    if slot >= WAKER.0 {
                        continue;
                    }
                    // Edge-triggered, both directions, registered once: no
                    // epoll_ctl per write that would block.
                    if self
                        .registry
                        .register(
                            &mut socket,
                            Token(slot),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    self.next_generation = self.next_generation.wrapping_add(1);
                    let id = ConnId(((self.next_generation as u64) << 32) | slot as u64);
                    entry.insert(Conn::new(id, socket, self.now));
                    self.arm(slot, self.now + self.config.handshake_timeout);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if is_resource_exhaustion(&e) => {
                    // Out of fds or memory: the pending connections stay in
                    // the backlog; try again shortly rather than spin.
                    self.accept_retry_at = Some(self.now + Duration::from_millis(100));
                    break;
                }
                Err(_) => continue, // aborted before accept; next
            }
        }
    }

    /// Reads what the socket has. `hung_up`: the readiness event said the
    /// peer shut its side, so read on to EOF even after a short read (that
    /// FIN will not be reported again by edge-triggered epoll).
    pub fn on_readable(&mut self, slot: usize, hung_up: bool) {
        if let Some(conn) = self.conns.get_mut(slot) {
            // Remembered: if reading is paused now, the resumed read must
            // still go on to the EOF this edge announced.
            conn.hung_up |= hung_up;
        }
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let awaiting_app = matches!(conn.phase, Phase::Approval { .. });
            let paused = awaiting_app || conn.out.len() > self.config.read_pause_buffered;
            if paused {
                conn.read_ready = true;
                if awaiting_app {
                    // Nothing is read while the app decides, but a client
                    // that hangs up must still be noticed: otherwise the app
                    // hears of it only after `handshake_timeout`.
                    let mut probe = [0u8; 1];
                    match conn.socket.peek(&mut probe) {
                        Ok(0) => self.on_eof(slot),
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        Err(_) => self.remove(slot, 1006, "connection reset"),
                    }
                }
                return;
            }
            let mut buf = std::mem::take(&mut self.read_buf);
            let result = conn.socket.read(&mut buf);
            match result {
                Ok(0) => {
                    self.read_buf = buf;
                    self.on_eof(slot);
                    return;
                }
                Ok(n) => {
                    conn.last_read = self.now;
                    conn.read_ready = false;
                    if let Phase::WebSocket { ping_sent, .. } = &mut conn.phase {
                        *ping_sent = false;
                    }
                    self.on_data(slot, &mut buf[..n]);
                    self.read_buf = buf;
                    if n < READ_BUFFER && !self.conns.get(slot).is_some_and(|c| c.hung_up) {
                        // A short read drained the socket; epoll will report
                        // new bytes as a new edge.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_buf = buf;
                    conn.read_ready = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.read_buf = buf,
                Err(_) => {
                    self.read_buf = buf;
                    self.remove(slot, 1006, "connection reset");
                    return;
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.read_ready = true;
            self.resume.push(slot);
        }
    }

    fn on_data(&mut self, slot: usize, data: &mut [u8]) {
        match &self.conns[slot].phase {
            Phase::Head { .. } => self.on_head_bytes(slot, data),
            Phase::WebSocket { ending: None, .. } => self.feed_websocket(slot, data),
            // Failed or closed by the peer: nothing more is read but EOF.
            Phase::WebSocket { .. } => {}
            // SSE clients have nothing to say after their request; lingering
            // connections are only waiting for EOF. Discard either way.
            Phase::Sse | Phase::Linger { .. } | Phase::Approval { .. } => {}
        }
    }

    fn on_eof(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            if matches!(
                conn.phase,
                Phase::WebSocket {
                    ending: Some(_),
                    ..
                }
            ) {
                // The peer sent its close and hung up its side; our replies
                // and close echo are still to go out. Finish after the flush.
                conn.peer_eof = true;
                return;
            }
            if conn.is_open_websocket() {
                // Hung up without a close handshake (1006). It may still be
                // reading: replies to what it sent go out first, then FIN.
                conn.peer_eof = true;
                self.report_close(slot, 1006, "connection closed without a close frame");
                let owed = OwedClose {
                    send_frame: false,
                    code: None,
                    reason: "",
                };
                self.owe_close(slot, owed);
                return;
            }
        }
        // Try once to get the last bytes out (an error answer, a close echo)
        // before closing: the peer may only have shut its sending side.
        self.flush_slot(slot);
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let (code, reason) = match &conn.phase {
            Phase::WebSocket { .. } | Phase::Approval { .. } => {
                (1006, "connection closed without a close frame")
            }
            _ => (1006, ""),
        };
        self.remove(slot, code, reason);
    }

    /// Runs the WebSocket receiver over `data` and acts on what it finds.
    pub(crate) fn feed_websocket(&mut self, slot: usize, data: &mut [u8]) {
        let max_buffered = self.config.max_buffered;
        let conn = &mut self.conns[slot];
        let Phase::WebSocket { rx, closing, .. } = &mut conn.phase else {
            return;
        };
        let id = conn.id;
        let out = &mut conn.out;
        let deflate = &mut conn.deflate;
        let shared = &mut self.shared_deflate;
        let max_message = self.config.max_message_size;
        let pool = &mut self.pool;
        let events = &mut self.events;
        let closing_now = closing.is_some();
        let mut peer_close = None;
        let mut failed: Option<(u16, &'static str)> = None;
        let mut wrote = false;
        let result = rx.feed(data, &mut |incoming| match incoming {
            // Once a message failed to inflate, nothing after it counts.
            _ if failed.is_some() => {}
            // After our close frame, data is read only to find the peer's.
            Incoming::Text(_) | Incoming::Binary(_) | Incoming::Compressed { .. }
                if closing_now => {}
            Incoming::Compressed { text, payload } => {
                // Inflated straight into the batch's arena: no extra copy.
                let Some(state) = deflate.as_deref_mut() else {
                    failed = Some((1002, "compressed message without permessage-deflate"));
                    return;
                };
                let start = events.arena.len();
                let result =
                    compress::inflate(state, shared, payload, &mut events.arena, max_message)
                        .and_then(|()| {
                            match text
                                && simdutf8::basic::from_utf8(&events.arena[start..]).is_err()
                            {
                                true => Err((1007, "invalid UTF-8 in text message")),
                                false => Ok(()),
                            }
                        });
                match result {
                    Ok(()) => {
                        let data = Span {
                            start,
                            len: events.arena.len() - start,
                        };
                        let kind = if text {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        events.push(Event::Message {
                            conn: id,
                            kind,
                            data,
                        });
                    }
                    Err(e) => {
                        events.arena.truncate(start);
                        failed = Some(e);
                    }
                }
            }
            Incoming::Text(s) => {
                let data = events.store(s.as_bytes());
                events.push(Event::Message {
                    conn: id,
                    kind: MessageKind::Text,
                    data,
                });
            }
            Incoming::Binary(b) => {
                let data = events.store(b);
                events.push(Event::Message {
                    conn: id,
                    kind: MessageKind::Binary,
                    data,
                });
            }
            Incoming::Ping(p) => {
                // A peer that pings without reading cannot grow our queue.
                if !closing_now && out.len() <= max_buffered {
                    out.append_with(pool, p.len() + 2, |v| {
                        frame::write_frame(v, OpCode::Pong, p)
                    });
                    wrote = true;
                }
            }
            Incoming::Pong(p) => {
                let data = events.store(p);
                events.push(Event::Pong { conn: id, data });
            }
            Incoming::Close(code, reason) => {
                let reason = events.store(reason.as_bytes());
                peer_close = Some((code, reason));
            }
        });
        if wrote {
            self.mark_dirty(slot);
        }
        match (result, failed, peer_close) {
            (_, Some((code, reason)), _) => self.fail_websocket(slot, code, reason),
            (Err(e), None, _) => self.fail_websocket(slot, e.code, e.reason),
            (Ok(()), None, Some((code, reason))) => self.on_peer_close(slot, code, reason),
            (Ok(()), None, None) => {}
        }
    }

    /// The peer's close frame. If it answers ours we are done; otherwise we
    /// owe it an echo (§5.5.1), sent once the app has handled this batch so
    /// that replies to the messages before the close are not lost.
    fn on_peer_close(&mut self, slot: usize, code: Option<u16>, reason: crate::event::Span) {
        let conn = &mut self.conns[slot];
        let Phase::WebSocket { closing, .. } = &conn.phase else {
            return;
        };
        let answered_ours = closing.is_some();
        let id = conn.id;
        if conn.reported.take().is_some() {
            self.drop_topics(slot);
            self.events.push(Event::Close {
                conn: id,
                code: code.unwrap_or(1005),
                reason,
            });
        }
        if answered_ours {
            self.linger(slot);
        } else {
            self.owe_close(
                slot,
                OwedClose {
                    send_frame: true,
                    code,
                    reason: "",
                },
            );
        }
    }

    /// Fails the connection (§7.1.7) with `code`: the app hears now, the
    /// close frame follows its replies to earlier messages; nothing more is
    /// read but EOF.
    pub(crate) fn fail_websocket(&mut self, slot: usize, code: u16, reason: &'static str) {
        self.report_close(slot, code, reason);
        let conn = &mut self.conns[slot];
        if matches!(conn.phase, Phase::WebSocket { closing: None, .. }) {
            self.owe_close(
                slot,
                OwedClose {
                    send_frame: true,
                    code: Some(code),
                    reason,
                },
            );
        } else {
            self.linger(slot);
        }
    }

    fn owe_close(&mut self, slot: usize, owed: OwedClose) {
        if let Phase::WebSocket { ending, .. } = &mut self.conns[slot].phase {
            if ending.is_none() {
                *ending = Some(owed);
                self.owed_closes.push(slot);
            }
        }
    }

    /// The app has handled the last batch: send the close frames it owed.
    pub fn send_owed_closes(&mut self) {
        for slot in std::mem::take(&mut self.owed_closes) {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            let Phase::WebSocket {
                ending: Some(owed), ..
            } = conn.phase
            else {
                continue;
            };
            if owed.send_frame {
                conn.out
                    .append_with(&mut self.pool, 4 + owed.reason.len(), |v| {
                        frame::write_close(v, owed.code, owed.reason)
                    });
            }
            self.linger(slot);
        }
    }

    /// Emits the app's close event for this connection if it has not had one.
    pub(crate) fn report_close(&mut self, slot: usize, code: u16, reason: &str) {
        self.drop_topics(slot);
        let conn = &mut self.conns[slot];
        match conn.reported.take() {
            Some(Endpoint::WebSocket) => {
                let id = conn.id;
                let reason = self.events.store(reason.as_bytes());
                self.events.push(Event::Close {
                    conn: id,
                    code,
                    reason,
                });
            }
            Some(Endpoint::Sse) => self.events.push(Event::SseClose { conn: conn.id }),
            None => {}
        }
    }

    /// Enters the final phase: flush, send FIN, wait (bounded) for the peer
    /// to close. Reading continues only to see EOF.
    pub(crate) fn linger(&mut self, slot: usize) {
        let until = self.now + self.config.close_timeout;
        let conn = &mut self.conns[slot];
        conn.phase = Phase::Linger { until };
        conn.shut_after_flush = true;
        self.mark_dirty(slot);
        self.arm(slot, until);
    }

    /// Removes a connection, reporting its close if the app knows it.
    pub(crate) fn remove(&mut self, slot: usize, code: u16, reason: &str) {
        if !self.conns.contains(slot) {
            return;
        }
        self.report_close(slot, code, reason);
        self.drop_topics(slot);
        let mut conn = self.conns.remove(slot);
        conn.out.clear(&mut self.pool);
        let _ = self.registry.deregister(&mut conn.socket);
        // Dropping the socket closes it.
    }

    pub(crate) fn mark_dirty(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    pub fn flush_dirty(&mut self) {
        let mut i = 0;
        while i < self.dirty.len() {
            let slot = self.dirty[i];
            if let Some(c) = self.conns.get_mut(slot) {
                c.dirty = false;
            }
            self.flush_slot(slot);
            i += 1;
        }
        self.dirty.clear();
    }

    /// Writes what the socket takes; handles FIN, drain and read resumption.
    pub fn flush_slot(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.out.flush(&mut conn.socket, &mut self.pool) {
            Ok(true) => {
                if conn.wants_drain {
                    conn.wants_drain = false;
                    if conn.is_open_websocket() || matches!(conn.phase, Phase::Sse) {
                        self.events.push(Event::Drain { conn: conn.id });
                    }
                }
                if conn.shut_after_flush && !conn.write_shut {
                    conn.write_shut = true;
                    let _ = conn.socket.shutdown(Shutdown::Write);
                }
                if conn.write_shut && conn.peer_eof {
                    self.remove(slot, 1006, "");
                    return;
                }
                if conn.read_ready {
                    self.resume.push(slot);
                }
            }
            Ok(false) => {
                conn.wants_drain = true;
                if conn.read_ready && conn.out.len() <= self.config.read_pause_buffered {
                    self.resume.push(slot);
                }
            }
            Err(_) => self.remove(slot, 1006, "write failed"),
        }
    }

    pub fn run_resumed(&mut self) {
        if self.resume.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.resume);
        // A slot can be pushed more than once in a turn (its read budget ran
        // out, then a flush emptied its queue); it gets one budget per turn.
        list.sort_unstable();
        list.dedup();
        for &slot in &list {
            if self.conns.get(slot).is_some_and(|c| c.read_ready) {
                self.on_readable(slot, false);
            }
        }
        list.clear();
        if self.resume.is_empty() {
            self.resume = list; // keep the allocation
        }
    }

    /// Asks the timer heap to wake this connection at `at` (or earlier if it
    /// already asked for earlier).
    pub(crate) fn arm(&mut self, slot: usize, at: Instant) {
        let conn = &mut self.conns[slot];
        if conn.deadline.is_none_or(|d| at < d) {
            conn.deadline = Some(at);
            self.timers.push(at, slot, conn.id.0);
        }
    }

    pub fn run_timers(&mut self) {
        while let Some((at, slot, id)) = self.timers.pop_due(self.now) {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id.0 != id || conn.deadline != Some(at) {
                continue; // superseded
            }
            conn.deadline = None;
            self.on_timer(slot);
        }
        if self.accept_retry_at.is_some_and(|t| t <= self.now) {
            self.accept_retry_at = None;
            self.accept_all();
        }
        if self.shutdown_deadline.is_some_and(|t| t <= self.now) {
            let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
            for slot in slots {
                self.remove(slot, 1006, "shutdown timed out");
            }
        }
    }

    fn on_timer(&mut self, slot: usize) {
        // The idle-ping timer comes round at least every idle_timeout / 2:
        // a good time to give back a compressor nobody uses.
        if let Some(d) = self.conns[slot].deflate.as_deref_mut() {
            d.release_idle_compressor(self.now);
        }
        match self.timer_action(slot) {
            TimerAction::Drop(reason) => self.remove(slot, 1006, reason),
            TimerAction::Rearm(at) => self.arm(slot, at),
            TimerAction::Ping(next) => {
                let conn = &mut self.conns[slot];
                if let Phase::WebSocket { ping_sent, .. } = &mut conn.phase {
                    *ping_sent = true;
                }
                conn.out.append_with(&mut self.pool, 2, |v| {
                    frame::write_frame(v, OpCode::Ping, b"")
                });
                self.mark_dirty(slot);
                self.arm(slot, next);
            }
            TimerAction::KeepAlive(next) => {
                let conn = &mut self.conns[slot];
                conn.out.append_with(&mut self.pool, 16, |v| {
                    crate::proto::sse::encode_comment(v, "keep-alive")
                });
                conn.last_write = self.now;
                self.mark_dirty(slot);
                self.arm(slot, next);
            }
            TimerAction::Nothing => {}
        }
    }

    /// Decides what a connection's due timer means, from its timestamps.
    fn timer_action(&self, slot: usize) -> TimerAction {
        let now = self.now;
        let cfg = &self.config;
        let conn = &self.conns[slot];
        let due_or = |due: Instant, reason| {
            if now >= due {
                TimerAction::Drop(reason)
            } else {
                TimerAction::Rearm(due)
            }
        };
        match &conn.phase {
            // Slowloris, or an app that never answered an approval request.
            Phase::Head { .. } | Phase::Approval { .. } => due_or(
                conn.opened_at + cfg.handshake_timeout,
                "handshake timed out",
            ),
            Phase::WebSocket {
                closing: Some(since),
                ..
            } => due_or(*since + cfg.close_timeout, "close handshake timed out"),
            Phase::WebSocket {
                closing: None,
                ping_sent,
                ..
            } => {
                let Some(idle) = cfg.idle_timeout else {
                    return TimerAction::Nothing;
                };
                let silent = now.saturating_duration_since(conn.last_read);
                if silent >= idle {
                    TimerAction::Drop("peer stopped answering pings")
                } else if *ping_sent {
                    TimerAction::Rearm(conn.last_read + idle)
                } else if silent >= idle / 2 {
                    TimerAction::Ping(conn.last_read + idle)
                } else {
                    TimerAction::Rearm(conn.last_read + idle / 2)
                }
            }
            Phase::Sse => {
                let Some(ka) = cfg.sse_keepalive else {
                    return TimerAction::Nothing;
                };
                if now.saturating_duration_since(conn.last_write) >= ka {
                    TimerAction::KeepAlive(now + ka)
                } else {
                    TimerAction::Rearm(conn.last_write + ka)
                }
            }
            Phase::Linger { until } => due_or(*until, ""),
        }
    }

    /// Stops accepting and closes every connection: WebSockets with 1001,
    /// event streams ended, requests awaiting approval answered 503.
    pub fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(self.now + self.config.close_timeout);
        if let Some(mut l) = self.listener.take() {
            let _ = self.registry.deregister(&mut l);
        }
        let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
        for slot in slots {
            match self.conns[slot].phase {
                Phase::Head { .. } => self.remove(slot, 1006, ""),
                Phase::Approval { .. } => {
                    self.report_close(slot, 1001, "server shutting down");
                    let err = crate::proto::http::HttpError {
                        status: 503,
                        message: "Service Unavailable: shutting down",
                        extra_headers: "",
                    };
                    self.answer_and_close(slot, &err);
                }
                Phase::WebSocket { closing: None, .. } => {
                    let id = self.conns[slot].id;
                    let _ = self.close(id, 1001, "server shutting down");
                }
                Phase::Sse => {
                    self.report_close(slot, 1001, "");
                    self.linger(slot);
                }
                Phase::WebSocket { .. } | Phase::Linger { .. } => {}
            }
        }
    }

    pub fn next_timeout(&self, requested: Option<Duration>) -> Option<Duration> {
        if !self.events.is_empty() || !self.resume.is_empty() || !self.dirty.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut deadline = self.timers.next_deadline();
        for t in [self.accept_retry_at, self.shutdown_deadline]
            .into_iter()
            .flatten()
        {
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        let until_timer = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match (requested, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

enum TimerAction {
    Drop(&'static str),
    Rearm(Instant),
    /// Send a ping, then wake again at the given time.
    Ping(Instant),
    /// Send an SSE keep-alive comment, then wake again at the given time.
    KeepAlive(Instant),
    Nothing,
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The few errno values we look at (Linux numbering; std exposes no names).
mod libc_errno {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}
