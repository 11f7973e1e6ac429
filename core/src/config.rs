//! Server configuration: where to listen, which paths serve what, and the
//! limits that keep a misbehaving peer from costing us memory or time.

use bytes::Bytes;
use std::time::Duration;

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
}

/// A path and what it serves. Paths match exactly, without the query.
#[derive(Debug, Clone)]
pub struct Route {
    pub path: String,
    pub kind: RouteKind,
    /// When true the application decides: a `Request` event is delivered and
    /// nothing is answered until the app calls `accept` or `reject`.
    pub approve: bool,
    /// WebSocket subprotocols this endpoint speaks, in order of preference.
    pub subprotocols: Vec<String>,
}

/// What happens when a send would take a connection's queued bytes past
/// `Config::max_buffered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// The send fails with `Error::Backpressure` and nothing is queued; a
    /// `Drain` event tells the app when the queue has emptied.
    Reject,
    /// The connection is closed with 1008 (policy violation); the app sees
    /// its `Close` event.
    Close,
}

/// What a publish does with a subscriber that already has more than
/// `Config::slow_consumer_limit` bytes queued (it is not reading fast
/// enough). Either way the memory a subscriber can hold is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Skip this message for that subscriber (volatile data: cursor
    /// positions, prices that the next message supersedes).
    Drop,
    /// Close the subscriber: its `Close` event carries 1008 (WebSocket;
    /// the connection is dropped at once, since a close frame would wait
    /// behind everything it has not read) or it gets `SseClose`.
    Close,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:9001`.
    pub listen: String,
    pub routes: Vec<Route>,
    /// Largest WebSocket message accepted (reassembled size). Bigger closes
    /// with 1009 as soon as a frame header shows it. Default 16 MiB.
    pub max_message_size: usize,
    /// Largest request head; larger is answered 431. Default 8 KiB.
    pub max_head_bytes: usize,
    /// Most request headers; more is answered 431. Default 64.
    pub max_headers: usize,
    /// A connection that has not finished its request head (or been
    /// accepted by the app) by then is dropped. Default 10 s.
    pub handshake_timeout: Duration,
    /// With no frame from a WebSocket peer for half this time we ping it;
    /// with none for the whole time we drop it (1006). `None` disables.
    /// Default 120 s.
    pub idle_timeout: Option<Duration>,
    /// How long a closing connection may take to finish the close handshake
    /// and flush. Default 5 s.
    pub close_timeout: Duration,
    /// Cap on bytes queued for one connection. Default 32 MiB (twice the
    /// default message size, so an echoed maximum message fits).
    pub max_buffered: usize,
    /// While more than this is queued for a connection we stop reading from
    /// it, so a peer that sends without reading cannot grow our queue.
    /// Default 1 MiB.
    pub read_pause_buffered: usize,
    pub overflow_policy: OverflowPolicy,
    /// Send a comment on an SSE stream that has been quiet this long, so
    /// proxies keep it open and dead clients are found. Default 15 s.
    pub sse_keepalive: Option<Duration>,
    /// If set, WebSocket and SSE requests whose `Origin` is not listed are
    /// answered 403. Requests without `Origin` (non-browser clients) pass.
    pub allowed_origins: Option<Vec<String>>,
    /// Connections beyond this are accepted and closed at once. Default none.
    pub max_connections: Option<usize>,
    /// permessage-deflate (RFC 7692). Off by default: see [`DeflateMode`].
    pub deflate: DeflateConfig,
    /// A publish finds a subscriber with more than this queued (after
    /// letting its socket take what it will) slow. One message may pass
    /// it when the queue is empty, so a subscriber holds at most this plus
    /// one message. Default 1 MiB.
    pub slow_consumer_limit: usize,
    /// What publishes do with slow subscribers unless a publish says
    /// otherwise. Default `Close`: no subscriber silently misses messages.
    pub slow_consumer_policy: SlowConsumerPolicy,
}

/// How (and whether) WebSocket messages are compressed.
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
    /// decompressor (~40 KiB) per connection that uses them. Where the
    /// client negotiated no context takeover, the shared ones are used. A
    /// connection's compressor is freed after 30 s without compressing
    /// (checked on the idle-ping timer, so only with `idle_timeout` set);
    /// the next message starts a fresh stream, which every client reads.
    /// The decompressor stays while the client keeps its context.
    PerConnection,
}

#[derive(Debug, Clone, Copy)]
pub struct DeflateConfig {
    pub mode: DeflateMode,
    /// Messages shorter than this go out uncompressed. Default 256 bytes.
    pub threshold: usize,
    /// zlib level 0-9. Default 6 (zlib's default).
    pub level: u32,
    /// Our compressor's LZ77 window, 9-15 (smaller uses less memory and
    /// compresses less). Default 15.
    pub server_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            mode: DeflateMode::Off,
            threshold: 256,
            level: 6,
            server_max_window_bits: 15,
        }
    }
}

impl Config {
    pub fn new(listen: impl Into<String>) -> Self {
        Config {
            listen: listen.into(),
            routes: Vec::new(),
            max_message_size: 16 << 20,
            max_head_bytes: 8 << 10,
            max_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(120)),
            close_timeout: Duration::from_secs(5),
            max_buffered: 32 << 20,
            read_pause_buffered: 1 << 20,
            overflow_policy: OverflowPolicy::Reject,
            sse_keepalive: Some(Duration::from_secs(15)),
            allowed_origins: None,
            max_connections: None,
            deflate: DeflateConfig::default(),
            slow_consumer_limit: 1 << 20,
            slow_consumer_policy: SlowConsumerPolicy::Close,
        }
    }

    /// Adds a WebSocket endpoint.
    pub fn websocket(mut self, path: &str) -> Self {
        self.routes.push(Route::new(path, RouteKind::WebSocket));
        self
    }

    /// Adds an SSE endpoint.
    pub fn sse(mut self, path: &str) -> Self {
        self.routes.push(Route::new(path, RouteKind::Sse));
        self
    }

    /// Adds a fixed response.
    pub fn static_page(mut self, path: &str, content_type: &str, body: impl Into<Bytes>) -> Self {
        let kind = RouteKind::Static {
            content_type: content_type.to_string(),
            body: body.into(),
        };
        self.routes.push(Route::new(path, kind));
        self
    }

    /// Adds a route built by hand (to set `approve` or `subprotocols`).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.max_message_size == 0 {
            return Err("max_message_size must be positive");
        }
        if self.max_head_bytes < 64 || self.max_headers == 0 {
            return Err("max_head_bytes must be at least 64 and max_headers positive");
        }
        if !(9..=15).contains(&self.deflate.server_max_window_bits) || self.deflate.level > 9 {
            return Err("deflate window bits must be 9-15 and level 0-9");
        }
        if self.max_buffered < 1024 || self.slow_consumer_limit < 1024 {
            return Err("max_buffered and slow_consumer_limit must be at least 1024");
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !r.path.starts_with('/') {
                return Err("route paths must start with '/'");
            }
            if self.routes[..i].iter().any(|o| o.path == r.path) {
                return Err("two routes have the same path");
            }
        }
        Ok(())
    }
}

impl Route {
    pub fn new(path: &str, kind: RouteKind) -> Self {
        Route {
            path: path.to_string(),
            kind,
            approve: false,
            subprotocols: Vec::new(),
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
}
