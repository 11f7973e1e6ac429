//! Building a configuration from C: create, set options, add routes, pass
//! to wsrt_server_new, free.

use crate::error::*;
use std::ffi::c_char;
use std::time::Duration;
use wsrt::{Config, DeflateMode, OverflowPolicy, Route, RouteKind};

/// Opaque server configuration. Create with wsrt_config_new, free with
/// wsrt_config_free.
pub struct wsrt_config {
    pub(crate) inner: Config,
}

/// Route kinds for wsrt_config_add_route.
pub const WSRT_ROUTE_WEBSOCKET: u32 = 1;
pub const WSRT_ROUTE_SSE: u32 = 2;

/// Route flag: the app accepts or rejects each request itself
/// (WSRT_EVENT_REQUEST, then wsrt_accept or wsrt_reject).
pub const WSRT_ROUTE_APPROVE: u32 = 1;

/// Options for wsrt_config_set. Sizes in bytes, times in milliseconds.
/// Largest message accepted (default 16 MiB); bigger closes with 1009.
pub const WSRT_OPT_MAX_MESSAGE_SIZE: u32 = 1;
/// Largest request head (default 8192); bigger is answered 431.
pub const WSRT_OPT_MAX_HEAD_BYTES: u32 = 2;
/// Most request headers (default 64); more is answered 431.
pub const WSRT_OPT_MAX_HEADERS: u32 = 3;
/// Drop connections that have not completed the handshake (default 10000).
pub const WSRT_OPT_HANDSHAKE_TIMEOUT_MS: u32 = 4;
/// Ping a silent peer after half of this, drop it after all of it
/// (default 120000; 0 disables).
pub const WSRT_OPT_IDLE_TIMEOUT_MS: u32 = 5;
/// Time allowed for a close handshake and final flush (default 5000).
pub const WSRT_OPT_CLOSE_TIMEOUT_MS: u32 = 6;
/// Cap on bytes queued per connection (default 32 MiB).
pub const WSRT_OPT_MAX_BUFFERED: u32 = 7;
/// Stop reading from a connection while more than this is queued for it
/// (default 1 MiB).
pub const WSRT_OPT_READ_PAUSE_BUFFERED: u32 = 8;
/// WSRT_OVERFLOW_REJECT (default) or WSRT_OVERFLOW_CLOSE.
pub const WSRT_OPT_OVERFLOW_POLICY: u32 = 9;
/// Keep-alive comment on quiet SSE streams (default 15000; 0 disables).
pub const WSRT_OPT_SSE_KEEPALIVE_MS: u32 = 10;
/// Most simultaneous connections (default 0: no limit).
pub const WSRT_OPT_MAX_CONNECTIONS: u32 = 11;

/// permessage-deflate: WSRT_DEFLATE_OFF (default), WSRT_DEFLATE_SHARED or
/// WSRT_DEFLATE_PER_CONNECTION.
pub const WSRT_OPT_DEFLATE: u32 = 12;
/// Messages shorter than this go out uncompressed (default 256).
pub const WSRT_OPT_DEFLATE_THRESHOLD: u32 = 13;
/// zlib level 0-9 (default 6).
pub const WSRT_OPT_DEFLATE_LEVEL: u32 = 14;
/// Our compressor's window bits, 9-15 (default 15).
pub const WSRT_OPT_DEFLATE_WINDOW_BITS: u32 = 15;

/// A publish finds a subscriber with more than this many bytes queued
/// slow (default 1 MiB; at least 1024).
pub const WSRT_OPT_SLOW_CONSUMER_LIMIT: u32 = 16;
/// What publishes do with slow subscribers: WSRT_SLOW_CLOSE (default) or
/// WSRT_SLOW_DROP.
pub const WSRT_OPT_SLOW_CONSUMER_POLICY: u32 = 17;

/// Compression offers are declined.
pub const WSRT_DEFLATE_OFF: u64 = 0;
/// No context takeover either way: one compressor and decompressor per
/// server serve all connections (almost no memory per connection).
pub const WSRT_DEFLATE_SHARED: u64 = 1;
/// Context takeover as the client offers it: best ratio, a zlib context
/// pair (~300 KiB) per connection that uses it.
pub const WSRT_DEFLATE_PER_CONNECTION: u64 = 2;

/// A send past WSRT_OPT_MAX_BUFFERED fails with WSRT_ERR_BACKPRESSURE.
pub const WSRT_OVERFLOW_REJECT: u64 = 0;
/// A send past WSRT_OPT_MAX_BUFFERED closes the connection with 1008.
pub const WSRT_OVERFLOW_CLOSE: u64 = 1;

/// Creates a configuration listening on `listen` ("127.0.0.1:9001",
/// "[::1]:0"; port 0 picks a free port). Writes the new object to `*out`;
/// the caller owns it and frees it with wsrt_config_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_new(
    listen: *const c_char,
    out: *mut *mut wsrt_config,
) -> wsrt_result {
    guard(|| {
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let listen = req_str(listen)?;
        *out = Box::into_raw(Box::new(wsrt_config {
            inner: Config::new(listen),
        }));
        Ok(())
    })
}

/// Frees a configuration. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_free(config: *mut wsrt_config) {
    if !config.is_null() {
        guard_value((), || drop(Box::from_raw(config)));
    }
}

unsafe fn config_mut<'a>(config: *mut wsrt_config) -> wsrt::Result<&'a mut Config> {
    config
        .as_mut()
        .map(|c| &mut c.inner)
        .ok_or(invalid("config is NULL"))
}

/// Adds a WebSocket (WSRT_ROUTE_WEBSOCKET) or SSE (WSRT_ROUTE_SSE) route
/// at `path` (exact match, starting with '/'). `flags` is 0 or
/// WSRT_ROUTE_APPROVE. `subprotocols` is NULL or a comma-separated list in
/// order of preference ("chat,superchat"). Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_route(
    config: *mut wsrt_config,
    path: *const c_char,
    kind: u32,
    flags: u32,
    subprotocols: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let path = req_str(path)?;
        let kind = match kind {
            WSRT_ROUTE_WEBSOCKET => RouteKind::WebSocket,
            WSRT_ROUTE_SSE => RouteKind::Sse,
            _ => {
                return Err(invalid(
                    "kind must be WSRT_ROUTE_WEBSOCKET or WSRT_ROUTE_SSE",
                ))
            }
        };
        if flags & !WSRT_ROUTE_APPROVE != 0 {
            return Err(invalid("unknown route flag"));
        }
        let mut route = Route::new(path, kind);
        route.approve = flags & WSRT_ROUTE_APPROVE != 0;
        if let Some(list) = opt_str(subprotocols)? {
            route.subprotocols = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        cfg.routes.push(route);
        Ok(())
    })
}

/// Adds a fixed `200` response at `path` (a page, a health check). The
/// body (`len` bytes) and content type are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_static(
    config: *mut wsrt_config,
    path: *const c_char,
    content_type: *const c_char,
    body: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let kind = RouteKind::Static {
            content_type: req_str(content_type)?.to_string(),
            body: bytes::Bytes::copy_from_slice(bytes(body, len)?),
        };
        cfg.routes.push(Route::new(req_str(path)?, kind));
        Ok(())
    })
}

/// Sets one of the WSRT_OPT_* options.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_set(
    config: *mut wsrt_config,
    option: u32,
    value: u64,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let size = || usize::try_from(value).map_err(|_| invalid("value too large"));
        let ms = Duration::from_millis(value);
        let optional_ms = if value == 0 { None } else { Some(ms) };
        match option {
            WSRT_OPT_MAX_MESSAGE_SIZE => cfg.max_message_size = size()?,
            WSRT_OPT_MAX_HEAD_BYTES => cfg.max_head_bytes = size()?,
            WSRT_OPT_MAX_HEADERS => cfg.max_headers = size()?,
            WSRT_OPT_HANDSHAKE_TIMEOUT_MS => cfg.handshake_timeout = ms,
            WSRT_OPT_IDLE_TIMEOUT_MS => cfg.idle_timeout = optional_ms,
            WSRT_OPT_CLOSE_TIMEOUT_MS => cfg.close_timeout = ms,
            WSRT_OPT_MAX_BUFFERED => cfg.max_buffered = size()?,
            WSRT_OPT_READ_PAUSE_BUFFERED => cfg.read_pause_buffered = size()?,
            WSRT_OPT_OVERFLOW_POLICY => {
                cfg.overflow_policy =
                    match value {
                        WSRT_OVERFLOW_REJECT => OverflowPolicy::Reject,
                        WSRT_OVERFLOW_CLOSE => OverflowPolicy::Close,
                        _ => return Err(invalid(
                            "overflow policy must be WSRT_OVERFLOW_REJECT or WSRT_OVERFLOW_CLOSE",
                        )),
                    }
            }
            WSRT_OPT_SSE_KEEPALIVE_MS => cfg.sse_keepalive = optional_ms,
            WSRT_OPT_MAX_CONNECTIONS => {
                cfg.max_connections = if value == 0 { None } else { Some(size()?) }
            }
            WSRT_OPT_DEFLATE => {
                cfg.deflate.mode = match value {
                    WSRT_DEFLATE_OFF => DeflateMode::Off,
                    WSRT_DEFLATE_SHARED => DeflateMode::Shared,
                    WSRT_DEFLATE_PER_CONNECTION => DeflateMode::PerConnection,
                    _ => {
                        return Err(invalid(
                            "deflate mode must be WSRT_DEFLATE_OFF, _SHARED or _PER_CONNECTION",
                        ))
                    }
                }
            }
            WSRT_OPT_DEFLATE_THRESHOLD => cfg.deflate.threshold = size()?,
            WSRT_OPT_DEFLATE_LEVEL => {
                cfg.deflate.level = u32::try_from(value)
                    .ok()
                    .filter(|l| *l <= 9)
                    .ok_or(invalid("deflate level must be 0-9"))?
            }
            WSRT_OPT_DEFLATE_WINDOW_BITS => {
                cfg.deflate.server_max_window_bits = u8::try_from(value)
                    .ok()
                    .filter(|b| (9..=15).contains(b))
                    .ok_or(invalid("deflate window bits must be 9-15"))?
            }
            WSRT_OPT_SLOW_CONSUMER_LIMIT => cfg.slow_consumer_limit = size()?,
            WSRT_OPT_SLOW_CONSUMER_POLICY => {
                cfg.slow_consumer_policy = crate::pubsub::slow_policy(value)?.ok_or(invalid(
                    "slow-consumer policy must be WSRT_SLOW_DROP or WSRT_SLOW_CLOSE",
                ))?
            }
            _ => return Err(invalid("unknown option")),
        }
        Ok(())
    })
}

/// Adds an origin to the allow-list. Once the list is non-empty, WebSocket
/// and SSE requests with an `Origin` header not on it are answered 403.
/// The string is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_allow_origin(
    config: *mut wsrt_config,
    origin: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let origin = req_str(origin)?.to_string();
        cfg.allowed_origins
            .get_or_insert_with(Vec::new)
            .push(origin);
        Ok(())
    })
}
