//! wsrt: a native real-time transport. RFC 6455 WebSocket and Server-Sent
//! Events on one port, on a mio event loop, behind one poll-style API that
//! the C ABI, Python and Node bindings wrap.
//!
//! ```no_run
//! use wsrt::{Config, EventType, Events, Server};
//! let mut server = Server::bind(Config::new("127.0.0.1:9001").websocket("/echo")).unwrap();
//! let mut events = Events::new();
//! loop {
//!     server.poll(&mut events, None).unwrap();
//!     for ev in &events {
//!         if ev.kind == EventType::Message {
//!             let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
//!         }
//!     }
//! }
//! ```
//!
//! Layers: [`proto`] (the `wsrt-proto` crate) is the protocol as sans-I/O
//! state machines; the driver (private) owns sockets, buffers and timers;
//! [`Server`] and [`Handle`] are the public face. The front contract shared
//! by C, Python and Node is here: the option schema ([`options`]), the
//! event record ([`Event`], [`EventType`]) and the error kinds
//! ([`ErrorKind`]).

pub use wsrt_proto as proto;

mod args;
mod cluster;
pub mod config;
mod driver;
pub mod error;
pub mod event;
mod event_id;
mod group;
mod handle;
pub mod options;
pub mod pubsub;
mod server;
mod tls;

pub use config::{listen_address, Config, SlowConsumerPolicy};
pub use error::{Error, ErrorKind, Result};
pub use event::{ConnId, Event, EventType, Events, Request, Span, NO_ACK};
pub use group::LoopPoller;
pub use handle::Handle;
pub use options::{OptionSpec, OptionValue, TlsReload, Unit, OPTIONS};
pub use proto::engine::AckOutcome;
pub use proto::http::RequestHead;
pub use proto::sse::SseEvent;
pub use proto::{
    ConnState, DeflateConfig, DeflateMode, Endpoint, MessageKind, OverflowPolicy, Route, RouteKind,
};
pub use pubsub::{Broadcast, HistoryLimit, Publish, Published, Replay, Stats};
pub use server::Server;
pub use tls::TlsInfo;
