//! Morphological erosion, dilation, opening and closing of a GREY mask with a
//! `k` x `k` rectangular structuring element (`cv2.getStructuringElement(
//! cv2.MORPH_RECT, (k, k))`, odd `k`).
//!
//! Matches `cv2.morphologyEx` exactly, including OpenCV's default border:
//! pixels outside the image never win (they count as 255 for erosion and 0
//! for dilation). A rectangle is separable, so each operation is a
//! horizontal then a vertical running min/max.

use super::{FilterError, Result, check, same_size, simd_dispatch};
use crate::image::{FourCC, ImageMut, ImageRef};

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
/// from a full intermediate image) and, for open/close, one mid image.
#[derive(Debug, Default, Clone)]
pub struct Morphology {
    ring: Vec<u8>,
    mid: Vec<u8>,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageFormat;

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
