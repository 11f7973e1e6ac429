//! Result codes, the per-thread error message, and the guard that keeps
//! panics from crossing into C. The bottom of the module graph: it imports
//! nothing from this crate.
//!
//! The codes are the core's (`ErrorKind::c_code`); this module only hands
//! them over. `tests/constants.rs` checks the header's `WSRT_ERR_*` against
//! the core.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use wsrt::{Error, ErrorKind};

/// What every fallible call returns: WSRT_OK (0) or one of the WSRT_ERR_*
/// codes. A plain integer, so a code from a newer library is still a
/// value C can hold and print (wsrt_result_str says "unknown result code").
pub type wsrt_result = u32;

/// Success.
pub const WSRT_OK: wsrt_result = 0;
/// A NULL pointer, a string that is not UTF-8, a value out of range or of
/// the wrong kind: the call had no effect.
pub const WSRT_ERR_INVALID_ARGUMENT: wsrt_result = 1;
/// The connection id is not (or no longer) known to the server: it was
/// never an id, or its close event was delivered in an earlier batch.
pub const WSRT_ERR_UNKNOWN_CONNECTION: wsrt_result = 2;
/// The call does not fit the connection: a WebSocket send on an event
/// stream, an answer to a request that is not awaiting one, ...
pub const WSRT_ERR_WRONG_STATE: wsrt_result = 3;
/// The connection is closing or closed; nothing more can be sent on it.
pub const WSRT_ERR_CLOSED: wsrt_result = 4;
/// Queuing this would pass WSRT_OPT_MAX_BUFFERED; nothing was queued. A
/// WSRT_EVENT_DRAIN follows when the queue has emptied.
pub const WSRT_ERR_BACKPRESSURE: wsrt_result = 5;
/// The server has shut down (or, for a handle, has been freed).
pub const WSRT_ERR_STOPPED: wsrt_result = 6;
/// An operating-system error (binding the port, ...).
pub const WSRT_ERR_IO: wsrt_result = 7;
/// A bug inside wsrt, caught at the boundary. The object involved should
/// be freed.
pub const WSRT_ERR_INTERNAL: wsrt_result = 8;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // try_with: a thread being torn down has no message to keep.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// Records `e` as the thread's last error, for calls that report failure
/// in their value rather than a result code.
pub(crate) fn report(e: &Error) {
    set_error(e.message());
}

/// An invalid-argument error made here: only for what the core cannot see
/// (a NULL pointer, a C string that is not UTF-8, a C constant out of its
/// set).
pub(crate) fn invalid(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::invalid(msg)
}

const PANIC: &str = "internal error (panic caught at the C boundary)";

/// Runs `f`, turning its error or panic into a result code and the
/// thread's error message.
pub(crate) fn guard(f: impl FnOnce() -> wsrt::Result<()>) -> wsrt_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => WSRT_OK,
        Ok(Err(e)) => {
            set_error(e.message());
            e.kind().c_code()
        }
        Err(_) => {
            set_error(PANIC);
            ErrorKind::Internal.c_code()
        }
    }
}

/// Like `guard` for calls that return a value and cannot fail (or report
/// failure in the value); `fallback` on panic.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_error(PANIC);
        fallback
    })
}

/// The message of the last failed call on this thread ("" if none).
/// Borrowed: valid until the next failing wsrt call on this thread; never
/// free it. Any thread (each has its own).
#[no_mangle]
pub extern "C" fn wsrt_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The core's descriptions of the codes, as C strings: (code, text).
fn descriptions() -> &'static [(u32, CString)] {
    static TABLE: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![(WSRT_OK, c"ok".to_owned())];
        for kind in ErrorKind::ALL {
            let code = kind.c_code();
            if !table.iter().any(|(c, _)| *c == code) {
                let text = CString::new(kind.describe()).unwrap_or_default();
                table.push((code, text));
            }
        }
        table
    })
}

/// A short description of a result code ("invalid argument"); "unknown
/// result code" for a value that is not one. Static storage; never free
/// it. Any thread.
#[no_mangle]
pub extern "C" fn wsrt_result_str(result: wsrt_result) -> *const c_char {
    guard_value(c"internal error".as_ptr(), || {
        descriptions()
            .iter()
            .find(|(c, _)| *c == result)
            .map_or(c"unknown result code".as_ptr(), |(_, s)| s.as_ptr())
    })
}
