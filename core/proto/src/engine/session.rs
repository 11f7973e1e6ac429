//! One Engine.IO v4 session as a state machine: the open packet, the
//! server's heartbeat, packets in from long-polling bodies or WebSocket
//! messages, packets out to the next poll or the WebSocket, the upgrade
//! from polling to WebSocket, and every way the session ends.
//!
//! A session outlives the HTTP requests and the WebSocket that carry it,
//! so it is not a [`crate::Connection`]: the driver keeps it apart, tells
//! it what its transports bring (a poll, a POST body, a WebSocket message,
//! a transport gone) and does what it asks: write to its WebSocket
//! through the [`SessionOutput`], answer the parked poll with
//! [`EngineSession::take_payload`] when [`EngineSession::poll_ready`], and
//! drop it once [`EngineSession::is_finished`].

use super::http::{EngineError, Transport};
use super::socketio::SocketIo;
use super::{reason, Carrier, EngineCx, SessionEvent, SessionOutput};
use crate::eio::{self, Data, Packet, PacketType};
use crate::http::RequestHead;
use crate::output::{ConnState, Refusal};
use crate::settings::{timer, MessageKind, OverflowPolicy, Settings};
use std::borrow::Cow;
use std::time::Instant;

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session's transport (a POST body, or its WebSocket).
    Transport,
    /// A WebSocket opened to become the transport, not yet upgraded.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    None,
    /// A WebSocket with this sid is open; its `2probe` is awaited.
    Opened {
        since: Instant,
    },
    /// It answered `3probe`; its `5` (upgrade) is awaited.
    Probed {
        since: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The application closed a polling session while no poll was
    /// parked: the close packet waits for the next one (until `until`).
    Closing {
        until: Option<Instant>,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heartbeat {
    /// The next ping goes out then.
    Waiting { ping_at: Instant },
    /// A ping is out; without a pong by then the session ends.
    Pinged { pong_by: Instant },
}

pub struct EngineSession {
    route: u16,
    transport: Transport,
    probe: Probe,
    state: State,
    heartbeat: Heartbeat,
    /// Packets owed to the next poll, as a long-polling body.
    buffer: Vec<u8>,
    /// A GET waits for packets (the driver holds its connection).
    poll_parked: bool,
    /// Socket.IO's state, on a Socket.IO route.
    sio: Option<Box<SocketIo>>,
    /// A plain session's handshake, until its open event takes it.
    opening: Option<Box<RequestHead>>,
    /// The send buffer overflowed (with the Close policy) while the
    /// Socket.IO layer had the session lent: the session ends once the
    /// layer is back, so that its sockets hear of it.
    overflowed: bool,
}

impl EngineSession {
    /// A session for a handshake on `transport`; [`EngineSession::start`]
    /// sends its open packet.
    pub fn new(
        route: usize,
        transport: Transport,
        head: Box<RequestHead>,
        settings: &Settings,
        now: Instant,
    ) -> EngineSession {
        let engine = &settings.engine;
        let (sio, opening) = match &settings.routes[route].kind {
            crate::RouteKind::SocketIo { .. } => {
                (Some(Box::new(SocketIo::new(head, now, engine))), None)
            }
            _ => (None, Some(head)),
        };
        EngineSession {
            route: route as u16,
            transport,
            probe: Probe::None,
            state: State::Open,
            heartbeat: Heartbeat::Waiting {
                ping_at: now + engine.ping_interval,
            },
            buffer: Vec::new(),
            // A polling handshake is answered with the open packet at once.
            poll_parked: transport == Transport::Polling,
            sio,
            opening,
            overflowed: false,
        }
    }

    /// Sends the open packet (into the payload of the handshake's GET, or
    /// on the WebSocket); a plain Engine.IO session is then reported open,
    /// a Socket.IO one waits for its namespaces.
    pub fn start<O: SessionOutput>(&mut self, sid: &str, cx: &mut EngineCx<'_, O>) {
        let engine = &cx.settings.engine;
        let upgrades = match self.transport {
            Transport::Polling => "[\"websocket\"]",
            Transport::WebSocket => "[]",
        };
        let open = format!(
            "{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            engine.ping_interval.as_millis(),
            engine.ping_timeout.as_millis(),
            engine.max_payload
        );
        self.send_packet(PacketType::Open, &Data::Text(&open), cx);
        if let Some(head) = self.opening.take() {
            cx.out.event(SessionEvent::Open { head });
        }
    }

    pub fn route(&self) -> usize {
        self.route as usize
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// A WebSocket is probing to become the transport.
    pub fn is_probing(&self) -> bool {
        self.probe != Probe::None
    }

    /// Whether a WebSocket with this sid may start an upgrade now.
    pub fn can_upgrade(&self) -> bool {
        self.state == State::Open
            && self.transport == Transport::Polling
            && self.probe == Probe::None
    }

    /// A WebSocket with this sid opened: it probes to become the
    /// transport.
    pub fn begin_probe(&mut self, now: Instant) {
        self.probe = Probe::Opened { since: now };
    }

    /// The state the application sees.
    pub fn state(&self) -> ConnState {
        match self.state {
            State::Open => ConnState::Open,
            State::Closing { .. } => ConnState::Closing,
            State::Closed => ConnState::Closed,
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Over: the driver answers a parked poll with what is left, closes
    /// the transports and drops the session.
    pub fn is_finished(&self) -> bool {
        self.state == State::Closed
    }

    /// A parked poll has something to take.
    pub fn poll_ready(&self) -> bool {
        self.poll_parked && !self.buffer.is_empty()
    }

    /// A poll is parked.
    pub fn poll_parked(&self) -> bool {
        self.poll_parked
    }

    /// The payload for the parked poll; the poll is no longer parked.
    pub fn take_payload(&mut self) -> Vec<u8> {
        self.poll_parked = false;
        let payload = std::mem::take(&mut self.buffer);
        if let State::Closing { .. } = self.state {
            // The close packet went with it.
            self.state = State::Closed;
        }
        payload
    }

    /// Bytes owed to polls (what backpressure counts on polling).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// A GET poll arrived. Refused after the upgrade (the reference's
    /// transport mismatch); a second one while one is parked ends the
    /// session (the parked one gets the close packet) and is refused.
    pub fn handle_poll<O: SessionOutput>(
        &mut self,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), EngineError> {
        if self.transport != Transport::Polling || self.state == State::Closed {
            return Err(EngineError::BadRequest);
        }
        if self.poll_parked {
            self.end(reason::TRANSPORT_ERROR, PacketType::Close, cx);
            return Err(EngineError::BadRequest);
        }
        self.poll_parked = true;
        match self.state {
            State::Closing { .. } => self.queue_close_packet(PacketType::Close),
            // The upgrade is under way: release this poll at once so the
            // client can send its upgrade packet.
            _ if matches!(self.probe, Probe::Probed { .. }) && self.buffer.is_empty() => {
                eio::append_to_payload(&mut self.buffer, PacketType::Noop, &Data::Text(""));
            }
            _ => {}
        }
        Ok(())
    }

    /// A POST's body (at most `max_payload` bytes, checked by the
    /// connection). Malformed packets end the session and are refused.
    pub fn handle_post<O: SessionOutput>(
        &mut self,
        body: &[u8],
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), EngineError> {
        if self.transport != Transport::Polling || self.state == State::Closed {
            return Err(EngineError::BadRequest);
        }
        let Ok(text) = std::str::from_utf8(body) else {
            self.end(reason::PARSE_ERROR, PacketType::Close, cx);
            return Err(EngineError::BadRequest);
        };
        for packet in eio::decode_payload(text) {
            if self.state == State::Closed {
                break;
            }
            match packet {
                Ok(p) => self.handle_packet(p, Via::Transport, cx),
                Err(eio::Malformed) => {
                    self.end(reason::PARSE_ERROR, PacketType::Close, cx);
                    return Err(EngineError::BadRequest);
                }
            }
        }
        Ok(())
    }

    /// A message on the session's WebSocket (`Via::Transport`) or on the
    /// one probing (`Via::Probe`).
    pub fn handle_ws_message<O: SessionOutput>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        via: Via,
        cx: &mut EngineCx<'_, O>,
    ) {
        let packet = match kind {
            MessageKind::Binary => Ok(Packet::binary(data)),
            // Text is valid UTF-8 (the WebSocket checked it).
            MessageKind::Text => Packet::decode_text(std::str::from_utf8(data).unwrap_or_default()),
        };
        match (packet, via) {
            (Ok(p), _) => self.handle_packet(p, via, cx),
            (Err(_), Via::Transport) => self.end(reason::PARSE_ERROR, PacketType::Close, cx),
            (Err(_), Via::Probe) => self.probe = Probe::None,
        }
    }

    /// The WebSocket transport, the probing WebSocket or the connection of
    /// the parked poll is gone.
    pub fn handle_transport_gone<O: SessionOutput>(
        &mut self,
        which: Gone,
        cx: &mut EngineCx<'_, O>,
    ) {
        match which {
            Gone::Probe => self.probe = Probe::None,
            Gone::WebSocket { failed: false } => {
                self.end(reason::TRANSPORT_CLOSE, PacketType::Close, cx)
            }
            // The reference server's transport reports the error first.
            Gone::WebSocket { failed: true } => {
                self.end(reason::TRANSPORT_ERROR, PacketType::Close, cx)
            }
            Gone::Poll => {
                self.poll_parked = false;
                if self.state == State::Open {
                    // "poll connection closed prematurely"
                    self.end(reason::TRANSPORT_ERROR, PacketType::Close, cx);
                }
            }
        }
    }

    fn handle_packet<O: SessionOutput>(
        &mut self,
        p: Packet<'_>,
        via: Via,
        cx: &mut EngineCx<'_, O>,
    ) {
        if via == Via::Probe {
            return self.handle_probe_packet(p, cx);
        }
        match p.kind {
            PacketType::Pong => {
                if let Heartbeat::Pinged { .. } = self.heartbeat {
                    self.heartbeat = Heartbeat::Waiting {
                        ping_at: cx.now + cx.settings.engine.ping_interval,
                    };
                }
            }
            // Only while open, as for a plain session: after the end
            // (a parse error earlier in the same read, a close) a CONNECT
            // would open a socket nobody will ever close.
            PacketType::Message => match &self.sio {
                Some(_) if self.state == State::Open => self.handle_sio(&p.data, cx),
                Some(_) => {}
                None if self.state == State::Open => {
                    let (kind, data) = match &p.data {
                        Data::Text(t) => (MessageKind::Text, t.as_bytes()),
                        Data::Binary(b) => (MessageKind::Binary, &b[..]),
                    };
                    cx.out.event(SessionEvent::Message { kind, data });
                }
                None => {}
            },
            // The client leaves: a parked poll is released with a noop.
            PacketType::Close => self.end(reason::TRANSPORT_CLOSE, PacketType::Noop, cx),
            PacketType::Noop => {}
            // Engine.IO v4 pings go from the server; an upgrade packet
            // belongs on a probe; an open packet never comes from a client.
            PacketType::Ping | PacketType::Upgrade | PacketType::Open => {
                self.end(reason::TRANSPORT_ERROR, PacketType::Close, cx)
            }
        }
    }

    fn handle_probe_packet<O: SessionOutput>(&mut self, p: Packet<'_>, cx: &mut EngineCx<'_, O>) {
        match (p.kind, self.probe) {
            (PacketType::Ping, Probe::Opened { since }) if p.text() == "probe" => {
                let mut pong = Vec::with_capacity(6);
                eio::encode_text(PacketType::Pong, "probe", &mut pong);
                cx.out.ws_send(MessageKind::Text, &pong);
                self.probe = Probe::Probed { since };
                if self.poll_parked && self.buffer.is_empty() {
                    eio::append_to_payload(&mut self.buffer, PacketType::Noop, &Data::Text(""));
                }
            }
            (PacketType::Upgrade, Probe::Probed { .. }) if self.state == State::Open => {
                self.probe = Probe::None;
                self.transport = Transport::WebSocket;
                // What was owed to polls goes on the WebSocket, in order.
                let owed = std::mem::take(&mut self.buffer);
                let text = std::str::from_utf8(&owed).unwrap_or_default();
                for packet in eio::decode_payload(text).flatten() {
                    if packet.kind != PacketType::Noop {
                        self.send_packet(packet.kind, &packet.data, cx);
                    }
                }
                if self.poll_parked {
                    // The parked poll ends with a noop.
                    eio::append_to_payload(&mut self.buffer, PacketType::Noop, &Data::Text(""));
                }
            }
            // Anything else ends the probe (the driver closes it).
            _ => self.probe = Probe::None,
        }
    }

    /// Sends a plain Engine.IO message (the application's `send`).
    pub fn send<O: SessionOutput>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        if self.state != State::Open {
            return Err(Refusal::Closed);
        }
        if self.sio.is_some() {
            return Err(Refusal::WrongState(
                "a Socket.IO session carries events, not messages",
            ));
        }
        let d = match kind {
            MessageKind::Text => {
                let Ok(t) = std::str::from_utf8(data) else {
                    return Err(Refusal::InvalidArgument("text is not valid UTF-8"));
                };
                if data.contains(&eio::SEPARATOR) {
                    // It would split the message in two on long-polling.
                    return Err(Refusal::InvalidArgument(
                        "text for Engine.IO must not contain the record separator 0x1e",
                    ));
                }
                Data::Text(t)
            }
            MessageKind::Binary => Data::Binary(Cow::Borrowed(data)),
        };
        self.check_room(data.len(), cx)?;
        self.send_packet(PacketType::Message, &d, cx);
        Ok(())
    }

    /// Refuses what would pass `max_buffered` (on the WebSocket's queue
    /// or in the polling buffer), or closes the session, as the overflow
    /// policy says.
    pub(crate) fn check_room<O: SessionOutput>(
        &mut self,
        len: usize,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        let queued = match self.transport {
            Transport::WebSocket => cx.out.ws_queued(),
            Transport::Polling => self.buffer.len(),
        };
        if queued.saturating_add(len + 16) > Settings::limit(cx.settings.max_buffered) {
            if cx.settings.overflow_policy == OverflowPolicy::Close {
                // Without its Socket.IO layer (lent to the call under way),
                // ending now would report a plain session's end.
                let lent = self.sio.is_none()
                    && matches!(
                        cx.settings.routes[self.route()].kind,
                        crate::RouteKind::SocketIo { .. }
                    );
                match lent {
                    true => self.overflowed = true,
                    false => self.end(reason::FORCED_CLOSE, PacketType::Close, cx),
                }
            }
            return Err(Refusal::Backpressure);
        }
        Ok(())
    }

    /// Queues a packet on the transport: the WebSocket, or the next poll.
    pub(crate) fn send_packet<O: SessionOutput>(
        &mut self,
        kind: PacketType,
        data: &Data<'_>,
        cx: &mut EngineCx<'_, O>,
    ) {
        match self.transport {
            Transport::WebSocket => match data {
                Data::Text(t) => {
                    let mut buf = std::mem::take(cx.scratch);
                    buf.clear();
                    eio::encode_text(kind, t, &mut buf);
                    cx.out.ws_send(MessageKind::Text, &buf);
                    *cx.scratch = buf;
                }
                Data::Binary(b) => cx.out.ws_send(MessageKind::Binary, b),
            },
            Transport::Polling => eio::append_to_payload(&mut self.buffer, kind, data),
        }
    }

    /// Queues an already encoded text packet (`4...`) and binary messages
    /// (fan-out encodes once for many sessions).
    pub fn push_encoded<O: SessionOutput>(
        &mut self,
        text: &[u8],
        binaries: &[&[u8]],
        cx: &mut EngineCx<'_, O>,
    ) {
        match self.transport {
            Transport::WebSocket => {
                cx.out.ws_send(MessageKind::Text, text);
                for b in binaries {
                    cx.out.ws_send(MessageKind::Binary, b);
                }
            }
            Transport::Polling => self.append_polling(text, binaries),
        }
    }

    /// Appends an encoded text packet (`4...`) and binary messages to what
    /// the next poll takes.
    pub fn append_polling(&mut self, text: &[u8], binaries: &[&[u8]]) {
        if !self.buffer.is_empty() {
            self.buffer.push(eio::SEPARATOR);
        }
        self.buffer.extend_from_slice(text);
        for b in binaries {
            eio::append_to_payload(
                &mut self.buffer,
                PacketType::Message,
                &Data::Binary(Cow::Borrowed(b)),
            );
        }
    }

    /// The application closes the session ("forced close"): on a
    /// WebSocket the driver closes it after what is queued; on polling the
    /// close packet goes with the parked poll, or the next one.
    pub fn close<O: SessionOutput>(&mut self, cx: &mut EngineCx<'_, O>) -> Result<(), Refusal> {
        if self.state != State::Open {
            return Err(Refusal::Closed);
        }
        if self.transport == Transport::Polling && !self.poll_parked {
            self.report_end(reason::FORCED_CLOSE, cx);
            self.probe = Probe::None;
            self.state = State::Closing {
                until: timer(cx.settings.close_timeout).map(|t| cx.now + t),
            };
            return Ok(());
        }
        self.end(reason::FORCED_CLOSE, PacketType::Close, cx);
        Ok(())
    }

    /// Ends the session at once (shutdown, terminate, a transport error):
    /// the application hears `why`; a parked poll gets `last` (the close
    /// packet, or a noop when the client itself closed).
    pub fn end<O: SessionOutput>(&mut self, why: &str, last: PacketType, cx: &mut EngineCx<'_, O>) {
        if self.state == State::Closed {
            return;
        }
        self.report_end(why, cx);
        if self.poll_parked {
            self.queue_close_packet(last);
        }
        self.state = State::Closed;
    }

    fn queue_close_packet(&mut self, last: PacketType) {
        eio::append_to_payload(&mut self.buffer, last, &Data::Text(""));
    }

    /// Tells the application the session (or each of its sockets) ended.
    fn report_end<O: SessionOutput>(&mut self, why: &str, cx: &mut EngineCx<'_, O>) {
        if self.state != State::Open {
            return;
        }
        match self.sio.as_deref_mut() {
            Some(sio) => sio.end_all(why, cx),
            None => cx.out.event(SessionEvent::Close { reason: why }),
        }
    }

    /// Runs the timers: heartbeat, upgrade timeout, a pending close, and
    /// Socket.IO's connect and ack timeouts.
    pub fn handle_timeout<O: SessionOutput>(&mut self, cx: &mut EngineCx<'_, O>) {
        let now = cx.now;
        let engine = &cx.settings.engine;
        if let State::Closing { until } = self.state {
            if until.is_some_and(|t| now >= t) {
                self.state = State::Closed;
            }
            return;
        }
        if self.state != State::Open {
            return;
        }
        match self.probe {
            Probe::Opened { since } | Probe::Probed { since }
                if timer(engine.upgrade_timeout).is_some_and(|t| now >= since + t) =>
            {
                self.probe = Probe::None
            }
            _ => {}
        }
        match self.heartbeat {
            Heartbeat::Waiting { ping_at } if now >= ping_at && !engine.ping_interval.is_zero() => {
                self.send_packet(PacketType::Ping, &Data::Text(""), cx);
                self.heartbeat = Heartbeat::Pinged {
                    pong_by: now + cx.settings.engine.ping_timeout,
                };
            }
            Heartbeat::Pinged { pong_by } if now >= pong_by => {
                return self.end(reason::PING_TIMEOUT, PacketType::Close, cx);
            }
            _ => {}
        }
        if let Some(sio) = self.sio.as_deref_mut() {
            if sio.handle_timeout(cx) {
                // No namespace joined in time.
                self.end(reason::FORCED_SERVER_CLOSE, PacketType::Close, cx);
            }
        }
    }

    /// When [`EngineSession::handle_timeout`] must next run.
    pub fn deadline(&self, settings: &Settings) -> Option<Instant> {
        let engine = &settings.engine;
        let min = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match self.state {
            State::Closing { until } => return until,
            State::Closed => return None,
            State::Open => {}
        }
        let mut at = match self.heartbeat {
            Heartbeat::Waiting { .. } if engine.ping_interval.is_zero() => None,
            Heartbeat::Waiting { ping_at } => Some(ping_at),
            Heartbeat::Pinged { pong_by } => Some(pong_by),
        };
        if let Probe::Opened { since } | Probe::Probed { since } = self.probe {
            at = min(at, timer(engine.upgrade_timeout).map(|t| since + t));
        }
        if let Some(sio) = self.sio.as_deref() {
            at = min(at, sio.deadline());
        }
        at
    }

    /// Runs an application call on the Socket.IO layer.
    fn with_sio<O: SessionOutput, R>(
        &mut self,
        cx: &mut EngineCx<'_, O>,
        f: impl FnOnce(&mut SocketIo, &mut EngineSession, &mut EngineCx<'_, O>) -> Result<R, Refusal>,
    ) -> Result<R, Refusal> {
        if self.state != State::Open {
            return Err(Refusal::Closed);
        }
        let Some(mut sio) = self.sio.take() else {
            return Err(Refusal::WrongState("not a Socket.IO session"));
        };
        let r = f(&mut sio, self, cx);
        self.sio = Some(sio);
        self.end_if_overflowed(cx);
        r
    }

    /// Ends the session if it overflowed while its Socket.IO layer was lent.
    fn end_if_overflowed<O: SessionOutput>(&mut self, cx: &mut EngineCx<'_, O>) {
        if std::mem::take(&mut self.overflowed) {
            self.end(reason::FORCED_CLOSE, PacketType::Close, cx);
        }
    }

    /// Accepts a Socket.IO connection awaiting approval.
    pub fn accept_socket<O: SessionOutput>(
        &mut self,
        key: &super::SocketKey,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        self.with_sio(cx, |sio, s, cx| sio.accept(key, s, cx))
    }

    /// Refuses a Socket.IO connection awaiting approval (CONNECT_ERROR
    /// with `message` and, if given, JSON `data`).
    pub fn reject_socket<O: SessionOutput>(
        &mut self,
        socket: u64,
        message: &str,
        data: Option<&str>,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        self.with_sio(cx, |sio, s, cx| sio.reject(socket, message, data, s, cx))
    }

    /// Emits an event to one of this session's sockets; with `ack`
    /// (`Some(timeout)`), returns the ack's id. `offset`: the recovery
    /// offset an emit without ack carries as its last argument.
    #[allow(clippy::too_many_arguments)]
    pub fn emit<O: SessionOutput>(
        &mut self,
        socket: u64,
        name: &str,
        args: &str,
        attachments: &[&[u8]],
        ack: Option<Option<std::time::Duration>>,
        offset: Option<u64>,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<Option<u64>, Refusal> {
        self.with_sio(cx, |sio, s, cx| {
            sio.emit(socket, name, args, attachments, ack, offset, s, cx)
        })
    }

    /// Acknowledges a client's event.
    pub fn ack<O: SessionOutput>(
        &mut self,
        socket: u64,
        id: u64,
        args: &str,
        attachments: &[&[u8]],
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        self.with_sio(cx, |sio, s, cx| {
            sio.ack(socket, id, args, attachments, s, cx)
        })
    }

    /// Disconnects a socket from its namespace ("server namespace
    /// disconnect"); the session stays.
    pub fn disconnect_socket<O: SessionOutput>(
        &mut self,
        socket: u64,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        self.with_sio(cx, |sio, s, cx| sio.disconnect(socket, s, cx))
    }

    /// The namespace of one of this session's sockets.
    pub fn socket_namespace(&self, socket: u64) -> Option<&str> {
        self.sio.as_deref().and_then(|s| s.namespace(socket))
    }

    /// Whether one of this session's sockets is connected.
    pub fn socket_connected(&self, socket: u64) -> bool {
        self.state == State::Open && self.sio.as_deref().is_some_and(|s| s.is_connected(socket))
    }

    /// A Socket.IO packet (or attachment) arrived in a message.
    fn handle_sio<O: SessionOutput>(&mut self, data: &Data<'_>, cx: &mut EngineCx<'_, O>) {
        let Some(mut sio) = self.sio.take() else {
            return;
        };
        let outcome = sio.handle_message(data, self, cx);
        self.sio = Some(sio);
        self.end_if_overflowed(cx);
        if let Err(why) = outcome {
            self.end(why, PacketType::Close, cx);
        }
    }
}

/// Which of a session's transports went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// `failed`: we closed it for the peer's protocol error.
    WebSocket {
        failed: bool,
    },
    Probe,
    Poll,
}

impl Carrier for EngineSession {
    fn route(&self) -> usize {
        EngineSession::route(self)
    }

    fn check_room<O: SessionOutput>(
        &mut self,
        len: usize,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        EngineSession::check_room(self, len, cx)
    }

    fn push_encoded<O: SessionOutput>(
        &mut self,
        text: &[u8],
        binaries: &[&[u8]],
        cx: &mut EngineCx<'_, O>,
    ) {
        EngineSession::push_encoded(self, text, binaries, cx)
    }
}
