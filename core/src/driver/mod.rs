//! The event loop: it moves bytes between sockets and the protocol state
//! machines of `proto`, runs their timers and fans published messages out.
//! It makes no protocol decision of its own.
//!
//! Every protocol call on a connection goes through [`Driver::with_proto`],
//! and what follows it (flush, timer, close frame owed, leaving topics,
//! freeing the slot) is decided in one place, [`Driver::after`], which is
//! also the only code that frees a connection.

mod accept;
mod api;
mod commands;
mod conn;
mod engine;
mod fanout;
mod handoff;
mod ids;
mod inbox;
mod io;
mod readbuf;
mod relay;
mod sio_fanout;
mod sockets;
mod stream;
mod timers;
mod topics;
mod writeq;

pub(crate) use commands::{Command, Inbox};
pub(crate) use fanout::CarriedForms;

use crate::config::Config;
use crate::error::Result;
use crate::event::{ConnId, Events, LoopTag};
use crate::proto::compress::SharedDeflate;
use crate::proto::{Connection, Cx, Settings};
use accept::Listener;
use conn::{Conn, ConnOut};
use mio::{Poll, Token};
use slab::Slab;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timers::TimerHeap;
use writeq::BufferPool;

const WAKER: Token = Token(usize::MAX);
/// Listener tokens count down from here.
const FIRST_LISTENER: usize = usize::MAX - 1;

/// Reads per connection per turn before others get a go.
const READ_BUDGET: usize = 16;
/// ... and bytes: a read may take up to 1 MiB (see `readbuf`), but a
/// connection gets no more per turn than 16 reads of 64 KiB did.
const READ_BUDGET_BYTES: usize = 1 << 20;

pub(crate) struct Driver {
    poll: Poll,
    mio_events: mio::Events,
    listeners: Vec<Listener>,
    local_addrs: Vec<SocketAddr>,
    /// What TLS listeners accept with; replaced by a reload (connections
    /// keep the one they started with).
    tls: Option<crate::tls::Acceptor>,
    tls_counters: TlsCounters,
    /// Plaintext of a TLS read (one for the loop, like `read_blocks`).
    tls_plain: Vec<u8>,
    config: Config,
    settings: Settings,
    conns: Slab<Conn>,
    /// Engine.IO sessions and Socket.IO sockets (ids of their own kinds).
    sessions: Slab<engine::Session>,
    sockets: Slab<sockets::Socket>,
    /// Sockets kept for recovery (their rooms are not topic memberships).
    detached_sockets: usize,
    /// What Engine.IO transports handed over during a protocol call.
    transports: inbox::TransportInbox,
    /// The inbox is being run (calls it makes do not run it again).
    draining: bool,
    /// What session calls left for the loop to do.
    session_chores: Vec<sockets::AfterSession>,
    /// The requests of connections whose close events the application is
    /// handling (`Server::request`); emptied at the next poll.
    ended_requests: Vec<conn::EndedRequest>,
    /// Encoding space for Engine.IO and Socket.IO packets.
    scratch: Vec<u8>,
    ids: ids::IdSource,
    recovery: sio_fanout::RecoveryLog,
    /// Counts broadcasts (a socket in several of a broadcast's rooms gets
    /// one copy).
    broadcast_seq: u64,
    id_counter: ids::IdCounter,
    timers: TimerHeap,
    pool: BufferPool,
    /// One read buffer serves every connection of the loop.
    read_blocks: readbuf::ReadBlocks,
    /// The read-buffer parts of the batch the application holds: a reply
    /// whose payload lies in one shares its bytes.
    handed: Vec<bytes::Bytes>,
    /// Connections with queued output not yet written this turn.
    dirty: Vec<usize>,
    /// Connections with unread input we postponed (budget, backpressure,
    /// approval just granted).
    resume: Vec<usize>,
    /// Connections owing a close frame once the app has handled the batch.
    owed: Vec<usize>,
    /// permessage-deflate contexts shared by connections that reset them
    /// after every message.
    shared_deflate: SharedDeflate,
    topics: topics::Topics,
    /// Events for the app, accumulated until `poll` hands them over.
    events: Events,
    inbox: Arc<Inbox>,
    now: Instant,
    accept_retry_at: Option<Instant>,
    shutdown: Option<Shutdown>,
    /// The cluster bus, with `cluster_redis_url`; stopped by a shutdown.
    cluster: Option<crate::cluster::Cluster>,
    /// The inboxes of every loop of this one's group (none alone): where
    /// Engine.IO requests of another loop's sessions are handed.
    siblings: Vec<Arc<Inbox>>,
}

/// TLS handshakes, reported by [`crate::Server::stats`].
#[derive(Debug, Default, Clone, Copy)]
struct TlsCounters {
    /// Handshakes completed.
    handshakes: u64,
    /// TLS connections that ended before completing one (refused,
    /// timed out, given up by the client).
    failures: u64,
}

/// A graceful shutdown in progress.
struct Shutdown {
    /// When stragglers are dropped (none with `close_timeout` 0).
    deadline: Option<Instant>,
}

impl Driver {
    /// Binds every address `config.listen` names and prepares the loop.
    pub fn bind(config: Config) -> Result<Driver> {
        config.validate()?;
        // The URL is checked before anything listens; Redis need not be up.
        let url = config.cluster.redis_url.clone();
        if !url.is_empty() {
            crate::cluster::check_url(&url, config.cluster.url_name())?;
        }
        let mut d = Driver::bind_loop(config, LoopTag::default(), false)?;
        if !url.is_empty() {
            let to_loop = d.inbox.clone();
            let sink: crate::cluster::Sink =
                Arc::new(move |m| to_loop.submit(Command::Cluster(Box::new(m))).is_ok());
            let name = d.config.cluster.url_name();
            d.cluster = crate::cluster::Cluster::start(&url, name, sink, 1)?.pop();
        }
        Ok(d)
    }

    /// Joins the cluster through `port` (a group's loops share one bus).
    pub(crate) fn set_cluster(&mut self, port: crate::cluster::Cluster) {
        self.cluster = Some(port);
    }

    /// Prepares one loop of a group (`tag`), its listeners sharing their
    /// port with the other loops' when `share_port`. The configuration
    /// has been validated; the cluster, if any, is joined afterwards.
    pub fn bind_loop(config: Config, tag: LoopTag, share_port: bool) -> Result<Driver> {
        let poll = Poll::new()?;
        let tls = match config.tls.enabled() {
            true => Some(crate::tls::acceptor(&config.tls)?),
            false => None,
        };
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let inbox = Arc::new(Inbox::new(waker));
        let (listeners, local_addrs) =
            accept::bind_listeners(&config, poll.registry(), share_port)?;
        let settings = config.settings();
        Ok(Driver {
            poll,
            mio_events: mio::Events::with_capacity(1024),
            listeners,
            local_addrs,
            tls,
            tls_counters: TlsCounters::default(),
            tls_plain: Vec::new(),
            config,
            settings,
            conns: Slab::new(),
            sessions: Slab::new(),
            sockets: Slab::new(),
            detached_sockets: 0,
            transports: inbox::TransportInbox::default(),
            draining: false,
            session_chores: Vec::new(),
            ended_requests: Vec::new(),
            scratch: Vec::new(),
            ids: ids::IdSource::default(),
            recovery: sio_fanout::RecoveryLog::default(),
            broadcast_seq: 0,
            id_counter: ids::IdCounter::new(tag),
            timers: TimerHeap::default(),
            pool: BufferPool::default(),
            read_blocks: readbuf::ReadBlocks::new(),
            handed: Vec::new(),
            dirty: Vec::new(),
            resume: Vec::new(),
            owed: Vec::new(),
            shared_deflate: SharedDeflate::default(),
            topics: topics::Topics::default(),
            events: Events::new(),
            inbox,
            now: Instant::now(),
            accept_retry_at: None,
            shutdown: None,
            cluster: None,
            siblings: Vec::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        let i = self.listeners.iter().position(|l| l.tls)?;
        self.local_addrs.get(i).copied()
    }

    pub fn reload_tls(&mut self, tls: &crate::config::TlsOptions) -> Result<()> {
        if self.tls.is_none() {
            let names = (tls.name("tls_cert"), tls.name("tls_key"));
            return Err(crate::Error::invalid(format!(
                "this server has no TLS listener: set {} and {} when it starts",
                names.0, names.1
            )));
        }
        if !tls.listen.is_empty() && tls.listen != self.config.tls.listen {
            return Err(crate::Error::invalid(format!(
                "{} cannot change on reload: the listeners stay",
                tls.name("tls_listen")
            )));
        }
        self.tls = Some(crate::tls::acceptor(tls)?);
        let listen = std::mem::take(&mut self.config.tls.listen);
        self.config.tls = crate::config::TlsOptions {
            listen,
            ..tls.clone()
        };
        Ok(())
    }

    pub fn inbox(&self) -> Arc<Inbox> {
        self.inbox.clone()
    }

    /// Makes this loop's event ids continue `other`'s sequence, so that
    /// the loops of a group, given the same publishes in the same order,
    /// hand out the same ids.
    pub fn share_event_ids(&mut self, other: &Driver) {
        self.topics.last_event_id = other.topics.last_event_id;
    }

    /// Names of the topics this loop knows (subscribed or with history).
    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.topics.names()
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.poll.as_raw_fd()
    }

    /// Runs the loop once: sends owed close frames, runs queued commands,
    /// flushes, waits up to `timeout` for I/O (`None`: until something
    /// happens), handles it and the due timers, flushes again, and hands
    /// every event of the turn to `events` (replacing its contents).
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        // The application is done with the last batch: its lent parts go
        // now, so the reads of this turn can reuse their memory.
        events.clear();
        self.handed.clear();
        self.ended_requests.clear();
        self.now = Instant::now();
        self.release_owed();
        self.run_commands();
        self.flush_dirty();
        let wait = self.wait_time(timeout, self.now);
        match self.poll.poll(&mut self.mio_events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.mio_events.clear(),
            Err(e) => return Err(e.into()),
        }
        self.now = Instant::now();
        self.run_resumed();
        let mut ready = std::mem::replace(&mut self.mio_events, mio::Events::with_capacity(0));
        for ev in ready.iter() {
            match ev.token() {
                WAKER => self.run_commands(),
                Token(t) if t > FIRST_LISTENER - self.listeners.len() => {
                    self.accept_all(FIRST_LISTENER - t)
                }
                Token(slot) => {
                    let hung_up = ev.is_read_closed() || ev.is_error();
                    if ev.is_readable() || hung_up {
                        self.on_readable(slot, hung_up);
                    }
                    if ev.is_writable() && self.conns.contains(slot) {
                        self.flush_slot(slot);
                    }
                }
            }
        }
        ready.clear();
        self.mio_events = ready;
        self.run_timers();
        self.flush_dirty();
        if self.is_finished() {
            // Nothing will run what handles queue from now on.
            self.inbox.close();
        }
        std::mem::swap(events, &mut self.events);
        self.handed.extend_from_slice(events.parts());
        // In address order, for `ConnOut::append_frame`'s search.
        self.handed.sort_unstable_by_key(|p| p.as_ptr() as usize);
        Ok(())
    }

    /// Sends owed close frames and writes queued output now rather than at
    /// the next poll.
    pub fn flush(&mut self) {
        self.now = Instant::now();
        self.release_owed();
        self.flush_dirty();
    }

    /// How long a host loop may sleep before calling `poll` (timers), or
    /// `None` if only I/O can wake it.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.wait_time(None, Instant::now())
    }

    /// How long to wait for I/O at `now` (the poll's own time: a clock read
    /// less per turn; the few microseconds since only make the wait longer
    /// by as much).
    fn wait_time(&self, requested: Option<Duration>, now: Instant) -> Option<Duration> {
        if !self.events.is_empty()
            || !self.resume.is_empty()
            || !self.dirty.is_empty()
            || !self.owed.is_empty()
        {
            // Owed close frames go out at the start of the next turn (a
            // loop of a group runs it as soon as its batch is done).
            return Some(Duration::ZERO);
        }
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut deadline = self.timers.next_deadline();
        if self.accept_retry_at.is_some() || self.shutdown.is_some() {
            deadline = earliest(deadline, self.accept_retry_at);
            deadline = earliest(deadline, self.shutdown.as_ref().and_then(|s| s.deadline));
        }
        let until_timer = deadline.map(|d| d.saturating_duration_since(now));
        match (requested, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The slot of a connection the application may still address: once
    /// its end has been reported and the batch that reported it is over
    /// (it only lingers to flush), its id is no longer known.
    fn slot(&self, id: ConnId) -> Option<usize> {
        let slot = id.slot();
        match self.conns.get(slot) {
            Some(c) if c.id == id && !c.proto.is_lingering() => Some(slot),
            _ => None,
        }
    }

    /// Runs one call on a connection's protocol state machine, then
    /// [`Driver::after`].
    fn with_proto<R>(
        &mut self,
        slot: usize,
        f: impl FnOnce(&mut Connection, &mut Cx<'_, ConnOut<'_>>) -> R,
    ) -> R {
        let conn = &mut self.conns[slot];
        let before = conn.out.len();
        let mut cx = Cx {
            now: self.now,
            settings: &self.settings,
            shared: &mut self.shared_deflate,
            out: ConnOut {
                queue: &mut conn.out,
                pool: &mut self.pool,
                events: &mut self.events,
                inbox: &mut self.transports,
                socket: &conn.socket,
                id: conn.id,
                user_data: conn.user_data,
                session: conn.session,
                request: &mut conn.request,
                ended: &mut self.ended_requests,
                handed: &self.handed,
            },
        };
        let r = f(&mut conn.proto, &mut cx);
        let wrote = cx.out.queue.len() != before;
        if conn.proto.schedule_key() == conn.schedule_key && conn.armed.is_some() {
            // The hot path (a message in, a message out): nothing about
            // the connection's course or timers changed.
            if wrote {
                self.mark_dirty(slot);
            }
        } else {
            self.after(slot, wrote);
        }
        if !self.transports.is_empty() {
            self.drain_transports();
        }
        r
    }

    /// What follows a protocol call that changed the connection's course:
    /// free it, leave topics, remember an owed close frame, arm its timer,
    /// mark its queue for flushing.
    fn after(&mut self, slot: usize, wrote: bool) {
        let conn = &mut self.conns[slot];
        if conn.proto.is_dead() {
            return self.free(slot);
        }
        conn.schedule_key = conn.proto.schedule_key();
        if !conn.proto.is_live() && !conn.topics.is_empty() {
            let id = conn.id;
            self.drop_memberships(id);
        }
        let conn = &mut self.conns[slot];
        if conn.proto.awaits_release() && !conn.owes {
            conn.owes = true;
            self.owed.push(slot);
        }
        if let Some(at) = conn.proto.deadline(&self.settings) {
            if conn.armed.is_none_or(|a| at < a) {
                conn.armed = Some(at);
                self.timers.push(at, slot, conn.id);
            }
        }
        if wrote || (conn.proto.fin_after_flush() && !conn.write_shut) {
            self.mark_dirty(slot);
        }
    }

    /// Frees a connection whose protocol is over. Only `after` calls it:
    /// every end goes through the protocol state machine first, so the
    /// application has heard of it.
    fn free(&mut self, slot: usize) {
        let id = self.conns[slot].id;
        self.drop_memberships(id);
        let mut conn = self.conns.remove(slot);
        conn.out.clear(&mut self.pool);
        self.tls_counters.failures += conn.socket.tls_unfinished() as u64;
        let _ = self.poll.registry().deregister(conn.socket.tcp_mut());
        // Dropping the socket closes it.
    }

    /// Ends a connection for a transport reason (reset, write failure,
    /// hang-up after the last bytes): through the protocol, which tells
    /// the application if it must.
    fn end(&mut self, slot: usize, code: u16, reason: &str) {
        if self.conns.contains(slot) {
            self.with_proto(slot, |c, cx| c.finish(cx, code, reason, false));
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// The app has handled the last batch: send the close frames it owed.
    fn release_owed(&mut self) {
        if self.owed.is_empty() {
            return;
        }
        for slot in std::mem::take(&mut self.owed) {
            if let Some(c) = self.conns.get_mut(slot) {
                c.owes = false;
                self.with_proto(slot, |c, cx| c.release(cx));
            }
        }
    }

    /// Stops accepting and closes every connection: WebSockets with 1001,
    /// event streams ended, requests awaiting approval answered 503.
    pub fn begin_shutdown(&mut self) {
        if self.shutdown.is_some() {
            return;
        }
        self.now = Instant::now();
        let deadline =
            (!self.config.close_timeout.is_zero()).then(|| self.now + self.config.close_timeout);
        self.shutdown = Some(Shutdown { deadline });
        // Nothing new is published here from now on.
        self.cluster = None;
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l.socket);
        }
        let slots: Vec<usize> = self.sessions.iter().map(|(s, _)| s).collect();
        for slot in slots {
            if self.sessions.contains(slot) {
                self.with_session(slot, |s, cx| {
                    s.end(
                        crate::proto::engine::reason::SERVER_SHUTTING_DOWN,
                        crate::proto::eio::PacketType::Close,
                        cx,
                    )
                });
            }
        }
        let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
        for slot in slots {
            if self.conns.contains(slot) {
                self.with_proto(slot, |c, cx| c.shutdown(cx));
            }
        }
        // Sockets kept for recovery are not coming back.
        let slots: Vec<usize> = self.sockets.iter().map(|(s, _)| s).collect();
        for slot in slots {
            self.free_socket(slot);
        }
    }

    /// True once a shutdown has begun and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.shutdown.is_some() && self.conns.is_empty() && self.sessions.is_empty()
    }

    /// Connections still open when the shutdown deadline passes are
    /// dropped.
    fn check_shutdown_deadline(&mut self) {
        let due = self
            .shutdown
            .as_ref()
            .and_then(|s| s.deadline)
            .is_some_and(|d| d <= self.now);
        if due {
            let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
            for slot in slots {
                self.end(slot, 1006, "shutdown timed out");
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.inbox.close();
    }
}
