//! Regenerates include/wsrt.h: `cargo run -p wsrt-ffi --example gen_header`
//! (what `make header` runs).
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = wsrt_ffi_header::generate(root);
    let path = root.join("../include/wsrt.h");
    std::fs::write(&path, header).expect("write include/wsrt.h");
    eprintln!("wrote {}", path.display());
}

#[path = "../tests/support/header.rs"]
mod wsrt_ffi_header;
