use std::fmt;

/// Why a call on the server failed.
#[derive(Debug)]
pub enum Error {
    /// The connection id is not (or no longer) open.
    UnknownConnection,
    /// The call does not fit the connection: a WebSocket send on an SSE
    /// stream, `accept` on an already open connection, and so on.
    WrongState(&'static str),
    /// The connection is closing; nothing more can be sent on it.
    Closed,
    /// Queuing this would pass `max_buffered`; nothing was queued.
    Backpressure,
    /// An argument the protocol cannot carry (close code, reason length,
    /// control payload over 125 bytes, SSE id with a newline, ...).
    InvalidArgument(&'static str),
    /// The configuration is inconsistent.
    Config(&'static str),
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownConnection => f.write_str("unknown or closed connection"),
            Error::WrongState(s) => write!(f, "wrong connection state: {s}"),
            Error::Closed => f.write_str("connection is closing"),
            Error::Backpressure => f.write_str("send buffer limit reached"),
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::Config(s) => write!(f, "invalid configuration: {s}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::proto::sse::SseError> for Error {
    fn from(e: crate::proto::sse::SseError) -> Self {
        Error::InvalidArgument(match e {
            crate::proto::sse::SseError::InvalidEvent => {
                "SSE event name must not contain CR, LF or NUL"
            }
            crate::proto::sse::SseError::InvalidId => "SSE id must not contain CR, LF or NUL",
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
