//! Publish/subscribe: named topics that WebSocket and SSE connections join,
//! fan-out that encodes a message once for every subscriber, a bound on
//! what a slow subscriber may cost, and a bounded history from which an
//! SSE client that reconnects with `Last-Event-ID` gets what it missed.

use crate::config::SlowConsumerPolicy;
use crate::event::ConnId;
use crate::proto::MessageKind;
use std::time::Duration;

/// Longest topic name accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 1024;

/// How much history a topic keeps; see `Server::set_topic_history`.
/// Zero turns a bound off, and at least one bound must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit {
    /// Most events kept; 0: no count limit.
    pub max_events: usize,
    /// Events older than this are dropped; ZERO: no age limit.
    pub max_age: Duration,
}

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

/// A Socket.IO event to many sockets of a namespace (`io.to(room).emit`,
/// `socket.broadcast.emit`, `io.of(nsp).emit`).
#[derive(Debug, Clone, Copy)]
pub struct Broadcast<'a> {
    pub namespace: &'a str,
    /// Sockets in any of these rooms (a room may be a socket's id); empty:
    /// every socket of the namespace.
    pub rooms: &'a [&'a str],
    /// Never sockets in these rooms.
    pub except_rooms: &'a [&'a str],
    /// Never this socket (usually the sender).
    pub except: Option<ConnId>,
    pub event: &'a str,
    /// The arguments: a JSON array whose binary arguments are placeholders
    /// `{"_placeholder":true,"num":n}` for `attachments[n]`.
    pub args: &'a str,
    pub attachments: &'a [&'a [u8]],
}

impl<'a> Broadcast<'a> {
    /// To every socket of `namespace`.
    pub fn new(namespace: &'a str, event: &'a str, args: &'a str) -> Self {
        Broadcast {
            namespace,
            rooms: &[],
            except_rooms: &[],
            except: None,
            event,
            args,
            attachments: &[],
        }
    }
}

/// A [`Broadcast`] that crosses threads (a handle's) or servers (the
/// cluster's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedBroadcast {
    pub namespace: String,
    pub rooms: Vec<String>,
    pub except_rooms: Vec<String>,
    pub except: Option<ConnId>,
    pub event: String,
    pub args: String,
    pub attachments: Vec<bytes::Bytes>,
}

impl OwnedBroadcast {
    pub fn new(b: &Broadcast<'_>) -> OwnedBroadcast {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        OwnedBroadcast {
            namespace: b.namespace.to_string(),
            rooms: strings(b.rooms),
            except_rooms: strings(b.except_rooms),
            except: b.except,
            event: b.event.to_string(),
            args: b.args.to_string(),
            attachments: b
                .attachments
                .iter()
                .map(|a| bytes::Bytes::copy_from_slice(a))
                .collect(),
        }
    }

    /// Runs `f` on it as a borrowed [`Broadcast`].
    pub fn borrowed<R>(&self, f: impl FnOnce(&Broadcast<'_>) -> R) -> R {
        let rooms: Vec<&str> = self.rooms.iter().map(String::as_str).collect();
        let except_rooms: Vec<&str> = self.except_rooms.iter().map(String::as_str).collect();
        let attachments: Vec<&[u8]> = self.attachments.iter().map(|a| &a[..]).collect();
        f(&Broadcast {
            namespace: &self.namespace,
            rooms: &rooms,
            except_rooms: &except_rooms,
            except: self.except,
            event: &self.event,
            args: &self.args,
            attachments: &attachments,
        })
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

/// The outcome of `Server::resume`.
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
    /// Connections, counting an Engine.IO session (its polls and its
    /// WebSocket) as one.
    pub connections: usize,
    pub websockets: usize,
    pub sse_streams: usize,
    /// Engine.IO sessions, plain and under Socket.IO.
    pub engine_sessions: usize,
    /// Connected Socket.IO sockets (one per namespace a session joined).
    pub sockets: usize,
    /// Bytes queued for every connection and not yet taken by the sockets.
    pub buffered_bytes: usize,
    pub topics: usize,
    /// Publish calls (to a topic or to everyone) on this server (those
    /// of other servers of a cluster count in `cluster_received`).
    pub published: u64,
    /// Messages queued to subscribers by publishes.
    pub delivered: u64,
    /// Messages not queued to a slow subscriber (policy `Drop`).
    pub dropped: u64,
    /// Connections closed as slow subscribers (policy `Close`).
    pub slow_closed: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS connections refused or given up before their handshake
    /// completed (plain HTTP or garbage on a TLS port, a protocol version
    /// or certificate refused, the handshake timeout).
    pub tls_failures: u64,
    /// Publishes sent to the cluster's Redis (`cluster_redis_url`).
    pub cluster_published: u64,
    /// Publishes of other servers of the cluster handed to this one's
    /// subscribers (their deliveries count in `delivered`).
    pub cluster_received: u64,
    /// Publishes that did not reach the cluster: the queue to Redis was
    /// full, or there was no connection to Redis, or it broke before Redis
    /// confirmed them. Local subscribers got them all the same.
    pub cluster_dropped: u64,
}

impl Stats {
    /// Adds another loop's figures to these (every field is a count; the
    /// pattern names them all, so a new field must be added here too).
    pub(crate) fn add(&mut self, o: &Stats) {
        let Stats {
            connections,
            websockets,
            sse_streams,
            engine_sessions,
            sockets,
            buffered_bytes,
            topics,
            published,
            delivered,
            dropped,
            slow_closed,
            tls_handshakes,
            tls_failures,
            cluster_published,
            cluster_received,
            cluster_dropped,
        } = *o;
        self.connections += connections;
        self.websockets += websockets;
        self.sse_streams += sse_streams;
        self.engine_sessions += engine_sessions;
        self.sockets += sockets;
        self.buffered_bytes += buffered_bytes;
        self.topics += topics;
        self.published += published;
        self.delivered += delivered;
        self.dropped += dropped;
        self.slow_closed += slow_closed;
        self.tls_handshakes += tls_handshakes;
        self.tls_failures += tls_failures;
        self.cluster_published += cluster_published;
        self.cluster_received += cluster_received;
        self.cluster_dropped += cluster_dropped;
    }
}
