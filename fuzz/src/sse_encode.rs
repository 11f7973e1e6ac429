//! The event-stream encoder against a parser written from the standard
//! (HTML, "Server-sent events", interpreting an event stream).
//!
//! Input: which fields are present, their values, then the data. Checked:
//! an event with a field the format cannot carry is refused with the
//! right error and nothing is written; otherwise the bytes contain no CR,
//! every line is a known field or a comment, and a standard parser reads
//! back exactly one event with the same name, id, retry and data (line
//! breaks in the data normalised to LF, as every client sees them).
//! Comments read back as no event at all.

use crate::input::Input;
use wsrt_proto::sse::{encode_comment, encode_event, SseError, SseEvent, MAX_RETRY_MS};

#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    event: Option<String>,
    data: String,
    id: Option<String>,
    retry: Option<u64>,
}

/// Events dispatched by a stream, and the fields of the last one.
fn parse(stream: &str) -> (usize, Parsed, usize) {
    let mut dispatched = 0;
    let mut comments = 0;
    let mut cur = Parsed::default();
    let mut last = Parsed::default();
    let mut data_seen = false;
    let stream = stream.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = stream.split('\n').collect();
    // What follows the last line break is an incomplete line.
    lines.pop();
    for line in lines {
        if line.is_empty() {
            if data_seen {
                let mut ev = std::mem::take(&mut cur);
                if ev.data.ends_with('\n') {
                    ev.data.pop();
                }
                // id and retry persist in a real client; per event here.
                last = ev;
                dispatched += 1;
            } else {
                cur = Parsed::default();
            }
            data_seen = false;
            continue;
        }
        if line.starts_with(':') {
            comments += 1;
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => cur.event = Some(value.to_string()),
            "data" => {
                cur.data.push_str(value);
                cur.data.push('\n');
                data_seen = true;
            }
            "id" if !value.contains('\0') => cur.id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                cur.retry = value.parse().ok()
            }
            other => panic!("the encoder wrote an unknown field {other:?}"),
        }
    }
    (dispatched, last, comments)
}

pub fn sse_encode(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let event = String::from_utf8_lossy(input.piece()).into_owned();
    let id = String::from_utf8_lossy(input.piece()).into_owned();
    let retry = match flags >> 2 & 3 {
        0 => None,
        1 => Some(input.u16() as u64),
        2 => Some(MAX_RETRY_MS + (input.byte() as u64 % 3) - 1),
        _ => Some(u64::from_le_bytes([
            input.byte(),
            input.byte(),
            input.byte(),
            input.byte(),
            0,
            0,
            0,
            0,
        ])),
    };
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    let ev = SseEvent {
        event: (flags & 1 != 0).then_some(event.as_str()),
        id: (flags & 2 != 0).then_some(id.as_str()),
        retry,
        data: &text,
    };

    let bad_line = |s: &str| s.contains(['\r', '\n', '\0']);
    let expected_error = if ev.event.is_some_and(bad_line) {
        Some(SseError::InvalidEvent)
    } else if ev.id.is_some_and(bad_line) {
        Some(SseError::InvalidId)
    } else if ev.retry.is_some_and(|r| r > MAX_RETRY_MS) {
        Some(SseError::InvalidRetry)
    } else {
        None
    };
    let mut out = b"x".to_vec();
    let r = encode_event(&mut out, &ev);
    match (r, expected_error) {
        (Err(e), Some(want)) => {
            assert_eq!(e, want);
            assert_eq!(out, b"x", "a refused event wrote bytes");
        }
        (Ok(()), None) => {
            let body = &out[1..];
            assert!(!body.contains(&b'\r'), "a raw CR in the stream");
            assert!(
                body.ends_with(b"\n\n"),
                "an event that does not end with a blank line"
            );
            let s = std::str::from_utf8(body).expect("the stream is UTF-8");
            let (n, got, comments) = parse(s);
            assert_eq!((n, comments), (1, 0), "{s:?}");
            let want = Parsed {
                event: ev.event.map(str::to_string),
                data: text.replace("\r\n", "\n").replace('\r', "\n"),
                id: ev.id.map(str::to_string),
                retry: ev.retry,
            };
            assert_eq!(got, want, "the event reads back differently from {s:?}");
        }
        (r, want) => panic!("encode gave {r:?}, expected {want:?}"),
    }

    // A comment: one comment line per line of text, and no event.
    let mut out = Vec::new();
    encode_comment(&mut out, &text);
    assert!(!out.contains(&b'\r'), "a raw CR in a comment");
    let s = std::str::from_utf8(&out).unwrap();
    let (n, _, comments) = parse(s);
    assert_eq!(n, 0, "a comment dispatched an event");
    let lines = text.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(comments, lines.split('\n').count(), "{s:?}");
}
