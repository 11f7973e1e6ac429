//! Shared by the header test and the generator example: one definition of
//! how include/wsrt.h is produced. cbindgen writes the declarations of
//! ffi/src; the option constants (`WSRT_OPT_*` and the choices'
//! constants) and their documentation are written here from the core's
//! option schema, so they cannot disagree with it.
use std::path::Path;
use wsrt::options::{Unit, OPTIONS};

/// The prefix of a choice option's constants (`WSRT_DEFLATE_SHARED`).
fn choice_prefix(option: &str) -> &'static str {
    match option {
        "deflate" => "DEFLATE",
        "overflow_policy" => "OVERFLOW",
        "slow_consumer_policy" => "SLOW",
        "tls_client_auth" => "TLS_CLIENT_AUTH",
        "tls_min_version" => "TLS",
        other => panic!("choice option {other:?} has no C prefix: add one here"),
    }
}

/// A choice option's names, without the aliases (a later name for a
/// number already named): C gets one constant per number.
fn primary(
    choices: &'static [(&'static str, u64)],
) -> impl Iterator<Item = &'static (&'static str, u64)> {
    choices
        .iter()
        .enumerate()
        .filter(move |(i, (_, v))| choices.iter().position(|(_, w)| w == v) == Some(*i))
        .map(|(_, c)| c)
}

/// The C constant of one choice.
pub fn choice_constant(option: &str, choice: &str) -> String {
    format!(
        "WSRT_{}_{}",
        choice_prefix(option),
        choice.replace(['-', '.'], "_").to_ascii_uppercase()
    )
}

/// `text` as `// ` comment lines of at most 78 columns.
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("//");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 78 && line.len() > 2 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("//");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The version macros, from the crate's version (the workspace's one
/// version): a program compares them with wsrt_version() at start-up.
fn version_block() -> String {
    let mut s = String::from("\n");
    s.push_str(&comment(
        "The version of wsrt this header belongs to; wsrt_version() gives the \
         library's at run time.",
    ));
    s.push_str(&format!(
        "#define WSRT_VERSION \"{}\"\n",
        env!("CARGO_PKG_VERSION")
    ));
    for (part, value) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        s.push_str(&format!("#define WSRT_VERSION_{part} {value}\n"));
    }
    s
}

/// The option block of the header, from the schema.
pub fn options_block() -> String {
    let mut s = version_block();
    s.push('\n');
    s.push_str(&comment(
        "Options, generated from the option schema in core (core/src/options.rs; \
         the table in docs/API.md). Set one with wsrt_config_set(cfg, WSRT_OPT_..., value), \
         or by name (the constant's name after WSRT_OPT_, in lower case: \"idle_timeout_ms\") \
         with wsrt_config_set_by_name; wsrt_option_id gives the id of a name. \
         Durations are milliseconds. 0 turns a timer or a limit off; levels and choices \
         have no \"off\". A value out of range fails with WSRT_ERR_INVALID_ARGUMENT and a \
         message naming the option.",
    ));
    for o in OPTIONS {
        let what = match o.unit {
            Unit::Millis | Unit::Bytes | Unit::Count => {
                let unit = match o.unit {
                    Unit::Millis => "milliseconds",
                    Unit::Bytes => "bytes",
                    _ => "a count",
                };
                format!(
                    "{unit}, {}-{}; 0: {}; default {}.",
                    o.min,
                    o.max,
                    o.zero_meaning(),
                    o.default
                )
            }
            Unit::Level => format!(
                "a level, {}-{} (0 {}); default {}.",
                o.min,
                o.max,
                if o.min == 0 {
                    "is a value"
                } else {
                    "is refused"
                },
                o.default
            ),
            Unit::Choice(choices) => {
                let names: Vec<String> = primary(choices)
                    .map(|(n, v)| format!("{} ({v})", choice_constant(o.name, n)))
                    .collect();
                let default = choices
                    .iter()
                    .find(|(_, v)| *v == o.default)
                    .map(|(n, _)| choice_constant(o.name, n))
                    .expect("a choice's default is one of its choices");
                format!("a choice: {}; default {default}.", names.join(", "))
            }
            Unit::List => "a list of strings: wsrt_config_add_item adds one, \
                           wsrt_config_set_by_name sets them all (comma-separated); \
                           default empty."
                .to_string(),
            Unit::Text => "a string: wsrt_config_set_str sets it; default empty.".to_string(),
            Unit::Flag => format!("a flag, 1 on or 0 off; default {}.", o.default),
            Unit::Threads => format!(
                "a count of threads, {}-{}; 0: {}; default {}.",
                o.min,
                o.max,
                o.zero_meaning(),
                o.default
            ),
        };
        s.push('\n');
        s.push_str(&comment(&format!("{}: {what} {}", o.name, o.doc)));
        s.push_str(&format!("#define {} {}\n", o.c_name(), o.id));
        if let Unit::Choice(choices) = o.unit {
            for (name, value) in primary(choices) {
                s.push_str(&format!(
                    "#define {} {value}\n",
                    choice_constant(o.name, name)
                ));
            }
        }
    }
    s
}

pub fn generate(crate_dir: &Path) -> String {
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(options_block().trim_end().to_string());
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}
