//! permessage-deflate (RFC 7692): negotiation, and the compressor and
//! decompressor wrappers (zlib through `flate2`'s zlib-rs backend).
//!
//! Sans I/O like the rest of `proto`: offers in, a response and parameters
//! out; bytes in, bytes out with a hard output limit.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// What both sides agreed to for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message, so our
    /// decompressor may too.
    pub client_no_context_takeover: bool,
    /// Largest window our compressor may use (8–15).
    pub server_max_window_bits: u8,
    /// Largest window the client's compressor uses (8–15).
    pub client_max_window_bits: u8,
}

/// How the server wants to negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Always answer `server_no_context_takeover` (a shared compressor can
    /// then serve every connection).
    pub server_no_context_takeover: bool,
    /// Always answer `client_no_context_takeover` (a shared decompressor
    /// can then serve every connection).
    pub client_no_context_takeover: bool,
    /// Our compressor's window (9–15; zlib has no raw 8-bit window).
    pub server_max_window_bits: u8,
}

#[derive(Debug, Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value ("I can take one").
    client_max_window_bits: Option<Option<u8>>,
}

/// Splits a header value at `sep`, except inside quoted strings.
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut parts = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().map(str::trim)
}

/// A window-bits value: 1*DIGIT in 8..=15, maybe quoted (§7.1.2.1).
fn window_bits(v: &str) -> Option<u8> {
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Parses one `permessage-deflate` offer's parameters; None if any is
/// unknown, repeated or malformed (such an offer is declined, §7.1).
fn parse_offer<'a>(params: impl Iterator<Item = &'a str>) -> Option<Offer> {
    let mut o = Offer::default();
    for p in params {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (p, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !o.server_no_context_takeover => {
                o.server_no_context_takeover = true
            }
            ("client_no_context_takeover", None) if !o.client_no_context_takeover => {
                o.client_no_context_takeover = true
            }
            ("server_max_window_bits", Some(v)) if o.server_max_window_bits.is_none() => {
                o.server_max_window_bits = Some(window_bits(v)?)
            }
            ("client_max_window_bits", v) if o.client_max_window_bits.is_none() => {
                o.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                })
            }
            _ => return None,
        }
    }
    Some(o)
}

/// Picks the first acceptable `permessage-deflate` offer among the
/// `Sec-WebSocket-Extensions` header values, in order. Returns the agreed
/// parameters and the response header value. The response names only what
/// the client allowed: `client_max_window_bits` only if offered,
/// `server_max_window_bits` only if requested.
pub fn negotiate<'a>(
    headers: impl Iterator<Item = &'a str>,
    policy: &Policy,
) -> Option<(DeflateParams, String)> {
    for value in headers {
        for ext in split_unquoted(value, ',') {
            let mut parts = split_unquoted(ext, ';');
            let name = parts.next().unwrap_or("");
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            let Some(offer) = parse_offer(parts.filter(|p| !p.is_empty())) else {
                continue;
            };
            let server_bits = offer
                .server_max_window_bits
                .unwrap_or(15)
                .min(policy.server_max_window_bits.clamp(9, 15));
            let params = DeflateParams {
                server_no_context_takeover: offer.server_no_context_takeover
                    || policy.server_no_context_takeover,
                client_no_context_takeover: offer.client_no_context_takeover
                    || policy.client_no_context_takeover,
                // A client that asked for an 8-bit window gets uncompressed
                // messages from us (always allowed): zlib cannot make raw
                // deflate with a window that small.
                server_max_window_bits: server_bits,
                client_max_window_bits: match offer.client_max_window_bits {
                    Some(Some(bits)) => bits,
                    _ => 15,
                },
            };
            let mut response = String::from("permessage-deflate");
            if params.server_no_context_takeover {
                response.push_str("; server_no_context_takeover");
            }
            if params.client_no_context_takeover {
                response.push_str("; client_no_context_takeover");
            }
            if offer.server_max_window_bits.is_some() {
                response.push_str(&format!("; server_max_window_bits={server_bits}"));
            }
            if let Some(Some(bits)) = offer.client_max_window_bits {
                response.push_str(&format!("; client_max_window_bits={bits}"));
            }
            return Some((params, response));
        }
    }
    None
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The output would pass the size limit (a bomb, or just too big): 1009.
    TooBig,
    /// Not valid deflate data: 1007.
    Corrupt,
}

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A decompressor for client messages.
pub struct Inflater {
    z: Decompress,
    reset_each_message: bool,
}

impl Inflater {
    /// Window bits must be at least the client's (15 always works).
    pub fn new(window_bits: u8, reset_each_message: bool) -> Inflater {
        Inflater {
            z: Decompress::new_with_window_bits(false, window_bits.clamp(9, 15)),
            reset_each_message,
        }
    }

    /// Inflates one whole message (its frames' payloads concatenated),
    /// appending to `out`, which must not grow past `limit` bytes of
    /// output. Memory is bounded by `limit` whatever the input claims.
    pub fn inflate_message(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let start = out.len();
        // A message that ends with a final block (BFINAL set, RFC 7692
        // §7.2.3.5) is whole without the tail, which after the end of the
        // stream would be refused as data past it.
        let r = match self.run(input, out, start, limit) {
            Ok(false) => self.run(&TAIL, out, start, limit),
            r => r,
        };
        // A stream that ended takes nothing more: the peer's next message
        // starts a new one.
        if self.reset_each_message || !matches!(r, Ok(false)) {
            self.z.reset(false);
        }
        r.map(drop)
    }

    /// Inflates `input`; true if it ended the deflate stream.
    fn run(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        start: usize,
        limit: usize,
    ) -> Result<bool, InflateError> {
        loop {
            let produced = out.len() - start;
            // Grow geometrically, but never past the limit (+1 byte so an
            // exact-limit message is told apart from an oversized one): a
            // bomb cannot make us allocate more than the limit. (`produced`
            // is within the limit here; a limit of usize::MAX is none, and
            // must not wrap the room to 0: no room, no progress, forever.)
            if out.len() == out.capacity() {
                let room = (limit - produced)
                    .saturating_add(1)
                    .min(produced.max(16 * 1024));
                out.reserve_exact(room);
            }
            let before_in = self.z.total_in();
            let before_out = self.z.total_out();
            let status = self
                .z
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            let used = (self.z.total_in() - before_in) as usize;
            let made = (self.z.total_out() - before_out) as usize;
            input = &input[used..];
            if out.len() - start > limit {
                out.truncate(start + limit);
                return Err(InflateError::TooBig);
            }
            match status {
                // The final block ended the stream. What follows it in the
                // message is not data: RFC 7692's own example (§7.2.3.5)
                // puts an empty block's header byte there, and zlib-based
                // peers ignore it, as we do.
                Status::StreamEnd => return Ok(true),
                _ if input.is_empty() && out.len() < out.capacity() => return Ok(false),
                _ if used == 0 && made == 0 && out.len() < out.capacity() => {
                    return Err(InflateError::Corrupt)
                }
                _ => {}
            }
        }
    }
}

/// A compressor for server messages.
pub struct Deflater {
    z: Compress,
    reset_each_message: bool,
}

impl Deflater {
    pub fn new(level: u32, window_bits: u8, reset_each_message: bool) -> Deflater {
        Deflater {
            z: Compress::new_with_window_bits(
                Compression::new(level.min(9)),
                false,
                window_bits.clamp(9, 15),
            ),
            reset_each_message,
        }
    }

    /// Appends the compressed form of `payload` to `out`, without the
    /// `00 00 ff ff` tail (§7.2.1).
    pub fn compress_message(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let mut input = payload;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before_in = self.z.total_in();
            self.z
                .compress_vec(input, out, FlushCompress::Sync)
                .expect("deflate cannot fail on valid state");
            input = &input[(self.z.total_in() - before_in) as usize..];
            // Sync flush is complete once input is used and output had room.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.reset_each_message {
            self.z.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
        }
    }

    fn neg(h: &str) -> Option<String> {
        negotiate(std::iter::once(h), &policy()).map(|(_, r)| r)
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            neg("permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            neg("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            neg("permessage-deflate; client_max_window_bits=10; server_no_context_takeover")
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
        );
        assert_eq!(
            neg("permessage-deflate; server_max_window_bits=\"12\"").as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
        // Unknown, repeated or malformed parameters decline that offer only.
        assert_eq!(neg("permessage-deflate; foo"), None);
        assert_eq!(neg("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(neg("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(neg("permessage-deflate; server_max_window_bits=010"), None);
        assert_eq!(
            neg("permessage-deflate; client_no_context_takeover; client_no_context_takeover"),
            None
        );
        assert_eq!(
            neg("permessage-deflate; foo, permessage-deflate; client_no_context_takeover")
                .as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        assert_eq!(neg("x-webkit-deflate-frame"), None);
    }

    #[test]
    fn eight_bit_server_window_is_accepted_but_not_used_for_compression() {
        let (p, r) = negotiate(
            std::iter::once("permessage-deflate; server_max_window_bits=8"),
            &policy(),
        )
        .unwrap();
        assert_eq!(r, "permessage-deflate; server_max_window_bits=8");
        assert_eq!(p.server_max_window_bits, 8);
    }

    #[test]
    fn round_trip_with_and_without_context() {
        for reset in [false, true] {
            let mut d = Deflater::new(6, 15, reset);
            let mut i = Inflater::new(15, reset);
            for n in 0..5 {
                let msg = format!("hello hello hello {n} ").repeat(50);
                let mut c = Vec::new();
                d.compress_message(msg.as_bytes(), &mut c);
                assert!(!c.ends_with(&TAIL));
                assert!(c.len() < msg.len());
                let mut out = Vec::new();
                i.inflate_message(&c, &mut out, 1 << 20).unwrap();
                assert_eq!(out, msg.as_bytes());
            }
            let mut c = Vec::new();
            d.compress_message(b"", &mut c);
            let mut out = Vec::new();
            i.inflate_message(&c, &mut out, 10).unwrap();
            assert!(out.is_empty());
        }
    }

    #[test]
    fn bomb_is_stopped_at_the_limit() {
        let mut d = Deflater::new(9, 15, true);
        let mut c = Vec::new();
        d.compress_message(&vec![0u8; 50 << 20], &mut c);
        assert!(c.len() < 100 << 10, "{}", c.len());
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate_message(&c, &mut out, 1 << 20),
            Err(InflateError::TooBig)
        );
        assert!(
            out.capacity() <= (1 << 20) + 1,
            "allocated {}",
            out.capacity()
        );
        // Exactly at the limit is fine.
        let mut c = Vec::new();
        d.compress_message(&vec![7u8; 1000], &mut c);
        let mut out = Vec::new();
        Inflater::new(15, true)
            .inflate_message(&c, &mut out, 1000)
            .unwrap();
        assert_eq!(out.len(), 1000);
    }

    /// Found by fuzzing (fuzz/regressions/inflate/): a limit of
    /// `usize::MAX` (no limit) wrapped the buffer's room to 0 and the
    /// first message into an empty buffer never finished.
    #[test]
    fn no_limit_is_no_limit() {
        let mut out = Vec::new();
        Inflater::new(15, true)
            .inflate_message(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                &mut out,
                usize::MAX,
            )
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    /// Found by fuzzing: a message that ends with a final block (BFINAL
    /// set, RFC 7692 §7.2.3.5) was refused as corrupt, and with context
    /// takeover the next message (a new stream) must read too.
    #[test]
    fn a_final_block_ends_the_message() {
        let bfinal: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        for reset in [false, true] {
            let mut i = Inflater::new(15, reset);
            for _ in 0..2 {
                let mut out = Vec::new();
                i.inflate_message(bfinal, &mut out, 100).unwrap();
                assert_eq!(out, b"Hello");
            }
            let mut out = Vec::new();
            i.inflate_message(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
                .unwrap();
            assert_eq!(out, b"Hello");
            // RFC 7692 §7.2.3.5's example: the final block, then the
            // header byte it says is needed.
            let mut out = Vec::new();
            let rfc: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
            i.inflate_message(rfc, &mut out, 100).unwrap();
            assert_eq!(out, b"Hello");
        }
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut i = Inflater::new(15, false);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate_message(&[0xff, 0xff, 0xff, 0xff, 0x00], &mut out, 1 << 20),
            Err(InflateError::Corrupt)
        );
        // The inflater is usable again afterwards.
        let mut d = Deflater::new(6, 15, false);
        let mut c = Vec::new();
        d.compress_message(b"fine", &mut c);
        out.clear();
        i.inflate_message(&c, &mut out, 100).unwrap();
        assert_eq!(out, b"fine");
    }
}
