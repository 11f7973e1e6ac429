//! What one turn of the loop hands the application: a batch of events whose
//! message payloads live in one reused byte arena (no allocation per message
//! once the arena has grown to the working size).

use crate::proto::http::RequestHead;
use std::net::SocketAddr;

/// Identifies a connection for its whole life. Ids are never reused within
/// a server (a slot index plus a generation), so a stale id cannot reach a
/// newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The kind of endpoint a connection was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    WebSocket,
    Sse,
}

/// The HTTP request that opened a connection.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: RequestHead,
    pub peer: SocketAddr,
    /// WebSocket subprotocols the client offered (empty for SSE).
    pub protocols: Vec<String>,
}

impl Request {
    pub fn path(&self) -> &str {
        &self.head.path
    }
    pub fn query(&self) -> &str {
        &self.head.query
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }
    /// The SSE `Last-Event-ID` header, with which a client resumes a stream.
    pub fn last_event_id(&self) -> Option<&str> {
        self.head.header("last-event-id")
    }
}

/// A byte range in the batch's arena; read it with [`Events::bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    Binary,
}

#[derive(Debug)]
pub enum Event {
    /// A request on a route with `approve` set: answer with `accept` or
    /// `reject`. If the client leaves first, a `Close` (WebSocket) or
    /// `SseClose` follows.
    Request {
        conn: ConnId,
        endpoint: Endpoint,
        request: Box<Request>,
    },
    /// A WebSocket is open. `protocol` is the negotiated subprotocol.
    Open {
        conn: ConnId,
        request: Box<Request>,
        protocol: Option<String>,
    },
    /// A complete message. Text is valid UTF-8.
    Message {
        conn: ConnId,
        kind: MessageKind,
        data: Span,
    },
    /// The answer to an application ping.
    Pong { conn: ConnId, data: Span },
    /// The WebSocket is closed (or closing and no longer usable). `code` is
    /// the peer's close code, 1005 if its close frame had none, 1006 if the
    /// connection ended without a close handshake, or the code we failed it
    /// with (1002, 1007, 1009, ...). Exactly one per opened WebSocket, and
    /// one per `Request` the client leaves before the app answers it.
    Close {
        conn: ConnId,
        code: u16,
        reason: Span,
    },
    /// An SSE stream is open; `request.last_event_id()` tells where a
    /// reconnecting client left off.
    SseOpen { conn: ConnId, request: Box<Request> },
    /// An SSE stream ended (client left, app closed it, or shutdown).
    SseClose { conn: ConnId },
    /// A connection whose queue had backed up (a send was refused, or the
    /// socket stopped taking bytes) has flushed everything.
    Drain { conn: ConnId },
    /// `Handle::wake` was called from another thread.
    Wake,
}

/// A batch of events plus the arena their payloads point into. Reuse one
/// `Events` across polls: `poll` clears it, keeping its capacity.
#[derive(Debug, Default)]
pub struct Events {
    pub(crate) list: Vec<Event>,
    pub(crate) arena: Vec<u8>,
}

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.list.clear();
        // Keep a working-size arena, but give back what one huge message
        // grew it to.
        if self.arena.capacity() > 4 << 20 {
            self.arena = Vec::new();
        } else {
            self.arena.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    pub fn get(&self, i: usize) -> Option<&Event> {
        self.list.get(i)
    }

    /// The bytes of a message, pong or close reason.
    pub fn bytes(&self, span: Span) -> &[u8] {
        &self.arena[span.start..span.start + span.len]
    }

    /// A text message or close reason as `&str` (lossless: both are
    /// validated UTF-8 when they are text).
    pub fn text(&self, span: Span) -> &str {
        std::str::from_utf8(self.bytes(span)).unwrap_or("")
    }

    pub(crate) fn store(&mut self, bytes: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len(),
        }
    }

    pub(crate) fn push(&mut self, ev: Event) {
        self.list.push(ev);
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}
