//! proto is sans-I/O, and this test (with the clippy configuration beside
//! Cargo.toml, which `make lint` enforces) keeps it so: no I/O or runtime
//! crate among its dependencies, and no clock, thread, socket or file API
//! in its sources (unit-test modules, which may pick an epoch, excepted).

use std::path::{Path, PathBuf};

const FORBIDDEN_CRATES: &[&str] = &[
    "mio",
    "tokio",
    "async-std",
    "smol",
    "polling",
    "libc",
    "nix",
    "socket2",
    "rustix",
];

const FORBIDDEN_APIS: &[&str] = &[
    "Instant::now",
    "SystemTime",
    "std::thread",
    "std::net::Tcp",
    "std::net::Udp",
    "std::os::unix::net",
    "std::fs",
    "std::process",
    "std::sync::Mutex",
    "mio::",
    "libc::",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

#[test]
fn depends_on_no_io_crate() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] section")
        .split("\n[")
        .next()
        .unwrap();
    for line in deps.lines() {
        let name = line.split('=').next().unwrap_or("").trim();
        assert!(
            !FORBIDDEN_CRATES.contains(&name),
            "proto must not depend on {name}: it is sans-I/O"
        );
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn reads_no_clock_and_touches_no_socket_thread_or_file() {
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    assert!(files.len() > 10, "found the sources");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests sit at the end of a file, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap();
            for api in FORBIDDEN_APIS {
                assert!(
                    !line.contains(api),
                    "{}:{}: {api} in proto (sans-I/O: take `now` and bytes as arguments)",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}
