//! A small echo load generator (the benchmark suite will grow a full one):
//! `cargo run --release --example echo_load -- HOST:PORT PATH CONNS INFLIGHT SIZE SECS`.
//!
//! One thread, one mio loop: every connection keeps INFLIGHT binary
//! messages of SIZE bytes in flight and sends a new one for each echo it
//! gets back (checking its length). Prints one JSON line with msgs/s.
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

struct Client {
    sock: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    upgraded: bool,
}

fn frame(size: usize) -> Vec<u8> {
    let mut f = vec![0x82u8];
    match size {
        0..=125 => f.push(0x80 | size as u8),
        126..=65535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]); // a zero mask keeps the payload as is
    f.resize(f.len() + size, b'x');
    f
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let addr = a
        .get(1)
        .map_or("127.0.0.1:9001", |s| s)
        .parse()
        .expect("HOST:PORT");
    let path = a.get(2).map_or("/echo", |s| s).to_string();
    let n: usize = a.get(3).map_or(64, |s| s.parse().unwrap());
    let inflight: usize = a.get(4).map_or(16, |s| s.parse().unwrap());
    let size: usize = a.get(5).map_or(32, |s| s.parse().unwrap());
    let secs: f64 = a.get(6).map_or(5.0, |s| s.parse().unwrap());
    let msg = frame(size);
    let mut poll = Poll::new().unwrap();
    let mut clients = Vec::new();
    for i in 0..n {
        let mut sock = TcpStream::connect(addr).unwrap();
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        clients.push(Client {
            sock,
            inbuf: Vec::new(),
            out: req.into_bytes(),
            upgraded: false,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut count, mut counted_from) = (0u64, None::<(Instant, u64)>);
    let start = Instant::now();
    let warmup = Duration::from_secs(1);
    let end = start + warmup + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        if counted_from.is_none() && start.elapsed() >= warmup {
            counted_from = Some((Instant::now(), count));
        }
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            loop {
                match c.sock.read(&mut buf) {
                    Ok(0) => panic!("server closed a connection"),
                    Ok(k) => c.inbuf.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            let mut pos = 0;
            if !c.upgraded {
                if let Some(i) = c.inbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                    assert!(c.inbuf.starts_with(b"HTTP/1.1 101"), "handshake refused");
                    c.upgraded = true;
                    pos = i + 4;
                    for _ in 0..inflight {
                        c.out.extend_from_slice(&msg);
                    }
                }
            }
            while c.upgraded && c.inbuf.len() - pos >= 2 {
                let b = &c.inbuf[pos..];
                let (len, hdr) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                    127 if b.len() >= 10 => (
                        u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => break,
                    l => (l as usize, 2),
                };
                if b.len() < hdr + len {
                    break;
                }
                assert_eq!((b[0], len), (0x82, size), "unexpected echo");
                pos += hdr + len;
                count += 1;
                c.out.extend_from_slice(&msg);
            }
            c.inbuf.drain(..pos);
            while !c.out.is_empty() {
                match c.sock.write(&c.out) {
                    Ok(k) => {
                        c.out.drain(..k);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("write: {e}"),
                }
            }
        }
    }
    let (t0, c0) = counted_from.expect("ran shorter than the warm-up");
    let rate = (count - c0) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{{\"addr\":\"{addr}\",\"conns\":{n},\"inflight\":{inflight},\"size\":{size},\"msgs_per_s\":{rate:.0},\"mb_per_s\":{:.1}}}",
        rate * size as f64 / 1e6
    );
}
