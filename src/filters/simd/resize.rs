//! The resize kernels: bilinear horizontal taps (32-bit gathers +
//! `pmaddwd`), OpenCV's vertical blend (`VResizeLinearVec_32s8u`), the
//! 2x2 box average of GREY rows, and the 4:3 area shrink (OpenCV's float
//! `INTER_AREA` arithmetic, vectorised without changing a single rounding).

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

/// Source byte of tap 0 of output sample `i` in the 4:3 area shrink with
/// `c` channels: output pixel `dx` reads source pixels `4 (dx / 3) + dx % 3`
/// and the next one (tap 1, `c` bytes on).
const fn a43_src(i: usize, c: usize) -> usize {
    let dx = i / c;
    (4 * (dx / 3) + dx % 3) * c + i % c
}

/// The byte-gather tables of the 4:3 horizontal kernel for vectors of `v`
/// (at most 8) floats: the pattern repeats every `out` output samples
/// (`lcm(v, 3c)`, at most 9 vectors) and `src = out * 4 / 3` source bytes.
/// Vector `k` of a period loads 16 bytes at `lo[k]` and `pshufb` with
/// `mask[k]` puts its `v` tap-0 bytes in the low half and its `v` tap-1
/// bytes in the high half.
#[derive(Clone, Copy)]
struct A43 {
    out: usize,
    src: usize,
    lo: [usize; 9],
    mask: [[u8; 16]; 9],
}

const fn a43_table(c: usize, v: usize) -> A43 {
    let (mut a, mut b) = (v, 3 * c);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let out = v * 3 * c / a;
    let mut t = A43 { out, src: out / 3 * 4, lo: [0; 9], mask: [[0x80; 16]; 9] };
    let mut k = 0;
    while k < out / v {
        let lo = a43_src(k * v, c);
        t.lo[k] = lo;
        let mut j = 0;
        while j < v {
            let s = a43_src(k * v + j, c) - lo;
            // Both taps of every sample lie inside the 16 bytes loaded.
            assert!(v <= 8 && s + c < 16);
            t.mask[k][j] = s as u8;
            t.mask[k][v + j] = (s + c) as u8;
            j += 1;
        }
        k += 1;
    }
    t
}

const A43_1X8: A43 = a43_table(1, 8);
const A43_3X8: A43 = a43_table(3, 8);

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// See [`super::vline`]; returns the samples done (a multiple of 32).
    #[target_feature(enable = "avx2")]
    pub(crate) fn vline_avx2(r0: &[i32], r1: &[i32], b0: i16, b1: i16, out: &mut [u8]) -> usize {
        let n = out.len().min(r0.len()).min(r1.len());
        let (w0, w1, two) = (_mm256_set1_epi16(b0), _mm256_set1_epi16(b1), _mm256_set1_epi16(2));
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        // 16 samples of a row, >> 4 and narrowed to i16 (in packs' lane order).
        let narrow = |r: &[i32]| {
            // SAFETY: `r` has 16 elements (the callers slice exactly 16).
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(r.as_ptr() as *const __m256i),
                    _mm256_loadu_si256(r.as_ptr().add(8) as *const __m256i),
                )
            };
            _mm256_packs_epi32(_mm256_srai_epi32::<4>(a), _mm256_srai_epi32::<4>(b))
        };
        let mut i = 0;
        while i + 32 <= n {
            let mut half = [_mm256_setzero_si256(); 2];
            for (k, h) in half.iter_mut().enumerate() {
                let j = i + 16 * k;
                let a = _mm256_mulhi_epi16(w0, narrow(&r0[j..j + 16]));
                let b = _mm256_mulhi_epi16(w1, narrow(&r1[j..j + 16]));
                *h = _mm256_srai_epi16::<2>(_mm256_add_epi16(_mm256_add_epi16(a, b), two));
            }
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(half[0], half[1]), order);
            let d = &mut out[i..i + 32];
            // SAFETY: `d` is a 32-byte slice.
            unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, bytes) };
            i += 32;
        }
        i
    }

    /// [`super::hline`] for 3-channel rows without gathers (which are slow
    /// on AMD CPUs): two output pixels per step, each one 8-byte load at
    /// its left tap (both taps of all three channels), a byte shuffle into
    /// (left, right) 16-bit pairs per channel and one `pmaddwd` with the
    /// pixel's weights; each 128-bit lane stores 4 samples, the 4th
    /// rewritten by the next pixel. `ofs` must hold one pixel's three
    /// channel offsets in a row (as the resizer builds them). Returns the
    /// samples done (a multiple of 3).
    #[target_feature(enable = "avx2")]
    pub(crate) fn hline3_avx2(src: &[u8], ofs: &[i32], wts: &[i32], out: &mut [i32]) -> usize {
        let n = out.len().min(ofs.len()).min(wts.len()) / 3 * 3;
        let shuf = _mm256_setr_epi8(
            0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128, -128, -128, -128, 0, -128, 3, -128, 1, -128, 4,
            -128, 2, -128, 5, -128, -128, -128, -128, -128,
        );
        let mut i = 0;
        while 3 * i + 7 <= n {
            let (o0, o1) = (ofs[3 * i], ofs[3 * i + 3]);
            if o0 < 0 || o1 < 0 || o0 as usize + 8 > src.len() || o1 as usize + 8 > src.len() {
                break;
            }
            // SAFETY: bytes o0..o0+8 and o1..o1+8 of `src` are in bounds
            // (checked just above); samples 3i..3i+7 of `out` too (loop
            // condition).
            unsafe {
                let a = _mm_loadl_epi64(src.as_ptr().add(o0 as usize) as *const __m128i);
                let b = _mm_loadl_epi64(src.as_ptr().add(o1 as usize) as *const __m128i);
                let w = _mm256_set_m128i(_mm_set1_epi32(wts[3 * i + 3]), _mm_set1_epi32(wts[3 * i]));
                let r = _mm256_madd_epi16(_mm256_shuffle_epi8(_mm256_set_m128i(b, a), shuf), w);
                let d = out.as_mut_ptr().add(3 * i);
                _mm_storeu_si128(d as *mut __m128i, _mm256_castsi256_si128(r));
                _mm_storeu_si128(d.add(3) as *mut __m128i, _mm256_extracti128_si256::<1>(r));
            }
            i += 2;
        }
        3 * i
    }

    /// See [`super::hline`]; returns the samples done.
    #[target_feature(enable = "avx2")]
    pub(crate) fn hline_avx2<const C: usize>(src: &[u8], ofs: &[i32], wts: &[i32], out: &mut [i32]) -> usize {
        let n = out.len();
        // Per 32-bit lane: byte 0 -> low half of the low word, byte C -> low
        // half of the high word, zeros elsewhere.
        let m = |l: i8| [l, -128, l + C as i8, -128];
        let lanes: [i8; 32] = {
            let mut a = [0i8; 32];
            for i in 0..8 {
                a[4 * i..4 * i + 4].copy_from_slice(&m(4 * (i as i8 % 4)));
            }
            a
        };
        // SAFETY: `lanes` is a 32-byte array.
        let shuf = unsafe { _mm256_loadu_si256(lanes.as_ptr() as *const __m256i) };
        let mut i = 0;
        while i + 8 <= n {
            // Offsets never decrease, so the last lane bounds the block: the
            // gather reads 4 bytes at each offset.
            let last = ofs[i + 7];
            if last < 0 || last as usize + 4 > src.len() || ofs[i] < 0 {
                break;
            }
            let (o, w) = (&ofs[i..i + 8], &wts[i..i + 8]);
            // SAFETY: `o` and `w` are 8-element i32 slices; every offset in
            // `o` is in 0..=src.len()-4 (checked above for the largest,
            // offsets are non-decreasing and non-negative), so each 4-byte
            // gather read is inside `src`.
            let (vo, vw) = unsafe {
                (_mm256_loadu_si256(o.as_ptr() as *const __m256i), _mm256_loadu_si256(w.as_ptr() as *const __m256i))
            };
            // SAFETY: see above; scale 1 makes the offsets byte offsets.
            let v = unsafe { _mm256_i32gather_epi32::<1>(src.as_ptr() as *const i32, vo) };
            let taps = _mm256_shuffle_epi8(v, shuf);
            let r = _mm256_madd_epi16(taps, vw);
            let d = &mut out[i..i + 8];
            // SAFETY: `d` is an 8-element i32 slice.
            unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, r) };
            i += 8;
        }
        i
    }

    /// See [`super::area43_h`], 8 samples per vector: one 16-byte load,
    /// one `pshufb` that gathers both taps' bytes, widening to `f32`, then
    /// `s0 * w0 + s1 * w1` with separate multiplies and add (no FMA, which
    /// would round once instead of twice and differ from OpenCV). Returns
    /// the samples done (whole periods of the pattern).
    #[target_feature(enable = "avx2")]
    pub(crate) fn area43_h_avx2(t: &super::A43, line: &[u8], w0: &[f32], w1: &[f32], row: &mut [f32]) -> usize {
        let n = row.len().min(w0.len()).min(w1.len());
        let vecs = t.out / 8;
        let need = t.lo[..vecs].iter().max().copied().unwrap_or(0) + 16;
        let mut m = [_mm_setzero_si128(); 9];
        for (mk, tk) in m.iter_mut().zip(&t.mask).take(vecs) {
            // SAFETY: `tk` is a 16-byte array.
            *mk = unsafe { _mm_loadu_si128(tk.as_ptr() as *const __m128i) };
        }
        let (mut o, mut s) = (0, 0);
        while o + t.out <= n && s + need <= line.len() {
            for (k, mk) in m.iter().enumerate().take(vecs) {
                let i = o + 8 * k;
                // SAFETY: bytes s+lo..s+lo+16 of `line` are in bounds (lo + 16
                // <= need, checked by the loop); samples i..i+8 of `row`, `w0`
                // and `w1` too (i + 8 <= o + t.out <= n).
                unsafe {
                    let x = _mm_loadu_si128(line.as_ptr().add(s + t.lo[k]) as *const __m128i);
                    let x = _mm_shuffle_epi8(x, *mk);
                    let a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(x));
                    let b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(x, x)));
                    let a = _mm256_mul_ps(a, _mm256_loadu_ps(w0.as_ptr().add(i)));
                    let b = _mm256_mul_ps(b, _mm256_loadu_ps(w1.as_ptr().add(i)));
                    _mm256_storeu_ps(row.as_mut_ptr().add(i), _mm256_add_ps(a, b));
                }
            }
            o += t.out;
            s += t.src;
        }
        o
    }

    /// See [`super::area_v2`], 32 samples per step; `cvtps2dq` rounds half
    /// to even (the default MXCSR mode, which Rust code never changes) like
    /// OpenCV's `cvRound`, and the two saturating packs clamp to 0..=255.
    /// Returns the samples done.
    #[target_feature(enable = "avx2")]
    pub(crate) fn area_v2_avx2(ra: &[f32], rb: &[f32], wa: f32, wb: f32, out: &mut [u8]) -> usize {
        let n = out.len().min(ra.len()).min(rb.len());
        let (va, vb) = (_mm256_set1_ps(wa), _mm256_set1_ps(wb));
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let mut i = 0;
        while i + 32 <= n {
            let mut q = [_mm256_setzero_si256(); 4];
            for (k, qk) in q.iter_mut().enumerate() {
                // SAFETY: samples i..i+32 of `ra` and `rb` are in bounds (i +
                // 32 <= n).
                let (a, b) = unsafe {
                    (_mm256_loadu_ps(ra.as_ptr().add(i + 8 * k)), _mm256_loadu_ps(rb.as_ptr().add(i + 8 * k)))
                };
                *qk = _mm256_cvtps_epi32(_mm256_add_ps(_mm256_mul_ps(va, a), _mm256_mul_ps(vb, b)));
            }
            let w = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            let w = _mm256_permutevar8x32_epi32(w, order);
            // SAFETY: bytes i..i+32 of `out` are in bounds (i + 32 <= n).
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, w) };
            i += 32;
        }
        i
    }

    /// See [`super::area2_gray`]; returns the output bytes done.
    #[target_feature(enable = "ssse3")]
    pub(crate) fn area2_gray(a: &[u8], b: &[u8], d: &mut [u8]) -> usize {
        let n = d.len().min(a.len() / 2).min(b.len() / 2);
        let ones = _mm_set1_epi8(1);
        let two = _mm_set1_epi16(2);
        let mut p = 0;
        while p + 16 <= n {
            let (a, b) = (&a[2 * p..2 * p + 32], &b[2 * p..2 * p + 32]);
            // SAFETY: `a` and `b` are 32-byte slices (bounds-checked just
            // above), so both 16-byte loads at offsets 0 and 16 are in bounds.
            let (a0, a1, b0, b1) = unsafe {
                (
                    _mm_loadu_si128(a.as_ptr() as *const __m128i),
                    _mm_loadu_si128(a.as_ptr().add(16) as *const __m128i),
                    _mm_loadu_si128(b.as_ptr() as *const __m128i),
                    _mm_loadu_si128(b.as_ptr().add(16) as *const __m128i),
                )
            };
            // maddubs with all-ones: sums of horizontal byte pairs as u16.
            let lo = _mm_add_epi16(_mm_maddubs_epi16(a0, ones), _mm_maddubs_epi16(b0, ones));
            let hi = _mm_add_epi16(_mm_maddubs_epi16(a1, ones), _mm_maddubs_epi16(b1, ones));
            let lo = _mm_srli_epi16::<2>(_mm_add_epi16(lo, two));
            let hi = _mm_srli_epi16::<2>(_mm_add_epi16(hi, two));
            let out = &mut d[p..p + 16];
            // SAFETY: `out` is a 16-byte slice.
            unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, _mm_packus_epi16(lo, hi)) };
            p += 16;
        }
        p
    }
}

/// Horizontal bilinear taps for one row: for every output sample `i`,
/// `out[i] = src[ofs[i]] * w0 + src[ofs[i] + C] * w1` where `wts[i]` packs
/// `w0` in its low and `w1` in its high 16 bits. For `C = 3`, `ofs` and
/// `wts` come in whole pixels: three consecutive offsets and one weight
/// pair per pixel (as `resize::sample_tab` builds them). With AVX2 each group of 8
/// samples is one 32-bit gather (both taps are bytes of the word read at
/// `ofs[i]`), one byte shuffle and one `pmaddwd`.
pub(crate) fn hline<const C: usize>(src: &[u8], ofs: &[i32], wts: &[i32], out: &mut [i32], avx2: bool) {
    let n = out.len().min(ofs.len()).min(wts.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        done = unsafe {
            if C == 3 {
                x86::hline3_avx2(src, &ofs[..n], &wts[..n], &mut out[..n])
            } else {
                x86::hline_avx2::<C>(src, &ofs[..n], &wts[..n], &mut out[..n])
            }
        };
    }
    let _ = avx2;
    for i in done..n {
        let o = ofs[i] as usize;
        let (w0, w1) = (wts[i] & 0xffff, wts[i] >> 16);
        let s1 = src.get(o + C).copied().unwrap_or(0) as i32; // w1 is 0 at the right edge
        out[i] = src[o] as i32 * w0 + s1 * w1;
    }
}

/// OpenCV's `VResizeLinearVec_32s8u`: blends two horizontally interpolated
/// rows with 11-bit weights using 16-bit high multiplies,
/// `((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2`, which is
/// what makes `INTER_LINEAR` results bit-exact with OpenCV's SIMD path.
pub(crate) fn vline(r0: &[i32], r1: &[i32], b1: i16, out: &mut [u8], avx2: bool) {
    let b0 = ((1 << 11) - b1 as i32) as i16;
    let n = out.len();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
        done = unsafe { x86::vline_avx2(r0, r1, b0, b1, out) };
    }
    let _ = avx2;
    let (b0, b1) = (b0 as i32, b1 as i32);
    for i in done..n {
        let a = (b0 * (r0[i] >> 4)) >> 16;
        let b = (b1 * (r1[i] >> 4)) >> 16;
        out[i] = ((a + b + 2) >> 2).clamp(0, 255) as u8;
    }
}

/// 2x2 box average of two GREY rows, rounding half up:
/// `d[i] = (a[2i] + a[2i+1] + b[2i] + b[2i+1] + 2) >> 2`.
pub(crate) fn area2_gray(a: &[u8], b: &[u8], d: &mut [u8], ssse3: bool) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if ssse3 {
        // SAFETY: `ssse3` is true only when the caller saw SSSE3 on this CPU (`have_ssse3()`, or `cpu_has` in the tests).
        done = unsafe { x86::area2_gray(a, b, d) };
    }
    let _ = ssse3;
    for i in done..d.len() {
        let s = a[2 * i] as u16 + a[2 * i + 1] as u16 + b[2 * i] as u16 + b[2 * i + 1] as u16;
        d[i] = ((s + 2) >> 2) as u8;
    }
}

/// The horizontal pass of the 4:3 area shrink (`sw = 4/3 dw`), one source
/// row: `row[i] = s0 * w0[i] + s1 * w1[i]` for every output sample `i`
/// (pixel `dx = i / C`), where `s0` is the source sample of pixel
/// `4 (dx / 3) + dx % 3` (same channel) and `s1` the one after it, in `f32`
/// with a rounding after the multiplies and after the add: exactly the
/// operations OpenCV's `ResizeArea_Invoker` does for a column with two taps
/// (`buf = 0; buf += S[s0] * a0; buf += S[s1] * a1`, and `0 + x == x`).
/// `w0` and `w1` hold each sample's weights (its pixel's, repeated per
/// channel). The AVX2 kernel also runs on AVX-512 CPUs: AVX-512 versions
/// (16 samples per VBMI `vpermb`, 64-sample vertical steps) measured slower
/// on Zen 4 (0.215 against 0.155 ms for 640x480 RGB), their 64-byte
/// accesses to the `f32` rows splitting cache lines.
pub(crate) fn area43_h<const C: usize>(line: &[u8], w0: &[f32], w1: &[f32], row: &mut [f32], avx2: bool) {
    let n = row.len();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        let t = if C == 1 { &A43_1X8 } else { &A43_3X8 };
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU
        // (`have_avx2()`, or `cpu_has` in the tests).
        done = unsafe { x86::area43_h_avx2(t, line, &w0[..n], &w1[..n], row) };
    }
    let _ = avx2;
    for i in done..n {
        let s = a43_src(i, C);
        row[i] = line[s] as f32 * w0[i] + line[s + C] as f32 * w1[i];
    }
}

/// The vertical pass of an area shrink whose output rows each cover two
/// source rows: `out[i] = saturate(round_half_even(wa * ra[i] + wb * rb[i]))`,
/// OpenCV's `sum = beta * buf; sum += beta * buf;` and
/// `saturate_cast<uchar>` in the same `f32` operations.
pub(crate) fn area_v2(ra: &[f32], rb: &[f32], wa: f32, wb: f32, out: &mut [u8], avx2: bool) {
    let n = out.len();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU
        // (`have_avx2()`, or `cpu_has` in the tests).
        done = unsafe { x86::area_v2_avx2(ra, rb, wa, wb, out) };
    }
    let _ = avx2;
    for i in done..n {
        out[i] = (wa * ra[i] + wb * rb[i]).round_ties_even().clamp(0.0, 255.0) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::SimdLevel;
    use crate::simd::test_util::{cpu_has, skipped};

    #[test]
    fn gathered_bilinear_taps_match_scalar() {
        if !cpu_has(SimdLevel::Avx2) {
            skipped("gathered_bilinear_taps_match_scalar", "this CPU has no AVX2");
            return;
        }
        let src: Vec<u8> = (0..300).map(|i| (i * 37 % 251) as u8).collect();
        for c in [1usize, 3] {
            // Non-decreasing offsets up to the last pixel (weight 0 on its right tap).
            let px = src.len() / c;
            let ofs: Vec<i32> =
                (0..150).flat_map(|i| (0..c).map(move |ch| ((i * 2 / 3).min(px - 1) * c + ch) as i32)).collect();
            let wts: Vec<i32> = (0..ofs.len())
                .map(|i| {
                    // One weight pair per pixel, as the resizer builds them.
                    let p = (i / c) as i32;
                    if ofs[i] as usize >= (px - 1) * c {
                        2048
                    } else {
                        (2048 - (p * 97 % 2048)) | (p * 97 % 2048) << 16
                    }
                })
                .collect();
            let mut a = vec![0i32; ofs.len()];
            let mut b = vec![0i32; ofs.len()];
            if c == 1 {
                hline::<1>(&src[..px], &ofs, &wts, &mut a, true);
                hline::<1>(&src[..px], &ofs, &wts, &mut b, false);
            } else {
                hline::<3>(&src[..px * 3], &ofs, &wts, &mut a, true);
                hline::<3>(&src[..px * 3], &ofs, &wts, &mut b, false);
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn vertical_blend_matches_scalar() {
        if !cpu_has(SimdLevel::Avx2) {
            skipped("vertical_blend_matches_scalar", "this CPU has no AVX2");
            return;
        }
        let r0: Vec<i32> = (0..100).map(|i| (i * 7919 % 256) * 2048 - (i % 5) * 100).map(|v: i32| v.max(0)).collect();
        let r1: Vec<i32> = (0..100).map(|i| (i * 104_729 % 256) * 2048).collect();
        for b1 in [0i16, 1, 700, 1024, 2047, 2048] {
            let mut a = vec![0u8; 100];
            let mut b = vec![0u8; 100];
            vline(&r0, &r1, b1, &mut a, true);
            vline(&r0, &r1, b1, &mut b, false);
            assert_eq!(a, b, "b1 = {b1}");
        }
    }

    /// The AVX2 4:3 horizontal area kernel (whatever `FRAMEWIRE_SIMD` says)
    /// against the scalar reference, bit for bit, at
    /// every output width up to 400 samples, with the source row exactly as
    /// long as the last tap needs (so a load past it would be caught by the
    /// bounds the kernels check) and weights that differ per sample.
    #[test]
    fn area43_horizontal_matches_scalar() {
        let name = "area43_horizontal_matches_scalar";
        if !cpu_has(SimdLevel::Avx2) {
            skipped(name, "this CPU has no AVX2");
            return;
        }
        let w0: Vec<f32> = (0..400).map(|i| ((i * 7919) % 1000) as f32 / 997.0).collect();
        let w1: Vec<f32> = (0..400).map(|i| ((i * 104_729) % 1000) as f32 / 1009.0 + 0.001).collect();
        for c in [1usize, 3] {
            for n in (0..=400).filter(|n| n % c == 0) {
                let len = if n == 0 { 0 } else { a43_src(n - 1, c) + c + 1 };
                let line: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                let mut want = vec![0f32; n];
                let mut got = vec![0f32; n];
                let run = |row: &mut [f32], avx2| {
                    if c == 1 {
                        area43_h::<1>(&line, &w0, &w1, row, avx2)
                    } else {
                        area43_h::<3>(&line, &w0, &w1, row, avx2)
                    }
                };
                run(&mut want, false);
                got.fill(-1.0);
                run(&mut got, true);
                let same = want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "C = {c}, n = {n}: {got:?} != {want:?}");
            }
        }
    }

    /// The AVX2 fused vertical pass against the scalar reference: sums at and around every half (round half to even),
    /// below 0 and above 255 (saturation), at every length up to 200.
    #[test]
    fn area_v2_matches_scalar() {
        let name = "area_v2_matches_scalar";
        if !cpu_has(SimdLevel::Avx2) {
            skipped(name, "this CPU has no AVX2");
            return;
        }
        let ra: Vec<f32> = (0..200).map(|i| (i as f32 - 20.0) * 1.5 + 0.5).collect();
        let rb: Vec<f32> = (0..200).map(|i| ((i * 31) % 300) as f32 - 10.25).collect();
        for (wa, wb) in [(0.5f32, 0.5f32), (0.75, 0.25), (0.25, 0.75), (1.0, 0.0), (0.3, 0.7)] {
            for n in 0..=200 {
                let mut want = vec![0u8; n];
                area_v2(&ra, &rb, wa, wb, &mut want, false);
                let mut got = vec![0xAAu8; n];
                area_v2(&ra, &rb, wa, wb, &mut got, true);
                assert_eq!(got, want, "n = {n}, weights {wa} {wb}");
            }
        }
    }
}
