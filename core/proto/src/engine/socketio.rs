//! Socket.IO v5 inside one Engine.IO session: the namespaces it joined
//! (one socket each), events and acknowledgements both ways, binary
//! attachments reassembled before the application sees them, and the
//! connect timeout. Packets are checked as the reference parser checks
//! them; what the reference server answers a violation with, this does.

use super::{reason, Carrier};
use super::{EngineCx, JsonText, SessionEvent, SessionOutput, SocketKey};
use crate::eio::Data;
use crate::http::{PackedHead, RequestHead};
use crate::output::Refusal;
use crate::settings::{timer, EngineSettings, RouteKind};
use crate::sio::{self, PacketType};
use std::time::{Duration, Instant};

/// Disconnect reasons after which a socket may be recovered (the client
/// did not choose to leave).
pub const RECOVERABLE_REASONS: &[&str] = &[
    reason::TRANSPORT_ERROR,
    reason::TRANSPORT_CLOSE,
    reason::FORCED_CLOSE,
    reason::PING_TIMEOUT,
    reason::SERVER_SHUTTING_DOWN,
    reason::FORCED_SERVER_CLOSE,
];

const CLIENT_NAMESPACE_DISCONNECT: &str = "client namespace disconnect";
const SERVER_NAMESPACE_DISCONNECT: &str = "server namespace disconnect";

/// How a server emit's acknowledgement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AckOutcome {
    /// The client answered; its arguments come with it.
    Answered = 0,
    /// The timeout passed first.
    TimedOut = 1,
    /// The socket disconnected first.
    Disconnected = 2,
}

/// Why an application call on a socket was refused.
pub type SioError = Refusal;

struct PendingAck {
    id: u64,
    by: Option<Instant>,
}

/// One namespace of the session.
struct Socket {
    nsp: Box<str>,
    handle: u64,
    /// False while the application decides on the connection.
    open: bool,
    /// The auth payload, kept while the application decides.
    auth: Option<Box<str>>,
    next_ack: u64,
    acks: Vec<PendingAck>,
}

/// A binary packet waiting for its attachments.
struct Partial {
    text: String,
    attachments: usize,
    buffers: Vec<Vec<u8>>,
}

pub(crate) struct SocketIo {
    /// The handshake, reported with each namespace connection.
    head: PackedHead,
    sockets: Vec<Socket>,
    partial: Option<Box<Partial>>,
    /// Without a namespace joined by then, the session is closed.
    connect_by: Option<Instant>,
}

impl SocketIo {
    pub(crate) fn new(head: Box<RequestHead>, now: Instant, engine: &EngineSettings) -> Self {
        SocketIo {
            head: PackedHead::pack(&head),
            sockets: Vec::new(),
            partial: None,
            connect_by: timer(engine.connect_timeout).map(|t| now + t),
        }
    }

    /// Most sessions join one namespace: grow one at a time (a `Vec`'s
    /// first push reserves four, which idle sessions pay for).
    fn add_socket(&mut self, socket: Socket) {
        self.sockets.reserve_exact(1);
        self.sockets.push(socket);
    }

    fn position(&self, handle: u64) -> Option<usize> {
        self.sockets.iter().position(|s| s.handle == handle)
    }

    /// A message of the session: a packet, or an attachment of the one
    /// being reassembled. `Err` ends the session with that reason.
    pub(crate) fn handle_message<O: SessionOutput>(
        &mut self,
        data: &Data<'_>,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), &'static str> {
        // A decoding error ends the session as the reference server's does
        // (it closes the Engine.IO connection: "forced close").
        let bad = reason::FORCED_CLOSE;
        match data {
            Data::Binary(b) => {
                // Binary data when no packet announced it.
                let p = self.partial.as_deref_mut().ok_or(bad)?;
                p.buffers.push(b.to_vec());
                if p.buffers.len() < p.attachments {
                    return Ok(());
                }
                let p = self.partial.take().expect("just used");
                let packet = sio::Packet::decode(&p.text).map_err(|_| bad)?;
                self.dispatch(&packet, &p.buffers, session, cx)
            }
            Data::Text(text) => {
                if self.partial.is_some() {
                    // Plain text while attachments are awaited.
                    return Err(bad);
                }
                let packet = sio::Packet::decode(text).map_err(|_| bad)?;
                if packet.attachments > 0 {
                    sio::placeholders(packet.data, packet.attachments).map_err(|_| bad)?;
                    self.partial = Some(Box::new(Partial {
                        text: text.to_string(),
                        attachments: packet.attachments,
                        buffers: Vec::with_capacity(packet.attachments),
                    }));
                    return Ok(());
                }
                self.dispatch(&packet, &[], session, cx)
            }
        }
    }

    fn dispatch<O: SessionOutput>(
        &mut self,
        p: &sio::Packet<'_>,
        attachments: &[Vec<u8>],
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), &'static str> {
        let index = self.sockets.iter().position(|s| *s.nsp == *p.nsp);
        // A packet for a namespace in the wrong state: the reference
        // server closes the whole connection.
        let invalid = reason::FORCED_SERVER_CLOSE;
        if p.kind == PacketType::Connect {
            if index.is_some() {
                return Err(invalid);
            }
            self.connect(p.nsp, p.data, session, cx);
            return Ok(());
        }
        let i = index.filter(|&i| self.sockets[i].open).ok_or(invalid)?;
        let socket = self.sockets[i].handle;
        match p.kind {
            PacketType::Disconnect => {
                let s = self.sockets.remove(i);
                fail_acks(&s, cx);
                cx.out.event(SessionEvent::SocketClose {
                    socket,
                    reason: CLIENT_NAMESPACE_DISCONNECT,
                });
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let (name, args) = sio::split_event(p.data).map_err(|_| reason::FORCED_CLOSE)?;
                cx.out.event(SessionEvent::Event {
                    socket,
                    name: &name,
                    args: JsonText("[", args),
                    attachments,
                    ack: p.id,
                });
            }
            PacketType::Ack | PacketType::BinaryAck => {
                let s = &mut self.sockets[i];
                // An ack nobody waits for (answered already, timed out, or
                // never asked) is ignored, as the reference does.
                if let Some(k) = p.id.and_then(|id| s.acks.iter().position(|a| a.id == id)) {
                    let ack = s.acks.swap_remove(k);
                    cx.out.event(SessionEvent::Ack {
                        socket,
                        id: ack.id,
                        outcome: AckOutcome::Answered,
                        args: p.data,
                        attachments,
                    });
                }
            }
            PacketType::ConnectError | PacketType::Connect => return Err(invalid),
        }
        Ok(())
    }

    /// A CONNECT to `nsp` with the auth payload `data`.
    fn connect<O: SessionOutput>(
        &mut self,
        nsp: &str,
        data: &str,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) {
        let route = &cx.settings.routes[session.route()];
        let known = match &route.kind {
            RouteKind::SocketIo { namespaces } => namespaces.iter().any(|n| n == nsp),
            _ => false,
        };
        if !known {
            return send(session, cx, PacketType::ConnectError, nsp, None, &[], |v| {
                v.extend_from_slice(b"{\"message\":\"Invalid namespace\"}")
            });
        }
        let auth = if data.is_empty() { "{}" } else { data };
        if !cx.settings.engine.recovery_window.is_zero() {
            if let Some((pid, offset)) = recovery_fields(auth) {
                if let Some(key) = cx.out.recover_socket(nsp, &pid, &offset) {
                    return self.open(nsp, auth, &key, true, session, cx);
                }
            }
        }
        let key = cx.out.new_socket(nsp);
        if route.approve {
            self.add_socket(Socket {
                nsp: nsp.into(),
                handle: key.handle,
                open: false,
                auth: Some(auth.into()),
                next_ack: 0,
                acks: Vec::new(),
            });
            cx.out.event(SessionEvent::SocketRequest {
                socket: key.handle,
                nsp,
                auth,
                head: self.head.unpack(),
            });
        } else {
            self.open(nsp, auth, &key, false, session, cx);
        }
    }

    /// Connects a socket: the CONNECT answer with its ids, then its open
    /// event.
    fn open<O: SessionOutput>(
        &mut self,
        nsp: &str,
        auth: &str,
        key: &SocketKey,
        recovered: bool,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) {
        match self.sockets.iter_mut().find(|s| s.handle == key.handle) {
            Some(s) => {
                s.open = true;
                s.auth = None;
            }
            None => self.add_socket(Socket {
                nsp: nsp.into(),
                handle: key.handle,
                open: true,
                auth: None,
                next_ack: 0,
                acks: Vec::new(),
            }),
        }
        self.connect_by = None;
        send(session, cx, PacketType::Connect, nsp, None, &[], |v| {
            v.extend_from_slice(b"{\"sid\":");
            let _ = serde_json::to_writer(&mut *v, &key.sid);
            if let Some(pid) = &key.pid {
                v.extend_from_slice(b",\"pid\":");
                let _ = serde_json::to_writer(&mut *v, pid);
            }
            v.push(b'}');
        });
        cx.out.event(SessionEvent::SocketOpen {
            socket: key.handle,
            nsp,
            auth,
            head: self.head.unpack(),
            recovered,
        });
    }

    /// The application accepts a connection awaiting approval.
    pub(crate) fn accept<O: SessionOutput>(
        &mut self,
        key: &SocketKey,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        let i = self.pending(key.handle)?;
        let nsp = self.sockets[i].nsp.clone();
        let auth = self.sockets[i].auth.take().unwrap_or_default();
        self.open(&nsp, &auth, key, false, session, cx);
        Ok(())
    }

    /// The application refuses a connection awaiting approval: the client
    /// gets CONNECT_ERROR with `message` and, if given, `data` (JSON).
    pub(crate) fn reject<O: SessionOutput>(
        &mut self,
        handle: u64,
        message: &str,
        data: Option<&str>,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        let i = self.pending(handle)?;
        if let Some(d) = data {
            check_json(d)?;
        }
        let s = self.sockets.remove(i);
        send(
            session,
            cx,
            PacketType::ConnectError,
            &s.nsp,
            None,
            &[],
            |v| {
                v.extend_from_slice(b"{\"message\":");
                let _ = serde_json::to_writer(&mut *v, message);
                if let Some(d) = data {
                    v.extend_from_slice(b",\"data\":");
                    v.extend_from_slice(d.trim().as_bytes());
                }
                v.push(b'}');
            },
        );
        Ok(())
    }

    fn pending(&self, handle: u64) -> Result<usize, Refusal> {
        match self.position(handle) {
            Some(i) if !self.sockets[i].open => Ok(i),
            Some(_) => Err(Refusal::WrongState("socket is not awaiting approval")),
            None => Err(Refusal::Closed),
        }
    }

    fn open_socket(&self, handle: u64) -> Result<usize, Refusal> {
        match self.position(handle) {
            Some(i) if self.sockets[i].open => Ok(i),
            Some(_) => Err(Refusal::WrongState("socket is not connected yet")),
            None => Err(Refusal::Closed),
        }
    }

    /// Emits an event to one socket: `args` is a JSON array whose binary
    /// arguments are placeholders for `attachments`. With `ack`, the
    /// client's answer (or its timeout) comes back as an ack event, and
    /// the ack's id is returned. `offset`: the recovery offset an emit
    /// without ack carries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit<O: SessionOutput>(
        &mut self,
        handle: u64,
        name: &str,
        args: &str,
        attachments: &[&[u8]],
        ack: Option<Option<Duration>>,
        offset: Option<u64>,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<Option<u64>, Refusal> {
        let i = self.open_socket(handle)?;
        let inner = sio::check_outgoing(Some(name), args, attachments.len())
            .map_err(Refusal::InvalidArgument)?;
        let len = name.len() + args.len() + attachments.iter().map(|a| a.len()).sum::<usize>();
        session.check_room(len, cx)?;
        let s = &mut self.sockets[i];
        let id = ack.map(|timeout| {
            let id = s.next_ack;
            s.next_ack += 1;
            s.acks.push(PendingAck {
                id,
                by: timeout.map(|t| cx.now + t),
            });
            id
        });
        let kind = binary_kind(PacketType::Event, attachments);
        let nsp = &s.nsp;
        // With recovery on, an emit without an ack carries its offset as
        // its last argument, as a broadcast does.
        let extra = match (offset, id) {
            (Some(o), None) => format!("\"{o}\""),
            _ => String::new(),
        };
        send(session, cx, kind, nsp, id, attachments, |v| {
            sio::write_event_array(v, name, inner, &extra)
        });
        Ok(id)
    }

    /// Acknowledges the client's event `id` with `args` (a JSON array,
    /// placeholders for `attachments`).
    pub(crate) fn ack<O: SessionOutput>(
        &mut self,
        handle: u64,
        id: u64,
        args: &str,
        attachments: &[&[u8]],
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        let i = self.open_socket(handle)?;
        sio::check_outgoing(None, args, attachments.len()).map_err(Refusal::InvalidArgument)?;
        session.check_room(args.len(), cx)?;
        let kind = binary_kind(PacketType::Ack, attachments);
        let nsp = &self.sockets[i].nsp;
        send(session, cx, kind, nsp, Some(id), attachments, |v| {
            v.extend_from_slice(args.trim().as_bytes())
        });
        Ok(())
    }

    /// The server disconnects a socket from its namespace (the client
    /// hears "io server disconnect").
    pub(crate) fn disconnect<O: SessionOutput>(
        &mut self,
        handle: u64,
        session: &mut impl Carrier,
        cx: &mut EngineCx<'_, O>,
    ) -> Result<(), Refusal> {
        let i = self.open_socket(handle)?;
        let s = self.sockets.remove(i);
        send(
            session,
            cx,
            PacketType::Disconnect,
            &s.nsp,
            None,
            &[],
            |_| {},
        );
        fail_acks(&s, cx);
        cx.out.event(SessionEvent::SocketClose {
            socket: handle,
            reason: SERVER_NAMESPACE_DISCONNECT,
        });
        Ok(())
    }

    /// The session ended: every socket (and request) hears why.
    pub(crate) fn end_all<O: SessionOutput>(&mut self, why: &str, cx: &mut EngineCx<'_, O>) {
        self.partial = None;
        for s in std::mem::take(&mut self.sockets) {
            fail_acks(&s, cx);
            cx.out.event(SessionEvent::SocketClose {
                socket: s.handle,
                reason: why,
            });
        }
    }

    /// The namespace of a socket of this session.
    pub(crate) fn namespace(&self, handle: u64) -> Option<&str> {
        self.position(handle).map(|i| &*self.sockets[i].nsp)
    }

    /// Whether the socket is connected (not awaiting approval).
    pub(crate) fn is_connected(&self, handle: u64) -> bool {
        self.open_socket(handle).is_ok()
    }

    /// Ack timeouts; true when the connect timeout passed without a
    /// namespace joined.
    pub(crate) fn handle_timeout<O: SessionOutput>(&mut self, cx: &mut EngineCx<'_, O>) -> bool {
        let now = cx.now;
        for s in &mut self.sockets {
            let mut k = 0;
            while k < s.acks.len() {
                if s.acks[k].by.is_some_and(|by| now >= by) {
                    let ack = s.acks.swap_remove(k);
                    cx.out.event(SessionEvent::Ack {
                        socket: s.handle,
                        id: ack.id,
                        outcome: AckOutcome::TimedOut,
                        args: "[]",
                        attachments: &[],
                    });
                } else {
                    k += 1;
                }
            }
        }
        self.connect_by.is_some_and(|t| now >= t) && !self.sockets.iter().any(|s| s.open)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.sockets
            .iter()
            .flat_map(|s| s.acks.iter().filter_map(|a| a.by))
            .chain(self.connect_by)
            .min()
    }
}

/// Tells the application each ack the socket still waited for will not
/// come.
fn fail_acks<O: SessionOutput>(s: &Socket, cx: &mut EngineCx<'_, O>) {
    for ack in &s.acks {
        cx.out.event(SessionEvent::Ack {
            socket: s.handle,
            id: ack.id,
            outcome: AckOutcome::Disconnected,
            args: "[]",
            attachments: &[],
        });
    }
}

/// `pid` and `offset` of a reconnecting client's auth, when both are
/// strings.
fn recovery_fields(auth: &str) -> Option<(String, String)> {
    #[derive(Default)]
    struct Fields {
        pid: Option<String>,
        offset: Option<String>,
    }
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(auth).ok()?;
    let mut f = Fields::default();
    if let Some(serde_json::Value::String(p)) = v.get("pid") {
        f.pid = Some(p.clone());
    }
    if let Some(serde_json::Value::String(o)) = v.get("offset") {
        f.offset = Some(o.clone());
    }
    Some((f.pid?, f.offset?))
}

fn check_json(text: &str) -> Result<(), Refusal> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(drop)
        .map_err(|_| Refusal::InvalidArgument("data is not valid JSON"))
}

/// Checks arguments (a JSON array) and their placeholders; returns the
/// array's inside.
fn binary_kind(kind: PacketType, attachments: &[&[u8]]) -> PacketType {
    if attachments.is_empty() {
        kind
    } else {
        kind.binary()
    }
}

/// Encodes a packet (the Engine.IO message prefix, the Socket.IO header,
/// the payload `data` writes) and queues it with its attachments.
fn send<O: SessionOutput>(
    session: &mut impl Carrier,
    cx: &mut EngineCx<'_, O>,
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
    attachments: &[&[u8]],
    data: impl FnOnce(&mut Vec<u8>),
) {
    let mut buf = std::mem::take(cx.scratch);
    buf.clear();
    buf.push(b'4');
    sio::encode_header(&mut buf, kind, attachments.len(), nsp, id);
    data(&mut buf);
    session.push_encoded(&buf, attachments, cx);
    *cx.scratch = buf;
}
