//! permessage-deflate state: what one connection negotiated, its own zlib
//! contexts when it keeps context between messages, and the loop-wide
//! contexts that serve every connection that does not.

use crate::deflate::{self, DeflateParams, Deflater, InflateError, Inflater, Policy};
use crate::http::RequestHead;
use crate::settings::{DeflateConfig, DeflateMode};
use std::time::{Duration, Instant};

/// A connection's own compressor (~256 KiB of zlib state) is freed once it
/// has not compressed for this long. Safe whatever was negotiated: the next
/// message starts a fresh stream that refers to none of the earlier ones,
/// which the peer's decompressor reads as usual. Its decompressor stays: with
/// client context takeover, the peer's next message may refer back.
pub const IDLE_COMPRESSOR_RELEASE: Duration = Duration::from_secs(30);

/// Per connection: the agreement, plus contexts created on first use and
/// only where context takeover makes them per-connection.
pub struct ConnDeflate {
    pub params: DeflateParams,
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
    /// When `deflater` last compressed.
    deflated_at: Option<Instant>,
}

/// Per loop: contexts reset after every message, shared by all
/// connections without context takeover (one compressor per window size).
#[derive(Default)]
pub struct SharedDeflate {
    deflaters: [Option<Deflater>; 16],
    inflater: Option<Inflater>,
    /// Compressed output of the message being sent.
    pub scratch: Vec<u8>,
    /// Inflated content of the message being received.
    pub inflated: Vec<u8>,
}

/// Negotiates from the request's offers; the response header value and the
/// connection's state, or None (declined: no compression).
pub fn negotiate(cfg: &DeflateConfig, head: &RequestHead) -> Option<(String, Box<ConnDeflate>)> {
    let shared = match cfg.mode {
        DeflateMode::Off => return None,
        DeflateMode::Shared => true,
        DeflateMode::PerConnection => false,
    };
    let policy = Policy {
        server_no_context_takeover: shared,
        client_no_context_takeover: shared,
        server_max_window_bits: cfg.window_bits,
    };
    let (params, response) =
        deflate::negotiate(head.header_values("sec-websocket-extensions"), &policy)?;
    Some((
        response,
        Box::new(ConnDeflate {
            params,
            deflater: None,
            inflater: None,
            deflated_at: None,
        }),
    ))
}

impl ConnDeflate {
    /// Frees the connection's own compressor if it has been idle for
    /// [`IDLE_COMPRESSOR_RELEASE`]; true if it did.
    pub fn release_idle_compressor(&mut self, now: Instant) -> bool {
        match self.deflated_at {
            Some(at) if self.deflater.is_some() && now >= at + IDLE_COMPRESSOR_RELEASE => {
                self.deflater = None;
                self.deflated_at = None;
                true
            }
            _ => false,
        }
    }

    /// When [`ConnDeflate::release_idle_compressor`] will next free
    /// something, if ever.
    pub fn release_deadline(&self) -> Option<Instant> {
        self.deflater.as_ref()?;
        self.deflated_at.map(|at| at + IDLE_COMPRESSOR_RELEASE)
    }

    /// A compressor of its own is in use (and will be released when idle).
    pub fn has_own_compressor(&self) -> bool {
        self.deflater.is_some()
    }

    /// Whether a message of `len` bytes goes out compressed.
    pub fn compresses(&self, cfg: &DeflateConfig, len: usize) -> bool {
        // zlib has no raw 8-bit window; a client that asked for one gets
        // uncompressed messages, which permessage-deflate always allows.
        len >= cfg.threshold && self.params.server_max_window_bits >= 9
    }
}

/// Compresses `payload` for `conn` into `shared.scratch` (cleared first).
pub fn compress(
    cfg: &DeflateConfig,
    conn: &mut ConnDeflate,
    shared: &mut SharedDeflate,
    payload: &[u8],
    now: Instant,
) {
    let bits = conn.params.server_max_window_bits;
    if conn.params.server_no_context_takeover {
        compress_without_context(cfg, shared, bits, payload);
    } else {
        shared.scratch.clear();
        conn.deflated_at = Some(now);
        conn.deflater
            .get_or_insert_with(|| Deflater::new(cfg.level, bits, false))
            .compress_message(payload, &mut shared.scratch);
    }
}

/// Compresses `payload` with a fresh window of `bits` into `shared.scratch`
/// (cleared first): the output suits every connection that negotiated no
/// server context takeover and this window, so a published message is
/// compressed once for all of them.
pub fn compress_without_context(
    cfg: &DeflateConfig,
    shared: &mut SharedDeflate,
    bits: u8,
    payload: &[u8],
) {
    shared.scratch.clear();
    shared.deflaters[bits as usize]
        .get_or_insert_with(|| Deflater::new(cfg.level, bits, true))
        .compress_message(payload, &mut shared.scratch);
}

/// Inflates one received message, appending to `out` (at most `limit`
/// bytes of output); maps failures to the close code to fail with.
pub fn inflate(
    conn: &mut ConnDeflate,
    shared: &mut SharedDeflate,
    payload: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), (u16, &'static str)> {
    let inflater = if conn.params.client_no_context_takeover {
        shared
            .inflater
            .get_or_insert_with(|| Inflater::new(15, true))
    } else {
        let bits = conn.params.client_max_window_bits;
        conn.inflater
            .get_or_insert_with(|| Inflater::new(bits, false))
    };
    inflater
        .inflate_message(payload, out, limit)
        .map_err(|e| match e {
            InflateError::TooBig => (1009, "message exceeds the size limit once inflated"),
            InflateError::Corrupt => (1007, "invalid deflate data"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that keeps its decompressor's context throughout still
    /// reads every message after we drop our compressor mid-stream.
    #[test]
    fn releasing_an_idle_compressor_keeps_the_stream_readable() {
        let cfg = DeflateConfig {
            mode: DeflateMode::PerConnection,
            threshold: 0,
            level: 6,
            window_bits: 15,
        };
        let mut conn = ConnDeflate {
            params: DeflateParams {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            },
            deflater: None,
            inflater: None,
            deflated_at: None,
        };
        let mut shared = SharedDeflate::default();
        let mut client = Inflater::new(15, false);
        #[allow(clippy::disallowed_methods)] // an arbitrary epoch for virtual time
        let t0 = Instant::now();
        let msg = |i: usize| format!("{{\"seq\":{i},\"text\":\"{}\"}}", "hello wsrt ".repeat(40));
        let mut sizes = Vec::new();
        for (i, at) in [0u64, 1, 40, 41].into_iter().enumerate() {
            let now = t0 + Duration::from_secs(at);
            let released = conn.release_idle_compressor(now);
            // Only the gap from 1 s to 40 s is long enough.
            assert_eq!(released, at == 40, "at {at} s");
            compress(&cfg, &mut conn, &mut shared, msg(i).as_bytes(), now);
            sizes.push(shared.scratch.len());
            let mut out = Vec::new();
            client
                .inflate_message(&shared.scratch, &mut out, 1 << 20)
                .unwrap();
            assert_eq!(out, msg(i).as_bytes());
            assert!(conn.has_own_compressor());
        }
        // Context helps the second and fourth messages; the third starts
        // afresh after the release.
        assert!(
            sizes[1] < sizes[0] / 2 && sizes[3] < sizes[2] / 2,
            "{sizes:?}"
        );
        assert!(sizes[2] > sizes[1] * 2, "{sizes:?}");
    }
}
