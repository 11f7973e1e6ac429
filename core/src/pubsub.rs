//! Publish/subscribe: named topics that WebSocket and SSE connections join,
//! fan-out that encodes a message once for every subscriber, a bound on
//! what a slow subscriber may cost, and a bounded history from which an
//! SSE client that reconnects with `Last-Event-ID` gets what it missed.

use crate::config::SlowConsumerPolicy;
use crate::driver::conn::Phase;
use crate::driver::topics::{Entry, Membership, Subscriber};
use crate::driver::{compress, Loop};
use crate::error::{Error, Result};
use crate::event::{ConnId, MessageKind};
use crate::proto::frame::{self, OpCode, MAX_HEADER_LEN};
use crate::proto::sse::{self, SseEvent};
use crate::server::Server;
use bytes::Bytes;
use std::time::Instant;

pub use crate::driver::topics::HistoryLimit;

/// Encoded frames up to this size are copied into each subscriber's queue
/// (a copy of a few hundred bytes costs less than the reference count and
/// queue entry of a shared buffer); larger ones are queued by reference.
const SHARE_ABOVE: usize = 1024;

/// Longest topic name accepted.
pub const MAX_TOPIC_LEN: usize = 1024;

/// One message to publish. Build with [`Publish::text`] or
/// [`Publish::binary`] and the `with_*` methods.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    pub kind: MessageKind,
    pub data: &'a [u8],
    /// A connection that does not get it (usually the sender).
    pub exclude: Option<ConnId>,
    /// What to do with a subscriber whose queue is over
    /// `Config::slow_consumer_limit`; `None` uses the config's policy.
    pub on_slow: Option<SlowConsumerPolicy>,
    /// The SSE `event:` name subscribers on SSE streams see (none: the
    /// client's default `message`).
    pub sse_event: Option<&'a str>,
}

impl<'a> Publish<'a> {
    pub fn new(kind: MessageKind, data: &'a [u8]) -> Self {
        Publish {
            kind,
            data,
            exclude: None,
            on_slow: None,
            sse_event: None,
        }
    }

    pub fn text(text: &'a str) -> Self {
        Self::new(MessageKind::Text, text.as_bytes())
    }

    pub fn binary(data: &'a [u8]) -> Self {
        Self::new(MessageKind::Binary, data)
    }

    pub fn with_exclude(mut self, conn: ConnId) -> Self {
        self.exclude = Some(conn);
        self
    }

    pub fn with_on_slow(mut self, policy: SlowConsumerPolicy) -> Self {
        self.on_slow = Some(policy);
        self
    }

    pub fn with_sse_event(mut self, name: &'a str) -> Self {
        self.sse_event = Some(name);
        self
    }
}

/// What one publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Subscribers it was queued for.
    pub delivered: usize,
    /// Slow subscribers that did not get it (policy `Drop`).
    pub dropped: usize,
    /// Slow subscribers closed because of it (policy `Close`).
    pub closed: usize,
    /// The event id, when the topic keeps history (SSE subscribers see it
    /// as `id:`).
    pub event_id: Option<u64>,
}

/// The outcome of [`Server::subscribe_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Subscribed, and every event after the client's last id was queued
    /// (in order, before anything published later). 0 when it missed none.
    Replayed(usize),
    /// Subscribed, but nothing was replayed, so the app should send the
    /// client a full snapshot now: some events after the client's last id
    /// are no longer in the history, the id is not one of this server
    /// instance's, or the events to replay would exceed
    /// `Config::slow_consumer_limit`.
    Missed,
}

/// Counters and gauges from [`Server::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    pub websockets: usize,
    pub sse_streams: usize,
    /// Bytes queued for every connection and not yet taken by the sockets.
    pub buffered_bytes: usize,
    pub topics: usize,
    /// Publish calls (to a topic or to everyone).
    pub published: u64,
    /// Messages queued to subscribers by publishes.
    pub delivered: u64,
    /// Messages not queued to a slow subscriber (policy `Drop`).
    pub dropped: u64,
    /// Connections closed as slow subscribers (policy `Close`).
    pub slow_closed: u64,
}

impl Server {
    /// Adds a WebSocket or SSE connection to `topic`. Returns false if it was
    /// already subscribed. A connection leaves all its topics when it closes.
    pub fn subscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.subscribe(slot, topic)
    }

    /// Subscribes and replays what the client missed since
    /// `last_event_id` (an SSE client's `Last-Event-ID` header, see
    /// [`crate::Request::last_event_id`]), from the topic's history. With no
    /// id it only subscribes. See [`Replay`] for what the app must do when
    /// events were missed.
    pub fn subscribe_since(
        &mut self,
        conn: ConnId,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Replay> {
        check_topic(topic)?;
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        self.lp.now = Instant::now();
        if !self.lp.subscribe(slot, topic)? {
            return Ok(Replay::Replayed(0)); // already live on this topic
        }
        match last_event_id {
            None => Ok(Replay::Replayed(0)),
            Some(id) => Ok(self.lp.replay(slot, topic, id)),
        }
    }

    /// Removes a connection from `topic`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, conn: ConnId, topic: &str) -> Result<bool> {
        let slot = self.lp.slot(conn).ok_or(Error::UnknownConnection)?;
        Ok(self.lp.unsubscribe(slot, topic))
    }

    /// Sends a message to every subscriber of `topic`, WebSocket and SSE
    /// alike (binary messages skip SSE streams, which carry text only).
    /// The frame is encoded (and, where the subscribers' parameters allow,
    /// compressed) once and the same bytes are queued to each.
    pub fn publish(&mut self, topic: &str, msg: &Publish<'_>) -> Result<Published> {
        check_topic(topic)?;
        self.lp.now = Instant::now();
        self.lp.publish(Some(topic), msg)
    }

    /// Sends a message to every open WebSocket and SSE stream.
    pub fn publish_all(&mut self, msg: &Publish<'_>) -> Result<Published> {
        self.lp.now = Instant::now();
        self.lp.publish(None, msg)
    }

    /// Whether `conn` is subscribed to `topic` (false for unknown ids).
    pub fn is_subscribed(&self, conn: ConnId, topic: &str) -> bool {
        let (Some(slot), Some(key)) = (self.lp.slot(conn), self.lp.topics.key(topic)) else {
            return false;
        };
        self.lp.conns[slot].topics.iter().any(|m| m.topic == key)
    }

    /// Live subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.lp
            .topics
            .key(topic)
            .map_or(0, |k| self.lp.topics.list[k as usize].subs.len())
    }

    /// Makes `topic` keep its last events for [`Server::subscribe_since`]
    /// (`max_events` 0 turns history off and forgets it). Event ids
    /// increase across all topics of this server instance; an id from
    /// another instance (an earlier run, another worker) is a miss. Exact
    /// resume assumes one history topic per SSE stream: with several, the
    /// stream's single `Last-Event-ID` cannot say how far each got (replays
    /// of different topics interleave ids), so resume each from the same id
    /// only if a miss there is acceptable. SSE subscribers of a topic with
    /// history are closed rather than skipped when slow, whatever the
    /// policy, so that they resume without a gap.
    pub fn set_topic_history(&mut self, topic: &str, limit: HistoryLimit) -> Result<()> {
        check_topic(topic)?;
        self.lp.now = Instant::now();
        self.lp.topics.set_history(topic, limit, self.lp.now);
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        let lp = &self.lp;
        let mut s = Stats {
            connections: lp.conns.len(),
            topics: lp.topics.len(),
            published: lp.topics.counters.published,
            delivered: lp.topics.counters.delivered,
            dropped: lp.topics.counters.dropped,
            slow_closed: lp.topics.counters.slow_closed,
            ..Stats::default()
        };
        for (_, c) in lp.conns.iter() {
            s.buffered_bytes += c.out.len();
            match c.phase {
                Phase::WebSocket { .. } => s.websockets += 1,
                Phase::Sse => s.sse_streams += 1,
                _ => {}
            }
        }
        s
    }
}

pub(crate) fn check_topic(topic: &str) -> Result<()> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(Error::InvalidArgument("topic name must be 1-1024 bytes"));
    }
    Ok(())
}

pub(crate) fn check_publish(msg: &Publish<'_>) -> Result<()> {
    if msg.kind == MessageKind::Text && simdutf8::basic::from_utf8(msg.data).is_err() {
        return Err(Error::InvalidArgument("text message is not valid UTF-8"));
    }
    sse::validate(&SseEvent {
        event: msg.sse_event,
        ..SseEvent::default()
    })?;
    Ok(())
}

/// A published message in the forms subscribers need, each made once.
struct Encoded<'a> {
    opcode: OpCode,
    payload: &'a [u8],
    /// The uncompressed WebSocket frame.
    frame: Bytes,
    header_len: usize,
    /// The SSE event (text messages only).
    sse: Option<Bytes>,
    /// The event has an id (its topic keeps history).
    has_id: bool,
    /// Compressed frames for subscribers without server context takeover,
    /// by their window bits; made on first need.
    deflated: [Option<Bytes>; 16],
}

fn frame_bytes(opcode: OpCode, compressed: bool, payload: &[u8]) -> (Bytes, usize) {
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let n = frame::encode_header(&mut hdr, true, opcode, payload.len());
    if compressed {
        hdr[0] |= 0x40; // RSV1 (RFC 7692 §6)
    }
    let mut v = Vec::with_capacity(n + payload.len());
    v.extend_from_slice(&hdr[..n]);
    v.extend_from_slice(payload);
    (Bytes::from(v), n)
}

/// How one subscriber gets the message.
enum Via {
    /// These shared bytes (uncompressed, compressed once, or SSE).
    Bytes(Bytes),
    /// Compressed for this connection alone (its own context).
    OwnContext,
}

impl Loop {
    fn is_live(&self, slot: usize) -> bool {
        matches!(
            self.conns[slot].phase,
            Phase::WebSocket {
                closing: None,
                ending: None,
                ..
            } | Phase::Sse
        )
    }

    pub(crate) fn subscribe(&mut self, slot: usize, name: &str) -> Result<bool> {
        if !self.is_live(slot) {
            return Err(match self.conns[slot].phase {
                Phase::WebSocket { .. } | Phase::Linger { .. } => Error::Closed,
                _ => Error::WrongState("not an open WebSocket or SSE stream"),
            });
        }
        if let Some(k) = self.topics.key(name) {
            if self.conns[slot].topics.iter().any(|m| m.topic == k) {
                return Ok(false);
            }
        }
        let key = self.topics.get_or_create(name);
        let id = self.conns[slot].id;
        let m = self.topics.join(key, Subscriber { slot, id });
        self.conns[slot].topics.push(m);
        Ok(true)
    }

    pub(crate) fn unsubscribe(&mut self, slot: usize, name: &str) -> bool {
        let Some(key) = self.topics.key(name) else {
            return false;
        };
        let topics = &mut self.conns[slot].topics;
        let Some(i) = topics.iter().position(|m| m.topic == key) else {
            return false;
        };
        let m = topics.swap_remove(i);
        self.leave(m);
        true
    }

    fn leave(&mut self, m: Membership) {
        if let Some(moved) = self.topics.leave(m) {
            if let Some(c) = self.conns.get_mut(moved.slot) {
                if let Some(mm) = c.topics.iter_mut().find(|x| x.topic == m.topic) {
                    mm.pos = m.pos;
                }
            }
        }
    }

    /// Leaves every topic (the connection is closing).
    pub(crate) fn drop_topics(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.topics.is_empty() {
            return;
        }
        for m in conn.topics.take() {
            self.leave(m);
        }
    }

    pub(crate) fn publish(&mut self, topic: Option<&str>, msg: &Publish<'_>) -> Result<Published> {
        check_publish(msg)?;
        let key = match topic {
            Some(name) => match self.topics.key(name) {
                Some(k) => Some(k as usize),
                None => {
                    self.topics.counters.published += 1;
                    return Ok(Published::default()); // nobody listens, nothing kept
                }
            },
            None => None,
        };
        let keeps_history = key.is_some_and(|k| self.topics.list[k].history.is_some());
        let event_id = keeps_history.then(|| self.topics.next_event_id());
        let opcode = match msg.kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let (frame, header_len) = frame_bytes(opcode, false, msg.data);
        let sse = (msg.kind == MessageKind::Text).then(|| {
            let id = event_id.map(|i| i.to_string());
            let ev = SseEvent {
                event: msg.sse_event,
                id: id.as_deref(),
                retry: None,
                // Checked as UTF-8 above.
                data: std::str::from_utf8(msg.data).unwrap_or_default(),
            };
            let mut v = Vec::with_capacity(sse::encoded_len_hint(&ev));
            let _ = sse::encode_event(&mut v, &ev);
            Bytes::from(v)
        });
        let mut enc = Encoded {
            opcode,
            payload: msg.data,
            frame,
            header_len,
            sse,
            has_id: event_id.is_some(),
            deflated: Default::default(),
        };
        let policy = msg.on_slow.unwrap_or(self.config.slow_consumer_policy);
        let mut report = Published {
            event_id,
            ..Published::default()
        };
        let mut slow = Vec::new();
        match key {
            Some(k) => {
                // Taken out while delivering; nothing in `deliver` changes
                // membership (slow closes wait until after the loop).
                let subs = std::mem::take(&mut self.topics.list[k].subs);
                for s in &subs {
                    if Some(s.id) != msg.exclude {
                        self.deliver(s.slot, &mut enc, policy, &mut report, &mut slow);
                    }
                }
                self.topics.list[k].subs = subs;
            }
            None => {
                let mut slots = std::mem::take(&mut self.topics.scratch);
                slots.clear();
                slots.extend(
                    self.conns
                        .iter()
                        .filter(|(_, c)| Some(c.id) != msg.exclude)
                        .map(|(s, _)| s),
                );
                for &slot in &slots {
                    self.deliver(slot, &mut enc, policy, &mut report, &mut slow);
                }
                self.topics.scratch = slots;
            }
        }
        if let (Some(k), Some(id)) = (key, event_id) {
            let now = self.now;
            if let Some(h) = self.topics.list[k].history.as_mut() {
                h.entries.push_back(Entry {
                    id,
                    at: now,
                    kind: msg.kind,
                    payload: enc.frame.slice(enc.header_len..),
                    frame: enc.frame,
                    sse: enc.sse,
                });
                h.trim(now);
            }
        }
        let c = &mut self.topics.counters;
        c.published += 1;
        c.delivered += report.delivered as u64;
        c.dropped += report.dropped as u64;
        c.slow_closed += report.closed as u64;
        for slot in slow {
            // Not reading: a close frame would wait behind everything it
            // has not read. End it now and free its queue.
            self.remove(slot, 1008, "slow consumer: send buffer limit exceeded");
        }
        Ok(report)
    }

    /// Queues the message for one subscriber, or applies the slow-consumer
    /// policy to it.
    fn deliver(
        &mut self,
        slot: usize,
        enc: &mut Encoded<'_>,
        policy: SlowConsumerPolicy,
        report: &mut Published,
        slow: &mut Vec<usize>,
    ) {
        if !self.is_live(slot) {
            return;
        }
        let conn = &mut self.conns[slot];
        let via = match &conn.phase {
            Phase::Sse => match &enc.sse {
                Some(b) => Via::Bytes(b.clone()),
                None => return, // binary: SSE carries text only
            },
            _ => match conn.deflate.as_deref() {
                Some(d) if d.compresses(&self.config.deflate, enc.payload.len()) => {
                    if d.params.server_no_context_takeover {
                        let bits = d.params.server_max_window_bits;
                        let cfg = &self.config.deflate;
                        let shared = &mut self.shared_deflate;
                        let (opcode, payload) = (enc.opcode, enc.payload);
                        let b = enc.deflated[bits as usize].get_or_insert_with(|| {
                            compress::compress_without_context(cfg, shared, bits, payload);
                            frame_bytes(opcode, true, &shared.scratch).0
                        });
                        Via::Bytes(b.clone())
                    } else {
                        Via::OwnContext
                    }
                }
                _ => Via::Bytes(enc.frame.clone()),
            },
        };
        let len = match &via {
            Via::Bytes(b) => b.len(),
            Via::OwnContext => enc.payload.len() + MAX_HEADER_LEN,
        };
        let limit = self.config.slow_consumer_limit;
        if !conn.out.is_empty() && conn.out.len() + len > limit {
            // The queue may only look full because this turn has not
            // flushed yet: let the socket take what it will, then judge.
            let _ = conn.out.flush(&mut conn.socket, &mut self.pool);
            if !conn.out.is_empty() && conn.out.len() + len > limit {
                conn.wants_drain = true;
                // An SSE client on a topic with history would resume past
                // a dropped event (its Last-Event-ID moves on with the next
                // one) and never get it: closing it instead makes it
                // reconnect and replay exactly what it missed.
                let policy = match (&conn.phase, enc.has_id) {
                    (Phase::Sse, true) => SlowConsumerPolicy::Close,
                    _ => policy,
                };
                match policy {
                    SlowConsumerPolicy::Drop => report.dropped += 1,
                    SlowConsumerPolicy::Close => {
                        report.closed += 1;
                        slow.push(slot);
                    }
                }
                return;
            }
        }
        match via {
            Via::Bytes(b) => {
                if b.len() > SHARE_ABOVE {
                    conn.out.push_shared(b);
                } else {
                    conn.out.append(&mut self.pool, &b);
                }
                if matches!(conn.phase, Phase::Sse) {
                    conn.last_write = self.now;
                }
                self.mark_dirty(slot);
            }
            Via::OwnContext => self.push_frame(slot, enc.opcode, enc.payload),
        }
        report.delivered += 1;
    }

    /// Queues the history after `last_event_id` to a just-subscribed
    /// connection.
    pub(crate) fn replay(&mut self, slot: usize, topic: &str, last_event_id: &str) -> Replay {
        let Some(key) = self.topics.key(topic) else {
            return Replay::Missed;
        };
        let last = match last_event_id.trim().parse::<u64>() {
            // Not an id of this instance: another server, an earlier run,
            // a forged header.
            Ok(l) if self.topics.is_ours(l) => l,
            _ => return Replay::Missed,
        };
        let Some(h) = self.topics.list[key as usize].history.as_mut() else {
            return Replay::Missed;
        };
        h.trim(self.now);
        // Everything after `complete_after` is still in the history, so a
        // client that saw at least that far missed nothing we lost.
        if last < h.complete_after {
            return Replay::Missed;
        }
        let sse_stream = matches!(self.conns[slot].phase, Phase::Sse);
        let missed: Vec<(MessageKind, Bytes, Option<Bytes>, Bytes)> = h
            .entries
            .iter()
            .filter(|e| e.id > last && (e.sse.is_some() || !sse_stream))
            .map(|e| (e.kind, e.frame.clone(), e.sse.clone(), e.payload.clone()))
            .collect();
        // All or nothing, and within what a live subscriber may have
        // queued: a replay that left the client over the slow-consumer
        // limit would get it closed (or its next events dropped) by the
        // next publish. Too much to replay is a miss: the app sends a
        // snapshot, which is also the cheaper way to catch up.
        let bytes: usize = missed
            .iter()
            .map(|(_, frame, sse, _)| match sse_stream {
                true => sse.as_ref().map_or(0, Bytes::len),
                false => frame.len(),
            })
            .sum();
        if self.conns[slot].out.len() + bytes > self.config.slow_consumer_limit {
            return Replay::Missed;
        }
        let mut replayed = 0;
        for (kind, frame, sse, payload) in missed {
            if sse_stream {
                let Some(sse) = sse else { continue };
                self.conns[slot].out.push_shared(sse);
            } else if self.conns[slot].deflate.is_some() {
                let opcode = match kind {
                    MessageKind::Text => OpCode::Text,
                    MessageKind::Binary => OpCode::Binary,
                };
                self.push_frame(slot, opcode, &payload);
            } else {
                self.conns[slot].out.push_shared(frame);
            }
            replayed += 1;
        }
        if replayed > 0 {
            self.conns[slot].last_write = self.now;
            self.mark_dirty(slot);
        }
        Replay::Replayed(replayed)
    }
}
