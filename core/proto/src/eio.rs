//! Engine.IO v4 packets (the transport under Socket.IO): one packet per
//! WebSocket message, or several in an HTTP long-polling body separated by
//! the record separator (0x1e), binary ones there as `b` + base64.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::borrow::Cow;

/// The protocol revision this implements (`EIO=4` in the query).
pub const PROTOCOL: &str = "4";
/// Separates packets in a long-polling body.
pub const SEPARATOR: u8 = 0x1e;

/// Packet types, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    Open = 0,
    Close = 1,
    Ping = 2,
    Pong = 3,
    Message = 4,
    Upgrade = 5,
    Noop = 6,
}

impl PacketType {
    fn from_digit(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }

    fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// A packet's payload: text, or bytes (a binary message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    Text(&'a str),
    Binary(Cow<'a, [u8]>),
}

/// One decoded packet. Only messages may carry binary data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: PacketType,
    pub data: Data<'a>,
}

/// A packet the peer should not have sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Packet<'a> {
    /// A text packet: a type digit, then the payload.
    pub fn decode_text(s: &'a str) -> Result<Packet<'a>, Malformed> {
        let kind = s
            .as_bytes()
            .first()
            .and_then(|b| PacketType::from_digit(*b))
            .ok_or(Malformed)?;
        Ok(Packet {
            kind,
            data: Data::Text(&s[1..]),
        })
    }

    /// A binary WebSocket message: always a message packet, as it is.
    pub fn binary(b: &'a [u8]) -> Packet<'a> {
        Packet {
            kind: PacketType::Message,
            data: Data::Binary(Cow::Borrowed(b)),
        }
    }

    /// The text payload ("" for binary).
    pub fn text(&self) -> &str {
        match &self.data {
            Data::Text(t) => t,
            Data::Binary(_) => "",
        }
    }
}

/// Splits a long-polling body into packets, in order. The first malformed
/// one ends the list with an error (the session is then closed).
pub fn decode_payload(body: &str) -> impl Iterator<Item = Result<Packet<'_>, Malformed>> + '_ {
    let mut failed = false;
    body.split(SEPARATOR as char).map_while(move |part| {
        if failed {
            return None;
        }
        let p = match part.strip_prefix('b') {
            Some(b64) => BASE64
                .decode(b64)
                .map(|bytes| Packet {
                    kind: PacketType::Message,
                    data: Data::Binary(Cow::Owned(bytes)),
                })
                .map_err(|_| Malformed),
            None => Packet::decode_text(part),
        };
        failed = p.is_err();
        Some(p)
    })
}

/// Appends a text packet as one WebSocket message would carry it.
pub fn encode_text(kind: PacketType, payload: &str, out: &mut Vec<u8>) {
    out.reserve(1 + payload.len());
    out.push(kind.digit());
    out.extend_from_slice(payload.as_bytes());
}

/// Appends a packet to a long-polling body (with the separator first
/// unless the body is empty).
pub fn append_to_payload(out: &mut Vec<u8>, kind: PacketType, data: &Data<'_>) {
    if !out.is_empty() {
        out.push(SEPARATOR);
    }
    match data {
        Data::Text(t) => encode_text(kind, t, out),
        Data::Binary(b) => {
            out.push(b'b');
            let start = out.len();
            out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
            let n = BASE64.encode_slice(b, &mut out[start..]).unwrap_or(0);
            out.truncate(start + n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocols_examples() {
        let mut body = Vec::new();
        append_to_payload(&mut body, PacketType::Message, &Data::Text("hello"));
        append_to_payload(&mut body, PacketType::Ping, &Data::Text(""));
        append_to_payload(&mut body, PacketType::Message, &Data::Text("world"));
        assert_eq!(body, b"4hello\x1e2\x1e4world");
        let mut body = Vec::new();
        append_to_payload(&mut body, PacketType::Message, &Data::Text("hello"));
        let bin = Data::Binary(Cow::Borrowed(&[1, 2, 3, 4]));
        append_to_payload(&mut body, PacketType::Message, &bin);
        assert_eq!(body, b"4hello\x1ebAQIDBA==");
        let back: Vec<_> = decode_payload(std::str::from_utf8(&body).unwrap())
            .map(Result::unwrap)
            .collect();
        assert_eq!(back[0].text(), "hello");
        assert_eq!(back[1].data, Data::Binary(Cow::Owned(vec![1, 2, 3, 4])));
    }

    #[test]
    fn malformed_packets_end_the_payload() {
        let got: Vec<_> = decode_payload("4a\x1e9x\x1e4b").collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok() && got[1].is_err());
        assert!(Packet::decode_text("").is_err());
        assert!(decode_payload("b!!!").next().unwrap().is_err());
    }
}
