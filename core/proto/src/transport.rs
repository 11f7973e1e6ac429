//! What a connection on an Engine.IO route hands the driver: the
//! requests and WebSocket messages that carry a session, which lives
//! outside the connection (it outlives its requests).

use crate::http::RequestHead;
use crate::settings::MessageKind;

/// The two transports of Engine.IO v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Polling,
    WebSocket,
}

/// What an Engine.IO transport tells the driver.
#[derive(Debug)]
pub enum TransportEvent<'a> {
    /// A request for a session: answer it with one of the connection's
    /// `engine_*` calls.
    Request(EngineRequest<'a>),
    /// A message on a WebSocket transport.
    Message { kind: MessageKind, data: &'a [u8] },
    /// The WebSocket transport, or the connection of a waiting request,
    /// is gone; `failed`: closed by us for the peer's protocol error (an
    /// oversized or malformed frame).
    Gone { failed: bool },
}

/// A request to an Engine.IO route, checked as far as the connection can.
#[derive(Debug)]
pub struct EngineRequest<'a> {
    pub route: usize,
    pub transport: Transport,
    pub kind: RequestKind,
    /// The session (`None`: a handshake).
    pub sid: Option<&'a str>,
    /// A POST's body (at most `max_payload` bytes).
    pub body: &'a [u8],
    /// The request head of a handshake (the session keeps it).
    pub head: Option<Box<RequestHead>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A long poll (or a polling handshake).
    Get,
    /// Packets in a POST body.
    Post,
    /// A POST the connection refused (over `max_payload`, binary content):
    /// its session ends with "transport error". Already answered.
    RefusedPost,
    /// A WebSocket handshake (a new session, or an upgrade).
    WebSocket,
}
