//! The HTTP/1.1 request head and the responses we write (RFC 6455 §4.2,
//! RFC 9110), sans I/O. Parsing is `httparse`'s; the rules are ours.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::fmt::Write as _;

/// A parsed request head, owned so it can be handed to the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path without the query string, as sent (not percent-decoded).
    pub path: String,
    /// What followed `?` in the request target, without the `?`.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header names and values in the order received. Values that are not
    /// UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
}

/// A request head kept for later, in one allocation: a Socket.IO session
/// keeps its handshake for every namespace it may join, and an open
/// WebSocket or event stream keeps its request for `Server::request`; an
/// idle connection should not pay a string per header for it. The fields
/// are joined by `\n`, which none of them can hold (httparse ends a line
/// there).
#[derive(Debug, Clone)]
pub struct PackedHead(Box<str>);

impl PackedHead {
    pub fn pack(head: &RequestHead) -> PackedHead {
        PackedHead::pack_with(head, "", |_| true)
    }

    /// Packs `lead` (a field of the keeper's own, without a line break)
    /// before the head, and of the headers only those `keep` accepts.
    pub fn pack_with(head: &RequestHead, lead: &str, keep: impl Fn(&str) -> bool) -> PackedHead {
        let kept = || head.headers.iter().filter(|(n, _)| keep(n));
        let mut s = String::with_capacity(
            lead.len()
                + head.method.len()
                + head.path.len()
                + head.query.len()
                + kept().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>()
                + 9,
        );
        let _ = write!(
            s,
            "{lead}\n{}\n{}\n{}\n{}",
            head.method, head.path, head.query, head.version
        );
        for (n, v) in kept() {
            let _ = write!(s, "\n{n}\n{v}");
        }
        PackedHead(s.into_boxed_str())
    }

    pub fn unpack(&self) -> RequestHead {
        self.unpack_with().1
    }

    /// The `lead` it was packed with, and the head.
    pub fn unpack_with(&self) -> (&str, RequestHead) {
        let mut parts = self.0.split('\n');
        let lead = parts.next().unwrap_or_default();
        let mut next = || parts.next().unwrap_or_default().to_string();
        let (method, path, query) = (next(), next(), next());
        let version = next().parse().unwrap_or(1);
        let mut headers = Vec::new();
        loop {
            let name = next();
            if name.is_empty() {
                break;
            }
            headers.push((name, next()));
        }
        let head = RequestHead {
            method,
            path,
            query,
            version,
            headers,
        };
        (lead, head)
    }
}

impl RequestHead {
    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header that may repeat, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The comma-separated tokens of every instance of a list header, trimmed.
    pub fn header_tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_tokens(name)
            .any(|t| t.eq_ignore_ascii_case(token))
    }
}

/// An HTTP error answer: the status and any header the status requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: &'static str,
    pub extra_headers: &'static str,
}

const fn http_error(status: u16, message: &'static str) -> HttpError {
    HttpError {
        status,
        message,
        extra_headers: "",
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

pub enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A complete head of `len` bytes; anything after it belongs to the next
    /// protocol (frames the client pipelined after its handshake).
    Complete(RequestHead, usize),
}

/// Parses a request head from the start of `buf`, enforcing the limits:
/// an oversized head or too many headers is a 431. A limit of 0 is none.
pub fn parse_request(buf: &[u8], limits: HeadLimits) -> Result<Parsed, HttpError> {
    let too_large = http_error(431, "Request Header Fields Too Large");
    let max_bytes = if limits.max_head_bytes == 0 {
        usize::MAX
    } else {
        limits.max_head_bytes
    };
    // Without a limit on their number, room for headers grows until the
    // head fits (bounded by its byte size all the same).
    let mut room = match limits.max_headers {
        0 => 64,
        n => n,
    };
    loop {
        let mut storage = vec![httparse::EMPTY_HEADER; room];
        let mut req = httparse::Request::new(&mut storage);
        match req.parse(buf) {
            Ok(httparse::Status::Partial) => {
                return if buf.len() >= max_bytes {
                    Err(too_large)
                } else {
                    Ok(Parsed::Partial)
                };
            }
            Ok(httparse::Status::Complete(len)) => {
                if len > max_bytes {
                    return Err(too_large);
                }
                return Ok(Parsed::Complete(owned_head(&req), len));
            }
            Err(httparse::Error::TooManyHeaders) if limits.max_headers == 0 => room *= 2,
            Err(httparse::Error::TooManyHeaders) => return Err(too_large),
            Err(_) => return Err(http_error(400, "Bad Request")),
        }
    }
}

fn owned_head(req: &httparse::Request<'_, '_>) -> RequestHead {
    let target = req.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    RequestHead {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    }
}

/// Headers the application may not set: the ones this library writes
/// itself (framing, the upgrade, negotiation results).
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-version",
];

/// Checks a response header the application adds: the name must be an
/// HTTP token (RFC 9110 §5.1) and not one this library writes itself; the
/// value must not contain CR, LF or NUL (no header injection).
pub fn check_header(name: &str, value: &str) -> Result<(), &'static str> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err("header name must be a non-empty HTTP token");
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err("header is set by wsrt itself and cannot be added");
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err("header value must not contain CR, LF or NUL");
    }
    Ok(())
}

fn write_headers(s: &mut String, headers: &[(String, String)]) {
    for (n, v) in headers {
        let _ = write!(s, "{n}: {v}\r\n");
    }
}

/// Checks shared by every route: HTTP/1.1 requires `Host`.
pub fn check_common(head: &RequestHead) -> Result<(), HttpError> {
    if head.version == 1 && head.header("host").is_none() {
        return Err(http_error(400, "Bad Request: missing Host header"));
    }
    Ok(())
}

/// What a valid opening handshake tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsHandshake {
    pub key: String,
    /// Subprotocols the client offered, in its order of preference.
    pub protocols: Vec<String>,
}

/// Validates a WebSocket opening handshake (§4.2.1) already routed to a
/// WebSocket endpoint.
pub fn validate_websocket(head: &RequestHead) -> Result<WsHandshake, HttpError> {
    if head.method != "GET" {
        return Err(HttpError {
            status: 405,
            message: "Method Not Allowed",
            extra_headers: "Allow: GET\r\n",
        });
    }
    if head.version != 1 {
        return Err(http_error(400, "Bad Request: WebSocket needs HTTP/1.1"));
    }
    check_common(head)?;
    if !head.has_token("upgrade", "websocket") {
        return Err(HttpError {
            status: 426,
            message: "Upgrade Required: this is a WebSocket endpoint",
            extra_headers: "Upgrade: websocket\r\n",
        });
    }
    if !head.has_token("connection", "upgrade") {
        return Err(http_error(
            400,
            "Bad Request: Connection header lacks Upgrade",
        ));
    }
    let mut versions = head.header_values("sec-websocket-version");
    match (versions.next().map(str::trim), versions.next()) {
        (Some("13"), None) => {}
        (None, _) => {
            return Err(http_error(
                400,
                "Bad Request: missing Sec-WebSocket-Version",
            ))
        }
        _ => {
            return Err(HttpError {
                status: 426,
                message: "Upgrade Required: unsupported WebSocket version",
                extra_headers: "Sec-WebSocket-Version: 13\r\n",
            })
        }
    }
    let mut keys = head.header_values("sec-websocket-key");
    let key = match (keys.next().map(str::trim), keys.next()) {
        (Some(k), None) => k,
        _ => {
            return Err(http_error(
                400,
                "Bad Request: need exactly one Sec-WebSocket-Key",
            ))
        }
    };
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => {
            return Err(http_error(
                400,
                "Bad Request: Sec-WebSocket-Key is not base64 of 16 bytes",
            ))
        }
    }
    Ok(WsHandshake {
        key: key.to_string(),
        protocols: head
            .header_tokens("sec-websocket-protocol")
            .map(str::to_string)
            .collect(),
    })
}

/// `Sec-WebSocket-Accept` for a client key (§4.2.2 step 5.4).
pub fn accept_key(key: &str) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID);
    BASE64.encode(sha.finalize())
}

/// Picks the first of the server's subprotocols (its order of preference)
/// that the client offered.
pub fn choose_protocol<'a>(server: &'a [String], offered: &[String]) -> Option<&'a str> {
    server
        .iter()
        .find(|s| offered.iter().any(|o| o == *s))
        .map(String::as_str)
}

/// Appends the `101 Switching Protocols` answer, with the negotiated
/// subprotocol and extensions if any.
pub fn write_switching_protocols(
    out: &mut Vec<u8>,
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    headers: &[(String, String)],
) {
    let mut s = String::with_capacity(200);
    s.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    s.push_str(&accept_key(key));
    s.push_str("\r\n");
    if let Some(p) = protocol {
        let _ = write!(s, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    if let Some(e) = extensions {
        let _ = write!(s, "Sec-WebSocket-Extensions: {e}\r\n");
    }
    write_headers(&mut s, headers);
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

/// Appends the head that opens an event stream. The body is delimited by
/// closing the connection, which every EventSource client supports, so no
/// chunked framing is spent on each event.
pub fn write_event_stream_head(out: &mut Vec<u8>, headers: &[(String, String)]) {
    let mut s = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
X-Accel-Buffering: no\r\nConnection: close\r\n",
    );
    write_headers(&mut s, headers);
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

/// Appends a complete response that ends the connection. For a `HEAD`
/// request (`send_body` false) the head still gives the body's length, but
/// the body itself is left out (RFC 9110 §9.3.2).
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    extra_headers: &str,
    headers: &[(String, String)],
    content_type: &str,
    body: &[u8],
    send_body: bool,
) {
    let mut s = String::with_capacity(128 + extra_headers.len());
    let _ = write!(
        s,
        "HTTP/1.1 {status} {}\r\n{extra_headers}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    write_headers(&mut s, headers);
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
    if send_body {
        out.extend_from_slice(body);
    }
}

/// Appends the answer for a refused request: a short text body saying why
/// (left out when answering `HEAD`).
pub fn write_error(out: &mut Vec<u8>, err: &HttpError, send_body: bool) {
    let body = format!("{}\n", err.message);
    write_response(
        out,
        err.status,
        err.extra_headers,
        &[],
        "text/plain; charset=utf-8",
        body.as_bytes(),
        send_body,
    );
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
