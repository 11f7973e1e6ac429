//! From request head to open connection: reading the head, routing, the
//! handshake checks, the application's approval, and the answers that end
//! a refused request.

use super::{Connection, Pending, Phase};
use crate::compress;
use crate::http::{self, HeadLimits, HttpError, Parsed, RequestHead, WsHandshake};
use crate::output::{ConnEvent, Cx, Output, Refusal};
use crate::settings::{Endpoint, RouteKind};
use crate::sse_stream::SseStream;
use crate::websocket::WebSocket;

impl Connection {
    pub(crate) fn read_head<O: Output>(&mut self, data: &mut [u8], cx: &mut Cx<'_, O>) {
        let limits = HeadLimits {
            max_head_bytes: cx.settings.max_head_bytes,
            max_headers: cx.settings.max_headers,
        };
        let Phase::Head { buf, since } = &mut self.phase else {
            return;
        };
        let since = *since;
        if buf.is_empty() {
            // The usual case: the whole head came in one read; parse it in
            // place and keep nothing.
            match http::parse_request(data, limits) {
                Ok(Parsed::Complete(head, len)) => {
                    self.on_request(head, &mut data[len..], since, cx)
                }
                Ok(Parsed::Partial) => buf.extend_from_slice(data),
                Err(e) => self.answer_error(cx, &e),
            }
            return;
        }
        // Never hold more than the limit plus one read.
        buf.extend_from_slice(data);
        let mut held = std::mem::take(buf);
        match http::parse_request(&held, limits) {
            Ok(Parsed::Complete(head, len)) => self.on_request(head, &mut held[len..], since, cx),
            Ok(Parsed::Partial) => {
                if let Phase::Head { buf, .. } = &mut self.phase {
                    *buf = held;
                }
            }
            Err(e) => self.answer_error(cx, &e),
        }
    }

    /// Routes a complete request. `leftover` is whatever the client sent
    /// after its head (frames pipelined behind the handshake).
    fn on_request<O: Output>(
        &mut self,
        head: RequestHead,
        leftover: &mut [u8],
        since: std::time::Instant,
        cx: &mut Cx<'_, O>,
    ) {
        self.head_only = head.method == "HEAD";
        let settings = cx.settings;
        let Some(route_index) = settings.route(&head.path) else {
            return self.answer_error(cx, &error(404, "Not Found", ""));
        };
        let route = &settings.routes[route_index];
        if route.kind.is_engine() {
            return self.on_engine_request(route_index, head, leftover, since, cx);
        }
        let (endpoint, handshake) = match &route.kind {
            RouteKind::Static { content_type, body } => {
                let result = if head.method != "GET" && head.method != "HEAD" {
                    Err(error(405, "Method Not Allowed", "Allow: GET, HEAD\r\n"))
                } else {
                    http::check_common(&head)
                };
                match result {
                    Ok(()) => {
                        let send_body = !self.head_only;
                        let headers = &route.headers;
                        cx.out.append(160 + body.len(), |v| {
                            http::write_response(v, 200, "", headers, content_type, body, send_body)
                        });
                        self.linger(cx);
                    }
                    Err(e) => self.answer_error(cx, &e),
                }
                return;
            }
            RouteKind::WebSocket => match http::validate_websocket(&head) {
                Ok(h) => (Endpoint::WebSocket, Some(h)),
                Err(e) => return self.answer_error(cx, &e),
            },
            RouteKind::Sse => {
                if head.method != "GET" {
                    return self
                        .answer_error(cx, &error(405, "Method Not Allowed", "Allow: GET\r\n"));
                }
                if let Err(e) = http::check_common(&head) {
                    return self.answer_error(cx, &e);
                }
                (Endpoint::Sse, None)
            }
            RouteKind::EngineIo | RouteKind::SocketIo { .. } => unreachable!("routed above"),
        };
        if !super::engine::origin_allowed(settings, &head) {
            return self.answer_error(cx, &error(403, "Forbidden: origin not allowed", ""));
        }
        let head = Box::new(head);
        if route.approve {
            self.reported = Some(endpoint);
            cx.out.event(ConnEvent::Request {
                endpoint,
                head: head.clone(),
                protocols: handshake
                    .as_ref()
                    .map(|h| h.protocols.clone())
                    .unwrap_or_default(),
            });
            self.phase = Phase::Approval(Box::new(Pending {
                endpoint,
                route: route_index,
                head,
                handshake,
                leftover: leftover.to_vec(),
                since,
            }));
            return;
        }
        let protocol = handshake
            .as_ref()
            .and_then(|h| http::choose_protocol(&route.subprotocols, &h.protocols))
            .map(str::to_string);
        self.open(
            route_index,
            endpoint,
            head,
            handshake,
            protocol,
            &[],
            leftover,
            cx,
        );
    }

    /// Answers the handshake and opens the connection for the application.
    #[allow(clippy::too_many_arguments)]
    fn open<O: Output>(
        &mut self,
        route: usize,
        endpoint: Endpoint,
        head: Box<RequestHead>,
        handshake: Option<WsHandshake>,
        protocol: Option<String>,
        headers: &[(String, String)],
        leftover: &mut [u8],
        cx: &mut Cx<'_, O>,
    ) {
        let settings = cx.settings;
        let route_headers = &settings.routes[route].headers;
        self.reported = Some(endpoint);
        match (endpoint, handshake) {
            (Endpoint::WebSocket, Some(h)) => {
                let deflate = compress::negotiate(&settings.deflate, &head);
                let extensions = deflate.as_ref().map(|(response, _)| response.as_str());
                cx.out.append(200, |v| {
                    let all: Vec<(String, String)>;
                    let hs = if headers.is_empty() {
                        route_headers.as_slice()
                    } else {
                        all = route_headers.iter().chain(headers).cloned().collect();
                        all.as_slice()
                    };
                    http::write_switching_protocols(v, &h.key, protocol.as_deref(), extensions, hs)
                });
                let ws = WebSocket::new(settings, deflate.map(|(_, state)| state), cx.now);
                self.phase = Phase::WebSocket(ws);
                cx.out.event(ConnEvent::Open { head, protocol });
                if !leftover.is_empty() {
                    self.read_websocket(leftover, cx);
                }
            }
            _ => {
                cx.out.append(160, |v| {
                    let all: Vec<(String, String)> =
                        route_headers.iter().chain(headers).cloned().collect();
                    http::write_event_stream_head(v, &all)
                });
                self.phase = Phase::Sse(SseStream::new(cx.now, head.header("last-event-id")));
                cx.out.event(ConnEvent::SseOpen { head });
            }
        }
    }

    /// Writes an HTTP error answer and lingers until it is flushed.
    pub(crate) fn answer_error<O: Output>(&mut self, cx: &mut Cx<'_, O>, err: &HttpError) {
        let send_body = !self.head_only;
        cx.out.append(256, |v| http::write_error(v, err, send_body));
        self.linger(cx);
    }

    /// Accepts a request awaiting approval, choosing one of the
    /// subprotocols the client offered (`None`: the route's preference, as
    /// without approval) and adding `headers` to the answer.
    pub fn accept<O: Output>(
        &mut self,
        protocol: Option<&str>,
        headers: &[(String, String)],
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        let Phase::Approval(p) = &self.phase else {
            return Err(self.not_approval());
        };
        if let Some(proto) = protocol {
            if !p
                .handshake
                .as_ref()
                .is_some_and(|h| h.protocols.iter().any(|o| o == proto))
            {
                return Err(Refusal::InvalidArgument(
                    "subprotocol was not offered by the client",
                ));
            }
        }
        check_headers(headers)?;
        let Phase::Approval(p) = std::mem::replace(&mut self.phase, Phase::Dead) else {
            unreachable!("checked above")
        };
        let Pending {
            endpoint,
            route,
            head,
            handshake,
            mut leftover,
            ..
        } = *p;
        // None: the route's first preference the client offered, as for
        // routes without approval.
        let protocol = match protocol {
            Some(p) => Some(p.to_string()),
            None => handshake.as_ref().and_then(|h| {
                http::choose_protocol(&cx.settings.routes[route].subprotocols, &h.protocols)
                    .map(str::to_string)
            }),
        };
        self.open(
            route,
            endpoint,
            head,
            handshake,
            protocol,
            headers,
            &mut leftover,
            cx,
        );
        Ok(())
    }

    /// Refuses a request awaiting approval with an HTTP status (400-599),
    /// a short text body and `headers`. The application made this choice,
    /// so no close event follows.
    pub fn reject<O: Output>(
        &mut self,
        status: u16,
        body: &str,
        headers: &[(String, String)],
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        if !(400..=599).contains(&status) {
            return Err(Refusal::InvalidArgument("reject status must be 400-599"));
        }
        if !matches!(self.phase, Phase::Approval(_)) {
            return Err(self.not_approval());
        }
        check_headers(headers)?;
        self.reported = None;
        cx.out.append(160 + body.len(), |v| {
            http::write_response(
                v,
                status,
                "",
                headers,
                "text/plain; charset=utf-8",
                body.as_bytes(),
                true, // approval routes answer GET (WebSocket or SSE)
            )
        });
        self.linger(cx);
        Ok(())
    }

    fn not_approval(&self) -> Refusal {
        match self.phase {
            Phase::Linger { .. } | Phase::Dead => Refusal::Closed,
            _ => Refusal::WrongState("connection is not awaiting approval"),
        }
    }
}

/// Checks response headers the application adds.
pub fn check_headers(headers: &[(String, String)]) -> Result<(), Refusal> {
    for (n, v) in headers {
        http::check_header(n, v).map_err(Refusal::InvalidArgument)?;
    }
    Ok(())
}

const fn error(status: u16, message: &'static str, extra_headers: &'static str) -> HttpError {
    HttpError {
        status,
        message,
        extra_headers,
    }
}
