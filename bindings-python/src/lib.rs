//! `wsrt._wsrt`: the native half of the Python package.
//!
//! A thin layer over the core's public API (`wsrt::Server`): it converts
//! types and errors and hands events to Python in batches. The asyncio and
//! blocking loops, routing of events to handlers and the user-facing
//! `Server` class live in Python (`python/wsrt/_server.py`); no protocol
//! logic lives in either.
//!
//! Threading: every Python-visible object here is `Sync`. The core server
//! sits behind a mutex that only the loop thread takes in the ordinary
//! course of things (it is never contended there, and never held while
//! Python code runs or while the loop waits for I/O). Calls from other
//! threads take the same mutex with the GIL released, then wake the loop so
//! it flushes what they queued.

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use pyo3::{create_exception, PyTraverseError};
use std::borrow::Cow;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::Duration;
use wsrt::{
    Config, ConnId, DeflateMode, Endpoint, Error, Event, Events, Handle, HistoryLimit, MessageKind,
    Publish, Replay, Request, Route, RouteKind, Server, SlowConsumerPolicy, SseEvent,
};

create_exception!(
    wsrt,
    WsrtError,
    PyException,
    "Base class of the errors wsrt raises (other than ValueError, TypeError and OSError)."
);
create_exception!(
    wsrt,
    ConnectionClosedError,
    WsrtError,
    "The connection is closed or closing: nothing more can be sent on it."
);
create_exception!(
    wsrt,
    BackpressureError,
    WsrtError,
    "Queuing this would pass the connection's max_buffered limit; nothing was queued."
);
create_exception!(
    wsrt,
    InvalidStateError,
    WsrtError,
    "The call does not fit the connection's state (e.g. sending before it is accepted)."
);

// Event kinds in the tuples `Core.poll` returns: (kind, connection, data).
const EV_REQUEST: u8 = 0;
const EV_OPEN: u8 = 1;
const EV_MESSAGE: u8 = 2;
const EV_PONG: u8 = 3;
const EV_CLOSE: u8 = 4;
const EV_SSE_OPEN: u8 = 5;
const EV_SSE_CLOSE: u8 = 6;
const EV_DRAIN: u8 = 7;
const EV_WAKE: u8 = 8;

// Connection states.
const PENDING: u8 = 0;
const OPEN: u8 = 1;
const CLOSED: u8 = 2;

/// A small per-thread number, to tell the loop thread from the others.
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn duration(name: &str, v: f64) -> PyResult<Duration> {
    if !v.is_finite() || v < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Turns a core error into the Python exception a user should see.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::UnknownConnection => ConnectionClosedError::new_err("the connection is closed"),
        Error::Closed => ConnectionClosedError::new_err("the connection is closing"),
        Error::WrongState(s) => InvalidStateError::new_err(s),
        Error::Backpressure => BackpressureError::new_err(
            "send buffer limit (max_buffered) reached; wait for drained() and retry",
        ),
        Error::InvalidArgument(s) => PyValueError::new_err(s),
        Error::Config(s) => PyValueError::new_err(s),
        Error::Io(e) => PyErr::from(e),
    }
}

/// The native server: owns the core `Server` and the Python objects that
/// stand for its live connections.
#[pyclass(frozen, module = "wsrt._wsrt")]
struct Core {
    server: Mutex<Server>,
    /// Reused across polls; taken out while a batch is converted.
    events: Mutex<Events>,
    handle: Handle,
    fd: RawFd,
    port: u16,
    /// `thread_token()` of the thread that runs the loop; 0 before it runs.
    owner: AtomicU64,
    /// Between `poll` and `end_turn`: the host flushes at the end anyway.
    in_turn: AtomicBool,
    /// `on_dirty` was called and its flush has not run yet.
    flush_pending: AtomicBool,
    /// Another thread woke the loop and the loop has not polled since.
    wake_pending: AtomicBool,
    /// Called (on the loop thread) when output is queued outside a turn.
    on_dirty: Mutex<Option<Py<PyAny>>>,
    /// Called by `drained()`: returns the awaitable to hand back.
    drain_waiter: Mutex<Option<Py<PyAny>>>,
    /// Live connections by id. Only touched with the GIL held, and never
    /// held while Python code can run.
    conns: Mutex<HashMap<u64, Py<PyAny>>>,
    /// Connections whose end is in the current batch, marked closed by
    /// `end_turn` (if Python has not done it while dispatching).
    ending: Mutex<Vec<Py<PyAny>>>,
    /// Route path -> the Python route object handed to each connection.
    routes: Mutex<HashMap<String, Py<PyAny>>>,
}

impl Core {
    /// Runs `f` on the server. On the loop thread the mutex is free (it is
    /// never held across Python code), so this is one uncontended lock; a
    /// caller on another thread may wait for it, with the GIL released.
    fn with_server<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Server) -> R + Send) -> R {
        match self.server.try_lock() {
            Ok(mut g) => f(&mut g),
            Err(TryLockError::Poisoned(e)) => f(&mut e.into_inner()),
            Err(TryLockError::WouldBlock) => py.detach(|| f(&mut lock(&self.server))),
        }
    }

    fn on_loop_thread(&self) -> bool {
        let owner = self.owner.load(Ordering::Relaxed);
        owner == 0 || owner == thread_token()
    }

    /// After output was queued: make sure someone flushes it soon.
    fn queued(&self, py: Python<'_>) {
        if self.on_loop_thread() {
            if !self.in_turn.load(Ordering::Relaxed)
                && !self.flush_pending.swap(true, Ordering::AcqRel)
            {
                let cb = lock(&self.on_dirty).as_ref().map(|c| c.clone_ref(py));
                if let Some(cb) = cb {
                    if let Err(e) = cb.call0(py) {
                        e.write_unraisable(py, Some(cb.bind(py)));
                    }
                }
            }
        } else if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = self.handle.wake();
        }
    }

    fn conn_object(&self, py: Python<'_>, id: ConnId) -> Option<Py<PyAny>> {
        lock(&self.conns).get(&id.0).map(|o| o.clone_ref(py))
    }

    fn route_for(&self, py: Python<'_>, path: &str) -> Py<PyAny> {
        lock(&self.routes)
            .get(path)
            .map_or_else(|| py.None(), |r| r.clone_ref(py))
    }

    /// The object for a connection, made on its first event.
    fn get_or_make(
        slf: &Bound<'_, Core>,
        id: ConnId,
        endpoint: Endpoint,
        request: &Request,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let core = slf.get();
        if let Some(o) = core.conn_object(py, id) {
            return Ok(o);
        }
        let peer = Peer {
            core: slf.clone().unbind(),
            kind: match endpoint {
                Endpoint::WebSocket => "WebSocket",
                Endpoint::Sse => "SSE stream",
            },
            id: id.0,
            request: request.clone(),
            route: core.route_for(py, request.path()),
            state: AtomicU8::new(PENDING),
            opened: AtomicBool::new(false),
            close_code: AtomicU32::new(0),
            close_reason: OnceLock::new(),
            subprotocol: OnceLock::new(),
            data: OnceLock::new(),
        };
        let obj: Py<PyAny> = match endpoint {
            Endpoint::WebSocket => Py::new(py, WebSocket { peer })?.into_any(),
            Endpoint::Sse => Py::new(py, SseStream { peer })?.into_any(),
        };
        lock(&core.conns).insert(id.0, obj.clone_ref(py));
        Ok(obj)
    }

    fn convert<'py>(slf: &Bound<'py, Core>, events: &Events) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let core = slf.get();
        let out = PyList::empty(py);
        let none = py.None();
        for ev in events {
            let (kind, obj, data): (u8, Py<PyAny>, Py<PyAny>) = match ev {
                Event::Request {
                    conn,
                    endpoint,
                    request,
                } => (
                    EV_REQUEST,
                    Core::get_or_make(slf, *conn, *endpoint, request)?,
                    none.clone_ref(py),
                ),
                Event::Open {
                    conn,
                    request,
                    protocol,
                } => {
                    let obj = Core::get_or_make(slf, *conn, Endpoint::WebSocket, request)?;
                    if let Ok(ws) = obj.bind(py).cast::<WebSocket>() {
                        let p = &ws.get().peer;
                        let _ = p.subprotocol.set(protocol.clone());
                        p.opened.store(true, Ordering::Release);
                        p.state.store(OPEN, Ordering::Release);
                    }
                    (EV_OPEN, obj, none.clone_ref(py))
                }
                Event::SseOpen { conn, request } => {
                    let obj = Core::get_or_make(slf, *conn, Endpoint::Sse, request)?;
                    if let Ok(s) = obj.bind(py).cast::<SseStream>() {
                        s.get().peer.opened.store(true, Ordering::Release);
                        s.get().peer.state.store(OPEN, Ordering::Release);
                    }
                    (EV_SSE_OPEN, obj, none.clone_ref(py))
                }
                Event::Message { conn, kind, data } => {
                    let Some(obj) = core.conn_object(py, *conn) else {
                        continue;
                    };
                    let data: Py<PyAny> = match kind {
                        MessageKind::Text => {
                            PyString::new(py, events.text(*data)).into_any().unbind()
                        }
                        MessageKind::Binary => {
                            PyBytes::new(py, events.bytes(*data)).into_any().unbind()
                        }
                    };
                    (EV_MESSAGE, obj, data)
                }
                Event::Pong { conn, data } => {
                    let Some(obj) = core.conn_object(py, *conn) else {
                        continue;
                    };
                    (
                        EV_PONG,
                        obj,
                        PyBytes::new(py, events.bytes(*data)).into_any().unbind(),
                    )
                }
                Event::Close { conn, code, reason } => {
                    // Removed here; the reference is dropped below, with no
                    // lock held, in case that runs Python code.
                    let Some(obj) = lock(&core.conns).remove(&conn.0) else {
                        continue;
                    };
                    // Not marked closed yet: the handlers of this batch may
                    // still answer its earlier messages (the core sends those
                    // replies before its close frame). Python marks it when
                    // it dispatches this event, `end_turn` at the latest.
                    if let Ok(ws) = obj.bind(py).cast::<WebSocket>() {
                        let p = &ws.get().peer;
                        let _ = p.close_reason.set(events.text(*reason).to_string());
                        p.close_code.store(u32::from(*code), Ordering::Release);
                    }
                    lock(&core.ending).push(obj.clone_ref(py));
                    (EV_CLOSE, obj, none.clone_ref(py))
                }
                Event::SseClose { conn } => {
                    let Some(obj) = lock(&core.conns).remove(&conn.0) else {
                        continue;
                    };
                    lock(&core.ending).push(obj.clone_ref(py));
                    (EV_SSE_CLOSE, obj, none.clone_ref(py))
                }
                Event::Drain { conn } => {
                    let Some(obj) = core.conn_object(py, *conn) else {
                        continue;
                    };
                    (EV_DRAIN, obj, none.clone_ref(py))
                }
                Event::Wake => (EV_WAKE, none.clone_ref(py), none.clone_ref(py)),
            };
            out.append(PyTuple::new(
                py,
                [kind.into_pyobject(py)?.into_any().unbind(), obj, data],
            )?)?;
        }
        Ok(out)
    }
}

fn mark_closed(obj: &Bound<'_, PyAny>) {
    if let Ok(ws) = obj.cast::<WebSocket>() {
        ws.get().peer.state.store(CLOSED, Ordering::Release);
    } else if let Ok(s) = obj.cast::<SseStream>() {
        s.get().peer.state.store(CLOSED, Ordering::Release);
    }
}

/// Waits until `fd` is readable or `timeout` passes (None: no limit).
/// Returns false if a signal interrupted the wait.
fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> bool {
    let ms: libc::c_int = match timeout {
        None => -1,
        // Round up, so a wait for a timer never ends just before it is due.
        Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    !(r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted)
}

/// The `deflate` option: "off", "shared", "per-connection", or None/False
/// for off.
fn deflate_mode(v: &Bound<'_, PyAny>) -> PyResult<DeflateMode> {
    const WANT: &str = "deflate must be \"off\", \"shared\", \"per-connection\", None or False";
    if v.is_none() {
        return Ok(DeflateMode::Off);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        if b.is_true() {
            return Err(PyValueError::new_err(format!(
                "{WANT}, not True (say which mode: \"shared\" or \"per-connection\")"
            )));
        }
        return Ok(DeflateMode::Off);
    }
    if let Ok(s) = v.cast::<PyString>() {
        return match &*s.to_cow()? {
            "off" => Ok(DeflateMode::Off),
            "shared" => Ok(DeflateMode::Shared),
            "per-connection" => Ok(DeflateMode::PerConnection),
            other => Err(PyValueError::new_err(format!("{WANT}, not {other:?}"))),
        };
    }
    Err(PyTypeError::new_err(format!(
        "{WANT}, not {}",
        v.get_type().name()?
    )))
}

/// A topic name argument: a `str` (its length is checked by the core).
fn topic_of<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
    match v.cast::<PyString>() {
        Ok(s) => s.to_cow(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "topic must be a str, not {}",
            v.get_type().name()?
        ))),
    }
}

/// A slow-consumer policy: "drop" or "close" (None: `none`).
fn slow_policy(
    name: &str,
    v: Option<&Bound<'_, PyAny>>,
    none: Option<SlowConsumerPolicy>,
) -> PyResult<Option<SlowConsumerPolicy>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(none);
    };
    if let Ok(s) = v.cast::<PyString>() {
        return match &*s.to_cow()? {
            "drop" => Ok(Some(SlowConsumerPolicy::Drop)),
            "close" => Ok(Some(SlowConsumerPolicy::Close)),
            other => Err(PyValueError::new_err(format!(
                "{name} must be \"drop\" or \"close\", not {other:?}"
            ))),
        };
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be \"drop\" or \"close\", not {}",
        v.get_type().name()?
    )))
}

/// The connection a publish skips: a WebSocket, an SseStream or its `id`.
fn exclude_of(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ConnId>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(ws) = v.cast::<WebSocket>() {
        return Ok(Some(ws.get().peer.conn()));
    }
    if let Ok(s) = v.cast::<SseStream>() {
        return Ok(Some(s.get().peer.conn()));
    }
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
        if let Ok(id) = v.extract::<u64>() {
            return Ok(Some(ConnId(id)));
        }
    }
    Err(PyTypeError::new_err(format!(
        "exclude must be a WebSocket, an SseStream, a connection id or None, not {}",
        v.get_type().name()?
    )))
}

/// A named tuple class of `wsrt._types`.
fn result_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "wsrt._types", name)
}

static PUBLISHED: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static REPLAY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An int option in `lo..=hi`; with `hi == u64::MAX` there is no upper
/// bound (larger values saturate). `bool` is refused: Python counts it as
/// an int, but `True` is never a meant size or level.
fn int_in(name: &str, v: &Bound<'_, PyAny>, lo: u64, hi: u64) -> PyResult<u64> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            v.get_type().name()?
        )));
    }
    if hi == u64::MAX {
        if v.ge(lo)? {
            return Ok(v.extract::<u64>().unwrap_or(u64::MAX));
        }
        return Err(PyValueError::new_err(format!(
            "{name} must be an int >= {lo}, not {v}"
        )));
    }
    match v.extract::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be an int in {lo}-{hi}, not {v}"
        ))),
    }
}

fn build_config(
    listen: String,
    routes: &Bound<'_, PyList>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<(Config, HashMap<String, Py<PyAny>>)> {
    let mut config = Config::new(listen);
    let mut objects = HashMap::new();
    for item in routes.iter() {
        let path: String = item.getattr("path")?.extract()?;
        let kind: String = item.getattr("kind")?.extract()?;
        let route_kind = match kind.as_str() {
            "websocket" => RouteKind::WebSocket,
            "sse" => RouteKind::Sse,
            "static" => RouteKind::Static {
                content_type: item.getattr("content_type")?.extract()?,
                body: item.getattr("body")?.extract::<Vec<u8>>()?.into(),
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown route kind {other:?}"
                )))
            }
        };
        let mut route = Route::new(&path, route_kind);
        route.approve = item.getattr("approve")?.extract()?;
        route.subprotocols = item.getattr("subprotocols")?.extract()?;
        config = config.route(route);
        objects.insert(path, item.unbind());
    }
    if let Some(options) = options {
        for (k, v) in options.iter() {
            let key: String = k.extract()?;
            let none = v.is_none();
            let dur = |name: &str| -> PyResult<Duration> { duration(name, v.extract()?) };
            match key.as_str() {
                "max_message_size" => config.max_message_size = v.extract()?,
                "max_buffered" => config.max_buffered = v.extract()?,
                "read_pause_buffered" => config.read_pause_buffered = v.extract()?,
                "max_head_bytes" => config.max_head_bytes = v.extract()?,
                "max_headers" => config.max_headers = v.extract()?,
                "max_connections" => config.max_connections = v.extract()?,
                "handshake_timeout" => config.handshake_timeout = dur(&key)?,
                "close_timeout" => config.close_timeout = dur(&key)?,
                "idle_timeout" => config.idle_timeout = if none { None } else { Some(dur(&key)?) },
                "sse_keepalive" => {
                    config.sse_keepalive = if none { None } else { Some(dur(&key)?) }
                }
                "allowed_origins" => config.allowed_origins = v.extract()?,
                "deflate" => config.deflate.mode = deflate_mode(&v)?,
                "deflate_threshold" => {
                    let n = int_in(&key, &v, 0, u64::MAX)?;
                    config.deflate.threshold = usize::try_from(n).unwrap_or(usize::MAX)
                }
                "deflate_level" => config.deflate.level = int_in(&key, &v, 0, 9)? as u32,
                "deflate_server_max_window_bits" => {
                    config.deflate.server_max_window_bits = int_in(&key, &v, 9, 15)? as u8
                }
                "slow_consumer_limit" => {
                    let n = int_in(&key, &v, 1024, u64::MAX)?;
                    config.slow_consumer_limit = usize::try_from(n).unwrap_or(usize::MAX)
                }
                "slow_consumer_policy" => {
                    config.slow_consumer_policy =
                        slow_policy(&key, Some(&v), None)?.ok_or_else(|| {
                            PyValueError::new_err(
                                "slow_consumer_policy must be \"drop\" or \"close\", not None",
                            )
                        })?
                }
                "close_on_overflow" => {
                    config.overflow_policy = if v.is_truthy()? {
                        wsrt::OverflowPolicy::Close
                    } else {
                        wsrt::OverflowPolicy::Reject
                    }
                }
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "unknown server option {key:?}"
                    )))
                }
            }
        }
    }
    Ok((config, objects))
}

#[pymethods]
impl Core {
    /// Binds `listen` ("IP:port") with the given routes (objects with
    /// `path`, `kind`, `approve`, `subprotocols`, and for static routes
    /// `content_type` and `body`) and options.
    #[new]
    #[pyo3(signature = (listen, routes, **options))]
    fn new(
        py: Python<'_>,
        listen: String,
        routes: &Bound<'_, PyList>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (config, objects) = build_config(listen, routes, options)?;
        let server = py.detach(|| Server::bind(config)).map_err(to_py)?;
        Ok(Core {
            handle: server.handle(),
            fd: server.as_raw_fd(),
            port: server.local_addr().port(),
            server: Mutex::new(server),
            events: Mutex::new(Events::new()),
            owner: AtomicU64::new(0),
            in_turn: AtomicBool::new(false),
            flush_pending: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            on_dirty: Mutex::new(None),
            drain_waiter: Mutex::new(None),
            conns: Mutex::new(HashMap::new()),
            ending: Mutex::new(Vec::new()),
            routes: Mutex::new(objects),
        })
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The descriptor that is readable whenever `poll` has work.
    fn fileno(&self) -> RawFd {
        self.fd
    }

    /// Makes the calling thread the loop thread. `on_dirty()` runs (on that
    /// thread) when output is queued outside a turn; `drain_waiter(conn)`
    /// makes what a connection's `drained()` returns.
    #[pyo3(signature = (on_dirty=None, drain_waiter=None))]
    fn claim(&self, on_dirty: Option<Py<PyAny>>, drain_waiter: Option<Py<PyAny>>) {
        self.owner.store(thread_token(), Ordering::Release);
        let a = std::mem::replace(&mut *lock(&self.on_dirty), on_dirty);
        let b = std::mem::replace(&mut *lock(&self.drain_waiter), drain_waiter);
        drop((a, b));
    }

    /// Runs one turn of the loop and returns its events as a list of
    /// `(kind, connection, data)`. `timeout` 0 never waits; None waits until
    /// something happens; the wait happens with no lock held and the GIL
    /// released, and a signal ends it early (Python signal handlers run).
    #[pyo3(signature = (timeout=0.0))]
    fn poll<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let core = slf.get();
        let limit = timeout.map(|t| duration("timeout", t)).transpose()?;
        if limit != Some(Duration::ZERO) {
            let timers = core.with_server(py, |s| s.next_timeout());
            let wait = match (limit, timers) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if wait != Some(Duration::ZERO) && !py.detach(|| wait_readable(core.fd, wait)) {
                py.check_signals()?;
            }
        }
        let mut events = std::mem::take(&mut *lock(&core.events));
        core.wake_pending.store(false, Ordering::Release);
        let r = py.detach(|| lock(&core.server).poll(&mut events, Some(Duration::ZERO)));
        core.in_turn.store(true, Ordering::Release);
        let out = r.map_err(to_py).and_then(|()| Core::convert(slf, &events));
        *lock(&core.events) = events;
        out
    }

    /// Ends a turn: writes queued output and returns how long the host may
    /// wait before the next `poll` (None: until the descriptor is readable).
    fn end_turn(&self, py: Python<'_>) -> Option<f64> {
        let ending = std::mem::take(&mut *lock(&self.ending));
        for obj in &ending {
            mark_closed(obj.bind(py));
        }
        drop(ending);
        self.in_turn.store(false, Ordering::Release);
        self.flush_pending.store(false, Ordering::Release);
        py.detach(|| {
            let mut s = lock(&self.server);
            s.flush();
            s.next_timeout()
        })
        .map(secs)
    }

    /// Starts a graceful shutdown (only from the loop thread).
    fn begin_shutdown(&self, py: Python<'_>) {
        self.with_server(py, |s| s.begin_shutdown());
        self.queued(py);
    }

    /// Asks for a graceful shutdown from any thread or a signal handler.
    fn request_shutdown(&self) -> PyResult<()> {
        self.handle.shutdown().map_err(to_py)
    }

    /// Wakes the loop (an `EV_WAKE` event) from any thread.
    fn wake(&self) -> PyResult<()> {
        self.handle.wake().map_err(to_py)
    }

    fn is_finished(&self, py: Python<'_>) -> bool {
        self.with_server(py, |s| s.is_finished())
    }

    fn connection_count(&self, py: Python<'_>) -> usize {
        self.with_server(py, |s| s.connection_count())
    }

    /// Publishes `data` (str: text; bytes-like: binary, which SSE
    /// subscribers skip) to the subscribers of `topic`, or to every open
    /// connection when `topic` is None. Any thread. Returns a
    /// `wsrt.Published`.
    #[pyo3(signature = (topic, data, exclude=None, on_slow=None, sse_event=None))]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        topic: Option<&Bound<'py, PyAny>>,
        data: &Bound<'py, PyAny>,
        exclude: Option<&Bound<'py, PyAny>>,
        on_slow: Option<&Bound<'py, PyAny>>,
        sse_event: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let topic = topic.filter(|t| !t.is_none()).map(topic_of).transpose()?;
        let topic = topic.as_deref();
        let exclude = exclude_of(exclude)?;
        let on_slow = slow_policy("on_slow", on_slow, None)?;
        let sse_event = match sse_event.filter(|e| !e.is_none()) {
            None => None,
            Some(e) => Some(
                e.cast::<PyString>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "sse_event must be a str or None, not {}",
                            e.get_type()
                                .name()
                                .map(|n| n.to_string())
                                .unwrap_or_default()
                        ))
                    })?
                    .to_cow()?,
            ),
        };
        let sse_event = sse_event.as_deref();
        let go = |kind: MessageKind, data: &[u8]| -> PyResult<wsrt::Published> {
            let msg = Publish {
                kind,
                data,
                exclude,
                on_slow,
                sse_event,
            };
            let r = self
                .with_server(py, |s| match topic {
                    Some(t) => s.publish(t, &msg),
                    None => s.publish_all(&msg),
                })
                .map_err(to_py)?;
            if r.delivered > 0 || r.closed > 0 {
                self.queued(py);
            }
            Ok(r)
        };
        let r = match data.cast::<PyString>() {
            Ok(s) => {
                let text = s.to_cow()?;
                go(MessageKind::Text, text.as_bytes())?
            }
            Err(_) => with_bytes(data, |b| go(MessageKind::Binary, b))?,
        };
        result_type(py, &PUBLISHED, "Published")?.call1((
            r.delivered,
            r.dropped,
            r.closed,
            r.event_id,
        ))
    }

    /// Live subscribers of `topic`.
    fn subscriber_count(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<usize> {
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        Ok(self.with_server(py, |s| s.subscriber_count(topic)))
    }

    /// Makes `topic` keep its last `max_events` events (0: none), each for
    /// at most `max_age` seconds (None: no age limit).
    #[pyo3(signature = (topic, max_events, max_age=None))]
    fn set_topic_history(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        max_events: &Bound<'_, PyAny>,
        max_age: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        let n = int_in("max_events", max_events, 0, u64::MAX)?;
        let max_age = match max_age.filter(|a| !a.is_none()) {
            None => None,
            Some(a) => {
                let secs: f64 = a.extract().map_err(|_| {
                    PyTypeError::new_err("max_age must be a number of seconds or None")
                })?;
                if !(secs.is_finite() && secs > 0.0) || a.is_instance_of::<PyBool>() {
                    return Err(PyValueError::new_err(format!(
                        "max_age must be a positive number of seconds or None, not {a}"
                    )));
                }
                Some(Duration::from_secs_f64(secs))
            }
        };
        let limit = HistoryLimit {
            max_events: usize::try_from(n).unwrap_or(usize::MAX),
            max_age,
        };
        self.with_server(py, |s| s.set_topic_history(topic, limit))
            .map_err(to_py)
    }

    /// The server's counters and gauges, as a `wsrt.Stats`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let st = self.with_server(py, |s| s.stats());
        result_type(py, &STATS, "Stats")?.call1((
            st.connections,
            st.websockets,
            st.sse_streams,
            st.buffered_bytes,
            st.topics,
            st.published,
            st.delivered,
            st.dropped,
            st.slow_closed,
        ))
    }

    /// The objects of the live connections (accepted or awaiting approval).
    fn connections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list: Vec<Py<PyAny>> = lock(&self.conns)
            .values()
            .map(|o| o.clone_ref(py))
            .collect();
        PyList::new(py, list)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(g) = self.on_dirty.try_lock() {
            visit.call(&*g)?;
        }
        if let Ok(g) = self.drain_waiter.try_lock() {
            visit.call(&*g)?;
        }
        if let Ok(g) = self.conns.try_lock() {
            for o in g.values() {
                visit.call(o)?;
            }
        }
        if let Ok(g) = self.ending.try_lock() {
            for o in g.iter() {
                visit.call(o)?;
            }
        }
        if let Ok(g) = self.routes.try_lock() {
            for o in g.values() {
                visit.call(o)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let a = lock(&self.on_dirty).take();
        let b = std::mem::take(&mut *lock(&self.conns));
        let c = std::mem::take(&mut *lock(&self.routes));
        let d = lock(&self.drain_waiter).take();
        let e = std::mem::take(&mut *lock(&self.ending));
        drop((a, b, c, d, e));
    }
}

/// What WebSocket and SSE connections share.
struct Peer {
    core: Py<Core>,
    /// "WebSocket" or "SSE stream", for messages.
    kind: &'static str,
    id: u64,
    request: Request,
    route: Py<PyAny>,
    state: AtomicU8,
    /// Was ever open (a pending connection the client left never was).
    opened: AtomicBool,
    close_code: AtomicU32,
    close_reason: OnceLock<String>,
    subprotocol: OnceLock<Option<String>>,
    /// The application's per-connection dict, made on first use.
    data: OnceLock<Py<PyDict>>,
}

impl Peer {
    fn conn(&self) -> ConnId {
        ConnId(self.id)
    }

    fn core(&self) -> &Core {
        self.core.get()
    }

    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<(&str, &str)> = self
            .request
            .head
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        PyList::new(py, items)
    }

    fn remote_address(&self) -> (String, u16) {
        (self.request.peer.ip().to_string(), self.request.peer.port())
    }

    fn data(&self, py: Python<'_>) -> Py<PyDict> {
        self.data
            .get_or_init(|| PyDict::new(py).unbind())
            .clone_ref(py)
    }

    fn traverse(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.core)?;
        visit.call(&self.route)?;
        visit.call(self.data.get())
    }

    fn state_name(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            PENDING => "pending",
            OPEN => "open",
            _ => "closed",
        }
    }

    /// Fails early, with a clear message, on a connection known closed.
    fn check_open(&self) -> PyResult<()> {
        let what = self.kind;
        match self.state.load(Ordering::Acquire) {
            OPEN => Ok(()),
            CLOSED => Err(ConnectionClosedError::new_err(format!(
                "{what} #{} is closed",
                self.id
            ))),
            _ => Err(InvalidStateError::new_err(format!(
                "{what} #{} is not accepted yet",
                self.id
            ))),
        }
    }

    /// Runs a call on the server and flushes (or schedules a flush) after.
    fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Server, ConnId) -> wsrt::Result<R> + Send,
    ) -> PyResult<R> {
        let r = self.call(py, f)?;
        self.core().queued(py);
        Ok(r)
    }

    /// Runs a call that queues no output on the server.
    fn call<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Server, ConnId) -> wsrt::Result<R> + Send,
    ) -> PyResult<R> {
        let core = self.core();
        let id = self.conn();
        core.with_server(py, |s| f(s, id)).map_err(|e| match e {
            Error::UnknownConnection => {
                ConnectionClosedError::new_err(format!("{} #{} is closed", self.kind, self.id))
            }
            Error::Closed => ConnectionClosedError::new_err(format!(
                "{} #{} is closing: nothing more can be sent on it",
                self.kind, self.id
            )),
            e => to_py(e),
        })
    }

    fn subscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        self.check_open()?;
        self.call(py, |s, id| s.subscribe(id, topic))
    }

    fn unsubscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        if self.state.load(Ordering::Acquire) == CLOSED {
            return Ok(false); // it left every topic when it closed
        }
        match self.call(py, |s, id| s.unsubscribe(id, topic)) {
            Err(e) if e.is_instance_of::<ConnectionClosedError>(py) => Ok(false),
            r => r,
        }
    }

    fn is_subscribed(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        let id = self.conn();
        Ok(self.core().with_server(py, |s| s.is_subscribed(id, topic)))
    }

    fn accept(&self, py: Python<'_>, subprotocol: Option<&str>) -> PyResult<()> {
        self.run(py, |s, id| s.accept(id, subprotocol))
    }

    fn reject(&self, py: Python<'_>, status: u16, body: &str) -> PyResult<()> {
        self.run(py, |s, id| s.reject(id, status, body))
    }

    fn buffered_amount(&self, py: Python<'_>) -> usize {
        let id = self.conn();
        self.core()
            .with_server(py, |s| s.buffered_amount(id).unwrap_or(0))
    }

    fn flush(&self, py: Python<'_>) {
        self.core().with_server(py, |s| s.flush());
    }

    fn drained(&self, py: Python<'_>, me: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let waiter = lock(&self.core().drain_waiter)
            .as_ref()
            .map(|w| w.clone_ref(py));
        match waiter {
            Some(w) => w.call1(py, (me,)),
            None => Err(InvalidStateError::new_err(
                "drained() needs a server running under asyncio",
            )),
        }
    }
}

/// The bytes of a `bytes`-like object, copied only when it is not `bytes`.
fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    // The buffer protocol is not in the stable ABI before 3.11: other
    // bytes-like objects are copied through `bytes(...)`.
    if data.is_instance_of::<PyByteArray>() || data.is_instance_of::<PyMemoryView>() {
        let b = data.py().get_type::<PyBytes>().call1((data,))?;
        return f(b.cast::<PyBytes>()?.as_bytes());
    }
    Err(PyTypeError::new_err(format!(
        "expected str, bytes, bytearray or memoryview, not {}",
        data.get_type().name()?
    )))
}

/// A WebSocket connection. Made by the server; one object per connection
/// for its whole life (the accept hook, `on_open`, messages, `on_close`).
// No `dict`: under the stable ABI before 3.12 the instance dict is made by
// `object.__new__` after the object is GC-tracked and before PyO3 writes its
// fields, and a collection right then traverses uninitialized fields (seen
// as a segfault in `visit_decref` with PyO3 0.30). `data` serves instead.
#[pyclass(frozen, weakref, module = "wsrt")]
struct WebSocket {
    peer: Peer,
}

#[pymethods]
impl WebSocket {
    /// Sends a message: `str` as a text message, `bytes`, `bytearray` or
    /// `memoryview` as a binary one.
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = &self.peer;
        p.check_open()?;
        if let Ok(s) = data.cast::<PyString>() {
            let text = s.to_cow()?;
            let text: &str = &text;
            return p.run(py, |s, id| s.send_text(id, text));
        }
        with_bytes(data, |b| p.run(py, |s, id| s.send_binary(id, b)))
    }

    /// Sends a ping (payload at most 125 bytes); the pong arrives at the
    /// route's `on_pong` handler.
    #[pyo3(signature = (data=None))]
    fn ping(&self, py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let p = &self.peer;
        p.check_open()?;
        match data {
            None => p.run(py, |s, id| s.ping(id, b"")),
            Some(d) if d.is_instance_of::<PyString>() => {
                let t = d.cast::<PyString>()?.to_cow()?;
                let t: &str = &t;
                p.run(py, |s, id| s.ping(id, t.as_bytes()))
            }
            Some(d) => with_bytes(d, |b| p.run(py, |s, id| s.ping(id, b))),
        }
    }

    /// Joins `topic`: every `Server.publish` to it reaches this connection.
    /// Returns False if it already had. A connection leaves all its topics
    /// when it closes.
    fn subscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.subscribe(py, topic)
    }

    /// Leaves `topic`; False if it was not subscribed (or is closed).
    fn unsubscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.unsubscribe(py, topic)
    }

    /// Whether this connection is subscribed to `topic`.
    fn is_subscribed(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.is_subscribed(py, topic)
    }

    /// Starts the close handshake with `code` (1000-1003, 1007-1014,
    /// 3000-4999) and `reason` (at most 123 bytes of UTF-8). The route's
    /// `on_close` runs when the handshake ends. Closing a connection that is
    /// already closed or closing does nothing.
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, py: Python<'_>, code: u16, reason: &str) -> PyResult<()> {
        let p = &self.peer;
        if p.state.load(Ordering::Acquire) == CLOSED {
            return Ok(());
        }
        match p.run(py, |s, id| s.close(id, code, reason)) {
            Err(e) if e.is_instance_of::<ConnectionClosedError>(py) => Ok(()),
            r => r,
        }
    }

    /// Accepts a pending connection (in the accept hook's place).
    #[pyo3(signature = (subprotocol=None))]
    fn _accept(&self, py: Python<'_>, subprotocol: Option<&str>) -> PyResult<()> {
        self.peer.accept(py, subprotocol)
    }

    /// Refuses a pending connection with an HTTP status (400-599).
    #[pyo3(signature = (status, body=""))]
    fn _reject(&self, py: Python<'_>, status: u16, body: &str) -> PyResult<()> {
        self.peer.reject(py, status, body)
    }

    /// Writes queued output now (loop thread only).
    fn _flush(&self, py: Python<'_>) {
        self.peer.flush(py)
    }

    /// A number that identifies the connection within its server.
    #[getter]
    fn id(&self) -> u64 {
        self.peer.id
    }
    /// The request path, without the query string.
    #[getter]
    fn path(&self) -> &str {
        self.peer.request.path()
    }
    /// The query string (what followed `?`), not decoded.
    #[getter]
    fn query(&self) -> &str {
        self.peer.request.query()
    }
    /// The request headers as `(name, value)` pairs, in order received.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.peer.headers(py)
    }
    /// The first value of a request header (case-insensitive), or None.
    fn header(&self, name: &str) -> Option<&str> {
        self.peer.request.header(name)
    }
    /// The peer's `(host, port)`.
    #[getter]
    fn remote_address(&self) -> (String, u16) {
        self.peer.remote_address()
    }
    /// The subprotocols the client offered, in its order.
    #[getter]
    fn offered_subprotocols(&self) -> Vec<String> {
        self.peer.request.protocols.clone()
    }
    /// The negotiated subprotocol (None before open, or if none).
    #[getter]
    fn subprotocol(&self) -> Option<String> {
        self.peer.subprotocol.get().cloned().flatten()
    }
    /// "pending" (awaiting the accept hook), "open" or "closed".
    #[getter]
    fn state(&self) -> &'static str {
        self.peer.state_name()
    }
    /// True once the connection has ended.
    #[getter]
    fn closed(&self) -> bool {
        self.peer.state.load(Ordering::Acquire) == CLOSED
    }
    /// The close code once closed (the peer's code, 1005 if its close frame
    /// had none, 1006 for an abrupt end, or the code wsrt failed it with).
    #[getter]
    fn close_code(&self) -> Option<u16> {
        match self.peer.close_code.load(Ordering::Acquire) {
            0 => None,
            c => Some(c as u16),
        }
    }
    /// The close reason once closed.
    #[getter]
    fn close_reason(&self) -> Option<String> {
        self.peer.close_reason.get().cloned()
    }
    /// Bytes queued for this connection and not yet taken by the socket.
    #[getter]
    fn buffered_amount(&self, py: Python<'_>) -> usize {
        self.peer.buffered_amount(py)
    }
    /// The route object this connection arrived on.
    #[getter]
    fn route(&self, py: Python<'_>) -> Py<PyAny> {
        self.peer.route.clone_ref(py)
    }
    /// A dict for the application's own per-connection state.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyDict> {
        self.peer.data(py)
    }

    /// Awaitable: done when everything queued has been written to the
    /// socket (or the connection has closed). Loop thread, asyncio only.
    fn drained(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        slf.get()
            .peer
            .drained(slf.py(), slf.clone().into_any().unbind())
    }

    /// Marks the connection closed (its close event is being dispatched).
    fn _mark_closed(slf: &Bound<'_, Self>) {
        mark_closed(slf.as_any());
    }

    /// True if the connection was ever open (false for one whose client
    /// left while the accept hook was deciding).
    #[getter]
    fn _opened(&self) -> bool {
        self.peer.opened.load(Ordering::Acquire)
    }

    fn __repr__(&self) -> String {
        format!(
            "<WebSocket #{} {} {}>",
            self.peer.id,
            self.peer.request.path(),
            self.peer.state_name()
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.peer.traverse(visit)
    }
}

/// A Server-Sent Events stream. Made by the server; one object per stream.
// No `dict`: under the stable ABI before 3.12 the instance dict is made by
// `object.__new__` after the object is GC-tracked and before PyO3 writes its
// fields, and a collection right then traverses uninitialized fields (seen
// as a segfault in `visit_decref` with PyO3 0.30). `data` serves instead.
#[pyclass(frozen, weakref, module = "wsrt")]
struct SseStream {
    peer: Peer,
}

#[pymethods]
impl SseStream {
    /// Sends one event. `data` may span lines; `event` names its type;
    /// `id` (str or int, no CR/LF/NUL) is what a reconnecting client sends
    /// back as Last-Event-ID; `retry` (ms) sets the client's reconnect delay.
    #[pyo3(signature = (data, event=None, id=None, retry=None))]
    fn send(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        event: Option<&str>,
        id: Option<&Bound<'_, PyAny>>,
        retry: Option<u32>,
    ) -> PyResult<()> {
        let p = &self.peer;
        p.check_open()?;
        let data = data.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "SSE data must be str, not {}",
                data.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let data = data.to_cow()?;
        let id: Option<String> = match id {
            None => None,
            Some(v) if v.is_instance_of::<PyString>() => Some(v.extract()?),
            Some(v) if v.is_instance_of::<pyo3::types::PyInt>() => {
                Some(v.extract::<i128>()?.to_string())
            }
            Some(v) => {
                return Err(PyTypeError::new_err(format!(
                    "SSE id must be str or int, not {}",
                    v.get_type().name()?
                )))
            }
        };
        let ev = SseEvent {
            event,
            id: id.as_deref(),
            retry,
            data: &data,
        };
        p.run(py, |s, c| s.sse_send(c, &ev))
    }

    /// Joins `topic`: every `Server.publish` to it reaches this connection.
    /// Returns False if it already had. A connection leaves all its topics
    /// when it closes.
    fn subscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.subscribe(py, topic)
    }

    /// Leaves `topic`; False if it was not subscribed (or is closed).
    fn unsubscribe(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.unsubscribe(py, topic)
    }

    /// Whether this connection is subscribed to `topic`.
    fn is_subscribed(&self, py: Python<'_>, topic: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.peer.is_subscribed(py, topic)
    }

    /// Joins `topic` and queues, from its history (`Server.set_topic_history`),
    /// every event after `last_event_id` (str or int; by default the
    /// `Last-Event-ID` the client sent), in order and before anything
    /// published later. Returns a `wsrt.Replay(replayed, missed)`: `missed`
    /// is True when the history no longer covers that id (or the id is not
    /// one of this server's): nothing was replayed, so send the client a
    /// full snapshot. With no id (a first connection) nothing is missed.
    /// Already subscribed: nothing is replayed.
    #[pyo3(signature = (topic, last_event_id=None))]
    fn resume<'py>(
        &self,
        py: Python<'py>,
        topic: &Bound<'py, PyAny>,
        last_event_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = &self.peer;
        let topic = topic_of(topic)?;
        let topic: &str = &topic;
        let last: Option<String> = match last_event_id.filter(|v| !v.is_none()) {
            None => p.request.last_event_id().map(str::to_string),
            Some(v) if v.is_instance_of::<PyString>() => Some(v.extract()?),
            Some(v) if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() => {
                Some(v.extract::<i128>()?.to_string())
            }
            Some(v) => {
                return Err(PyTypeError::new_err(format!(
                    "last_event_id must be a str, an int or None, not {}",
                    v.get_type().name()?
                )))
            }
        };
        p.check_open()?;
        let r = p.run(py, |s, id| s.subscribe_since(id, topic, last.as_deref()))?;
        let (n, missed) = match r {
            Replay::Replayed(n) => (n, false),
            Replay::Missed => (0, true),
        };
        result_type(py, &REPLAY, "Replay")?.call1((n, missed))
    }

    /// Sends a comment line (ignored by EventSource; keeps proxies awake).
    fn comment(&self, py: Python<'_>, text: &str) -> PyResult<()> {
        let p = &self.peer;
        p.check_open()?;
        p.run(py, |s, c| s.sse_comment(c, text))
    }

    /// Ends the stream (the route's `on_close` follows). Closing a closed
    /// stream does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let p = &self.peer;
        if p.state.load(Ordering::Acquire) == CLOSED {
            return Ok(());
        }
        match p.run(py, |s, c| s.close(c, 1000, "")) {
            Err(e) if e.is_instance_of::<ConnectionClosedError>(py) => Ok(()),
            r => r,
        }
    }

    /// Accepts a pending stream (in the accept hook's place).
    #[pyo3(signature = (subprotocol=None))]
    fn _accept(&self, py: Python<'_>, subprotocol: Option<&str>) -> PyResult<()> {
        self.peer.accept(py, subprotocol)
    }

    /// Refuses a pending stream with an HTTP status (400-599).
    #[pyo3(signature = (status, body=""))]
    fn _reject(&self, py: Python<'_>, status: u16, body: &str) -> PyResult<()> {
        self.peer.reject(py, status, body)
    }

    /// Writes queued output now (loop thread only).
    fn _flush(&self, py: Python<'_>) {
        self.peer.flush(py)
    }

    /// The `Last-Event-ID` the client sent (where it left off), or None.
    #[getter]
    fn last_event_id(&self) -> Option<&str> {
        self.peer.request.last_event_id()
    }
    /// A number that identifies the stream within its server.
    #[getter]
    fn id(&self) -> u64 {
        self.peer.id
    }
    /// The request path, without the query string.
    #[getter]
    fn path(&self) -> &str {
        self.peer.request.path()
    }
    /// The query string (what followed `?`), not decoded.
    #[getter]
    fn query(&self) -> &str {
        self.peer.request.query()
    }
    /// The request headers as `(name, value)` pairs, in order received.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.peer.headers(py)
    }
    /// The first value of a request header (case-insensitive), or None.
    fn header(&self, name: &str) -> Option<&str> {
        self.peer.request.header(name)
    }
    /// The peer's `(host, port)`.
    #[getter]
    fn remote_address(&self) -> (String, u16) {
        self.peer.remote_address()
    }
    /// "pending" (awaiting the accept hook), "open" or "closed".
    #[getter]
    fn state(&self) -> &'static str {
        self.peer.state_name()
    }
    /// True once the stream has ended.
    #[getter]
    fn closed(&self) -> bool {
        self.peer.state.load(Ordering::Acquire) == CLOSED
    }
    /// Bytes queued for this stream and not yet taken by the socket.
    #[getter]
    fn buffered_amount(&self, py: Python<'_>) -> usize {
        self.peer.buffered_amount(py)
    }
    /// The route object this stream arrived on.
    #[getter]
    fn route(&self, py: Python<'_>) -> Py<PyAny> {
        self.peer.route.clone_ref(py)
    }
    /// A dict for the application's own per-connection state.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyDict> {
        self.peer.data(py)
    }

    /// Awaitable: done when everything queued has been written to the
    /// socket (or the connection has closed). Loop thread, asyncio only.
    fn drained(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        slf.get()
            .peer
            .drained(slf.py(), slf.clone().into_any().unbind())
    }

    /// Marks the connection closed (its close event is being dispatched).
    fn _mark_closed(slf: &Bound<'_, Self>) {
        mark_closed(slf.as_any());
    }

    /// True if the connection was ever open (false for one whose client
    /// left while the accept hook was deciding).
    #[getter]
    fn _opened(&self) -> bool {
        self.peer.opened.load(Ordering::Acquire)
    }

    fn __repr__(&self) -> String {
        format!(
            "<SseStream #{} {} {}>",
            self.peer.id,
            self.peer.request.path(),
            self.peer.state_name()
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.peer.traverse(visit)
    }
}

#[pymodule]
fn _wsrt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Core>()?;
    m.add_class::<WebSocket>()?;
    m.add_class::<SseStream>()?;
    m.add("WsrtError", py.get_type::<WsrtError>())?;
    m.add(
        "ConnectionClosedError",
        py.get_type::<ConnectionClosedError>(),
    )?;
    m.add("BackpressureError", py.get_type::<BackpressureError>())?;
    m.add("InvalidStateError", py.get_type::<InvalidStateError>())?;
    for (name, v) in [
        ("EV_REQUEST", EV_REQUEST),
        ("EV_OPEN", EV_OPEN),
        ("EV_MESSAGE", EV_MESSAGE),
        ("EV_PONG", EV_PONG),
        ("EV_CLOSE", EV_CLOSE),
        ("EV_SSE_OPEN", EV_SSE_OPEN),
        ("EV_SSE_CLOSE", EV_SSE_CLOSE),
        ("EV_DRAIN", EV_DRAIN),
        ("EV_WAKE", EV_WAKE),
    ] {
        m.add(name, v)?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
