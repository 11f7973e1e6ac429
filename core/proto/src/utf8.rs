//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! Each piece is checked with `simdutf8` (SIMD where the CPU has it). A code
//! point cut by a frame or read boundary leaves at most three bytes behind,
//! which are completed from the next piece. Invalid input fails at the first
//! byte that cannot start or continue a valid sequence, so a peer cannot make
//! us buffer a bad message before rejecting it (Autobahn 6.x "fail fast").

#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// Validates the next piece of a text stream.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            while !data.is_empty() {
                self.pending[self.pending_len as usize] = data[0];
                self.pending_len += 1;
                data = &data[1..];
                match std::str::from_utf8(&self.pending[..self.pending_len as usize]) {
                    Ok(_) => {
                        self.pending_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                    Err(_) => {}
                }
            }
            if self.pending_len > 0 {
                return Ok(()); // still incomplete, input exhausted
            }
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Call at the end of a message: a dangling partial code point is invalid.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_split(data: &[u8]) -> bool {
        let whole = std::str::from_utf8(data).is_ok();
        for cut in 0..=data.len() {
            let mut v = Utf8Validator::new();
            let ok =
                v.feed(&data[..cut]).is_ok() && v.feed(&data[cut..]).is_ok() && v.finish().is_ok();
            assert_eq!(ok, whole, "cut {cut} of {data:?}");
        }
        whole
    }

    #[test]
    fn valid_multibyte_split_anywhere() {
        assert!(check_split("κόσμε €𝄞 hello".as_bytes()));
    }

    #[test]
    fn invalid_sequences() {
        for bad in [
            &b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"[..],
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xff",
            b"ab\xe2\x82",
        ] {
            assert!(!check_split(bad));
        }
    }

    #[test]
    fn fails_fast_on_bad_prefix() {
        let mut v = Utf8Validator::new();
        // 0xF5 can never start a sequence: rejected before the message ends.
        assert!(v.feed(b"abc\xf5").is_err());
        let mut v = Utf8Validator::new();
        // A surrogate lead (ED A0) is rejected at once, even split.
        assert!(v.feed(b"\xed").is_ok());
        assert!(v.feed(b"\xa0").is_err());
    }

    #[test]
    fn byte_by_byte() {
        let text = "Hello-µ@ßöäüàá-UTF-8!! 𝄞";
        let mut v = Utf8Validator::new();
        for b in text.as_bytes() {
            v.feed(std::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }
}
