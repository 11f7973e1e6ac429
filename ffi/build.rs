//! Gives libwsrt.so a SONAME carrying the ABI major version, so programs
//! linked against it refuse an incompatible future library.

/// Bump on any incompatible change to include/wsrt.h (and keep
/// `WSRT_ABI_VERSION` in src/lib.rs in step).
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwsrt.so.{ABI_MAJOR}");
    println!("cargo:rerun-if-changed=build.rs");
}
