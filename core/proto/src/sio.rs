//! Socket.IO v5 packets (carried in Engine.IO messages):
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]`, with
//! binary attachments following as their own Engine.IO messages and
//! replaced in the JSON by `{"_placeholder":true,"num":n}`.
//!
//! JSON goes through `serde_json`; payloads stay raw text until someone
//! needs them parsed (the event name, placeholders), so a packet is not
//! turned into a tree and back on its way through.

use serde_json::value::RawValue;

/// Packet types, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl PacketType {
    fn from_digit(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// `BinaryEvent` for `Event`, `BinaryAck` for `Ack`.
    pub fn binary(self) -> PacketType {
        match self {
            PacketType::Event => PacketType::BinaryEvent,
            PacketType::Ack => PacketType::BinaryAck,
            t => t,
        }
    }

    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// Event names the protocol keeps for itself (a client may not send them).
pub const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Most binary attachments one packet may announce (the reference
/// parser's default).
pub const MAX_ATTACHMENTS: usize = 10;

/// A decoded packet: the header fields and the JSON payload as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: PacketType,
    /// Attachments that follow (binary types only).
    pub attachments: usize,
    pub nsp: &'a str,
    pub id: Option<u64>,
    /// The JSON payload ("" when absent), checked for the packet's type.
    pub data: &'a str,
}

/// Why a packet was refused; the session is closed with "parse error".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    UnknownType,
    IllegalAttachments,
    TooManyAttachments,
    InvalidPayload,
}

impl<'a> Packet<'a> {
    /// Decodes a packet's text, checking its payload as the reference
    /// parser does.
    pub fn decode(s: &'a str) -> Result<Packet<'a>, ParseError> {
        let b = s.as_bytes();
        let kind = b
            .first()
            .and_then(|c| PacketType::from_digit(*c))
            .ok_or(ParseError::UnknownType)?;
        let mut i = 1;
        let mut attachments = 0;
        if kind.is_binary() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start || b.get(i) != Some(&b'-') || i - start > 9 {
                return Err(ParseError::IllegalAttachments);
            }
            attachments = s[start..i]
                .parse()
                .map_err(|_| ParseError::IllegalAttachments)?;
            if attachments > MAX_ATTACHMENTS {
                return Err(ParseError::TooManyAttachments);
            }
            i += 1;
        }
        let mut nsp = "/";
        if b.get(i) == Some(&b'/') {
            let start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            nsp = &s[start..i];
            if i < b.len() {
                i += 1; // the comma
            }
        }
        let mut id = None;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i > start {
            // More digits than a u64 holds is not an id anyone sent.
            id = Some(
                s[start..i]
                    .parse()
                    .map_err(|_| ParseError::InvalidPayload)?,
            );
        }
        let data = &s[i..];
        check_payload(kind, data)?;
        Ok(Packet {
            kind,
            attachments,
            nsp,
            id,
            data,
        })
    }
}

/// The payload rules of each type: CONNECT an object or nothing,
/// DISCONNECT nothing, CONNECT_ERROR a string or an object, EVENT a
/// non-empty array led by a name that is not reserved (or a number), ACK
/// an array.
fn check_payload(kind: PacketType, data: &str) -> Result<(), ParseError> {
    let bad = ParseError::InvalidPayload;
    match kind {
        PacketType::Connect if data.is_empty() => Ok(()),
        PacketType::Connect => {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data)
                .map(drop)
                .map_err(|_| bad)
        }
        PacketType::Disconnect if data.is_empty() => Ok(()),
        PacketType::Disconnect => Err(bad),
        PacketType::ConnectError => serde_json::from_str::<serde_json::Value>(data)
            .ok()
            .filter(|v| v.is_string() || v.is_object())
            .map(drop)
            .ok_or(bad),
        PacketType::Event | PacketType::BinaryEvent => {
            let args = array(data)?;
            event_name(&args).map(drop)
        }
        PacketType::Ack | PacketType::BinaryAck => array(data).map(drop),
    }
}

/// The elements of a JSON array, as raw text.
pub fn array(data: &str) -> Result<Vec<&RawValue>, ParseError> {
    serde_json::from_str::<Vec<&RawValue>>(data).map_err(|_| ParseError::InvalidPayload)
}

/// An event's name: its first element, a string that is not reserved, or
/// a number (which Socket.IO allows and turns into its decimal text).
pub fn event_name(args: &[&RawValue]) -> Result<String, ParseError> {
    let first = args.first().ok_or(ParseError::InvalidPayload)?;
    match serde_json::from_str::<serde_json::Value>(first.get()) {
        Ok(serde_json::Value::String(s)) if !RESERVED_EVENTS.contains(&s.as_str()) => Ok(s),
        Ok(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ParseError::InvalidPayload),
    }
}

/// Appends a packet's text. `data` is JSON text or "" (none).
pub fn encode(
    out: &mut Vec<u8>,
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
    data: &str,
) {
    out.push(b'0' + kind as u8);
    if kind.is_binary() {
        out.extend_from_slice(attachments.to_string().as_bytes());
        out.push(b'-');
    }
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.extend_from_slice(data.as_bytes());
}

/// `["name",arg,…]` from a name and the JSON text of an array of
/// arguments.
pub fn event_payload(name: &str, args: &str) -> Result<String, ParseError> {
    let items = array(args)?;
    let mut s = String::with_capacity(name.len() + args.len() + 4);
    s.push('[');
    s.push_str(&serde_json::to_string(name).map_err(|_| ParseError::InvalidPayload)?);
    for item in items {
        s.push(',');
        s.push_str(item.get());
    }
    s.push(']');
    Ok(s)
}

/// The JSON of a placeholder for attachment `num`.
pub fn placeholder(num: usize) -> String {
    format!("{{\"_placeholder\":true,\"num\":{num}}}")
}

/// Every placeholder's attachment number in a payload, checking each is
/// below `attachments` (a packet that points past what it announced is
/// refused, as the reference parser refuses it).
pub fn placeholders(data: &str, attachments: usize) -> Result<Vec<usize>, ParseError> {
    fn walk(v: &serde_json::Value, out: &mut Vec<usize>, limit: usize) -> Result<(), ParseError> {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("_placeholder") == Some(&serde_json::Value::Bool(true)) {
                    let n = m
                        .get("num")
                        .and_then(serde_json::Value::as_u64)
                        .filter(|n| (*n as usize) < limit)
                        .ok_or(ParseError::IllegalAttachments)?;
                    out.push(n as usize);
                    return Ok(());
                }
                m.values().try_for_each(|x| walk(x, out, limit))
            }
            serde_json::Value::Array(a) => a.iter().try_for_each(|x| walk(x, out, limit)),
            _ => Ok(()),
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(data).map_err(|_| ParseError::InvalidPayload)?;
    let mut out = Vec::new();
    walk(&v, &mut out, attachments)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> Packet<'_> {
        let p = Packet::decode(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
        let mut out = Vec::new();
        encode(&mut out, p.kind, p.attachments, p.nsp, p.id, p.data);
        assert_eq!(out, s.as_bytes());
        p
    }

    #[test]
    fn the_protocols_examples() {
        assert_eq!(round_trip("0").kind, PacketType::Connect);
        let p = round_trip("0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
        assert_eq!(
            (p.nsp, p.data),
            ("/admin", "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}")
        );
        assert_eq!(round_trip("2[\"foo\"]").data, "[\"foo\"]");
        assert_eq!(round_trip("2/admin,[\"bar\"]").nsp, "/admin");
        let p = round_trip("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]");
        assert_eq!((p.kind, p.attachments), (PacketType::BinaryEvent, 1));
        assert_eq!(placeholders(p.data, 1).unwrap(), vec![0]);
        let p = round_trip("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
        assert_eq!(placeholders(p.data, 2).unwrap(), vec![0, 1]);
        assert_eq!(round_trip("212[\"foo\"]").id, Some(12));
        let p = round_trip("3/admin,13[\"bar\"]");
        assert_eq!((p.kind, p.nsp, p.id), (PacketType::Ack, "/admin", Some(13)));
        assert_eq!(
            round_trip("61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]").id,
            Some(15)
        );
        assert_eq!(round_trip("1").kind, PacketType::Disconnect);
        assert_eq!(round_trip("1/admin,").nsp, "/admin");
    }

    #[test]
    fn what_the_reference_parser_refuses() {
        for bad in [
            "",
            "9",
            "2",              // an event needs a payload
            "2[]",            // a non-empty array
            "2{}",            // an array
            "2[\"connect\"]", // a reserved name
            "2[null]",        // a name
            "2[\"x\"",        // JSON
            "0[]",            // CONNECT takes an object
            "1{}",            // DISCONNECT takes nothing
            "5[\"x\"]",       // attachments count missing
            "5a-[\"x\"]",
            "511-[\"x\"]",                  // more than 10 attachments
            "3",                            // an ack needs an array
            "299999999999999999999[\"x\"]", // an id past u64
        ] {
            assert!(Packet::decode(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Packet::decode("2[3]").map(|p| p.id), Ok(None));
        assert_eq!(
            placeholders("[\"x\",{\"_placeholder\":true,\"num\":1}]", 1),
            Err(ParseError::IllegalAttachments)
        );
    }

    #[test]
    fn event_payloads() {
        assert_eq!(
            event_payload("chat", "[1,{\"a\":\"b\"}]").unwrap(),
            "[\"chat\",1,{\"a\":\"b\"}]"
        );
        assert_eq!(event_payload("x\"y", "[]").unwrap(), "[\"x\\\"y\"]");
        let args = array("[\"chat\",1]").unwrap();
        assert_eq!(event_name(&args).unwrap(), "chat");
        assert_eq!(event_name(&array("[7]").unwrap()).unwrap(), "7");
    }
}
