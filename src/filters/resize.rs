//! Resizing: area averaging (for shrinking) and bilinear, on GREY, RGB24 and
//! BGR24, with OpenCV's pixel-centre convention (`cv2.resize`).
//!
//! - **Area** with integer factors (640x480 → 320x240, 1920x1080 → 960x540)
//!   averages each block and rounds like OpenCV's `INTER_AREA` fast path
//!   (2x2: half up; larger blocks: half to even), bit-exact. Other shrink factors use fractional
//!   overlap weights in `f32` like OpenCV's general path (within ±1).
//!   Enlarging with "area" (or shrinking one axis only) uses OpenCV's
//!   `INTER_AREA` weights for that case: two taps, the second weighted by
//!   the part of the output cell past the source cell (at 2x: repeated
//!   pixels, not bilinear).
//! - **Bilinear** uses OpenCV's 11-bit fixed-point weights and its SIMD
//!   rounding of the vertical pass, so results match `INTER_LINEAR` within
//!   ±1 (exactly in the tested cases).

use super::{FilterError, Result, simd, simd_dispatch};
use framewire_sdk::image::{ImageMut, ImageRef};

/// Interpolation method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interp {
    /// Box average over the source area of each output pixel (`INTER_AREA`).
    Area,
    /// Bilinear (`INTER_LINEAR`).
    Bilinear,
}

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// A resizer holding its coordinate tables and row buffers between frames;
/// they are rebuilt only when the geometry changes.
#[derive(Debug, Default, Clone)]
pub struct Resizer {
    key: (u32, u32, u32, u32, usize, bool),
    xofs: Vec<u32>,
    alpha: Vec<i16>,
    yofs: Vec<u32>,
    beta: Vec<i16>,
    rows: [Vec<i32>; 2],
    row_y: [i64; 2],
    facc: Vec<f32>,
    acc: Vec<u32>,
    t16: Vec<u16>,
    nb: Vec<u8>,
    sofs: Vec<i32>,
    swts: Vec<i32>,
    area_key: Option<(u32, u32, u32, u32, usize)>,
    xt: Vec<(u32, u32, f32)>,
    yt: Vec<(u32, u32, f32)>,
    /// Fractional area shrink: first source pixel of each output column,
    /// and `taps` weights per column (tap-major: `xw[t * dw + dx]`).
    xs0: Vec<u32>,
    xw: Vec<f32>,
    taps: usize,
    /// The columns follow the 4:3 pattern (two taps, output pixel `dx` from
    /// source pixels `4 (dx / 3) + dx % 3` and the next), so the horizontal
    /// pass can use [`simd::area43_h`] with `xw_s`: the two taps' weights
    /// per output sample (tap 0 for all samples, then tap 1).
    a43: bool,
    xw_s: Vec<f32>,
    /// Every output row covers exactly two source rows, so the vertical pass
    /// is [`simd::area_v2`] over two horizontally reduced rows (`frows`).
    v2: bool,
    frows: Vec<f32>,
}

/// Source index and 11-bit weight of the right/bottom neighbour for each
/// destination index, exactly as OpenCV's `resize` computes them. With
/// `area` the weights are `INTER_AREA`'s when it enlarges: the part of the
/// destination cell that lies past the source cell's right edge (so at 2x
/// every weight is 0 and pixels repeat).
fn linear_tab(dsize: u32, ssize: u32, area: bool, ofs: &mut Vec<u32>, w: &mut Vec<i16>) {
    ofs.clear();
    w.clear();
    let scale = ssize as f64 / dsize as f64;
    let inv = dsize as f64 / ssize as f64;
    let area_scale = 1.0 / inv;
    for d in 0..dsize {
        let (mut s, mut fx) = if area {
            let s = (d as f64 * area_scale).floor() as i64;
            let fx = ((d + 1) as f64 - (s + 1) as f64 * inv) as f32;
            (s, if fx <= 0.0 { 0.0 } else { fx - fx.floor() })
        } else {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor() as i64;
            (s, f - s as f32)
        };
        if s < 0 {
            s = 0;
            fx = 0.0;
        }
        if s >= ssize as i64 - 1 {
            s = ssize as i64 - 1;
            fx = 0.0;
        }
        ofs.push(s as u32);
        w.push((fx * COEF_SCALE).round_ties_even() as i16);
    }
}

/// Per output sample (pixel x channel): the byte offset of the left tap in
/// a source row, and both 11-bit weights packed as `w0 | w1 << 16`.
fn sample_tab(xofs: &[u32], alpha: &[i16], c: usize, ofs: &mut Vec<i32>, wts: &mut Vec<i32>) {
    ofs.clear();
    wts.clear();
    for (&sx, &a) in xofs.iter().zip(alpha) {
        let (a1, a0) = (a as i32, (1 << COEF_BITS) - a as i32);
        for ch in 0..c {
            ofs.push((sx as usize * c + ch) as i32);
            wts.push(a0 | a1 << 16);
        }
    }
}

/// 2x2 box average, rounding half up, in three contiguous (vectorisable)
/// steps per output row: vertical pair sums, horizontal neighbour sums and
/// narrowing, then keeping every other pixel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn area2_k<const C: usize>(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    dw: usize,
    dh: usize,
    t: &mut [u16],
    nb: &mut [u8],
    ssse3: bool,
) {
    let sw = 2 * dw * C;
    let t = &mut t[..sw];
    let nb = &mut nb[..sw - C];
    for dy in 0..dh {
        let a = &src[2 * dy * ss..][..sw];
        let b = &src[(2 * dy + 1) * ss..][..sw];
        if C == 1 {
            crate::simd::area2_gray(a, b, &mut dst[dy * ds..][..dw], ssse3);
            continue;
        }
        for i in 0..sw {
            t[i] = a[i] as u16 + b[i] as u16;
        }
        let (l, r) = (&t[..sw - C], &t[C..]);
        for i in 0..sw - C {
            nb[i] = ((l[i] + r[i] + 2) >> 2) as u8;
        }
        let o = &mut dst[dy * ds..][..dw * C];
        crate::simd::even3(nb, o, ssse3);
    }
}
simd_dispatch!(#[allow(clippy::too_many_arguments)] fn area2_1(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, dw: usize, dh: usize, t: &mut [u16], nb: &mut [u8], ssse3: bool) = area2_k::<1>;);
simd_dispatch!(#[allow(clippy::too_many_arguments)] fn area2_3(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, dw: usize, dh: usize, t: &mut [u16], nb: &mut [u8], ssse3: bool) = area2_k::<3>;);

/// Integer-factor box average, rounding half up.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn area_int_k<const C: usize>(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    dw: usize,
    dh: usize,
    fx: usize,
    fy: usize,
    acc: &mut [u32],
) {
    let area = (fx * fy) as u32;
    let n = dw * C;
    for dy in 0..dh {
        let acc = &mut acc[..n];
        acc.fill(0);
        for k in 0..fy {
            let row = &src[(dy * fy + k) * ss..][..dw * fx * C];
            if fx == 2 {
                for (a, p) in acc.chunks_exact_mut(C).zip(row.chunks_exact(2 * C)) {
                    for c in 0..C {
                        a[c] += p[c] as u32 + p[C + c] as u32;
                    }
                }
            } else {
                for (a, p) in acc.chunks_exact_mut(C).zip(row.chunks_exact(fx * C)) {
                    for j in 0..fx {
                        for c in 0..C {
                            a[c] += p[j * C + c] as u32;
                        }
                    }
                }
            }
        }
        let out = &mut dst[dy * ds..dy * ds + n];
        if area == 4 {
            for (o, a) in out.iter_mut().zip(acc.iter()) {
                *o = ((a + 2) >> 2) as u8;
            }
        } else {
            // OpenCV multiplies by 1/area and rounds half to even.
            for (o, a) in out.iter_mut().zip(acc.iter()) {
                let (q, r) = (a / area, a % area);
                *o = (q + (2 * r > area || (2 * r == area && q % 2 == 1)) as u32) as u8;
            }
        }
    }
}

/// Overlap weights of source cells for each destination cell along one axis
/// (OpenCV's `computeResizeAreaTab`): `(dst index, src index, weight)`.
fn area_tab(ssize: u32, dsize: u32) -> Vec<(u32, u32, f32)> {
    let scale = ssize as f64 / dsize as f64;
    let mut t = Vec::new();
    for d in 0..dsize {
        let f0 = d as f64 * scale;
        let f1 = (f0 + scale).min(ssize as f64);
        let mut s = f0.floor() as u32;
        while (s as f64) < f1 && s < ssize {
            let lo = f0.max(s as f64);
            let hi = f1.min(s as f64 + 1.0);
            let wgt = ((hi - lo) / (f1 - f0)) as f32;
            if wgt > 1e-6 {
                t.push((d, s, wgt));
            }
            s += 1;
        }
    }
    t
}

impl Resizer {
    /// A resizer with empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resizes `src` into `dst` (same format: GREY, RGB24 or BGR24; the
    /// output size is `dst`'s).
    pub fn resize(&mut self, src: &ImageRef, dst: &mut ImageMut, interp: Interp) -> Result<()> {
        let (sf, df) = (src.format, dst.format);
        let c = super::same_format_grey_or_rgb(src, dst)?;
        if sf.width == 0 || sf.height == 0 || df.width == 0 || df.height == 0 {
            return Err(FilterError::Geometry("cannot resize an empty image".into()));
        }
        let shrink = sf.width >= df.width && sf.height >= df.height;
        match interp {
            Interp::Area if shrink => {
                let (fx, fy) = (sf.width / df.width, sf.height / df.height);
                if fx == 2 && fy == 2 && sf.width == 2 * df.width && sf.height == 2 * df.height {
                    self.area2(src, dst, c);
                    Ok(())
                } else if sf.width % df.width == 0 && sf.height % df.height == 0 {
                    let acc_len = df.width as usize * c;
                    if self.acc.len() < acc_len {
                        self.acc.resize(acc_len, 0);
                    }
                    let acc = &mut self.acc;
                    let (ss, ds) = (sf.stride as usize, df.stride as usize);
                    let (dw, dh) = (df.width as usize, df.height as usize);
                    let (fx, fy) = (fx as usize, fy as usize);
                    if c == 1 {
                        area1(src.data, ss, dst.data, ds, dw, dh, fx, fy, acc);
                    } else {
                        area3(src.data, ss, dst.data, ds, dw, dh, fx, fy, acc);
                    }
                    Ok(())
                } else {
                    self.area_general(src, dst, c)
                }
            }
            // Exactly half in both directions: bilinear weights are all 1/2,
            // and OpenCV switches to its area path here too.
            Interp::Bilinear if sf.width == 2 * df.width && sf.height == 2 * df.height => {
                self.area2(src, dst, c);
                Ok(())
            }
            _ => self.bilinear(src, dst, c, interp == Interp::Area),
        }
    }

    fn area2(&mut self, src: &ImageRef, dst: &mut ImageMut, c: usize) {
        let (sf, df) = (src.format, dst.format);
        let sw = 2 * df.width as usize * c;
        if self.t16.len() < sw {
            self.t16.resize(sw, 0);
            self.nb.resize(sw, 0);
        }
        let (ss, ds, dw, dh) = (sf.stride as usize, df.stride as usize, df.width as usize, df.height as usize);
        let ssse3 = crate::simd::have_ssse3();
        if c == 1 {
            area2_1(src.data, ss, dst.data, ds, dw, dh, &mut self.t16, &mut self.nb, ssse3);
        } else {
            area2_3(src.data, ss, dst.data, ds, dw, dh, &mut self.t16, &mut self.nb, ssse3);
        }
    }

    /// Bilinear interpolation, or with `area` OpenCV's `INTER_AREA` where it
    /// does not shrink both axes (the same two-tap machinery with other
    /// weights).
    fn bilinear(&mut self, src: &ImageRef, dst: &mut ImageMut, c: usize, area: bool) -> Result<()> {
        let (sf, df) = (src.format, dst.format);
        let key = (sf.width, sf.height, df.width, df.height, c, area);
        if self.key != key || self.xofs.is_empty() {
            linear_tab(df.width, sf.width, area, &mut self.xofs, &mut self.alpha);
            sample_tab(&self.xofs, &self.alpha, c, &mut self.sofs, &mut self.swts);
            linear_tab(df.height, sf.height, area, &mut self.yofs, &mut self.beta);
            self.key = key;
        }
        let n = df.width as usize * c;
        for r in &mut self.rows {
            if r.len() < n {
                r.resize(n, 0);
            }
        }
        self.row_y = [-1, -1];
        let avx2 = simd::have_avx2();
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        let sw = sf.width as usize * c;
        for dy in 0..df.height as usize {
            let sy0 = self.yofs[dy] as i64;
            let sy1 = (sy0 + 1).min(sf.height as i64 - 1);
            // Keep the two horizontally interpolated source rows; when the
            // window slides by one, the old bottom row becomes the top one.
            for (slot, sy) in [(0usize, sy0), (1, sy1)] {
                // At the bottom edge both taps are the same row and its
                // weight is 0: the second slot's content does not matter.
                if self.row_y[slot] == sy || (slot == 1 && sy == sy0) {
                    continue;
                }
                let other = 1 - slot;
                if self.row_y[other] == sy {
                    self.rows.swap(0, 1);
                    self.row_y.swap(0, 1);
                    if self.row_y[slot] == sy {
                        continue;
                    }
                }
                let line = &src.data[sy as usize * ss..sy as usize * ss + sw];
                if c == 1 {
                    simd::hline::<1>(line, &self.sofs, &self.swts, &mut self.rows[slot][..n], avx2);
                } else {
                    simd::hline::<3>(line, &self.sofs, &self.swts, &mut self.rows[slot][..n], avx2);
                }
                self.row_y[slot] = sy;
            }
            let out = &mut dst.data[dy * ds..dy * ds + n];
            simd::vline(&self.rows[0][..n], &self.rows[1][..n], self.beta[dy], out, avx2);
        }
        Ok(())
    }

    /// Fractional-factor area shrink (not the hot path for webcam sizes).
    fn area_general(&mut self, src: &ImageRef, dst: &mut ImageMut, c: usize) -> Result<()> {
        let (sf, df) = (src.format, dst.format);
        // The overlap tables depend only on the geometry: build them once.
        let key = (sf.width, sf.height, df.width, df.height, c);
        let sw = sf.width as usize;
        if self.area_key != Some(key) {
            self.xt = area_tab(sf.width, df.width);
            self.yt = area_tab(sf.height, df.height);
            self.area_key = Some(key);
            // Per output column: the first source pixel and `taps` weights
            // (OpenCV's overlap weights in its order, zeros where a column
            // has fewer), shifted left at the right edge so every tap reads
            // inside the row (zero weights add exactly nothing).
            let dw = df.width as usize;
            let mut count = vec![0usize; dw];
            for &(d, _, _) in &self.xt {
                count[d as usize] += 1;
            }
            let taps = count.iter().copied().max().unwrap_or(1).min(sw);
            self.xs0 = vec![u32::MAX; dw];
            self.xw = vec![0.0; dw * taps];
            for &(d, s, _) in &self.xt {
                self.xs0[d as usize] = self.xs0[d as usize].min(s);
            }
            for s0 in self.xs0.iter_mut() {
                *s0 = (*s0).min((sw - taps) as u32);
            }
            for &(d, s, w) in &self.xt {
                let d = d as usize;
                self.xw[(s - self.xs0[d]) as usize * dw + d] = w;
            }
            self.taps = taps;
            // The 4:3 shrink (1920 -> 1440, 640 -> 480) gets vectorised
            // kernels; they read the same weights, so only the layout of the
            // taps must be checked.
            self.a43 = taps == 2 && self.xs0.iter().enumerate().all(|(dx, &s0)| s0 as usize == 4 * (dx / 3) + dx % 3);
            self.xw_s.clear();
            if self.a43 {
                for t in 0..2 {
                    self.xw_s.extend(self.xw[t * dw..(t + 1) * dw].iter().flat_map(|&w| std::iter::repeat_n(w, c)));
                }
            }
            // Entries come grouped by output row, in source order.
            let yt = &self.yt;
            self.v2 = yt.len() == 2 * df.height as usize
                && yt
                    .chunks_exact(2)
                    .enumerate()
                    .all(|(dy, e)| e[0].0 as usize == dy && e[1].0 as usize == dy && e[0].1 != e[1].1);
        }
        if self.v2 {
            self.area_two_rows(src, dst, c);
            return Ok(());
        }
        let yt = &self.yt;
        let n = df.width as usize * c;
        self.facc.clear();
        self.facc.resize(2 * n, 0.0);
        let (acc, row) = self.facc.split_at_mut(n);
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        let (xs0, xw, taps) = (&self.xs0, &self.xw, self.taps);
        // Each source row is reduced horizontally once, even when it
        // overlaps two output rows.
        let mut row_sy = u32::MAX;
        let mut i = 0;
        while i < yt.len() {
            let dy = yt[i].0;
            acc.fill(0.0);
            while i < yt.len() && yt[i].0 == dy {
                let (_, sy, wy) = yt[i];
                if sy != row_sy {
                    let line = &src.data[sy as usize * ss..][..sw * c];
                    if c == 1 {
                        area_h1(line, xs0, xw, taps, row);
                    } else {
                        area_h3(line, xs0, xw, taps, row);
                    }
                    row_sy = sy;
                }
                area_v(acc, row, wy);
                i += 1;
            }
            let out = &mut dst.data[dy as usize * ds..dy as usize * ds + n];
            for (o, a) in out.iter_mut().zip(acc.iter()) {
                *o = a.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(())
    }
}

impl Resizer {
    /// The fractional area shrink when every output row covers two source
    /// rows (the 4:3 shrink among others): each source row is reduced
    /// horizontally once into one of two row buffers, and each output row
    /// is [`simd::area_v2`] of the two it covers. The same `f32`
    /// operations in the same order as the general loop and as OpenCV.
    fn area_two_rows(&mut self, src: &ImageRef, dst: &mut ImageMut, c: usize) {
        let (sf, df) = (src.format, dst.format);
        let (sw, n) = (sf.width as usize, df.width as usize * c);
        let (ss, ds) = (sf.stride as usize, df.stride as usize);
        if self.frows.len() < 2 * n {
            self.frows.resize(2 * n, 0.0);
        }
        let avx2 = simd::have_avx2();
        let (xs0, xw, taps, a43) = (&self.xs0, &self.xw, self.taps, self.a43);
        let (w0, w1) = self.xw_s.split_at(self.xw_s.len() / 2);
        let (ra, rb) = self.frows.split_at_mut(n);
        let rows = [&mut ra[..n], &mut rb[..n]];
        let mut held = [u32::MAX; 2];
        for e in self.yt.chunks_exact(2) {
            let (dy, (sa, wa), (sb, wb)) = (e[0].0 as usize, (e[0].1, e[0].2), (e[1].1, e[1].2));
            for sy in [sa, sb] {
                if held.contains(&sy) {
                    continue;
                }
                // Overwrite the slot that does not hold this output row's other row.
                let other = if sy == sa { sb } else { sa };
                let slot = usize::from(held[0] == other);
                let line = &src.data[sy as usize * ss..][..sw * c];
                let row = &mut *rows[slot];
                match (a43, c) {
                    (true, 1) => simd::area43_h::<1>(line, w0, w1, row, avx2),
                    (true, _) => simd::area43_h::<3>(line, w0, w1, row, avx2),
                    (false, 1) => area_h1(line, xs0, xw, taps, row),
                    (false, _) => area_h3(line, xs0, xw, taps, row),
                }
                held[slot] = sy;
            }
            let (ia, ib) = (usize::from(held[1] == sa), usize::from(held[1] == sb));
            let out = &mut dst.data[dy * ds..dy * ds + n];
            simd::area_v2(rows[ia], rows[ib], wa, wb, out, avx2);
        }
    }
}

/// One source row reduced horizontally for the fractional area shrink:
/// `row[dx]` is the weighted sum of the row's pixels under output column
/// `dx`, added in OpenCV's order from 0 (so the float result is the same).
#[inline(always)]
fn area_h_k<const C: usize>(line: &[u8], xs0: &[u32], xw: &[f32], taps: usize, row: &mut [f32]) {
    // Tap by tap over the whole row (weights stored tap-major), so the inner
    // loop has no variable-length loop inside it; each output still adds
    // its taps in order.
    let dw = xs0.len();
    row.fill(0.0);
    for (t, w) in xw.chunks_exact(dw).enumerate().take(taps) {
        for ((o, &s0), &wt) in row.chunks_exact_mut(C).zip(xs0).zip(w) {
            let p = &line[(s0 as usize + t) * C..][..C];
            for ch in 0..C {
                o[ch] += p[ch] as f32 * wt;
            }
        }
    }
}
simd_dispatch!(fn area_h1(line: &[u8], xs0: &[u32], xw: &[f32], taps: usize, row: &mut [f32]) = area_h_k::<1>;);
simd_dispatch!(fn area_h3(line: &[u8], xs0: &[u32], xw: &[f32], taps: usize, row: &mut [f32]) = area_h_k::<3>;);

#[inline(always)]
fn area_v_k(acc: &mut [f32], row: &[f32], wy: f32) {
    for (a, r) in acc.iter_mut().zip(row) {
        *a += r * wy;
    }
}
simd_dispatch!(fn area_v(acc: &mut [f32], row: &[f32], wy: f32) = area_v_k;);

simd_dispatch!(#[allow(clippy::too_many_arguments)] fn area1(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, dw: usize, dh: usize, fx: usize, fy: usize, acc: &mut [u32]) = area_int_k::<1>;);
simd_dispatch!(#[allow(clippy::too_many_arguments)] fn area3(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, dw: usize, dh: usize, fx: usize, fy: usize, acc: &mut [u32]) = area_int_k::<3>;);

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::FourCC;
    use framewire_sdk::image::ImageFormat;

    #[test]
    fn area_halves_a_checkerboard_to_grey() {
        let (w, h) = (8u32, 4u32);
        let data: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| if (x + y) % 2 == 0 { 255 } else { 0 })).collect();
        let mut out = vec![0u8; 8];
        let mut r = Resizer::new();
        r.resize(
            &ImageRef { format: ImageFormat::packed(FourCC::GREY, w, h), data: &data },
            &mut ImageMut { format: ImageFormat::packed(FourCC::GREY, 4, 2), data: &mut out },
            Interp::Area,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == 128), "{out:?}"); // (510 + 2) >> 2
    }

    #[test]
    fn bilinear_constant_and_ramp() {
        let (w, h) = (16u32, 4u32);
        let data: Vec<u8> = (0..h).flat_map(|_| (0..w).map(|x| (x * 16) as u8)).collect();
        let mut out = vec![0u8; 8 * 2];
        let mut r = Resizer::new();
        r.resize(
            &ImageRef { format: ImageFormat::packed(FourCC::GREY, w, h), data: &data },
            &mut ImageMut { format: ImageFormat::packed(FourCC::GREY, 8, 2), data: &mut out },
            Interp::Bilinear,
        )
        .unwrap();
        // Output x samples source x = 2x + 0.5: value 32x + 8.
        let want: Vec<u8> = (0..8).map(|x| (32 * x + 8) as u8).collect();
        assert_eq!(&out[..8], &want[..]);
    }

    /// OpenCV's `ResizeArea_Invoker` written out literally (one `f32` row
    /// buffer per source row, `sum = beta * buf` on a new output row, `sum
    /// += beta * buf` after, `saturate_cast` when the output row changes)
    /// over the same overlap tables: the reference for the fast paths.
    fn opencv_area(src: &[u8], sw: u32, sh: u32, c: usize, dw: u32, dh: u32) -> Vec<u8> {
        let (xt, yt) = (area_tab(sw, dw), area_tab(sh, dh));
        let n = dw as usize * c;
        let mut out = vec![0u8; n * dh as usize];
        let (mut buf, mut sum) = (vec![0f32; n], vec![0f32; n]);
        let mut prev_dy = yt[0].0;
        for &(dy, sy, beta) in &yt {
            let row = &src[sy as usize * sw as usize * c..];
            buf.fill(0.0);
            for &(dx, sx, alpha) in &xt {
                for ch in 0..c {
                    let i = dx as usize * c + ch;
                    buf[i] += row[sx as usize * c + ch] as f32 * alpha;
                }
            }
            if dy != prev_dy {
                let d = &mut out[prev_dy as usize * n..][..n];
                for ((o, s), b) in d.iter_mut().zip(sum.iter_mut()).zip(&buf) {
                    *o = s.round_ties_even().clamp(0.0, 255.0) as u8;
                    *s = beta * b;
                }
                prev_dy = dy;
            } else {
                for (s, b) in sum.iter_mut().zip(&buf) {
                    *s += beta * b;
                }
            }
        }
        for (o, s) in out[prev_dy as usize * n..][..n].iter_mut().zip(&sum) {
            *o = s.round_ties_even().clamp(0.0, 255.0) as u8;
        }
        out
    }

    /// The 4:3 shrink (vectorised horizontal and vertical passes), other
    /// shrinks whose output rows each cover two source rows (vectorised
    /// vertical pass) and general ones, GREY and RGB, bit for bit against
    /// the literal OpenCV loop, on noise (every rounding case shows up) and
    /// on a padded stride.
    #[test]
    fn fractional_area_shrink_matches_the_opencv_loop() {
        let mut r = Resizer::new();
        for (sw, sh, dw, dh) in [
            (640, 480, 480, 360),
            (64, 48, 48, 36),
            (1920, 12, 1440, 9),
            (20, 8, 15, 6),
            (7, 4, 5, 3),
            (100, 75, 75, 56),
            (64, 48, 25, 20),
            (33, 17, 32, 16),
        ] {
            for (fcc, c) in [(FourCC::GREY, 1usize), (FourCC::RGB24, 3)] {
                let stride = sw as usize * c + 5;
                let packed: Vec<u8> =
                    (0..sw as usize * sh as usize * c).map(|i| ((i * 2_654_435_761) >> 13) as u8).collect();
                let mut data = vec![0u8; stride * sh as usize];
                for (d, s) in data.chunks_exact_mut(stride).zip(packed.chunks_exact(sw as usize * c)) {
                    d[..s.len()].copy_from_slice(s);
                }
                let mut out = vec![0u8; dw as usize * dh as usize * c];
                r.resize(
                    &ImageRef {
                        format: ImageFormat { width: sw, height: sh, stride: stride as u32, fourcc: fcc },
                        data: &data,
                    },
                    &mut ImageMut { format: ImageFormat::packed(fcc, dw, dh), data: &mut out },
                    Interp::Area,
                )
                .unwrap();
                let want = opencv_area(&packed, sw, sh, c, dw, dh);
                let bad = out.iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(bad, 0, "{sw}x{sh} -> {dw}x{dh}, {c} channel(s): {bad} samples differ");
            }
        }
    }
}
