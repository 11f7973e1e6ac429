//! What one turn of the loop hands the application: a batch of flat event
//! records, numbered the same in every front, whose payloads live in one
//! reused byte arena (no allocation per message once the arena has grown to
//! the working size).

use crate::proto::http::RequestHead;
use crate::proto::{Endpoint, MessageKind};
use std::net::SocketAddr;

/// Identifies a connection. Opaque: fronts pass it through as a 64-bit
/// value (C `wsrt_conn`, Python `int`) and never look inside.
///
/// Ids are unique among live connections, and a closed connection's id is
/// not given to another until at least 2^32 further connections have been
/// accepted by its loop (at 10,000 a second, five days), so a stale id
/// does not reach a newer connection in practice. 0 is never an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

const SLOT_BITS: u32 = 24;
/// Most connections one loop can hold at once (the slot field's size).
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;

impl ConnId {
    /// Not a connection (the `conn` of a wake event).
    pub const NONE: ConnId = ConnId(0);

    /// The id from its 64-bit value (as a front got it).
    pub fn from_raw(raw: u64) -> ConnId {
        ConnId(raw)
    }

    /// The 64-bit value to hand to a front.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// A dense number (below the live connection count's high-water mark)
    /// unique among live connections: a front may use it to index a table
    /// of host objects. Reused after the connection ends; compare the id
    /// itself to tell connections apart.
    pub fn index(self) -> u32 {
        (self.0 & (MAX_SLOTS as u64 - 1)) as u32
    }

    /// `generation` is at least 1, so no id is 0.
    pub(crate) fn new(generation: u32, slot: usize) -> ConnId {
        debug_assert!(slot < MAX_SLOTS && generation != 0);
        ConnId(((generation as u64) << 32) | slot as u64)
    }

    pub(crate) fn slot(self) -> usize {
        self.index() as usize
    }
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
    pub fn method(&self) -> &str {
        &self.head.method
    }
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

/// Event types, numbered as in every front (C `WSRT_EVENT_*`, Python
/// `wsrt.EventType`, Node's batch records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventType {
    /// A request on a route that needs approval: answer with `accept` or
    /// `reject`. `request` is set; `endpoint` says what it asks for. If the
    /// client leaves first, a `Close` (WebSocket) or `SseClose` follows.
    Request = 1,
    /// A WebSocket is open. `request` is set; `data` holds the negotiated
    /// subprotocol ("" for none).
    Open = 2,
    /// A complete message in `data`; `text` tells its kind (text is valid
    /// UTF-8).
    Message = 3,
    /// The answer to an application ping, payload in `data`.
    Pong = 4,
    /// The WebSocket ended: `code` (the peer's; 1005 if its close frame had
    /// none; 1006 if it ended without a close handshake; or the code we
    /// failed it with: 1002, 1007, 1009, ...) and the reason in `data`.
    /// Exactly one per `Open`, and one per `Request` the client leaves
    /// before it is answered.
    Close = 5,
    /// An event stream is open; `request` is set.
    SseOpen = 6,
    /// An event stream ended (the client left, the app closed it, or
    /// shutdown).
    SseClose = 7,
    /// A connection whose queue had backed up has flushed everything.
    Drain = 8,
    /// A handle woke the loop.
    Wake = 9,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::Request,
        EventType::Open,
        EventType::Message,
        EventType::Pong,
        EventType::Close,
        EventType::SseOpen,
        EventType::SseClose,
        EventType::Drain,
        EventType::Wake,
    ];

    /// The name used in the fronts' constants ("MESSAGE").
    pub fn name(self) -> &'static str {
        match self {
            EventType::Request => "REQUEST",
            EventType::Open => "OPEN",
            EventType::Message => "MESSAGE",
            EventType::Pong => "PONG",
            EventType::Close => "CLOSE",
            EventType::SseOpen => "SSE_OPEN",
            EventType::SseClose => "SSE_CLOSE",
            EventType::Drain => "DRAIN",
            EventType::Wake => "WAKE",
        }
    }
}

/// No request in this record.
const NO_REQUEST: u32 = u32::MAX;

/// One event: a flat record, the same in every front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// The connection ([`ConnId::NONE`] for `Wake`).
    pub conn: ConnId,
    /// The connection's user data (see `Server::set_user_data`).
    pub user_data: usize,
    /// `Message`: a text message.
    pub text: bool,
    /// `Request`: the endpoint asked for.
    pub endpoint: Endpoint,
    /// `Close`: the close code.
    pub code: u16,
    /// Payload, reason or subprotocol, in the batch's arena.
    pub data: Span,
    request: u32,
}

impl Event {
    pub(crate) fn new(kind: EventType, conn: ConnId, user_data: usize) -> Event {
        Event {
            kind,
            conn,
            user_data,
            text: false,
            endpoint: Endpoint::WebSocket,
            code: 0,
            data: Span::default(),
            request: NO_REQUEST,
        }
    }

    /// A message's kind.
    pub fn message_kind(&self) -> MessageKind {
        if self.text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        }
    }
}

/// A batch of events, the requests they carry and the arena their payloads
/// point into. Reuse one `Events` across polls: `poll` clears it, keeping
/// its capacity.
#[derive(Debug, Default)]
pub struct Events {
    list: Vec<Event>,
    arena: Vec<u8>,
    requests: Vec<Request>,
}

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.list.clear();
        if !self.requests.is_empty() {
            self.requests.clear();
        }
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

    /// The records as a slice (the C front hands it out whole).
    pub fn as_slice(&self) -> &[Event] {
        &self.list
    }

    /// The bytes of a message, pong, close reason or subprotocol.
    pub fn bytes(&self, span: Span) -> &[u8] {
        &self.arena[span.start..span.start + span.len]
    }

    /// The arena all spans point into.
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// An event's payload.
    pub fn payload(&self, ev: &Event) -> &[u8] {
        self.bytes(ev.data)
    }

    /// A text message, close reason or subprotocol as `&str` (text is
    /// validated UTF-8; binary that is not UTF-8 reads as "").
    pub fn text(&self, ev: &Event) -> &str {
        std::str::from_utf8(self.payload(ev)).unwrap_or("")
    }

    /// The request of a `Request`, `Open` or `SseOpen` event.
    pub fn request(&self, ev: &Event) -> Option<&Request> {
        self.requests.get(ev.request as usize)
    }

    /// Every request of the batch, in event order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
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

    pub(crate) fn push_with_request(&mut self, mut ev: Event, request: Request) {
        ev.request = self.requests.len() as u32;
        self.requests.push(request);
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
