//! `wsrt._wsrt`: the native half of the Python package. It converts Python
//! values to the core's types and the core's errors to exceptions, keeps the
//! object of each live connection (at its `ConnId::index`) and hands each
//! event batch to Python as one list; every rule (options, protocol,
//! connection state, argument checks) is the core's.
//!
//! Socket.IO events are the exception to the list, for speed: their JSON
//! arguments become Python values here (`json.rs`, one pass, no `json`
//! module), and a client's event calls its handler from here and is acked
//! with what it returned (`Core::call_handler`); `wsrt._sio` gets only
//! what needs Python (awaitables, values for `json`, exceptions) and the
//! events that must wait behind a record of the same socket.
//!
//! Threading: the core `Server` sits behind a mutex that the loop thread
//! takes only around `poll` and `flush`, never while Python code runs. On
//! the loop thread (or while no loop runs) a call goes straight to the
//! server. From another thread, a call the core's `Handle` offers goes
//! through it (its argument errors are raised there; the loop carries it
//! out at its next turn, so there is no result to return); the others
//! (queries, `resume`, topic history) take the mutex with the GIL released
//! and wake the loop.

use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    IntoPyDict, PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView,
    PyString, PyTuple, PyType,
};
use pyo3::PyTraverseError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;
use wsrt::{
    Broadcast, Config, ConnId, ConnState, Endpoint, Error, Event, EventType, Events, Handle,
    HistoryLimit, MessageKind, OptionValue, Publish, Replay, Request, Route, RouteKind, Server,
    SseEvent, TlsInfo, Unit, NO_ACK,
};

mod json;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static UNPACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A Socket.IO event's or ack's arguments (JSON text the core checked) as
/// Python values, after `lead` if given: parsed here, or by
/// `wsrt._sio._unpack` (Python's `json`) for what `json::parse_args`
/// leaves to it.
fn args_of<'py>(
    py: Python<'py>,
    text: &str,
    attachments: Vec<Bound<'py, PyBytes>>,
    lead: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    if let Some(args) = json::parse_args(py, text, &attachments, lead.clone())? {
        return Ok(args);
    }
    let att = (!attachments.is_empty())
        .then(|| PyTuple::new(py, attachments))
        .transpose()?;
    let unpack = UNPACK.import(py, "wsrt._sio", "_unpack")?;
    let args = unpack.call1((text, att))?.cast_into::<PyList>()?;
    let items: Vec<_> = lead.into_iter().chain(args).collect();
    PyTuple::new(py, items)
}

static STATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TLS_INFO: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The core's error as the exception its kind names
/// (`ErrorKind::python_exception`): a class of `wsrt._types` or a builtin.
fn to_py(e: Error) -> PyErr {
    let name = e.kind().python_exception();
    let errno = e.io_error().and_then(std::io::Error::raw_os_error);
    let msg = e.message().to_string();
    Python::attach(|py| {
        let types = ERRORS.get_or_try_init(py, || py.import("wsrt._types").map(Bound::unbind));
        let class = types
            .and_then(|m| m.bind(py).getattr(name))
            .or_else(|_| py.import("builtins")?.getattr(name))
            .and_then(|c| Ok(c.cast_into::<PyType>()?));
        match (class, errno) {
            (Ok(c), Some(n)) => PyErr::from_type(c, (n, msg)),
            (Ok(c), None) => PyErr::from_type(c, msg),
            (Err(err), _) => err,
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A small per-thread number, to tell the loop thread from the others.
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

static TIMEDELTA: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An int (saturated to the i128 range) or a `timedelta` in milliseconds,
/// rounded away from zero so a non-zero duration never reads as "off".
fn int_of(v: &Bound<'_, PyAny>) -> PyResult<i128> {
    if v.is_instance(TIMEDELTA.import(v.py(), "datetime", "timedelta")?)? {
        let part = |name: &str| v.getattr(name)?.extract::<i128>();
        let us = part("days")? * 86_400_000_000 + part("seconds")? * 1_000_000;
        let us = us + part("microseconds")?;
        return Ok((if us >= 0 { us + 999 } else { us - 999 }) / 1000);
    }
    v.extract::<i128>()
        .or_else(|e| match v.is_instance_of::<PyInt>() {
            true => Ok(if v.gt(0)? { i128::MAX } else { i128::MIN }),
            false => Err(e),
        })
}

/// A count or milliseconds for an argument the core takes unsigned
/// (checked by the core, which words the refusal).
fn uint_of(name: &str, v: &Bound<'_, PyAny>) -> PyResult<u64> {
    wsrt::options::integer(name, OptionValue::Int(int_of(v)?)).map_err(to_py)
}

static FSPATH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PATH_LIKE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A str as a string; with `paths` (an option whose unit is text or a
/// list: PEM text or a file's path), bytes too (decoded as UTF-8) and an
/// `os.PathLike` (`os.fspath`). `Ok(None)` for a value of another type,
/// `Err(what it is)` for bytes that are not UTF-8.
fn string_of(v: &Bound<'_, PyAny>, paths: bool) -> PyResult<Option<Result<String, &'static str>>> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Some(Ok(s.to_string_lossy().into_owned())));
    }
    if !paths {
        return Ok(None);
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        let text = std::str::from_utf8(b.as_bytes()).map(str::to_string);
        return Ok(Some(text.map_err(|_| "bytes that are not UTF-8")));
    }
    let py = v.py();
    match v.is_instance(PATH_LIKE.import(py, "os", "PathLike")?)? {
        true => string_of(&FSPATH.import(py, "os", "fspath")?.call1((v,))?, true),
        false => Ok(None),
    }
}

/// Runs `f` (a core call that checks it) on a Python value as the core's
/// `OptionValue`; the errors name the value `name`. A str is a string, a
/// list or tuple of them a list; for an option of strings (the core's
/// `Unit::List` and `Unit::Text`: PEM text or paths), bytes and
/// `os.PathLike` values too.
fn with_value<R>(
    name: &str,
    v: &Bound<'_, PyAny>,
    f: impl FnOnce(OptionValue<'_>) -> wsrt::Result<R>,
) -> PyResult<R> {
    let paths =
        wsrt::options::by_name(name).is_some_and(|o| matches!(o.unit, Unit::List | Unit::Text));
    let other = format!("{}", v.get_type().name()?);
    let text = string_of(v, paths)?;
    let value = if let Some(t) = &text {
        match t {
            Ok(t) => OptionValue::Str(t),
            Err(what) => OptionValue::Other(what),
        }
    } else if v.is_none() {
        OptionValue::Default
    } else if v.is_instance_of::<PyBool>() {
        OptionValue::Bool(v.extract()?)
    } else if v.is_instance_of::<PyFloat>() {
        OptionValue::Number(v.extract()?)
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: PyResult<Option<Vec<String>>> = v
            .try_iter()?
            .map(|item| Ok(string_of(&item?, paths)?.and_then(Result::ok)))
            .collect();
        match (items?, paths) {
            (Some(list), _) => OptionValue::List(list),
            (None, true) => {
                OptionValue::Other("a list with an item that is not a str, bytes or path")
            }
            (None, false) => OptionValue::Other("a list with an item that is not a str"),
        }
    } else if let Ok(n) = int_of(v) {
        OptionValue::Int(n)
    } else {
        OptionValue::Other(&other)
    };
    f(value).map_err(to_py)
}

/// Runs `f` on a message's kind and bytes: `str` is text (one holding
/// undecodable bytes, as `surrogateescape` makes, keeps them, for the core
/// to judge), bytes-like is binary.
fn with_message<R>(
    v: &Bound<'_, PyAny>,
    f: impl FnOnce(MessageKind, &[u8]) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(s) = v.cast::<PyString>() {
        return match s.to_cow() {
            Ok(t) => f(MessageKind::Text, t.as_bytes()),
            Err(_) => {
                let b = s.call_method1("encode", ("utf-8", "surrogateescape"))?;
                f(MessageKind::Text, b.cast::<PyBytes>()?.as_bytes())
            }
        };
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return f(MessageKind::Binary, b.as_bytes());
    }
    // No buffer protocol in the stable ABI before 3.11: copy via bytes().
    if v.is_instance_of::<PyByteArray>() || v.is_instance_of::<PyMemoryView>() {
        let b = v.py().get_type::<PyBytes>().call1((v,))?;
        return f(MessageKind::Binary, b.cast::<PyBytes>()?.as_bytes());
    }
    Err(PyTypeError::new_err(format!(
        "a message is a str or bytes-like, not {}",
        v.get_type().name()?
    )))
}

/// Waits, with the GIL released by the caller, until `fd` is readable or
/// `timeout` passes; false if a signal interrupted the wait.
fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |d| {
        d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
    });
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) >= 0 }
}

/// A request as a connection object keeps it when the core does not keep
/// it for the connection (see `Connection::req`): the path, the query,
/// each header's name and value, then each offered subprotocol, one a line
/// (a line break ends each of those fields in a request head, so none
/// holds one). One allocation, so that an idle Socket.IO socket does not
/// pay a string per header.
struct Req {
    text: Box<str>,
    headers: u32,
    /// Which header is the core's `last_event_id` (`u32::MAX`: none).
    last_event_id: u32,
    peer: SocketAddr,
    /// The TLS handshake (`None` on a plain connection).
    tls: Option<Box<TlsInfo>>,
}

impl Req {
    fn new(r: &Request) -> Req {
        let (headers, last) = (&r.head.headers, r.last_event_id().map(str::as_ptr));
        let pairs = headers.iter().flat_map(|(k, v)| [k, v]).chain(&r.protocols);
        let parts: Vec<&str> = [r.path(), r.query()]
            .into_iter()
            .chain(pairs.map(String::as_str))
            .collect();
        let last_event_id = headers.iter().position(|(_, v)| Some(v.as_ptr()) == last);
        Req {
            text: parts.join("\n").into(),
            headers: headers.len() as u32,
            last_event_id: last_event_id.map_or(u32::MAX, |i| i as u32),
            peer: r.peer,
            tls: r.tls.clone(),
        }
    }

    /// The path, the query, the headers' names and values, the protocols.
    fn parts(&self) -> std::str::Split<'_, char> {
        self.text.split('\n')
    }

    fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut parts = self.parts().skip(2);
        let mut next = move || parts.next().unwrap_or_default();
        (0..self.headers).map(move |_| (next(), next()))
    }
}

/// Whether the core keeps the request of `ev`'s connection from this event
/// on (`Server::request`): the open event of a WebSocket or event stream.
fn core_keeps(ev: &Event) -> bool {
    matches!(ev.kind, EventType::Open | EventType::SseOpen)
        && matches!(ev.endpoint, Endpoint::WebSocket | Endpoint::Sse)
}

/// The peer of a connection whose request could not be read (the client
/// left meanwhile), as the core words it.
const UNKNOWN_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// The counters of `wsrt.Stats`, in its order (a list: more than a
/// tuple converts).
type StatsList = [u64; 14];

/// `(delivered, dropped, closed, event_id)`, as `wsrt.Published`.
type PublishedTuple = (usize, usize, usize, Option<u64>);

/// A route as `wsrt.Server` describes it: (kind, path, approve,
/// subprotocols, headers, content type, body, the `wsrt.Route`).
type RouteArgs = (
    String,
    String,
    bool,
    Vec<String>,
    Vec<(String, String)>,
    String,
    Vec<u8>,
    Py<PyAny>,
);

/// What a `Connection` is made with: (id, request, route); the request is
/// None where the core keeps it (`core_keeps`).
type Pending = (u64, Option<Box<Req>>, Py<PyAny>);

/// The native server (internal: `wsrt.Server` drives it).
#[pyclass(frozen, module = "wsrt._wsrt")]
struct Core {
    server: Mutex<Server>,
    /// Reused across polls; taken out while a batch is converted.
    events: Mutex<Events>,
    handle: Handle,
    fd: RawFd,
    #[pyo3(get)]
    port: u16,
    /// The port TLS is spoken on; None without TLS.
    #[pyo3(get)]
    tls_port: Option<u16>,
    /// `thread_token()` of the thread running the loop; 0 while none does.
    owner: AtomicU64,
    /// Between `poll` and `end_turn`, which flushes anyway.
    in_turn: AtomicBool,
    /// `on_dirty` was called and its flush has not run yet.
    flush_pending: AtomicBool,
    /// Called on the loop thread when output is queued outside a turn.
    on_dirty: Mutex<Option<Py<PyAny>>>,
    /// Each path's `wsrt.Route`.
    routes: Vec<(String, Py<PyAny>)>,
    /// `wsrt.WebSocket`, `wsrt.SseStream`, `wsrt.EngineIOSession` and
    /// `wsrt.Socket`, in `Endpoint` order.
    classes: [Py<PyAny>; 4],
    /// What the `Connection` being made takes.
    pending: Mutex<Option<Pending>>,
    /// The object of each live connection, at its `ConnId::index`. Never
    /// locked while Python code may run.
    conns: Mutex<Vec<Option<Py<Connection>>>>,
    /// Socket.IO event names as Python strs, made (and hashed) once: the
    /// key of each handler lookup. At most `MAX_EVENT_NAMES`, as clients
    /// choose the names.
    event_names: Mutex<HashMap<Box<str>, Py<PyString>>>,
}

/// How many event names `Core::event_names` keeps.
const MAX_EVENT_NAMES: usize = 1024;

impl Core {
    /// Runs `f` on the server: one uncontended lock on the loop thread; a
    /// caller on another thread may wait for it, with the GIL released.
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Server) -> R + Send) -> R {
        match self.server.try_lock() {
            Ok(mut g) => f(&mut g),
            Err(TryLockError::Poisoned(e)) => f(&mut e.into_inner()),
            Err(TryLockError::WouldBlock) => py.detach(|| f(&mut lock(&self.server))),
        }
    }

    fn on_loop(&self) -> bool {
        let owner = self.owner.load(Ordering::Acquire);
        owner == 0 || owner == thread_token()
    }

    /// After output was queued: arrange for it to be written soon.
    fn after(&self, py: Python<'_>) {
        if self.in_turn.load(Ordering::Acquire) || self.owner.load(Ordering::Acquire) == 0 {
            return;
        }
        if !self.on_loop() {
            let _ = self.handle.wake();
        } else if !self.flush_pending.swap(true, Ordering::AcqRel) {
            let cb = lock(&self.on_dirty).as_ref().map(|c| c.clone_ref(py));
            if let Some(Err(e)) = cb.as_ref().map(|cb| cb.call0(py)) {
                e.write_unraisable(py, None);
            }
        }
    }

    /// A call straight to the server that may queue output.
    fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Server) -> wsrt::Result<R> + Send,
    ) -> PyResult<R> {
        let r = self.with(py, f).map_err(to_py)?;
        self.after(py);
        Ok(r)
    }

    /// A call the handle offers: on the loop thread, straight to the server
    /// (with its result); elsewhere, through the handle (`None`).
    fn act<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Server) -> wsrt::Result<R> + Send,
        h: impl FnOnce(&Handle) -> wsrt::Result<()>,
    ) -> PyResult<Option<R>> {
        match self.on_loop() {
            true => self.run(py, f).map(Some),
            false => h(&self.handle).map(|()| None).map_err(to_py),
        }
    }

    /// The object of a live connection; with `forget`, taken out.
    fn conn(&self, py: Python<'_>, id: ConnId, forget: bool) -> Option<Py<Connection>> {
        let mut conns = lock(&self.conns);
        let slot = conns.get_mut(id.index() as usize)?;
        match slot.as_ref()? {
            c if c.get().id != id.raw() => None,
            _ if forget => slot.take(),
            c => Some(c.clone_ref(py)),
        }
    }

    /// A connection's object, made by its Python class on its first event.
    fn make(slf: &Bound<'_, Core>, ev: &Event, r: &Request) -> PyResult<Py<Connection>> {
        let (py, core) = (slf.py(), slf.get());
        let route = core.routes.iter().find(|(p, _)| p == r.path());
        let route = route.map_or_else(|| py.None(), |(_, o)| o.clone_ref(py));
        let req = (!core_keeps(ev)).then(|| Box::new(Req::new(r)));
        *lock(&core.pending) = Some((ev.conn.raw(), req, route));
        let class = match (ev.kind, ev.endpoint) {
            (EventType::SseOpen, _) | (_, Endpoint::Sse) => 1,
            (_, Endpoint::EngineIo) => 2,
            (_, Endpoint::SocketIo) => 3,
            _ => 0,
        };
        let obj = core.classes[class].bind(py).call1((slf,))?;
        let obj = obj.cast_into::<Connection>()?.unbind();
        let i = ev.conn.index() as usize;
        let mut conns = lock(&core.conns);
        if conns.len() <= i {
            conns.resize_with(i + 1, || None);
        }
        let old = conns[i].replace(obj.clone_ref(py));
        drop((conns, old));
        Ok(obj)
    }

    /// An event name as a str, from `event_names` when it is there.
    fn event_name<'py>(&self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        let mut names = lock(&self.event_names);
        if let Some(s) = names.get(name) {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, name);
        if names.len() < MAX_EVENT_NAMES {
            names.insert(name.into(), s.clone().unbind());
        }
        s
    }

    /// Calls the handler of a client's Socket.IO event right away (the
    /// hot path: no record in the batch, no Python code of wsrt's own) and
    /// acknowledges the event with what the handler returned (`call`: the
    /// socket and the event's arguments), as
    /// `_SioRoute._on_event` does. What needs Python (an awaitable or a
    /// value for `json`, an exception) goes to the socket's route:
    /// `_on_result(socket, ack, value)`, `_on_error(socket, exc)`.
    ///
    /// `last` keeps the last socket met in the batch and its namespace's
    /// handlers (one dict for the namespace's life, which `on` adds to; a
    /// socket's namespace is set before its first event, by a record).
    fn call_handler<'py>(
        py: Python<'py>,
        socket: &Bound<'py, Connection>,
        name: &Bound<'py, PyString>,
        call: Bound<'py, PyTuple>,
        ack: Option<u64>,
        last: &mut Option<(Bound<'py, Connection>, Bound<'py, PyDict>)>,
    ) -> PyResult<()> {
        let handlers = match last {
            Some((s, h)) if s.is(socket) => h,
            _ => {
                let space = socket.getattr(pyo3::intern!(py, "_ns"))?;
                if space.is_none() {
                    return Ok(());
                }
                let h = space.getattr(pyo3::intern!(py, "_handlers"))?;
                &last.insert((socket.clone(), h.cast_into::<PyDict>()?)).1
            }
        };
        let Some(handler) = handlers.get_item(name)? else {
            return Ok(());
        };
        let route = socket.get().route.bind(py);
        let failed = |e: PyErr| match e.is_instance_of::<pyo3::exceptions::PyException>(py) {
            true => route
                .call_method1(pyo3::intern!(py, "_on_error"), (socket, e.into_value(py)))
                .map(drop),
            false => Err(e), // KeyboardInterrupt, SystemExit: for the loop
        };
        let value = match handler.call1(call) {
            Ok(v) => v,
            Err(e) => return failed(e),
        };
        if !json::is_plain(&value) {
            let f = pyo3::intern!(py, "_on_result");
            return route.call_method1(f, (socket, ack, value)).map(drop);
        }
        let Some(ack) = ack else { return Ok(()) };
        let packed = match json::pack_result(&value) {
            Ok(Some(p)) => p,
            Ok(None) => {
                let f = pyo3::intern!(py, "_on_result");
                return route.call_method1(f, (socket, ack, value)).map(drop);
            }
            Err(e) => return failed(e),
        };
        let (core, id) = socket.get().at();
        let att = packed.slices();
        let json = packed.json.as_str();
        match core.run(py, |s| s.ack(id, ack, json, &att)) {
            Ok(()) => Ok(()),
            Err(e) => failed(e),
        }
    }

    /// A batch as a list of `(type, connection, data, route)`: `data` is
    /// the message (str or bytes), the pong payload, the subprotocol ("" for
    /// none) or `(code, reason)` for an end; for Socket.IO, `(namespace,
    /// auth)` of a request, `(namespace, auth, recovered, sid)` of an open
    /// (auth as JSON text), `(name, args, ack id or None)` of an event and
    /// `(ack id, outcome, args)` of an ack (args: a tuple of Python values,
    /// attachments in place of their placeholders).
    fn convert<'py>(slf: &Bound<'py, Core>, events: &Events) -> PyResult<Bound<'py, PyList>> {
        let (py, core) = (slf.py(), slf.get());
        let out = PyList::empty(py);
        // The sockets with an event in `out`: their later events go there
        // too, so that each socket's events keep their order.
        let mut listed: Vec<ConnId> = Vec::new();
        let (mut last_socket, mut last_name) = (None, None::<Bound<'py, PyString>>);
        for ev in events {
            let conn = match ev.kind {
                EventType::Wake => continue,
                EventType::Close | EventType::SseClose => {
                    // The request the core kept for an open WebSocket or
                    // event stream comes with its close event: the object,
                    // which may outlive the connection, keeps it from now.
                    let conn = core.conn(py, ev.conn, true);
                    if let (Some(c), Some(r)) = (&conn, events.request(ev)) {
                        let old = lock(&c.get().req).replace(Box::new(Req::new(r)));
                        drop(old);
                    }
                    conn
                }
                _ => match (core.conn(py, ev.conn, false), events.request(ev)) {
                    (None, Some(r)) => Some(Core::make(slf, ev, r)?),
                    (Some(c), Some(_)) if core_keeps(ev) => {
                        // Approved and open: the core keeps its request now.
                        let old = lock(&c.get().req).take();
                        drop(old);
                        Some(c)
                    }
                    (c, _) => c,
                },
            };
            let Some(conn) = conn else { continue };
            if ev.kind == EventType::SioEvent && !listed.contains(&ev.conn) {
                let att: Vec<_> = events
                    .attachments(ev)
                    .map(|a| PyBytes::new(py, a))
                    .collect();
                let socket = conn.bind(py);
                let call = args_of(py, events.text(ev), att, Some(socket.as_any().clone()))?;
                let ack = (ev.ack != NO_ACK).then_some(ev.ack);
                let name = match last_name {
                    Some(s) if json::utf8(&s) == Some(events.name(ev)) => s,
                    _ => core.event_name(py, events.name(ev)),
                };
                Core::call_handler(py, socket, &name, call, ack, &mut last_socket)?;
                last_name = Some(name);
                continue;
            }
            if ev.endpoint == Endpoint::SocketIo {
                listed.push(ev.conn);
            }
            let data = match ev.kind {
                EventType::Message if ev.text => PyString::new(py, events.text(ev)).into_any(),
                EventType::Message | EventType::Pong => {
                    PyBytes::new(py, events.payload(ev)).into_any()
                }
                EventType::Open | EventType::Request if ev.endpoint == Endpoint::SocketIo => {
                    let (nsp, auth) = (events.name(ev), events.text(ev));
                    if ev.kind == EventType::Request {
                        (nsp, auth).into_pyobject(py)?.into_any()
                    } else {
                        let sid = core.with(py, |s| s.socket_id(ev.conn)).unwrap_or_default();
                        (nsp, auth, ev.recovered, sid).into_pyobject(py)?.into_any()
                    }
                }
                EventType::Open => PyString::new(py, events.text(ev)).into_any(),
                EventType::Close => (ev.code, events.text(ev)).into_pyobject(py)?.into_any(),
                EventType::SioEvent | EventType::SioAck => {
                    let att: Vec<_> = events
                        .attachments(ev)
                        .map(|a| PyBytes::new(py, a))
                        .collect();
                    let args = args_of(py, events.text(ev), att, None)?;
                    if ev.kind == EventType::SioEvent {
                        let ack = (ev.ack != NO_ACK).then_some(ev.ack);
                        (events.name(ev), args, ack).into_pyobject(py)?.into_any()
                    } else {
                        (ev.ack, ev.code, args).into_pyobject(py)?.into_any()
                    }
                }
                _ => py.None().into_bound(py),
            };
            let route = conn.get().route.clone_ref(py);
            out.append((ev.kind as u8, conn, data, route))?;
        }
        Ok(out)
    }
}

#[pymethods]
impl Core {
    /// Checks the options (by the core's schema), binds and prepares the
    /// loop.
    #[new]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        routes: Vec<RouteArgs>,
        options: &Bound<'_, PyDict>,
        classes: [Py<PyAny>; 4],
    ) -> PyResult<Self> {
        let mut config = Config::with_host(host, port);
        let mut objects = Vec::new();
        for (kind, path, approve, mut subprotocols, headers, content_type, body, obj) in routes {
            objects.push((path.clone(), obj));
            let kind = match kind.as_str() {
                "websocket" => RouteKind::WebSocket,
                "sse" => RouteKind::Sse,
                "engineio" => RouteKind::EngineIo,
                "socketio" => RouteKind::SocketIo {
                    namespaces: std::mem::take(&mut subprotocols),
                },
                _ => RouteKind::Static {
                    content_type,
                    body: body.into(),
                },
            };
            let mut route = Route::new(&path, kind);
            (route.approve, route.subprotocols, route.headers) = (approve, subprotocols, headers);
            config = config.route(route);
        }
        for (k, v) in options.iter() {
            let name: String = k.extract()?;
            with_value(&name, &v, |value| config.set(&name, value))?;
        }
        let server = py.detach(|| Server::bind(config)).map_err(to_py)?;
        Ok(Core {
            handle: server.handle(),
            fd: server.as_raw_fd(),
            port: server.local_addr().port(),
            tls_port: server.tls_addr().map(|a| a.port()),
            server: Mutex::new(server),
            events: Mutex::new(Events::new()),
            owner: AtomicU64::new(0),
            in_turn: AtomicBool::new(false),
            flush_pending: AtomicBool::new(false),
            on_dirty: Mutex::new(None),
            routes: objects,
            classes,
            pending: Mutex::new(None),
            conns: Mutex::new(Vec::new()),
            event_names: Mutex::new(HashMap::new()),
        })
    }

    /// `wsrt._sio._pack`'s work where Python's `json` is not needed:
    /// `(JSON array, attachments)` for the items of `args` (a tuple or
    /// list), or None to let Python's encoder do it (see
    /// `json::pack_args`).
    #[staticmethod]
    fn pack_args<'py>(
        args: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(String, Vec<Bound<'py, PyBytes>>)>> {
        Ok(json::pack_args(args)?.map(|mut p| (p.take_json(), std::mem::take(&mut p.attachments))))
    }

    /// The descriptor that is readable whenever `poll` has work.
    fn fileno(&self) -> RawFd {
        self.fd
    }

    /// Makes the calling thread the loop thread (`run` false: no loop runs
    /// any more). `on_dirty()` is called on it when output is queued
    /// outside a turn.
    #[pyo3(signature = (run, on_dirty=None))]
    fn claim(&self, run: bool, on_dirty: Option<Py<PyAny>>) {
        let old = std::mem::replace(&mut *lock(&self.on_dirty), on_dirty);
        self.owner
            .store(if run { thread_token() } else { 0 }, Ordering::Release);
        drop(old);
    }

    /// Runs one turn of the loop and returns its events. With `wait`, first
    /// waits (GIL released, no lock held) until there is work or a timer is
    /// due; a signal ends the wait early and its Python handler runs.
    #[pyo3(signature = (wait=false))]
    fn poll<'py>(slf: &Bound<'py, Self>, wait: bool) -> PyResult<Bound<'py, PyList>> {
        let (py, core) = (slf.py(), slf.get());
        if wait {
            let timeout = core.with(py, |s| s.next_timeout());
            if timeout != Some(Duration::ZERO) && !py.detach(|| wait_readable(core.fd, timeout)) {
                py.check_signals()?;
            }
        }
        let mut events = std::mem::take(&mut *lock(&core.events));
        let r = py.detach(|| lock(&core.server).poll(&mut events, Some(Duration::ZERO)));
        core.in_turn.store(true, Ordering::Release);
        let out = r.map_err(to_py).and_then(|()| Core::convert(slf, &events));
        *lock(&core.events) = events;
        out
    }

    /// Ends a turn: writes what was queued and returns how long the host
    /// may wait before the next `poll` (None: until `fileno` is readable).
    fn end_turn(&self, py: Python<'_>) -> Option<f64> {
        self.in_turn.store(false, Ordering::Release);
        self.flush_pending.store(false, Ordering::Release);
        let wait = self.with(py, |s| {
            s.flush();
            s.next_timeout()
        });
        wait.map(|d| d.as_secs_f64())
    }

    /// Writes queued output now.
    fn flush(&self, py: Python<'_>) {
        self.with(py, |s| s.flush());
    }

    /// Starts a graceful shutdown on the loop thread.
    fn begin_shutdown(&self, py: Python<'_>) {
        self.with(py, |s| s.begin_shutdown());
        self.after(py);
    }

    /// Asks for a graceful shutdown from any thread or a signal handler.
    fn request_shutdown(&self) -> PyResult<()> {
        self.handle.shutdown().map_err(to_py)
    }

    fn is_finished(&self, py: Python<'_>) -> bool {
        self.with(py, |s| s.is_finished())
    }

    /// The live connections' objects.
    fn connections(&self, py: Python<'_>) -> Vec<Py<Connection>> {
        let conns = lock(&self.conns);
        conns.iter().flatten().map(|c| c.clone_ref(py)).collect()
    }

    fn ping(&self, py: Python<'_>, conn: u64, data: &Bound<'_, PyAny>) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        with_message(data, |_, b| {
            self.act(py, |s| s.ping(id, b), |h| h.ping(id, b.to_vec().into()))
        })
    }

    /// Accepts a request; with no `protocol`, the route's preference.
    fn accept(
        &self,
        py: Python<'_>,
        conn: u64,
        protocol: Option<&str>,
        headers: Vec<(String, String)>,
    ) -> PyResult<()> {
        self.run(py, |s| s.accept(ConnId::from_raw(conn), protocol, &headers))
    }

    fn reject(
        &self,
        py: Python<'_>,
        conn: u64,
        status: u16,
        body: &str,
        headers: Vec<(String, String)>,
    ) -> PyResult<()> {
        let id = ConnId::from_raw(conn);
        drop(self.conn(py, id, true)); // no close event follows a refusal
        self.run(py, |s| s.reject(id, status, body, &headers))
    }

    /// Refuses a Socket.IO socket awaiting approval (`data`: JSON text).
    fn reject_socket(
        &self,
        py: Python<'_>,
        conn: u64,
        message: &str,
        data: Option<&str>,
    ) -> PyResult<()> {
        let id = ConnId::from_raw(conn);
        drop(self.conn(py, id, true)); // no close event follows a refusal
        self.run(py, |s| s.reject_socket(id, message, data))
    }

    /// Emits to one socket (`args`: a JSON array with placeholders for
    /// `attachments`); with `ack_timeout_ms` (0: no timeout), asks for an
    /// ack and returns its id.
    #[pyo3(signature = (conn, event, args, attachments, ack_timeout_ms=None))]
    fn emit(
        &self,
        py: Python<'_>,
        conn: u64,
        event: &str,
        args: &str,
        attachments: Vec<Vec<u8>>,
        ack_timeout_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<u64>> {
        let ack = match ack_timeout_ms {
            Some(t) => Some(uint_of("timeout_ms", t)?),
            None => None,
        };
        let ack = ack.map(|t| (t > 0).then(|| Duration::from_millis(t)));
        let att: Vec<&[u8]> = attachments.iter().map(Vec::as_slice).collect();
        let id = ConnId::from_raw(conn);
        self.run(py, |s| s.emit(id, event, args, &att, ack))
    }

    /// Acknowledges a client's event.
    fn ack(
        &self,
        py: Python<'_>,
        conn: u64,
        ack: u64,
        args: &str,
        attachments: Vec<Vec<u8>>,
    ) -> PyResult<()> {
        let att: Vec<&[u8]> = attachments.iter().map(Vec::as_slice).collect();
        let id = ConnId::from_raw(conn);
        self.run(py, |s| s.ack(id, ack, args, &att))
    }

    /// Emits to the sockets of `namespace` in any of `rooms` (all if
    /// empty), none in `except_rooms`, nor `except_conn`; returns how many.
    #[allow(clippy::too_many_arguments)]
    fn broadcast(
        &self,
        py: Python<'_>,
        namespace: &str,
        event: &str,
        args: &str,
        attachments: Vec<Vec<u8>>,
        rooms: Vec<String>,
        except_rooms: Vec<String>,
        except_conn: Option<u64>,
    ) -> PyResult<usize> {
        let att: Vec<&[u8]> = attachments.iter().map(Vec::as_slice).collect();
        let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
        let except_rooms: Vec<&str> = except_rooms.iter().map(String::as_str).collect();
        let b = Broadcast {
            namespace,
            rooms: &rooms,
            except_rooms: &except_rooms,
            except: except_conn.map(ConnId::from_raw),
            event,
            args,
            attachments: &att,
        };
        self.run(py, |s| s.broadcast(&b))
    }

    /// The topics (a socket's rooms) of a connection.
    fn topics(&self, py: Python<'_>, conn: u64) -> PyResult<Vec<String>> {
        let id = ConnId::from_raw(conn);
        self.with(py, |s| s.topics(id)).map_err(to_py)
    }

    /// The socket with this Socket.IO id, if connected here.
    fn socket_by_id(&self, py: Python<'_>, sid: &str) -> Option<Py<Connection>> {
        let id = self.with(py, |s| s.socket_by_id(sid))?;
        self.conn(py, id, false)
    }

    #[pyo3(signature = (conn, data, event=None, id=None, retry_ms=None))]
    fn sse_send(
        &self,
        py: Python<'_>,
        conn: u64,
        data: &str,
        event: Option<&str>,
        id: Option<&str>,
        retry_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<()>> {
        let retry = retry_ms.map(|r| uint_of("retry_ms", r)).transpose()?;
        let ev = SseEvent {
            event,
            id,
            retry,
            data,
        };
        let conn = ConnId::from_raw(conn);
        self.act(py, |s| s.sse_send(conn, &ev), |h| h.sse_send(conn, &ev))
    }

    fn sse_comment(&self, py: Python<'_>, conn: u64, text: &str) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        self.act(py, |s| s.sse_comment(id, text), |h| h.sse_comment(id, text))
    }

    /// Subscribes and replays; returns `(replayed, missed)`.
    fn resume(
        &self,
        py: Python<'_>,
        conn: u64,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> PyResult<(usize, bool)> {
        let r = self.run(py, |s| {
            s.resume(ConnId::from_raw(conn), topic, last_event_id)
        })?;
        Ok(match r {
            Replay::Replayed(n) => (n, false),
            Replay::Missed => (0, true),
        })
    }

    /// Publishes to `topic` (None: to everyone); returns `(delivered,
    /// dropped, closed, event_id)`, or None from another thread.
    #[pyo3(signature = (topic, data, exclude=None, on_slow=None, sse_event=None))]
    fn publish(
        &self,
        py: Python<'_>,
        topic: Option<&str>,
        data: &Bound<'_, PyAny>,
        exclude: Option<u64>,
        on_slow: Option<&Bound<'_, PyAny>>,
        sse_event: Option<&str>,
    ) -> PyResult<Option<PublishedTuple>> {
        let on_slow = match on_slow {
            Some(v) => with_value("on_slow", v, |v| wsrt::options::on_slow(v, "on_slow"))?,
            None => None,
        };
        with_message(data, |kind, data| {
            let msg = Publish {
                kind,
                data,
                exclude: exclude.map(ConnId::from_raw),
                on_slow,
                sse_event,
            };
            let direct = |s: &mut Server| match topic {
                Some(t) => s.publish(t, &msg),
                None => s.publish_all(&msg),
            };
            let r = self.act(py, direct, |h| h.publish(topic, &msg))?;
            Ok(r.map(|r| (r.delivered, r.dropped, r.closed, r.event_id)))
        })
    }

    fn subscriber_count(&self, py: Python<'_>, topic: &str) -> usize {
        self.with(py, |s| s.subscriber_count(topic))
    }

    fn cluster_subscriber_count(&self, py: Python<'_>, topic: &str) -> usize {
        self.with(py, |s| s.cluster_subscriber_count(topic))
    }

    fn set_topic_history(
        &self,
        py: Python<'_>,
        topic: &str,
        max_events: &Bound<'_, PyAny>,
        max_age_ms: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let limit = HistoryLimit {
            max_events: usize::try_from(uint_of("max_events", max_events)?).unwrap_or(usize::MAX),
            max_age: Duration::from_millis(uint_of("max_age_ms", max_age_ms)?),
        };
        self.run(py, |s| s.set_topic_history(topic, limit))
    }

    fn clear_topic_history(&self, py: Python<'_>, topic: &str) -> PyResult<()> {
        self.run(py, |s| s.clear_topic_history(topic))
    }

    /// Replaces the certificates and client-certificate settings by the
    /// `tls_*` options given (a scratch configuration: those not given are
    /// at their defaults); new connections use them, open ones keep
    /// theirs. Every file is read and checked first: on error nothing
    /// changes.
    fn reload_tls(&self, py: Python<'_>, options: &Bound<'_, PyDict>) -> PyResult<()> {
        let mut reload = self.with(py, |s| s.tls_reload());
        for (k, v) in options.iter() {
            let name: String = k.extract()?;
            with_value(&name, &v, |value| reload.set(&name, value))?;
        }
        self.with(py, |s| s.reload_tls(reload.options()))
            .map_err(to_py)
    }

    /// The counters, in `wsrt.Stats` order.
    fn stats(&self, py: Python<'_>) -> StatsList {
        let st = self.with(py, |s| s.stats());
        [
            st.connections as u64,
            st.websockets as u64,
            st.sse_streams as u64,
            st.buffered_bytes as u64,
            st.topics as u64,
            st.published,
            st.delivered,
            st.dropped,
            st.slow_closed,
            st.tls_handshakes,
            st.tls_failures,
            st.cluster_published,
            st.cluster_received,
            st.cluster_dropped,
        ]
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let routes = self.routes.iter().map(|(_, r)| r);
        routes
            .chain(&self.classes)
            .try_for_each(|o| visit.call(o))?;
        if let Ok(conns) = self.conns.try_lock() {
            conns.iter().try_for_each(|c| visit.call(c))?;
        }
        match self.on_dirty.try_lock() {
            Ok(g) => visit.call(&*g),
            Err(_) => Ok(()),
        }
    }

    fn __clear__(&self) {
        let old = (
            lock(&self.on_dirty).take(),
            std::mem::take(&mut *lock(&self.conns)),
            std::mem::take(&mut *lock(&self.event_names)),
        );
        drop(old);
    }
}

/// What `WebSocket` and `SseStream` share. One object per connection
/// for its whole life (the approve hook, on_open, ..., on_close); methods
/// may be called from any thread. Per-connection state goes in `data`.
#[pyclass(subclass, frozen, weakref, module = "wsrt")]
struct Connection {
    #[pyo3(get, name = "_core")]
    core: Py<Core>,
    /// An int that identifies the connection within its server.
    #[pyo3(get)]
    id: u64,
    /// The route it arrived on.
    #[pyo3(get)]
    route: Py<PyAny>,
    /// Its request where the core does not keep it: an Engine.IO session's
    /// or Socket.IO socket's (from its first event), a WebSocket's or event
    /// stream's awaiting approval (the whole request of its `Request`
    /// event) and after its close (its close event's). None while a
    /// WebSocket or event stream is open: the getters read the core's
    /// (`Server::request`).
    req: Mutex<Option<Box<Req>>>,
    /// Made on first use.
    data: Mutex<Option<Py<PyAny>>>,
}

impl Connection {
    /// Its server and its id, for a call.
    fn at(&self) -> (&Core, ConnId) {
        (self.core.get(), ConnId::from_raw(self.id))
    }

    /// `f` of its request: the one it keeps (see `req`), else the core's.
    /// None if neither has one: the connection ended on another thread and
    /// its close event is not converted yet.
    fn with_req<R>(&self, py: Python<'_>, f: impl FnOnce(&Req) -> R) -> Option<R> {
        if let Some(r) = lock(&self.req).as_deref() {
            return Some(f(r));
        }
        let (core, id) = self.at();
        match core.with(py, |s| s.request(id)) {
            Ok(r) => Some(f(&Req::new(&r))),
            // Closed since: its close event may have brought it meanwhile.
            Err(_) => lock(&self.req).as_deref().map(f),
        }
    }
}

#[pymethods]
impl Connection {
    /// Made by the server only, for the request it is converting.
    #[new]
    fn new(core: Bound<'_, Core>) -> PyResult<Self> {
        let pending = lock(&core.get().pending).take();
        let (id, req, route) =
            pending.ok_or_else(|| PyTypeError::new_err("connections are made by the server"))?;
        Ok(Connection {
            core: core.unbind(),
            id,
            route,
            req: Mutex::new(req),
            data: Mutex::new(None),
        })
    }

    /// The request path, without the query string.
    #[getter]
    fn path(&self, py: Python<'_>) -> String {
        let path = self.with_req(py, |r| r.parts().next().map(str::to_string));
        path.flatten().unwrap_or_default()
    }

    /// The query string (what followed `?`), not decoded.
    #[getter]
    fn query(&self, py: Python<'_>) -> String {
        let query = self.with_req(py, |r| r.parts().nth(1).map(str::to_string));
        query.flatten().unwrap_or_default()
    }

    /// The request headers as (name, value) pairs, in the order received
    /// (once open, a WebSocket's without those only its handshake used:
    /// Upgrade, Connection, Sec-WebSocket-Key, -Version, -Extensions).
    #[getter]
    fn headers(&self, py: Python<'_>) -> Vec<(String, String)> {
        let owned = |(k, v): (&str, &str)| (k.to_string(), v.to_string());
        let headers = self.with_req(py, |r| r.headers().map(owned).collect());
        headers.unwrap_or_default()
    }

    /// The peer's (host, port).
    #[getter]
    fn remote_address(&self, py: Python<'_>) -> (String, u16) {
        let peer = self.with_req(py, |r| r.peer).unwrap_or(UNKNOWN_PEER);
        (peer.ip().to_string(), peer.port())
    }

    /// The TLS handshake as a `wsrt.TlsInfo` (version, cipher, the server
    /// name the client asked for, the verified client certificate's
    /// subject and DER bytes), or None on a plain connection.
    #[getter]
    fn tls<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(t) = self.with_req(py, |r| r.tls.clone()).flatten() else {
            return Ok(None);
        };
        let class = TLS_INFO.import(py, "wsrt._types", "TlsInfo")?;
        let cert = t.peer_certificate.as_deref().map(|c| PyBytes::new(py, c));
        let args = (t.version, &t.cipher, &t.server_name, &t.peer_subject, cert);
        class.call1(args).map(Some)
    }

    /// A dict for the application's own per-connection state.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyAny> {
        let mut data = lock(&self.data);
        let dict = data.get_or_insert_with(|| PyDict::new(py).into_any().unbind());
        dict.clone_ref(py)
    }

    #[setter]
    fn set_data(&self, value: Py<PyAny>) {
        let old = lock(&self.data).replace(value);
        drop(old);
    }

    #[getter]
    fn _offered(&self, py: Python<'_>) -> Vec<String> {
        let offered = self.with_req(py, |r| {
            let protocols = r.parts().skip(2 + 2 * r.headers as usize);
            protocols.map(str::to_string).collect()
        });
        offered.unwrap_or_default()
    }

    #[getter]
    fn _last_event_id(&self, py: Python<'_>) -> Option<String> {
        let last = self.with_req(py, |r| {
            let mut headers = r.headers();
            headers
                .nth(r.last_event_id as usize)
                .map(|(_, v)| v.to_string())
        });
        last.flatten()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let ((core, id), name) = (slf.get().at(), slf.get_type().name()?);
        let state = core.with(slf.py(), |s| s.state(id)).name();
        Ok(format!(
            "<{name} #{:x} {} {state}>",
            id.raw(),
            slf.get().path(slf.py())
        ))
    }

    /// The first value of a request header (any case), or None.
    fn header(&self, py: Python<'_>, name: &str) -> Option<String> {
        let name = name.to_lowercase();
        let value = self.with_req(py, |r| {
            let mut headers = r.headers();
            headers
                .find(|(k, _)| k.to_lowercase() == name)
                .map(|(_, v)| v.to_string())
        });
        value.flatten()
    }

    /// `ConnState` CONNECTING (awaiting approval), OPEN, CLOSING (closed
    /// by the application, the end not yet reported) or CLOSED.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (core, id) = self.at();
        let state = core.with(py, |s| s.state(id)) as u8;
        STATE.import(py, "wsrt._wsrt", "ConnState")?.call1((state,))
    }

    /// Bytes queued for this connection and not yet taken by the socket.
    #[getter]
    fn buffered_amount(&self, py: Python<'_>) -> PyResult<usize> {
        let (core, id) = self.at();
        core.with(py, |s| s.buffered_amount(id)).map_err(to_py)
    }

    /// Joins `topic`: every `Server.publish` to it reaches this
    /// connection. False if it already had (None from another thread). A
    /// connection leaves all its topics when it closes.
    fn subscribe(&self, py: Python<'_>, topic: &str) -> PyResult<Option<bool>> {
        let (core, id) = self.at();
        core.act(py, |s| s.subscribe(id, topic), |h| h.subscribe(id, topic))
    }

    /// Leaves `topic`; False if it was not subscribed (None from another thread).
    fn unsubscribe(&self, py: Python<'_>, topic: &str) -> PyResult<Option<bool>> {
        let (core, id) = self.at();
        let h = |h: &Handle| h.unsubscribe(id, topic);
        core.act(py, |s| s.unsubscribe(id, topic), h)
    }

    /// Whether this connection is subscribed to `topic`.
    fn is_subscribed(&self, py: Python<'_>, topic: &str) -> bool {
        let (core, id) = self.at();
        core.with(py, |s| s.is_subscribed(id, topic))
    }

    /// Closes a WebSocket with `code` and `reason` (the close handshake
    /// ends in the background; on_close reports the end) or ends an event
    /// stream (on_close follows).
    #[pyo3(signature = (code=1000, reason=""))]
    fn close(&self, py: Python<'_>, code: u16, reason: &str) -> PyResult<()> {
        let (core, id) = self.at();
        let h = |h: &Handle| h.close(id, code, reason);
        core.act(py, |s| s.close(id, code, reason), h).map(drop)
    }

    /// Drops the connection at once, without a close handshake; on_close
    /// follows (a WebSocket's with 1006).
    fn terminate(&self, py: Python<'_>) -> PyResult<()> {
        let (core, id) = self.at();
        core.act(py, |s| s.terminate(id), |h| h.terminate(id))
            .map(drop)
    }

    /// Done once everything queued has been written to the socket (or
    /// the connection has ended). Under asyncio, on the server's loop.
    fn drained<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let server = slf.get().route.bind(slf.py()).getattr("_server")?;
        server.call_method1("_drained", (slf,))
    }

    /// Sends a text (str) or binary (bytes-like) message.
    fn _send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let (core, id) = self.at();

        with_message(data, |kind, b| {
            let h = |h: &Handle| h.send(id, kind, b.to_vec().into());
            core.act(py, |s| s.send(id, kind, b), h).map(drop)
        })
    }

    /// Acknowledges a Socket.IO event (`ack`: its id) with what its
    /// handler returned (None: no arguments; a tuple: its items; else the
    /// one value). False, with nothing sent, if a value needs Python's
    /// `json` (the caller then packs it and calls `Core.ack`).
    fn _ack(&self, py: Python<'_>, ack: u64, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Some(packed) = json::pack_result(value)? else {
            return Ok(false);
        };
        let (core, id) = self.at();
        let att = packed.slices();
        let json = packed.json.as_str();
        core.run(py, |s| s.ack(id, ack, json, &att))?;
        Ok(true)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.core)?;
        visit.call(&self.route)?;
        match self.data.try_lock() {
            Ok(g) => visit.call(&*g),
            Err(_) => Ok(()),
        }
    }
}

#[pymodule]
fn _wsrt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Core>()?;
    m.add_class::<Connection>()?;
    // The core's numbering, as IntEnums.
    let int_enum = py.import("enum")?.getattr("IntEnum")?;
    let kw = [("module", "wsrt")].into_py_dict(py)?;
    let events = EventType::ALL.map(|k| (k.name(), k as u8));
    let states = ConnState::ALL.map(|s| (s.name(), s as u8));
    for (name, members, doc) in [
        (
            "EventType",
            events.into_pyobject(py)?.into_any(),
            "Event types, numbered as in every wsrt front.",
        ),
        (
            "ConnState",
            states.into_pyobject(py)?.into_any(),
            "A connection's state, numbered as WebSocket.readyState.",
        ),
    ] {
        let e = int_enum.call((name, members), Some(&kw))?;
        e.setattr("__doc__", doc)?;
        m.add(name, e)?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
