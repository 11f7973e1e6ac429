//! The client side of RFC 6455 that the generator needs: the upgrade
//! request, masked frame headers, and a reader that yields whole messages,
//! answers pings and reports a server's close.

/// The RFC 6455 sample key and its accept value: every connection uses the
/// same key, and the handshake check compares against the known answer.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
pub const CLOSE: u8 = 8;
pub const PING: u8 = 9;
pub const PONG: u8 = 10;

/// The upgrade request; `extra` is more header lines, each ending in CRLF.
pub fn upgrade_request(host: &str, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Checks a response head to the upgrade request.
pub fn check_upgrade(head: &str) -> Result<(), String> {
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("upgrade refused: {status:?}"));
    }
    let accepted = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == ACCEPT
        })
    });
    if accepted {
        Ok(())
    } else {
        Err("missing or wrong Sec-WebSocket-Accept".into())
    }
}

/// Appends the header of a final client frame of `len` payload bytes. The
/// masking key is zero, so the payload that follows goes out as is: the
/// server still runs its unmasking over every byte, and the generator
/// spends nothing on it.
pub fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    put_header_rsv(out, opcode, false, len);
}

/// As `put_header`, with RSV1 set when `rsv1` (a compressed message).
pub fn put_header_rsv(out: &mut Vec<u8>, opcode: u8, rsv1: bool, len: usize) {
    out.push(0x80 | if rsv1 { 0x40 } else { 0 } | opcode);
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
}

/// One frame as a server sends it (unmasked).
#[derive(Debug, PartialEq)]
pub struct Frame<'a> {
    pub fin: bool,
    /// RSV1: a compressed message (permessage-deflate), first frame only.
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

/// Parses one frame from the front of `buf`: `Ok(None)` until it is whole.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x30 != 0 {
        return Err("RSV2 or RSV3 set in a server frame".into());
    }
    if buf[1] & 0x80 != 0 {
        return Err("masked server frame".into());
    }
    let (len, hdr) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()), 10),
        126 | 127 => return Ok(None),
        l => (l as u64, 2),
    };
    let Ok(len) = usize::try_from(len) else {
        return Err("frame length overflows".into());
    };
    if buf.len() - hdr < len {
        return Ok(None);
    }
    let frame = Frame {
        fin: buf[0] & 0x80 != 0,
        rsv1: buf[0] & 0x40 != 0,
        opcode: buf[0] & 0x0f,
        payload: &buf[hdr..hdr + len],
    };
    Ok(Some((frame, hdr + len)))
}

/// Per-connection reader state: only a fragmented message costs memory.
#[derive(Default)]
pub struct Reader {
    frag: Vec<u8>,
    frag_op: u8,
    frag_rsv1: bool,
}

impl Reader {
    /// Consumes the whole frames at the front of `data`, handing each data
    /// message to `on_msg(opcode, payload, out)`; answers pings into `out`.
    /// Returns the bytes consumed. A close from the server is an error: no
    /// scenario expects one.
    pub fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        mut on_msg: impl FnMut(u8, &[u8], &mut Vec<u8>) -> Result<(), String>,
    ) -> Result<usize, String> {
        self.feed_rsv(data, out, |op, rsv1, p, out| {
            if rsv1 {
                return Err("RSV1 set without permessage-deflate".into());
            }
            on_msg(op, p, out)
        })
    }

    /// As `feed`, for connections that negotiated permessage-deflate:
    /// `on_msg(opcode, rsv1, payload, out)`, RSV1 being that of the
    /// message's first frame (the payload is then still compressed).
    pub fn feed_rsv(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        mut on_msg: impl FnMut(u8, bool, &[u8], &mut Vec<u8>) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut pos = 0;
        while let Some((f, n)) = parse(&data[pos..])? {
            pos += n;
            if f.rsv1 && !matches!(f.opcode, TEXT | BINARY) {
                return Err(format!("RSV1 set on a frame of opcode {}", f.opcode));
            }
            match f.opcode {
                PING => {
                    put_header(out, PONG, f.payload.len());
                    out.extend_from_slice(f.payload);
                }
                PONG => {}
                CLOSE => {
                    let code = f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    return Err(format!("server closed the connection (code {code:?})"));
                }
                TEXT | BINARY if f.fin && self.frag_op == 0 => {
                    on_msg(f.opcode, f.rsv1, f.payload, out)?
                }
                TEXT | BINARY if self.frag_op == 0 => {
                    self.frag_op = f.opcode;
                    self.frag_rsv1 = f.rsv1;
                    self.frag.extend_from_slice(f.payload);
                }
                0 if self.frag_op != 0 && !f.rsv1 => {
                    self.frag.extend_from_slice(f.payload);
                    if f.fin {
                        let msg = std::mem::take(&mut self.frag);
                        let op = std::mem::replace(&mut self.frag_op, 0);
                        on_msg(op, self.frag_rsv1, &msg, out)?;
                    }
                }
                op => return Err(format!("unexpected frame opcode {op}")),
            }
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        put_header(&mut f, op, payload.len());
        f.truncate(f.len() - 4); // no mask key
        f[0] = (f[0] & 0x0f) | if fin { 0x80 } else { 0 };
        f[1] &= 0x7f;
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn header_lengths() {
        for (len, hdr) in [(0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)] {
            let mut out = Vec::new();
            put_header(&mut out, BINARY, len);
            assert_eq!(out.len(), hdr, "len {len}");
            assert_eq!(out[1] & 0x80, 0x80, "masked");
        }
    }

    #[test]
    fn reader_assembles_fragments_answers_pings_byte_by_byte() {
        let mut wire = server_frame(false, TEXT, b"hel");
        wire.extend(server_frame(true, PING, b"p"));
        wire.extend(server_frame(true, 0, b"lo"));
        wire.extend(server_frame(true, BINARY, &[7u8; 300]));
        let (mut r, mut out, mut got, mut buf) =
            (Reader::default(), Vec::new(), Vec::new(), Vec::new());
        for b in wire {
            buf.push(b);
            let n = r
                .feed(&buf, &mut out, |op, p, _| {
                    got.push((op, p.to_vec()));
                    Ok(())
                })
                .unwrap();
            buf.drain(..n);
        }
        assert!(buf.is_empty());
        assert_eq!(
            got,
            vec![(TEXT, b"hello".to_vec()), (BINARY, vec![7u8; 300])]
        );
        assert_eq!(out, [0x8a, 0x81, 0, 0, 0, 0, b'p']);
    }

    #[test]
    fn close_and_masked_frames_are_errors() {
        let mut out = Vec::new();
        let close = server_frame(true, CLOSE, &1001u16.to_be_bytes());
        assert!(Reader::default()
            .feed(&close, &mut out, |_, _, _| Ok(()))
            .is_err());
        let mut masked = Vec::new();
        put_header(&mut masked, BINARY, 0);
        assert!(parse(&masked).is_err());
    }

    #[test]
    fn rsv1_only_where_deflate_was_agreed() {
        let mut first = server_frame(false, TEXT, b"ab");
        first[0] |= 0x40;
        let mut wire = first.clone();
        wire.extend(server_frame(true, 0, b"cd"));
        let mut out = Vec::new();
        assert!(Reader::default()
            .feed(&wire, &mut out, |_, _, _| Ok(()))
            .is_err());
        let mut got = Vec::new();
        Reader::default()
            .feed_rsv(&wire, &mut out, |op, rsv1, p, _| {
                got.push((op, rsv1, p.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(got, vec![(TEXT, true, b"abcd".to_vec())]);
        let mut ping = server_frame(true, PING, b"");
        ping[0] |= 0x40;
        assert!(Reader::default()
            .feed_rsv(&ping, &mut out, |_, _, _, _| Ok(()))
            .is_err());
    }

    #[test]
    fn upgrade_check() {
        let ok = format!("HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: {ACCEPT}\r\n");
        assert!(check_upgrade(&ok).is_ok());
        assert!(check_upgrade("HTTP/1.1 404 Not Found\r\n").is_err());
        assert!(check_upgrade("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: x\r\n").is_err());
    }
}
