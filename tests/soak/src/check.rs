//! What the soak sends, so that what comes back can be checked byte for
//! byte, and the counters of what was checked.
use std::io::Write;

/// Compressible filler, so permessage-deflate has something to do.
const FILL: &[u8] =
    b"the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ";

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fill(out: &mut Vec<u8>, len: usize, from: usize) {
    let mut i = from % FILL.len();
    while out.len() < len {
        let n = (len - out.len()).min(FILL.len() - i);
        out.extend_from_slice(&FILL[i..i + n]);
        i = 0;
    }
}

/// Echo message `seq` of connection `serial`: "e<serial>:<seq>:" and
/// filler, 16 to 1,215 bytes (some over the server's 256-byte deflate
/// threshold, some under).
pub fn echo_payload(out: &mut Vec<u8>, serial: u64, seq: u64) {
    out.clear();
    let _ = write!(out, "e{serial}:{seq}:");
    let len = 16 + (mix(serial.wrapping_mul(0x1000_0001) ^ seq) % 1200) as usize;
    fill(out, len, seq as usize);
}

/// Publish `seq`: "b<seq>:" and filler, 24 to 723 bytes.
pub fn bcast_payload(out: &mut Vec<u8>, seq: u64) {
    out.clear();
    let _ = write!(out, "b{seq}:");
    let len = 24 + (mix(seq) % 700) as usize;
    fill(out, len, seq as usize * 7);
}

/// The sequence number after `tag` at the front of a message.
pub fn parse_seq(msg: &[u8], tag: u8) -> Option<u64> {
    let rest = msg.strip_prefix(&[tag])?;
    let rest = if tag == b'e' {
        // e<serial>:<seq>:
        let colon = rest.iter().position(|&b| b == b':')?;
        &rest[colon + 1..]
    } else {
        rest
    };
    let end = rest.iter().position(|&b| b == b':')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[derive(Default)]
pub struct Counters {
    pub opened: u64,
    /// Handshakes whose request the server's kernel never acknowledged.
    pub handshake_dropped: u64,
    pub deflate_conns: u64,
    pub resumes: u64,
    pub resumed_ok: u64,
    pub snapshots: u64,
    pub churn_clean: u64,
    pub churn_reset: u64,
    pub churn_halfopen: u64,
    pub clean_ok: u64,
    pub halfopen_ended: u64,
    pub halfopen_max_ms: u64,
    pub halfopen_sse_ended: u64,
    pub halfopen_sse_abandoned: u64,
    pub echo_sent: u64,
    pub echo_ok: u64,
    pub published: u64,
    pub bcast_ok: u64,
    pub sse_ok: u64,
    pub ticks_ok: u64,
    pub inflated: u64,
    pub pings: u64,
    pub lost_echoes: u64,
    pub lost_publishes: u64,
    pub failures: u64,
    /// Failures by kind.
    pub kinds: Vec<(&'static str, u64)>,
    pub first_errors: Vec<String>,
}

impl Counters {
    pub fn fail(&mut self, kind: &'static str, msg: String) {
        self.failures += 1;
        match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.kinds.push((kind, 1)),
        }
        if self.first_errors.len() < 30 {
            self.first_errors.push(msg);
        }
    }

    pub fn json_fields(&self) -> String {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, n)| format!("\"{k}\":{n}"))
            .collect();
        let errors: Vec<String> = self.first_errors.iter().map(|e| json_str(e)).collect();
        format!(
            "\"opened\":{},\"handshake_dropped\":{},\"deflate_conns\":{},\"resumes\":{},\"resumed_ok\":{},\"snapshots\":{},\
             \"churn_clean\":{},\"churn_reset\":{},\"churn_halfopen\":{},\"clean_ok\":{},\
             \"halfopen_ended\":{},\"halfopen_max_ms\":{},\"halfopen_sse_ended\":{},\"halfopen_sse_abandoned\":{},\
             \"echo_sent\":{},\"echo_ok\":{},\"published\":{},\"bcast_ok\":{},\"sse_ok\":{},\"ticks_ok\":{},\
             \"inflated\":{},\"pings\":{},\"lost_echoes\":{},\"lost_publishes\":{},\"failures\":{},\
             \"failure_kinds\":{{{}}},\"errors\":[{}]",
            self.opened,
            self.handshake_dropped,
            self.deflate_conns,
            self.resumes,
            self.resumed_ok,
            self.snapshots,
            self.churn_clean,
            self.churn_reset,
            self.churn_halfopen,
            self.clean_ok,
            self.halfopen_ended,
            self.halfopen_max_ms,
            self.halfopen_sse_ended,
            self.halfopen_sse_abandoned,
            self.echo_sent,
            self.echo_ok,
            self.published,
            self.bcast_ok,
            self.sse_ok,
            self.ticks_ok,
            self.inflated,
            self.pings,
            self.lost_echoes,
            self.lost_publishes,
            self.failures,
            kinds.join(","),
            errors.join(",")
        )
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_numbers() {
        let mut b = Vec::new();
        for seq in [1, 2, 99, 123_456] {
            echo_payload(&mut b, 77, seq);
            assert!((16..=1215).contains(&b.len()));
            assert_eq!(parse_seq(&b, b'e'), Some(seq));
            bcast_payload(&mut b, seq);
            assert!((24..=723).contains(&b.len()));
            assert_eq!(parse_seq(&b, b'b'), Some(seq));
            assert!(!b.contains(&b'\n'));
        }
        assert_eq!(parse_seq(b"x1:", b'b'), None);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
    }
}
