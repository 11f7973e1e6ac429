//! Server configuration: where to listen, which paths serve what, and the
//! limits that keep a misbehaving peer from costing us memory or time.
//!
//! Every field is also an option of the front contract (see
//! [`crate::options`]), where its name in each front, its unit, range and
//! default are written once. Zero turns a timer or a limit off.

use crate::proto::{
    DeflateConfig, DeflateMode, EngineSettings, OverflowPolicy, Route, RouteKind, Settings,
};
use bytes::Bytes;
use std::time::Duration;

/// What a publish does with a subscriber that already has more than
/// `Config::slow_consumer_limit` bytes queued (it is not reading fast
/// enough). Either way the memory a subscriber can hold is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Skip this message for that subscriber (volatile data: cursor
    /// positions, prices that the next message supersedes).
    Drop,
    /// Close the subscriber: its close event carries 1008 (WebSocket; the
    /// connection is dropped at once, since a close frame would wait behind
    /// everything it has not read) or it gets its stream-close event.
    Close,
}

/// Whether a TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// None asked for.
    #[default]
    None = 0,
    /// Verified against `tls_ca` if the client sends one.
    Optional = 1,
    /// A handshake without a valid one is refused.
    Required = 2,
}

/// The oldest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12 = 12,
    Tls13 = 13,
}

/// How the application spelled the TLS options, so that messages at bind
/// and reload name them as it wrote them: Python and C write `tls_cert`,
/// Node `tlsCert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spelling {
    #[default]
    Snake,
    Camel,
}

/// TLS: certificates, client certificates, versions and where TLS is
/// spoken. Files are read when the server binds (and on reload).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Certificate chains: PEM file paths or PEM text. Empty: no TLS.
    pub cert: Vec<String>,
    /// Their private keys, in the same order.
    pub key: Vec<String>,
    /// CAs client certificates are verified against.
    pub ca: Vec<String>,
    pub client_auth: ClientAuth,
    pub min_version: TlsVersion,
    /// An address for TLS beside a plain `listen`; empty: `listen` speaks
    /// TLS when certificates are set.
    pub listen: String,
    /// Set by `Config::set` from the names it was given.
    pub spelling: Spelling,
}

impl TlsOptions {
    /// Whether the server speaks TLS anywhere.
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty()
    }

    /// The checks that need no file: every option that only makes sense
    /// with another has it.
    pub(crate) fn check(&self) -> crate::Result<()> {
        use crate::Error;
        let [cert, key, ca, auth] =
            ["tls_cert", "tls_key", "tls_ca", "tls_client_auth"].map(|n| self.name(n));
        if self.cert.len() != self.key.len() {
            return Err(Error::invalid(format!(
                "{cert} and {key} pair up: {} certificate(s) but {} key(s)",
                self.cert.len(),
                self.key.len()
            )));
        }
        if !self.enabled() {
            let stray = [
                (!self.ca.is_empty(), ca),
                (self.client_auth != ClientAuth::None, auth),
                (!self.listen.is_empty(), self.name("tls_listen")),
            ];
            if let Some((_, name)) = stray.iter().find(|(set, _)| *set) {
                return Err(Error::invalid(format!("{name} needs {cert} and {key}")));
            }
        }
        match (self.client_auth, self.ca.is_empty()) {
            (ClientAuth::None, false) => Err(Error::invalid(format!(
                "{ca} verifies client certificates: set {auth} to \"optional\" or \"required\""
            ))),
            (ClientAuth::Optional | ClientAuth::Required, true) => Err(Error::invalid(format!(
                "{auth} needs {ca}, the CAs client certificates are verified against"
            ))),
            _ => Ok(()),
        }
    }
}

/// A cluster of servers: publishes reach the subscribers of every server
/// that shares the bus.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Where the cluster's Redis is: `redis://host:port/` (a database
    /// number as the path, a user and password before the host) or
    /// `redis+unix:///path`. Empty: no cluster.
    pub redis_url: String,
    /// Set by `Config::set` from the name it was given.
    pub spelling: Spelling,
}

/// The defaults, in the units the options use.
pub(crate) mod defaults {
    pub const MAX_MESSAGE_SIZE: u64 = 16 << 20;
    pub const MAX_HEAD_BYTES: u64 = 8 << 10;
    pub const MAX_HEADERS: u64 = 64;
    pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
    pub const IDLE_TIMEOUT_MS: u64 = 120_000;
    pub const CLOSE_TIMEOUT_MS: u64 = 5_000;
    pub const MAX_BUFFERED: u64 = 32 << 20;
    pub const READ_PAUSE_BUFFERED: u64 = 1 << 20;
    pub const SSE_KEEPALIVE_MS: u64 = 15_000;
    pub const MAX_CONNECTIONS: u64 = 0;
    pub const DEFLATE_THRESHOLD: u64 = 256;
    pub const DEFLATE_LEVEL: u64 = 6;
    pub const DEFLATE_WINDOW_BITS: u64 = 15;
    pub const SLOW_CONSUMER_LIMIT: u64 = 1 << 20;
    pub const SIO_PING_INTERVAL_MS: u64 = 25_000;
    pub const SIO_PING_TIMEOUT_MS: u64 = 20_000;
    pub const SIO_CONNECT_TIMEOUT_MS: u64 = 45_000;
    pub const SIO_UPGRADE_TIMEOUT_MS: u64 = 10_000;
    pub const SIO_MAX_PAYLOAD: u64 = 1_000_000;
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen: `host:port` (`127.0.0.1:9001`, `localhost:0`,
    /// `[::1]:9001`, `0.0.0.0:80`, `[::]:80`). A host name is resolved and
    /// every address it has is bound; port 0 picks a free port.
    pub listen: String,
    pub routes: Vec<Route>,
    /// Largest WebSocket message accepted (reassembled, inflated); bigger
    /// closes with 1009 as soon as a frame header shows it.
    pub max_message_size: usize,
    /// Largest request head; larger is answered 431.
    pub max_head_bytes: usize,
    /// Most request headers; more is answered 431.
    pub max_headers: usize,
    /// A connection that has not finished its request head (or been
    /// approved by the app) by then is dropped.
    pub handshake_timeout: Duration,
    /// With no frame from a WebSocket peer for half this time we ping it;
    /// with none for the whole time we drop it (1006).
    pub idle_timeout: Duration,
    /// How long a closing connection may take to finish the close handshake
    /// and flush (and a graceful shutdown to finish).
    pub close_timeout: Duration,
    /// Cap on bytes the app's sends may queue for one connection.
    pub max_buffered: usize,
    /// While more than this is queued for a connection we stop reading
    /// from it, so a peer that sends without reading cannot grow our queue.
    pub read_pause_buffered: usize,
    /// What a send past `max_buffered` does.
    pub overflow_policy: OverflowPolicy,
    /// A comment on an SSE stream that has been quiet this long, so proxies
    /// keep it open and dead clients are found.
    pub sse_keepalive: Duration,
    /// WebSocket and SSE requests whose `Origin` is not listed are answered
    /// 403; empty: any origin. Requests without `Origin` (non-browser
    /// clients) always pass.
    pub allowed_origins: Vec<String>,
    /// Connections beyond this are accepted and closed at once.
    pub max_connections: usize,
    /// permessage-deflate (RFC 7692). Off by default: see [`DeflateMode`].
    pub deflate: DeflateConfig,
    /// A publish finds a subscriber with more than this queued (after
    /// letting its socket take what it will) slow. One message may pass
    /// it when the queue is empty, so a subscriber holds at most this plus
    /// one message.
    pub slow_consumer_limit: usize,
    /// What publishes do with slow subscribers unless a publish says
    /// otherwise. Default `Close`: no subscriber silently misses messages.
    pub slow_consumer_policy: SlowConsumerPolicy,
    /// Engine.IO: the server pings each session this often.
    pub sio_ping_interval: Duration,
    /// Engine.IO: a session that has not answered a ping within this is
    /// closed ("ping timeout").
    pub sio_ping_timeout: Duration,
    /// Socket.IO: a session that has joined no namespace by then is closed.
    pub sio_connect_timeout: Duration,
    /// Engine.IO: an upgrade to WebSocket not completed by then is
    /// abandoned.
    pub sio_upgrade_timeout: Duration,
    /// Engine.IO: the largest message on a WebSocket and the largest POST
    /// body (`maxPayload`, Socket.IO's `maxHttpBufferSize`).
    pub sio_max_payload: usize,
    /// Socket.IO connection state recovery: how long a socket dropped for
    /// a transport reason may come back (ZERO: off).
    pub sio_recovery_window: Duration,
    /// Origins whose pages may read Engine.IO answers (CORS; `"*"`: any).
    pub cors_origins: Vec<String>,
    /// CORS answers allow credentials.
    pub cors_credentials: bool,
    /// TLS (off unless certificates are set).
    pub tls: TlsOptions,
    /// The cluster bus (off unless a Redis URL is set).
    pub cluster: ClusterOptions,
    /// Event loops, each on its own thread (0: one per usable core); see
    /// `Config::loops`.
    pub workers: usize,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Config {
    /// A configuration with every option at its default.
    pub fn new(listen: impl Into<String>) -> Self {
        use defaults::*;
        Config {
            listen: listen.into(),
            routes: Vec::new(),
            max_message_size: MAX_MESSAGE_SIZE as usize,
            max_head_bytes: MAX_HEAD_BYTES as usize,
            max_headers: MAX_HEADERS as usize,
            handshake_timeout: ms(HANDSHAKE_TIMEOUT_MS),
            idle_timeout: ms(IDLE_TIMEOUT_MS),
            close_timeout: ms(CLOSE_TIMEOUT_MS),
            max_buffered: MAX_BUFFERED as usize,
            read_pause_buffered: READ_PAUSE_BUFFERED as usize,
            overflow_policy: OverflowPolicy::Reject,
            sse_keepalive: ms(SSE_KEEPALIVE_MS),
            allowed_origins: Vec::new(),
            max_connections: MAX_CONNECTIONS as usize,
            deflate: DeflateConfig {
                mode: DeflateMode::Off,
                threshold: DEFLATE_THRESHOLD as usize,
                level: DEFLATE_LEVEL as u32,
                window_bits: DEFLATE_WINDOW_BITS as u8,
            },
            slow_consumer_limit: SLOW_CONSUMER_LIMIT as usize,
            slow_consumer_policy: SlowConsumerPolicy::Close,
            sio_ping_interval: ms(SIO_PING_INTERVAL_MS),
            sio_ping_timeout: ms(SIO_PING_TIMEOUT_MS),
            sio_connect_timeout: ms(SIO_CONNECT_TIMEOUT_MS),
            sio_upgrade_timeout: ms(SIO_UPGRADE_TIMEOUT_MS),
            sio_max_payload: SIO_MAX_PAYLOAD as usize,
            sio_recovery_window: Duration::ZERO,
            cors_origins: Vec::new(),
            cors_credentials: false,
            tls: TlsOptions::default(),
            cluster: ClusterOptions::default(),
            workers: 1,
        }
    }

    /// A configuration listening on `host` (a name, an IPv4 or an IPv6
    /// address, with or without brackets) and `port`.
    pub fn with_host(host: &str, port: u16) -> Self {
        Config::new(listen_address(host, port))
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

    /// Adds a plain Engine.IO endpoint (conventionally `/engine.io/`).
    pub fn engine_io(mut self, path: &str) -> Self {
        self.routes.push(Route::new(path, RouteKind::EngineIo));
        self
    }

    /// Adds a Socket.IO endpoint (conventionally `/socket.io/`) serving
    /// these namespaces.
    pub fn socket_io<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        path: &str,
        namespaces: I,
    ) -> Self {
        let namespaces = namespaces.into_iter().map(Into::into).collect();
        self.routes
            .push(Route::new(path, RouteKind::SocketIo { namespaces }));
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

    /// What the protocol state machines need of it.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            routes: self.routes.clone(),
            max_message_size: self.max_message_size,
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            handshake_timeout: self.handshake_timeout,
            idle_timeout: self.idle_timeout,
            close_timeout: self.close_timeout,
            sse_keepalive: self.sse_keepalive,
            max_buffered: self.max_buffered,
            overflow_policy: self.overflow_policy,
            allowed_origins: self.allowed_origins.clone(),
            deflate: self.deflate,
            engine: EngineSettings {
                ping_interval: self.sio_ping_interval,
                ping_timeout: self.sio_ping_timeout,
                connect_timeout: self.sio_connect_timeout,
                upgrade_timeout: self.sio_upgrade_timeout,
                max_payload: self.sio_max_payload,
                recovery_window: self.sio_recovery_window,
                cors_origins: self.cors_origins.clone(),
                cors_credentials: self.cors_credentials,
            },
        }
    }

    /// Adds a response header to the answers of the route at `path`
    /// (checked when the server binds).
    pub fn add_route_header(&mut self, path: &str, name: &str, value: &str) -> crate::Result<()> {
        let route = self
            .routes
            .iter_mut()
            .find(|r| r.path == path)
            .ok_or_else(|| crate::Error::invalid(format!("no route at {path:?}")))?;
        route.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Adds a route built by hand (to set `approve`, `subprotocols` or
    /// `headers`).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn listen_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
