//! `test_pattern`: synthetic frames (colour bars with a moving disc), so a
//! pipeline runs, and can be tested, without a camera.

use std::time::Duration;

use framewire_sdk::block::*;
use framewire_sdk::image::{FourCC, ImageFormat};

framewire_sdk::params! {
    /// Parameters of `test_pattern`.
    pub struct Params {
        /// Frame width in pixels.
        width: u32 = 640,
        /// Frame height in pixels.
        height: u32 = 480,
        /// Pixel format: RGB24, BGR24, GREY or YUYV.
        format: String = "RGB24",
        /// Frames per second.
        fps: f64 = 30.0,
        /// Stop after this many frames (0 = run until stopped).
        frames: u64 = 0,
        /// Colour of the moving disc, [r, g, b].
        disc_rgb: [u8; 3] = [255, 0, 0],
        /// Radius of the disc in pixels (default: height / 10).
        disc_radius: Option<u32> = None,
        /// Testing aid: exit with an error after this many frames (0 = never).
        crash_after_frames: u64 = 0,
    }
}

const FORMATS: [FourCC; 4] = [FourCC::RGB24, FourCC::BGR24, FourCC::GREY, FourCC::YUYV];

fn parse_format(s: &str) -> Result<FourCC, String> {
    FourCC::parse(s)
        .filter(|f| FORMATS.contains(f))
        .ok_or_else(|| format!("format {s:?} is not one test_pattern makes; use RGB24, BGR24, GREY or YUYV"))
}

/// The `test_pattern` block.
pub struct TestPattern {
    out: Output<Image>,
    fmt: ImageFormat,
    /// The background, rendered once; each frame copies it and draws the disc.
    background: Vec<u8>,
    period_ns: u64,
    next_ns: u64,
    n: u64,
    p: Params,
}

/// BT.601 limited-range Y, U, V of an RGB colour (what cameras deliver).
fn yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(|v| v as i32);
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    [y, u, v].map(|c| c.clamp(0, 255) as u8)
}

fn gray(rgb: [u8; 3]) -> u8 {
    ((rgb[0] as u32 * 4899 + rgb[1] as u32 * 9617 + rgb[2] as u32 * 1868 + 8192) >> 14) as u8
}

/// Writes colour `rgb` at pixel (x, y) of `buf` in `fmt`.
fn put(buf: &mut [u8], fmt: &ImageFormat, x: u32, y: u32, rgb: [u8; 3]) {
    let row = y as usize * fmt.stride as usize;
    match fmt.fourcc {
        FourCC::RGB24 => buf[row + 3 * x as usize..][..3].copy_from_slice(&rgb),
        FourCC::BGR24 => buf[row + 3 * x as usize..][..3].copy_from_slice(&[rgb[2], rgb[1], rgb[0]]),
        FourCC::GREY => buf[row + x as usize] = gray(rgb),
        _ => {
            // YUYV: each pair of pixels shares U and V.
            let [y0, u, v] = yuv(rgb);
            let base = row + 2 * x as usize;
            buf[base] = y0;
            if x.is_multiple_of(2) {
                buf[base + 1] = u;
            } else {
                buf[base + 1] = v;
            }
        }
    }
}

/// The eight SMPTE-style colour bars.
pub const BARS: [[u8; 3]; 8] =
    [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];

impl TestPattern {
    /// Centre of the disc in frame `n`: it circles the image centre once
    /// every 4 seconds at the configured rate.
    pub fn disc_centre(width: u32, height: u32, fps: f64, n: u64) -> (f64, f64) {
        let t = n as f64 / fps;
        let a = t * std::f64::consts::TAU / 4.0;
        (width as f64 / 2.0 + width as f64 / 4.0 * a.cos(), height as f64 / 2.0 + height as f64 / 4.0 * a.sin())
    }
}

impl BlockType for TestPattern {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("test_pattern", "Synthetic frames: colour bars (dimmed) with a moving coloured disc")
            .role(Role::Source)
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        let f = parse_format(&p.format)?;
        if p.width == 0 || p.height == 0 || p.width > 8192 || p.height > 8192 {
            return Err(format!("size {}x{} is out of range 1..8192", p.width, p.height));
        }
        if f == FourCC::YUYV && p.width % 2 == 1 {
            return Err("YUYV needs an even width".into());
        }
        if !(p.fps > 0.0 && p.fps <= 1000.0) {
            return Err(format!("fps {} is out of range (0, 1000]", p.fps));
        }
        Ok(Ports::new().output("frames", PortType::image(&[f], p.width, p.height)))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let f = parse_format(&p.format).map_err(BlockError::Config)?;
        let fmt = ImageFormat::packed(f, p.width, p.height);
        let mut background = vec![0u8; fmt.byte_len()];
        for y in 0..p.height {
            for x in 0..p.width {
                let bar = BARS[(x as usize * 8) / p.width as usize];
                // Dimmed so the disc is the only saturated, bright object.
                put(&mut background, &fmt, x, y, bar.map(|c| c / 3));
            }
        }
        Ok(TestPattern {
            out: setup.output("frames")?,
            fmt,
            background,
            period_ns: (1e9 / p.fps) as u64,
            next_ns: framewire_sdk::monotonic_ns(),
            n: 0,
            p,
        })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        if self.p.frames > 0 && self.n >= self.p.frames {
            framewire_sdk::tracing::info!("sent {} frames", self.n);
            return Ok(Step::Done);
        }
        if self.p.crash_after_frames > 0 && self.n >= self.p.crash_after_frames {
            return Err(BlockError::Other(format!("crash_after_frames = {} reached (testing aid)", self.n)));
        }
        let now = cx.now_ns();
        if now < self.next_ns {
            std::thread::sleep(Duration::from_nanos((self.next_ns - now).min(cx.tick().as_nanos() as u64)));
            return Ok(Step::Idle);
        }
        // Keep the cadence without bursting after a stall.
        self.next_ns = (self.next_ns + self.period_ns).max(now);
        let (cx0, cy0) = TestPattern::disc_centre(self.p.width, self.p.height, self.p.fps, self.n);
        let r = self.p.disc_radius.unwrap_or(self.p.height / 10).max(1) as f64;
        let fmt = self.fmt;
        let mut loan = self.out.loan(cx.tick())?;
        let img = loan.image(fmt)?;
        img.data.copy_from_slice(&self.background);
        let (y0, y1) = ((cy0 - r).floor().max(0.0) as u32, ((cy0 + r).ceil() as u32).min(fmt.height - 1));
        let (x0, x1) = ((cx0 - r).floor().max(0.0) as u32, ((cx0 + r).ceil() as u32).min(fmt.width - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f64 + 0.5 - cx0, y as f64 + 0.5 - cy0);
                if dx * dx + dy * dy <= r * r {
                    put(img.data, &fmt, x, y, self.p.disc_rgb);
                }
            }
        }
        loan.set_stamp(now, self.n + 1);
        loan.commit()?;
        self.n += 1;
        Ok(Step::Continue)
    }
}
