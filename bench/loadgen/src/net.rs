//! The connection driver: one mio loop over many client connections.
//! Connections are opened in waves (at most `max_pending` handshakes at a
//! time, so no server's accept backlog overflows), each sends its request,
//! and once the response head is in, every byte read goes to the scenario's
//! `Handler` straight from the shared read buffer (copied only when a frame
//! is split across reads). Replies are written as soon as they are queued.
//!
//! With TLS (`Net::with_tls`) every connection is a rustls client (ring,
//! as in core): bytes read go through rustls and the handler sees the
//! plaintext; what the handler queues is sealed on its way out. The byte
//! counts are then of the wire: records, headers and handshakes included.
//!
//! `Net::with_split` sends the connections from some id on to another
//! address (broadcast `--sub-addr`: the publisher on one server of a
//! cluster, its subscribers on another).
//!
//! `Handler::done` lets a scenario end a connection (the handshake
//! scenario: connect, handshake, one echo, close); its slot is reset
//! (SO_LINGER 0, so no TIME_WAIT piles up) and opened again at once.
use crate::sock::set_linger_zero;
use crate::tls::Tls;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// What a scenario does with its connections.
pub trait Handler {
    /// The response head is in; queue the first messages into `out`.
    fn on_open(
        &mut self,
        id: usize,
        head: &str,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<(), String>;
    /// Bytes after the head; returns how many were consumed (the rest is
    /// kept and handed again with what follows).
    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<usize, String>;
    /// Connection `id` is finished: the driver resets it and opens a new
    /// one in its slot (which then starts with `on_open` again).
    fn done(&self, _id: usize) -> bool {
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Handshake,
    Open,
    Failed,
}

pub struct Conn {
    sock: TcpStream,
    /// The TLS session, with TLS.
    tls: Option<Box<rustls::ClientConnection>>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    pub state: State,
}

pub struct Net {
    poll: Poll,
    events: Events,
    ready: Vec<usize>,
    timer: OwnedFd,
    addr: SocketAddr,
    request: Vec<u8>,
    /// Connections from this id on go to this address, with this request.
    split: Option<(usize, SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
    pub conns: Vec<Conn>,
    target: usize,
    max_pending: usize,
    pub pending: usize,
    pub open: usize,
    pub failures: u64,
    pub first_error: Option<String>,
    /// Bytes read from and written to every socket (handshakes included).
    pub bytes_in: u64,
    pub bytes_out: u64,
    tls: Option<Tls>,
    /// The first connection's TLS version, cipher suite and key exchange.
    pub tls_info: Option<String>,
    /// Connections ended by `Handler::done` and opened again.
    pub recycled: u64,
}

const MAX_HEAD: usize = 16 * 1024;
const TIMER: Token = Token(usize::MAX);

impl Net {
    pub fn new(
        addr: SocketAddr,
        request: Vec<u8>,
        target: usize,
        max_pending: usize,
    ) -> io::Result<Net> {
        let poll = Poll::new()?;
        // Timed sends wait on a timerfd: epoll_wait itself only sleeps in
        // whole milliseconds, and spinning instead would burn the core (and
        // get throttled under SCHED_FIFO).
        // SAFETY: timerfd_create returns a new descriptor or -1.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a descriptor we just created and own.
        let timer = unsafe { OwnedFd::from_raw_fd(fd) };
        // Added to mio's epoll set directly: mio's SourceFd needs its
        // "os-ext" feature, which would make the workspace build mio (and
        // core) twice. mio's epoll selector reads an event's token from
        // the epoll data word, so this is what register() would do.
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: TIMER.0 as u64,
        };
        // SAFETY: both descriptors are valid; ev is initialised.
        if unsafe { libc::epoll_ctl(poll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Net {
            poll,
            timer,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            addr,
            request,
            split: None,
            buf: vec![0; 256 * 1024],
            conns: Vec::with_capacity(target),
            target,
            max_pending: max_pending.max(1),
            pending: 0,
            open: 0,
            failures: 0,
            first_error: None,
            bytes_in: 0,
            bytes_out: 0,
            tls: None,
            tls_info: None,
            recycled: 0,
        })
    }

    /// Every connection speaks TLS with this client configuration.
    pub fn with_tls(mut self, tls: Tls) -> Net {
        self.tls = Some(tls);
        self
    }

    /// Connections `from` and after connect to `addr` and send `request`
    /// (its Host header naming `addr`); those before, to the first address.
    pub fn with_split(mut self, from: usize, addr: SocketAddr, request: Vec<u8>) -> Net {
        self.split = Some((from, addr, request));
        self
    }

    fn open_conn(&mut self, id: usize) -> io::Result<Conn> {
        let (addr, request) = match &self.split {
            Some((from, addr, request)) if id >= *from => (*addr, request),
            _ => (self.addr, &self.request),
        };
        let mut sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        self.poll.registry().register(
            &mut sock,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let tls = match &self.tls {
            Some(t) => Some(Box::new(t.client().map_err(io::Error::other)?)),
            None => None,
        };
        Ok(Conn {
            sock,
            tls,
            inbuf: Vec::new(),
            out: request.clone(),
            out_pos: 0,
            state: State::Handshake,
        })
    }

    /// Resets connection `id` and opens a new one in its slot.
    fn recycle(&mut self, id: usize) -> io::Result<()> {
        {
            let c = &mut self.conns[id];
            match c.state {
                State::Handshake => self.pending -= 1,
                State::Open => self.open -= 1,
                State::Failed => {}
            }
            set_linger_zero(&c.sock);
            let _ = self.poll.registry().deregister(&mut c.sock);
        }
        let c = self.open_conn(id)?;
        self.conns[id] = c; // the old socket closes (a reset) here
        self.pending += 1;
        self.recycled += 1;
        Ok(())
    }

    pub fn all_open(&self) -> bool {
        self.open == self.target
    }

    fn fail(&mut self, id: usize, why: String) {
        let c = &mut self.conns[id];
        match c.state {
            State::Failed => return,
            State::Handshake => self.pending -= 1,
            State::Open => self.open -= 1,
        }
        c.state = State::Failed;
        let _ = self.poll.registry().deregister(&mut c.sock);
        self.failures += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("connection {id}: {why}"));
        }
    }

    /// Opens connections until the target is reached or `max_pending`
    /// handshakes are under way.
    fn connect_more(&mut self) -> io::Result<()> {
        while self.conns.len() < self.target && self.pending < self.max_pending {
            let id = self.conns.len();
            let c = self.open_conn(id)?;
            self.conns.push(c);
            self.pending += 1;
        }
        Ok(())
    }

    /// Queues bytes on an open connection (from a timer, not a read); they
    /// are written at once.
    pub fn send(&mut self, id: usize, fill: impl FnOnce(&mut Vec<u8>)) {
        if self.conns[id].state != State::Open {
            return;
        }
        let c = &mut self.conns[id];
        fill(&mut c.out);
        let r = if c.tls.is_some() {
            flush_tls(c)
        } else {
            flush(c)
        };
        match r {
            Ok(n) => self.bytes_out += n as u64,
            Err(e) => self.fail(id, format!("write: {e}")),
        }
    }

    /// Arms the timer to wake the next `turn` at `at` (precise to
    /// microseconds, unlike the poll timeout).
    pub fn wake_at(&mut self, at: Instant) {
        let d = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid timerfd and a fully initialised itimerspec.
        unsafe { libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    }

    /// One turn of the loop: opens what is due, waits up to `timeout` for
    /// readiness, reads, hands data to `h`, writes what it queued.
    pub fn turn(&mut self, h: &mut impl Handler, timeout: Duration) -> io::Result<()> {
        self.connect_more()?;
        self.poll.poll(&mut self.events, Some(timeout))?;
        let now = Instant::now();
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| e.token().0));
        for &id in &ready {
            if id == TIMER.0 {
                let mut ticks = [0u8; 8];
                // SAFETY: reads at most 8 bytes into a local buffer.
                unsafe { libc::read(self.timer.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
                continue;
            }
            if self.conns[id].state == State::Failed {
                continue;
            }
            if let Err(why) = self.service(id, h, now) {
                self.fail(id, why);
            } else if self.conns[id].state == State::Open && h.done(id) {
                self.recycle(id)?;
            }
        }
        self.ready = ready;
        Ok(())
    }

    fn service(&mut self, id: usize, h: &mut impl Handler, now: Instant) -> Result<(), String> {
        if self.conns[id].tls.is_some() {
            return self.service_tls(id, h, now);
        }
        let c = &mut self.conns[id];
        loop {
            let n = match c.sock.read(&mut self.buf) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            self.bytes_in += n as u64;
            // A short read emptied the socket: epoll (edge-triggered) will
            // report the next arrival, so the read that would only say
            // EAGAIN is skipped.
            let drained = n < self.buf.len();
            if deliver(c, id, &self.buf[..n], h, now)? {
                self.pending -= 1;
                self.open += 1;
            }
            if drained {
                break;
            }
        }
        self.bytes_out += flush(c).map_err(|e| format!("write: {e}"))? as u64;
        Ok(())
    }

    /// As `service`, through rustls: records are read until the socket is
    /// empty, their plaintext handed on, and what is queued sealed and sent.
    fn service_tls(&mut self, id: usize, h: &mut impl Handler, now: Instant) -> Result<(), String> {
        let c = &mut self.conns[id];
        let mut eof = false;
        loop {
            let tls = c.tls.as_mut().unwrap();
            let mut counted = Counted(&mut c.sock, 0);
            let r = tls.read_tls(&mut counted);
            self.bytes_in += counted.1;
            match r {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
            let st = tls.process_new_packets().map_err(|e| {
                // Send the alert rustls queued, then fail.
                let _ = tls.write_tls(&mut c.sock);
                format!("TLS: {e}")
            })?;
            if st.peer_has_closed() {
                eof = true;
            }
            if self.tls_info.is_none() && !tls.is_handshaking() {
                self.tls_info = Some(describe(tls));
            }
            loop {
                let tls = c.tls.as_mut().unwrap();
                let n = match tls.reader().read(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                        eof = true;
                        break;
                    }
                    Err(e) => return Err(format!("TLS read: {e}")),
                };
                if deliver(c, id, &self.buf[..n], h, now)? {
                    self.pending -= 1;
                    self.open += 1;
                }
            }
            if eof {
                break;
            }
        }
        self.bytes_out += flush_tls(c).map_err(|e| format!("write: {e}"))? as u64;
        if eof {
            return Err("the server closed the connection".into());
        }
        Ok(())
    }

    /// Drops every connection with a reset (SO_LINGER 0): no TIME_WAIT
    /// left behind, so runs of 10,000 connections can follow each other.
    pub fn reset_all(&mut self) {
        for c in self.conns.drain(..) {
            set_linger_zero(&c.sock);
        }
        self.open = 0;
        self.pending = 0;
    }
}

/// Plaintext bytes of connection `id` to the head parser or the handler;
/// true when they completed the response head (the connection is open).
fn deliver(
    c: &mut Conn,
    id: usize,
    input: &[u8],
    h: &mut impl Handler,
    now: Instant,
) -> Result<bool, String> {
    let mut opened = false;
    if c.state == State::Handshake {
        c.inbuf.extend_from_slice(input);
        let Some(end) = c.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if c.inbuf.len() > MAX_HEAD {
                return Err("response head too long".into());
            }
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&c.inbuf[..end + 2]).into_owned();
        c.inbuf.drain(..end + 4);
        c.state = State::Open;
        opened = true;
        h.on_open(id, &head, &mut c.out, now)?;
        if !c.inbuf.is_empty() {
            let used = h.on_data(id, &c.inbuf, &mut c.out, now)?;
            c.inbuf.drain(..used);
        }
    } else if c.inbuf.is_empty() {
        let used = h.on_data(id, input, &mut c.out, now)?;
        c.inbuf.extend_from_slice(&input[used..]);
    } else {
        c.inbuf.extend_from_slice(input);
        let used = h.on_data(id, &c.inbuf, &mut c.out, now)?;
        c.inbuf.drain(..used);
    }
    if c.inbuf.capacity() > 1 << 20 && c.inbuf.len() < 1 << 16 {
        c.inbuf.shrink_to(1 << 16);
    }
    Ok(opened)
}

/// Counts the bytes read through it.
struct Counted<'a>(&'a mut TcpStream, u64);

impl Read for Counted<'_> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(b)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// "TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519" of a finished handshake.
fn describe(tls: &rustls::ClientConnection) -> String {
    format!(
        "{} {} {}",
        tls.protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default(),
        tls.negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        tls.negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()))
            .unwrap_or_default()
    )
}

/// Seals what is queued (as much as rustls takes) and writes the records;
/// returns the wire bytes written.
fn flush_tls(c: &mut Conn) -> io::Result<usize> {
    let tls = c.tls.as_mut().unwrap();
    let mut written = 0;
    loop {
        if c.out_pos < c.out.len() {
            c.out_pos += tls.writer().write(&c.out[c.out_pos..])?;
        }
        let mut progress = false;
        while tls.wants_write() {
            match tls.write_tls(&mut c.sock) {
                Ok(n) => {
                    written += n;
                    progress = true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                    break
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if c.out_pos == c.out.len() || !progress || tls.wants_write() {
            break;
        }
    }
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
        if c.out.capacity() > 1 << 20 {
            c.out.shrink_to(1 << 16);
        }
    } else if c.out_pos > 1 << 16 {
        c.out.drain(..c.out_pos);
        c.out_pos = 0;
    }
    Ok(written)
}

/// Writes what is queued; returns the bytes written.
fn flush(c: &mut Conn) -> io::Result<usize> {
    let mut written = 0;
    while c.out_pos < c.out.len() {
        match c.sock.write(&c.out[c.out_pos..]) {
            Ok(n) => {
                c.out_pos += n;
                written += n;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if c.out_pos == c.out.len() {
        c.out.clear();
        c.out_pos = 0;
        if c.out.capacity() > 1 << 20 {
            c.out.shrink_to(1 << 16);
        }
    } else if c.out_pos > 1 << 16 {
        c.out.drain(..c.out_pos);
        c.out_pos = 0;
    }
    Ok(written)
}
