//! Replays every saved input through its fuzz target as an ordinary test:
//! the seed corpus (`corpus/<target>/`) and every input that once found a
//! bug (`regressions/<target>/`). No libFuzzer needed.

use std::path::Path;

/// Runs every file under `dir/<target>/`; returns how many, and the
/// files that failed.
fn replay(dir: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut n = 0;
    let mut failed = Vec::new();
    for (name, target) in wsrt_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            if file
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let data = std::fs::read(&file).unwrap();
            let result = std::panic::catch_unwind(|| target(&data));
            if result.is_err() {
                failed.push(format!("{name}: {}", file.display()));
            }
            n += 1;
        }
    }
    (n, failed)
}

#[test]
fn seed_corpus() {
    let (n, failed) = replay("corpus");
    assert!(n > 0, "no seed corpus found");
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
    eprintln!("replayed {n} corpus inputs");
}

#[test]
fn regressions() {
    let (n, failed) = replay("regressions");
    assert!(failed.is_empty(), "failing inputs:\n{}", failed.join("\n"));
    eprintln!("replayed {n} regression inputs");
}
