//! Result codes, the per-thread error message, and the guard that keeps
//! panics from crossing into C.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every fallible call returns. WSRT_OK is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsrt_result {
    WSRT_OK = 0,
    /// A NULL pointer, a string that is not UTF-8, a value out of range.
    WSRT_ERR_INVALID_ARGUMENT = 1,
    /// The connection id is not (or no longer) open.
    WSRT_ERR_UNKNOWN_CONNECTION = 2,
    /// The call does not fit the connection (e.g. WebSocket send on SSE).
    WSRT_ERR_WRONG_STATE = 3,
    /// The connection is closing; nothing more can be sent on it.
    WSRT_ERR_CLOSED = 4,
    /// The send would pass the buffered-bytes cap; nothing was queued. A
    /// WSRT_EVENT_DRAIN follows when the queue empties.
    WSRT_ERR_BACKPRESSURE = 5,
    /// The configuration is inconsistent.
    WSRT_ERR_CONFIG = 6,
    /// An operating-system error (bind failed, ...).
    WSRT_ERR_IO = 7,
    /// A bug inside wsrt was caught at the boundary. The object involved
    /// should be freed.
    WSRT_ERR_INTERNAL = 8,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(crate) fn code_of(e: &wsrt::Error) -> wsrt_result {
    use wsrt::Error::*;
    match e {
        UnknownConnection => wsrt_result::WSRT_ERR_UNKNOWN_CONNECTION,
        WrongState(_) => wsrt_result::WSRT_ERR_WRONG_STATE,
        Closed => wsrt_result::WSRT_ERR_CLOSED,
        Backpressure => wsrt_result::WSRT_ERR_BACKPRESSURE,
        InvalidArgument(_) => wsrt_result::WSRT_ERR_INVALID_ARGUMENT,
        Config(_) => wsrt_result::WSRT_ERR_CONFIG,
        Io(_) => wsrt_result::WSRT_ERR_IO,
    }
}

pub(crate) fn invalid(msg: &'static str) -> wsrt::Error {
    wsrt::Error::InvalidArgument(msg)
}

/// Runs `f`, turning its error or panic into a result code and the
/// thread's error message.
pub(crate) fn guard(f: impl FnOnce() -> wsrt::Result<()>) -> wsrt_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => wsrt_result::WSRT_OK,
        Ok(Err(e)) => {
            set_error(&e.to_string());
            code_of(&e)
        }
        Err(_) => {
            set_error("internal error (panic caught at the C boundary)");
            wsrt_result::WSRT_ERR_INTERNAL
        }
    }
}

/// Like `guard` for calls that return a value; `fallback` on panic.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_error("internal error (panic caught at the C boundary)");
        fallback
    })
}

/// The message of the last failed call on this thread ("" if none).
/// Borrowed: valid until the next failing wsrt call on this thread.
#[no_mangle]
pub extern "C" fn wsrt_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// A short static description of a result code. Never free it.
#[no_mangle]
pub extern "C" fn wsrt_result_str(result: wsrt_result) -> *const c_char {
    let s: &'static str = match result {
        wsrt_result::WSRT_OK => "ok\0",
        wsrt_result::WSRT_ERR_INVALID_ARGUMENT => "invalid argument\0",
        wsrt_result::WSRT_ERR_UNKNOWN_CONNECTION => "unknown connection\0",
        wsrt_result::WSRT_ERR_WRONG_STATE => "wrong connection state\0",
        wsrt_result::WSRT_ERR_CLOSED => "connection closing\0",
        wsrt_result::WSRT_ERR_BACKPRESSURE => "send buffer full\0",
        wsrt_result::WSRT_ERR_CONFIG => "invalid configuration\0",
        wsrt_result::WSRT_ERR_IO => "I/O error\0",
        wsrt_result::WSRT_ERR_INTERNAL => "internal error\0",
    };
    s.as_ptr().cast()
}

/// Reads an optional NUL-terminated UTF-8 string (NULL → None).
pub(crate) unsafe fn opt_str<'a>(p: *const c_char) -> wsrt::Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    std::ffi::CStr::from_ptr(p)
        .to_str()
        .map(Some)
        .map_err(|_| invalid("string is not valid UTF-8"))
}

/// Reads a required NUL-terminated UTF-8 string.
pub(crate) unsafe fn req_str<'a>(p: *const c_char) -> wsrt::Result<&'a str> {
    opt_str(p)?.ok_or(invalid("NULL string"))
}

/// Reads a byte buffer (NULL allowed when `len` is 0).
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> wsrt::Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid("NULL data with non-zero length"));
    }
    Ok(std::slice::from_raw_parts(p, len))
}
