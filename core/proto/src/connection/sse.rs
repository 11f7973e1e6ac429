//! The application's side of an open event stream.

use super::{Connection, Phase};
use crate::output::{Cx, Output, Refusal};
use crate::settings::{OverflowPolicy, Settings};
use crate::sse::{self, SseEvent};

impl Connection {
    /// Sends one event on an event stream.
    pub fn sse_send<O: Output>(
        &mut self,
        event: &SseEvent<'_>,
        cx: &mut Cx<'_, O>,
    ) -> Result<(), Refusal> {
        sse::validate(event).map_err(|e| Refusal::InvalidArgument(e.message()))?;
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
