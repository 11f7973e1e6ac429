//! Publish/subscribe from C: topics, fan-out, slow-consumer policy, SSE
//! history and replay, and the server's counters.

use crate::conv::{bytes, conn_id, kind, opt_arg, opt_out, opt_str, out_ptr, req_str, wsrt_conn};
use crate::error::{guard, guard_value, wsrt_result};
use crate::server::{srv, srv_ref, wsrt_server};
use std::ffi::c_char;
use std::time::Duration;
use wsrt::{HistoryLimit, Publish, Published, Replay, SlowConsumerPolicy};

/// wsrt_publish_opts.on_slow: the configured policy
/// (WSRT_OPT_SLOW_CONSUMER_POLICY). WSRT_SLOW_DROP and WSRT_SLOW_CLOSE,
/// the option's choices, are listed with it.
pub const WSRT_SLOW_DEFAULT: u32 = 0;

/// Options for one wsrt_publish or wsrt_handle_publish; pass NULL for the
/// defaults. Zero-fill before setting fields, so new fields in later
/// versions default sanely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_publish_opts {
    /// A connection that does not get the message (usually the sender);
    /// 0 for none.
    pub exclude: wsrt_conn,
    /// WSRT_SLOW_DEFAULT, WSRT_SLOW_DROP or WSRT_SLOW_CLOSE.
    pub on_slow: u32,
    /// The SSE `event:` name SSE subscribers see; NULL for none (the
    /// client's default, `message`). No CR, LF or NUL.
    pub sse_event: *const c_char,
}

/// What one wsrt_publish did.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct wsrt_published {
    /// Subscribers the message was queued for.
    pub delivered: usize,
    /// Slow subscribers that did not get it (WSRT_SLOW_DROP).
    pub dropped: usize,
    /// Slow subscribers closed because of it (WSRT_SLOW_CLOSE).
    pub closed: usize,
    /// The event id when the topic keeps history (SSE subscribers see it
    /// as `id:`); 0 otherwise. Below 2^53.
    pub event_id: u64,
}

/// What wsrt_resume did.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct wsrt_replay {
    /// True: nothing was replayed, so send the client a full snapshot now:
    /// events after the client's last id are no longer in the history, the
    /// id is not this server instance's, or the replay would exceed
    /// WSRT_OPT_SLOW_CONSUMER_LIMIT. The connection is subscribed either
    /// way.
    pub missed: bool,
    /// Events replayed (queued in order, before anything published later).
    pub replayed: usize,
}

/// Counters and gauges from wsrt_server_stats. New fields are appended
/// at the end; the library writes the whole struct, so a program built
/// against an older header must be rebuilt.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct wsrt_stats {
    pub connections: usize,
    pub websockets: usize,
    pub sse_streams: usize,
    /// Bytes queued for all connections and not yet taken by the sockets.
    pub buffered_bytes: usize,
    pub topics: usize,
    /// Publish calls (to a topic or to everyone).
    pub published: u64,
    /// Messages queued to subscribers by publishes.
    pub delivered: u64,
    /// Messages skipped for slow subscribers (WSRT_SLOW_DROP).
    pub dropped: u64,
    /// Subscribers closed as slow (WSRT_SLOW_CLOSE).
    pub slow_closed: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS connections refused or given up before their handshake
    /// completed (plain HTTP or garbage on a TLS port, a protocol version
    /// or certificate refused, the handshake timeout).
    pub tls_failures: u64,
    /// Publishes sent to the cluster's Redis (WSRT_OPT_CLUSTER_REDIS_URL).
    pub cluster_published: u64,
    /// Publishes of other servers of the cluster delivered here (their
    /// deliveries count in `delivered`).
    pub cluster_received: u64,
    /// Publishes that did not reach the cluster (queue to Redis full, no
    /// connection to Redis, or it broke before Redis confirmed them);
    /// local subscribers got them all the same.
    pub cluster_dropped: u64,
}

/// `on_slow` as the core's policy: the numbers of the
/// `slow_consumer_policy` option's choices, 0 for the configured one.
pub(crate) fn slow_policy(v: u32) -> wsrt::Result<Option<SlowConsumerPolicy>> {
    wsrt::options::on_slow(wsrt::OptionValue::Int(v.into()), "on_slow")
}

/// A publish as the core takes it, from the C arguments; `sse_event`
/// borrows from `opts`.
pub(crate) unsafe fn publish_msg<'a>(
    data: &'a [u8],
    is_text: bool,
    opts: *const wsrt_publish_opts,
) -> wsrt::Result<Publish<'a>> {
    let mut msg = Publish::new(kind(is_text), data);
    if let Some(o) = opt_arg(opts) {
        if o.exclude != 0 {
            msg.exclude = Some(conn_id(o.exclude));
        }
        msg.on_slow = slow_policy(o.on_slow)?;
        msg.sse_event = opt_str(o.sse_event, "sse_event")?;
    }
    Ok(msg)
}

/// Subscribes a WebSocket or SSE connection, an Engine.IO session or a
/// Socket.IO socket (joining the room `topic`) to `topic` (1-1024 bytes of
/// UTF-8; copied). `*was_new` (may be NULL) is false if it already was.
/// A connection leaves all its topics when it closes.
#[no_mangle]
pub unsafe extern "C" fn wsrt_subscribe(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
    was_new: *mut bool,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let added = s.subscribe(conn_id(conn), req_str(topic, "topic")?)?;
        if let Some(out) = opt_out(was_new) {
            *out = added;
        }
        Ok(())
    })
}

/// Subscribes to `topic` and replays from its history what the client
/// missed after `last_event_id` (NULL: the Last-Event-ID header the SSE
/// client sent, if any; with neither, only subscribes). See wsrt_replay
/// for the outcome; `out` may be NULL. Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_resume(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
    last_event_id: *const c_char,
    out: *mut wsrt_replay,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let topic = req_str(topic, "topic")?;
        let last = opt_str(last_event_id, "last_event_id")?;
        let r = s.resume(conn_id(conn), topic, last)?;
        if let Some(out) = opt_out(out) {
            *out = match r {
                Replay::Replayed(n) => wsrt_replay {
                    missed: false,
                    replayed: n,
                },
                Replay::Missed => wsrt_replay {
                    missed: true,
                    replayed: 0,
                },
            };
        }
        Ok(())
    })
}

/// Removes a connection from `topic` (only read); `*was_subscribed` (may
/// be NULL) says whether it was.
#[no_mangle]
pub unsafe extern "C" fn wsrt_unsubscribe(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
    was_subscribed: *mut bool,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let removed = s.unsubscribe(conn_id(conn), req_str(topic, "topic")?)?;
        if let Some(out) = opt_out(was_subscribed) {
            *out = removed;
        }
        Ok(())
    })
}

/// Whether `conn` is subscribed to `topic` (false for unknown ids, and for
/// a NULL or non-UTF-8 argument).
#[no_mangle]
pub unsafe extern "C" fn wsrt_is_subscribed(
    server: *const wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
) -> bool {
    // A question, not a call that fails: NULLs and bad strings are "no",
    // so no error is made (or dropped) on this per-message path.
    guard_value(false, || {
        let (Some(s), false) = (server.as_ref(), topic.is_null()) else {
            return false;
        };
        match std::ffi::CStr::from_ptr(topic).to_str() {
            Ok(t) => s.server.is_subscribed(conn_id(conn), t),
            Err(_) => false,
        }
    })
}

fn published(r: Published) -> wsrt_published {
    wsrt_published {
        delivered: r.delivered,
        dropped: r.dropped,
        closed: r.closed,
        event_id: r.event_id.unwrap_or(0),
    }
}

/// Publishes `len` bytes (text: valid UTF-8; binary skips SSE subscribers)
/// to every subscriber of `topic`, or to every open WebSocket and SSE
/// stream when `topic` is NULL. The frame is encoded once for all; the
/// bytes are copied. `opts` and `out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_publish(
    server: *mut wsrt_server,
    topic: *const c_char,
    data: *const u8,
    len: usize,
    is_text: bool,
    opts: *const wsrt_publish_opts,
    out: *mut wsrt_published,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let msg = publish_msg(bytes(data, len, "data")?, is_text, opts)?;
        let r = match opt_str(topic, "topic")? {
            Some(t) => s.publish(t, &msg)?,
            None => s.publish_all(&msg)?,
        };
        if let Some(out) = opt_out(out) {
            *out = published(r);
        }
        Ok(())
    })
}

/// Live subscribers of `topic` (0 for a NULL or non-UTF-8 argument).
#[no_mangle]
pub unsafe extern "C" fn wsrt_subscriber_count(
    server: *const wsrt_server,
    topic: *const c_char,
) -> usize {
    guard_value(0, || match (srv_ref(server), req_str(topic, "topic")) {
        (Ok(s), Ok(t)) => s.subscriber_count(t),
        _ => 0,
    })
}

/// Live subscribers of `topic` on every server of the cluster: this
/// server's as they are, each other server's as it last announced them
/// (within about a second; a server not heard from for 5 s is left out).
/// Without a cluster, the same as wsrt_subscriber_count. 0 for a NULL or
/// non-UTF-8 argument.
#[no_mangle]
pub unsafe extern "C" fn wsrt_cluster_subscriber_count(
    server: *const wsrt_server,
    topic: *const c_char,
) -> usize {
    guard_value(0, || match (srv_ref(server), req_str(topic, "topic")) {
        (Ok(s), Ok(t)) => s.cluster_subscriber_count(t),
        _ => 0,
    })
}

/// Makes `topic` keep its recent events for wsrt_resume: at most
/// `max_events` of them (0: no count limit), each for at most `max_age_ms`
/// (0: no age limit); one bound at least must be set. Event ids increase
/// across all topics of this server. `topic` is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_set_topic_history(
    server: *mut wsrt_server,
    topic: *const c_char,
    max_events: usize,
    max_age_ms: u64,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let limit = HistoryLimit {
            max_events,
            max_age: Duration::from_millis(max_age_ms),
        };
        s.set_topic_history(req_str(topic, "topic")?, limit)
    })
}

/// Stops keeping `topic`'s history and forgets it. `topic` is only read.
#[no_mangle]
pub unsafe extern "C" fn wsrt_clear_topic_history(
    server: *mut wsrt_server,
    topic: *const c_char,
) -> wsrt_result {
    guard(|| srv(server)?.clear_topic_history(req_str(topic, "topic")?))
}

/// Fills `*out` (the caller's) with the server's counters.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_stats(
    server: *const wsrt_server,
    out: *mut wsrt_stats,
) -> wsrt_result {
    guard(|| {
        let s = srv_ref(server)?;
        let out = out_ptr(out, "out")?;
        let st = s.stats();
        *out = wsrt_stats {
            connections: st.connections,
            websockets: st.websockets,
            sse_streams: st.sse_streams,
            buffered_bytes: st.buffered_bytes,
            topics: st.topics,
            published: st.published,
            delivered: st.delivered,
            dropped: st.dropped,
            slow_closed: st.slow_closed,
            tls_handshakes: st.tls_handshakes,
            tls_failures: st.tls_failures,
            cluster_published: st.cluster_published,
            cluster_received: st.cluster_received,
            cluster_dropped: st.cluster_dropped,
        };
        Ok(())
    })
}
