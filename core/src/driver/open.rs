//! From request head to open connection: routing, handshake checks, the
//! app's approval, and the answers that end a refused request.

use super::compress;
use super::conn::Phase;
use super::Loop;
use crate::config::RouteKind;
use crate::event::{Endpoint, Event, Request};
use crate::proto::http::{self, HeadLimits, HttpError, Parsed, RequestHead, WsHandshake};
use crate::proto::ws::Receiver;

impl Loop {
    pub(super) fn on_head_bytes(&mut self, slot: usize, data: &mut [u8]) {
        let limits = HeadLimits {
            max_head_bytes: self.config.max_head_bytes,
            max_headers: self.config.max_headers,
        };
        let Phase::Head { buf } = &mut self.conns[slot].phase else {
            return;
        };
        if buf.is_empty() {
            // The usual case: the whole head came in one read; parse it in
            // place and keep nothing.
            match http::parse_request(data, limits) {
                Ok(Parsed::Complete(head, len)) => self.on_request(slot, head, &mut data[len..]),
                Ok(Parsed::Partial) => buf.extend_from_slice(data),
                Err(e) => self.answer_and_close(slot, &e),
            }
            return;
        }
        // Never hold more than the limit plus one read.
        buf.extend_from_slice(data);
        let mut held = std::mem::take(buf);
        match http::parse_request(&held, limits) {
            Ok(Parsed::Complete(head, len)) => self.on_request(slot, head, &mut held[len..]),
            Ok(Parsed::Partial) => {
                if let Phase::Head { buf } = &mut self.conns[slot].phase {
                    *buf = held;
                }
            }
            Err(e) => self.answer_and_close(slot, &e),
        }
    }

    /// Routes a complete request. `leftover` is whatever the client sent
    /// after its head (frames pipelined behind the handshake).
    fn on_request(&mut self, slot: usize, head: RequestHead, leftover: &mut [u8]) {
        self.conns[slot].head_only = head.method == "HEAD";
        let Some(route_index) = self.config.routes.iter().position(|r| r.path == head.path) else {
            return self.answer_and_close(
                slot,
                &HttpError {
                    status: 404,
                    message: "Not Found",
                    extra_headers: "",
                },
            );
        };
        let route = &self.config.routes[route_index];
        let (endpoint, handshake) = match &route.kind {
            RouteKind::Static { content_type, body } => {
                let result = if head.method != "GET" && head.method != "HEAD" {
                    Err(HttpError {
                        status: 405,
                        message: "Method Not Allowed",
                        extra_headers: "Allow: GET, HEAD\r\n",
                    })
                } else {
                    http::check_common(&head)
                };
                match result {
                    Ok(()) => {
                        let (ct, body) = (content_type.clone(), body.clone());
                        let conn = &mut self.conns[slot];
                        let send_body = !conn.head_only;
                        conn.out.append_with(&mut self.pool, 160 + body.len(), |v| {
                            http::write_response(v, 200, "", &ct, &body, send_body)
                        });
                        self.linger(slot);
                    }
                    Err(e) => self.answer_and_close(slot, &e),
                }
                return;
            }
            RouteKind::WebSocket => match http::validate_websocket(&head) {
                Ok(h) => (Endpoint::WebSocket, Some(h)),
                Err(e) => return self.answer_and_close(slot, &e),
            },
            RouteKind::Sse => {
                if head.method != "GET" {
                    let e = HttpError {
                        status: 405,
                        message: "Method Not Allowed",
                        extra_headers: "Allow: GET\r\n",
                    };
                    return self.answer_and_close(slot, &e);
                }
                if let Err(e) = http::check_common(&head) {
                    return self.answer_and_close(slot, &e);
                }
                (Endpoint::Sse, None)
            }
        };
        if let (Some(allowed), Some(origin)) = (&self.config.allowed_origins, head.header("origin"))
        {
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                let e = HttpError {
                    status: 403,
                    message: "Forbidden: origin not allowed",
                    extra_headers: "",
                };
                return self.answer_and_close(slot, &e);
            }
        }
        let conn = &mut self.conns[slot];
        let request = Box::new(Request {
            head,
            // One getpeername per connection rather than 32 bytes held by
            // every one; a client already gone leaves the unspecified address.
            peer: conn
                .socket
                .peer_addr()
                .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
            protocols: handshake
                .as_ref()
                .map(|h| h.protocols.clone())
                .unwrap_or_default(),
        });
        if route.approve {
            let id = conn.id;
            self.events.push(Event::Request {
                conn: id,
                endpoint,
                request: request.clone(),
            });
            conn.reported = Some(endpoint);
            conn.phase = Phase::Approval {
                endpoint,
                request,
                handshake,
                leftover: leftover.to_vec(),
            };
            return;
        }
        let protocol = handshake
            .as_ref()
            .and_then(|h| http::choose_protocol(&route.subprotocols, &h.protocols))
            .map(str::to_string);
        self.open(slot, endpoint, request, handshake, protocol, leftover);
    }

    /// Answers the handshake and opens the connection for the app.
    pub(crate) fn open(
        &mut self,
        slot: usize,
        endpoint: Endpoint,
        request: Box<Request>,
        handshake: Option<WsHandshake>,
        protocol: Option<String>,
        leftover: &mut [u8],
    ) {
        let max_message = self.config.max_message_size;
        let conn = &mut self.conns[slot];
        let id = conn.id;
        conn.reported = Some(endpoint);
        match (endpoint, handshake) {
            (Endpoint::WebSocket, Some(h)) => {
                let deflate = compress::negotiate(&self.config.deflate, &request.head);
                let extensions = deflate.as_ref().map(|(response, _)| response.as_str());
                conn.out.append_with(&mut self.pool, 200, |v| {
                    http::write_switching_protocols(v, &h.key, protocol.as_deref(), extensions)
                });
                let mut rx = Receiver::new(max_message);
                rx.set_deflate(deflate.is_some());
                conn.deflate = deflate.map(|(_, state)| state);
                conn.phase = Phase::WebSocket {
                    rx,
                    closing: None,
                    ending: None,
                    ping_sent: false,
                };
                self.events.push(Event::Open {
                    conn: id,
                    request,
                    protocol,
                });
                self.mark_dirty(slot);
                if let Some(idle) = self.config.idle_timeout {
                    self.arm(slot, self.now + idle / 2);
                }
                if !leftover.is_empty() {
                    self.feed_websocket(slot, leftover);
                }
            }
            _ => {
                conn.out
                    .append_with(&mut self.pool, 160, http::write_event_stream_head);
                conn.phase = Phase::Sse;
                conn.last_write = self.now;
                self.events.push(Event::SseOpen { conn: id, request });
                self.mark_dirty(slot);
                if let Some(ka) = self.config.sse_keepalive {
                    self.arm(slot, self.now + ka);
                }
            }
        }
    }

    /// Writes an HTTP answer and closes once it is flushed.
    pub(crate) fn answer_and_close(&mut self, slot: usize, err: &HttpError) {
        let conn = &mut self.conns[slot];
        let send_body = !conn.head_only;
        conn.out.append_with(&mut self.pool, 256, |v| {
            http::write_error(v, err, send_body)
        });
        self.linger(slot);
    }

    /// The app's verdict on a request awaiting approval.
    pub(crate) fn approve(
        &mut self,
        slot: usize,
        verdict: Result<Option<String>, (u16, String)>,
    ) -> crate::Result<()> {
        let conn = &mut self.conns[slot];
        let Phase::Approval { .. } = conn.phase else {
            return Err(crate::Error::WrongState(
                "connection is not awaiting approval",
            ));
        };
        let Phase::Approval {
            endpoint,
            request,
            handshake,
            mut leftover,
        } = std::mem::replace(&mut conn.phase, Phase::Head { buf: Vec::new() })
        else {
            unreachable!()
        };
        match verdict {
            Ok(protocol) => {
                if let Some(p) = &protocol {
                    if !request.protocols.iter().any(|o| o == p) {
                        // Put it back: the app may try again with a valid one.
                        conn.phase = Phase::Approval {
                            endpoint,
                            request,
                            handshake,
                            leftover,
                        };
                        return Err(crate::Error::InvalidArgument(
                            "subprotocol was not offered by the client",
                        ));
                    }
                }
                self.open(slot, endpoint, request, handshake, protocol, &mut leftover);
                // Reading was paused while the app decided.
                if let Some(c) = self.conns.get_mut(slot) {
                    c.read_ready = true;
                    self.resume.push(slot);
                }
            }
            Err((status, body)) => {
                conn.reported = None; // the app made this choice; no close event
                let conn = &mut self.conns[slot];
                conn.out.append_with(&mut self.pool, 160 + body.len(), |v| {
                    http::write_response(
                        v,
                        status,
                        "",
                        "text/plain; charset=utf-8",
                        body.as_bytes(),
                        true, // approval routes are GET (WebSocket or SSE)
                    )
                });
                self.linger(slot);
            }
        }
        Ok(())
    }
}
