//! What the per-connection state machines need to know: routes, limits,
//! timers and compression. The caller (core's `Config`) builds it once and
//! lends it to every call.
//!
//! Zero means "off" throughout: a timer of `Duration::ZERO` never fires and
//! a size limit of 0 is no limit. The caller has already checked ranges.

use bytes::Bytes;
use std::time::Duration;

/// The two kinds of WebSocket data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Text,
    Binary,
}

/// What the application is talking to: a connection's or a session's
/// kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    WebSocket,
    Sse,
    /// A plain Engine.IO session (long-polling or WebSocket underneath).
    EngineIo,
    /// A Socket.IO socket: one namespace of an Engine.IO session.
    SocketIo,
}

/// What a path serves.
#[derive(Debug, Clone)]
pub enum RouteKind {
    /// A WebSocket endpoint.
    WebSocket,
    /// A Server-Sent Events stream.
    Sse,
    /// A fixed `200` response (a page, a health check), then the connection
    /// closes.
    Static { content_type: String, body: Bytes },
    /// Engine.IO v4 sessions whose messages reach the application as they
    /// are (`/engine.io/`).
    EngineIo,
    /// Socket.IO v5 over Engine.IO (`/socket.io/`): these namespaces
    /// accept connections (`"/"` included only if listed); a connection to
    /// any other is refused with "Invalid namespace".
    SocketIo { namespaces: Vec<String> },
}

impl RouteKind {
    /// Serves Engine.IO sessions (plain or under Socket.IO).
    pub fn is_engine(&self) -> bool {
        matches!(self, RouteKind::EngineIo | RouteKind::SocketIo { .. })
    }
}

/// A path and what it serves. Paths match exactly, without the query.
#[derive(Debug, Clone)]
pub struct Route {
    pub path: String,
    pub kind: RouteKind,
    /// The application approves each request: a request event is
    /// delivered and nothing is answered until it accepts or rejects. On
    /// an Engine.IO route it approves each new session; on a Socket.IO
    /// route, each connection to a namespace (the middleware of socket.io).
    pub approve: bool,
    /// WebSocket subprotocols this endpoint speaks, in order of preference.
    pub subprotocols: Vec<String>,
    /// Response headers added to every answer of this route that opens it
    /// (the 101, the event-stream head, the static page), e.g. CORS.
    pub headers: Vec<(String, String)>,
}

impl Route {
    pub fn new(path: &str, kind: RouteKind) -> Self {
        Route {
            path: path.to_string(),
            kind,
            approve: false,
            subprotocols: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The application accepts or rejects each request (auth, origin checks).
    pub fn with_approval(mut self) -> Self {
        self.approve = true;
        self
    }

    pub fn with_subprotocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, p: I) -> Self {
        self.subprotocols = p.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a response header to this route's answers.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// How (and whether) WebSocket messages are compressed (RFC 7692).
///
/// Off by default: compression spends CPU on every message above the
/// threshold to save bandwidth, which only pays for text-heavy traffic over
/// real networks, and compressing secrets next to attacker-chosen text in
/// one context leaks them (CRIME/BREACH). Turn it on where it pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeflateMode {
    /// Offers are declined; messages go uncompressed.
    Off,
    /// No context takeover either way: one compressor and one decompressor
    /// per loop serve every connection, so a compressing connection costs no
    /// more memory than any other. Ratio is a little worse (each message
    /// starts with an empty window), and the client must accept
    /// `client_no_context_takeover` (every browser does).
    Shared,
    /// Context takeover as the client offers it: best ratio for streams of
    /// similar messages, at the cost of a zlib compressor (~256 KiB) and
    /// decompressor (~40 KiB) per connection that uses them. A connection's
    /// compressor is freed after 30 s without compressing; the next message
    /// starts a fresh stream, which every client reads. The decompressor
    /// stays while the client keeps its context.
    PerConnection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    pub mode: DeflateMode,
    /// Messages shorter than this go out uncompressed (0: compress all).
    pub threshold: usize,
    /// zlib level 0-9.
    pub level: u32,
    /// Our compressor's LZ77 window, 9-15 (smaller uses less memory and
    /// compresses less).
    pub window_bits: u8,
}

/// What a send past `max_buffered` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// The send is refused (backpressure) and nothing is queued; a drain
    /// event tells the app when the queue has emptied.
    Reject,
    /// The connection is closed with 1008 (policy violation).
    Close,
}

/// Engine.IO and Socket.IO: the fields of the core's `Config` of the
/// same names (`sio_*`, `cors_*`).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub connect_timeout: Duration,
    pub upgrade_timeout: Duration,
    pub max_payload: usize,
    pub recovery_window: Duration,
    pub cors_origins: Vec<String>,
    pub cors_credentials: bool,
}

/// Everything a connection's protocol needs from the configuration: the
/// fields of the core's `Config` of the same names, whose documentation
/// (and the option schema) says what each means. Zero turns a timer or a
/// limit off.
#[derive(Debug, Clone)]
pub struct Settings {
    pub routes: Vec<Route>,
    pub max_message_size: usize,
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub close_timeout: Duration,
    pub sse_keepalive: Duration,
    pub max_buffered: usize,
    pub overflow_policy: OverflowPolicy,
    pub allowed_origins: Vec<String>,
    pub deflate: DeflateConfig,
    pub engine: EngineSettings,
}

impl Settings {
    /// The configured limit, or "none" as the largest value.
    pub(crate) fn limit(v: usize) -> usize {
        if v == 0 {
            usize::MAX
        } else {
            v
        }
    }

    pub(crate) fn route(&self, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.path == path)
    }
}

/// `Some(d)` unless `d` is zero (the timer is off).
pub(crate) fn timer(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}
