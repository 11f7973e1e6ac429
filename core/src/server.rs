//! The public API: one `Server` that the C ABI, Python and Node wrap. A
//! façade: it checks arguments and forwards to the loop.

use crate::args::{check_headers, check_history, check_message, check_topic};
use crate::config::Config;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::event::{ConnId, Events, Request};
use crate::group::Group;
use crate::handle::Handle;
use crate::proto::sse::SseEvent;
use crate::proto::{check_close, ConnState, MessageKind};
use crate::pubsub::{Broadcast, HistoryLimit, Publish, Published, Replay, Stats};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// A WebSocket and SSE server, driven by [`Server::poll`].
///
/// Threading: a `Server` is used from one thread at a time (it is `Send`,
/// not `Sync`). Other threads reach it through a [`Handle`]. With
/// `workers` > 1 it runs that many loops on threads of their own; this
/// thread still sees every event, one loop's batch per `poll`.
///
/// Output is batched: sends queue bytes, and the queue is written with
/// `writev` at the next `poll` (or [`Server::flush`]), so the replies to a
/// whole batch of events leave in one system call per connection.
pub struct Server {
    loops: Loops,
}

/// One loop on the application's thread, or a group of loops on threads
/// of their own. One per server, so the size difference costs nothing;
/// the single loop stays inline, without a pointer to follow per call.
#[allow(clippy::large_enum_variant)]
enum Loops {
    One(Driver),
    Group(Group),
}

/// Refuses a call that does work once the server has shut down.
fn running(d: &mut Driver) -> Result<&mut Driver> {
    match d.is_finished() {
        true => Err(Error::stopped()),
        false => Ok(d),
    }
}

impl Server {
    /// Runs a call that does work on the loop of `conn`.
    fn call<R>(&mut self, conn: ConnId, f: impl FnOnce(&mut Driver) -> Result<R>) -> Result<R> {
        match &mut self.loops {
            Loops::One(d) => f(running(d)?),
            Loops::Group(g) => g.on(conn, |d| f(running(d)?)),
        }
    }

    /// Reads from the loop of `conn`.
    fn read<R>(&self, conn: ConnId, f: impl FnOnce(&Driver) -> Result<R>) -> Result<R> {
        match &self.loops {
            Loops::One(d) => f(d),
            Loops::Group(g) => g.read(conn, f)?,
        }
    }

    /// Publishes on the loop, or on every loop of the group in the one
    /// order publishes take (the forms made once).
    fn publish_to(&mut self, topic: Option<&str>, msg: &Publish<'_>) -> Result<Published> {
        match &mut self.loops {
            Loops::One(d) => running(d)?.publish(topic, msg),
            Loops::Group(g) => {
                // Checked by the first loop (`Loops::publish`), once.
                if g.is_finished() {
                    return Err(Error::stopped());
                }
                g.touch_all();
                g.loops().publish(topic, msg)
            }
        }
    }

    /// Adds up a count over the loops.
    fn sum(&self, f: impl Fn(&Driver) -> usize) -> usize {
        match &self.loops {
            Loops::One(d) => f(d),
            Loops::Group(g) => g.sum(f),
        }
    }

    /// Checks the configuration, binds the listening sockets and prepares
    /// the loop (or, with `workers` > 1, the loops and their threads).
    pub fn bind(config: Config) -> Result<Server> {
        config.validate()?;
        let loops = match config.loops() {
            1 => Loops::One(Driver::bind(config)?),
            n => Loops::Group(Group::bind(config, n)?),
        };
        Ok(Server { loops })
    }

    /// Hands each loop to a thread of the application's own (thread-per-
    /// core programs), instead of the merged `poll`: each [`LoopPoller`]
    /// polls its loop and gets that loop's events; calls go through
    /// [`LoopPoller::handle`]. With one loop, one poller.
    ///
    /// [`LoopPoller`]: crate::LoopPoller
    /// [`LoopPoller::handle`]: crate::LoopPoller::handle
    pub fn into_loop_pollers(self) -> Result<Vec<crate::LoopPoller>> {
        Ok(match self.loops {
            Loops::One(d) => {
                let loops = std::sync::Arc::new(crate::group::Loops::new(vec![d])?);
                vec![crate::LoopPoller::new(loops, 0, Default::default())]
            }
            Loops::Group(g) => g.into_pollers(),
        })
    }

    /// How many loops the server runs (`workers`, resolved).
    pub fn loop_count(&self) -> usize {
        match &self.loops {
            Loops::One(_) => 1,
            Loops::Group(g) => g.loops().len(),
        }
    }

    /// The first address bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every address bound (a host name may resolve to several).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        match &self.loops {
            Loops::One(d) => d.local_addrs(),
            Loops::Group(g) => g.local_addrs(),
        }
    }

    /// The address TLS is spoken on (`listen`'s when it speaks TLS,
    /// `tls_listen`'s when that is set); `None` without TLS.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        match &self.loops {
            Loops::One(d) => d.tls_addr(),
            Loops::Group(g) => g.tls_addr(),
        }
    }

    /// Replaces the certificates and the client-certificate settings by
    /// those in `tls` (`tls_listen` cannot change). Every file is read and
    /// checked before anything changes; on error the server goes on with
    /// what it had. New connections use the new certificates, open ones
    /// keep theirs.
    pub fn reload_tls(&mut self, tls: &crate::config::TlsOptions) -> Result<()> {
        match &mut self.loops {
            Loops::One(d) => d.reload_tls(tls),
            Loops::Group(g) => g.reload_tls(tls),
        }
    }

    /// A reload to prepare by option name (the fronts' keyword
    /// arguments): the running TLS settings, changed by each
    /// [`TlsReload::set`], then given to [`Server::reload_tls`].
    pub fn tls_reload(&self) -> crate::TlsReload {
        crate::TlsReload::from(&self.config().tls)
    }

    pub fn config(&self) -> &Config {
        match &self.loops {
            Loops::One(d) => d.config(),
            Loops::Group(g) => g.config(),
        }
    }

    /// Runs the loop once: flushes queued output, waits up to `timeout` for
    /// I/O (`None` waits until something happens), handles it, and replaces
    /// the contents of `events` with everything that happened. Payloads in
    /// `events` stay valid until it is next cleared or reused.
    ///
    /// With several loops: hands `events` back to the loop it came from
    /// and replaces it with the next batch of any loop, waiting up to
    /// `timeout` for one. Each loop waits for its batch back before its
    /// next turn, as one loop does.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        match &mut self.loops {
            Loops::One(d) => d.poll(events, timeout),
            Loops::Group(g) => g.poll(events, timeout),
        }
    }

    /// Writes queued output now instead of at the next `poll`. A host loop
    /// that sends outside of event handling (a timer, another task) calls
    /// this after sending. Events it causes arrive with the next `poll`.
    /// Like a single loop's flush, it ends the handling of the batch (close
    /// frames owed are sent; with several loops, the batch's loop goes on).
    pub fn flush(&mut self) {
        match &mut self.loops {
            Loops::One(d) => d.flush(),
            Loops::Group(g) => g.flush(),
        }
    }

    /// How long a host event loop may sleep before calling `poll` again
    /// (timers), or `None` if only I/O can wake it. With several loops
    /// (each runs its own timers): zero while a batch is being handled and
    /// not yet ended by `flush`, else `None`.
    pub fn next_timeout(&self) -> Option<Duration> {
        match &self.loops {
            Loops::One(d) => d.next_timeout(),
            Loops::Group(g) => g.next_timeout(),
        }
    }

    /// A thread-safe handle for other threads.
    pub fn handle(&self) -> Handle {
        match &self.loops {
            Loops::One(d) => Handle::new(d.inbox()),
            Loops::Group(g) => Handle::group(g.loops()),
        }
    }

    /// Live connections (in any phase).
    pub fn connection_count(&self) -> usize {
        self.sum(Driver::connection_count)
    }

    /// Sends a message. Text must be valid UTF-8.
    pub fn send(&mut self, conn: ConnId, kind: MessageKind, data: &[u8]) -> Result<()> {
        check_message(kind, data)?;
        self.call(conn, |d| d.send(conn, kind, data))
    }

    pub fn send_text(&mut self, conn: ConnId, text: &str) -> Result<()> {
        self.call(conn, |d| d.send(conn, MessageKind::Text, text.as_bytes()))
    }

    pub fn send_binary(&mut self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.call(conn, |d| d.send(conn, MessageKind::Binary, data))
    }

    /// Sends a ping (payload at most 125 bytes); the answer arrives as a
    /// pong event.
    pub fn ping(&mut self, conn: ConnId, payload: &[u8]) -> Result<()> {
        self.call(conn, |d| d.ping(conn, payload))
    }

    /// Closes a WebSocket with `code` and `reason` (the close handshake
    /// completes in the background; its close event reports the end), or
    /// ends an event stream (its stream-close event follows).
    pub fn close(&mut self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        check_close(code, reason)?;
        self.call(conn, |d| d.close(conn, code, reason))
    }

    /// Drops a connection at once, without a close handshake (as `ws`'s
    /// `terminate()`); its close event follows with 1006.
    pub fn terminate(&mut self, conn: ConnId) -> Result<()> {
        self.call(conn, |d| d.terminate(conn))
    }

    /// Accepts a request delivered as a request event, optionally choosing
    /// one of the subprotocols the client offered and adding response
    /// headers (`Set-Cookie`, CORS, ...).
    pub fn accept(
        &mut self,
        conn: ConnId,
        protocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<()> {
        check_headers(headers)?;
        self.call(conn, |d| d.accept(conn, protocol, headers))
    }

    /// Refuses a request delivered as a request event with an HTTP status
    /// (400-599), a short text body and response headers
    /// (`WWW-Authenticate`, ...).
    pub fn reject(
        &mut self,
        conn: ConnId,
        status: u16,
        body: &str,
        headers: &[(String, String)],
    ) -> Result<()> {
        if !(400..=599).contains(&status) {
            return Err(Error::invalid(format!(
                "reject status must be 400-599, not {status}"
            )));
        }
        check_headers(headers)?;
        self.call(conn, |d| d.reject(conn, status, body, headers))
    }

    /// Sends one event on an event stream.
    pub fn sse_send(&mut self, conn: ConnId, event: &SseEvent<'_>) -> Result<()> {
        self.call(conn, |d| d.sse_send(conn, event))
    }

    /// Sends a comment on an event stream (ignored by clients).
    pub fn sse_comment(&mut self, conn: ConnId, text: &str) -> Result<()> {
        self.call(conn, |d| d.sse_comment(conn, text))
    }

    /// Bytes queued for a connection and not yet taken by the socket.
    pub fn buffered_amount(&self, conn: ConnId) -> Result<usize> {
        self.read(conn, |d| d.buffered_amount(conn))
    }

    /// The peer address of a live connection.
    pub fn peer_addr(&self, conn: ConnId) -> Result<SocketAddr> {
        self.read(conn, |d| d.peer_addr(conn))
    }

    /// The request that opened a WebSocket or event stream, from its open
    /// event until the batch with its close event (which carries it too)
    /// is over; a WebSocket's without the headers only its handshake used
    /// (Upgrade, Connection and Sec-WebSocket-Key, -Version and
    /// -Extensions). `WrongState` for a request awaiting approval (its
    /// `Request` event has it); `UnknownConnection` for any other id, an
    /// Engine.IO session and a Socket.IO socket included (their open
    /// event's request is the application's to keep).
    pub fn request(&self, conn: ConnId) -> Result<Request> {
        self.read(conn, |d| d.request(conn))
    }

    /// The connection's state as the application sees it (`Closed` for an
    /// id the server does not know).
    pub fn state(&self, conn: ConnId) -> ConnState {
        self.read(conn, |d| Ok(d.state(conn)))
            .unwrap_or(ConnState::Closed)
    }

    /// Stores a value (a C pointer, an index) with a connection; every
    /// later event of the connection carries it.
    pub fn set_user_data(&mut self, conn: ConnId, data: usize) -> Result<()> {
        self.call(conn, |d| d.set_user_data(conn, data))
    }

    pub fn user_data(&self, conn: ConnId) -> Result<usize> {
        self.read(conn, |d| d.user_data(conn))
    }

    /// Adds a WebSocket, SSE stream, plain Engine.IO session or Socket.IO
    /// socket to `topic` (a socket's room). Returns false if it was already
    /// subscribed. A connection leaves all its topics when it closes.
    pub fn subscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        self.call(conn, |d| d.subscribe(conn, topic))
    }

    /// Subscribes and replays, from the topic's history, what the client
    /// missed after `last_event_id` (`None`: the `Last-Event-ID` header
    /// the SSE client sent, if any). See [`Replay`] for what the app must
    /// do when events were missed.
    pub fn resume(
        &mut self,
        conn: ConnId,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Replay> {
        check_topic(topic)?;
        self.call(conn, |d| d.resume(conn, topic, last_event_id))
    }

    /// Removes a connection from `topic`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        self.call(conn, |d| d.unsubscribe(conn, topic))
    }

    /// Whether `conn` is subscribed to `topic` (false for unknown ids).
    pub fn is_subscribed(&self, conn: ConnId, topic: &str) -> bool {
        self.read(conn, |d| Ok(d.is_subscribed(conn, topic)))
            .unwrap_or(false)
    }

    /// Sends a message to every subscriber of `topic`: WebSockets, SSE
    /// streams, plain Engine.IO sessions (a message), Socket.IO sockets (an
    /// event named `sse_event`, by default `message`, with the message as
    /// its one argument: a string, or bytes). Binary messages skip SSE
    /// streams, which carry text only.
    /// The frame is encoded (and, where the subscribers' parameters allow,
    /// compressed) once and the same bytes are queued to each.
    ///
    /// With `cluster_redis_url`, the publish also goes (through Redis,
    /// never blocking this thread) to every other server of the cluster,
    /// which delivers it to its own subscribers of `topic` (once each, in
    /// the order this server published; `exclude` does not travel). The
    /// event id and the returned counts are this server's.
    pub fn publish(&mut self, topic: &str, msg: &Publish<'_>) -> Result<Published> {
        check_topic(topic)?;
        self.publish_to(Some(topic), msg)
    }

    /// Sends a message to every open WebSocket, SSE stream, Engine.IO
    /// session and Socket.IO socket (of every server of a cluster).
    pub fn publish_all(&mut self, msg: &Publish<'_>) -> Result<Published> {
        self.publish_to(None, msg)
    }

    /// Live subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.sum(|d| d.subscriber_count(topic))
    }

    /// Live subscribers of `topic` on every server of the cluster: this
    /// server's as they are, each other server's as it last announced
    /// them (within about a second; a server not heard from for 5 s is
    /// left out). Without a cluster, the same as `subscriber_count`.
    pub fn cluster_subscriber_count(&self, topic: &str) -> usize {
        match &self.loops {
            Loops::One(d) => d.cluster_subscriber_count(topic),
            Loops::Group(g) => {
                let elsewhere = g.find(|d| Some(d.subscribers_elsewhere(topic)));
                g.sum(|d| d.subscriber_count(topic)) + elsewhere.unwrap_or(0)
            }
        }
    }

    /// Makes `topic` keep its recent events for [`Server::resume`]. Event
    /// ids increase across all topics of this server instance; an id from
    /// another instance (an earlier run, another worker) is a miss. Exact
    /// resume assumes one history topic per SSE stream. SSE subscribers of
    /// a topic with history are closed rather than skipped when slow,
    /// whatever the policy, so that they resume without a gap.
    pub fn set_topic_history(&mut self, topic: &str, limit: HistoryLimit) -> Result<()> {
        check_topic(topic)?;
        check_history(&limit)?;
        match &mut self.loops {
            Loops::One(d) => running(d)?.set_topic_history(topic, limit),
            Loops::Group(g) => g.loops().set_topic_history(topic, limit)?,
        }
        Ok(())
    }

    /// Stops keeping `topic`'s history and forgets it.
    pub fn clear_topic_history(&mut self, topic: &str) -> Result<()> {
        check_topic(topic)?;
        match &mut self.loops {
            Loops::One(d) => running(d)?.clear_topic_history(topic),
            Loops::Group(g) => g.loops().clear_topic_history(topic)?,
        }
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        match &self.loops {
            Loops::One(d) => d.stats(),
            Loops::Group(g) => g.stats(),
        }
    }

    /// Emits a Socket.IO event to one socket. `args` is a JSON array
    /// (`"[]"` for none) whose binary arguments are placeholders
    /// `{"_placeholder":true,"num":n}` for `attachments[n]`. With `ack`
    /// (`Some(timeout)`, `Some(None)` for no timeout) the client is asked
    /// to acknowledge: its answer arrives as a `SioAck` event with the id
    /// this returns (or its timeout, or the socket's disconnection).
    pub fn emit(
        &mut self,
        socket: ConnId,
        event: &str,
        args: &str,
        attachments: &[&[u8]],
        ack: Option<Option<Duration>>,
    ) -> Result<Option<u64>> {
        self.call(socket, |d| d.emit(socket, event, args, attachments, ack))
    }

    /// Acknowledges a client's event (`ack` of its `SioEvent`) with
    /// `args` (a JSON array, placeholders for `attachments`).
    pub fn ack(
        &mut self,
        socket: ConnId,
        ack: u64,
        args: &str,
        attachments: &[&[u8]],
    ) -> Result<()> {
        self.call(socket, |d| d.ack(socket, ack, args, attachments))
    }

    /// Emits a Socket.IO event to many sockets of a namespace (see
    /// [`Broadcast`]): encoded once per namespace, one copy per socket.
    /// Returns the sockets it was queued for.
    pub fn broadcast(&mut self, b: &Broadcast<'_>) -> Result<usize> {
        for room in b.rooms.iter().chain(b.except_rooms) {
            check_topic(room)?;
        }
        match &mut self.loops {
            Loops::One(d) => running(d)?.broadcast(b),
            Loops::Group(g) => {
                if g.is_finished() {
                    return Err(Error::stopped());
                }
                g.touch_all();
                g.loops().broadcast(b)
            }
        }
    }

    /// Refuses a Socket.IO connection awaiting approval: the client's
    /// `connect_error` gets `message` and, if given, `data` (JSON text).
    pub fn reject_socket(
        &mut self,
        socket: ConnId,
        message: &str,
        data: Option<&str>,
    ) -> Result<()> {
        self.call(socket, |d| d.reject_socket(socket, message, data))
    }

    /// A socket's id as Socket.IO clients know it (`socket.id`).
    pub fn socket_id(&self, socket: ConnId) -> Result<String> {
        self.read(socket, |d| d.socket_sid(socket))
    }

    /// The socket whose Socket.IO id is `sid`, if it is connected here.
    pub fn socket_by_id(&self, sid: &str) -> Option<ConnId> {
        match &self.loops {
            Loops::One(d) => d.socket_by_sid(sid),
            Loops::Group(g) => g.find(|d| d.socket_by_sid(sid)),
        }
    }

    /// A socket's namespace.
    pub fn namespace(&self, socket: ConnId) -> Result<String> {
        self.read(socket, |d| d.socket_namespace(socket))
    }

    /// The topics (a socket's rooms) a connection, session or socket is
    /// subscribed to.
    pub fn topics(&self, conn: ConnId) -> Result<Vec<String>> {
        self.read(conn, |d| d.topics_of(conn))
    }

    /// Starts a graceful shutdown: stop accepting, close every WebSocket
    /// with 1001, end every stream, answer pending requests 503. Keep
    /// polling until [`Server::is_finished`]; connections still open after
    /// `close_timeout` are dropped.
    pub fn begin_shutdown(&mut self) {
        match &mut self.loops {
            Loops::One(d) => d.begin_shutdown(),
            Loops::Group(g) => g.begin_shutdown(),
        }
    }

    /// True once a shutdown has begun and every connection is gone.
    pub fn is_finished(&self) -> bool {
        match &self.loops {
            Loops::One(d) => d.is_finished(),
            Loops::Group(g) => g.is_finished(),
        }
    }

    /// Shuts down and polls until done, discarding events.
    pub fn shutdown(&mut self) -> Result<()> {
        self.begin_shutdown();
        let mut events = Events::new();
        while !self.is_finished() {
            self.poll(&mut events, Some(Duration::from_millis(100)))?;
        }
        Ok(())
    }
}

/// The epoll descriptor: readable whenever `poll` has work. A host event
/// loop (asyncio `add_reader`, libuv `uv_poll`, a C loop) watches it and
/// calls `poll` with a zero timeout; it must also honour `next_timeout`.
impl AsRawFd for Server {
    fn as_raw_fd(&self) -> RawFd {
        match &self.loops {
            Loops::One(d) => d.raw_fd(),
            Loops::Group(g) => g.raw_fd(),
        }
    }
}
