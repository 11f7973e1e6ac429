//! The Socket.IO example contract (tests/socketio/README.md) on the Rust
//! API: what every front's example server serves, written against the
//! core directly. `PORT` (default 9001), `SIO_PING_INTERVAL_MS`,
//! `SIO_PING_TIMEOUT_MS`, `SIO_CONNECT_TIMEOUT_MS`, `SIO_RECOVERY_WINDOW_MS`
//! (120000; 0 turns recovery off, as the official protocol test-suite
//! expects); `WSRT_CHAT_PAGE` and
//! `WSRT_SIO_CLIENT` name the chat page and the stock client script.
//!
//!     cargo run --release -p wsrt --example sio_contract

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use wsrt::{
    AckOutcome, Broadcast, Config, ConnId, Endpoint, Event, EventType, Events, Publish, Route,
    RouteKind, Server, NO_ACK,
};

struct Socket {
    sid: String,
    nsp: String,
    chat: Option<(String, String)>, // (room, nick)
}

#[derive(Default)]
struct App {
    sockets: HashMap<ConnId, Socket>,
    /// A server emit with an ack (from `ask`) -> the client's `ask` ack id.
    asks: HashMap<(ConnId, u64), u64>,
    reasons: VecDeque<Value>,
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn main() -> wsrt::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let mut config = Config::new(format!("127.0.0.1:{port}"))
        .websocket("/echo")
        .websocket("/broadcast")
        .sse("/events")
        .engine_io("/engine.io/")
        .route(
            Route::new(
                "/socket.io/",
                RouteKind::SocketIo {
                    namespaces: vec!["/".into(), "/custom".into()],
                },
            )
            .with_approval(),
        );
    config.sio_ping_interval = env_ms("SIO_PING_INTERVAL_MS", 25_000);
    config.sio_ping_timeout = env_ms("SIO_PING_TIMEOUT_MS", 20_000);
    config.sio_connect_timeout = env_ms("SIO_CONNECT_TIMEOUT_MS", 45_000);
    config.sio_max_payload = 1_000_000;
    config.sio_recovery_window = env_ms("SIO_RECOVERY_WINDOW_MS", 120_000);
    config.cors_origins = vec!["*".into()];
    if let Ok(page) = std::env::var("WSRT_CHAT_PAGE") {
        if let Ok(body) = std::fs::read(page) {
            config = config.static_page("/chat", "text/html; charset=utf-8", body);
        }
    }
    if let Ok(script) = std::env::var("WSRT_SIO_CLIENT") {
        if let Ok(body) = std::fs::read(script) {
            config = config.static_page(
                "/socket.io/socket.io.min.js",
                "application/javascript",
                body,
            );
        }
    }
    let mut server = Server::bind(config)?;
    eprintln!("sio_contract: listening on {}", server.local_addr());
    // SIGTERM or SIGINT: a graceful shutdown, then exit 0.
    let handle = server.handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(wsrt::Error::from)?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = handle.shutdown();
        }
    });
    let mut app = App::default();
    let mut events = Events::new();
    while !server.is_finished() {
        server.poll(&mut events, None)?;
        for ev in &events {
            app.handle(&mut server, &events, ev);
        }
    }
    Ok(())
}

fn args_of(events: &Events, ev: &Event) -> Vec<Value> {
    serde_json::from_slice(events.payload(ev)).unwrap_or_default()
}

impl App {
    fn handle(&mut self, server: &mut Server, events: &Events, ev: &Event) {
        match (ev.kind, ev.endpoint) {
            (EventType::Message, Endpoint::WebSocket) => {
                let path = server.topics(ev.conn).unwrap_or_default();
                if path.iter().any(|t| t == "broadcast") {
                    let msg = Publish::new(ev.message_kind(), events.payload(ev));
                    let _ = server.publish("broadcast", &msg);
                } else {
                    let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
                }
            }
            (EventType::Open, Endpoint::WebSocket)
                if events.request(ev).is_some_and(|r| r.path() == "/broadcast") =>
            {
                let _ = server.subscribe(ev.conn, "broadcast");
            }
            (EventType::SseOpen, _) => {
                let _ = server.subscribe(ev.conn, "broadcast");
            }
            (EventType::Message, Endpoint::EngineIo) => {
                let _ = server.send(ev.conn, ev.message_kind(), events.payload(ev));
            }
            (EventType::Request, Endpoint::SocketIo) => {
                let auth: Value = serde_json::from_slice(events.payload(ev)).unwrap_or(json!({}));
                if events.name(ev) == "/" && auth["token"] == "bad" {
                    let _ = server.reject_socket(
                        ev.conn,
                        "unauthorized",
                        Some(&json!({"reason": "bad token"}).to_string()),
                    );
                } else {
                    let _ = server.accept(ev.conn, None, &[]);
                }
            }
            (EventType::Open, Endpoint::SocketIo) => {
                let sid = server.socket_id(ev.conn).unwrap_or_default();
                let nsp = events.name(ev).to_string();
                self.sockets.insert(
                    ev.conn,
                    Socket {
                        sid,
                        nsp,
                        chat: None,
                    },
                );
                let auth = std::str::from_utf8(events.payload(ev)).unwrap_or("{}");
                let _ = server.emit(ev.conn, "auth", &format!("[{auth}]"), &[], None);
            }
            (EventType::Close, Endpoint::SocketIo) => {
                if let Some(s) = self.sockets.remove(&ev.conn) {
                    if s.nsp == "/" {
                        let reason = std::str::from_utf8(events.payload(ev)).unwrap_or("");
                        self.reasons
                            .push_back(json!({"id": s.sid, "reason": reason}));
                        while self.reasons.len() > 100 {
                            self.reasons.pop_front();
                        }
                    }
                    if let Some((room, _)) = s.chat {
                        presence(server, &room);
                    }
                }
            }
            (EventType::SioEvent, _) => self.on_event(server, events, ev),
            (EventType::SioAck, _) => {
                if let Some(original) = self.asks.remove(&(ev.conn, ev.ack)) {
                    let reply = match ev.code {
                        c if c == AckOutcome::Answered as u16 => {
                            json!({"ok": true, "answer": args_of(events, ev)})
                        }
                        _ => json!({"ok": false, "error": "timeout"}),
                    };
                    let _ = server.ack(ev.conn, original, &format!("[{reply}]"), &[]);
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, server: &mut Server, events: &Events, ev: &Event) {
        let conn = ev.conn;
        let raw_args = std::str::from_utf8(events.payload(ev)).unwrap_or("[]");
        let attachments: Vec<&[u8]> = events.attachments(ev).collect();
        let args = args_of(events, ev);
        let first = args.first().cloned().unwrap_or(Value::Null);
        let ack = |server: &mut Server, reply: &str, att: &[&[u8]]| {
            if ev.ack != NO_ACK {
                let _ = server.ack(conn, ev.ack, reply, att);
            }
        };
        match events.name(ev) {
            "message" => {
                let _ = server.emit(conn, "message-back", raw_args, &attachments, None);
            }
            "message-with-ack" | "echo" => ack(server, raw_args, &attachments),
            "join" => {
                let room = first.as_str().unwrap_or_default().to_string();
                let _ = server.subscribe(conn, &room);
                ack(
                    server,
                    &json!([{"ok": true, "room": room}]).to_string(),
                    &[],
                );
            }
            "leave" => {
                let room = first.as_str().unwrap_or_default().to_string();
                let _ = server.unsubscribe(conn, &room);
                ack(
                    server,
                    &json!([{"ok": true, "room": room}]).to_string(),
                    &[],
                );
            }
            "to-room" => {
                let room = first["room"].as_str().unwrap_or_default().to_string();
                let body = json!([{"room": room, "msg": first["msg"]}]).to_string();
                let b = Broadcast {
                    rooms: &[&room],
                    ..Broadcast::new("/", "room-msg", &body)
                };
                let _ = server.broadcast(&b);
            }
            "broadcast" => {
                let body = json!([first]).to_string();
                let b = Broadcast {
                    except: Some(conn),
                    ..Broadcast::new("/", "broadcast-msg", &body)
                };
                let _ = server.broadcast(&b);
            }
            "ask" => {
                let body = json!([first]).to_string();
                let timeout = Some(Some(Duration::from_millis(1000)));
                if let Ok(Some(id)) = server.emit(conn, "question", &body, &[], timeout) {
                    if ev.ack != NO_ACK {
                        self.asks.insert((conn, id), ev.ack);
                    }
                }
            }
            "disconnect-me" => {
                let _ = server.close(conn, 1000, "");
            }
            "whoami" => {
                let id = self
                    .sockets
                    .get(&conn)
                    .map(|s| s.sid.clone())
                    .unwrap_or_default();
                let mut rooms = server.topics(conn).unwrap_or_default();
                rooms.sort();
                ack(
                    server,
                    &json!([{"id": id, "rooms": rooms}]).to_string(),
                    &[],
                );
            }
            "reasons" => {
                let list: Vec<Value> = self.reasons.iter().cloned().collect();
                ack(server, &json!([list]).to_string(), &[]);
            }
            "chat-join" => {
                let room = first["room"].as_str().unwrap_or_default().to_string();
                let nick = first["nick"].as_str().unwrap_or("anonymous").to_string();
                if let Some(s) = self.sockets.get_mut(&conn) {
                    if let Some((old, _)) = s.chat.take() {
                        let _ = server.unsubscribe(conn, &old);
                        presence(server, &old);
                    }
                    s.chat = Some((room.clone(), nick));
                }
                let _ = server.subscribe(conn, &room);
                let count = presence(server, &room);
                ack(
                    server,
                    &json!([{"ok": true, "room": room, "count": count}]).to_string(),
                    &[],
                );
            }
            "chat-message" => {
                if let Some((room, nick)) = self.sockets.get(&conn).and_then(|s| s.chat.clone()) {
                    let body =
                        json!([{"room": room, "nick": nick, "text": first["text"]}]).to_string();
                    let b = Broadcast {
                        rooms: &[&room],
                        ..Broadcast::new("/", "chat-message", &body)
                    };
                    let _ = server.broadcast(&b);
                }
            }
            "chat-leave" => {
                if let Some((room, _)) = self.sockets.get_mut(&conn).and_then(|s| s.chat.take()) {
                    let _ = server.unsubscribe(conn, &room);
                    presence(server, &room);
                }
            }
            _ => {}
        }
    }
}

/// Sends a room its member count; returns it.
fn presence(server: &mut Server, room: &str) -> usize {
    let count = server.subscriber_count(room);
    let body = json!([{"room": room, "count": count}]).to_string();
    let b = Broadcast {
        rooms: &[room],
        ..Broadcast::new("/", "presence", &body)
    };
    let _ = server.broadcast(&b);
    count
}
