//! The receiving half of a server-side WebSocket connection, sans I/O.
//!
//! Bytes go in (the driver's read buffer, which we unmask in place); whole
//! messages and control frames come out through a callback. A message that
//! arrives complete inside one read is handed out as a slice of that buffer
//! with no copy; only messages split across reads or fragments are gathered
//! in a buffer of their own, which is then handed over whole. Every check that RFC 6455 §5 asks of a server
//! happens here, and a violation is reported as the close code to fail with.

use crate::frame::{is_valid_close_code, parse_header, FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use bytes::{Bytes, BytesMut};

/// What the receiver found in the byte stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A complete text message; already validated as UTF-8.
    Text(&'a str),
    Binary(&'a [u8]),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    /// The peer's close frame: its code (absent when the payload was empty)
    /// and its reason. After this the receiver ignores further input.
    Close(Option<u16>, &'a str),
    /// A complete message gathered across reads or fragments, handed over
    /// with its own buffer; text is already validated as UTF-8.
    Gathered {
        text: bool,
        payload: Bytes,
    },
    /// A whole permessage-deflate message (RSV1 on its first frame), still
    /// compressed; `text` tells its type. The caller inflates it (within the
    /// size limit) and validates text as UTF-8.
    Compressed {
        text: bool,
        payload: &'a [u8],
    },
}

/// A violation that fails the connection with `code` (§7.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

const fn violation(code: u16, reason: &'static str) -> ProtocolError {
    ProtocolError { code, reason }
}

pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_PAYLOAD: u16 = 1007;
pub const MESSAGE_TOO_BIG: u16 = 1009;

#[derive(Debug, Clone, Copy)]
struct FrameInProgress {
    opcode: OpCode,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes already unmasked (the mask offset of the next byte).
    done: u64,
    remaining: u64,
}

/// Above this, a finished message's gathering buffer is released rather than
/// kept, so one large message does not pin memory on an idle connection.
const KEEP_BUFFER_CAPACITY: usize = 64 * 1024;

#[derive(Debug)]
pub struct Receiver {
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    frame: Option<FrameInProgress>,
    /// The data message in progress (opcode of its first frame).
    message: Option<OpCode>,
    /// The message in progress is compressed (RSV1 on its first frame).
    compressed: bool,
    /// permessage-deflate was negotiated, so RSV1 may be set.
    deflate: bool,
    /// Bytes of the message in progress that arrived in earlier reads.
    gathered: BytesMut,
    /// A control frame's payload split across reads (at most 125 bytes).
    control: Vec<u8>,
    utf8: Utf8Validator,
    max_message_size: u64,
    closed: bool,
}

impl Receiver {
    pub fn new(max_message_size: usize) -> Self {
        Receiver {
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            compressed: false,
            deflate: false,
            gathered: BytesMut::new(),
            control: Vec::new(),
            utf8: Utf8Validator::new(),
            max_message_size: max_message_size as u64,
            closed: false,
        }
    }

    /// Allows RSV1 (compressed messages): permessage-deflate was negotiated.
    /// The largest message accepted.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size as usize
    }

    pub fn set_deflate(&mut self, on: bool) {
        self.deflate = on;
    }

    /// True once a close frame has been received (further input is ignored).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes held for partly received messages: what this receiver costs.
    pub fn buffered(&self) -> usize {
        self.gathered.capacity() + self.control.capacity()
    }

    /// Feeds bytes from the wire. `data` is unmasked in place. `on` is called
    /// for every complete message and control frame, in order.
    pub fn feed(
        &mut self,
        mut data: &mut [u8],
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Result<(), ProtocolError> {
        while !data.is_empty() && !self.closed {
            let frame = match self.frame {
                Some(f) => f,
                None => {
                    let consumed = match self.read_header(data)? {
                        Some(n) => n,
                        None => return Ok(()), // header incomplete; all bytes taken
                    };
                    data = &mut data[consumed..];
                    // Fall through even when `data` is now empty: a frame
                    // with no payload completes right here.
                    self.frame.expect("start_frame sets the frame")
                }
            };
            let n = frame.remaining.min(data.len() as u64) as usize;
            let (chunk, rest) = data.split_at_mut(n);
            data = rest;
            self.payload(frame, chunk, on)?;
        }
        Ok(())
    }

    /// Takes header bytes from `data`; returns how many it consumed once a
    /// header is complete, `None` if `data` ran out first.
    fn read_header(&mut self, data: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let overflow = || violation(PROTOCOL_ERROR, "64-bit payload length with the top bit set");
        if self.header_len == 0 {
            if let Some((h, n)) = parse_header(data).map_err(|_| overflow())? {
                self.start_frame(h)?;
                return Ok(Some(n));
            }
            // Fewer than 14 bytes and not a whole header: keep them.
            self.header[..data.len()].copy_from_slice(data);
            self.header_len = data.len() as u8;
            return Ok(None);
        }
        let had = self.header_len as usize;
        let take = (MAX_HEADER_LEN - had).min(data.len());
        self.header[had..had + take].copy_from_slice(&data[..take]);
        match parse_header(&self.header[..had + take]).map_err(|_| overflow())? {
            Some((h, n)) => {
                self.header_len = 0;
                self.start_frame(h)?;
                Ok(Some(n - had))
            }
            None => {
                self.header_len = (had + take) as u8;
                Ok(None)
            }
        }
    }

    fn start_frame(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        // RSV1 means "compressed" once permessage-deflate is negotiated, and
        // only on the first frame of a data message (RFC 7692 §6.1).
        let rsv1 = h.rsv & 0b100 != 0;
        if h.rsv & 0b011 != 0 || (rsv1 && !self.deflate) {
            return Err(violation(
                PROTOCOL_ERROR,
                "reserved bits set without a negotiated extension",
            ));
        }
        let opcode =
            OpCode::from_u8(h.opcode).ok_or(violation(PROTOCOL_ERROR, "reserved opcode"))?;
        if rsv1 && !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(violation(
                PROTOCOL_ERROR,
                "RSV1 set on a control or continuation frame",
            ));
        }
        let mask = h
            .mask
            .ok_or(violation(PROTOCOL_ERROR, "client frame not masked"))?;
        if opcode.is_control() {
            if !h.fin {
                return Err(violation(PROTOCOL_ERROR, "fragmented control frame"));
            }
            if h.payload_len > 125 {
                return Err(violation(
                    PROTOCOL_ERROR,
                    "control frame payload over 125 bytes",
                ));
            }
        } else {
            match (opcode, self.message) {
                (OpCode::Continuation, None) => {
                    return Err(violation(
                        PROTOCOL_ERROR,
                        "continuation frame with no message to continue",
                    ))
                }
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(violation(
                        PROTOCOL_ERROR,
                        "new data frame inside a fragmented message",
                    ))
                }
                _ => {}
            }
            // Reject as soon as the declared length shows the message is too
            // big, before buffering any of it.
            if self.gathered.len() as u64 + h.payload_len > self.max_message_size {
                return Err(violation(MESSAGE_TOO_BIG, "message exceeds the size limit"));
            }
            if opcode != OpCode::Continuation {
                self.message = Some(opcode);
                self.compressed = rsv1;
                self.utf8.reset();
            }
        }
        let frame = FrameInProgress {
            opcode,
            fin: h.fin,
            mask,
            done: 0,
            remaining: h.payload_len,
        };
        self.frame = Some(frame);
        Ok(())
    }

    fn payload(
        &mut self,
        mut f: FrameInProgress,
        chunk: &mut [u8],
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Result<(), ProtocolError> {
        apply_mask(chunk, f.mask, (f.done & 3) as usize);
        f.done += chunk.len() as u64;
        f.remaining -= chunk.len() as u64;
        let complete = f.remaining == 0;
        self.frame = if complete { None } else { Some(f) };

        if f.opcode.is_control() {
            if complete && self.control.is_empty() {
                return self.control_frame(f.opcode, chunk, on);
            }
            self.control.extend_from_slice(chunk);
            if complete {
                let payload = std::mem::take(&mut self.control);
                let r = self.control_frame(f.opcode, &payload, on);
                self.control = payload;
                self.control.clear();
                return r;
            }
            return Ok(());
        }

        let kind = self.message.expect("data frame without message state");
        if self.compressed {
            // Gathered whole; the caller inflates it (validating UTF-8 on
            // what comes out).
            self.gathered.extend_from_slice(chunk);
            if complete && f.fin {
                self.message = None;
                self.compressed = false;
                on(Incoming::Compressed {
                    text: kind == OpCode::Text,
                    payload: &self.gathered,
                });
                self.release_gathered();
            }
            return Ok(());
        }
        if kind == OpCode::Text && self.utf8.feed(chunk).is_err() {
            return Err(violation(INVALID_PAYLOAD, "invalid UTF-8 in text message"));
        }
        let message_done = complete && f.fin;
        if message_done && kind == OpCode::Text && self.utf8.finish().is_err() {
            return Err(violation(
                INVALID_PAYLOAD,
                "text message ends inside a UTF-8 sequence",
            ));
        }
        if message_done && self.gathered.is_empty() {
            // Whole message within this read: hand out the read buffer itself.
            self.message = None;
            deliver(kind, chunk, on);
        } else {
            if self.gathered.is_empty() {
                // Room for the whole frame at once (its length was checked
                // against the limit): one allocation, no regrowth.
                self.gathered.reserve(chunk.len() + f.remaining as usize);
            }
            self.gathered.extend_from_slice(chunk);
            if message_done && self.gathered.capacity() <= KEEP_BUFFER_CAPACITY {
                self.message = None;
                // The buffer goes out whole. Its handle stays (empty), so
                // the next message reclaims the same memory once the
                // application has dropped this one.
                let payload = self.gathered.split().freeze();
                on(Incoming::Gathered {
                    text: kind == OpCode::Text,
                    payload,
                });
            } else if message_done {
                // Larger ones are lent from here and the buffer let go: a
                // fresh allocation of that size per message would come from
                // the kernel and be faulted in again every time (measured:
                // over 500 page faults per 1 MiB message).
                self.message = None;
                deliver(kind, &self.gathered, on);
                self.release_gathered();
            }
        }
        Ok(())
    }

    fn release_gathered(&mut self) {
        if self.gathered.capacity() > KEEP_BUFFER_CAPACITY {
            self.gathered = BytesMut::new();
        } else {
            self.gathered.clear();
        }
    }

    fn control_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Result<(), ProtocolError> {
        match opcode {
            OpCode::Ping => on(Incoming::Ping(payload)),
            OpCode::Pong => on(Incoming::Pong(payload)),
            OpCode::Close => {
                let (code, reason) = parse_close_payload(payload)?;
                self.closed = true;
                on(Incoming::Close(code, reason));
            }
            _ => unreachable!("not a control opcode"),
        }
        Ok(())
    }
}

fn deliver(kind: OpCode, payload: &[u8], on: &mut dyn FnMut(Incoming<'_>)) {
    if kind == OpCode::Text {
        // SAFETY: every byte of this message passed the incremental UTF-8
        // validator, and `finish` confirmed no sequence was left open.
        on(Incoming::Text(unsafe {
            std::str::from_utf8_unchecked(payload)
        }));
    } else {
        on(Incoming::Binary(payload));
    }
}

/// Splits a close frame's payload into code and reason (§5.5.1, §7.4).
pub fn parse_close_payload(payload: &[u8]) -> Result<(Option<u16>, &str), ProtocolError> {
    match payload.len() {
        0 => Ok((None, "")),
        1 => Err(violation(
            PROTOCOL_ERROR,
            "close frame with a 1-byte payload",
        )),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !is_valid_close_code(code) {
                return Err(violation(PROTOCOL_ERROR, "invalid close code"));
            }
            let reason = simdutf8::basic::from_utf8(&payload[2..])
                .map_err(|_| violation(INVALID_PAYLOAD, "close reason is not valid UTF-8"))?;
            Ok((Some(code), reason))
        }
    }
}
