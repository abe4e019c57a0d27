//! Pixel-format conversion: YUYV/UYVY → RGB24/BGR24/GREY, NV12 → RGB24/BGR24,
//! RGB ↔ BGR, RGB/BGR → GREY.
//!
//! # Colour-range convention
//! Exactly OpenCV's (`cv::cvtColor`), so results are bit-identical:
//! - **YUV → RGB** (`COLOR_YUV2RGB_YUYV`, `_UYVY`, `_NV12`) treats YUV as
//!   BT.601 *limited range* (Y 16-235, Cb/Cr 16-240, as V4L2 webcams deliver
//!   it) and produces *full-range* RGB 0-255, using OpenCV's 20-bit
//!   fixed-point coefficients (1.164·(Y-16), 1.596·Cr, …).
//! - **YUV → GREY** (`COLOR_YUV2GRAY_YUYV`) is the luma byte as is: it is not
//!   expanded from 16-235 to 0-255 (OpenCV does the same).
//! - **RGB → GREY** is full range BT.601, `Y = 0.299 R + 0.587 G + 0.114 B`
//!   in OpenCV's 15-bit fixed point, rounded half up.

use super::{FilterError, Result, check, check_geometry, same_size, simd, simd_dispatch};
use framewire_sdk::image::{FourCC, ImageMut, ImageRef};

// OpenCV's ITU-R BT.601 limited-range YUV → RGB coefficients (2^20 scale),
// from modules/imgproc/src/color_yuv.simd.hpp.
const SHIFT: i32 = 20;
pub(crate) const CY: i32 = 1_220_542;
pub(crate) const CUB: i32 = 2_116_026;
pub(crate) const CUG: i32 = -409_993;
pub(crate) const CVG: i32 = -852_492;
pub(crate) const CVR: i32 = 1_673_527;
const HALF: i32 = 1 << (SHIFT - 1);

// OpenCV's RGB → grey coefficients for 8-bit images (2^15 scale, summing to
// exactly 2^15 so white stays 255), as its `RGB2Gray<uchar>` uses them.
pub(crate) const R2Y: u32 = 9798;
pub(crate) const G2Y: u32 = 19235;
pub(crate) const B2Y: u32 = 3735;

#[inline(always)]
fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Converts one luma sample given the chroma terms already computed for its
/// pair; `>>` on `i32` is arithmetic, like OpenCV's.
#[inline(always)]
fn yuv_px(y: u8, ruv: i32, guv: i32, buv: i32) -> [u8; 3] {
    let yy = (y as i32 - 16).max(0) * CY;
    [clamp_u8((yy + ruv) >> SHIFT), clamp_u8((yy + guv) >> SHIFT), clamp_u8((yy + buv) >> SHIFT)]
}

#[inline(always)]
fn chroma(u: u8, v: u8) -> (i32, i32, i32) {
    let (u, v) = (u as i32 - 128, v as i32 - 128);
    (HALF + CVR * v, HALF + CVG * v + CUG * u, HALF + CUB * u)
}

/// Packed 4:2:2 → RGB/BGR. `Y0`, `U`, `Y1`, `V` are byte offsets within a
/// 4-byte macropixel; `BGR` swaps the output order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn yuv422_kernel<const Y0: usize, const U: usize, const Y1: usize, const V: usize, const BGR: bool>(
    src: &[u8],
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    w: usize,
    h: usize,
) {
    let avx2 = simd::have_avx2();
    for y in 0..h {
        let s = &src[y * ss..y * ss + 2 * w];
        let d = &mut dst[y * ds..y * ds + 3 * w];
        // AVX2 for most of the row; the scalar loop finishes it (and does
        // all of it elsewhere).
        let done = simd::yuv_rgb::<Y0, U, V, false, BGR>(s, &[], d, w, &[], &mut [], avx2);
        for (m, o) in s[2 * done..].chunks_exact(4).zip(d[3 * done..].chunks_exact_mut(6)) {
            let (ruv, guv, buv) = chroma(m[U], m[V]);
            let p0 = yuv_px(m[Y0], ruv, guv, buv);
            let p1 = yuv_px(m[Y1], ruv, guv, buv);
            if BGR {
                o.copy_from_slice(&[p0[2], p0[1], p0[0], p1[2], p1[1], p1[0]]);
            } else {
                o.copy_from_slice(&[p0[0], p0[1], p0[2], p1[0], p1[1], p1[2]]);
            }
        }
    }
}

simd_dispatch!(fn yuyv_rgb(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_kernel::<0, 1, 2, 3, false>;);
simd_dispatch!(fn yuyv_bgr(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_kernel::<0, 1, 2, 3, true>;);
simd_dispatch!(fn uyvy_rgb(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_kernel::<1, 0, 3, 2, false>;);
simd_dispatch!(fn uyvy_bgr(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_kernel::<1, 0, 3, 2, true>;);

/// Extracts every other byte starting at `Y0` (the luma of a packed 4:2:2 row).
#[inline(always)]
fn yuv422_gray_kernel<const Y0: usize>(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) {
    for y in 0..h {
        let s = &src[y * ss..y * ss + 2 * w];
        let d = &mut dst[y * ds..y * ds + w];
        for (p, o) in s.chunks_exact(2).zip(d.iter_mut()) {
            *o = p[Y0];
        }
    }
}
simd_dispatch!(fn yuyv_gray(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_gray_kernel::<0>;);
simd_dispatch!(fn uyvy_gray(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = yuv422_gray_kernel::<1>;);

#[inline(always)]
fn nv12_kernel<const BGR: bool>(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) {
    let avx2 = simd::have_avx2();
    let uv_plane = ss * h;
    // Rows in pairs (h is even): both share one chroma row, whose products
    // the SIMD kernels compute once.
    for y in (0..h).step_by(2) {
        let uvrow = &src[uv_plane + (y / 2) * ss..][..w];
        let (y0, y1) = (&src[y * ss..y * ss + w], &src[(y + 1) * ss..(y + 1) * ss + w]);
        let (top, bottom) = dst[y * ds..].split_at_mut(ds);
        let (d0, d1) = (&mut top[..3 * w], &mut bottom[..3 * w]);
        let done = simd::yuv_rgb::<0, 0, 0, true, BGR>(y0, uvrow, d0, w, y1, d1, avx2);
        for (yrow, d) in [(y0, d0), (y1, d1)] {
            let it =
                yrow[done..].chunks_exact(2).zip(uvrow[done..].chunks_exact(2)).zip(d[3 * done..].chunks_exact_mut(6));
            for ((yy, uv), o) in it {
                let (ruv, guv, buv) = chroma(uv[0], uv[1]);
                let p0 = yuv_px(yy[0], ruv, guv, buv);
                let p1 = yuv_px(yy[1], ruv, guv, buv);
                if BGR {
                    o.copy_from_slice(&[p0[2], p0[1], p0[0], p1[2], p1[1], p1[0]]);
                } else {
                    o.copy_from_slice(&[p0[0], p0[1], p0[2], p1[0], p1[1], p1[2]]);
                }
            }
        }
    }
}
simd_dispatch!(fn nv12_rgb(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = nv12_kernel::<false>;);
simd_dispatch!(fn nv12_bgr(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = nv12_kernel::<true>;);

#[inline(always)]
fn swap_rb_kernel(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) {
    // Byte shuffles (SSSE3); LLVM does not vectorise 3-byte pixel swaps.
    let ssse3 = simd::have_ssse3();
    if ss == 3 * w && ds == 3 * w {
        // Packed rows: one run over the whole image, so the vector loop
        // never stops at a row's end.
        simd::swap3(&src[..3 * w * h], &mut dst[..3 * w * h], ssse3);
        return;
    }
    for y in 0..h {
        let s = &src[y * ss..y * ss + 3 * w];
        let d = &mut dst[y * ds..y * ds + 3 * w];
        simd::swap3(s, d, ssse3);
    }
}
simd_dispatch!(fn swap_rb(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = swap_rb_kernel;);

/// `R` is the byte offset of red in the input pixel (0 for RGB, 2 for BGR).
#[inline(always)]
fn gray_kernel<const R: usize>(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) {
    for y in 0..h {
        // The AVX-512 VBMI kernel for most of the row where the CPU has it;
        // this loop (vectorised by LLVM) for the rest.
        let s = &src[y * ss..y * ss + 3 * w];
        let d = &mut dst[y * ds..y * ds + w];
        let done = simd::rgb_gray::<R>(s, d);
        for (p, o) in s[3 * done..].chunks_exact(3).zip(d[done..].iter_mut()) {
            let v = p[R] as u32 * R2Y + p[1] as u32 * G2Y + p[2 - R] as u32 * B2Y;
            *o = ((v + (1 << 14)) >> 15) as u8;
        }
    }
}
simd_dispatch!(fn rgb_gray(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = gray_kernel::<0>;);
simd_dispatch!(fn bgr_gray(src: &[u8], ss: usize, dst: &mut [u8], ds: usize, w: usize, h: usize) = gray_kernel::<2>;);

/// The conversions [`convert`] supports, as `(input, output)` pairs.
pub const SUPPORTED: &[(FourCC, FourCC)] = &[
    (FourCC::YUYV, FourCC::RGB24),
    (FourCC::YUYV, FourCC::BGR24),
    (FourCC::YUYV, FourCC::GREY),
    (FourCC::UYVY, FourCC::RGB24),
    (FourCC::UYVY, FourCC::BGR24),
    (FourCC::UYVY, FourCC::GREY),
    (FourCC::NV12, FourCC::RGB24),
    (FourCC::NV12, FourCC::BGR24),
    (FourCC::RGB24, FourCC::BGR24),
    (FourCC::BGR24, FourCC::RGB24),
    (FourCC::RGB24, FourCC::GREY),
    (FourCC::BGR24, FourCC::GREY),
];

/// Converts `src` into `dst`, choosing the conversion from their formats
/// (see [`SUPPORTED`]). Sizes must match; 4:2:2 and NV12 inputs need an even
/// width (and NV12 an even height), as V4L2 guarantees.
pub fn convert(src: &ImageRef, dst: &mut ImageMut) -> Result<()> {
    let (sf, df) = (src.format, dst.format);
    same_size(&sf, &df)?;
    check_geometry(&sf, src.data.len(), "input")?;
    check_geometry(&df, dst.data.len(), "output")?;
    let (w, h) = (sf.width as usize, sf.height as usize);
    let (ss, ds) = (sf.stride as usize, df.stride as usize);
    if matches!(sf.fourcc, FourCC::YUYV | FourCC::UYVY | FourCC::NV12) && w % 2 != 0 {
        return Err(FilterError::Geometry(format!("{} needs an even width, got {w}", sf.fourcc)));
    }
    if sf.fourcc == FourCC::NV12 && h % 2 != 0 {
        return Err(FilterError::Geometry(format!("NV12 needs an even height, got {h}")));
    }
    let (s, d) = (src.data, &mut *dst.data);
    match (sf.fourcc, df.fourcc) {
        (FourCC::YUYV, FourCC::RGB24) => yuyv_rgb(s, ss, d, ds, w, h),
        (FourCC::YUYV, FourCC::BGR24) => yuyv_bgr(s, ss, d, ds, w, h),
        (FourCC::YUYV, FourCC::GREY) => yuyv_gray(s, ss, d, ds, w, h),
        (FourCC::UYVY, FourCC::RGB24) => uyvy_rgb(s, ss, d, ds, w, h),
        (FourCC::UYVY, FourCC::BGR24) => uyvy_bgr(s, ss, d, ds, w, h),
        (FourCC::UYVY, FourCC::GREY) => uyvy_gray(s, ss, d, ds, w, h),
        (FourCC::NV12, FourCC::RGB24) => nv12_rgb(s, ss, d, ds, w, h),
        (FourCC::NV12, FourCC::BGR24) => nv12_bgr(s, ss, d, ds, w, h),
        (FourCC::RGB24, FourCC::BGR24) | (FourCC::BGR24, FourCC::RGB24) => swap_rb(s, ss, d, ds, w, h),
        (FourCC::RGB24, FourCC::GREY) => rgb_gray(s, ss, d, ds, w, h),
        (FourCC::BGR24, FourCC::GREY) => bgr_gray(s, ss, d, ds, w, h),
        (a, b) => {
            return Err(FilterError::Format {
                what: if SUPPORTED.iter().any(|p| p.0 == a) { "output" } else { "input" },
                got: if SUPPORTED.iter().any(|p| p.0 == a) { b } else { a },
                expected: "a pair listed in filters::convert::SUPPORTED",
            });
        }
    }
    Ok(())
}

/// Swaps R and B in place (RGB24 ↔ BGR24), for a caller that owns one buffer.
pub fn swap_rb_in_place(img: &mut ImageMut) -> Result<()> {
    let f = img.format;
    if f.fourcc != FourCC::RGB24 && f.fourcc != FourCC::BGR24 {
        return Err(FilterError::Format { what: "image", got: f.fourcc, expected: "RGB24 or BGR24" });
    }
    check(&f, img.data.len(), f.fourcc, "image", "RGB24 or BGR24")?;
    let (w, s) = (f.width as usize, f.stride as usize);
    for y in 0..f.height as usize {
        for p in img.data[y * s..y * s + 3 * w].chunks_exact_mut(3) {
            p.swap(0, 2);
        }
    }
    Ok(())
}

/// One BT.601 limited-range YUV sample to full-range RGB, exactly as
/// [`convert`] computes it (used by the fused tracker's tables).
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let (ruv, guv, buv) = chroma(u, v);
    yuv_px(y, ruv, guv, buv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::ImageFormat;

    #[test]
    fn grey_and_white_yuyv_give_exact_rgb() {
        // Y=16 is black, Y=235 is white in limited range; neutral chroma.
        let src = [16u8, 128, 235, 128];
        let mut dst = [0u8; 6];
        let sf = ImageFormat::packed(FourCC::YUYV, 2, 1);
        let df = ImageFormat::packed(FourCC::RGB24, 2, 1);
        convert(&ImageRef { format: sf, data: &src }, &mut ImageMut { format: df, data: &mut dst }).unwrap();
        assert_eq!(dst, [0, 0, 0, 255, 255, 255]);
    }

    #[test]
    fn rgb_gray_of_primaries() {
        let src = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        let mut dst = [0u8; 4];
        let sf = ImageFormat::packed(FourCC::RGB24, 4, 1);
        let df = ImageFormat::packed(FourCC::GREY, 4, 1);
        convert(&ImageRef { format: sf, data: &src }, &mut ImageMut { format: df, data: &mut dst }).unwrap();
        // round(255 * 9798 / 32768) etc.
        assert_eq!(dst, [76, 150, 29, 255]);
    }

    #[test]
    fn wide_rows_match_the_per_pixel_formula() {
        // 1000 pixels: a tail that is not a multiple of any vector width.
        let (w, h) = (1000u32, 3u32);
        let src: Vec<u8> = (0..w * h * 2).map(|i| (i * 31 % 253) as u8).collect();
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let mut bgr = vec![0u8; (w * h * 3) as usize];
        let sf = ImageFormat::packed(FourCC::YUYV, w, h);
        convert(
            &ImageRef { format: sf, data: &src },
            &mut ImageMut { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &mut rgb },
        )
        .unwrap();
        convert(
            &ImageRef { format: sf, data: &src },
            &mut ImageMut { format: ImageFormat::packed(FourCC::BGR24, w, h), data: &mut bgr },
        )
        .unwrap();
        for (i, m) in src.chunks_exact(4).enumerate() {
            let p0 = yuv_to_rgb(m[0], m[1], m[3]);
            let p1 = yuv_to_rgb(m[2], m[1], m[3]);
            assert_eq!(&rgb[6 * i..6 * i + 6], &[p0[0], p0[1], p0[2], p1[0], p1[1], p1[2]], "pixel pair {i}");
            assert_eq!(&bgr[6 * i..6 * i + 6], &[p0[2], p0[1], p0[0], p1[2], p1[1], p1[0]], "pixel pair {i}");
        }
        let mut back = vec![0u8; rgb.len()];
        let rf = ImageFormat::packed(FourCC::RGB24, w, h);
        convert(
            &ImageRef { format: rf, data: &rgb },
            &mut ImageMut { format: ImageFormat::packed(FourCC::BGR24, w, h), data: &mut back },
        )
        .unwrap();
        assert_eq!(back, bgr);
    }

    #[test]
    fn rejects_bad_geometry() {
        let src = [0u8; 10];
        let mut dst = [0u8; 100];
        let sf = ImageFormat::packed(FourCC::YUYV, 4, 2);
        let df = ImageFormat::packed(FourCC::RGB24, 4, 2);
        assert!(convert(&ImageRef { format: sf, data: &src }, &mut ImageMut { format: df, data: &mut dst }).is_err());
        let sf = ImageFormat::packed(FourCC::GREY, 2, 1);
        let df = ImageFormat::packed(FourCC::YUYV, 2, 1);
        assert!(matches!(
            convert(&ImageRef { format: sf, data: &src }, &mut ImageMut { format: df, data: &mut dst }),
            Err(FilterError::Format { .. })
        ));
    }
}
