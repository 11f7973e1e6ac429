//! Read-only access to the HTTP request behind an open or requested
//! connection. A `wsrt_request *` comes with an event and is valid until
//! the next wsrt_server_poll on the same server.

use crate::{error::guard_value, wsrt_str};
use std::ffi::{c_char, CStr};

/// Opaque request (path, query, headers, peer address).
pub struct wsrt_request {
    _opaque: [u8; 0],
}

/// A `wsrt_request *` is a `wsrt::Request` seen from C; only we dereference it.
unsafe fn req<'a>(r: *const wsrt_request) -> Option<&'a wsrt::Request> {
    r.cast::<wsrt::Request>().as_ref()
}

/// The request method ("GET").
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_method(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(&r.head.method))
    })
}

/// The path, without the query string, as sent (not percent-decoded).
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_path(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(r.path()))
    })
}

/// The query string without the '?' ("" if none).
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_query(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(r.query()))
    })
}

/// Looks up a header by name (ASCII case-insensitive); the first if it
/// repeats. Returns false (and leaves `*value` alone) if absent.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_header(
    request: *const wsrt_request,
    name: *const c_char,
    value: *mut wsrt_str,
) -> bool {
    guard_value(false, || {
        let (Some(r), false, false) = (req(request), name.is_null(), value.is_null()) else {
            return false;
        };
        let Ok(name) = CStr::from_ptr(name).to_str() else {
            return false;
        };
        match r.header(name) {
            Some(v) => {
                *value = wsrt_str::from_str(v);
                true
            }
            None => false,
        }
    })
}

/// Number of headers, for iterating with wsrt_request_header_at.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_header_count(request: *const wsrt_request) -> usize {
    guard_value(0, || req(request).map_or(0, |r| r.head.headers.len()))
}

/// The `index`th header in the order received. False if out of range.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_header_at(
    request: *const wsrt_request,
    index: usize,
    name: *mut wsrt_str,
    value: *mut wsrt_str,
) -> bool {
    guard_value(false, || {
        let Some((n, v)) = req(request).and_then(|r| r.head.headers.get(index)) else {
            return false;
        };
        if let Some(out) = name.as_mut() {
            *out = wsrt_str::from_str(n);
        }
        if let Some(out) = value.as_mut() {
            *out = wsrt_str::from_str(v);
        }
        true
    })
}

/// Number of WebSocket subprotocols the client offered.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_protocol_count(request: *const wsrt_request) -> usize {
    guard_value(0, || req(request).map_or(0, |r| r.protocols.len()))
}

/// The `index`th offered subprotocol, in the client's order.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_protocol_at(
    request: *const wsrt_request,
    index: usize,
) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request)
            .and_then(|r| r.protocols.get(index))
            .map_or(wsrt_str::empty(), |p| wsrt_str::from_str(p))
    })
}

/// Writes the peer address ("127.0.0.1:51234", "[::1]:51234") into `buf`
/// as a NUL-terminated string. Returns the length it needs (without the
/// NUL); if that is >= `buf_len` the output was truncated.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_peer(
    request: *const wsrt_request,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    guard_value(0, || {
        let Some(r) = req(request) else { return 0 };
        let s = r.peer.to_string();
        if !buf.is_null() && buf_len > 0 {
            let n = s.len().min(buf_len - 1);
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
        s.len()
    })
}
