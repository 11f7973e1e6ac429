//! Argument checks shared by `Server` and `Handle`: what the protocol
//! cannot carry is refused on the caller's thread, before any work.

use crate::error::{Error, Result};
use crate::proto::sse::{self, SseEvent};
use crate::proto::MessageKind;
use crate::pubsub::{HistoryLimit, Publish, MAX_TOPIC_LEN};
use std::time::Duration;

/// Checks what a text message must be.
pub(crate) fn check_message(kind: MessageKind, data: &[u8]) -> Result<()> {
    if kind == MessageKind::Text && simdutf8::basic::from_utf8(data).is_err() {
        return Err(Error::invalid("text message is not valid UTF-8"));
    }
    Ok(())
}

pub(crate) fn check_headers(headers: &[(String, String)]) -> Result<()> {
    crate::proto::check_headers(headers).map_err(Error::from)
}

pub(crate) fn check_topic(topic: &str) -> Result<()> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(Error::invalid(format!(
            "topic name must be 1-{MAX_TOPIC_LEN} bytes, not {}",
            topic.len()
        )));
    }
    Ok(())
}

pub(crate) fn check_publish(msg: &Publish<'_>) -> Result<()> {
    if msg.kind == MessageKind::Text && simdutf8::basic::from_utf8(msg.data).is_err() {
        return Err(Error::invalid("text message is not valid UTF-8"));
    }
    if let Some(e) = msg.sse_event {
        if sse::validate(&SseEvent {
            event: Some(e),
            ..SseEvent::default()
        })
        .is_err()
        {
            return Err(Error::invalid(
                "SSE event name must not contain CR, LF or NUL",
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_history(limit: &HistoryLimit) -> Result<()> {
    if limit.max_events == 0 && limit.max_age.is_zero() {
        return Err(Error::invalid(
            "a topic history needs max_events or max_age (or both); clear_topic_history turns it off",
        ));
    }
    if limit.max_age > Duration::from_millis(crate::options::MAX_MILLIS) {
        return Err(Error::invalid(format!(
            "history max_age must be 0 (no age limit) or 1-{} milliseconds",
            crate::options::MAX_MILLIS
        )));
    }
    Ok(())
}
