//! wsrt: a native real-time transport. RFC 6455 WebSocket and Server-Sent
//! Events on one port, on a mio event loop, behind one poll-style API that
//! the C ABI, Python and Node bindings wrap.
//!
//! ```no_run
//! use wsrt::{Config, Event, Events, Server};
//! let mut server = Server::bind(Config::new("127.0.0.1:9001").websocket("/echo")).unwrap();
//! let mut events = Events::new();
//! loop {
//!     server.poll(&mut events, None).unwrap();
//!     for ev in &events {
//!         if let Event::Message { conn, kind, data } = ev {
//!             let _ = server.send(*conn, *kind, events.bytes(*data));
//!         }
//!     }
//! }
//! ```
//!
//! Layers: [`proto`] holds the sans-I/O codecs; the driver (private) owns
//! sockets, buffers and timers; [`Server`] is the public face.

pub mod config;
mod driver;
pub mod error;
pub mod event;
pub mod proto;
pub mod pubsub;
mod server;

pub use config::{
    Config, DeflateConfig, DeflateMode, OverflowPolicy, Route, RouteKind, SlowConsumerPolicy,
};
pub use error::{Error, Result};
pub use event::{ConnId, Endpoint, Event, Events, MessageKind, Request, Span};
pub use proto::http::RequestHead;
pub use proto::sse::SseEvent;
pub use pubsub::{HistoryLimit, Publish, Published, Replay, Stats};
pub use server::{Handle, Server};
