//! RGB/BGR -> GREY with AVX-512 VBMI: OpenCV's 15-bit fixed-point weights
//! (`convert::gray_kernel`), exactly, 16 pixels per step.

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `vpermb` indices (with a zeroing mask) that turn 16 pixels (48
    /// bytes) into dwords `R | G << 16` and `B`, for `R` the offset of red.
    const fn picks(r: usize) -> ([u8; 64], [u8; 64]) {
        let (mut rg, mut b) = ([0u8; 64], [0u8; 64]);
        let mut q = 0;
        while q < 16 {
            rg[4 * q] = (3 * q + r) as u8;
            rg[4 * q + 2] = (3 * q + 1) as u8;
            b[4 * q] = (3 * q + 2 - r) as u8;
            q += 1;
        }
        (rg, b)
    }

    /// Grey of the leading pixels of `s` (3 bytes each, red at `R`) into
    /// `d`: each 16-pixel step is one 64-byte load, two zero-masked
    /// `vpermb` that place R and G in the two 16-bit halves of a dword and
    /// B beside a constant 1, two `pmaddwd` with (9798, 19235) and (3735,
    /// 16384) (the rounding term rides on the 1), an add, a shift by 15 and
    /// a narrowing store. Returns the pixels done.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn rgb_gray_vbmi<const R: usize>(s: &[u8], d: &mut [u8]) -> usize {
        let (rg, b) = const { &picks(R) };
        // SAFETY: both tables are 64 bytes long.
        let (rg, b) = unsafe {
            (_mm512_loadu_si512(rg.as_ptr() as *const __m512i), _mm512_loadu_si512(b.as_ptr() as *const __m512i))
        };
        // Bytes 0 and 2 of every dword, and byte 0.
        let (k_rg, k_b) = (0x5555_5555_5555_5555u64, 0x1111_1111_1111_1111u64);
        use crate::convert::{B2Y, G2Y, R2Y};
        let w_rg = _mm512_set1_epi32((G2Y << 16 | R2Y) as i32);
        let w_b = _mm512_set1_epi32(((1 << 14) << 16 | B2Y) as i32);
        let one = _mm512_set1_epi32(1 << 16);
        let n = d.len().min(s.len() / 3);
        let mut p = 0;
        while p + 16 <= n && 3 * p + 64 <= s.len() {
            // SAFETY: bytes 3p..3p+64 of `s` and p..p+16 of `d` are in
            // bounds (checked by the loop condition).
            unsafe {
                let v = _mm512_loadu_si512(s.as_ptr().add(3 * p) as *const __m512i);
                let x = _mm512_maskz_permutexvar_epi8(k_rg, rg, v);
                let y = _mm512_or_si512(_mm512_maskz_permutexvar_epi8(k_b, b, v), one);
                let sum = _mm512_add_epi32(_mm512_madd_epi16(x, w_rg), _mm512_madd_epi16(y, w_b));
                _mm512_mask_cvtepi32_storeu_epi8(
                    d.as_mut_ptr().add(p) as *mut i8,
                    0xFFFF,
                    _mm512_srli_epi32::<15>(sum),
                );
            }
            p += 16;
        }
        p
    }
}

/// Grey of the leading pixels of `s` into `d` with the AVX-512 VBMI kernel
/// when the CPU has it (and the level is not capped below it); returns the
/// pixels done (0 otherwise), the caller does the rest.
pub(crate) fn rgb_gray<const R: usize>(s: &[u8], d: &mut [u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if super::have_avx512vbmi() {
        // SAFETY: `have_avx512vbmi()` saw AVX-512 F, BW and VBMI.
        return unsafe { x86::rgb_gray_vbmi::<R>(s, d) };
    }
    0
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::simd::SimdLevel;
    use crate::simd::test_util::{cpu_has, cpu_has_vbmi, skipped};

    /// The VBMI kernel against the scalar formula at every width to 100,
    /// for RGB and BGR, on bytes of every value.
    #[test]
    fn rgb_gray_kernel_matches_the_formula() {
        if !(cpu_has(SimdLevel::Avx512) && cpu_has_vbmi()) {
            skipped("rgb_gray_kernel_matches_the_formula", "this CPU has no AVX-512 VBMI");
            return;
        }
        let s: Vec<u8> = (0..400u32).map(|i| (i * 7919 % 256) as u8).chain([255; 64]).collect();
        for n in 0..=100usize {
            let src = &s[..3 * n];
            for r in [0usize, 2] {
                let mut d = vec![7u8; n];
                // SAFETY: the CPU has AVX-512 F, BW and VBMI (checked above).
                let done = unsafe {
                    if r == 0 { x86::rgb_gray_vbmi::<0>(src, &mut d) } else { x86::rgb_gray_vbmi::<2>(src, &mut d) }
                };
                for (i, p) in src[..3 * done].chunks_exact(3).enumerate() {
                    let v = p[r] as u32 * 9798 + p[1] as u32 * 19235 + p[2 - r] as u32 * 3735;
                    assert_eq!(d[i] as u32, (v + (1 << 14)) >> 15, "n = {n}, pixel {i}, R at {r}");
                }
                assert!(d[done..].iter().all(|&b| b == 7));
                assert!(n < 40 || done + 22 >= n, "n = {n}: only {done} done");
            }
        }
    }
}
