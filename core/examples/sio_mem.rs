//! Heap per idle Socket.IO socket, as the core holds it: `N` raw clients
//! open a WebSocket-transport session each and join `/` (the CONNECT sent
//! right behind the handshake), then sit idle; an allocator that counts
//! what the loop's thread keeps says how much each one costs, and which
//! allocation sizes make it up. RSS figures (bench/) add the allocator's
//! own overhead and the application's state on top.
//!
//!     cargo run --release -p wsrt --example sio_mem -- [N] [RECOVERY_MS]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};
use wsrt::{Config, EventType, Events, Server};

/// Live bytes and live allocations per size (sizes from 4096 up share
/// the last slot), counted on the thread that sets `COUNTING`.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static BY_SIZE: [AtomicIsize; 4097] = [const { AtomicIsize::new(0) }; 4097];
thread_local! { static COUNTING: Cell<bool> = const { Cell::new(false) }; }

fn count(size: usize, sign: isize) {
    if COUNTING.with(|c| c.get()) {
        LIVE.fetch_add(sign * size as isize, Ordering::Relaxed);
        BY_SIZE[size.min(4096)].fetch_add(sign, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size(), 1);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(l.size(), -1);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count(l.size(), -1);
        count(n, 1);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Opens `n` sessions joined to `/` and keeps them until the thread ends.
fn clients(addr: std::net::SocketAddr, n: usize, hold: Duration) {
    let mut open = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        let head = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
                    Upgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        s.write_all(head.as_bytes()).expect("send the handshake");
        // "40", masked with the key 1, 2, 3, 4.
        s.write_all(&[0x81, 0x82, 1, 2, 3, 4, b'4' ^ 1, b'0' ^ 2])
            .expect("send CONNECT");
        open.push(s);
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Read what the server sent, so nothing waits in its queues.
    std::thread::sleep(Duration::from_millis(500));
    let mut buf = [0u8; 4096];
    for s in open.iter_mut() {
        s.set_nonblocking(true).expect("nonblocking");
        while matches!(s.read(&mut buf), Ok(k) if k > 0) {}
    }
    std::thread::sleep(hold);
}

fn main() -> wsrt::Result<()> {
    let arg = |i: usize, default: u64| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (n, recovery_ms) = (arg(1, 2000) as usize, arg(2, 0));
    let mut config = Config::new("127.0.0.1:0").socket_io("/socket.io/", ["/"]);
    config.sio_recovery_window = Duration::from_millis(recovery_ms);
    let mut server = Server::bind(config)?;
    let addr = server.local_addr();
    let load = std::thread::spawn(move || clients(addr, n, Duration::from_secs(30)));

    COUNTING.with(|c| c.set(true));
    let base = LIVE.load(Ordering::Relaxed);
    let mut events = Events::new();
    let mut opened = 0usize;
    let start = Instant::now();
    while opened < n && start.elapsed() < Duration::from_secs(20) {
        server.poll(&mut events, Some(Duration::from_millis(10)))?;
        opened += events.iter().filter(|e| e.kind == EventType::Open).count();
    }
    // Let the last writes flush and their buffers go back to the pool.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        server.poll(&mut events, Some(Duration::from_millis(10)))?;
    }
    let live = LIVE.load(Ordering::Relaxed) - base;
    COUNTING.with(|c| c.set(false));

    println!(
        "{opened} sockets open (recovery window {recovery_ms} ms): {live} B live on the loop's \
         thread, {} B per socket",
        live / opened.max(1) as isize
    );
    let mut sizes: Vec<(isize, usize, isize)> = BY_SIZE
        .iter()
        .enumerate()
        .map(|(size, c)| {
            let c = c.load(Ordering::Relaxed);
            (c * size as isize, size, c)
        })
        .filter(|&(_, _, c)| c > 0)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    for (bytes, size, live) in sizes.iter().take(10) {
        println!("  {live:>6} allocations of {size:>4} B: {bytes} B");
    }
    drop(load);
    Ok(())
}
