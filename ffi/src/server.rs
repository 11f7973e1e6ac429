//! The server: create, poll for batches of events, act on connections,
//! shut down, free.
//!
//! Event types and connection states are the core's numbers (`EventType
//! as u8`, `ConnState as u8`); `tests/constants.rs` checks the header's
//! constants against them.

use crate::config::wsrt_config;
use crate::conv::{
    arg, arg_mut, bytes, conn_id, free_boxed, header_list, kind, opt_str, out_ptr, req_str,
    sse_event, wsrt_bytes, wsrt_conn, wsrt_header,
};
use crate::error::{guard, guard_value, wsrt_result};
use crate::request::wsrt_request;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::AsRawFd;
use std::time::Duration;
use wsrt::{Endpoint, Event, Events, Server};

/// Opaque server. Create with wsrt_server_new, free with wsrt_server_free.
pub struct wsrt_server {
    pub(crate) server: Server,
    batch: Batch,
    /// What the last wsrt_topics call handed out.
    pub(crate) topics: Vec<String>,
    pub(crate) topic_strs: Vec<crate::conv::wsrt_str>,
    /// What the last wsrt_connection_request call handed out.
    asked_request: Option<wsrt::Request>,
}

/// An event's type: one of the WSRT_EVENT_* numbers.
pub type wsrt_event_type = u32;

/// A request on a WSRT_ROUTE_APPROVE route: answer with wsrt_accept or
/// wsrt_reject. `request` is set; `endpoint` tells what it asks for (and
/// `is_sse` whether that is an event stream). If the client leaves first,
/// a CLOSE (WebSocket, Socket.IO) or SSE_CLOSE follows. On a Socket.IO
/// route it is a client connecting to a namespace: the namespace is in
/// `name`/`name_len`, the auth payload (JSON) in `data`/`len`; answer
/// with wsrt_accept (protocol NULL, no headers) or wsrt_reject_socket.
pub const WSRT_EVENT_REQUEST: wsrt_event_type = 1;
/// A WebSocket opened (`data`/`len`: the negotiated subprotocol, "" if
/// none), an Engine.IO session began, or a Socket.IO socket connected (its
/// namespace in `name`/`name_len`, the auth payload as JSON in
/// `data`/`len`, `recovered` true if it is the same socket as before a
/// dropped connection, rooms included). `endpoint` says which. `request`
/// is set.
pub const WSRT_EVENT_OPEN: wsrt_event_type = 2;
/// A complete message in `data`/`len`; `is_text` says which kind (text is
/// valid UTF-8).
pub const WSRT_EVENT_MESSAGE: wsrt_event_type = 3;
/// The answer to wsrt_ping; payload in `data`/`len`.
pub const WSRT_EVENT_PONG: wsrt_event_type = 4;
/// The WebSocket ended: `code` (the peer's; 1005 if its close frame had
/// none; 1006 if it ended without a close handshake, as after
/// wsrt_terminate; or the code wsrt failed it with: 1002, 1007, 1009, ...)
/// and the reason in `data`/`len`. For an Engine.IO session or a Socket.IO
/// socket the reason is Socket.IO's ("transport close", "ping timeout",
/// ...). Exactly one per OPEN, and one per REQUEST the client leaves
/// before it is answered. For a WebSocket that was open, `request` is the
/// request it kept (see wsrt_connection_request); NULL otherwise.
pub const WSRT_EVENT_CLOSE: wsrt_event_type = 5;
/// An SSE stream opened; `request` is set (see its Last-Event-ID header).
pub const WSRT_EVENT_SSE_OPEN: wsrt_event_type = 6;
/// An SSE stream ended (the client left, the app closed it, or shutdown).
/// Exactly one per SSE_OPEN, and one per SSE REQUEST the client leaves
/// before it is answered. For a stream that was open, `request` is the
/// request it kept (see wsrt_connection_request); NULL otherwise.
pub const WSRT_EVENT_SSE_CLOSE: wsrt_event_type = 7;
/// A connection whose queue had backed up has flushed everything.
pub const WSRT_EVENT_DRAIN: wsrt_event_type = 8;
/// wsrt_handle_wake was called.
pub const WSRT_EVENT_WAKE: wsrt_event_type = 9;
/// A Socket.IO event from a client: its name in `name`/`name_len`, its
/// arguments as a JSON array in `data`/`len` (binary arguments are
/// placeholders for the event's attachments), and `ack` the id to answer
/// it with (WSRT_NO_ACK: the client wants no answer).
pub const WSRT_EVENT_SIO_EVENT: wsrt_event_type = 10;
/// The answer to a Socket.IO emit made with an ack: `ack` is the id the
/// emit returned, `code` the outcome (0 answered, 1 timed out, 2 the
/// socket went away), `data`/`len` the client's arguments (a JSON array).
pub const WSRT_EVENT_SIO_ACK: wsrt_event_type = 11;

/// The `ack` of a WSRT_EVENT_SIO_EVENT whose client wants no answer.
pub const WSRT_NO_ACK: u64 = u64::MAX;

/// wsrt_event.endpoint: a WebSocket (the number of WSRT_ROUTE_WEBSOCKET).
pub const WSRT_ENDPOINT_WEBSOCKET: u32 = 1;
/// wsrt_event.endpoint: a Server-Sent Events stream (WSRT_ROUTE_SSE).
pub const WSRT_ENDPOINT_SSE: u32 = 2;
/// wsrt_event.endpoint: a plain Engine.IO session (WSRT_ROUTE_ENGINEIO).
pub const WSRT_ENDPOINT_ENGINEIO: u32 = 3;
/// wsrt_event.endpoint: a Socket.IO socket (WSRT_ROUTE_SOCKETIO).
pub const WSRT_ENDPOINT_SOCKETIO: u32 = 4;

/// wsrt_state: the request awaits the application's approval.
pub const WSRT_STATE_CONNECTING: c_int = 0;
/// wsrt_state: messages and events can be sent.
pub const WSRT_STATE_OPEN: c_int = 1;
/// wsrt_state: the application started the close handshake; nothing more
/// can be sent (WSRT_ERR_CLOSED), the end is not yet reported.
pub const WSRT_STATE_CLOSING: c_int = 2;
/// wsrt_state: the close event was delivered (or the id was never known).
pub const WSRT_STATE_CLOSED: c_int = 3;

/// One event. Pointers in it are borrowed, owned by the server and valid
/// until the next wsrt_server_poll (or wsrt_server_free) on it.
/// cbindgen:field-names=[type, conn, user_data, is_text, is_sse, code, data, len, request, endpoint, recovered, name, name_len, ack, attachments, attachment_count]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_event {
    /// WSRT_EVENT_*.
    pub type_: wsrt_event_type,
    /// The connection (0 for WAKE).
    pub conn: wsrt_conn,
    /// What wsrt_set_user_data stored with the connection (NULL if
    /// nothing).
    pub user_data: *mut c_void,
    /// MESSAGE: true for text, false for binary.
    pub is_text: bool,
    /// REQUEST: true for an SSE endpoint, false for a WebSocket.
    pub is_sse: bool,
    /// CLOSE: the close code. SIO_ACK: the outcome (0 answered, 1 timed
    /// out, 2 the socket went away).
    pub code: u16,
    /// Payload, reason or subprotocol (see the event types); never NULL.
    pub data: *const u8,
    pub len: usize,
    /// REQUEST, OPEN, SSE_OPEN: the request; CLOSE, SSE_CLOSE of an open
    /// WebSocket or stream: the request it kept (wsrt_connection_request);
    /// NULL otherwise.
    pub request: *const wsrt_request,
    /// What the connection is, a WSRT_ENDPOINT_* (set on every event but
    /// WAKE and DRAIN).
    pub endpoint: u32,
    /// OPEN of a Socket.IO socket: connection state recovery brought the
    /// socket back (same id, same rooms).
    pub recovered: bool,
    /// Socket.IO: the namespace (REQUEST, OPEN) or the event's name
    /// (SIO_EVENT); UTF-8, not NUL-terminated; never NULL ("" otherwise).
    pub name: *const c_char,
    pub name_len: usize,
    /// SIO_EVENT: the id to answer with wsrt_ack, or WSRT_NO_ACK. SIO_ACK:
    /// the id wsrt_emit gave.
    pub ack: u64,
    /// SIO_EVENT, SIO_ACK: the binary attachments, `attachment_count` of
    /// them (NULL when there are none), in the order of their placeholders'
    /// numbers; also read with wsrt_event_attachment. They can be passed
    /// on to wsrt_emit as they are.
    pub attachments: *const wsrt_bytes,
    pub attachment_count: usize,
}

/// Creates a server from `config` (which is only read: the caller still
/// owns and frees it), checks the configuration and binds the listening
/// sockets. Writes the server to `*out`; the caller frees it with
/// wsrt_server_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_new(
    config: *const wsrt_config,
    out: *mut *mut wsrt_server,
) -> wsrt_result {
    guard(|| {
        let config = arg(config, "config")?;
        let out = out_ptr(out, "out")?;
        let server = Server::bind(config.inner.clone())?;
        *out = Box::into_raw(Box::new(wsrt_server {
            server,
            batch: Batch::default(),
            topics: Vec::new(),
            asked_request: None,
            topic_strs: Vec::new(),
        }));
        Ok(())
    })
}

/// Closes every socket at once (no close handshake; use
/// wsrt_server_shutdown first for a graceful end) and frees the server and
/// the events and requests it handed out. Handles to it stay valid (free
/// them with wsrt_handle_free); their calls then fail with
/// WSRT_ERR_STOPPED. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_free(server: *mut wsrt_server) {
    free_boxed(server)
}

impl wsrt_server {
    pub(crate) fn into_server(self) -> Server {
        self.server
    }
}

pub(crate) unsafe fn srv<'a>(server: *mut wsrt_server) -> wsrt::Result<&'a mut Server> {
    arg_mut(server, "server").map(|s| &mut s.server)
}

pub(crate) unsafe fn srv_ref<'a>(server: *const wsrt_server) -> wsrt::Result<&'a Server> {
    arg(server, "server").map(|s| &s.server)
}

/// The port the server listens on (useful after binding port 0); 0 if
/// `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_port(server: *const wsrt_server) -> u16 {
    guard_value(0, || srv_ref(server).map_or(0, |s| s.local_addr().port()))
}

/// The port TLS is spoken on: WSRT_OPT_TLS_LISTEN's when set, else the
/// listen port when the server has certificates; 0 without TLS (or if
/// `server` is NULL).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_tls_port(server: *const wsrt_server) -> u16 {
    guard_value(0, || {
        srv_ref(server)
            .ok()
            .and_then(|s| s.tls_addr())
            .map_or(0, |a| a.port())
    })
}

/// Replaces the server's certificates (and client-certificate settings)
/// by the tls_* options of `config` (WSRT_OPT_TLS_CERT, _KEY, _CA,
/// _CLIENT_AUTH, _MIN_VERSION; WSRT_OPT_TLS_LISTEN cannot change), e.g.
/// on SIGHUP after the files were renewed. Every file is read and checked
/// first: on error the server goes on with what it had and the message
/// says what is wrong. New connections get the new certificates; open
/// ones keep theirs. Fails with WSRT_ERR_INVALID_ARGUMENT on a server
/// started without TLS. `config` is only read (the caller still owns it;
/// its other options are ignored).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_reload_tls(
    server: *mut wsrt_server,
    config: *const wsrt_config,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let config = arg(config, "config")?;
        s.reload_tls(&config.inner.tls)
    })
}

/// Runs the event loop once: flushes queued sends, waits up to `timeout_ms`
/// (-1: until something happens; 0: don't wait) and handles what arrived.
/// On return `*events` points at `*count` events, owned by the server and
/// valid until the next call to wsrt_server_poll or wsrt_server_free.
/// Messages of a batch that also reports their connection's end may still
/// be answered (the replies go out before the close frame); after that
/// batch the id is unknown (WSRT_ERR_UNKNOWN_CONNECTION), and at once for
/// a connection that ended without a close handshake (a reset: nothing can
/// go out).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_poll(
    server: *mut wsrt_server,
    timeout_ms: i32,
    events: *mut *const wsrt_event,
    count: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = arg_mut(server, "server")?;
        let (events, count) = s.batch.outputs(events, count)?;
        s.asked_request = None;
        s.server.poll(s.batch.events(), timeout(timeout_ms))?;
        (*events, *count) = s.batch.convert();
        Ok(())
    })
}

/// A poll's timeout in milliseconds (-1: none).
pub(crate) fn timeout(ms: i32) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// A poll's events and their C records, reused from batch to batch.
#[derive(Default)]
pub(crate) struct Batch {
    events: Events,
    records: Vec<wsrt_event>,
    /// The batch's attachments, pointed at by its records.
    attachments: Vec<wsrt_bytes>,
}

impl Batch {
    /// Checks a poll's out-pointers and empties what they will show
    /// (nothing, should the poll fail).
    pub(crate) unsafe fn outputs<'a>(
        &mut self,
        events: *mut *const wsrt_event,
        count: *mut usize,
    ) -> wsrt::Result<(&'a mut *const wsrt_event, &'a mut usize)> {
        let events = out_ptr(events, "events")?;
        let count = out_ptr(count, "count")?;
        *count = 0;
        *events = std::ptr::NonNull::dangling().as_ptr();
        Ok((events, count))
    }

    pub(crate) fn events(&mut self) -> &mut Events {
        &mut self.events
    }

    /// The C records of the events the poll left, and their number.
    pub(crate) fn convert(&mut self) -> (*const wsrt_event, usize) {
        self.records.clear();
        self.attachments.clear();
        // All attachments first, so the events can point into a vector
        // that no longer grows.
        for ev in self.events.iter() {
            let parts = self.events.attachments(ev).map(wsrt_bytes::from_slice);
            self.attachments.extend(parts);
        }
        let mut next_attachment = 0;
        for ev in self.events.iter() {
            let mut out = convert(&self.events, ev);
            if ev.attachment_count() > 0 {
                out.attachments = self.attachments[next_attachment..].as_ptr();
                out.attachment_count = ev.attachment_count();
                next_attachment += ev.attachment_count();
            }
            self.records.push(out);
        }
        (self.records.as_ptr(), self.records.len())
    }
}

fn endpoint(e: Endpoint) -> u32 {
    match e {
        Endpoint::WebSocket => WSRT_ENDPOINT_WEBSOCKET,
        Endpoint::Sse => WSRT_ENDPOINT_SSE,
        Endpoint::EngineIo => WSRT_ENDPOINT_ENGINEIO,
        Endpoint::SocketIo => WSRT_ENDPOINT_SOCKETIO,
    }
}

/// One record as C sees it, without its attachments (see
/// wsrt_server_poll).
fn convert(events: &Events, ev: &Event) -> wsrt_event {
    let data = match events.payload(ev) {
        [] => b"".as_slice(),
        d => d,
    };
    let name = match events.bytes(ev.name) {
        [] => b"".as_slice(),
        n => n,
    };
    wsrt_event {
        type_: ev.kind as u8 as wsrt_event_type,
        conn: ev.conn.raw(),
        user_data: ev.user_data as *mut c_void,
        is_text: ev.text,
        is_sse: ev.endpoint == Endpoint::Sse,
        code: ev.code,
        data: data.as_ptr(),
        len: data.len(),
        request: events
            .request(ev)
            .map_or(std::ptr::null(), |r| (r as *const wsrt::Request).cast()),
        endpoint: endpoint(ev.endpoint),
        recovered: ev.recovered,
        name: name.as_ptr().cast(),
        name_len: name.len(),
        ack: ev.ack,
        attachments: std::ptr::null(),
        attachment_count: 0,
    }
}

/// Reads attachment `index` of a SIO_EVENT or SIO_ACK event into `*data`
/// and `*len` (borrowed, like the event: valid until the next
/// wsrt_server_poll or wsrt_server_free). False, leaving them alone, if
/// the event has no such attachment (or an argument is NULL).
#[no_mangle]
pub unsafe extern "C" fn wsrt_event_attachment(
    event: *const wsrt_event,
    index: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> bool {
    guard_value(false, || {
        let (Ok(ev), Ok(data), Ok(len)) = (
            arg(event, "event"),
            out_ptr(data, "data"),
            out_ptr(len, "len"),
        ) else {
            return false;
        };
        if index >= ev.attachment_count || ev.attachments.is_null() {
            return false;
        }
        let part = *ev.attachments.add(index);
        *data = part.ptr;
        *len = part.len;
        true
    })
}

/// Writes queued sends now rather than at the next poll. Call it after
/// sending from outside event handling (a timer of your own loop).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_flush(server: *mut wsrt_server) -> wsrt_result {
    guard(|| {
        srv(server)?.flush();
        Ok(())
    })
}

/// The descriptor a host event loop watches for readability; when readable
/// (or when wsrt_server_next_timeout_ms elapses) call wsrt_server_poll with
/// timeout 0. Owned by the server: do not close it. -1 if `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_fd(server: *const wsrt_server) -> i32 {
    guard_value(-1, || srv_ref(server).map_or(-1, |s| s.as_raw_fd()))
}

/// Milliseconds until the server's next timer (rounded up), or -1 if none
/// is pending (or `server` is NULL).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_next_timeout_ms(server: *const wsrt_server) -> i64 {
    guard_value(-1, || {
        srv_ref(server)
            .ok()
            .and_then(|s| s.next_timeout())
            .map_or(-1, |d| {
                d.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64
            })
    })
}

/// Number of live connections (in any phase); 0 if `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_connection_count(server: *const wsrt_server) -> usize {
    guard_value(0, || srv_ref(server).map_or(0, |s| s.connection_count()))
}

/// Queues a message: text (`is_text`; must be valid UTF-8) or binary. The
/// bytes are copied; the caller keeps `data`. Sent at the next poll/flush.
#[no_mangle]
pub unsafe extern "C" fn wsrt_send(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    data: *const u8,
    len: usize,
    is_text: bool,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        s.send(conn_id(conn), kind(is_text), bytes(data, len, "data")?)
    })
}

/// Sends a ping with up to 125 bytes of payload (copied); the answer
/// arrives as WSRT_EVENT_PONG.
#[no_mangle]
pub unsafe extern "C" fn wsrt_ping(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    data: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| srv(server)?.ping(conn_id(conn), bytes(data, len, "data")?))
}

/// Closes a WebSocket with `code` (1000-1003, 1007-1014, 3000-4999) and
/// `reason` (NULL for none, or at most 123 bytes of UTF-8; copied): the
/// close handshake completes in the background and WSRT_EVENT_CLOSE
/// reports the end. On an SSE stream it ends the stream
/// (WSRT_EVENT_SSE_CLOSE follows), on an Engine.IO session it closes the
/// session, and on a Socket.IO socket it disconnects the socket from its
/// namespace ("server namespace disconnect"; the session stays); in each
/// case `code` and `reason` are still checked.
#[no_mangle]
pub unsafe extern "C" fn wsrt_close(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    code: u16,
    reason: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let reason = opt_str(reason, "reason")?.unwrap_or("");
        s.close(conn_id(conn), code, reason)
    })
}

/// Drops a connection at once, without a close handshake; its
/// WSRT_EVENT_CLOSE (code 1006) or WSRT_EVENT_SSE_CLOSE follows. On a
/// Socket.IO socket it ends the socket's whole Engine.IO session.
#[no_mangle]
pub unsafe extern "C" fn wsrt_terminate(server: *mut wsrt_server, conn: wsrt_conn) -> wsrt_result {
    guard(|| srv(server)?.terminate(conn_id(conn)))
}

/// Accepts a request from WSRT_EVENT_REQUEST, choosing `protocol` (one of
/// the subprotocols the client offered; NULL: the route's first preference
/// the client offered, if any) and adding `n` response
/// headers (`headers` may be NULL when `n` is 0; e.g. Set-Cookie). Every
/// string is copied. A Socket.IO socket (endpoint WSRT_ENDPOINT_SOCKETIO)
/// is accepted with `protocol` NULL and no headers; refuse one with
/// wsrt_reject_socket.
#[no_mangle]
pub unsafe extern "C" fn wsrt_accept(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    protocol: *const c_char,
    headers: *const wsrt_header,
    n: usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let protocol = opt_str(protocol, "protocol")?;
        let headers = header_list(headers, n)?;
        s.accept(conn_id(conn), protocol, &headers)
    })
}

/// Refuses a request from WSRT_EVENT_REQUEST with an HTTP `status`
/// (400-599), a short text `body` (NULL for none) and `n` response headers
/// (`headers` may be NULL when `n` is 0; e.g. WWW-Authenticate). Every
/// string is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_reject(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    status: u16,
    body: *const c_char,
    headers: *const wsrt_header,
    n: usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let body = opt_str(body, "body")?.unwrap_or("");
        let headers = header_list(headers, n)?;
        s.reject(conn_id(conn), status, body, &headers)
    })
}

/// Sends an SSE event. `event` and `id` are NULL or strings without CR,
/// LF or NUL; `retry_ms` < 0 leaves the retry field out; `data` is `len`
/// bytes of UTF-8 (each line becomes a `data:` line). Everything is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_sse_send(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    event: *const c_char,
    id: *const c_char,
    retry_ms: i64,
    data: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let ev = sse_event(event, id, retry_ms, data, len)?;
        s.sse_send(conn_id(conn), &ev)
    })
}

/// Sends an SSE comment line (ignored by clients; keeps proxies awake).
/// `text` is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_sse_comment(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    text: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        s.sse_comment(conn_id(conn), req_str(text, "text")?)
    })
}

/// Points `*out` at the request that opened `conn`, a WebSocket or event
/// stream, as the connection keeps it from its OPEN or SSE_OPEN event
/// until the batch with its close event is over (a WebSocket's without
/// the headers only its handshake used: Upgrade, Connection,
/// Sec-WebSocket-Key, -Version, -Extensions). Owned by the server and
/// valid until the next wsrt_connection_request, wsrt_server_poll or
/// wsrt_server_free on it (one request at a time: copy what you compare).
/// WSRT_ERR_WRONG_STATE for a request awaiting approval (its REQUEST
/// event has it); WSRT_ERR_UNKNOWN_CONNECTION for any other id (an
/// Engine.IO session or Socket.IO socket included).
#[no_mangle]
pub unsafe extern "C" fn wsrt_connection_request(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    out: *mut *const wsrt_request,
) -> wsrt_result {
    guard(|| {
        let s = arg_mut(server, "server")?;
        let out = out_ptr(out, "out")?;
        let request = s.asked_request.insert(s.server.request(conn_id(conn))?);
        *out = (request as *const wsrt::Request).cast();
        Ok(())
    })
}

/// Writes to `*out` the bytes queued for `conn` that the socket has not
/// taken yet.
#[no_mangle]
pub unsafe extern "C" fn wsrt_buffered_amount(
    server: *const wsrt_server,
    conn: wsrt_conn,
    out: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = srv_ref(server)?;
        let out = out_ptr(out, "out")?;
        *out = s.buffered_amount(conn_id(conn))?;
        Ok(())
    })
}

/// The connection's state: WSRT_STATE_CONNECTING (awaiting approval),
/// WSRT_STATE_OPEN, WSRT_STATE_CLOSING (wsrt_close was called, the end is
/// not yet reported) or WSRT_STATE_CLOSED (its close event was delivered;
/// also for ids the server does not know, and for a NULL `server`).
#[no_mangle]
pub unsafe extern "C" fn wsrt_state(server: *const wsrt_server, conn: wsrt_conn) -> c_int {
    guard_value(WSRT_STATE_CLOSED, || {
        srv_ref(server).map_or(WSRT_STATE_CLOSED, |s| s.state(conn_id(conn)) as u8 as c_int)
    })
}

/// Stores `data` with a live connection; every later event of the
/// connection carries it in `user_data`. wsrt never dereferences or frees
/// it: the caller owns what it points to and frees it when the
/// connection's close event arrives.
#[no_mangle]
pub unsafe extern "C" fn wsrt_set_user_data(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    data: *mut c_void,
) -> wsrt_result {
    guard(|| srv(server)?.set_user_data(conn_id(conn), data as usize))
}

/// Writes to `*out` what wsrt_set_user_data stored with a live connection
/// (NULL if nothing).
#[no_mangle]
pub unsafe extern "C" fn wsrt_user_data(
    server: *const wsrt_server,
    conn: wsrt_conn,
    out: *mut *mut c_void,
) -> wsrt_result {
    guard(|| {
        let s = srv_ref(server)?;
        let out = out_ptr(out, "out")?;
        *out = s.user_data(conn_id(conn))? as *mut c_void;
        Ok(())
    })
}

/// Starts a graceful shutdown: stop accepting, close WebSockets with 1001,
/// end SSE streams, answer pending requests 503. Keep polling until
/// wsrt_server_is_finished is true (connections left after
/// WSRT_OPT_CLOSE_TIMEOUT_MS are dropped). Once it is, calls that would
/// act on the server fail with WSRT_ERR_STOPPED.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_begin_shutdown(server: *mut wsrt_server) -> wsrt_result {
    guard(|| {
        srv(server)?.begin_shutdown();
        Ok(())
    })
}

/// True once a shutdown has begun and every connection is gone (false for
/// NULL).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_is_finished(server: *const wsrt_server) -> bool {
    guard_value(false, || srv_ref(server).is_ok_and(|s| s.is_finished()))
}

/// Graceful shutdown that blocks until done, discarding events. Free the
/// server afterwards.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_shutdown(server: *mut wsrt_server) -> wsrt_result {
    guard(|| srv(server)?.shutdown())
}
