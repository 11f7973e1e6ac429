//! A minimal echo + SSE server on the Rust API: `cargo run --example echo`.
use std::time::Duration;
use wsrt::{Config, EventType, Events, Server, SseEvent};

fn main() -> wsrt::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "9001".into());
    let config = Config::new(format!("127.0.0.1:{port}"))
        .websocket("/echo")
        .sse("/sse");
    let mut server = Server::bind(config)?;
    eprintln!("listening on {}", server.local_addr());
    let mut events = Events::new();
    let mut streams = Vec::new();
    let mut n = 0u64;
    loop {
        server.poll(&mut events, Some(Duration::from_millis(1000)))?;
        for ev in &events {
            match ev.kind {
                EventType::Message => {
                    let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
                }
                EventType::SseOpen => streams.push(ev.conn),
                EventType::SseClose => streams.retain(|c| *c != ev.conn),
                _ => {}
            }
        }
        n += 1;
        let id = n.to_string();
        for &s in &streams {
            let _ = server.sse_send(
                s,
                &SseEvent {
                    event: Some("tick"),
                    id: Some(&id),
                    data: "tick",
                    ..Default::default()
                },
            );
        }
    }
}
