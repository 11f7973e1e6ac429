//! What the state machines hand out and take in: the [`Output`] the
//! driver implements, the call context [`Cx`], the events for the
//! application, the state it sees and why a call was refused.

use crate::compress::SharedDeflate;
use crate::http::RequestHead;
use crate::settings::{Endpoint, MessageKind, Settings};
use bytes::Bytes;
use std::time::Instant;

/// Where a connection's output goes: the transport's write queue and the
/// application's event batch.
pub trait Output {
    /// Bytes queued and not yet taken by the transport.
    fn queued(&self) -> usize;
    /// Appends whatever `write` puts at the end of the buffer it is given
    /// (`need` bytes is a capacity hint).
    fn append(&mut self, need: usize, write: impl FnOnce(&mut Vec<u8>));
    /// Appends a frame's header and a copy of its payload (the queue
    /// decides whether a large payload gets a buffer of its own).
    fn append_frame(&mut self, header: &[u8], payload: &[u8]);
    /// Queues bytes shared with other connections, without copying.
    fn push_shared(&mut self, bytes: Bytes);
    /// Hands an event to the application.
    fn event(&mut self, event: ConnEvent<'_>);
}

/// The context of every call: the time, the settings, the loop-wide
/// compression contexts and where output goes (held by value: the driver's
/// output is a bundle of references, made for the call).
pub struct Cx<'a, O: Output> {
    pub now: Instant,
    pub settings: &'a Settings,
    pub shared: &'a mut SharedDeflate,
    pub out: O,
}

impl<T: Output + ?Sized> Output for &mut T {
    fn queued(&self) -> usize {
        (**self).queued()
    }
    fn append(&mut self, need: usize, write: impl FnOnce(&mut Vec<u8>)) {
        (**self).append(need, write)
    }
    fn append_frame(&mut self, header: &[u8], payload: &[u8]) {
        (**self).append_frame(header, payload)
    }
    fn push_shared(&mut self, bytes: Bytes) {
        (**self).push_shared(bytes)
    }
    fn event(&mut self, event: ConnEvent<'_>) {
        (**self).event(event)
    }
}

/// What a connection tells the application.
#[derive(Debug)]
pub enum ConnEvent<'a> {
    /// A request on a route that needs approval: answer it with
    /// [`Connection::accept`] or [`Connection::reject`]. `protocols` are the
    /// WebSocket subprotocols offered.
    Request {
        endpoint: Endpoint,
        head: Box<RequestHead>,
        protocols: Vec<String>,
    },
    /// A WebSocket is open, with the negotiated subprotocol.
    Open {
        head: Box<RequestHead>,
        protocol: Option<String>,
    },
    /// An event stream is open.
    SseOpen { head: Box<RequestHead> },
    /// A complete message (text is valid UTF-8). `buffer`: the message's
    /// own buffer, when it was gathered across reads (`data` is all of
    /// it), which the driver may keep instead of copying `data`.
    Message {
        kind: MessageKind,
        data: &'a [u8],
        buffer: Option<&'a Bytes>,
    },
    /// The answer to a ping the application sent.
    Pong { data: &'a [u8] },
    /// The WebSocket (or the request awaiting approval) ended: the peer's
    /// code (1005 when its close frame had none), 1006 when it ended
    /// without a close handshake, or the code we failed it with.
    Close { code: u16, reason: &'a str },
    /// The event stream (or the request awaiting approval) ended.
    SseClose,
    /// For the driver, not the application: an Engine.IO transport's
    /// request, message or end.
    Transport(crate::transport::TransportEvent<'a>),
}

/// The state of a connection as the application sees it, numbered as the
/// browser's `WebSocket.readyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnState {
    /// The request is waiting for the application's approval.
    Connecting = 0,
    /// Messages and events can be sent.
    Open = 1,
    /// The application started the close handshake; nothing more can be
    /// sent, the end is not yet reported.
    Closing = 2,
    /// The application has been told the connection ended (or it never
    /// knew it). Replies to messages of the batch that reported the end
    /// still go out, ahead of the close frame.
    Closed = 3,
}

impl ConnState {
    pub const ALL: [ConnState; 4] = [
        ConnState::Connecting,
        ConnState::Open,
        ConnState::Closing,
        ConnState::Closed,
    ];

    /// The name the fronts' constants use ("OPEN").
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Connecting => "CONNECTING",
            ConnState::Open => "OPEN",
            ConnState::Closing => "CLOSING",
            ConnState::Closed => "CLOSED",
        }
    }
}

/// Why an application call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The connection is closing or closed.
    Closed,
    /// The call does not fit the connection's kind or phase.
    WrongState(&'static str),
    /// Queuing it would pass `max_buffered`; nothing was queued.
    Backpressure,
    /// An argument the protocol cannot carry.
    InvalidArgument(&'static str),
}
