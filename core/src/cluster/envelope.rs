//! The message a server puts on the cluster bus for one publish: encoded
//! once by the publishing server, decoded once by each other server.
//!
//! ```text
//! version u8 (1) | node u64 LE | flags u8 | [excluded u64 LE]
//!   | [event length u32 LE | event] | payload
//! flags: bit 0 binary (else text), bit 1 an SSE event name follows,
//!        bits 2-3 the publish's slow-consumer policy (0: the receiving
//!        server's own, 1 drop, 2 close), bit 4 the publishing server
//!        delivered it itself (a sequenced publish it does not wait for),
//!        bit 5 the id of the connection the publish excludes follows
//!        (meaningful to the publishing server alone, which applies it
//!        when a sequenced publish comes back); other bits 0
//! ```
//!
//! The topic is not in it: it is the channel's name. A publish to a topic
//! with history is sequenced by Redis ([`super::sequence`]), which
//! prefixes the envelope with the event id it gave it:
//!
//! ```text
//! 0x02 | epoch (ASCII decimal) | ':' | sequence (ASCII decimal) | ':' | envelope
//! ```

use crate::config::SlowConsumerPolicy;
use crate::proto::MessageKind;

pub(crate) const VERSION: u8 = 1;
/// First byte of a sequenced message (written by the Lua script).
pub(crate) const SEQUENCED: u8 = 2;
const BINARY: u8 = 1;
const HAS_EVENT: u8 = 2;
const POLICY_SHIFT: u8 = 2;
const POLICY_MASK: u8 = 3 << POLICY_SHIFT;
const DELIVERED_AT_ORIGIN: u8 = 16;
const HAS_EXCLUDED: u8 = 32;
const HEADER: usize = 1 + 8 + 1;

/// One publish as it crosses the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// The server that published it.
    pub node: u64,
    pub kind: MessageKind,
    pub sse_event: Option<&'a str>,
    pub on_slow: Option<SlowConsumerPolicy>,
    /// The publishing server delivered it to its own subscribers already.
    pub delivered_at_origin: bool,
    /// The connection of the publishing server the publish excludes.
    pub excluded: Option<crate::ConnId>,
    pub payload: &'a [u8],
}

impl Envelope<'_> {
    pub fn encode(&self) -> Vec<u8> {
        let event = self.sse_event.map_or(0, |e| 4 + e.len());
        let mut v = Vec::with_capacity(HEADER + event + self.payload.len());
        v.push(VERSION);
        v.extend_from_slice(&self.node.to_le_bytes());
        let policy = match self.on_slow {
            None => 0,
            Some(SlowConsumerPolicy::Drop) => 1,
            Some(SlowConsumerPolicy::Close) => 2,
        };
        let mut flags = policy << POLICY_SHIFT;
        if self.kind == MessageKind::Binary {
            flags |= BINARY;
        }
        if self.sse_event.is_some() {
            flags |= HAS_EVENT;
        }
        if self.delivered_at_origin {
            flags |= DELIVERED_AT_ORIGIN;
        }
        if self.excluded.is_some() {
            flags |= HAS_EXCLUDED;
        }
        v.push(flags);
        if let Some(x) = self.excluded {
            v.extend_from_slice(&x.raw().to_le_bytes());
        }
        if let Some(e) = self.sse_event {
            v.extend_from_slice(&(e.len() as u32).to_le_bytes());
            v.extend_from_slice(e.as_bytes());
        }
        v.extend_from_slice(self.payload);
        v
    }
}

impl Envelope<'_> {
    /// The publish it carries, for the loop to deliver; `ours`: this
    /// server published it (so its exclusion applies here).
    pub fn to_remote(self, topic: Option<String>, id: Option<u64>, ours: bool) -> super::Remote {
        super::Remote {
            topic,
            kind: self.kind,
            data: bytes::Bytes::copy_from_slice(self.payload),
            sse_event: self.sse_event.map(str::to_string),
            on_slow: self.on_slow,
            id,
            exclude: self.excluded.filter(|_| ours),
        }
    }
}

/// Reads an envelope; anything malformed (another version, a truncated
/// header, unknown flags, an event name or a text that is not UTF-8) is
/// refused with what is wrong.
pub(crate) fn decode(b: &[u8]) -> Result<Envelope<'_>, &'static str> {
    if b.len() < HEADER {
        return Err("shorter than the header");
    }
    if b[0] != VERSION {
        return Err("unknown version");
    }
    let node = u64::from_le_bytes(b[1..9].try_into().expect("8 bytes"));
    let flags = b[9];
    if flags & !(BINARY | HAS_EVENT | POLICY_MASK | DELIVERED_AT_ORIGIN | HAS_EXCLUDED) != 0 {
        return Err("unknown flags");
    }
    let on_slow = match (flags & POLICY_MASK) >> POLICY_SHIFT {
        0 => None,
        1 => Some(SlowConsumerPolicy::Drop),
        2 => Some(SlowConsumerPolicy::Close),
        _ => return Err("unknown slow-consumer policy"),
    };
    let mut rest = &b[HEADER..];
    let excluded = match flags & HAS_EXCLUDED {
        0 => None,
        _ => {
            let raw = rest.get(..8).ok_or("truncated excluded connection")?;
            rest = &rest[8..];
            Some(crate::ConnId::from_raw(u64::from_le_bytes(
                raw.try_into().expect("8 bytes"),
            )))
        }
    };
    let sse_event = match flags & HAS_EVENT {
        0 => None,
        _ => {
            if rest.len() < 4 {
                return Err("truncated event name");
            }
            let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            let name = rest.get(4..4 + n).ok_or("truncated event name")?;
            rest = &rest[4 + n..];
            let name = std::str::from_utf8(name).map_err(|_| "event name is not UTF-8")?;
            if name.contains(['\r', '\n', '\0']) {
                return Err("event name has CR, LF or NUL");
            }
            Some(name)
        }
    };
    let kind = match flags & BINARY {
        0 => {
            simdutf8::basic::from_utf8(rest).map_err(|_| "text is not UTF-8")?;
            MessageKind::Text
        }
        _ => MessageKind::Binary,
    };
    Ok(Envelope {
        node,
        kind,
        sse_event,
        on_slow,
        delivered_at_origin: flags & DELIVERED_AT_ORIGIN != 0,
        excluded,
        payload: rest,
    })
}

/// Splits a message off the bus into the event id Redis gave it (a
/// sequenced publish) and the envelope.
pub(crate) fn split_sequenced(b: &[u8]) -> Result<(Option<u64>, &[u8]), &'static str> {
    if b.first() != Some(&SEQUENCED) {
        return Ok((None, b));
    }
    let mut parts = b[1..].splitn(3, |&c| c == b':');
    let mut number = || -> Option<u64> {
        let digits = parts.next()?;
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let (Some(epoch), Some(seq)) = (number(), number()) else {
        return Err("malformed sequence prefix");
    };
    let rest = parts.next().ok_or("malformed sequence prefix")?;
    let id = crate::event_id::cluster_id(epoch, seq).ok_or("sequence out of range")?;
    Ok((Some(id), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_what_encode_wrote() {
        let cases = [
            Envelope {
                node: 0,
                kind: MessageKind::Text,
                sse_event: None,
                on_slow: None,
                delivered_at_origin: false,
                excluded: None,
                payload: b"",
            },
            Envelope {
                node: u64::MAX,
                kind: MessageKind::Text,
                sse_event: Some("price"),
                on_slow: Some(SlowConsumerPolicy::Drop),
                delivered_at_origin: true,
                excluded: Some(crate::ConnId::from_raw(0x1234_5678_9abc)),
                payload: "h\u{e9}llo".as_bytes(),
            },
            Envelope {
                node: 0x0123_4567_89ab_cdef,
                kind: MessageKind::Binary,
                sse_event: Some(""),
                on_slow: Some(SlowConsumerPolicy::Close),
                delivered_at_origin: false,
                excluded: None,
                payload: &[0, 0xff, 0xfe, 1],
            },
        ];
        for e in cases {
            let bytes = e.encode();
            assert_eq!(decode(&bytes), Ok(e));
        }
        let big = vec![7u8; 100_000];
        let e = Envelope {
            node: 9,
            kind: MessageKind::Binary,
            sse_event: None,
            on_slow: None,
            delivered_at_origin: false,
            excluded: None,
            payload: &big,
        };
        assert_eq!(e.encode().len(), HEADER + big.len());
        assert_eq!(decode(&e.encode()), Ok(e));
    }

    #[test]
    fn garbage_is_refused() {
        let good = Envelope {
            node: 5,
            kind: MessageKind::Text,
            sse_event: Some("tick"),
            on_slow: None,
            delivered_at_origin: false,
            excluded: None,
            payload: b"data",
        }
        .encode();
        assert_eq!(decode(b""), Err("shorter than the header"));
        assert_eq!(decode(&good[..HEADER - 1]), Err("shorter than the header"));
        let mut v = good.clone();
        v[0] = 3;
        assert_eq!(decode(&v), Err("unknown version"));
        let mut v = good.clone();
        v[9] |= 0x80;
        assert_eq!(decode(&v), Err("unknown flags"));
        let mut v = good.clone();
        v[9] |= POLICY_MASK;
        assert_eq!(decode(&v), Err("unknown slow-consumer policy"));
        // The event name's length runs past the end.
        assert_eq!(decode(&good[..HEADER + 6]), Err("truncated event name"));
        assert_eq!(decode(&good[..HEADER + 2]), Err("truncated event name"));
        let mut v = good.clone();
        v[HEADER..HEADER + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&v), Err("truncated event name"));
        let mut v = good.clone();
        v[HEADER + 4] = 0xff;
        assert_eq!(decode(&v), Err("event name is not UTF-8"));
        let mut v = good.clone();
        v[HEADER + 4] = b'\n';
        assert_eq!(decode(&v), Err("event name has CR, LF or NUL"));
        let mut v = good.clone();
        v.push(0xc3); // half of a two-byte character
        assert_eq!(decode(&v), Err("text is not UTF-8"));
        // The same bytes are a fine binary message.
        v[9] |= BINARY;
        assert_eq!(decode(&v).unwrap().kind, MessageKind::Binary);
    }

    #[test]
    fn a_sequenced_message_carries_its_id_before_the_envelope() {
        let env = b"\x01rest";
        assert_eq!(split_sequenced(env), Ok((None, &env[..])));
        let epoch = crate::event_id::CLUSTER_EPOCH + 5;
        let msg = [&[SEQUENCED][..], format!("{epoch}:42:").as_bytes(), env].concat();
        let (id, rest) = split_sequenced(&msg).unwrap();
        assert_eq!(id, Some(epoch << 33 | 42));
        assert_eq!(rest, env);
        for bad in [&b"\x02"[..], b"\x02:1:", b"\x021:", b"\x02x:1:", b"\x021:2"] {
            assert_eq!(
                split_sequenced(bad),
                Err("malformed sequence prefix"),
                "{bad:?}"
            );
        }
        // Epoch 1 is a server's own tag, not Redis's; sequence 0 is never given.
        assert_eq!(split_sequenced(b"\x021:5:x"), Err("sequence out of range"));
        let zero = format!("\x02{epoch}:0:x");
        assert_eq!(
            split_sequenced(zero.as_bytes()),
            Err("sequence out of range")
        );
    }
}
