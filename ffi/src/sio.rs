//! Socket.IO from C: emit to a socket (with or without an ack), answer a
//! client's ack, emit to many, refuse a connecting socket, and read a
//! socket's id and rooms.
//!
//! Arguments cross as one JSON array (text) whose binary arguments are
//! placeholders `{"_placeholder":true,"num":n}` for attachment `n`, plus
//! the attachments as byte buffers: what the core takes. Every check on
//! them (a JSON array, one placeholder per attachment, reserved event
//! names, room names) is the core's.
//!
//! Other threads emit (without an ack), acknowledge and broadcast through
//! a handle: wsrt_handle_emit, wsrt_handle_ack, wsrt_handle_broadcast.

use crate::conv::{
    arg, byte_list, conn_id, opt_out, opt_str, out_ptr, req_str, str_list, text, wsrt_bytes,
    wsrt_conn, wsrt_str,
};
use crate::error::{guard, guard_value, report, wsrt_result};
use crate::server::{srv, srv_ref, wsrt_server};
use std::ffi::c_char;
use std::time::Duration;
use wsrt::{Broadcast, ConnId};

/// Options of one wsrt_broadcast: which sockets of a namespace get the
/// event. Zero-fill before setting fields, so fields added in later
/// versions default sanely. Every pointer is borrowed for the call.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_broadcast_opts {
    /// The namespace ("/admin"); NULL for the main namespace "/".
    pub nsp: *const c_char,
    /// Sockets in any of these `n_rooms` rooms (a socket's id is a room
    /// too); none (`n_rooms` 0): every socket of the namespace.
    pub rooms: *const *const c_char,
    pub n_rooms: usize,
    /// Never sockets in any of these `n_except_rooms` rooms.
    pub except_rooms: *const *const c_char,
    pub n_except_rooms: usize,
    /// Never this socket (usually the sender); 0 for none.
    pub except: wsrt_conn,
    /// The event's name (required).
    pub event: *const c_char,
    /// The arguments: `args_len` bytes of a JSON array; NULL (with
    /// `args_len` 0) for none.
    pub args: *const c_char,
    pub args_len: usize,
    /// The binary arguments' bytes, `n_attachments` of them.
    pub attachments: *const wsrt_bytes,
    pub n_attachments: usize,
}

/// The arguments as the core takes them: NULL (and no length) is no
/// arguments at all.
pub(crate) unsafe fn args_text<'a>(args: *const c_char, len: usize) -> wsrt::Result<&'a str> {
    if args.is_null() && len == 0 {
        return Ok("[]");
    }
    text(args, len, "args")
}

/// Emits event `event` to the Socket.IO socket `conn` with `args_len`
/// bytes of arguments `args` (a JSON array, "[]" or NULL for none) and `n`
/// binary `attachments` (NULL when `n` is 0) for the placeholders in it.
/// `ack_id` NULL: no ack is asked for (and `timeout_ms` is not used).
/// Otherwise the client is asked to acknowledge, `*ack_id` gets the id,
/// and a WSRT_EVENT_SIO_ACK with that `ack` follows: the client's answer,
/// or after `timeout_ms` (0: no timeout) its absence, or the socket's end.
/// Everything is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_emit(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    event: *const c_char,
    args: *const c_char,
    args_len: usize,
    attachments: *const wsrt_bytes,
    n: usize,
    timeout_ms: u64,
    ack_id: *mut u64,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let event = req_str(event, "event")?;
        let args = args_text(args, args_len)?;
        let attachments = byte_list(attachments, n, "attachments")?;
        let out = opt_out(ack_id);
        let ack = out
            .is_some()
            .then(|| (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)));
        let id = s.emit(conn_id(conn), event, args, &attachments, ack)?;
        if let (Some(out), Some(id)) = (out, id) {
            *out = id;
        }
        Ok(())
    })
}

/// Answers a client's event: `ack_id` is the `ack` of its
/// WSRT_EVENT_SIO_EVENT, `args`/`args_len` the answer's arguments (a JSON
/// array, NULL for none) with `n` binary `attachments`. Everything is
/// copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_ack(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    ack_id: u64,
    args: *const c_char,
    args_len: usize,
    attachments: *const wsrt_bytes,
    n: usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let args = args_text(args, args_len)?;
        let attachments = byte_list(attachments, n, "attachments")?;
        s.ack(conn_id(conn), ack_id, args, &attachments)
    })
}

/// Emits an event to many sockets of a namespace (see
/// wsrt_broadcast_opts): encoded once, one copy per socket.
/// `*delivered` (may be NULL) gets the number of sockets it was queued
/// for. Everything is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_broadcast(
    server: *mut wsrt_server,
    opts: *const wsrt_broadcast_opts,
    delivered: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let n = with_broadcast(opts, |b| s.broadcast(b))?;
        if let Some(out) = opt_out(delivered) {
            *out = n;
        }
        Ok(())
    })
}

/// Runs `f` on the broadcast `opts` describes (borrowing its strings).
pub(crate) unsafe fn with_broadcast<R>(
    opts: *const wsrt_broadcast_opts,
    f: impl FnOnce(&Broadcast<'_>) -> wsrt::Result<R>,
) -> wsrt::Result<R> {
    let o = arg(opts, "opts")?;
    let rooms = str_list(o.rooms, o.n_rooms, "rooms")?;
    let except_rooms = str_list(o.except_rooms, o.n_except_rooms, "except_rooms")?;
    let attachments = byte_list(o.attachments, o.n_attachments, "attachments")?;
    f(&Broadcast {
        namespace: opt_str(o.nsp, "nsp")?.unwrap_or("/"),
        rooms: &rooms,
        except_rooms: &except_rooms,
        except: (o.except != 0).then(|| conn_id(o.except)),
        event: req_str(o.event, "event")?,
        args: args_text(o.args, o.args_len)?,
        attachments: &attachments,
    })
}

/// Refuses a Socket.IO connection from WSRT_EVENT_REQUEST: the client's
/// `connect_error` gets `message` and, unless `data_json` is NULL, that
/// JSON value as its `data`. The socket is gone at once (no CLOSE
/// follows). Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_reject_socket(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    message: *const c_char,
    data_json: *const c_char,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let message = req_str(message, "message")?;
        let data = opt_str(data_json, "data_json")?;
        s.reject_socket(conn_id(conn), message, data)
    })
}

/// Writes the id of the Socket.IO socket `conn` (the client's
/// `socket.id`) into `buf` (the caller's, `cap` bytes) as a NUL-terminated
/// string. Returns the length it needs (without the NUL); if that is >=
/// `cap` the output was truncated. 0 if `conn` is not a live socket (or
/// `server` is NULL): wsrt_last_error says why.
#[no_mangle]
pub unsafe extern "C" fn wsrt_socket_id(
    server: *const wsrt_server,
    conn: wsrt_conn,
    buf: *mut c_char,
    cap: usize,
) -> usize {
    guard_value(0, || {
        let sid = match srv_ref(server).and_then(|s| s.socket_id(conn_id(conn))) {
            Ok(sid) => sid,
            Err(e) => {
                report(&e);
                return 0;
            }
        };
        if !buf.is_null() && cap > 0 {
            let n = sid.len().min(cap - 1);
            std::ptr::copy_nonoverlapping(sid.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
        sid.len()
    })
}

/// The socket whose id (the client's `socket.id`) is `sid`, if it is
/// connected here; 0 otherwise (and for NULL arguments). `sid` is only
/// read.
#[no_mangle]
pub unsafe extern "C" fn wsrt_socket_by_id(
    server: *const wsrt_server,
    sid: *const c_char,
) -> wsrt_conn {
    guard_value(0, || match (srv_ref(server), req_str(sid, "sid")) {
        (Ok(s), Ok(sid)) => s.socket_by_id(sid).unwrap_or(ConnId::NONE).raw(),
        _ => 0,
    })
}

/// The topics `conn` is subscribed to (a socket's rooms, its own id
/// among them), in no particular order: `*topics` points at `*count`
/// strings, owned by the server and valid until the next wsrt_topics,
/// wsrt_server_poll or wsrt_server_free on it.
#[no_mangle]
pub unsafe extern "C" fn wsrt_topics(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topics: *mut *const wsrt_str,
    count: *mut usize,
) -> wsrt_result {
    guard(|| {
        let s = crate::conv::arg_mut(server, "server")?;
        let topics = out_ptr(topics, "topics")?;
        let count = out_ptr(count, "count")?;
        s.topics = s.server.topics(conn_id(conn))?;
        s.topic_strs.clear();
        s.topic_strs
            .extend(s.topics.iter().map(|t| wsrt_str::from_str(t)));
        *topics = s.topic_strs.as_ptr();
        *count = s.topic_strs.len();
        Ok(())
    })
}
