//! Socket.IO v5 packets (carried in Engine.IO messages):
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]`, with
//! binary attachments following as their own Engine.IO messages and
//! replaced in the JSON by `{"_placeholder":true,"num":n}`.
//!
//! JSON goes through `serde_json`; payloads stay raw text until someone
//! needs them parsed (the event name, placeholders), so a packet is not
//! turned into a tree and back on its way through.

use serde_json::value::RawValue;
use std::borrow::Cow;

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
        PacketType::Event | PacketType::BinaryEvent => split_event(data).map(drop),
        PacketType::Ack | PacketType::BinaryAck => array_inner(data).map(drop),
    }
}

/// The first element of a JSON array (as raw text), checking the whole
/// array without building it.
struct ArrayHead<'a> {
    first: Option<&'a RawValue>,
}

impl<'de> serde::Deserialize<'de> for ArrayHead<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ArrayHead<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ArrayHead<'de>, A::Error> {
                let first = seq.next_element::<&'de RawValue>()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(ArrayHead { first })
            }
        }
        d.deserialize_seq(V)
    }
}

/// The first element of `text` (raw, quotes included; `None` for `[]`)
/// when `text` is an array of strings without escapes or whitespace, as
/// in `["echo","hi"]`: the common shape, checked by one byte scan instead
/// of the JSON parser. `None` for any other text (valid or not), which
/// the parser then checks.
fn plain_string_array(text: &str) -> Option<Option<&str>> {
    let b = text.as_bytes();
    if b.first() != Some(&b'[') || b.last() != Some(&b']') {
        return None;
    }
    if b.len() == 2 {
        return Some(None);
    }
    let (mut i, mut first) = (1, None);
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i;
        i += 1;
        // Bytes a JSON string holds as they are: not a quote, a backslash
        // or a control character (UTF-8 is valid already: `text` is a str).
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' || b[i] < 0x20 {
                return None;
            }
            i += 1;
        }
        if i == b.len() {
            return None;
        }
        i += 1;
        first.get_or_insert(&text[start..i]);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b']') if i + 1 == b.len() => return Some(first),
            _ => return None,
        }
    }
}

/// Checks what the application hands to an emit, an ack or a broadcast:
/// an event name Socket.IO does not reserve (`None` for an ack), the
/// arguments a JSON array, and one placeholder per binary attachment (at
/// most [`MAX_ATTACHMENTS`]). Returns the array's inside (what follows
/// the name in an event packet) or why it is refused.
pub fn check_outgoing<'a>(
    event: Option<&str>,
    args: &'a str,
    attachments: usize,
) -> Result<&'a str, &'static str> {
    if event.is_some_and(|e| RESERVED_EVENTS.contains(&e)) {
        return Err("event name is reserved by Socket.IO");
    }
    let inner = array_inner(args).map_err(|_| "arguments must be a JSON array")?;
    if attachments > MAX_ATTACHMENTS {
        return Err("at most 10 binary attachments per packet");
    }
    if attachments > 0 {
        check_placeholders(args, attachments)
            .map_err(|_| "each binary attachment needs exactly one placeholder")?;
    }
    Ok(inner)
}

/// Checks that `text` is one JSON array and returns what is between its
/// brackets, trimmed ("" for an empty array).
pub fn array_inner(text: &str) -> Result<&str, ParseError> {
    if plain_string_array(text).is_none() {
        serde_json::from_str::<ArrayHead<'_>>(text).map_err(|_| ParseError::InvalidPayload)?;
    }
    let t = text.trim();
    // A valid array starts with `[` and ends with `]`.
    Ok(t[1..t.len() - 1].trim())
}

/// An event's name and its arguments: what follows the name in the array,
/// `"]"` for none or `"<args>]"` (so that `[` + it is the argument array).
/// Checks the whole array, the name's type and that it is not reserved.
pub fn split_event(data: &str) -> Result<(Cow<'_, str>, &str), ParseError> {
    let bad = ParseError::InvalidPayload;
    let first = match plain_string_array(data) {
        Some(first) => first,
        None => {
            let head: ArrayHead<'_> = serde_json::from_str(data).map_err(|_| bad)?;
            head.first.map(RawValue::get)
        }
    };
    let first = first.ok_or(bad)?;
    let name: Cow<'_, str> = match first.as_bytes()[0] {
        b'"' if !first.contains('\\') => Cow::Borrowed(&first[1..first.len() - 1]),
        b'"' => Cow::Owned(serde_json::from_str::<String>(first).map_err(|_| bad)?),
        b'-' | b'0'..=b'9' => Cow::Owned(
            serde_json::from_str::<serde_json::Number>(first)
                .map_err(|_| bad)?
                .to_string(),
        ),
        _ => return Err(bad),
    };
    if RESERVED_EVENTS.contains(&name.as_ref()) {
        return Err(bad);
    }
    // `first` lies inside `data`: what follows it is `]` or `,args]`.
    let end = first.as_ptr() as usize - data.as_ptr() as usize + first.len();
    let rest = data[end..].trim_start();
    let args = match rest.strip_prefix(',') {
        Some(r) => r.trim_start(),
        None => rest,
    };
    Ok((name, args))
}

/// Appends `["name",<inner>,<extra>]`: an event's array from its name, the
/// inside of its argument array and an extra last argument (the recovery
/// offset of a broadcast), both possibly empty.
pub fn write_event_array(out: &mut Vec<u8>, name: &str, inner: &str, extra: &str) {
    out.push(b'[');
    let _ = serde_json::to_writer(&mut *out, name);
    for part in [inner, extra] {
        if !part.is_empty() {
            out.push(b',');
            out.extend_from_slice(part.as_bytes());
        }
    }
    out.push(b']');
}

/// Appends `s` as a JSON string.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Checks the placeholders of a payload sent with `attachments` binary
/// attachments: each attachment is referred to exactly once.
pub fn check_placeholders(data: &str, attachments: usize) -> Result<(), ParseError> {
    let mut nums = placeholders(data, attachments)?;
    nums.sort_unstable();
    if nums.len() != attachments || nums.iter().enumerate().any(|(i, n)| i != *n) {
        return Err(ParseError::IllegalAttachments);
    }
    Ok(())
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
    encode_header(out, kind, attachments, nsp, id);
    out.extend_from_slice(data.as_bytes());
}

/// Appends a packet's header: everything before its JSON payload.
pub fn encode_header(
    out: &mut Vec<u8>,
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
) {
    out.push(b'0' + kind as u8);
    if kind.is_binary() {
        push_decimal(out, attachments as u64);
        out.push(b'-');
    }
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        push_decimal(out, id);
    }
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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
    fn plain_string_arrays_agree_with_the_parser() {
        fn parsed(t: &str) -> Option<Option<&str>> {
            let head = serde_json::from_str::<ArrayHead<'_>>(t).ok()?;
            Some(head.first.map(RawValue::get))
        }
        for t in [
            "[]",
            "[\"a\"]",
            "[\"echo\",\"hi there\"]",
            "[\"\",\"\"]",
            "[\"a]\",\"[b,\"]",
            "[\"é€\u{7f}\"]",
        ] {
            assert!(plain_string_array(t).is_some(), "{t}");
            assert_eq!(plain_string_array(t), parsed(t), "{t}");
        }
        // Left to the parser: other shapes, whitespace, escapes, and text
        // that is no array (valid or not).
        for t in [
            "",
            "[",
            "]",
            "[\"a\\\"b\"]",
            "[\"a\nb\"]",
            "[\"a\",1]",
            "[ \"a\"]",
            "[\"a\" ]",
            "[\"a\",]",
            "[\"a\"\"b\"]",
            "[\"a]",
            "[\"a\"]]",
            "[,]",
            "[\"a\"],[\"b\"]",
        ] {
            assert_eq!(plain_string_array(t), None, "{t}");
        }
    }

    proptest::proptest! {
        /// Whatever the byte scan accepts, the JSON parser accepts with the
        /// same first element: arrays of arbitrary strings (escapes, quotes,
        /// control characters, non-ASCII) joined with or without spaces, and
        /// arbitrary text.
        #[test]
        fn plain_string_scan_never_disagrees_with_the_parser(
            items in proptest::collection::vec(".{0,6}", 0..4),
            spaced in proptest::bool::ANY,
            noise in ".{0,12}",
        ) {
            let quoted: Vec<String> = items
                .iter()
                .map(|s| serde_json::to_string(s).unwrap())
                .collect();
            let array = format!("[{}]", quoted.join(if spaced { ", " } else { "," }));
            for t in [array.as_str(), noise.as_str(), &format!("[{noise}]")] {
                if let Some(first) = plain_string_array(t) {
                    let head = serde_json::from_str::<ArrayHead<'_>>(t);
                    proptest::prop_assert!(head.is_ok(), "scan accepted {t:?}, parser refused");
                    proptest::prop_assert_eq!(first, head.unwrap().first.map(RawValue::get));
                }
            }
        }
    }

    #[test]
    fn event_arrays() {
        let (name, args) = split_event("[\"chat\",1,{\"a\":\"b\"}]").unwrap();
        assert_eq!((name.as_ref(), args), ("chat", "1,{\"a\":\"b\"}]"));
        let (name, args) = split_event("[ \"x\\\"y\" ]").unwrap();
        assert_eq!((name.as_ref(), args), ("x\"y", "]"));
        assert_eq!(split_event("[7, 8]").unwrap().0, "7");
        for bad in [
            "[]",
            "[null]",
            "[\"connect\"]",
            "{}",
            "[\"a\",]",
            "[\"a\"] x",
        ] {
            assert!(split_event(bad).is_err(), "{bad}");
        }
        assert_eq!(array_inner(" [1, 2] ").unwrap(), "1, 2");
        assert_eq!(array_inner("[]").unwrap(), "");
        assert!(array_inner("[1,]").is_err() && array_inner("{}").is_err());
        let mut out = Vec::new();
        write_event_array(&mut out, "x\"y", "1,2", "\"9\"");
        assert_eq!(out, b"[\"x\\\"y\",1,2,\"9\"]");
        out.clear();
        write_event_array(&mut out, "e", "", "");
        assert_eq!(out, b"[\"e\"]");
        let p = "[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]";
        assert!(check_placeholders(p, 2).is_ok());
        assert!(check_placeholders(p, 3).is_err());
        assert!(check_placeholders("[1]", 1).is_err());
    }
}
