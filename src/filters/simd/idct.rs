//! libjpeg's accurate integer IDCT ("islow", `jidctint.c`): the scalar
//! reference and an AVX2 kernel (`pmaddwd` on 16-bit pairs, with the
//! rotations folded into constants), bit-exact with each other.

#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, unused_variables, dead_code))]

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

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
        // SAFETY: `avx2` is true only when the caller saw AVX2 on this CPU (`have_avx2()`, or `cpu_has` in the tests).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::SimdLevel;
    use crate::simd::test_util::{cpu_has, skipped};

    /// The AVX2 IDCT equals the scalar one on random blocks of every
    /// density and range, including values far outside what encoders make.
    #[test]
    fn idct_avx2_matches_the_scalar_islow() {
        if !cpu_has(SimdLevel::Avx2) {
            skipped("idct_avx2_matches_the_scalar_islow", "this CPU has no AVX2");
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
}
