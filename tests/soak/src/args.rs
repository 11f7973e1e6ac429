//! Command-line options of the soak client.
use std::net::{SocketAddr, ToSocketAddrs};

pub const USAGE: &str = "usage: soak [--addr HOST:PORT] [--conns N] [--secs S] [--churn FRACTION]
            [--mix ECHO:SUB:EVENTS:TICKS] [--deflate-share FRACTION]
            [--echo-interval-ms MS] [--echo-window N] [--pub-rate PER_SEC]
            [--idle-timeout-ms MS] [--sse-halfopen-secs S] [--max-pending N]
            [--drain-secs S] [--seed N]";

pub struct Args {
    pub addr: SocketAddr,
    /// Connections kept up (the publisher comes on top).
    pub conns: usize,
    /// Seconds from the first connection to the end of the load.
    pub secs: f64,
    /// Share of the connections ended and replaced every second.
    pub churn: f64,
    /// Parts of echo, /broadcast subscribers, /events and /sse streams.
    pub mix: [u32; 4],
    /// Share of the WebSockets that offer permessage-deflate.
    pub deflate_share: f64,
    /// Each echo connection sends a message this often.
    pub echo_interval_ms: u64,
    /// At most this many echoes outstanding per connection.
    pub echo_window: usize,
    /// Publishes per second on /broadcast.
    pub pub_rate: f64,
    /// The server's idle timeout: a half-open WebSocket must be ended by
    /// the server within it (and some slack). 0: not checked.
    pub idle_timeout_ms: u64,
    /// A half-open event stream is given up (reset) after this.
    pub sse_halfopen_secs: f64,
    /// Handshakes in flight at once.
    pub max_pending: usize,
    /// After the load, how long to wait for what is in flight.
    pub drain_secs: f64,
    pub seed: u64,
}

impl Args {
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            addr: "127.0.0.1:9001".parse().unwrap(),
            conns: 10_000,
            secs: 60.0,
            churn: 0.05,
            mix: [9, 5, 5, 1],
            deflate_share: 0.2,
            echo_interval_ms: 1000,
            echo_window: 2,
            pub_rate: 5.0,
            idle_timeout_ms: 0,
            sse_halfopen_secs: 10.0,
            max_pending: 256,
            drain_secs: 15.0,
            seed: 0x50a6_2017,
        };
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let bad = |v: &str| format!("bad value {v:?} for {flag}");
            match flag.as_str() {
                "--addr" => {
                    let v = value()?;
                    a.addr = v
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut s| s.next())
                        .ok_or_else(|| bad(&v))?;
                }
                "--mix" => {
                    let v = value()?;
                    let parts: Vec<u32> = v
                        .split(':')
                        .map(|p| p.parse().map_err(|_| bad(&v)))
                        .collect::<Result<_, _>>()?;
                    a.mix = parts.try_into().map_err(|_| bad(&v))?;
                    if a.mix.iter().sum::<u32>() == 0 {
                        return Err(bad(&v));
                    }
                }
                "-h" | "--help" => return Err("help".into()),
                _ => {
                    let v = value()?;
                    let f = || {
                        v.parse::<f64>()
                            .ok()
                            .filter(|x| *x >= 0.0)
                            .ok_or_else(|| bad(&v))
                    };
                    let n = || v.parse::<u64>().map_err(|_| bad(&v));
                    match flag.as_str() {
                        "--conns" => a.conns = n()? as usize,
                        "--secs" => a.secs = f()?,
                        "--churn" => a.churn = f()?,
                        "--deflate-share" => a.deflate_share = f()?.min(1.0),
                        "--echo-interval-ms" => a.echo_interval_ms = n()?.max(1),
                        "--echo-window" => a.echo_window = n()?.max(1) as usize,
                        "--pub-rate" => a.pub_rate = f()?,
                        "--idle-timeout-ms" => a.idle_timeout_ms = n()?,
                        "--sse-halfopen-secs" => a.sse_halfopen_secs = f()?,
                        "--max-pending" => a.max_pending = n()?.max(1) as usize,
                        "--drain-secs" => a.drain_secs = f()?,
                        "--seed" => a.seed = n()?,
                        _ => return Err(format!("unknown option {flag}")),
                    }
                }
            }
        }
        Ok(a)
    }
}
