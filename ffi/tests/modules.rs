//! The modules of ffi/src import each other without circles: each may use
//! only modules below it (error, conv, config, request, server, pubsub,
//! handle), so the layering stays readable and a change at the top cannot
//! ripple down.
use std::collections::{BTreeMap, BTreeSet};

fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("read ffi/src") {
        let path = entry.expect("entry").path();
        let module = path.file_stem().unwrap().to_string_lossy().to_string();
        if module == "lib" {
            continue; // the crate root declares and re-exports the modules
        }
        let text = std::fs::read_to_string(&path).expect("read module");
        let mut uses = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                uses.insert(name);
            }
        }
        graph.insert(module, uses);
    }
    graph
}

#[test]
fn module_graph_has_no_cycles() {
    let graph = imports();
    for used in graph.values().flatten() {
        assert!(
            graph.contains_key(used),
            "crate::{used} is not a module of ffi/src"
        );
    }
    // Kahn's algorithm: repeatedly remove a module that imports nothing left.
    let mut left = graph.clone();
    while !left.is_empty() {
        let free: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(!free.is_empty(), "import cycle among ffi modules: {left:?}");
        for m in free {
            left.remove(&m);
        }
    }
}
