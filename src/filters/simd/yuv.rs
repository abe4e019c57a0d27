//! BT.601 limited-range YUV (packed 4:2:2 or NV12) to RGB/BGR with AVX2,
//! exactly the integer arithmetic of `convert::yuv_px`.

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// BT.601 limited-range YUV → RGB (or BGR) for 16 pixels at a time, with
    /// exactly the integer arithmetic of `convert::yuv_px` in 32-bit lanes.
    /// The chroma products are computed once per pixel pair (8 pairs per
    /// vector) and then duplicated, since `pmulld` is the bottleneck.
    /// `NV12`: `y` is the luma row and `uv` the interleaved chroma row;
    /// otherwise `y` is a packed 4:2:2 row with luma at `Y0 + 2i` and chroma
    /// at `U + 4i`, `V + 4i`. Returns the pixels done (a multiple of 16).
    #[target_feature(enable = "avx2")]
    pub(crate) fn yuv_rgb_avx2<const Y0: usize, const U: usize, const V: usize, const NV12: bool, const BGR: bool>(
        y: &[u8],
        uv: &[u8],
        out: &mut [u8],
        w: usize,
    ) -> usize {
        /// `count` bytes `first, first + step, ...` placed from byte `at`.
        const fn pick(first: usize, step: usize, count: usize, at: usize) -> [i8; 16] {
            let mut m = [-128i8; 16];
            let mut i = 0;
            while i < count {
                m[at + i] = (first + step * i) as i8;
                i += 1;
            }
            m
        }
        let ld = |m: &[i8; 16]| {
            // SAFETY: `m` is a 16-byte array.
            unsafe { _mm_loadu_si128(m.as_ptr() as *const __m128i) }
        };
        let (y_m, u_lo, u_hi, v_lo, v_hi) = if NV12 {
            (
                ld(&pick(0, 1, 8, 0)),
                ld(&pick(0, 2, 8, 0)),
                ld(&pick(0, 2, 0, 0)),
                ld(&pick(1, 2, 8, 0)),
                ld(&pick(1, 2, 0, 0)),
            )
        } else {
            (
                ld(&pick(Y0, 2, 8, 0)),
                ld(&pick(U, 4, 4, 0)),
                ld(&pick(U, 4, 4, 4)),
                ld(&pick(V, 4, 4, 0)),
                ld(&pick(V, 4, 4, 4)),
            )
        };
        let inter = _mm256_broadcastsi128_si256(ld(&[0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -128, -128, -128, -128]));
        let c = |v: i32| _mm256_set1_epi32(v);
        use crate::filters::convert as cv;
        let (cy, cub, cug, cvg, cvr) = (c(cv::CY), c(cv::CUB), c(cv::CUG), c(cv::CVG), c(cv::CVR));
        let (half, c16, c128, zero) = (c(1 << 19), c(16), c(128), _mm256_setzero_si256());
        let dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
        let dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
        let mut p = 0;
        while p + 16 <= w && 3 * p + 52 <= out.len() {
            // Luma of pixels p..p+8 and p+8..p+16, chroma of the 8 pairs.
            let (ya, yb, ub, vb) = if NV12 {
                if p + 16 > y.len() || p + 16 > uv.len() {
                    break;
                }
                let (ys, uvs) = (&y[p..p + 16], &uv[p..p + 16]);
                // SAFETY: `ys` and `uvs` are 16-byte slices.
                let (yv, uvv) = unsafe {
                    (_mm_loadu_si128(ys.as_ptr() as *const __m128i), _mm_loadu_si128(uvs.as_ptr() as *const __m128i))
                };
                (yv, _mm_srli_si128::<8>(yv), _mm_shuffle_epi8(uvv, u_lo), _mm_shuffle_epi8(uvv, v_lo))
            } else {
                let src = &y[2 * p..2 * p + 32];
                // SAFETY: `src` is a 32-byte slice: two 16-byte loads.
                let (a, b) = unsafe {
                    (
                        _mm_loadu_si128(src.as_ptr() as *const __m128i),
                        _mm_loadu_si128(src.as_ptr().add(16) as *const __m128i),
                    )
                };
                (
                    _mm_shuffle_epi8(a, y_m),
                    _mm_shuffle_epi8(b, y_m),
                    _mm_or_si128(_mm_shuffle_epi8(a, u_lo), _mm_shuffle_epi8(b, u_hi)),
                    _mm_or_si128(_mm_shuffle_epi8(a, v_lo), _mm_shuffle_epi8(b, v_hi)),
                )
            };
            let _ = (u_hi, v_hi);
            let uc = _mm256_sub_epi32(_mm256_cvtepu8_epi32(ub), c128);
            let vc = _mm256_sub_epi32(_mm256_cvtepu8_epi32(vb), c128);
            let ruv = _mm256_add_epi32(half, _mm256_mullo_epi32(vc, cvr));
            let guv =
                _mm256_add_epi32(half, _mm256_add_epi32(_mm256_mullo_epi32(vc, cvg), _mm256_mullo_epi32(uc, cug)));
            let buv = _mm256_add_epi32(half, _mm256_mullo_epi32(uc, cub));
            for (half_i, yv) in [(0usize, ya), (1, yb)] {
                let dup = if half_i == 0 { dup_lo } else { dup_hi };
                let (ru, gu, bu) = (
                    _mm256_permutevar8x32_epi32(ruv, dup),
                    _mm256_permutevar8x32_epi32(guv, dup),
                    _mm256_permutevar8x32_epi32(buv, dup),
                );
                let yy =
                    _mm256_mullo_epi32(_mm256_max_epi32(_mm256_sub_epi32(_mm256_cvtepu8_epi32(yv), c16), zero), cy);
                let r = _mm256_srai_epi32::<20>(_mm256_add_epi32(yy, ru));
                let g = _mm256_srai_epi32::<20>(_mm256_add_epi32(yy, gu));
                let b = _mm256_srai_epi32::<20>(_mm256_add_epi32(yy, bu));
                let (first, last) = if BGR { (b, r) } else { (r, b) };
                // Per 128-bit lane (4 pixels): c0 x4, c1 x4, c2 x4, 0 x4,
                // saturated to 0..=255 like the scalar clamp.
                let bytes = _mm256_packus_epi16(_mm256_packs_epi32(first, g), _mm256_packs_epi32(last, zero));
                let px = _mm256_shuffle_epi8(bytes, inter);
                let at = 3 * (p + 8 * half_i);
                let d = &mut out[at..at + 28];
                // SAFETY: `d` has 28 bytes: the 16-byte stores at 0 and 12
                // fit; the second overwrites the first's 4 padding bytes.
                unsafe {
                    _mm_storeu_si128(d.as_mut_ptr() as *mut __m128i, _mm256_castsi256_si128(px));
                    _mm_storeu_si128(d.as_mut_ptr().add(12) as *mut __m128i, _mm256_extracti128_si256::<1>(px));
                }
            }
            p += 16;
        }
        p
    }
}

/// YUV → RGB/BGR for a leading part of a row (see `x86::yuv_rgb_avx2`);
/// returns the pixels done, 0 without AVX2.
pub(crate) fn yuv_rgb<const Y0: usize, const U: usize, const V: usize, const NV12: bool, const BGR: bool>(
    y: &[u8],
    uv: &[u8],
    out: &mut [u8],
    w: usize,
    avx2: bool,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        return unsafe { x86::yuv_rgb_avx2::<Y0, U, V, NV12, BGR>(y, uv, out, w) };
    }
    let _ = (y, uv, out, w, avx2);
    0
}
