//! Engine.IO v4 sessions and Socket.IO v5 on top of them, sans I/O.
//!
//! - [`http`]: what a request to an Engine.IO route asks for, the
//!   reference server's errors, the long-polling answers and CORS;
//! - [`EngineSession`]: one session (heartbeat, transports, upgrade,
//!   packets in and out, its end);
//! - `socketio`: namespaces, sockets, events, acks and binary
//!   attachments, inside a session of a Socket.IO route.
//!
//! The codecs are [`crate::eio`] and [`crate::sio`].

pub mod http;
mod session;
mod socketio;

pub use session::{EngineSession, Gone, Via};
pub use socketio::{AckOutcome, SioError, RECOVERABLE_REASONS};

use crate::http::RequestHead;
use crate::output::Refusal;
use crate::settings::{MessageKind, Settings};
use std::time::Instant;

/// Why a session ended, as the reference server names it.
pub mod reason {
    pub const TRANSPORT_CLOSE: &str = "transport close";
    pub const TRANSPORT_ERROR: &str = "transport error";
    pub const PING_TIMEOUT: &str = "ping timeout";
    pub const PARSE_ERROR: &str = "parse error";
    pub const FORCED_CLOSE: &str = "forced close";
    pub const FORCED_SERVER_CLOSE: &str = "forced server close";
    pub const SERVER_SHUTTING_DOWN: &str = "server shutting down";
}

/// What the Socket.IO layer needs from the Engine.IO session it rides on
/// (the session owns the layer, so the layer sees it only through this).
pub(crate) trait Carrier {
    /// The index of the session's route in the settings.
    fn route(&self) -> usize;
    /// Refuses (or ends the session, per the overflow policy) what would
    /// pass `max_buffered`.
    fn check_room<O: SessionOutput>(
        &mut self,
        len: usize,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal>;
    /// Queues an encoded text packet (`4...`) and its binary attachments.
    fn push_encoded<O: SessionOutput>(
        &mut self,
        text: &[u8],
        binaries: &[&[u8]],
        cx: &mut EngineCx<'_, O>,
    );
}

/// The context of a session call: the time, the settings, a scratch
/// buffer for encoding, and where output goes.
pub struct EngineCx<'a, O: SessionOutput> {
    pub now: Instant,
    pub settings: &'a Settings,
    pub scratch: &'a mut Vec<u8>,
    pub out: O,
}

/// What a session's driver provides: its WebSocket, the application's
/// events, and the identities of Socket.IO sockets.
pub trait SessionOutput {
    /// Sends a message on the session's WebSocket: the transport, or the
    /// one probing to become it (a session has at most one at a time).
    fn ws_send(&mut self, kind: MessageKind, data: &[u8]);
    /// Bytes queued on that WebSocket and not yet written.
    fn ws_queued(&self) -> usize;
    /// Hands an event to the application.
    fn event(&mut self, event: SessionEvent<'_>);
    /// A new Socket.IO socket on namespace `nsp`: its handle (for the
    /// events), its public id and, with recovery on, its private id.
    fn new_socket(&mut self, nsp: &str) -> SocketKey;
    /// The socket that disconnected with private id `pid`, if it may
    /// still be recovered after `offset` (the last broadcast the client
    /// got); its missed packets follow its CONNECT.
    fn recover_socket(&mut self, nsp: &str, pid: &str, offset: &str) -> Option<SocketKey>;
}

/// Who a Socket.IO socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketKey {
    pub handle: u64,
    pub sid: String,
    pub pid: Option<String>,
}

/// JSON text in two pieces (an event's arguments are its array without
/// the name: `[` and the rest), read as their concatenation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonText<'a>(pub &'a str, pub &'a str);

impl JsonText<'_> {
    pub fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for JsonText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)?;
        f.write_str(self.1)
    }
}

/// What a session tells the application.
#[derive(Debug)]
pub enum SessionEvent<'a> {
    /// A plain Engine.IO session is open.
    Open { head: Box<RequestHead> },
    /// A plain Engine.IO message.
    Message { kind: MessageKind, data: &'a [u8] },
    /// A plain Engine.IO session ended, for this reason.
    Close { reason: &'a str },
    /// A connection to namespace `nsp` awaits the application's approval.
    SocketRequest {
        socket: u64,
        nsp: &'a str,
        auth: &'a str,
        head: RequestHead,
    },
    /// A socket is connected to namespace `nsp` (`recovered`: the same
    /// socket as before a dropped connection, with its rooms).
    SocketOpen {
        socket: u64,
        nsp: &'a str,
        auth: &'a str,
        head: RequestHead,
        recovered: bool,
    },
    /// A named event with its arguments (a JSON array; binary arguments
    /// are placeholders `{"_placeholder":true,"num":n}` for
    /// `attachments[n]`), and the id to acknowledge it with, if the
    /// client asked.
    Event {
        socket: u64,
        name: &'a str,
        args: JsonText<'a>,
        attachments: &'a [Vec<u8>],
        ack: Option<u64>,
    },
    /// The answer to a server emit with an ack (or why none came).
    Ack {
        socket: u64,
        id: u64,
        outcome: AckOutcome,
        args: &'a str,
        attachments: &'a [Vec<u8>],
    },
    /// The socket left its namespace, for this reason (a request awaiting
    /// approval ends this way too when the client leaves first).
    SocketClose { socket: u64, reason: &'a str },
}
