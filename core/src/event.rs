//! What one turn of the loop hands the application: a batch of flat event
//! records, numbered the same in every front, whose payloads live in one
//! reused byte arena (no allocation per message once the arena has grown to
//! the working size) or, for a payload that arrived whole in one read, in
//! the loop's read buffer itself, lent to the batch (no copy at all).

use crate::proto::http::RequestHead;
use crate::proto::{Endpoint, MessageKind};
use bytes::Bytes;
use std::net::SocketAddr;

/// Identifies what the application talks to: a WebSocket or SSE
/// connection, a plain Engine.IO session, or a Socket.IO socket. Opaque:
/// fronts pass it through as a 64-bit value (C `wsrt_conn`, Python `int`)
/// and never look inside.
///
/// Ids are unique among live connections, and a closed connection's id is
/// not given to another until at least 2^29 further connections have been
/// accepted by its loop (at 10,000 a second, fifteen hours), so a stale
/// id does not reach a newer connection in practice. 0 is never an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// `loop_bits:3 | generation:29 | loop:6 | kind:2 | slot:24`, where
/// `loop_bits` is how many bits the server's loop numbers take (0 with one
/// loop, 1 with two, ...): [`ConnId::index`] needs it to stay small.
const SLOT_BITS: u32 = 24;
const KIND_SHIFT: u32 = SLOT_BITS;
const LOOP_SHIFT: u32 = KIND_SHIFT + 2;
const GENERATION_SHIFT: u32 = 32;
const LOOP_BITS_SHIFT: u32 = 61;
/// Most connections one loop can hold at once (the slot field's size).
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;
/// Most loops one server runs (the loop field's size).
pub(crate) const MAX_LOOPS: usize = 64;
/// Generations count up to this and start again at 1.
pub(crate) const MAX_GENERATION: u32 = (1 << (LOOP_BITS_SHIFT - GENERATION_SHIFT)) - 1;

/// What an id names; each kind has its own table in the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    /// A TCP connection (WebSocket, SSE, or an Engine.IO transport).
    Conn = 0,
    /// An Engine.IO session.
    Session = 1,
    /// A Socket.IO socket.
    Socket = 2,
}

/// The bits every id a loop makes carries: which loop, and how many bits
/// the server's loop numbers take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LoopTag(u64);

impl LoopTag {
    /// Loop `index` of a server running `loops` loops.
    pub fn new(index: usize, loops: usize) -> LoopTag {
        debug_assert!(index < loops && loops <= MAX_LOOPS);
        let bits = usize::BITS - (loops - 1).leading_zeros();
        LoopTag((bits as u64) << LOOP_BITS_SHIFT | (index as u64) << LOOP_SHIFT)
    }

    pub fn index(self) -> usize {
        ((self.0 >> LOOP_SHIFT) & 63) as usize
    }
}

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

    /// A small number (below four times the high-water mark of live
    /// connections, sessions and sockets of the busiest loop, times the
    /// number of loops rounded up to a power of two) unique among live
    /// ids: a front may use it to index a table of host objects. Reused
    /// after the connection ends; compare the id itself to tell
    /// connections apart.
    pub fn index(self) -> u32 {
        let bits = (self.0 >> LOOP_BITS_SHIFT) as u32;
        let per_loop = (self.slot() as u32) << 2 | ((self.0 >> KIND_SHIFT) & 3) as u32;
        per_loop << bits | self.loop_index() as u32
    }

    /// `generation` is at least 1, so no id is 0.
    pub(crate) fn new(generation: u32, kind: IdKind, slot: usize) -> ConnId {
        debug_assert!(slot < MAX_SLOTS && generation != 0 && generation <= MAX_GENERATION);
        ConnId(
            ((generation as u64) << GENERATION_SHIFT) | (kind as u64) << KIND_SHIFT | slot as u64,
        )
    }

    /// The id as made by the loop `tag` names.
    pub(crate) fn tagged(self, tag: LoopTag) -> ConnId {
        const TAG_MASK: u64 = 7 << LOOP_BITS_SHIFT | 63 << LOOP_SHIFT;
        ConnId(self.0 & !TAG_MASK | tag.0)
    }

    /// The loop that owns the connection: 0 to `workers` - 1 (0 with one
    /// loop). A thread-per-core program may keep its state per loop.
    pub fn loop_index(self) -> usize {
        ((self.0 >> LOOP_SHIFT) & 63) as usize
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 & (MAX_SLOTS as u64 - 1)) as usize
    }

    pub(crate) fn kind(self) -> IdKind {
        match (self.0 >> KIND_SHIFT) & 3 {
            1 => IdKind::Session,
            2 => IdKind::Socket,
            _ => IdKind::Conn,
        }
    }
}

/// The next generation after `g` (1 after [`MAX_GENERATION`]).
pub(crate) fn next_generation(g: u32) -> u32 {
    match g >= MAX_GENERATION {
        true => 1,
        false => g + 1,
    }
}

/// The HTTP request that opened a connection.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: RequestHead,
    pub peer: SocketAddr,
    /// WebSocket subprotocols the client offered (empty for SSE).
    pub protocols: Vec<String>,
    /// The TLS handshake (`None` on a plain connection).
    pub tls: Option<Box<crate::tls::TlsInfo>>,
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

/// A byte range of the batch; read it with [`Events::bytes`]. `start` is
/// an offset in the arena unless the bytes are lent (see
/// [`Events::unlend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
    /// 0: in the arena; k: in the batch's lent part k - 1.
    part: u32,
}

impl Span {
    /// Whether the bytes are lent rather than in the arena (after
    /// [`Events::unlend_small`], only a large message's).
    pub fn is_lent(&self) -> bool {
        self.part != 0
    }
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
    /// before it is answered. For a WebSocket that was open, `request` is
    /// the one it kept (see `Server::request`).
    Close = 5,
    /// An event stream is open; `request` is set.
    SseOpen = 6,
    /// An event stream ended (the client left, the app closed it, or
    /// shutdown). For a stream that was open, `request` is the one it
    /// kept.
    SseClose = 7,
    /// A connection whose queue had backed up has flushed everything.
    Drain = 8,
    /// A handle woke the loop.
    Wake = 9,
    /// A Socket.IO event: its name in `name`, its arguments (a JSON array
    /// whose binary arguments are placeholders for the event's
    /// attachments) in `data`, and `ack` the id to acknowledge it with
    /// ([`NO_ACK`]: the client asked for none).
    SioEvent = 10,
    /// The answer to an emit with an ack: `ack` is the id the emit
    /// returned, `code` an [`AckOutcome`](crate::AckOutcome) (0 answered,
    /// 1 timed out, 2 disconnected), `data` the client's arguments (a JSON
    /// array, with placeholders for the attachments).
    SioAck = 11,
}

/// The `ack` of an event the client wants no acknowledgement for.
pub const NO_ACK: u64 = u64::MAX;

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::Request,
        EventType::Open,
        EventType::Message,
        EventType::Pong,
        EventType::Close,
        EventType::SseOpen,
        EventType::SseClose,
        EventType::Drain,
        EventType::Wake,
        EventType::SioEvent,
        EventType::SioAck,
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
            EventType::SioEvent => "SIO_EVENT",
            EventType::SioAck => "SIO_ACK",
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
    /// `Request`, `Open`, `Close`: what the connection is.
    pub endpoint: Endpoint,
    /// `Open` of a Socket.IO socket: the same socket as before a dropped
    /// connection, with its rooms (connection state recovery).
    pub recovered: bool,
    /// `Close`: the close code (WebSocket). `SioAck`: the outcome.
    pub code: u16,
    /// Payload, reason or subprotocol; a Socket.IO auth payload or
    /// arguments; in the batch's arena.
    pub data: Span,
    /// Socket.IO: the namespace (`Request`, `Open`) or the event's name
    /// (`SioEvent`).
    pub name: Span,
    /// `SioEvent`: the id to acknowledge with, or [`NO_ACK`]. `SioAck`:
    /// the emit's ack id.
    pub ack: u64,
    /// `SioEvent`, `SioAck`: the binary attachments, read with
    /// [`Events::attachments`].
    attachments: (u32, u32),
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
            recovered: false,
            code: 0,
            data: Span::default(),
            name: Span::default(),
            ack: NO_ACK,
            attachments: (0, 0),
            request: NO_REQUEST,
        }
    }

    /// How many binary attachments the event carries.
    pub fn attachment_count(&self) -> usize {
        self.attachments.1 as usize
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
    /// Read-buffer parts that payloads of this batch point into.
    parts: Vec<Bytes>,
    /// While the loop hands a read to the protocol: the address range of
    /// its bytes (payloads inside it are lent, not copied), and the part
    /// number kept for them once one is (0: none yet).
    lendable: (usize, usize),
    lending_part: u32,
    requests: Vec<Request>,
    attachments: Vec<Span>,
}

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.parts.clear();
        if !self.requests.is_empty() {
            self.requests.clear();
        }
        self.attachments.clear();
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
        let from = match span.part {
            0 => &self.arena[..],
            k => &self.parts[k as usize - 1][..],
        };
        &from[span.start..span.start + span.len]
    }

    /// The arena, which every span points into once [`Events::unlend`] has
    /// run.
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// The read-buffer parts lent to this batch.
    pub(crate) fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Copies every lent payload into the arena, for a front that hands
    /// the arena over whole: then every span's `start` is an arena offset.
    pub fn unlend(&mut self) {
        self.unlend_small(usize::MAX);
    }

    /// [`Events::unlend`], except that the data of a message of `keep_from`
    /// bytes or more stays where it is (its span [`Span::is_lent`]): a
    /// front that gives each large message a buffer of its own (Node)
    /// copies it once, from the read, rather than into the arena and out
    /// again with the rest.
    pub fn unlend_small(&mut self, keep_from: usize) {
        if self.parts.is_empty() {
            return;
        }
        let Events {
            list,
            arena,
            parts,
            attachments,
            ..
        } = self;
        let mut settle = |span: &mut Span| {
            if span.part != 0 {
                let bytes = &parts[span.part as usize - 1][span.start..span.start + span.len];
                span.start = arena.len();
                span.part = 0;
                arena.extend_from_slice(bytes);
            }
        };
        let mut kept = false;
        for ev in list.iter_mut() {
            match ev.kind == EventType::Message && ev.data.len >= keep_from {
                true => kept |= ev.data.part != 0,
                false => settle(&mut ev.data),
            }
            settle(&mut ev.name);
        }
        attachments.iter_mut().for_each(settle);
        if !kept {
            parts.clear();
        }
    }

    /// Payloads inside `region` (the read the protocol is handed next) are
    /// lent rather than copied, until [`Events::end_lending`].
    pub(crate) fn lend_from(&mut self, region: &[u8]) {
        self.lending_part = 0;
        self.lendable = (region.as_ptr() as usize, region.len());
    }

    /// Ends lending; true if a payload was lent, in which case the caller
    /// must hand the region's bytes over with [`Events::set_lent_part`].
    pub(crate) fn end_lending(&mut self) -> bool {
        self.lendable = (0, 0);
        self.lending_part != 0
    }

    /// The bytes of the region lending ended on.
    pub(crate) fn set_lent_part(&mut self, part: Bytes) {
        self.parts[self.lending_part as usize - 1] = part;
    }

    /// A payload that has a buffer of its own (a message gathered across
    /// reads), kept rather than copied.
    pub(crate) fn store_part(&mut self, part: Bytes) -> Span {
        let len = part.len();
        self.parts.push(part);
        Span {
            start: 0,
            len,
            part: self.parts.len() as u32,
        }
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

    /// A Socket.IO event's name or namespace.
    pub fn name(&self, ev: &Event) -> &str {
        std::str::from_utf8(self.bytes(ev.name)).unwrap_or("")
    }

    /// The spans of an event's binary attachments, in order.
    pub fn attachment_spans(&self, ev: &Event) -> &[Span] {
        let (start, count) = ev.attachments;
        &self.attachments[start as usize..(start + count) as usize]
    }

    /// An event's binary attachments, in order.
    pub fn attachments<'a>(&'a self, ev: &Event) -> impl Iterator<Item = &'a [u8]> + 'a {
        let spans = self.attachment_spans(ev);
        spans.iter().map(|s| self.bytes(*s))
    }

    /// The request of a `Request`, `Open` or `SseOpen` event, and of the
    /// `Close` or `SseClose` of a connection that was open.
    pub fn request(&self, ev: &Event) -> Option<&Request> {
        self.requests.get(ev.request as usize)
    }

    /// Every request of the batch, in event order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    pub(crate) fn store(&mut self, bytes: &[u8]) -> Span {
        let (from, len) = self.lendable;
        let at = (bytes.as_ptr() as usize).wrapping_sub(from);
        if !bytes.is_empty() && at < len && bytes.len() <= len - at {
            if self.lending_part == 0 {
                // The part's place is taken at the first payload lent (a
                // message gathered across reads may add a part of its own
                // before the read's bytes are handed over).
                self.parts.push(Bytes::new());
                self.lending_part = self.parts.len() as u32;
            }
            return Span {
                start: at,
                len: bytes.len(),
                part: self.lending_part,
            };
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len(),
            part: 0,
        }
    }

    /// Stores text given in two pieces as one span.
    pub(crate) fn store2(&mut self, a: &str, b: &str) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(a.as_bytes());
        self.arena.extend_from_slice(b.as_bytes());
        Span {
            start,
            len: a.len() + b.len(),
            part: 0,
        }
    }

    /// Stores an event's attachments.
    pub(crate) fn store_attachments(&mut self, ev: &mut Event, parts: &[Vec<u8>]) {
        let start = self.attachments.len() as u32;
        for p in parts {
            let span = self.store(p);
            self.attachments.push(span);
        }
        ev.attachments = (start, parts.len() as u32);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message(events: &mut Events, data: &[u8]) {
        let mut ev = Event::new(EventType::Message, ConnId(1), 0);
        ev.data = events.store(data);
        events.push(ev);
    }

    #[test]
    fn payloads_in_the_read_are_lent_and_others_copied() {
        let mut events = Events::new();
        let read = Bytes::from_static(b"hello world");
        let elsewhere = b"copied".to_vec();
        events.lend_from(&read);
        message(&mut events, &read[6..]);
        message(&mut events, &elsewhere);
        // A gathered message adds its part while the read is lent.
        let gathered = events.store_part(Bytes::from_static(b"gathered"));
        assert!(events.end_lending());
        events.set_lent_part(read.clone());
        let texts: Vec<&[u8]> = events.iter().map(|e| events.payload(e)).collect();
        assert_eq!(texts, [&b"world"[..], b"copied"]);
        assert_eq!(events.bytes(gathered), b"gathered");
        assert_eq!(
            events.arena(),
            b"copied",
            "only the other payload was copied"
        );
        assert!(std::ptr::eq(events.payload(&events.list[0]), &read[6..]));
    }

    #[test]
    fn a_part_gathered_before_the_first_lent_payload_keeps_its_number() {
        let mut events = Events::new();
        let read = Bytes::from_static(b"tail");
        events.lend_from(&read);
        let gathered = events.store_part(Bytes::from_static(b"gathered first"));
        message(&mut events, &read);
        assert!(events.end_lending());
        events.set_lent_part(read.clone());
        assert_eq!(events.bytes(gathered), b"gathered first");
        assert_eq!(events.payload(&events.list[0]), b"tail");
        assert_eq!(events.parts().len(), 2);
    }

    #[test]
    fn a_read_nothing_was_lent_from_leaves_no_part() {
        let mut events = Events::new();
        let read = Bytes::from_static(b"abc");
        events.lend_from(&read);
        message(&mut events, b"xyz");
        assert!(!events.end_lending());
        assert!(events.parts().is_empty());
        // Nothing outside a read is lent once lending ended.
        message(&mut events, &read);
        assert_eq!(events.arena(), b"xyzabc");
    }

    #[test]
    fn unlend_moves_every_payload_into_the_arena() {
        let mut events = Events::new();
        let read = Bytes::from_static(b"one two");
        events.lend_from(&read);
        message(&mut events, &read[..3]);
        message(&mut events, b"copied");
        assert!(events.end_lending());
        events.set_lent_part(read.clone());
        let mut ev = Event::new(EventType::Message, ConnId(1), 0);
        ev.data = events.store_part(Bytes::from_static(b"own buffer"));
        events.push(ev);
        events.unlend();
        assert!(events.parts().is_empty());
        let spans: Vec<(usize, usize)> =
            events.iter().map(|e| (e.data.start, e.data.len)).collect();
        assert_eq!(events.arena(), b"copiedoneown buffer");
        assert_eq!(spans, [(6, 3), (0, 6), (9, 10)]);
        let texts: Vec<&[u8]> = events.iter().map(|e| events.payload(e)).collect();
        assert_eq!(texts, [&b"one"[..], b"copied", b"own buffer"]);
    }

    #[test]
    fn unlend_small_leaves_large_messages_lent() {
        let mut events = Events::new();
        let read = Bytes::from_static(b"small large-one");
        events.lend_from(&read);
        message(&mut events, &read[..5]);
        message(&mut events, &read[6..]);
        assert!(events.end_lending());
        events.set_lent_part(read.clone());
        events.unlend_small(6);
        let lent: Vec<bool> = events.iter().map(|e| e.data.is_lent()).collect();
        assert_eq!(lent, [false, true]);
        assert_eq!(events.arena(), b"small");
        let texts: Vec<&[u8]> = events.iter().map(|e| events.payload(e)).collect();
        assert_eq!(texts, [&b"small"[..], b"large-one"]);
        assert!(std::ptr::eq(events.payload(&events.list[1]), &read[6..]));
    }
}
