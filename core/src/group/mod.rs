//! Several loops in one process (`workers` > 1): each loop on a thread of
//! its own with its own `SO_REUSEPORT` listener on the shared port, the
//! application on its one thread seeing one stream of batches.
//!
//! Why `SO_REUSEPORT` rather than one acceptor handing sockets out: the
//! kernel spreads connections by their addresses with no hop through
//! another thread, and a loop never waits on another to get its
//! connections. Its spread is statistical (by a hash of the four-tuple):
//! even over many connections, uneven over a handful.
//!
//! Calls on a connection lock its loop (the loop is in the id); publishes
//! and history changes go through every loop in one order ([`Loops`]).
//! Output queued by a call is written by the loop's next turn: the loops
//! the application touched are woken when it polls again or flushes.

mod loops;
mod poller;
mod wait;
mod worker;

pub(crate) use loops::Loops;
pub use poller::LoopPoller;

use crate::config::Config;
use crate::driver::Driver;
use crate::error::Result;
use crate::event::{ConnId, Events, LoopTag};
use crate::pubsub::Stats;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) struct Group {
    loops: Arc<Loops>,
    workers: Vec<Worker>,
    config: Config,
    local_addrs: Vec<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    /// The loop whose batch the application is handling (its worker
    /// waits until the application is done: its next `poll` or `flush`).
    lent: Option<usize>,
    /// Loops the application queued output on since it last flushed.
    touched: u64,
    /// Workers' ends the application has been told of (`Loops::pop_ready`).
    seen_exits: usize,
    /// The loops were handed to the application's threads
    /// (`into_pollers`): dropping the group leaves them open.
    handed_out: bool,
}

struct Worker {
    thread: Option<JoinHandle<()>>,
    /// Tells the worker the application is done with its batch.
    done: Sender<()>,
}

/// `listen` ("host:port") on `port`.
fn with_port(listen: &str, port: u16) -> String {
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    format!("{host}:{port}")
}

/// Makes the server one member of the cluster: one bus for all its
/// loops, whose threads hand what they bring to every loop in the group's
/// order.
fn join_cluster(loops: &Arc<Loops>, url: &str, name: &str) -> Result<()> {
    // Weak: the bus's threads must not keep the loops alive.
    let to_loops = Arc::downgrade(loops);
    let sink: crate::cluster::Sink = Arc::new(move |m| match to_loops.upgrade() {
        Some(l) => {
            l.apply_cluster(&m);
            true
        }
        None => false,
    });
    let ports = crate::cluster::Cluster::start(url, name, sink, loops.len())?;
    for (i, port) in ports.into_iter().enumerate() {
        loops.with(i, |d| d.set_cluster(port))?;
    }
    Ok(())
}

impl Group {
    /// Binds `loops` loops: the first picks the ports (port 0), the
    /// others bind the same ones.
    pub fn bind(config: Config, loops: usize) -> Result<Group> {
        let url = config.cluster.redis_url.clone();
        if !url.is_empty() {
            crate::cluster::check_url(&url, config.cluster.url_name())?;
        }
        let first = Driver::bind_loop(config.clone(), LoopTag::new(0, loops), true)?;
        let local_addrs = first.local_addrs().to_vec();
        let tls_addr = first.tls_addr();
        let mut same_ports = config.clone();
        same_ports.listen = with_port(&config.listen, local_addrs[0].port());
        if let Some(a) = tls_addr.filter(|_| !config.tls.listen.is_empty()) {
            same_ports.tls.listen = with_port(&config.tls.listen, a.port());
        }
        let mut drivers = vec![first];
        for i in 1..loops {
            let mut d = Driver::bind_loop(same_ports.clone(), LoopTag::new(i, loops), true)?;
            d.share_event_ids(&drivers[0]);
            drivers.push(d);
        }
        let inboxes: Vec<_> = drivers.iter().map(Driver::inbox).collect();
        for d in &mut drivers {
            d.set_siblings(inboxes.clone());
        }
        let loops = Arc::new(Loops::new(drivers)?);
        if !url.is_empty() {
            join_cluster(&loops, &url, config.cluster.url_name())?;
        }
        let mut workers = Vec::new();
        for i in 0..loops.len() {
            let (done, done_rx) = channel();
            let shared = loops.clone();
            let thread = std::thread::Builder::new()
                .name(format!("wsrt-loop-{i}"))
                .spawn(move || worker::run(shared, i, done_rx))?;
            workers.push(Worker {
                thread: Some(thread),
                done,
            });
        }
        Ok(Group {
            loops,
            workers,
            config,
            local_addrs,
            tls_addr,
            lent: None,
            touched: 0,
            seen_exits: 0,
            handed_out: false,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn loops(&self) -> Arc<Loops> {
        self.loops.clone()
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.loops.ready_fd()
    }

    /// Ends the application's batch (its loop goes on; the buffer goes
    /// back to the workers), wakes the loops it queued output on, and
    /// hands over the next batch of any loop (waiting up to `timeout`);
    /// `events` is left empty if none came.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> Result<()> {
        self.flush();
        self.loops.recycle(std::mem::take(events));
        if let Some(batch) = self.loops.pop_ready(timeout, &mut self.seen_exits) {
            *events = batch.events;
            self.lent = Some(batch.loop_index);
        }
        Ok(())
    }

    /// The application is done with its batch (its payloads stay valid
    /// until the next `poll`): its loop may run its next turn. Wakes the
    /// other loops the application queued output on, so that they write
    /// it now.
    pub fn flush(&mut self) {
        if let Some(k) = self.lent.take() {
            // Its next turn writes what was queued; no wake needed.
            self.touched &= !(1 << k);
            let _ = self.workers[k].done.send(());
        }
        let mut touched = std::mem::take(&mut self.touched);
        while touched != 0 {
            let i = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            self.loops.inbox(i).nudge();
        }
    }

    /// Zero while the application holds a batch (a host loop that honours
    /// it polls again, which ends the batch); otherwise the loops keep
    /// their own timers and only the descriptor wakes the application.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.lent.map(|_| Duration::ZERO)
    }

    /// Runs a call on the loop that owns `conn`.
    pub fn on<R>(&mut self, conn: ConnId, f: impl FnOnce(&mut Driver) -> Result<R>) -> Result<R> {
        let i = self.loops.owner(conn)?;
        self.touched |= 1 << i;
        self.loops.with(i, f)?
    }

    /// Reads from the loop that owns `conn`.
    pub fn read<R>(&self, conn: ConnId, f: impl FnOnce(&Driver) -> R) -> Result<R> {
        let i = self.loops.owner(conn)?;
        self.loops.with(i, |d| f(d))
    }

    /// Runs a call on every loop (stopping at the first error).
    pub fn each(&mut self, mut f: impl FnMut(&mut Driver) -> Result<()>) -> Result<()> {
        for i in 0..self.loops.len() {
            self.touched |= 1 << i;
            self.loops.with(i, &mut f)??;
        }
        Ok(())
    }

    /// The first answer a loop has.
    pub fn find<R>(&self, f: impl Fn(&Driver) -> Option<R>) -> Option<R> {
        (0..self.loops.len()).find_map(|i| self.loops.with(i, |d| f(d)).ok().flatten())
    }

    /// Reloads TLS on every loop; the files are checked by the first, so a
    /// bad reload changes nothing.
    pub fn reload_tls(&mut self, tls: &crate::config::TlsOptions) -> Result<()> {
        self.each(|d| d.reload_tls(tls))?;
        let listen = std::mem::take(&mut self.config.tls.listen);
        self.config.tls = crate::config::TlsOptions {
            listen,
            ..tls.clone()
        };
        Ok(())
    }

    /// Adds up a count over every loop.
    pub fn sum(&self, f: impl Fn(&Driver) -> usize) -> usize {
        (0..self.loops.len())
            .map(|i| self.loops.with(i, |d| f(d)).unwrap_or(0))
            .sum()
    }

    /// Marks every loop as having output to write (after a publish).
    pub fn touch_all(&mut self) {
        self.touched = u64::MAX >> (64 - self.loops.len());
    }

    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        let mut names = std::collections::HashSet::new();
        let mut bus_counted = false;
        for i in 0..self.loops.len() {
            let _ = self.loops.with(i, |d| {
                let mut s = d.stats();
                if std::mem::replace(&mut bus_counted, true) {
                    // The loops share one cluster bus: its counters once.
                    (s.cluster_published, s.cluster_received, s.cluster_dropped) = (0, 0, 0);
                }
                total.add(&s);
                names.extend(d.topic_names().map(str::to_string));
            });
        }
        // A topic with history is on every loop: count names, not copies.
        total.topics = names.len();
        total
    }

    pub fn is_finished(&self) -> bool {
        (0..self.loops.len()).all(|i| self.loops.with(i, |d| d.is_finished()).unwrap_or(true))
    }

    pub fn begin_shutdown(&mut self) {
        let _ = self.each(|d| {
            d.begin_shutdown();
            Ok(())
        });
        self.loops.nudge_all();
    }
}

impl Group {
    /// Stops the worker threads (between two turns: a batch the
    /// application holds is ended first).
    fn stop_workers(&mut self) {
        self.flush();
        self.loops.stop();
        // Dropping the senders ends a worker waiting for its batch.
        let threads: Vec<_> = self
            .workers
            .drain(..)
            .filter_map(|mut w| w.thread.take())
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }

    /// Hands each loop to a thread of the application's own instead of the
    /// worker threads.
    pub fn into_pollers(mut self) -> Vec<LoopPoller> {
        self.stop_workers();
        self.handed_out = true;
        // Batches the workers made before they stopped go to their loop's
        // thread first.
        (0..self.loops.len())
            .map(|i| LoopPoller::new(self.loops.clone(), i, self.loops.take_ready(i)))
            .collect()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop_workers();
        if !self.handed_out {
            self.loops.close_all();
        }
    }
}
