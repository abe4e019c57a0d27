//! BT.601 limited-range YUV (packed 4:2:2 or NV12) to RGB/BGR with AVX2,
//! or AVX-512 with VBMI byte permutes, exactly the integer arithmetic of
//! `convert::yuv_px`.

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
        y2: &[u8],
        out2: &mut [u8],
    ) -> usize {
        // NV12 rows come in pairs that share a chroma row: with a second
        // luma row `y2` (and its output `out2`), the chroma products are
        // computed once for both.
        let two = NV12 && !y2.is_empty();
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
        use crate::convert as cv;
        let (cy, cub, cug, cvg, cvr) = (c(cv::CY), c(cv::CUB), c(cv::CUG), c(cv::CVG), c(cv::CVR));
        let (half, c16, c128, zero) = (c(1 << 19), c(16), c(128), _mm256_setzero_si256());
        let zero128 = _mm_setzero_si128();
        let dup_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
        let dup_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
        let mut p = 0;
        while p + 16 <= w && 3 * p + 52 <= out.len() {
            // Luma of pixels p..p+8 and p+8..p+16, chroma of the 8 pairs.
            let (ya, yb, ub, vb) = if NV12 {
                if p + 16 > y.len() || p + 16 > uv.len() || (two && (p + 16 > y2.len() || 3 * p + 52 > out2.len())) {
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
            let y2v = if two {
                // SAFETY: bytes p..p+16 of `y2` are in bounds (checked above).
                unsafe { _mm_loadu_si128(y2.as_ptr().add(p) as *const __m128i) }
            } else {
                zero128
            };
            for (half_i, yv) in [(0usize, ya), (1, yb)] {
                let dup = if half_i == 0 { dup_lo } else { dup_hi };
                let (ru, gu, bu) = (
                    _mm256_permutevar8x32_epi32(ruv, dup),
                    _mm256_permutevar8x32_epi32(guv, dup),
                    _mm256_permutevar8x32_epi32(buv, dup),
                );
                let emit = |yv: __m128i, d: &mut [u8]| {
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
                    let d = &mut d[..28];
                    // SAFETY: `d` has 28 bytes: the 16-byte stores at 0 and
                    // 12 fit; the second overwrites the first's 4 padding
                    // bytes.
                    unsafe {
                        _mm_storeu_si128(d.as_mut_ptr() as *mut __m128i, _mm256_castsi256_si128(px));
                        _mm_storeu_si128(d.as_mut_ptr().add(12) as *mut __m128i, _mm256_extracti128_si256::<1>(px));
                    }
                };
                let at = 3 * (p + 8 * half_i);
                emit(yv, &mut out[at..]);
                if two {
                    let yv2 = if half_i == 0 { y2v } else { _mm_srli_si128::<8>(y2v) };
                    emit(yv2, &mut out2[at..]);
                }
            }
            p += 16;
        }
        p
    }
    /// Byte tables of [`yuv_rgb_vbmi`], built at compile time: the luma and
    /// chroma picks from 64 bytes of packed 4:2:2 (or 32 of NV12 chroma),
    /// and where each output byte of 32 pixels sits in the packed R|G and
    /// B vectors (see the kernel for their layout).
    pub(crate) struct VbmiTables {
        pub(crate) y: [u8; 64],
        pub(crate) u: [u8; 64],
        pub(crate) v: [u8; 64],
        pub(crate) out: [[u8; 64]; 2],
    }

    pub(crate) const fn vbmi_tables(y0: usize, u: usize, v: usize, nv12: bool, bgr: bool) -> VbmiTables {
        let mut t = VbmiTables { y: [0; 64], u: [0; 64], v: [0; 64], out: [[0; 64]; 2] };
        let mut i = 0;
        while i < 32 {
            t.y[i] = if nv12 { i as u8 } else { (y0 + 2 * i) as u8 };
            i += 1;
        }
        let mut i = 0;
        while i < 16 {
            t.u[i] = if nv12 { (2 * i) as u8 } else { (u + 4 * i) as u8 };
            t.v[i] = if nv12 { (2 * i + 1) as u8 } else { (v + 4 * i) as u8 };
            i += 1;
        }
        // Byte of pixel q's first channel (R, or B in the B vector) after
        // packs_epi32 + packus_epi16 of its low (pixels 0..16) and high
        // (16..32) dword vectors: 128-bit lane L holds pixels 4L..4L+4 of
        // the low half at bytes 0..4 and of the high half at bytes 4..8.
        let mut o = 0;
        while o < 96 {
            let (q, c) = (o / 3, o % 3);
            let at = if q < 16 { 16 * (q / 4) + q % 4 } else { 16 * ((q - 16) / 4) + 4 + (q - 16) % 4 };
            // Channel order in memory: R, G, B (or B, G, R); R and G come
            // from the R|G vector (G 8 bytes after R), B from the second
            // source of vpermt2b (index + 64).
            let ch = if bgr { 2 - c } else { c };
            t.out[o / 64][o % 64] = match ch {
                0 => at as u8,
                1 => (at + 8) as u8,
                _ => (at + 64) as u8,
            };
            o += 1;
        }
        t
    }

    /// The AVX2 kernel's arithmetic on 32 pixels at a time with AVX-512
    /// and VBMI byte permutes: one `vpermb` each gathers the luma, U and V
    /// bytes; the chroma products are computed for 16 pairs and duplicated
    /// with `vpermd`; R and G are packed into one vector and B into
    /// another, and two `vpermt2b` interleave them into 96 output bytes.
    /// Returns the pixels done (a multiple of 32).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn yuv_rgb_vbmi<const Y0: usize, const U: usize, const V: usize, const NV12: bool, const BGR: bool>(
        y: &[u8],
        uv: &[u8],
        out: &mut [u8],
        w: usize,
        y2: &[u8],
        out2: &mut [u8],
    ) -> usize {
        // As in the AVX2 kernel: a second NV12 luma row shares the chroma.
        let two = NV12 && !y2.is_empty();
        let t = const { &vbmi_tables(Y0, U, V, NV12, BGR) };
        let ld = |a: &[u8; 64]| {
            // SAFETY: `a` is 64 bytes long.
            unsafe { _mm512_loadu_si512(a.as_ptr() as *const __m512i) }
        };
        let (ty, tu, tv, to0, to1) = (ld(&t.y), ld(&t.u), ld(&t.v), ld(&t.out[0]), ld(&t.out[1]));
        let c = _mm512_set1_epi32;
        use crate::convert as cv;
        let (cy, cub, cug, cvg, cvr) = (c(cv::CY), c(cv::CUB), c(cv::CUG), c(cv::CVG), c(cv::CVR));
        let (half, c16, c128, zero) = (c(1 << 19), c(16), c(128), _mm512_setzero_si512());
        let dup_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        let dup_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
        let mut p = 0;
        while p + 32 <= w && 3 * p + 96 <= out.len() {
            let (yb, cb) = if NV12 {
                if p + 32 > y.len() || p + 32 > uv.len() || (two && (p + 32 > y2.len() || 3 * p + 96 > out2.len())) {
                    break;
                }
                // SAFETY: bytes p..p+32 of `y` and `uv` are in bounds
                // (checked just above).
                let (yv, uvv) = unsafe {
                    (
                        _mm512_castsi256_si512(_mm256_loadu_si256(y.as_ptr().add(p) as *const __m256i)),
                        _mm512_castsi256_si512(_mm256_loadu_si256(uv.as_ptr().add(p) as *const __m256i)),
                    )
                };
                (_mm512_permutexvar_epi8(ty, yv), uvv)
            } else {
                if 2 * p + 64 > y.len() {
                    break;
                }
                // SAFETY: bytes 2p..2p+64 of `y` are in bounds (checked
                // just above).
                let v = unsafe { _mm512_loadu_si512(y.as_ptr().add(2 * p) as *const __m512i) };
                (_mm512_permutexvar_epi8(ty, v), v)
            };
            let ub = _mm512_castsi512_si128(_mm512_permutexvar_epi8(tu, cb));
            let vb = _mm512_castsi512_si128(_mm512_permutexvar_epi8(tv, cb));
            let uc = _mm512_sub_epi32(_mm512_cvtepu8_epi32(ub), c128);
            let vc = _mm512_sub_epi32(_mm512_cvtepu8_epi32(vb), c128);
            let ruv = _mm512_add_epi32(half, _mm512_mullo_epi32(vc, cvr));
            let guv =
                _mm512_add_epi32(half, _mm512_add_epi32(_mm512_mullo_epi32(vc, cvg), _mm512_mullo_epi32(uc, cug)));
            let buv = _mm512_add_epi32(half, _mm512_mullo_epi32(uc, cub));
            // Chroma products duplicated to the pixels of each half (no
            // closures: they would not inherit this function's features).
            let dups = [
                [
                    _mm512_permutexvar_epi32(dup_lo, ruv),
                    _mm512_permutexvar_epi32(dup_lo, guv),
                    _mm512_permutexvar_epi32(dup_lo, buv),
                ],
                [
                    _mm512_permutexvar_epi32(dup_hi, ruv),
                    _mm512_permutexvar_epi32(dup_hi, guv),
                    _mm512_permutexvar_epi32(dup_hi, buv),
                ],
            ];
            // Both rows in one loop body (a closure here would not inherit
            // the function's target features and would not be inlined).
            for row in 0..1 + two as usize {
                let yb = if row == 0 {
                    yb
                } else {
                    // SAFETY: bytes p..p+32 of `y2` are in bounds (checked
                    // above).
                    let v = unsafe { _mm512_castsi256_si512(_mm256_loadu_si256(y2.as_ptr().add(p) as *const __m256i)) };
                    _mm512_permutexvar_epi8(ty, v)
                };
                let mut rgb = [[zero; 2]; 3];
                for (h, du) in dups.iter().enumerate() {
                    let yq = if h == 0 { _mm512_castsi512_si128(yb) } else { _mm512_extracti32x4_epi32::<1>(yb) };
                    let yy =
                        _mm512_mullo_epi32(_mm512_max_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(yq), c16), zero), cy);
                    for k in 0..3 {
                        rgb[k][h] = _mm512_srai_epi32::<20>(_mm512_add_epi32(yy, du[k]));
                    }
                }
                // Saturating packs clamp to 0..=255 like the scalar code.
                let rg = _mm512_packus_epi16(
                    _mm512_packs_epi32(rgb[0][0], rgb[0][1]),
                    _mm512_packs_epi32(rgb[1][0], rgb[1][1]),
                );
                let b = _mm512_packus_epi16(_mm512_packs_epi32(rgb[2][0], rgb[2][1]), zero);
                let o0 = _mm512_permutex2var_epi8(rg, to0, b);
                let o1 = _mm512_permutex2var_epi8(rg, to1, b);
                let d = if row == 0 { &mut out[3 * p..3 * p + 96] } else { &mut out2[3 * p..3 * p + 96] };
                // SAFETY: `d` is 96 bytes long: a 64-byte and a 32-byte store.
                unsafe {
                    _mm512_storeu_si512(d.as_mut_ptr() as *mut __m512i, o0);
                    _mm256_storeu_si256(d.as_mut_ptr().add(64) as *mut __m256i, _mm512_castsi512_si256(o1));
                }
            }
            p += 32;
        }
        p
    }
}

/// YUV → RGB/BGR for a leading part of a row (see `x86::yuv_rgb_avx2`);
/// returns the pixels done, 0 without AVX2. For NV12, `y2` and `out2` may
/// hold the second row of the pair that shares `uv` (then both rows are
/// done to the same pixel), or be empty.
#[allow(clippy::too_many_arguments)]
pub(crate) fn yuv_rgb<const Y0: usize, const U: usize, const V: usize, const NV12: bool, const BGR: bool>(
    y: &[u8],
    uv: &[u8],
    out: &mut [u8],
    w: usize,
    y2: &[u8],
    out2: &mut [u8],
    avx2: bool,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        let mut done = 0;
        if super::have_avx512vbmi() {
            // SAFETY: `have_avx512vbmi()` saw AVX-512 F, BW and VBMI.
            done = unsafe { x86::yuv_rgb_vbmi::<Y0, U, V, NV12, BGR>(y, uv, out, w, y2, out2) };
        }
        let (yo, uvo) = if NV12 { (done, done) } else { (2 * done, 0) };
        let (y2o, o2o) = if y2.is_empty() { (0, 0) } else { (done, 3 * done) };
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        return done
            + unsafe {
                x86::yuv_rgb_avx2::<Y0, U, V, NV12, BGR>(
                    &y[yo..],
                    &uv[uvo.min(uv.len())..],
                    &mut out[3 * done..],
                    w - done,
                    &y2[y2o..],
                    &mut out2[o2o..],
                )
            };
    }
    let _ = (y, uv, out, w, y2, out2, avx2);
    0
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::convert::yuv_to_rgb;
    use crate::simd::SimdLevel;
    use crate::simd::test_util::{cpu_has, cpu_has_vbmi, skipped};

    /// What a kernel must write for `w` pixels: `convert::yuv_to_rgb` of
    /// each pixel with its pair's chroma.
    fn reference(y: &[u8], uv: &[u8], w: usize, layout: (usize, usize, usize), nv12: bool, bgr: bool) -> Vec<u8> {
        (0..w)
            .flat_map(|i| {
                let (yy, u, v) = if nv12 {
                    (y[i], uv[i / 2 * 2], uv[i / 2 * 2 + 1])
                } else {
                    let (y0, u, v) = layout;
                    (y[4 * (i / 2) + y0 + 2 * (i % 2)], y[4 * (i / 2) + u], y[4 * (i / 2) + v])
                };
                let p = yuv_to_rgb(yy, u, v);
                if bgr { [p[2], p[1], p[0]] } else { p }
            })
            .collect()
    }

    /// Every YUV kernel this CPU has, for YUYV, UYVY and NV12 into RGB and
    /// BGR, at every even width up to 200 (several steps of each kernel),
    /// against the per-pixel formula; nothing is written past the pixels
    /// a kernel reports done.
    #[test]
    fn yuv_kernels_match_the_formula() {
        let name = "yuv_kernels_match_the_formula";
        let (avx2, vbmi) = (cpu_has(SimdLevel::Avx2), cpu_has(SimdLevel::Avx512) && cpu_has_vbmi());
        if !avx2 {
            skipped(name, "the AVX2 kernel: this CPU has no AVX2");
        }
        if !vbmi {
            skipped(name, "the AVX-512 VBMI kernel: this CPU has no AVX-512 VBMI");
        }
        let src: Vec<u8> = (0..1000u32).map(|i| (i * 7919 % 251) as u8).collect();
        macro_rules! check {
            ($y0:literal, $u:literal, $v:literal, $nv12:literal, $bgr:literal) => {
                for w in (0..=200usize).step_by(2) {
                    let (y, uv) = if $nv12 { (&src[..w], &src[300..300 + w]) } else { (&src[..2 * w], &src[..0]) };
                    let want = reference(y, uv, w, ($y0, $u, $v), $nv12, $bgr);
                    let mut kernels: Vec<(&str, fn(&[u8], &[u8], &mut [u8], usize) -> usize)> = Vec::new();
                    if avx2 {
                        // SAFETY: the CPU has AVX2 (checked above).
                        kernels.push(("avx2", |y, uv, o, w| unsafe {
                            x86::yuv_rgb_avx2::<$y0, $u, $v, $nv12, $bgr>(y, uv, o, w, &[], &mut [])
                        }));
                    }
                    if vbmi {
                        // SAFETY: the CPU has AVX-512 F, BW and VBMI (checked above).
                        kernels.push(("vbmi", |y, uv, o, w| unsafe {
                            x86::yuv_rgb_vbmi::<$y0, $u, $v, $nv12, $bgr>(y, uv, o, w, &[], &mut [])
                        }));
                    }
                    for (kname, k) in kernels {
                        let mut out = vec![0xAAu8; 3 * w + 40];
                        let done = k(y, uv, &mut out[..3 * w], w);
                        assert!(done <= w);
                        let tag = format!("{kname} ({}, {}, {}, nv12 {}, bgr {}) w = {w}", $y0, $u, $v, $nv12, $bgr);
                        assert_eq!(&out[..3 * done], &want[..3 * done], "{tag}");
                        assert!(out[3 * w..].iter().all(|&b| b == 0xAA), "{tag}: written past the row");
                        assert!(w < 64 || done >= w - 32, "{tag}: only {done} done");
                    }
                }
            };
        }
        check!(0, 1, 3, false, false);
        check!(0, 1, 3, false, true);
        check!(1, 0, 2, false, false);
        check!(1, 0, 2, false, true);
        check!(0, 0, 0, true, false);
        check!(0, 0, 0, true, true);
        // NV12 row pairs sharing one chroma row: both rows as the formula
        // says, through both kernels.
        for w in (0..=200usize).step_by(2) {
            let (y0, y1, uv) = (&src[..w], &src[400..400 + w], &src[300..300 + w]);
            let (want0, want1) =
                (reference(y0, uv, w, (0, 0, 0), true, false), reference(y1, uv, w, (0, 0, 0), true, false));
            type Kernel = fn(&[u8], &[u8], &mut [u8], usize, &[u8], &mut [u8]) -> usize;
            let mut kernels: Vec<(&str, Kernel)> = Vec::new();
            if avx2 {
                // SAFETY: the CPU has AVX2 (checked above).
                kernels.push(("avx2", |y, uv, o, w, y2, o2| unsafe {
                    x86::yuv_rgb_avx2::<0, 0, 0, true, false>(y, uv, o, w, y2, o2)
                }));
            }
            if vbmi {
                // SAFETY: the CPU has AVX-512 F, BW and VBMI (checked above).
                kernels.push(("vbmi", |y, uv, o, w, y2, o2| unsafe {
                    x86::yuv_rgb_vbmi::<0, 0, 0, true, false>(y, uv, o, w, y2, o2)
                }));
            }
            for (kname, k) in kernels {
                let (mut o0, mut o1) = (vec![0u8; 3 * w], vec![0u8; 3 * w]);
                let done = k(y0, uv, &mut o0, w, y1, &mut o1);
                assert_eq!(&o0[..3 * done], &want0[..3 * done], "{kname} two rows, w = {w}, first");
                assert_eq!(&o1[..3 * done], &want1[..3 * done], "{kname} two rows, w = {w}, second");
                assert!(w < 64 || done >= w - 32, "{kname}: only {done} done");
            }
        }
    }
}
