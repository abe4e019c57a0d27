//! Image filters as plain functions on borrowed images.
//!
//! Every filter reads an [`ImageRef`] (or a slice) and writes into a
//! caller-provided [`ImageMut`], so a block can read straight from its input
//! wire slot and write straight into its loaned output slot: no intermediate
//! images and no per-frame allocation. Filters that need scratch memory take
//! it as a small reusable struct that keeps its buffers between frames.
//!
//! Results match OpenCV 4.x (`opencv-python-headless`) bit for bit where the
//! OpenCV algorithm is integer-exact, and within a stated tolerance otherwise;
//! `tests/opencv/make_filter_refs.py` produces the reference data the tests
//! compare against.
//!
//! SIMD: the hot loops are written as plain safe Rust that LLVM vectorises,
//! compiled three times (baseline, AVX2, AVX-512) with run-time dispatch through
//! [`simd_dispatch!`], plus hand-written kernels (`simd/`) for what LLVM
//! does not vectorise; on aarch64 NEON is part of the baseline, so the
//! portable build is already vectorised there. The environment variable
//! `FRAMEWIRE_SIMD` (`avx512`, `avx2`, `ssse3` or `scalar`) caps the level
//! for the whole process, read once: see [`simd_level`].
//!
//! May depend on: `framewire-sdk` (for the blocks in [`blocks`]) and
//! `zune-jpeg`. The functions themselves use only image views. `unsafe` is
//! allowed here for the SIMD kernels and their run-time dispatch only; each
//! block carries a `// SAFETY:` comment.
#![warn(missing_docs)]

pub mod blob;
pub mod blocks;
pub mod blur;
pub mod convert;
pub mod geom;
pub mod hsv;
pub mod jpeg;
pub mod morph;
pub mod resize;
mod simd;
pub mod tracker;

pub use simd::{SIMD_ENV, SimdLevel, detected_simd_level, simd_description, simd_level};

use framewire_sdk::image::{FourCC, ImageFormat};

/// Why a filter refused to run. Filters check their inputs up front and never
/// panic on bad geometry or corrupt data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// The input or output has a pixel format this filter does not handle.
    #[error("unsupported pixel format {got} for {what} (expected {expected})")]
    Format {
        /// Which image (input, output).
        what: &'static str,
        /// The format found.
        got: FourCC,
        /// The format(s) accepted, for the message.
        expected: &'static str,
    },
    /// Width, height, stride or buffer length do not fit together.
    #[error("bad geometry: {0}")]
    Geometry(String),
    /// A compressed frame could not be decoded.
    #[error("corrupt frame: {0}")]
    Corrupt(String),
    /// A valid compressed frame of a kind the decoder does not handle (for
    /// JPEG: arithmetic coding, lossless, sequential frames with one scan
    /// per component); refused rather than decoded wrongly.
    #[error("unsupported frame: {0}")]
    Unsupported(String),
    /// A decoder panicked on this frame (a bug in the decoder, caught so
    /// that the block keeps running; reported apart from corrupt data).
    #[error("decoder panicked: {0}")]
    Panicked(String),
}

/// Result of a filter.
pub type Result<T> = std::result::Result<T, FilterError>;

/// Checks that `img` has format `fourcc`, a stride at least its minimum and a
/// buffer long enough for every row.
pub(crate) fn check(
    fmt: &ImageFormat,
    len: usize,
    fourcc: FourCC,
    what: &'static str,
    expected: &'static str,
) -> Result<()> {
    if fmt.fourcc != fourcc {
        return Err(FilterError::Format { what, got: fmt.fourcc, expected });
    }
    check_geometry(fmt, len, what)
}

/// Checks stride and buffer length only (the format is checked by the caller).
pub(crate) fn check_geometry(fmt: &ImageFormat, len: usize, what: &'static str) -> Result<()> {
    let min = fmt.fourcc.min_stride(fmt.width).unwrap_or(0) as usize;
    let stride = fmt.stride as usize;
    if stride < min {
        return Err(FilterError::Geometry(format!("{what}: stride {stride} < {min} for width {}", fmt.width)));
    }
    let need = needed_len(fmt);
    if len < need {
        return Err(FilterError::Geometry(format!(
            "{what}: {len} bytes for {}x{} {} at stride {stride}, need {need}",
            fmt.width, fmt.height, fmt.fourcc
        )));
    }
    Ok(())
}

/// Bytes needed for an image: full strides except the last row, which only
/// needs its pixels (wire slots and crops may end right after the last pixel).
pub(crate) fn needed_len(fmt: &ImageFormat) -> usize {
    let (w, h, s) = (fmt.width as usize, fmt.height as usize, fmt.stride as usize);
    if w == 0 || h == 0 {
        return 0;
    }
    let row = fmt.fourcc.min_stride(fmt.width).unwrap_or(0) as usize;
    match fmt.fourcc {
        FourCC::NV12 => s * h + s * (h.div_ceil(2) - 1) + 2 * w.div_ceil(2),
        _ => s * (h - 1) + row,
    }
}

/// Checks that two images have the same width and height.
pub(crate) fn same_size(a: &ImageFormat, b: &ImageFormat) -> Result<()> {
    if a.width != b.width || a.height != b.height {
        return Err(FilterError::Geometry(format!(
            "input is {}x{} but output is {}x{}",
            a.width, a.height, b.width, b.height
        )));
    }
    Ok(())
}

/// Checks that `src` is GREY, RGB24 or BGR24, that `dst` has the same
/// format, and that both slices hold their geometry; returns the channels
/// (1 or 3). The filters that keep the pixel format (blur, flip, resize)
/// share it.
pub(crate) fn same_format_grey_or_rgb(
    src: &framewire_sdk::image::ImageRef,
    dst: &framewire_sdk::image::ImageMut,
) -> Result<usize> {
    let (sf, df) = (src.format, dst.format);
    let c = match sf.fourcc {
        FourCC::GREY => 1,
        FourCC::RGB24 | FourCC::BGR24 => 3,
        f => return Err(FilterError::Format { what: "input", got: f, expected: "GREY, RGB24 or BGR24" }),
    };
    if df.fourcc != sf.fourcc {
        return Err(FilterError::Format { what: "output", got: df.fourcc, expected: "the input's format" });
    }
    check_geometry(&sf, src.data.len(), "input")?;
    check_geometry(&df, dst.data.len(), "output")?;
    Ok(c)
}

/// Compiles a safe kernel three times, baseline, with AVX2 and with
/// AVX-512 (F, BW, VL, DQ) enabled, and picks one at run time. The kernel is a plain `fn` whose loops LLVM vectorises;
/// `#[inline(always)]` lets each copy be optimised for its own target
/// features.
///
/// Usage: `simd_dispatch!(fn name(args...) -> Ret = kernel);` defines
/// `name` that calls `kernel` through the best available copy.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? = $kernel:path;) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $kernel($($arg),*)
                }
                #[target_feature(enable = "avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $kernel($($arg),*)
                }
                if $crate::simd::have_avx512_all() {
                    // SAFETY: `avx512` only needs the target features it
                    // enables, and `have_avx512_all()` is true only when
                    // all of them were detected on this CPU (and the level
                    // is not capped below AVX-512); the body is safe Rust.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::simd::have_avx2() {
                    // SAFETY: `avx2` only needs the target features it
                    // enables, and `have_avx2()` is true only when all of
                    // them were detected on this CPU; the body is safe Rust.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;
