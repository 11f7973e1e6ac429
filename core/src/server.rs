//! The public API: one `Server` that the C ABI, Python and Node wrap.

use crate::config::{Config, OverflowPolicy};
use crate::driver::compress;
use crate::driver::conn::Phase;
use crate::driver::writeq::{BufferPool, COPY_INTO_POOL_LIMIT};
use crate::driver::{Loop, LISTENER, WAKER};
use crate::error::{Error, Result};
use crate::event::{ConnId, Events, MessageKind};
use crate::proto::frame::{self, OpCode, MAX_HEADER_LEN};
use crate::proto::sse::{self, SseEvent};
use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};
use slab::Slab;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Work handed to the loop from another thread through a [`Handle`].
#[derive(Debug)]
pub(crate) enum Command {
    Wake,
    Send {
        conn: ConnId,
        kind: MessageKind,
        data: Bytes,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    Publish {
        topic: Option<String>,
        kind: MessageKind,
        data: Bytes,
        exclude: Option<ConnId>,
    },
    Shutdown,
}

/// A WebSocket and SSE server on one port, driven by [`Server::poll`].
///
/// Threading: a `Server` is used from one thread at a time (it is `Send`,
/// not `Sync`). Other threads reach it through a [`Handle`].
///
/// Output is batched: sends queue bytes, and the queue is written with
/// `writev` at the next `poll` (or [`Server::flush`]), so the replies to a
/// whole batch of events leave in one system call per connection.
pub struct Server {
    poll: Poll,
    mio_events: mio::Events,
    pub(crate) lp: Loop,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

struct Shared {
    commands: Arc<Mutex<Vec<Command>>>,
    waker: Waker,
    /// Cleared when the server is dropped, so handles that outlive it fail
    /// instead of queuing work nobody will run.
    alive: std::sync::atomic::AtomicBool,
}

/// A thread-safe handle for waking the loop and handing it work. Cheap to
/// clone; calls never block on I/O.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    fn submit(&self, cmd: Command) -> Result<()> {
        if !self.shared.alive.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the server this handle belongs to is gone",
            )));
        }
        self.shared
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cmd);
        self.shared.waker.wake().map_err(Error::Io)
    }

    /// Makes the next (or current) `poll` return with an `Event::Wake`.
    pub fn wake(&self) -> Result<()> {
        self.submit(Command::Wake)
    }

    /// Queues a message from another thread. Errors (unknown connection,
    /// backpressure) are not reported back; use the loop thread for that.
    pub fn send(&self, conn: ConnId, kind: MessageKind, data: Bytes) -> Result<()> {
        if kind == MessageKind::Text && simdutf8::basic::from_utf8(&data).is_err() {
            return Err(Error::InvalidArgument("text message is not valid UTF-8"));
        }
        self.submit(Command::Send { conn, kind, data })
    }

    pub fn close(&self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        check_close_args(code, reason)?;
        self.submit(Command::Close {
            conn,
            code,
            reason: reason.to_string(),
        })
    }

    /// Publishes from another thread, as [`Server::publish`] (`topic`
    /// `None`: to everyone, as [`Server::publish_all`]). The outcome is not
    /// reported back; [`Server::stats`] counts it.
    pub fn publish(
        &self,
        topic: Option<&str>,
        kind: MessageKind,
        data: Bytes,
        exclude: Option<ConnId>,
    ) -> Result<()> {
        if let Some(t) = topic {
            crate::pubsub::check_topic(t)?;
        }
        crate::pubsub::check_publish(&crate::pubsub::Publish::new(kind, &data))?;
        self.submit(Command::Publish {
            topic: topic.map(str::to_string),
            kind,
            data,
            exclude,
        })
    }

    /// Begins a graceful shutdown, as [`Server::begin_shutdown`].
    pub fn shutdown(&self) -> Result<()> {
        self.submit(Command::Shutdown)
    }
}

fn check_close_args(code: u16, reason: &str) -> Result<()> {
    if !frame::is_valid_close_code(code) {
        return Err(Error::InvalidArgument(
            "close code must be 1000-1003, 1007-1014 or 3000-4999",
        ));
    }
    if reason.len() > 123 {
        return Err(Error::InvalidArgument("close reason is over 123 bytes"));
    }
    Ok(())
}

impl Server {
    /// Binds the listening socket and prepares the loop.
    pub fn bind(config: Config) -> Result<Server> {
        config.validate().map_err(Error::Config)?;
        let addr: SocketAddr = config
            .listen
            .parse()
            .map_err(|_| Error::Config("listen must be an IP:port address"))?;
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let commands = Arc::new(Mutex::new(Vec::new()));
        let lp = Loop {
            config,
            registry: poll.registry().try_clone()?,
            listener: Some(listener),
            conns: Slab::new(),
            next_generation: 0,
            timers: Default::default(),
            pool: BufferPool::default(),
            read_buf: vec![0; 64 * 1024],
            dirty: Vec::new(),
            resume: Vec::new(),
            owed_closes: Vec::new(),
            shared_deflate: Default::default(),
            topics: Default::default(),
            events: Events::new(),
            commands: commands.clone(),
            now: Instant::now(),
            accept_retry_at: None,
            shutdown_deadline: None,
        };
        Ok(Server {
            poll,
            mio_events: mio::Events::with_capacity(1024),
            lp,
            shared: Arc::new(Shared {
                commands,
                waker,
                alive: std::sync::atomic::AtomicBool::new(true),
            }),
            local_addr,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &Config {
        &self.lp.config
    }

    /// Runs the loop once: flushes queued output, waits up to `timeout` for
    /// I/O (`None` waits until something happens), handles it, and replaces
    /// the contents of `events` with everything that happened. Payloads in
    /// `events` stay valid until it is next cleared or reused.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        let lp = &mut self.lp;
        lp.now = Instant::now();
        lp.send_owed_closes();
        lp.run_commands();
        lp.flush_dirty();
        let wait = lp.next_timeout(timeout);
        match self.poll.poll(&mut self.mio_events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.mio_events.clear(),
            Err(e) => return Err(Error::Io(e)),
        }
        lp.now = Instant::now();
        lp.run_resumed();
        for ev in self.mio_events.iter() {
            match ev.token() {
                LISTENER => lp.accept_all(),
                WAKER => lp.run_commands(),
                token => {
                    let slot = token.0;
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        lp.on_readable(slot, ev.is_read_closed() || ev.is_error());
                    }
                    if ev.is_writable() && lp.conns.contains(slot) {
                        lp.flush_slot(slot);
                    }
                }
            }
        }
        lp.run_timers();
        lp.flush_dirty();
        events.clear();
        std::mem::swap(events, &mut lp.events);
        Ok(())
    }

    /// Writes queued output now instead of at the next `poll`. A host loop
    /// that sends outside of event handling (a timer, another task) calls
    /// this after sending. Events it causes arrive with the next `poll`.
    pub fn flush(&mut self) {
        self.lp.now = Instant::now();
        self.lp.send_owed_closes();
        self.lp.flush_dirty();
    }

    /// How long a host event loop may sleep before calling `poll` again
    /// (timers), or `None` if only I/O can wake it.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.lp.next_timeout(None)
    }

    /// A thread-safe handle for waking the loop from other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Live connections (in any phase).
    pub fn connection_count(&self) -> usize {
        self.lp.conns.len()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, conn: ConnId, text: &str) -> Result<()> {
        self.send_message(conn, OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.send_message(conn, OpCode::Binary, data)
    }

    /// Sends a message of either kind. Text must be valid UTF-8.
    pub fn send(&mut self, conn: ConnId, kind: MessageKind, data: &[u8]) -> Result<()> {
        match kind {
            MessageKind::Text => {
                simdutf8::basic::from_utf8(data)
                    .map_err(|_| Error::InvalidArgument("text message is not valid UTF-8"))?;
                self.send_message(conn, OpCode::Text, data)
            }
            MessageKind::Binary => self.send_message(conn, OpCode::Binary, data),
        }
    }

    fn send_message(&mut self, conn: ConnId, opcode: OpCode, data: &[u8]) -> Result<()> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.queue_message(slot, opcode, data)
    }

    /// Sends a ping (payload at most 125 bytes); the answer arrives as an
    /// `Event::Pong`.
    pub fn ping(&mut self, conn: ConnId, payload: &[u8]) -> Result<()> {
        if payload.len() > 125 {
            return Err(Error::InvalidArgument("ping payload is over 125 bytes"));
        }
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.queue_frame(slot, OpCode::Ping, payload, false)
    }

    /// Closes a WebSocket with `code` and `reason` (the close handshake
    /// completes in the background; `Event::Close` reports the end), or ends
    /// an SSE stream (`Event::SseClose` follows).
    pub fn close(&mut self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        self.lp.close(conn, code, reason)
    }

    /// Accepts a request delivered as `Event::Request`, optionally choosing
    /// one of the subprotocols the client offered.
    pub fn accept(&mut self, conn: ConnId, protocol: Option<&str>) -> Result<()> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.approve(slot, Ok(protocol.map(str::to_string)))
    }

    /// Refuses a request delivered as `Event::Request` with an HTTP status
    /// (400-599) and a short text body.
    pub fn reject(&mut self, conn: ConnId, status: u16, body: &str) -> Result<()> {
        if !(400..=599).contains(&status) {
            return Err(Error::InvalidArgument("reject status must be 400-599"));
        }
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.approve(slot, Err((status, body.to_string())))
    }

    /// Sends one event on an SSE stream.
    pub fn sse_send(&mut self, conn: ConnId, event: &SseEvent<'_>) -> Result<()> {
        sse::validate(event)?;
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        let need = sse::encoded_len_hint(event);
        self.lp.queue_sse(slot, need, |v| {
            let _ = sse::encode_event(v, event);
        })
    }

    /// Sends a comment on an SSE stream (ignored by clients).
    pub fn sse_comment(&mut self, conn: ConnId, text: &str) -> Result<()> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp
            .queue_sse(slot, text.len() + 8, |v| sse::encode_comment(v, text))
    }

    /// Bytes queued for a connection and not yet taken by the socket.
    pub fn buffered_amount(&self, conn: ConnId) -> Result<usize> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        Ok(self.lp.conns[slot].out.len())
    }

    /// The peer address of a live connection.
    pub fn peer_addr(&self, conn: ConnId) -> Result<SocketAddr> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        Ok(self.lp.conns[slot].socket.peer_addr()?)
    }

    /// Starts a graceful shutdown: stop accepting, close every WebSocket
    /// with 1001, end every stream, answer pending requests 503. Keep
    /// polling until [`Server::is_finished`]; connections still open after
    /// `close_timeout` are dropped.
    pub fn begin_shutdown(&mut self) {
        self.lp.now = Instant::now();
        self.lp.begin_shutdown();
    }

    /// True once a shutdown has begun and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.lp.shutdown_deadline.is_some() && self.lp.conns.is_empty()
    }

    /// Shuts down and polls until done, discarding events. For programs
    /// that have nothing more to do with them.
    pub fn shutdown(&mut self) -> Result<()> {
        self.begin_shutdown();
        let mut events = Events::new();
        while !self.is_finished() {
            self.poll(&mut events, Some(Duration::from_millis(100)))?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared
            .alive
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The epoll descriptor: readable whenever `poll` has work. A host event
/// loop (asyncio `add_reader`, libuv `uv_poll`, a C loop) watches it and
/// calls `poll` with a zero timeout; it must also honour `next_timeout`.
impl AsRawFd for Server {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

impl Loop {
    /// Queues a data message (the app's send path).
    pub(crate) fn queue_message(&mut self, slot: usize, opcode: OpCode, data: &[u8]) -> Result<()> {
        self.queue_frame(slot, opcode, data, true)
    }

    pub(crate) fn queue_frame(
        &mut self,
        slot: usize,
        opcode: OpCode,
        data: &[u8],
        counts_toward_cap: bool,
    ) -> Result<()> {
        let conn = &mut self.conns[slot];
        match conn.phase {
            Phase::WebSocket { closing: None, .. } => {}
            Phase::WebSocket { .. } | Phase::Linger { .. } => return Err(Error::Closed),
            _ => return Err(Error::WrongState("not an open WebSocket")),
        }
        let frame_len = data.len() + MAX_HEADER_LEN;
        if counts_toward_cap && conn.out.len() + frame_len > self.config.max_buffered {
            conn.wants_drain = true;
            if self.config.overflow_policy == OverflowPolicy::Close {
                let id = conn.id;
                let _ = self.close(id, 1008, "send buffer limit exceeded");
            }
            return Err(Error::Backpressure);
        }
        self.push_frame(slot, opcode, data);
        Ok(())
    }

    /// Queues one whole frame for an open WebSocket, compressed when the
    /// connection negotiated permessage-deflate and the message is big
    /// enough. No checks: the callers have made them.
    pub(crate) fn push_frame(&mut self, slot: usize, opcode: OpCode, data: &[u8]) {
        let conn = &mut self.conns[slot];
        let mut data = data;
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let compressed = match conn.deflate.as_deref_mut() {
            // Control frames are never compressed (RFC 7692 §6.1).
            Some(state)
                if matches!(opcode, OpCode::Text | OpCode::Binary)
                    && state.compresses(&self.config.deflate, data.len()) =>
            {
                let shared = &mut self.shared_deflate;
                compress::compress(&self.config.deflate, state, shared, data, self.now);
                data = &self.shared_deflate.scratch;
                true
            }
            _ => false,
        };
        let n = frame::encode_header(&mut hdr, true, opcode, data.len());
        if compressed {
            hdr[0] |= 0x40; // RSV1: this message is compressed (RFC 7692 §6)
        }
        if data.len() > COPY_INTO_POOL_LIMIT {
            conn.out.append(&mut self.pool, &hdr[..n]);
            conn.out.push_shared(Bytes::copy_from_slice(data));
        } else {
            conn.out.append_with(&mut self.pool, n + data.len(), |v| {
                v.extend_from_slice(&hdr[..n]);
                v.extend_from_slice(data);
            });
        }
        self.mark_dirty(slot);
    }

    pub(crate) fn queue_sse(
        &mut self,
        slot: usize,
        need: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<()> {
        let conn = &mut self.conns[slot];
        match conn.phase {
            Phase::Sse => {}
            Phase::Linger { .. } => return Err(Error::Closed),
            _ => return Err(Error::WrongState("not an SSE stream")),
        }
        if conn.out.len() + need > self.config.max_buffered {
            conn.wants_drain = true;
            if self.config.overflow_policy == OverflowPolicy::Close {
                let id = conn.id;
                let _ = self.close(id, 1008, "");
            }
            return Err(Error::Backpressure);
        }
        conn.out.append_with(&mut self.pool, need, encode);
        conn.last_write = self.now;
        self.mark_dirty(slot);
        Ok(())
    }

    pub(crate) fn close(&mut self, id: ConnId, code: u16, reason: &str) -> Result<()> {
        check_close_args(code, reason)?;
        let slot = self.slot(id).ok_or(Error::UnknownConnection)?;
        let conn = &mut self.conns[slot];
        match &mut conn.phase {
            Phase::WebSocket {
                closing: closing @ None,
                ending: None,
                ..
            } => {
                *closing = Some(self.now);
                let leaves_topics = !conn.topics.is_empty();
                conn.out.append_with(&mut self.pool, 4 + reason.len(), |v| {
                    frame::write_close(v, Some(code), reason)
                });
                // Nothing follows our close frame, so FIN can follow it; the
                // peer's close frame still arrives on the read side.
                conn.shut_after_flush = true;
                self.mark_dirty(slot);
                self.arm(slot, self.now + self.config.close_timeout);
                if leaves_topics {
                    self.drop_topics(slot);
                }
                Ok(())
            }
            Phase::Sse => {
                self.report_close(slot, code, reason);
                self.linger(slot);
                Ok(())
            }
            Phase::WebSocket { .. } | Phase::Linger { .. } => Err(Error::Closed),
            Phase::Head { .. } | Phase::Approval { .. } => {
                Err(Error::WrongState("connection is not open; use reject"))
            }
        }
    }
}
