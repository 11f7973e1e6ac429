//! The one error type of wsrt. Its kinds are the front contract: each has
//! a stable C result code, a Python exception and a Node error code, given
//! here once and only converted by the fronts.

use std::borrow::Cow;
use std::fmt;

/// What went wrong, in the terms every front reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorKind {
    /// A value out of range, a malformed string, a NULL pointer: the call
    /// had no effect.
    InvalidArgument = 1,
    /// The connection id is not (or no longer) known to the server.
    UnknownConnection = 2,
    /// The call does not fit the connection: a WebSocket send on an event
    /// stream, an answer to a request that is not awaiting one, ...
    WrongState = 3,
    /// The connection is closing or closed; nothing more can be sent on it.
    Closed = 4,
    /// Queuing this would pass `max_buffered`; nothing was queued. A drain
    /// event follows when the queue has emptied.
    Backpressure = 5,
    /// The server is shut down (or, for a handle, gone).
    Stopped = 6,
    /// An operating-system error (binding the port, ...).
    Io = 7,
    /// A bug inside wsrt, caught at the boundary.
    Internal = 8,
    /// A value of the wrong type (Python and Node; C reports it as
    /// `InvalidArgument`, its types being checked by the compiler).
    InvalidType = 9,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidArgument,
        ErrorKind::UnknownConnection,
        ErrorKind::WrongState,
        ErrorKind::Closed,
        ErrorKind::Backpressure,
        ErrorKind::Stopped,
        ErrorKind::Io,
        ErrorKind::Internal,
        ErrorKind::InvalidType,
    ];

    /// The C result code (`wsrt_result`): the kind's number, except that
    /// C has no type errors of its own and reports them as invalid
    /// arguments.
    pub fn c_code(self) -> u32 {
        match self {
            ErrorKind::InvalidType => ErrorKind::InvalidArgument as u32,
            k => k as u32,
        }
    }

    /// The kind for a C result code; `None` for 0 (OK) and unknown codes.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| *k as u32 == code)
    }

    /// A short description ("invalid argument").
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::UnknownConnection => "unknown connection",
            ErrorKind::WrongState => "wrong connection state",
            ErrorKind::Closed => "connection closed",
            ErrorKind::Backpressure => "send buffer full",
            ErrorKind::Stopped => "server stopped",
            ErrorKind::Io => "I/O error",
            ErrorKind::Internal => "internal error",
            ErrorKind::InvalidType => "invalid type",
        }
    }

    /// The Node `error.code`.
    pub fn node_code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "ERR_WSRT_INVALID_ARGUMENT",
            ErrorKind::UnknownConnection => "ERR_WSRT_UNKNOWN_CONNECTION",
            ErrorKind::WrongState => "ERR_WSRT_WRONG_STATE",
            ErrorKind::Closed => "ERR_WSRT_CLOSED",
            ErrorKind::Backpressure => "ERR_WSRT_BACKPRESSURE",
            ErrorKind::Stopped => "ERR_WSRT_STOPPED",
            ErrorKind::Io => "ERR_WSRT_IO",
            ErrorKind::Internal => "ERR_WSRT_INTERNAL",
            ErrorKind::InvalidType => "ERR_WSRT_INVALID_TYPE",
        }
    }

    /// The JavaScript error class Node throws: `RangeError` for values out
    /// of range, `TypeError` for values of the wrong type, else `Error`.
    pub fn js_class(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "RangeError",
            ErrorKind::InvalidType => "TypeError",
            _ => "Error",
        }
    }

    /// The Python exception raised (the classes other than the builtins
    /// are in the `wsrt` package).
    pub fn python_exception(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "ValueError",
            ErrorKind::InvalidType => "TypeError",
            ErrorKind::UnknownConnection => "UnknownConnectionError",
            ErrorKind::WrongState => "InvalidStateError",
            ErrorKind::Closed => "ConnectionClosedError",
            ErrorKind::Backpressure => "BackpressureError",
            ErrorKind::Stopped => "ServerStoppedError",
            ErrorKind::Io => "OSError",
            ErrorKind::Internal => "WsrtError",
        }
    }
}

/// A failed call: its kind and a message for people. One pointer wide, so
/// that `Result<T, Error>` costs the hot paths nothing when all is well.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    io: Option<std::io::Error>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            io: None,
        }))
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_type(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::InvalidType, message)
    }

    pub(crate) fn unknown_connection() -> Self {
        Error::new(ErrorKind::UnknownConnection, "unknown or closed connection")
    }

    pub(crate) fn stopped() -> Self {
        Error::new(ErrorKind::Stopped, "the server has shut down")
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The operating-system error behind an `Io` error.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.0.io.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.io.as_ref().map(|e| e as _)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(Box::new(Inner {
            kind: ErrorKind::Io,
            message: e.to_string().into(),
            io: Some(e),
        }))
    }
}

impl From<wsrt_proto::Refusal> for Error {
    fn from(r: wsrt_proto::Refusal) -> Self {
        use wsrt_proto::Refusal;
        match r {
            Refusal::Closed => Error::new(ErrorKind::Closed, "the connection is closing or closed"),
            Refusal::WrongState(s) => Error::new(ErrorKind::WrongState, s),
            Refusal::Backpressure => Error::new(
                ErrorKind::Backpressure,
                "send buffer limit (max_buffered) reached; wait for the drain event",
            ),
            Refusal::InvalidArgument(s) => Error::invalid(s),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
