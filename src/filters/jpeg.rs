//! JPEG / MJPEG decoding to RGB24 or GREY.
//!
//! Baseline frames (what webcams send) go through our own decoder
//! (`jpeg/baseline.rs`): for GREY it skips the chroma blocks instead of
//! decoding them; for RGB24 it runs libjpeg's upsampling and colour
//! arithmetic; both use libjpeg's IDCT, so the output is bit-exact with
//! OpenCV, and faster than it. Anything else (progressive, CMYK, unusual
//! sampling) goes through `zune-jpeg` (pure Rust, SIMD with run-time
//! detection, fuzzed).
//!
//! Webcam MJPEG frames often leave out the Huffman tables (DHT), relying on
//! the standard tables of JPEG Annex K.3, as the AVI MJPEG convention allows.
//! `zune-jpeg` only fills them in when the frame carries an `AVI1` marker, so
//! [`JpegDecoder`] checks for a DHT segment itself and, when there is none,
//! splices the standard tables in before the first SOS (a copy into a
//! buffer kept between frames).
//!
//! Corrupt data returns [`FilterError::Corrupt`], and kinds of JPEG that
//! would come out wrong are refused with [`FilterError::Unsupported`]
//! (arithmetic coding, lossless, sequential frames with one scan per
//! component, GREY from an RGB-coded JPEG). [`JpegDecoder::decode`] also
//! runs under `catch_unwind` so that a decoder bug cannot take the block
//! down; such a panic is [`FilterError::Panicked`], counted apart.

mod baseline;

use super::{FilterError, Result, check_geometry};
use framewire_sdk::image::{FourCC, ImageMut};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// The standard Huffman tables of ITU T.81 Annex K.3 as one DHT segment
/// (luminance DC, chrominance DC, luminance AC, chrominance AC), the same
/// bytes FFmpeg and libjpeg insert for MJPEG.
#[rustfmt::skip]
const STD_DHT: [u8; 420] = [
    0xFF, 0xC4, 0x01, 0xA2,
    0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
    0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
    0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7D,
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
    0x11, 0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77,
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// Where the marker segments before the image data say the tables are.
/// Returns `(has_dht, offset of the first SOS marker)`.
fn scan_markers(data: &[u8]) -> Result<(bool, usize)> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(FilterError::Corrupt("no JPEG SOI marker".into()));
    }
    let mut i = 2;
    let mut has_dht = false;
    loop {
        // Skip fill bytes between segments.
        while i < data.len() && data[i] == 0xFF && data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 4 > data.len() || data[i] != 0xFF {
            return Err(FilterError::Corrupt(format!("bad marker at byte {i}")));
        }
        let m = data[i + 1];
        match m {
            0xDA => return Ok((has_dht, i)),
            0xC4 => has_dht = true,
            0xD9 => return Err(FilterError::Corrupt("EOI before any image data".into())),
            _ => {}
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        if len < 2 {
            return Err(FilterError::Corrupt(format!("segment length {len} at byte {i}")));
        }
        i += 2 + len;
    }
}

/// Size of a JPEG frame from its header, without decoding.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32)> {
    let mut d = zune_jpeg::JpegDecoder::new(ZCursor::new(data));
    d.decode_headers().map_err(|e| FilterError::Corrupt(e.to_string()))?;
    let (w, h) = d.dimensions().ok_or_else(|| FilterError::Corrupt("no frame header".into()))?;
    Ok((w as u32, h as u32))
}

/// A JPEG/MJPEG decoder with a buffer kept between frames (used only for
/// frames that need the standard Huffman tables spliced in).
#[derive(Debug, Default, Clone)]
pub struct JpegDecoder {
    patched: Vec<u8>,
    /// Packed output for strided destinations (general decoder only).
    strided: Vec<u8>,
    scratch: baseline::Scratch,
}

impl JpegDecoder {
    /// A decoder with an empty splice buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one JPEG frame into `dst` (RGB24 or GREY, packed or strided),
    /// whose size must equal the frame's. Returns an error, never panics:
    /// corrupt data is [`FilterError::Corrupt`], a kind of JPEG that is
    /// refused is [`FilterError::Unsupported`], and a panic inside a
    /// decoder (a bug) is caught and returned as [`FilterError::Panicked`].
    pub fn decode(&mut self, jpeg: &[u8], dst: &mut ImageMut) -> Result<()> {
        guard(|| self.decode_unguarded(jpeg, dst))
    }

    /// [`JpegDecoder::decode`] without catching panics: for the tests and
    /// the fuzz target (`src/filters/fuzz/`), where a panic must fail.
    pub fn decode_unguarded(&mut self, jpeg: &[u8], dst: &mut ImageMut) -> Result<()> {
        let df = dst.format;
        let cs = match df.fourcc {
            FourCC::RGB24 => ColorSpace::RGB,
            FourCC::GREY => ColorSpace::Luma,
            f => {
                return Err(FilterError::Format { what: "output", got: f, expected: "RGB24 or GREY" });
            }
        };
        check_geometry(&df, dst.data.len(), "output")?;
        // Our baseline decoder handles what webcams send; progressive and
        // other rare frames go on to zune-jpeg below.
        match baseline::parse(jpeg, &STD_DHT)? {
            baseline::Parsed::Unsupported(why) => return Err(FilterError::Unsupported(why)),
            baseline::Parsed::General => {}
            baseline::Parsed::Ours(frame) => {
                if (frame.width as u32, frame.height as u32) != (df.width, df.height) {
                    return Err(FilterError::Geometry(format!(
                        "frame is {}x{} but the output is {}x{}",
                        frame.width, frame.height, df.width, df.height
                    )));
                }
                let (out, stride) = (&mut *dst.data, df.stride as usize);
                if cs == ColorSpace::Luma {
                    return baseline::decode_gray(jpeg, &frame, out, stride, &mut self.scratch);
                }
                if baseline::decode_rgb(jpeg, &frame, out, stride, &mut self.scratch)? {
                    return Ok(());
                }
            }
        }
        if cs == ColorSpace::Luma && baseline::is_rgb(jpeg) {
            return Err(FilterError::Unsupported(
                "GREY output from a JPEG stored as RGB (not YCbCr): decode it to RGB24 and convert".into(),
            ));
        }
        let (has_dht, sos) = scan_markers(jpeg)?;
        let data: &[u8] = if has_dht {
            jpeg
        } else {
            self.patched.clear();
            self.patched.extend_from_slice(&jpeg[..sos]);
            self.patched.extend_from_slice(&STD_DHT);
            self.patched.extend_from_slice(&jpeg[sos..]);
            &self.patched
        };
        let opts =
            DecoderOptions::new_fast().jpeg_set_out_colorspace(cs).set_max_width(1 << 14).set_max_height(1 << 14);
        let packed = df.fourcc.min_stride(df.width).unwrap_or(0) == df.stride;
        let out_len = df.fourcc.frame_size(df.width, df.height);
        let run = |out: &mut [u8]| -> Result<()> {
            let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
            d.decode_headers().map_err(|e| FilterError::Corrupt(e.to_string()))?;
            let (w, h) = d.dimensions().ok_or_else(|| FilterError::Corrupt("no frame header".into()))?;
            if (w as u32, h as u32) != (df.width, df.height) {
                return Err(FilterError::Geometry(format!(
                    "frame is {w}x{h} but the output is {}x{}",
                    df.width, df.height
                )));
            }
            d.decode_into(out).map_err(|e| FilterError::Corrupt(e.to_string()))
        };
        if packed {
            run(&mut dst.data[..out_len])
        } else {
            // Strided output (rare: wire slots are packed): decode into a
            // packed buffer kept between frames, then copy rows.
            let mut tmp = std::mem::take(&mut self.strided);
            tmp.resize(out_len, 0);
            let r = run(&mut tmp);
            if r.is_ok() {
                let n = df.fourcc.min_stride(df.width).unwrap_or(0) as usize;
                for (y, row) in tmp.chunks_exact(n).enumerate() {
                    dst.data[y * df.stride as usize..][..n].copy_from_slice(row);
                }
            }
            self.strided = tmp;
            r
        }
    }
}

/// Runs `f`, turning a panic into [`FilterError::Panicked`] with its message.
fn guard(f: impl FnOnce() -> Result<()>) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(FilterError::Panicked(why))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::ImageFormat;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = JpegDecoder::new();
        let mut out = vec![0u8; 16 * 16 * 3];
        let f = ImageFormat::packed(FourCC::RGB24, 16, 16);
        for junk in [&b""[..], &b"\xff\xd8"[..], &b"\xff\xd8\xff\xdb\x00\x02\xff\xda"[..], &[0u8; 100][..]] {
            assert!(d.decode_unguarded(junk, &mut ImageMut { format: f, data: &mut out }).is_err());
        }
    }

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../tests/data/filters/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// Baseline frames (with and without tables, 4:2:0, 4:4:4, 4:2:2 with
    /// restarts, one component) take our decoder; progressive ones are left
    /// to zune-jpeg.
    #[test]
    fn baseline_frames_take_the_luma_path_and_progressive_ones_do_not() {
        for name in
            ["jpeg_q90_420.jpg", "jpeg_q90_420_nodht.jpg", "jpeg_q75_444.jpg", "jpeg_q85_422_rst.jpg", "jpeg_q80_y.jpg"]
        {
            assert!(matches!(baseline::parse(&data(name), &STD_DHT).unwrap(), baseline::Parsed::Ours(_)), "{name}");
        }
        let p = baseline::parse(&data("jpeg_q85_progressive.jpg"), &STD_DHT).unwrap();
        assert!(matches!(p, baseline::Parsed::General), "{p:?}");
    }

    /// A frame cut short (USB packet loss) is an error naming the cause,
    /// not a half-grey picture; so is a frame whose restart markers are
    /// gone.
    #[test]
    fn truncated_frames_and_lost_restart_markers_are_errors() {
        for fcc in [FourCC::GREY, FourCC::RGB24] {
            truncated_and_lost_restarts(fcc);
        }
    }

    fn truncated_and_lost_restarts(fcc: FourCC) {
        let mut d = JpegDecoder::new();
        let (w, h) = (75, 51);
        let mut out = vec![0u8; 3 * w * h];
        let f = ImageFormat::packed(fcc, w as u32, h as u32);
        let j = data("jpeg_q85_422_rst.jpg");
        d.decode(&j, &mut ImageMut { format: f, data: &mut out }).unwrap();
        // Only the EOI marker missing: every MCU is there, so it decodes.
        d.decode(&j[..j.len() - 2], &mut ImageMut { format: f, data: &mut out }).unwrap();
        for cut in [j.len() - 40, j.len() * 3 / 4, j.len() / 2] {
            let e = d.decode(&j[..cut], &mut ImageMut { format: f, data: &mut out }).unwrap_err();
            assert!(matches!(&e, FilterError::Corrupt(m) if m.contains("truncated") || m.contains("restart")), "{e}");
        }
        // Without restart markers too.
        let j2 = data("jpeg_q90_420.jpg");
        let f2 = ImageFormat::packed(fcc, 64, 48);
        let e = d
            .decode(&j2[..j2.len() * 3 / 4], &mut ImageMut { format: f2, data: &mut out[..f2.byte_len()] })
            .unwrap_err();
        assert!(matches!(&e, FilterError::Corrupt(m) if m.contains("truncated")), "{e}");
        // Replace every RSTn marker (FF D0..D7) by stuffed FF 00 bytes.
        let mut norst = j.clone();
        let sos = norst.windows(2).position(|p| p == [0xFF, 0xDA]).unwrap();
        for i in sos..norst.len() - 1 {
            if norst[i] == 0xFF && (0xD0..=0xD7).contains(&norst[i + 1]) {
                norst[i + 1] = 0x00;
            }
        }
        let e = d.decode(&norst, &mut ImageMut { format: f, data: &mut out }).unwrap_err();
        assert!(matches!(&e, FilterError::Corrupt(m) if m.contains("restart marker")), "{e}");
        // And a wrong output size is a geometry error.
        let small = ImageFormat::packed(fcc, 74, 51);
        let e = d.decode(&j, &mut ImageMut { format: small, data: &mut out }).unwrap_err();
        assert!(matches!(e, FilterError::Geometry(_)), "{e}");
    }

    /// Random damage anywhere in a frame: an error or a picture, never a
    /// panic, on both decoders. `decode_unguarded` does not catch panics,
    /// so a panic fails this test; every error must be about the data.
    #[test]
    fn bit_flips_never_panic() {
        let mut d = JpegDecoder::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for (name, w, h) in [("jpeg_q85_422_rst.jpg", 75u32, 51u32), ("jpeg_q90_420_nodht.jpg", 64, 48)] {
            let j = data(name);
            for fcc in [FourCC::GREY, FourCC::RGB24] {
                let f = ImageFormat::packed(fcc, w, h);
                let mut out = vec![0u8; f.byte_len()];
                for _ in 0..300 {
                    let mut bad = j.clone();
                    for _ in 0..4 {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let i = (rng % bad.len() as u64) as usize;
                        bad[i] ^= 1 << (rng >> 60 & 7);
                    }
                    match d.decode_unguarded(&bad, &mut ImageMut { format: f, data: &mut out }) {
                        Ok(())
                        | Err(FilterError::Corrupt(_) | FilterError::Unsupported(_) | FilterError::Geometry(_)) => {}
                        Err(e) => panic!("{name}: unexpected error {e}"),
                    }
                }
            }
        }
    }

    /// Every prefix of a frame (a frame cut anywhere), through both
    /// decoders without the panic guard.
    #[test]
    fn every_truncation_is_an_error_or_a_picture_never_a_panic() {
        let mut d = JpegDecoder::new();
        for (name, w, h) in [("jpeg_q85_422_rst.jpg", 75u32, 51u32), ("jpeg_q85_progressive.jpg", 64, 48)] {
            let j = data(name);
            for fcc in [FourCC::GREY, FourCC::RGB24] {
                let f = ImageFormat::packed(fcc, w, h);
                let mut out = vec![0u8; f.byte_len()];
                for cut in 0..j.len() {
                    let _ = d.decode_unguarded(&j[..cut], &mut ImageMut { format: f, data: &mut out });
                }
            }
        }
    }

    /// A panic inside the guarded decoder comes back as `Panicked` with its
    /// message, apart from corrupt data.
    #[test]
    fn a_panic_is_reported_as_such() {
        assert_eq!(guard(|| panic!("boom {}", 7)), Err(FilterError::Panicked("boom 7".into())));
        assert_eq!(guard(|| Err(FilterError::Corrupt("x".into()))), Err(FilterError::Corrupt("x".into())));
    }

    #[test]
    fn std_dht_segment_length_matches() {
        assert_eq!(u16::from_be_bytes([STD_DHT[2], STD_DHT[3]]) as usize, STD_DHT.len() - 2);
    }
}
