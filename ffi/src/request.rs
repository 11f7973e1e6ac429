//! Read-only access to the HTTP request behind an open or requested
//! connection. A `wsrt_request *` comes with an event and is valid until
//! the next wsrt_server_poll (or wsrt_server_free) on the same server;
//! every string read from it is borrowed for as long. These calls cannot
//! fail: given NULL they answer as for an absent value.

use crate::conv::{arg, opt_out, out_ptr, req_str, wsrt_str};
use crate::error::guard_value;
use std::ffi::c_char;

/// Opaque request (path, query, headers, peer address). Borrowed from an
/// event (REQUEST, OPEN, SSE_OPEN): owned by the server and valid until
/// its next wsrt_server_poll or wsrt_server_free, as is every wsrt_str
/// read from it. Never free it.
pub struct wsrt_request {
    _opaque: [u8; 0],
}

/// A `wsrt_request *` is a `wsrt::Request` seen from C; only we
/// dereference it. These calls have no error to report: NULL is `None`.
unsafe fn req<'a>(r: *const wsrt_request) -> Option<&'a wsrt::Request> {
    arg(r.cast::<wsrt::Request>(), "request").ok()
}

/// The request method ("GET"); borrowed, like the request.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_method(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(&r.head.method))
    })
}

/// The path, without the query string, as sent (not percent-decoded);
/// borrowed, like the request.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_path(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(r.path()))
    })
}

/// The query string without the '?' ("" if none); borrowed, like the
/// request.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_query(request: *const wsrt_request) -> wsrt_str {
    guard_value(wsrt_str::empty(), || {
        req(request).map_or(wsrt_str::empty(), |r| wsrt_str::from_str(r.query()))
    })
}

/// Looks up a header by name (ASCII case-insensitive); the first if it
/// repeats. Writes it to `*value` (borrowed, like the request); returns
/// false (and leaves `*value` alone) if absent. `name` is only read.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_header(
    request: *const wsrt_request,
    name: *const c_char,
    value: *mut wsrt_str,
) -> bool {
    guard_value(false, || {
        let (Some(r), Ok(name), Ok(value)) =
            (req(request), req_str(name, "name"), out_ptr(value, "value"))
        else {
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

/// The `index`th header in the order received, written to `*name` and
/// `*value` (either may be NULL; borrowed, like the request). False if
/// out of range.
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
        if let Some(out) = opt_out(name) {
            *out = wsrt_str::from_str(n);
        }
        if let Some(out) = opt_out(value) {
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

/// The `index`th offered subprotocol, in the client's order ("" if out
/// of range); borrowed, like the request.
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
/// (the caller's, `buf_len` bytes) as a NUL-terminated string. Returns the
/// length it needs (without the NUL); if that is >= `buf_len` the output
/// was truncated.
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
