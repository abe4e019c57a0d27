//! Image descriptions shared by the wire, the camera and the filters.
//!
//! An image is a borrowed view: pixels live in a wire slot (or any slice) and
//! these types only describe how to read them. Nothing here allocates.

use std::fmt;

/// A V4L2-style four-character pixel-format code, stored little-endian
/// exactly as `v4l2_fourcc(a, b, c, d)` builds it, so the same `u32` can be
/// handed to the kernel or written into a wire slot's metadata.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FourCC(pub u32);

impl FourCC {
    /// Builds a code from its four characters.
    pub const fn new(code: &[u8; 4]) -> Self {
        FourCC(code[0] as u32 | (code[1] as u32) << 8 | (code[2] as u32) << 16 | (code[3] as u32) << 24)
    }
    /// Packed YUV 4:2:2, Y0 U Y1 V (`V4L2_PIX_FMT_YUYV`).
    pub const YUYV: FourCC = FourCC::new(b"YUYV");
    /// Packed YUV 4:2:2, U Y0 V Y1 (`V4L2_PIX_FMT_UYVY`).
    pub const UYVY: FourCC = FourCC::new(b"UYVY");
    /// Y plane then interleaved UV plane at half resolution (`V4L2_PIX_FMT_NV12`).
    pub const NV12: FourCC = FourCC::new(b"NV12");
    /// 8-bit R, G, B (`V4L2_PIX_FMT_RGB24`).
    pub const RGB24: FourCC = FourCC::new(b"RGB3");
    /// 8-bit B, G, R (`V4L2_PIX_FMT_BGR24`).
    pub const BGR24: FourCC = FourCC::new(b"BGR3");
    /// 8-bit greyscale (`V4L2_PIX_FMT_GREY`); also used for binary masks (0 or 255).
    pub const GREY: FourCC = FourCC::new(b"GREY");
    /// Motion-JPEG: each frame a JPEG image of variable length (`V4L2_PIX_FMT_MJPEG`).
    pub const MJPEG: FourCC = FourCC::new(b"MJPG");

    /// The four characters, for messages.
    pub fn chars(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// Parses a name as users write it in TOML: a FourCC (`"YUYV"`) or a
    /// common alias (`"rgb24"`, `"bgr24"`, `"gray"`, `"mjpeg"`), case-insensitive.
    pub fn parse(name: &str) -> Option<FourCC> {
        let up = name.to_ascii_uppercase();
        let f = match up.as_str() {
            "YUYV" | "YUY2" => FourCC::YUYV,
            "UYVY" => FourCC::UYVY,
            "NV12" => FourCC::NV12,
            "RGB24" | "RGB3" | "RGB" => FourCC::RGB24,
            "BGR24" | "BGR3" | "BGR" => FourCC::BGR24,
            "GREY" | "GRAY" | "GRAY8" | "MONO8" => FourCC::GREY,
            "MJPEG" | "MJPG" | "JPEG" => FourCC::MJPEG,
            _ if up.len() == 4 && up.is_ascii() => {
                let b = name.as_bytes();
                FourCC::new(&[b[0], b[1], b[2], b[3]])
            }
            _ => return None,
        };
        Some(f)
    }

    /// Bytes per pixel of the first plane's samples for packed formats
    /// (YUYV counts 2), or `None` for compressed formats.
    pub fn bytes_per_pixel(self) -> Option<u32> {
        match self {
            FourCC::YUYV | FourCC::UYVY => Some(2),
            FourCC::RGB24 | FourCC::BGR24 => Some(3),
            FourCC::GREY | FourCC::NV12 => Some(1),
            _ => None,
        }
    }

    /// The smallest stride (bytes per row of the first plane) for `width`.
    pub fn min_stride(self, width: u32) -> Option<u32> {
        // Saturating: a hostile or mistaken size must give an oversized
        // answer that later checks refuse, never an overflow panic.
        self.bytes_per_pixel().map(|b| b.saturating_mul(width))
    }

    /// Bytes that one frame of `width` x `height` needs at the minimal stride.
    /// For MJPEG this is an upper bound that real webcams stay under
    /// (`width * height * 2`, as V4L2 drivers report in `sizeimage`).
    ///
    /// The product saturates at `usize::MAX` rather than overflowing, so a
    /// block that declares an absurd size (say `u32::MAX` square) gets a
    /// "too large" error from whoever sizes the wire instead of a panic.
    pub fn frame_size(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        let area = w.saturating_mul(h);
        match self {
            FourCC::NV12 => area.saturating_add(w.div_ceil(2).saturating_mul(h.div_ceil(2)).saturating_mul(2)),
            FourCC::MJPEG => area.saturating_mul(2),
            f => area.saturating_mul(f.bytes_per_pixel().unwrap_or(4) as usize),
        }
    }
}

impl fmt::Debug for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FourCC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.chars() {
            let c = if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The geometry of an image: enough to find any pixel in a byte slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ImageFormat {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from the start of one row to the next (first plane).
    pub stride: u32,
    /// Pixel format.
    pub fourcc: FourCC,
}

impl ImageFormat {
    /// A format at the minimal stride.
    pub fn packed(fourcc: FourCC, width: u32, height: u32) -> Self {
        let stride = fourcc.min_stride(width).unwrap_or(0);
        ImageFormat { width, height, stride, fourcc }
    }

    /// Bytes this image occupies (all planes), given its stride.
    pub fn byte_len(&self) -> usize {
        let (s, h) = (self.stride as usize, self.height as usize);
        match self.fourcc {
            FourCC::NV12 => (s * h).saturating_add(s * h.div_ceil(2)),
            FourCC::MJPEG => self.fourcc.frame_size(self.width, self.height),
            _ => s * h,
        }
    }
}

/// A read-only image over borrowed bytes (for example a wire slot).
#[derive(Clone, Copy, Debug)]
pub struct ImageRef<'a> {
    /// The geometry.
    pub format: ImageFormat,
    /// The pixels; at least `format.byte_len()` bytes (for MJPEG, the
    /// compressed frame, exactly its length).
    pub data: &'a [u8],
}

/// A writable image over borrowed bytes (for example a loaned wire slot).
#[derive(Debug)]
pub struct ImageMut<'a> {
    /// The geometry.
    pub format: ImageFormat,
    /// The pixels.
    pub data: &'a mut [u8],
}

impl<'a> ImageRef<'a> {
    /// Row `y` of the first plane, `stride` bytes long (the last row may be
    /// shorter if the slice ends at the last pixel).
    pub fn row(&self, y: u32) -> &'a [u8] {
        let s = self.format.stride as usize;
        let start = y as usize * s;
        &self.data[start..(start + s).min(self.data.len())]
    }
}

impl ImageMut<'_> {
    /// A read-only view of the same pixels.
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef { format: self.format, data: self.data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourcc_values_match_videodev2() {
        // Values of v4l2_fourcc() from linux/videodev2.h.
        assert_eq!(FourCC::YUYV.0, 0x5659_5559);
        assert_eq!(FourCC::RGB24.0, 0x3342_4752);
        assert_eq!(FourCC::MJPEG.0, 0x4750_4a4d);
        assert_eq!(FourCC::GREY.to_string(), "GREY");
        assert_eq!(FourCC::parse("gray"), Some(FourCC::GREY));
        assert_eq!(FourCC::parse("rgb24"), Some(FourCC::RGB24));
    }

    #[test]
    fn sizes() {
        assert_eq!(FourCC::RGB24.frame_size(1920, 1080), 6_220_800);
        assert_eq!(FourCC::NV12.frame_size(640, 480), 640 * 480 * 3 / 2);
        // Absurd sizes saturate instead of overflowing (a panic in debug
        // builds, a too-small wire in release ones).
        for f in [FourCC::NV12, FourCC::MJPEG, FourCC::RGB24, FourCC::GREY] {
            assert!(f.frame_size(u32::MAX, u32::MAX) >= u32::MAX as usize);
        }
        assert_eq!(FourCC::RGB24.min_stride(u32::MAX), Some(u32::MAX));
        assert_eq!(ImageFormat::packed(FourCC::YUYV, 640, 480).byte_len(), 614_400);
    }
}
