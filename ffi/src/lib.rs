//! The C ABI of wsrt: `libwsrt.so` and `include/wsrt.h` (generated from
//! this crate by cbindgen). A thin layer: it converts types, ownership and
//! errors, and never re-implements protocol logic; everything it does is a
//! call into the `wsrt` crate.
//!
//! Safety contracts of the `unsafe extern "C"` functions are written in
//! their doc comments, which cbindgen copies into the header for C users.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod config;
mod error;
mod pubsub;
mod request;
mod server;

pub use config::*;
pub use error::*;
pub use pubsub::*;
pub use request::*;
pub use server::*;

/// ABI major version; also the SONAME suffix (libwsrt.so.0).
pub const WSRT_ABI_VERSION: u32 = 0;

/// A borrowed string: `len` bytes at `ptr`, UTF-8, NOT NUL-terminated.
/// Print with `printf("%.*s", (int)s.len, s.ptr)`. `ptr` is never NULL (an
/// empty string points at a valid zero-length location).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wsrt_str {
    pub ptr: *const std::ffi::c_char,
    pub len: usize,
}

impl wsrt_str {
    pub(crate) fn from_str(s: &str) -> wsrt_str {
        wsrt_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }
    pub(crate) fn empty() -> wsrt_str {
        wsrt_str::from_str("")
    }
}

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
