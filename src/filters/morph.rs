//! Morphological erosion, dilation, opening and closing of a GREY mask with a
//! `k` x `k` rectangular structuring element (`cv2.getStructuringElement(
//! cv2.MORPH_RECT, (k, k))`, odd `k`).
//!
//! Matches `cv2.morphologyEx` exactly, including OpenCV's default border:
//! pixels outside the image never win (they count as 255 for erosion and 0
//! for dilation). A rectangle is separable, so each operation is a
//! horizontal then a vertical running min/max.
//!
//! Binary masks (every byte 0 or 255, which is what the thresholds produce)
//! take a bit-plane path for every kernel size: rows are packed 64 pixels to
//! a word (AVX-512 `vpmovb2m` or AVX2 `movemask` when available),
//! eroded/dilated with shifts and AND/OR (horizontal windows by doubling),
//! and unpacked once. Any other byte value falls back to the byte path, so
//! results are the same either way.

use super::{FilterError, Result, SimdLevel, check, same_size, simd_dispatch};
use framewire_sdk::image::{FourCC, ImageMut, ImageRef};

/// Which morphological operation to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MorphOp {
    /// Minimum over the window.
    Erode,
    /// Maximum over the window.
    Dilate,
    /// Erode then dilate: removes specks smaller than the element.
    Open,
    /// Dilate then erode: fills holes smaller than the element.
    Close,
}

/// Morphology with its scratch kept between frames: a ring of `k`
/// horizontally reduced rows (so the vertical pass reads from L1/L2, not
/// from a full intermediate image) and, for open/close, one mid image; plus
/// the bit planes of the binary fast path.
#[derive(Debug, Default, Clone)]
pub struct Morphology {
    ring: Vec<u8>,
    mid: Vec<u8>,
    bits: [Vec<u64>; 2],
    ring_bits: Vec<u64>,
}

/// 0/255 bytes to bits, 8 at a time: byte `i` of `v` → bit `i`. `None` if a
/// byte is neither 0 nor 255 (then the mask is not binary).
#[cfg(test)]
fn pack8(v: u64) -> Option<u64> {
    let m = v & 0x0101_0101_0101_0101;
    if m.wrapping_mul(0xff) != v {
        return None;
    }
    Some(m.wrapping_mul(0x0102_0408_1020_4080) >> 56)
}

/// Packs a binary row into bits (bit `x % 64` of word `x / 64`); bits past
/// the end of the row are set to `pad`. `false` if the row is not binary.
fn pack_row(row: &[u8], out: &mut [u64], pad: bool, level: SimdLevel) -> bool {
    let w = row.len();
    let whole = w / 64;
    let (done, mut ok) = crate::simd::pack_mask(&row[..whole * 64], &mut out[..whole], level);
    debug_assert_eq!(done, whole * 64);
    for (wi, word) in out.iter_mut().enumerate().skip(whole) {
        let start = wi * 64;
        let mut acc = 0u64;
        for j in 0..64 {
            let bit = match row.get(start + j) {
                Some(&v) => {
                    ok &= v == 0 || v == 255;
                    v != 0
                }
                None => pad,
            };
            acc |= (bit as u64) << j;
        }
        *word = acc;
    }
    ok
}

/// [`unpack8`] of every byte (2 KiB): one load per 8 output pixels.
static UNPACK: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut v = 0u64;
        let mut i = 0;
        while i < 8 {
            if b >> i & 1 != 0 {
                v |= 0xff << (8 * i);
            }
            i += 1;
        }
        t[b] = v;
        b += 1;
    }
    t
};

/// 8 bits to 8 bytes of 0/255, as one little-endian word.
#[cfg(test)]
fn unpack8(b: u8) -> u64 {
    let spread = ((b as u64).wrapping_mul(0x8040_2010_0804_0201) & 0x8080_8080_8080_8080) >> 7;
    // `spread` has bit 0 of byte i = bit (7 - i) of b; reverse to bit i.
    u64::from_le_bytes(spread.to_be_bytes()).wrapping_mul(0xff)
}

/// A `k` x `k` erosion (`MIN`) or dilation of a bit plane, `k = 2r + 1`
/// (`r` < 64), `wn` words per row, `h` rows, pixels outside the image never
/// winning (padding bits are `MIN`). Horizontally by doubling: the
/// operation over `[x, x + 2s)` is that over `[x, x + s)` and over
/// `[x + s, x + 2s)`, so windows of `p` (the largest power of two up to
/// `k`) take log2(p) word operations per word, and the `k` window is two
/// overlapping `p` windows; vertically a plain fold over the `k` rows, one
/// word operation per 64 pixels and row. `scratch` keeps the horizontally
/// reduced plane between frames.
fn bits_k<const MIN: bool>(src: &[u64], dst: &mut [u64], wn: usize, h: usize, r: usize, scratch: &mut Vec<u64>) {
    let pad = if MIN { u64::MAX } else { 0 };
    let f = |a: u64, b: u64| if MIN { a & b } else { a | b };
    let k = 2 * r + 1;
    let p = 1usize << (usize::BITS - 1 - k.leading_zeros());
    scratch.clear();
    scratch.resize(h * wn + wn + 2, 0);
    let (hx, ext) = scratch.split_at_mut(h * wn);
    // Bit j of the result is the value at pixel 64 (e - 1) + j + o of the
    // row held in `ext` (word e - 1 of the row is `ext[e]`).
    let shifted = |ext: &[u64], e: usize, o: isize| -> u64 {
        match o {
            0 => ext[e],
            o if o > 0 => (ext[e] >> o) | (ext[e + 1] << (64 - o)),
            o => (ext[e] << -o) | (ext[e - 1] >> (64 + o)),
        }
    };
    for y in 0..h {
        // The row between two words of padding, so that windows reaching
        // past either end read the operation's identity.
        ext[0] = pad;
        ext[1..=wn].copy_from_slice(&src[y * wn..][..wn]);
        ext[wn + 1] = pad;
        let mut s = 1;
        while s < p {
            for i in 0..wn + 1 {
                ext[i] = f(ext[i], (ext[i] >> s) | (ext[i + 1] << (64 - s)));
            }
            s *= 2;
        }
        let (lo, hi) = (-(r as isize), r as isize + 1 - p as isize);
        for (i, o) in hx[y * wn..][..wn].iter_mut().enumerate() {
            *o = f(shifted(ext, i + 1, lo), shifted(ext, i + 1, hi));
        }
    }
    for y in 0..h {
        let (first, last) = (y.saturating_sub(r), (y + r).min(h - 1));
        let d = &mut dst[y * wn..][..wn];
        d.copy_from_slice(&hx[first * wn..][..wn]);
        for row in hx[(first + 1) * wn..(last + 1) * wn].chunks_exact(wn) {
            for (d, &v) in d.iter_mut().zip(row) {
                *d = f(*d, v);
            }
        }
    }
}

#[inline(always)]
fn op<const MIN: bool>(a: u8, b: u8) -> u8 {
    if MIN { a.min(b) } else { a.max(b) }
}

/// `o[x] = op(o[x], s[x])` over equal-length slices (vectorised).
#[inline(always)]
fn fold<const MIN: bool>(o: &mut [u8], s: &[u8]) {
    let n = o.len().min(s.len());
    let (o, s) = (&mut o[..n], &s[..n]);
    for x in 0..n {
        o[x] = op::<MIN>(o[x], s[x]);
    }
}

/// Running min/max over a `2r+1` window along one row; pixels outside the
/// row are ignored (OpenCV's default morphology border).
#[inline(always)]
fn hrow<const MIN: bool>(src: &[u8], out: &mut [u8], r: usize) {
    let w = out.len();
    if r == 1 && w >= 3 {
        // The common 3x3 case in one pass over three shifted views.
        let (a, b, c) = (&src[..w - 2], &src[1..w - 1], &src[2..w]);
        let o = &mut out[1..w - 1];
        for x in 0..w - 2 {
            o[x] = op::<MIN>(op::<MIN>(a[x], b[x]), c[x]);
        }
        out[0] = op::<MIN>(src[0], src[1]);
        out[w - 1] = op::<MIN>(src[w - 2], src[w - 1]);
        return;
    }
    out.copy_from_slice(&src[..w]);
    for k in 1..=r.min(w.saturating_sub(1)) {
        fold::<MIN>(&mut out[..w - k], &src[k..w]);
        fold::<MIN>(&mut out[k..], &src[..w - k]);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pass_k<const MIN: bool>(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    ring: &mut [u8],
    w: usize,
    h: usize,
    r: usize,
) {
    let k = 2 * r + 1;
    let ring = &mut ring[..k * w];
    let mut next = 0; // next source row to reduce horizontally
    for y in 0..h {
        let last = (y + r).min(h - 1);
        while next <= last {
            let slot = next % k;
            hrow::<MIN>(&src[next * ss..next * ss + w], &mut ring[slot * w..slot * w + w], r);
            next += 1;
        }
        let o = &mut dst[y * ds..y * ds + w];
        let first = y.saturating_sub(r);
        if last - first == 2 {
            let (a, b, c) = (first % k, (first + 1) % k, last % k);
            let (a, b, c) = (&ring[a * w..a * w + w], &ring[b * w..b * w + w], &ring[c * w..c * w + w]);
            for x in 0..w {
                o[x] = op::<MIN>(op::<MIN>(a[x], b[x]), c[x]);
            }
            continue;
        }
        let s0 = first % k;
        o.copy_from_slice(&ring[s0 * w..s0 * w + w]);
        for yy in first + 1..=last {
            let sl = yy % k;
            fold::<MIN>(o, &ring[sl * w..sl * w + w]);
        }
    }
}
simd_dispatch!(#[allow(clippy::too_many_arguments)] fn erode(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, ring: &mut [u8], w: usize, h: usize, r: usize) = pass_k::<true>;);
simd_dispatch!(#[allow(clippy::too_many_arguments)] fn dilate(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, ring: &mut [u8], w: usize, h: usize, r: usize) = pass_k::<false>;);

impl Morphology {
    /// No scratch yet; it grows to the image size on the first frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `op` with a `k` x `k` rectangle (odd `k` ≥ 1) from `src` to
    /// `dst`, both GREY and the same size.
    pub fn apply(&mut self, src: &ImageRef, dst: &mut ImageMut, op: MorphOp, k: u32) -> Result<()> {
        let (sf, df) = (src.format, dst.format);
        same_size(&sf, &df)?;
        check(&sf, src.data.len(), FourCC::GREY, "input", "GREY")?;
        check(&df, dst.data.len(), FourCC::GREY, "output", "GREY")?;
        if k.is_multiple_of(2) {
            return Err(FilterError::Geometry(format!("kernel size must be odd, got {k}")));
        }
        let (w, h, r) = (sf.width as usize, sf.height as usize, (k / 2) as usize);
        if w == 0 || h == 0 {
            return Ok(());
        }
        let ring_len = (2 * r + 1) * w;
        if self.ring.len() < ring_len {
            self.ring.resize(ring_len, 0);
        }
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        if r < 64 && self.binary(src, dst, op, r) {
            return Ok(());
        }
        let ring = &mut self.ring;
        let one = |min: bool, s: &[u8], ss: usize, d: &mut [u8], ds: usize, ring: &mut [u8]| {
            if min { erode(s, ss, d, ds, ring, w, h, r) } else { dilate(s, ss, d, ds, ring, w, h, r) }
        };
        match op {
            MorphOp::Erode | MorphOp::Dilate => one(op == MorphOp::Erode, src.data, ss, dst.data, ds, ring),
            MorphOp::Open | MorphOp::Close => {
                let n = w * h;
                if self.mid.len() < n {
                    self.mid.resize(n, 0);
                }
                let first_min = op == MorphOp::Open;
                one(first_min, src.data, ss, &mut self.mid[..n], w, ring);
                one(!first_min, &self.mid[..n], w, dst.data, ds, ring);
            }
        }
        Ok(())
    }

    /// The fast path for binary (0/255) masks: 64 pixels per word
    /// operation, any `k = 2r + 1` up to 127. Returns `false`, having
    /// written nothing, if the input has other values (then the byte path
    /// runs).
    fn binary(&mut self, src: &ImageRef, dst: &mut ImageMut, op: MorphOp, r: usize) -> bool {
        let (w, h) = (src.format.width as usize, src.format.height as usize);
        let (ss, ds) = (src.format.stride as usize, dst.format.stride as usize);
        let wn = w.div_ceil(64);
        for b in &mut self.bits {
            if b.len() < wn * h {
                b.resize(wn * h, 0);
            }
        }
        // Padding bits past the row end must never win the first stage.
        let first_min = matches!(op, MorphOp::Erode | MorphOp::Open);
        let [a, b] = &mut self.bits;
        let level = crate::simd::simd_level();
        for y in 0..h {
            if !pack_row(&src.data[y * ss..y * ss + w], &mut a[y * wn..y * wn + wn], first_min, level) {
                return false;
            }
        }
        let mut hrow = std::mem::take(&mut self.ring_bits);
        match op {
            MorphOp::Erode => bits_k::<true>(a, b, wn, h, r, &mut hrow),
            MorphOp::Dilate => bits_k::<false>(a, b, wn, h, r, &mut hrow),
            MorphOp::Open | MorphOp::Close => {
                if op == MorphOp::Open {
                    bits_k::<true>(a, b, wn, h, r, &mut hrow);
                } else {
                    bits_k::<false>(a, b, wn, h, r, &mut hrow);
                }
                // Reset the padding bits for the second stage's operation.
                let pad_second = !first_min;
                let tail = w % 64;
                if tail != 0 {
                    let mask = !0u64 << tail;
                    for y in 0..h {
                        let wd = &mut b[y * wn + wn - 1];
                        *wd = if pad_second { *wd | mask } else { *wd & !mask };
                    }
                }
                if op == MorphOp::Open {
                    bits_k::<false>(b, a, wn, h, r, &mut hrow);
                } else {
                    bits_k::<true>(b, a, wn, h, r, &mut hrow);
                }
                std::mem::swap(a, b);
            }
        }
        self.ring_bits = hrow;
        let out = &self.bits[1];
        for y in 0..h {
            let d = &mut dst.data[y * ds..y * ds + w];
            let r = &out[y * wn..y * wn + wn];
            let whole = w / 64;
            crate::simd::unpack_mask(&r[..whole], &mut d[..whole * 64], level);
            let word = r[wn - 1];
            for (j, c) in d[whole * 64..].chunks_mut(8).enumerate() {
                let v = UNPACK[(word >> (8 * j)) as u8 as usize].to_le_bytes();
                let n = c.len();
                c.copy_from_slice(&v[..n]);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::ImageFormat;

    #[test]
    fn bit_packing_round_trips() {
        for b in [0u8, 1, 0x80, 0x59, 0xff, 0xa5] {
            let v = unpack8(b);
            assert_eq!(pack8(v), Some(b as u64), "{b:#x} -> {v:#x}");
        }
        assert_eq!(pack8(0x0000_0000_0000_0001), None);
    }

    #[test]
    fn binary_path_matches_byte_path() {
        // Widths around word boundaries, and every kernel size the block
        // accepts (up to 31) plus the largest the bit path takes.
        for (w, h) in [(133usize, 37usize), (64, 5), (1, 9), (200, 3), (7, 40)] {
            let f = ImageFormat::packed(FourCC::GREY, w as u32, h as u32);
            let mut rng = 12345u32 + w as u32;
            let m: Vec<u8> = (0..w * h)
                .map(|_| {
                    rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if (rng >> 16) % 7 < 3 { 0 } else { 255 }
                })
                .collect();
            // The same mask with one value of 254 forces the byte path.
            let mut m2 = m.clone();
            if let Some(i) = m2.iter().position(|&v| v == 255) {
                m2[i] = 254;
            }
            for k in (1..=31).step_by(2).chain([63, 127]) {
                for op in [MorphOp::Erode, MorphOp::Dilate, MorphOp::Open, MorphOp::Close] {
                    let mut a = vec![0u8; w * h];
                    let mut b = vec![0u8; w * h];
                    let mut mo = Morphology::new();
                    mo.apply(&ImageRef { format: f, data: &m }, &mut ImageMut { format: f, data: &mut a }, op, k)
                        .unwrap();
                    // The byte path on the 254 variant, thresholded back to
                    // 0/255: 254 orders like 255 against 0, so the shapes
                    // must agree.
                    mo.apply(&ImageRef { format: f, data: &m2 }, &mut ImageMut { format: f, data: &mut b }, op, k)
                        .unwrap();
                    for v in b.iter_mut() {
                        *v = if *v >= 254 { 255 } else { 0 };
                    }
                    assert_eq!(a, b, "{op:?} k = {k}, {w}x{h}");
                }
            }
        }
    }

    #[test]
    fn open_removes_speck_close_fills_hole() {
        let (w, h) = (10usize, 10usize);
        let f = ImageFormat::packed(FourCC::GREY, w as u32, h as u32);
        let mut m = vec![0u8; w * h];
        // A 5x5 square at (2,2) with a hole at (4,4), plus a speck at (8,8).
        for y in 2..7 {
            for x in 2..7 {
                m[y * w + x] = 255;
            }
        }
        m[4 * w + 4] = 0;
        m[8 * w + 8] = 255;
        let mut out = vec![0u8; w * h];
        let mut mo = Morphology::new();
        mo.apply(&ImageRef { format: f, data: &m }, &mut ImageMut { format: f, data: &mut out }, MorphOp::Close, 3)
            .unwrap();
        assert_eq!(out[4 * w + 4], 255);
        mo.apply(&ImageRef { format: f, data: &m }, &mut ImageMut { format: f, data: &mut out }, MorphOp::Open, 3)
            .unwrap();
        assert_eq!(out[8 * w + 8], 0);
        assert_eq!(out[2 * w + 2], 0, "every 3x3 window of the square touches the hole");
    }
}
