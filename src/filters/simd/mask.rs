//! Packing 0/255 mask rows into bits and back (the morphology bit-plane
//! path), with AVX2 `movemask` and a byte-shuffle unpack.

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// See [`super::pack_mask`]: returns `(bytes done, binary so far)`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn pack_mask_avx2(row: &[u8], bits: &mut [u32]) -> (usize, bool) {
        let n = (row.len() / 32).min(bits.len());
        let zero = _mm256_setzero_si256();
        let ones = _mm256_set1_epi8(-1);
        let mut ok = _mm256_set1_epi8(-1);
        for (i, b) in bits[..n].iter_mut().enumerate() {
            let c = &row[32 * i..32 * i + 32];
            // SAFETY: `c` is a 32-byte slice.
            let v = unsafe { _mm256_loadu_si256(c.as_ptr() as *const __m256i) };
            let is0 = _mm256_cmpeq_epi8(v, zero);
            let is255 = _mm256_cmpeq_epi8(v, ones);
            ok = _mm256_and_si256(ok, _mm256_or_si256(is0, is255));
            *b = _mm256_movemask_epi8(v) as u32;
        }
        (32 * n, _mm256_movemask_epi8(ok) == -1)
    }

    /// See [`super::unpack_mask`]; returns the bytes done.
    #[target_feature(enable = "avx2")]
    pub(crate) fn unpack_mask_avx2(bits: &[u32], row: &mut [u8]) -> usize {
        let n = (row.len() / 32).min(bits.len());
        // Byte j of the output takes bit j % 8 of source byte j / 8.
        let sel = _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        );
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        for (i, &b) in bits[..n].iter().enumerate() {
            let v = _mm256_set1_epi32(b as i32);
            let spread = _mm256_shuffle_epi8(v, sel);
            let m = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
            let d = &mut row[32 * i..32 * i + 32];
            // SAFETY: `d` is a 32-byte slice.
            unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, m) };
        }
        32 * n
    }
}

/// Packs a mask row into bits, 32 pixels per `u32` (bit `x % 32` of word
/// `x / 32` is pixel `x`'s top bit) for every whole group of 32 pixels.
/// Returns `(pixels done, whether every byte seen was 0 or 255)`; the caller
/// handles the tail.
pub(crate) fn pack_mask(row: &[u8], bits: &mut [u32], avx2: bool) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        return unsafe { x86::pack_mask_avx2(row, bits) };
    }
    let _ = avx2;
    let n = (row.len() / 32).min(bits.len());
    let mut ok = true;
    for (i, b) in bits[..n].iter_mut().enumerate() {
        let mut acc = 0u32;
        for (j, &v) in row[32 * i..32 * i + 32].iter().enumerate() {
            ok &= v == 0 || v == 255;
            acc |= ((v >> 7) as u32) << j;
        }
        *b = acc;
    }
    (32 * n, ok)
}

/// The inverse of [`pack_mask`]: bits to 0/255 bytes for every whole group
/// of 32 pixels; returns the pixels done.
pub(crate) fn unpack_mask(bits: &[u32], row: &mut [u8], avx2: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        return unsafe { x86::unpack_mask_avx2(bits, row) };
    }
    let _ = avx2;
    let n = (row.len() / 32).min(bits.len());
    for (i, &b) in bits[..n].iter().enumerate() {
        for (j, d) in row[32 * i..32 * i + 32].iter_mut().enumerate() {
            *d = ((b >> j) & 1) as u8 * 255;
        }
    }
    32 * n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::simd::SimdLevel;
    use crate::filters::simd::test_util::{cpu_has, skipped};

    #[test]
    fn mask_packing_matches_scalar() {
        if !cpu_has(SimdLevel::Avx2) {
            skipped("mask_packing_matches_scalar", "this CPU has no AVX2");
            return;
        }
        let row: Vec<u8> = (0..100u32).map(|i| if (i * 7919) % 5 < 2 { 255 } else { 0 }).collect();
        let mut a = [0u32; 4];
        let mut b = [0u32; 4];
        assert_eq!(pack_mask(&row, &mut a, true), (96, true));
        assert_eq!(pack_mask(&row, &mut b, false), (96, true));
        assert_eq!(a, b);
        let mut back = vec![7u8; 100];
        let mut back2 = vec![7u8; 100];
        assert_eq!(unpack_mask(&a, &mut back, true), 96);
        unpack_mask(&a, &mut back2, false);
        assert_eq!(back, back2);
        assert_eq!(&back[..96], &row[..96]);
        let mut bad = row.clone();
        bad[40] = 3;
        assert!(!pack_mask(&bad, &mut a, true).1);
        assert!(!pack_mask(&bad, &mut b, false).1);
    }
}
