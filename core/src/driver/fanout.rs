//! Publish/subscribe on the loop: membership, fan-out that encodes (and
//! compresses) a message once for every subscriber, the slow-consumer
//! bound, topic history and the replay that lets an SSE client resume.

use super::sio_fanout::{EngineChores, EngineMessage};
use super::topics::Memberships;
use super::topics::{Entry, Membership, Sequenced, Subscriber};
use super::Driver;
use crate::args::check_publish;
use crate::config::SlowConsumerPolicy;
use crate::error::{Error, Result};
use crate::event::{ConnId, IdKind};
use crate::proto::compress::compress_without_context;
use crate::proto::frame::MAX_HEADER_LEN;
use crate::proto::sse::{self, SseEvent};
use crate::proto::{frame_bytes, opcode, MessageKind, PublishForm, Refusal};
use crate::pubsub::{HistoryLimit, Publish, Published, Replay, Stats};
use bytes::Bytes;

/// Encoded frames up to this size are copied into each subscriber's queue
/// (a copy of a few hundred bytes costs less than the reference count and
/// queue entry of a shared buffer); larger ones are queued by reference.
const SHARE_ABOVE: usize = 1024;

/// A published message in the forms subscribers need, each made once.
struct Encoded<'a> {
    kind: MessageKind,
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

/// The forms of a publish made by one loop of a group, handed to the
/// next: each form is made once for the whole server (and the compressed
/// ones on first need by whichever loop needs them first). Loops deliver
/// a group's publishes in one order, so the event id is the same on each.
#[derive(Default)]
pub(crate) struct CarriedForms {
    forms: Option<Forms>,
    /// The first loop sent the publish to the cluster to be sequenced:
    /// every loop delivers it when Redis brings it back, none now.
    sequenced: bool,
}

impl CarriedForms {
    pub fn sequenced(&self) -> bool {
        self.sequenced
    }
}

struct Forms {
    event_id: Option<u64>,
    frame: Bytes,
    header_len: usize,
    sse: Option<Bytes>,
    deflated: [Option<Bytes>; 16],
}

/// Where a publish being delivered comes from.
pub(super) enum Origin {
    /// Published on this server: counted in `published`, sent to the
    /// cluster.
    Here,
    /// Published on this server and delivered by another of its loops
    /// first: counted there.
    Sibling,
    /// Brought by the cluster, with the id Redis gave it if sequenced.
    Relayed(Option<u64>),
    /// Published here, but Redis did not take it: delivered here alone.
    Unsent,
}

/// A checked message's WebSocket frame (uncompressed), the frame's header
/// length and, for text, its SSE event (with `event_id` as `id:`): the
/// forms every subscriber and the history share.
pub(super) fn encode_forms(
    msg: &Publish<'_>,
    event_id: Option<u64>,
) -> (Bytes, usize, Option<Bytes>) {
    let (frame, header_len) = frame_bytes(opcode(msg.kind), false, msg.data);
    let sse = (msg.kind == MessageKind::Text).then(|| {
        let id = event_id.map(|i| i.to_string());
        let ev = SseEvent {
            event: msg.sse_event,
            id: id.as_deref(),
            retry: None,
            // Checked as UTF-8 by the caller.
            data: std::str::from_utf8(msg.data).unwrap_or_default(),
        };
        let mut v = Vec::with_capacity(sse::encoded_len_hint(&ev));
        let _ = sse::encode_event(&mut v, &ev);
        Bytes::from(v)
    });
    (frame, header_len, sse)
}

/// How one subscriber gets the message.
enum Via<'a> {
    /// These shared bytes (uncompressed, compressed once, or SSE): cloned
    /// (a reference count) only when queued as shared, copied when small.
    Bytes(&'a Bytes),
    /// Compressed for this connection alone (its own context).
    OwnContext,
}

impl Driver {
    /// The topics of a live connection, session or socket.
    pub(super) fn memberships(&self, id: ConnId) -> Option<&Memberships> {
        match id.kind() {
            IdKind::Conn => self.slot(id).map(|s| &self.conns[s].topics),
            IdKind::Session => self.session_slot(id).map(|s| &self.sessions[s].topics),
            IdKind::Socket => self.socket_slot(id).map(|s| &self.sockets[s].topics),
        }
    }

    fn memberships_mut(&mut self, id: ConnId) -> Option<&mut Memberships> {
        let slot = id.slot();
        match id.kind() {
            IdKind::Conn => self
                .conns
                .get_mut(slot)
                .filter(|c| c.id == id)
                .map(|c| &mut c.topics),
            IdKind::Session => self
                .sessions
                .get_mut(slot)
                .filter(|s| s.id == id)
                .map(|s| &mut s.topics),
            IdKind::Socket => self
                .sockets
                .get_mut(slot)
                .filter(|s| s.id == id)
                .map(|s| &mut s.topics),
        }
    }

    /// Whether `id` may join topics now: an open WebSocket or event
    /// stream, an open plain Engine.IO session, a connected socket.
    fn check_live(&self, id: ConnId) -> Result<()> {
        match id.kind() {
            IdKind::Conn => {
                let slot = self.slot(id).ok_or_else(Error::unknown_connection)?;
                let proto = &self.conns[slot].proto;
                if !proto.is_live() {
                    return Err(proto.not_live().into());
                }
            }
            IdKind::Session => {
                let s = self
                    .session_slot(id)
                    .ok_or_else(Error::unknown_connection)?;
                if !self.sessions[s].proto.is_open() {
                    return Err(Refusal::Closed.into());
                }
            }
            IdKind::Socket => {
                self.socket_slot(id).ok_or_else(Error::unknown_connection)?;
                if !self.socket_connected(id) {
                    return Err(Refusal::WrongState("socket is not connected yet").into());
                }
            }
        }
        Ok(())
    }

    pub fn subscribe(&mut self, id: ConnId, name: &str) -> Result<bool> {
        self.check_live(id)?;
        if let Some(k) = self.topics.key(name) {
            if self
                .memberships(id)
                .is_some_and(|t| t.iter().any(|m| m.topic == k))
            {
                return Ok(false);
            }
        }
        let key = self.topics.get_or_create(name);
        let m = self.topics.join(
            key,
            Subscriber {
                slot: id.slot(),
                id,
            },
        );
        self.sync_interest(key);
        if let Some(t) = self.memberships_mut(id) {
            t.push(m);
        }
        Ok(true)
    }

    pub fn unsubscribe(&mut self, id: ConnId, name: &str) -> Result<bool> {
        if self.memberships(id).is_none() {
            return Err(Error::unknown_connection());
        }
        let Some(key) = self.topics.key(name) else {
            return Ok(false);
        };
        let topics = self.memberships_mut(id).expect("checked above");
        let Some(i) = topics.iter().position(|m| m.topic == key) else {
            return Ok(false);
        };
        let m = topics.swap_remove(i);
        self.leave(m);
        Ok(true)
    }

    pub fn is_subscribed(&self, id: ConnId, name: &str) -> bool {
        let (Some(topics), Some(key)) = (self.memberships(id), self.topics.key(name)) else {
            return false;
        };
        topics.iter().any(|m| m.topic == key)
    }

    /// The topics (rooms) `id` is subscribed to.
    pub fn topics_of(&self, id: ConnId) -> Result<Vec<String>> {
        let topics = self.memberships(id).ok_or_else(Error::unknown_connection)?;
        Ok(topics
            .iter()
            .map(|m| self.topics.list[m.topic as usize].name.to_string())
            .collect())
    }

    pub fn subscriber_count(&self, name: &str) -> usize {
        self.topics
            .key(name)
            .map_or(0, |k| self.topics.list[k as usize].subs.len())
    }

    /// Subscribes and replays what the client missed after `last_event_id`
    /// (by default the `Last-Event-ID` an SSE client sent).
    pub fn resume(
        &mut self,
        id: ConnId,
        name: &str,
        last_event_id: Option<&str>,
    ) -> Result<Replay> {
        self.now = std::time::Instant::now();
        if !self.subscribe(id, name)? {
            return Ok(Replay::Replayed(0)); // already live on this topic
        }
        if id.kind() != IdKind::Conn {
            return Ok(Replay::Replayed(0)); // Socket.IO recovers by its own offsets
        }
        let slot = id.slot();
        let last = match last_event_id {
            Some(l) => Some(l.to_string()),
            None => self.conns[slot]
                .proto
                .sse_stream()
                .and_then(|s| s.last_event_id().map(str::to_string)),
        };
        match last {
            None => Ok(Replay::Replayed(0)),
            Some(l) => Ok(self.replay(slot, name, &l)),
        }
    }

    pub(super) fn leave(&mut self, m: Membership) {
        if let Some(moved) = self.topics.leave(m) {
            if let Some(t) = self.memberships_mut(moved.id) {
                if let Some(mm) = t.iter_mut().find(|x| x.topic == m.topic) {
                    mm.pos = m.pos;
                }
            }
        }
        self.sync_interest(m.topic);
    }

    /// Leaves every topic (the connection, session or socket is no longer
    /// live).
    pub(super) fn drop_memberships(&mut self, id: ConnId) {
        let Some(t) = self.memberships_mut(id) else {
            return;
        };
        if t.is_empty() {
            return;
        }
        for m in t.take() {
            self.leave(m);
        }
    }

    pub fn set_topic_history(&mut self, name: &str, limit: HistoryLimit) {
        self.now = std::time::Instant::now();
        self.topics.set_history(name, limit, self.now);
        if let Some(key) = self.topics.key(name) {
            self.sync_interest(key);
            // Already relayed (it has subscribers): what Redis kept.
            self.backfill(key);
        }
    }

    pub fn clear_topic_history(&mut self, name: &str) {
        self.topics.clear_history(name);
        if let Some(key) = self.topics.key(name) {
            self.sync_interest(key);
        }
    }

    /// Publishes here and, in a cluster, to the other servers.
    pub fn publish(&mut self, topic: Option<&str>, msg: &Publish<'_>) -> Result<Published> {
        self.deliver_publish(topic, msg, Origin::Here, None)
    }

    /// Delivers a publish made on a group of loops to this loop's
    /// subscribers (`first`: the loop that counts it), with the forms an
    /// earlier loop made.
    pub fn publish_in_group(
        &mut self,
        topic: Option<&str>,
        msg: &Publish<'_>,
        first: bool,
        carried: &mut CarriedForms,
    ) -> Result<Published> {
        let origin = match first {
            true => Origin::Here,
            false => Origin::Sibling,
        };
        self.deliver_publish(topic, msg, origin, Some(carried))
    }

    /// Delivers a publish to this server's subscribers (in a cluster, a
    /// publish here to a topic with history waits for Redis to sequence
    /// it and bring it back, when Redis relays the topic: `Published`
    /// then reports nothing delivered yet and no id).
    pub(super) fn deliver_publish(
        &mut self,
        topic: Option<&str>,
        msg: &Publish<'_>,
        origin: Origin,
        mut carried: Option<&mut CarriedForms>,
    ) -> Result<Published> {
        // A sibling loop delivers what the group's first loop checked.
        if !matches!(origin, Origin::Sibling) {
            check_publish(msg)?;
        }
        let local = matches!(origin, Origin::Here);
        // Looked up once: nothing below adds or drops topics before the
        // fan-out.
        let key = topic.and_then(|n| self.topics.key(n)).map(|k| k as usize);
        if let (true, Some(c)) = (local, &self.cluster) {
            let t = key.map(|k| &self.topics.list[k]);
            let history = t.and_then(|t| t.history.as_ref().map(|h| h.limit));
            let wait = history.is_some() && t.is_some_and(|t| t.relayed) && c.publisher_up();
            if c.publish(topic, msg, history, !wait) && wait {
                self.topics.counters.published += 1;
                if let Some(c) = carried {
                    c.sequenced = true;
                }
                return Ok(Published::default());
            }
        }
        let cluster_id = match origin {
            Origin::Relayed(id) => id,
            _ => None,
        };
        if let (Some(id), Some(k)) = (cluster_id, key) {
            if let Some(h) = self.topics.list[k].history.as_mut() {
                if h.sequenced(id) == Sequenced::Duplicate {
                    return Ok(Published::default());
                }
            }
        }
        self.now = std::time::Instant::now();
        // Sockets see a publish as this event, with its recovery offset
        // (kept even when no socket hears the topic now, as long as a
        // socket away for a moment may have been in it: it gets it when it
        // recovers).
        let event = msg.sse_event.unwrap_or("message");
        let offset = match topic {
            Some(name) if self.may_recover_from(name) => {
                let mut probe = EngineMessage::publish(msg.kind, msg.data, event, None);
                let sio = probe.sio();
                let (inner, attachments) = (sio.inner.to_string(), sio.attachments.clone());
                self.log_broadcast(None, &[name], &[], msg.exclude, event, &inner, &attachments)
            }
            _ => None,
        };
        if topic.is_some() && key.is_none() {
            self.topics.counters.published += local as u64;
            return Ok(Published::default()); // nobody listens, nothing kept
        }
        let history = key.and_then(|k| self.topics.list[k].history.as_mut());
        let keeps_history = history.is_some();
        if let (Some(h), None) = (history, cluster_id) {
            h.unsequenced();
        }
        let event_id = match cluster_id {
            Some(id) => Some(id),
            None => keeps_history.then(|| self.topics.next_event_id()),
        };
        let mut enc = match carried.as_mut().and_then(|c| c.forms.take()) {
            Some(f) => {
                debug_assert_eq!(f.event_id, event_id, "a group's loops publish in one order");
                Encoded {
                    kind: msg.kind,
                    payload: msg.data,
                    frame: f.frame,
                    header_len: f.header_len,
                    sse: f.sse,
                    has_id: event_id.is_some(),
                    deflated: f.deflated,
                }
            }
            None => {
                let (frame, header_len, sse) = encode_forms(msg, event_id);
                Encoded {
                    kind: msg.kind,
                    payload: msg.data,
                    frame,
                    header_len,
                    sse,
                    has_id: event_id.is_some(),
                    deflated: Default::default(),
                }
            }
        };
        let policy = msg.on_slow.unwrap_or(self.config.slow_consumer_policy);
        let mut report = Published {
            event_id,
            ..Published::default()
        };
        let mut slow = Vec::new();
        let mut engine = EngineMessage::publish(msg.kind, msg.data, event, offset);
        let mut later = EngineChores::default();
        match key {
            Some(k) => {
                // Taken out while delivering; nothing in `deliver` changes
                // membership (slow closes wait until after the loop).
                let subs = std::mem::take(&mut self.topics.list[k].subs);
                for s in &subs {
                    if Some(s.id) == msg.exclude {
                        continue;
                    }
                    match s.id.kind() {
                        IdKind::Conn => {
                            self.deliver(s.slot, &mut enc, policy, &mut report, &mut slow)
                        }
                        _ => {
                            self.deliver_engine(s.id, &mut engine, policy, &mut report, &mut later)
                        }
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
                let others: Vec<ConnId> = (self.sessions.iter().map(|(_, s)| s.id))
                    .chain(self.sockets.iter().map(|(_, s)| s.id))
                    .filter(|id| Some(*id) != msg.exclude)
                    .collect();
                for id in others {
                    self.deliver_engine(id, &mut engine, policy, &mut report, &mut later);
                }
            }
        }
        self.finish_engine_delivery(later);
        if let Some(c) = carried {
            c.forms = Some(Forms {
                event_id,
                frame: enc.frame.clone(),
                header_len: enc.header_len,
                sse: enc.sse.clone(),
                deflated: std::mem::take(&mut enc.deflated),
            });
        }
        if let (Some(k), Some(id)) = (key, event_id) {
            let now = self.now;
            let history = self.topics.list[k].history.as_mut();
            // While Redis sequences the topic, the history mirrors its
            // events only (`unsequenced` noted this one's absence).
            if let Some(h) = history.filter(|h| h.cluster.is_none() || cluster_id.is_some()) {
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
        c.published += local as u64;
        c.delivered += report.delivered as u64;
        c.dropped += report.dropped as u64;
        c.slow_closed += report.closed as u64;
        for slot in slow {
            // Not reading: a close frame would wait behind everything it
            // has not read. End it now and free its queue.
            self.end(slot, 1008, "slow consumer: send buffer limit exceeded");
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
        let conn = &mut self.conns[slot];
        if !conn.proto.is_live() {
            return;
        }
        let is_sse = conn.proto.sse_stream().is_some();
        let via = if is_sse {
            match &enc.sse {
                Some(b) => Via::Bytes(b),
                None => return, // binary: SSE carries text only
            }
        } else {
            let Some(ws) = conn.proto.websocket() else {
                return;
            };
            match ws.publish_form(&self.config.deflate, enc.payload.len()) {
                PublishForm::Plain => Via::Bytes(&enc.frame),
                PublishForm::SharedDeflate { window_bits } => {
                    let cfg = &self.config.deflate;
                    let shared = &mut self.shared_deflate;
                    let (kind, payload) = (enc.kind, enc.payload);
                    let b = enc.deflated[window_bits as usize].get_or_insert_with(|| {
                        compress_without_context(cfg, shared, window_bits, payload);
                        frame_bytes(opcode(kind), true, &shared.scratch).0
                    });
                    Via::Bytes(b)
                }
                PublishForm::OwnContext => Via::OwnContext,
            }
        };
        let len = match &via {
            Via::Bytes(b) => b.len(),
            Via::OwnContext => enc.payload.len() + MAX_HEADER_LEN,
        };
        let limit = match self.config.slow_consumer_limit {
            0 => usize::MAX,
            n => n,
        };
        if !conn.out.is_empty() && conn.out.len().saturating_add(len) > limit {
            // The queue may only look full because this turn has not
            // flushed yet: let the socket take what it will, then judge.
            let _ = conn.socket.flush(&mut conn.out, &mut self.pool);
            if !conn.out.is_empty() && conn.out.len().saturating_add(len) > limit {
                conn.wants_drain = true;
                // An SSE client on a topic with history would resume past
                // a dropped event (its Last-Event-ID moves on with the next
                // one) and never get it: closing it instead makes it
                // reconnect and replay exactly what it missed.
                let policy = match (is_sse, enc.has_id) {
                    (true, true) => SlowConsumerPolicy::Close,
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
        let now = self.now;
        let (proto, mut out) = conn.parts(
            &mut self.pool,
            &mut self.events,
            &mut self.transports,
            &mut self.ended_requests,
        );
        match via {
            Via::Bytes(b) => {
                let share = b.len() > SHARE_ABOVE;
                if let Some(s) = proto.sse_stream() {
                    match share {
                        true => s.push_shared(b.clone(), &mut out, now),
                        false => s.push_copy(b, &mut out, now),
                    }
                } else if share {
                    out.queue.push_shared(b.clone());
                } else {
                    out.queue.append(out.pool, b);
                }
            }
            Via::OwnContext => {
                if let Some(ws) = proto.websocket() {
                    let cfg = &self.config.deflate;
                    ws.push_message(
                        enc.kind,
                        enc.payload,
                        cfg,
                        &mut self.shared_deflate,
                        &mut out,
                        now,
                    );
                }
            }
        }
        self.mark_dirty(slot);
        report.delivered += 1;
    }

    /// Queues the history after `last_event_id` to a just-subscribed
    /// connection.
    fn replay(&mut self, slot: usize, topic: &str, last_event_id: &str) -> Replay {
        let Some(key) = self.topics.key(topic) else {
            return Replay::Missed;
        };
        let last = match last_event_id.trim().parse::<u64>() {
            Ok(l) => l,
            _ => return Replay::Missed,
        };
        let ours = self.topics.is_ours(last);
        let Some(h) = self.topics.list[key as usize].history.as_mut() else {
            return Replay::Missed;
        };
        // Not an id this history can place: another server outside a
        // cluster, an earlier run, a Redis that lost its data, a forged
        // header.
        if !h.knows(last, ours) {
            return Replay::Missed;
        }
        h.trim(self.now);
        // Everything after `complete_after` is still in the history, so a
        // client that saw at least that far missed nothing we lost.
        if last < h.complete_after {
            return Replay::Missed;
        }
        let sse_stream = self.conns[slot].proto.sse_stream().is_some();
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
        let limit = match self.config.slow_consumer_limit {
            0 => usize::MAX,
            n => n,
        };
        if self.conns[slot].out.len().saturating_add(bytes) > limit {
            return Replay::Missed;
        }
        let mut replayed = 0;
        for (kind, frame, sse, payload) in missed {
            let (proto, mut out) = self.conns[slot].parts(
                &mut self.pool,
                &mut self.events,
                &mut self.transports,
                &mut self.ended_requests,
            );
            if let Some(s) = proto.sse_stream() {
                let Some(sse) = sse else { continue };
                s.push_shared(sse, &mut out, self.now);
            } else if let Some(ws) = proto.websocket() {
                if ws.compresses() {
                    let cfg = &self.config.deflate;
                    ws.push_message(
                        kind,
                        &payload,
                        cfg,
                        &mut self.shared_deflate,
                        &mut out,
                        self.now,
                    );
                } else {
                    out.queue.push_shared(frame);
                }
            }
            replayed += 1;
        }
        if replayed > 0 {
            self.mark_dirty(slot);
        }
        Replay::Replayed(replayed)
    }

    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            connections: self.connection_count(),
            engine_sessions: self.sessions.len(),
            sockets: self
                .sockets
                .iter()
                .filter(|(_, s)| s.session.is_some())
                .count(),
            topics: self.topics.len(),
            published: self.topics.counters.published,
            delivered: self.topics.counters.delivered,
            dropped: self.topics.counters.dropped,
            slow_closed: self.topics.counters.slow_closed,
            tls_handshakes: self.tls_counters.handshakes,
            tls_failures: self.tls_counters.failures,
            ..Stats::default()
        };
        if let Some(c) = &self.cluster {
            (s.cluster_published, s.cluster_received, s.cluster_dropped) = c.stats();
        }
        for (_, c) in self.conns.iter() {
            s.buffered_bytes += c.out.len();
            match c.proto.endpoint() {
                Some(crate::proto::Endpoint::WebSocket)
                    if c.proto.state() != crate::proto::ConnState::Connecting =>
                {
                    s.websockets += 1
                }
                Some(crate::proto::Endpoint::Sse)
                    if c.proto.state() != crate::proto::ConnState::Connecting =>
                {
                    s.sse_streams += 1
                }
                _ => {}
            }
        }
        s
    }
}

impl Driver {
    /// Whether a publish to `topic` goes into the recovery log: recovery
    /// is on, and a socket is in the topic or away (its rooms unknown to
    /// the topic until it recovers). Plain WebSocket and SSE traffic is
    /// neither encoded for sockets nor kept.
    fn may_recover_from(&self, topic: &str) -> bool {
        if self.config.sio_recovery_window.is_zero() || self.sockets.is_empty() {
            return false;
        }
        self.detached_sockets > 0
            || self.topics.key(topic).is_some_and(|k| {
                self.topics.list[k as usize]
                    .subs
                    .iter()
                    .any(|s| s.id.kind() == IdKind::Socket)
            })
    }
}
