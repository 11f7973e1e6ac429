//! Benchmark peer: a WebSocket server on tokio-tungstenite.
//! 127.0.0.1:$PORT; /echo sends every message back; /broadcast sends every
//! message received to every connection open on /broadcast (the sender
//! included) through a tokio broadcast channel. Single-threaded runtime:
//! the benchmark pins every server to one core.
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    eprintln!("rust-tokio peer listening on 127.0.0.1:{port}");
    // Lagging receivers lose messages (counted by the load generator).
    let (tx, _) = broadcast::channel::<Message>(4096);
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(serve(sock, tx.clone()));
    }
}

async fn serve(sock: TcpStream, tx: broadcast::Sender<Message>) {
    let path = Arc::new(Mutex::new(String::new()));
    let seen = path.clone();
    let cb = move |req: &Request, resp: Response| {
        *seen.lock().unwrap() = req.uri().path().to_string();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(sock, cb).await else {
        return;
    };
    let path = path.lock().unwrap().clone();
    let (mut sink, mut stream) = ws.split();
    match path.as_str() {
        "/broadcast" => {
            let mut rx = tx.subscribe();
            loop {
                tokio::select! {
                    m = stream.next() => match m {
                        Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => { let _ = tx.send(m); }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    m = rx.recv() => match m {
                        Ok(m) => if sink.send(m).await.is_err() { break },
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                }
            }
        }
        _ => {
            // forward() feeds while input is ready and flushes when the
            // stream would wait: one write per batch of pipelined messages.
            let data = stream.filter(|m| {
                std::future::ready(matches!(m, Ok(Message::Text(_) | Message::Binary(_))))
            });
            let _ = data.forward(sink).await;
        }
    }
}
