//! Publish/subscribe from C: topics, fan-out, slow-consumer policy, SSE
//! history and replay, and the server's counters.

use crate::error::*;
use crate::server::{srv, wsrt_conn, wsrt_handle, wsrt_server};
use std::ffi::c_char;
use std::time::Duration;
use wsrt::{ConnId, HistoryLimit, MessageKind, Publish, Replay, SlowConsumerPolicy};

/// wsrt_publish_opts.on_slow: the configured policy
/// (WSRT_OPT_SLOW_CONSUMER_POLICY).
pub const WSRT_SLOW_DEFAULT: u32 = 0;
/// Skip the message for a subscriber over the limit (volatile data).
pub const WSRT_SLOW_DROP: u32 = 1;
/// Close a subscriber over the limit (WSRT_EVENT_CLOSE with code 1008, or
/// WSRT_EVENT_SSE_CLOSE).
pub const WSRT_SLOW_CLOSE: u32 = 2;

/// Options for one wsrt_publish; pass NULL for the defaults. Zero-fill
/// before setting fields, so new fields in later versions default sanely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_publish_opts {
    /// A connection that does not get the message (usually the sender);
    /// 0 for none.
    pub exclude: wsrt_conn,
    /// WSRT_SLOW_DEFAULT, WSRT_SLOW_DROP or WSRT_SLOW_CLOSE.
    pub on_slow: u32,
    /// The SSE `event:` name SSE subscribers see; NULL for none. No CR,
    /// LF or NUL.
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
    /// as `id:`); 0 otherwise.
    pub event_id: u64,
}

/// What wsrt_subscribe_since did.
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

/// Counters and gauges from wsrt_server_stats.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct wsrt_stats {
    pub connections: usize,
    pub websockets: usize,
    pub sse_streams: usize,
    /// Bytes queued for all connections and not yet taken by the sockets.
    pub buffered_bytes: usize,
    pub topics: usize,
    /// Publish calls.
    pub published: u64,
    /// Messages queued to subscribers by publishes.
    pub delivered: u64,
    /// Messages skipped for slow subscribers (WSRT_SLOW_DROP).
    pub dropped: u64,
    /// Subscribers closed as slow (WSRT_SLOW_CLOSE).
    pub slow_closed: u64,
}

fn kind(is_text: bool) -> MessageKind {
    if is_text {
        MessageKind::Text
    } else {
        MessageKind::Binary
    }
}

pub(crate) fn slow_policy(v: u64) -> wsrt::Result<Option<SlowConsumerPolicy>> {
    match v {
        0 => Ok(None),
        1 => Ok(Some(SlowConsumerPolicy::Drop)),
        2 => Ok(Some(SlowConsumerPolicy::Close)),
        _ => Err(invalid(
            "slow-consumer policy must be WSRT_SLOW_DEFAULT, _DROP or _CLOSE",
        )),
    }
}

/// Subscribes a WebSocket or SSE connection to `topic` (1-1024 bytes of
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
        let added = srv(server)?
            .server
            .subscribe(ConnId(conn), req_str(topic)?)?;
        if let Some(out) = was_new.as_mut() {
            *out = added;
        }
        Ok(())
    })
}

/// Subscribes and replays from the topic's history what the client missed
/// since `last_event_id` (an SSE client's Last-Event-ID header; NULL: only
/// subscribe). See wsrt_replay for the outcome; `out` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_subscribe_since(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
    last_event_id: *const c_char,
    out: *mut wsrt_replay,
) -> wsrt_result {
    guard(|| {
        let s = srv(server)?;
        let r = s
            .server
            .subscribe_since(ConnId(conn), req_str(topic)?, opt_str(last_event_id)?)?;
        if let Some(out) = out.as_mut() {
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

/// Removes a connection from `topic`; `*was_subscribed` (may be NULL)
/// says whether it was.
#[no_mangle]
pub unsafe extern "C" fn wsrt_unsubscribe(
    server: *mut wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
    was_subscribed: *mut bool,
) -> wsrt_result {
    guard(|| {
        let removed = srv(server)?
            .server
            .unsubscribe(ConnId(conn), req_str(topic)?)?;
        if let Some(out) = was_subscribed.as_mut() {
            *out = removed;
        }
        Ok(())
    })
}

/// Whether `conn` is subscribed to `topic` (false for NULLs, unknown ids).
#[no_mangle]
pub unsafe extern "C" fn wsrt_is_subscribed(
    server: *const wsrt_server,
    conn: wsrt_conn,
    topic: *const c_char,
) -> bool {
    guard_value(false, || {
        match (server.as_ref(), opt_str(topic).ok().flatten()) {
            (Some(s), Some(t)) => s.server.is_subscribed(ConnId(conn), t),
            _ => false,
        }
    })
}

/// Publishes `len` bytes (text: valid UTF-8; binary skips SSE subscribers)
/// to every subscriber of `topic`, or to every open connection when
/// `topic` is NULL. The frame is encoded once for all; the bytes are
/// copied. `opts` and `out` may be NULL.
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
        let mut msg = Publish::new(kind(is_text), bytes(data, len)?);
        if let Some(o) = opts.as_ref() {
            if o.exclude != 0 {
                msg.exclude = Some(ConnId(o.exclude));
            }
            msg.on_slow = slow_policy(o.on_slow as u64)?;
            msg.sse_event = opt_str(o.sse_event)?;
        }
        let r = match opt_str(topic)? {
            Some(t) => s.server.publish(t, &msg)?,
            None => s.server.publish_all(&msg)?,
        };
        if let Some(out) = out.as_mut() {
            *out = wsrt_published {
                delivered: r.delivered,
                dropped: r.dropped,
                closed: r.closed,
                event_id: r.event_id.unwrap_or(0),
            };
        }
        Ok(())
    })
}

/// Live subscribers of `topic` (0 for NULLs).
#[no_mangle]
pub unsafe extern "C" fn wsrt_subscriber_count(
    server: *const wsrt_server,
    topic: *const c_char,
) -> usize {
    guard_value(0, || {
        match (server.as_ref(), opt_str(topic).ok().flatten()) {
            (Some(s), Some(t)) => s.server.subscriber_count(t),
            _ => 0,
        }
    })
}

/// Makes `topic` keep its last `max_events` events (0: no history), each
/// for at most `max_age_ms` (0: no age limit), for wsrt_subscribe_since.
#[no_mangle]
pub unsafe extern "C" fn wsrt_set_topic_history(
    server: *mut wsrt_server,
    topic: *const c_char,
    max_events: usize,
    max_age_ms: u64,
) -> wsrt_result {
    guard(|| {
        let limit = HistoryLimit {
            max_events,
            max_age: (max_age_ms > 0).then(|| Duration::from_millis(max_age_ms)),
        };
        srv(server)?
            .server
            .set_topic_history(req_str(topic)?, limit)
    })
}

/// Fills `*out` with the server's counters.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_stats(
    server: *const wsrt_server,
    out: *mut wsrt_stats,
) -> wsrt_result {
    guard(|| {
        let s = server.as_ref().ok_or(invalid("server is NULL"))?;
        let out = out.as_mut().ok_or(invalid("out is NULL"))?;
        let st = s.server.stats();
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
        };
        Ok(())
    })
}

/// Publishes from any thread (see wsrt_publish; `topic` NULL: everyone;
/// `exclude` 0: none). The outcome is not reported back; wsrt_server_stats
/// counts it.
#[no_mangle]
pub unsafe extern "C" fn wsrt_handle_publish(
    handle: *const wsrt_handle,
    topic: *const c_char,
    data: *const u8,
    len: usize,
    is_text: bool,
    exclude: wsrt_conn,
) -> wsrt_result {
    guard(|| {
        let h = handle.as_ref().ok_or(invalid("handle is NULL"))?;
        h.handle.publish(
            opt_str(topic)?,
            kind(is_text),
            bytes::Bytes::copy_from_slice(bytes(data, len)?),
            (exclude != 0).then_some(ConnId(exclude)),
        )
    })
}
