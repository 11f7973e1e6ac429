//! Node-API binding for wsrt: a thin layer over `wsrt::Server`.
//!
//! Event delivery: the core's epoll descriptor is watched by a libuv
//! `uv_poll` handle on the JavaScript thread's own loop, and its timers by a
//! `uv_timer`. When either fires, one JavaScript callback runs; it calls
//! [`NativeServer::poll`] (a zero-timeout `Server::poll`) which writes the
//! whole batch of events into a `Float64Array` (payloads go in one `Buffer`
//! per batch), dispatches it, and ends with [`NativeServer::flush`], which
//! writes the replies and re-arms the timer. No extra thread, no busy-poll,
//! one crossing into JavaScript per batch. No protocol logic lives here.

#![deny(clippy::all)]

mod fast;
mod uv;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::ptr;
use std::rc::Rc;
use std::time::Duration;
use wsrt::{
    Config, ConnId, DeflateConfig, DeflateMode, Endpoint, Event, Events, HistoryLimit, MessageKind,
    OverflowPolicy, Replay, Request, Route, RouteKind, Server, SlowConsumerPolicy, SseEvent,
};

/// The `code` property of errors thrown by the addon.
#[derive(Debug, Clone, Copy)]
pub enum Code {
    Closed,
    WrongState,
    InvalidArgument,
    Config,
    Io,
    NotRunning,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::Closed => "ERR_WSRT_CLOSED",
            Code::WrongState => "ERR_WSRT_WRONG_STATE",
            Code::InvalidArgument => "ERR_WSRT_INVALID_ARGUMENT",
            Code::Config => "ERR_WSRT_CONFIG",
            Code::Io => "ERR_WSRT_IO",
            Code::NotRunning => "ERR_WSRT_NOT_RUNNING",
        }
    }
}

/// An error on its way to JavaScript, with its `code`.
pub struct Fail(pub(crate) Code, pub(crate) String);

pub(crate) type JsResult<T> = std::result::Result<T, Fail>;

pub(crate) fn err(code: Code, msg: impl ToString) -> Fail {
    Fail(code, msg.to_string())
}

/// Throws `f` as a JavaScript `Error` with a `code` property and returns
/// the marker napi-rs uses for "an exception is already pending".
pub(crate) fn throw(env: sys::napi_env, f: Fail) -> Error {
    let code = std::ffi::CString::new(f.0.as_ref()).unwrap_or_default();
    let msg = std::ffi::CString::new(f.1.replace('\0', " ")).unwrap_or_default();
    unsafe { sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()) };
    Error::new(Status::PendingException, f.1)
}

pub(crate) fn map_err(e: wsrt::Error) -> Fail {
    let code = match &e {
        wsrt::Error::UnknownConnection | wsrt::Error::Closed => Code::Closed,
        wsrt::Error::WrongState(_) => Code::WrongState,
        wsrt::Error::InvalidArgument(_) | wsrt::Error::Backpressure => Code::InvalidArgument,
        wsrt::Error::Config(_) => Code::Config,
        wsrt::Error::Io(_) => Code::Io,
    };
    err(code, format!("wsrt: {e}"))
}

/// Maps a send result: `Ok(false)` when backpressure refused it (nothing
/// queued; a drain event follows), an error for everything else.
pub(crate) fn sent(r: wsrt::Result<()>) -> JsResult<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(wsrt::Error::Backpressure) => Ok(false),
        Err(e) => Err(map_err(e)),
    }
}

pub(crate) fn conn(slot: u32, gen: u32) -> ConnId {
    ConnId(((gen as u64) << 32) | slot as u64)
}

#[napi(object)]
pub struct NativeRoute {
    pub path: String,
    /// "websocket", "sse" or "static".
    pub kind: String,
    pub approve: Option<bool>,
    pub subprotocols: Option<Vec<String>>,
    pub content_type: Option<String>,
    pub body: Option<Buffer>,
}

#[napi(object)]
pub struct NativeOptions {
    pub listen: String,
    pub routes: Vec<NativeRoute>,
    pub max_message_size: Option<f64>,
    pub max_head_bytes: Option<f64>,
    pub max_headers: Option<f64>,
    pub handshake_timeout_ms: Option<f64>,
    /// 0 disables.
    pub idle_timeout_ms: Option<f64>,
    pub close_timeout_ms: Option<f64>,
    pub max_buffered: Option<f64>,
    pub read_pause_buffered: Option<f64>,
    /// "reject" or "close".
    pub overflow: Option<String>,
    /// 0 disables.
    pub sse_keepalive_ms: Option<f64>,
    pub allowed_origins: Option<Vec<String>>,
    pub max_connections: Option<f64>,
    /// permessage-deflate: "off", "shared" or "per-connection" (checked by
    /// index.js, which also spells out the defaults' meaning).
    pub deflate_mode: Option<String>,
    pub deflate_threshold: Option<f64>,
    pub deflate_level: Option<f64>,
    pub deflate_server_max_window_bits: Option<f64>,
    /// Bytes queued for a subscriber past which publishes treat it as slow.
    pub slow_consumer_limit: Option<f64>,
    /// "close" or "drop".
    pub slow_consumer_policy: Option<String>,
}

fn size(v: Option<f64>, name: &str, default: usize) -> JsResult<usize> {
    match v {
        None => Ok(default),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= usize::MAX as f64 => {
            Ok(n as usize)
        }
        Some(_) => Err(err(
            Code::Config,
            format!("wsrt: {name} must be a non-negative integer"),
        )),
    }
}

fn millis(v: Option<f64>, name: &str, default: Option<Duration>) -> JsResult<Option<Duration>> {
    Ok(match v {
        None => default,
        Some(_) => match size(v, name, 0)? {
            0 => None,
            ms => Some(Duration::from_millis(ms as u64)),
        },
    })
}

fn build_config(o: NativeOptions) -> JsResult<Config> {
    let deflate = deflate_config(&o)?;
    let mut c = Config::new(o.listen);
    for r in o.routes {
        let kind = match r.kind.as_str() {
            "websocket" => RouteKind::WebSocket,
            "sse" => RouteKind::Sse,
            "static" => RouteKind::Static {
                content_type: r
                    .content_type
                    .unwrap_or_else(|| "text/html; charset=utf-8".into()),
                body: r.body.map(|b| b.to_vec()).unwrap_or_default().into(),
            },
            other => {
                return Err(err(
                    Code::Config,
                    format!("wsrt: unknown route kind {other:?}"),
                ))
            }
        };
        let mut route = Route::new(&r.path, kind);
        route.approve = r.approve.unwrap_or(false);
        route.subprotocols = r.subprotocols.unwrap_or_default();
        c = c.route(route);
    }
    c.max_message_size = size(o.max_message_size, "maxMessageSize", c.max_message_size)?;
    c.max_head_bytes = size(o.max_head_bytes, "maxHeadBytes", c.max_head_bytes)?;
    c.max_headers = size(o.max_headers, "maxHeaders", c.max_headers)?;
    c.max_buffered = size(o.max_buffered, "maxBuffered", c.max_buffered)?;
    c.read_pause_buffered = size(
        o.read_pause_buffered,
        "readPauseBuffered",
        c.read_pause_buffered,
    )?;
    if let Some(d) = millis(
        o.handshake_timeout_ms,
        "handshakeTimeout",
        Some(c.handshake_timeout),
    )? {
        c.handshake_timeout = d;
    }
    if let Some(d) = millis(o.close_timeout_ms, "closeTimeout", Some(c.close_timeout))? {
        c.close_timeout = d;
    }
    c.idle_timeout = millis(o.idle_timeout_ms, "idleTimeout", c.idle_timeout)?;
    c.sse_keepalive = millis(o.sse_keepalive_ms, "sseKeepAlive", c.sse_keepalive)?;
    c.overflow_policy = match o.overflow.as_deref() {
        None | Some("reject") => OverflowPolicy::Reject,
        Some("close") => OverflowPolicy::Close,
        Some(other) => {
            return Err(err(
                Code::Config,
                format!("wsrt: overflow must be \"reject\" or \"close\", not {other:?}"),
            ))
        }
    };
    c.allowed_origins = o.allowed_origins;
    if o.max_connections.is_some() {
        c.max_connections = Some(size(o.max_connections, "maxConnections", 0)?);
    }
    c.deflate = deflate;
    c.slow_consumer_limit = size(
        o.slow_consumer_limit,
        "slowConsumerLimit",
        c.slow_consumer_limit,
    )?;
    c.slow_consumer_policy = match o.slow_consumer_policy.as_deref() {
        None => c.slow_consumer_policy,
        Some(p) => slow_policy(p)?,
    };
    Ok(c)
}

pub(crate) fn slow_policy(p: &str) -> JsResult<SlowConsumerPolicy> {
    match p {
        "close" => Ok(SlowConsumerPolicy::Close),
        "drop" => Ok(SlowConsumerPolicy::Drop),
        other => Err(err(
            Code::InvalidArgument,
            format!("wsrt: slow-consumer policy must be \"close\" or \"drop\", not {other:?}"),
        )),
    }
}

fn deflate_config(o: &NativeOptions) -> JsResult<DeflateConfig> {
    let d = DeflateConfig::default();
    let mode = match o.deflate_mode.as_deref() {
        None | Some("off") => DeflateMode::Off,
        Some("shared") => DeflateMode::Shared,
        Some("per-connection") => DeflateMode::PerConnection,
        Some(other) => {
            let msg = "perMessageDeflate mode must be off, shared or per-connection";
            return Err(err(Code::Config, format!("wsrt: {msg}, not {other:?}")));
        }
    };
    let level = size(o.deflate_level, "perMessageDeflate.level", d.level as usize)?;
    let bits = size(
        o.deflate_server_max_window_bits,
        "perMessageDeflate.serverMaxWindowBits",
        d.server_max_window_bits as usize,
    )?;
    if level > 9 {
        return Err(err(
            Code::Config,
            "wsrt: perMessageDeflate.level must be 0-9",
        ));
    }
    if !(9..=15).contains(&bits) {
        return Err(err(
            Code::Config,
            "wsrt: perMessageDeflate.serverMaxWindowBits must be 9-15",
        ));
    }
    Ok(DeflateConfig {
        mode,
        threshold: size(
            o.deflate_threshold,
            "perMessageDeflate.threshold",
            d.threshold,
        )?,
        level: level as u32,
        server_max_window_bits: bits as u8,
    })
}

/// The request that opened a connection, as handed to JavaScript.
#[napi(object)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names; repeated headers joined with ", ".
    pub headers: HashMap<String, String>,
    pub remote_address: String,
    pub remote_port: u32,
    /// Subprotocols the client offered.
    pub protocols: Vec<String>,
    /// The negotiated subprotocol (open events).
    pub protocol: Option<String>,
}

fn request_info(r: &Request, protocol: Option<&String>) -> RequestInfo {
    let mut headers: HashMap<String, String> = HashMap::with_capacity(r.head.headers.len());
    for (k, v) in &r.head.headers {
        let k = k.to_ascii_lowercase();
        match headers.get_mut(&k) {
            Some(prev) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            None => {
                headers.insert(k, v.clone());
            }
        }
    }
    RequestInfo {
        method: r.head.method.clone(),
        path: r.head.path.clone(),
        query: r.head.query.clone(),
        headers,
        remote_address: r.peer.ip().to_string(),
        remote_port: r.peer.port() as u32,
        protocols: r.protocols.clone(),
        protocol: protocol.cloned(),
    }
}

/// Counters and gauges of the server (see `Server::stats` in the core).
#[napi(object)]
pub struct NativeStats {
    pub connections: f64,
    pub websockets: f64,
    pub sse_streams: f64,
    pub buffered_bytes: f64,
    pub topics: f64,
    pub published: f64,
    pub delivered: f64,
    pub dropped: f64,
    pub slow_closed: f64,
}

/// Event type codes written into the batch (see `index.js`).
const EV_OPEN: f64 = 1.0;
const EV_MESSAGE: f64 = 2.0;
const EV_PONG: f64 = 3.0;
const EV_CLOSE: f64 = 4.0;
const EV_SSE_OPEN: f64 = 5.0;
const EV_SSE_CLOSE: f64 = 6.0;
const EV_DRAIN: f64 = 7.0;
const EV_REQUEST: f64 = 8.0;
const EV_WAKE: f64 = 9.0;
/// f64 slots per event: type, slot, generation, a, b, c.
const STRIDE: usize = 6;
/// Header slots before the events: count, arena bytes, request count.
const HEADER: usize = 3;

/// The server and its batch state. Shared (`Rc`) between the class
/// instance and the raw fast-path functions (`fastSend`, `fastSendText`),
/// which keep it alive on their own; all of them run on the JavaScript
/// thread and none calls back into JavaScript, so accesses never overlap.
pub(crate) struct Core {
    pub(crate) env: sys::napi_env,
    pub(crate) server: Option<Server>,
    events: Events,
    /// A polled batch not yet written out (the array was too small).
    pending: bool,
    arena_len: usize,
    watch: Option<uv::Watch>,
    pub(crate) scratch: Vec<u8>,
    /// The topic of a publish, encoded (see `fast::publish`).
    pub(crate) topic_scratch: Vec<u8>,
}

pub(crate) type Shared = Rc<UnsafeCell<Core>>;

#[napi]
pub struct NativeServer {
    core: Shared,
}

#[napi]
impl NativeServer {
    /// Binds the listening socket. Throws if the address is in use or the
    /// options are inconsistent.
    #[napi(constructor)]
    pub fn new(env: Env, options: NativeOptions) -> Result<Self> {
        let server = build_config(options)
            .and_then(|c| Server::bind(c).map_err(map_err))
            .map_err(|f| throw(env.raw(), f))?;
        Ok(NativeServer {
            core: Rc::new(UnsafeCell::new(Core {
                env: env.raw(),
                server: Some(server),
                events: Events::new(),
                pending: false,
                arena_len: 0,
                watch: None,
                scratch: Vec::new(),
                topic_scratch: Vec::new(),
            })),
        })
    }

    /// Starts watching the server from this thread's libuv loop; `callback`
    /// runs (with no arguments) whenever `poll` has work.
    #[napi]
    pub fn start(&self, callback: RawValue) -> Result<()> {
        self.js(|me| {
            if me.watch.is_some() {
                return Err(err(Code::WrongState, "wsrt: already started"));
            }
            let fd = me.srv()?.as_raw_fd();
            let watch = unsafe { uv::Watch::start(me.env, fd, callback.0) }
                .map_err(|m| err(Code::Io, format!("wsrt: cannot watch the server: {m}")))?;
            me.watch = Some(watch);
            me.rearm();
            Ok(())
        })
    }

    /// Runs the loop once without waiting and writes the batch into `meta`
    /// (a Float64Array):
    /// `[count, arenaBytes, requestCount, (type, slot, gen, a, b, c) * count]`.
    /// Returns the event count, or minus the array length needed when `meta`
    /// is too small (the batch is kept for the next call).
    #[napi]
    pub fn poll(&self, meta: RawValue) -> Result<i32> {
        self.js(|me| {
            let meta = unsafe { f64_array(me.env, meta.0)? };
            me.poll_into(meta)
        })
    }

    /// The payload bytes of the last batch, copied once into a new Buffer
    /// that JavaScript owns (messages are views into it).
    #[napi]
    pub fn arena<'env>(&self, env: &'env Env) -> Result<BufferSlice<'env>> {
        let core = self.core();
        let bytes = core.events.bytes(wsrt::Span {
            start: 0,
            len: core.arena_len,
        });
        BufferSlice::copy_from(env, bytes)
    }

    /// The requests of the last batch's request/open/sse-open events, in order.
    #[napi]
    pub fn requests(&self) -> Vec<RequestInfo> {
        let mut out = Vec::new();
        for ev in self.core().events.iter() {
            match ev {
                Event::Request { request, .. } | Event::SseOpen { request, .. } => {
                    out.push(request_info(request, None))
                }
                Event::Open {
                    request, protocol, ..
                } => out.push(request_info(request, protocol.as_ref())),
                _ => {}
            }
        }
        out
    }

    #[napi]
    pub fn ping(&self, slot: u32, gen: u32, data: &[u8]) -> Result<()> {
        self.js(|me| me.srv()?.ping(conn(slot, gen), data).map_err(map_err))
    }

    #[napi]
    pub fn close(&self, slot: u32, gen: u32, code: u32, reason: String) -> Result<()> {
        self.js(|me| {
            let code = u16::try_from(code).map_err(|_| {
                err(
                    Code::InvalidArgument,
                    "wsrt: invalid argument: close code must be 1000-1003, 1007-1014 or 3000-4999",
                )
            })?;
            me.srv()?
                .close(conn(slot, gen), code, &reason)
                .map_err(map_err)
        })
    }

    #[napi]
    pub fn accept(&self, slot: u32, gen: u32, protocol: Option<String>) -> Result<()> {
        self.js(|me| {
            me.srv()?
                .accept(conn(slot, gen), protocol.as_deref())
                .map_err(map_err)
        })
    }

    #[napi]
    pub fn reject(&self, slot: u32, gen: u32, status: u32, body: String) -> Result<()> {
        self.js(|me| {
            let status = u16::try_from(status).map_err(|_| {
                err(
                    Code::InvalidArgument,
                    "wsrt: invalid argument: reject status must be 400-599",
                )
            })?;
            me.srv()?
                .reject(conn(slot, gen), status, &body)
                .map_err(map_err)
        })
    }

    #[napi]
    pub fn sse_send(
        &mut self,
        slot: u32,
        gen: u32,
        data: String,
        event: Option<String>,
        id: Option<String>,
        retry: Option<u32>,
    ) -> Result<bool> {
        let ev = SseEvent {
            event: event.as_deref(),
            id: id.as_deref(),
            retry,
            data: &data,
        };
        self.js(|me| sent(me.srv()?.sse_send(conn(slot, gen), &ev)))
    }

    #[napi]
    pub fn sse_comment(&self, slot: u32, gen: u32, text: String) -> Result<bool> {
        self.js(|me| sent(me.srv()?.sse_comment(conn(slot, gen), &text)))
    }

    #[napi]
    pub fn buffered_amount(&self, slot: u32, gen: u32) -> Result<f64> {
        self.js(|me| {
            let n = me
                .srv()?
                .buffered_amount(conn(slot, gen))
                .map_err(map_err)?;
            Ok(n as f64)
        })
    }

    /// Writes queued output and re-arms the timer for the core's next
    /// deadline (zero when events are already waiting).
    #[napi]
    pub fn flush(&self) {
        let core = self.core();
        if let Some(s) = core.server.as_mut() {
            s.flush();
        }
        core.rearm();
    }

    #[napi]
    pub fn begin_shutdown(&self) {
        let core = self.core();
        if let Some(s) = core.server.as_mut() {
            s.begin_shutdown();
        }
        core.rearm();
    }

    #[napi]
    pub fn is_finished(&self) -> bool {
        self.core().server.as_ref().is_none_or(|s| s.is_finished())
    }

    /// Stops watching and frees the server (the listening socket and every
    /// connection left). Idempotent.
    #[napi]
    pub fn stop(&self) {
        self.core().stop();
    }

    /// `send` as a raw Node-API function bound to this server: the hot path
    /// without the per-call class unwrapping of generated methods.
    #[napi(ts_return_type = "Function")]
    pub fn fast_send(&self) -> Result<fast::RawJs> {
        unsafe { fast::function(self.core().env, c"send", fast::send, &self.core) }
    }

    /// `sendText` as a raw Node-API function bound to this server.
    #[napi(ts_return_type = "Function")]
    pub fn fast_send_text(&self) -> Result<fast::RawJs> {
        unsafe { fast::function(self.core().env, c"sendText", fast::send_text, &self.core) }
    }

    /// `publish` as a raw Node-API function bound to this server (see
    /// `fast::publish` for its arguments).
    #[napi(ts_return_type = "Function")]
    pub fn fast_publish(&self) -> Result<fast::RawJs> {
        unsafe { fast::function(self.core().env, c"publish", fast::publish, &self.core) }
    }

    /// Adds a connection to `topic`; false if it already was subscribed.
    #[napi]
    pub fn subscribe(&self, slot: u32, gen: u32, topic: String) -> Result<bool> {
        self.js(|me| {
            me.srv()?
                .subscribe(conn(slot, gen), &topic)
                .map_err(map_err)
        })
    }

    /// Subscribes and replays what the client missed after
    /// `last_event_id`: the number of events replayed, or -1 when the
    /// history no longer covers it (subscribed anyway; nothing replayed).
    #[napi]
    pub fn subscribe_since(
        &self,
        slot: u32,
        gen: u32,
        topic: String,
        last_event_id: Option<String>,
    ) -> Result<f64> {
        self.js(|me| {
            let r = me
                .srv()?
                .subscribe_since(conn(slot, gen), &topic, last_event_id.as_deref())
                .map_err(map_err)?;
            Ok(match r {
                Replay::Replayed(n) => n as f64,
                Replay::Missed => -1.0,
            })
        })
    }

    #[napi]
    pub fn unsubscribe(&self, slot: u32, gen: u32, topic: String) -> Result<bool> {
        self.js(|me| {
            me.srv()?
                .unsubscribe(conn(slot, gen), &topic)
                .map_err(map_err)
        })
    }

    #[napi]
    pub fn is_subscribed(&self, slot: u32, gen: u32, topic: String) -> bool {
        self.core()
            .server
            .as_ref()
            .is_some_and(|s| s.is_subscribed(conn(slot, gen), &topic))
    }

    #[napi]
    pub fn subscriber_count(&self, topic: String) -> u32 {
        self.core()
            .server
            .as_ref()
            .map_or(0, |s| s.subscriber_count(&topic) as u32)
    }

    /// Keeps the last `max_events` events of `topic` (0 turns history off),
    /// each for at most `max_age_ms` (0 or none: no age limit).
    #[napi]
    pub fn set_topic_history(
        &self,
        topic: String,
        max_events: f64,
        max_age_ms: Option<f64>,
    ) -> Result<()> {
        self.js(|me| {
            let limit = HistoryLimit {
                max_events: size(Some(max_events), "maxEvents", 0)?,
                max_age: millis(max_age_ms, "maxAgeMs", None)?,
            };
            me.srv()?.set_topic_history(&topic, limit).map_err(map_err)
        })
    }

    #[napi]
    pub fn stats(&self) -> Result<NativeStats> {
        self.js(|me| {
            let s = me.srv()?.stats();
            Ok(NativeStats {
                connections: s.connections as f64,
                websockets: s.websockets as f64,
                sse_streams: s.sse_streams as f64,
                buffered_bytes: s.buffered_bytes as f64,
                topics: s.topics as f64,
                published: s.published as f64,
                delivered: s.delivered as f64,
                dropped: s.dropped as f64,
                slow_closed: s.slow_closed as f64,
            })
        })
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.core()
            .server
            .as_ref()
            .map_or(0, |s| s.local_addr().port() as u32)
    }

    #[napi(getter)]
    pub fn connection_count(&self) -> u32 {
        self.core()
            .server
            .as_ref()
            .map_or(0, |s| s.connection_count() as u32)
    }
}

impl NativeServer {
    #[allow(clippy::mut_from_ref)]
    fn core(&self) -> &mut Core {
        // SAFETY: single-threaded (the JavaScript thread), and no caller
        // holds this across a call that could reach another accessor.
        unsafe { &mut *self.core.get() }
    }

    /// Runs `f`, turning its failure into a thrown JavaScript error.
    fn js<T>(&self, f: impl FnOnce(&mut Core) -> JsResult<T>) -> Result<T> {
        let core = self.core();
        let env = core.env;
        f(core).map_err(|e| throw(env, e))
    }
}

impl Core {
    fn stop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.stop();
        }
        self.server = None;
    }

    pub(crate) fn srv(&mut self) -> JsResult<&mut Server> {
        self.server
            .as_mut()
            .ok_or_else(|| err(Code::NotRunning, "wsrt: the server is closed"))
    }

    fn rearm(&mut self) {
        if let (Some(w), Some(s)) = (self.watch.as_ref(), self.server.as_ref()) {
            w.arm_timer(s.next_timeout());
        }
    }

    fn poll_into(&mut self, meta: &mut [f64]) -> JsResult<i32> {
        if !self.pending {
            let server = self
                .server
                .as_mut()
                .ok_or_else(|| err(Code::NotRunning, "wsrt: the server is closed"))?;
            server
                .poll(&mut self.events, Some(Duration::ZERO))
                .map_err(map_err)?;
        }
        let n = self.events.len();
        let need = HEADER + n * STRIDE;
        if need > meta.len() {
            self.pending = true;
            return Ok(-(need as i32));
        }
        self.pending = false;
        let mut arena_end = 0usize;
        let mut requests = 0usize;
        for (i, ev) in self.events.iter().enumerate() {
            let m = &mut meta[HEADER + i * STRIDE..HEADER + (i + 1) * STRIDE];
            let (ty, id, a, b, c) = match ev {
                Event::Request { conn, endpoint, .. } => {
                    requests += 1;
                    let e = if *endpoint == Endpoint::Sse { 1.0 } else { 0.0 };
                    (EV_REQUEST, Some(*conn), e, 0.0, 0.0)
                }
                Event::Open { conn, .. } => {
                    requests += 1;
                    (EV_OPEN, Some(*conn), 0.0, 0.0, 0.0)
                }
                Event::Message { conn, kind, data } => {
                    arena_end = arena_end.max(data.start + data.len);
                    let bin = if *kind == MessageKind::Binary {
                        1.0
                    } else {
                        0.0
                    };
                    (
                        EV_MESSAGE,
                        Some(*conn),
                        data.start as f64,
                        data.len as f64,
                        bin,
                    )
                }
                Event::Pong { conn, data } => {
                    arena_end = arena_end.max(data.start + data.len);
                    (
                        EV_PONG,
                        Some(*conn),
                        data.start as f64,
                        data.len as f64,
                        0.0,
                    )
                }
                Event::Close { conn, code, reason } => {
                    arena_end = arena_end.max(reason.start + reason.len);
                    (
                        EV_CLOSE,
                        Some(*conn),
                        *code as f64,
                        reason.start as f64,
                        reason.len as f64,
                    )
                }
                Event::SseOpen { conn, .. } => {
                    requests += 1;
                    (EV_SSE_OPEN, Some(*conn), 0.0, 0.0, 0.0)
                }
                Event::SseClose { conn } => (EV_SSE_CLOSE, Some(*conn), 0.0, 0.0, 0.0),
                Event::Drain { conn } => (EV_DRAIN, Some(*conn), 0.0, 0.0, 0.0),
                Event::Wake => (EV_WAKE, None, 0.0, 0.0, 0.0),
            };
            let id = id.map_or(0, |c| c.0);
            m[0] = ty;
            m[1] = (id & 0xffff_ffff) as f64;
            m[2] = (id >> 32) as f64;
            m[3] = a;
            m[4] = b;
            m[5] = c;
        }
        self.arena_len = arena_end;
        meta[0] = n as f64;
        meta[1] = arena_end as f64;
        meta[2] = requests as f64;
        Ok(n as i32)
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Any JavaScript value, unconverted (for strings read without allocating
/// and for the callback kept by reference).
pub struct RawValue(sys::napi_value);

impl TypeName for RawValue {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for RawValue {}

impl FromNapiValue for RawValue {
    unsafe fn from_napi_value(_env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        Ok(RawValue(v))
    }
}

/// Encodes a JavaScript string as UTF-8 into `out` (lone surrogates become
/// U+FFFD, as in `Buffer.from(string)`).
/// The elements of a Float64Array, borrowed in place.
pub(crate) unsafe fn f64_array<'a>(
    env: sys::napi_env,
    v: sys::napi_value,
) -> JsResult<&'a mut [f64]> {
    let mut ty = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut off = 0usize;
    let st = sys::napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off);
    if st != sys::Status::napi_ok || ty != sys::TypedarrayType::float64_array || len == 0 {
        return Err(err(Code::InvalidArgument, "wsrt: expected a Float64Array"));
    }
    Ok(std::slice::from_raw_parts_mut(data.cast::<f64>(), len))
}

pub(crate) unsafe fn utf8_into(
    env: sys::napi_env,
    v: sys::napi_value,
    out: &mut Vec<u8>,
) -> JsResult<()> {
    let mut len = 0usize;
    let st = sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len);
    if st != sys::Status::napi_ok {
        return Err(err(
            Code::InvalidArgument,
            "wsrt: expected a string, Buffer, ArrayBuffer or typed array",
        ));
    }
    out.clear();
    out.reserve(len + 1);
    let mut written = 0usize;
    let st =
        sys::napi_get_value_string_utf8(env, v, out.as_mut_ptr().cast(), len + 1, &mut written);
    if st != sys::Status::napi_ok {
        return Err(err(Code::InvalidArgument, "wsrt: cannot read the string"));
    }
    out.set_len(written);
    Ok(())
}
