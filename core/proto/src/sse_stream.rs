//! An open Server-Sent Events stream: the application's events and
//! comments, and a keep-alive comment whenever the stream has been quiet
//! for `sse_keepalive`, so proxies keep it open and dead clients are found.

use crate::connection::{Connection, Cx, Output, Phase, Refusal};
use crate::settings::{timer, OverflowPolicy, Settings};
use crate::sse::{self, SseEvent};
use bytes::Bytes;
use std::time::Instant;

pub struct SseStream {
    /// When anything was last queued on the stream.
    last_write: Instant,
    /// The `Last-Event-ID` the client sent with its request: where a
    /// reconnecting client resumes.
    last_event_id: Option<Box<str>>,
}

impl SseStream {
    pub(crate) fn new(now: Instant, last_event_id: Option<&str>) -> Self {
        SseStream {
            last_write: now,
            last_event_id: last_event_id.map(Into::into),
        }
    }

    /// The client's `Last-Event-ID`, if it sent one.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    pub(crate) fn deadline(&self, settings: &Settings) -> Option<Instant> {
        timer(settings.sse_keepalive).map(|ka| self.last_write + ka)
    }

    pub(crate) fn handle_timeout<O: Output>(&mut self, cx: &mut Cx<'_, O>) {
        let Some(ka) = timer(cx.settings.sse_keepalive) else {
            return;
        };
        if cx.now >= self.last_write + ka {
            cx.out.append(16, |v| sse::encode_comment(v, "keep-alive"));
            self.last_write = cx.now;
        }
    }

    /// Queues already-encoded event bytes shared with other streams (a
    /// published event).
    pub fn push_shared<O: Output>(&mut self, bytes: Bytes, out: &mut O, now: Instant) {
        out.push_shared(bytes);
        self.last_write = now;
    }

    /// Queues already-encoded event bytes by copy.
    pub fn push_copy<O: Output>(&mut self, bytes: &[u8], out: &mut O, now: Instant) {
        out.append(bytes.len(), |v| v.extend_from_slice(bytes));
        self.last_write = now;
    }
}

impl Connection {
    /// Sends one event on an event stream.
    pub fn sse_send<O: Output>(
        &mut self,
        event: &SseEvent<'_>,
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        sse::validate(event).map_err(|e| Refusal::InvalidArgument(sse_error(e)))?;
        self.queue_sse(sse::encoded_len_hint(event), cx, |v| {
            let _ = sse::encode_event(v, event);
        })
    }

    /// Sends a comment on an event stream (clients ignore it).
    pub fn sse_comment<O: Output>(
        &mut self,
        text: &str,
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        self.queue_sse(text.len() + 8, cx, |v| sse::encode_comment(v, text))
    }

    fn queue_sse<O: Output>(
        &mut self,
        need: usize,
        cx: &mut Cx<'_, O>,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Refusal> {
        let Phase::Sse(stream) = &mut self.phase else {
            return Err(self.not_open("not an SSE stream"));
        };
        if cx.out.queued().saturating_add(need) > Settings::limit(cx.settings.max_buffered) {
            if cx.settings.overflow_policy == OverflowPolicy::Close {
                self.finish(cx, 1008, "send buffer limit exceeded", true);
            }
            return Err(Refusal::Backpressure);
        }
        cx.out.append(need, encode);
        stream.last_write = cx.now;
        Ok(())
    }
}

/// The message for an SSE field the wire format cannot carry.
pub(crate) fn sse_error(e: sse::SseError) -> &'static str {
    match e {
        sse::SseError::InvalidEvent => "SSE event name must not contain CR, LF or NUL",
        sse::SseError::InvalidId => "SSE id must not contain CR, LF or NUL",
    }
}
