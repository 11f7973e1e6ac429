//! The server: create, poll for batches of events, send, close, shut down.

use crate::config::wsrt_config;
use crate::error::*;
use crate::request::wsrt_request;
use std::ffi::c_char;
use std::os::fd::AsRawFd;
use std::time::Duration;
use wsrt::{ConnId, Endpoint, Event, Events, MessageKind, Server, SseEvent};

/// A connection id. Never reused by a server; 0 is never a valid id.
pub type wsrt_conn = u64;

/// Opaque server. Create with wsrt_server_new, free with wsrt_server_free.
pub struct wsrt_server {
    pub(crate) server: Server,
    events: Events,
    batch: Vec<wsrt_event>,
}

/// Opaque thread-safe handle to a server, for other threads. Create with
/// wsrt_server_handle, free with wsrt_handle_free (it may outlive the
/// server; calls then fail with WSRT_ERR_IO).
pub struct wsrt_handle {
    pub(crate) handle: wsrt::Handle,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsrt_event_type {
    /// A request on a WSRT_ROUTE_APPROVE route: answer with wsrt_accept or
    /// wsrt_reject. `request` is set; `is_sse` tells the endpoint kind.
    WSRT_EVENT_REQUEST = 1,
    /// A WebSocket opened. `request` is set; `data`/`len` hold the
    /// negotiated subprotocol ("" if none).
    WSRT_EVENT_OPEN = 2,
    /// A complete message in `data`/`len`; `is_text` says which kind (text
    /// is valid UTF-8).
    WSRT_EVENT_MESSAGE = 3,
    /// The answer to wsrt_ping; payload in `data`/`len`.
    WSRT_EVENT_PONG = 4,
    /// The WebSocket closed: `code` (1005 none given, 1006 abnormal) and the
    /// reason in `data`/`len`. Exactly one per OPEN, and one per REQUEST
    /// that the client leaves before the app answers it.
    WSRT_EVENT_CLOSE = 5,
    /// An SSE stream opened; `request` is set (see its Last-Event-ID header).
    WSRT_EVENT_SSE_OPEN = 6,
    /// An SSE stream ended.
    WSRT_EVENT_SSE_CLOSE = 7,
    /// A connection whose queue had backed up has flushed everything.
    WSRT_EVENT_DRAIN = 8,
    /// wsrt_handle_wake was called.
    WSRT_EVENT_WAKE = 9,
}

/// One event. Pointers in it are borrowed and valid until the next
/// wsrt_server_poll (or wsrt_server_free) on the same server.
///
/// cbindgen:field-names=[type, conn, is_text, is_sse, code, data, len, request]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_event {
    pub type_: wsrt_event_type,
    pub conn: wsrt_conn,
    /// MESSAGE: true for text, false for binary.
    pub is_text: bool,
    /// REQUEST: true for an SSE endpoint, false for WebSocket.
    pub is_sse: bool,
    /// CLOSE: the close code.
    pub code: u16,
    /// Payload, reason or subprotocol (see the event types); never NULL.
    pub data: *const u8,
    pub len: usize,
    /// REQUEST, OPEN, SSE_OPEN: the request; NULL otherwise.
    pub request: *const wsrt_request,
}

/// Creates a server from `config` (which is only read: the caller still
/// owns and frees it) and binds its listening socket. Writes the server to
/// `*out`; the caller frees it with wsrt_server_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_new(
    config: *const wsrt_config,
    out: *mut *mut wsrt_server,
) -> wsrt_result {
    guard(|| {
        let config = config.as_ref().ok_or(invalid("config is NULL"))?;
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let server = Server::bind(config.inner.clone())?;
        *out = Box::into_raw(Box::new(wsrt_server {
            server,
            events: Events::new(),
            batch: Vec::new(),
        }));
        Ok(())
    })
}

/// Closes every socket at once (no close handshake; use
/// wsrt_server_shutdown first for a graceful end) and frees the server.
/// NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_free(server: *mut wsrt_server) {
    if !server.is_null() {
        guard_value((), || drop(Box::from_raw(server)));
    }
}

pub(crate) unsafe fn srv<'a>(server: *mut wsrt_server) -> wsrt::Result<&'a mut wsrt_server> {
    server.as_mut().ok_or(invalid("server is NULL"))
}

/// The port the server listens on (useful after binding port 0); 0 if
/// `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_port(server: *const wsrt_server) -> u16 {
    guard_value(0, || {
        server.as_ref().map_or(0, |s| s.server.local_addr().port())
    })
}

/// Runs the event loop once: flushes queued sends, waits up to `timeout_ms`
/// (-1: until something happens; 0: don't wait) and handles what arrived.
/// On return `*events` points at `*count` events, owned by the server and
/// valid until the next call to wsrt_server_poll or wsrt_server_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_poll(
    server: *mut wsrt_server,
    timeout_ms: i32,
    events: *mut *const wsrt_event,
    count: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        if events.is_null() || count.is_null() {
            return Err(invalid("events or count is NULL"));
        }
        *count = 0;
        *events = std::ptr::NonNull::dangling().as_ptr();
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        s.server.poll(&mut s.events, timeout)?;
        s.batch.clear();
        s.batch
            .extend(s.events.iter().map(|ev| convert(&s.events, ev)));
        *events = s.batch.as_ptr();
        *count = s.batch.len();
        Ok(())
    })
}

fn convert(events: &Events, ev: &Event) -> wsrt_event {
    let mut out = wsrt_event {
        type_: wsrt_event_type::WSRT_EVENT_WAKE,
        conn: 0,
        is_text: false,
        is_sse: false,
        code: 0,
        data: "".as_ptr(),
        len: 0,
        request: std::ptr::null(),
    };
    let request_ptr = |r: &wsrt::Request| (r as *const wsrt::Request).cast::<wsrt_request>();
    let set_data = |out: &mut wsrt_event, b: &[u8]| {
        out.data = b.as_ptr();
        out.len = b.len();
    };
    match ev {
        Event::Request {
            conn,
            endpoint,
            request,
        } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_REQUEST;
            out.conn = conn.0;
            out.is_sse = *endpoint == Endpoint::Sse;
            out.request = request_ptr(request);
        }
        Event::Open {
            conn,
            request,
            protocol,
        } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_OPEN;
            out.conn = conn.0;
            out.request = request_ptr(request);
            if let Some(p) = protocol {
                set_data(&mut out, p.as_bytes());
            }
        }
        Event::Message { conn, kind, data } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_MESSAGE;
            out.conn = conn.0;
            out.is_text = *kind == MessageKind::Text;
            set_data(&mut out, events.bytes(*data));
        }
        Event::Pong { conn, data } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_PONG;
            out.conn = conn.0;
            set_data(&mut out, events.bytes(*data));
        }
        Event::Close { conn, code, reason } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_CLOSE;
            out.conn = conn.0;
            out.code = *code;
            set_data(&mut out, events.bytes(*reason));
        }
        Event::SseOpen { conn, request } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_SSE_OPEN;
            out.conn = conn.0;
            out.request = request_ptr(request);
        }
        Event::SseClose { conn } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_SSE_CLOSE;
            out.conn = conn.0;
        }
        Event::Drain { conn } => {
            out.type_ = wsrt_event_type::WSRT_EVENT_DRAIN;
            out.conn = conn.0;
        }
        Event::Wake => {}
    }
    out
}

/// Writes queued sends now rather than at the next poll. Call it after
/// sending from outside event handling (a timer of your own loop).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_flush(server: *mut wsrt_server) -> wsrt_result {
    guard(|| {
        srv(server)?.server.flush();
        Ok(())
    })
}

/// The descriptor a host event loop watches for readability; when readable
/// (or when wsrt_server_next_timeout_ms elapses) call wsrt_server_poll with
/// timeout 0. Owned by the server: do not close it. -1 if `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_fd(server: *const wsrt_server) -> i32 {
    guard_value(-1, || server.as_ref().map_or(-1, |s| s.server.as_raw_fd()))
}

/// Milliseconds until the server's next timer (rounded up), or -1 if none
/// is pending.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_next_timeout_ms(server: *const wsrt_server) -> i64 {
    guard_value(-1, || {
        server
            .as_ref()
            .and_then(|s| s.server.next_timeout())
            .map_or(-1, |d| d.as_nanos().div_ceil(1_000_000) as i64)
    })
}

/// Number of live connections.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_connection_count(server: *const wsrt_server) -> usize {
    guard_value(0, || {
        server.as_ref().map_or(0, |s| s.server.connection_count())
    })
}

/// Queues a message: text (`is_text`, must be valid UTF-8) or binary. The
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
        let kind = if is_text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        s.server.send(ConnId(conn), kind, bytes(data, len)?)
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
    guard(|| srv(server)?.server.ping(ConnId(conn), bytes(data, len)?))
}

/// Closes a WebSocket with `code` (1000-1003, 1007-1014, 3000-4999) and
/// `reason` (NULL or at most 123 bytes of UTF-8), or ends an SSE stream
/// (code and reason ignored). The CLOSE / SSE_CLOSE event follows.
#[no_mangle]
pub unsafe extern "C" fn wsrt_close(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    code: u16,
    reason: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let reason = opt_str(reason)?.unwrap_or("");
        s.server.close(ConnId(conn), code, reason)
    })
}

/// Accepts a request from WSRT_EVENT_REQUEST, choosing `protocol` (NULL or
/// one of the subprotocols the client offered).
#[no_mangle]
pub unsafe extern "C" fn wsrt_accept(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    protocol: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        s.server.accept(ConnId(conn), opt_str(protocol)?)
    })
}

/// Refuses a request from WSRT_EVENT_REQUEST with an HTTP `status`
/// (400-599) and a short text `body` (NULL for none).
#[no_mangle]
pub unsafe extern "C" fn wsrt_reject(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    status: u16,
    body: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        s.server
            .reject(ConnId(conn), status, opt_str(body)?.unwrap_or(""))
    })
}

/// Sends an SSE event. `event` and `id` are NULL or strings without CR,
/// LF or NUL; `retry_ms` < 0 omits the retry field; `data` is `len` bytes
/// of UTF-8 (each line becomes a `data:` line). Everything is copied.
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
        let data = std::str::from_utf8(bytes(data, len)?)
            .map_err(|_| invalid("SSE data is not valid UTF-8"))?;
        let retry = if retry_ms < 0 {
            None
        } else {
            Some(u32::try_from(retry_ms).map_err(|_| invalid("retry_ms too large"))?)
        };
        let ev = SseEvent {
            event: opt_str(event)?,
            id: opt_str(id)?,
            retry,
            data,
        };
        s.server.sse_send(ConnId(conn), &ev)
    })
}

/// Sends an SSE comment line (ignored by clients; keeps proxies awake).
#[no_mangle]
pub unsafe extern "C" fn wsrt_sse_comment(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    text: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        s.server.sse_comment(ConnId(conn), req_str(text)?)
    })
}

/// Bytes queued for `conn` that the socket has not taken yet.
#[no_mangle]
pub unsafe extern "C" fn wsrt_buffered_amount(
    server: *const wsrt_server,
    conn: wsrt_conn,
    out: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = server.as_ref().ok_or(invalid("server is NULL"))?;
        let out = out.as_mut().ok_or(invalid("out is NULL"))?;
        *out = s.server.buffered_amount(ConnId(conn))?;
        Ok(())
    })
}

/// Starts a graceful shutdown: stop accepting, close WebSockets with 1001,
/// end SSE streams. Keep polling until wsrt_server_is_finished is true
/// (connections left after the close timeout are dropped).
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_begin_shutdown(server: *mut wsrt_server) -> wsrt_result {
    guard(|| {
        srv(server)?.server.begin_shutdown();
        Ok(())
    })
}

/// True once a shutdown has begun and every connection is gone.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_is_finished(server: *const wsrt_server) -> bool {
    guard_value(false, || {
        server.as_ref().is_some_and(|s| s.server.is_finished())
    })
}

/// Graceful shutdown that blocks until done, discarding events. Free the
/// server afterwards.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_shutdown(server: *mut wsrt_server) -> wsrt_result {
    guard(|| srv(server)?.server.shutdown())
}

/// Creates a thread-safe handle to the server for other threads. The caller
/// frees it with wsrt_handle_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_handle(server: *const wsrt_server) -> *mut wsrt_handle {
    guard_value(std::ptr::null_mut(), || match server.as_ref() {
        Some(s) => Box::into_raw(Box::new(wsrt_handle {
            handle: s.server.handle(),
        })),
        None => std::ptr::null_mut(),
    })
}

/// Frees a handle. NULL is ignored. Any thread.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_free(handle: *mut wsrt_handle) {
    if !handle.is_null() {
        guard_value((), || drop(Box::from_raw(handle)));
    }
}

unsafe fn hdl<'a>(handle: *const wsrt_handle) -> wsrt::Result<&'a wsrt::Handle> {
    handle
        .as_ref()
        .map(|h| &h.handle)
        .ok_or(invalid("handle is NULL"))
}

/// Wakes the server's loop: its next poll returns WSRT_EVENT_WAKE. Any
/// thread; the usual way to say "I queued work for you".
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_wake(handle: *const wsrt_handle) -> wsrt_result {
    guard(|| hdl(handle)?.wake())
}

/// Queues a message from any thread (bytes copied). Delivery failures
/// (connection gone, backpressure) are not reported back.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_send(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    data: *const u8,
    len: usize,
    is_text: bool,
) -> wsrt_result {
    guard(|| {
        let kind = if is_text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        hdl(handle)?.send(
            ConnId(conn),
            kind,
            bytes::Bytes::copy_from_slice(bytes(data, len)?),
        )
    })
}

/// Closes a connection from any thread (see wsrt_close).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_close(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    code: u16,
    reason: *const c_char,
) -> wsrt_result {
    guard(|| hdl(handle)?.close(ConnId(conn), code, opt_str(reason)?.unwrap_or("")))
}

/// Begins a graceful shutdown from any thread (see
/// wsrt_server_begin_shutdown); the loop thread keeps polling until
/// wsrt_server_is_finished. Safe to call from a signal-handling thread, not
/// from a signal handler itself.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_shutdown(handle: *const wsrt_handle) -> wsrt_result {
    guard(|| hdl(handle)?.shutdown())
}
