//! `wsrt._wsrt`: the native half of the Python package. It converts Python
//! values to the core's types and the core's errors to exceptions, and
//! hands each event batch to Python as one list; every rule (options,
//! protocol, connection state, argument checks) is the core's.
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
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;
use wsrt::{
    Config, ConnId, ConnState, Error, EventType, Events, Handle, HistoryLimit, MessageKind,
    OptionValue, Publish, Replay, Route, RouteKind, Server, SseEvent,
};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

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

/// Runs `f` (a core call that checks it) on a Python value as the core's
/// `OptionValue`; the errors name the value `name`.
fn with_value<R>(
    name: &str,
    v: &Bound<'_, PyAny>,
    f: impl FnOnce(OptionValue<'_>) -> wsrt::Result<R>,
) -> PyResult<R> {
    let _ = name; // the core names the option as it was given to `f`
    let text: Option<String> = v.cast::<PyString>().ok().map(|s| s.to_string());
    let other = format!("{}", v.get_type().name()?);
    let value = if let Some(t) = &text {
        OptionValue::Str(t)
    } else if v.is_none() {
        OptionValue::Default
    } else if v.is_instance_of::<PyBool>() {
        OptionValue::Bool(v.extract()?)
    } else if v.is_instance_of::<PyFloat>() {
        OptionValue::Number(v.extract()?)
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        match v.extract() {
            Ok(list) => OptionValue::List(list),
            Err(_) => OptionValue::Other("a list with an item that is not a str"),
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

/// A batch as a list of `(type, conn, data, code, request)`: `data` is the
/// message (str or bytes), the pong payload, the close reason or the
/// subprotocol ("" for none); `request` is `(path, query, headers, (host,
/// port), offered subprotocols, Last-Event-ID)` on request and open events.
fn convert<'py>(py: Python<'py>, events: &Events) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for ev in events {
        let data = match ev.kind {
            EventType::Message if ev.text => PyString::new(py, events.text(ev)).into_any(),
            EventType::Message | EventType::Pong => PyBytes::new(py, events.payload(ev)).into_any(),
            EventType::Open | EventType::Close => PyString::new(py, events.text(ev)).into_any(),
            EventType::Wake => continue,
            _ => py.None().into_bound(py),
        };
        let request = match events.request(ev) {
            Some(r) => (
                r.path(),
                r.query(),
                &r.head.headers,
                (r.peer.ip().to_string(), r.peer.port()),
                &r.protocols,
                r.last_event_id(),
            )
                .into_pyobject(py)?
                .into_any(),
            None => py.None().into_bound(py),
        };
        out.append((ev.kind as u8, ev.conn.raw(), data, ev.code, request))?;
    }
    Ok(out)
}

/// `(delivered, dropped, closed, event_id)`, as `wsrt.Published`.
type PublishedTuple = (usize, usize, usize, Option<u64>);

/// A route as `wsrt.Server` describes it: (kind, path, approve,
/// subprotocols, headers, content type, body).
type RouteArgs = (
    String,
    String,
    bool,
    Vec<String>,
    Vec<(String, String)>,
    String,
    Vec<u8>,
);

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
    /// `thread_token()` of the thread running the loop; 0 while none does.
    owner: AtomicU64,
    /// Between `poll` and `end_turn`, which flushes anyway.
    in_turn: AtomicBool,
    /// `on_dirty` was called and its flush has not run yet.
    flush_pending: AtomicBool,
    /// Called on the loop thread when output is queued outside a turn.
    on_dirty: Mutex<Option<Py<PyAny>>>,
}

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
    ) -> PyResult<Self> {
        let mut config = Config::with_host(host, port);
        for (kind, path, approve, subprotocols, headers, content_type, body) in routes {
            let kind = match kind.as_str() {
                "websocket" => RouteKind::WebSocket,
                "sse" => RouteKind::Sse,
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
            server: Mutex::new(server),
            events: Mutex::new(Events::new()),
            owner: AtomicU64::new(0),
            in_turn: AtomicBool::new(false),
            flush_pending: AtomicBool::new(false),
            on_dirty: Mutex::new(None),
        })
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
    fn poll<'py>(&self, py: Python<'py>, wait: bool) -> PyResult<Bound<'py, PyList>> {
        if wait {
            let timeout = self.with(py, |s| s.next_timeout());
            if timeout != Some(Duration::ZERO) && !py.detach(|| wait_readable(self.fd, timeout)) {
                py.check_signals()?;
            }
        }
        let mut events = std::mem::take(&mut *lock(&self.events));
        let r = py.detach(|| lock(&self.server).poll(&mut events, Some(Duration::ZERO)));
        self.in_turn.store(true, Ordering::Release);
        let out = r.map_err(to_py).and_then(|()| convert(py, &events));
        *lock(&self.events) = events;
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

    fn send(&self, py: Python<'_>, conn: u64, data: &Bound<'_, PyAny>) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        with_message(data, |kind, b| {
            self.act(
                py,
                |s| s.send(id, kind, b),
                |h| h.send(id, kind, b.to_vec().into()),
            )
        })
    }

    fn ping(&self, py: Python<'_>, conn: u64, data: &Bound<'_, PyAny>) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        with_message(data, |_, b| {
            self.act(py, |s| s.ping(id, b), |h| h.ping(id, b.to_vec().into()))
        })
    }

    fn close(&self, py: Python<'_>, conn: u64, code: u16, reason: &str) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        self.act(
            py,
            |s| s.close(id, code, reason),
            |h| h.close(id, code, reason),
        )
    }

    fn terminate(&self, py: Python<'_>, conn: u64) -> PyResult<Option<()>> {
        let id = ConnId::from_raw(conn);
        self.act(py, |s| s.terminate(id), |h| h.terminate(id))
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
        self.run(py, |s| {
            s.reject(ConnId::from_raw(conn), status, body, &headers)
        })
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

    /// The connection's state as the core sees it (a `ConnState` value).
    fn state(&self, py: Python<'_>, conn: u64) -> u8 {
        self.with(py, |s| s.state(ConnId::from_raw(conn))) as u8
    }

    fn buffered_amount(&self, py: Python<'_>, conn: u64) -> PyResult<usize> {
        self.with(py, |s| s.buffered_amount(ConnId::from_raw(conn)))
            .map_err(to_py)
    }

    fn subscribe(&self, py: Python<'_>, conn: u64, topic: &str) -> PyResult<Option<bool>> {
        let id = ConnId::from_raw(conn);
        self.act(py, |s| s.subscribe(id, topic), |h| h.subscribe(id, topic))
    }

    fn unsubscribe(&self, py: Python<'_>, conn: u64, topic: &str) -> PyResult<Option<bool>> {
        let id = ConnId::from_raw(conn);
        self.act(
            py,
            |s| s.unsubscribe(id, topic),
            |h| h.unsubscribe(id, topic),
        )
    }

    fn is_subscribed(&self, py: Python<'_>, conn: u64, topic: &str) -> bool {
        self.with(py, |s| s.is_subscribed(ConnId::from_raw(conn), topic))
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

    /// The counters, in `wsrt.Stats` order.
    fn stats(&self, py: Python<'_>) -> (usize, usize, usize, usize, usize, u64, u64, u64, u64) {
        let st = self.with(py, |s| s.stats());
        (
            st.connections,
            st.websockets,
            st.sse_streams,
            st.buffered_bytes,
            st.topics,
            st.published,
            st.delivered,
            st.dropped,
            st.slow_closed,
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        match self.on_dirty.try_lock() {
            Ok(g) => visit.call(&*g),
            Err(_) => Ok(()),
        }
    }

    fn __clear__(&self) {
        let old = lock(&self.on_dirty).take();
        drop(old);
    }
}

#[pymodule]
fn _wsrt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Core>()?;
    // The core's numbering, as IntEnums.
    let int_enum = py.import("enum")?.getattr("IntEnum")?;
    let kw = [("module", "wsrt")].into_py_dict(py)?;
    let events: Vec<(&str, u8)> = EventType::ALL
        .iter()
        .map(|k| (k.name(), *k as u8))
        .collect();
    let states = [
        ConnState::Connecting,
        ConnState::Open,
        ConnState::Closing,
        ConnState::Closed,
    ]
    .map(|s| (format!("{s:?}").to_uppercase(), s as u8));
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
