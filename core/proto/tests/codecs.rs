//! Unit and property tests for the sans-I/O codecs in `wsrt::proto`.
//!
//! The client side of the WebSocket wire format (masked frames) is encoded
//! here, independently of the crate, so the receiver is checked against a
//! second implementation of RFC 6455 §5.2 rather than against itself.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use wsrt_proto::frame::{
    encode_header, is_valid_close_code, parse_header, write_close, write_frame, FrameHeader,
    LengthOverflow, OpCode, MAX_HEADER_LEN,
};
use wsrt_proto::http::{
    accept_key, check_common, choose_protocol, parse_request, reason_phrase, validate_websocket,
    write_error, write_event_stream_head, write_response, write_switching_protocols, HeadLimits,
    HttpError, PackedHead, Parsed, RequestHead,
};
use wsrt_proto::mask::apply_mask;
use wsrt_proto::sse::{encode_comment, encode_event, validate, SseError, SseEvent};
use wsrt_proto::utf8::Utf8Validator;
use wsrt_proto::ws::{
    parse_close_payload, Incoming, ProtocolError, Receiver, INVALID_PAYLOAD, MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
};

// ---------------------------------------------------------------------------
// Client-side frame encoder (test code, deliberately independent of the crate)
// ---------------------------------------------------------------------------

const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BIN: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A large limit for tests that are not about the limit.
const BIG: usize = 64 << 20;

/// A frame header as a client would write it, with the minimal length
/// encoding for `len` (the 64-bit form is used for anything over 65535, so
/// a `len` with the top bit set is written as is).
fn header(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![(if fin { 0x80 } else { 0 }) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
    out
}

/// A whole frame; the payload is masked byte by byte with `mask` if given.
fn raw_frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, rsv, opcode, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    out
}

/// A well-formed masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, Some(MASK), payload)
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, CLOSE, &p)
}

fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

// ---------------------------------------------------------------------------
// Driving a Receiver
// ---------------------------------------------------------------------------

/// An owned copy of what the receiver emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Compressed(bool, Vec<u8>),
}

impl From<Incoming<'_>> for Ev {
    fn from(i: Incoming<'_>) -> Ev {
        match i {
            Incoming::Text(s) => Ev::Text(s.to_string()),
            Incoming::Binary(b) => Ev::Binary(b.to_vec()),
            Incoming::Gathered {
                text: true,
                payload,
            } => Ev::Text(String::from_utf8(payload.to_vec()).unwrap()),
            Incoming::Gathered {
                text: false,
                payload,
            } => Ev::Binary(payload.to_vec()),
            Incoming::Ping(b) => Ev::Ping(b.to_vec()),
            Incoming::Pong(b) => Ev::Pong(b.to_vec()),
            Incoming::Close(c, r) => Ev::Close(c, r.to_string()),
            Incoming::Compressed { text, payload } => Ev::Compressed(text, payload.to_vec()),
        }
    }
}

fn text(s: &str) -> Ev {
    Ev::Text(s.to_string())
}

fn binary(b: &[u8]) -> Ev {
    Ev::Binary(b.to_vec())
}

/// Feeds `stream` to `rx` in pieces ending at each of `cuts` (sorted, may
/// repeat, clamped to the stream) and then the rest. Stops at the first error.
fn feed_cuts(
    rx: &mut Receiver,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Ev>, Result<(), ProtocolError>) {
    let mut buf = stream.to_vec();
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        let end = end.clamp(start, stream.len());
        let r = rx.feed(&mut buf[start..end], &mut |i| events.push(Ev::from(i)));
        if r.is_err() {
            return (events, r);
        }
        start = end;
    }
    (events, Ok(()))
}

fn feed_whole(max: usize, stream: &[u8]) -> (Vec<Ev>, Result<(), ProtocolError>) {
    feed_cuts(&mut Receiver::new(max), stream, &[])
}

fn feed_bytewise(max: usize, stream: &[u8]) -> (Vec<Ev>, Result<(), ProtocolError>) {
    let cuts: Vec<usize> = (1..stream.len()).collect();
    feed_cuts(&mut Receiver::new(max), stream, &cuts)
}

/// Every way of feeding `stream` we try: whole, one byte at a time, and (for
/// small streams) split in two at every position.
fn feedings(max: usize, stream: &[u8]) -> Vec<(String, Vec<Ev>, Result<(), ProtocolError>)> {
    let mut out = Vec::new();
    let (e, r) = feed_whole(max, stream);
    out.push(("whole".to_string(), e, r));
    let (e, r) = feed_bytewise(max, stream);
    out.push(("bytewise".to_string(), e, r));
    if stream.len() <= 2048 {
        for cut in 0..=stream.len() {
            let (e, r) = feed_cuts(&mut Receiver::new(max), stream, &[cut]);
            out.push((format!("split at {cut}"), e, r));
        }
    }
    out
}

/// Asserts that however `stream` is fed, it yields `expected` and no error.
#[track_caller]
fn expect_ok_max(max: usize, stream: &[u8], expected: &[Ev]) {
    for (how, events, result) in feedings(max, stream) {
        assert_eq!(result, Ok(()), "{how}");
        assert_eq!(events, expected, "{how}");
    }
}

#[track_caller]
fn expect_ok(stream: &[u8], expected: &[Ev]) {
    expect_ok_max(BIG, stream, expected)
}

/// Asserts that however `stream` is fed, the receiver fails with `code`
/// after delivering exactly `before`.
#[track_caller]
fn expect_error_max(max: usize, stream: &[u8], code: u16, before: &[Ev]) {
    for (how, events, result) in feedings(max, stream) {
        match result {
            Err(e) => {
                assert_eq!(e.code, code, "{how}: {e:?}");
                assert!(!e.reason.is_empty(), "{how}: error without a reason");
            }
            Ok(()) => panic!("{how}: expected close code {code}, got Ok with {events:?}"),
        }
        assert_eq!(events, before, "{how}");
    }
}

#[track_caller]
fn expect_error(stream: &[u8], code: u16) {
    expect_error_max(BIG, stream, code, &[])
}

/// Feeds exactly `bytes` as a single read and returns the result.
fn feed_once(rx: &mut Receiver, bytes: &[u8]) -> (Vec<Ev>, Result<(), ProtocolError>) {
    feed_cuts(rx, bytes, &[])
}

// ---------------------------------------------------------------------------
// Receiver: error paths
// ---------------------------------------------------------------------------

#[test]
fn unmasked_client_frames_fail_with_1002() {
    for (opcode, payload) in [
        (TEXT, &b"hello"[..]),
        (BIN, b""),
        (PING, b"p"),
        (PONG, b""),
        (CLOSE, b"\x03\xe8"),
    ] {
        expect_error(&raw_frame(true, 0, opcode, None, payload), PROTOCOL_ERROR);
    }
    // Also when an unmasked continuation follows a good first fragment.
    let stream = cat(&[
        frame(false, TEXT, b"ab"),
        raw_frame(true, 0, CONT, None, b"c"),
    ]);
    expect_error(&stream, PROTOCOL_ERROR);
    // And after a complete, delivered message.
    let stream = cat(&[frame(true, BIN, b"ok"), raw_frame(true, 0, BIN, None, b"x")]);
    expect_error_max(BIG, &stream, PROTOCOL_ERROR, &[binary(b"ok")]);
}

#[test]
fn reserved_bits_fail_with_1002() {
    for rsv in 1..8u8 {
        for opcode in [TEXT, BIN, PING, PONG, CLOSE] {
            expect_error(
                &raw_frame(true, rsv, opcode, Some(MASK), b""),
                PROTOCOL_ERROR,
            );
        }
        let stream = cat(&[
            frame(false, TEXT, b"a"),
            raw_frame(true, rsv, CONT, Some(MASK), b"b"),
        ]);
        expect_error(&stream, PROTOCOL_ERROR);
    }
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    for opcode in (3..=7).chain(0xB..=0xF) {
        for fin in [true, false] {
            expect_error(&frame(fin, opcode, b""), PROTOCOL_ERROR);
            expect_error(&frame(fin, opcode, b"payload"), PROTOCOL_ERROR);
        }
        // Inside a fragmented message too.
        let stream = cat(&[frame(false, BIN, b"a"), frame(true, opcode, b"")]);
        expect_error(&stream, PROTOCOL_ERROR);
    }
}

#[test]
fn fragmented_control_frames_fail_with_1002() {
    for opcode in [PING, PONG, CLOSE] {
        expect_error(&frame(false, opcode, b""), PROTOCOL_ERROR);
        expect_error(&frame(false, opcode, b"\x03\xe8"), PROTOCOL_ERROR);
    }
}

#[test]
fn control_frames_over_125_bytes_fail_with_1002() {
    for opcode in [PING, PONG, CLOSE] {
        let mut p = vec![b'x'; 126];
        p[0] = 0x03;
        p[1] = 0xe8;
        expect_error(&frame(true, opcode, &p), PROTOCOL_ERROR);
        // Rejected from the header alone, before any payload arrives.
        for len in [126u64, 65535, 65536, 1 << 40] {
            let h = header(true, 0, opcode, Some(MASK), len);
            let (_, r) = feed_once(&mut Receiver::new(BIG), &h);
            assert_eq!(r.map_err(|e| e.code), Err(PROTOCOL_ERROR), "{opcode} {len}");
        }
        // 125 is fine.
        let (_, r) = feed_whole(BIG, &frame(true, opcode, &p[..125]));
        assert_eq!(r, Ok(()));
    }
}

#[test]
fn continuation_without_a_message_fails_with_1002() {
    for fin in [true, false] {
        expect_error(&frame(fin, CONT, b""), PROTOCOL_ERROR);
        expect_error(&frame(fin, CONT, b"data"), PROTOCOL_ERROR);
        // After a message has finished there is nothing to continue either.
        let stream = cat(&[frame(true, TEXT, b"done"), frame(fin, CONT, b"more")]);
        expect_error_max(BIG, &stream, PROTOCOL_ERROR, &[text("done")]);
        let stream = cat(&[
            frame(false, BIN, b"a"),
            frame(true, CONT, b"b"),
            frame(fin, CONT, b"c"),
        ]);
        expect_error_max(BIG, &stream, PROTOCOL_ERROR, &[binary(b"ab")]);
    }
}

#[test]
fn new_data_frame_inside_fragmented_message_fails_with_1002() {
    for first in [TEXT, BIN] {
        for second in [TEXT, BIN] {
            for fin in [true, false] {
                let stream = cat(&[frame(false, first, b"abc"), frame(fin, second, b"def")]);
                expect_error(&stream, PROTOCOL_ERROR);
                // Also after a continuation and an interleaved ping.
                let stream = cat(&[
                    frame(false, first, b"abc"),
                    frame(false, CONT, b"def"),
                    frame(true, PING, b"p"),
                    frame(fin, second, b"ghi"),
                ]);
                expect_error_max(BIG, &stream, PROTOCOL_ERROR, &[Ev::Ping(b"p".to_vec())]);
            }
        }
    }
}

#[test]
fn sixty_four_bit_length_with_top_bit_fails_with_1002() {
    for len in [1u64 << 63, u64::MAX, (1 << 63) | 5] {
        // The length alone (first 10 bytes) is enough to decide.
        let h = header(true, 0, BIN, Some(MASK), len);
        assert_eq!(h.len(), 14);
        for upto in [10, 14] {
            let (_, r) = feed_once(&mut Receiver::new(usize::MAX), &h[..upto]);
            assert_eq!(
                r.map_err(|e| e.code),
                Err(PROTOCOL_ERROR),
                "{len:#x} {upto}"
            );
            let (_, r) = feed_bytewise(usize::MAX, &h[..upto]);
            assert_eq!(
                r.map_err(|e| e.code),
                Err(PROTOCOL_ERROR),
                "{len:#x} {upto}"
            );
        }
        // Nine bytes: not decided yet.
        let (_, r) = feed_once(&mut Receiver::new(usize::MAX), &h[..9]);
        assert_eq!(r, Ok(()));
    }
}

#[test]
fn invalid_utf8_in_text_fails_with_1007() {
    for bad in [
        &b"\xff"[..],
        b"abc\xc0\xaf",
        b"\xed\xa0\x80",             // surrogate
        b"\xf4\x90\x80\x80",         // above U+10FFFF
        b"\xe0\x80\xaf",             // overlong
        b"valid \xce\xba then \x80", // stray continuation
    ] {
        expect_error(&frame(true, TEXT, bad), INVALID_PAYLOAD);
        // As a middle fragment.
        let stream = cat(&[
            frame(false, TEXT, "κό".as_bytes()),
            frame(false, CONT, bad),
            frame(true, CONT, b"end"),
        ]);
        expect_error(&stream, INVALID_PAYLOAD);
    }
    // The same bytes are fine as binary.
    expect_ok(&frame(true, BIN, b"\xff\xfe"), &[binary(b"\xff\xfe")]);
}

#[test]
fn invalid_utf8_fails_fast() {
    // The first fragment is bad and no more is ever sent: the error comes
    // with the first fragment, not at the end of the message.
    let first = frame(false, TEXT, b"hello \xf5 world");
    let (events, r) = feed_once(&mut Receiver::new(BIG), &first);
    assert_eq!(r.map_err(|e| e.code), Err(INVALID_PAYLOAD));
    assert!(events.is_empty());
    let (_, r) = feed_bytewise(BIG, &first);
    assert_eq!(r.map_err(|e| e.code), Err(INVALID_PAYLOAD));

    // Within a single frame whose payload has not all arrived: the frame
    // declares 1000 bytes, only a bad prefix is sent.
    let mut partial = header(true, 0, TEXT, Some(MASK), 1000);
    let mut p = b"abc\xc3\x28".to_vec(); // C3 must be followed by a continuation byte
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= MASK[i % 4];
    }
    partial.extend_from_slice(&p);
    let (_, r) = feed_once(&mut Receiver::new(BIG), &partial);
    assert_eq!(r.map_err(|e| e.code), Err(INVALID_PAYLOAD));
    let (_, r) = feed_bytewise(BIG, &partial);
    assert_eq!(r.map_err(|e| e.code), Err(INVALID_PAYLOAD));

    // A sequence cut between fragments is completed wrongly by the next one:
    // the error comes with that fragment, the final one is never sent.
    let stream = cat(&[frame(false, TEXT, b"ab\xe2\x82"), frame(false, CONT, b"x")]);
    let (_, r) = feed_whole(BIG, &stream);
    assert_eq!(r.map_err(|e| e.code), Err(INVALID_PAYLOAD));
    // ...while the first fragment alone is still acceptable.
    let (_, r) = feed_whole(BIG, &frame(false, TEXT, b"ab\xe2\x82"));
    assert_eq!(r, Ok(()));
}

#[test]
fn text_ending_inside_a_code_point_fails_with_1007() {
    for cut_char in ["€", "𝄞", "é"] {
        let bytes = cut_char.as_bytes();
        for keep in 1..bytes.len() {
            let mut p = b"abc".to_vec();
            p.extend_from_slice(&bytes[..keep]);
            expect_error(&frame(true, TEXT, &p), INVALID_PAYLOAD);
            // Fragmented: the dangling bytes are in the last fragment...
            let stream = cat(&[
                frame(false, TEXT, b"abc"),
                frame(true, CONT, &bytes[..keep]),
            ]);
            expect_error(&stream, INVALID_PAYLOAD);
            // ...or an empty final fragment leaves them dangling.
            let stream = cat(&[frame(false, TEXT, &p), frame(true, CONT, b"")]);
            expect_error(&stream, INVALID_PAYLOAD);
        }
    }
    // Completed by the next fragment it is fine.
    let stream = cat(&[
        frame(false, TEXT, b"\xe2"),
        frame(false, CONT, b"\x82"),
        frame(true, CONT, b"\xac!"),
    ]);
    expect_ok(&stream, &[text("€!")]);
}

#[test]
fn message_over_limit_fails_with_1009_from_the_header() {
    let max = 1000;
    for opcode in [TEXT, BIN] {
        // Exactly at the limit is fine.
        let ok = frame(true, opcode, &vec![b'a'; max]);
        let expected = if opcode == TEXT {
            Ev::Text("a".repeat(max))
        } else {
            Ev::Binary(vec![b'a'; max])
        };
        expect_ok_max(max, &ok, &[expected]);

        // One over: the header alone (no payload at all) is refused.
        for len in [max as u64 + 1, 65535, 65536, 1 << 40, (1 << 63) - 1] {
            for fin in [true, false] {
                let h = header(fin, 0, opcode, Some(MASK), len);
                let (events, r) = feed_once(&mut Receiver::new(max), &h);
                assert_eq!(r.map_err(|e| e.code), Err(MESSAGE_TOO_BIG), "{len}");
                assert!(events.is_empty());
                let (_, r) = feed_bytewise(max, &h);
                assert_eq!(r.map_err(|e| e.code), Err(MESSAGE_TOO_BIG), "{len}");
                // One header byte short: nothing decided yet.
                let (_, r) = feed_once(&mut Receiver::new(max), &h[..h.len() - 1]);
                assert_eq!(r, Ok(()));
            }
        }
    }
    // A limit of zero allows only empty messages.
    expect_ok_max(0, &frame(true, BIN, b""), &[binary(b"")]);
    expect_error_max(0, &frame(true, BIN, b"x"), MESSAGE_TOO_BIG, &[]);
}

#[test]
fn fragmented_message_over_limit_fails_with_1009() {
    let max = 1000;
    for opcode in [TEXT, BIN] {
        // 600 + 400 = 1000: fine, with a ping in between (control frames do
        // not count towards the message).
        let stream = cat(&[
            frame(false, opcode, &[b'a'; 600]),
            frame(true, PING, &[b'p'; 125]),
            frame(true, CONT, &[b'b'; 400]),
        ]);
        let mut payload = vec![b'a'; 600];
        payload.extend_from_slice(&[b'b'; 400]);
        let msg = if opcode == TEXT {
            Ev::Text(String::from_utf8(payload).unwrap())
        } else {
            Ev::Binary(payload)
        };
        expect_ok_max(max, &stream, &[Ev::Ping(vec![b'p'; 125]), msg.clone()]);

        // 600 + 401: refused when the second header arrives.
        let first = frame(false, opcode, &[b'a'; 600]);
        let second = header(true, 0, CONT, Some(MASK), 401);
        let mut rx = Receiver::new(max);
        let (_, r) = feed_once(&mut rx, &first);
        assert_eq!(r, Ok(()));
        let (_, r) = feed_once(&mut rx, &second);
        assert_eq!(r.map_err(|e| e.code), Err(MESSAGE_TOO_BIG));
        // Whole and byte by byte, with the payload after the header too.
        let mut stream = first.clone();
        stream.extend(frame(true, CONT, &[b'b'; 401]));
        expect_error_max(max, &stream, MESSAGE_TOO_BIG, &[]);

        // Many small fragments crossing the limit on the last one.
        let mut frames = vec![frame(false, opcode, &[b'x'; 100])];
        for _ in 0..8 {
            frames.push(frame(false, CONT, &[b'x'; 100]));
        }
        frames.push(frame(true, CONT, &[b'x'; 101]));
        expect_error_max(max, &cat(&frames), MESSAGE_TOO_BIG, &[]);
        let last = frames.len() - 1;
        frames[last] = frame(true, CONT, &[b'x'; 100]);
        let (events, r) = feed_whole(max, &cat(&frames));
        assert_eq!(r, Ok(()));
        assert_eq!(events.len(), 1);

        // The limit is per message: two 1000-byte messages in a row are fine.
        let stream = cat(&[
            frame(false, opcode, &[b'a'; 600]),
            frame(true, CONT, &[b'b'; 400]),
            frame(false, opcode, &[b'a'; 600]),
            frame(true, CONT, &[b'b'; 400]),
        ]);
        expect_ok_max(max, &stream, &[msg.clone(), msg.clone()]);
    }
}

#[test]
fn close_with_one_byte_payload_fails_with_1002() {
    expect_error(&frame(true, CLOSE, b"\x03"), PROTOCOL_ERROR);
    assert_eq!(
        parse_close_payload(b"\x03").map_err(|e| e.code),
        Err(PROTOCOL_ERROR)
    );
}

#[test]
fn invalid_close_codes_fail_with_1002() {
    for code in [
        0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        expect_error(&close_frame(code, b""), PROTOCOL_ERROR);
        expect_error(&close_frame(code, b"reason"), PROTOCOL_ERROR);
    }
}

#[test]
fn every_close_code_is_accepted_exactly_when_valid() {
    for code in 0..=u16::MAX {
        let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        assert_eq!(is_valid_close_code(code), valid, "{code}");
        let (events, r) = feed_whole(BIG, &close_frame(code, b"bye"));
        if valid {
            assert_eq!(r, Ok(()), "{code}");
            assert_eq!(events, vec![Ev::Close(Some(code), "bye".into())]);
        } else {
            assert_eq!(r.map_err(|e| e.code), Err(PROTOCOL_ERROR), "{code}");
            assert!(events.is_empty());
        }
    }
}

#[test]
fn valid_close_frames_are_delivered() {
    for code in (1000..=1003)
        .chain(1007..=1014)
        .chain([3000, 3999, 4000, 4999])
    {
        expect_ok(
            &close_frame(code, b""),
            &[Ev::Close(Some(code), String::new())],
        );
    }
    expect_ok(&frame(true, CLOSE, b""), &[Ev::Close(None, String::new())]);
    let reason = "ünïcödé 𝄞";
    expect_ok(
        &close_frame(1000, reason.as_bytes()),
        &[Ev::Close(Some(1000), reason.into())],
    );
    // The longest possible reason: 123 bytes.
    let reason = "r".repeat(123);
    expect_ok(
        &close_frame(4000, reason.as_bytes()),
        &[Ev::Close(Some(4000), reason)],
    );
}

#[test]
fn close_reason_with_invalid_utf8_fails_with_1007() {
    for bad in [&b"\xff"[..], b"ok\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"] {
        expect_error(&close_frame(1000, bad), INVALID_PAYLOAD);
        assert_eq!(
            parse_close_payload(&[&[0x03, 0xe8][..], bad].concat()).map_err(|e| e.code),
            Err(INVALID_PAYLOAD)
        );
    }
}

#[test]
fn input_after_close_is_ignored() {
    let garbage = [
        raw_frame(true, 0, TEXT, None, b"unmasked"),
        frame(true, 0x3, b"reserved"),
        frame(true, TEXT, b"\xff"),
        vec![0xff; 40],
    ]
    .concat();
    let stream = cat(&[
        frame(true, TEXT, b"before"),
        close_frame(1001, b"going away"),
        frame(true, TEXT, b"after"),
        garbage.clone(),
    ]);
    let expected = [text("before"), Ev::Close(Some(1001), "going away".into())];
    expect_ok(&stream, &expected);

    // Later reads are ignored as well.
    let mut rx = Receiver::new(BIG);
    let (events, r) = feed_once(&mut rx, &close_frame(1000, b""));
    assert_eq!(r, Ok(()));
    assert_eq!(events, [Ev::Close(Some(1000), String::new())]);
    assert!(rx.is_closed());
    let (events, r) = feed_once(&mut rx, &garbage);
    assert_eq!(r, Ok(()));
    assert!(events.is_empty());
    let (events, r) = feed_once(&mut rx, &frame(true, PING, b"x"));
    assert_eq!(r, Ok(()));
    assert!(events.is_empty());

    // A close in the middle of a fragmented message ends it too.
    let stream = cat(&[
        frame(false, TEXT, b"never "),
        frame(true, CLOSE, b""),
        frame(true, CONT, b"finished"),
    ]);
    expect_ok(&stream, &[Ev::Close(None, String::new())]);
}

#[test]
fn receiver_is_not_closed_before_a_close_frame() {
    let mut rx = Receiver::new(BIG);
    assert!(!rx.is_closed());
    let (_, r) = feed_once(&mut rx, &frame(true, PING, b""));
    assert_eq!(r, Ok(()));
    assert!(!rx.is_closed());
    // A partly received close frame does not close yet.
    let c = close_frame(1000, b"bye");
    let (events, r) = feed_once(&mut rx, &c[..c.len() - 1]);
    assert_eq!(r, Ok(()));
    assert!(events.is_empty());
    assert!(!rx.is_closed());
    let (events, r) = feed_once(&mut rx, &c[c.len() - 1..]);
    assert_eq!(r, Ok(()));
    assert_eq!(events, [Ev::Close(Some(1000), "bye".into())]);
    assert!(rx.is_closed());
}

// ---------------------------------------------------------------------------
// Receiver: happy paths
// ---------------------------------------------------------------------------

#[test]
fn all_three_length_encodings() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 3 * 1024 * 1024 + 7] {
        let expect_header = if len < 126 {
            2
        } else if len <= 65535 {
            4
        } else {
            10
        } + 4;
        let bin: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let f = frame(true, BIN, &bin);
        assert_eq!(f.len(), expect_header + len);
        let txt: String = "aé€𝄞".chars().cycle().take(len / 4).collect();
        let t = frame(true, TEXT, txt.as_bytes());

        if len <= 65536 {
            expect_ok(&f, &[Ev::Binary(bin.clone())]);
            expect_ok(&t, &[Ev::Text(txt.clone())]);
        } else {
            let (events, r) = feed_whole(BIG, &f);
            assert_eq!(r, Ok(()));
            assert_eq!(events, [Ev::Binary(bin.clone())]);
            let (events, r) = feed_whole(BIG, &t);
            assert_eq!(r, Ok(()));
            assert_eq!(events, [Ev::Text(txt.clone())]);
            // In uneven reads, so pieces start at every mask offset.
            for chunk in [7usize, 4093, 65537] {
                let cuts: Vec<usize> = (chunk..f.len()).step_by(chunk).collect();
                let (events, r) = feed_cuts(&mut Receiver::new(BIG), &f, &cuts);
                assert_eq!(r, Ok(()), "chunk {chunk}");
                assert_eq!(events, [Ev::Binary(bin.clone())], "chunk {chunk}");
                let cuts: Vec<usize> = (chunk..t.len()).step_by(chunk).collect();
                let (events, r) = feed_cuts(&mut Receiver::new(BIG), &t, &cuts);
                assert_eq!(r, Ok(()), "chunk {chunk}");
                assert_eq!(events, [Ev::Text(txt.clone())], "chunk {chunk}");
            }
        }
    }
}

#[test]
fn large_fragmented_message_then_buffer_is_released() {
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut frames = Vec::new();
    let mut chunks = payload.chunks(700_001).peekable();
    let mut first = true;
    while let Some(c) = chunks.next() {
        let fin = chunks.peek().is_none();
        frames.push(frame(fin, if first { BIN } else { CONT }, c));
        first = false;
    }
    let stream = cat(&frames);
    let mut rx = Receiver::new(BIG);
    let cuts: Vec<usize> = (65536..stream.len()).step_by(65536).collect();
    let (events, r) = feed_cuts(&mut rx, &stream, &cuts);
    assert_eq!(r, Ok(()));
    assert_eq!(events, [Ev::Binary(payload)]);
    assert!(
        rx.buffered() <= 64 * 1024,
        "kept {} bytes after the message",
        rx.buffered()
    );
}

#[test]
fn ping_and_pong_payloads_are_delivered() {
    let max: Vec<u8> = (0..125).collect();
    expect_ok(&frame(true, PING, b""), &[Ev::Ping(vec![])]);
    expect_ok(&frame(true, PING, b"hello"), &[Ev::Ping(b"hello".to_vec())]);
    expect_ok(&frame(true, PING, &max), &[Ev::Ping(max.clone())]);
    expect_ok(&frame(true, PONG, b""), &[Ev::Pong(vec![])]);
    expect_ok(&frame(true, PONG, &max), &[Ev::Pong(max.clone())]);
    // Binary (non-UTF-8) control payloads are fine.
    expect_ok(
        &frame(true, PING, b"\xff\x00"),
        &[Ev::Ping(b"\xff\x00".to_vec())],
    );
    let stream = cat(&[
        frame(true, PING, b"1"),
        frame(true, PONG, b"2"),
        frame(true, PING, b"3"),
    ]);
    expect_ok(
        &stream,
        &[
            Ev::Ping(b"1".to_vec()),
            Ev::Pong(b"2".to_vec()),
            Ev::Ping(b"3".to_vec()),
        ],
    );
}

#[test]
fn control_frames_interleaved_in_fragmented_messages() {
    let stream = cat(&[
        frame(false, TEXT, b"Hel"),
        frame(true, PING, b"p1"),
        frame(false, CONT, b"lo, "),
        frame(true, PONG, b""),
        frame(true, PING, b"p2"),
        frame(true, CONT, b"world"),
        frame(true, PING, b"after"),
    ]);
    expect_ok(
        &stream,
        &[
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(vec![]),
            Ev::Ping(b"p2".to_vec()),
            text("Hello, world"),
            Ev::Ping(b"after".to_vec()),
        ],
    );
    // A code point split across fragments with a ping in the middle.
    let euro = "€".as_bytes();
    let stream = cat(&[
        frame(false, TEXT, &euro[..1]),
        frame(true, PING, b""),
        frame(false, CONT, &euro[1..2]),
        frame(true, PONG, b"\xff"),
        frame(true, CONT, &euro[2..]),
    ]);
    expect_ok(
        &stream,
        &[Ev::Ping(vec![]), Ev::Pong(vec![0xff]), text("€")],
    );
    // Binary too.
    let stream = cat(&[
        frame(false, BIN, b"\x00\x01"),
        frame(true, PING, b"x"),
        frame(true, CONT, b"\x02"),
    ]);
    expect_ok(&stream, &[Ev::Ping(b"x".to_vec()), binary(b"\x00\x01\x02")]);
}

#[test]
fn empty_frames_and_messages() {
    expect_ok(&frame(true, TEXT, b""), &[text("")]);
    expect_ok(&frame(true, BIN, b""), &[binary(b"")]);
    // Empty fragments everywhere.
    let stream = cat(&[
        frame(false, TEXT, b""),
        frame(false, CONT, b""),
        frame(true, CONT, b""),
    ]);
    expect_ok(&stream, &[text("")]);
    let stream = cat(&[
        frame(false, BIN, b""),
        frame(false, CONT, b"abc"),
        frame(false, CONT, b""),
        frame(true, CONT, b""),
    ]);
    expect_ok(&stream, &[binary(b"abc")]);
    let stream = cat(&[
        frame(false, TEXT, b"abc"),
        frame(false, CONT, b""),
        frame(true, CONT, b"def"),
    ]);
    expect_ok(&stream, &[text("abcdef")]);
    // Many empty messages back to back.
    let stream = cat(&vec![frame(true, BIN, b""); 50]);
    expect_ok(&stream, &vec![binary(b""); 50]);
}

#[test]
fn several_messages_in_one_read() {
    let stream = cat(&[
        frame(true, TEXT, b"one"),
        frame(true, BIN, b"two"),
        frame(false, TEXT, b"th"),
        frame(true, CONT, b"ree"),
        frame(true, TEXT, "φour".as_bytes()),
    ]);
    expect_ok(
        &stream,
        &[text("one"), binary(b"two"), text("three"), text("φour")],
    );
}

#[test]
fn whole_message_in_one_read_is_a_slice_of_the_read_buffer() {
    let mut f = frame(true, BIN, b"zero copy");
    let range = f.as_ptr_range();
    let mut rx = Receiver::new(BIG);
    let mut seen = false;
    rx.feed(&mut f, &mut |i| {
        if let Incoming::Binary(b) = i {
            assert_eq!(b, b"zero copy");
            assert!(range.contains(&b.as_ptr()), "message was copied");
            seen = true;
        }
    })
    .unwrap();
    assert!(seen);
}

/// Feeds `stream` to `rx` in reads of `cut` bytes (each read a buffer of
/// its own, as from a socket).
fn feed_in_cuts(rx: &mut Receiver, stream: &[u8], cut: usize, on: &mut dyn FnMut(Incoming<'_>)) {
    for piece in stream.chunks(cut) {
        let mut read = piece.to_vec();
        rx.feed(&mut read, on).unwrap();
    }
}

#[test]
fn message_split_across_reads_is_handed_over_in_its_own_buffer() {
    let payload: Vec<u8> = (0..60_000u32).map(|i| i as u8).collect();
    let stream = frame(true, BIN, &payload);
    let mut rx = Receiver::new(BIG);
    let gathered = |rx: &mut Receiver, got: &mut Vec<bytes::Bytes>| {
        feed_in_cuts(rx, &stream, 30_000, &mut |i| {
            if let Incoming::Gathered { text, payload } = i {
                assert!(!text);
                got.push(payload);
            }
        })
    };
    let mut got = Vec::new();
    gathered(&mut rx, &mut got);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0][..], &payload[..]);
    // Gathered into one buffer of the frame's size, then handed over:
    // nothing stays behind on the connection.
    assert_eq!(rx.buffered(), 0);
    // The next one reuses that memory once the first is dropped.
    let first = got.pop().unwrap();
    let at = first.as_ptr();
    drop(first);
    gathered(&mut rx, &mut got);
    assert_eq!(got[0].as_ptr(), at, "a new buffer was allocated");
    assert_eq!(&got[0][..], &payload[..]);
}

#[test]
fn a_large_message_split_across_reads_is_lent_from_the_receiver() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let stream = frame(true, BIN, &payload);
    let mut rx = Receiver::new(BIG);
    let mut got = Vec::new();
    feed_in_cuts(&mut rx, &stream, 100_000, &mut |i| {
        if let Incoming::Binary(b) = i {
            got.push(b.to_vec());
        }
    });
    assert_eq!(got, [payload]);
    // Not kept for the next message: idle connections hold no large buffer.
    assert_eq!(rx.buffered(), 0);
}

#[test]
fn payload_is_unmasked_in_place() {
    let mut f = frame(true, BIN, b"abcdef");
    let mut rx = Receiver::new(BIG);
    rx.feed(&mut f, &mut |_| {}).unwrap();
    assert_eq!(&f[6..], b"abcdef");
}

#[test]
fn zero_mask_and_all_ones_mask() {
    for mask in [[0, 0, 0, 0], [0xff; 4]] {
        let stream = cat(&[
            raw_frame(false, 0, TEXT, Some(mask), "hé".as_bytes()),
            raw_frame(true, 0, CONT, Some(mask), "llo".as_bytes()),
        ]);
        expect_ok(&stream, &[text("héllo")]);
    }
}

// ---------------------------------------------------------------------------
// Receiver: property test over arbitrary message streams and read splits
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone)]
struct MsgPlan {
    payload: Payload,
    /// Where to cut the payload into fragments (arbitrary byte positions, so
    /// text fragments may split code points).
    cuts: Vec<Index>,
    /// Masks for the frames, used in turn.
    masks: Vec<[u8; 4]>,
    /// Control frames (ping if true, else pong) sent after a fragment.
    controls: Vec<(Index, bool, Vec<u8>)>,
}

fn payload_strategy() -> impl Strategy<Value = Payload> {
    prop_oneof![
        6 => vec(any::<char>(), 0..80).prop_map(|c| Payload::Text(c.into_iter().collect())),
        6 => vec(any::<u8>(), 0..300).prop_map(Payload::Binary),
        1 => vec(any::<char>(), 16_000..20_000)
            .prop_map(|c| Payload::Text(c.into_iter().collect())),
        1 => vec(any::<u8>(), 65_530..65_545).prop_map(Payload::Binary),
    ]
}

fn msg_plan() -> impl Strategy<Value = MsgPlan> {
    (
        payload_strategy(),
        vec(any::<Index>(), 0..6),
        vec(any::<[u8; 4]>(), 1..6),
        vec(
            (any::<Index>(), any::<bool>(), vec(any::<u8>(), 0..=125)),
            0..3,
        ),
    )
        .prop_map(|(payload, cuts, masks, controls)| MsgPlan {
            payload,
            cuts,
            masks,
            controls,
        })
}

/// An optional close frame (valid code, short reason) followed by junk.
fn trailer() -> impl Strategy<Value = Option<(u16, String, Vec<u8>)>> {
    proptest::option::of((
        prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
        vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect::<String>()),
        vec(any::<u8>(), 0..64),
    ))
}

/// Encodes the plans as client frames; returns the stream and what the
/// receiver must emit for it, in order.
fn encode_plans(plans: &[MsgPlan], trailer: &Option<(u16, String, Vec<u8>)>) -> (Vec<u8>, Vec<Ev>) {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for p in plans {
        let (opcode, bytes, ev) = match &p.payload {
            Payload::Text(s) => (TEXT, s.as_bytes(), Ev::Text(s.clone())),
            Payload::Binary(b) => (BIN, &b[..], Ev::Binary(b.clone())),
        };
        let mut bounds: Vec<usize> = p.cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        bounds.push(0);
        bounds.push(bytes.len());
        bounds.sort_unstable();
        let fragments = bounds.len() - 1;
        let mut controls: Vec<(usize, bool, &Vec<u8>)> = p
            .controls
            .iter()
            .map(|(i, ping, payload)| (i.index(fragments), *ping, payload))
            .collect();
        controls.sort_by_key(|c| c.0);
        let mut masks = p.masks.iter().cycle();
        for f in 0..fragments {
            let last = f + 1 == fragments;
            let op = if f == 0 { opcode } else { CONT };
            let mask = *masks.next().unwrap();
            stream.extend(raw_frame(
                last,
                0,
                op,
                Some(mask),
                &bytes[bounds[f]..bounds[f + 1]],
            ));
            if last {
                expected.push(ev.clone());
            }
            for &(_, ping, payload) in controls.iter().filter(|c| c.0 == f) {
                let mask = *masks.next().unwrap();
                stream.extend(raw_frame(
                    true,
                    0,
                    if ping { PING } else { PONG },
                    Some(mask),
                    payload,
                ));
                expected.push(if ping {
                    Ev::Ping(payload.clone())
                } else {
                    Ev::Pong(payload.clone())
                });
            }
        }
    }
    if let Some((code, reason, junk)) = trailer {
        stream.extend(close_frame(*code, reason.as_bytes()));
        expected.push(Ev::Close(Some(*code), reason.clone()));
        stream.extend_from_slice(junk);
    }
    (stream, expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_message_stream_split_anywhere_round_trips(
        plans in vec(msg_plan(), 0..6),
        trailer in trailer(),
        splits in vec(any::<Index>(), 0..24),
    ) {
        let (stream, expected) = encode_plans(&plans, &trailer);

        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let mut rx = Receiver::new(BIG);
        let (events, r) = feed_cuts(&mut rx, &stream, &cuts);
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(&events, &expected);
        prop_assert_eq!(rx.is_closed(), trailer.is_some());

        let (events, r) = feed_whole(BIG, &stream);
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(&events, &expected);

        let (events, r) = feed_bytewise(BIG, &stream);
        prop_assert_eq!(r, Ok(()));
        prop_assert_eq!(&events, &expected);
    }

    /// Whatever valid traffic comes first, a violation after it fails with
    /// its close code, after exactly the preceding messages were delivered.
    #[test]
    fn violation_after_valid_traffic_is_reported(
        plans in vec(msg_plan(), 0..4),
        which in 0usize..6,
        splits in vec(any::<Index>(), 0..12),
    ) {
        let (mut stream, expected) = encode_plans(&plans, &None);
        let (bad, code) = match which {
            0 => (raw_frame(true, 0, BIN, None, b"x"), PROTOCOL_ERROR),
            1 => (raw_frame(true, 4, BIN, Some(MASK), b"x"), PROTOCOL_ERROR),
            2 => (frame(true, CONT, b"x"), PROTOCOL_ERROR),
            3 => (frame(true, TEXT, b"a\xffb"), INVALID_PAYLOAD),
            4 => (close_frame(1005, b""), PROTOCOL_ERROR),
            _ => (header(true, 0, BIN, Some(MASK), 1 << 30), MESSAGE_TOO_BIG),
        };
        stream.extend(bad);
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let (events, r) = feed_cuts(&mut Receiver::new(1 << 20), &stream, &cuts);
        prop_assert_eq!(r.map_err(|e| e.code), Err(code));
        prop_assert_eq!(&events, &expected);
    }
}

// ---------------------------------------------------------------------------
// Frame headers
// ---------------------------------------------------------------------------

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

#[test]
fn opcode_nibbles() {
    for v in 0..=255u8 {
        let op = OpCode::from_u8(v);
        match v {
            0 | 1 | 2 | 8 | 9 | 10 => {
                let op = op.unwrap();
                assert_eq!(op as u8, v);
                assert_eq!(op.is_control(), v >= 8);
            }
            _ => assert_eq!(op, None, "{v}"),
        }
    }
}

#[test]
fn server_frames_parse_back() {
    for len in [0usize, 125, 126, 65535, 65536] {
        let payload = vec![0xa5u8; len];
        let mut out = vec![0xee]; // appends, keeps what was there
        write_frame(&mut out, OpCode::Binary, &payload);
        let (h, n) = parse_header(&out[1..]).unwrap().unwrap();
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv: 0,
                opcode: 2,
                mask: None,
                payload_len: len as u64
            }
        );
        assert_eq!(&out[1 + n..], &payload[..]);
        assert_eq!(out[0], 0xee);
    }
}

#[test]
fn server_close_frames() {
    let mut out = Vec::new();
    write_close(&mut out, None, "ignored");
    assert_eq!(out, [0x88, 0x00]);

    let mut out = Vec::new();
    write_close(&mut out, Some(1000), "bye");
    assert_eq!(out, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);

    // The longest reason that fits.
    let reason = "x".repeat(123);
    let mut out = Vec::new();
    write_close(&mut out, Some(4000), &reason);
    assert_eq!(out.len(), 2 + 125);
    assert_eq!(
        parse_close_payload(&out[2..]).unwrap(),
        (Some(4000), reason.as_str())
    );
}

#[test]
fn server_close_frame_truncates_long_reasons_to_valid_utf8() {
    // A reason that does not fit is cut to 123 bytes at most, and never in
    // the middle of a character: the peer fails the connection with 1007 on
    // a close reason that is not UTF-8 (§8.1).
    for reason in [
        "x".repeat(200),
        "€".repeat(60),
        format!("ab{}", "𝄞".repeat(40)),
    ] {
        let mut out = Vec::new();
        write_close(&mut out, Some(1000), &reason);
        let (h, n) = parse_header(&out).unwrap().unwrap();
        assert!(h.payload_len <= 125);
        let (code, got) = parse_close_payload(&out[n..]).expect("valid close payload");
        assert_eq!(code, Some(1000));
        assert!(reason.starts_with(got));
        assert!(got.len() > 119, "cut more than needed: {}", got.len());
    }
}

fn any_opcode() -> impl Strategy<Value = OpCode> {
    proptest::sample::select(OPCODES.to_vec())
}

fn any_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=130,
        65_530u64..=65_540,
        any::<u32>().prop_map(u64::from),
        0u64..(1 << 63),
    ]
}

proptest! {
    #[test]
    fn server_header_round_trips(len in any_len(), opcode in any_opcode(), fin in any::<bool>()) {
        let len = usize::try_from(len).unwrap_or(usize::MAX >> 1);
        let mut hdr = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut hdr, fin, opcode, len);
        let expected_n = if len < 126 { 2 } else if len <= 65535 { 4 } else { 10 };
        prop_assert_eq!(n, expected_n);
        let (h, used) = parse_header(&hdr[..n]).unwrap().unwrap();
        prop_assert_eq!(used, n);
        prop_assert_eq!(
            h,
            FrameHeader { fin, rsv: 0, opcode: opcode as u8, mask: None, payload_len: len as u64 }
        );
        for cut in 0..n {
            prop_assert_eq!(parse_header(&hdr[..cut]), Ok(None));
        }
    }

    #[test]
    fn client_header_parses(
        len in any_len(),
        fin in any::<bool>(),
        rsv in 0u8..8,
        opcode in 0u8..16,
        mask in proptest::option::of(any::<[u8; 4]>()),
        trailing in vec(any::<u8>(), 0..20),
    ) {
        let h = header(fin, rsv, opcode, mask, len);
        let mut buf = h.clone();
        buf.extend_from_slice(&trailing);
        let (parsed, used) = parse_header(&buf).unwrap().unwrap();
        prop_assert_eq!(used, h.len());
        prop_assert_eq!(parsed, FrameHeader { fin, rsv, opcode, mask, payload_len: len });
        for cut in 0..h.len() {
            prop_assert_eq!(parse_header(&h[..cut]), Ok(None));
        }
    }

    #[test]
    fn top_bit_lengths_are_rejected(len in (1u64 << 63)..=u64::MAX, masked in any::<bool>()) {
        let h = header(true, 0, BIN, masked.then_some(MASK), len);
        for cut in 0..10 {
            prop_assert_eq!(parse_header(&h[..cut]), Ok(None));
        }
        for cut in 10..=h.len() {
            prop_assert_eq!(parse_header(&h[..cut]), Err(LengthOverflow));
        }
    }
}

// ---------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------

fn naive_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= mask[(i + offset) % 4];
    }
}

proptest! {
    #[test]
    fn mask_split_anywhere_equals_whole(
        data in vec(any::<u8>(), 0..600),
        mask in any::<[u8; 4]>(),
        offset in 0usize..64,
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, offset);
        let mut naive = data.clone();
        naive_mask(&mut naive, mask, offset);
        prop_assert_eq!(&whole, &naive);

        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        bounds.push(0);
        bounds.push(data.len());
        bounds.sort_unstable();
        let mut parts = data.clone();
        for w in bounds.windows(2) {
            apply_mask(&mut parts[w[0]..w[1]], mask, offset + w[0]);
        }
        prop_assert_eq!(&parts, &whole);

        // Masking is an involution.
        apply_mask(&mut parts, mask, offset);
        prop_assert_eq!(parts, data);
    }
}

// ---------------------------------------------------------------------------
// UTF-8 validation
// ---------------------------------------------------------------------------

/// Byte strings that are valid UTF-8, nearly valid, or random.
fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect::<String>().into_bytes()),
        (vec(any::<char>(), 1..40), any::<Index>(), any::<u8>()).prop_map(|(c, i, b)| {
            let mut v = c.into_iter().collect::<String>().into_bytes();
            let at = i.index(v.len());
            v[at] = b;
            v
        }),
        (vec(any::<char>(), 1..40), any::<Index>()).prop_map(|(c, i)| {
            let mut v = c.into_iter().collect::<String>().into_bytes();
            v.truncate(i.index(v.len()));
            v
        }),
        vec(
            prop_oneof![
                Just(&b"\xed\xa0\x80"[..]),
                Just(&b"\xf4\x90\x80\x80"[..]),
                Just(&b"\xc0\xaf"[..]),
                Just(&b"\xe0\x80\xaf"[..]),
                Just(&b"\xf0\x9d\x84\x9e"[..]),
                Just(&b"\xe2\x82\xac"[..]),
                Just(&b"\xc3\xa9"[..]),
                Just(&b"\xf4\x8f\xbf\xbf"[..]),
                Just(&b"\xef\xbf\xbf"[..]),
                Just(&b"a"[..]),
                Just(&b"\x80"[..]),
                Just(&b"\xf8"[..]),
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Split anywhere, the validator agrees with `std::str::from_utf8`, and
    /// it fails at the first piece after which the input can no longer be
    /// the prefix of valid UTF-8 (not earlier, not later).
    #[test]
    fn utf8_validator_agrees_with_std(data in utf8ish(), cuts in vec(any::<Index>(), 0..8)) {
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        bounds.push(0);
        bounds.push(data.len());
        bounds.sort_unstable();
        let mut v = Utf8Validator::new();
        let mut failed = false;
        for w in bounds.windows(2) {
            let got = v.feed(&data[w[0]..w[1]]);
            let doomed = matches!(std::str::from_utf8(&data[..w[1]]), Err(e) if e.error_len().is_some());
            prop_assert_eq!(got.is_err(), doomed, "piece {:?}", w);
            if got.is_err() {
                failed = true;
                break;
            }
        }
        let whole = std::str::from_utf8(&data).is_ok();
        if !failed {
            prop_assert_eq!(v.finish().is_ok(), whole);
        } else {
            prop_assert!(!whole);
        }
    }

    #[test]
    fn utf8_validator_bytewise(data in utf8ish()) {
        let mut v = Utf8Validator::new();
        let mut ok = true;
        for b in &data {
            if v.feed(std::slice::from_ref(b)).is_err() {
                ok = false;
                break;
            }
        }
        let ok = ok && v.finish().is_ok();
        prop_assert_eq!(ok, std::str::from_utf8(&data).is_ok());
    }
}

#[test]
fn utf8_validator_reset_and_finish_clear_state() {
    let mut v = Utf8Validator::new();
    v.feed(b"\xe2\x82").unwrap();
    v.reset();
    v.feed(b"abc").unwrap();
    v.finish().unwrap();

    let mut v = Utf8Validator::new();
    v.feed(b"\xe2").unwrap();
    assert!(v.finish().is_err());
    // After finish, a new message starts clean.
    v.feed(b"ok").unwrap();
    v.finish().unwrap();

    // Empty pieces change nothing, even mid-sequence.
    let mut v = Utf8Validator::new();
    v.feed(b"\xf0\x9d").unwrap();
    v.feed(b"").unwrap();
    v.feed(b"\x84").unwrap();
    v.feed(b"").unwrap();
    v.feed(b"\x9e").unwrap();
    v.finish().unwrap();
}

// ---------------------------------------------------------------------------
// SSE
// ---------------------------------------------------------------------------

/// An event as an EventSource would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dispatched {
    event: String,
    data: String,
    last_event_id: String,
}

/// The event stream interpretation of the HTML Living Standard
/// ("Server-sent events", §9.2.6), applied to a complete stream.
#[derive(Debug, Default)]
struct SseParser {
    data: String,
    event: String,
    last_id: String,
    retry: Option<u64>,
    dispatched: Vec<Dispatched>,
}

impl SseParser {
    fn parse(stream: &str) -> SseParser {
        let mut p = SseParser::default();
        let mut rest = stream.strip_prefix('\u{feff}').unwrap_or(stream);
        // Lines end at CRLF, LF or CR; an unterminated last line is not
        // processed (the stream may still continue).
        while let Some(i) = rest.find(['\r', '\n']) {
            let line = &rest[..i];
            let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[i + skip..];
            p.line(line);
        }
        p
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
        } else if line.starts_with(':') {
            // comment
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            self.field(field, value);
        } else {
            self.field(line, "");
        }
    }

    fn field(&mut self, field: &str, value: &str) {
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let event = if self.event.is_empty() {
            "message".to_string()
        } else {
            std::mem::take(&mut self.event)
        };
        self.dispatched.push(Dispatched {
            event,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_id.clone(),
        });
        self.event.clear();
    }
}

/// `text` with every CRLF, CR and LF turned into LF.
fn normalize_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn field_value() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            4 => any::<char>().prop_filter("single line", |c| !matches!(c, '\r' | '\n' | '\0')),
            1 => Just(' '),
            1 => Just(':'),
        ],
        0..16,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn data_text() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            6 => any::<char>(),
            2 => Just('\n'),
            2 => Just('\r'),
            1 => Just(' '),
            1 => Just(':'),
            1 => Just('\0'),
        ],
        0..60,
    )
    .prop_map(|c| c.into_iter().collect())
}

#[derive(Debug, Clone)]
struct OwnedEvent {
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: String,
    comment: Option<String>,
}

fn owned_event() -> impl Strategy<Value = OwnedEvent> {
    (
        proptest::option::of(field_value()),
        proptest::option::of(field_value()),
        proptest::option::of(0..=wsrt_proto::sse::MAX_RETRY_MS),
        data_text(),
        proptest::option::of(data_text()),
    )
        .prop_map(|(event, id, retry, data, comment)| OwnedEvent {
            event,
            id,
            retry,
            data,
            comment,
        })
}

fn encode_owned(out: &mut Vec<u8>, e: &OwnedEvent) -> Result<(), SseError> {
    encode_event(
        out,
        &SseEvent {
            event: e.event.as_deref(),
            id: e.id.as_deref(),
            retry: e.retry,
            data: &e.data,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sse_round_trips_through_a_whatwg_parser(events in vec(owned_event(), 1..6)) {
        let mut out = Vec::new();
        let mut expected = Vec::new();
        let mut last_id = String::new();
        let mut retry = None;
        for e in &events {
            if let Some(c) = &e.comment {
                encode_comment(&mut out, c);
            }
            encode_owned(&mut out, e).unwrap();
            if let Some(id) = &e.id {
                last_id = id.clone();
            }
            if let Some(r) = e.retry {
                retry = Some(r);
            }
            expected.push(Dispatched {
                event: e.event.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "message".into()),
                data: normalize_breaks(&e.data),
                last_event_id: last_id.clone(),
            });
        }
        let stream = String::from_utf8(out).expect("the encoder writes UTF-8");
        // Our encoder only ever ends lines with LF, and ends with a blank line.
        prop_assert!(!stream.contains('\r'));
        prop_assert!(stream.ends_with("\n\n"));
        let parsed = SseParser::parse(&stream);
        prop_assert_eq!(parsed.dispatched, expected);
        prop_assert_eq!(parsed.retry, retry);
    }

    #[test]
    fn sse_rejects_line_breaks_and_nul_in_id_and_event(
        base in field_value(),
        at in any::<Index>(),
        bad in prop_oneof![Just('\r'), Just('\n'), Just('\0')],
        data in data_text(),
    ) {
        let mut chars: Vec<char> = base.chars().collect();
        chars.insert(at.index(chars.len() + 1), bad);
        let bad_value: String = chars.into_iter().collect();

        let prefix = b"already here".to_vec();
        let mut out = prefix.clone();
        let ev = SseEvent { id: Some(&bad_value), data: &data, ..Default::default() };
        prop_assert_eq!(validate(&ev), Err(SseError::InvalidId));
        prop_assert_eq!(encode_event(&mut out, &ev), Err(SseError::InvalidId));
        prop_assert_eq!(&out, &prefix);

        let ev = SseEvent { event: Some(&bad_value), data: &data, ..Default::default() };
        prop_assert_eq!(validate(&ev), Err(SseError::InvalidEvent));
        prop_assert_eq!(encode_event(&mut out, &ev), Err(SseError::InvalidEvent));
        prop_assert_eq!(&out, &prefix);

        // The same with the valid base value is accepted.
        let ev = SseEvent { id: Some(&base), event: Some(&base), data: &data, retry: None };
        prop_assert_eq!(validate(&ev), Ok(()));
        prop_assert_eq!(encode_event(&mut out, &ev), Ok(()));
        prop_assert!(out.len() > prefix.len());
    }
}

#[test]
fn sse_comments_dispatch_nothing() {
    let mut out = Vec::new();
    encode_comment(&mut out, "keep-alive");
    encode_comment(&mut out, "");
    encode_comment(&mut out, "data: not data\r\nevent: nope");
    let parsed = SseParser::parse(std::str::from_utf8(&out).unwrap());
    assert!(parsed.dispatched.is_empty());
}

#[test]
fn sse_data_keeps_leading_spaces_and_colons() {
    let mut out = Vec::new();
    encode_event(
        &mut out,
        &SseEvent {
            event: Some(" spaced"),
            id: Some(""),
            retry: Some(0),
            data: "  two spaces\n:colon first\nkey: value",
        },
    )
    .unwrap();
    let parsed = SseParser::parse(std::str::from_utf8(&out).unwrap());
    assert_eq!(
        parsed.dispatched,
        [Dispatched {
            event: " spaced".into(),
            data: "  two spaces\n:colon first\nkey: value".into(),
            last_event_id: String::new(),
        }]
    );
    assert_eq!(parsed.retry, Some(0));
}

#[test]
fn sse_error_messages() {
    assert!(SseError::InvalidId.to_string().contains("id"));
    assert!(SseError::InvalidEvent.to_string().contains("event"));
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 8192,
    max_headers: 32,
};

const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn complete(buf: &[u8], limits: HeadLimits) -> (RequestHead, usize) {
    match parse_request(buf, limits) {
        Ok(Parsed::Complete(head, len)) => (head, len),
        Ok(Parsed::Partial) => panic!("partial: {:?}", String::from_utf8_lossy(buf)),
        Err(e) => panic!("error {e:?}: {:?}", String::from_utf8_lossy(buf)),
    }
}

fn parse_status(buf: &[u8], limits: HeadLimits) -> Result<Option<usize>, u16> {
    match parse_request(buf, limits) {
        Ok(Parsed::Complete(_, len)) => Ok(Some(len)),
        Ok(Parsed::Partial) => Ok(None),
        Err(e) => Err(e.status),
    }
}

fn request(method: &str, version: &str, headers: &[(&str, &str)]) -> String {
    let mut s = format!("{method} /chat?room=1&x=y HTTP/{version}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s
}

fn ws_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", SAMPLE_KEY),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Version", "13"),
    ]
}

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    ws_headers()
        .into_iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .collect()
}

fn replaced(name: &str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    ws_headers()
        .into_iter()
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case(name) {
                (n, value)
            } else {
                (n, v)
            }
        })
        .collect()
}

fn ws_validate(
    method: &str,
    version: &str,
    headers: &[(&str, &str)],
) -> Result<Vec<String>, HttpError> {
    let req = request(method, version, headers);
    let (head, _) = complete(req.as_bytes(), LIMITS);
    validate_websocket(&head).map(|h| {
        assert_eq!(h.key, SAMPLE_KEY);
        h.protocols
    })
}

#[track_caller]
fn ws_status(method: &str, version: &str, headers: &[(&str, &str)]) -> u16 {
    match ws_validate(method, version, headers) {
        Ok(_) => 101,
        Err(e) => e.status,
    }
}

#[test]
fn parse_request_is_partial_until_the_head_is_complete() {
    let req = request("GET", "1.1", &ws_headers());
    let bytes = req.as_bytes();
    for cut in 0..bytes.len() {
        assert_eq!(parse_status(&bytes[..cut], LIMITS), Ok(None), "cut {cut}");
    }
    let (head, len) = complete(bytes, LIMITS);
    assert_eq!(len, bytes.len());
    assert_eq!(head.method, "GET");
    assert_eq!(head.path, "/chat");
    assert_eq!(head.query, "room=1&x=y");
    assert_eq!(head.version, 1);
    assert_eq!(
        head.headers,
        ws_headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(head.header("HOST"), Some("server.example.com"));
    assert_eq!(head.header("sec-websocket-key"), Some(SAMPLE_KEY));
    assert_eq!(head.header("x-missing"), None);
}

#[test]
fn parse_request_reports_head_length_before_pipelined_bytes() {
    let req = request("GET", "1.1", &ws_headers());
    let mut buf = req.clone().into_bytes();
    buf.extend(frame(true, TEXT, b"early frame"));
    buf.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
    let (head, len) = complete(&buf, LIMITS);
    assert_eq!(len, req.len());
    assert_eq!(head.path, "/chat");
    // What follows the head is the client's first frame.
    let (events, r) = feed_whole(BIG, &buf[len..buf.len() - 22]);
    assert_eq!(r, Ok(()));
    assert_eq!(events, [text("early frame")]);
}

#[test]
fn parse_request_without_query_and_http10() {
    let (head, _) = complete(b"GET / HTTP/1.0\r\n\r\n", LIMITS);
    assert_eq!(
        (head.path.as_str(), head.query.as_str(), head.version),
        ("/", "", 0)
    );
    assert!(head.headers.is_empty());
    let (head, _) = complete(b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", LIMITS);
    assert_eq!((head.path.as_str(), head.query.as_str()), ("/a", "b?c"));
    // Bare LF line endings are tolerated by httparse.
    let (head, len) = complete(b"GET /lf HTTP/1.1\nHost: h\n\n", LIMITS);
    assert_eq!((head.path.as_str(), len), ("/lf", 26));
}

#[test]
fn parse_request_rejects_garbage_with_400() {
    for bad in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    ] {
        assert_eq!(
            parse_status(bad, LIMITS),
            Err(400),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn head_over_the_byte_limit_is_431() {
    let limits = HeadLimits {
        max_head_bytes: 200,
        max_headers: 32,
    };
    // Build heads of exactly 199, 200 and 201 bytes.
    let make = |total: usize| {
        let base = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n".len();
        format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(total - base)
        )
    };
    for total in [199, 200] {
        let req = make(total);
        assert_eq!(req.len(), total);
        assert_eq!(parse_status(req.as_bytes(), limits), Ok(Some(total)));
        // Arriving in pieces it is never refused.
        for cut in 0..total {
            assert_eq!(
                parse_status(&req.as_bytes()[..cut], limits),
                Ok(None),
                "cut {cut}"
            );
        }
    }
    let req = make(201);
    assert_eq!(parse_status(req.as_bytes(), limits), Err(431));
    // Refused as soon as the limit is reached without the head ending.
    assert_eq!(parse_status(&req.as_bytes()[..199], limits), Ok(None));
    assert_eq!(parse_status(&req.as_bytes()[..200], limits), Err(431));
    // A head that never ends.
    let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(10_000));
    assert_eq!(parse_status(endless.as_bytes(), limits), Err(431));
    // Pipelined bytes after a small head do not count against it.
    let mut buf = make(150).into_bytes();
    buf.extend(vec![0u8; 1000]);
    assert_eq!(parse_status(&buf, limits), Ok(Some(150)));
}

#[test]
fn too_many_headers_is_431() {
    let limits = HeadLimits {
        max_head_bytes: 8192,
        max_headers: 4,
    };
    let headers = [
        ("Host", "h"),
        ("A", "1"),
        ("B", "2"),
        ("C", "3"),
        ("D", "4"),
    ];
    let ok = request("GET", "1.1", &headers[..4]);
    let (head, _) = complete(ok.as_bytes(), limits);
    assert_eq!(head.headers.len(), 4);
    let over = request("GET", "1.1", &headers);
    assert_eq!(parse_status(over.as_bytes(), limits), Err(431));
    let many: Vec<(&str, &str)> = vec![("X", "y"); 200];
    assert_eq!(
        parse_status(request("GET", "1.1", &many).as_bytes(), LIMITS),
        Err(431)
    );
}

#[test]
fn valid_websocket_handshake() {
    assert_eq!(
        ws_validate("GET", "1.1", &ws_headers()),
        Ok(vec!["chat".to_string(), "superchat".to_string()])
    );
    // No protocols offered.
    assert_eq!(
        ws_validate("GET", "1.1", &without("sec-websocket-protocol")),
        Ok(vec![])
    );
    // Protocols from several headers, in order, blanks skipped.
    let mut h = without("sec-websocket-protocol");
    h.push(("Sec-WebSocket-Protocol", "a, , b"));
    h.push(("sec-websocket-protocol", " c "));
    assert_eq!(
        ws_validate("GET", "1.1", &h),
        Ok(vec!["a".into(), "b".into(), "c".into()])
    );
    // Whitespace around the key and version is tolerated.
    let mut h = without("sec-websocket-key");
    h.push(("Sec-WebSocket-Key", "  dGhlIHNhbXBsZSBub25jZQ==  "));
    assert!(ws_validate("GET", "1.1", &h).is_ok());
}

#[test]
fn websocket_needs_host() {
    assert_eq!(ws_status("GET", "1.1", &without("host")), 400);
    let req = request("GET", "1.1", &without("host"));
    let (head, _) = complete(req.as_bytes(), LIMITS);
    assert_eq!(check_common(&head).map_err(|e| e.status), Err(400));
    // HTTP/1.0 does not require Host for plain requests.
    let (head, _) = complete(b"GET / HTTP/1.0\r\n\r\n", LIMITS);
    assert_eq!(check_common(&head), Ok(()));
}

#[test]
fn upgrade_and_connection_tokens_are_case_insensitive_in_lists() {
    for upgrade in [
        "websocket",
        "WebSocket",
        "WEBSOCKET",
        "h2c, websocket",
        "foo,WebSocket,bar",
    ] {
        assert_eq!(
            ws_status("GET", "1.1", &replaced("upgrade", upgrade)),
            101,
            "{upgrade}"
        );
    }
    for connection in [
        "Upgrade",
        "upgrade",
        "UPGRADE",
        "keep-alive, Upgrade",
        "keep-alive,upgrade",
        "Upgrade , keep-alive",
    ] {
        assert_eq!(
            ws_status("GET", "1.1", &replaced("connection", connection)),
            101,
            "{connection}"
        );
    }
    // Split over two Connection headers.
    let mut h = replaced("connection", "keep-alive");
    h.push(("Connection", "Upgrade"));
    assert_eq!(ws_status("GET", "1.1", &h), 101);
    // Lowercase header names.
    let lower: Vec<(String, &str)> = ws_headers()
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    let lower: Vec<(&str, &str)> = lower.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(ws_status("GET", "1.1", &lower), 101);
}

#[test]
fn missing_upgrade_is_426() {
    for h in [
        without("upgrade"),
        replaced("upgrade", "h2c"),
        replaced("upgrade", "websockets"),
        replaced("upgrade", ""),
    ] {
        let e = ws_validate("GET", "1.1", &h).unwrap_err();
        assert_eq!(e.status, 426, "{h:?}");
        assert!(e.extra_headers.contains("Upgrade: websocket\r\n"));
    }
}

#[test]
fn connection_without_upgrade_is_400() {
    assert_eq!(ws_status("GET", "1.1", &without("connection")), 400);
    assert_eq!(
        ws_status("GET", "1.1", &replaced("connection", "keep-alive")),
        400
    );
    assert_eq!(
        ws_status("GET", "1.1", &replaced("connection", "upgraded")),
        400
    );
}

#[test]
fn websocket_version_checks() {
    for v in ["8", "12", "14", "7, 13"] {
        let e = ws_validate("GET", "1.1", &replaced("sec-websocket-version", v)).unwrap_err();
        assert_eq!(e.status, 426, "{v}");
        assert!(
            e.extra_headers.contains("Sec-WebSocket-Version: 13\r\n"),
            "{:?}",
            e.extra_headers
        );
    }
    assert_eq!(
        ws_status("GET", "1.1", &without("sec-websocket-version")),
        400
    );
}

#[test]
fn websocket_key_must_be_base64_of_16_bytes() {
    for key in [
        "",
        "dGhlIHNhbXBsZSBub25jZQ",   // padding missing
        "dGhlIHNhbXBsZSBub25jZXg=", // 17 bytes
        "dGhlIHNhbXBsZSBub25j",     // 15 bytes
        "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQ=!", // bad character
        "dGhl*HNhbXBsZSBub25jZQ==", // bad character
        "dGhlIHNhbXBsZSBub25jZQ-=", // URL-safe alphabet
        "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==",
    ] {
        assert_eq!(
            ws_status("GET", "1.1", &replaced("sec-websocket-key", key)),
            400,
            "{key:?}"
        );
    }
    assert_eq!(ws_status("GET", "1.1", &without("sec-websocket-key")), 400);
    // Two keys, even identical ones.
    let mut h = ws_headers();
    h.push(("Sec-WebSocket-Key", SAMPLE_KEY));
    assert_eq!(ws_status("GET", "1.1", &h), 400);
    // Any 16 random bytes are fine.
    let mut h = without("sec-websocket-key");
    h.push(("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODw=="));
    assert!(
        matches!(validate_websocket(&complete(request("GET", "1.1", &h).as_bytes(), LIMITS).0), Ok(hs) if hs.key == "AAECAwQFBgcICQoLDA0ODw==")
    );
}

#[test]
fn websocket_needs_get_and_http11() {
    for method in ["POST", "PUT", "HEAD", "OPTIONS", "get"] {
        let e = ws_validate(method, "1.1", &ws_headers()).unwrap_err();
        assert_eq!(e.status, 405, "{method}");
        assert!(e.extra_headers.contains("Allow: GET\r\n"));
    }
    assert_eq!(ws_status("GET", "1.0", &ws_headers()), 400);
}

#[test]
fn accept_key_matches_rfc_6455_sample() {
    assert_eq!(accept_key(SAMPLE_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let mut out = Vec::new();
    write_switching_protocols(&mut out, SAMPLE_KEY, Some("chat"), None, &[]);
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(s.contains("\r\nUpgrade: websocket\r\n"));
    assert!(s.contains("\r\nConnection: Upgrade\r\n"));
    assert!(s.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(s.contains("\r\nSec-WebSocket-Protocol: chat\r\n"));
    assert!(s.ends_with("\r\n\r\n"));
    let mut out = Vec::new();
    write_switching_protocols(&mut out, SAMPLE_KEY, None, None, &[]);
    assert!(!String::from_utf8(out)
        .unwrap()
        .contains("Sec-WebSocket-Protocol"));
}

#[test]
fn choose_protocol_follows_server_preference() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let server = s(&["v2", "v1"]);
    assert_eq!(choose_protocol(&server, &s(&["v1", "v2"])), Some("v2"));
    assert_eq!(choose_protocol(&server, &s(&["v1"])), Some("v1"));
    assert_eq!(choose_protocol(&server, &s(&["v3"])), None);
    assert_eq!(choose_protocol(&server, &[]), None);
    assert_eq!(choose_protocol(&[], &s(&["v1"])), None);
    // Subprotocol names are compared exactly.
    assert_eq!(choose_protocol(&server, &s(&["V2"])), None);
}

#[test]
fn responses_are_well_formed() {
    let mut out = Vec::new();
    write_response(&mut out, 404, "", &[], "text/plain", b"nope", true);
    let s = String::from_utf8(out).unwrap();
    assert_eq!(
        s,
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    );

    // HEAD: the same head (the length of the body it would get), no body.
    let mut out = Vec::new();
    write_response(&mut out, 404, "", &[], "text/plain", b"nope", false);
    let s = String::from_utf8(out).unwrap();
    assert_eq!(
        s,
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    );

    let err = ws_validate("GET", "1.1", &replaced("sec-websocket-version", "8")).unwrap_err();
    let mut out = Vec::new();
    write_error(&mut out, &err, true);
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"));
    let (head, body) = s.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(&format!("Content-Length: {}", body.len())));

    let mut out = Vec::new();
    write_event_stream_head(&mut out, &[]);
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(s.contains("\r\nContent-Type: text/event-stream\r\n"));
    assert!(s.ends_with("\r\n\r\n"));

    for (status, phrase) in [
        (101, "Switching Protocols"),
        (400, "Bad Request"),
        (431, "Request Header Fields Too Large"),
    ] {
        assert_eq!(reason_phrase(status), phrase);
    }
}

// ---------------------------------------------------------------------------
// Robustness: whatever a peer sends, the codecs answer with a value (a
// message, a close code, an HTTP status), never a panic, and hold no more
// than their limits allow.
// ---------------------------------------------------------------------------

/// Bytes that look enough like frames to get past the first checks: a
/// plausible first byte and masked length byte, then random rest.
fn framelike() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            (
                prop_oneof![
                    // fin/opcode combinations that pass the header checks
                    prop::sample::select(vec![
                        0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A
                    ]),
                    any::<u8>(),
                ],
                0u8..=127u8,
                any::<[u8; 4]>(),
                vec(any::<u8>(), 0..300),
            )
                .prop_map(|(b0, len, mask, rest)| {
                    let mut v = vec![b0, 0x80 | len];
                    v.extend_from_slice(&mask);
                    v.extend(rest);
                    v
                }),
            vec(any::<u8>(), 0..64),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn receiver_never_panics_and_stays_bounded(
        data in framelike(),
        cuts in vec(any::<Index>(), 0..8),
        limit in 0usize..400,
    ) {
        let mut rx = Receiver::new(limit);
        let mut data = data;
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        points.push(data.len());
        let mut start = 0;
        for end in points {
            let mut sizes_ok = true;
            let result = rx.feed(&mut data[start..end], &mut |inc| {
                if let Incoming::Text(t) = &inc {
                    sizes_ok &= t.len() <= limit;
                }
                if let Incoming::Binary(b) = &inc {
                    sizes_ok &= b.len() <= limit;
                }
            });
            prop_assert!(sizes_ok, "a message over the limit was delivered");
            // What the receiver keeps is bounded by the message limit plus
            // one control frame, whatever arrived.
            prop_assert!(rx.buffered() <= (limit + 125).max(4096) * 2);
            if let Err(e) = result {
                prop_assert!([PROTOCOL_ERROR, INVALID_PAYLOAD, MESSAGE_TOO_BIG].contains(&e.code));
                break;
            }
            start = end;
        }
    }

    #[test]
    fn request_parser_never_panics(
        data in prop_oneof![
            vec(any::<u8>(), 0..600),
            "[ -~\r\n]{0,600}".prop_map(|s| format!("GET /x HTTP/1.1\r\n{s}").into_bytes()),
        ],
        max_headers in 1usize..80,
    ) {
        let limits = HeadLimits { max_head_bytes: 512, max_headers };
        match parse_request(&data, limits) {
            Ok(Parsed::Complete(head, len)) => {
                prop_assert!(len <= 512 && len <= data.len());
                prop_assert!(head.headers.len() <= max_headers);
                let _ = validate_websocket(&head);
                let _ = check_common(&head);
            }
            Ok(Parsed::Partial) => prop_assert!(data.len() < 512),
            Err(e) => prop_assert!(e.status == 400 || e.status == 431),
        }
    }
}

// ---------------------------------------------------------------------------
// RSV1 with permessage-deflate negotiated (RFC 7692 §6.1)
// ---------------------------------------------------------------------------

fn deflate_receiver() -> Receiver {
    let mut rx = Receiver::new(BIG);
    rx.set_deflate(true);
    rx
}

#[test]
fn rsv1_marks_a_whole_message_compressed_across_fragments() {
    let m = Some([9, 8, 7, 6]);
    let stream = cat(&[
        raw_frame(false, 0b100, 0x1, m, b"abc"),
        raw_frame(true, 0, 0x9, m, b"p"),
        raw_frame(false, 0, 0x0, m, b"def"),
        raw_frame(true, 0, 0x0, m, b"\xff"), // not UTF-8: checked after inflating
        raw_frame(true, 0, 0x2, m, b"plain"),
        raw_frame(true, 0b100, 0x2, m, b""),
    ]);
    for cuts in [vec![], (1..stream.len()).collect::<Vec<_>>()] {
        let (events, r) = feed_cuts(&mut deflate_receiver(), &stream, &cuts);
        assert_eq!(r, Ok(()));
        assert_eq!(
            events,
            vec![
                Ev::Ping(b"p".to_vec()),
                Ev::Compressed(true, b"abcdef\xff".to_vec()),
                binary(b"plain"),
                Ev::Compressed(false, vec![]),
            ]
        );
    }
}

#[test]
fn rsv1_where_it_may_not_be_fails_with_1002() {
    let m = Some([1, 2, 3, 4]);
    for stream in [
        // on a continuation frame
        cat(&[
            raw_frame(false, 0, 0x1, m, b"a"),
            raw_frame(true, 0b100, 0x0, m, b"b"),
        ]),
        // on control frames
        raw_frame(true, 0b100, 0x9, m, b""),
        raw_frame(true, 0b100, 0xA, m, b""),
        raw_frame(true, 0b100, 0x8, m, b""),
        // RSV2 and RSV3 stay reserved
        raw_frame(true, 0b010, 0x1, m, b"a"),
        raw_frame(true, 0b001, 0x1, m, b"a"),
    ] {
        let (_, r) = feed_cuts(&mut deflate_receiver(), &stream, &[]);
        assert_eq!(r.unwrap_err().code, PROTOCOL_ERROR);
    }
    // Without negotiation RSV1 is a violation too.
    let (_, r) = feed_cuts(
        &mut Receiver::new(BIG),
        &raw_frame(true, 0b100, 0x1, m, b"a"),
        &[],
    );
    assert_eq!(r.unwrap_err().code, PROTOCOL_ERROR);
}

proptest! {
    /// A packed head (one allocation, kept by Socket.IO sessions) unpacks
    /// to the head httparse gave, whatever the header names and values.
    #[test]
    fn packed_head_round_trips(
        headers in vec(("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~]{0,40}"), 0..12),
        query in "[a-z0-9=&%]{0,30}",
    ) {
        let mut text = format!("GET /socket.io/?{query} HTTP/1.1\r\n");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("\r\n");
        let (head, _) = complete(text.as_bytes(), LIMITS);
        prop_assert_eq!(PackedHead::pack(&head).unpack(), head.clone());
        // With a lead field and some headers left out (as a connection
        // keeps its request).
        let keep = |n: &str| !n.to_ascii_lowercase().starts_with('a');
        let packed = PackedHead::pack_with(&head, "127.0.0.1:9", keep);
        let (lead, kept) = packed.unpack_with();
        prop_assert_eq!(lead, "127.0.0.1:9");
        let mut expected = head.clone();
        expected.headers.retain(|(n, _)| keep(n));
        prop_assert_eq!(kept, expected);
    }
}
