//! A Socket.IO broadcast (room emit) as it crosses the bus, on the channel
//! `wsrt:sio`: encoded once by the emitting server, decoded once by each
//! other server, which delivers it to its own sockets of the namespace and
//! rooms.
//!
//! ```text
//! version u8 (3) | node u64 LE | namespace | event | args
//!   | rooms: count u32 LE, each a string | except rooms: the same
//!   | attachments: count u32 LE, each bytes
//! string, bytes: length u32 LE | content
//! ```
//!
//! The socket a broadcast excepts (the sender) lives on the emitting
//! server only, so it is not sent.

use crate::pubsub::{Broadcast, OwnedBroadcast};
use bytes::Bytes;

const VERSION: u8 = 3;
/// Most rooms or attachments in one broadcast read off the bus.
const MAX_ITEMS: usize = 1 << 16;

pub(crate) fn encode(node: u64, b: &Broadcast<'_>) -> Vec<u8> {
    let strings = |l: &[&str]| l.iter().map(|s| 4 + s.len()).sum::<usize>() + 4;
    let len = 9
        + 12
        + b.namespace.len()
        + b.event.len()
        + b.args.len()
        + strings(b.rooms)
        + strings(b.except_rooms)
        + b.attachments.iter().map(|a| 4 + a.len()).sum::<usize>()
        + 4;
    let mut v = Vec::with_capacity(len);
    v.push(VERSION);
    v.extend_from_slice(&node.to_le_bytes());
    let put = |v: &mut Vec<u8>, b: &[u8]| {
        v.extend_from_slice(&(b.len() as u32).to_le_bytes());
        v.extend_from_slice(b);
    };
    for s in [b.namespace, b.event, b.args] {
        put(&mut v, s.as_bytes());
    }
    for list in [b.rooms, b.except_rooms] {
        v.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for s in list {
            put(&mut v, s.as_bytes());
        }
    }
    v.extend_from_slice(&(b.attachments.len() as u32).to_le_bytes());
    for a in b.attachments {
        put(&mut v, a);
    }
    v
}

/// Reads a broadcast and the node that sent it; anything malformed is
/// refused with what is wrong. The arguments are checked again, as a local
/// broadcast's are, when the loop delivers it.
pub(crate) fn decode(b: &[u8]) -> Result<(u64, OwnedBroadcast), &'static str> {
    let mut r = Reader(b);
    if r.take(1)? != [VERSION] {
        return Err("unknown version");
    }
    let node = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let namespace = r.string()?;
    let event = r.string()?;
    let args = r.string()?;
    let rooms = r.strings()?;
    let except_rooms = r.strings()?;
    let n = r.count()?;
    let attachments = (0..n)
        .map(|_| r.bytes().map(Bytes::copy_from_slice))
        .collect::<Result<Vec<_>, _>>()?;
    if !r.0.is_empty() {
        return Err("bytes after the end");
    }
    Ok((
        node,
        OwnedBroadcast {
            namespace,
            rooms,
            except_rooms,
            except: None,
            event,
            args,
            attachments,
        },
    ))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn count(&mut self) -> Result<usize, &'static str> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        match n <= MAX_ITEMS {
            true => Ok(n),
            false => Err("too many items"),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let b = self.bytes()?;
        simdutf8::basic::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| "a string is not UTF-8")
    }

    fn strings(&mut self) -> Result<Vec<String>, &'static str> {
        let n = self.count()?;
        (0..n).map(|_| self.string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_what_encode_wrote_without_the_sender() {
        let bin: &[u8] = &[0, 1, 0xff];
        let b = Broadcast {
            namespace: "/chat",
            rooms: &["r1", "r\u{e9}2"],
            except_rooms: &["muted"],
            except: Some(crate::ConnId::from_raw(7)),
            event: "msg",
            args: r#"["hi",{"_placeholder":true,"num":0}]"#,
            attachments: &[bin, b""],
        };
        let v = encode(42, &b);
        let (node, got) = decode(&v).unwrap();
        assert_eq!(node, 42);
        let mut want = OwnedBroadcast::new(&b);
        want.except = None;
        assert_eq!(got, want);
        let empty = Broadcast::new("/", "e", "[]");
        assert_eq!(
            decode(&encode(1, &empty)).unwrap().1,
            OwnedBroadcast::new(&empty)
        );
    }

    #[test]
    fn garbage_is_refused() {
        let v = encode(1, &Broadcast::new("/", "e", "[1]"));
        for cut in 0..v.len() {
            assert!(decode(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = v.clone();
        extra.push(0);
        assert_eq!(decode(&extra), Err("bytes after the end"));
        let mut bad = v.clone();
        bad[0] = 1;
        assert_eq!(decode(&bad), Err("unknown version"));
        let mut bad = v.clone();
        bad[13] = 0xff; // the namespace "/"
        assert_eq!(decode(&bad), Err("a string is not UTF-8"));
        let mut huge = v[..9 + 3 * 4 + 1 + 1 + 3].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), Err("too many items"));
    }
}
