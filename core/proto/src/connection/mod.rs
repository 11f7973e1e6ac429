//! One connection's whole protocol as a state machine: the request head,
//! the application's approval, then a WebSocket, an event stream or a
//! static answer, and finally the linger that flushes the last bytes.
//!
//! The caller (the driver) owns the socket. It hands in what it read
//! ([`Connection::handle_read`]), the peer's hang-up
//! ([`Connection::handle_eof`]), the application's calls (`send`, `close`,
//! ...) and the time ([`Connection::handle_timeout`] once
//! [`Connection::deadline`] has passed). Bytes to write and events for the
//! application come out through an [`Output`]. What the driver does with
//! the transport follows from three questions: is the protocol over
//! ([`Connection::is_dead`]: drop it now; [`Connection::is_lingering`]:
//! flush, send FIN, wait for the peer's), should FIN follow the queued
//! bytes ([`Connection::fin_after_flush`]), and is input wanted
//! ([`Connection::wants_input`]).
//!
//! Every way a connection ends goes through [`Connection::finish`], which
//! tells the application exactly once.

mod engine;
mod handshake;
mod sse;
mod ws;

use crate::transport::TransportEvent;
pub use handshake::check_headers;

use crate::http::{HttpError, RequestHead, WsHandshake};
use crate::output::{ConnEvent, ConnState, Cx, Output, Refusal};
use crate::settings::{timer, Endpoint, Settings};
use crate::sse_stream::SseStream;
use crate::websocket::WebSocket;
use std::time::Instant;

pub(crate) enum Phase {
    /// Reading the request head; `buf` holds a head split across reads.
    Head {
        buf: Vec<u8>,
        since: Instant,
    },
    /// Waiting for the application's verdict. Nothing is read meanwhile.
    Approval(Box<Pending>),
    WebSocket(WebSocket),
    Sse(SseStream),
    /// Reading the body of an Engine.IO POST.
    EngineBody(Box<engine::EngineBody>),
    /// An Engine.IO request handed to the driver, waiting for its answer
    /// (a long poll waits here until the session has something to send).
    EngineWait(Box<engine::EngineWait>),
    /// Over for the application: flushing the last bytes (an answer, a
    /// close frame), then waiting (until `until`, if set) for the peer to
    /// hang up.
    Linger {
        until: Option<Instant>,
    },
    /// Over: drop the transport now.
    Dead,
}

/// A request awaiting approval and what answering it needs.
pub(crate) struct Pending {
    pub endpoint: Endpoint,
    pub route: usize,
    pub head: Box<RequestHead>,
    pub handshake: Option<WsHandshake>,
    /// What the client sent after its head (frames pipelined behind the
    /// handshake).
    pub leftover: Vec<u8>,
    pub since: Instant,
}

pub struct Connection {
    pub(crate) phase: Phase,
    /// The application knows this connection (it had its request or open
    /// event) and has not yet had its end.
    pub(crate) reported: Option<Endpoint>,
    /// The request was `HEAD`: answers carry no body.
    pub(crate) head_only: bool,
    /// An Engine.IO transport: its requests, messages and end go to the
    /// driver's session, not to the application.
    pub(crate) engine: bool,
}

impl Connection {
    /// A connection that has just been accepted by the transport.
    pub fn new(now: Instant) -> Self {
        Connection {
            phase: Phase::Head {
                buf: Vec::new(),
                since: now,
            },
            reported: None,
            head_only: false,
            engine: false,
        }
    }

    /// Bytes from the peer (unmasked in place when they are frames).
    pub fn handle_read<O: Output>(&mut self, data: &mut [u8], cx: &mut Cx<'_, O>) {
        match self.phase {
            Phase::Head { .. } => self.read_head(data, cx),
            Phase::WebSocket(_) => self.read_websocket(data, cx),
            Phase::EngineBody(_) => self.read_engine_body(data, cx),
            Phase::EngineWait(_) => self.read_while_waiting(data, cx),
            // SSE clients have nothing to say after their request; finished
            // connections only wait for EOF; nothing is read while the app
            // decides. Discard either way.
            Phase::Sse(_) | Phase::Approval(_) | Phase::Linger { .. } | Phase::Dead => {}
        }
    }

    /// The peer shut its sending side (EOF).
    pub fn handle_eof<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        match &mut self.phase {
            Phase::WebSocket(ws) if ws.is_open() => {
                // Hung up without a close handshake. It may still read:
                // replies to what it sent go out first, then FIN.
                ws.end_without_frame();
                self.report_end(&mut cx.out, 1006, "connection closed without a close frame");
            }
            // Our close echo (or failure frame) is still to go out.
            Phase::WebSocket(ws) if ws.awaits_release() => {}
            Phase::Linger { .. } | Phase::Dead => {}
            _ => self.finish(cx, 1006, "connection closed without a close frame", false),
        }
    }

    /// Runs the timers: call when [`Connection::deadline`] has passed (an
    /// early call does nothing but compute the next deadline).
    pub fn handle_timeout<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        let now = cx.now;
        let settings = cx.settings;
        match &mut self.phase {
            // Slowloris, or an app that never answered an approval request.
            Phase::Head { since, .. } => {
                if due(*since, timer(settings.handshake_timeout), now) {
                    self.finish(cx, 1006, "handshake timed out", false);
                }
            }
            Phase::Approval(p) => {
                if due(p.since, timer(settings.handshake_timeout), now) {
                    self.finish(cx, 1006, "handshake timed out", false);
                }
            }
            Phase::EngineBody(b) => {
                if due(b.since(), timer(settings.handshake_timeout), now) {
                    self.finish(cx, 1006, "request body timed out", false);
                }
            }
            // The session's heartbeat answers a waiting poll in time.
            Phase::EngineWait(_) => {}
            Phase::WebSocket(_) => self.websocket_timeout(cx),
            Phase::Sse(sse) => sse.handle_timeout(cx),
            Phase::Linger { until } => {
                if until.is_some_and(|t| now >= t) {
                    self.phase = Phase::Dead;
                }
            }
            Phase::Dead => {}
        }
    }

    /// A number that changes whenever [`Connection::deadline`] may have
    /// moved earlier or the connection's course changed (its phase, a
    /// close started or owed, a compressor taken into use). Between two
    /// calls with the same key the deadline can only have moved later,
    /// which a lazily re-armed timer need not hear of: the caller skips
    /// its bookkeeping on the hot path (a message in, a message out).
    pub fn schedule_key(&self) -> u8 {
        match &self.phase {
            Phase::Head { .. } => 1,
            Phase::Approval(_) => 2,
            Phase::WebSocket(ws) => 3 + ws.schedule_key(),
            Phase::Sse(_) => 10,
            Phase::Linger { .. } => 11,
            Phase::Dead => 12,
            Phase::EngineBody(_) => 13,
            Phase::EngineWait(_) => 14,
        }
    }

    /// When [`Connection::handle_timeout`] must next run, if ever.
    pub fn deadline(&self, settings: &Settings) -> Option<Instant> {
        match &self.phase {
            Phase::Head { since, .. } => timer(settings.handshake_timeout).map(|t| *since + t),
            Phase::Approval(p) => timer(settings.handshake_timeout).map(|t| p.since + t),
            Phase::WebSocket(ws) => ws.deadline(settings),
            Phase::Sse(sse) => sse.deadline(settings),
            Phase::Linger { until } => *until,
            Phase::Dead | Phase::EngineWait(_) => None,
            Phase::EngineBody(b) => timer(settings.handshake_timeout).map(|t| b.since() + t),
        }
    }

    /// The application has handled the batch of events: send the close
    /// frame owed since (after its replies to earlier messages).
    pub fn release<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        if let Phase::WebSocket(ws) = &mut self.phase {
            if ws.release(cx) {
                self.linger(cx);
            }
        }
    }

    /// Whether a close frame waits for [`Connection::release`].
    pub fn awaits_release(&self) -> bool {
        matches!(&self.phase, Phase::WebSocket(ws) if ws.awaits_release())
    }

    /// Starts a graceful shutdown of this connection: a WebSocket closes
    /// with 1001, an event stream ends, a request awaiting approval is
    /// answered 503, a half-read request is dropped.
    pub fn shutdown<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        if self.engine {
            // The driver ends the session, which answers or closes its
            // transports.
            return;
        }
        match &self.phase {
            Phase::Head { .. } => self.finish(cx, 1006, "", false),
            Phase::Approval(_) => {
                self.report_end(&mut cx.out, 1001, "server shutting down");
                let err = HttpError {
                    status: 503,
                    message: "Service Unavailable: shutting down",
                    extra_headers: "",
                };
                self.answer_error(cx, &err);
            }
            Phase::WebSocket(ws) if ws.is_open() => {
                let _ = self.close(1001, "server shutting down", cx);
            }
            Phase::Sse(_) => self.finish(cx, 1001, "", true),
            Phase::EngineBody(_) => self.finish(cx, 1006, "", false),
            _ => {}
        }
    }

    /// Ends the connection now, whatever its phase: the application hears
    /// `code` and `reason` if it knows the connection and has not yet
    /// heard of its end. The transport is dropped at once, or, with
    /// `linger`, flushed and half-closed first.
    pub fn finish<O: Output>(&mut self, cx: &mut Cx<'_, O>, code: u16, reason: &str, linger: bool) {
        self.report_end(&mut cx.out, code, reason);
        if linger {
            self.linger(cx);
        } else {
            self.phase = Phase::Dead;
        }
    }

    /// Drops the connection at once, without a close handshake (as
    /// `ws.terminate()`): the application hears 1006.
    pub fn terminate<O: Output>(&mut self, cx: &mut Cx<'_, O>) -> Result<(), Refusal> {
        if matches!(self.phase, Phase::Dead) {
            return Err(Refusal::Closed);
        }
        self.finish(cx, 1006, "terminated by the server", false);
        Ok(())
    }

    /// Tells the application the connection ended, once.
    pub(crate) fn report_end<O: Output>(&mut self, out: &mut O, code: u16, reason: &str) {
        self.report_end_as(out, code, reason, false)
    }

    /// As [`Self::report_end`]; `failed`: we ended it for the peer's
    /// protocol error (an Engine.IO session then ends with "transport
    /// error" rather than "transport close").
    pub(crate) fn report_end_as<O: Output>(
        &mut self,
        out: &mut O,
        code: u16,
        reason: &str,
        failed: bool,
    ) {
        match self.reported.take() {
            Some(Endpoint::WebSocket) => out.event(ConnEvent::Close { code, reason }),
            Some(Endpoint::Sse) => out.event(ConnEvent::SseClose),
            Some(Endpoint::EngineIo | Endpoint::SocketIo) => {
                out.event(ConnEvent::Transport(TransportEvent::Gone { failed }))
            }
            None => {}
        }
    }

    /// Enters the final phase: flush, FIN, then wait (bounded by
    /// `close_timeout`) for the peer to hang up.
    pub(crate) fn linger<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        let until = timer(cx.settings.close_timeout).map(|t| cx.now + t);
        self.phase = Phase::Linger { until };
    }

    /// The protocol is over; drop the transport now.
    pub fn is_dead(&self) -> bool {
        matches!(self.phase, Phase::Dead)
    }

    /// The protocol is over; flush, send FIN and close once the peer has
    /// hung up too (or the linger deadline passes).
    pub fn is_lingering(&self) -> bool {
        matches!(self.phase, Phase::Linger { .. })
    }

    /// FIN should follow once the queued bytes are written: nothing more
    /// will be sent (our close frame is queued, or the answer is final).
    pub fn fin_after_flush(&self) -> bool {
        match &self.phase {
            Phase::Linger { .. } => true,
            Phase::WebSocket(ws) => ws.is_closing(),
            _ => false,
        }
    }

    /// Whether the protocol reads input now (not while the application
    /// decides on a request).
    pub fn wants_input(&self) -> bool {
        // (An Engine.IO request waiting for the driver reads on: it keeps
        // what comes, and sees the client leave.)
        !matches!(self.phase, Phase::Approval(_))
    }

    /// The state the application sees.
    pub fn state(&self) -> ConnState {
        match &self.phase {
            Phase::Head { .. } | Phase::Approval(_) => ConnState::Connecting,
            Phase::EngineBody(_) | Phase::EngineWait(_) => ConnState::Connecting,
            Phase::WebSocket(ws) => ws.state(),
            Phase::Sse(_) => ConnState::Open,
            Phase::Linger { .. } | Phase::Dead => ConnState::Closed,
        }
    }

    /// What the connection is, once routed.
    pub fn endpoint(&self) -> Option<Endpoint> {
        if self.engine {
            return Some(Endpoint::EngineIo);
        }
        match &self.phase {
            Phase::WebSocket(_) => Some(Endpoint::WebSocket),
            Phase::Sse(_) => Some(Endpoint::Sse),
            Phase::Approval(p) => Some(p.endpoint),
            _ => None,
        }
    }

    /// An open WebSocket or event stream: it may join topics and receive
    /// what is published to them.
    pub fn is_live(&self) -> bool {
        if self.engine {
            return false;
        }
        match &self.phase {
            Phase::WebSocket(ws) => ws.is_open(),
            Phase::Sse(_) => true,
            _ => false,
        }
    }

    /// The open WebSocket, for fan-out.
    pub fn websocket(&mut self) -> Option<&mut WebSocket> {
        match &mut self.phase {
            Phase::WebSocket(ws) if ws.is_open() && !self.engine => Some(ws),
            _ => None,
        }
    }

    /// The open event stream, for fan-out.
    pub fn sse_stream(&mut self) -> Option<&mut SseStream> {
        match &mut self.phase {
            Phase::Sse(s) => Some(s),
            _ => None,
        }
    }

    /// Why a connection cannot join a topic.
    pub fn not_live(&self) -> Refusal {
        self.not_open("not an open WebSocket or SSE stream")
    }

    /// Why a call that needs an open WebSocket or stream cannot proceed.
    pub(crate) fn not_open(&self, want: &'static str) -> Refusal {
        match &self.phase {
            Phase::Head { .. } | Phase::Approval(_) => {
                Refusal::WrongState("connection is not open yet")
            }
            Phase::EngineBody(_) | Phase::EngineWait(_) => {
                Refusal::WrongState("an Engine.IO transport is not addressed directly")
            }
            Phase::Linger { .. } | Phase::Dead => Refusal::Closed,
            Phase::WebSocket(ws) if !ws.is_open() => Refusal::Closed,
            _ => Refusal::WrongState(want),
        }
    }
}

/// True when a timer of `len` started at `since` has run out at `now`.
fn due(since: Instant, len: Option<std::time::Duration>, now: Instant) -> bool {
    len.is_some_and(|l| now >= since + l)
}
