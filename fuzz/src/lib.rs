//! Coverage-guided fuzz targets for `wsrt-proto`.
//!
//! Each public function here is one target: it takes the fuzzer's bytes,
//! drives one parser or state machine with them and panics when an
//! invariant breaks (not only on a crash). The libFuzzer binaries in
//! `fuzz_targets/` call them; `tests/regressions.rs` replays every file of
//! `corpus/<target>/` and `regressions/<target>/` through the same
//! functions as ordinary tests.
//!
//! The targets and what they check:
//! - [`ws_connection`]: the connection state machine in virtual time,
//!   fed frames (or a whole request) in arbitrary splits, with and without
//!   permessage-deflate, interleaved with the application's calls and the
//!   timers;
//! - [`http_head`]: the request head parser and the router;
//! - [`inflate`]: the permessage-deflate inflater;
//! - [`sse_encode`]: the event-stream encoder, against a small parser;
//! - [`eio_sio`]: the Engine.IO and Socket.IO packet codecs;
//! - [`engine_session`]: an Engine.IO session with Socket.IO on top, fed
//!   the client's packets.

mod alloc;
mod eio_sio;
mod engine_session;
mod http_head;
mod inflate;
mod input;
mod sse_encode;
mod ws_connection;

pub use eio_sio::eio_sio;
pub use engine_session::engine_session;
pub use http_head::http_head;
pub use inflate::inflate;
pub use sse_encode::sse_encode;
pub use ws_connection::ws_connection;

/// `FUZZ_TRACE=1` prints what happens (for `cargo run --bin replay`).
pub(crate) fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// A fuzz target: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name, as the corpus directories are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("ws_connection", ws_connection),
    ("http_head", http_head),
    ("inflate", inflate),
    ("sse_encode", sse_encode),
    ("eio_sio", eio_sio),
    ("engine_session", engine_session),
];
