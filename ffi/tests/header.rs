//! include/wsrt.h is committed; it must be exactly what cbindgen generates
//! from the current sources, or C users would compile against a stale ABI.
mod support {
    pub mod header;
}

#[test]
fn committed_header_matches_generated() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = support::header::generate(root);
    let committed =
        std::fs::read_to_string(root.join("../include/wsrt.h")).expect("include/wsrt.h is missing");
    assert!(
        generated == committed,
        "include/wsrt.h is stale: run `make header` and commit the result"
    );
}
