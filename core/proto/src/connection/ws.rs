//! The application's side of an open WebSocket and what reading it does to
//! the connection: messages out, the close handshake, failing with a code,
//! idle pings.

use super::{Connection, Phase, TransportEvent};
use crate::compress;
use crate::frame::{self, OpCode, MAX_HEADER_LEN};
use crate::output::{ConnEvent, Cx, Output, Refusal};
use crate::settings::{timer, MessageKind, OverflowPolicy, Settings};
use crate::websocket::{check_close, OwedClose, WsState, KEEP_INFLATE_BUFFER};
use crate::ws::Incoming;
use bytes::Bytes;

/// A message for the application, or, on an Engine.IO transport, for its
/// session. `buffer`: the message's own buffer (see `ConnEvent::Message`).
fn message<'a>(
    engine: bool,
    kind: MessageKind,
    data: &'a [u8],
    buffer: Option<&'a Bytes>,
) -> ConnEvent<'a> {
    match engine {
        true => ConnEvent::Transport(TransportEvent::Message { kind, data }),
        false => ConnEvent::Message { kind, data, buffer },
    }
}

fn kind_of(text: bool) -> MessageKind {
    match text {
        true => MessageKind::Text,
        false => MessageKind::Binary,
    }
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
        let max_message = ws.rx.max_message_size();
        let engine = self.engine;
        let pong_room = Settings::limit(cx.settings.max_buffered);
        let (rx, deflate) = (&mut ws.rx, &mut ws.deflate);
        let (out, shared) = (&mut cx.out, &mut *cx.shared);
        let mut turn: Option<Turn> = None;
        let result = rx.feed(data, &mut |incoming| match incoming {
            // Once a message failed to inflate, nothing after it counts.
            _ if turn.is_some() => {}
            // After our close frame, data is read only to find the peer's.
            Incoming::Text(_)
            | Incoming::Binary(_)
            | Incoming::Gathered { .. }
            | Incoming::Compressed { .. }
                if closing => {}
            Incoming::Text(s) => out.event(message(engine, MessageKind::Text, s.as_bytes(), None)),
            Incoming::Binary(b) => out.event(message(engine, MessageKind::Binary, b, None)),
            Incoming::Gathered { text, payload } => {
                out.event(message(engine, kind_of(text), &payload, Some(&payload)))
            }
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
                    Ok(()) => out.event(message(engine, kind_of(text), &buf, None)),
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
                self.report_end(&mut cx.out, code.unwrap_or(1005), &reason);
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
        self.report_end_as(&mut cx.out, code, reason, true);
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
        ws.push_message(kind, data, cfg, cx.shared, &mut cx.out, now);
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
