//! Reading the fuzzer's bytes as a few parameters and the rest.

/// A cursor over the input: bytes as they are needed, zeros once it is
/// exhausted (so every input is a valid program).
pub struct Input<'a> {
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    /// A length-prefixed (one byte) piece.
    pub fn piece(&mut self) -> &'a [u8] {
        let n = self.byte() as usize;
        self.take(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Split points for `len` bytes from the fuzzer's `seeds`: chunk sizes
/// 1..=seed (0 means "the rest").
pub fn chunks(len: usize, seeds: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let n = match seeds.get(i) {
            Some(0) | None => len - at,
            Some(&s) => (s as usize).min(len - at),
        };
        out.push(at..at + n);
        at += n;
        i += 1;
    }
    out
}
