//! Listening sockets and accepting connections.

use super::stream::Stream;
use super::{Conn, Driver, FIRST_LISTENER};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::{IdKind, MAX_SLOTS};
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// A listening socket, and whether what it accepts speaks TLS.
pub(super) struct Listener {
    pub socket: TcpListener,
    pub tls: bool,
}

/// Binds `listen` and, when set, `tls_listen`: every address each
/// resolves to, registered with consecutive tokens. `listen` speaks TLS
/// when certificates are set and `tls_listen` is not.
/// With `share_port`, every listener sets `SO_REUSEPORT`, so that the
/// other loops of a group bind the same addresses and the kernel spreads
/// new connections over them.
pub(super) fn bind_listeners(
    config: &Config,
    registry: &Registry,
    share_port: bool,
) -> Result<(Vec<Listener>, Vec<SocketAddr>)> {
    let tls = &config.tls;
    let mut plan = vec![(
        config.listen.as_str(),
        tls.enabled() && tls.listen.is_empty(),
    )];
    if !tls.listen.is_empty() {
        plan.push((tls.listen.as_str(), true));
    }
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for (listen, is_tls) in plan {
        let (sockets, bound) = bind_all(listen, share_port)?;
        listeners.extend(sockets.into_iter().map(|socket| Listener {
            socket,
            tls: is_tls,
        }));
        addrs.extend(bound);
    }
    for (i, l) in listeners.iter_mut().enumerate() {
        registry.register(&mut l.socket, Token(FIRST_LISTENER - i), Interest::READABLE)?;
    }
    Ok((listeners, addrs))
}

/// Binds every address `listen` ("host:port") resolves to, on one port:
/// `localhost` gets both 127.0.0.1 and ::1 where the machine has them.
/// With port 0 the first bind picks the port and the others follow it. An
/// address after the first that cannot be bound (no IPv6 on this host) is
/// skipped; the first must bind.
fn bind_all(listen: &str, share_port: bool) -> Result<(Vec<TcpListener>, Vec<SocketAddr>)> {
    let bad = || {
        Error::invalid(format!(
            "listen address must be host:port (\"127.0.0.1:9001\", \"localhost:0\", \"[::1]:9001\"), not {listen:?}"
        ))
    };
    let (_, port) = listen.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in listen.to_socket_addrs().map_err(|e| {
        Error::new(
            crate::error::ErrorKind::Io,
            format!("cannot resolve listen address {listen:?}: {e}"),
        )
    })? {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for mut addr in addrs {
        if let Some(first) = bound.first() {
            let first: &SocketAddr = first;
            addr.set_port(first.port());
        }
        match bind_one(addr, share_port) {
            Ok(l) => {
                defer_accept(&l);
                bound.push(l.local_addr()?);
                listeners.push(l);
            }
            Err(e) if listeners.is_empty() => {
                return Err(Error::new(
                    crate::error::ErrorKind::Io,
                    format!("cannot listen on {addr}: {e}"),
                ))
            }
            Err(_) => {}
        }
    }
    if listeners.is_empty() {
        return Err(bad());
    }
    Ok((listeners, bound))
}

/// A non-blocking listener on `addr` (what `TcpListener::bind` does, with
/// `SO_REUSEPORT` first when the port is shared).
fn bind_one(addr: SocketAddr, share_port: bool) -> io::Result<TcpListener> {
    if !share_port {
        return TcpListener::bind(addr);
    }
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Driver {
    pub(super) fn accept_all(&mut self, listener: usize) {
        for _ in 0..ACCEPT_BUDGET {
            let Some(l) = self.listeners.get(listener) else {
                return;
            };
            let tls = l.tls;
            match l.socket.accept() {
                Ok((socket, _peer)) => {
                    let max = self.config.max_connections;
                    if (max != 0 && self.conns.len() >= max) || self.conns.len() >= MAX_SLOTS - 1 {
                        continue; // dropped: closed at once
                    }
                    let _ = socket.set_nodelay(true);
                    let stream = match (tls, &self.tls) {
                        (true, Some(config)) => match Stream::tls(socket, config) {
                            Ok(s) => s,
                            Err(_) => continue, // dropped: closed at once
                        },
                        _ => Stream::Plain(socket),
                    };
                    let entry = self.conns.vacant_entry();
                    let slot = entry.key();
                    let id = self.id_counter.next(IdKind::Conn, slot);
                    entry.insert(Conn::new(id, stream, self.now));
                    // Arms the handshake timer.
                    self.after(slot, false);
                    // The listener reported this connection once its first
                    // bytes were in (TCP_DEFER_ACCEPT): read them in this
                    // turn rather than after another wait for an edge.
                    self.on_readable(slot, false);
                    // Its answer goes out now, as it would have from the
                    // readiness event: one pooled buffer serves a whole
                    // batch of accepted connections instead of one each.
                    if self.conns.get(slot).is_some_and(|c| c.id == id) {
                        self.flush_slot(slot);
                    }
                    // Registered after that read, so epoll reports only
                    // what comes next (and what that read left: an ADD
                    // reports the current readiness, no edge is lost).
                    // Edge-triggered, both directions, registered once: no
                    // epoll_ctl per write that would block.
                    let Some(conn) = self.conns.get_mut(slot).filter(|c| c.id == id) else {
                        continue; // already over (a refused request, a reset)
                    };
                    let registered = self.poll.registry().register(
                        conn.socket.tcp_mut(),
                        Token(slot),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    if registered.is_err() {
                        self.end(slot, 1006, "cannot watch the connection");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_resource_exhaustion(&e) => {
                    // Out of descriptors or memory: the pending connections
                    // stay in the backlog; try again shortly rather than spin.
                    self.accept_retry_at = Some(self.now + Duration::from_millis(100));
                    return;
                }
                Err(_) => continue, // aborted before accept; next
            }
        }
        // The budget ran out with connections perhaps still queued (no new
        // edge will say so): the next turn accepts on without waiting.
        let now = self.now;
        self.accept_retry_at = Some(self.accept_retry_at.map_or(now, |t| t.min(now)));
    }

    /// Accepting again after running out of descriptors, or in the turn
    /// after one that used up its budget (strictly after: not in that
    /// turn's own timer run).
    pub(super) fn retry_accept(&mut self) {
        if self.accept_retry_at.is_some_and(|t| t < self.now) {
            self.accept_retry_at = None;
            for i in 0..self.listeners.len() {
                self.accept_all(i);
            }
        }
    }
}

/// Connections accepted (and served their first read) per listener per
/// turn, so that a burst of new clients neither delays the established
/// ones for long nor grows one batch of events without bound; the listen
/// backlog's size.
const ACCEPT_BUDGET: usize = 128;

/// How long (seconds) the kernel holds a connection whose client has sent
/// nothing yet before handing it to `accept` anyway.
const DEFER_ACCEPT_SECS: i32 = 1;

/// Linux's TCP_DEFER_ACCEPT: the listener becomes readable when a
/// connection's first bytes (the request head, the TLS ClientHello) have
/// arrived, not when its handshake completes, so one wake-up of the loop
/// accepts, reads and answers it. Every protocol served here speaks
/// first from the client. A client silent for DEFER_ACCEPT_SECS is
/// accepted then, and the handshake timeout runs from there. Best effort:
/// without it, the first read after accept finds nothing and epoll
/// reports the bytes later, as before.
#[cfg(target_os = "linux")]
fn defer_accept(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            value: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    const IPPROTO_TCP: i32 = 6;
    const TCP_DEFER_ACCEPT: i32 = 9;
    let secs: i32 = DEFER_ACCEPT_SECS;
    // SAFETY: a valid descriptor and a pointer to an int of the given size.
    unsafe {
        setsockopt(
            listener.as_raw_fd(),
            IPPROTO_TCP,
            TCP_DEFER_ACCEPT,
            (&secs as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn defer_accept(_listener: &TcpListener) {}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(errno::EMFILE | errno::ENFILE | errno::ENOBUFS | errno::ENOMEM)
    )
}

/// The few errno values we look at (Linux numbering; std exposes no names).
mod errno {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}
