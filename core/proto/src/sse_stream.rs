//! An open Server-Sent Events stream: the application's events and
//! comments, and a keep-alive comment whenever the stream has been quiet
//! for `sse_keepalive`, so proxies keep it open and dead clients are found.

use crate::output::{Cx, Output};
use crate::settings::{timer, Settings};
use crate::sse;
use bytes::Bytes;
use std::time::Instant;

pub struct SseStream {
    /// When anything was last queued on the stream.
    pub(crate) last_write: Instant,
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
