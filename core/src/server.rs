//! The public API: one `Server` that the C ABI, Python and Node wrap. A
//! façade: it checks arguments and forwards to the loop.

use crate::args::{check_headers, check_history, check_message, check_topic};
use crate::config::Config;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::event::{ConnId, Events};
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
/// not `Sync`). Other threads reach it through a [`Handle`].
///
/// Output is batched: sends queue bytes, and the queue is written with
/// `writev` at the next `poll` (or [`Server::flush`]), so the replies to a
/// whole batch of events leave in one system call per connection.
pub struct Server {
    driver: Driver,
}

impl Server {
    /// The loop, for a call that does work: refused once the server has
    /// shut down.
    fn running(&mut self) -> Result<&mut Driver> {
        match self.driver.is_finished() {
            true => Err(Error::stopped()),
            false => Ok(&mut self.driver),
        }
    }

    /// Checks the configuration, binds the listening sockets and prepares
    /// the loop.
    pub fn bind(config: Config) -> Result<Server> {
        Ok(Server {
            driver: Driver::bind(config)?,
        })
    }

    /// The first address bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.driver.local_addrs()[0]
    }

    /// Every address bound (a host name may resolve to several).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.driver.local_addrs()
    }

    /// The address TLS is spoken on (`listen`'s when it speaks TLS,
    /// `tls_listen`'s when that is set); `None` without TLS.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.driver.tls_addr()
    }

    /// Replaces the certificates and the client-certificate settings by
    /// those in `tls` (`tls_listen` cannot change). Every file is read and
    /// checked before anything changes; on error the server goes on with
    /// what it had. New connections use the new certificates, open ones
    /// keep theirs.
    pub fn reload_tls(&mut self, tls: &crate::config::TlsOptions) -> Result<()> {
        self.driver.reload_tls(tls)
    }

    /// A reload to prepare by option name (the fronts' keyword
    /// arguments): the running TLS settings, changed by each
    /// [`TlsReload::set`], then given to [`Server::reload_tls`].
    pub fn tls_reload(&self) -> crate::TlsReload {
        crate::TlsReload::from(&self.config().tls)
    }

    pub fn config(&self) -> &Config {
        self.driver.config()
    }

    /// Runs the loop once: flushes queued output, waits up to `timeout` for
    /// I/O (`None` waits until something happens), handles it, and replaces
    /// the contents of `events` with everything that happened. Payloads in
    /// `events` stay valid until it is next cleared or reused.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.driver.poll(events, timeout)
    }

    /// Writes queued output now instead of at the next `poll`. A host loop
    /// that sends outside of event handling (a timer, another task) calls
    /// this after sending. Events it causes arrive with the next `poll`.
    pub fn flush(&mut self) {
        self.driver.flush();
    }

    /// How long a host event loop may sleep before calling `poll` again
    /// (timers), or `None` if only I/O can wake it.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.driver.next_timeout()
    }

    /// A thread-safe handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle::new(self.driver.inbox())
    }

    /// Live connections (in any phase).
    pub fn connection_count(&self) -> usize {
        self.driver.connection_count()
    }

    /// Sends a message. Text must be valid UTF-8.
    pub fn send(&mut self, conn: ConnId, kind: MessageKind, data: &[u8]) -> Result<()> {
        check_message(kind, data)?;
        self.running()?.send(conn, kind, data)
    }

    pub fn send_text(&mut self, conn: ConnId, text: &str) -> Result<()> {
        self.running()?
            .send(conn, MessageKind::Text, text.as_bytes())
    }

    pub fn send_binary(&mut self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.running()?.send(conn, MessageKind::Binary, data)
    }

    /// Sends a ping (payload at most 125 bytes); the answer arrives as a
    /// pong event.
    pub fn ping(&mut self, conn: ConnId, payload: &[u8]) -> Result<()> {
        self.running()?.ping(conn, payload)
    }

    /// Closes a WebSocket with `code` and `reason` (the close handshake
    /// completes in the background; its close event reports the end), or
    /// ends an event stream (its stream-close event follows).
    pub fn close(&mut self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        check_close(code, reason)?;
        self.running()?.close(conn, code, reason)
    }

    /// Drops a connection at once, without a close handshake (as `ws`'s
    /// `terminate()`); its close event follows with 1006.
    pub fn terminate(&mut self, conn: ConnId) -> Result<()> {
        self.running()?.terminate(conn)
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
        self.running()?.accept(conn, protocol, headers)
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
        self.running()?.reject(conn, status, body, headers)
    }

    /// Sends one event on an event stream.
    pub fn sse_send(&mut self, conn: ConnId, event: &SseEvent<'_>) -> Result<()> {
        self.running()?.sse_send(conn, event)
    }

    /// Sends a comment on an event stream (ignored by clients).
    pub fn sse_comment(&mut self, conn: ConnId, text: &str) -> Result<()> {
        self.running()?.sse_comment(conn, text)
    }

    /// Bytes queued for a connection and not yet taken by the socket.
    pub fn buffered_amount(&self, conn: ConnId) -> Result<usize> {
        self.driver.buffered_amount(conn)
    }

    /// The peer address of a live connection.
    pub fn peer_addr(&self, conn: ConnId) -> Result<SocketAddr> {
        self.driver.peer_addr(conn)
    }

    /// The connection's state as the application sees it (`Closed` for an
    /// id the server does not know).
    pub fn state(&self, conn: ConnId) -> ConnState {
        self.driver.state(conn)
    }

    /// Stores a value (a C pointer, an index) with a connection; every
    /// later event of the connection carries it.
    pub fn set_user_data(&mut self, conn: ConnId, data: usize) -> Result<()> {
        self.running()?.set_user_data(conn, data)
    }

    pub fn user_data(&self, conn: ConnId) -> Result<usize> {
        self.driver.user_data(conn)
    }

    /// Adds a WebSocket, SSE stream, plain Engine.IO session or Socket.IO
    /// socket to `topic` (a socket's room). Returns false if it was already
    /// subscribed. A connection leaves all its topics when it closes.
    pub fn subscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        self.running()?.subscribe(conn, topic)
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
        self.running()?.resume(conn, topic, last_event_id)
    }

    /// Removes a connection from `topic`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        self.running()?.unsubscribe(conn, topic)
    }

    /// Whether `conn` is subscribed to `topic` (false for unknown ids).
    pub fn is_subscribed(&self, conn: ConnId, topic: &str) -> bool {
        self.driver.is_subscribed(conn, topic)
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
        self.running()?.publish(Some(topic), msg)
    }

    /// Sends a message to every open WebSocket, SSE stream, Engine.IO
    /// session and Socket.IO socket (of every server of a cluster).
    pub fn publish_all(&mut self, msg: &Publish<'_>) -> Result<Published> {
        self.running()?.publish(None, msg)
    }

    /// Live subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.driver.subscriber_count(topic)
    }

    /// Live subscribers of `topic` on every server of the cluster: this
    /// server's as they are, each other server's as it last announced
    /// them (within about a second; a server not heard from for 5 s is
    /// left out). Without a cluster, the same as `subscriber_count`.
    pub fn cluster_subscriber_count(&self, topic: &str) -> usize {
        self.driver.cluster_subscriber_count(topic)
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
        self.running()?.set_topic_history(topic, limit);
        Ok(())
    }

    /// Stops keeping `topic`'s history and forgets it.
    pub fn clear_topic_history(&mut self, topic: &str) -> Result<()> {
        check_topic(topic)?;
        self.running()?.clear_topic_history(topic);
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.driver.stats()
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
        self.running()?.emit(socket, event, args, attachments, ack)
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
        self.running()?.ack(socket, ack, args, attachments)
    }

    /// Emits a Socket.IO event to many sockets of a namespace (see
    /// [`Broadcast`]): encoded once per namespace, one copy per socket.
    /// Returns the sockets it was queued for.
    pub fn broadcast(&mut self, b: &Broadcast<'_>) -> Result<usize> {
        for room in b.rooms.iter().chain(b.except_rooms) {
            check_topic(room)?;
        }
        self.running()?.broadcast(b)
    }

    /// Refuses a Socket.IO connection awaiting approval: the client's
    /// `connect_error` gets `message` and, if given, `data` (JSON text).
    pub fn reject_socket(
        &mut self,
        socket: ConnId,
        message: &str,
        data: Option<&str>,
    ) -> Result<()> {
        self.running()?.reject_socket(socket, message, data)
    }

    /// A socket's id as Socket.IO clients know it (`socket.id`).
    pub fn socket_id(&self, socket: ConnId) -> Result<String> {
        self.driver.socket_sid(socket)
    }

    /// The socket whose Socket.IO id is `sid`, if it is connected here.
    pub fn socket_by_id(&self, sid: &str) -> Option<ConnId> {
        self.driver.socket_by_sid(sid)
    }

    /// A socket's namespace.
    pub fn namespace(&self, socket: ConnId) -> Result<String> {
        self.driver.socket_namespace(socket)
    }

    /// The topics (a socket's rooms) a connection, session or socket is
    /// subscribed to.
    pub fn topics(&self, conn: ConnId) -> Result<Vec<String>> {
        self.driver.topics_of(conn)
    }

    /// Starts a graceful shutdown: stop accepting, close every WebSocket
    /// with 1001, end every stream, answer pending requests 503. Keep
    /// polling until [`Server::is_finished`]; connections still open after
    /// `close_timeout` are dropped.
    pub fn begin_shutdown(&mut self) {
        self.driver.begin_shutdown();
    }

    /// True once a shutdown has begun and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.driver.is_finished()
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
        self.driver.raw_fd()
    }
}
