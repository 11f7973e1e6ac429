//! A connection's end and the calls the application makes in the batch
//! that reports it: a message that arrived with a reset may be answered
//! in that batch without an "unknown connection" error (the call says the
//! connection is closed); after the batch the id is unknown.

mod common;

use common::app::AppThread;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsrt::{Config, ConnId, ErrorKind, EventType, Server};

/// Sends SO_LINGER 0: the close is a reset.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a live descriptor and a linger struct of the given size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
    drop(stream);
}

#[test]
fn a_reply_to_a_message_whose_reset_is_in_the_same_batch_is_closed_not_unknown() {
    let server = Server::bind(Config::new("127.0.0.1:0").websocket("/ws")).unwrap();
    let addr = server.local_addr();
    // The outcome of each reply made in a batch that also ends its
    // connection, and those connections.
    let same_batch: Arc<Mutex<Vec<Option<ErrorKind>>>> = Arc::default();
    let ended: Arc<Mutex<Vec<ConnId>>> = Arc::default();
    let (seen, ended_here) = (same_batch.clone(), ended.clone());
    let app = AppThread::start(server, move |s, ev, events| {
        if ev.kind != EventType::Message {
            return;
        }
        let ends_here = events
            .iter()
            .any(|e| e.conn == ev.conn && e.kind == EventType::Close);
        if ends_here {
            let r = s.send_text(ev.conn, "reply");
            seen.lock().unwrap().push(r.err().map(|e| e.kind()));
            ended_here.lock().unwrap().push(ev.conn);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while same_batch.lock().unwrap().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "a message never came with its reset"
        );
        let stream = TcpStream::connect(addr).unwrap();
        let same_socket = stream.try_clone().unwrap();
        let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).unwrap();
        ws.send(tungstenite::Message::text("bye")).unwrap();
        drop(ws);
        reset(same_socket);
    }
    for r in same_batch.lock().unwrap().iter() {
        assert!(
            matches!(r, None | Some(ErrorKind::Closed)),
            "in the batch of its end: {r:?}"
        );
    }
    // Later polls have run since: the ids are unknown.
    app.call(|s| {
        s.poll(&mut wsrt::Events::new(), Some(Duration::ZERO))
            .unwrap()
    });
    let ids = ended.lock().unwrap().clone();
    let later = app.call(move |s| {
        ids.iter()
            .map(|id| s.send_text(*id, "late").unwrap_err().kind())
            .collect::<Vec<_>>()
    });
    assert!(
        later.iter().all(|k| *k == ErrorKind::UnknownConnection),
        "{later:?}"
    );
}
