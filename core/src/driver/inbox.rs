//! What Engine.IO transports hand over during a protocol call: a
//! connection's protocol cannot reach the session table while it runs, so
//! it leaves a request, a message or its end here, and the loop runs them
//! against their sessions right after (`Driver::drain_transports`).

use crate::event::ConnId;
use crate::proto::engine::http::Transport;
use crate::proto::http::RequestHead;
use crate::proto::{MessageKind, RequestKind, TransportEvent};
use std::ops::Range;

/// What Engine.IO transports handed over during a protocol call.
#[derive(Default)]
pub(super) struct TransportInbox {
    items: Vec<Input>,
    bytes: Vec<u8>,
}

pub(super) enum Input {
    Request {
        conn: ConnId,
        route: usize,
        transport: Transport,
        kind: RequestKind,
        sid: Option<String>,
        body: Range<usize>,
        head: Option<Box<RequestHead>>,
    },
    Message {
        conn: ConnId,
        session: ConnId,
        kind: MessageKind,
        data: Range<usize>,
    },
    Gone {
        conn: ConnId,
        session: ConnId,
        failed: bool,
    },
}

impl TransportInbox {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in order, and the bytes their ranges point into
    /// (emptied by [`Self::clear`]; the allocations stay).
    pub fn split(&mut self) -> (std::vec::Drain<'_, Input>, &[u8]) {
        (self.items.drain(..), &self.bytes)
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
    }

    fn keep(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        start..self.bytes.len()
    }

    /// Keeps what a transport connection (`conn`, linked to `session`)
    /// handed over.
    pub fn push(&mut self, conn: ConnId, session: ConnId, ev: TransportEvent<'_>) {
        let item = match ev {
            TransportEvent::Request(r) => Input::Request {
                conn,
                route: r.route,
                transport: r.transport,
                kind: r.kind,
                sid: r.sid.map(str::to_string),
                body: self.keep(r.body),
                head: r.head,
            },
            TransportEvent::Message { kind, data } => Input::Message {
                conn,
                session,
                kind,
                data: self.keep(data),
            },
            TransportEvent::Gone { failed } => Input::Gone {
                conn,
                session,
                failed,
            },
        };
        self.items.push(item);
    }
}
