//! JPEG compression of image wires for links that cannot carry raw frames
//! (Wi-Fi): the same encoder as the live view (`jpeg-encoder`, pure Rust),
//! fed straight from the slot in the wire's own pixel format.
//!
//! YUYV, UYVY and NV12 are handed to the encoder as YCbCr without a detour
//! through RGB; since V4L2 cameras deliver BT.601 *limited* range (Y 16-235,
//! Cb/Cr 16-240) and JPEG (JFIF) is full range, each sample goes through a
//! 256-entry table that stretches it, so the receiver's decoder (framewire's
//! `jpeg_decode` or any viewer) sees the colours the camera saw. RGB24,
//! BGR24 and GREY go in as they are. The output buffer is the caller's and
//! is reused; the encoder allocates its own working rows per frame, as the
//! live view's does.

use framewire_sdk::image::{FourCC, ImageRef};
use jpeg_encoder::{Encoder, ImageBuffer, JpegColorType};

/// Limited-range luma (16-235) to full range, clamped.
fn y_full(v: u8) -> u8 {
    ((v as f32 - 16.0) * 255.0 / 219.0).round().clamp(0.0, 255.0) as u8
}
/// Limited-range chroma (16-240 around 128) to full range, clamped.
fn c_full(v: u8) -> u8 {
    (((v as f32 - 128.0) * 255.0 / 224.0).round() + 128.0).clamp(0.0, 255.0) as u8
}

/// An encoder whose range tables are built once.
pub struct JpegWriter {
    y: [u8; 256],
    c: [u8; 256],
}

impl Default for JpegWriter {
    fn default() -> Self {
        JpegWriter::new()
    }
}

struct Src<'a> {
    img: &'a ImageRef<'a>,
    y: &'a [u8; 256],
    c: &'a [u8; 256],
}

impl ImageBuffer for Src<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        match self.img.format.fourcc {
            FourCC::GREY => JpegColorType::Luma,
            _ => JpegColorType::Ycbcr,
        }
    }
    fn width(&self) -> u16 {
        self.img.format.width as u16
    }
    fn height(&self) -> u16 {
        self.img.format.height as u16
    }
    fn fill_buffers(&self, row: u16, b: &mut [Vec<u8>; 4]) {
        let f = self.img.format;
        let (w, stride) = (f.width as usize, f.stride as usize);
        let line = &self.img.data[row as usize * stride..];
        match f.fourcc {
            FourCC::GREY => b[0].extend_from_slice(&line[..w]),
            FourCC::YUYV | FourCC::UYVY => {
                let (yo, uo, vo) = if f.fourcc == FourCC::YUYV { (0, 1, 3) } else { (1, 0, 2) };
                for x in 0..w {
                    let q = &line[(x / 2) * 4..];
                    b[0].push(self.y[q[yo + (x & 1) * 2] as usize]);
                    b[1].push(self.c[q[uo] as usize]);
                    b[2].push(self.c[q[vo] as usize]);
                }
            }
            FourCC::NV12 => {
                let uv_plane = stride * f.height as usize;
                let uv = &self.img.data[uv_plane + (row as usize / 2) * stride..];
                for x in 0..w {
                    b[0].push(self.y[line[x] as usize]);
                    b[1].push(self.c[uv[(x / 2) * 2] as usize]);
                    b[2].push(self.c[uv[(x / 2) * 2 + 1] as usize]);
                }
            }
            _ => {
                // RGB24 or BGR24 (checked by `encode`): JFIF's RGB -> YCbCr.
                let bgr = f.fourcc == FourCC::BGR24;
                for p in line[..w * 3].chunks_exact(3) {
                    let (r, g, bl) = if bgr { (p[2], p[1], p[0]) } else { (p[0], p[1], p[2]) };
                    let (r, g, bl) = (r as i32, g as i32, bl as i32);
                    let y = (19595 * r + 38470 * g + 7471 * bl + 32768) >> 16;
                    let cb = ((-11059 * r - 21709 * g + 32768 * bl + 32768) >> 16) + 128;
                    let cr = ((32768 * r - 27439 * g - 5329 * bl + 32768) >> 16) + 128;
                    b[0].push(y.clamp(0, 255) as u8);
                    b[1].push(cb.clamp(0, 255) as u8);
                    b[2].push(cr.clamp(0, 255) as u8);
                }
            }
        }
    }
}

impl JpegWriter {
    /// A writer with its range tables.
    pub fn new() -> JpegWriter {
        JpegWriter { y: std::array::from_fn(|i| y_full(i as u8)), c: std::array::from_fn(|i| c_full(i as u8)) }
    }

    /// Whether frames of `fourcc` can be compressed.
    pub fn supports(fourcc: FourCC) -> bool {
        matches!(fourcc, FourCC::GREY | FourCC::YUYV | FourCC::UYVY | FourCC::NV12 | FourCC::RGB24 | FourCC::BGR24)
    }

    /// Appends `img` as a JPEG of `quality` (1-100) to `out`.
    pub fn encode(&self, img: &ImageRef<'_>, quality: u8, out: &mut Vec<u8>) -> Result<(), String> {
        let f = img.format;
        if !Self::supports(f.fourcc) {
            return Err(format!(
                "cannot compress {} frames to JPEG (YUYV, UYVY, NV12, RGB24, BGR24, GREY can be)",
                f.fourcc
            ));
        }
        if f.width == 0 || f.height == 0 || f.width > 65_535 || f.height > 65_535 {
            return Err(format!("a {}x{} image cannot be a JPEG", f.width, f.height));
        }
        if img.data.len() < f.byte_len() {
            return Err(format!(
                "frame has {} bytes, its {}x{} {} format needs {}",
                img.data.len(),
                f.width,
                f.height,
                f.fourcc,
                f.byte_len()
            ));
        }
        let src = Src { img, y: &self.y, c: &self.c };
        Encoder::new(&mut *out, quality.clamp(1, 100)).encode_image(src).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::image::ImageFormat;

    fn decode(jpeg: &[u8]) -> (u32, u32) {
        // The dimensions from the SOF0 marker are enough to show the encoder
        // ran; the colour round trip is checked in tests/bridge.rs through
        // framewire's own `jpeg_decode` block.
        framewire_ros::cdr::jpeg_size(jpeg).expect("a JPEG")
    }

    #[test]
    fn ranges_stretch() {
        assert_eq!((y_full(16), y_full(235), y_full(0), y_full(255)), (0, 255, 0, 255));
        assert_eq!((c_full(16), c_full(128), c_full(240)), (0, 128, 255));
    }

    #[test]
    fn every_supported_format_encodes() {
        let w = JpegWriter::new();
        for fourcc in [FourCC::GREY, FourCC::YUYV, FourCC::UYVY, FourCC::NV12, FourCC::RGB24, FourCC::BGR24] {
            let f = ImageFormat::packed(fourcc, 64, 48);
            let data: Vec<u8> = (0..f.byte_len()).map(|i| (i * 7 % 251) as u8).collect();
            let mut out = Vec::new();
            w.encode(&ImageRef { format: f, data: &data }, 80, &mut out).unwrap();
            assert_eq!(&out[..2], &[0xFF, 0xD8], "{fourcc}");
            assert_eq!(decode(&out), (64, 48), "{fourcc}");
        }
        let f = ImageFormat::packed(FourCC::MJPEG, 64, 48);
        assert!(w.encode(&ImageRef { format: f, data: &[0; 10] }, 80, &mut Vec::new()).is_err());
    }
}
