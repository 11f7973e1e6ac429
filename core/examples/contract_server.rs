//! The Rust face's contract server for the cross-front test
//! (`tests/contract/README.md`): options from a JSON argument, `/ws` echo,
//! `/sse` greeting, `/probe` edge calls, outcomes as JSON lines on stdout.
//!
//! `contract_server --schema` prints the option schema as JSON instead, for
//! the harness to derive its edge values from.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wsrt::options::Unit;
use wsrt::{
    Config, ConnId, ErrorKind, EventType, Events, MessageKind, OptionValue, Publish, Server,
    SseEvent, OPTIONS,
};

fn outcome<T>(r: &wsrt::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => kind_name(e.kind()).into(),
    }
}

fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::InvalidType => "invalid_type",
        ErrorKind::UnknownConnection => "unknown_connection",
        ErrorKind::WrongState => "wrong_state",
        ErrorKind::Closed => "closed",
        ErrorKind::Backpressure => "backpressure",
        ErrorKind::Stopped => "stopped",
        ErrorKind::Io => "io",
        ErrorKind::Internal => "internal",
    }
}

fn say(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn schema() -> Value {
    let options: Vec<Value> = OPTIONS
        .iter()
        .map(|o| {
            let (unit, choices) = match o.unit {
                Unit::Millis => ("ms", vec![]),
                Unit::Bytes => ("bytes", vec![]),
                Unit::Count => ("count", vec![]),
                Unit::Level => ("level", vec![]),
                Unit::Choice(c) => ("choice", c.iter().map(|(n, v)| json!([n, v])).collect()),
                Unit::List => ("list", vec![]),
                Unit::Text => ("text", vec![]),
                Unit::Flag => ("flag", vec![]),
                Unit::Threads => ("threads", vec![]),
            };
            json!({
                "id": o.id, "name": o.name, "js_name": o.js_name, "unit": unit,
                "min": o.min, "max": o.max, "default": o.default,
                "zero_is_off": o.zero_is_off(), "choices": choices,
            })
        })
        .collect();
    json!(options)
}

fn value(v: &Value) -> OptionValue<'_> {
    match v {
        Value::Null => OptionValue::Default,
        Value::Bool(b) => OptionValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OptionValue::Int(i as i128),
            None => match n.as_u64() {
                Some(u) => OptionValue::Int(u as i128),
                None => OptionValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            },
        },
        Value::String(s) => OptionValue::Str(s),
        Value::Array(a) => OptionValue::List(
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect(),
        ),
        Value::Object(_) => OptionValue::Bool(false),
    }
}

fn probes(server: &mut Server, conn: ConnId, stale: Option<ConnId>) {
    let a2k = "a".repeat(2048);
    let a1k = "a".repeat(1024);
    let report = |name: &str, outcome: String| say(json!({"probe": name, "outcome": outcome}));
    report(
        "bad_utf8",
        outcome(&server.send(conn, MessageKind::Text, &[0xff, 0xfe])),
    );
    report("topic_2k", outcome(&server.subscribe(conn, &a2k)));
    report("topic_1k", outcome(&server.subscribe(conn, &a1k)));
    report(
        "publish_2k",
        outcome(&server.publish(&a2k, &Publish::text("x"))),
    );
    report("close_code", outcome(&server.close(conn, 1005, "")));
    report("ping_126", outcome(&server.ping(conn, &[0u8; 126])));
    let stale = stale.unwrap_or(ConnId::from_raw(u64::MAX));
    report("stale_send", outcome(&server.send_text(stale, "late")));
    report(
        "stale_state",
        format!("{:?}", server.state(stale)).to_uppercase(),
    );
    report("close", outcome(&server.close(conn, 1000, "")));
    report("send_after_close", outcome(&server.send_text(conn, "x")));
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "{}".into());
    if arg == "--schema" {
        return say(schema());
    }
    let options: serde_json::Map<String, Value> = serde_json::from_str(&arg).expect("options JSON");
    let mut config = Config::new("127.0.0.1:0")
        .websocket("/ws")
        .sse("/sse")
        .websocket("/probe");
    let bound = options
        .iter()
        .try_for_each(|(k, v)| config.set(k, value(v)))
        .and_then(|()| Server::bind(config));
    let mut server = match bound {
        Ok(s) => s,
        Err(e) => {
            return say(json!({"ok": false, "kind": kind_name(e.kind()), "message": e.message()}))
        }
    };
    say(json!({"ok": true, "port": server.local_addr().port()}));
    // Stdin's EOF asks for the shutdown.
    let done = Arc::new(AtomicBool::new(false));
    let (flag, handle) = (done.clone(), server.handle());
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::SeqCst);
        let _ = handle.wake();
    });
    let mut events = Events::new();
    let mut stale = None;
    let mut ws_conns = std::collections::HashSet::new();
    while !server.is_finished() {
        if done.load(Ordering::SeqCst) {
            server.begin_shutdown();
        }
        server
            .poll(&mut events, Some(Duration::from_millis(100)))
            .expect("poll");
        for ev in &events {
            let path = events.request(ev).map(|r| r.path().to_string());
            match ev.kind {
                EventType::Message if events.payload(ev) == b"run" => {
                    probes(&mut server, ev.conn, stale)
                }
                EventType::Message => {
                    let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
                }
                EventType::SseOpen => {
                    let hello = SseEvent {
                        data: "hello",
                        ..SseEvent::default()
                    };
                    let _ = server.sse_send(ev.conn, &hello);
                }
                EventType::Open if path.as_deref() == Some("/ws") => {
                    ws_conns.insert(ev.conn);
                }
                EventType::Close if ws_conns.remove(&ev.conn) => stale = Some(ev.conn),
                _ => {}
            }
        }
    }
    let after = server.publish("t", &Publish::text("x"));
    say(json!({"probe": "after_close", "outcome": outcome(&after)}));
}
