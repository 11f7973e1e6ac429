//! A connection on an Engine.IO route: HTTP requests that carry a
//! session (the handshake, long polls, POSTs with packets, kept alive
//! between them) and the WebSocket that becomes a session's transport.
//!
//! The session itself is not here (it outlives its requests): each
//! request is handed to the driver as a [`TransportEvent::Request`] and
//! the connection waits for the driver's answer (`engine_*`). A WebSocket
//! transport hands its messages and its end to the driver the same way.

use super::{Connection, Phase};
use crate::compress::{self, ConnDeflate};
use crate::engine::http::{self as ehttp, EngineError};
use crate::http::{self, RequestHead, WsHandshake};
use crate::output::{ConnEvent, Cx, Output, Refusal};
use crate::settings::{Endpoint, Settings};
use crate::transport::{EngineRequest, RequestKind, Transport, TransportEvent};
use crate::websocket::WebSocket;
use std::time::Instant;

/// A WebSocket handshake: its key and the negotiated compression (the
/// extension's answer and the compressor).
type WsAnswer = (WsHandshake, Option<(String, Box<ConnDeflate>)>);

/// A request handed to the driver, awaiting the answer.
pub(crate) struct EngineWait {
    kind: RequestKind,
    cors: Box<str>,
    keep_alive: bool,
    /// A WebSocket handshake: its key and the negotiated compression.
    ws: Option<WsAnswer>,
    /// Bytes after the request (a pipelined request, or frames).
    leftover: Vec<u8>,
}

/// A POST whose body is being read.
pub(crate) struct EngineBody {
    route: usize,
    sid: String,
    cors: Box<str>,
    keep_alive: bool,
    need: usize,
    buf: Vec<u8>,
    since: Instant,
}

impl EngineBody {
    pub(crate) fn since(&self) -> Instant {
        self.since
    }
}

impl Connection {
    /// A complete request head on an Engine.IO route.
    pub(crate) fn on_engine_request<O: Output>(
        &mut self,
        route: usize,
        head: RequestHead,
        leftover: &mut [u8],
        since: Instant,
        cx: &mut Cx<'_, O>,
    ) {
        let settings = cx.settings;
        let mut cors = String::new();
        ehttp::cors_headers(&settings.engine, head.header("origin"), &mut cors);
        let keep_alive = head.version == 1 && !head.has_token("connection", "close");
        if head.method == "OPTIONS" {
            cx.out
                .append(256, |v| ehttp::write_preflight(v, &head, &cors, keep_alive));
            return self.after_engine_answer(keep_alive, leftover, cx);
        }
        if let Err(e) = http::check_common(&head) {
            return self.answer_error(cx, &e);
        }
        if !origin_allowed(settings, &head) {
            return self.engine_refuse(EngineError::Forbidden, &cors, cx);
        }
        let upgrade = head.has_token("upgrade", "websocket");
        let query = match ehttp::parse_query(&head, upgrade) {
            Ok(q) => q,
            Err(e) => return self.engine_refuse(e, &cors, cx),
        };
        let sid = query.sid.as_deref();
        match query.transport {
            Transport::Polling if head.method == "POST" => {
                let sid = sid.unwrap_or_default().to_string();
                self.read_engine_post(route, sid, &head, cors, keep_alive, leftover, since, cx)
            }
            Transport::Polling => self.wait_engine(
                EngineRequest {
                    route,
                    transport: Transport::Polling,
                    kind: RequestKind::Get,
                    sid,
                    body: &[],
                    head: None,
                },
                cors,
                keep_alive,
                None,
                leftover,
                head,
                cx,
            ),
            Transport::WebSocket => {
                let handshake = match http::validate_websocket(&head) {
                    Ok(h) => h,
                    Err(_) => return self.engine_refuse(EngineError::BadRequest, &cors, cx),
                };
                let deflate = compress::negotiate(&settings.deflate, &head);
                self.wait_engine(
                    EngineRequest {
                        route,
                        transport: Transport::WebSocket,
                        kind: RequestKind::WebSocket,
                        sid,
                        body: &[],
                        head: None,
                    },
                    cors,
                    false,
                    Some((handshake, deflate)),
                    leftover,
                    head,
                    cx,
                )
            }
        }
    }

    /// Hands a request to the driver and waits for its answer.
    #[allow(clippy::too_many_arguments)]
    fn wait_engine<O: Output>(
        &mut self,
        mut request: EngineRequest<'_>,
        cors: String,
        keep_alive: bool,
        ws: Option<WsAnswer>,
        leftover: &mut [u8],
        head: RequestHead,
        cx: &mut Cx<'_, O>,
    ) {
        let kind = request.kind;
        if request.sid.is_none() {
            request.head = Some(Box::new(head));
        }
        self.engine = true;
        self.reported = Some(Endpoint::EngineIo);
        cx.out
            .event(ConnEvent::Transport(TransportEvent::Request(request)));
        self.phase = Phase::EngineWait(Box::new(EngineWait {
            kind,
            cors: cors.into(),
            keep_alive,
            ws,
            leftover: Vec::new(),
        }));
        // Within the same limit as bytes of later reads.
        if !leftover.is_empty() {
            self.read_while_waiting(leftover, cx);
        }
    }

    /// Starts reading a POST's body (its length must be given, and at most
    /// `max_payload`).
    #[allow(clippy::too_many_arguments)]
    fn read_engine_post<O: Output>(
        &mut self,
        route: usize,
        sid: String,
        head: &RequestHead,
        cors: String,
        keep_alive: bool,
        leftover: &mut [u8],
        since: Instant,
        cx: &mut Cx<'_, O>,
    ) {
        let refused = |c: &mut Self, cx: &mut Cx<'_, O>, status: u16, reason: &str| {
            cx.out.event(ConnEvent::Transport(TransportEvent::Request(
                EngineRequest {
                    route,
                    transport: Transport::Polling,
                    kind: RequestKind::RefusedPost,
                    sid: Some(&sid),
                    body: &[],
                    head: None,
                },
            )));
            cx.out
                .append(128, |v| ehttp::write_status(v, status, reason, &cors));
            c.linger(cx);
        };
        if head.header("content-type") == Some("application/octet-stream") {
            // Engine.IO v4 sends binary as base64 text.
            return refused(self, cx, 400, "Bad Request");
        }
        if head.header("transfer-encoding").is_some() {
            return refused(self, cx, 411, "Length Required");
        }
        let Some(need) = head
            .header("content-length")
            .and_then(|l| l.trim().parse::<usize>().ok())
        else {
            return refused(self, cx, 411, "Length Required");
        };
        if need > Settings::limit(cx.settings.engine.max_payload) {
            return refused(self, cx, 413, "Payload Too Large");
        }
        self.phase = Phase::EngineBody(Box::new(EngineBody {
            route,
            sid,
            cors: cors.into(),
            keep_alive,
            need,
            buf: Vec::with_capacity(need.min(64 << 10)),
            since,
        }));
        self.read_engine_body(leftover, cx);
    }

    /// More of a POST's body.
    pub(crate) fn read_engine_body<O: Output>(&mut self, data: &mut [u8], cx: &mut Cx<'_, O>) {
        let Phase::EngineBody(b) = &mut self.phase else {
            return;
        };
        let take = data.len().min(b.need - b.buf.len());
        b.buf.extend_from_slice(&data[..take]);
        if b.buf.len() < b.need {
            return;
        }
        let Phase::EngineBody(b) = std::mem::replace(&mut self.phase, Phase::Dead) else {
            unreachable!("matched above")
        };
        let EngineBody {
            route,
            sid,
            cors,
            keep_alive,
            buf,
            ..
        } = *b;
        self.engine = true;
        self.reported = Some(Endpoint::EngineIo);
        cx.out.event(ConnEvent::Transport(TransportEvent::Request(
            EngineRequest {
                route,
                transport: Transport::Polling,
                kind: RequestKind::Post,
                sid: Some(&sid),
                body: &buf,
                head: None,
            },
        )));
        self.phase = Phase::EngineWait(Box::new(EngineWait {
            kind: RequestKind::Post,
            cors,
            keep_alive,
            ws: None,
            leftover: Vec::new(),
        }));
        // Within the same limit as bytes of later reads.
        if take < data.len() {
            self.read_while_waiting(&mut data[take..], cx);
        }
    }

    /// Bytes that arrive while the driver decides are kept for after the
    /// answer (a pipelined request, frames behind a WebSocket handshake),
    /// within the head limit.
    pub(crate) fn read_while_waiting<O: Output>(&mut self, data: &mut [u8], cx: &mut Cx<'_, O>) {
        let Phase::EngineWait(w) = &mut self.phase else {
            return;
        };
        if w.leftover.len() + data.len() > Settings::limit(cx.settings.max_head_bytes) {
            return self.finish(cx, 1006, "too much data while a request waits", false);
        }
        w.leftover.extend_from_slice(data);
    }

    /// Refuses a request with the reference server's error (the
    /// connection then closes).
    fn engine_refuse<O: Output>(&mut self, err: EngineError, cors: &str, cx: &mut Cx<'_, O>) {
        cx.out
            .append(256, |v| ehttp::write_error(v, err, cors, false));
        self.linger(cx);
    }

    /// After an answer: the next request on a kept-alive connection, or
    /// the end.
    fn after_engine_answer<O: Output>(
        &mut self,
        keep_alive: bool,
        leftover: &mut [u8],
        cx: &mut Cx<'_, O>,
    ) {
        if !keep_alive {
            return self.linger(cx);
        }
        self.reported = None;
        self.engine = false;
        self.phase = Phase::Head {
            buf: Vec::new(),
            since: cx.now,
        };
        if !leftover.is_empty() {
            self.read_head(leftover, cx);
        }
    }

    fn take_wait(&mut self) -> Result<Box<EngineWait>, Refusal> {
        match std::mem::replace(&mut self.phase, Phase::Dead) {
            Phase::EngineWait(w) => Ok(w),
            other => {
                self.phase = other;
                Err(Refusal::WrongState("no Engine.IO request is waiting"))
            }
        }
    }

    /// Answers a waiting GET with a long-polling payload (or a
    /// handshake's open packet).
    pub fn engine_payload<O: Output>(
        &mut self,
        body: &[u8],
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        let mut w = self.take_wait()?;
        let send_body = !self.head_only;
        cx.out.append(200 + body.len(), |v| {
            ehttp::write_payload(v, if send_body { body } else { &[] }, &w.cors, w.keep_alive)
        });
        self.after_engine_answer(w.keep_alive, &mut w.leftover, cx);
        Ok(())
    }

    /// Answers a waiting POST whose packets were taken.
    pub fn engine_ok<O: Output>(&mut self, cx: &mut Cx<'_, O>) -> Result<(), Refusal> {
        let mut w = self.take_wait()?;
        cx.out
            .append(128, |v| ehttp::write_ok(v, &w.cors, w.keep_alive));
        self.after_engine_answer(w.keep_alive, &mut w.leftover, cx);
        Ok(())
    }

    /// Refuses a waiting request with the reference server's error; the
    /// connection closes after it.
    pub fn engine_error<O: Output>(
        &mut self,
        err: EngineError,
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        let w = self.take_wait()?;
        self.reported = None;
        self.engine_refuse(err, &w.cors, cx);
        Ok(())
    }

    /// Completes a waiting WebSocket handshake: the connection becomes a
    /// session's WebSocket (messages up to `max_payload`).
    pub fn engine_open_websocket<O: Output>(&mut self, cx: &mut Cx<'_, O>) -> Result<(), Refusal> {
        let w = self.take_wait()?;
        let EngineWait {
            ws, mut leftover, ..
        } = *w;
        let Some((handshake, deflate)) = ws else {
            return Err(Refusal::WrongState("not a WebSocket request"));
        };
        let extensions = deflate.as_ref().map(|(response, _)| response.as_str());
        cx.out.append(200, |v| {
            http::write_switching_protocols(v, &handshake.key, None, extensions, &[])
        });
        let max = Settings::limit(cx.settings.engine.max_payload);
        let ws = WebSocket::with_limit(max, deflate.map(|(_, state)| state), cx.now);
        self.phase = Phase::WebSocket(ws);
        self.reported = Some(Endpoint::EngineIo);
        if !leftover.is_empty() {
            self.read_websocket(&mut leftover, cx);
        }
        Ok(())
    }

    /// The kind of request waiting for the driver, if any.
    pub fn engine_waiting(&self) -> Option<RequestKind> {
        match &self.phase {
            Phase::EngineWait(w) => Some(w.kind),
            _ => None,
        }
    }

    /// An Engine.IO transport: a waiting request or a session's WebSocket
    /// (never addressed by the application itself).
    pub fn is_engine_transport(&self) -> bool {
        self.engine
    }

    /// The open WebSocket of an Engine.IO transport.
    pub fn engine_websocket(&mut self) -> Option<&mut WebSocket> {
        match &mut self.phase {
            Phase::WebSocket(ws) if self.engine && ws.is_open() => Some(ws),
            _ => None,
        }
    }

    /// Closes a session's WebSocket after what is queued (normal closure).
    pub fn engine_close<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        self.reported = None;
        match &self.phase {
            Phase::WebSocket(ws) if ws.is_open() => {
                let _ = self.close(1000, "", cx);
            }
            Phase::WebSocket(_) => {}
            _ => self.finish(cx, 1006, "", true),
        }
    }
}

/// The `allowed_origins` check, as for WebSocket and SSE routes.
pub(crate) fn origin_allowed(settings: &Settings, head: &RequestHead) -> bool {
    match head.header("origin") {
        Some(origin) => {
            let allowed = &settings.allowed_origins;
            allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
        }
        None => true,
    }
}
