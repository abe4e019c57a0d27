//! Gaussian blur, 3x3 and 5x5, on GREY and RGB24/BGR24 images.
//!
//! Bit-exact with OpenCV's `cv2.GaussianBlur(img, (k, k), 0)` on 8-bit
//! images: for these sizes with sigma 0 OpenCV uses the fixed kernels
//! `[1 2 1]/4` and `[1 4 6 4 1]/16` in exact fixed point and rounds half up,
//! and the default border is `BORDER_REFLECT_101` (`gfedcb|abcdefgh|gfedcba`).
//! Here both passes stay in `u16` (5x5: at most 16·16·255 + 128 < 2^16), which
//! halves the memory traffic of the intermediate row compared with `i32`.

use super::{Result, same_size, simd_dispatch};
use framewire_sdk::image::{ImageMut, ImageRef};

/// Kernel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ksize {
    /// 3x3, weights `[1 2 1]`.
    K3,
    /// 5x5, weights `[1 4 6 4 1]`.
    K5,
}

impl Ksize {
    /// From the side length (3 or 5).
    pub fn from_side(n: u32) -> Option<Ksize> {
        match n {
            3 => Some(Ksize::K3),
            5 => Some(Ksize::K5),
            _ => None,
        }
    }
}

/// A Gaussian blur with its scratch row kept between frames (one `u16` row
/// of the widest image seen).
#[derive(Debug, Default, Clone)]
pub struct GaussianBlur {
    row: Vec<u16>,
}

/// `BORDER_REFLECT_101` for index `i`, as OpenCV's `borderInterpolate`:
/// reflected again and again until it lands in `0..n` (a 5x5 kernel on a
/// side of 2 pixels reflects index 3 to -1, then to 1).
#[inline]
fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let mut i = i;
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * n - 2 - i };
    }
    i as usize
}

impl GaussianBlur {
    /// A blur with no scratch yet (it grows on the first frame).
    pub fn new() -> Self {
        Self::default()
    }

    /// Blurs `src` into `dst` (same size and format: GREY, RGB24 or BGR24).
    pub fn apply(&mut self, src: &ImageRef, dst: &mut ImageMut, k: Ksize) -> Result<()> {
        let sf = src.format;
        let df = dst.format;
        same_size(&sf, &df)?;
        let c = super::same_format_grey_or_rgb(src, dst)?;
        let (w, h) = (sf.width as usize, sf.height as usize);
        if w == 0 || h == 0 {
            return Ok(());
        }
        let pad = 2 * c;
        let need = w * c + 2 * pad;
        if self.row.len() < need {
            self.row.resize(need, 0);
        }
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        for y in 0..h {
            let r = |d: isize| {
                let yy = reflect101(y as isize + d, h);
                &src.data[yy * ss..yy * ss + w * c]
            };
            let t = &mut self.row[..need];
            match k {
                Ksize::K3 => vert3(r(-1), r(0), r(1), &mut t[pad..pad + w * c]),
                Ksize::K5 => vert5(r(-2), r(-1), r(0), r(1), r(2), &mut t[pad..pad + w * c]),
            }
            // Horizontal border: reflect whole pixels, channel by channel.
            for k in 1..=2isize {
                let l = reflect101(-k, w);
                let rr = reflect101(w as isize - 1 + k, w);
                for ch in 0..c {
                    t[pad - k as usize * c + ch] = t[pad + l * c + ch];
                    t[pad + (w - 1 + k as usize) * c + ch] = t[pad + rr * c + ch];
                }
            }
            let out = &mut dst.data[y * ds..y * ds + w * c];
            match (k, c) {
                // The 3x3 pass needs one pixel of padding; the row keeps two.
                (Ksize::K3, 1) => h3g(&t[1..], out),
                (Ksize::K3, _) => h3c(&t[3..], out),
                (Ksize::K5, 1) => h5g(t, out),
                (Ksize::K5, _) => h5c(t, out),
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn vert3_k(a: &[u8], b: &[u8], c: &[u8], t: &mut [u16]) {
    let n = t.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    for i in 0..n {
        t[i] = a[i] as u16 + 2 * b[i] as u16 + c[i] as u16;
    }
}
simd_dispatch!(fn vert3(a: &[u8], b: &[u8], c: &[u8], t: &mut [u16]) = vert3_k;);

#[inline(always)]
fn vert5_k(a: &[u8], b: &[u8], c: &[u8], d: &[u8], e: &[u8], t: &mut [u16]) {
    let n = t.len();
    let (a, b, c, d, e) = (&a[..n], &b[..n], &c[..n], &d[..n], &e[..n]);
    for i in 0..n {
        t[i] = a[i] as u16 + e[i] as u16 + 4 * (b[i] as u16 + d[i] as u16) + 6 * c[i] as u16;
    }
}
simd_dispatch!(fn vert5(a: &[u8], b: &[u8], c: &[u8], d: &[u8], e: &[u8], t: &mut [u16]) = vert5_k;);

/// `t` holds the vertical sums with `2 * C` padding entries on each side.
#[inline(always)]
fn horiz3_k<const C: usize>(t: &[u16], out: &mut [u8]) {
    let n = out.len();
    let base = C;
    let (l, m, r) = (&t[base - C..base - C + n], &t[base..base + n], &t[base + C..base + C + n]);
    for i in 0..n {
        out[i] = ((l[i] + 2 * m[i] + r[i] + 8) >> 4) as u8;
    }
}

#[inline(always)]
fn horiz5_k<const C: usize>(t: &[u16], out: &mut [u8]) {
    let n = out.len();
    let p = 2 * C;
    let a = &t[p - 2 * C..p - 2 * C + n];
    let b = &t[p - C..p - C + n];
    let m = &t[p..p + n];
    let d = &t[p + C..p + C + n];
    let e = &t[p + 2 * C..p + 2 * C + n];
    for i in 0..n {
        // Wrapping is never hit (max 65408) but keeps debug builds from
        // checking overflow in the hot loop.
        let s = a[i]
            .wrapping_add(e[i])
            .wrapping_add(4u16.wrapping_mul(b[i].wrapping_add(d[i])))
            .wrapping_add(6u16.wrapping_mul(m[i]));
        out[i] = (s.wrapping_add(128) >> 8) as u8;
    }
}

simd_dispatch!(fn h3g(t: &[u16], out: &mut [u8]) = horiz3_k::<1>;);
simd_dispatch!(fn h3c(t: &[u16], out: &mut [u8]) = horiz3_k::<3>;);
simd_dispatch!(fn h5g(t: &[u16], out: &mut [u8]) = horiz5_k::<1>;);
simd_dispatch!(fn h5c(t: &[u16], out: &mut [u8]) = horiz5_k::<3>;);

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::FourCC;
    use framewire_sdk::image::ImageFormat;

    #[test]
    fn constant_image_stays_constant_and_impulse_gives_kernel() {
        let (w, h) = (9, 7);
        let f = ImageFormat::packed(FourCC::GREY, w, h);
        let mut src = vec![0u8; (w * h) as usize];
        src[(3 * w + 4) as usize] = 255;
        let mut dst = vec![0u8; src.len()];
        let mut b = GaussianBlur::new();
        b.apply(&ImageRef { format: f, data: &src }, &mut ImageMut { format: f, data: &mut dst }, Ksize::K3).unwrap();
        // 255 * [1 2 1]^T [1 2 1] / 16, rounded half up.
        let row = |y: u32| dst[(y * w + 3) as usize..(y * w + 6) as usize].to_vec();
        assert_eq!(row(2), vec![16, 32, 16]);
        assert_eq!(row(3), vec![32, 64, 32]);
        let src = vec![77u8; (w * h) as usize];
        b.apply(&ImageRef { format: f, data: &src }, &mut ImageMut { format: f, data: &mut dst }, Ksize::K5).unwrap();
        assert!(dst.iter().all(|&v| v == 77));
    }
}
