//! The HTTP side of Engine.IO: what a request to an Engine.IO route asks
//! for (its query), the errors the reference server answers with, and the
//! answers of long-polling (payloads, "ok", CORS, the preflight).

use crate::eio;
use crate::http::RequestHead;
use crate::settings::EngineSettings;
use std::fmt::Write as _;

pub use crate::transport::Transport;

/// The errors of the reference server, numbered as it numbers them (the
/// `code` of its JSON answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EngineError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl EngineError {
    pub fn message(self) -> &'static str {
        match self {
            EngineError::UnknownTransport => "Transport unknown",
            EngineError::UnknownSid => "Session ID unknown",
            EngineError::BadHandshakeMethod => "Bad handshake method",
            EngineError::BadRequest => "Bad request",
            EngineError::Forbidden => "Forbidden",
            EngineError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            EngineError::Forbidden => 403,
            _ => 400,
        }
    }
}

/// What a request to an Engine.IO route asks for, from its method and
/// query, checked in the reference server's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineQuery {
    pub transport: Transport,
    /// The session, or `None` for a handshake.
    pub sid: Option<String>,
}

/// The value of `name` in a query string (`a=1&b=2`), not percent-decoded
/// (Engine.IO's values are plain tokens).
pub fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Reads and checks the query of a request that is not a CORS preflight.
/// `upgrade` says the request is a WebSocket handshake.
pub fn parse_query(head: &RequestHead, upgrade: bool) -> Result<EngineQuery, EngineError> {
    let transport = match query_value(&head.query, "transport") {
        Some("polling") => Transport::Polling,
        Some("websocket") => Transport::WebSocket,
        _ => return Err(EngineError::UnknownTransport),
    };
    let sid = query_value(&head.query, "sid")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if sid.is_none() {
        if head.method != "GET" {
            return Err(EngineError::BadHandshakeMethod);
        }
        if transport == Transport::WebSocket && !upgrade {
            return Err(EngineError::BadRequest);
        }
        if query_value(&head.query, "EIO") != Some(eio::PROTOCOL) {
            return Err(EngineError::UnsupportedProtocolVersion);
        }
    } else if transport == Transport::WebSocket && !upgrade {
        return Err(EngineError::BadRequest);
    }
    if transport == Transport::Polling && head.method != "GET" && head.method != "POST" {
        return Err(EngineError::BadRequest);
    }
    Ok(EngineQuery { transport, sid })
}

/// The CORS headers of an answer to a request from `origin`, as the
/// settings allow (none when no origin is allowed or the request is not
/// cross-origin).
pub fn cors_headers(settings: &EngineSettings, origin: Option<&str>, out: &mut String) {
    let Some(origin) = origin else { return };
    let any = settings.cors_origins.iter().any(|o| o == "*");
    let listed = settings
        .cors_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin));
    if !any && !listed {
        return;
    }
    if any && !settings.cors_credentials {
        out.push_str("Access-Control-Allow-Origin: *\r\n");
    } else {
        // Credentials forbid the wildcard: name the origin, and say the
        // answer depends on it.
        let _ = write!(
            out,
            "Access-Control-Allow-Origin: {origin}\r\nVary: Origin\r\n"
        );
    }
    if settings.cors_credentials {
        out.push_str("Access-Control-Allow-Credentials: true\r\n");
    }
}

/// How an answer ends: keep the connection for the next request, or close.
fn connection_header(keep_alive: bool) -> &'static str {
    if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    }
}

/// Appends a `200` answer with a long-polling payload (or a handshake's
/// open packet).
pub fn write_payload(out: &mut Vec<u8>, body: &[u8], cors: &str, keep_alive: bool) {
    let mut s = String::with_capacity(160 + cors.len());
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\
Cache-Control: no-store\r\n{cors}{}\r\n",
        body.len(),
        connection_header(keep_alive)
    );
    out.reserve(s.len() + body.len());
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(body);
}

/// Appends the answer to a POST whose packets were taken.
pub fn write_ok(out: &mut Vec<u8>, cors: &str, keep_alive: bool) {
    let _ = write!(
        Writer(out),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\
Cache-Control: no-store\r\n{cors}{}\r\nok",
        connection_header(keep_alive)
    );
}

/// Appends an error answer: the reference server's JSON body.
pub fn write_error(out: &mut Vec<u8>, err: EngineError, cors: &str, keep_alive: bool) {
    let body = format!(
        "{{\"code\":{},\"message\":\"{}\"}}",
        err as u8,
        err.message()
    );
    let reason = if err.status() == 403 {
        "Forbidden"
    } else {
        "Bad Request"
    };
    let _ = write!(
        Writer(out),
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
{cors}{}\r\n{body}",
        err.status(),
        body.len(),
        connection_header(keep_alive)
    );
}

/// Appends an answer with a status and no body (413 for a POST over
/// `maxPayload`, 411 for a POST without a length).
pub fn write_status(out: &mut Vec<u8>, status: u16, reason: &str, cors: &str) {
    let _ = write!(
        Writer(out),
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n{cors}Connection: close\r\n\r\n"
    );
}

/// Appends the answer to a CORS preflight (`OPTIONS`).
pub fn write_preflight(out: &mut Vec<u8>, head: &RequestHead, cors: &str, keep_alive: bool) {
    let mut s = String::with_capacity(256);
    s.push_str("HTTP/1.1 204 No Content\r\n");
    s.push_str(cors);
    if !cors.is_empty() {
        s.push_str("Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
        if let Some(h) = head.header("access-control-request-headers") {
            if !h.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                let _ = write!(s, "Access-Control-Allow-Headers: {h}\r\n");
            }
        }
    }
    let _ = write!(
        s,
        "Content-Length: 0\r\n{}\r\n",
        connection_header(keep_alive)
    );
    out.extend_from_slice(s.as_bytes());
}

/// `fmt::Write` into a byte buffer.
struct Writer<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, query: &str) -> RequestHead {
        RequestHead {
            method: method.into(),
            path: "/engine.io/".into(),
            query: query.into(),
            version: 1,
            headers: vec![("Host".into(), "x".into())],
        }
    }

    #[test]
    fn queries_checked_in_the_reference_order() {
        let ok = parse_query(&head("GET", "EIO=4&transport=polling"), false).unwrap();
        assert_eq!((ok.transport, ok.sid), (Transport::Polling, None));
        let err = |m, q, up| parse_query(&head(m, q), up).unwrap_err();
        assert_eq!(err("GET", "EIO=4", false), EngineError::UnknownTransport);
        assert_eq!(
            err("GET", "EIO=4&transport=abc", false),
            EngineError::UnknownTransport
        );
        assert_eq!(
            err("POST", "EIO=4&transport=polling", false),
            EngineError::BadHandshakeMethod
        );
        assert_eq!(
            err("PUT", "EIO=4&transport=polling", false),
            EngineError::BadHandshakeMethod
        );
        assert_eq!(
            err("GET", "transport=polling", false),
            EngineError::UnsupportedProtocolVersion
        );
        assert_eq!(
            err("GET", "EIO=abc&transport=polling", false),
            EngineError::UnsupportedProtocolVersion
        );
        assert_eq!(
            err("GET", "EIO=4&transport=websocket", false),
            EngineError::BadRequest
        );
        assert_eq!(
            err("PUT", "EIO=4&transport=polling&sid=x", false),
            EngineError::BadRequest
        );
        let ws = parse_query(&head("GET", "EIO=4&transport=websocket&sid=abc"), true).unwrap();
        assert_eq!(ws.sid.as_deref(), Some("abc"));
    }

    #[test]
    fn cors_as_configured() {
        let mut s = EngineSettings {
            ping_interval: Default::default(),
            ping_timeout: Default::default(),
            connect_timeout: Default::default(),
            upgrade_timeout: Default::default(),
            max_payload: 0,
            recovery_window: Default::default(),
            cors_origins: vec!["*".into()],
            cors_credentials: false,
        };
        let cors = |s: &EngineSettings, o| {
            let mut out = String::new();
            cors_headers(s, o, &mut out);
            out
        };
        assert_eq!(
            cors(&s, Some("http://a")),
            "Access-Control-Allow-Origin: *\r\n"
        );
        assert_eq!(cors(&s, None), "");
        s.cors_credentials = true;
        assert!(cors(&s, Some("http://a")).contains(
            "Origin: http://a\r\nVary: Origin\r\nAccess-Control-Allow-Credentials: true"
        ));
        s.cors_origins = vec!["http://b".into()];
        assert_eq!(cors(&s, Some("http://a")), "");
        assert!(cors(&s, Some("http://b")).starts_with("Access-Control-Allow-Origin: http://b"));
        let mut out = Vec::new();
        write_error(&mut out, EngineError::UnknownSid, "", true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"code\":1,\"message\":\"Session ID unknown\"}"));
    }
}
