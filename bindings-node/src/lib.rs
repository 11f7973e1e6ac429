//! Node-API binding for wsrt: a thin layer over `wsrt::Server` that converts
//! JavaScript values to the core's types and the core's errors to JavaScript
//! errors, and nothing else. Options, their checks and messages, the event
//! numbering, connection states and every protocol rule are the core's.
//!
//! Events: libuv watches the core's epoll descriptor (`uv_poll`) and its
//! deadlines (`uv_timer`) on the JavaScript thread; when either fires, one
//! callback [`NativeServer::poll`]s a whole batch into a `Float64Array` (one
//! `Buffer` for the payloads), dispatches it and [`NativeServer::flush`]es
//! the replies. No extra thread, no busy-poll, one crossing per batch.
//!
//! Connection ids are opaque: a record carries a `ConnId` as two 32-bit
//! halves and its `ConnId::index` (for JavaScript's table of connections);
//! calls take the `bigint` [`connection_id`] makes of the halves.

#![deny(clippy::all)]

mod fast;
mod js;
mod uv;

use js::{Id, Js};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;
use wsrt::{
    Broadcast, Config, ConnId, ConnState, Endpoint, ErrorKind, Event, EventType, Events,
    HistoryLimit, Publish, Replay, Request, Route, RouteKind, Server, SseEvent, TlsInfo, Unit,
};

type CoreResult<T> = wsrt::Result<T>;

/// Connection states, numbered by the core (as `WebSocket.readyState`).
#[napi]
pub const CONNECTING: u32 = ConnState::Connecting as u32;
#[napi]
pub const OPEN: u32 = ConnState::Open as u32;
#[napi]
pub const CLOSING: u32 = ConnState::Closing as u32;
#[napi]
pub const CLOSED: u32 = ConnState::Closed as u32;
/// f64 slots per event record: type, connection index, id (low and high
/// 32 bits), payload start (for a message in a Buffer of its own, minus 1
/// minus its place among `ownBuffers()`), payload length, and the close code, the text
/// flag, or (`REQUEST`, `OPEN`, `SIO_EVENT`, `SIO_ACK`) where in the array
/// its extension starts.
#[napi]
pub const RECORD_STRIDE: u32 = 7;
/// f64 slots of an extension, after the records: endpoint, recovered,
/// name start, name length, ack id (low and high 32 bits), code (for
/// `SIO_EVENT`: 1 when the arguments are one string without escapes, so
/// that its text is the payload but its first 2 bytes and last 2),
/// attachment count, name number (see [`SioNames`]; -1: none); then a
/// start and a length per attachment.
#[napi]
pub const EXTENSION_SLOTS: u32 = 9;
/// What a connection is (an extension's endpoint slot).
#[napi]
pub const ENDPOINT_WEBSOCKET: u32 = 0;
#[napi]
pub const ENDPOINT_SSE: u32 = 1;
#[napi]
pub const ENDPOINT_ENGINEIO: u32 = 2;
#[napi]
pub const ENDPOINT_SOCKETIO: u32 = 3;
/// Slots before the records: event count, arena bytes, request count,
/// messages in Buffers of their own.
#[napi]
pub const RECORD_HEADER: u32 = 4;
/// A message of this many bytes or more gets a Buffer of its own, copied
/// once from where the core received it, rather than going through the
/// batch's arena (copied in, then copied again into the arena's Buffer).
const OWN_BUFFER_FROM: usize = 32 << 10;
const STRIDE: usize = RECORD_STRIDE as usize;
const HEADER: usize = RECORD_HEADER as usize;
const EXT: usize = EXTENSION_SLOTS as usize;

/// The core's event numbers by name (`{ REQUEST: 1, OPEN: 2, ... }`).
#[napi(ts_return_type = "Record<string, number>")]
pub fn event_types() -> HashMap<String, u32> {
    let types = EventType::ALL.iter();
    types.map(|t| (t.name().to_string(), *t as u32)).collect()
}

/// The Node names of the core's options (what `new Server` passes on).
#[napi]
pub fn option_names() -> Vec<&'static str> {
    wsrt::OPTIONS.iter().map(|o| o.js_name).collect()
}

/// A connection's id from the halves of its record.
#[napi]
pub fn connection_id(lo: u32, hi: u32) -> BigInt {
    BigInt::from(ConnId::from_raw(((hi as u64) << 32) | lo as u64).raw())
}

/// Sent (true), or refused by backpressure (false; a drain event follows).
pub(crate) fn sent(r: CoreResult<()>) -> CoreResult<bool> {
    match r {
        Err(e) if e.kind() == ErrorKind::Backpressure => Ok(false),
        r => r.map(|()| true),
    }
}

fn wrong_state(msg: &'static str) -> wsrt::Error {
    wsrt::Error::new(ErrorKind::WrongState, msg)
}

/// The server once `listen` has bound it (kept after it has shut down, so
/// that calls get the core's answer).
pub(crate) fn running(s: &mut Option<Server>) -> CoreResult<&mut Server> {
    s.as_mut()
        .ok_or_else(|| wrong_state("the server is not listening (call listen() first)"))
}

/// Every property of `options` through `set` (`Config::set`, ...), as
/// received (the bytes of a Buffer as text for the options that take
/// strings).
fn set_options(
    options: Js,
    mut set: impl FnMut(&str, wsrt::OptionValue) -> CoreResult<()>,
) -> CoreResult<()> {
    for (key, v) in options.entries("options")? {
        let spec = wsrt::options::by_name(&key);
        let text = spec.is_some_and(|s| matches!(s.unit, Unit::List | Unit::Text));
        v.option(&key, text, |value| set(&key, value))?;
    }
    Ok(())
}

fn configure(options: Js) -> CoreResult<Config> {
    let mut c = Config::with_host("127.0.0.1", 0);
    set_options(options, |key, value| c.set(key, value))?;
    Ok(c)
}

/// The request that opened a connection, as handed to JavaScript.
#[napi(object, object_from_js = false)]
pub struct RequestInfo {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names, repeated ones joined with ", " (as in `http`).
    pub headers: HashMap<String, String>,
    pub remote_address: String,
    pub remote_port: u32,
    pub protocols: Vec<String>,
    pub last_event_id: Option<String>,
    /// The TLS handshake; null on a plain connection.
    pub tls: Either<TlsDetails, Null>,
}

/// A TLS connection's handshake (`TlsInfo` in the core).
#[napi(object, use_nullable = true, object_from_js = false)]
pub struct TlsDetails {
    /// "TLSv1.2" or "TLSv1.3".
    pub version: &'static str,
    pub cipher: String,
    /// The name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The verified client certificate's subject (RFC 4514).
    pub peer_subject: Option<String>,
    /// That certificate, DER.
    pub peer_certificate: Option<Buffer>,
}

fn tls_details(t: &TlsInfo) -> TlsDetails {
    TlsDetails {
        version: t.version,
        cipher: t.cipher.clone(),
        server_name: t.server_name.clone(),
        peer_subject: t.peer_subject.clone(),
        peer_certificate: t.peer_certificate.clone().map(Buffer::from),
    }
}

fn request_info(r: &Request) -> RequestInfo {
    let mut headers: HashMap<String, String> = HashMap::with_capacity(r.head.headers.len());
    for (k, v) in &r.head.headers {
        let k = k.to_ascii_lowercase();
        match headers.get_mut(&k) {
            Some(prev) => *prev = format!("{prev}, {v}"),
            None => drop(headers.insert(k, v.clone())),
        }
    }
    RequestInfo {
        method: r.method().to_string(),
        path: r.path().to_string(),
        query: r.query().to_string(),
        headers,
        remote_address: r.peer.ip().to_string(),
        remote_port: r.peer.port() as u32,
        protocols: r.protocols.clone(),
        last_event_id: r.last_event_id().map(str::to_string),
        tls: match r.tls.as_deref() {
            Some(t) => Either::A(tls_details(t)),
            None => Either::B(Null),
        },
    }
}

#[napi(object, use_nullable = true)]
pub struct PublishResult {
    pub delivered: u32,
    pub dropped: u32,
    pub closed: u32,
    /// Below 2^53: exact as a number.
    pub event_id: Option<f64>,
}

#[napi(object)]
pub struct ReplayResult {
    pub replayed: u32,
    pub missed: bool,
}

#[napi(object)]
pub struct Address {
    pub address: String,
    pub family: String,
    pub port: u32,
}

/// Counters and gauges of the server (see `Server::stats` in the core).
#[napi(object)]
pub struct Stats {
    pub connections: f64,
    pub websockets: f64,
    pub sse_streams: f64,
    pub buffered_bytes: f64,
    pub topics: f64,
    pub published: f64,
    pub delivered: f64,
    pub dropped: f64,
    pub slow_closed: f64,
    pub tls_handshakes: f64,
    pub tls_failures: f64,
    pub cluster_published: f64,
    pub cluster_received: f64,
    pub cluster_dropped: f64,
}

/// The server and its batch, shared (`Rc`) by the class and the raw `send`
/// function; all run on the JavaScript thread and none calls back into
/// JavaScript, so accesses never overlap.
pub(crate) struct Core {
    pub(crate) env: sys::napi_env,
    /// The configuration, until `listen` binds it.
    config: Option<Config>,
    pub(crate) server: Option<Server>,
    events: Events,
    /// A polled batch not yet written out (the array was too small).
    pending: bool,
    watch: Option<uv::Watch>,
    pub(crate) scratch: Vec<u8>,
    /// An acknowledgement's arguments as JSON text (fast.rs's `ack`).
    pub(crate) json: Vec<u8>,
    names: SioNames,
    /// Each route's path, at the number `route` gave it.
    route_paths: Vec<String>,
}

/// Numbers for the Socket.IO event names seen, so that JavaScript makes
/// each name's string once, not once per event (a client picks the names:
/// at most [`SioNames::MAX`] of them, of up to [`SioNames::MAX_LEN`]
/// bytes, get one).
#[derive(Default)]
struct SioNames(HashMap<Box<[u8]>, u32>);

impl SioNames {
    const MAX: usize = 1024;
    const MAX_LEN: usize = 64;

    /// The number of `name`, or -1 when it gets none.
    fn number(&mut self, name: &[u8]) -> f64 {
        if let Some(&n) = self.0.get(name) {
            return n as f64;
        }
        if self.0.len() >= Self::MAX || name.len() > Self::MAX_LEN {
            return -1.0;
        }
        let n = self.0.len() as u32;
        self.0.insert(name.into(), n);
        n as f64
    }
}

pub(crate) type Shared = Rc<UnsafeCell<Core>>;

#[napi]
pub struct NativeServer {
    core: Shared,
}

#[napi]
impl NativeServer {
    /// Sets every option on a configuration (the core checks each).
    #[napi(constructor)]
    pub fn new(env: Env, options: Js) -> Result<Self> {
        let config = configure(options).map_err(|e| js::throw(env.raw(), &e))?;
        let core = Core {
            env: env.raw(),
            config: Some(config),
            server: None,
            events: Events::new(),
            pending: false,
            watch: None,
            scratch: Vec::new(),
            json: Vec::new(),
            names: SioNames::default(),
            route_paths: Vec::new(),
        };
        Ok(NativeServer {
            core: Rc::new(UnsafeCell::new(core)),
        })
    }

    /// Adds a route: `kind` 0 WebSocket, 1 SSE, 2 static page, 3 Engine.IO,
    /// 4 Socket.IO (no namespace yet: `add_namespace`; every connection to
    /// a namespace is approved by JavaScript, which runs its middleware),
    /// with the `approve`, `protocols` and `headers` of `handlers` (the
    /// core checks it when `listen` binds).
    #[napi]
    /// Adds a route; its number (`batchRoute` gives it for an event).
    pub fn route(&self, kind: u32, path: Js, handlers: Js, body: Js, ctype: Js) -> Result<u32> {
        self.js(|me| {
            let kind = match kind {
                0 => RouteKind::WebSocket,
                1 => RouteKind::Sse,
                3 => RouteKind::EngineIo,
                4 => RouteKind::SocketIo {
                    namespaces: Vec::new(),
                },
                _ => RouteKind::Static {
                    content_type: ctype.string("contentType")?,
                    body: body.bytes(&mut me.scratch, "body")?.to_vec().into(),
                },
            };
            let sio = matches!(kind, RouteKind::SocketIo { .. });
            let mut route = Route::new(&path.string("path")?, kind);
            route.approve = sio || handlers.get(c"approve").kind() == sys::ValueType::napi_function;
            route.subprotocols = handlers.get(c"protocols").strings("protocols")?;
            route.headers = handlers.get(c"headers").headers()?;
            let started = || wrong_state("routes are added before listen()");
            let path = route.path.clone();
            me.config.as_mut().ok_or_else(started)?.routes.push(route);
            me.route_paths.push(path);
            Ok(me.route_paths.len() as u32 - 1)
        })
    }

    /// Adds namespace `nsp` to the Socket.IO route at `path`.
    #[napi]
    pub fn add_namespace(&self, path: Js, nsp: Js) -> Result<()> {
        self.js(|me| {
            let (path, nsp) = (path.string("path")?, nsp.string("namespace")?);
            let started = || wrong_state("namespaces are added before listen()");
            let config = me.config.as_mut().ok_or_else(started)?;
            let route = config.routes.iter_mut().find(|r| r.path == path);
            match route.map(|r| &mut r.kind) {
                Some(RouteKind::SocketIo { namespaces }) => {
                    if !namespaces.contains(&nsp) {
                        namespaces.push(nsp);
                    }
                    Ok(())
                }
                _ => Err(wrong_state("no Socket.IO route at this path")),
            }
        })
    }

    /// Binds `host`:`port` and watches the server from this thread's libuv
    /// loop: `callback` runs whenever `poll` has work.
    #[napi]
    pub fn listen(&self, host: Js, port: Js, callback: Js) -> Result<()> {
        self.js(|me| {
            let started = || wrong_state("the server was started already");
            let mut config = me.config.clone().ok_or_else(started)?;
            config.listen = Config::with_host(&host.string("host")?, port.int("port")?).listen;
            let server = Server::bind(config)?;
            let watch = unsafe { uv::Watch::start(me.env, server.as_raw_fd(), callback.v) };
            let io = |m| wsrt::Error::new(ErrorKind::Io, format!("cannot watch the server: {m}"));
            me.watch = Some(watch.map_err(io)?);
            me.config = None;
            me.server = Some(server);
            me.rearm();
            Ok(())
        })
    }

    /// Runs the loop once without waiting, writing the batch into `meta`:
    /// the event count, or minus the length needed when `meta` is too short
    /// (the batch is kept for the next call).
    #[napi]
    pub fn poll(&self, meta: Js) -> Result<i32> {
        self.js(|me| {
            let meta = meta.typed(sys::TypedarrayType::float64_array);
            let bad = || wsrt::Error::invalid_type("expected a Float64Array");
            me.poll_into(meta.filter(|m| m.len() > HEADER).ok_or_else(bad)?)
        })
    }

    /// The payload bytes of the last batch, copied once into a new Buffer
    /// that JavaScript owns (messages are views into it).
    #[napi]
    pub fn arena<'env>(&self, env: &'env Env) -> Result<BufferSlice<'env>> {
        BufferSlice::copy_from(env, self.core().events.arena())
    }

    /// The large messages of the last batch, each copied once into a
    /// Buffer of its own (see `OWN_BUFFER_FROM`), in batch order.
    #[napi]
    pub fn own_buffers<'env>(&self, env: &'env Env) -> Result<Vec<BufferSlice<'env>>> {
        let events = &self.core().events;
        // After `unlend_small`, only those messages' payloads are lent.
        let own = events.iter().filter(|e| e.data.is_lent());
        own.map(|e| BufferSlice::copy_from(env, events.payload(e)))
            .collect()
    }

    /// The request of the last batch's event number `i` (request and open
    /// events; the close event of a connection that was open), or null.
    #[napi]
    pub fn batch_request(&self, i: u32) -> Option<RequestInfo> {
        let events = &self.core().events;
        let ev = events.iter().nth(i as usize)?;
        events.request(ev).map(request_info)
    }

    /// The number of the route the request of the last batch's event
    /// number `i` came to (-1: none), without making a string of its path.
    #[napi]
    pub fn batch_route(&self, i: u32) -> i32 {
        let core = self.core();
        let ev = core.events.iter().nth(i as usize);
        let path = ev.and_then(|ev| core.events.request(ev)).map(|r| r.path());
        let n = core
            .route_paths
            .iter()
            .position(|p| Some(p.as_str()) == path);
        n.map_or(-1, |n| n as i32)
    }

    /// The request an open WebSocket or event stream keeps in the core.
    #[napi]
    pub fn connection_request(&self, id: Id) -> Result<RequestInfo> {
        self.srv(|s| Ok(request_info(&s.request(id.0)?)))
    }

    /// Writes queued output (after starting a graceful shutdown, with
    /// `shutdown`) and re-arms the timer for the next deadline.
    #[napi]
    pub fn flush(&self, shutdown: bool) {
        let core = self.core();
        if let Some(s) = core.server.as_mut() {
            if shutdown {
                s.begin_shutdown();
            }
            s.flush();
        }
        core.config = core.config.take().filter(|_| !shutdown);
        core.rearm();
    }

    /// Whether the shutdown is done; then the server stops being watched
    /// (it stays, shut down, so that calls get the core's answer).
    #[napi]
    pub fn finished(&self) -> bool {
        let core = self.core();
        let done = core.server.as_ref().is_none_or(Server::is_finished);
        if let Some(w) = core.watch.take_if(|_| done) {
            w.stop();
        }
        done
    }

    /// `send(lo, hi, bytes, binary)` as a raw Node-API function (fast.rs).
    #[napi(ts_return_type = "Function")]
    pub fn fast_send(&self) -> Result<Unknown<'static>> {
        unsafe { fast::send_function::<false>(self.core().env, &self.core) }
    }

    /// `fastSend` for strings.
    #[napi(ts_return_type = "Function")]
    pub fn fast_send_text(&self) -> Result<Unknown<'static>> {
        unsafe { fast::send_function::<true>(self.core().env, &self.core) }
    }

    /// `ack(lo, hi, ackLo, ackHi, args, attachments)` as a raw Node-API
    /// function (fast.rs).
    #[napi(ts_return_type = "Function")]
    pub fn fast_ack(&self) -> Result<Unknown<'static>> {
        unsafe { fast::ack_function::<false>(self.core().env, &self.core) }
    }

    /// `fastAck` for an acknowledgement of one string argument.
    #[napi(ts_return_type = "Function")]
    pub fn fast_ack_string(&self) -> Result<Unknown<'static>> {
        unsafe { fast::ack_function::<true>(self.core().env, &self.core) }
    }

    #[napi]
    pub fn ping(&self, id: Id, data: Js) -> Result<()> {
        self.js(|me| running(&mut me.server)?.ping(id.0, data.bytes(&mut me.scratch, "ping")?))
    }

    #[napi]
    pub fn close(&self, id: Id, code: Js, reason: Js) -> Result<()> {
        self.srv(|s| {
            let (code, reason) = (code.int("close code")?, reason.string("close reason")?);
            s.close(id.0, code, &reason)
        })
    }

    #[napi]
    pub fn terminate(&self, id: Id) -> Result<()> {
        self.srv(|s| s.terminate(id.0))
    }

    #[napi]
    pub fn accept(&self, id: Id, protocol: Js, headers: Js) -> Result<()> {
        self.srv(|s| {
            let protocol = protocol.opt_string("protocol")?;
            s.accept(id.0, protocol.as_deref(), &headers.headers()?)
        })
    }

    #[napi]
    pub fn reject(&self, id: Id, status: Js, body: Js, headers: Js) -> Result<()> {
        self.srv(|s| {
            let body = body.opt_string("body")?.unwrap_or_default();
            s.reject(id.0, status.int("status")?, &body, &headers.headers()?)
        })
    }

    /// One SSE event; false when backpressure refused it.
    #[napi]
    pub fn sse_send(&self, id: Id, data: Js, event: Js, eid: Js, retry: Js) -> Result<bool> {
        self.srv(|s| {
            let (event, eid) = (event.opt_string("event")?, eid.opt_id_text("id")?);
            let ev = SseEvent {
                event: event.as_deref(),
                id: eid.as_deref(),
                retry: retry.opt_int("retryMs")?,
                data: &data.string("data")?,
            };
            sent(s.sse_send(id.0, &ev))
        })
    }

    #[napi]
    pub fn sse_comment(&self, id: Id, text: Js) -> Result<bool> {
        self.srv(|s| sent(s.sse_comment(id.0, &text.string("comment")?)))
    }

    /// The connection's state (`CONNECTING` ... `CLOSED`).
    #[napi]
    pub fn state(&self, id: Id) -> u32 {
        let server = self.core().server.as_ref();
        server.map_or(CLOSED, |s| s.state(id.0) as u32)
    }

    #[napi]
    pub fn buffered_amount(&self, id: Id) -> Result<f64> {
        self.srv(|s| Ok(s.buffered_amount(id.0)? as f64))
    }

    #[napi]
    pub fn subscribe(&self, id: Id, topic: Js) -> Result<bool> {
        self.srv(|s| s.subscribe(id.0, &topic.string("topic")?))
    }

    #[napi]
    pub fn unsubscribe(&self, id: Id, topic: Js) -> Result<bool> {
        self.srv(|s| s.unsubscribe(id.0, &topic.string("topic")?))
    }

    #[napi]
    pub fn is_subscribed(&self, id: Id, topic: Js) -> Result<bool> {
        self.srv(|s| Ok(s.is_subscribed(id.0, &topic.string("topic")?)))
    }

    /// Subscribes and replays what the client missed after `lastEventId`
    /// (undefined/null: its own `Last-Event-ID`).
    #[napi]
    pub fn resume(&self, id: Id, topic: Js, last: Js) -> Result<ReplayResult> {
        self.srv(|s| {
            let (topic, last) = (topic.string("topic")?, last.opt_id_text("lastEventId")?);
            let (replayed, missed) = match s.resume(id.0, &topic, last.as_deref())? {
                Replay::Replayed(n) => (n as u32, false),
                Replay::Missed => (0, true),
            };
            Ok(ReplayResult { replayed, missed })
        })
    }

    /// Publishes to `topic`, or to everyone (`all`).
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        all: bool,
        topic: Js,
        data: Js,
        binary: Js,
        exclude: Js,
        on_slow: Js,
        sse_event: Js,
    ) -> Result<PublishResult> {
        self.js(|me| {
            let kind = data.message_kind(binary, "binary")?;
            let topic = (!all).then(|| topic.string("topic")).transpose()?;
            let event = sse_event.opt_string("sseEvent")?;
            let mut msg = Publish::new(kind, data.bytes(&mut me.scratch, "data")?);
            msg.exclude = exclude.id("exclude")?;
            msg.sse_event = event.as_deref();
            msg.on_slow =
                on_slow.option("onSlow", false, |v| wsrt::options::on_slow(v, "onSlow"))?;
            let server = running(&mut me.server)?;
            let r = match topic {
                Some(t) => server.publish(&t, &msg)?,
                None => server.publish_all(&msg)?,
            };
            Ok(PublishResult {
                delivered: r.delivered as u32,
                dropped: r.dropped as u32,
                closed: r.closed as u32,
                event_id: r.event_id.map(|id| id as f64),
            })
        })
    }

    #[napi]
    pub fn subscriber_count(&self, topic: Js) -> Result<u32> {
        self.srv(|s| Ok(s.subscriber_count(&topic.string("topic")?) as u32))
    }

    #[napi]
    pub fn cluster_subscriber_count(&self, topic: Js) -> Result<u32> {
        self.srv(|s| Ok(s.cluster_subscriber_count(&topic.string("topic")?) as u32))
    }

    /// Keeps `topic`'s recent events (0 or undefined turns a bound off).
    #[napi]
    pub fn set_topic_history(&self, topic: Js, max_events: Js, max_age_ms: Js) -> Result<()> {
        self.srv(|s| {
            let limit = HistoryLimit {
                max_events: max_events.opt_int("maxEvents")?.unwrap_or(0),
                max_age: Duration::from_millis(max_age_ms.opt_int("maxAgeMs")?.unwrap_or(0)),
            };
            s.set_topic_history(&topic.string("topic")?, limit)
        })
    }

    #[napi]
    pub fn clear_topic_history(&self, topic: Js) -> Result<()> {
        self.srv(|s| s.clear_topic_history(&topic.string("topic")?))
    }

    #[napi]
    pub fn stats(&self) -> Result<Stats> {
        self.srv(|s| {
            let s = s.stats();
            Ok(Stats {
                connections: s.connections as f64,
                websockets: s.websockets as f64,
                sse_streams: s.sse_streams as f64,
                buffered_bytes: s.buffered_bytes as f64,
                topics: s.topics as f64,
                published: s.published as f64,
                delivered: s.delivered as f64,
                dropped: s.dropped as f64,
                slow_closed: s.slow_closed as f64,
                tls_handshakes: s.tls_handshakes as f64,
                tls_failures: s.tls_failures as f64,
                cluster_published: s.cluster_published as f64,
                cluster_received: s.cluster_received as f64,
                cluster_dropped: s.cluster_dropped as f64,
            })
        })
    }

    /// Emits `event` with `args` (a JSON array, placeholders for the
    /// Uint8Arrays of `attachments`) to a socket; with `ack`, asks for an
    /// acknowledgement within `timeout` ms (undefined, null or 0: no
    /// timeout) and returns its id (-1 without `ack`).
    #[napi]
    pub fn emit(
        &self,
        id: Id,
        event: Js,
        args: Js,
        attachments: Js,
        ack: bool,
        timeout: Js,
    ) -> Result<f64> {
        self.srv(|s| {
            let (event, args) = (event.string("event name")?, args.string("arguments")?);
            let attachments = attachments.byte_list("attachments")?;
            let timeout = timeout.opt_int::<u32>("timeout")?.unwrap_or(0);
            let timeout = (timeout > 0).then(|| Duration::from_millis(timeout.into()));
            let ack = ack.then_some(timeout);
            Ok(s.emit(id.0, &event, &args, &attachments, ack)?
                .map_or(-1.0, ack_number))
        })
    }

    /// Emits to the sockets of `namespace` in any of `rooms` (none: all),
    /// in none of `except_rooms`, but `except`; returns how many.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn broadcast(
        &self,
        namespace: Js,
        rooms: Js,
        except_rooms: Js,
        except: Js,
        event: Js,
        args: Js,
        attachments: Js,
    ) -> Result<u32> {
        self.srv(|s| {
            let namespace = namespace.string("namespace")?;
            let rooms = rooms.strings("rooms")?;
            let except_rooms = except_rooms.strings("except rooms")?;
            let (event, args) = (event.string("event name")?, args.string("arguments")?);
            let attachments = attachments.byte_list("attachments")?;
            let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
            let except_rooms: Vec<&str> = except_rooms.iter().map(String::as_str).collect();
            let b = Broadcast {
                namespace: &namespace,
                rooms: &rooms,
                except_rooms: &except_rooms,
                except: except.id("except")?,
                event: &event,
                args: &args,
                attachments: &attachments,
            };
            Ok(s.broadcast(&b)? as u32)
        })
    }

    /// Refuses a socket awaiting approval (`data`: JSON text or nullish).
    #[napi]
    pub fn reject_socket(&self, id: Id, message: Js, data: Js) -> Result<()> {
        self.srv(|s| {
            let (message, data) = (message.string("message")?, data.opt_string("data")?);
            s.reject_socket(id.0, &message, data.as_deref())
        })
    }

    /// A socket's id as its client knows it.
    #[napi]
    pub fn socket_id(&self, id: Id) -> Result<String> {
        self.srv(|s| s.socket_id(id.0))
    }

    /// The topics (a socket's rooms) a connection is subscribed to.
    #[napi]
    pub fn topics(&self, id: Id) -> Result<Vec<String>> {
        self.srv(|s| s.topics(id.0))
    }

    /// The first address bound, or null before `listen`.
    #[napi]
    pub fn address(&self) -> Option<Address> {
        Some(address(self.core().server.as_ref()?.local_addr()))
    }

    /// The address TLS is spoken on, or null (before `listen`, without TLS).
    #[napi]
    pub fn tls_address(&self) -> Option<Address> {
        Some(address(self.core().server.as_ref()?.tls_addr()?))
    }

    /// Replaces the certificates and client-certificate settings for new
    /// connections (`Server::reload_tls`): the running ones, changed by the
    /// TLS options `options` names (`Server::tls_reload`), converted as
    /// `new Server` converts them.
    #[napi]
    pub fn reload_tls(&self, options: Js) -> Result<()> {
        self.srv(|s| {
            let mut reload = s.tls_reload();
            set_options(options, |key, value| reload.set(key, value))?;
            s.reload_tls(reload.options())
        })
    }
}

fn address(a: std::net::SocketAddr) -> Address {
    let family = if a.is_ipv4() { "IPv4" } else { "IPv6" };
    Address {
        address: a.ip().to_string(),
        family: family.into(),
        port: a.port() as u32,
    }
}

impl NativeServer {
    #[allow(clippy::mut_from_ref)]
    fn core(&self) -> &mut Core {
        // SAFETY: single-threaded (the JavaScript thread), and no caller
        // holds this across a call that could reach another accessor.
        unsafe { &mut *self.core.get() }
    }

    /// Runs `f`, throwing its error as the core's JavaScript error.
    fn js<T>(&self, f: impl FnOnce(&mut Core) -> CoreResult<T>) -> Result<T> {
        let core = self.core();
        let env = core.env;
        f(core).map_err(|e| js::throw(env, &e))
    }

    /// Runs `f` on the listening server.
    fn srv<T>(&self, f: impl FnOnce(&mut Server) -> CoreResult<T>) -> Result<T> {
        self.js(|me| f(running(&mut me.server)?))
    }
}

impl Core {
    fn rearm(&mut self) {
        if let (Some(w), Some(s)) = (self.watch.as_ref(), self.server.as_ref()) {
            w.arm_timer(s.next_timeout());
        }
    }

    fn poll_into(&mut self, meta: &mut [f64]) -> CoreResult<i32> {
        if !self.pending {
            running(&mut self.server)?.poll(&mut self.events, Some(Duration::ZERO))?;
            // The batch's payloads go to JavaScript as one Buffer, but for
            // the large messages (`own_buffers`).
            self.events.unlend_small(OWN_BUFFER_FROM);
        }
        let written = write_batch(&self.events, &mut self.names, meta);
        self.pending = written.is_none();
        let Some(n) = written else {
            return Ok(-(batch_len(&self.events) as i32));
        };
        meta[0] = n as f64;
        meta[1] = self.events.arena().len() as f64;
        meta[2] = self.events.requests().len() as f64;
        Ok(n as i32)
    }
}

/// Whether an event's record has an extension.
fn extended(kind: EventType) -> bool {
    use EventType::*;
    matches!(kind, Request | Open | SioEvent | SioAck)
}

fn ext_len(events: &Events, ev: &Event) -> usize {
    EXT + 2 * events.attachment_spans(ev).len()
}

/// The slots a batch needs.
fn batch_len(events: &Events) -> usize {
    let ext = events.iter().filter(|e| extended(e.kind));
    HEADER + events.len() * STRIDE + ext.map(|e| ext_len(events, e)).sum::<usize>()
}

/// An ack id as a JavaScript number: they count up from 0 per socket, so
/// they stay far below 2^53 (exact).
fn ack_number(id: u64) -> f64 {
    id as f64
}

/// Whether an event's arguments (`[` then the rest of its array) are one
/// string without escapes: then its text is what lies between the quotes.
fn one_plain_string(args: &[u8]) -> bool {
    let inner = args
        .strip_prefix(b"[\"")
        .and_then(|a| a.strip_suffix(b"\"]"));
    inner.is_some_and(|t| !t.iter().any(|&b| b == b'"' || b == b'\\'))
}

/// Writes the records of `events` (and their extensions after them) into
/// `meta`; `None` if it is too short.
fn write_batch(events: &Events, names: &mut SioNames, meta: &mut [f64]) -> Option<usize> {
    let n = events.len();
    if HEADER + n * STRIDE > meta.len() {
        return None;
    }
    let (records, ext) = meta[HEADER..].split_at_mut(n * STRIDE);
    let mut x = 0; // in `ext`
    let mut own = 0;
    for (ev, m) in events.iter().zip(records.chunks_exact_mut(STRIDE)) {
        let raw = ev.conn.raw();
        m[0] = ev.kind as u8 as f64;
        m[1] = ev.conn.index() as f64;
        m[2] = (raw & 0xffff_ffff) as f64;
        m[3] = (raw >> 32) as f64;
        m[4] = match ev.data.is_lent() {
            true => {
                own += 1;
                -(own as f64)
            }
            false => ev.data.start as f64,
        };
        m[5] = ev.data.len as f64;
        m[6] = match ev.kind {
            EventType::Message => ev.text as u8 as f64,
            k if extended(k) => {
                let e = ext.get_mut(x..x + ext_len(events, ev))?;
                e[0] = match ev.endpoint {
                    Endpoint::WebSocket => ENDPOINT_WEBSOCKET,
                    Endpoint::Sse => ENDPOINT_SSE,
                    Endpoint::EngineIo => ENDPOINT_ENGINEIO,
                    Endpoint::SocketIo => ENDPOINT_SOCKETIO,
                } as f64;
                e[1] = ev.recovered as u8 as f64;
                e[2] = ev.name.start as f64;
                e[3] = ev.name.len as f64;
                e[4] = (ev.ack & 0xffff_ffff) as f64;
                e[5] = (ev.ack >> 32) as f64;
                let arena = events.arena();
                let sio_event = k == EventType::SioEvent;
                e[6] = match sio_event {
                    true => one_plain_string(&arena[ev.data.start..][..ev.data.len]) as u8 as f64,
                    false => ev.code as f64,
                };
                let spans = events.attachment_spans(ev);
                e[7] = spans.len() as f64;
                e[8] = match sio_event {
                    true => names.number(&arena[ev.name.start..][..ev.name.len]),
                    false => -1.0,
                };
                for (slot, span) in e[EXT..].chunks_exact_mut(2).zip(spans) {
                    slot[0] = span.start as f64;
                    slot[1] = span.len as f64;
                }
                let at = HEADER + n * STRIDE + x;
                x += e.len();
                at as f64
            }
            _ => ev.code as f64,
        };
    }
    meta[3] = own as f64;
    Some(n)
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.stop();
        }
    }
}
