//! wsrt benchmark load generator. One single-threaded mio loop drives all
//! client connections (the runner pins it to its own core); every echo and
//! event is verified, not just counted. Modes:
//!
//! ```text
//! loadgen echo      --conns C --inflight P --size S --secs T
//! loadgen latency   --conns C --rate R --size S --secs T
//! loadgen broadcast --conns N --rate R --size S --secs T   (path /broadcast)
//! loadgen idle      --conns N --secs HOLD                   (needs --server-pid for memory)
//! loadgen sse       --conns N --secs T [--interval-ms MS]   (path /sse)
//! common: --addr 127.0.0.1:9001 --path P --warmup W --server-pid PID --label NAME
//! ```
//!
//! Prints one JSON line on stdout and one line for people on stderr; exits
//! 1 if any connection failed or any echo or event did not verify.
mod net;
mod sse;
mod stats;
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
    path: Option<String>,
    conns: usize,
    inflight: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    rate: f64,
    interval_ms: f64,
    server_pid: Option<u32>,
    label: String,
    max_pending: usize,
}

const USAGE: &str = "usage: loadgen echo|latency|broadcast|idle|sse [--addr HOST:PORT] [--path P] \
[--conns N] [--inflight P] [--size BYTES] [--secs T] [--warmup W] [--rate MSGS_PER_S] \
[--interval-ms MS] [--server-pid PID] [--label NAME] [--max-pending N]";

fn parse_opts() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode")?;
    if !["echo", "latency", "broadcast", "idle", "sse"].contains(&mode.as_str()) {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut o = Opts {
        mode,
        addr: "127.0.0.1:9001".parse().unwrap(),
        path: None,
        conns: 64,
        inflight: 16,
        size: 32,
        secs: 5.0,
        warmup: 1.0,
        rate: 10_000.0,
        interval_ms: 0.0,
        server_pid: None,
        label: String::new(),
        max_pending: 100,
    };
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
            "--rate" => o.rate = v.parse().map_err(|_| bad())?,
            "--interval-ms" => o.interval_ms = v.parse().map_err(|_| bad())?,
            "--server-pid" => o.server_pid = Some(v.parse().map_err(|_| bad())?),
            "--label" => o.label = v,
            "--max-pending" => o.max_pending = v.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if o.conns == 0 || o.secs <= 0.0 || o.warmup < 0.0 {
        return Err("--conns and --secs must be positive".into());
    }
    if o.mode == "broadcast" && o.size < 16 {
        o.size = 16; // sequence number and send time
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
    gen0: f64,
    cores0: Vec<(u64, u64)>,
}

struct Measured {
    secs: f64,
    server_cpu: Option<f64>,
    gen_cpu: f64,
    /// Busy share of each core over the window (everything on it: the
    /// kernel's softirq network work, other processes, not only ours).
    core_busy: Vec<f64>,
}

impl Window {
    fn start(pid: Option<u32>) -> Window {
        Window {
            t0: Instant::now(),
            server0: pid.and_then(stats::proc_cpu),
            gen0: stats::self_cpu(),
            cores0: stats::core_times(),
        }
    }
    fn end(&self, pid: Option<u32>) -> Measured {
        let server1 = pid.and_then(stats::proc_cpu);
        Measured {
            secs: self.t0.elapsed().as_secs_f64(),
            server_cpu: self.server0.zip(server1).map(|(a, b)| b - a),
            gen_cpu: stats::self_cpu() - self.gen0,
            core_busy: stats::core_times()
                .iter()
                .zip(&self.cores0)
                .map(|((b1, t1), (b0, t0))| (b1 - b0) as f64 / (t1 - t0).max(1) as f64)
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
}

/// Both echo scenarios: closed loop (`refill`: each echo sends the next
/// message) or open loop at a fixed rate (latency, sends come from a timer).
struct Echo {
    size: usize,
    inflight: usize,
    refill: bool,
    pattern: Vec<u8>,
    conns: Vec<EchoConn>,
    received: u64,
    measure_from: Option<Instant>,
    latency: Samples,
}

impl Echo {
    fn new(n: usize, size: usize, inflight: usize, refill: bool) -> Echo {
        Echo {
            size,
            inflight,
            refill,
            pattern: pattern(size),
            conns: (0..n)
                .map(|_| EchoConn {
                    reader: ws::Reader::default(),
                    sent: 0,
                    recv: 0,
                    sched: VecDeque::new(),
                })
                .collect(),
            received: 0,
            measure_from: None,
            latency: Samples::default(),
        }
    }

    /// A message carries its per-connection sequence number in its first 8
    /// bytes (little-endian) and a fixed pattern after.
    fn put(size: usize, pattern: &[u8], c: &mut EchoConn, out: &mut Vec<u8>) {
        ws::put_header(out, ws::BINARY, size);
        if size >= 8 {
            out.extend_from_slice(&c.sent.to_le_bytes());
            out.extend_from_slice(&pattern[8..]);
        } else {
            out.extend_from_slice(pattern);
        }
        c.sent += 1;
    }
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
        if self.refill {
            for _ in 0..self.inflight {
                Echo::put(self.size, &self.pattern, &mut self.conns[id], out);
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
        let (size, refill, pat) = (self.size, self.refill, &self.pattern);
        let c = &mut self.conns[id];
        let (received, latency, from) = (&mut self.received, &mut self.latency, self.measure_from);
        let mut reader = std::mem::take(&mut c.reader);
        let r = reader.feed(data, out, |op, p, out| {
            if op != ws::BINARY || p.len() != size {
                return Err(format!(
                    "echo of opcode {op}, {} bytes; sent binary, {size} bytes",
                    p.len()
                ));
            }
            let ok = if size >= 8 {
                p[..8] == c.recv.to_le_bytes() && p[8..] == pat[8..]
            } else {
                p == &pat[..]
            };
            if !ok || c.recv >= c.sent {
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
                Echo::put(size, pat, c, out);
            }
            Ok(())
        });
        c.reader = reader;
        r
    }
}

fn run_echo(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let latency_mode = o.mode == "latency";
    let mut h = Echo::new(o.conns, o.size, o.inflight, !latency_mode);
    let connect_s = connect_all(net, &mut h, Duration::from_secs(30))?;
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    let interval = Duration::from_secs_f64(1.0 / o.rate);
    let (mut k, mut next_send) = (0u64, start);
    let mut window: Option<(Window, u64, u64)> = None; // window, received, sent at start
    let mut sent_total = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= measure_at {
            h.measure_from = Some(now);
            window = Some((Window::start(o.server_pid), h.received, sent_total));
        }
        if latency_mode {
            // Open loop: message k is due at start + k/rate on connection
            // k mod C, whatever the server does; latency counts from the due
            // time, so a stall shows up in the figures instead of slowing
            // the schedule down (no coordinated omission).
            while next_send <= now {
                let id = (k % o.conns as u64) as usize;
                let (size, pat) = (h.size, &h.pattern);
                let c = &mut h.conns[id];
                c.sched.push_back(next_send);
                net.send(id, |out| Echo::put(size, pat, c, out));
                k += 1;
                sent_total += 1;
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
    let (w, r0, s0) = window.ok_or("the run ended inside the warm-up")?;
    let m = w.end(o.server_pid);
    let msgs = (h.received - r0) as f64;
    let rate = msgs / m.secs;
    j.num("connect_s", connect_s);
    j.num("msgs", msgs)
        .num("msgs_per_s", rate.round())
        .num("mb_per_s", rate * o.size as f64 / 1e6);
    put_cpu(j, &m, msgs, "msgs_per_server_cpu_s");
    let mut human = format!(
        "{} {}x{}x{}B: {:.0} msgs/s, {:.1} MB/s",
        o.mode,
        o.conns,
        if latency_mode { 0 } else { o.inflight },
        o.size,
        rate,
        rate * o.size as f64 / 1e6
    );
    if latency_mode {
        let sent = (sent_total - s0) as f64;
        j.num("target_rate", o.rate)
            .num("sent_per_s", (sent / m.secs).round());
        human = format!(
            "latency {}x{}B at {:.0}/s: {:.0} msgs/s",
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
            window = Some(Window::start(o.server_pid));
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
    let n = h.latency.len();
    let mut human = format!(
        "broadcast {subs} subs x {:.0}/s x {}B: {rate:.0} deliveries/s, {lost:.0} lost of {expected:.0}",
        o.rate, o.size
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
    Ok(human + &cpu_human(&m, delivered, "deliveries"))
}

// ---------------------------------------------------------------- idle

/// Idle connections: they answer pings, and nothing else may arrive.
struct Idle(Vec<ws::Reader>);

impl Handler for Idle {
    fn on_open(&mut self, _: usize, head: &str, _: &mut Vec<u8>, _: Instant) -> Result<(), String> {
        ws::check_upgrade(head)
    }
    fn on_data(
        &mut self,
        id: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        _: Instant,
    ) -> Result<usize, String> {
        self.0[id].feed(data, out, |op, _, _| {
            Err(format!(
                "unexpected message (opcode {op}) on an idle connection"
            ))
        })
    }
}

fn run_idle(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let pid = o.server_pid;
    let rss0 = pid.and_then(stats::proc_rss);
    let cpu0 = pid.and_then(stats::proc_cpu);
    let mut h = Idle((0..o.conns).map(|_| ws::Reader::default()).collect());
    let connect_s = connect_all(net, &mut h, Duration::from_secs(120))?;
    let connect_cpu = cpu0.zip(pid.and_then(stats::proc_cpu)).map(|(a, b)| b - a);
    // Let the server settle (lazy frees, timers) before reading its memory.
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.warmup),
    )?;
    let rss1 = pid.and_then(stats::proc_rss);
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
    let n = o.conns as f64;
    let per_conn = rss0.zip(rss2).map(|(a, b)| (b as f64 - a as f64) / n);
    j.num("connect_s", connect_s)
        .num("connects_per_s", (n / connect_s).round());
    j.opt("connect_server_cpu_s", connect_cpu);
    j.opt("rss_before", rss0.map(|v| v as f64))
        .opt("rss_open", rss1.map(|v| v as f64));
    j.opt("rss_held", rss2.map(|v| v as f64))
        .opt("bytes_per_conn", per_conn.map(f64::round));
    j.num("held_s", m.secs)
        .opt("held_server_cpu_s", m.server_cpu);
    let mut human = format!(
        "idle {} conns: open in {connect_s:.2} s, all held {:.1} s",
        o.conns, m.secs
    );
    if let (Some(a), Some(b), Some(p)) = (rss0, rss2, per_conn) {
        human += &format!(
            "; server RSS {:.1} -> {:.1} MiB, {p:.0} B per connection",
            a as f64 / 1048576.0,
            b as f64 / 1048576.0
        );
    }
    Ok(human)
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
        _ => "/echo",
    };
    let path = o.path.as_deref().unwrap_or(default_path);
    let host = o.addr.to_string();
    let request = if o.mode == "sse" {
        sse::request(&host, path)
    } else {
        ws::upgrade_request(&host, path)
    };
    let n = if o.mode == "broadcast" {
        o.conns + 1
    } else {
        o.conns
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
    let result = Net::new(o.addr, request, n, o.max_pending)
        .map_err(|e| format!("poll: {e}"))
        .and_then(|mut net| {
            let r = match o.mode.as_str() {
                "echo" | "latency" => run_echo(&o, &mut net, &mut j),
                "broadcast" => run_broadcast(&o, &mut net, &mut j),
                "idle" => run_idle(&o, &mut net, &mut j),
                _ => run_sse(&o, &mut net, &mut j),
            };
            j.num("failed_conns", net.failures as f64);
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
