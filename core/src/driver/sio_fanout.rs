//! Fan-out to Engine.IO sessions and Socket.IO sockets: a published
//! message reaches plain Engine.IO subscribers as a message packet and
//! socket subscribers as an event; `broadcast` emits an event to the
//! sockets of a namespace (in rooms, except rooms or a socket). Each
//! packet is encoded once per namespace and each WebSocket frame made
//! (and compressed) once for every transport that takes it as it is. With
//! connection state recovery on, broadcasts carry their offset and are
//! kept for the recovery window, so that a socket recovered after a
//! dropped connection gets exactly the ones it missed.

use super::Driver;
use crate::config::SlowConsumerPolicy;
use crate::error::{Error, Result};
use crate::event::{ConnId, IdKind};
use crate::proto::compress::compress_without_context;
use crate::proto::engine::http::Transport;
use crate::proto::engine::reason;
use crate::proto::{eio, frame_bytes, opcode, sio, MessageKind, PublishForm};
use crate::pubsub::{Broadcast, Published};
use bytes::Bytes;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Instant;

/// Frames up to this size are copied into each queue; larger ones are
/// shared by reference.
const SHARE_ABOVE: usize = 1024;

/// One WebSocket message in the forms its receivers need, each made once:
/// the plain frame, and compressed frames for receivers without context
/// takeover, by window size.
pub(super) struct Framed {
    kind: MessageKind,
    payload: Bytes,
    frame: Option<Bytes>,
    deflated: [Option<Bytes>; 16],
}

impl Framed {
    pub fn new(kind: MessageKind, payload: Bytes) -> Framed {
        Framed {
            kind,
            payload,
            frame: None,
            deflated: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.payload.len()
    }
}

/// A Socket.IO event to many sockets, encoded once per namespace.
pub(super) struct SioMessage<'a> {
    name: &'a str,
    pub inner: Cow<'a, str>,
    pub attachments: Vec<Bytes>,
    /// The recovery offset it carries as its last argument.
    offset: Option<u64>,
    forms: Vec<NspForms>,
}

struct NspForms {
    nsp: Box<str>,
    /// `4` + the packet: a long-polling packet, or a WebSocket message.
    text: Bytes,
    ws_text: Framed,
    ws_binaries: Vec<Framed>,
}

impl SioMessage<'_> {
    pub(super) fn form_index(&mut self, nsp: &str) -> usize {
        if let Some(i) = self.forms.iter().position(|f| *f.nsp == *nsp) {
            return i;
        }
        let mut v = Vec::with_capacity(32 + self.name.len() + self.inner.len());
        v.push(b'4');
        let kind = match self.attachments.is_empty() {
            true => sio::PacketType::Event,
            false => sio::PacketType::BinaryEvent,
        };
        sio::encode_header(&mut v, kind, self.attachments.len(), nsp, None);
        let offset = self.offset.map(|o| format!("\"{o}\"")).unwrap_or_default();
        sio::write_event_array(&mut v, self.name, &self.inner, &offset);
        let text = Bytes::from(v);
        self.forms.push(NspForms {
            nsp: nsp.into(),
            ws_text: Framed::new(MessageKind::Text, text.clone()),
            text,
            ws_binaries: self
                .attachments
                .iter()
                .map(|b| Framed::new(MessageKind::Binary, b.clone()))
                .collect(),
        });
        self.forms.len() - 1
    }
}

/// Broadcasts kept for connection state recovery.
#[derive(Default)]
pub(super) struct RecoveryLog {
    entries: VecDeque<Logged>,
    bytes: usize,
    /// Every broadcast with an offset at or below this may be gone.
    floor: u64,
    /// The last offset given. Not the topics' event ids: whether a loop
    /// logs a publish depends on its own sockets, and the loops of a
    /// group must hand out the same event ids.
    last_offset: u64,
}

struct Logged {
    offset: u64,
    at: Instant,
    /// `None`: a publish, for sockets of every namespace.
    nsp: Option<Box<str>>,
    rooms: Vec<Box<str>>,
    except_rooms: Vec<Box<str>>,
    name: Box<str>,
    inner: Box<str>,
    attachments: Vec<Bytes>,
}

impl Logged {
    fn size(&self) -> usize {
        self.name.len()
            + self.inner.len()
            + self.attachments.iter().map(Bytes::len).sum::<usize>()
            + 64
    }
}

impl RecoveryLog {
    /// Whether a client that last got `offset` missed nothing the log has
    /// dropped.
    pub fn covers(&self, offset: u64) -> bool {
        offset >= self.floor
    }
}

/// What a fan-out leaves for after it.
#[derive(Default)]
pub(super) struct EngineChores {
    /// Sessions closed as slow consumers.
    slow: Vec<usize>,
    /// Sessions on polling that got something.
    polled: Vec<usize>,
}

/// How a socket or session subscriber is reached.
enum Route {
    WebSocket { session: usize, conn: usize },
    Polling { session: usize },
}

impl Driver {
    /// Whether queuing `len` more bytes for connection `slot` passes the
    /// slow-consumer limit (after the socket took what it would).
    pub(super) fn over_slow_limit(&mut self, slot: usize, len: usize) -> bool {
        let limit = match self.config.slow_consumer_limit {
            0 => usize::MAX,
            n => n,
        };
        let conn = &mut self.conns[slot];
        if conn.out.is_empty() || conn.out.len().saturating_add(len) <= limit {
            return false;
        }
        // The queue may only look full because this turn has not flushed
        // yet: let the socket take what it will, then judge.
        let _ = conn.socket.flush(&mut conn.out, &mut self.pool);
        if !conn.out.is_empty() && conn.out.len().saturating_add(len) > limit {
            conn.wants_drain = true;
            return true;
        }
        false
    }

    /// Queues a message on an open WebSocket (a connection's own, or a
    /// session's transport), sharing the frame made for others.
    pub(super) fn push_framed(&mut self, slot: usize, f: &mut Framed) {
        let cfg = &self.config.deflate;
        let now = self.now;
        let conn = &mut self.conns[slot];
        let (proto, mut out) = conn.parts(
            &mut self.pool,
            &mut self.events,
            &mut self.transports,
            &mut self.ended_requests,
        );
        let ws = match proto.websocket() {
            Some(ws) => ws,
            None => match proto.engine_websocket() {
                Some(ws) => ws,
                None => return,
            },
        };
        let bytes = match ws.publish_form(cfg, f.payload.len()) {
            PublishForm::Plain => f
                .frame
                .get_or_insert_with(|| frame_bytes(opcode(f.kind), false, &f.payload).0)
                .clone(),
            PublishForm::SharedDeflate { window_bits } => {
                let shared = &mut self.shared_deflate;
                let (kind, payload) = (f.kind, &f.payload);
                f.deflated[window_bits as usize]
                    .get_or_insert_with(|| {
                        compress_without_context(cfg, shared, window_bits, payload);
                        frame_bytes(opcode(kind), true, &shared.scratch).0
                    })
                    .clone()
            }
            PublishForm::OwnContext => {
                ws.push_message(
                    f.kind,
                    &f.payload,
                    cfg,
                    &mut self.shared_deflate,
                    &mut out,
                    now,
                );
                self.mark_dirty(slot);
                return;
            }
        };
        if bytes.len() > SHARE_ABOVE {
            out.queue.push_shared(bytes);
        } else {
            out.queue.append(out.pool, &bytes);
        }
        self.mark_dirty(slot);
    }

    /// How a plain Engine.IO session, or a socket's session, is reached
    /// now (`None`: not open, or the socket is not connected).
    fn engine_route(&self, id: ConnId) -> Option<Route> {
        let session = match id.kind() {
            IdKind::Session => self.session_slot(id)?,
            IdKind::Socket => {
                let s = self.sockets[self.socket_slot(id)?].session?;
                if !self.sessions[s].proto.socket_connected(id.raw()) {
                    return None;
                }
                s
            }
            IdKind::Conn => return None,
        };
        let sess = &self.sessions[session];
        if !sess.proto.is_open() {
            return None;
        }
        match (sess.proto.transport(), sess.ws) {
            (Transport::WebSocket, Some(conn)) => Some(Route::WebSocket { session, conn }),
            (Transport::WebSocket, None) => None,
            (Transport::Polling, _) => Some(Route::Polling { session }),
        }
    }

    /// Whether `len` more bytes for this session pass the limit; applies
    /// the policy to it if so (true: skip it).
    fn engine_slow(
        &mut self,
        route: &Route,
        len: usize,
        policy: SlowConsumerPolicy,
        report: &mut Published,
        later: &mut EngineChores,
    ) -> bool {
        let (over, session) = match *route {
            Route::WebSocket { session, conn } => (self.over_slow_limit(conn, len), session),
            Route::Polling { session } => {
                let limit = match self.config.slow_consumer_limit {
                    0 => usize::MAX,
                    n => n,
                };
                let buffered = self.sessions[session].proto.buffered();
                (
                    buffered > 0 && buffered.saturating_add(len) > limit,
                    session,
                )
            }
        };
        if !over {
            return false;
        }
        match policy {
            SlowConsumerPolicy::Drop => report.dropped += 1,
            SlowConsumerPolicy::Close => {
                report.closed += 1;
                later.slow.push(session);
            }
        }
        true
    }

    /// After a fan-out: sessions closed as slow consumers, and sessions
    /// on polling given something to send (their parked poll answered).
    /// Deferred because both may change topic membership, which a
    /// fan-out must not see change under it.
    pub(super) fn finish_engine_delivery(&mut self, mut later: EngineChores) {
        for s in later.slow.drain(..) {
            if self.sessions.contains(s) {
                self.with_session(s, |sess, cx| {
                    sess.end(reason::FORCED_CLOSE, eio::PacketType::Close, cx)
                });
            }
        }
        later.polled.sort_unstable();
        later.polled.dedup();
        for s in later.polled {
            if self.sessions.contains(s) {
                self.after_session(s);
            }
        }
    }

    /// Queues an encoded packet (and its attachments) to a session.
    fn push_to_session(
        &mut self,
        route: &Route,
        text: &Bytes,
        ws_text: &mut Framed,
        bins: &mut [Framed],
        later: &mut EngineChores,
    ) {
        match *route {
            Route::WebSocket { conn, .. } => {
                self.push_framed(conn, ws_text);
                for b in bins {
                    self.push_framed(conn, b);
                }
            }
            Route::Polling { session } => {
                let binaries: Vec<&[u8]> = bins.iter().map(|b| &b.payload[..]).collect();
                self.sessions[session].proto.append_polling(text, &binaries);
                later.polled.push(session);
            }
        }
    }

    /// Delivers a publish to a plain Engine.IO session or a socket.
    pub(super) fn deliver_engine(
        &mut self,
        id: ConnId,
        msg: &mut EngineMessage<'_>,
        policy: SlowConsumerPolicy,
        report: &mut Published,
        later: &mut EngineChores,
    ) {
        let Some(route) = self.engine_route(id) else {
            return;
        };
        match id.kind() {
            IdKind::Session => {
                let (text, framed) = msg.plain();
                if !self.engine_slow(&route, text.len(), policy, report, later) {
                    self.push_to_session(&route, text, framed, &mut [], later);
                    report.delivered += 1;
                }
            }
            _ => {
                let sio = msg.sio();
                let i = sio.form_index(&self.sockets[id.slot()].nsp);
                let f = &mut sio.forms[i];
                let len = f.text.len() + f.ws_binaries.iter().map(Framed::len).sum::<usize>();
                if !self.engine_slow(&route, len, policy, report, later) {
                    self.push_to_session(
                        &route,
                        &f.text,
                        &mut f.ws_text,
                        &mut f.ws_binaries,
                        later,
                    );
                    report.delivered += 1;
                }
            }
        }
    }

    /// Emits an event to the sockets of a namespace: those in any of
    /// `rooms` (a room may also be a socket's id), or all of them; never
    /// those in `except_rooms` or `except`. Each socket gets one copy.
    /// Emits to this server's sockets and, in a cluster, to the other
    /// servers'.
    pub fn broadcast(&mut self, b: &Broadcast<'_>) -> Result<usize> {
        self.deliver_broadcast(b, true)
    }

    /// Emits a broadcast made on a group of loops to this loop's sockets
    /// (`first`: the loop that counts it and tells the cluster).
    pub fn broadcast_in_group(&mut self, b: &Broadcast<'_>, first: bool) -> Result<usize> {
        self.deliver_broadcast(b, first)
    }

    /// Emits to this server's sockets; `local`: emitted here (counted in
    /// `published`, and sent to the cluster), not by another server.
    pub(super) fn deliver_broadcast(&mut self, b: &Broadcast<'_>, local: bool) -> Result<usize> {
        let inner = sio::check_outgoing(Some(b.event), b.args, b.attachments.len())
            .map_err(Error::invalid)?;
        if let (true, Some(c)) = (local, &self.cluster) {
            c.broadcast(b);
        }
        self.now = Instant::now();
        let attachments: Vec<Bytes> = b
            .attachments
            .iter()
            .map(|a| Bytes::copy_from_slice(a))
            .collect();
        let offset = self.log_broadcast(
            Some(b.namespace),
            b.rooms,
            b.except_rooms,
            b.except,
            b.event,
            inner,
            &attachments,
        );
        let mut msg = EngineMessage::Sio(SioMessage {
            name: b.event,
            inner: Cow::Borrowed(inner),
            attachments,
            offset,
            forms: Vec::new(),
        });
        let targets = self.broadcast_targets(b);
        let mut report = Published::default();
        let policy = self.config.slow_consumer_policy;
        let mut later = EngineChores::default();
        for id in targets {
            self.deliver_engine(id, &mut msg, policy, &mut report, &mut later);
        }
        self.finish_engine_delivery(later);
        let c = &mut self.topics.counters;
        c.published += local as u64;
        c.delivered += report.delivered as u64;
        c.dropped += report.dropped as u64;
        c.slow_closed += report.closed as u64;
        Ok(report.delivered)
    }

    /// The sockets a broadcast reaches, each once.
    fn broadcast_targets(&mut self, b: &Broadcast<'_>) -> Vec<ConnId> {
        self.broadcast_seq += 1;
        let seq = self.broadcast_seq;
        let except_keys: Vec<u32> = b
            .except_rooms
            .iter()
            .filter_map(|r| self.topics.key(r))
            .collect();
        let except_sockets: Vec<ConnId> = b
            .except_rooms
            .iter()
            .filter_map(|r| self.socket_by_sid(r))
            .chain(b.except)
            .collect();
        let mut out = Vec::new();
        let consider = |d: &mut Driver, id: ConnId, out: &mut Vec<ConnId>| {
            let Some(slot) = d.socket_slot(id) else {
                return;
            };
            let s = &mut d.sockets[slot];
            if s.mark == seq || *s.nsp != *b.namespace || except_sockets.contains(&id) {
                return;
            }
            s.mark = seq;
            if s.topics.iter().any(|m| except_keys.contains(&m.topic)) {
                return;
            }
            out.push(id);
        };
        if b.rooms.is_empty() {
            let all: Vec<ConnId> = self.sockets.iter().map(|(_, s)| s.id).collect();
            for id in all {
                consider(self, id, &mut out);
            }
        } else {
            for room in b.rooms {
                if let Some(k) = self.topics.key(room) {
                    let subs: Vec<ConnId> = self.topics.list[k as usize]
                        .subs
                        .iter()
                        .filter(|s| s.id.kind() == IdKind::Socket)
                        .map(|s| s.id)
                        .collect();
                    for id in subs {
                        consider(self, id, &mut out);
                    }
                }
                if let Some(id) = self.socket_by_sid(room) {
                    consider(self, id, &mut out);
                }
            }
        }
        out
    }

    /// Keeps a broadcast for recovery (recovery on, no attachments of
    /// acks): returns the offset it carries.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn log_broadcast(
        &mut self,
        nsp: Option<&str>,
        rooms: &[&str],
        except_rooms: &[&str],
        except: Option<ConnId>,
        name: &str,
        inner: &str,
        attachments: &[Bytes],
    ) -> Option<u64> {
        let window = self.config.sio_recovery_window;
        if window.is_zero() {
            return None;
        }
        self.recovery.last_offset += 1;
        let offset = self.recovery.last_offset;
        let mut except_rooms: Vec<Box<str>> = except_rooms.iter().map(|r| (*r).into()).collect();
        if let Some(sid) = except.and_then(|e| self.socket_sid(e).ok()) {
            except_rooms.push(sid.into());
        }
        let entry = Logged {
            offset,
            at: self.now,
            nsp: nsp.map(Into::into),
            rooms: rooms.iter().map(|r| (*r).into()).collect(),
            except_rooms,
            name: name.into(),
            inner: inner.into(),
            attachments: attachments.to_vec(),
        };
        let log = &mut self.recovery;
        log.bytes += entry.size();
        log.entries.push_back(entry);
        let cap = match self.config.max_buffered {
            0 => usize::MAX,
            n => n,
        };
        let now = self.now;
        while let Some(e) = log.entries.front() {
            if log.bytes <= cap && now.saturating_duration_since(e.at) <= window {
                break;
            }
            log.bytes -= e.size();
            log.floor = log.floor.max(e.offset);
            log.entries.pop_front();
        }
        Some(offset)
    }

    /// Replays to a recovered socket the broadcasts after `offset` that
    /// would have reached it.
    pub(super) fn replay_missed(&mut self, slot: usize, offset: u64) {
        let s = &self.sockets[slot];
        let id = s.id;
        let nsp = s.nsp.clone();
        let mut rooms: Vec<String> = s
            .topics
            .iter()
            .map(|m| self.topics.list[m.topic as usize].name.to_string())
            .collect();
        rooms.push(super::ids::as_str(&s.sid).to_string());
        let missed: Vec<usize> = self
            .recovery
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.offset > offset
                    && e.nsp.as_deref().is_none_or(|n| n == &*nsp)
                    && (e.rooms.is_empty()
                        || e.rooms.iter().any(|r| rooms.iter().any(|x| x == &**r)))
                    && !e
                        .except_rooms
                        .iter()
                        .any(|r| rooms.iter().any(|x| x == &**r))
            })
            .map(|(i, _)| i)
            .collect();
        let mut report = Published::default();
        let mut later = EngineChores::default();
        for i in missed {
            let e = &self.recovery.entries[i];
            let name: String = e.name.to_string();
            let inner = e.inner.to_string();
            let mut msg = EngineMessage::Sio(SioMessage {
                name: &name,
                inner: Cow::Owned(inner),
                attachments: e.attachments.clone(),
                offset: Some(e.offset),
                forms: Vec::new(),
            });
            self.deliver_engine(
                id,
                &mut msg,
                SlowConsumerPolicy::Drop,
                &mut report,
                &mut later,
            );
        }
        self.finish_engine_delivery(later);
    }
}

/// A published message in the forms plain Engine.IO sessions and sockets
/// need, made on first need. One lives on the stack per publish, so the
/// size of its larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(super) enum EngineMessage<'a> {
    /// Not yet needed: the publish's data.
    Unbuilt {
        kind: MessageKind,
        data: &'a [u8],
        event: &'a str,
        offset: Option<u64>,
        plain: Option<(Bytes, Framed)>,
        sio: Option<SioMessage<'a>>,
    },
    Sio(SioMessage<'a>),
}

impl<'a> EngineMessage<'a> {
    /// For a publish of `data` (event name `event` for sockets).
    pub fn publish(kind: MessageKind, data: &'a [u8], event: &'a str, offset: Option<u64>) -> Self {
        EngineMessage::Unbuilt {
            kind,
            data,
            event,
            offset,
            plain: None,
            sio: None,
        }
    }

    /// The message packet for plain sessions: `4text` (or the bytes) and
    /// its WebSocket form.
    fn plain(&mut self) -> (&Bytes, &mut Framed) {
        match self {
            EngineMessage::Unbuilt {
                kind, data, plain, ..
            } => {
                let (text, framed) = plain.get_or_insert_with(|| match kind {
                    MessageKind::Text => {
                        let mut v = Vec::with_capacity(1 + data.len());
                        eio::encode_text(
                            eio::PacketType::Message,
                            std::str::from_utf8(data).unwrap_or(""),
                            &mut v,
                        );
                        let b = Bytes::from(v);
                        (b.clone(), Framed::new(MessageKind::Text, b))
                    }
                    MessageKind::Binary => {
                        let mut v = Vec::new();
                        eio::append_to_payload(
                            &mut v,
                            eio::PacketType::Message,
                            &eio::Data::Binary(Cow::Borrowed(data)),
                        );
                        (
                            Bytes::from(v),
                            Framed::new(MessageKind::Binary, Bytes::copy_from_slice(data)),
                        )
                    }
                });
                (text, framed)
            }
            EngineMessage::Sio(_) => unreachable!("a broadcast reaches sockets only"),
        }
    }

    pub(super) fn sio(&mut self) -> &mut SioMessage<'a> {
        match self {
            EngineMessage::Sio(m) => m,
            EngineMessage::Unbuilt {
                kind,
                data,
                event,
                offset,
                sio,
                ..
            } => sio.get_or_insert_with(|| {
                let (inner, attachments) = match kind {
                    MessageKind::Text => (
                        Cow::Owned(serde_json_string(std::str::from_utf8(data).unwrap_or(""))),
                        Vec::new(),
                    ),
                    MessageKind::Binary => (
                        Cow::Owned(sio::placeholder(0)),
                        vec![Bytes::copy_from_slice(data)],
                    ),
                };
                SioMessage {
                    name: event,
                    inner,
                    attachments,
                    offset: *offset,
                    forms: Vec::new(),
                }
            }),
        }
    }
}

/// `s` as a JSON string.
fn serde_json_string(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 2);
    sio::write_json_string(&mut v, s);
    String::from_utf8(v).unwrap_or_default()
}
