//! The C ABI of wsrt: `libwsrt.so` and `include/wsrt.h` (generated from
//! this crate by cbindgen, plus the option constants generated from the
//! core's schema). A thin layer: it converts types, ownership and errors,
//! and never re-implements a rule; every check is a call into the `wsrt`
//! crate.
//!
//! Modules, bottom up (each imports only from those before it):
//! `error` (result codes, the guard), `conv` (pointer checks and
//! conversions), `config`, `request`, `server`, `pubsub`, `sio`, `handle`,
//! `loops`.
//!
//! Safety contracts of the `unsafe extern "C"` functions are written in
//! their doc comments, which cbindgen copies into the header for C users.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod config;
mod conv;
mod error;
mod handle;
mod loops;
mod pubsub;
mod request;
mod server;
mod sio;

pub use config::*;
pub use conv::{wsrt_bytes, wsrt_conn, wsrt_header, wsrt_str};
pub use error::*;
pub use handle::*;
pub use loops::*;
pub use pubsub::*;
pub use request::*;
pub use server::*;
pub use sio::*;

/// ABI major version; also the SONAME suffix (libwsrt.so.0).
pub const WSRT_ABI_VERSION: u32 = 0;

/// The library version, e.g. "0.1.0". Static storage; never free it.
#[no_mangle]
pub extern "C" fn wsrt_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI major version this library implements (WSRT_ABI_VERSION of the
/// header it was built with). Compare at start-up to catch a mismatched
/// library.
#[no_mangle]
pub extern "C" fn wsrt_abi_version() -> u32 {
    WSRT_ABI_VERSION
}
