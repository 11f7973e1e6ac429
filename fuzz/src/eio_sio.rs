//! The Engine.IO and Socket.IO packet codecs.
//!
//! The first byte picks a mode:
//! - 0: an Engine.IO long-polling body is decoded; when every packet is
//!   valid, encoding them again gives the same body, which decodes to
//!   the same packets;
//! - 1: one Engine.IO text packet: decode, encode, compare;
//! - 2: a Socket.IO packet's text is decoded; encoding the packet and
//!   decoding that gives the same packet, and its payload passes the
//!   checks of its type (an event's name is not reserved, placeholders
//!   point at announced attachments);
//! - 3: a Socket.IO packet is built from fuzzed fields (type, attachments,
//!   namespace, ack id, an event name and string arguments); it encodes to
//!   text that decodes to exactly those fields, and the event's name and
//!   arguments come back out.

use crate::input::Input;
use std::borrow::Cow;
use wsrt_proto::eio::{self, Data};
use wsrt_proto::sio::{self, Packet, PacketType, MAX_ATTACHMENTS, RESERVED_EVENTS};

const EIO_TYPES: [eio::PacketType; 7] = [
    eio::PacketType::Open,
    eio::PacketType::Close,
    eio::PacketType::Ping,
    eio::PacketType::Pong,
    eio::PacketType::Message,
    eio::PacketType::Upgrade,
    eio::PacketType::Noop,
];
const SIO_TYPES: [PacketType; 7] = [
    PacketType::Connect,
    PacketType::Disconnect,
    PacketType::Event,
    PacketType::Ack,
    PacketType::ConnectError,
    PacketType::BinaryEvent,
    PacketType::BinaryAck,
];

fn eio_body(body: &str) {
    let packets: Vec<_> = eio::decode_payload(body).collect();
    assert!(!packets.is_empty(), "a body decodes to no packet at all");
    let bad = packets.iter().position(Result::is_err);
    if let Some(i) = bad {
        assert_eq!(
            i,
            packets.len() - 1,
            "packets decoded after a malformed one"
        );
        return;
    }
    let packets: Vec<_> = packets.into_iter().map(Result::unwrap).collect();
    let mut again = Vec::new();
    for p in &packets {
        if let Data::Binary(_) = p.data {
            assert_eq!(
                p.kind,
                eio::PacketType::Message,
                "binary packet not a message"
            );
        }
        eio::append_to_payload(&mut again, p.kind, &p.data);
    }
    let text = std::str::from_utf8(&again).expect("encoded body is UTF-8");
    let back: Vec<_> = eio::decode_payload(text).map(Result::unwrap).collect();
    assert_eq!(back, packets, "decode(encode(packets)) differs");
    assert!(
        text == body,
        "encode(decode(body)) differs: {body:?} -> {text:?}"
    );
}

fn eio_text(s: &str) {
    match eio::Packet::decode_text(s) {
        Ok(p) => {
            let mut out = Vec::new();
            eio::encode_text(p.kind, p.text(), &mut out);
            assert!(out == s.as_bytes(), "encode(decode(text)) differs");
        }
        Err(_) => {
            let first = s.as_bytes().first();
            assert!(!first.is_some_and(|b| (b'0'..=b'6').contains(b)));
        }
    }
}

fn sio_decoded(s: &str) {
    let Ok(p) = Packet::decode(s) else {
        return;
    };
    assert!(p.attachments <= MAX_ATTACHMENTS);
    assert!(p.kind.is_binary() || p.attachments == 0);
    assert!(
        p.nsp.starts_with('/') && !p.nsp.contains(','),
        "namespace {:?}",
        p.nsp
    );
    let mut out = Vec::new();
    sio::encode(&mut out, p.kind, p.attachments, p.nsp, p.id, p.data);
    let text = std::str::from_utf8(&out).expect("encoded packet is UTF-8");
    let back = Packet::decode(text).expect("an encoded packet does not decode");
    assert_eq!(back, p, "decode(encode(packet)) differs, via {text:?}");
    match p.kind {
        PacketType::Event | PacketType::BinaryEvent => {
            let (name, args) = sio::split_event(p.data).expect("event payload");
            assert!(!RESERVED_EVENTS.contains(&name.as_ref()));
            // `[` + the arguments is the argument array.
            let array = format!("[{args}");
            sio::array_inner(&array).expect("arguments are not an array");
        }
        PacketType::Ack | PacketType::BinaryAck => {
            sio::array_inner(p.data).expect("ack payload");
        }
        PacketType::Disconnect => assert!(p.data.is_empty()),
        _ => {}
    }
    if let Ok(nums) = sio::placeholders(p.data, p.attachments) {
        assert!(nums.iter().all(|n| *n < p.attachments));
    }
    let _ = sio::check_placeholders(p.data, p.attachments);
}

fn sio_built(input: &mut Input<'_>) {
    let head = input.byte();
    let kind = SIO_TYPES[(head % 7) as usize];
    let attachments = if kind.is_binary() {
        (input.byte() as usize) % (MAX_ATTACHMENTS + 1)
    } else {
        0
    };
    let nsp = match input.byte() % 3 {
        0 => "/".to_string(),
        1 => "/chat".to_string(),
        _ => {
            let raw = String::from_utf8_lossy(input.piece()).replace(',', "");
            format!("/{raw}")
        }
    };
    let id = match head >> 3 & 3 {
        0 => None,
        1 => Some(input.byte() as u64),
        2 => Some(u64::MAX - input.byte() as u64),
        _ => Some(input.u16() as u64 * 1_000_003),
    };
    let name = String::from_utf8_lossy(input.piece()).into_owned();
    let mut args = Vec::new();
    while !input.is_empty() && args.len() < 8 {
        args.push(String::from_utf8_lossy(input.piece()).into_owned());
    }
    let mut inner = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            inner.push(b',');
        }
        sio::write_json_string(&mut inner, a);
    }
    let inner = String::from_utf8(inner).unwrap();
    let data = match kind {
        PacketType::Connect if args.is_empty() => String::new(),
        PacketType::Connect => {
            let mut v = b"{\"token\":".to_vec();
            sio::write_json_string(&mut v, &args[0]);
            v.push(b'}');
            String::from_utf8(v).unwrap()
        }
        PacketType::Disconnect => String::new(),
        PacketType::ConnectError => {
            let mut v = Vec::new();
            sio::write_json_string(&mut v, &name);
            String::from_utf8(v).unwrap()
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let mut v = Vec::new();
            sio::write_event_array(&mut v, &name, &inner, "");
            String::from_utf8(v).unwrap()
        }
        PacketType::Ack | PacketType::BinaryAck => format!("[{inner}]"),
    };
    let mut out = Vec::new();
    sio::encode(&mut out, kind, attachments, &nsp, id, &data);
    let text = std::str::from_utf8(&out).unwrap();
    let is_event = matches!(kind, PacketType::Event | PacketType::BinaryEvent);
    let reserved = is_event && RESERVED_EVENTS.contains(&name.as_str());
    match Packet::decode(text) {
        Ok(p) => {
            assert!(!reserved, "a reserved event name was accepted");
            let want = Packet {
                kind,
                attachments,
                nsp: &nsp,
                id,
                data: &data,
            };
            assert_eq!(p, want, "decode(encode(packet)) differs, via {text:?}");
            if is_event {
                let (n, a) = sio::split_event(p.data).unwrap();
                assert_eq!(n, name, "the event name comes back differently");
                let array = format!("[{a}");
                let back = sio::array_inner(&array).unwrap();
                assert_eq!(back, inner, "the arguments come back differently");
            }
        }
        Err(e) => assert!(reserved, "a valid packet {text:?} is refused: {e:?}"),
    }
}

pub fn eio_sio(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    match mode % 4 {
        0 => eio_body(&String::from_utf8_lossy(input.rest())),
        1 => eio_text(&String::from_utf8_lossy(input.rest())),
        2 => sio_decoded(&String::from_utf8_lossy(input.rest())),
        _ => sio_built(&mut input),
    }
    // Every text packet type survives a round trip with any payload.
    let kind = EIO_TYPES[(mode as usize >> 2) % 7];
    let payload = String::from_utf8_lossy(data).replace('\u{1e}', "");
    let mut body = Vec::new();
    eio::append_to_payload(&mut body, kind, &Data::Text(&payload));
    eio::append_to_payload(&mut body, kind, &Data::Binary(Cow::Borrowed(data)));
    let text = std::str::from_utf8(&body).unwrap();
    let back: Vec<_> = eio::decode_payload(text).map(Result::unwrap).collect();
    assert_eq!(back.len(), 2);
    assert_eq!((back[0].kind, back[0].text()), (kind, payload.as_str()));
    assert_eq!(back[1].data, Data::Binary(Cow::Borrowed(data)));
}
