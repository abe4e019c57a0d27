//! Crop / region of interest, flips and 180° rotation.
//!
//! A crop needs no copy at all: [`roi`] returns a view into the same bytes
//! with the parent's stride. [`crop`] copies that view into an output (for a
//! block whose output must be a packed wire slot).

use super::{FilterError, Result, check_geometry, same_size, simd_dispatch};
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut, ImageRef};

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// A zero-copy view of `r` inside `src` (packed formats only: GREY, RGB24,
/// BGR24, and YUYV/UYVY with even `x` and `w`).
pub fn roi<'a>(src: &ImageRef<'a>, r: Rect) -> Result<ImageRef<'a>> {
    let f = src.format;
    check_geometry(&f, src.data.len(), "input")?;
    let bpp = match f.fourcc {
        FourCC::GREY | FourCC::RGB24 | FourCC::BGR24 | FourCC::YUYV | FourCC::UYVY => {
            f.fourcc.bytes_per_pixel().unwrap_or(1)
        }
        other => {
            return Err(FilterError::Format {
                what: "input",
                got: other,
                expected: "GREY, RGB24, BGR24, YUYV or UYVY",
            });
        }
    };
    if r.x.checked_add(r.w).is_none_or(|e| e > f.width) || r.y.checked_add(r.h).is_none_or(|e| e > f.height) {
        return Err(FilterError::Geometry(format!("ROI {r:?} is outside the {}x{} image", f.width, f.height)));
    }
    if matches!(f.fourcc, FourCC::YUYV | FourCC::UYVY) && (!r.x.is_multiple_of(2) || !r.w.is_multiple_of(2)) {
        return Err(FilterError::Geometry(format!("ROI {r:?} on {} needs an even x and width", f.fourcc)));
    }
    let start = r.y as usize * f.stride as usize + r.x as usize * bpp as usize;
    let format = ImageFormat { width: r.w, height: r.h, stride: f.stride, fourcc: f.fourcc };
    let data = if r.w == 0 || r.h == 0 { &src.data[..0] } else { &src.data[start..] };
    Ok(ImageRef { format, data })
}

/// Copies region `r` of `src` into `dst` (which must be `r.w` x `r.h`, same format).
pub fn crop(src: &ImageRef, dst: &mut ImageMut, r: Rect) -> Result<()> {
    let v = roi(src, r)?;
    copy(&v, dst)
}

/// Copies an image into another of the same size and format, row by row
/// (strides may differ).
pub fn copy(src: &ImageRef, dst: &mut ImageMut) -> Result<()> {
    let (sf, df) = (src.format, dst.format);
    same_size(&sf, &df)?;
    if sf.fourcc != df.fourcc {
        return Err(FilterError::Format { what: "output", got: df.fourcc, expected: "the input's format" });
    }
    check_geometry(&df, dst.data.len(), "output")?;
    let n = sf.fourcc.min_stride(sf.width).unwrap_or(0) as usize;
    let (ss, ds) = (sf.stride as usize, df.stride as usize);
    for y in 0..sf.height as usize {
        dst.data[y * ds..y * ds + n].copy_from_slice(&src.data[y * ss..y * ss + n]);
    }
    Ok(())
}

/// Which way to flip, as OpenCV's `flipCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flip {
    /// Mirror left-right (`flipCode = 1`).
    Horizontal,
    /// Upside down (`flipCode = 0`).
    Vertical,
    /// Both, which is a 180° rotation (`flipCode = -1`).
    Rotate180,
}

/// Reverses the byte order of a row (GREY pixels); LLVM vectorises this.
#[inline(always)]
fn rev_k(s: &[u8], d: &mut [u8]) {
    let n = d.len();
    for (o, i) in d.iter_mut().zip(s[..n].iter().rev()) {
        *o = *i;
    }
}
simd_dispatch!(fn rev1(s: &[u8], d: &mut [u8]) = rev_k;);

/// Flips `src` into `dst` (same size and format; GREY, RGB24 or BGR24).
pub fn flip(src: &ImageRef, dst: &mut ImageMut, mode: Flip) -> Result<()> {
    let (sf, df) = (src.format, dst.format);
    same_size(&sf, &df)?;
    let c = super::same_format_grey_or_rgb(src, dst)?;
    let (w, h) = (sf.width as usize, sf.height as usize);
    let (ss, ds, n) = (sf.stride as usize, df.stride as usize, w * c);
    if mode == Flip::Vertical {
        // Rows from the top and from the bottom at once (two streams each
        // way): see `simd::copy2`.
        let level = if super::simd::have_avx512bw() { 2 } else { u8::from(super::simd::have_avx2()) };
        for y in 0..h / 2 {
            let (top, bottom) = dst.data.split_at_mut((h - 1 - y) * ds);
            let (dt, db) = (&mut top[y * ds..y * ds + n], &mut bottom[..n]);
            let (st, sb) = (&src.data[y * ss..y * ss + n], &src.data[(h - 1 - y) * ss..(h - 1 - y) * ss + n]);
            super::simd::copy2(sb, st, dt, db, level);
        }
        if h % 2 == 1 {
            let y = h / 2;
            dst.data[y * ds..y * ds + n].copy_from_slice(&src.data[y * ss..y * ss + n]);
        }
        return Ok(());
    }
    let ssse3 = super::simd::have_ssse3();
    for y in 0..h {
        let sy = if mode == Flip::Horizontal { y } else { h - 1 - y };
        let s = &src.data[sy * ss..sy * ss + n];
        let d = &mut dst.data[y * ds..y * ds + n];
        match c {
            1 => rev1(s, d),
            _ => super::simd::rev3(s, d, ssse3),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_and_flips() {
        // 4x3 GREY with value 10*y + x.
        let data: Vec<u8> = (0..3).flat_map(|y| (0..4).map(move |x| 10 * y + x)).collect();
        let src = ImageRef { format: ImageFormat::packed(FourCC::GREY, 4, 3), data: &data };
        let v = roi(&src, Rect { x: 1, y: 1, w: 2, h: 2 }).unwrap();
        let mut out = [0u8; 4];
        copy(&v, &mut ImageMut { format: ImageFormat::packed(FourCC::GREY, 2, 2), data: &mut out }).unwrap();
        assert_eq!(out, [11, 12, 21, 22]);
        assert!(roi(&src, Rect { x: 3, y: 0, w: 2, h: 1 }).is_err());
        let mut out = [0u8; 12];
        let f = ImageFormat::packed(FourCC::GREY, 4, 3);
        flip(&src, &mut ImageMut { format: f, data: &mut out }, Flip::Rotate180).unwrap();
        assert_eq!(out, [23, 22, 21, 20, 13, 12, 11, 10, 3, 2, 1, 0]);
        flip(&src, &mut ImageMut { format: f, data: &mut out }, Flip::Horizontal).unwrap();
        assert_eq!(&out[..4], &[3, 2, 1, 0]);
        flip(&src, &mut ImageMut { format: f, data: &mut out }, Flip::Vertical).unwrap();
        assert_eq!(&out[..4], &[20, 21, 22, 23]);
    }
}
