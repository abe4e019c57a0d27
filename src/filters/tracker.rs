//! The fused colour tracker: YUYV (or RGB/BGR) straight to the moments of
//! the HSV-thresholded mask in one pass, with no intermediate image.
//!
//! Equivalent to OpenCV's chain `cvtColor(YUYV→BGR)`, `cvtColor(BGR→HSV)`,
//! `inRange`, `moments(binaryImage=True)`, bit for bit, because the
//! per-pixel decision is a lookup in a table built by running exactly that
//! arithmetic on every possible (Y, U, V) once ([`YuvLut`]). Per pixel the
//! hot loop is one bit lookup and a few adds; the colour conversions, the
//! HSV divisions and the 3 intermediate images of the chain all disappear.

use super::blob::Moments;
use super::hsv::{HsvLut, HsvRange, MaskLut, YuvLut};
use super::{FilterError, Result, check_geometry, simd_dispatch};
use framewire_sdk::image::{FourCC, ImageRef};
use framewire_sdk::msg::Detection;

/// A colour tracker for one HSV range, holding its lookup tables (built
/// lazily per input family, 2 MiB each).
#[derive(Debug, Clone)]
pub struct ColorTracker {
    range: HsvRange,
    yuv: Option<YuvLut>,
    rgb: Option<HsvLut>,
}

/// Per-row accumulation: pixel count, sum of x, first and last x.
#[derive(Clone, Copy)]
struct RowAcc {
    n: u32,
    sx: u64,
    x0: u32,
    x1: u32,
}

#[inline(always)]
fn add(acc: &mut RowAcc, x: u32, b: u32) {
    acc.n += b;
    acc.sx += (x & b.wrapping_neg()) as u64;
    // Branch-free min/max that only moves when the bit is set.
    let m = b.wrapping_neg();
    acc.x0 = acc.x0.min((x & m) | !m);
    acc.x1 = acc.x1.max(x & m);
}

#[inline(always)]
fn fold(m: &mut Moments, a: &RowAcc, y: u32) {
    if a.n > 0 {
        m.m00 += a.n as u64;
        m.m10 += a.sx;
        m.m01 += a.n as u64 * y as u64;
        m.x0 = m.x0.min(a.x0);
        m.x1 = m.x1.max(a.x1);
        m.y0 = m.y0.min(y);
        m.y1 = m.y1.max(y);
    }
}

/// `Y0`, `U`, `Y1`, `V` are offsets within a 4-byte macropixel.
#[inline(always)]
fn yuv422_k<const Y0: usize, const U: usize, const Y1: usize, const V: usize>(
    lut: &MaskLut,
    src: &[u8],
    ss: usize,
    w: usize,
    h: usize,
) -> Moments {
    let mut m = Moments::default();
    for y in 0..h {
        let row = &src[y * ss..y * ss + 2 * w];
        let mut a = RowAcc { n: 0, sx: 0, x0: u32::MAX, x1: 0 };
        for (i, p) in row.chunks_exact(4).enumerate() {
            let base = (p[U] as u32) << 16 | (p[V] as u32) << 8;
            let x = 2 * i as u32;
            add(&mut a, x, lut.get(base | p[Y0] as u32));
            add(&mut a, x + 1, lut.get(base | p[Y1] as u32));
        }
        fold(&mut m, &a, y as u32);
    }
    m
}
simd_dispatch!(fn track_yuyv(lut: &MaskLut, src: &[u8], ss: usize, w: usize, h: usize) -> Moments = yuv422_k::<0, 1, 2, 3>;);
simd_dispatch!(fn track_uyvy(lut: &MaskLut, src: &[u8], ss: usize, w: usize, h: usize) -> Moments = yuv422_k::<1, 0, 3, 2>;);

#[inline(always)]
fn rgb_k<const R: usize>(lut: &MaskLut, src: &[u8], ss: usize, w: usize, h: usize) -> Moments {
    let mut m = Moments::default();
    for y in 0..h {
        let row = &src[y * ss..y * ss + 3 * w];
        let mut a = RowAcc { n: 0, sx: 0, x0: u32::MAX, x1: 0 };
        for (x, p) in row.chunks_exact(3).enumerate() {
            let key = (p[R] as u32) << 16 | (p[1] as u32) << 8 | p[2 - R] as u32;
            add(&mut a, x as u32, lut.get(key));
        }
        fold(&mut m, &a, y as u32);
    }
    m
}
simd_dispatch!(fn track_rgb(lut: &MaskLut, src: &[u8], ss: usize, w: usize, h: usize) -> Moments = rgb_k::<0>;);
simd_dispatch!(fn track_bgr(lut: &MaskLut, src: &[u8], ss: usize, w: usize, h: usize) -> Moments = rgb_k::<2>;);

impl ColorTracker {
    /// A tracker for `range`; tables are built on first use (~0.1 s).
    pub fn new(range: HsvRange) -> Self {
        ColorTracker { range, yuv: None, rgb: None }
    }

    /// Builds the table for `fourcc` now, so the first frame is not slow.
    pub fn prepare(&mut self, fourcc: FourCC) {
        match fourcc {
            FourCC::YUYV | FourCC::UYVY => {
                self.yuv.get_or_insert_with(|| YuvLut::new(self.range));
            }
            _ => {
                self.rgb.get_or_insert_with(|| HsvLut::new(self.range));
            }
        }
    }

    /// The tracked range.
    pub fn range(&self) -> HsvRange {
        self.range
    }

    /// Moments (area, centroid sums, bounding box) of all in-range pixels of
    /// a YUYV, UYVY, RGB24 or BGR24 frame.
    pub fn moments(&mut self, src: &ImageRef) -> Result<Moments> {
        let f = src.format;
        check_geometry(&f, src.data.len(), "input")?;
        let (w, h, s) = (f.width as usize, f.height as usize, f.stride as usize);
        if matches!(f.fourcc, FourCC::YUYV | FourCC::UYVY) && w % 2 != 0 {
            return Err(FilterError::Geometry(format!("{} needs an even width, got {w}", f.fourcc)));
        }
        if !matches!(f.fourcc, FourCC::YUYV | FourCC::UYVY | FourCC::RGB24 | FourCC::BGR24) {
            return Err(FilterError::Format { what: "input", got: f.fourcc, expected: "YUYV, UYVY, RGB24 or BGR24" });
        }
        self.prepare(f.fourcc);
        let m = match f.fourcc {
            FourCC::YUYV => track_yuyv(self.yuv.as_ref().expect("prepared above").table(), src.data, s, w, h),
            FourCC::UYVY => track_uyvy(self.yuv.as_ref().expect("prepared above").table(), src.data, s, w, h),
            FourCC::RGB24 => track_rgb(self.rgb.as_ref().expect("prepared above").table(), src.data, s, w, h),
            _ => track_bgr(self.rgb.as_ref().expect("prepared above").table(), src.data, s, w, h),
        };
        Ok(m)
    }

    /// [`moments`](Self::moments) as a detection message (area, centroid,
    /// bounding box of every in-range pixel, not only the largest blob).
    pub fn track(&mut self, src: &ImageRef) -> Result<Detection> {
        let m = self.moments(src)?;
        Ok(m.to_detection(src.format.width, src.format.height))
    }
}
