//! Fuzzes the JPEG decoder without its panic guard: any panic is a bug.
//!
//! The input's first byte picks the output (GREY or RGB24, and whether the
//! output is given the frame's own size or a wrong one); the rest is the
//! JPEG. Run from the repository's top (see `src/filters/README.md`):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir src/filters/fuzz jpeg_decode`.
#![no_main]

use framewire_filters::jpeg::{JpegDecoder, dimensions};
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, jpeg)) = data.split_first() else { return };
    let fcc = if mode & 1 == 0 { FourCC::GREY } else { FourCC::RGB24 };
    let (w, h) = match dimensions(jpeg) {
        Ok((w, h)) if mode & 2 == 0 => (w, h),
        _ => (16 + (mode as u32 >> 4), 8 + (mode as u32 & 12)),
    };
    // Bounded like a wire slot: larger frames are dropped before decoding.
    if w == 0 || h == 0 || (w as u64) * (h as u64) > 4 << 20 {
        return;
    }
    let f = ImageFormat::packed(fcc, w, h);
    let mut out = vec![0u8; f.byte_len()];
    let _ = JpegDecoder::new().decode_unguarded(jpeg, &mut ImageMut { format: f, data: &mut out });
});
