//! The protocol engine of wsrt, sans I/O: bytes and `now` go in; bytes to
//! write, events for the application and the next deadline come out.
//!
//! Nothing here touches a socket, reads a clock, waits or spawns (the crate
//! depends on no I/O crate, and its clippy configuration forbids the std
//! clock, thread and socket APIs), so every rule is tested on its own, in
//! virtual time. The style is quinn-proto's: a [`Connection`] is the whole
//! per-connection protocol as a state machine, and the driver that owns the
//! sockets only moves bytes and runs timers.
//!
//! - codecs: [`frame`], [`mask`], [`utf8`], [`http`], [`sse`], [`deflate`];
//! - the WebSocket frame decoder: [`ws::Receiver`];
//! - per-connection compression state: [`compress`];
//! - the state machine: [`Connection`] (request head, approval, WebSocket,
//!   event stream, static answer, the close handshake and every timer).

pub mod compress;
mod connection;
pub mod deflate;
pub mod eio;
pub mod engine;
pub mod frame;
pub mod http;
pub mod mask;
mod output;
mod settings;
pub mod sio;
pub mod sse;
mod sse_stream;
mod transport;
pub mod utf8;
mod websocket;
pub mod ws;

pub use connection::{check_headers, Connection};
pub use output::{ConnEvent, ConnState, Cx, Output, Refusal};
pub use settings::{
    DeflateConfig, DeflateMode, Endpoint, EngineSettings, MessageKind, OverflowPolicy, Route,
    RouteKind, Settings,
};
pub use sse_stream::SseStream;
pub use transport::{EngineRequest, RequestKind, Transport, TransportEvent};
pub use websocket::{check_close, frame_bytes, opcode, push_frame, PublishForm, WebSocket};
