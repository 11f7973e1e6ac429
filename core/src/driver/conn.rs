//! Per-connection state. Kept small: an idle WebSocket holds its socket,
//! a few timestamps and an empty receiver; buffers are borrowed from the
//! loop only while bytes are in flight.

use super::writeq::WriteQueue;
use crate::event::{ConnId, Endpoint, Request};
use crate::proto::http::WsHandshake;
use crate::proto::ws::Receiver;
use mio::net::TcpStream;
use std::time::Instant;

pub(crate) enum Phase {
    /// Reading the request head; `buf` holds a head split across reads.
    Head { buf: Vec<u8> },
    /// A request on an `approve` route, waiting for `accept`/`reject`.
    /// Reading is paused meanwhile.
    Approval {
        endpoint: Endpoint,
        request: Box<Request>,
        handshake: Option<WsHandshake>,
        leftover: Vec<u8>,
    },
    /// An open WebSocket. `closing` is when we sent our close frame.
    /// `ending` is a close frame owed to the peer (an echo of its close, or
    /// a protocol failure) that waits until the app has handled the batch
    /// holding the messages before it, so replies to them go out first.
    WebSocket {
        rx: Receiver,
        closing: Option<Instant>,
        ending: Option<OwedClose>,
        ping_sent: bool,
    },
    /// An open event stream.
    Sse,
    /// Finished as far as the app is concerned: flushing the last bytes (an
    /// error answer, a close frame), then waiting for the peer to hang up.
    Linger { until: Instant },
}

/// How a WebSocket ends once the app has handled the current batch: the
/// close frame we owe the peer (its code, None for an empty payload, and
/// reason), or none when the peer left without a close handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwedClose {
    pub send_frame: bool,
    pub code: Option<u16>,
    pub reason: &'static str,
}

pub(crate) struct Conn {
    pub id: ConnId,
    /// The peer's address is not kept (32 bytes a connection): the request
    /// carries it, and `Server::peer_addr` asks the socket.
    pub socket: TcpStream,
    pub phase: Phase,
    pub out: WriteQueue,
    pub opened_at: Instant,
    pub last_read: Instant,
    pub last_write: Instant,
    /// The deadline this connection has in the timer heap, if any.
    pub deadline: Option<Instant>,
    /// The app knows this connection and has not yet had its close event.
    pub reported: Option<Endpoint>,
    /// In the loop's list of connections with unflushed output.
    pub dirty: bool,
    /// The queue backed up; fire `Drain` when it empties.
    pub wants_drain: bool,
    /// The socket may have unread bytes we chose not to read yet.
    pub read_ready: bool,
    /// Send FIN once the queue is flushed.
    pub shut_after_flush: bool,
    pub write_shut: bool,
    /// We have read the peer's EOF.
    pub peer_eof: bool,
    /// epoll reported the peer's hang-up; read on to EOF.
    pub hung_up: bool,
    /// The request was `HEAD`: answers carry no body.
    pub head_only: bool,
    /// permessage-deflate, if negotiated.
    pub deflate: Option<Box<super::compress::ConnDeflate>>,
    /// Topics this connection is subscribed to.
    pub topics: super::topics::Memberships,
}

impl Conn {
    pub fn new(id: ConnId, socket: TcpStream, now: Instant) -> Self {
        Conn {
            id,
            socket,
            phase: Phase::Head { buf: Vec::new() },
            out: WriteQueue::default(),
            opened_at: now,
            last_read: now,
            last_write: now,
            deadline: None,
            reported: None,
            dirty: false,
            wants_drain: false,
            read_ready: false,
            shut_after_flush: false,
            write_shut: false,
            peer_eof: false,
            hung_up: false,
            head_only: false,
            deflate: None,
            topics: Default::default(),
        }
    }

    /// Whether the app may still send on this connection.
    pub fn is_open_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket { closing: None, .. })
    }
}
