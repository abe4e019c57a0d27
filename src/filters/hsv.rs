//! HSV colour threshold → binary mask, in OpenCV's HSV convention
//! (`COLOR_RGB2HSV` on 8-bit: H 0-179 in 2° steps, S and V 0-255).
//!
//! [`rgb_to_hsv`] reproduces OpenCV's integer algorithm (`RGB2HSV_b`, 12-bit
//! fixed point with its division tables), so a pixel is in range here exactly
//! when `cv2.inRange(cv2.cvtColor(img, COLOR_RGB2HSV), lo, hi)` says so.
//!
//! The fast path, [`HsvLut`], answers "is this colour in range" for all 2^24
//! colours at once: a 2 MiB bit table, built once when
//! the range is set (tens of milliseconds). Thresholding a frame is then one table lookup per pixel
//! instead of the HSV arithmetic, which is what makes it faster than OpenCV's
//! `cvtColor` + `inRange`. [`YuvLut`] does the same keyed by (Y, U, V), which
//! lets the fused tracker skip the RGB conversion too.

use super::{FilterError, Result, check_geometry, same_size, simd_dispatch};
use crate::convert::yuv_to_rgb;
use framewire_sdk::image::{FourCC, ImageMut, ImageRef};
use std::sync::OnceLock;

const HSV_SHIFT: u32 = 12;

/// OpenCV's division tables: `sdiv[v] = round((255 << 12) / v)` and
/// `hdiv[d] = round((180 << 12) / (6 d))`, rounding half to even as `cvRound`.
fn tables() -> &'static ([i32; 256], [i32; 256]) {
    static T: OnceLock<([i32; 256], [i32; 256])> = OnceLock::new();
    T.get_or_init(|| {
        let mut s = [0i32; 256];
        let mut h = [0i32; 256];
        for i in 1..256 {
            s[i] = ((255u32 << HSV_SHIFT) as f64 / i as f64).round_ties_even() as i32;
            h[i] = ((180u32 << HSV_SHIFT) as f64 / (6.0 * i as f64)).round_ties_even() as i32;
        }
        (s, h)
    })
}

/// One RGB pixel to HSV exactly as OpenCV's 8-bit `COLOR_RGB2HSV`.
#[inline]
pub fn rgb_to_hsv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (sdiv, hdiv) = tables();
    hsv_with(sdiv, hdiv, r, g, b)
}

#[inline(always)]
fn hsv_with(sdiv: &[i32; 256], hdiv: &[i32; 256], r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let v = r.max(g).max(b);
    let vmin = r.min(g).min(b);
    let diff = v - vmin;
    let round = 1 << (HSV_SHIFT - 1);
    let s = (diff * sdiv[v as usize] + round) >> HSV_SHIFT;
    // Same branch order as OpenCV: red wins ties, then green.
    let hn = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (hn * hdiv[diff as usize] + round) >> HSV_SHIFT;
    if h < 0 {
        h += 180;
    }
    [h as u8, s as u8, v as u8]
}

/// An HSV box: a pixel is in range when every channel is within its
/// inclusive bounds. If `h_lo > h_hi` the hue range wraps around red:
/// `h >= h_lo || h <= h_hi` (e.g. `h_lo = 170, h_hi = 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HsvRange {
    /// Lower bounds `[h, s, v]`, H 0-179, S and V 0-255.
    pub lo: [u8; 3],
    /// Upper bounds `[h, s, v]`, inclusive.
    pub hi: [u8; 3],
}

impl HsvRange {
    /// Whether an HSV triple is inside the box.
    #[inline]
    pub fn contains(&self, hsv: [u8; 3]) -> bool {
        let [h, s, v] = hsv;
        let h_ok = if self.lo[0] <= self.hi[0] {
            h >= self.lo[0] && h <= self.hi[0]
        } else {
            h >= self.lo[0] || h <= self.hi[0]
        };
        h_ok && s >= self.lo[1] && s <= self.hi[1] && v >= self.lo[2] && v <= self.hi[2]
    }
}

/// A set of 2^24 bits (2 MiB) indexed by a 24-bit key `a << 16 | b << 8 | c`.
///
/// (A 32 KiB summary of 8x8x8 cells in front of it, answering most lookups
/// from L1, was tried and measured slower on the benchmark scene: with
/// camera-like noise too many pixels land in mixed cells and the extra
/// branch mispredicts.)
#[derive(Clone)]
pub(crate) struct MaskLut {
    fine: Box<[u64; 1 << 18]>,
}

impl MaskLut {
    fn build(mut f: impl FnMut(u32) -> bool) -> Self {
        let mut fine: Box<[u64; 1 << 18]> = vec![0u64; 1 << 18].into_boxed_slice().try_into().expect("size");
        for (i, w) in fine.iter_mut().enumerate() {
            let base = (i as u32) << 6;
            let mut acc = 0u64;
            for b in 0..64 {
                acc |= (f(base + b) as u64) << b;
            }
            *w = acc;
        }
        MaskLut { fine }
    }

    /// 1 if `key` is in the set, else 0.
    #[inline(always)]
    pub(crate) fn get(&self, key: u32) -> u32 {
        ((self.fine[(key as usize >> 6) & 0x3ffff] >> (key & 63)) & 1) as u32
    }
}

/// A precomputed HSV-range test for every RGB colour (2 MiB).
#[derive(Clone)]
pub struct HsvLut {
    range: HsvRange,
    bits: MaskLut,
}

impl std::fmt::Debug for HsvLut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsvLut").field("range", &self.range).finish_non_exhaustive()
    }
}

impl HsvLut {
    /// Builds the table for `range` (≈ 50 ms in a release build).
    pub fn new(range: HsvRange) -> Self {
        let (sdiv, hdiv) = tables();
        let bits = MaskLut::build(|k| {
            let (r, g, b) = ((k >> 16) as u8, (k >> 8) as u8, k as u8);
            range.contains(hsv_with(sdiv, hdiv, r, g, b))
        });
        HsvLut { range, bits }
    }

    /// The range this table answers for.
    pub fn range(&self) -> HsvRange {
        self.range
    }

    /// The table; key is `r << 16 | g << 8 | b`.
    pub(crate) fn table(&self) -> &MaskLut {
        &self.bits
    }

    /// Whether an RGB colour is in range.
    #[inline]
    pub fn contains_rgb(&self, r: u8, g: u8, b: u8) -> bool {
        self.bits.get((r as u32) << 16 | (g as u32) << 8 | b as u32) != 0
    }

    /// Thresholds an RGB24 or BGR24 image into a GREY mask (255 in range, 0
    /// outside), the same size.
    pub fn threshold(&self, src: &ImageRef, dst: &mut ImageMut) -> Result<()> {
        let sf = src.format;
        let df = dst.format;
        same_size(&sf, &df)?;
        if df.fourcc != FourCC::GREY {
            return Err(FilterError::Format { what: "output", got: df.fourcc, expected: "GREY" });
        }
        check_geometry(&sf, src.data.len(), "input")?;
        check_geometry(&df, dst.data.len(), "output")?;
        let (w, h) = (sf.width as usize, sf.height as usize);
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        match sf.fourcc {
            FourCC::RGB24 => lut_rgb(&self.bits, src.data, ss, dst.data, ds, w, h),
            FourCC::BGR24 => lut_bgr(&self.bits, src.data, ss, dst.data, ds, w, h),
            f => {
                return Err(FilterError::Format { what: "input", got: f, expected: "RGB24 or BGR24" });
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn lut_kernel<const R: usize>(lut: &MaskLut, src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) {
    for y in 0..h {
        let s = &src[y * ss..y * ss + 3 * w];
        let d = &mut dst[y * ds..y * ds + w];
        for (p, o) in s.chunks_exact(3).zip(d.iter_mut()) {
            let key = (p[R] as u32) << 16 | (p[1] as u32) << 8 | p[2 - R] as u32;
            *o = (lut.get(key) as u8).wrapping_neg();
        }
    }
}
simd_dispatch!(fn lut_rgb(lut: &MaskLut, src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = lut_kernel::<0>;);
simd_dispatch!(fn lut_bgr(lut: &MaskLut, src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = lut_kernel::<2>;);

/// A precomputed HSV-range test for every limited-range BT.601 (Y, U, V)
/// triple, through exactly the YUV → RGB conversion of
/// [`convert`](super::convert::convert) and OpenCV's RGB → HSV (2 MiB).
#[derive(Clone)]
pub struct YuvLut {
    range: HsvRange,
    bits: MaskLut,
}

impl std::fmt::Debug for YuvLut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YuvLut").field("range", &self.range).finish_non_exhaustive()
    }
}

impl YuvLut {
    /// Builds the table for `range` (≈ 100 ms in a release build).
    pub fn new(range: HsvRange) -> Self {
        let (sdiv, hdiv) = tables();
        // Key layout U:V:Y so that the luma, which varies fastest between
        // neighbouring pixels, selects bits within one cache line.
        let bits = MaskLut::build(|k| {
            let (u, v, y) = ((k >> 16) as u8, (k >> 8) as u8, k as u8);
            let [r, g, b] = yuv_to_rgb(y, u, v);
            range.contains(hsv_with(sdiv, hdiv, r, g, b))
        });
        YuvLut { range, bits }
    }

    /// The range this table answers for.
    pub fn range(&self) -> HsvRange {
        self.range
    }

    /// The table; key is `u << 16 | v << 8 | y`.
    pub(crate) fn table(&self) -> &MaskLut {
        &self.bits
    }

    /// Whether a YUV sample is in range.
    #[inline]
    pub fn contains_yuv(&self, y: u8, u: u8, v: u8) -> bool {
        self.bits.get((u as u32) << 16 | (v as u32) << 8 | y as u32) != 0
    }
}

/// Thresholds without a table, computing HSV per pixel: for one-off use or
/// ranges that change every frame. RGB24/BGR24 in, GREY mask out.
pub fn threshold_direct(src: &ImageRef, dst: &mut ImageMut, range: &HsvRange) -> Result<()> {
    let sf = src.format;
    let df = dst.format;
    same_size(&sf, &df)?;
    if df.fourcc != FourCC::GREY {
        return Err(FilterError::Format { what: "output", got: df.fourcc, expected: "GREY" });
    }
    let ri = match sf.fourcc {
        FourCC::RGB24 => 0,
        FourCC::BGR24 => 2,
        f => {
            return Err(FilterError::Format { what: "input", got: f, expected: "RGB24 or BGR24" });
        }
    };
    check_geometry(&sf, src.data.len(), "input")?;
    check_geometry(&df, dst.data.len(), "output")?;
    let (sdiv, hdiv) = tables();
    let (w, ss, ds) = (sf.width as usize, sf.stride as usize, df.stride as usize);
    for y in 0..sf.height as usize {
        let s = &src.data[y * ss..y * ss + 3 * w];
        let d = &mut dst.data[y * ds..y * ds + w];
        for (p, o) in s.chunks_exact(3).zip(d.iter_mut()) {
            let hsv = hsv_with(sdiv, hdiv, p[ri], p[1], p[2 - ri]);
            *o = if range.contains(hsv) { 255 } else { 0 };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries() {
        assert_eq!(rgb_to_hsv(255, 0, 0), [0, 255, 255]);
        assert_eq!(rgb_to_hsv(0, 255, 0), [60, 255, 255]);
        assert_eq!(rgb_to_hsv(0, 0, 255), [120, 255, 255]);
        assert_eq!(rgb_to_hsv(255, 255, 0), [30, 255, 255]);
        assert_eq!(rgb_to_hsv(128, 128, 128), [0, 0, 128]);
        assert_eq!(rgb_to_hsv(0, 0, 0), [0, 0, 0]);
    }

    #[test]
    fn wrapping_hue_range() {
        let red = HsvRange { lo: [170, 100, 100], hi: [10, 255, 255] };
        assert!(red.contains([0, 200, 200]));
        assert!(red.contains([175, 200, 200]));
        assert!(red.contains([10, 200, 200]));
        assert!(!red.contains([11, 200, 200]));
        assert!(!red.contains([90, 200, 200]));
        assert!(!red.contains([0, 99, 200]));
    }
}
