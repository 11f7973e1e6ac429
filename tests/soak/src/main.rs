//! The soak client (issue 17): N connections (default 10,000) to the
//! example server, mixed: WebSocket echo (`/echo`), broadcast subscribers
//! (`/broadcast`), SSE streams of the broadcast topic (`/events`) and SSE
//! tick streams (`/sse`); a share of the WebSockets negotiate
//! permessage-deflate. One more `/broadcast` connection publishes numbered
//! messages at a steady rate.
//!
//! Every message is checked: each echo comes back once, in order, equal to
//! what was sent; each subscriber sees a contiguous run of publishes from
//! the one after it joined; SSE ids count up with them (and a stream that
//! comes back with `Last-Event-ID` goes on exactly where it left off).
//!
//! Once every connection is up, a share of them (`--churn`, default 5 %)
//! is ended every second and replaced by a new one of the same kind: a
//! third with a clean close (a close frame, or a FIN on an event stream), a
//! third with a reset (SO_LINGER 0), a third left half-open (the client
//! stops reading and writing and never closes: the server's idle timeout
//! must end those WebSockets; an event stream has nothing to time out, so
//! the client gives up on those after `--sse-halfopen-secs`).
//!
//! At the end the client stops sending, waits for everything in flight
//! (`--drain-secs`), and counts what never came as lost. It prints one JSON
//! line of counters a second and a final JSON summary; the exit status is
//! 0 when every check passed, 1 otherwise, 2 for a usage error.

// The wire code of the load generator, shared rather than copied.
#[allow(dead_code)]
#[path = "../../../bench/loadgen/src/deflate.rs"]
mod deflate;
#[path = "../../../bench/loadgen/src/sock.rs"]
mod sock;
#[allow(dead_code)]
#[path = "../../../bench/loadgen/src/sse.rs"]
mod sse;
#[allow(dead_code)]
#[path = "../../../bench/loadgen/src/ws.rs"]
mod ws;

mod args;
mod check;

use sock::set_linger_zero;

use args::Args;
use check::{bcast_payload, echo_payload, parse_seq, Counters};
use deflate::{Codec, Offer};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Echo,
    Sub,
    Events,
    Ticks,
    Publisher,
}

impl Kind {
    fn is_ws(self) -> bool {
        matches!(self, Kind::Echo | Kind::Sub | Kind::Publisher)
    }
    fn path(self) -> &'static str {
        match self {
            Kind::Echo => "/echo",
            Kind::Sub | Kind::Publisher => "/broadcast",
            Kind::Events => "/events",
            Kind::Ticks => "/sse",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Handshake,
    Open,
    /// Ended cleanly by us: close frame sent (or FIN on an event stream);
    /// waiting for the server's close and its FIN.
    Closing,
    /// Abandoned: never read, written or closed again; waiting for the
    /// server to end it.
    HalfOpen,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ramp,
    Steady,
    Drain,
}

/// A connection to open.
#[derive(Clone, Copy)]
struct Want {
    kind: Kind,
    deflate: bool,
    /// Last-Event-ID to send (event streams coming back).
    resume: Option<u64>,
}

struct Conn {
    sock: TcpStream,
    kind: Kind,
    deflate: bool,
    codec: Option<Codec>,
    phase: Phase,
    since: Instant,
    serial: u64,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    frag: Vec<u8>,
    frag_op: u8,
    frag_rsv1: bool,
    got_close: bool,
    sse: Option<sse::Reader>,
    // Echo: the next number to send, and those sent and not yet back.
    next_seq: u64,
    outstanding: VecDeque<u64>,
    // Subscribers and streams: the last sequence number (ticks: id) seen,
    // the last event id, the publisher's count when this one opened, the
    // Last-Event-ID it came back with, and whether a snapshot replaced a
    // replay.
    last: Option<u64>,
    last_id: Option<u64>,
    join_bound: u64,
    resume: Option<u64>,
    after_snapshot: bool,
}

const TICK: Duration = Duration::from_millis(20);
const MAX_HEAD: usize = 16 * 1024;
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(15);
const CLOSE_LIMIT: Duration = Duration::from_secs(15);

struct Client {
    args: Args,
    poll: Poll,
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    queue: VecDeque<Want>,
    pending: usize,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    expect: Vec<u8>,
    c: Counters,
    serial: u64,
    rng: u64,
    /// The publisher's slot, and the last number it sent.
    publisher: Option<usize>,
    pub_seq: u64,
    /// id - seq on /events: one constant for the whole run.
    id_offset: Option<u64>,
    stage: Stage,
    start: Instant,
    /// Connections each kind should have up (the mix), for the ramp.
    initial_opened: usize,
}

/// The kernel's TCP_INFO of a socket, without reading from it.
fn tcp_info(sock: &TcpStream) -> Option<libc::tcp_info> {
    // SAFETY: tcp_info is plain data; the kernel fills at most `len` bytes.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (r == 0).then_some(info)
    }
}

fn tcp_state(sock: &TcpStream) -> Option<u8> {
    tcp_info(sock).map(|i| i.tcpi_state)
}

/// Linux TCP states (include/net/tcp_states.h): the peer has closed.
const TCP_CLOSE: u8 = 7;
const TCP_CLOSE_WAIT: u8 = 8;

/// Raises the soft descriptor limit to what `want` needs (and the hard one
/// too when we may); returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur >= want {
            return rl.rlim_cur;
        }
        if rl.rlim_max < want {
            let mut up = rl;
            up.rlim_max = want;
            up.rlim_cur = want;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                return want;
            }
        }
        rl.rlim_cur = rl.rlim_max.min(want);
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur
    }
}

fn request(w: &Want, host: &str) -> Vec<u8> {
    if w.kind.is_ws() {
        let offer = if w.deflate {
            Offer::Takeover
        } else {
            Offer::Off
        };
        ws::upgrade_request(host, w.kind.path(), offer.header())
    } else {
        let mut r = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n",
            w.kind.path()
        );
        if let Some(id) = w.resume {
            r.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    }
}

/// How a connection ended.
enum End {
    /// A clean close we asked for, completed.
    Clean,
    /// Anything else: an error (counted), and a replacement is opened.
    Failed(String),
}

impl Client {
    fn new(args: Args) -> io::Result<Client> {
        let rng = args.seed | 1;
        Ok(Client {
            poll: Poll::new()?,
            slots: Vec::with_capacity(args.conns + 4096),
            free: Vec::new(),
            queue: VecDeque::new(),
            pending: 0,
            buf: vec![0; 256 * 1024],
            scratch: Vec::new(),
            expect: Vec::new(),
            c: Counters::default(),
            serial: 0,
            rng,
            publisher: None,
            pub_seq: 0,
            id_offset: None,
            stage: Stage::Ramp,
            start: Instant::now(),
            initial_opened: 0,
            args,
        })
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn open(&mut self, w: Want) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let mut sock = match TcpStream::connect(self.args.addr) {
            Ok(s) => s,
            Err(e) => {
                self.c.fail("connect", format!("connect: {e}"));
                self.free.push(slot);
                self.queue.push_back(Want { resume: None, ..w });
                return;
            }
        };
        let _ = sock.set_nodelay(true);
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.c.fail("connect", format!("register: {e}"));
            self.free.push(slot);
            return;
        }
        self.serial += 1;
        let host = self.args.addr.to_string();
        self.pending += 1;
        if w.kind == Kind::Publisher {
            self.publisher = Some(slot);
        }
        if w.resume.is_some() {
            self.c.resumes += 1;
        }
        self.slots[slot] = Some(Conn {
            sock,
            kind: w.kind,
            deflate: w.deflate,
            codec: None,
            phase: Phase::Handshake,
            since: Instant::now(),
            serial: self.serial,
            inbuf: Vec::new(),
            out: request(&w, &host),
            out_pos: 0,
            frag: Vec::new(),
            frag_op: 0,
            frag_rsv1: false,
            got_close: false,
            sse: None,
            next_seq: 1,
            outstanding: VecDeque::new(),
            last: None,
            last_id: None,
            join_bound: 0,
            resume: w.resume,
            after_snapshot: false,
        });
    }

    /// Removes the connection in `slot` (closing its socket) and opens a
    /// replacement when `end` is a failure.
    fn finish(&mut self, slot: usize, end: End) {
        let Some(conn) = self.slots[slot].take() else {
            return;
        };
        self.free.push(slot);
        if conn.phase == Phase::Handshake {
            self.pending -= 1;
        }
        match end {
            End::Clean => self.c.clean_ok += 1,
            End::Failed(why) => {
                let what = match conn.phase {
                    Phase::Handshake => "handshake",
                    Phase::Open => "unexpected_end",
                    Phase::Closing => "close",
                    Phase::HalfOpen => "halfopen",
                };
                self.c.fail(
                    what,
                    format!("{:?} conn #{} ({}): {why}", conn.kind, conn.serial, what),
                );
                set_linger_zero(&conn.sock);
                if conn.kind == Kind::Publisher {
                    self.c
                        .fail("publisher", "the publisher's connection ended".into());
                    self.publisher = None;
                }
                if matches!(conn.phase, Phase::Handshake | Phase::Open)
                    && self.stage != Stage::Drain
                {
                    self.queue.push_back(Want {
                        kind: conn.kind,
                        deflate: conn.deflate,
                        resume: None,
                    });
                }
            }
        }
    }

    fn flush(conn: &mut Conn) -> io::Result<()> {
        while conn.out_pos < conn.out.len() {
            match conn.sock.write(&conn.out[conn.out_pos..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        conn.out.clear();
        conn.out_pos = 0;
        if conn.out.capacity() > 64 * 1024 {
            conn.out.shrink_to(4096);
        }
        Ok(())
    }

    fn on_event(&mut self, slot: usize, ev: &mio::event::Event) {
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        if conn.phase == Phase::HalfOpen {
            self.check_halfopen(slot);
            return;
        }
        if ev.is_writable() || ev.is_error() {
            if let Err(e) = Self::flush(conn) {
                let end = End::Failed(format!("write: {e}"));
                self.finish(slot, end);
                return;
            }
        }
        if !(ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
            return;
        }
        loop {
            let Some(conn) = self.slots[slot].as_mut() else {
                return;
            };
            match conn.sock.read(&mut self.buf) {
                Ok(0) => {
                    let end =
                        if conn.phase == Phase::Closing && (conn.got_close || !conn.kind.is_ws()) {
                            End::Clean
                        } else if conn.phase == Phase::Closing {
                            End::Failed("the server closed without a close frame".into())
                        } else {
                            End::Failed("the server closed the connection".into())
                        };
                    self.finish(slot, end);
                    return;
                }
                Ok(n) => {
                    let mut inbuf = std::mem::take(&mut conn.inbuf);
                    inbuf.extend_from_slice(&self.buf[..n]);
                    let r = self.process(slot, &mut inbuf);
                    let Some(conn) = self.slots[slot].as_mut() else {
                        return;
                    };
                    match r {
                        Ok(used) => {
                            inbuf.drain(..used);
                            if inbuf.capacity() > 256 * 1024 && inbuf.len() < 4096 {
                                inbuf.shrink_to(4096);
                            }
                            conn.inbuf = inbuf;
                        }
                        Err(e) => {
                            self.finish(slot, End::Failed(e));
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let closing = conn.phase == Phase::Closing && conn.got_close;
                    let end = if closing {
                        End::Clean
                    } else {
                        End::Failed(format!("read: {e}"))
                    };
                    self.finish(slot, end);
                    return;
                }
            }
        }
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        if let Err(e) = Self::flush(conn) {
            self.finish(slot, End::Failed(format!("write: {e}")));
        }
    }

    /// Bytes read on `slot` (all of `data`); returns how many were used.
    fn process(&mut self, slot: usize, data: &mut [u8]) -> Result<usize, String> {
        let conn = self.slots[slot].as_mut().unwrap();
        let mut pos = 0;
        if conn.phase == Phase::Handshake {
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                if data.len() > MAX_HEAD {
                    return Err("response head too long".into());
                }
                return Ok(0);
            };
            let head = std::str::from_utf8(&data[..end]).map_err(|_| "response head not UTF-8")?;
            if conn.kind.is_ws() {
                ws::check_upgrade(head)?;
                let offer = if conn.deflate {
                    Offer::Takeover
                } else {
                    Offer::Off
                };
                if let Some(p) = deflate::parse_response(head, offer)? {
                    conn.codec = Some(Codec::new(p, 6));
                    self.c.deflate_conns += 1;
                } else if conn.deflate {
                    return Err("permessage-deflate offered and not accepted".into());
                }
            } else {
                let chunked = sse::check_head(head)?;
                conn.sse = Some(sse::Reader::new(chunked));
            }
            conn.phase = Phase::Open;
            conn.since = Instant::now();
            conn.join_bound = self.pub_seq;
            self.pending -= 1;
            self.c.opened += 1;
            if self.stage == Stage::Ramp {
                self.initial_opened += 1;
            }
            pos = end + 4;
        }
        if conn.kind.is_ws() {
            self.ws_frames(slot, data, pos)
        } else {
            let mut reader = conn.sse.take().expect("event-stream reader");
            let r = self.sse_bytes(slot, &mut reader, &data[pos..]);
            if let Some(conn) = self.slots[slot].as_mut() {
                conn.sse = Some(reader);
            }
            r.map(|()| data.len())
        }
    }

    fn ws_frames(&mut self, slot: usize, data: &[u8], mut pos: usize) -> Result<usize, String> {
        while let Some((f, n)) = ws::parse(&data[pos..])? {
            pos += n;
            let conn = self.slots[slot].as_mut().unwrap();
            if f.rsv1 && (conn.codec.is_none() || !matches!(f.opcode, ws::TEXT | ws::BINARY)) {
                return Err(format!("RSV1 on opcode {} without deflate", f.opcode));
            }
            match f.opcode {
                ws::PING => {
                    ws::put_header(&mut conn.out, ws::PONG, f.payload.len());
                    conn.out.extend_from_slice(f.payload);
                    self.c.pings += 1;
                }
                ws::PONG => {}
                ws::CLOSE => {
                    if conn.phase == Phase::Closing {
                        conn.got_close = true;
                    } else {
                        let code = f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                        return Err(format!("the server sent a close frame (code {code:?})"));
                    }
                }
                ws::TEXT | ws::BINARY if conn.frag_op == 0 => {
                    if f.fin {
                        self.ws_message(slot, f.opcode, f.rsv1, f.payload)?;
                    } else {
                        conn.frag_op = f.opcode;
                        conn.frag_rsv1 = f.rsv1;
                        conn.frag.extend_from_slice(f.payload);
                    }
                }
                0 if conn.frag_op != 0 => {
                    conn.frag.extend_from_slice(f.payload);
                    if f.fin {
                        let msg = std::mem::take(&mut conn.frag);
                        let op = std::mem::replace(&mut conn.frag_op, 0);
                        let rsv1 = conn.frag_rsv1;
                        self.ws_message(slot, op, rsv1, &msg)?;
                    }
                }
                op => return Err(format!("unexpected frame opcode {op}")),
            }
        }
        Ok(pos)
    }

    fn ws_message(
        &mut self,
        slot: usize,
        op: u8,
        rsv1: bool,
        payload: &[u8],
    ) -> Result<(), String> {
        let conn = self.slots[slot].as_mut().unwrap();
        let mut inflated = std::mem::take(&mut self.scratch);
        let msg = if rsv1 {
            let codec = conn.codec.as_mut().unwrap();
            codec.inflate(payload, &mut inflated, 1 << 24)?;
            self.c.inflated += 1;
            &inflated[..]
        } else {
            payload
        };
        match conn.kind {
            Kind::Echo => {
                let Some(seq) = conn.outstanding.pop_front() else {
                    self.c.fail(
                        "echo",
                        format!(
                            "echo conn #{}: a message with none outstanding ({:?})",
                            conn.serial,
                            String::from_utf8_lossy(&msg[..msg.len().min(40)])
                        ),
                    );
                    self.scratch = inflated;
                    return Ok(());
                };
                echo_payload(&mut self.expect, conn.serial, seq);
                let want_op = if seq % 2 == 0 { ws::TEXT } else { ws::BINARY };
                if msg != &self.expect[..] || op != want_op {
                    let got = parse_seq(msg, b'e');
                    self.c.fail(
                        "echo",
                        format!(
                            "echo conn #{}: expected #{seq} ({} bytes, op {want_op}), got {:?} ({} bytes, op {op})",
                            conn.serial,
                            self.expect.len(),
                            got,
                            msg.len()
                        ),
                    );
                } else {
                    self.c.echo_ok += 1;
                }
            }
            Kind::Sub | Kind::Publisher => {
                let serial = conn.serial;
                let seq = parse_seq(msg, b'b');
                match seq {
                    Some(seq) => {
                        bcast_payload(&mut self.expect, seq);
                        if msg != &self.expect[..] || op != ws::TEXT {
                            self.c.fail(
                                "broadcast",
                                format!(
                                    "sub #{serial}: publish #{seq} altered ({} bytes)",
                                    msg.len()
                                ),
                            );
                        }
                        self.sequence(slot, seq, None);
                        self.c.bcast_ok += 1;
                    }
                    None => self.c.fail(
                        "broadcast",
                        format!(
                            "sub #{serial}: a message that is no publish ({} bytes)",
                            msg.len()
                        ),
                    ),
                }
            }
            _ => unreachable!(),
        }
        self.scratch = inflated;
        Ok(())
    }

    /// A subscriber of the broadcast topic saw publish `seq` (event id
    /// `id` on /events): in order, nothing skipped.
    fn sequence(&mut self, slot: usize, seq: u64, id: Option<u64>) {
        let conn = self.slots[slot].as_mut().unwrap();
        let ok = match (conn.last, conn.resume) {
            (Some(last), _) => seq == last + 1,
            (None, Some(resume)) if !conn.after_snapshot => id == Some(resume + 1),
            (None, _) if conn.after_snapshot => true,
            // The first since it joined: none published after the join
            // may be missing.
            (None, _) => seq <= conn.join_bound + 1,
        };
        if !ok {
            let what = match (conn.last, conn.resume) {
                (Some(last), _) if seq <= last => {
                    format!("#{seq} after #{last} (reordered or repeated)")
                }
                (Some(last), _) => format!("#{seq} after #{last} ({} lost)", seq - last - 1),
                (None, Some(r)) => {
                    format!("first event id {id:?} after Last-Event-ID {r} (replay incomplete)")
                }
                (None, None) => format!(
                    "first publish #{seq}, but #{} was published after it joined",
                    conn.join_bound + 1
                ),
            };
            let msg = format!("{:?} conn #{}: {what}", conn.kind, conn.serial);
            self.c.fail("sequence", msg);
        } else if conn.last.is_none() && conn.resume.is_some() && !conn.after_snapshot {
            self.c.resumed_ok += 1;
        }
        conn.last = Some(seq);
        if id.is_some() {
            conn.last_id = id;
        }
    }

    fn sse_bytes(
        &mut self,
        slot: usize,
        reader: &mut sse::Reader,
        data: &[u8],
    ) -> Result<(), String> {
        let mut events: Vec<(String, String, Option<String>)> = Vec::new();
        reader.feed(data, &mut |e: sse::Event<'_>| {
            events.push((
                e.event.to_owned(),
                e.data.to_owned(),
                e.id.map(str::to_owned),
            ));
            Ok(())
        })?;
        for (event, data, id) in events {
            self.sse_event(slot, &event, &data, id.as_deref());
        }
        Ok(())
    }

    fn sse_event(&mut self, slot: usize, event: &str, data: &str, id: Option<&str>) {
        let conn = self.slots[slot].as_mut().unwrap();
        let serial = conn.serial;
        let idn = id.and_then(|s| s.parse::<u64>().ok());
        match conn.kind {
            Kind::Events => {
                if event == "snapshot" {
                    self.c.snapshots += 1;
                    if conn.resume.is_none() || conn.last.is_some() {
                        self.c.fail(
                            "sequence",
                            format!("events #{serial}: a snapshot it did not need"),
                        );
                    }
                    conn.after_snapshot = true;
                    return;
                }
                let (Some(seq), Some(idn)) = (parse_seq(data.as_bytes(), b'b'), idn) else {
                    self.c.fail(
                        "events",
                        format!("events #{serial}: event {event:?} id {id:?} is no publish"),
                    );
                    return;
                };
                bcast_payload(&mut self.expect, seq);
                if data.as_bytes() != &self.expect[..] || event != "message" {
                    self.c.fail(
                        "events",
                        format!("events #{serial}: publish #{seq} altered"),
                    );
                }
                let off = idn.wrapping_sub(seq);
                match self.id_offset {
                    None => self.id_offset = Some(off),
                    Some(o) if o != off => self.c.fail(
                        "events",
                        format!("events #{serial}: id {idn} for publish #{seq} (ids skipped or repeated)"),
                    ),
                    Some(_) => {}
                }
                self.sequence(slot, seq, Some(idn));
                self.c.sse_ok += 1;
            }
            Kind::Ticks => {
                let Some(n) =
                    idn.filter(|n| event == "tick" && data.starts_with(&format!("tick {n}\n")))
                else {
                    self.c.fail(
                        "ticks",
                        format!("sse #{serial}: bad tick {event:?} id {id:?} data {data:?}"),
                    );
                    return;
                };
                let want = conn.last.map_or(conn.resume.unwrap_or(0) + 1, |l| l + 1);
                if n != want {
                    self.c.fail(
                        "sequence",
                        format!("sse #{serial}: tick {n}, expected {want}"),
                    );
                } else if conn.last.is_none() && conn.resume.is_some() {
                    self.c.resumed_ok += 1;
                }
                conn.last = Some(n);
                conn.last_id = Some(n);
                self.c.ticks_ok += 1;
            }
            _ => unreachable!(),
        }
    }

    fn ws_send(conn: &mut Conn, op: u8, payload: &[u8], scratch: &mut Vec<u8>) {
        match conn.codec.as_mut() {
            Some(codec) if payload.len() >= 64 => {
                scratch.clear();
                codec.compress(payload, scratch);
                ws::put_header_rsv(&mut conn.out, op, true, scratch.len());
                conn.out.extend_from_slice(scratch);
            }
            _ => {
                ws::put_header(&mut conn.out, op, payload.len());
                conn.out.extend_from_slice(payload);
            }
        }
    }

    /// Every echo connection in bucket `b` sends its next message.
    fn echo_bucket(&mut self, b: usize, buckets: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut failed = Vec::new();
        let mut i = b;
        while i < self.slots.len() {
            if let Some(conn) = self.slots[i].as_mut() {
                if conn.kind == Kind::Echo
                    && conn.phase == Phase::Open
                    && conn.outstanding.len() < self.args.echo_window
                {
                    let seq = conn.next_seq;
                    conn.next_seq += 1;
                    echo_payload(&mut self.expect, conn.serial, seq);
                    let op = if seq % 2 == 0 { ws::TEXT } else { ws::BINARY };
                    Self::ws_send(conn, op, &self.expect, &mut scratch);
                    conn.outstanding.push_back(seq);
                    self.c.echo_sent += 1;
                    if let Err(e) = Self::flush(conn) {
                        failed.push((i, e));
                    }
                }
            }
            i += buckets;
        }
        self.scratch = scratch;
        for (i, e) in failed {
            self.finish(i, End::Failed(format!("write: {e}")));
        }
    }

    fn publish(&mut self) {
        let Some(slot) = self.publisher else { return };
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        if conn.phase != Phase::Open {
            return;
        }
        self.pub_seq += 1;
        bcast_payload(&mut self.expect, self.pub_seq);
        let mut scratch = std::mem::take(&mut self.scratch);
        Self::ws_send(conn, ws::TEXT, &self.expect, &mut scratch);
        self.scratch = scratch;
        self.c.published += 1;
        if let Err(e) = Self::flush(conn) {
            self.finish(slot, End::Failed(format!("write: {e}")));
        }
    }

    /// Ends `count` random connections that are up and opens as many.
    fn churn(&mut self, count: usize) {
        let mut done = 0;
        let mut tries = 0;
        while done < count && tries < count * 20 && !self.slots.is_empty() {
            tries += 1;
            let slot = (self.rand() % self.slots.len() as u64) as usize;
            let mode = self.rand() % 3;
            let Some(conn) = self.slots[slot].as_mut() else {
                continue;
            };
            if conn.phase != Phase::Open || conn.kind == Kind::Publisher {
                continue;
            }
            done += 1;
            let mut want = Want {
                kind: conn.kind,
                deflate: conn.deflate,
                resume: None,
            };
            match mode {
                0 => {
                    self.c.churn_clean += 1;
                    if conn.kind.is_ws() {
                        ws::put_header(&mut conn.out, ws::CLOSE, 2);
                        conn.out.extend_from_slice(&1000u16.to_be_bytes());
                        let r = Self::flush(conn);
                        conn.phase = Phase::Closing;
                        conn.since = Instant::now();
                        if let Err(e) = r {
                            self.finish(slot, End::Failed(format!("write close: {e}")));
                        }
                    } else {
                        want.resume = conn.last_id;
                        let r = conn.sock.shutdown(Shutdown::Write);
                        conn.phase = Phase::Closing;
                        conn.since = Instant::now();
                        if let Err(e) = r {
                            self.finish(slot, End::Failed(format!("shutdown: {e}")));
                        }
                    }
                }
                1 => {
                    self.c.churn_reset += 1;
                    want.resume = conn.last_id;
                    set_linger_zero(&conn.sock);
                    self.slots[slot] = None;
                    self.free.push(slot);
                }
                _ => {
                    self.c.churn_halfopen += 1;
                    conn.phase = Phase::HalfOpen;
                    conn.since = Instant::now();
                    // Nothing more is read or written; what the socket
                    // holds stays there.
                    conn.out = Vec::new();
                    conn.inbuf = Vec::new();
                    conn.outstanding = VecDeque::new();
                    conn.frag = Vec::new();
                    conn.codec = None;
                    conn.sse = None;
                }
            }
            self.queue.push_back(want);
        }
    }

    /// A half-open connection: has the server ended it?
    fn check_halfopen(&mut self, slot: usize) {
        let Some(conn) = self.slots[slot].as_ref() else {
            return;
        };
        let state = tcp_state(&conn.sock);
        if matches!(state, Some(TCP_CLOSE_WAIT) | Some(TCP_CLOSE) | None) {
            let held = conn.since.elapsed();
            if conn.kind.is_ws() {
                self.c.halfopen_ended += 1;
                self.c.halfopen_max_ms = self.c.halfopen_max_ms.max(held.as_millis() as u64);
            } else {
                self.c.halfopen_sse_ended += 1;
            }
            set_linger_zero(&conn.sock);
            self.slots[slot] = None;
            self.free.push(slot);
        }
    }

    /// Once a second: timeouts, half-open connections, the counts.
    fn scan(&mut self) -> [usize; 8] {
        let now = Instant::now();
        let idle = Duration::from_millis(self.args.idle_timeout_ms);
        let ws_limit = idle + (idle / 2).max(Duration::from_secs(5));
        let sse_limit = Duration::from_secs_f64(self.args.sse_halfopen_secs);
        // up by kind (echo, sub, events, ticks), closing, half-open WS,
        // half-open SSE, handshakes
        let mut counts = [0usize; 8];
        for slot in 0..self.slots.len() {
            let Some(conn) = self.slots[slot].as_ref() else {
                continue;
            };
            let age = now - conn.since;
            match conn.phase {
                Phase::Handshake => {
                    counts[7] += 1;
                    if age > HANDSHAKE_LIMIT {
                        // Request bytes the server's kernel never
                        // acknowledged: it dropped them (a full accept
                        // queue on a saturated machine; the retries back
                        // off). Counted, not failed. Acknowledged and not
                        // answered: the server holds the request, a failure.
                        let info = tcp_info(&conn.sock);
                        let unacked = info.map_or(0, |i| i.tcpi_unacked);
                        if unacked > 0 || conn.out_pos < conn.out.len() {
                            let retrans = info.map_or(0, |i| i.tcpi_total_retrans);
                            self.c.handshake_dropped += 1;
                            let (kind, serial) = (conn.kind, conn.serial);
                            if self.c.handshake_dropped <= 5 {
                                eprintln!(
                                    "soak: {kind:?} conn #{serial}: request not acknowledged by the server's kernel in 15 s \
                                     ({unacked} segments unacknowledged, {retrans} retransmissions): counted, retried"
                                );
                            }
                            let conn = self.slots[slot].take().unwrap();
                            self.free.push(slot);
                            self.pending -= 1;
                            set_linger_zero(&conn.sock);
                            if self.stage != Stage::Drain {
                                self.queue.push_back(Want {
                                    kind: conn.kind,
                                    deflate: conn.deflate,
                                    resume: None,
                                });
                            }
                        } else {
                            self.finish(
                                slot,
                                End::Failed(
                                    "request acknowledged by the server's kernel, no answer in 15 s".into(),
                                ),
                            );
                        }
                    }
                }
                Phase::Open => match conn.kind {
                    Kind::Echo => counts[0] += 1,
                    Kind::Sub => counts[1] += 1,
                    Kind::Events => counts[2] += 1,
                    Kind::Ticks => counts[3] += 1,
                    Kind::Publisher => {}
                },
                Phase::Closing => {
                    counts[4] += 1;
                    if age > CLOSE_LIMIT {
                        self.finish(slot, End::Failed("close not completed in 15 s".into()));
                    }
                }
                Phase::HalfOpen => {
                    self.check_halfopen(slot);
                    let Some(conn) = self.slots[slot].as_ref() else {
                        continue;
                    };
                    if conn.kind.is_ws() {
                        counts[5] += 1;
                        if self.args.idle_timeout_ms > 0 && age > ws_limit {
                            let msg = format!(
                                "half-open {:?} conn #{} not ended by the server after {:.1} s (idle timeout {} ms)",
                                conn.kind,
                                conn.serial,
                                age.as_secs_f64(),
                                self.args.idle_timeout_ms
                            );
                            self.c.fail("halfopen", msg);
                            set_linger_zero(&conn.sock);
                            self.slots[slot] = None;
                            self.free.push(slot);
                        }
                    } else {
                        counts[6] += 1;
                        if age > sse_limit {
                            // An event stream has nothing to time out:
                            // the client gives up on it (a reset).
                            self.c.halfopen_sse_abandoned += 1;
                            set_linger_zero(&conn.sock);
                            self.slots[slot] = None;
                            self.free.push(slot);
                        }
                    }
                }
            }
        }
        counts
    }

    /// After the last send: what is still missing on connections that are
    /// up (echoes not back, publishes not seen).
    fn missing(&self) -> (u64, u64) {
        let (mut echoes, mut publishes) = (0, 0);
        for conn in self.slots.iter().flatten() {
            if conn.phase != Phase::Open {
                continue;
            }
            match conn.kind {
                Kind::Echo => echoes += conn.outstanding.len() as u64,
                Kind::Sub | Kind::Publisher | Kind::Events => {
                    let seen = match (conn.last, conn.resume, self.id_offset) {
                        (Some(l), _, _) => l,
                        (None, _, _) if conn.after_snapshot => continue,
                        (None, Some(r), Some(off)) if conn.kind == Kind::Events => {
                            r.wrapping_sub(off)
                        }
                        (None, _, _) => conn.join_bound.min(self.pub_seq),
                    };
                    publishes += self.pub_seq.saturating_sub(seen);
                }
                Kind::Ticks => {}
            }
        }
        (echoes, publishes)
    }

    fn stats_line(&self, counts: &[usize; 8], final_: bool) -> String {
        let stage = match self.stage {
            Stage::Ramp => "ramp",
            Stage::Steady => "steady",
            Stage::Drain => "drain",
        };
        format!(
            "{{\"t\":{:.3},\"stage\":\"{stage}\",\"final\":{final_},\"up_echo\":{},\"up_sub\":{},\"up_events\":{},\"up_ticks\":{},\
             \"closing\":{},\"halfopen_ws\":{},\"halfopen_sse\":{},\"handshaking\":{},\"queued\":{},\"pub_seq\":{},{}}}",
            self.start.elapsed().as_secs_f64(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4],
            counts[5],
            counts[6],
            counts[7],
            self.queue.len(),
            self.pub_seq,
            self.c.json_fields()
        )
    }

    fn run(&mut self) -> io::Result<bool> {
        let mut events = Events::with_capacity(4096);
        // The mix, interleaved: `mix` parts of each kind in every round.
        let mix = self.args.mix;
        let round: Vec<Kind> = [Kind::Echo, Kind::Sub, Kind::Events, Kind::Ticks]
            .iter()
            .zip(mix)
            .flat_map(|(k, n)| std::iter::repeat_n(*k, n as usize))
            .collect();
        self.queue.push_back(Want {
            kind: Kind::Publisher,
            deflate: false,
            resume: None,
        });
        let mut ws_seen = 0u64;
        for i in 0..self.args.conns {
            let kind = round[i % round.len()];
            let deflate = kind.is_ws() && {
                ws_seen += 1;
                // Spread evenly: the share of WebSockets that offer it.
                ((ws_seen as f64) * self.args.deflate_share).floor()
                    > (((ws_seen - 1) as f64) * self.args.deflate_share).floor()
            };
            self.queue.push_back(Want {
                kind,
                deflate,
                resume: None,
            });
        }
        let buckets = ((self.args.echo_interval_ms as u128 / TICK.as_millis()) as usize).max(1);
        let run_for = Duration::from_secs_f64(self.args.secs);
        let pub_every = Duration::from_secs_f64(1.0 / self.args.pub_rate.max(0.001));
        let churn_per_sec = (self.args.conns as f64 * self.args.churn).round() as usize;
        let mut next_tick = self.start + TICK;
        let mut tick_no = 0usize;
        let mut next_pub = self.start;
        let mut next_second = self.start + Duration::from_secs(1);
        let mut drain_started: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let timeout = next_tick.saturating_duration_since(now).min(TICK);
            self.poll.poll(&mut events, Some(timeout))?;
            for ev in events.iter() {
                self.on_event(ev.token().0, ev);
            }
            // At most the queue's length per turn: a connect that fails
            // at once goes back to the end of the queue.
            let mut budget = self.queue.len();
            while self.pending < self.args.max_pending && budget > 0 {
                budget -= 1;
                let Some(w) = self.queue.pop_front() else {
                    break;
                };
                self.open(w);
            }
            let now = Instant::now();
            if self.stage == Stage::Ramp && self.initial_opened > self.args.conns {
                self.stage = Stage::Steady;
                eprintln!(
                    "soak: {} connections up after {:.1} s",
                    self.args.conns + 1,
                    self.start.elapsed().as_secs_f64()
                );
            }
            if self.stage != Stage::Drain && now - self.start >= run_for {
                self.stage = Stage::Drain;
                drain_started = Some(now);
                self.queue.clear();
            }
            if self.stage != Stage::Drain {
                while now >= next_pub {
                    self.publish();
                    next_pub += pub_every;
                    if now > next_pub + Duration::from_secs(1) {
                        next_pub = now; // fell behind: don't burst
                    }
                }
            }
            if now >= next_tick {
                if self.stage != Stage::Drain {
                    self.echo_bucket(tick_no % buckets, buckets);
                }
                tick_no += 1;
                next_tick += TICK;
                if now > next_tick + Duration::from_secs(1) {
                    next_tick = now + TICK;
                }
            }
            if now >= next_second {
                next_second += Duration::from_secs(1);
                if self.stage == Stage::Steady {
                    self.churn(churn_per_sec);
                }
                let counts = self.scan();
                println!("{}", self.stats_line(&counts, false));
            }
            if let Some(t) = drain_started {
                let (echoes, publishes) = self.missing();
                let waited = now - t;
                if (echoes == 0 && publishes == 0 && waited >= Duration::from_millis(500))
                    || waited >= Duration::from_secs_f64(self.args.drain_secs)
                {
                    self.c.lost_echoes = echoes;
                    self.c.lost_publishes = publishes;
                    if echoes > 0 {
                        self.c
                            .fail("lost", format!("{echoes} echoes never came back"));
                    }
                    if publishes > 0 {
                        self.c.fail(
                            "lost",
                            format!("{publishes} publishes never reached their subscribers"),
                        );
                    }
                    break;
                }
            }
        }
        if self.c.opened < self.args.conns as u64 {
            self.c.fail(
                "ramp",
                format!("only {} connections ever opened", self.c.opened),
            );
        }
        if self.stage == Stage::Drain && self.initial_opened < self.args.conns + 1 {
            self.c.fail(
                "ramp",
                format!(
                    "the ramp never completed ({} of {})",
                    self.initial_opened,
                    self.args.conns + 1
                ),
            );
        }
        let counts = self.scan();
        println!("{}", self.stats_line(&counts, true));
        let _ = io::stdout().flush();
        Ok(self.c.failures == 0)
    }
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e == "help" => {
            println!("{}", args::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("soak: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    // Up connections, half-open ones held for up to the idle timeout (or
    // the SSE give-up time), closing ones, and some spare.
    let churn = args.conns as f64 * args.churn;
    let hold = (args.idle_timeout_ms as f64 / 1000.0 * 1.5).max(args.sse_halfopen_secs) + 5.0;
    let want = (args.conns as f64 + churn * hold + churn * 2.0 + 4096.0) as u64;
    let got = raise_nofile(want);
    if got < args.conns as u64 + 64 {
        eprintln!(
            "soak: the descriptor limit is {got}, too low for {} connections",
            args.conns
        );
        std::process::exit(2);
    }
    if got < want {
        eprintln!("soak: warning: descriptor limit {got} < {want} wanted");
    }
    let mut client = match Client::new(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    match client.run() {
        Ok(true) => {}
        Ok(false) => {
            for e in &client.c.first_errors {
                eprintln!("soak: FAIL {e}");
            }
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    }
}
