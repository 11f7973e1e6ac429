//! A rough echo load generator (the real one comes with the benchmark
//! suite): `cargo run --release --example echo_load -- URL CONNS INFLIGHT SIZE SECS`.
//! Each connection keeps INFLIGHT messages of SIZE bytes in flight, checks
//! every echo, and the total rate is printed.
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "ws://127.0.0.1:9001/echo".into());
    let conns: usize = args.get(2).map_or(64, |s| s.parse().unwrap());
    let inflight: usize = args.get(3).map_or(16, |s| s.parse().unwrap());
    let size: usize = args.get(4).map_or(32, |s| s.parse().unwrap());
    let secs: u64 = args.get(5).map_or(5, |s| s.parse().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let host = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    let mut threads = Vec::new();
    for _ in 0..conns {
        let (url, host, count, stop) = (url.clone(), host.clone(), count.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let tcp = TcpStream::connect(&host).unwrap();
            tcp.set_nodelay(true).unwrap();
            let (mut ws, _): (WebSocket<TcpStream>, _) = tungstenite::client(url.as_str(), tcp).unwrap();
            let payload = vec![b'x'; size];
            for _ in 0..inflight {
                ws.write(Message::Binary(payload.clone().into())).unwrap();
            }
            ws.flush().unwrap();
            while !stop.load(Ordering::Relaxed) {
                match ws.read().unwrap() {
                    Message::Binary(b) => assert_eq!(b.len(), size),
                    _ => continue,
                }
                count.fetch_add(1, Ordering::Relaxed);
                ws.send(Message::Binary(payload.clone().into())).unwrap();
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(1)); // warm-up
    let start_count = count.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let n = count.load(Ordering::Relaxed) - start_count;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    println!("{{\"url\":\"{url}\",\"conns\":{conns},\"inflight\":{inflight},\"size\":{size},\"msgs_per_s\":{rate:.0}}}");
    std::process::exit(0);
}
