//! The client side of permessage-deflate (RFC 7692): the offer, the
//! server's answer, and per-message compression and inflation with raw
//! deflate (`flate2`, the zlib-rs backend the server uses too).
//!
//! Outgoing messages are compressed with a sync flush and the trailing
//! `00 00 ff ff` removed (§7.2.1); incoming ones get it appended back
//! before inflating (§7.2.2). The negotiated takeover parameters decide
//! which side resets its context after each message.
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the generator offers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Offer {
    Off,
    /// `permessage-deflate; client_max_window_bits`: context takeover both
    /// ways unless the server says otherwise.
    Takeover,
    /// Both `*_no_context_takeover`: every message stands alone.
    NoTakeover,
}

impl Offer {
    pub fn parse(s: &str) -> Option<Offer> {
        match s {
            "off" => Some(Offer::Off),
            "on" | "takeover" => Some(Offer::Takeover),
            "no-takeover" | "no-context-takeover" => Some(Offer::NoTakeover),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Offer::Off => "off",
            Offer::Takeover => "takeover",
            Offer::NoTakeover => "no-takeover",
        }
    }

    /// The `Sec-WebSocket-Extensions` request header line, if any.
    pub fn header(self) -> &'static str {
        match self {
            Offer::Off => "",
            Offer::Takeover => {
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            }
            Offer::NoTakeover => {
                "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
                 client_no_context_takeover\r\n"
            }
        }
    }
}

/// What the server agreed to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

/// Reads the server's `Sec-WebSocket-Extensions` answer from a response
/// head: `Ok(None)` if it accepted no extension; an error for anything
/// other than a well-formed permessage-deflate answer (§7.1: a client
/// fails the connection on an answer it did not offer or cannot use).
pub fn parse_response(head: &str, offer: Offer) -> Result<Option<Params>, String> {
    let values: Vec<&str> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, v)| v.trim())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    if offer == Offer::Off {
        return Err(format!("extensions {values:?} accepted, none offered"));
    }
    let joined = values.join(", ");
    if joined.contains(',') {
        return Err(format!("more than one extension accepted: {joined:?}"));
    }
    let mut parts = joined.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case("permessage-deflate"))
    {
        return Err(format!("unknown extension accepted: {joined:?}"));
    }
    let mut p = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let bits = |v: Option<&str>| -> Result<u8, String> {
        v.map(|v| v.trim().trim_matches('"'))
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|b| (8..=15).contains(b))
            .ok_or(format!("bad window bits in {joined:?}"))
    };
    for param in parts.filter(|s| !s.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (param, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => p.server_no_context_takeover = true,
            "client_no_context_takeover" => p.client_no_context_takeover = true,
            "server_max_window_bits" => p.server_max_window_bits = bits(value)?,
            "client_max_window_bits" => p.client_max_window_bits = bits(value)?,
            _ => return Err(format!("unknown parameter in {joined:?}")),
        }
    }
    if p.client_max_window_bits < 9 {
        return Err("client_max_window_bits=8: zlib has no raw 8-bit window".into());
    }
    Ok(Some(p))
}

/// One connection's compression state. Contexts are made on first use.
pub struct Codec {
    pub params: Params,
    level: u32,
    comp: Option<Compress>,
    decomp: Option<Decompress>,
    /// Reset both contexts after every message even where takeover was
    /// agreed (a client may always do that): used where one codec serves
    /// many connections, each for its first message only.
    pub always_reset: bool,
}

impl Codec {
    pub fn new(params: Params, level: u32) -> Codec {
        Codec {
            params,
            level,
            comp: None,
            decomp: None,
            always_reset: false,
        }
    }

    /// Appends the compressed form of `msg` (tail removed) to `out`.
    pub fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        let (level, bits) = (self.level, self.params.client_max_window_bits);
        let z = self.comp.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        let start = out.len();
        let mut input = msg;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = z.total_in();
            z.compress_vec(input, out, FlushCompress::Sync)
                .expect("deflate of valid state");
            input = &input[(z.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.params.client_no_context_takeover || self.always_reset {
            z.reset();
        }
    }

    /// Inflates one whole compressed message into `out` (cleared first).
    pub fn inflate(&mut self, data: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
        let bits = self.params.server_max_window_bits.max(9);
        let z = self
            .decomp
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        out.clear();
        for mut input in [data, &TAIL[..]] {
            while !input.is_empty() {
                if out.len() == out.capacity() {
                    if out.len() >= limit {
                        return Err(format!("inflated message over {limit} bytes"));
                    }
                    out.reserve(4096.max(input.len() * 4));
                }
                let before = z.total_in();
                let status = z
                    .decompress_vec(input, out, FlushDecompress::Sync)
                    .map_err(|e| format!("inflate: {e}"))?;
                input = &input[(z.total_in() - before) as usize..];
                if status == Status::StreamEnd {
                    return Err("BFINAL block in a permessage-deflate message".into());
                }
            }
        }
        // Output still buffered inside zlib for want of room.
        loop {
            if out.len() < out.capacity() {
                let before = out.len();
                z.decompress_vec(&[], out, FlushDecompress::Sync)
                    .map_err(|e| format!("inflate: {e}"))?;
                if out.len() == before || out.len() < out.capacity() {
                    break;
                }
            } else {
                if out.len() >= limit {
                    return Err(format!("inflated message over {limit} bytes"));
                }
                out.reserve(4096);
            }
        }
        if self.params.server_no_context_takeover || self.always_reset {
            z.reset(false);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(no_takeover: bool) -> Params {
        Params {
            server_no_context_takeover: no_takeover,
            client_no_context_takeover: no_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    #[test]
    fn round_trip_with_and_without_takeover() {
        for nt in [false, true] {
            let (mut a, mut b) = (Codec::new(params(nt), 6), Codec::new(params(nt), 6));
            let mut sizes = Vec::new();
            for i in 0..5 {
                let msg = format!("{{\"seq\":{i},\"text\":\"{}\"}}", "hello world ".repeat(40));
                let mut wire = Vec::new();
                a.compress(msg.as_bytes(), &mut wire);
                assert!(!wire.ends_with(&TAIL));
                sizes.push(wire.len());
                let mut back = Vec::new();
                b.inflate(&wire, &mut back, 1 << 20).unwrap();
                assert_eq!(back, msg.as_bytes());
            }
            // With takeover the later messages refer to the first one.
            assert_eq!(sizes[4] < sizes[0], !nt, "{sizes:?}");
        }
    }

    #[test]
    fn rfc_7692_example_and_limit() {
        // §7.2.3.1: "Hello" compressed, tail removed.
        let wire = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut c = Codec::new(params(false), 6);
        let mut out = Vec::new();
        c.inflate(&wire, &mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        let mut big = Vec::new();
        Codec::new(params(true), 6).compress(&[b'x'; 100_000], &mut big);
        assert!(Codec::new(params(true), 6)
            .inflate(&big, &mut out, 10_000)
            .is_err());
    }

    #[test]
    fn responses() {
        let h = |v: &str| format!("HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: {v}\r\n");
        assert_eq!(
            parse_response("HTTP/1.1 101 OK\r\n", Offer::Takeover),
            Ok(None)
        );
        let p = parse_response(
            &h("permessage-deflate; server_no_context_takeover; client_max_window_bits=12"),
            Offer::Takeover,
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (15, 12)
        );
        assert!(parse_response(&h("permessage-deflate"), Offer::Off).is_err());
        assert!(parse_response(&h("x-webkit-deflate-frame"), Offer::Takeover).is_err());
        assert!(parse_response(&h("permessage-deflate; foo"), Offer::Takeover).is_err());
        assert!(parse_response(
            &h("permessage-deflate; client_max_window_bits=8"),
            Offer::Takeover
        )
        .is_err());
    }
}
