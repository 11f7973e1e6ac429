//! An EventSource-style reader: an optional chunked transfer decoding
//! under the event-stream parser of the HTML standard (lines ended by CRLF,
//! LF or CR; `event`, `data`, `id` fields; comments; a blank line
//! dispatches).

pub fn request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\
         Cache-Control: no-cache\r\n\r\n"
    )
    .into_bytes()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Checks a response head; returns whether the body is chunked.
pub fn check_head(head: &str) -> Result<bool, String> {
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("SSE request refused: {status:?}"));
    }
    match header(head, "content-type") {
        Some(ct) if ct.to_ascii_lowercase().starts_with("text/event-stream") => {}
        other => return Err(format!("SSE content-type {other:?}")),
    }
    Ok(header(head, "transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")))
}

/// One dispatched event, borrowed from the parser.
#[derive(Debug, PartialEq)]
pub struct Event<'a> {
    pub event: &'a str,
    /// The data lines joined by '\n' (the last '\n' removed, as the spec says).
    pub data: &'a str,
    /// The id field of this event, if it had one.
    pub id: Option<&'a str>,
}

#[derive(Default)]
enum Chunk {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data(usize),
    DataCr,
    DataLf,
}

#[derive(Default)]
pub struct Reader {
    /// Some when the body uses chunked transfer coding.
    chunk: Option<(Chunk, usize)>,
    line: Vec<u8>,
    after_cr: bool,
    event: String,
    data: String,
    id: Option<String>,
    has_data: bool,
}

impl Reader {
    pub fn new(chunked: bool) -> Reader {
        Reader {
            chunk: chunked.then_some((Chunk::Size, 0)),
            ..Reader::default()
        }
    }

    /// Consumes all of `input`, calling `on_event` for each event.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.chunk.is_none() {
            return self.stream(input, on_event);
        }
        while !input.is_empty() {
            let (state, size) = self.chunk.as_mut().unwrap();
            let b = input[0];
            match state {
                Chunk::Data(left) => {
                    let n = (*left).min(input.len());
                    *left -= n;
                    if *left == 0 {
                        *state = Chunk::DataCr;
                    }
                    let (data, rest) = input.split_at(n);
                    input = rest;
                    self.stream(data, on_event)?;
                    continue;
                }
                Chunk::Size => match (b as char).to_digit(16) {
                    Some(d) if *size < 1 << 40 => *size = *size * 16 + d as usize,
                    _ if b == b';' || b == b' ' => *state = Chunk::Ext,
                    _ if b == b'\r' => *state = Chunk::SizeLf,
                    _ => return Err(format!("bad chunk size byte {b:#04x}")),
                },
                Chunk::Ext => {
                    if b == b'\r' {
                        *state = Chunk::SizeLf;
                    }
                }
                Chunk::SizeLf if b == b'\n' => {
                    if *size == 0 {
                        return Err("the server ended the event stream".into());
                    }
                    *state = Chunk::Data(std::mem::take(size));
                }
                Chunk::DataCr if b == b'\r' => *state = Chunk::DataLf,
                Chunk::DataLf if b == b'\n' => *state = Chunk::Size,
                _ => return Err("bad chunk framing".into()),
            }
            input = &input[1..];
        }
        Ok(())
    }

    fn stream(
        &mut self,
        input: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut start = 0;
        for (i, &b) in input.iter().enumerate() {
            if b != b'\n' && b != b'\r' {
                continue;
            }
            let skip = b == b'\n' && self.after_cr && self.line.is_empty() && start == i;
            self.after_cr = b == b'\r';
            if skip {
                start = i + 1;
                continue;
            }
            if self.line.is_empty() {
                self.line_done(&input[start..i], on_event)?;
            } else {
                self.line.extend_from_slice(&input[start..i]);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, on_event)?;
                self.line = line;
                self.line.clear();
            }
            start = i + 1;
        }
        if start < input.len() {
            self.after_cr = false;
            if self.line.len() + input.len() - start > 1 << 20 {
                return Err("an event-stream line over 1 MiB".into());
            }
            self.line.extend_from_slice(&input[start..]);
        }
        Ok(())
    }

    fn line_done(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let line = std::str::from_utf8(line).map_err(|_| "event-stream line is not UTF-8")?;
        if line.is_empty() {
            if self.has_data {
                let r = on_event(Event {
                    event: if self.event.is_empty() {
                        "message"
                    } else {
                        &self.event
                    },
                    data: self.data.strip_suffix('\n').unwrap_or(&self.data),
                    id: self.id.as_deref(),
                });
                self.data.clear();
                self.has_data = false;
                self.id = None;
                self.event.clear();
                return r;
            }
            self.event.clear();
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(()); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {} // retry and unknown fields
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(r: &mut Reader, input: &[u8], step: usize) -> Vec<(String, String, Option<String>)> {
        let mut got = Vec::new();
        for part in input.chunks(step) {
            r.feed(part, &mut |e: Event<'_>| {
                got.push((
                    e.event.to_owned(),
                    e.data.to_owned(),
                    e.id.map(str::to_owned),
                ));
                Ok(())
            })
            .unwrap();
        }
        got
    }

    const STREAM: &[u8] =
        b": keep-alive\r\n\r\nevent: tick\r\nid: 1\r\ndata: tick 1\r\ndata: 42\r\n\r\n\
        data:x\rdata: y\r\r\nretry: 5\nid: 7\ndata\n\n";

    fn expected() -> Vec<(String, String, Option<String>)> {
        vec![
            ("tick".into(), "tick 1\n42".into(), Some("1".into())),
            ("message".into(), "x\ny".into(), None),
            ("message".into(), "".into(), Some("7".into())),
        ]
    }

    #[test]
    fn events_split_anywhere() {
        for step in 1..STREAM.len() {
            assert_eq!(
                collect(&mut Reader::new(false), STREAM, step),
                expected(),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_events_split_anywhere() {
        let mut wire = Vec::new();
        for part in STREAM.chunks(11) {
            wire.extend(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            wire.extend_from_slice(part);
            wire.extend(b"\r\n");
        }
        for step in 1..wire.len() {
            assert_eq!(
                collect(&mut Reader::new(true), &wire, step),
                expected(),
                "step {step}"
            );
        }
        let mut r = Reader::new(true);
        assert!(r.feed(b"0\r\n\r\n", &mut |_: Event<'_>| Ok(())).is_err());
    }

    #[test]
    fn head_checks() {
        let h =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(check_head(h), Ok(true));
        assert_eq!(
            check_head("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"),
            Ok(false)
        );
        assert!(check_head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n").is_err());
        assert!(check_head("HTTP/1.1 404 Not Found\r\n").is_err());
    }
}
