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

/// Morphology with its scratch planes kept between frames.
#[derive(Debug, Default, Clone)]
pub struct Morphology {
    row: Vec<u8>,
    horiz: Vec<u8>,
    mid: Vec<u8>,
}

#[inline(always)]
fn hpass_k<const MIN: bool>(
    src: &[u8],
    ss: usize,
    out: &mut [u8],
    row: &mut [u8],
    w: usize,
    h: usize,
    r: usize,
) {
    let border = if MIN { 255 } else { 0 };
    row[..r].fill(border);
    row[r + w..r + w + r].fill(border);
    for y in 0..h {
        row[r..r + w].copy_from_slice(&src[y * ss..y * ss + w]);
        let o = &mut out[y * w..y * w + w];
        o.copy_from_slice(&row[..w]);
        for k in 1..=2 * r {
            let p = &row[k..k + w];
            for x in 0..w {
                o[x] = if MIN { o[x].min(p[x]) } else { o[x].max(p[x]) };
            }
        }
    }
}
simd_dispatch!(fn hmin(src: &[u8], ss: usize, out: &mut [u8], row: &mut [u8], w: usize, h: usize, r: usize) = hpass_k::<true>;);
simd_dispatch!(fn hmax(src: &[u8], ss: usize, out: &mut [u8], row: &mut [u8], w: usize, h: usize, r: usize) = hpass_k::<false>;);

#[inline(always)]
fn vpass_k<const MIN: bool>(src: &[u8], dst: &mut [u8], ds: usize, w: usize, h: usize, r: usize) {
    for y in 0..h {
        let o = &mut dst[y * ds..y * ds + w];
        o.copy_from_slice(&src[y * w..y * w + w]);
        // Rows outside the image are the identity of min/max: skip them.
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            if yy == y {
                continue;
            }
            let p = &src[yy * w..yy * w + w];
            for x in 0..w {
                o[x] = if MIN { o[x].min(p[x]) } else { o[x].max(p[x]) };
            }
        }
    }
}
simd_dispatch!(fn vmin(src: &[u8], dst: &mut [u8], ds: usize, w: usize, h: usize, r: usize) = vpass_k::<true>;);
simd_dispatch!(fn vmax(src: &[u8], dst: &mut [u8], ds: usize, w: usize, h: usize, r: usize) = vpass_k::<false>;);

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
            return Err(FilterError::Geometry(format!(
                "kernel size must be odd, got {k}"
            )));
        }
        let (w, h, r) = (sf.width as usize, sf.height as usize, (k / 2) as usize);
        let n = w * h;
        if self.horiz.len() < n {
            self.horiz.resize(n, 0);
        }
        if self.row.len() < w + 2 * r {
            self.row.resize(w + 2 * r, 0);
        }
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        let one = |min: bool,
                   s: &[u8],
                   ss: usize,
                   d: &mut [u8],
                   ds: usize,
                   horiz: &mut [u8],
                   row: &mut [u8]| {
            if min {
                hmin(s, ss, horiz, row, w, h, r);
                vmin(horiz, d, ds, w, h, r);
            } else {
                hmax(s, ss, horiz, row, w, h, r);
                vmax(horiz, d, ds, w, h, r);
            }
        };
        match op {
            MorphOp::Erode | MorphOp::Dilate => {
                one(
                    op == MorphOp::Erode,
                    src.data,
                    ss,
                    dst.data,
                    ds,
                    &mut self.horiz,
                    &mut self.row,
                );
            }
            MorphOp::Open | MorphOp::Close => {
                if self.mid.len() < n {
                    self.mid.resize(n, 0);
                }
                let first_min = op == MorphOp::Open;
                one(
                    first_min,
                    src.data,
                    ss,
                    &mut self.mid[..n],
                    w,
                    &mut self.horiz,
                    &mut self.row,
                );
                one(
                    !first_min,
                    &self.mid[..n],
                    w,
                    dst.data,
                    ds,
                    &mut self.horiz,
                    &mut self.row,
                );
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
        mo.apply(
            &ImageRef {
                format: f,
                data: &m,
            },
            &mut ImageMut {
                format: f,
                data: &mut out,
            },
            MorphOp::Close,
            3,
        )
        .unwrap();
        assert_eq!(out[4 * w + 4], 255);
        mo.apply(
            &ImageRef {
                format: f,
                data: &m,
            },
            &mut ImageMut {
                format: f,
                data: &mut out,
            },
            MorphOp::Open,
            3,
        )
        .unwrap();
        assert_eq!(out[8 * w + 8], 0);
        assert_eq!(
            out[2 * w + 2],
            0,
            "every 3x3 window of the square touches the hole"
        );
    }
}
