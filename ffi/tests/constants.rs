//! The header's numbers are the core's: every `#define` that names an
//! option, a choice, an event type, a result code or a connection state
//! must equal the core's value, and nothing the core does not know may be
//! defined under those prefixes.
use std::collections::BTreeMap;
use wsrt::options::{by_name, Unit, OPTIONS};
use wsrt::{ConnState, ErrorKind, EventType};

fn defines() -> BTreeMap<String, u64> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("../include/wsrt.h")).expect("read wsrt.h");
    let mut map = BTreeMap::new();
    for line in header.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(v) = value.parse::<u64>() {
            assert!(
                map.insert(name.to_string(), v).is_none(),
                "{name} defined twice"
            );
        }
    }
    map
}

/// "InvalidArgument" -> "INVALID_ARGUMENT".
fn upper_snake(camel: &str) -> String {
    let mut s = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// Checks that the constants starting with `prefix` are exactly `want`.
fn check_family(defines: &BTreeMap<String, u64>, prefix: &str, want: &[(String, u64)]) {
    for (name, value) in want {
        assert_eq!(
            defines.get(name),
            Some(value),
            "{name} in include/wsrt.h must be {value} (the core's value)"
        );
    }
    for name in defines.keys().filter(|n| n.starts_with(prefix)) {
        assert!(
            want.iter().any(|(n, _)| n == name),
            "{name} is in include/wsrt.h but not in the core"
        );
    }
}

#[test]
fn option_ids_are_the_schemas() {
    let want: Vec<(String, u64)> = OPTIONS.iter().map(|o| (o.c_name(), o.id as u64)).collect();
    check_family(&defines(), "WSRT_OPT_", &want);
}

#[test]
fn choice_constants_are_the_schemas() {
    let d = defines();
    let choice = |option: &str, name: &str| -> u64 {
        let Unit::Choice(c) = by_name(option).expect("option").unit else {
            panic!("{option} is not a choice")
        };
        c.iter().find(|(n, _)| *n == name).expect("choice").1
    };
    let family = |prefix: &str, option: &str, names: &[(&str, &str)]| {
        let want: Vec<(String, u64)> = names
            .iter()
            .map(|(c, n)| (format!("{prefix}{c}"), choice(option, n)))
            .collect();
        let Unit::Choice(all) = by_name(option).unwrap().unit else {
            unreachable!()
        };
        assert_eq!(
            all.len(),
            names.len(),
            "every choice of {option} has a constant"
        );
        want
    };
    check_family(
        &d,
        "WSRT_DEFLATE_",
        &family(
            "WSRT_DEFLATE_",
            "deflate",
            &[
                ("OFF", "off"),
                ("SHARED", "shared"),
                ("PER_CONNECTION", "per-connection"),
            ],
        ),
    );
    check_family(
        &d,
        "WSRT_OVERFLOW_",
        &family(
            "WSRT_OVERFLOW_",
            "overflow_policy",
            &[("REJECT", "reject"), ("CLOSE", "close")],
        ),
    );
    let mut slow = family(
        "WSRT_SLOW_",
        "slow_consumer_policy",
        &[("DROP", "drop"), ("CLOSE", "close")],
    );
    // Per publish, 0 is "the configured policy", a number no choice has.
    assert!(slow.iter().all(|(_, v)| *v != 0));
    slow.push(("WSRT_SLOW_DEFAULT".into(), 0));
    check_family(&d, "WSRT_SLOW_", &slow);
}

#[test]
fn event_types_are_the_cores() {
    let want: Vec<(String, u64)> = EventType::ALL
        .iter()
        .map(|t| (format!("WSRT_EVENT_{}", t.name()), *t as u8 as u64))
        .collect();
    check_family(&defines(), "WSRT_EVENT_", &want);
}

#[test]
fn result_codes_are_the_cores() {
    let d = defines();
    assert_eq!(d.get("WSRT_OK"), Some(&0));
    // InvalidType has no code of its own in C: it is INVALID_ARGUMENT.
    let want: Vec<(String, u64)> = ErrorKind::ALL
        .iter()
        .filter(|k| k.c_code() == **k as u32)
        .map(|k| {
            (
                format!("WSRT_ERR_{}", upper_snake(&format!("{k:?}"))),
                k.c_code() as u64,
            )
        })
        .collect();
    assert!(ErrorKind::ALL.iter().all(|k| k.c_code() != 0));
    check_family(&d, "WSRT_ERR_", &want);
}

#[test]
fn states_are_the_cores() {
    let want: Vec<(String, u64)> = [
        ConnState::Connecting,
        ConnState::Open,
        ConnState::Closing,
        ConnState::Closed,
    ]
    .iter()
    .map(|s| {
        (
            format!("WSRT_STATE_{}", format!("{s:?}").to_ascii_uppercase()),
            *s as u8 as u64,
        )
    })
    .collect();
    check_family(&defines(), "WSRT_STATE_", &want);
}

#[test]
fn no_ack_is_the_cores() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("../include/wsrt.h")).expect("read wsrt.h");
    assert_eq!(wsrt::NO_ACK, u64::MAX);
    assert!(
        header.contains("#define WSRT_NO_ACK UINT64_MAX\n"),
        "WSRT_NO_ACK must be the core's NO_ACK (u64::MAX)"
    );
}
