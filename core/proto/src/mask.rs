//! Client-to-server masking (RFC 6455 §5.3).
//!
//! The mask repeats every 4 bytes, so after rotating it to the current
//! offset we can XOR eight bytes at a time with a 64-bit word; the compiler
//! turns the fixed-size inner loop into SIMD on targets that have it.

/// XORs `buf` in place with `mask`, starting `offset` bytes into the mask
/// cycle (so a payload may be unmasked in pieces as it arrives).
#[inline]
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let shift = offset & 3;
    let m = [
        mask[shift],
        mask[(shift + 1) & 3],
        mask[(shift + 2) & 3],
        mask[(shift + 3) & 3],
    ];
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);

    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        // Four independent words per iteration keep the loop vectorisable.
        for lane in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(lane.try_into().unwrap()) ^ word;
            lane.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for lane in &mut words {
        let v = u64::from_ne_bytes(lane.try_into().unwrap()) ^ word;
        lane.copy_from_slice(&v.to_ne_bytes());
    }
    // Whole words consumed a multiple of 4 bytes, so the tail starts at m[0].
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= m[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], mask: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_bytewise_for_all_lengths_and_offsets() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..100 {
            for offset in 0..4 {
                let data: Vec<u8> = (0..len as u8).collect();
                let mut a = data.clone();
                let mut b = data.clone();
                apply_mask(&mut a, mask, offset);
                naive(&mut b, mask, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn split_application_equals_whole() {
        let mask = [1, 2, 3, 4];
        let data: Vec<u8> = (0..=255).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        for cut in 0..data.len() {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            apply_mask(a, mask, 0);
            apply_mask(b, mask, cut);
            assert_eq!(parts, whole);
        }
    }
}
