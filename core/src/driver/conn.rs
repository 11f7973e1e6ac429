//! What the loop keeps per connection: the socket, the protocol state
//! machine, the write queue and a few flags. Kept small: an idle WebSocket
//! holds its socket, its protocol state and an empty queue; buffers are
//! borrowed from the loop only while bytes are in flight.

use super::inbox::TransportInbox;
use super::stream::Stream;
use super::topics::Memberships;
use super::writeq::{BufferPool, WriteQueue, COPY_INTO_POOL_LIMIT};
use crate::event::{ConnId, Event, EventType, Events, Request};
use crate::proto::http::PackedHead;
use crate::proto::{ConnEvent, Connection, Endpoint, MessageKind, Output};
use crate::tls::TlsInfo;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

/// A payload of at least this size that lies in a lent read-buffer part is
/// queued as a share of it rather than copied. Smaller ones are copied into
/// the queue's pooled buffer, where they join neighbouring frames in one
/// write.
const SHARE_LENT_FROM: usize = 32 * 1024;

/// The part of `handed` (in address order, not overlapping) that holds
/// `payload`, if one does.
fn lent_part<'a>(handed: &'a [Bytes], payload: &[u8]) -> Option<&'a Bytes> {
    let at = payload.as_ptr() as usize;
    let after = handed.partition_point(|p| p.as_ptr() as usize <= at);
    let part = handed[..after].last()?;
    let start = part.as_ptr() as usize;
    (at + payload.len() <= start + part.len()).then_some(part)
}

/// Headers the WebSocket handshake consumed and answered: a WebSocket does
/// not keep them past its open event.
const HANDSHAKE_HEADERS: [&str; 5] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// The request an open WebSocket or event stream keeps, for
/// `Server::request` and for its close event: one allocation, the peer's
/// address packed before the head, a WebSocket's without the handshake's
/// own headers (about 50 bytes for a browser-less client's request, where
/// the whole request would cost an allocation per header). The TLS details
/// are read from the socket when asked for.
#[derive(Debug)]
pub(super) struct KeptRequest(PackedHead);

impl KeptRequest {
    pub fn keep(r: &Request, websocket: bool) -> KeptRequest {
        // `protocols` is read back from Sec-WebSocket-Protocol, which is
        // kept only when it offered some (an event stream offers none).
        let offered = !r.protocols.is_empty();
        let keep = |name: &str| {
            let handshake = websocket
                && HANDSHAKE_HEADERS
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h));
            !handshake && (offered || !name.eq_ignore_ascii_case("sec-websocket-protocol"))
        };
        KeptRequest(PackedHead::pack_with(&r.head, &r.peer.to_string(), keep))
    }

    pub fn request(&self, tls: Option<TlsInfo>) -> Request {
        let (peer, head) = self.0.unpack_with();
        let protocols = head
            .header_tokens("sec-websocket-protocol")
            .map(String::from)
            .collect();
        Request {
            head,
            peer: peer.parse().unwrap_or(UNKNOWN_PEER),
            protocols,
            tls: tls.map(Box::new),
        }
    }
}

/// The request of a connection whose close event is in the batch the
/// application is handling: `Server::request` still serves it until the
/// next poll, as the close event carries it (a reset connection is gone
/// from the table at once).
pub(super) struct EndedRequest {
    pub id: ConnId,
    pub kept: KeptRequest,
    pub tls: Option<TlsInfo>,
}

impl EndedRequest {
    pub fn request(&self) -> Request {
        self.kept.request(self.tls.clone())
    }
}

/// The peer of a client that left before its address was asked for.
const UNKNOWN_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

pub(super) struct Conn {
    pub id: ConnId,
    /// The socket (plain or TLS). The peer's address is not kept (32
    /// bytes a connection): requests carry it, and `peer_addr` asks the
    /// socket.
    pub socket: Stream,
    pub proto: Connection,
    pub out: WriteQueue,
    /// The deadline this connection has in the timer heap, if any.
    pub armed: Option<Instant>,
    /// The protocol's schedule key when `armed` was last considered: while
    /// it is unchanged, the deadline can only have moved later.
    pub schedule_key: u8,
    /// The application's value for this connection (a C pointer).
    pub user_data: usize,
    /// Topics this connection is subscribed to.
    pub topics: Memberships,
    /// In the loop's list of connections with unflushed output.
    pub dirty: bool,
    /// The queue backed up; fire `Drain` when it empties.
    pub wants_drain: bool,
    /// The socket may have unread bytes we chose not to read yet.
    pub read_ready: bool,
    /// We sent FIN.
    pub write_shut: bool,
    /// We have read the peer's EOF.
    pub peer_eof: bool,
    /// epoll reported the peer's hang-up; read on to EOF.
    pub hung_up: bool,
    /// In the loop's list of connections owing a close frame.
    pub owes: bool,
    /// The Engine.IO session this connection carries (its WebSocket or
    /// its parked poll), or `ConnId::NONE`.
    pub session: ConnId,
    /// From its open event until its close event (then in the loop's
    /// `EndedRequest`s until the next poll).
    pub request: Option<KeptRequest>,
}

impl Conn {
    pub fn new(id: ConnId, socket: Stream, now: Instant) -> Self {
        Conn {
            id,
            socket,
            proto: Connection::new(now),
            out: WriteQueue::default(),
            armed: None,
            schedule_key: 0,
            user_data: 0,
            topics: Memberships::default(),
            dirty: false,
            wants_drain: false,
            read_ready: false,
            write_shut: false,
            peer_eof: false,
            hung_up: false,
            owes: false,
            session: ConnId::NONE,
            request: None,
        }
    }
}

impl Conn {
    /// Its protocol state machine and its [`Output`], borrowed together.
    pub fn parts<'a>(
        &'a mut self,
        pool: &'a mut BufferPool,
        events: &'a mut Events,
        inbox: &'a mut TransportInbox,
        ended: &'a mut Vec<EndedRequest>,
    ) -> (&'a mut Connection, ConnOut<'a>) {
        let out = ConnOut {
            queue: &mut self.out,
            pool,
            events,
            inbox,
            socket: &self.socket,
            id: self.id,
            user_data: self.user_data,
            session: self.session,
            request: &mut self.request,
            ended,
            handed: &[],
        };
        (&mut self.proto, out)
    }
}

/// A connection's [`Output`]: its write queue (with the loop's buffer
/// pool) and the loop's event batch.
pub(super) struct ConnOut<'a> {
    pub queue: &'a mut WriteQueue,
    pub pool: &'a mut BufferPool,
    pub events: &'a mut Events,
    /// Where an Engine.IO transport's requests, messages and end go.
    pub inbox: &'a mut TransportInbox,
    pub socket: &'a Stream,
    pub id: ConnId,
    pub user_data: usize,
    pub session: ConnId,
    /// The connection's kept request: set at its open event, moved to
    /// `ended` at its close event.
    pub request: &'a mut Option<KeptRequest>,
    pub ended: &'a mut Vec<EndedRequest>,
    /// The read-buffer parts of the batch the application holds (empty
    /// where no application payload can arrive).
    pub handed: &'a [Bytes],
}

impl ConnOut<'_> {
    fn request(&self, head: crate::proto::http::RequestHead, protocols: Vec<String>) -> Request {
        Request {
            head,
            // One getpeername per connection rather than 32 bytes held by
            // every one; a client already gone leaves the unspecified
            // address.
            peer: self.socket.tcp().peer_addr().unwrap_or(UNKNOWN_PEER),
            protocols,
            tls: self.socket.tls_info().map(Box::new),
        }
    }

    /// An open event, whose request the connection keeps from now on.
    fn open(&mut self, ev: Event, request: Request) {
        let websocket = ev.kind == EventType::Open;
        *self.request = Some(KeptRequest::keep(&request, websocket));
        self.events.push_with_request(ev, request);
    }

    /// A close event, which carries the request the connection kept (none
    /// for a request the client left before it was answered).
    fn close(&mut self, ev: Event) {
        match self.request.take() {
            Some(kept) => {
                let ended = EndedRequest {
                    id: self.id,
                    kept,
                    tls: self.socket.tls_info(),
                };
                self.events.push_with_request(ev, ended.request());
                self.ended.push(ended);
            }
            None => self.events.push(ev),
        }
    }
}

impl Output for ConnOut<'_> {
    fn queued(&self) -> usize {
        self.queue.len()
    }

    fn append(&mut self, need: usize, write: impl FnOnce(&mut Vec<u8>)) {
        self.queue.append_with(self.pool, need, write);
    }

    fn append_frame(&mut self, header: &[u8], payload: &[u8]) {
        if payload.len() >= SHARE_LENT_FROM {
            if let Some(part) = lent_part(self.handed, payload) {
                // A reply with a received payload (an echo, a relay): the
                // read buffer's bytes go out as they are. The share keeps
                // its read block from reuse until written; if the socket
                // stops taking bytes, the queue copies it (`unpin`).
                self.queue.append(self.pool, header);
                self.queue.push_lent(part.slice_ref(payload));
                return;
            }
        }
        if payload.len() > COPY_INTO_POOL_LIMIT {
            self.queue.append(self.pool, header);
            self.queue.push_shared(Bytes::copy_from_slice(payload));
        } else {
            self.queue
                .append_with(self.pool, header.len() + payload.len(), |v| {
                    v.extend_from_slice(header);
                    v.extend_from_slice(payload);
                });
        }
    }

    fn push_shared(&mut self, bytes: Bytes) {
        self.queue.push_shared(bytes);
    }

    fn event(&mut self, event: ConnEvent<'_>) {
        let (id, user_data) = (self.id, self.user_data);
        let new = |kind| Event::new(kind, id, user_data);
        match event {
            // The hot path first: one record, the payload into the arena.
            ConnEvent::Message { kind, data, buffer } => {
                let mut ev = new(EventType::Message);
                ev.text = kind == MessageKind::Text;
                ev.data = match buffer {
                    Some(b) => self.events.store_part(b.clone()),
                    None => self.events.store(data),
                };
                self.events.push(ev);
            }
            ConnEvent::Request {
                endpoint,
                head,
                protocols,
            } => {
                let mut ev = new(EventType::Request);
                ev.endpoint = endpoint;
                let request = self.request(*head, protocols);
                self.events.push_with_request(ev, request);
            }
            ConnEvent::Open { head, protocol } => {
                let mut ev = new(EventType::Open);
                if let Some(p) = &protocol {
                    ev.data = self.events.store(p.as_bytes());
                }
                let protocols = head
                    .header_tokens("sec-websocket-protocol")
                    .map(String::from)
                    .collect();
                let request = self.request(*head, protocols);
                self.open(ev, request);
            }
            ConnEvent::SseOpen { head } => {
                let mut ev = new(EventType::SseOpen);
                ev.endpoint = Endpoint::Sse;
                let request = self.request(*head, Vec::new());
                self.open(ev, request);
            }
            ConnEvent::Pong { data } => {
                let mut ev = new(EventType::Pong);
                ev.data = self.events.store(data);
                self.events.push(ev);
            }
            ConnEvent::Close { code, reason } => {
                let mut ev = new(EventType::Close);
                ev.code = code;
                ev.data = self.events.store(reason.as_bytes());
                self.close(ev);
            }
            ConnEvent::SseClose => {
                let mut ev = new(EventType::SseClose);
                ev.endpoint = Endpoint::Sse;
                self.close(ev);
            }
            ConnEvent::Transport(t) => self.inbox.push(id, self.session, t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_found_only_inside_one_handed_part() {
        let block = Bytes::from(vec![7u8; 1000]);
        let mut handed = vec![
            block.slice(600..900),
            block.slice(0..300),
            Bytes::from(vec![1u8; 50]),
        ];
        handed.sort_unstable_by_key(|p| p.as_ptr() as usize);
        let found = |s: &[u8]| lent_part(&handed, s).map(|p| p.as_ptr());
        assert_eq!(found(&block[10..300]), Some(block[..].as_ptr()));
        assert_eq!(found(&block[600..650]), Some(block[600..].as_ptr()));
        assert_eq!(found(&block[290..310]), None, "runs past its part");
        assert_eq!(found(&block[300..400]), None, "between parts");
        assert_eq!(found(&[1u8; 50]), None, "equal bytes elsewhere");
    }
}
