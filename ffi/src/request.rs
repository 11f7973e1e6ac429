//! Read-only access to the HTTP request behind an open or requested
//! connection. A `wsrt_request *` comes with an event (valid until the
//! next wsrt_server_poll or wsrt_server_free on the same server) or from
//! wsrt_connection_request (valid until the next such call as well);
//! every string read from it is borrowed for as long. These calls cannot
//! fail: given NULL they answer as for an absent value. wsrt_request_tls,
//! which fills the caller's struct, returns a result code instead, like
//! wsrt_server_stats.

use crate::conv::{arg, opt_out, out_ptr, req_str, wsrt_str};
use crate::error::{guard, guard_value, wsrt_result};
use std::ffi::c_char;

/// Opaque request (path, query, headers, peer address). Borrowed from an
/// event (REQUEST, OPEN, SSE_OPEN; CLOSE, SSE_CLOSE of a connection that
/// was open) or from wsrt_connection_request: owned by the server and
/// valid until its next wsrt_server_poll or wsrt_server_free (and, from
/// wsrt_connection_request, its next such call), as is every wsrt_str
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

/// The TLS side of a request, filled by wsrt_request_tls. Every pointer
/// is borrowed, like the request, and valid as long as it is. Zero-fill is not needed: every
/// field is written.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_tls_info {
    /// True if the request came over TLS (https, wss); all else is empty
    /// when false.
    pub is_tls: bool,
    /// "TLSv1.2" or "TLSv1.3".
    pub version: wsrt_str,
    /// The cipher suite's IANA name ("TLS13_AES_128_GCM_SHA256").
    pub cipher: wsrt_str,
    /// The server name the client asked for (SNI); "" if it sent none.
    pub server_name: wsrt_str,
    /// The client certificate's subject as an RFC 4514 string
    /// ("CN=alice,O=Example"); "" unless a client certificate was sent
    /// and verified against WSRT_OPT_TLS_CA.
    pub peer_subject: wsrt_str,
    /// That certificate, DER encoded: `peer_certificate_len` bytes; NULL
    /// and 0 when there is none.
    pub peer_certificate: *const u8,
    pub peer_certificate_len: usize,
}

impl wsrt_tls_info {
    fn plain() -> wsrt_tls_info {
        wsrt_tls_info {
            is_tls: false,
            version: wsrt_str::empty(),
            cipher: wsrt_str::empty(),
            server_name: wsrt_str::empty(),
            peer_subject: wsrt_str::empty(),
            peer_certificate: std::ptr::null(),
            peer_certificate_len: 0,
        }
    }
}

/// Fills `*out` (the caller's) with the TLS side of the request: whether
/// it came over TLS, the version, cipher, server name and the verified
/// client certificate (see wsrt_tls_info; every string and byte pointer
/// borrowed, like the request). WSRT_ERR_INVALID_ARGUMENT if `request`
/// or `out` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_request_tls(
    request: *const wsrt_request,
    out: *mut wsrt_tls_info,
) -> wsrt_result {
    guard(|| {
        let r = arg(request.cast::<wsrt::Request>(), "request")?;
        let out = out_ptr(out, "out")?;
        let opt = |s: &Option<String>| s.as_deref().map_or(wsrt_str::empty(), wsrt_str::from_str);
        *out = match r.tls.as_deref() {
            None => wsrt_tls_info::plain(),
            Some(t) => wsrt_tls_info {
                is_tls: true,
                version: wsrt_str::from_str(t.version),
                cipher: wsrt_str::from_str(&t.cipher),
                server_name: opt(&t.server_name),
                peer_subject: opt(&t.peer_subject),
                peer_certificate: t
                    .peer_certificate
                    .as_ref()
                    .map_or(std::ptr::null(), |c| c.as_ptr()),
                peer_certificate_len: t.peer_certificate.as_ref().map_or(0, Vec::len),
            },
        };
        Ok(())
    })
}
