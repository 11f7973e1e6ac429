//! What the protocol tests share: settings with the defaults of the
//! core's option schema, for the routes a test needs.

use bytes::Bytes;
use std::time::Duration;
use wsrt_proto::{
    DeflateConfig, DeflateMode, EngineSettings, OverflowPolicy, Route, RouteKind, Settings,
};

/// The defaults, with these routes.
pub fn settings(routes: Vec<Route>) -> Settings {
    Settings {
        routes,
        max_message_size: 1 << 20,
        max_head_bytes: 8192,
        max_headers: 64,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        close_timeout: Duration::from_secs(5),
        sse_keepalive: Duration::from_secs(15),
        max_buffered: 1 << 20,
        overflow_policy: OverflowPolicy::Reject,
        allowed_origins: Vec::new(),
        deflate: DeflateConfig {
            mode: DeflateMode::Off,
            threshold: 256,
            level: 6,
            window_bits: 15,
        },
        engine: EngineSettings {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
            max_payload: 1_000_000,
            recovery_window: Duration::ZERO,
            cors_origins: Vec::new(),
            cors_credentials: false,
        },
    }
}

/// A fixed page route.
#[allow(dead_code)] // not every test file serves one
pub fn page(path: &str, body: &'static [u8]) -> Route {
    Route::new(
        path,
        RouteKind::Static {
            content_type: "text/plain".into(),
            body: Bytes::from_static(body),
        },
    )
}
