//! The filters as pipeline blocks: each reads its input wire slot in place
//! and writes straight into a loaned output slot (no copies, no per-frame
//! allocation), carrying the source frame's capture time and sequence.
//!
//! | type | input | output | parameters |
//! |---|---|---|---|
//! | `convert` | YUYV, UYVY, NV12, RGB24, BGR24 | `format` | `format` |
//! | `jpeg_decode` | MJPEG | RGB24 or GREY | `format` |
//! | `resize` | GREY, RGB24, BGR24 | same, `width`x`height` | `width`, `height`, `interp` |
//! | `crop` | GREY, RGB24, BGR24, YUYV, UYVY | same, `width`x`height` | `x`, `y`, `width`, `height` |
//! | `flip` | GREY, RGB24, BGR24 | same | `mode` |
//! | `gaussian_blur` | GREY, RGB24, BGR24 | same | `ksize` |
//! | `hsv_threshold` | RGB24, BGR24 | GREY mask | `lo`, `hi` |
//! | `morphology` | GREY mask | GREY mask | `op`, `ksize` |
//! | `blob_detect` | GREY mask | detection | — |
//! | `color_tracker` | YUYV, UYVY, RGB24, BGR24 | detection | `lo`, `hi` |

use super::blob::BlobDetector;
use super::blur::{GaussianBlur, Ksize};
use super::convert::{SUPPORTED, convert};
use super::geom::{Flip, Rect, crop};
use super::hsv::{HsvLut, HsvRange};
use super::jpeg::JpegDecoder;
use super::morph::{MorphOp, Morphology};
use super::resize::{Interp, Resizer};
use super::tracker::ColorTracker;
use super::{FilterError, geom};
use framewire_sdk::FrameMeta;
use framewire_sdk::block::*;
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut, ImageRef};
use framewire_sdk::msg::Detection;
use framewire_sdk::params::FromDefault;

/// Registers every filter block type.
pub fn register(reg: &mut Registry) -> Result<(), framewire_sdk::block::RegistryError> {
    reg.add::<ConvertBlock>()?;
    reg.add::<JpegDecodeBlock>()?;
    reg.add::<ResizeBlock>()?;
    reg.add::<CropBlock>()?;
    reg.add::<FlipBlock>()?;
    reg.add::<BlurBlock>()?;
    reg.add::<HsvThresholdBlock>()?;
    reg.add::<MorphologyBlock>()?;
    reg.add::<BlobDetectBlock>()?;
    reg.add::<ColorTrackerBlock>()?;
    Ok(())
}

const RGB_GREY: [FourCC; 3] = [FourCC::GREY, FourCC::RGB24, FourCC::BGR24];

fn parse_fourcc(s: &str, allowed: &[FourCC]) -> Result<FourCC, String> {
    FourCC::parse(s).filter(|f| allowed.contains(f)).ok_or_else(|| {
        let list: Vec<String> = allowed.iter().map(|f| f.to_string()).collect();
        format!("format {s:?} is not supported here; use one of {}", list.join(", "))
    })
}

fn cfg(e: String) -> BlockError {
    BlockError::Config(e)
}

/// Lets a `params!` declaration give an enum's default as the text users
/// write (`interp: Interp = "area"`), so that `framewire blocks` shows it
/// as such; the text is parsed by the enum's own serde names.
macro_rules! enum_default {
    ($($t:ty),*) => {$(
        impl FromDefault<&'static str> for $t {
            fn from_default(v: &'static str) -> $t {
                use serde::Deserialize;
                let d = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(v);
                // A wrong default is a bug in the declaration below, which
                // every test that parses an empty table finds.
                <$t>::deserialize(d).unwrap_or_else(|e| panic!("declared default {v:?}: {e}"))
            }
        }
    )*};
}
enum_default!(Interp, Flip, MorphOp);

/// Frames a block dropped, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Corrupt or truncated data, or a frame header that does not fit the
    /// wires.
    pub corrupt: u64,
    /// Valid frames of a kind the decoder refuses (see
    /// [`FilterError::Unsupported`]).
    pub unsupported: u64,
    /// Frames on which a decoder panicked: a bug, caught and counted apart.
    pub panicked: u64,
}

impl Dropped {
    /// Counts `e` if it is about the frame's data and returns `true` (the
    /// frame is dropped, the block goes on); `false` for anything else.
    pub fn record(&mut self, e: &FilterError) -> bool {
        let (n, what) = match e {
            FilterError::Corrupt(_) => (&mut self.corrupt, "corrupt"),
            FilterError::Unsupported(_) => (&mut self.unsupported, "unsupported"),
            FilterError::Panicked(_) => (&mut self.panicked, "decoder panic on a"),
            _ => return false,
        };
        *n += 1;
        if n.is_power_of_two() {
            tracing::warn!("dropped {what} frame ({e}); {n} such dropped so far");
        }
        true
    }

    /// Logs the totals (at the block's stop).
    pub fn report(&self) {
        if *self != Dropped::default() {
            tracing::warn!(
                "frames dropped: {} corrupt, {} unsupported, {} decoder panics",
                self.corrupt,
                self.unsupported,
                self.panicked
            );
        }
    }
}

/// A filter error on one frame: corrupt, unsupported and panicking frames
/// are counted (apart) and dropped; anything else (a format the block was
/// not configured for) stops the block with the reason.
fn frame_error(e: FilterError, dropped: &mut Dropped) -> Result<Step, BlockError> {
    if dropped.record(&e) { Ok(Step::Continue) } else { Err(BlockError::Other(e.to_string())) }
}

/// The shared step of image → image blocks: receive, loan, run `f` from the
/// input slot into the output slot, commit with the input's stamps.
fn image_step(
    input: &mut Input<Image>,
    output: &mut Output<Image>,
    cx: &Context,
    dropped: &mut Dropped,
    out_format: impl FnOnce(&ImageFormat) -> Result<ImageFormat, BlockError>,
    f: impl FnOnce(&ImageRef, &mut ImageMut) -> super::Result<()>,
) -> Result<Step, BlockError> {
    let Some(frame) = input.recv(cx.tick()) else { return Ok(Step::Idle) };
    let meta: FrameMeta = *frame.meta();
    let src = frame.image();
    let mut loan = output.loan(cx.tick())?;
    let fmt = out_format(&src.format)?;
    let mut dst = loan.image(fmt)?;
    if let Err(e) = f(&src, &mut dst) {
        return frame_error(e, dropped); // the loan is abandoned on drop
    }
    loan.commit_from(&meta)?;
    Ok(Step::Continue)
}

// ---------------------------------------------------------------- convert

framewire_sdk::params! {
    /// Parameters of `convert`.
    pub struct ConvertParams {
        /// output format: RGB24, BGR24 or GREY
        pub format: String = required("RGB24"),
    }
}

/// `convert`: pixel-format conversion (OpenCV-exact; see [`super::convert`]).
pub struct ConvertBlock {
    input: Input<Image>,
    output: Output<Image>,
    to: FourCC,
    dropped: Dropped,
}

impl BlockType for ConvertBlock {
    type Params = ConvertParams;
    fn info() -> BlockInfo {
        BlockInfo::new("convert", "Pixel-format conversion: YUYV/UYVY/NV12/RGB24/BGR24 to RGB24, BGR24 or GREY")
    }
    fn ports(p: &ConvertParams) -> Result<Ports, String> {
        let to = parse_fourcc(&p.format, &[FourCC::RGB24, FourCC::BGR24, FourCC::GREY])?;
        let from: Vec<FourCC> = SUPPORTED.iter().filter(|(_, d)| *d == to).map(|(s, _)| *s).collect();
        Ok(Ports::new()
            .input("input", PortType::image(&from, u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &[to])))
    }
    fn open(p: ConvertParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let to = parse_fourcc(&p.format, &[FourCC::RGB24, FourCC::BGR24, FourCC::GREY]).map_err(cfg)?;
        Ok(ConvertBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            to,
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let to = self.to;
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(to, f.width, f.height)),
            convert,
        )
    }
}

// ------------------------------------------------------------ jpeg_decode

framewire_sdk::params! {
    /// Parameters of `jpeg_decode`.
    pub struct JpegParams {
        /// output format: RGB24 or GREY
        pub format: String = "RGB24",
    }
}

/// `jpeg_decode`: MJPEG frames to RGB24 or GREY; corrupt frames are counted
/// and dropped.
pub struct JpegDecodeBlock {
    input: Input<Image>,
    output: Output<Image>,
    to: FourCC,
    dec: JpegDecoder,
    dropped: Dropped,
}

impl BlockType for JpegDecodeBlock {
    type Params = JpegParams;
    fn info() -> BlockInfo {
        BlockInfo::new("jpeg_decode", "Decodes MJPEG/JPEG frames (standard Huffman tables supplied when missing)")
    }
    fn ports(p: &JpegParams) -> Result<Ports, String> {
        let to = parse_fourcc(&p.format, &[FourCC::RGB24, FourCC::GREY])?;
        Ok(Ports::new()
            .input("input", PortType::image(&[FourCC::MJPEG], u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &[to])))
    }
    fn open(p: JpegParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let to = parse_fourcc(&p.format, &[FourCC::RGB24, FourCC::GREY]).map_err(cfg)?;
        Ok(JpegDecodeBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            to,
            dec: JpegDecoder::new(),
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let Some(frame) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
        let meta = *frame.meta();
        // The MJPEG payload is exactly `len` bytes; the header gives the size.
        let jpeg = &frame[..meta.len.min(frame.len())];
        let (w, h) = match super::jpeg::dimensions(jpeg) {
            Ok(d) => d,
            Err(e) => return frame_error(e, &mut self.dropped),
        };
        // A damaged header can claim any size: a frame that disagrees with
        // the camera's format, or would not fit the output wire, is corrupt
        // data, not a reason to stop the pipeline.
        let fmt = ImageFormat::packed(self.to, w, h);
        let (cw, ch) = (meta.image.width, meta.image.height);
        if cw != 0 && ch != 0 && (cw, ch) != (w, h) {
            let e = FilterError::Corrupt(format!("JPEG header says {w}x{h} but the input wire's frames are {cw}x{ch}"));
            return frame_error(e, &mut self.dropped);
        }
        if fmt.byte_len() > self.output.slot_size() {
            let e = FilterError::Corrupt(format!(
                "JPEG header says {w}x{h}, which does not fit the output wire's {}-byte slots",
                self.output.slot_size()
            ));
            return frame_error(e, &mut self.dropped);
        }
        let mut loan = self.output.loan(cx.tick())?;
        let mut dst = loan.image(fmt)?;
        if let Err(e) = self.dec.decode(jpeg, &mut dst) {
            return frame_error(e, &mut self.dropped);
        }
        loan.commit_from(&meta)?;
        Ok(Step::Continue)
    }
    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        self.dropped.report();
        Ok(())
    }
}

// ----------------------------------------------------------------- resize

framewire_sdk::params! {
    /// Parameters of `resize`.
    pub struct ResizeParams {
        /// output width
        pub width: u32 = required(320),
        /// output height
        pub height: u32 = required(240),
        /// "area" (best for shrinking) or "bilinear"
        pub interp: Interp = "area",
    }
}

/// `resize`: area or bilinear resize to a fixed size.
pub struct ResizeBlock {
    input: Input<Image>,
    output: Output<Image>,
    p: ResizeParams,
    r: Resizer,
    dropped: Dropped,
}

impl BlockType for ResizeBlock {
    type Params = ResizeParams;
    fn info() -> BlockInfo {
        BlockInfo::new("resize", "Resizes GREY/RGB24/BGR24 images (OpenCV INTER_AREA / INTER_LINEAR)")
    }
    fn ports(p: &ResizeParams) -> Result<Ports, String> {
        if p.width == 0 || p.height == 0 || p.width > 16384 || p.height > 16384 {
            return Err(format!("size {}x{} is out of range 1..16384", p.width, p.height));
        }
        Ok(Ports::new()
            .input("input", PortType::image(&RGB_GREY, u32::MAX, u32::MAX))
            .output("output", PortType::image(&RGB_GREY, p.width, p.height)))
    }
    fn open(p: ResizeParams, setup: &mut Setup) -> Result<Self, BlockError> {
        Ok(ResizeBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            p,
            r: Resizer::new(),
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let (w, h, interp, r) = (self.p.width, self.p.height, self.p.interp, &mut self.r);
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(f.fourcc, w, h)),
            |s, d| r.resize(s, d, interp),
        )
    }
}

// ------------------------------------------------------------------- crop

framewire_sdk::params! {
    /// Parameters of `crop`.
    pub struct CropParams {
        /// left column
        pub x: u32 = 0,
        /// top row
        pub y: u32 = 0,
        /// region width (even for YUYV/UYVY)
        pub width: u32 = required(320),
        /// region height
        pub height: u32 = required(240),
    }
}

/// `crop`: copies a region of interest.
pub struct CropBlock {
    input: Input<Image>,
    output: Output<Image>,
    rect: Rect,
    dropped: Dropped,
}

const CROP_FORMATS: [FourCC; 5] = [FourCC::GREY, FourCC::RGB24, FourCC::BGR24, FourCC::YUYV, FourCC::UYVY];

impl BlockType for CropBlock {
    type Params = CropParams;
    fn info() -> BlockInfo {
        BlockInfo::new("crop", "Copies a region of interest (GREY, RGB24, BGR24, YUYV, UYVY)")
    }
    fn ports(p: &CropParams) -> Result<Ports, String> {
        if p.width == 0 || p.height == 0 {
            return Err("width and height must be at least 1".into());
        }
        // The region must lie inside the input image: `framewire check`
        // compares this with the producer's size (the block checks each
        // frame again, as a camera can deliver another size than declared).
        let (Some(right), Some(bottom)) = (p.x.checked_add(p.width), p.y.checked_add(p.height)) else {
            return Err(format!(
                "x + width and y + height must be below 2^32, got {}x{} at ({}, {})",
                p.width, p.height, p.x, p.y
            ));
        };
        let need = MinSize { width: right, height: bottom, width_from: "x + width", height_from: "y + height" };
        Ok(Ports::new()
            .input("input", PortType::image(&CROP_FORMATS, u32::MAX, u32::MAX).at_least(need))
            .output("output", PortType::image(&CROP_FORMATS, p.width, p.height)))
    }
    fn open(p: CropParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let rect = Rect { x: p.x, y: p.y, w: p.width, h: p.height };
        Ok(CropBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            rect,
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let r = self.rect;
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(f.fourcc, r.w, r.h)),
            |s, d| crop(s, d, r),
        )
    }
}

// ------------------------------------------------------------------- flip

framewire_sdk::params! {
    /// Parameters of `flip`.
    pub struct FlipParams {
        /// "horizontal", "vertical" or "rotate180"
        pub mode: Flip = "rotate180",
    }
}

/// `flip`: mirror or rotate by 180°.
pub struct FlipBlock {
    input: Input<Image>,
    output: Output<Image>,
    mode: Flip,
    dropped: Dropped,
}

impl BlockType for FlipBlock {
    type Params = FlipParams;
    fn info() -> BlockInfo {
        BlockInfo::new("flip", "Mirrors or rotates GREY/RGB24/BGR24 images by 180°")
    }
    fn ports(_: &FlipParams) -> Result<Ports, String> {
        Ok(Ports::new()
            .input("input", PortType::image(&RGB_GREY, u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &RGB_GREY)))
    }
    fn open(p: FlipParams, setup: &mut Setup) -> Result<Self, BlockError> {
        Ok(FlipBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            mode: p.mode,
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let mode = self.mode;
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(f.fourcc, f.width, f.height)),
            |s, d| geom::flip(s, d, mode),
        )
    }
}

// ---------------------------------------------------------- gaussian_blur

framewire_sdk::params! {
    /// Parameters of `gaussian_blur`.
    pub struct BlurParams {
        /// kernel size: 3 or 5
        pub ksize: u32 = 5,
    }
}

/// `gaussian_blur`: 3x3 or 5x5 Gaussian (OpenCV-exact).
pub struct BlurBlock {
    input: Input<Image>,
    output: Output<Image>,
    k: Ksize,
    blur: GaussianBlur,
    dropped: Dropped,
}

impl BlockType for BlurBlock {
    type Params = BlurParams;
    fn info() -> BlockInfo {
        BlockInfo::new("gaussian_blur", "Gaussian blur of GREY/RGB24/BGR24 images (sigma from the size, as OpenCV)")
    }
    fn ports(p: &BlurParams) -> Result<Ports, String> {
        Ksize::from_side(p.ksize).ok_or(format!("ksize {} is not supported; use 3 or 5", p.ksize))?;
        Ok(Ports::new()
            .input("input", PortType::image(&RGB_GREY, u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &RGB_GREY)))
    }
    fn open(p: BlurParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let k = Ksize::from_side(p.ksize).ok_or_else(|| cfg(format!("ksize {} is not 3 or 5", p.ksize)))?;
        Ok(BlurBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            k,
            blur: GaussianBlur::new(),
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let (k, b) = (self.k, &mut self.blur);
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(f.fourcc, f.width, f.height)),
            |s, d| b.apply(s, d, k),
        )
    }
}

// ---------------------------------------------------------- hsv_threshold

framewire_sdk::params! {
    /// Parameters of `hsv_threshold` and `color_tracker`.
    pub struct HsvParams {
        /// lower [h, s, v]: H 0-179, S and V 0-255; h_lo > h_hi wraps around red
        pub lo: [u8; 3] = required([0, 120, 60]),
        /// upper [h, s, v], inclusive
        pub hi: [u8; 3] = required([20, 255, 255]),
    }
}

fn check_range(p: &HsvParams) -> Result<HsvRange, String> {
    if p.lo[0] > 179 || p.hi[0] > 179 {
        return Err(format!("hue bounds {} and {} must be 0..=179 (OpenCV's H)", p.lo[0], p.hi[0]));
    }
    Ok(HsvRange { lo: p.lo, hi: p.hi })
}

/// `hsv_threshold`: colour range → binary mask (255 inside).
pub struct HsvThresholdBlock {
    input: Input<Image>,
    output: Output<Image>,
    lut: HsvLut,
    dropped: Dropped,
}

impl BlockType for HsvThresholdBlock {
    type Params = HsvParams;
    fn info() -> BlockInfo {
        BlockInfo::new("hsv_threshold", "HSV colour range (OpenCV convention) of RGB24/BGR24 images to a GREY mask")
    }
    fn ports(p: &HsvParams) -> Result<Ports, String> {
        check_range(p)?;
        Ok(Ports::new()
            .input("input", PortType::image(&[FourCC::RGB24, FourCC::BGR24], u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &[FourCC::GREY])))
    }
    fn open(p: HsvParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let range = check_range(&p).map_err(cfg)?;
        Ok(HsvThresholdBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            lut: HsvLut::new(range),
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let lut = &self.lut;
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(FourCC::GREY, f.width, f.height)),
            |s, d| lut.threshold(s, d),
        )
    }
}

// ------------------------------------------------------------- morphology

framewire_sdk::params! {
    /// Parameters of `morphology`.
    pub struct MorphParams {
        /// "erode", "dilate", "open" or "close"
        pub op: MorphOp = "open",
        /// odd square size
        pub ksize: u32 = 3,
    }
}

/// `morphology`: erode, dilate, open or close a mask with a square.
pub struct MorphologyBlock {
    input: Input<Image>,
    output: Output<Image>,
    op: MorphOp,
    k: u32,
    m: Morphology,
    dropped: Dropped,
}

impl BlockType for MorphologyBlock {
    type Params = MorphParams;
    fn info() -> BlockInfo {
        BlockInfo::new("morphology", "Erode/dilate/open/close a GREY mask with a k x k square (OpenCV-exact)")
    }
    fn ports(p: &MorphParams) -> Result<Ports, String> {
        if p.ksize.is_multiple_of(2) || p.ksize > 31 {
            return Err(format!("ksize {} must be odd and at most 31", p.ksize));
        }
        Ok(Ports::new()
            .input("input", PortType::image(&[FourCC::GREY], u32::MAX, u32::MAX))
            .output("output", PortType::image_from("input", &[FourCC::GREY])))
    }
    fn open(p: MorphParams, setup: &mut Setup) -> Result<Self, BlockError> {
        Ok(MorphologyBlock {
            input: setup.input("input")?,
            output: setup.output("output")?,
            op: p.op,
            k: p.ksize,
            m: Morphology::new(),
            dropped: Dropped::default(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let (op, k, m) = (self.op, self.k, &mut self.m);
        image_step(
            &mut self.input,
            &mut self.output,
            cx,
            &mut self.dropped,
            |f| Ok(ImageFormat::packed(FourCC::GREY, f.width, f.height)),
            |s, d| m.apply(s, d, op, k),
        )
    }
}

// ------------------------------------------------------------ blob_detect

framewire_sdk::params! {
    /// Parameters of `blob_detect` (none).
    pub struct NoParams {}
}

/// `blob_detect`: the largest 8-connected blob of a mask as a detection.
pub struct BlobDetectBlock {
    input: Input<Image>,
    output: Output<Detection>,
    det: BlobDetector,
}

impl BlockType for BlobDetectBlock {
    type Params = NoParams;
    fn info() -> BlockInfo {
        BlockInfo::new("blob_detect", "Largest 8-connected blob of a GREY mask: area, centroid, bounding box")
    }
    fn ports(_: &NoParams) -> Result<Ports, String> {
        Ok(Ports::new()
            .input("input", PortType::image(&[FourCC::GREY], u32::MAX, u32::MAX))
            .output("detection", PortType::msg::<Detection>()))
    }
    fn open(_: NoParams, setup: &mut Setup) -> Result<Self, BlockError> {
        Ok(BlobDetectBlock {
            input: setup.input("input")?,
            output: setup.output("detection")?,
            det: BlobDetector::new(),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let Some(frame) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
        let meta = *frame.meta();
        let d = self.det.largest(&frame.image()).map_err(|e| BlockError::Other(e.to_string()))?;
        drop(frame);
        self.output.send(&d, Some(&meta))?;
        Ok(Step::Continue)
    }
}

// ---------------------------------------------------------- color_tracker

/// `color_tracker`: YUYV/UYVY/RGB24/BGR24 straight to the centroid of an HSV
/// range in one pass (see [`super::tracker`]).
pub struct ColorTrackerBlock {
    input: Input<Image>,
    output: Output<Detection>,
    t: ColorTracker,
}

impl BlockType for ColorTrackerBlock {
    type Params = HsvParams;
    fn info() -> BlockInfo {
        BlockInfo::new("color_tracker", "Fused YUYV/RGB → HSV range → centroid, area and box of all matching pixels")
    }
    fn ports(p: &HsvParams) -> Result<Ports, String> {
        check_range(p)?;
        let f = [FourCC::YUYV, FourCC::UYVY, FourCC::RGB24, FourCC::BGR24];
        Ok(Ports::new()
            .input("input", PortType::image(&f, u32::MAX, u32::MAX))
            .output("detection", PortType::msg::<Detection>()))
    }
    fn open(p: HsvParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let range = check_range(&p).map_err(cfg)?;
        Ok(ColorTrackerBlock {
            input: setup.input("input")?,
            output: setup.output("detection")?,
            t: ColorTracker::new(range),
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let Some(frame) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
        let meta = *frame.meta();
        let d = self.t.track(&frame.image()).map_err(|e| BlockError::Other(e.to_string()))?;
        drop(frame);
        self.output.send(&d, Some(&meta))?;
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Corrupt data, refused kinds and decoder panics are counted apart;
    /// other errors are not frame errors.
    #[test]
    fn dropped_frames_are_counted_by_cause() {
        let mut d = Dropped::default();
        assert!(d.record(&FilterError::Corrupt("bad".into())));
        assert!(d.record(&FilterError::Corrupt("bad".into())));
        assert!(d.record(&FilterError::Unsupported("arithmetic".into())));
        assert!(d.record(&FilterError::Panicked("boom".into())));
        assert!(!d.record(&FilterError::Geometry("no".into())));
        assert_eq!(d, Dropped { corrupt: 2, unsupported: 1, panicked: 1 });
    }

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    /// Every default declared in the `params!` blocks parses (the enums'
    /// as their serde names) and is what `framewire blocks` shows.
    #[test]
    fn declared_defaults_parse_and_are_documented() {
        let r = ResizeParams::from_table(&table("width = 8\nheight = 6")).unwrap();
        assert_eq!((r.width, r.height, r.interp), (8, 6, Interp::Area));
        assert_eq!(FlipParams::from_table(&table("")).unwrap().mode, Flip::Rotate180);
        let m = MorphParams::from_table(&table("")).unwrap();
        assert_eq!((m.op, m.ksize), (MorphOp::Open, 3));
        assert_eq!(BlurParams::from_table(&table("")).unwrap().ksize, 5);
        assert_eq!(JpegParams::from_table(&table("")).unwrap().format, "RGB24");
        let c = CropParams::from_table(&table("width = 4\nheight = 2")).unwrap();
        assert_eq!((c.x, c.y), (0, 0));
        let doc = |d: Vec<ParamInfo>| d.iter().map(|p| (p.name, p.ty.clone(), p.default.clone())).collect::<Vec<_>>();
        assert_eq!(
            doc(ResizeParams::describe()),
            [
                ("width", "int".into(), "required".into()),
                ("height", "int".into(), "required".into()),
                ("interp", "string".into(), "\"area\"".into())
            ]
        );
        assert_eq!(doc(HsvParams::describe())[0], ("lo", "[int; 3]".into(), "required".into()));
        assert_eq!(doc(MorphParams::describe())[0], ("op", "string".into(), "\"open\"".into()));
        assert!(NoParams::describe().is_empty());
    }

    /// Every block's example parameters give it ports (`framewire blocks`
    /// lists them).
    #[test]
    fn examples_give_ports() {
        let mut reg = Registry::new();
        register(&mut reg).unwrap();
        for name in reg.names() {
            let spec = reg.get(name).unwrap();
            let ports = (spec.ports)(&(spec.example)()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!ports.inputs.is_empty() && !ports.outputs.is_empty(), "{name}");
        }
    }

    /// Bad values name their key; a typo gets the nearest valid name.
    #[test]
    fn bad_parameters_name_the_key() {
        let e = CropParams::from_table(&table("widht = 4\nheight = 2")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("widht"));
        assert!(e.message.contains("did you mean `width`?"), "{e}");
        assert!(e.message.contains("valid: x, y, width, height"), "{e}");
        let e = CropParams::from_table(&table("height = 2")).unwrap_err();
        assert_eq!(e.message, "missing required parameter `width`, e.g. `width = 320`");
        let e = ResizeParams::from_table(&table("width = 8\nheight = 6\ninterp = \"cubic\"")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("interp"));
        assert!(e.message.contains("unknown variant `cubic`, expected `area` or `bilinear`"), "{e}");
        let e = HsvParams::from_table(&table("lo = [0, 300, 0]\nhi = [1, 2, 3]")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("lo[1]"));
        let e = NoParams::from_table(&table("min_area = 3")).unwrap_err();
        assert!(e.message.contains("this block takes no parameters"), "{e}");
        // Values that parse but do not make sense: the block's own checks.
        let ports = |p: &str| CropBlock::ports(&CropParams::from_table(&table(p)).unwrap());
        assert_eq!(ports("width = 0\nheight = 2").unwrap_err(), "width and height must be at least 1");
        assert!(ports("x = 4294967295\nwidth = 1\nheight = 1").unwrap_err().contains("below 2^32"));
        let m = |n: &str| MorphologyBlock::ports(&MorphParams::from_table(&table(n)).unwrap()).unwrap_err();
        assert_eq!(m("ksize = 4"), "ksize 4 must be odd and at most 31");
    }

    /// The block table of `README.md` names every parameter of every filter
    /// block and nothing else (the keys are the backquoted names in its
    /// second column), so the documentation cannot drift from `params!`.
    #[test]
    fn filter_readme_lists_every_parameter() {
        let readme = include_str!("README.md");
        let mut reg = Registry::new();
        register(&mut reg).unwrap();
        for name in reg.names() {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("README.md has no row for `{name}`"));
            let keys_cell = row.split('|').nth(2).unwrap_or("");
            let documented: Vec<&str> = keys_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut declared: Vec<&str> = (reg.get(name).unwrap().info)().params.iter().map(|p| p.name).collect();
            declared.sort();
            assert_eq!(documented, declared, "README.md's row for `{name}`: {row}");
        }
    }

    /// `crop` states the smallest image its region needs, for `framewire
    /// check` to compare with the producer's size.
    #[test]
    fn crop_needs_images_that_hold_its_region() {
        let p = CropParams::from_table(&table("x = 40\ny = 2\nwidth = 40\nheight = 10")).unwrap();
        let ports = CropBlock::ports(&p).unwrap();
        let PortType::Image { min: Some(m), .. } = &ports.inputs[0].ty else { panic!("{:?}", ports.inputs[0]) };
        assert_eq!((m.width, m.height, m.width_from, m.height_from), (80, 12, "x + width", "y + height"));
        assert_eq!(MinSize::keys(m.width_from).collect::<Vec<_>>(), ["x", "width"]);
        assert!(ports.inputs[0].ty.describe().contains("at least 80x12"), "{}", ports.inputs[0].ty.describe());
    }
}
