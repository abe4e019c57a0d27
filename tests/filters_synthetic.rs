//! Filters on synthetic images whose answers are known exactly.

use framewire::filters::blob::BlobDetector;
use framewire::filters::blur::{GaussianBlur, Ksize};
use framewire::filters::convert::convert;
use framewire::filters::hsv::{HsvLut, HsvRange};
use framewire::filters::morph::{MorphOp, Morphology};
use framewire::filters::resize::{Interp, Resizer};
use framewire::filters::tracker::ColorTracker;
use framewire::image::{FourCC, ImageFormat, ImageMut, ImageRef};

const W: u32 = 320;
const H: u32 = 240;

/// Grey background with a pure-red disc of radius `r` centred at `(cx, cy)`.
fn disc_rgb(cx: i32, cy: i32, r: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H as i32 {
        for x in 0..W as i32 {
            let inside = (x - cx).pow(2) + (y - cy).pow(2) <= r * r;
            v.extend_from_slice(if inside { &[220, 10, 10] } else { &[90, 110, 100] });
        }
    }
    v
}

/// BT.601 limited-range encoding, chroma from the left pixel of each pair.
fn rgb_to_yuyv(rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() / 3 * 2);
    for p in rgb.chunks_exact(6) {
        let yuv = |r: f64, g: f64, b: f64| {
            let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
            let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
            let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
            [y.round() as u8, u.round() as u8, v.round() as u8]
        };
        let a = yuv(p[0] as f64, p[1] as f64, p[2] as f64);
        let b = yuv(p[3] as f64, p[4] as f64, p[5] as f64);
        out.extend_from_slice(&[a[0], a[1], b[0], a[2]]);
    }
    out
}

fn red() -> HsvRange {
    HsvRange { lo: [170, 120, 70], hi: [10, 255, 255] }
}

#[test]
fn tracker_finds_a_disc_at_its_centre() {
    // Symmetric disc: the centroid is the centre exactly.
    let rgb = disc_rgb(200, 150, 40);
    let yuyv = rgb_to_yuyv(&rgb);
    let mut t = ColorTracker::new(red());
    let d = t.track(&ImageRef { format: ImageFormat::packed(FourCC::YUYV, W, H), data: &yuyv }).unwrap();
    assert!(d.found);
    assert!((d.cx - 200.0).abs() < 0.51 && (d.cy - 150.0).abs() < 0.01, "{d:?}");
    // Chroma is shared by pixel pairs, so the left/right edges may move by one pixel.
    assert!(
        d.bbox[0].abs_diff(160) <= 1 && d.bbox[1] == 110 && d.bbox[2].abs_diff(81) <= 2 && d.bbox[3] == 81,
        "{d:?}"
    );
    let d2 = t.track(&ImageRef { format: ImageFormat::packed(FourCC::RGB24, W, H), data: &rgb }).unwrap();
    assert_eq!((d2.cx, d2.cy, d2.bbox), (200.0, 150.0, [160, 110, 81, 81]));
}

#[test]
fn threshold_open_blobs_pipeline_finds_the_largest_disc() {
    let mut rgb = disc_rgb(80, 60, 30);
    // A smaller second disc and a single-pixel speck of red.
    for y in 150..190i32 {
        for x in 230..270i32 {
            if (x - 250).pow(2) + (y - 170).pow(2) <= 15 * 15 {
                let i = ((y as u32 * W + x as u32) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&[220, 10, 10]);
            }
        }
    }
    let i = ((5 * W + 300) * 3) as usize;
    rgb[i..i + 3].copy_from_slice(&[220, 10, 10]);
    let mf = ImageFormat::packed(FourCC::GREY, W, H);
    let mut mask = vec![0u8; (W * H) as usize];
    HsvLut::new(red())
        .threshold(
            &ImageRef { format: ImageFormat::packed(FourCC::RGB24, W, H), data: &rgb },
            &mut ImageMut { format: mf, data: &mut mask },
        )
        .unwrap();
    let mut opened = vec![0u8; mask.len()];
    Morphology::new()
        .apply(&ImageRef { format: mf, data: &mask }, &mut ImageMut { format: mf, data: &mut opened }, MorphOp::Open, 3)
        .unwrap();
    assert_eq!(opened[(5 * W + 300) as usize], 0, "the speck is opened away");
    let mut b = BlobDetector::new();
    assert_eq!(b.components(&ImageRef { format: mf, data: &opened }).unwrap().len(), 2);
    let d = b.largest(&ImageRef { format: mf, data: &opened }).unwrap();
    assert_eq!((d.cx, d.cy), (80.0, 60.0));
    // The disc spans 50..=110, but its one-pixel tips at the four extremes
    // do not survive a 3x3 opening.
    assert_eq!(d.bbox, [51, 31, 59, 59]);
}

#[test]
fn blur_and_resize_keep_a_linear_gradient() {
    // A horizontal ramp v = 2x: symmetric kernels preserve it away from the
    // borders, and averaging 2x2 blocks gives the block-centre value.
    let (w, h) = (64u32, 16u32);
    let g: Vec<u8> = (0..h).flat_map(|_| (0..w).map(|x| (2 * x) as u8)).collect();
    let f = ImageFormat::packed(FourCC::GREY, w, h);
    let mut out = vec![0u8; g.len()];
    GaussianBlur::new()
        .apply(&ImageRef { format: f, data: &g }, &mut ImageMut { format: f, data: &mut out }, Ksize::K5)
        .unwrap();
    for y in 0..h as usize {
        assert_eq!(&out[y * 64 + 2..y * 64 + 62], &g[y * 64 + 2..y * 64 + 62]);
    }
    let mut half = vec![0u8; g.len() / 4];
    let hf = ImageFormat::packed(FourCC::GREY, w / 2, h / 2);
    Resizer::new()
        .resize(&ImageRef { format: f, data: &g }, &mut ImageMut { format: hf, data: &mut half }, Interp::Area)
        .unwrap();
    // (4x + 4x+2) * 2 / 4 = 4x + 1.
    assert!(half.chunks(32).all(|r| r.iter().enumerate().all(|(x, &v)| v as usize == 4 * x + 1)));
}

#[test]
fn colour_bars_through_yuyv() {
    // Limited-range black, white, and the 100% primaries' luma extremes.
    let yuyv = [16u8, 128, 235, 128, 81, 90, 81, 240];
    let mut rgb = [0u8; 12];
    convert(
        &ImageRef { format: ImageFormat::packed(FourCC::YUYV, 4, 1), data: &yuyv },
        &mut ImageMut { format: ImageFormat::packed(FourCC::RGB24, 4, 1), data: &mut rgb },
    )
    .unwrap();
    assert_eq!(&rgb[..6], &[0, 0, 0, 255, 255, 255]);
    // BT.601 red is (Y 81, Cb 90, Cr 240) → (255, 0, 0) up to rounding.
    assert!(rgb[9] >= 254 && rgb[10] <= 1 && rgb[11] <= 1, "{rgb:?}");
}
