//! An open WebSocket (RFC 6455 §5-§7, RFC 7692): reading frames, automatic
//! pongs, the application's sends, pings and close, the close handshake
//! with its timeout, idle pings, failing the connection with the right
//! close code, and permessage-deflate.

use crate::compress::{self, ConnDeflate, SharedDeflate};
use crate::connection::{ConnEvent, ConnState, Connection, Cx, Output, Phase, Refusal};
use crate::frame::{self, OpCode, MAX_HEADER_LEN};
use crate::settings::{timer, DeflateConfig, MessageKind, OverflowPolicy, Settings};
use crate::ws::{Incoming, Receiver};
use bytes::Bytes;
use std::time::Instant;

/// Inflated messages above this size do not keep the loop's inflate
/// buffer that large once delivered.
const KEEP_INFLATE_BUFFER: usize = 4 << 20;

pub struct WebSocket {
    rx: Receiver,
    deflate: Option<Box<ConnDeflate>>,
    state: WsState,
    /// When the peer last sent anything.
    last_read: Instant,
    /// An idle ping is out and unanswered.
    ping_sent: bool,
}

enum WsState {
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
struct OwedClose {
    send_frame: bool,
    code: Option<u16>,
    reason: &'static str,
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
        let mut rx = Receiver::new(Settings::limit(settings.max_message_size));
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

/// What a read found that changes the connection's course.
enum Turn {
    /// The peer's close frame (its code and reason).
    PeerClose(Option<u16>, String),
    /// A violation or a message that cannot be accepted: fail with this.
    Fail(u16, &'static str),
}

impl Connection {
    pub(crate) fn read_websocket<O: Output>(&mut self, data: &mut [u8], cx: &mut Cx<'_, O>) {
        let Phase::WebSocket(ws) = &mut self.phase else {
            return;
        };
        ws.last_read = cx.now;
        ws.ping_sent = false;
        let closing = match ws.state {
            WsState::Open => false,
            WsState::Closing { .. } => true,
            // Failed or closed by the peer: nothing more is read but EOF.
            WsState::Ending(_) => return,
        };
        let max_message = Settings::limit(cx.settings.max_message_size);
        let pong_room = Settings::limit(cx.settings.max_buffered);
        let (rx, deflate) = (&mut ws.rx, &mut ws.deflate);
        let (out, shared) = (&mut *cx.out, &mut *cx.shared);
        let mut turn: Option<Turn> = None;
        let result = rx.feed(data, &mut |incoming| match incoming {
            // Once a message failed to inflate, nothing after it counts.
            _ if turn.is_some() => {}
            // After our close frame, data is read only to find the peer's.
            Incoming::Text(_) | Incoming::Binary(_) | Incoming::Compressed { .. } if closing => {}
            Incoming::Text(s) => out.event(ConnEvent::Message {
                kind: MessageKind::Text,
                data: s.as_bytes(),
            }),
            Incoming::Binary(b) => out.event(ConnEvent::Message {
                kind: MessageKind::Binary,
                data: b,
            }),
            Incoming::Compressed { text, payload } => {
                let Some(state) = deflate.as_deref_mut() else {
                    turn = Some(Turn::Fail(
                        1002,
                        "compressed message without permessage-deflate",
                    ));
                    return;
                };
                let mut buf = std::mem::take(&mut shared.inflated);
                buf.clear();
                let result = compress::inflate(state, shared, payload, &mut buf, max_message)
                    .and_then(
                        |()| match text && simdutf8::basic::from_utf8(&buf).is_err() {
                            true => Err((1007, "invalid UTF-8 in text message")),
                            false => Ok(()),
                        },
                    );
                match result {
                    Ok(()) => {
                        let kind = if text {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        out.event(ConnEvent::Message { kind, data: &buf });
                    }
                    Err((code, reason)) => turn = Some(Turn::Fail(code, reason)),
                }
                if buf.capacity() > KEEP_INFLATE_BUFFER {
                    buf = Vec::new();
                }
                shared.inflated = buf;
            }
            Incoming::Ping(p) => {
                // A peer that pings without reading cannot grow our queue.
                if !closing && out.queued() <= pong_room {
                    out.append(p.len() + 2, |v| frame::write_frame(v, OpCode::Pong, p));
                }
            }
            Incoming::Pong(p) => out.event(ConnEvent::Pong { data: p }),
            Incoming::Close(code, reason) => {
                turn = Some(Turn::PeerClose(code, reason.to_string()));
            }
        });
        let turn = match (result, turn) {
            (_, Some(Turn::Fail(code, reason))) => Turn::Fail(code, reason),
            (Err(e), _) => Turn::Fail(e.code, e.reason),
            (Ok(()), Some(t)) => t,
            (Ok(()), None) => return,
        };
        match turn {
            Turn::Fail(code, reason) => self.fail_websocket(code, reason, cx),
            Turn::PeerClose(code, reason) => {
                self.report_end(cx.out, code.unwrap_or(1005), &reason);
                let Phase::WebSocket(ws) = &mut self.phase else {
                    return;
                };
                if closing {
                    // It answered ours: the handshake is complete.
                    self.linger(cx);
                } else {
                    // We owe it an echo (§5.5.1), after the replies to the
                    // messages before its close.
                    ws.state = WsState::Ending(OwedClose {
                        send_frame: true,
                        code,
                        reason: "",
                    });
                }
            }
        }
    }

    /// Fails the connection (§7.1.7) with `code`: the application hears
    /// now; the close frame follows its replies to earlier messages.
    fn fail_websocket<O: Output>(&mut self, code: u16, reason: &'static str, cx: &mut Cx<'_, O>) {
        self.report_end(cx.out, code, reason);
        let Phase::WebSocket(ws) = &mut self.phase else {
            return;
        };
        if ws.is_open() {
            ws.state = WsState::Ending(OwedClose {
                send_frame: true,
                code: Some(code),
                reason,
            });
        } else {
            // Our close frame is out already; no second one.
            self.linger(cx);
        }
    }

    pub(crate) fn websocket_timeout<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        let now = cx.now;
        let settings = cx.settings;
        let Phase::WebSocket(ws) = &mut self.phase else {
            return;
        };
        if let Some(d) = ws.deflate.as_deref_mut() {
            d.release_idle_compressor(now);
        }
        match ws.state {
            WsState::Open => {
                let Some(idle) = timer(settings.idle_timeout) else {
                    return;
                };
                let silent = now.saturating_duration_since(ws.last_read);
                if silent >= idle {
                    self.finish(cx, 1006, "peer stopped answering pings", false);
                } else if !ws.ping_sent && silent >= idle / 2 {
                    ws.ping_sent = true;
                    cx.out
                        .append(2, |v| frame::write_frame(v, OpCode::Ping, b""));
                }
            }
            WsState::Closing { since } => {
                if timer(settings.close_timeout).is_some_and(|t| now >= since + t) {
                    self.finish(cx, 1006, "close handshake timed out", false);
                }
            }
            WsState::Ending(_) => {}
        }
    }

    /// The application sends a message. Text must be valid UTF-8 (the
    /// caller checks). Replies to messages of the batch that reported the
    /// end still go out, ahead of the close frame.
    pub fn send<O: Output>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        let Phase::WebSocket(ws) = &mut self.phase else {
            return Err(self.not_open("not a WebSocket"));
        };
        if ws.is_closing() {
            return Err(Refusal::Closed);
        }
        let limit = Settings::limit(cx.settings.max_buffered);
        if cx.out.queued().saturating_add(data.len() + MAX_HEADER_LEN) > limit {
            if cx.settings.overflow_policy == OverflowPolicy::Close && ws.is_open() {
                let _ = self.close(1008, "send buffer limit exceeded", cx);
            }
            return Err(Refusal::Backpressure);
        }
        let (cfg, now) = (&cx.settings.deflate, cx.now);
        ws.push_message(kind, data, cfg, cx.shared, cx.out, now);
        Ok(())
    }

    /// The application pings (payload at most 125 bytes); the answer
    /// arrives as a pong event.
    pub fn ping<O: Output>(&mut self, payload: &[u8], cx: &mut Cx<'_, O>) -> Result<(), Refusal> {
        if payload.len() > 125 {
            return Err(Refusal::InvalidArgument("ping payload is over 125 bytes"));
        }
        match &self.phase {
            Phase::WebSocket(ws) if ws.is_open() => {
                cx.out.append(payload.len() + 2, |v| {
                    frame::write_frame(v, OpCode::Ping, payload)
                });
                Ok(())
            }
            _ => Err(self.not_open("not a WebSocket")),
        }
    }

    /// The application closes: a WebSocket starts the close handshake
    /// (the close event follows when it completes), an event stream ends.
    pub fn close<O: Output>(
        &mut self,
        code: u16,
        reason: &str,
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        check_close(code, reason)?;
        match &mut self.phase {
            Phase::WebSocket(ws) if ws.is_open() => {
                cx.out.append(4 + reason.len(), |v| {
                    frame::write_close(v, Some(code), reason)
                });
                ws.state = WsState::Closing { since: cx.now };
                Ok(())
            }
            Phase::Sse(_) => {
                self.finish(cx, code, reason, true);
                Ok(())
            }
            Phase::Head { .. } | Phase::Approval(_) => Err(Refusal::WrongState(
                "connection is not open; answer its request with reject",
            )),
            _ => Err(Refusal::Closed),
        }
    }
}
