//! Server-Sent Events encoding (HTML Living Standard, "Server-sent events").

use std::fmt;

/// One event to send. `data` may hold any text; each of its lines (split at
/// CR, LF or CRLF, as the client splits them) becomes a `data:` line, so the
/// client sees the same text back with `\n` line breaks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SseEvent<'a> {
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    /// Reconnection time the client should use, in milliseconds (at most
    /// [`MAX_RETRY_MS`]: a browser's timer cannot wait longer).
    pub retry: Option<u64>,
    pub data: &'a str,
}

/// A field value that the wire format cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// `event` contains CR, LF or NUL.
    InvalidEvent,
    /// `id` contains CR, LF or NUL (clients ignore ids with NUL).
    InvalidId,
    /// `retry` is over [`MAX_RETRY_MS`].
    InvalidRetry,
}

/// The longest reconnection time an event may ask for: 2^31-1 ms, what a
/// browser's timer can wait.
pub const MAX_RETRY_MS: u64 = (1 << 31) - 1;

impl SseError {
    pub fn message(self) -> &'static str {
        match self {
            SseError::InvalidEvent => "SSE event name must not contain CR, LF or NUL",
            SseError::InvalidId => "SSE id must not contain CR, LF or NUL",
            SseError::InvalidRetry => "SSE retry must be 0-2147483647 milliseconds",
        }
    }
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SseError {}

fn single_line(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// Checks an event without writing it.
pub fn validate(ev: &SseEvent<'_>) -> Result<(), SseError> {
    if ev.event.is_some_and(|e| !single_line(e)) {
        return Err(SseError::InvalidEvent);
    }
    if ev.id.is_some_and(|i| !single_line(i)) {
        return Err(SseError::InvalidId);
    }
    if ev.retry.is_some_and(|r| r > MAX_RETRY_MS) {
        return Err(SseError::InvalidRetry);
    }
    Ok(())
}

/// Upper bound of the encoded size, for reserving once.
pub fn encoded_len_hint(ev: &SseEvent<'_>) -> usize {
    ev.event.map_or(0, |e| e.len() + 8) + ev.id.map_or(0, |i| i.len() + 5) + 20 + ev.data.len() + 8
}

/// Appends an event to `out`; nothing is written if a field is invalid.
pub fn encode_event(out: &mut Vec<u8>, ev: &SseEvent<'_>) -> Result<(), SseError> {
    validate(ev)?;
    out.reserve(encoded_len_hint(ev));
    if let Some(event) = ev.event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    if let Some(id) = ev.id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    if let Some(retry) = ev.retry {
        out.extend_from_slice(b"retry: ");
        out.extend_from_slice(retry.to_string().as_bytes());
        out.push(b'\n');
    }
    for line in lines(ev.data) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    Ok(())
}

/// Appends comment lines (`: text`), one per line of `text`. Clients ignore
/// them; proxies see traffic.
pub fn encode_comment(out: &mut Vec<u8>, text: &str) {
    for line in lines(text) {
        out.push(b':');
        if !line.is_empty() {
            out.push(b' ');
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Splits at CRLF, CR or LF. Always yields at least one (maybe empty) line,
/// and a trailing break yields a trailing empty line, so the text round-trips.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ev: SseEvent<'_>) -> String {
        let mut v = Vec::new();
        encode_event(&mut v, &ev).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn all_fields() {
        let s = enc(SseEvent {
            event: Some("tick"),
            id: Some("7"),
            retry: Some(1500),
            data: "tick 7\n123",
        });
        assert_eq!(
            s,
            "event: tick\nid: 7\nretry: 1500\ndata: tick 7\ndata: 123\n\n"
        );
    }

    #[test]
    fn every_line_break_kind() {
        assert_eq!(
            enc(SseEvent {
                data: "a\r\nb\rc\nd",
                ..Default::default()
            }),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(
            enc(SseEvent {
                data: "",
                ..Default::default()
            }),
            "data: \n\n"
        );
        assert_eq!(
            enc(SseEvent {
                data: "x\n",
                ..Default::default()
            }),
            "data: x\ndata: \n\n"
        );
        assert_eq!(
            enc(SseEvent {
                data: "\r\n\r\n",
                ..Default::default()
            }),
            "data: \ndata: \ndata: \n\n"
        );
    }

    #[test]
    fn bad_fields_are_errors_and_write_nothing() {
        for bad in ["a\nb", "a\rb", "a\0b"] {
            let mut v = Vec::new();
            assert_eq!(
                encode_event(
                    &mut v,
                    &SseEvent {
                        id: Some(bad),
                        ..Default::default()
                    }
                ),
                Err(SseError::InvalidId)
            );
            assert_eq!(
                encode_event(
                    &mut v,
                    &SseEvent {
                        event: Some(bad),
                        ..Default::default()
                    }
                ),
                Err(SseError::InvalidEvent)
            );
            assert!(v.is_empty());
        }
    }

    #[test]
    fn comments() {
        let mut v = Vec::new();
        encode_comment(&mut v, "keep-alive");
        encode_comment(&mut v, "");
        encode_comment(&mut v, "a\nb");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            ": keep-alive\n\n:\n\n: a\n: b\n\n"
        );
    }
}
