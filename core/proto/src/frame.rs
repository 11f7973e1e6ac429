//! WebSocket frame headers (RFC 6455 §5.2): parsing client frames and
//! encoding server frames.

/// Frame opcodes we know. Anything else is reserved and fails the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// The largest header a frame can have: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header. `opcode` is the raw nibble; validation of what is
/// allowed where belongs to the receiver, which knows the message state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// Why a header could not be parsed: only one thing can be wrong at this level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthOverflow;

/// Parses a frame header from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, otherwise the header and
/// how many bytes it took. A 64-bit length with its top bit set is an error
/// (§5.2: "the most significant bit MUST be 0").
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, LengthOverflow> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut pos) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let len = u64::from_be_bytes(buf[2..10].try_into().unwrap());
            if len >> 63 != 0 {
                return Err(LengthOverflow);
            }
            (len, 10)
        }
        n => (n as u64, 2),
    };
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some((
        FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            mask,
            payload_len,
        },
        pos,
    )))
}

/// Encodes an unmasked server frame header into `out`, returning its length.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: OpCode,
    payload_len: usize,
) -> usize {
    out[0] = (if fin { 0x80 } else { 0 }) | opcode as u8;
    if payload_len < 126 {
        out[1] = payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    }
}

/// Appends a whole unmasked server frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut hdr, true, opcode, payload.len());
    out.reserve(n + payload.len());
    out.extend_from_slice(&hdr[..n]);
    out.extend_from_slice(payload);
}

/// Close codes a peer may put on the wire (§7.4): 1000–1003, 1007–1014 and
/// the registered/private ranges 3000–4999. 1004–1006 and 1015 are reserved
/// for local use and must never be sent.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Appends a close frame. `reason` must fit: the payload is at most 125 bytes.
pub fn write_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    let mut payload = [0u8; 125];
    let len = match code {
        Some(c) => {
            // Cut an over-long reason at a character boundary: a peer fails
            // the connection on a close reason that is not UTF-8 (§8.1).
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            let r = &reason.as_bytes()[..end];
            payload[..2].copy_from_slice(&c.to_be_bytes());
            payload[2..2 + r.len()].copy_from_slice(r);
            2 + r.len()
        }
        None => 0,
    };
    write_frame(out, OpCode::Close, &payload[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_length_encodings_round_trip() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
            let mut hdr = [0u8; MAX_HEADER_LEN];
            let n = encode_header(&mut hdr, true, OpCode::Binary, len);
            assert_eq!(
                n,
                if len < 126 {
                    2
                } else if len < 65536 {
                    4
                } else {
                    10
                }
            );
            let (h, used) = parse_header(&hdr[..n]).unwrap().unwrap();
            assert_eq!(used, n);
            assert_eq!(h.payload_len, len as u64);
            assert!(h.fin);
            assert_eq!(h.opcode, 2);
            assert_eq!(h.mask, None);
        }
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        let full = [0x81u8, 0xfe, 0x01, 0x00, 1, 2, 3, 4];
        for cut in 0..full.len() {
            assert_eq!(parse_header(&full[..cut]), Ok(None), "cut {cut}");
        }
        let (h, n) = parse_header(&full).unwrap().unwrap();
        assert_eq!((h.payload_len, n, h.mask), (256, 8, Some([1, 2, 3, 4])));
    }

    #[test]
    fn top_bit_of_64_bit_length_rejected() {
        let mut buf = [0x82u8, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(parse_header(&buf), Err(LengthOverflow));
        buf[2] = 0x7f;
        assert!(parse_header(&buf).unwrap().is_some());
    }

    #[test]
    fn close_codes() {
        for c in [1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 4999] {
            assert!(is_valid_close_code(c), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(c), "{c}");
        }
    }
}
