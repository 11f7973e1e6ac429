//! docs/API.md carries tables made from the front contract in core (the
//! option schema, the event numbering, the error kinds). They must say
//! what the code does: this test renders them and compares. After changing
//! the contract, `WSRT_BLESS=1 cargo test -p wsrt --test api_doc` rewrites
//! them.

use std::path::Path;
use wsrt::options::{Unit, OPTIONS};
use wsrt::{ErrorKind, EventType};

fn options_table() -> String {
    let mut s = String::from(
        "| C (`WSRT_OPT_`…) | Python | Node | Rust (`Config::`) | unit | range | 0 means | default | meaning |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for o in OPTIONS {
        let unit = match o.unit {
            Unit::Millis => "ms".to_string(),
            Unit::Bytes => "bytes".to_string(),
            Unit::Count => "count".to_string(),
            Unit::Level => "level".to_string(),
            Unit::Choice(_) => "choice".to_string(),
            Unit::List => "string or list of strings".to_string(),
            Unit::Text => "string".to_string(),
            Unit::Flag => "flag".to_string(),
            Unit::Threads => "threads".to_string(),
        };
        let range = match o.unit {
            Unit::Choice(c) => c
                .iter()
                .map(|(n, v)| format!("`\"{n}\"` ({v})"))
                .collect::<Vec<_>>()
                .join(", "),
            Unit::List | Unit::Text => "-".to_string(),
            Unit::Flag => "true/false (C: 1/0)".to_string(),
            _ => format!("{}-{}", o.min, o.max),
        };
        let default = match o.unit {
            Unit::Choice(c) => c
                .iter()
                .find(|(_, v)| *v == o.default)
                .map(|(n, _)| format!("`\"{n}\"`"))
                .unwrap_or_default(),
            Unit::List | Unit::Text => "empty".to_string(),
            Unit::Flag => (o.default != 0).to_string(),
            _ => o.default.to_string(),
        };
        let zero = match o.unit {
            Unit::List | Unit::Text => "-",
            _ => o.zero_meaning(),
        };
        s.push_str(&format!(
            "| `{}` | `{}` | `{}` | `{}` | {} | {} | {} | {} | {} |\n",
            o.c_name().trim_start_matches("WSRT_OPT_"),
            o.name,
            o.js_name,
            o.rust_name,
            unit,
            range,
            zero,
            default,
            o.doc
        ));
    }
    s
}

fn events_table() -> String {
    let mut s = String::from(
        "| number | C | Python `wsrt.EventType` | Rust `EventType` |\n|---|---|---|---|\n",
    );
    for e in EventType::ALL {
        s.push_str(&format!(
            "| {} | `WSRT_EVENT_{}` | `{}` | `{:?}` |\n",
            e as u8,
            e.name(),
            e.name(),
            e
        ));
    }
    s
}

fn errors_table() -> String {
    let mut s = String::from(
        "| kind (Rust `ErrorKind`) | C `wsrt_result` | Python exception | Node class | Node `code` |\n|---|---|---|---|---|\n",
    );
    for k in ErrorKind::ALL {
        s.push_str(&format!(
            "| `{:?}`: {} | {} | `{}` | `{}` | `{}` |\n",
            k,
            k.describe(),
            k.c_code(),
            k.python_exception(),
            k.js_class(),
            k.node_code()
        ));
    }
    s
}

/// Replaces the text between `<!-- name:begin -->` and `<!-- name:end -->`.
fn splice(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let a = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/API.md lacks {begin}"))
        + begin.len();
    let b = doc
        .find(&end)
        .unwrap_or_else(|| panic!("docs/API.md lacks {end}"));
    format!("{}{}{}", &doc[..a], body, &doc[b..])
}

#[test]
fn generated_tables_match_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/API.md");
    let doc = std::fs::read_to_string(&path).expect("docs/API.md");
    let mut want = splice(&doc, "options", &options_table());
    want = splice(&want, "events", &events_table());
    want = splice(&want, "errors", &errors_table());
    if std::env::var_os("WSRT_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        want == doc,
        "docs/API.md tables are stale: run WSRT_BLESS=1 cargo test -p wsrt --test api_doc"
    );
}
