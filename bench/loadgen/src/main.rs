//! wsrt benchmark load generator. One single-threaded mio loop drives all
//! client connections (the runner pins it to its own core); every echo and
//! event is verified, not just counted. Modes:
//!
//! ```text
//! loadgen echo      --conns C --inflight P --size S --secs T
//! loadgen latency   --conns C --rate R --size S --secs T
//! loadgen broadcast --conns N --rate R --size S --secs T   (path /broadcast)
//!                   [--sub-addr HOST:PORT] [--cpu-pid PID ...]
//! loadgen idle      --conns N --secs HOLD [--idle-send K]    (needs --server-pid for memory)
//! loadgen sse       --conns N --secs T [--interval-ms MS]   (path /sse)
//! loadgen handshake --conns C --size S --secs T   (C at a time: connect,
//!                   handshake, one echo of S bytes, reset, again)
//! loadgen sio-ack   --conns C --inflight P --size S --secs T      (Socket.IO,
//! loadgen sio-room  --conns N [--publishers P] [--window W] [--rate R]
//!                   --size S --secs T                 path /socket.io/?EIO=4
//! loadgen sio-idle  --conns N --secs HOLD             &transport=websocket)
//!           sio-*: [--room NAME] [--expect-pings K]  (see sio_modes.rs)
//! common: --addr 127.0.0.1:9001 --path P --warmup W --server-pid PID --label NAME
//!         --tls CA.pem [--tls-version 1.3|1.2] [--tls-cipher aes256|aes128|chacha20]
//!         [--sni localhost]   (see tls.rs)
//! echo, latency, idle: --payload binary|json --deflate off|takeover|no-takeover
//!                      --deflate-level 0-9
//! ```
//!
//! `--payload json`: text messages of exactly `--size` bytes (at least
//! 512), chat and dashboard objects whose content changes every message
//! (see `payload.rs`), each checked byte for byte against a copy of what
//! was sent. `--deflate`: offer permessage-deflate (RFC 7692), with
//! context takeover or without; the run fails if the server declines.
//! Messages go out compressed (RSV1) at `--deflate-level`; replies are
//! inflated as the negotiated parameters say, then verified. Bytes on the
//! wire each way per message are reported for every echo run.
//! `idle --idle-send K`: after the idle connections are open and the
//! server's memory is read, every connection sends K messages (and checks
//! their echoes) before the hold, so memory per used connection shows.
//! `broadcast --sub-addr`: the subscribers connect there, the publisher
//! to `--addr` (two servers of a cluster); `--cpu-pid` (repeatable): more
//! processes of the system under test (the other server, Redis) whose CPU
//! over the measured window is reported beside the `--server-pid`'s and
//! summed with it (`total_cpu_s`, deliveries per total CPU-second).
//!
//! Prints one JSON line on stdout and one line for people on stderr; exits
//! 1 if any connection failed or any echo or event did not verify.
mod deflate;
mod net;
mod payload;
mod sio;
mod sio_modes;
mod sock;
mod sse;
mod stats;
mod tls;
mod ws;

use net::{Handler, Net};
use stats::{Json, Samples};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Opts {
    mode: String,
    addr: SocketAddr,
    /// Broadcast: the subscribers' server, if not `addr`.
    sub_addr: Option<SocketAddr>,
    path: Option<String>,
    conns: usize,
    inflight: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    rate: f64,
    interval_ms: f64,
    server_pid: Option<u32>,
    /// More processes whose CPU the measured window reads (broadcast).
    cpu_pids: Vec<u32>,
    label: String,
    max_pending: usize,
    json: bool,
    deflate: deflate::Offer,
    level: u32,
    idle_send: usize,
    publishers: usize,
    window: usize,
    room: String,
    expect_pings: u32,
    tls_ca: Option<String>,
    tls_version: String,
    tls_cipher: String,
    sni: String,
}

const USAGE: &str = "usage: loadgen echo|latency|broadcast|idle|sse|sio-ack|sio-room|sio-idle \
[--addr HOST:PORT] [--path P] \
[--conns N] [--inflight P] [--size BYTES] [--secs T] [--warmup W] [--rate MSGS_PER_S] \
[--interval-ms MS] [--server-pid PID] [--sub-addr HOST:PORT] [--cpu-pid PID] [--label NAME] [--max-pending N] [--payload binary|json] \
[--deflate off|takeover|no-takeover] [--deflate-level 0-9] [--idle-send K] \
[--publishers P] [--window W] [--room NAME] [--expect-pings K] \
[--tls CA.pem] [--tls-version 1.2|1.3] [--tls-cipher aes256|aes128|chacha20] [--sni NAME]";

const MODES: &[&str] = &[
    "echo",
    "latency",
    "broadcast",
    "idle",
    "sse",
    "sio-ack",
    "sio-room",
    "sio-idle",
    "handshake",
];

fn parse_opts() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode")?;
    if !MODES.contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut o = Opts {
        mode,
        addr: "127.0.0.1:9001".parse().unwrap(),
        sub_addr: None,
        path: None,
        conns: 64,
        inflight: 16,
        size: 32,
        secs: 5.0,
        warmup: 1.0,
        rate: 10_000.0,
        interval_ms: 0.0,
        server_pid: None,
        cpu_pids: Vec::new(),
        label: String::new(),
        max_pending: 100,
        json: false,
        deflate: deflate::Offer::Off,
        level: 6,
        idle_send: 0,
        publishers: 1,
        window: 8,
        room: "bench".into(),
        expect_pings: 0,
        tls_ca: None,
        tls_version: "1.3".into(),
        tls_cipher: "aes256".into(),
        sni: "localhost".into(),
    };
    let mut rate_given = false;
    while let Some(k) = args.next() {
        let v = args.next().ok_or(format!("{k} needs a value"))?;
        let bad = || format!("bad value for {k}: {v:?}");
        match k.as_str() {
            "--addr" => o.addr = v.parse().map_err(|_| format!("bad address {v:?}"))?,
            "--path" => o.path = Some(v),
            "--conns" => o.conns = v.parse().map_err(|_| bad())?,
            "--inflight" => o.inflight = v.parse().map_err(|_| bad())?,
            "--size" => o.size = v.parse().map_err(|_| bad())?,
            "--secs" => o.secs = v.parse().map_err(|_| bad())?,
            "--warmup" => o.warmup = v.parse().map_err(|_| bad())?,
            "--rate" => {
                o.rate = v.parse().map_err(|_| bad())?;
                rate_given = true;
            }
            "--interval-ms" => o.interval_ms = v.parse().map_err(|_| bad())?,
            "--server-pid" => o.server_pid = Some(v.parse().map_err(|_| bad())?),
            "--sub-addr" => o.sub_addr = Some(v.parse().map_err(|_| format!("bad address {v:?}"))?),
            "--cpu-pid" => o.cpu_pids.push(v.parse().map_err(|_| bad())?),
            "--label" => o.label = v,
            "--max-pending" => o.max_pending = v.parse().map_err(|_| bad())?,
            "--payload" => {
                o.json = match v.as_str() {
                    "json" => true,
                    "binary" => false,
                    _ => return Err(bad()),
                }
            }
            "--deflate" => o.deflate = deflate::Offer::parse(&v).ok_or_else(bad)?,
            "--deflate-level" => {
                o.level = v.parse().ok().filter(|l| *l <= 9).ok_or_else(bad)?;
            }
            "--idle-send" => o.idle_send = v.parse().map_err(|_| bad())?,
            "--publishers" => o.publishers = v.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?,
            "--window" => o.window = v.parse().ok().filter(|w| *w > 0).ok_or_else(bad)?,
            "--room" => {
                // Written into JSON strings as is.
                if v.is_empty() || v.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
                    return Err(bad());
                }
                o.room = v;
            }
            "--expect-pings" => o.expect_pings = v.parse().map_err(|_| bad())?,
            "--tls" => o.tls_ca = Some(v),
            "--tls-version" => {
                o.tls_version = match v.as_str() {
                    "1.2" | "1.3" => v,
                    _ => return Err(bad()),
                }
            }
            "--sni" => o.sni = v,
            "--tls-cipher" => o.tls_cipher = v,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if o.conns == 0 || o.secs <= 0.0 || o.warmup < 0.0 {
        return Err("--conns and --secs must be positive".into());
    }
    if o.json && o.size < payload::MIN_JSON {
        return Err(format!(
            "--payload json needs --size {} or more",
            payload::MIN_JSON
        ));
    }
    if (o.json || o.deflate != deflate::Offer::Off)
        && !matches!(o.mode.as_str(), "echo" | "latency" | "idle")
    {
        return Err("--payload and --deflate apply to echo, latency and idle".into());
    }
    if (o.sub_addr.is_some() || !o.cpu_pids.is_empty()) && o.mode != "broadcast" {
        return Err("--sub-addr and --cpu-pid apply to broadcast".into());
    }
    if o.mode == "handshake" && o.size < 8 {
        o.size = 8; // the connection's serial number
    }
    if o.mode == "broadcast" && o.size < 16 {
        o.size = 16; // sequence number and send time
    }
    // The payload's prefix: socket and ack id; publisher, sequence number
    // and send time (hex).
    if o.mode == "sio-ack" && o.size < 16 {
        o.size = 16;
    }
    if o.mode == "sio-room" {
        o.size = o.size.max(32);
        if !rate_given {
            o.rate = 0.0; // no cap: as fast as the server delivers
        }
        if o.rate < 0.0 {
            return Err("--rate must not be negative".into());
        }
    }
    if matches!(o.mode.as_str(), "latency" | "broadcast") && o.rate <= 0.0 {
        return Err("--rate must be positive".into());
    }
    Ok(o)
}

/// CPU of the server and of the generator over a measured window.
struct Window {
    t0: Instant,
    server0: Option<f64>,
    sys0: Option<f64>,
    faults0: Option<u64>,
    gen0: f64,
    cores0: Vec<(u64, u64)>,
    /// The `--cpu-pid` processes and their CPU at the start.
    others0: Vec<(u32, Option<f64>)>,
}

struct Measured {
    secs: f64,
    server_cpu: Option<f64>,
    /// The part of `server_cpu` spent in the kernel.
    server_sys: Option<f64>,
    /// The server's page faults over the window.
    server_faults: Option<u64>,
    gen_cpu: f64,
    /// Busy share of each core over the window (everything on it: the
    /// kernel's softirq network work, other processes, not only ours).
    core_busy: Vec<f64>,
    /// CPU of each `--cpu-pid` process over the window.
    others: Vec<(u32, Option<f64>)>,
}

impl Window {
    fn start(pid: Option<u32>) -> Window {
        Window {
            t0: Instant::now(),
            server0: pid.and_then(stats::proc_cpu),
            sys0: pid.and_then(stats::proc_sys_cpu),
            faults0: pid.and_then(stats::proc_faults),
            gen0: stats::self_cpu(),
            cores0: stats::core_times(),
            others0: Vec::new(),
        }
    }
    /// Reads the CPU of these processes too.
    fn also(mut self, pids: &[u32]) -> Window {
        self.others0 = pids.iter().map(|&p| (p, stats::proc_cpu(p))).collect();
        self
    }
    fn end(&self, pid: Option<u32>) -> Measured {
        let server1 = pid.and_then(stats::proc_cpu);
        Measured {
            secs: self.t0.elapsed().as_secs_f64(),
            server_cpu: self.server0.zip(server1).map(|(a, b)| b - a),
            server_sys: self
                .sys0
                .zip(pid.and_then(stats::proc_sys_cpu))
                .map(|(a, b)| b - a),
            server_faults: self
                .faults0
                .zip(pid.and_then(stats::proc_faults))
                .map(|(a, b)| b - a),
            gen_cpu: stats::self_cpu() - self.gen0,
            core_busy: stats::core_times()
                .iter()
                .zip(&self.cores0)
                .map(|((b1, t1), (b0, t0))| (b1 - b0) as f64 / (t1 - t0).max(1) as f64)
                .collect(),
            others: self
                .others0
                .iter()
                .map(|&(p, c0)| (p, c0.zip(stats::proc_cpu(p)).map(|(a, b)| b - a)))
                .collect(),
        }
    }
}

/// A poll timeout: until `until`, at most 20 ms (timed sends wake the loop
/// through `Net::wake_at`).
fn timeout_until(until: Instant, now: Instant) -> Duration {
    until
        .saturating_duration_since(now)
        .clamp(Duration::from_micros(100), Duration::from_millis(20))
}

/// Opens every connection (all handshakes done) or fails.
fn connect_all(net: &mut Net, h: &mut impl Handler, limit: Duration) -> Result<f64, String> {
    let t0 = Instant::now();
    while !net.all_open() {
        net.turn(h, Duration::from_millis(20))
            .map_err(|e| format!("connect: {e}"))?;
        if let Some(e) = &net.first_error {
            return Err(e.clone());
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "only {} of {} connections open after {limit:?}",
                net.open,
                net.conns.len()
            ));
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

fn run_until(net: &mut Net, h: &mut impl Handler, until: Instant) -> Result<(), String> {
    loop {
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        net.turn(h, timeout_until(until, now))
            .map_err(|e| format!("poll: {e}"))?;
    }
}

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

// ---------------------------------------------------------------- echo, latency

struct EchoConn {
    reader: ws::Reader,
    sent: u64,
    recv: u64,
    /// Scheduled send times of the messages in flight (latency mode).
    sched: VecDeque<Instant>,
    /// JSON payloads in flight, to check their echoes against.
    pending: VecDeque<Vec<u8>>,
    /// permessage-deflate was agreed on this connection.
    deflate: bool,
    /// Its own contexts (unless one codec serves every connection).
    codec: Option<deflate::Codec>,
}

/// What goes into messages, and the compression of outgoing ones.
struct Gen {
    size: usize,
    json: bool,
    pattern: Vec<u8>,
    rng: payload::Rng,
    /// Spare payload buffers (JSON mode), so a message costs no allocation.
    free: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    level: u32,
    /// One codec, reset after every message, for every connection: the
    /// idle scenario, where each connection sends a message or two only
    /// and 10,000 sets of zlib contexts would swamp the generator.
    shared: Option<deflate::Codec>,
    share_codec: bool,
    base: Instant,
    sent_total: u64,
    compressed_out: u64,
    compressed_in: u64,
}

impl Gen {
    /// Queues the next message of `c` (connection `id`) into `out`. A
    /// binary message carries its per-connection sequence number in its
    /// first 8 bytes (little-endian) and a fixed pattern after; a JSON
    /// message is fresh content of exactly `size` bytes, kept until its
    /// echo is back.
    fn put(&mut self, id: usize, c: &mut EchoConn, out: &mut Vec<u8>) {
        let (op, msg): (u8, &[u8]) = if self.json {
            let mut buf = self.free.pop().unwrap_or_default();
            let ts = self.base.elapsed().as_millis() as u64 + 1_764_000_000_000;
            payload::json(&mut self.rng, id, c.sent, ts, self.size, &mut buf);
            c.pending.push_back(buf);
            (ws::TEXT, c.pending.back().unwrap())
        } else {
            self.scratch.clear();
            if self.size >= 8 {
                self.scratch.extend_from_slice(&c.sent.to_le_bytes());
                self.scratch.extend_from_slice(&self.pattern[8..]);
            } else {
                self.scratch.extend_from_slice(&self.pattern);
            }
            (ws::BINARY, &self.scratch)
        };
        let codec = if !c.deflate {
            None
        } else if self.share_codec {
            self.shared.as_mut()
        } else {
            c.codec.as_mut()
        };
        match codec {
            Some(z) => {
                // Compressed aside first: the header needs its length.
                let mut body = self.free.pop().unwrap_or_default();
                body.clear();
                z.compress(msg, &mut body);
                ws::put_header_rsv(out, op, true, body.len());
                out.extend_from_slice(&body);
                self.free.push(body);
                self.compressed_out += 1;
            }
            None => {
                ws::put_header(out, op, msg.len());
                out.extend_from_slice(msg);
            }
        }
        c.sent += 1;
        self.sent_total += 1;
    }
}

/// Both echo scenarios: closed loop (`refill`: each echo sends the next
/// message) or open loop at a fixed rate (latency, sends come from a timer);
/// and the idle scenario (nothing sent but what it asks for).
struct Echo {
    gen: Gen,
    inflight: usize,
    refill: bool,
    offer: deflate::Offer,
    /// The server's first permessage-deflate answer, as it wrote it.
    negotiated: Option<String>,
    conns: Vec<EchoConn>,
    inflated: Vec<u8>,
    received: u64,
    measure_from: Option<Instant>,
    latency: Samples,
}

impl Echo {
    fn new(o: &Opts, n: usize, refill: bool) -> Echo {
        Echo {
            gen: Gen {
                size: o.size,
                json: o.json,
                pattern: pattern(o.size),
                rng: payload::Rng::new(0x5eed),
                free: Vec::new(),
                scratch: Vec::new(),
                level: o.level,
                shared: None,
                share_codec: o.mode == "idle",
                base: Instant::now(),
                sent_total: 0,
                compressed_out: 0,
                compressed_in: 0,
            },
            inflight: o.inflight,
            refill,
            offer: o.deflate,
            negotiated: None,
            conns: (0..n)
                .map(|_| EchoConn {
                    reader: ws::Reader::default(),
                    sent: 0,
                    recv: 0,
                    sched: VecDeque::new(),
                    pending: VecDeque::new(),
                    deflate: false,
                    codec: None,
                })
                .collect(),
            inflated: Vec::new(),
            received: 0,
            measure_from: None,
            latency: Samples::default(),
        }
    }
}

/// The value of a response header, if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

impl Handler for Echo {
    fn on_open(
        &mut self,
        id: usize,
        head: &str,
        out: &mut Vec<u8>,
        _: Instant,
    ) -> Result<(), String> {
        ws::check_upgrade(head)?;
        let params = deflate::parse_response(head, self.offer)?;
        if self.offer != deflate::Offer::Off {
            let Some(p) = params else {
                return Err("the server declined permessage-deflate".into());
            };
            if self.negotiated.is_none() {
                self.negotiated = header(head, "sec-websocket-extensions").map(str::to_owned);
            }
            let c = &mut self.conns[id];
            c.deflate = true;
            if self.gen.share_codec {
                let shared = self
                    .gen
                    .shared
                    .get_or_insert_with(|| deflate::Codec::new(p, self.gen.level));
                // Messages compressed for one connection go to others too:
                // only the window sizes must suit all of them.
                shared.always_reset = true;
                shared.params.client_max_window_bits = shared
                    .params
                    .client_max_window_bits
                    .min(p.client_max_window_bits);
                shared.params.server_max_window_bits = shared
                    .params
                    .server_max_window_bits
                    .max(p.server_max_window_bits);
            } else {
                c.codec = Some(deflate::Codec::new(p, self.gen.level));
            }
        }
        if self.refill {
            for _ in 0..self.inflight {
                self.gen.put(id, &mut self.conns[id], out);
            }
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<usize, String> {
        let refill = self.refill;
        let gen = &mut self.gen;
        let c = &mut self.conns[id];
        let (received, latency, from) = (&mut self.received, &mut self.latency, self.measure_from);
        let inflated = &mut self.inflated;
        let mut reader = std::mem::take(&mut c.reader);
        let r = reader.feed_rsv(data, out, |op, rsv1, p, out| {
            let msg: &[u8] = if rsv1 {
                let z = if !c.deflate {
                    None
                } else if gen.share_codec {
                    gen.shared.as_mut()
                } else {
                    c.codec.as_mut()
                };
                let z = z.ok_or("RSV1 set without permessage-deflate")?;
                z.inflate(p, inflated, gen.size + 1)?;
                gen.compressed_in += 1;
                inflated
            } else {
                p
            };
            let (want_op, size) = (if gen.json { ws::TEXT } else { ws::BINARY }, gen.size);
            if op != want_op || msg.len() != size {
                return Err(format!(
                    "echo of opcode {op}, {} bytes; sent opcode {want_op}, {size} bytes",
                    msg.len()
                ));
            }
            let ok = if c.recv >= c.sent {
                false
            } else if gen.json {
                let sent = c.pending.pop_front().unwrap_or_default();
                let same = sent == msg;
                gen.free.push(sent);
                same
            } else if size >= 8 {
                msg[..8] == c.recv.to_le_bytes() && msg[8..] == gen.pattern[8..]
            } else {
                msg == &gen.pattern[..]
            };
            if !ok {
                return Err(format!("echo {} does not match what was sent", c.recv));
            }
            c.recv += 1;
            *received += 1;
            if let Some(t) = c.sched.pop_front() {
                if from.is_some_and(|f| t >= f) {
                    latency.push(now - t);
                }
            }
            if refill {
                gen.put(id, c, out);
            }
            Ok(())
        });
        c.reader = reader;
        r
    }
}

/// Bytes on the wire per message each way, and what was compressed.
fn put_wire(j: &mut Json, h: &Echo, out_bytes: u64, in_bytes: u64, sent: u64, recv: u64) -> String {
    let per = |b: u64, n: u64| if n == 0 { 0.0 } else { b as f64 / n as f64 };
    let (o, i) = (per(out_bytes, sent), per(in_bytes, recv));
    j.str("payload", if h.gen.json { "json" } else { "binary" })
        .str("deflate", h.offer.name())
        .str("negotiated", h.negotiated.as_deref().unwrap_or(""));
    j.num("wire_out_per_msg", (o * 10.0).round() / 10.0)
        .num("wire_in_per_msg", (i * 10.0).round() / 10.0)
        .num("compressed_out", h.gen.compressed_out as f64)
        .num("compressed_in", h.gen.compressed_in as f64);
    format!(
        "; wire {o:.0} B out, {i:.0} B in per {} B message",
        h.gen.size
    )
}

fn run_echo(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let latency_mode = o.mode == "latency";
    let mut h = Echo::new(o, o.conns, !latency_mode);
    let connect_s = connect_all(net, &mut h, Duration::from_secs(30))?;
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    let interval = Duration::from_secs_f64(1.0 / o.rate);
    let (mut k, mut next_send) = (0u64, start);
    // window, received, sent, bytes out, bytes in at its start
    let mut window: Option<(Window, u64, u64, u64, u64)> = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= measure_at {
            h.measure_from = Some(now);
            window = Some((
                Window::start(o.server_pid),
                h.received,
                h.gen.sent_total,
                net.bytes_out,
                net.bytes_in,
            ));
        }
        if latency_mode {
            // Open loop: message k is due at start + k/rate on connection
            // k mod C, whatever the server does; latency counts from the due
            // time, so a stall shows up in the figures instead of slowing
            // the schedule down (no coordinated omission).
            while next_send <= now {
                let id = (k % o.conns as u64) as usize;
                let (gen, c) = (&mut h.gen, &mut h.conns[id]);
                c.sched.push_back(next_send);
                net.send(id, |out| gen.put(id, c, out));
                k += 1;
                next_send = start + interval.mul_f64(k as f64);
            }
        }
        if latency_mode {
            net.wake_at(next_send.min(end));
        }
        net.turn(&mut h, timeout_until(end, now))
            .map_err(|e| format!("poll: {e}"))?;
        if let Some(e) = &net.first_error {
            return Err(e.clone());
        }
    }
    let (w, r0, s0, bo0, bi0) = window.ok_or("the run ended inside the warm-up")?;
    let m = w.end(o.server_pid);
    let msgs = (h.received - r0) as f64;
    if msgs == 0.0 {
        return Err("no echo came back in the measured window".into());
    }
    let sent = h.gen.sent_total - s0;
    let rate = msgs / m.secs;
    j.num("connect_s", connect_s);
    j.num("msgs", msgs)
        .num("msgs_per_s", rate.round())
        .num("mb_per_s", rate * o.size as f64 / 1e6);
    put_cpu(j, &m, msgs, "msgs_per_server_cpu_s");
    let wire = put_wire(
        j,
        &h,
        net.bytes_out - bo0,
        net.bytes_in - bi0,
        sent,
        h.received - r0,
    );
    let what = match (o.json, o.deflate) {
        (false, deflate::Offer::Off) => String::new(),
        (json, d) => format!(
            " {}{}",
            if json { "json" } else { "binary" },
            if d == deflate::Offer::Off {
                String::new()
            } else {
                format!(" deflate {}", d.name())
            }
        ),
    };
    let mut human = format!(
        "{}{what} {}x{}x{}B: {:.0} msgs/s, {:.1} MB/s",
        o.mode,
        o.conns,
        if latency_mode { 0 } else { o.inflight },
        o.size,
        rate,
        rate * o.size as f64 / 1e6
    );
    if latency_mode {
        j.num("target_rate", o.rate)
            .num("sent_per_s", (sent as f64 / m.secs).round());
        human = format!(
            "latency{what} {}x{}B at {:.0}/s: {:.0} msgs/s",
            o.conns, o.size, o.rate, rate
        );
        let n = h.latency.len();
        match h.latency.summary() {
            Some(p) => {
                put_percentiles(j, "rtt_us", &p, n);
                human += &format!(
                    ", rtt p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us",
                    p[0], p[2], p[3], p[4]
                );
            }
            None => return Err("no round trip measured".into()),
        }
    }
    if o.json || o.deflate != deflate::Offer::Off {
        human += &wire;
    }
    Ok(human + &cpu_human(&m, msgs, "msgs"))
}

fn put_percentiles(j: &mut Json, name: &str, p: &[f64; 5], n: usize) {
    j.num(&format!("{name}_samples"), n as f64);
    for (q, v) in ["p50", "p90", "p99", "p999", "max"].iter().zip(p) {
        j.num(&format!("{name}_{q}"), *v);
    }
}

fn put_cpu(j: &mut Json, m: &Measured, count: f64, per_cpu_name: &str) {
    j.num("secs", m.secs);
    j.opt("server_cpu_s", m.server_cpu);
    j.opt("server_cpu_util", m.server_cpu.map(|c| c / m.secs));
    j.opt(
        per_cpu_name,
        m.server_cpu
            .filter(|c| *c > 0.0)
            .map(|c| (count / c).round()),
    );
    j.opt(
        "server_sys_share",
        m.server_sys
            .zip(m.server_cpu.filter(|c| *c > 0.0))
            .map(|(s, c)| (s / c * 1000.0).round() / 1000.0),
    );
    j.opt("server_page_faults", m.server_faults.map(|f| f as f64));
    j.opt(
        "page_faults_per_msg",
        m.server_faults
            .filter(|_| count > 0.0)
            .map(|f| (f as f64 / count * 1e4).round() / 1e4),
    );
    j.num("gen_cpu_util", m.gen_cpu / m.secs);
    for (i, b) in m.core_busy.iter().enumerate() {
        j.num(&format!("core{i}_busy"), *b);
    }
}

fn cpu_human(m: &Measured, count: f64, what: &str) -> String {
    let mut s = String::new();
    if let Some(c) = m.server_cpu.filter(|c| *c > 0.0) {
        s += &format!(
            "; server {:.0}% CPU, {:.0} {what}/CPU-s",
            100.0 * c / m.secs,
            count / c
        );
    }
    s + &format!("; generator {:.0}% CPU", 100.0 * m.gen_cpu / m.secs)
}

// ---------------------------------------------------------------- broadcast

struct Sub {
    reader: ws::Reader,
    next: u64,
    counted: u64,
}

/// Connection 0 publishes; all others subscribe. A message carries its
/// sequence number and its send time (ns since `base`) in its first 16
/// bytes. Whether the server also sends it back to the publisher does not
/// matter: the publisher drains what it gets.
struct Broadcast {
    size: usize,
    pattern: Vec<u8>,
    base: Instant,
    subs: Vec<Sub>,
    count_from: u64,
    count_to: u64,
    delivered: u64,
    latency: Samples,
}

impl Handler for Broadcast {
    fn on_open(&mut self, _: usize, head: &str, _: &mut Vec<u8>, _: Instant) -> Result<(), String> {
        ws::check_upgrade(head)
    }

    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<usize, String> {
        let (size, pat, base) = (self.size, &self.pattern, self.base);
        let (from, to) = (self.count_from, self.count_to);
        let s = &mut self.subs[id];
        let (delivered, latency) = (&mut self.delivered, &mut self.latency);
        let mut reader = std::mem::take(&mut s.reader);
        let r = reader.feed(data, out, |op, p, _| {
            if op != ws::BINARY || p.len() != size || p[16..] != pat[16..] {
                return Err(format!(
                    "broadcast message of opcode {op}, {} bytes, not as published",
                    p.len()
                ));
            }
            if id == 0 {
                return Ok(());
            }
            let seq = u64::from_le_bytes(p[..8].try_into().unwrap());
            if seq < s.next {
                return Err(format!(
                    "message {seq} after {}: duplicated or out of order",
                    s.next - 1
                ));
            }
            s.next = seq + 1; // a gap is a loss, counted at the end
            if (from..to).contains(&seq) {
                s.counted += 1;
                *delivered += 1;
                let sent =
                    base + Duration::from_nanos(u64::from_le_bytes(p[8..16].try_into().unwrap()));
                latency.push(now.saturating_duration_since(sent));
            }
            Ok(())
        });
        s.reader = reader;
        r
    }
}

fn run_broadcast(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let subs = o.conns;
    let mut h = Broadcast {
        size: o.size,
        pattern: pattern(o.size),
        base: Instant::now(),
        subs: (0..=subs)
            .map(|_| Sub {
                reader: ws::Reader::default(),
                next: 0,
                counted: 0,
            })
            .collect(),
        count_from: u64::MAX,
        count_to: u64::MAX,
        delivered: 0,
        latency: Samples::default(),
    };
    let connect_s = connect_all(net, &mut h, Duration::from_secs(30))?;
    // A server may subscribe a connection a little after its 101 is out.
    run_until(net, &mut h, Instant::now() + Duration::from_millis(200))?;
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    let interval = Duration::from_secs_f64(1.0 / o.rate);
    let (mut seq, mut next_send) = (0u64, start);
    let mut window = None;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= measure_at {
            h.count_from = seq;
            window = Some(Window::start(o.server_pid).also(&o.cpu_pids));
        }
        while next_send <= now && next_send < end {
            let (size, pat, base) = (h.size, &h.pattern, h.base);
            net.send(0, |out| {
                ws::put_header(out, ws::BINARY, size);
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&((next_send - base).as_nanos() as u64).to_le_bytes());
                out.extend_from_slice(&pat[16..]);
            });
            seq += 1;
            next_send = start + interval.mul_f64(seq as f64);
        }
        net.wake_at(next_send.min(end));
        net.turn(&mut h, timeout_until(end, now))
            .map_err(|e| format!("poll: {e}"))?;
        if let Some(e) = &net.first_error {
            return Err(e.clone());
        }
    }
    let w = window.ok_or("the run ended inside the warm-up")?;
    h.count_to = seq;
    let m = w.end(o.server_pid);
    // Deliveries still on their way are waited for (up to 2 s), not lost.
    let published = (h.count_to - h.count_from) as f64;
    let drain_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < drain_until && h.subs[1..].iter().any(|s| s.next < h.count_to) {
        net.turn(&mut h, Duration::from_millis(10))
            .map_err(|e| format!("poll: {e}"))?;
        if let Some(e) = &net.first_error {
            return Err(e.clone());
        }
    }
    let expected = published * subs as f64;
    let delivered = h.delivered as f64;
    let lost = expected - delivered;
    let rate = delivered / m.secs;
    j.num("connect_s", connect_s)
        .num("subscribers", subs as f64)
        .num("publish_rate", o.rate);
    j.num("published", published)
        .num("delivered", delivered)
        .num("lost", lost);
    j.num("msgs_per_s", rate.round())
        .num("mb_per_s", rate * o.size as f64 / 1e6);
    put_cpu(j, &m, delivered, "msgs_per_server_cpu_s");
    let total = put_total_cpu(j, &m, delivered);
    let n = h.latency.len();
    let mut human = format!(
        "broadcast {subs} subs{} x {:.0}/s x {}B: {rate:.0} deliveries/s, {lost:.0} lost of {expected:.0}",
        match o.sub_addr {
            Some(a) => format!(" on {a} (publisher on {})", o.addr),
            None => String::new(),
        },
        o.rate,
        o.size
    );
    if let Some(p) = h.latency.summary() {
        put_percentiles(j, "delivery_us", &p, n);
        human += &format!(
            ", delivery p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us",
            p[0], p[2], p[3]
        );
    }
    if published == 0.0 {
        return Err("nothing published".into());
    }
    if let Some(c) = total.filter(|c| *c > 0.0) {
        human += &format!(
            "; with the --cpu-pid processes {:.0}% CPU, {:.0} deliveries/CPU-s",
            100.0 * c / m.secs,
            delivered / c
        );
    }
    Ok(human + &cpu_human(&m, delivered, "deliveries"))
}

/// The CPU of each `--cpu-pid` process (`cpu_s_pid<PID>`) and the total
/// with the server's (`total_cpu_s`, `msgs_per_total_cpu_s`), if any was
/// given; returns the total.
fn put_total_cpu(j: &mut Json, m: &Measured, count: f64) -> Option<f64> {
    if m.others.is_empty() {
        return None;
    }
    for (pid, c) in &m.others {
        j.opt(&format!("cpu_s_pid{pid}"), *c);
    }
    let total = m
        .others
        .iter()
        .try_fold(m.server_cpu?, |t, (_, c)| c.map(|c| t + c));
    j.opt("total_cpu_s", total);
    j.opt(
        "msgs_per_total_cpu_s",
        total.filter(|c| *c > 0.0).map(|c| (count / c).round()),
    );
    total
}

// ---------------------------------------------------------------- idle

/// Idle connections (the echo handler with nothing to send on its own):
/// they answer pings; nothing may arrive but echoes of what `--idle-send`
/// sent.
fn run_idle(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let pid = o.server_pid;
    let rss0 = pid.and_then(stats::proc_rss);
    let anon0 = pid.and_then(stats::proc_rss_anon);
    let cpu0 = pid.and_then(stats::proc_cpu);
    let mut h = Echo::new(o, o.conns, false);
    let connect_s = connect_all(net, &mut h, Duration::from_secs(120))?;
    let connect_cpu = cpu0.zip(pid.and_then(stats::proc_cpu)).map(|(a, b)| b - a);
    // Let the server settle (lazy frees, timers) before reading its memory.
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.warmup),
    )?;
    let rss1 = pid.and_then(stats::proc_rss);
    let mut human_used = String::new();
    if o.idle_send > 0 {
        // Every connection sends its messages and gets them back, in
        // waves of `max_pending` connections; then the server settles.
        let (bo0, bi0) = (net.bytes_out, net.bytes_in);
        let want = (o.conns * o.idle_send) as u64;
        let t0 = Instant::now();
        let mut next = 0;
        while h.received < want {
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(format!("{} of {want} echoes back after 60 s", h.received));
            }
            let in_flight = h.gen.sent_total - h.received;
            while next < o.conns && in_flight + (next as u64) < h.received + o.max_pending as u64 {
                let (gen, c) = (&mut h.gen, &mut h.conns[next]);
                net.send(next, |out| {
                    for _ in 0..o.idle_send {
                        gen.put(next, c, out);
                    }
                });
                next += 1;
            }
            net.turn(&mut h, Duration::from_millis(20))
                .map_err(|e| format!("poll: {e}"))?;
            if let Some(e) = &net.first_error {
                return Err(e.clone());
            }
        }
        let used_s = t0.elapsed().as_secs_f64();
        human_used = put_wire(j, &h, net.bytes_out - bo0, net.bytes_in - bi0, want, want);
        j.num("idle_sent", want as f64).num("send_s", used_s);
        run_until(
            net,
            &mut h,
            Instant::now() + Duration::from_secs_f64(o.warmup),
        )?;
    } else if o.deflate != deflate::Offer::Off {
        j.str("deflate", o.deflate.name())
            .str("negotiated", h.negotiated.as_deref().unwrap_or(""));
    }
    let rss_used = pid.and_then(stats::proc_rss);
    let w = Window::start(pid);
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.secs),
    )?;
    let m = w.end(pid);
    if let Some(e) = &net.first_error {
        return Err(e.clone());
    }
    let rss2 = pid.and_then(stats::proc_rss);
    let anon2 = pid.and_then(stats::proc_rss_anon);
    let n = o.conns as f64;
    let per_from = |from: Option<u64>, r: Option<u64>| {
        from.zip(r)
            .map(|(a, b)| ((b as f64 - a as f64) / n).round())
    };
    let per = |r: Option<u64>| per_from(rss0, r);
    let per_conn = per(rss2);
    j.opt("anon_bytes_per_conn", per_from(anon0, anon2));
    j.num("connect_s", connect_s)
        .num("connects_per_s", (n / connect_s).round());
    j.opt("connect_server_cpu_s", connect_cpu);
    j.opt("rss_before", rss0.map(|v| v as f64))
        .opt("rss_open", rss1.map(|v| v as f64));
    j.opt("rss_held", rss2.map(|v| v as f64))
        .opt("bytes_per_conn", per_conn);
    j.opt("bytes_per_conn_open", per(rss1));
    if o.idle_send > 0 {
        j.opt("rss_used", rss_used.map(|v| v as f64))
            .opt("bytes_per_conn_used", per(rss_used));
    }
    j.num("held_s", m.secs)
        .opt("held_server_cpu_s", m.server_cpu);
    let mut human = format!(
        "idle {} conns{}: open in {connect_s:.2} s, all held {:.1} s",
        o.conns,
        match (o.deflate, o.idle_send) {
            (deflate::Offer::Off, 0) => String::new(),
            (d, k) => format!(" (deflate {}, {k} message(s) each)", d.name()),
        },
        m.secs
    );
    if let (Some(a), Some(b), Some(p)) = (rss0, rss2, per_conn) {
        human += &format!(
            "; server RSS {:.1} -> {:.1} MiB, {p:.0} B per connection",
            a as f64 / 1048576.0,
            b as f64 / 1048576.0
        );
        if let (Some(po), true) = (per(rss1), o.idle_send > 0) {
            human += &format!(" ({po:.0} B before use)");
        }
    }
    Ok(human + &human_used)
}

// ---------------------------------------------------------------- handshake

/// Connection churn: each slot connects, makes its (TLS and) WebSocket
/// handshake, sends one binary message (its serial number, then the
/// pattern), checks the echo and is reset; the driver opens the next in
/// its slot at once.
struct Churn {
    readers: Vec<ws::Reader>,
    serial: Vec<u64>,
    finished: Vec<bool>,
    next_serial: u64,
    pattern: Vec<u8>,
    done: u64,
}

impl Handler for Churn {
    fn on_open(
        &mut self,
        id: usize,
        head: &str,
        out: &mut Vec<u8>,
        _: Instant,
    ) -> Result<(), String> {
        ws::check_upgrade(head)?;
        self.readers[id] = ws::Reader::default();
        self.finished[id] = false;
        self.serial[id] = self.next_serial;
        self.next_serial += 1;
        ws::put_header(out, ws::BINARY, self.pattern.len());
        out.extend_from_slice(&self.serial[id].to_le_bytes());
        out.extend_from_slice(&self.pattern[8..]);
        Ok(())
    }

    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        _: Instant,
    ) -> Result<usize, String> {
        let (serial, pattern) = (self.serial[id], &self.pattern);
        let (finished, done) = (&mut self.finished[id], &mut self.done);
        self.readers[id].feed(data, out, |op, p, _| {
            if *finished {
                return Err("a message after the echo".into());
            }
            if op != ws::BINARY
                || p.len() != pattern.len()
                || p[..8] != serial.to_le_bytes()
                || p[8..] != pattern[8..]
            {
                return Err(format!(
                    "echo of opcode {op}, {} bytes does not match what was sent",
                    p.len()
                ));
            }
            *finished = true;
            *done += 1;
            Ok(())
        })
    }

    fn done(&self, id: usize) -> bool {
        self.finished[id]
    }
}

fn run_handshake(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let mut h = Churn {
        readers: (0..o.conns).map(|_| ws::Reader::default()).collect(),
        serial: vec![0; o.conns],
        finished: vec![false; o.conns],
        next_serial: 0,
        pattern: pattern(o.size),
        done: 0,
    };
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    run_until(net, &mut h, measure_at)?;
    if let Some(e) = &net.first_error {
        return Err(e.clone());
    }
    let (w, d0) = (Window::start(o.server_pid), h.done);
    run_until(net, &mut h, end)?;
    let m = w.end(o.server_pid);
    if let Some(e) = &net.first_error {
        return Err(e.clone());
    }
    let n = (h.done - d0) as f64;
    if n == 0.0 {
        return Err("no connection completed in the measured window".into());
    }
    let rate = n / m.secs;
    j.num("handshakes", n).num("handshakes_per_s", rate.round());
    put_cpu(j, &m, n, "handshakes_per_server_cpu_s");
    let human = format!(
        "handshake {} at a time{}: {rate:.0} connections/s (connect, handshake, one {} B echo, reset)",
        o.conns,
        if o.tls_ca.is_some() { ", TLS" } else { "" },
        o.size
    );
    Ok(human + &cpu_human(&m, n, "connections"))
}

// ---------------------------------------------------------------- sse

/// EventSource-style clients. Checks: the event name; ids consecutive per
/// client; when the data reads `NAME <id>\n<unix ms>` (the wsrt example's
/// tick), the id in it and the delivery delay.
struct SseClients {
    readers: Vec<sse::Reader>,
    last_id: Vec<Option<u64>>,
    event: String,
    events: u64,
    measuring: bool,
    latency: Samples,
}

impl Handler for SseClients {
    fn on_open(
        &mut self,
        id: usize,
        head: &str,
        _: &mut Vec<u8>,
        _: Instant,
    ) -> Result<(), String> {
        self.readers[id] = sse::Reader::new(sse::check_head(head)?);
        Ok(())
    }

    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        _: &mut Vec<u8>,
        _: Instant,
    ) -> Result<usize, String> {
        let (name, last, events) = (&self.event, &mut self.last_id[id], &mut self.events);
        let (measuring, latency) = (self.measuring, &mut self.latency);
        self.readers[id].feed(data, &mut |e: sse::Event<'_>| {
            if e.event != name {
                return Err(format!("event {:?}, expected {name:?}", e.event));
            }
            let n: u64 =
                e.id.and_then(|i| i.parse().ok())
                    .ok_or(format!("event id {:?} is not a number", e.id))?;
            if last.is_some_and(|l| n != l + 1) {
                return Err(format!("event id {n} after {}", last.unwrap()));
            }
            *last = Some(n);
            let mut lines = e.data.split('\n');
            if lines.next() != Some(&format!("{name} {n}")) {
                return Err(format!("event {n} data {:?}", e.data));
            }
            *events += 1;
            if let (true, Some(ms)) = (measuring, lines.next().and_then(|l| l.parse::<u64>().ok()))
            {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis() as u64;
                latency.push(Duration::from_millis(now.saturating_sub(ms)));
            }
            Ok(())
        })?;
        Ok(data.len())
    }
}

fn run_sse(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let mut h = SseClients {
        readers: (0..o.conns).map(|_| sse::Reader::default()).collect(),
        last_id: vec![None; o.conns],
        event: "tick".into(),
        events: 0,
        measuring: false,
        latency: Samples::default(),
    };
    let connect_s = connect_all(net, &mut h, Duration::from_secs(60))?;
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.warmup),
    )?;
    let (w, e0) = (Window::start(o.server_pid), h.events);
    h.measuring = true;
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.secs),
    )?;
    let m = w.end(o.server_pid);
    if let Some(e) = &net.first_error {
        return Err(e.clone());
    }
    let events = (h.events - e0) as f64;
    let rate = events / m.secs;
    j.num("connect_s", connect_s)
        .num("events", events)
        .num("events_per_s", rate.round());
    if o.interval_ms > 0.0 {
        j.num(
            "expected_per_s",
            (o.conns as f64 * 1000.0 / o.interval_ms).round(),
        );
    }
    put_cpu(j, &m, events, "events_per_server_cpu_s");
    let mut human = format!("sse {} clients: {rate:.0} events/s", o.conns);
    if o.interval_ms > 0.0 {
        human += &format!(" (expected {:.0})", o.conns as f64 * 1000.0 / o.interval_ms);
    }
    let n = h.latency.len();
    if let Some(p) = h.latency.summary() {
        put_percentiles(j, "delivery_us", &p, n);
        human += &format!(
            ", delivery p50 {:.0} ms, p99 {:.0} ms",
            p[0] / 1e3,
            p[2] / 1e3
        );
    }
    if events == 0.0 {
        return Err("no event received".into());
    }
    Ok(human + &cpu_human(&m, events, "events"))
}

fn main() -> ExitCode {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    stats::raise_nofile();
    let default_path = match o.mode.as_str() {
        "broadcast" => "/broadcast",
        "sse" => "/sse",
        m if m.starts_with("sio-") => sio::PATH,
        _ => "/echo",
    };
    let path = o.path.as_deref().unwrap_or(default_path);
    let host = o.addr.to_string();
    let request = if o.mode == "sse" {
        sse::request(&host, path)
    } else {
        ws::upgrade_request(&host, path, o.deflate.header())
    };
    let n = match o.mode.as_str() {
        "broadcast" => o.conns + 1,
        "sio-room" => o.conns + o.publishers,
        _ => o.conns,
    };
    let mut j = Json::default();
    j.str("mode", &o.mode)
        .str("label", &o.label)
        .str("addr", &host)
        .str("path", path);
    j.num("conns", o.conns as f64).num("size", o.size as f64);
    if o.mode == "echo" {
        j.num("inflight", o.inflight as f64);
    }
    if o.mode.starts_with("sio-") {
        j.str(
            "protocol",
            "socket.io v5 / engine.io v4, websocket transport",
        );
    }
    if let Some(ca) = &o.tls_ca {
        j.str("tls_version_offered", &o.tls_version);
        j.str("tls_cipher_first", &o.tls_cipher);
        j.str("sni", &o.sni);
        j.str("tls_ca", ca);
    }
    let tls = match &o.tls_ca {
        Some(ca) => match tls::Tls::new(ca, &o.tls_version, &o.sni, &o.tls_cipher) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("loadgen: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    if let Some(a) = o.sub_addr {
        j.str("sub_addr", &a.to_string());
    }
    let result = Net::new(o.addr, request, n, o.max_pending)
        .map(|net| match tls {
            Some(t) => net.with_tls(t),
            None => net,
        })
        .map(|net| match o.sub_addr {
            // Connection 0 publishes; the subscribers are 1 and after.
            Some(a) => net.with_split(1, a, ws::upgrade_request(&a.to_string(), path, "")),
            None => net,
        })
        .map_err(|e| format!("poll: {e}"))
        .and_then(|mut net| {
            let r = match o.mode.as_str() {
                "echo" | "latency" => run_echo(&o, &mut net, &mut j),
                "broadcast" => run_broadcast(&o, &mut net, &mut j),
                "idle" => run_idle(&o, &mut net, &mut j),
                "sio-ack" => sio_modes::run_ack(&o, &mut net, &mut j),
                "sio-room" => sio_modes::run_room(&o, &mut net, &mut j),
                "sio-idle" => sio_modes::run_idle(&o, &mut net, &mut j),
                "handshake" => run_handshake(&o, &mut net, &mut j),
                _ => run_sse(&o, &mut net, &mut j),
            };
            j.num("failed_conns", net.failures as f64);
            j.bool("tls", o.tls_ca.is_some());
            if let Some(t) = &net.tls_info {
                j.str("tls_negotiated", t);
            }
            net.reset_all();
            r
        });
    let tag = if o.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", o.label)
    };
    match result {
        Ok(human) => {
            j.bool("ok", true);
            println!("{}", j.finish());
            eprintln!("{tag}{human}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            j.bool("ok", false).str("error", &e);
            println!("{}", j.finish());
            eprintln!("{tag}{} FAILED: {e}", o.mode);
            ExitCode::FAILURE
        }
    }
}
