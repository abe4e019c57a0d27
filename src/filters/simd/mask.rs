//! Packing 0/255 mask rows into 64-bit words of bits and back (the
//! morphology bit-plane path): AVX-512BW `vpmovb2m`/`vpmovm2b` (one
//! instruction per 64 pixels each way), AVX2 `movemask` and a byte-shuffle
//! unpack, or scalar code.

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

use super::SimdLevel;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// See [`super::pack_mask`]: returns `(pixels done, binary so far)`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn pack_mask_avx2(row: &[u8], bits: &mut [u64]) -> (usize, bool) {
        let n = (row.len() / 64).min(bits.len());
        let zero = _mm256_setzero_si256();
        let mut ok = _mm256_set1_epi8(-1);
        for (i, b) in bits[..n].iter_mut().enumerate() {
            let c = &row[64 * i..64 * i + 64];
            // SAFETY: `c` is a 64-byte slice: two 32-byte loads.
            let (v0, v1) = unsafe {
                (
                    _mm256_loadu_si256(c.as_ptr() as *const __m256i),
                    _mm256_loadu_si256(c.as_ptr().add(32) as *const __m256i),
                )
            };
            // A byte is 0 or 255 exactly when it equals its sign spread
            // over the byte (0 for 0..=127, 255 for 128..=255).
            let s0 = _mm256_cmpgt_epi8(zero, v0);
            let s1 = _mm256_cmpgt_epi8(zero, v1);
            ok = _mm256_and_si256(ok, _mm256_and_si256(_mm256_cmpeq_epi8(v0, s0), _mm256_cmpeq_epi8(v1, s1)));
            *b = _mm256_movemask_epi8(v0) as u32 as u64 | (_mm256_movemask_epi8(v1) as u32 as u64) << 32;
        }
        (64 * n, _mm256_movemask_epi8(ok) == -1)
    }

    /// See [`super::unpack_mask`]; returns the pixels done.
    #[target_feature(enable = "avx2")]
    pub(crate) fn unpack_mask_avx2(bits: &[u64], row: &mut [u8]) -> usize {
        let n = (row.len() / 64).min(bits.len());
        // Byte j of the output takes bit j % 8 of source byte j / 8.
        let sel = _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        );
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        for (i, &b) in bits[..n].iter().enumerate() {
            let d = &mut row[64 * i..64 * i + 64];
            for (half, word) in [(0, b as u32), (32, (b >> 32) as u32)] {
                let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(word as i32), sel);
                let m = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
                // SAFETY: `d` is a 64-byte slice; bytes half..half+32 are in it.
                unsafe { _mm256_storeu_si256(d.as_mut_ptr().add(half) as *mut __m256i, m) };
            }
        }
        64 * n
    }

    /// See [`super::pack_mask`], with AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn pack_mask_avx512(row: &[u8], bits: &mut [u64]) -> (usize, bool) {
        let n = (row.len() / 64).min(bits.len());
        let mut bad = 0u64;
        for (i, b) in bits[..n].iter_mut().enumerate() {
            let c = &row[64 * i..64 * i + 64];
            // SAFETY: `c` is a 64-byte slice.
            let v = unsafe { _mm512_loadu_si512(c.as_ptr() as *const __m512i) };
            let m = _mm512_movepi8_mask(v);
            // Binary exactly when the bytes equal the mask spread back.
            bad |= _mm512_cmpneq_epi8_mask(v, _mm512_movm_epi8(m));
            *b = m;
        }
        (64 * n, bad == 0)
    }

    /// See [`super::unpack_mask`], with AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn unpack_mask_avx512(bits: &[u64], row: &mut [u8]) -> usize {
        let n = (row.len() / 64).min(bits.len());
        for (i, &b) in bits[..n].iter().enumerate() {
            let d = &mut row[64 * i..64 * i + 64];
            // SAFETY: `d` is a 64-byte slice.
            unsafe { _mm512_storeu_si512(d.as_mut_ptr() as *mut __m512i, _mm512_movm_epi8(b)) };
        }
        64 * n
    }
}

/// Packs a mask row into bits, 64 pixels per word (bit `x % 64` of word
/// `x / 64` is pixel `x`'s top bit) for every whole group of 64 pixels,
/// with the kernel of `level` (the caller checked the CPU has it).
/// Returns `(pixels done, whether every byte seen was 0 or 255)`; the
/// caller handles the tail.
pub(crate) fn pack_mask(row: &[u8], bits: &mut [u64], level: SimdLevel) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    match level {
        // SAFETY: `level` is at most what this CPU has (`simd_level()`, or
        // `cpu_has` in the tests).
        SimdLevel::Avx512 => return unsafe { x86::pack_mask_avx512(row, bits) },
        // SAFETY: as above.
        SimdLevel::Avx2 => return unsafe { x86::pack_mask_avx2(row, bits) },
        _ => {}
    }
    let n = (row.len() / 64).min(bits.len());
    let mut ok = true;
    for (i, b) in bits[..n].iter_mut().enumerate() {
        let mut acc = 0u64;
        for (j, &v) in row[64 * i..64 * i + 64].iter().enumerate() {
            ok &= v == 0 || v == 255;
            acc |= ((v >> 7) as u64) << j;
        }
        *b = acc;
    }
    (64 * n, ok)
}

/// The inverse of [`pack_mask`]: bits to 0/255 bytes for every whole group
/// of 64 pixels; returns the pixels done.
pub(crate) fn unpack_mask(bits: &[u64], row: &mut [u8], level: SimdLevel) -> usize {
    #[cfg(target_arch = "x86_64")]
    match level {
        // SAFETY: `level` is at most what this CPU has (`simd_level()`, or
        // `cpu_has` in the tests).
        SimdLevel::Avx512 => return unsafe { x86::unpack_mask_avx512(bits, row) },
        // SAFETY: as above.
        SimdLevel::Avx2 => return unsafe { x86::unpack_mask_avx2(bits, row) },
        _ => {}
    }
    let n = (row.len() / 64).min(bits.len());
    for (i, &b) in bits[..n].iter().enumerate() {
        for (j, d) in row[64 * i..64 * i + 64].iter_mut().enumerate() {
            *d = ((b >> j) & 1) as u8 * 255;
        }
    }
    64 * n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::{cpu_has, skipped};

    /// Every packing kernel this CPU has against the scalar one, at widths
    /// around the 64-pixel steps and with a non-binary byte anywhere.
    #[test]
    fn mask_packing_matches_scalar() {
        let mut levels = vec![SimdLevel::Scalar];
        for l in [SimdLevel::Avx2, SimdLevel::Avx512] {
            if cpu_has(l) {
                levels.push(l);
            } else {
                skipped(
                    "mask_packing_matches_scalar",
                    &format!("the {} kernels: this CPU has no {}", l.name(), l.name()),
                );
            }
        }
        for n in [0usize, 1, 63, 64, 65, 127, 128, 200, 256] {
            let row: Vec<u8> = (0..n as u32).map(|i| if (i * 7919) % 5 < 2 { 255 } else { 0 }).collect();
            let mut want = vec![0u64; 5];
            let done = pack_mask(&row, &mut want, SimdLevel::Scalar);
            assert_eq!(done, (n / 64 * 64, true));
            for &l in &levels {
                let mut a = vec![0u64; 5];
                assert_eq!(pack_mask(&row, &mut a, l), done, "{l:?}, n = {n}");
                assert_eq!(a, want, "{l:?}, n = {n}");
                let mut back = vec![7u8; n];
                assert_eq!(unpack_mask(&a, &mut back, l), n / 64 * 64);
                assert_eq!(&back[..n / 64 * 64], &row[..n / 64 * 64], "{l:?}, n = {n}");
                assert!(back[n / 64 * 64..].iter().all(|&b| b == 7), "nothing written past the whole words");
                for bad_at in (0..n / 64 * 64).step_by(13) {
                    for bad in [1u8, 127, 128, 254] {
                        let mut r2 = row.clone();
                        r2[bad_at] = bad;
                        assert!(!pack_mask(&r2, &mut a, l).1, "{l:?}: {bad} at {bad_at} is not binary");
                    }
                }
            }
        }
    }
}
