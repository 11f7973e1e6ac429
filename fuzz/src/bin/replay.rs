//! Runs one target on files, as the fuzzer would (a failing input panics
//! with the broken invariant): `cargo run --bin replay -- TARGET FILE...`.

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: replay TARGET FILE...");
    let (_, target) = wsrt_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    for file in args {
        let data = std::fs::read(&file).unwrap();
        eprintln!("{name}: {file} ({} bytes)", data.len());
        target(&data);
    }
}
