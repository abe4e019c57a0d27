//! One frame on its way to the browser: taken from a wire slot (converted
//! to RGB, or kept as it is where the encoder takes it directly), shrunk if
//! it is wider than the viewer shows, drawn on (mask tint, detection box
//! and centroid), and encoded as JPEG.
//!
//! A [`Picture`] keeps its buffers between frames, so after the first frame
//! of a size only the JPEG encoder allocates (its own working rows, as the
//! JPEG decoder does on the pipeline side). None of this runs on the
//! pipeline's frame path: the viewer copies a frame out of its slot first
//! and lets the slot go before it draws or encodes.

use framewire_filters::convert;
use framewire_filters::jpeg::JpegDecoder;
use framewire_filters::resize::{Interp, Resizer};
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut, ImageRef};
use framewire_sdk::msg::Detection;

/// Colour of a detection's bounding box (bright green: nothing in a dimmed
/// test pattern, and rare in scenes, is this saturated).
pub const BOX_RGB: [u8; 3] = [0, 255, 0];
/// Colour of a detection's centroid cross.
pub const CENTROID_RGB: [u8; 3] = [255, 255, 0];
/// Colour mixed half-and-half into the pixels a mask marks.
pub const MASK_RGB: [u8; 3] = [255, 0, 255];

/// The pixel formats the viewer shows.
pub const SHOWN: &str = "RGB24, BGR24, GREY, YUYV, UYVY, NV12 and MJPEG";

/// Why a frame could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// A pixel format the viewer cannot show.
    #[error("frames in {0} cannot be shown; the live view shows {SHOWN}")]
    Unsupported(FourCC),
    /// Sizes or strides that do not fit the bytes.
    #[error("frame geometry: {0}")]
    Geometry(String),
    /// Conversion, resizing or decoding failed.
    #[error(transparent)]
    Filter(#[from] framewire_filters::FilterError),
    /// The JPEG encoder failed.
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// What a [`Picture`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Packed RGB24 in the pixel buffer.
    Rgb,
    /// Packed GREY in the pixel buffer.
    Grey,
    /// A JPEG frame from an MJPEG wire, passed through as it came.
    Jpeg,
}

/// A frame being prepared for the browser; see the module documentation.
#[derive(Default)]
pub struct Picture {
    kind: Option<Kind>,
    width: u32,
    height: u32,
    /// Packed pixels (RGB or GREY) of the picture as shown.
    px: Vec<u8>,
    /// Full-size pixels before shrinking.
    full: Vec<u8>,
    /// The JPEG bytes of a passed-through MJPEG frame.
    jpeg: Vec<u8>,
    resizer: Resizer,
    decoder: JpegDecoder,
    /// Mask column for each picture column (nearest neighbour).
    xmap: Vec<u32>,
}

impl Picture {
    /// An empty picture.
    pub fn new() -> Picture {
        Picture::default()
    }

    /// What it holds (`None` before the first [`Picture::load`]).
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// Width and height as shown (after shrinking).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The RGB value at (`x`, `y`), for tests; GREY repeats, a passed
    /// through JPEG has none.
    pub fn rgb(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        let i = (y * self.width + x) as usize;
        match self.kind? {
            Kind::Rgb => self.px.get(3 * i..3 * i + 3).map(|p| [p[0], p[1], p[2]]),
            Kind::Grey => self.px.get(i).map(|&v| [v, v, v]),
            Kind::Jpeg => None,
        }
    }

    /// Takes frame `img`, converting it to RGB where the encoder needs that
    /// (or `rgb` asks for it, because something will be drawn), and
    /// shrinking it by a whole factor while it is wider than `max_width`.
    /// An MJPEG frame that needs neither is kept as it is.
    pub fn load(&mut self, img: &ImageRef, max_width: u32, rgb: bool) -> Result<(), PictureError> {
        let f = img.format;
        let (w, h) = if f.fourcc == FourCC::MJPEG {
            framewire_filters::jpeg::dimensions(img.data)?
        } else {
            (f.width, f.height)
        };
        if w == 0 || h == 0 || w > 16384 || h > 16384 {
            return Err(PictureError::Geometry(format!("{w}x{h} is not a size the live view shows (1 to 16384)")));
        }
        let factor = w.div_ceil(max_width.max(1)).max(1);
        let (sw, sh) = ((w / factor).max(1), (h / factor).max(1));
        if f.fourcc == FourCC::MJPEG && !rgb && factor == 1 {
            self.jpeg.clear();
            self.jpeg.extend_from_slice(img.data);
            (self.kind, self.width, self.height) = (Some(Kind::Jpeg), w, h);
            return Ok(());
        }
        let grey = f.fourcc == FourCC::GREY && !rgb;
        let c = if grey { 1 } else { 3 };
        let dst_fourcc = if grey { FourCC::GREY } else { FourCC::RGB24 };
        // Straight into the shown buffer when no shrinking follows.
        let target = if factor == 1 { &mut self.px } else { &mut self.full };
        target.resize(w as usize * h as usize * c, 0);
        let mut dst = ImageMut { format: ImageFormat::packed(dst_fourcc, w, h), data: &mut target[..] };
        match f.fourcc {
            FourCC::MJPEG => self.decoder.decode(img.data, &mut dst)?,
            FourCC::RGB24 | FourCC::GREY if dst_fourcc == f.fourcc => copy_rows(img, &mut dst)?,
            FourCC::GREY => grey_to_rgb(img, &mut dst)?,
            FourCC::BGR24 | FourCC::YUYV | FourCC::UYVY | FourCC::NV12 => convert::convert(img, &mut dst)?,
            other => return Err(PictureError::Unsupported(other)),
        }
        if factor > 1 {
            self.px.resize(sw as usize * sh as usize * c, 0);
            let src = ImageRef { format: ImageFormat::packed(dst_fourcc, w, h), data: &self.full };
            let mut out = ImageMut { format: ImageFormat::packed(dst_fourcc, sw, sh), data: &mut self.px[..] };
            self.resizer.resize(&src, &mut out, Interp::Area)?;
        }
        self.kind = Some(if grey { Kind::Grey } else { Kind::Rgb });
        (self.width, self.height) = (sw, sh);
        Ok(())
    }

    /// Tints the pixels that mask `mask` (a GREY image of any size, scaled
    /// to the picture by nearest neighbour) marks with a non-zero value.
    pub fn overlay_mask(&mut self, mask: &ImageRef) -> Result<(), PictureError> {
        let m = mask.format;
        if m.fourcc != FourCC::GREY {
            return Err(PictureError::Unsupported(m.fourcc));
        }
        if self.kind != Some(Kind::Rgb) || m.width == 0 || m.height == 0 {
            return Ok(());
        }
        let need = (m.height as usize - 1) * m.stride as usize + m.width as usize;
        if (m.stride as usize) < m.width as usize || mask.data.len() < need {
            return Err(PictureError::Geometry(format!(
                "mask {}x{} at stride {} needs {need} bytes, has {}",
                m.width,
                m.height,
                m.stride,
                mask.data.len()
            )));
        }
        let (w, h) = (self.width as usize, self.height as usize);
        self.xmap.clear();
        self.xmap.extend((0..w).map(|x| (x * m.width as usize / w) as u32));
        for y in 0..h {
            let my = y * m.height as usize / h;
            let mrow = &mask.data[my * m.stride as usize..][..m.width as usize];
            let row = &mut self.px[y * 3 * w..][..3 * w];
            for (p, &mx) in row.chunks_exact_mut(3).zip(&self.xmap) {
                if mrow[mx as usize] != 0 {
                    for (c, t) in p.iter_mut().zip(MASK_RGB) {
                        *c = (*c as u16 + t as u16).div_ceil(2) as u8;
                    }
                }
            }
        }
        Ok(())
    }

    /// Draws detection `d`'s bounding box and centroid, scaled from the
    /// image it was found in to this picture. Nothing if nothing was found.
    pub fn overlay_detection(&mut self, d: &Detection) {
        if self.kind != Some(Kind::Rgb) || !d.found || d.image_width == 0 || d.image_height == 0 {
            return;
        }
        let sx = self.width as f64 / d.image_width as f64;
        let sy = self.height as f64 / d.image_height as f64;
        let [bx, by, bw, bh] = d.bbox.map(|v| v as f64);
        let x0 = (bx * sx).floor() as i64;
        let y0 = (by * sy).floor() as i64;
        let x1 = ((bx + bw) * sx).ceil() as i64 - 1;
        let y1 = ((by + bh) * sy).ceil() as i64 - 1;
        // Two pixels thick, inside the box, so a box at the picture's
        // edge stays visible.
        for t in 0..2 {
            self.hline(x0, x1, y0 + t, BOX_RGB);
            self.hline(x0, x1, y1 - t, BOX_RGB);
            self.vline(x0 + t, y0, y1, BOX_RGB);
            self.vline(x1 - t, y0, y1, BOX_RGB);
        }
        let (cx, cy) = ((d.cx as f64 * sx) as i64, (d.cy as f64 * sy) as i64);
        for t in -1..=1 {
            self.hline(cx - 7, cx + 7, cy + t, CENTROID_RGB);
            self.vline(cx + t, cy - 7, cy + 7, CENTROID_RGB);
        }
    }

    fn put(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64 {
            let i = 3 * (y as usize * self.width as usize + x as usize);
            self.px[i..i + 3].copy_from_slice(&rgb);
        }
    }

    fn hline(&mut self, x0: i64, x1: i64, y: i64, rgb: [u8; 3]) {
        for x in x0.max(0)..=x1.min(self.width as i64 - 1) {
            self.put(x, y, rgb);
        }
    }

    fn vline(&mut self, x: i64, y0: i64, y1: i64, rgb: [u8; 3]) {
        for y in y0.max(0)..=y1.min(self.height as i64 - 1) {
            self.put(x, y, rgb);
        }
    }

    /// Appends the picture as a JPEG of `quality` (1 to 100) to `out`.
    pub fn encode(&self, quality: u8, out: &mut Vec<u8>) -> Result<(), PictureError> {
        let color = match self.kind {
            None => return Err(PictureError::Encode("no frame loaded".into())),
            Some(Kind::Jpeg) => {
                out.extend_from_slice(&self.jpeg);
                return Ok(());
            }
            Some(Kind::Rgb) => jpeg_encoder::ColorType::Rgb,
            Some(Kind::Grey) => jpeg_encoder::ColorType::Luma,
        };
        let (w, h) = (self.width as u16, self.height as u16);
        jpeg_encoder::Encoder::new(&mut *out, quality.clamp(1, 100))
            .encode(&self.px, w, h, color)
            .map_err(|e| PictureError::Encode(e.to_string()))
    }
}

/// Copies the rows of a packed format into a packed buffer of the same
/// format, dropping any padding at the end of the source's rows.
fn copy_rows(src: &ImageRef, dst: &mut ImageMut) -> Result<(), PictureError> {
    let f = src.format;
    let row = f.fourcc.min_stride(f.width).unwrap_or(0) as usize;
    check_len(src, row)?;
    for y in 0..f.height as usize {
        dst.data[y * row..][..row].copy_from_slice(&src.data[y * f.stride as usize..][..row]);
    }
    Ok(())
}

/// GREY to RGB by repeating each value.
fn grey_to_rgb(src: &ImageRef, dst: &mut ImageMut) -> Result<(), PictureError> {
    let f = src.format;
    let w = f.width as usize;
    check_len(src, w)?;
    for y in 0..f.height as usize {
        let s = &src.data[y * f.stride as usize..][..w];
        for (o, &v) in dst.data[y * 3 * w..][..3 * w].chunks_exact_mut(3).zip(s) {
            o.copy_from_slice(&[v, v, v]);
        }
    }
    Ok(())
}

fn check_len(src: &ImageRef, row: usize) -> Result<(), PictureError> {
    let f = src.format;
    let need = (f.height as usize).saturating_sub(1) * f.stride as usize + row;
    if (f.stride as usize) < row || src.data.len() < need {
        return Err(PictureError::Geometry(format!(
            "{}x{} {} at stride {} needs {need} bytes, the frame has {}",
            f.width,
            f.height,
            f.fourcc,
            f.stride,
            src.data.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight vertical bars of known colours, as test_pattern draws them.
    fn bars(w: u32, h: u32) -> Vec<u8> {
        let bars = [
            [255, 255, 255],
            [255, 255, 0],
            [0, 255, 255],
            [0, 255, 0],
            [255, 0, 255],
            [255, 0, 0],
            [0, 0, 255],
            [0, 0, 0],
        ];
        let mut v = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                v.extend_from_slice(&bars[(x * 8 / w) as usize]);
            }
        }
        v
    }

    fn decode(jpeg: &[u8], w: u32, h: u32) -> Vec<u8> {
        let mut out = vec![0u8; (w * h * 3) as usize];
        let mut d = JpegDecoder::new();
        d.decode(jpeg, &mut ImageMut { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &mut out }).unwrap();
        out
    }

    fn close(a: &[u8], b: &[u8], tol: i32) -> bool {
        a.iter().zip(b).all(|(&x, &y)| (x as i32 - y as i32).abs() <= tol)
    }

    #[test]
    fn rgb_frames_survive_encoding_and_bgr_is_swapped() {
        let (w, h) = (64, 32);
        let rgb = bars(w, h);
        let mut bgr = rgb.clone();
        for p in bgr.chunks_exact_mut(3) {
            p.swap(0, 2);
        }
        for (data, fourcc) in [(&rgb, FourCC::RGB24), (&bgr, FourCC::BGR24)] {
            let img = ImageRef { format: ImageFormat::packed(fourcc, w, h), data };
            let mut p = Picture::new();
            p.load(&img, 1280, false).unwrap();
            assert_eq!((p.kind(), p.size()), (Some(Kind::Rgb), (w, h)));
            let mut jpeg = Vec::new();
            p.encode(90, &mut jpeg).unwrap();
            let back = decode(&jpeg, w, h);
            // The centre of every bar, away from the edges that 4:2:0
            // chroma blurs.
            for b in 0..8 {
                let x = (b * w / 8 + w / 16) as usize;
                let i = 3 * (16 * w as usize + x);
                assert!(close(&back[i..i + 3], &rgb[i..i + 3], 12), "{fourcc} bar {b}: {:?}", &back[i..i + 3]);
            }
        }
    }

    #[test]
    fn strided_yuyv_and_grey_frames_load() {
        // YUYV of mid grey (Y 126, U = V = 128 is (128,128,128) in full range)
        // with 8 bytes of padding per row.
        let (w, h, stride) = (16u32, 4u32, 40u32);
        let mut yuyv = vec![0u8; (stride * h) as usize];
        for y in 0..h as usize {
            for p in yuyv[y * 40..y * 40 + 32].chunks_exact_mut(4) {
                p.copy_from_slice(&[126, 128, 126, 128]);
            }
        }
        let img = ImageRef { format: ImageFormat { width: w, height: h, stride, fourcc: FourCC::YUYV }, data: &yuyv };
        let mut p = Picture::new();
        p.load(&img, 1280, false).unwrap();
        let px = p.rgb(5, 3).unwrap();
        assert!(close(&px, &[128, 128, 128], 2), "{px:?}");
        let grey: Vec<u8> = (0..h * 20).map(|i| (i % 20) as u8 * 10).collect();
        let img =
            ImageRef { format: ImageFormat { width: 16, height: h, stride: 20, fourcc: FourCC::GREY }, data: &grey };
        p.load(&img, 1280, false).unwrap();
        assert_eq!((p.kind(), p.rgb(7, 2)), (Some(Kind::Grey), Some([70, 70, 70])));
        p.load(&img, 1280, true).unwrap();
        assert_eq!((p.kind(), p.rgb(7, 2)), (Some(Kind::Rgb), Some([70, 70, 70])));
        let mut jpeg = Vec::new();
        p.encode(80, &mut jpeg).unwrap();
        assert_eq!(framewire_filters::jpeg::dimensions(&jpeg).unwrap(), (16, 4));
    }

    #[test]
    fn wide_frames_shrink_by_a_whole_factor() {
        let (w, h) = (1920, 1080);
        let rgb = bars(w, h);
        let img = ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &rgb };
        let mut p = Picture::new();
        p.load(&img, 1280, false).unwrap();
        assert_eq!(p.size(), (960, 540));
        assert_eq!(p.rgb(60, 10), Some([255, 255, 255]));
        assert_eq!(p.rgb(960 - 60, 10), Some([0, 0, 0]));
        assert_eq!(p.rgb(5 * 120 + 60, 10), Some([255, 0, 0]));
    }

    #[test]
    fn mjpeg_passes_through_unless_drawn_on() {
        let (w, h) = (64, 32);
        let rgb = bars(w, h);
        let mut src = Picture::new();
        src.load(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &rgb }, 1280, false).unwrap();
        let mut jpeg = Vec::new();
        src.encode(85, &mut jpeg).unwrap();
        let fmt = ImageFormat { width: w, height: h, stride: 0, fourcc: FourCC::MJPEG };
        let mut p = Picture::new();
        p.load(&ImageRef { format: fmt, data: &jpeg }, 1280, false).unwrap();
        assert_eq!(p.kind(), Some(Kind::Jpeg));
        let mut out = Vec::new();
        p.encode(50, &mut out).unwrap();
        assert_eq!(out, jpeg, "passed through byte for byte");
        p.load(&ImageRef { format: fmt, data: &jpeg }, 1280, true).unwrap();
        assert_eq!(p.kind(), Some(Kind::Rgb));
        assert!(close(&p.rgb(4, 4).unwrap(), &[255, 255, 255], 12));
        assert!(p.load(&ImageRef { format: fmt, data: &jpeg[..20] }, 1280, false).is_err());
    }

    #[test]
    fn unsupported_formats_and_short_frames_are_errors() {
        let data = vec![0u8; 100];
        let f = ImageFormat { width: 10, height: 10, stride: 10, fourcc: FourCC::new(b"Y16 ") };
        let e = Picture::new().load(&ImageRef { format: f, data: &data }, 1280, false).unwrap_err();
        assert!(e.to_string().contains("Y16") && e.to_string().contains(SHOWN), "{e}");
        let f = ImageFormat::packed(FourCC::RGB24, 10, 10);
        let e = Picture::new().load(&ImageRef { format: f, data: &data }, 1280, false).unwrap_err();
        assert!(e.to_string().contains("needs 300 bytes"), "{e}");
    }

    #[test]
    fn detections_draw_a_box_and_a_centroid_scaled_to_the_picture() {
        let (w, h) = (80, 60);
        let black = vec![0u8; (w * h * 3) as usize];
        let mut p = Picture::new();
        p.load(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &black }, 1280, true).unwrap();
        // Found in a 160x120 image: box 40..80 x 20..60, centroid (60, 40);
        // here half of that.
        let d = Detection {
            found: true,
            area: 100,
            cx: 60.0,
            cy: 40.0,
            bbox: [40, 20, 40, 40],
            image_width: 160,
            image_height: 120,
        };
        p.overlay_detection(&d);
        assert_eq!(p.rgb(20, 10), Some(BOX_RGB), "top-left corner");
        assert_eq!(p.rgb(39, 29), Some(BOX_RGB), "bottom-right corner");
        assert_eq!(p.rgb(25, 25), Some([0, 0, 0]), "inside stays");
        assert_eq!(p.rgb(30, 20), Some(CENTROID_RGB), "centroid");
        assert_eq!(p.rgb(41, 30), Some([0, 0, 0]), "outside stays");
        // Not found: nothing drawn.
        let mut q = Picture::new();
        q.load(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &black }, 1280, true).unwrap();
        q.overlay_detection(&Detection { found: false, ..d });
        assert!(q.px.iter().all(|&v| v == 0));
    }

    #[test]
    fn masks_tint_what_they_mark() {
        let (w, h) = (40, 20);
        let grey = vec![100u8; (w * h * 3) as usize];
        let mut p = Picture::new();
        p.load(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &grey }, 1280, true).unwrap();
        // A 20x10 mask, its right half set: the picture's right half tints.
        let mask: Vec<u8> = (0..200).map(|i| if i % 20 >= 10 { 255 } else { 0 }).collect();
        p.overlay_mask(&ImageRef { format: ImageFormat::packed(FourCC::GREY, 20, 10), data: &mask }).unwrap();
        assert_eq!(p.rgb(5, 5), Some([100, 100, 100]));
        assert_eq!(p.rgb(25, 15), Some([178, 50, 178]));
        let e = p.overlay_mask(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, 2, 2), data: &[0; 12] });
        assert!(e.is_err());
    }
}
