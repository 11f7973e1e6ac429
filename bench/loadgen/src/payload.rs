//! JSON-like text messages for the compression scenarios: chat and
//! dashboard objects whose numbers, names and text change from message to
//! message (compressible the way real traffic is, not one repeated string),
//! each exactly `size` bytes.
use std::fmt::Write as _;

const WORDS: &[&str] = &[
    "the",
    "deploy",
    "is",
    "done",
    "and",
    "latency",
    "looks",
    "fine",
    "on",
    "our",
    "side",
    "can",
    "you",
    "check",
    "dashboard",
    "again",
    "please",
    "I",
    "think",
    "cache",
    "was",
    "cold",
    "after",
    "restart",
    "we",
    "should",
    "ship",
    "it",
    "today",
    "meeting",
    "moved",
    "to",
    "three",
    "pm",
    "lunch",
    "anyone",
    "build",
    "failed",
    "flaky",
    "test",
    "retry",
    "worked",
    "thanks",
    "great",
    "news",
    "customer",
    "reported",
    "slow",
    "page",
    "load",
    "from",
    "europe",
    "region",
    "rolling",
    "back",
    "now",
    "alert",
    "cleared",
    "memory",
    "usage",
    "went",
    "up",
    "by",
    "ten",
    "percent",
    "over",
    "night",
    "queue",
    "depth",
    "normal",
    "again",
    "ok",
    "will",
    "look",
    "tomorrow",
    "morning",
    "merged",
    "review",
    "comments",
    "addressed",
    "new",
    "release",
    "notes",
    "draft",
    "ready",
    "for",
    "feedback",
    "coffee",
    "break",
    "back",
    "in",
    "five",
    "minutes",
    "sounds",
    "good",
    "me",
    "too",
    "let",
    "know",
    "when",
    "green",
];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dmitri", "eve", "farah", "grace", "hiro", "ines", "jamal", "kofi",
    "lena", "mateo", "nora", "oskar", "priya", "quinn", "rosa", "sven", "tariq", "uma", "victor",
];
const ROOMS: &[&str] = &[
    "general", "ops", "release", "support", "random", "eu-west", "payments",
];
const STATUS: &[&str] = &["online", "away", "busy", "offline"];
const SYMS: &[&str] = &[
    "ACME", "GLOBX", "INIT", "UMBR", "WAYN", "STRK", "CYBD", "OSCP",
];

/// xorshift64*: fast, deterministic, good enough for varied content.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// The smallest `size` a JSON message can have.
pub const MIN_JSON: usize = 512;

/// Writes one message of exactly `size` bytes (at least `MIN_JSON`) into
/// `out` (cleared first): a chat message or a dashboard update, with the
/// connection and sequence number in it, text filling it to size.
pub fn json(rng: &mut Rng, conn: usize, seq: u64, ts_ms: u64, size: usize, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(size);
    let user = rng.pick(NAMES);
    let uid = 1000 + rng.below(90_000);
    if seq % 3 == 2 {
        let _ = write!(
            s,
            r#"{{"type":"dashboard","seq":{seq},"conn":{conn},"ts":{ts_ms},"host":"web-{:02}.{}","metrics":{{"cpu":{}.{},"mem_mb":{},"rps":{},"p50_ms":{}.{},"p99_ms":{}.{},"errors":{}}},"quotes":["#,
            rng.below(40),
            rng.pick(ROOMS),
            rng.below(100),
            rng.below(10),
            512 + rng.below(15_000),
            rng.below(20_000),
            rng.below(30),
            rng.below(10),
            20 + rng.below(400),
            rng.below(10),
            rng.below(5),
        );
        for i in 0..3 {
            let _ = write!(
                s,
                r#"{}{{"sym":"{}","px":{}.{:02},"chg":{}{}.{:02},"vol":{}}}"#,
                if i > 0 { "," } else { "" },
                rng.pick(SYMS),
                10 + rng.below(900),
                rng.below(100),
                if rng.below(2) == 0 { "-" } else { "" },
                rng.below(5),
                rng.below(100),
                rng.below(5_000_000),
            );
        }
        let _ = write!(s, r#"],"owner":{{"id":{uid},"name":"{user}"}},"note":""#);
    } else {
        let _ = write!(
            s,
            r#"{{"type":"chat","seq":{seq},"conn":{conn},"ts":{ts_ms},"room":"{}","user":{{"id":{uid},"name":"{user}","status":"{}","avatar":"https://cdn.example.com/a/{uid}.png"}},"reply_to":{},"reactions":{{"thumbs_up":{},"heart":{}}},"mentions":["{}","{}"],"text":""#,
            rng.pick(ROOMS),
            rng.pick(STATUS),
            if rng.below(3) == 0 {
                "null".to_string()
            } else {
                (seq.saturating_sub(1 + rng.below(20) as u64)).to_string()
            },
            rng.below(12),
            rng.below(4),
            rng.pick(NAMES),
            rng.pick(NAMES),
        );
    }
    // Text up to the size, then the closing `"}`.
    let end = size.saturating_sub(2);
    let mut first = true;
    while s.len() < end {
        let w = rng.pick(WORDS);
        if !first {
            s.push(' ');
        }
        first = false;
        let room = end - s.len();
        s.push_str(&w[..w.len().min(room)]);
    }
    s.truncate(end);
    s.push_str("\"}");
    out.clear();
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_size_valid_shape_and_varied() {
        let mut rng = Rng::new(7);
        let mut seen = std::collections::HashSet::new();
        for seq in 0..300 {
            let mut out = Vec::new();
            json(&mut rng, 3, seq, 1_700_000_000_000, 1024, &mut out);
            assert_eq!(out.len(), 1024);
            let s = std::str::from_utf8(&out).unwrap();
            assert!(s.starts_with('{') && s.ends_with("\"}"));
            assert_eq!(s.matches('{').count(), s.matches('}').count(), "{s}");
            seen.insert(out);
        }
        assert_eq!(seen.len(), 300);
        let mut out = Vec::new();
        json(&mut rng, 0, 5, 0, MIN_JSON, &mut out);
        assert_eq!(out.len(), MIN_JSON);
    }
}
