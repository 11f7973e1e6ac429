//! Thread-safe handles: every call on connections and topics, from any
//! thread. Arguments are checked on the calling thread (an error is the
//! caller's); the loop carries the call out at its next turn, and what
//! happens then is not reported back (the events and wsrt_server_stats
//! tell).

use crate::conv::{
    arg, byte_list, bytes, conn_id, free_boxed, kind, opt_str, req_str, sse_event, wsrt_bytes,
    wsrt_conn,
};
use crate::error::{guard, guard_value, wsrt_result};
use crate::pubsub::{publish_msg, wsrt_publish_opts};
use crate::server::{srv_ref, wsrt_server};
use crate::sio::{args_text, with_broadcast, wsrt_broadcast_opts};
use std::ffi::c_char;
use wsrt::Handle;

/// Opaque thread-safe handle to a server, for other threads. Create with
/// wsrt_server_handle, free with wsrt_handle_free. It may outlive the
/// server: its calls then fail with WSRT_ERR_STOPPED.
pub struct wsrt_handle {
    handle: Handle,
}

impl wsrt_handle {
    pub(crate) fn new(handle: Handle) -> wsrt_handle {
        wsrt_handle { handle }
    }
}

/// Creates a handle to the server for other threads; NULL if `server` is
/// NULL. The caller owns it and frees it with wsrt_handle_free (before or
/// after the server). Call from the server's thread.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_handle(server: *const wsrt_server) -> *mut wsrt_handle {
    guard_value(std::ptr::null_mut(), || match srv_ref(server) {
        Ok(s) => Box::into_raw(Box::new(wsrt_handle { handle: s.handle() })),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Frees a handle. NULL is ignored. Any thread, once no other thread uses
/// the handle.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_free(handle: *mut wsrt_handle) {
    free_boxed(handle)
}

unsafe fn hdl<'a>(handle: *const wsrt_handle) -> wsrt::Result<&'a Handle> {
    arg(handle, "handle").map(|h| &h.handle)
}

/// Wakes the server's loop: its next (or current) poll returns
/// WSRT_EVENT_WAKE. The usual way to say "I queued work for you".
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_wake(handle: *const wsrt_handle) -> wsrt_result {
    guard(|| hdl(handle)?.wake())
}

/// Queues a message (see wsrt_send; bytes copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_send(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    data: *const u8,
    len: usize,
    is_text: bool,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let data = bytes::Bytes::copy_from_slice(bytes(data, len, "data")?);
        h.send(conn_id(conn), kind(is_text), data)
    })
}

/// Sends a ping (see wsrt_ping; payload copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_ping(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    data: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let data = bytes::Bytes::copy_from_slice(bytes(data, len, "data")?);
        h.ping(conn_id(conn), data)
    })
}

/// Closes a connection (see wsrt_close; reason copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_close(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    code: u16,
    reason: *const c_char,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        h.close(
            conn_id(conn),
            code,
            opt_str(reason, "reason")?.unwrap_or(""),
        )
    })
}

/// Drops a connection at once (see wsrt_terminate).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_terminate(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
) -> wsrt_result {
    guard(|| hdl(handle)?.terminate(conn_id(conn)))
}

/// Sends an SSE event (see wsrt_sse_send; everything copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_sse_send(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    event: *const c_char,
    id: *const c_char,
    retry_ms: i64,
    data: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let ev = sse_event(event, id, retry_ms, data, len)?;
        h.sse_send(conn_id(conn), &ev)
    })
}

/// Sends an SSE comment (see wsrt_sse_comment; text copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_sse_comment(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    text: *const c_char,
) -> wsrt_result {
    guard(|| hdl(handle)?.sse_comment(conn_id(conn), req_str(text, "text")?))
}

/// Subscribes a connection to `topic` (see wsrt_subscribe; copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_subscribe(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    topic: *const c_char,
) -> wsrt_result {
    guard(|| hdl(handle)?.subscribe(conn_id(conn), req_str(topic, "topic")?))
}

/// Removes a connection from `topic` (see wsrt_unsubscribe).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_unsubscribe(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    topic: *const c_char,
) -> wsrt_result {
    guard(|| hdl(handle)?.unsubscribe(conn_id(conn), req_str(topic, "topic")?))
}

/// Publishes (see wsrt_publish: `topic` NULL is everyone, `opts` may be
/// NULL; everything copied). The outcome is not reported back;
/// wsrt_server_stats counts it.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_publish(
    handle: *const wsrt_handle,
    topic: *const c_char,
    data: *const u8,
    len: usize,
    is_text: bool,
    opts: *const wsrt_publish_opts,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let msg = publish_msg(bytes(data, len, "data")?, is_text, opts)?;
        h.publish(opt_str(topic, "topic")?, &msg)
    })
}

/// Emits a Socket.IO event to one socket, without an ack (see wsrt_emit;
/// an ack's answer is an event of the server's thread: emit with an ack
/// there). Everything is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_emit(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    event: *const c_char,
    args: *const c_char,
    args_len: usize,
    attachments: *const wsrt_bytes,
    n: usize,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let event = req_str(event, "event")?;
        let args = args_text(args, args_len)?;
        let attachments = byte_list(attachments, n, "attachments")?;
        h.emit(conn_id(conn), event, args, &attachments)
    })
}

/// Answers a client's event (see wsrt_ack; everything copied).
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_ack(
    handle: *const wsrt_handle,
    conn: wsrt_conn,
    ack_id: u64,
    args: *const c_char,
    args_len: usize,
    attachments: *const wsrt_bytes,
    n: usize,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        let args = args_text(args, args_len)?;
        let attachments = byte_list(attachments, n, "attachments")?;
        h.ack(conn_id(conn), ack_id, args, &attachments)
    })
}

/// Emits to many sockets (see wsrt_broadcast; everything copied). How many
/// it reached is not reported back; wsrt_server_stats counts it.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_broadcast(
    handle: *const wsrt_handle,
    opts: *const wsrt_broadcast_opts,
) -> wsrt_result {
    guard(|| {
        let h = hdl(handle)?;
        with_broadcast(opts, |b| h.broadcast(b))
    })
}

/// Begins a graceful shutdown (see wsrt_server_begin_shutdown); the loop
/// thread keeps polling until wsrt_server_is_finished. Safe to call from a
/// signal-handling thread, not from a signal handler itself.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_shutdown(handle: *const wsrt_handle) -> wsrt_result {
    guard(|| hdl(handle)?.shutdown())
}
