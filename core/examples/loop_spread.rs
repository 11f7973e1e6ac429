//! How the kernel spreads connections over the loops of one server
//! (`workers` > 1, one `SO_REUSEPORT` listener per loop), beside what an
//! acceptor handing sockets out in turn would give (`make bench-spread`).
//!
//! For each number of loops and of connections, a fresh server takes that
//! many WebSocket connections from this process (each its own source
//! port, as clients on one machine would), and the loop of every `Open`
//! is counted. Printed per case: the busiest loop's share relative to an
//! even share (1.00 is even; a round-robin acceptor always gives 1.00, or
//! the nearest whole number), as the median and the worst of the
//! repetitions. A figure, not a check: nothing here fails on a bad spread.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wsrt::{Config, EventType, Events, OptionValue, Server};

const REPS: usize = 20;

fn one_run(loops: usize, conns: usize) -> Vec<usize> {
    let mut config = Config::new("127.0.0.1:0").websocket("/ws");
    config
        .set("workers", OptionValue::Int(loops as i128))
        .expect("workers");
    let mut server = Server::bind(config).expect("bind");
    let addr = server.local_addr();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let mut clients = Vec::with_capacity(conns);
    let mut per_loop = vec![0; loops];
    let mut opened = 0;
    let mut events = Events::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..conns {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.write_all(request.as_bytes()).expect("request");
        clients.push(c);
    }
    while opened < conns {
        assert!(Instant::now() < deadline, "only {opened} of {conns} opened");
        server
            .poll(&mut events, Some(Duration::from_millis(10)))
            .expect("poll");
        for ev in &events {
            if ev.kind == EventType::Open {
                per_loop[ev.conn.loop_index()] += 1;
                opened += 1;
            }
        }
    }
    per_loop
}

/// The busiest loop's count over an even share.
fn busiest_over_even(per_loop: &[usize]) -> f64 {
    let total: usize = per_loop.iter().sum();
    let even = total as f64 / per_loop.len() as f64;
    *per_loop.iter().max().unwrap_or(&0) as f64 / even
}

fn main() {
    let reps = std::env::var("SPREAD_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REPS);
    println!("| loops | connections | busiest loop / even share: median | worst | a run at the median | round-robin acceptor |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for loops in [2, 4] {
        for conns in [8, 16, 64, 256, 1000] {
            let mut runs: Vec<(f64, Vec<usize>)> = (0..reps)
                .map(|_| {
                    let r = one_run(loops, conns);
                    (busiest_over_even(&r), r)
                })
                .collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (median, at_median) = &runs[runs.len() / 2];
            let worst = runs.last().map_or(0.0, |r| r.0);
            let round_robin = conns.div_ceil(loops) as f64 / (conns as f64 / loops as f64);
            println!(
                "| {loops} | {conns} | {median:.2} | {worst:.2} | {at_median:?} | {round_robin:.2} |"
            );
        }
    }
}
