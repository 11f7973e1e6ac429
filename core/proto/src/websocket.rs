//! An open WebSocket (RFC 6455 §5-§7, RFC 7692): reading frames, automatic
//! pongs, the application's sends, pings and close, the close handshake
//! with its timeout, idle pings, failing the connection with the right
//! close code, and permessage-deflate.

use crate::compress::{self, ConnDeflate, SharedDeflate};
use crate::frame::{self, OpCode, MAX_HEADER_LEN};
use crate::output::{ConnState, Cx, Output, Refusal};
use crate::settings::{timer, DeflateConfig, MessageKind, Settings};
use crate::ws::Receiver;
use bytes::Bytes;
use std::time::Instant;

/// Inflated messages above this size do not keep the loop's inflate
/// buffer that large once delivered.
pub(crate) const KEEP_INFLATE_BUFFER: usize = 4 << 20;

pub struct WebSocket {
    pub(crate) rx: Receiver,
    pub(crate) deflate: Option<Box<ConnDeflate>>,
    pub(crate) state: WsState,
    /// When the peer last sent anything.
    pub(crate) last_read: Instant,
    /// An idle ping is out and unanswered.
    pub(crate) ping_sent: bool,
}

pub(crate) enum WsState {
    Open,
    /// We sent our close frame then; reading on for the peer's.
    Closing {
        since: Instant,
    },
    /// The application has been told the connection ended (the peer
    /// closed, hung up or broke the protocol). The close frame we owe it,
    /// if any, goes out on release, after the application's replies to the
    /// messages of the same batch.
    Ending(OwedClose),
}

/// The close frame owed to the peer: an echo of its close (its code, or
/// an empty payload), a failure code, or none when it left without one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwedClose {
    pub send_frame: bool,
    pub code: Option<u16>,
    pub reason: &'static str,
}

/// How a published message reaches one WebSocket subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishForm {
    /// The plain frame, shared by every such subscriber.
    Plain,
    /// Compressed without context with this window: one compression
    /// shared by every subscriber with the same window.
    SharedDeflate { window_bits: u8 },
    /// Compressed by this connection's own context.
    OwnContext,
}

impl WebSocket {
    pub(crate) fn new(
        settings: &Settings,
        deflate: Option<Box<ConnDeflate>>,
        now: Instant,
    ) -> Self {
        Self::with_limit(Settings::limit(settings.max_message_size), deflate, now)
    }

    /// A WebSocket whose messages may be at most `max_message` bytes.
    pub(crate) fn with_limit(
        max_message: usize,
        deflate: Option<Box<ConnDeflate>>,
        now: Instant,
    ) -> Self {
        let mut rx = Receiver::new(max_message);
        rx.set_deflate(deflate.is_some());
        WebSocket {
            rx,
            deflate,
            state: WsState::Open,
            last_read: now,
            ping_sent: false,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, WsState::Open)
    }

    pub(crate) fn is_closing(&self) -> bool {
        matches!(self.state, WsState::Closing { .. })
    }

    pub(crate) fn awaits_release(&self) -> bool {
        matches!(self.state, WsState::Ending(_))
    }

    pub(crate) fn state(&self) -> ConnState {
        match self.state {
            WsState::Open => ConnState::Open,
            WsState::Closing { .. } => ConnState::Closing,
            WsState::Ending(_) => ConnState::Closed,
        }
    }

    /// The peer hung up without a close frame: nothing is owed but the
    /// replies already queued.
    pub(crate) fn end_without_frame(&mut self) {
        self.state = WsState::Ending(OwedClose {
            send_frame: false,
            code: None,
            reason: "",
        });
    }

    /// Queues the owed close frame; true if the connection is now over.
    pub(crate) fn release<O: Output>(&mut self, cx: &mut Cx<'_, O>) -> bool {
        let WsState::Ending(owed) = self.state else {
            return false;
        };
        if owed.send_frame {
            cx.out.append(4 + owed.reason.len(), |v| {
                frame::write_close(v, owed.code, owed.reason)
            });
        }
        true
    }

    /// 0-5: the close state, and whether an own compressor is in use (its
    /// release is a deadline).
    pub(crate) fn schedule_key(&self) -> u8 {
        let state = match self.state {
            WsState::Open => 0,
            WsState::Closing { .. } => 1,
            WsState::Ending(_) => 2,
        };
        let compressor = self
            .deflate
            .as_ref()
            .is_some_and(|d| d.has_own_compressor());
        state * 2 + compressor as u8
    }

    pub(crate) fn deadline(&self, settings: &Settings) -> Option<Instant> {
        let protocol = match self.state {
            WsState::Open => timer(settings.idle_timeout).map(|idle| {
                if self.ping_sent {
                    self.last_read + idle
                } else {
                    self.last_read + idle / 2
                }
            }),
            WsState::Closing { since } => timer(settings.close_timeout).map(|t| since + t),
            // Released at the next turn, not by a timer.
            WsState::Ending(_) => None,
        };
        let compressor = self.deflate.as_ref().and_then(|d| d.release_deadline());
        match (protocol, compressor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How a published message of `len` bytes reaches this subscriber.
    pub fn publish_form(&self, cfg: &DeflateConfig, len: usize) -> PublishForm {
        match self.deflate.as_deref() {
            Some(d) if d.compresses(cfg, len) => {
                if d.params.server_no_context_takeover {
                    PublishForm::SharedDeflate {
                        window_bits: d.params.server_max_window_bits,
                    }
                } else {
                    PublishForm::OwnContext
                }
            }
            _ => PublishForm::Plain,
        }
    }

    /// Whether this connection negotiated permessage-deflate.
    pub fn compresses(&self) -> bool {
        self.deflate.is_some()
    }

    /// Queues one data frame, compressed when negotiated and the message
    /// is big enough. No checks: the callers made them.
    pub fn push_message<O: Output>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        cfg: &DeflateConfig,
        shared: &mut SharedDeflate,
        out: &mut O,
        now: Instant,
    ) {
        let opcode = opcode(kind);
        match self.deflate.as_deref_mut() {
            Some(state) if state.compresses(cfg, data.len()) => {
                compress::compress(cfg, state, shared, data, now);
                push_frame(out, opcode, true, &shared.scratch);
            }
            _ => push_frame(out, opcode, false, data),
        }
    }
}

/// The opcode of a data message.
pub fn opcode(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

/// Queues a whole unmasked frame; RSV1 marks it compressed (RFC 7692 §6).
pub fn push_frame<O: Output>(out: &mut O, opcode: OpCode, compressed: bool, payload: &[u8]) {
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let n = frame::encode_header(&mut hdr, true, opcode, payload.len());
    if compressed {
        hdr[0] |= 0x40;
    }
    out.append_frame(&hdr[..n], payload);
}

/// Encodes a whole frame into shared bytes (for fan-out); returns them and
/// the header's length.
pub fn frame_bytes(opcode: OpCode, compressed: bool, payload: &[u8]) -> (Bytes, usize) {
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let n = frame::encode_header(&mut hdr, true, opcode, payload.len());
    if compressed {
        hdr[0] |= 0x40;
    }
    let mut v = Vec::with_capacity(n + payload.len());
    v.extend_from_slice(&hdr[..n]);
    v.extend_from_slice(payload);
    (Bytes::from(v), n)
}

/// Close codes the application may send (§7.4): 1000-1003, 1007-1014 and
/// 3000-4999; reasons up to 123 bytes.
pub fn check_close(code: u16, reason: &str) -> Result<(), Refusal> {
    if !frame::is_valid_close_code(code) {
        return Err(Refusal::InvalidArgument(
            "close code must be 1000-1003, 1007-1014 or 3000-4999",
        ));
    }
    if reason.len() > 123 {
        return Err(Refusal::InvalidArgument("close reason is over 123 bytes"));
    }
    Ok(())
}
