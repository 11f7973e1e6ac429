//! The permessage-deflate inflater.
//!
//! Input: a configuration byte (window, context takeover, the message
//! limit), then messages, each a two-byte length and that many bytes.
//! Checked for each message: the output never passes the limit (and
//! neither does the buffer's capacity: a bomb cannot make it allocate),
//! bytes already in the buffer stay, and the result agrees with zlib run
//! without a limit from the same state: success only when zlib inflates
//! the message to exactly that within the limit, "too big" only when
//! zlib's output passes the limit, "corrupt" only when zlib does not
//! succeed within it.

use crate::alloc;
use crate::input::Input;
use wsrt_proto::deflate::{InflateError, Inflater};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
const LIMITS: [usize; 8] = [1, 16, 125, 1000, 4096, 65536, 1 << 20, usize::MAX];
/// The reference stops here (a 8 KiB message inflates to ~8 MiB at most).
const REFERENCE_CAP: usize = 16 << 20;

/// What zlib makes of a message with no limit: its output, whether it is
/// a clean message (no error) and whether a final block ended the stream.
fn reference(z: &mut flate2::Decompress, msg: &[u8]) -> (Vec<u8>, bool, bool) {
    let mut out = Vec::new();
    for part in [msg, &TAIL[..]] {
        let mut input = part;
        loop {
            if out.len() == out.capacity() {
                out.reserve(64 * 1024);
            }
            let (in0, out0) = (z.total_in(), z.total_out());
            match z.decompress_vec(input, &mut out, flate2::FlushDecompress::Sync) {
                Err(_) => return (out, false, false),
                Ok(status) => {
                    let used = (z.total_in() - in0) as usize;
                    let made = (z.total_out() - out0) as usize;
                    input = &input[used..];
                    if status == flate2::Status::StreamEnd {
                        // What follows a final block (the RFC 7692 tail,
                        // the header byte of its §7.2.3.5 example) is not
                        // data, and no error.
                        return (out, true, true);
                    }
                    if out.len() > REFERENCE_CAP {
                        return (out, false, false);
                    }
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    if used == 0 && made == 0 && out.len() < out.capacity() {
                        return (out, false, false);
                    }
                }
            }
        }
    }
    (out, true, false)
}

pub fn inflate(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.byte();
    let bits = 8 + (cfg & 7);
    let reset = cfg & 8 != 0;
    let limit = LIMITS[(cfg >> 4 & 7) as usize];
    let keep_prefix = cfg & 0x80 != 0;
    let mut ours = Inflater::new(bits, reset);
    let mut zlib = flate2::Decompress::new_with_window_bits(false, bits.clamp(9, 15));

    for index in 0.. {
        if input.is_empty() {
            break;
        }
        let len = input.u16() as usize % 8192;
        let msg = input.take(len);
        let mut out = Vec::new();
        if keep_prefix {
            out.extend_from_slice(b"prefix");
        }
        let start = out.len();
        alloc::reset_peak();
        let before = alloc::live();
        let r = ours.inflate_message(msg, &mut out, limit);
        let grew = alloc::peak() - before;
        assert!(
            out[..start] == b"prefix"[..start],
            "the bytes before were changed"
        );
        let made = out.len() - start;
        // On corrupt input what zlib wrote before it failed stays: at most
        // the one byte past the limit that tells "too big" apart.
        let over = matches!(r, Err(InflateError::Corrupt)) as usize;
        assert!(
            made <= limit.saturating_add(over),
            "{made} bytes out past the limit of {limit}"
        );
        if limit < 1 << 20 {
            assert!(
                out.capacity() <= start + limit + 1 + 64,
                "capacity {} for a limit of {limit}",
                out.capacity()
            );
            // The output buffer, and no more than zlib's own state.
            assert!(
                grew <= (limit as isize + 1) + (256 << 10),
                "inflating one message took {grew} bytes of heap (limit {limit})"
            );
        }

        let (want, clean, ended) = reference(&mut zlib, msg);
        match r {
            Ok(()) => {
                assert!(clean, "accepted a message zlib finds corrupt");
                assert!(
                    out[start..] == want[..],
                    "inflated to other bytes than zlib"
                );
            }
            Err(InflateError::TooBig) => {
                assert!(limit < usize::MAX);
                assert!(
                    want.len() > limit,
                    "too big, but zlib makes {} bytes",
                    want.len()
                );
            }
            Err(InflateError::Corrupt) => {
                assert!(
                    !clean || want.len() > limit,
                    "message {index} refused as corrupt; zlib inflates it to {} bytes",
                    want.len()
                );
            }
        }
        // A stream that ended starts anew with the next message.
        if reset || r.is_err() || ended {
            zlib.reset(false);
        }
    }
}
