//! The Socket.IO scenarios (Engine.IO v4 over WebSocket, namespace "/";
//! the protocol is in `sio.rs`). Every connection answers the server's
//! pings for as long as it runs; every ack and every room message is
//! checked, not just counted.
//!
//! - `sio-ack`: C sockets, each keeping P emits with ack in flight:
//!   `42<id>["echo","<payload>"]` must come back as `43<id>["<payload>"]`
//!   (any id still outstanding, in any order: python-socketio answers from
//!   a task per event). The payload is a string of exactly `--size` bytes
//!   naming its socket and ack id. Acks still missing after the run (2 s
//!   of grace) fail it.
//! - `sio-room`: N member sockets emit `join` ("bench", ack checked), then
//!   `--publishers` sockets (not members) emit `to-room` {room, msg}; every
//!   member must get every `room-msg` {room, msg} of every publisher once,
//!   in order. A publisher keeps at most `--window` messages undelivered to
//!   some member (closed loop: as fast as the server delivers, so every
//!   server runs at its own capacity and nothing piles up), optionally
//!   capped at `--rate` messages/s in total. msg carries its publisher,
//!   sequence number and send time (delivery latency). A loss, a
//!   duplicate, a reordering or 5 s without any delivery fails the run.
//! - `sio-idle`: N connected sockets held; the server's RSS growth per
//!   socket (as `idle` measures it for plain WebSockets).
//!
//! `--expect-pings K`: every connection must have answered K pings by the
//! end (the smoke runs servers with a short SIO_PING_INTERVAL_MS).
use super::{
    connect_all, cpu_human, pattern, put_cpu, put_percentiles, run_until, timeout_until, Opts,
    Window,
};
use crate::net::{Handler, Net};
use crate::sio::{self, Counters, Dec, Got, Session, Value, ACK, EVENT};
use crate::stats::{self, Json, Samples};
use crate::ws;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Fills `buf` with a payload of exactly `size` bytes: `nums` in hex,
/// each followed by a dot, then the pattern. Err if they do not fit.
fn payload(buf: &mut Vec<u8>, pat: &[u8], size: usize, nums: &[u64]) -> Result<(), String> {
    buf.clear();
    for &n in nums {
        let digits = (64 - n.leading_zeros() as usize).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            buf.push(b"0123456789abcdef"[(n >> (4 * k)) as usize & 15]);
        }
        buf.push(b'.');
    }
    if buf.len() > size {
        return Err(format!(
            "--size {size} is too small for the payload's prefix ({} bytes)",
            buf.len()
        ));
    }
    let at = buf.len();
    buf.extend_from_slice(&pat[at..size]);
    Ok(())
}

/// The scenarios' common part: sessions and Engine.IO counters.
trait Sio: Handler {
    fn counters(&self) -> &Counters;
    fn sessions(&self) -> &[Session];
}

/// After the WebSocket handshakes: waits until every socket's namespace
/// connect was answered.
fn wait_connected(net: &mut Net, h: &mut impl Sio, limit: Duration) -> Result<f64, String> {
    let t0 = Instant::now();
    let want = net.conns.len();
    while h.counters().connected < want {
        net.turn(h, Duration::from_millis(20))
            .map_err(|e| format!("poll: {e}"))?;
        if let Some(e) = &net.first_error {
            return Err(e.clone());
        }
        if t0.elapsed() > limit {
            return Err(format!(
                "only {} of {want} sockets connected to namespace / after {limit:?}",
                h.counters().connected
            ));
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Connects everything: WebSocket handshakes, then namespace "/".
fn open_all(net: &mut Net, h: &mut impl Sio, limit: Duration) -> Result<(f64, f64), String> {
    let ws_s = connect_all(net, h, limit)?;
    let sio_s = wait_connected(net, h, limit)?;
    Ok((ws_s, ws_s + sio_s))
}

/// What every Socket.IO run reports about Engine.IO, and the ping check.
fn put_eio(j: &mut Json, h: &impl Sio, expect_pings: u32) -> Result<(), String> {
    let n = h.counters();
    if let Some(o) = &n.open {
        j.opt("ping_interval_ms", o.ping_interval)
            .opt("ping_timeout_ms", o.ping_timeout)
            .opt("max_payload", o.max_payload);
    }
    j.num("pings_answered", n.pings as f64)
        .num("ignored_packets", n.ignored as f64)
        .num("sockets_with_recovery", n.recovering as f64);
    if expect_pings > 0 {
        let short = h
            .sessions()
            .iter()
            .filter(|s| s.pings < expect_pings)
            .count();
        if short > 0 {
            return Err(format!(
                "{short} of {} connections answered fewer than {expect_pings} ping(s) \
                 (server's pingInterval {:?} ms)",
                h.sessions().len(),
                n.open.as_ref().and_then(|o| o.ping_interval)
            ));
        }
    }
    Ok(())
}

fn check_alive(net: &Net) -> Result<(), String> {
    match &net.first_error {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------- sio-ack

struct AckConn {
    next_id: u64,
    /// The oldest ack id still outstanding; `sent[i]`: when id `base + i`
    /// was emitted, None once acked.
    base: u64,
    sent: VecDeque<Option<Instant>>,
}

struct Acks {
    sess: Vec<Session>,
    n: Counters,
    conns: Vec<AckConn>,
    inflight: usize,
    size: usize,
    pattern: Vec<u8>,
    refill: bool,
    received: u64,
    slow_path: u64,
    scratch: Vec<u8>,
    /// Round trips (emit to ack) of the acks read in the measured window.
    measuring: bool,
    rtt: Samples,
}

impl Acks {
    /// Queues `42<id>["echo","<payload>"]` on connection `c`.
    fn emit(&mut self, c: usize, out: &mut Vec<u8>, now: Instant) -> Result<(), String> {
        let id = self.conns[c].next_id;
        payload(&mut self.scratch, &self.pattern, self.size, &[c as u64, id])?;
        sio::put_text(
            out,
            &[
                b"42",
                Dec::new(id).bytes(),
                b"[\"echo\",\"",
                &self.scratch,
                b"\"]",
            ],
        );
        let a = &mut self.conns[c];
        a.next_id += 1;
        a.sent.push_back(Some(now));
        Ok(())
    }

    fn on_ack(
        &mut self,
        c: usize,
        id: u64,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<(), String> {
        let a = &self.conns[c];
        if id < a.base || id >= a.next_id || a.sent[(id - a.base) as usize].is_none() {
            return Err(format!(
                "ack {id}: not outstanding (acked twice, or never sent)"
            ));
        }
        payload(&mut self.scratch, &self.pattern, self.size, &[c as u64, id])?;
        let p = &self.scratch;
        let fast = data.len() == p.len() + 4
            && data.starts_with(b"[\"")
            && data.ends_with(b"\"]")
            && &data[2..data.len() - 2] == p.as_slice();
        if !fast {
            // Another serializer's spacing, or a wrong payload.
            let v = sio::parse_json(data).map_err(|e| format!("ack {id}: {e}"))?;
            match v.as_arr() {
                Some([Value::Str(s)]) if s.as_bytes() == p.as_slice() => self.slow_path += 1,
                _ => {
                    return Err(format!(
                        "ack {id}: {:?} does not carry the payload sent",
                        String::from_utf8_lossy(&data[..data.len().min(120)])
                    ))
                }
            }
        }
        let a = &mut self.conns[c];
        let sent = a.sent[(id - a.base) as usize].take();
        while a.sent.front() == Some(&None) {
            a.sent.pop_front();
            a.base += 1;
        }
        if let (true, Some(t)) = (self.measuring, sent) {
            self.rtt.push(now.saturating_duration_since(t));
        }
        self.received += 1;
        if self.refill {
            self.emit(c, out, now)?;
        }
        Ok(())
    }
}

impl Handler for Acks {
    fn on_open(&mut self, _: usize, head: &str, _: &mut Vec<u8>, _: Instant) -> Result<(), String> {
        ws::check_upgrade(head)
    }

    fn on_data(
        &mut self,
        c: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<usize, String> {
        let mut s = std::mem::take(&mut self.sess[c]);
        let mut n = std::mem::take(&mut self.n);
        let r = s.feed(data, out, &mut n, |g, out| match g {
            Got::Connected => {
                for _ in 0..self.inflight {
                    self.emit(c, out, now)?;
                }
                Ok(())
            }
            Got::Packet(p) if p.kind == ACK => match p.id {
                Some(id) => self.on_ack(c, id, p.data, out, now),
                None => Err("an ack without an id".into()),
            },
            Got::Packet(_) => Ok(()), // events the server emits on its own
        });
        self.sess[c] = s;
        self.n = n;
        r
    }
}

impl Sio for Acks {
    fn counters(&self) -> &Counters {
        &self.n
    }
    fn sessions(&self) -> &[Session] {
        &self.sess
    }
}

pub fn run_ack(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let mut h = Acks {
        sess: (0..o.conns).map(|_| Session::default()).collect(),
        n: Counters::default(),
        conns: (0..o.conns)
            .map(|_| AckConn {
                next_id: 0,
                base: 0,
                sent: VecDeque::new(),
            })
            .collect(),
        inflight: o.inflight,
        size: o.size,
        pattern: pattern(o.size),
        refill: true,
        received: 0,
        slow_path: 0,
        scratch: Vec::new(),
        measuring: false,
        rtt: Samples::default(),
    };
    let (_, connect_s) = open_all(net, &mut h, Duration::from_secs(60))?;
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    run_until(net, &mut h, measure_at)?;
    check_alive(net)?;
    let (w, r0) = (Window::start(o.server_pid), h.received);
    h.measuring = true;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        net.turn(&mut h, timeout_until(end, now))
            .map_err(|e| format!("poll: {e}"))?;
        check_alive(net)?;
    }
    let m = w.end(o.server_pid);
    h.measuring = false;
    let acks = (h.received - r0) as f64;
    // Every ack still due must come back.
    h.refill = false;
    let due = |h: &Acks| {
        h.conns
            .iter()
            .map(|a| a.sent.iter().filter(|s| s.is_some()).count())
            .sum::<usize>()
    };
    let drain_until = Instant::now() + Duration::from_secs(2);
    while due(&h) > 0 && Instant::now() < drain_until {
        net.turn(&mut h, Duration::from_millis(10))
            .map_err(|e| format!("poll: {e}"))?;
        check_alive(net)?;
    }
    let missing = due(&h);
    if missing > 0 {
        return Err(format!(
            "{missing} acks never came back (2 s after the run)"
        ));
    }
    if acks == 0.0 {
        return Err("no ack in the measured window".into());
    }
    let rate = acks / m.secs;
    j.num("inflight", o.inflight as f64)
        .num("connect_s", connect_s)
        .num("acks", acks)
        .num("acks_per_s", rate.round());
    put_cpu(j, &m, acks, "acks_per_server_cpu_s");
    j.num("acks_checked_slow_path", h.slow_path as f64);
    let mut human = format!(
        "sio-ack {}x{}x{}B: {rate:.0} acks/s, every payload checked ({} pings answered)",
        o.conns, o.inflight, o.size, h.n.pings
    );
    // Emit to ack, with P in flight per socket: closed loop, so this is
    // the server's queueing at full load, not an unloaded round trip.
    let n = h.rtt.len();
    if let Some(p) = h.rtt.summary() {
        put_percentiles(j, "rtt_us", &p, n);
        human += &format!(", round trip p50 {:.0} us, p99 {:.0} us", p[0], p[2]);
    }
    put_eio(j, &h, o.expect_pings)?;
    Ok(human + &cpu_human(&m, acks, "acks"))
}

// ---------------------------------------------------------------- sio-room

struct Room {
    sess: Vec<Session>,
    n: Counters,
    pubs: usize,
    members: usize,
    room: String,
    /// `42["to-room",{"room":"<room>","msg":"` and the `room-msg` prefix a
    /// compact serializer writes.
    emit_head: Vec<u8>,
    fast_head: Vec<u8>,
    size: usize,
    pattern: Vec<u8>,
    base: Instant,
    joined: usize,
    /// Per member, per publisher: the next sequence number due.
    next: Vec<Vec<u64>>,
    /// Per publisher: next sequence number to publish, the oldest one not
    /// yet delivered everywhere, and the members still due for each
    /// message from that one on.
    seq: Vec<u64>,
    done: Vec<u64>,
    due: Vec<VecDeque<u32>>,
    measuring: bool,
    delivered: u64,
    last_delivery: Instant,
    latency: Samples,
    slow_path: u64,
    scratch: Vec<u8>,
    /// The server has connection state recovery on (the connect answers
    /// carried a pid): a broadcast may end with an offset argument.
    offsets: bool,
    offsets_seen: u64,
}

/// `,"<offset>"]` or nothing but `]`: the end of a broadcast's arguments
/// with or without the recovery offset (a string without escapes).
fn offset_tail(t: &[u8]) -> Option<bool> {
    if t == b"]" {
        return Some(false);
    }
    let o = t.strip_prefix(b",\"")?.strip_suffix(b"\"]")?;
    (!o.is_empty() && !o.iter().any(|&b| b == b'"' || b == b'\\')).then_some(true)
}

impl Room {
    fn publish(&mut self, p: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let (s, t) = (self.seq[p], self.base.elapsed().as_nanos() as u64);
        payload(
            &mut self.scratch,
            &self.pattern,
            self.size,
            &[p as u64, s, t],
        )?;
        sio::put_text(out, &[&self.emit_head, &self.scratch, b"\"}]"]);
        self.seq[p] += 1;
        self.due[p].push_back(self.members as u32);
        Ok(())
    }

    /// A `room-msg` at member `c` (connection id), `msg` its string.
    fn deliver(&mut self, c: usize, msg: &[u8], now: Instant) -> Result<(), String> {
        let bad = || {
            format!(
                "room-msg with msg {:?}: not as published",
                String::from_utf8_lossy(msg)
            )
        };
        // Three hex numbers and dots, then the pattern (as `payload` writes).
        let mut at = 0;
        let mut num = || {
            let start = at;
            let mut v: u64 = 0;
            while let Some(&d) = msg.get(at) {
                let x = match d {
                    b'0'..=b'9' => d - b'0',
                    b'a'..=b'f' => d - b'a' + 10,
                    b'.' if at > start && at - start <= 16 => {
                        at += 1;
                        return Some(v);
                    }
                    _ => return None,
                };
                v = v << 4 | x as u64;
                at += 1;
            }
            None
        };
        let (p, s, t) = match (num(), num(), num()) {
            (Some(p), Some(s), Some(t)) if (p as usize) < self.pubs => (p as usize, s, t),
            _ => return Err(bad()),
        };
        if msg.len() != self.size || msg[at..] != self.pattern[at..] {
            return Err(bad());
        }
        let next = &mut self.next[c - self.pubs][p];
        if s != *next {
            return Err(format!(
                "member {}: message {s} of publisher {p} where {} was due: {}",
                c - self.pubs,
                *next,
                if s < *next {
                    "duplicated or out of order"
                } else {
                    "lost or out of order"
                }
            ));
        }
        *next += 1;
        let i = s.checked_sub(self.done[p]).ok_or_else(bad)? as usize;
        let due = self.due[p].get_mut(i).ok_or_else(bad)?;
        *due = due.checked_sub(1).ok_or_else(bad)?;
        while self.due[p].front() == Some(&0) {
            self.due[p].pop_front();
            self.done[p] += 1;
        }
        self.last_delivery = now;
        if self.measuring {
            self.delivered += 1;
            let sent = self.base + Duration::from_nanos(t);
            self.latency.push(now.saturating_duration_since(sent));
        }
        Ok(())
    }

    fn on_event(&mut self, c: usize, data: &[u8], now: Instant) -> Result<(), String> {
        let h = self.fast_head.len();
        if data.len() >= h + self.size + 3 && data.starts_with(&self.fast_head) {
            let (msg, tail) = data[h..].split_at(self.size);
            if let Some(off) = tail.strip_prefix(b"\"}").and_then(offset_tail) {
                if off && !self.offsets {
                    return Err(format!(
                        "room-msg {:?} with an offset, but the server did not say it recovers \
                         sessions (no pid)",
                        String::from_utf8_lossy(&data[..data.len().min(120)])
                    ));
                }
                self.offsets_seen += off as u64;
                return self.deliver(c, msg, now);
            }
        }
        let v = sio::parse_json(data).map_err(|e| format!("event: {e}"))?;
        let a = v.as_arr().unwrap_or(&[]);
        if a.first().and_then(Value::as_str) != Some("room-msg") {
            self.n.ignored += 1; // another event: not ours to check
            return Ok(());
        }
        let body = a.get(1);
        let room = body.and_then(|b| b.get("room")).and_then(Value::as_str);
        let msg = body.and_then(|b| b.get("msg")).and_then(Value::as_str);
        let offset = a.len() == 3 && self.offsets && a[2].as_str().is_some();
        match (room, msg, a.len() == 2 || offset) {
            (Some(r), Some(m), true) if r == self.room => {
                self.slow_path += 1;
                self.offsets_seen += offset as u64;
                let m = m.as_bytes().to_vec();
                self.deliver(c, &m, now)
            }
            _ => Err(format!(
                "room-msg {:?}: not {{room: {:?}, msg}}",
                String::from_utf8_lossy(&data[..data.len().min(120)]),
                self.room
            )),
        }
    }

    fn undelivered(&self) -> u64 {
        self.due.iter().flatten().map(|&d| d as u64).sum()
    }
}

impl Handler for Room {
    fn on_open(&mut self, _: usize, head: &str, _: &mut Vec<u8>, _: Instant) -> Result<(), String> {
        ws::check_upgrade(head)
    }

    fn on_data(
        &mut self,
        c: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Result<usize, String> {
        let mut s = std::mem::take(&mut self.sess[c]);
        let mut n = std::mem::take(&mut self.n);
        let member = c >= self.pubs;
        let r = s.feed(data, out, &mut n, |g, out| match g {
            Got::Connected if member => {
                sio::put_text(out, &[b"420[\"join\",\"", self.room.as_bytes(), b"\"]"]);
                Ok(())
            }
            Got::Connected => Ok(()),
            Got::Packet(p) if p.kind == ACK && member && p.id == Some(0) => {
                let v = sio::parse_json(p.data).map_err(|e| format!("join ack: {e}"))?;
                let a = v.as_arr().and_then(|a| a.first());
                let ok = a.and_then(|a| a.get("ok")) == Some(&Value::Bool(true))
                    && a.and_then(|a| a.get("room")).and_then(Value::as_str) == Some(&self.room);
                if !ok {
                    return Err(format!(
                        "join ack {:?}: not [{{ok: true, room: {:?}}}]",
                        String::from_utf8_lossy(p.data),
                        self.room
                    ));
                }
                self.joined += 1;
                Ok(())
            }
            Got::Packet(p) if p.kind == EVENT && member => self.on_event(c, p.data, now),
            Got::Packet(p) if p.kind == ACK => {
                Err(format!("an ack nobody asked for (id {:?})", p.id))
            }
            Got::Packet(_) => Ok(()),
        });
        self.sess[c] = s;
        // (on_event counted what it ignored into self.n meanwhile.)
        let ignored = self.n.ignored;
        self.n = n;
        self.n.ignored += ignored;
        r
    }
}

impl Sio for Room {
    fn counters(&self) -> &Counters {
        &self.n
    }
    fn sessions(&self) -> &[Session] {
        &self.sess
    }
}

pub fn run_room(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let (pubs, members) = (o.publishers, o.conns);
    let room = o.room.clone();
    let mut h = Room {
        sess: (0..pubs + members).map(|_| Session::default()).collect(),
        n: Counters::default(),
        pubs,
        members,
        emit_head: format!("42[\"to-room\",{{\"room\":\"{room}\",\"msg\":\"").into_bytes(),
        fast_head: format!("[\"room-msg\",{{\"room\":\"{room}\",\"msg\":\"").into_bytes(),
        room,
        size: o.size,
        pattern: pattern(o.size),
        base: Instant::now(),
        joined: 0,
        next: vec![vec![0; pubs]; members],
        seq: vec![0; pubs],
        done: vec![0; pubs],
        due: vec![VecDeque::new(); pubs],
        measuring: false,
        delivered: 0,
        last_delivery: Instant::now(),
        latency: Samples::default(),
        slow_path: 0,
        scratch: Vec::new(),
        offsets: false,
        offsets_seen: 0,
    };
    let (_, connect_s) = open_all(net, &mut h, Duration::from_secs(60))?;
    h.offsets = h.n.recovering > 0;
    let t0 = Instant::now();
    while h.joined < members {
        net.turn(&mut h, Duration::from_millis(20))
            .map_err(|e| format!("poll: {e}"))?;
        check_alive(net)?;
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "only {} of {members} joins acked after 60 s",
                h.joined
            ));
        }
    }
    let join_s = t0.elapsed().as_secs_f64();
    let start = Instant::now();
    let measure_at = start + Duration::from_secs_f64(o.warmup);
    let end = measure_at + Duration::from_secs_f64(o.secs);
    // A rate cap, shared out among the publishers.
    let interval = (o.rate > 0.0).then(|| Duration::from_secs_f64(pubs as f64 / o.rate));
    let mut next_send = vec![start; pubs];
    let mut window = None;
    h.last_delivery = start;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if window.is_none() && now >= measure_at {
            h.measuring = true;
            window = Some((Window::start(o.server_pid), h.seq.iter().sum::<u64>()));
        }
        for (p, due) in next_send.iter_mut().enumerate() {
            while h.seq[p] - h.done[p] < o.window as u64 && interval.is_none_or(|_| *due <= now) {
                let mut err = None;
                net.send(p, |out| err = h.publish(p, out).err());
                if let Some(e) = err {
                    return Err(e);
                }
                // A cap, not a schedule: what the window held back is
                // not made up for later.
                if let Some(i) = interval {
                    *due = (*due + i).max(now);
                }
            }
        }
        if interval.is_some() {
            net.wake_at(next_send.iter().min().copied().unwrap_or(end).min(end));
        }
        net.turn(&mut h, timeout_until(end, now))
            .map_err(|e| format!("poll: {e}"))?;
        check_alive(net)?;
        if h.undelivered() > 0 && h.last_delivery.elapsed() > Duration::from_secs(5) {
            return Err(format!(
                "no delivery for 5 s with {} still due ({} delivered in the window)",
                h.undelivered(),
                h.delivered
            ));
        }
    }
    let (w, published0) = window.ok_or("the run ended inside the warm-up")?;
    let m = w.end(o.server_pid);
    h.measuring = false;
    let published = (h.seq.iter().sum::<u64>() - published0) as f64;
    // Whatever was published must reach every member.
    let drain_until = Instant::now() + Duration::from_secs(5);
    while h.undelivered() > 0 && Instant::now() < drain_until {
        net.turn(&mut h, Duration::from_millis(10))
            .map_err(|e| format!("poll: {e}"))?;
        check_alive(net)?;
    }
    if h.undelivered() > 0 {
        return Err(format!(
            "{} deliveries still missing 5 s after the run",
            h.undelivered()
        ));
    }
    let delivered = h.delivered as f64;
    if delivered == 0.0 {
        return Err("no delivery in the measured window".into());
    }
    let rate = delivered / m.secs;
    j.num("members", members as f64)
        .num("publishers", pubs as f64)
        .num("window", o.window as f64)
        .num("rate_cap", o.rate)
        .num("connect_s", connect_s)
        .num("join_s", join_s);
    j.num("published", published)
        .num("published_per_s", (published / m.secs).round())
        .num("delivered", delivered)
        .num("deliveries_per_s", rate.round());
    put_cpu(j, &m, delivered, "deliveries_per_server_cpu_s");
    j.num("room_msgs_checked_slow_path", h.slow_path as f64)
        .bool("recovery_offsets", h.offsets_seen > 0);
    let n = h.latency.len();
    let mut human =
        format!(
        "sio-room {members} members, {pubs} publisher(s), window {}{}: {rate:.0} deliveries/s, \
         {:.0} msgs/s published, every delivery checked",
        o.window,
        if o.rate > 0.0 { format!(", at most {:.0}/s", o.rate) } else { String::new() },
        published / m.secs
    );
    if let Some(p) = h.latency.summary() {
        put_percentiles(j, "delivery_us", &p, n);
        human += &format!(", delivery p50 {:.0} us, p99 {:.0} us", p[0], p[2]);
    }
    put_eio(j, &h, o.expect_pings)?;
    Ok(human + &cpu_human(&m, delivered, "deliveries"))
}

// ---------------------------------------------------------------- sio-idle

struct Idle {
    sess: Vec<Session>,
    n: Counters,
}

impl Handler for Idle {
    fn on_open(&mut self, _: usize, head: &str, _: &mut Vec<u8>, _: Instant) -> Result<(), String> {
        ws::check_upgrade(head)
    }

    fn on_data(
        &mut self,
        c: usize,
        data: &[u8],
        out: &mut Vec<u8>,
        _: Instant,
    ) -> Result<usize, String> {
        let n = &mut self.n;
        self.sess[c].feed(data, out, n, |g, _| match g {
            Got::Packet(p) if p.kind == ACK => {
                Err(format!("an ack nobody asked for (id {:?})", p.id))
            }
            _ => Ok(()),
        })
    }
}

impl Sio for Idle {
    fn counters(&self) -> &Counters {
        &self.n
    }
    fn sessions(&self) -> &[Session] {
        &self.sess
    }
}

pub fn run_idle(o: &Opts, net: &mut Net, j: &mut Json) -> Result<String, String> {
    let pid = o.server_pid;
    let rss0 = pid.and_then(stats::proc_rss);
    let cpu0 = pid.and_then(stats::proc_cpu);
    let mut h = Idle {
        sess: (0..o.conns).map(|_| Session::default()).collect(),
        n: Counters::default(),
    };
    let (ws_s, connect_s) = open_all(net, &mut h, Duration::from_secs(120))?;
    let connect_cpu = cpu0.zip(pid.and_then(stats::proc_cpu)).map(|(a, b)| b - a);
    // Let the server settle (lazy frees, timers) before reading its memory.
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.warmup),
    )?;
    check_alive(net)?;
    let rss1 = pid.and_then(stats::proc_rss);
    let w = Window::start(pid);
    run_until(
        net,
        &mut h,
        Instant::now() + Duration::from_secs_f64(o.secs),
    )?;
    let m = w.end(pid);
    check_alive(net)?;
    let rss2 = pid.and_then(stats::proc_rss);
    let n = o.conns as f64;
    let per = |r: Option<u64>| {
        rss0.zip(r)
            .map(|(a, b)| ((b as f64 - a as f64) / n).round())
    };
    let per_conn = per(rss2);
    j.num("connect_s", connect_s)
        .num("ws_connect_s", ws_s)
        .num("connects_per_s", (n / connect_s).round());
    j.opt("connect_server_cpu_s", connect_cpu);
    j.opt("rss_before", rss0.map(|v| v as f64))
        .opt("rss_open", rss1.map(|v| v as f64));
    j.opt("rss_held", rss2.map(|v| v as f64))
        .opt("bytes_per_conn", per_conn)
        .opt("bytes_per_conn_open", per(rss1));
    j.num("held_s", m.secs)
        .opt("held_server_cpu_s", m.server_cpu);
    put_eio(j, &h, o.expect_pings)?;
    let mut human = format!(
        "sio-idle {} sockets: connected in {connect_s:.2} s, all held {:.1} s, {} pings answered",
        o.conns, m.secs, h.n.pings
    );
    if let (Some(a), Some(b), Some(p)) = (rss0, rss2, per_conn) {
        human += &format!(
            "; server RSS {:.1} -> {:.1} MiB, {p:.0} B per socket",
            a as f64 / 1048576.0,
            b as f64 / 1048576.0
        );
    }
    Ok(human)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let pat = pattern(32);
        let mut b = Vec::new();
        payload(&mut b, &pat, 32, &[0, 255, 0x1234]).unwrap();
        assert_eq!(b.len(), 32);
        assert!(b.starts_with(b"0.ff.1234."));
        assert_eq!(b[10..], pat[10..]);
        assert!(payload(&mut b, &pat, 4, &[0x12345]).is_err());
    }

    #[test]
    fn broadcast_tails() {
        assert_eq!(offset_tail(b"]"), Some(false));
        assert_eq!(offset_tail(br#","1733308-4"]"#), Some(true));
        for bad in [
            &b""[..],
            b"]]",
            br#","]"#,
            br#","a"b"]"#,
            br#","a\"]"#,
            br#",1]"#,
        ] {
            assert_eq!(offset_tail(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
