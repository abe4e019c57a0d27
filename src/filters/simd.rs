//! Hand-written x86-64 SIMD kernels for what LLVM does not vectorise on its
//! own: byte shuffles of 3-byte pixels (SSSE3 `pshufb`: flips, RGB <-> BGR,
//! 2x shrink), AVX2 and AVX-512BW kernels for RGB <-> BGR (blends, or
//! masked merges, of shifted loads), and AVX2 kernels for YUV -> RGB, the
//! bilinear taps (32-bit gathers + `pmaddwd`), the bilinear vertical blend
//! and mask bit packing.
//! This is the only module of the filters with `unsafe`: unaligned loads and
//! stores (and gathers), each on a range whose length was checked just
//! before, and calls into `#[target_feature]` functions after run-time
//! detection.
//!
//! Every function has a scalar fallback computing exactly the same result
//! (the tests compare them); it runs for remainders, on CPUs without the
//! feature and on other architectures (aarch64 builds use only the
//! fallbacks and the auto-vectorised kernels elsewhere).

// Elsewhere than x86-64 only the scalar fallbacks remain: the masks and
// the `simd` flags are then unused by design.
#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

/// `out[j] = in[f(j)]` over `OUT` output registers and `IN` input registers;
/// `-128` (0x80) lanes make `pshufb` write zero so the partial results OR.
#[derive(Clone, Copy)]
enum Kind {
    Rev3,
    Even3,
}

type Masks<const IN: usize, const OUT: usize> = [[[i8; 16]; IN]; OUT];

const fn masks<const IN: usize, const OUT: usize>(kind: Kind) -> Masks<IN, OUT> {
    let mut m = [[[-128i8; 16]; IN]; OUT];
    let mut j = 0;
    while j < OUT * 16 {
        let s = match kind {
            Kind::Rev3 => rev3_index(j),
            Kind::Even3 => even3_index(j),
        };
        m[j / 16][s / 16][j % 16] = (s % 16) as i8;
        j += 1;
    }
    m
}

/// 16 RGB pixels reversed: output pixel `p` is input pixel `15 - p`.
const fn rev3_index(j: usize) -> usize {
    3 * (15 - j / 3) + j % 3
}
/// The first 3 bytes of every 6: one RGB pixel of each pair (32 pixels in, 16 out).
const fn even3_index(j: usize) -> usize {
    6 * (j / 3) + j % 3
}

const REV3: Masks<3, 3> = masks::<3, 3>(Kind::Rev3);

/// Blend masks of the AVX2 RGB <-> BGR kernel for the three 32-byte vectors
/// of a 96-byte step: byte `i` of vector `k` is `-1` (taken from the load
/// at `+2` for `PLUS`, at `-2` for `MINUS`) when `32k + i` is a red byte
/// (`PLUS`, position 0 of its pixel) or a blue byte (`MINUS`, position 2).
const fn swap3_masks(phase: usize) -> [[i8; 32]; 3] {
    let mut m = [[0i8; 32]; 3];
    let mut j = 0;
    while j < 96 {
        if j % 3 == phase {
            m[j / 32][j % 32] = -1;
        }
        j += 1;
    }
    m
}
const SWAP3_PLUS: [[i8; 32]; 3] = swap3_masks(0);
/// The same masks as bits for the AVX-512 kernel's 192-byte step.
const fn swap3_bits(phase: usize) -> [u64; 3] {
    let mut m = [0u64; 3];
    let mut j = 0;
    while j < 192 {
        if j % 3 == phase {
            m[j / 64] |= 1 << (j % 64);
        }
        j += 1;
    }
    m
}
const SWAP3_PLUS64: [u64; 3] = swap3_bits(0);
const SWAP3_MINUS64: [u64; 3] = swap3_bits(2);
const SWAP3_MINUS: [[i8; 32]; 3] = swap3_masks(2);
const EVEN3: Masks<6, 3> = masks::<6, 3>(Kind::Even3);

/// Whether the kernels below can run on this CPU.
pub(crate) fn have_ssse3() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("ssse3")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Masks;
    use std::arch::x86_64::*;

    /// Loads a kernel's masks into registers once per call, so the loop does
    /// not reload them (LLVM cannot hoist loads it fears the stores alias).
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn load<const IN: usize, const OUT: usize>(m: &Masks<IN, OUT>) -> [[__m128i; IN]; OUT] {
        let mut r = [[_mm_setzero_si128(); IN]; OUT];
        for (rk, mk) in r.iter_mut().zip(m) {
            for (ri, mi) in rk.iter_mut().zip(mk) {
                // SAFETY: `mi` is a 16-byte array; loadu reads exactly it.
                *ri = unsafe { _mm_loadu_si128(mi.as_ptr() as *const __m128i) };
            }
        }
        r
    }

    /// One block: `IN * 16` bytes of `src` → `OUT * 16` bytes of `dst`.
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn block<const IN: usize, const OUT: usize>(src: &[u8], dst: &mut [u8], m: &[[__m128i; IN]; OUT]) {
        assert!(src.len() >= IN * 16 && dst.len() >= OUT * 16);
        let mut r = [_mm_setzero_si128(); IN];
        for (i, reg) in r.iter_mut().enumerate() {
            // SAFETY: `src` has at least IN * 16 bytes (asserted above), so
            // bytes 16i..16i+16 are in bounds; loadu has no alignment need.
            *reg = unsafe { _mm_loadu_si128(src.as_ptr().add(16 * i) as *const __m128i) };
        }
        for (k, mk) in m.iter().enumerate() {
            let mut acc = _mm_setzero_si128();
            for (i, mask) in mk.iter().enumerate() {
                acc = _mm_or_si128(acc, _mm_shuffle_epi8(r[i], *mask));
            }
            // SAFETY: `dst` has at least OUT * 16 bytes (asserted above).
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().add(16 * k) as *mut __m128i, acc) };
        }
    }

    /// Reverses the order of the RGB pixels of `s` into `d` (same length,
    /// a multiple of 3). Returns the number of leading output pixels done;
    /// the caller finishes the rest.
    #[target_feature(enable = "ssse3")]
    pub(crate) fn rev3(s: &[u8], d: &mut [u8]) -> usize {
        let m = load(&super::REV3);
        let n = d.len() / 3;
        let mut p = 0;
        while p + 16 <= n {
            let src = &s[3 * (n - p - 16)..3 * (n - p)];
            block::<3, 3>(src, &mut d[3 * p..3 * p + 48], &m);
            p += 16;
        }
        p
    }

    /// Keeps the first RGB pixel of every pair: `d[3i..3i+3] = s[6i..6i+3]`.
    /// Returns the number of output pixels done.
    #[target_feature(enable = "ssse3")]
    pub(crate) fn even3(s: &[u8], d: &mut [u8]) -> usize {
        let m = load(&super::EVEN3);
        let n = (d.len() / 3).min(s.len() / 6);
        let mut p = 0;
        while p + 16 <= n {
            block::<6, 3>(&s[6 * p..6 * p + 96], &mut d[3 * p..3 * p + 48], &m);
            p += 16;
        }
        p
    }

    /// Swaps bytes 0 and 2 of every 3-byte pixel; returns the pixels done.
    #[target_feature(enable = "ssse3")]
    pub(crate) fn swap3(s: &[u8], d: &mut [u8]) -> usize {
        // Five whole pixels per 16-byte vector: swap their R and B, and keep
        // byte 15 (the next pixel's first byte) as it is; the next step,
        // 15 bytes on, rewrites it. One load, shuffle and store per 15 bytes.
        let m = _mm_setr_epi8(2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 15);
        let n = (d.len() / 3).min(s.len() / 3);
        let limit = d.len().min(s.len());
        let mut p = 0;
        while 3 * p + 16 <= limit && p + 5 <= n {
            // SAFETY: bytes 3p..3p+16 lie inside both slices (checked just
            // above); unaligned loads and stores are allowed; `s` and `d`
            // are distinct slices, so the store cannot change later input.
            unsafe {
                let v = _mm_loadu_si128(s.as_ptr().add(3 * p) as *const __m128i);
                _mm_storeu_si128(d.as_mut_ptr().add(3 * p) as *mut __m128i, _mm_shuffle_epi8(v, m));
            }
            p += 5;
        }
        p
    }

    /// Swaps bytes 0 and 2 of every 3-byte pixel with AVX2, 32 pixels (96
    /// bytes) per step, and returns the range of pixels done, `start..end`
    /// (the caller does the pixels before and after; `end` may be below
    /// `start` when the row is too short for one step). Output byte `j` is input byte `j + 2`, `j` or `j - 2` as `j`
    /// is a red, green or blue byte, so each 32-byte output vector is two
    /// blends of three unaligned loads at `j - 2`, `j` and `j + 2`: no
    /// shuffle has to cross the 128-bit lanes. 96 bytes is a whole number of
    /// pixels, so the three blend-mask pairs repeat every step.
    #[target_feature(enable = "avx2")]
    pub(crate) fn swap3_avx2(s: &[u8], d: &mut [u8]) -> (usize, usize) {
        let ld = |m: &[i8; 32]| {
            // SAFETY: `m` is a 32-byte array; loadu reads exactly it.
            unsafe { _mm256_loadu_si256(m.as_ptr() as *const __m256i) }
        };
        let (plus, minus) = (&super::SWAP3_PLUS, &super::SWAP3_MINUS);
        let (p0, p1, p2) = (ld(&plus[0]), ld(&plus[1]), ld(&plus[2]));
        let (m0, m1, m2) = (ld(&minus[0]), ld(&minus[1]), ld(&minus[2]));
        let len = d.len().min(s.len()) / 3 * 3;
        // Steps start at a pixel (o % 3 == 0) where the output is 32-byte
        // aligned, so no store is split across cache lines (split stores
        // halve the speed); 96 = 3 * 32 makes one such start exist among
        // any 96 bytes. Starting at pixel 1 or later keeps the load at
        // `o - 2` inside `s`; the load at `o + 2` of the last vector ends 2
        // bytes past the 96 written, hence the `+ 2`.
        let mis = d.as_ptr() as usize % 32;
        let mut o = (3..99).find(|o| o % 3 == 0 && (mis + o).is_multiple_of(32)).unwrap_or(3);
        let start = o / 3;
        if o + 96 + 2 > len {
            return (start, start);
        }
        // The three output vectors of the step at `o`.
        let step = |o: usize| {
            let mut r = [_mm256_setzero_si256(); 3];
            for (k, (pm, mm)) in [(p0, m0), (p1, m1), (p2, m2)].into_iter().enumerate() {
                // SAFETY: the loads read bytes o-2..o+98 of `s`, in bounds
                // whenever o >= 3 and o + 98 <= len (checked by every
                // caller of `step`); unaligned loads are allowed.
                let (a, b, c) = unsafe {
                    let sp = s.as_ptr().add(o + 32 * k);
                    (
                        _mm256_loadu_si256(sp.add(2) as *const __m256i),
                        _mm256_loadu_si256(sp as *const __m256i),
                        _mm256_loadu_si256(sp.sub(2) as *const __m256i),
                    )
                };
                r[k] = _mm256_blendv_epi8(_mm256_blendv_epi8(b, a, pm), c, mm);
            }
            r
        };
        // Software-pipelined: the next step's loads are issued before this
        // step's stores. Wire slots (and large allocations) are
        // page-aligned, so input and output addresses agree in their low 12
        // bits, and a load issued after a store that covers the same low
        // bits ("4K aliasing") waits for it: with the loads of step `o + 96`
        // after the stores of step `o`, the load at `o + 94` would stall on
        // the last store every step.
        let mut cur = step(o);
        loop {
            let more = o + 96 + 96 + 2 <= len;
            let next = if more { step(o + 96) } else { cur };
            for (k, v) in cur.iter().enumerate() {
                // SAFETY: bytes o..o+96 of `d` are in bounds (o + 98 <= len
                // <= d.len()); `s` and `d` are distinct slices, so no store
                // changes an input.
                unsafe { _mm256_storeu_si256(d.as_mut_ptr().add(o + 32 * k) as *mut __m256i, *v) };
            }
            o += 96;
            if !more {
                break;
            }
            cur = next;
        }
        (start, o / 3)
    }

    /// [`swap3_avx2`] with AVX-512BW: 64 pixels (192 bytes) per step, and no
    /// blends at all. Each 64-byte output vector is one load at `j` merged,
    /// under byte masks, with masked loads at `j + 2` (red bytes) and
    /// `j - 2` (blue bytes); `vmovdqu8` with a mask does the blend as it
    /// loads. Stores are 64-byte aligned (one cache line each) and the next
    /// step's loads are issued before this step's stores, as in the AVX2
    /// kernel. Returns the pixels done, `start..end`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn swap3_avx512(s: &[u8], d: &mut [u8]) -> (usize, usize) {
        let (plus, minus) = (super::SWAP3_PLUS64, super::SWAP3_MINUS64);
        let len = d.len().min(s.len()) / 3 * 3;
        let mis = d.as_ptr() as usize % 64;
        let mut o = (3..195).find(|o| o % 3 == 0 && (mis + o).is_multiple_of(64)).unwrap_or(3);
        let start = o / 3;
        if o + 192 + 2 > len {
            return (start, start);
        }
        let step = |o: usize| {
            let mut r = [_mm512_setzero_si512(); 3];
            for (k, v) in r.iter_mut().enumerate() {
                // SAFETY: the loads read bytes o-2..o+194 of `s` at most
                // (masked-off bytes are not even accessed), in bounds
                // whenever o >= 3 and o + 194 <= len (checked by every
                // caller of `step`); unaligned loads are allowed.
                *v = unsafe {
                    let sp = s.as_ptr().add(o + 64 * k);
                    let b = _mm512_loadu_si512(sp as *const __m512i);
                    let b = _mm512_mask_loadu_epi8(b, plus[k], sp.add(2) as *const i8);
                    _mm512_mask_loadu_epi8(b, minus[k], sp.sub(2) as *const i8)
                };
            }
            r
        };
        let mut cur = step(o);
        loop {
            let more = o + 192 + 192 + 2 <= len;
            let next = if more { step(o + 192) } else { cur };
            for (k, v) in cur.iter().enumerate() {
                // SAFETY: bytes o..o+192 of `d` are in bounds (o + 194 <=
                // len <= d.len()); `s` and `d` are distinct slices.
                unsafe { _mm512_storeu_si512(d.as_mut_ptr().add(o + 64 * k) as *mut __m512i, *v) };
            }
            o += 192;
            if !more {
                break;
            }
            cur = next;
        }
        (start, o / 3)
    }

    /// [`swap3_avx512`] with AVX-512 VBMI byte permutes, so that every load
    /// is one aligned 64-byte load (when input and output share their
    /// alignment, as page-aligned wire slots do): the input shifted by +2
    /// and by -2 bytes comes from `vpermt2b` over the current vector and
    /// its neighbour, and two masked blends pick each byte. Unaligned
    /// shifted loads split a cache line on every vector. Returns the pixels
    /// done, `start..end`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn swap3_vbmi(s: &[u8], d: &mut [u8]) -> (usize, usize) {
        let (plus, minus) = (super::SWAP3_PLUS64, super::SWAP3_MINUS64);
        let len = d.len().min(s.len()) / 3 * 3;
        let mis = d.as_ptr() as usize % 64;
        // Start at a pixel, at least 64 bytes in (the previous vector is
        // loaded), where the output is 64-byte aligned.
        let mut o = (66..258).find(|o| o % 3 == 0 && (mis + o).is_multiple_of(64)).unwrap_or(66);
        let start = o / 3;
        if o + 128 > len {
            return (start, start);
        }
        let idx = |f: fn(i8) -> i8| {
            let v: [i8; 64] = std::array::from_fn(|j| f(j as i8));
            // SAFETY: `v` is 64 bytes long.
            unsafe { _mm512_loadu_si512(v.as_ptr() as *const __m512i) }
        };
        // Byte j of (cur, next) at j + 2, and of (prev, cur) at j - 2.
        let (up, down) = (idx(|j| j + 2), idx(|j| j + 62));
        // SAFETY: o >= 66 and o + 128 <= len, so bytes o-64..o+64 are in `s`.
        let (mut prev, mut cur) = unsafe {
            (
                _mm512_loadu_si512(s.as_ptr().add(o - 64) as *const __m512i),
                _mm512_loadu_si512(s.as_ptr().add(o) as *const __m512i),
            )
        };
        let mut k = 0;
        while o + 128 <= len {
            // SAFETY: bytes o+64..o+128 are in `s` (checked just above).
            let next = unsafe { _mm512_loadu_si512(s.as_ptr().add(o + 64) as *const __m512i) };
            let plus2 = _mm512_permutex2var_epi8(cur, up, next);
            let minus2 = _mm512_permutex2var_epi8(prev, down, cur);
            let v = _mm512_mask_blend_epi8(plus[k], _mm512_mask_blend_epi8(minus[k], cur, minus2), plus2);
            // SAFETY: bytes o..o+64 of `d` are in bounds (o + 128 <= len <=
            // d.len()); `s` and `d` are distinct slices.
            unsafe { _mm512_storeu_si512(d.as_mut_ptr().add(o) as *mut __m512i, v) };
            (prev, cur) = (cur, next);
            k = (k + 1) % 3;
            o += 64;
        }
        // Whole pixels only: the phase index k means o - start_o is a
        // multiple of 64, not of 3, so round down to the last pixel.
        (start, o / 3)
    }

    /// `(a[i], b[i])` as adjacent 16-bit values (saturated) in 32-bit lane
    /// `i`, for `pmaddwd`: `packssdw` puts a0-3, b0-3 | a4-7, b4-7 in the
    /// two 128-bit lanes and a byte shuffle interleaves them.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pairs(a: __m256i, b: __m256i) -> __m256i {
        let interleave = _mm256_setr_epi8(
            0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
        );
        _mm256_shuffle_epi8(_mm256_packs_epi32(a, b), interleave)
    }

    /// One 8-point pass of libjpeg's accurate integer IDCT on 8 lanes at
    /// once: `x[i]` holds frequency `i` of 8 independent transforms, used as
    /// 16-bit values (saturated, as libjpeg-turbo's SIMD code keeps them).
    /// Each output is a sum of `pmaddwd` products of input pairs (x0, x4),
    /// (x2, x6), (x1, x5), (x3, x7) with constants that fold the rotations
    /// of `jidctint.c` together ([`super::IDCT_PAIRS`]); integer sums are
    /// exact (and wrap alike), so the result is exactly
    /// [`super::idct_1d`]'s. `bias` is added before the shift by `SHIFT`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn idct_1d_avx2<const SHIFT: i32>(x: [__m256i; 8], bias: i32) -> [__m256i; 8] {
        let (add, sub, madd) = (_mm256_add_epi32, _mm256_sub_epi32, _mm256_madd_epi16);
        let k = |[a, b]: [i32; 2]| _mm256_set1_epi32((a & 0xffff) | (b << 16));
        let c = super::IDCT_PAIRS;
        let (p04, p26, p15, p37) = (pairs(x[0], x[4]), pairs(x[2], x[6]), pairs(x[1], x[5]), pairs(x[3], x[7]));
        let bias = _mm256_set1_epi32(bias);
        let tmp0 = add(madd(p04, k(c[0])), bias);
        let tmp1 = add(madd(p04, k(c[1])), bias);
        let tmp2 = madd(p26, k(c[2]));
        let tmp3 = madd(p26, k(c[3]));
        let (tmp10, tmp13, tmp11, tmp12) = (add(tmp0, tmp3), sub(tmp0, tmp3), add(tmp1, tmp2), sub(tmp1, tmp2));
        let t0 = add(madd(p15, k(c[4])), madd(p37, k(c[5])));
        let t1 = add(madd(p15, k(c[6])), madd(p37, k(c[7])));
        let t2 = add(madd(p15, k(c[8])), madd(p37, k(c[9])));
        let t3 = add(madd(p15, k(c[10])), madd(p37, k(c[11])));
        let d = |v| _mm256_srai_epi32::<SHIFT>(v);
        [
            d(add(tmp10, t3)),
            d(add(tmp11, t2)),
            d(add(tmp12, t1)),
            d(add(tmp13, t0)),
            d(sub(tmp13, t0)),
            d(sub(tmp12, t1)),
            d(sub(tmp11, t2)),
            d(sub(tmp10, t3)),
        ]
    }

    /// Transposes an 8x8 matrix of 32-bit values held one row per register.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        let (lo32, hi32) = (_mm256_unpacklo_epi32, _mm256_unpackhi_epi32);
        let (lo64, hi64) = (_mm256_unpacklo_epi64, _mm256_unpackhi_epi64);
        let t = [
            lo32(r[0], r[1]),
            hi32(r[0], r[1]),
            lo32(r[2], r[3]),
            hi32(r[2], r[3]),
            lo32(r[4], r[5]),
            hi32(r[4], r[5]),
            lo32(r[6], r[7]),
            hi32(r[6], r[7]),
        ];
        let u = [
            lo64(t[0], t[2]),
            hi64(t[0], t[2]),
            lo64(t[1], t[3]),
            hi64(t[1], t[3]),
            lo64(t[4], t[6]),
            hi64(t[4], t[6]),
            lo64(t[5], t[7]),
            hi64(t[5], t[7]),
        ];
        [
            _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
            _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
        ]
    }

    /// libjpeg's accurate integer IDCT of one dequantised 8x8 block
    /// (natural order) into 8 rows of 8 bytes `stride` apart: the column
    /// pass with one block row per register (lanes are columns), a
    /// transpose, the row pass (whose bias includes the +128 level shift),
    /// a transpose back, then saturating packs (the clamp to 0..=255).
    #[target_feature(enable = "avx2")]
    pub(crate) fn idct_islow_avx2(coef: &[i32; 64], out: &mut [u8], stride: usize) {
        assert!(out.len() >= 7 * stride + 8);
        let mut r = [_mm256_setzero_si256(); 8];
        for (i, v) in r.iter_mut().enumerate() {
            // SAFETY: row i of `coef` is its elements 8i..8i+8, in bounds.
            *v = unsafe { _mm256_loadu_si256(coef.as_ptr().add(8 * i) as *const __m256i) };
        }
        let ws = transpose8(idct_1d_avx2::<{ super::CONST_BITS - super::PASS1_BITS }>(r, super::IDCT_BIAS1));
        let o = transpose8(idct_1d_avx2::<{ super::CONST_BITS + super::PASS1_BITS + 3 }>(ws, super::IDCT_BIAS2));
        // packs: rows (0,1) and (2,3) interleaved by 128-bit lane; packus
        // then gives bytes [r0 c0-3, r1 c0-3, r2 c0-3, r3 c0-3 | the same
        // for c4-7], and the 32-bit permute puts each row's two halves
        // together.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for half in 0..2 {
            let q = &o[4 * half..4 * half + 4];
            let w = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            let w = _mm256_permutevar8x32_epi32(w, order);
            let mut bytes = [0u8; 32];
            // SAFETY: `bytes` is 32 bytes long.
            unsafe { _mm256_storeu_si256(bytes.as_mut_ptr() as *mut __m256i, w) };
            for (k, row) in bytes.chunks_exact(8).enumerate() {
                let at = (4 * half + k) * stride;
                out[at..at + 8].copy_from_slice(row);
            }
        }
    }

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
        use super::super::convert as cv;
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
/// `w0` in its low and `w1` in its high 16 bits. With AVX2 each group of 8
/// samples is one 32-bit gather (both taps are bytes of the word read at
/// `ofs[i]`), one byte shuffle and one `pmaddwd`.
pub(crate) fn hline<const C: usize>(src: &[u8], ofs: &[i32], wts: &[i32], out: &mut [i32], avx2: bool) {
    let n = out.len().min(ofs.len()).min(wts.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
        done = unsafe { x86::hline_avx2::<C>(src, &ofs[..n], &wts[..n], &mut out[..n]) };
    }
    let _ = avx2;
    for i in done..n {
        let o = ofs[i] as usize;
        let (w0, w1) = (wts[i] & 0xffff, wts[i] >> 16);
        let s1 = src.get(o + C).copied().unwrap_or(0) as i32; // w1 is 0 at the right edge
        out[i] = src[o] as i32 * w0 + s1 * w1;
    }
}

// libjpeg's `jidctint.c` constants: cosines scaled by 2^13 (CONST_BITS),
// with two extra bits of precision kept between the passes (PASS1_BITS).
const CONST_BITS: i32 = 13;
const PASS1_BITS: i32 = 2;
const FIX_0_298631336: i32 = 2446;
const FIX_0_390180644: i32 = 3196;
const FIX_0_541196100: i32 = 4433;
const FIX_0_765366865: i32 = 6270;
const FIX_0_899976223: i32 = 7373;
const FIX_1_175875602: i32 = 9633;
const FIX_1_501321110: i32 = 12299;
const FIX_1_847759065: i32 = 15137;
const FIX_1_961570560: i32 = 16069;
const FIX_2_053119869: i32 = 16819;
const FIX_2_562915447: i32 = 20995;
const FIX_3_072711026: i32 = 25172;

/// The even and odd parts of `jidctint.c` with its rotations folded into
/// pairs of 16-bit constants, `[for the first input, for the second]`, for
/// the input pairs (x0, x4) x2, (x2, x6) x2, then (x1, x5), (x3, x7) for
/// each of the four odd terms. With z5 = (x1 + x3 + x5 + x7) * 1.175875602
/// and the other rotations multiplied out, e.g. the odd term `tmp3` is
/// x1 * (1.501321110 - 0.899976223 - 0.390180644 + 1.175875602) + ...;
/// every constant fits in 16 bits.
const IDCT_PAIRS: [[i32; 2]; 12] = {
    let a = FIX_1_175875602;
    let (c1, c2, c3, c4) = (-FIX_0_899976223, -FIX_2_562915447, -FIX_1_961570560, -FIX_0_390180644);
    let (b0, b1, b2, b3) = (FIX_0_298631336, FIX_2_053119869, FIX_3_072711026, FIX_1_501321110);
    let one = 1 << CONST_BITS;
    [
        // tmp0 = (x0 + x4) << 13, tmp1 = (x0 - x4) << 13
        [one, one],
        [one, -one],
        // tmp2 = z1 - x6 * 1.847759065, tmp3 = z1 + x2 * 0.765366865,
        // z1 = (x2 + x6) * 0.541196100
        [FIX_0_541196100, FIX_0_541196100 - FIX_1_847759065],
        [FIX_0_541196100 + FIX_0_765366865, FIX_0_541196100],
        // odd tmp0: x1, x5 | x3, x7
        [c1 + a, a],
        [c3 + a, b0 + c1 + c3 + a],
        // odd tmp1
        [c4 + a, b1 + c2 + c4 + a],
        [c2 + a, a],
        // odd tmp2
        [a, c2 + a],
        [b2 + c2 + c3 + a, c3 + a],
        // odd tmp3
        [b3 + c1 + c4 + a, c4 + a],
        [a, c1 + a],
    ]
};
/// Rounding before the first pass's shift by 11 bits, and before the
/// second's by 18 bits, with the +128 level shift folded in.
const IDCT_BIAS1: i32 = 1 << (CONST_BITS - PASS1_BITS - 1);
const IDCT_BIAS2: i32 = (1 << (CONST_BITS + PASS1_BITS + 2)) + (128 << (CONST_BITS + PASS1_BITS + 3));

/// One 8-point pass of libjpeg's accurate integer IDCT (`jidctint.c`,
/// `jpeg_idct_islow`) on `x` (frequencies 0..8), plus `bias`, shifted
/// right by `shift`. Inputs are saturated to 16 bits first, and the sums
/// are 32-bit and wrapping, exactly as in the AVX2 kernel (libjpeg-turbo's
/// SIMD code keeps 16-bit values between the passes too; on data that any
/// encoder produces nothing saturates or wraps, and the results equal
/// libjpeg's).
fn idct_1d(x: [i32; 8], bias: i32, shift: i32) -> [i32; 8] {
    let x = x.map(|v| v.clamp(i16::MIN as i32, i16::MAX as i32));
    let m = i32::wrapping_mul;
    let z1 = m(x[2].wrapping_add(x[6]), FIX_0_541196100);
    let tmp2 = z1.wrapping_add(m(x[6], -FIX_1_847759065));
    let tmp3 = z1.wrapping_add(m(x[2], FIX_0_765366865));
    let tmp0 = x[0].wrapping_add(x[4]).wrapping_shl(CONST_BITS as u32).wrapping_add(bias);
    let tmp1 = x[0].wrapping_sub(x[4]).wrapping_shl(CONST_BITS as u32).wrapping_add(bias);
    let (tmp10, tmp13) = (tmp0.wrapping_add(tmp3), tmp0.wrapping_sub(tmp3));
    let (tmp11, tmp12) = (tmp1.wrapping_add(tmp2), tmp1.wrapping_sub(tmp2));
    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let z1 = t0.wrapping_add(t3);
    let z2 = t1.wrapping_add(t2);
    let z3 = t0.wrapping_add(t2);
    let z4 = t1.wrapping_add(t3);
    let z5 = m(z3.wrapping_add(z4), FIX_1_175875602);
    let (t0, t1, t2, t3) =
        (m(t0, FIX_0_298631336), m(t1, FIX_2_053119869), m(t2, FIX_3_072711026), m(t3, FIX_1_501321110));
    let z1 = m(z1, -FIX_0_899976223);
    let z2 = m(z2, -FIX_2_562915447);
    let z3 = m(z3, -FIX_1_961570560).wrapping_add(z5);
    let z4 = m(z4, -FIX_0_390180644).wrapping_add(z5);
    let t0 = t0.wrapping_add(z1.wrapping_add(z3));
    let t1 = t1.wrapping_add(z2.wrapping_add(z4));
    let t2 = t2.wrapping_add(z2.wrapping_add(z3));
    let t3 = t3.wrapping_add(z1.wrapping_add(z4));
    let d = |v: i32| v >> shift;
    [
        d(tmp10.wrapping_add(t3)),
        d(tmp11.wrapping_add(t2)),
        d(tmp12.wrapping_add(t1)),
        d(tmp13.wrapping_add(t0)),
        d(tmp13.wrapping_sub(t0)),
        d(tmp12.wrapping_sub(t1)),
        d(tmp11.wrapping_sub(t2)),
        d(tmp10.wrapping_sub(t3)),
    ]
}

/// libjpeg's accurate integer IDCT ("islow") of a dequantised 8x8 block in
/// natural order into 8 rows of 8 bytes `stride` apart: columns first
/// (descaled by 11 bits), then rows (by 18, with +128), then a clamp. With
/// `avx2` the AVX2 kernel runs (the caller checked `have_avx2()`); the
/// scalar code is its reference.
pub(crate) fn idct_islow(coef: &[i32; 64], out: &mut [u8], stride: usize, avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
        unsafe { x86::idct_islow_avx2(coef, out, stride) };
        return;
    }
    let _ = avx2;
    let mut ws = [[0i32; 8]; 8];
    for c in 0..8 {
        let col = idct_1d(std::array::from_fn(|r| coef[8 * r + c]), IDCT_BIAS1, CONST_BITS - PASS1_BITS);
        for (r, v) in col.into_iter().enumerate() {
            ws[r][c] = v;
        }
    }
    for (r, row) in ws.iter().enumerate() {
        let o = idct_1d(*row, IDCT_BIAS2, CONST_BITS + PASS1_BITS + 3);
        for (c, v) in o.into_iter().enumerate() {
            out[r * stride + c] = v.clamp(0, 255) as u8;
        }
    }
}

/// Whether AVX-512 kernels (foundation and byte/word instructions) can run
/// on this CPU.
pub(crate) fn have_avx512bw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512 VBMI byte permutes (with AVX-512BW) can run on this CPU.
pub(crate) fn have_avx512vbmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        have_avx512bw() && std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX2 kernels can run on this CPU.
pub(crate) fn have_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// 2x2 box average of two GREY rows, rounding half up:
/// `d[i] = (a[2i] + a[2i+1] + b[2i] + b[2i+1] + 2) >> 2`.
pub(crate) fn area2_gray(a: &[u8], b: &[u8], d: &mut [u8], ssse3: bool) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if ssse3 {
        // SAFETY: the caller checked SSSE3 with `have_ssse3()`.
        done = unsafe { x86::area2_gray(a, b, d) };
    }
    let _ = ssse3;
    for i in done..d.len() {
        let s = a[2 * i] as u16 + a[2 * i + 1] as u16 + b[2 * i] as u16 + b[2 * i + 1] as u16;
        d[i] = ((s + 2) >> 2) as u8;
    }
}

/// RGB <-> BGR: swaps bytes 0 and 2 of every pixel of `s` into `d`. With
/// `simd` false it is plain scalar code (the reference for the tests).
pub(crate) fn swap3(s: &[u8], d: &mut [u8], simd: bool) {
    let level = match simd {
        false => Swap3::Scalar,
        true if have_avx512vbmi() => Swap3::Vbmi,
        true if have_avx512bw() => Swap3::Avx512,
        true if have_avx2() => Swap3::Avx2,
        true => Swap3::Ssse3,
    };
    swap3_with(s, d, level);
}

/// Which RGB <-> BGR kernel [`swap3_with`] runs (the tests run each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Swap3 {
    Scalar,
    Ssse3,
    Avx2,
    Avx512,
    Vbmi,
}

/// [`swap3`] with a chosen kernel; the caller checked its CPU feature.
pub(crate) fn swap3_with(s: &[u8], d: &mut [u8], level: Swap3) {
    let n = d.len() / 3;
    let px = |d: &mut [u8], p: usize| d[3 * p..3 * p + 3].copy_from_slice(&[s[3 * p + 2], s[3 * p + 1], s[3 * p]]);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    match level {
        Swap3::Avx2 | Swap3::Avx512 | Swap3::Vbmi if n > 0 => {
            let (start, end) = if level == Swap3::Vbmi {
                // SAFETY: the caller checked with `have_avx512vbmi()`.
                unsafe { x86::swap3_vbmi(s, d) }
            } else if level == Swap3::Avx512 {
                // SAFETY: the caller checked AVX-512BW with `have_avx512bw()`.
                unsafe { x86::swap3_avx512(s, d) }
            } else {
                // SAFETY: the caller checked AVX2 with `have_avx2()`.
                unsafe { x86::swap3_avx2(s, d) }
            };
            if end > start {
                for p in 0..start {
                    px(d, p);
                }
                done = end;
            }
        }
        // SAFETY: the caller checked SSSE3 with `have_ssse3()`.
        Swap3::Ssse3 => done = unsafe { x86::swap3(s, d) },
        _ => {}
    }
    let _ = level;
    for p in done..n {
        px(d, p);
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
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
        return unsafe { x86::yuv_rgb_avx2::<Y0, U, V, NV12, BGR>(y, uv, out, w) };
    }
    let _ = (y, uv, out, w, avx2);
    0
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
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
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

/// Packs a mask row into bits, 32 pixels per `u32` (bit `x % 32` of word
/// `x / 32` is pixel `x`'s top bit) for every whole group of 32 pixels.
/// Returns `(pixels done, whether every byte seen was 0 or 255)`; the caller
/// handles the tail.
pub(crate) fn pack_mask(row: &[u8], bits: &mut [u32], avx2: bool) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
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
        // SAFETY: the caller checked AVX2 with `have_avx2()`.
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

/// Reverses RGB pixels `s` into `d`; SSSE3 when available, scalar otherwise.
pub(crate) fn rev3(s: &[u8], d: &mut [u8], ssse3: bool) {
    let n = d.len() / 3;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if ssse3 {
        // SAFETY: the caller checked SSSE3 with `have_ssse3()`.
        done = unsafe { x86::rev3(s, d) };
    }
    let _ = ssse3;
    for p in done..n {
        d[3 * p..3 * p + 3].copy_from_slice(&s[3 * (n - 1 - p)..3 * (n - p)]);
    }
}

/// `d[3i..3i+3] = s[6i..6i+3]` for every output pixel.
pub(crate) fn even3(s: &[u8], d: &mut [u8], ssse3: bool) {
    let n = d.len() / 3;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if ssse3 {
        // SAFETY: the caller checked SSSE3 with `have_ssse3()`.
        done = unsafe { x86::even3(s, d) };
    }
    let _ = ssse3;
    for p in done..n {
        d[3 * p..3 * p + 3].copy_from_slice(&s[6 * p..6 * p + 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_bilinear_taps_match_scalar() {
        let src: Vec<u8> = (0..300).map(|i| (i * 37 % 251) as u8).collect();
        for c in [1usize, 3] {
            // Non-decreasing offsets up to the last pixel (weight 0 on its right tap).
            let px = src.len() / c;
            let ofs: Vec<i32> =
                (0..150).flat_map(|i| (0..c).map(move |ch| ((i * 2 / 3).min(px - 1) * c + ch) as i32)).collect();
            let wts: Vec<i32> = (0..ofs.len())
                .map(|i| {
                    if ofs[i] as usize >= (px - 1) * c {
                        2048
                    } else {
                        (2048 - (i as i32 * 97 % 2048)) | (i as i32 * 97 % 2048) << 16
                    }
                })
                .collect();
            let mut a = vec![0i32; ofs.len()];
            let mut b = vec![0i32; ofs.len()];
            if c == 1 {
                hline::<1>(&src[..px], &ofs, &wts, &mut a, have_avx2());
                hline::<1>(&src[..px], &ofs, &wts, &mut b, false);
            } else {
                hline::<3>(&src[..px * 3], &ofs, &wts, &mut a, have_avx2());
                hline::<3>(&src[..px * 3], &ofs, &wts, &mut b, false);
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn vertical_blend_matches_scalar() {
        let r0: Vec<i32> = (0..100).map(|i| (i * 7919 % 256) * 2048 - (i % 5) * 100).map(|v: i32| v.max(0)).collect();
        let r1: Vec<i32> = (0..100).map(|i| (i * 104_729 % 256) * 2048).collect();
        for b1 in [0i16, 1, 700, 1024, 2047, 2048] {
            let mut a = vec![0u8; 100];
            let mut b = vec![0u8; 100];
            vline(&r0, &r1, b1, &mut a, have_avx2());
            vline(&r0, &r1, b1, &mut b, false);
            assert_eq!(a, b, "b1 = {b1}");
        }
    }

    #[test]
    fn mask_packing_matches_scalar() {
        let row: Vec<u8> = (0..100u32).map(|i| if (i * 7919) % 5 < 2 { 255 } else { 0 }).collect();
        let mut a = [0u32; 4];
        let mut b = [0u32; 4];
        assert_eq!(pack_mask(&row, &mut a, have_avx2()), (96, true));
        assert_eq!(pack_mask(&row, &mut b, false), (96, true));
        assert_eq!(a, b);
        let mut back = vec![7u8; 100];
        let mut back2 = vec![7u8; 100];
        assert_eq!(unpack_mask(&a, &mut back, have_avx2()), 96);
        unpack_mask(&a, &mut back2, false);
        assert_eq!(back, back2);
        assert_eq!(&back[..96], &row[..96]);
        let mut bad = row.clone();
        bad[40] = 3;
        assert!(!pack_mask(&bad, &mut a, have_avx2()).1);
        assert!(!pack_mask(&bad, &mut b, false).1);
    }

    #[test]
    fn shuffles_match_scalar() {
        for n in [0usize, 1, 15, 16, 17, 33, 100] {
            let s: Vec<u8> = (0..3 * n).map(|i| (i * 7 + 3) as u8).collect();
            let mut a = vec![0u8; 3 * n];
            let mut b = vec![0u8; 3 * n];
            rev3(&s, &mut a, have_ssse3());
            rev3(&s, &mut b, false);
            assert_eq!(a, b);
            assert!(n == 0 || a[..3] == s[3 * n - 3..]);
            let s2: Vec<u8> = (0..6 * n).map(|i| (i * 5 + 1) as u8).collect();
            even3(&s2, &mut a, have_ssse3());
            even3(&s2, &mut b, false);
            assert_eq!(a, b);
            let mut c = vec![0u8; 3 * n];
            let mut e = vec![0u8; 3 * n];
            swap3(&s, &mut c, have_ssse3());
            swap3(&s, &mut e, false);
            assert_eq!(c, e);
            let want: Vec<u8> = s.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
            assert_eq!(e, want);
            let s3: Vec<u8> = (0..6 * n).map(|i| (i * 13 + 5) as u8).collect();
            area2_gray(&s2, &s3, &mut c, have_ssse3());
            area2_gray(&s2, &s3, &mut e, false);
            assert_eq!(c, e);
        }
    }

    /// The AVX2 IDCT equals the scalar one on random blocks of every
    /// density and range, including values far outside what encoders make.
    #[test]
    fn idct_avx2_matches_the_scalar_islow() {
        if !have_avx2() {
            eprintln!("idct: AVX2 kernel not tested (this CPU has no AVX2)");
            return;
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for case in 0..20000 {
            let range = [16i64, 256, 4096, 1 << 16, 1 << 30][case % 5];
            let density = [1u64, 4, 16, 64][(case / 5) % 4];
            let coef: [i32; 64] =
                std::array::from_fn(|_| if next() % 64 < density { (next() as i64 % range) as i32 } else { 0 });
            let (mut a, mut b) = ([0u8; 80], [0u8; 80]);
            idct_islow(&coef, &mut a, 10, true);
            idct_islow(&coef, &mut b, 10, false);
            assert_eq!(a, b, "case {case}: {coef:?}");
        }
    }

    /// A known block: a DC of 80 (after dequantisation) alone gives 138
    /// everywhere, ((80 << 2) + 16) >> 5 = 10, plus 128, as in libjpeg.
    #[test]
    fn idct_of_a_dc_only_block_is_flat() {
        let mut coef = [0i32; 64];
        coef[0] = 80;
        let mut o = [0u8; 64];
        idct_islow(&coef, &mut o, 8, false);
        assert!(o.iter().all(|&v| v == 138), "{o:?}");
    }

    /// Every RGB <-> BGR kernel at every width around its vector steps,
    /// with and without padding after the row.

    #[test]
    fn swap3_at_every_width_and_with_row_padding() {
        let mut levels = vec![Swap3::Scalar];
        if have_ssse3() {
            levels.push(Swap3::Ssse3);
        }
        if have_avx2() {
            levels.push(Swap3::Avx2);
        } else {
            eprintln!("swap3: AVX2 kernel not tested (this CPU has no AVX2)");
        }
        if have_avx512bw() {
            levels.push(Swap3::Avx512);
        } else {
            eprintln!("swap3: AVX-512 kernel not tested (this CPU has no AVX-512BW)");
        }
        if have_avx512vbmi() {
            levels.push(Swap3::Vbmi);
        } else {
            eprintln!("swap3: AVX-512 VBMI kernel not tested (this CPU has no AVX-512 VBMI)");
        }
        for level in levels {
            // Up to 3 AVX-512 steps of 64 pixels, around every step
            // boundary, at several alignments of the output (the vector
            // kernels start where the output is 32- or 64-byte aligned).
            for n in 0usize..=300 {
                for (pad, at) in [(0usize, 0usize), (1, 1), (2, 5), (7, 16), (0, 31)] {
                    let s: Vec<u8> = (0..3 * n + pad).map(|i| (i * 11 + 1) as u8).collect();
                    let mut buf = vec![0xAAu8; at + 3 * n + pad];
                    let d = &mut buf[at..];
                    swap3_with(&s[..3 * n], &mut d[..3 * n], level);
                    let want: Vec<u8> = s[..3 * n].chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
                    assert_eq!(&d[..3 * n], &want[..], "{level:?}, n = {n}, pad = {pad}, at = {at}");
                    assert!(d[3 * n..].iter().all(|&b| b == 0xAA), "nothing written past the row");
                    assert!(buf[..at].iter().all(|&b| b == 0xAA), "nothing written before the row");
                }
            }
        }
    }
}
