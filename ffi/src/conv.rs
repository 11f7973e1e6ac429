//! Conversions between C and Rust values, and the one idiom for checking
//! pointer arguments (as rustls-ffi's `try_ref_from_ptr!`): every pointer
//! a call takes goes through one of the functions here, which turn NULL
//! (and a C string that is not UTF-8) into an invalid-argument error
//! naming the argument. Nothing here checks what a value means: that is
//! the core's.

use crate::error::invalid;
use std::ffi::{c_char, CStr};
use wsrt::{ConnId, MessageKind, Result, SseEvent};

/// A connection id: unique among the server's live connections, and not
/// given to another connection until at least 2^32 further connections
/// have been accepted, so a stale id fails with
/// WSRT_ERR_UNKNOWN_CONNECTION rather than reaching a newer connection. 0
/// is never an id. Opaque: compare ids, never compute with them.
pub type wsrt_conn = u64;

/// A borrowed string: `len` bytes at `ptr`, UTF-8, NOT NUL-terminated.
/// Print with `printf("%.*s", (int)s.len, s.ptr)`. `ptr` is never NULL (an
/// empty string points at a valid zero-length location).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl wsrt_str {
    pub(crate) fn from_str(s: &str) -> wsrt_str {
        wsrt_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    pub(crate) fn empty() -> wsrt_str {
        wsrt_str::from_str("")
    }
}

/// One HTTP response header for wsrt_accept and wsrt_reject: two
/// NUL-terminated UTF-8 strings, borrowed for the call (copied).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_header {
    pub name: *const c_char,
    pub value: *const c_char,
}

/// Bytes: `len` bytes at `ptr` (NULL allowed when `len` is 0). A Socket.IO
/// binary attachment, handed out in an event (borrowed, like the event)
/// and passed to wsrt_emit, wsrt_ack and wsrt_broadcast (copied).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_bytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl wsrt_bytes {
    pub(crate) fn from_slice(b: &[u8]) -> wsrt_bytes {
        wsrt_bytes {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }
}

/// A required pointer argument, for reading.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &'static str) -> Result<&'a T> {
    p.as_ref().ok_or_else(|| null(name))
}

/// A required pointer argument, for changing.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T> {
    p.as_mut().ok_or_else(|| null(name))
}

/// A required out-pointer: where a result is written.
pub(crate) unsafe fn out_ptr<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T> {
    arg_mut(p, name)
}

/// An optional pointer argument (NULL: the defaults).
pub(crate) unsafe fn opt_arg<'a, T>(p: *const T) -> Option<&'a T> {
    p.as_ref()
}

/// Frees an object handed out as `Box::into_raw`; NULL is ignored. The
/// drop runs inside the panic guard.
pub(crate) unsafe fn free_boxed<T>(p: *mut T) {
    if !p.is_null() {
        crate::error::guard_value((), || drop(Box::from_raw(p)));
    }
}

/// An optional out-pointer (NULL: the caller does not want that result).
pub(crate) unsafe fn opt_out<'a, T>(p: *mut T) -> Option<&'a mut T> {
    p.as_mut()
}

fn null(name: &'static str) -> wsrt::Error {
    invalid(format!("{name} is NULL"))
}

/// An optional NUL-terminated UTF-8 string (NULL: `None`).
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &'static str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p)
        .to_str()
        .map(Some)
        .map_err(|_| invalid(format!("{name} is not valid UTF-8")))
}

/// A required NUL-terminated UTF-8 string.
pub(crate) unsafe fn req_str<'a>(p: *const c_char, name: &'static str) -> Result<&'a str> {
    opt_str(p, name)?.ok_or_else(|| null(name))
}

/// A byte buffer of `len` bytes (NULL allowed when `len` is 0).
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, name: &'static str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL with a length of {len}")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// `n` elements at `p`, borrowed for the call; NULL is allowed when `n`
/// is 0.
unsafe fn array<'a, T>(p: *const T, n: usize, name: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL with a count of {n}")));
    }
    Ok(std::slice::from_raw_parts(p, n))
}

/// An array of `n` headers (NULL allowed when `n` is 0), copied.
pub(crate) unsafe fn header_list(p: *const wsrt_header, n: usize) -> Result<Vec<(String, String)>> {
    array(p, n, "headers")?
        .iter()
        .map(|h| {
            let name = req_str(h.name, "header name")?;
            let value = req_str(h.value, "header value")?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

/// An array of `n` byte buffers (NULL allowed when `n` is 0), borrowed
/// for the call.
pub(crate) unsafe fn byte_list<'a>(
    p: *const wsrt_bytes,
    n: usize,
    name: &'static str,
) -> Result<Vec<&'a [u8]>> {
    array(p, n, name)?
        .iter()
        .map(|b| bytes(b.ptr, b.len, name))
        .collect()
}

/// An array of `n` NUL-terminated UTF-8 strings (NULL allowed when `n` is
/// 0), borrowed for the call.
pub(crate) unsafe fn str_list<'a>(
    p: *const *const c_char,
    n: usize,
    name: &'static str,
) -> Result<Vec<&'a str>> {
    array(p, n, name)?
        .iter()
        .map(|s| req_str(*s, name))
        .collect()
}

/// Text of `len` bytes that must be UTF-8 (NULL allowed when `len` is 0).
pub(crate) unsafe fn text<'a>(p: *const c_char, len: usize, name: &'static str) -> Result<&'a str> {
    std::str::from_utf8(bytes(p.cast(), len, name)?)
        .map_err(|_| invalid(format!("{name} is not valid UTF-8")))
}

pub(crate) fn conn_id(c: wsrt_conn) -> ConnId {
    ConnId::from_raw(c)
}

pub(crate) fn kind(is_text: bool) -> MessageKind {
    if is_text {
        MessageKind::Text
    } else {
        MessageKind::Binary
    }
}

/// An SSE event from wsrt_sse_send's arguments (strings borrowed):
/// `retry_ms` < 0 leaves the field out; `data` must be UTF-8.
pub(crate) unsafe fn sse_event<'a>(
    event: *const c_char,
    id: *const c_char,
    retry_ms: i64,
    data: *const u8,
    len: usize,
) -> Result<SseEvent<'a>> {
    Ok(SseEvent {
        event: opt_str(event, "event")?,
        id: opt_str(id, "id")?,
        retry: u64::try_from(retry_ms).ok(),
        data: std::str::from_utf8(bytes(data, len, "data")?)
            .map_err(|_| invalid("SSE data is not valid UTF-8"))?,
    })
}
