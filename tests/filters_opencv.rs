//! Replays the OpenCV reference pairs in `tests/data/filters/` (made by
//! `tests/opencv/make_filter_refs.py`) through framewire's filters.
//!
//! Tolerances, per operation:
//! - conversions, HSV, in-range masks, Gaussian blur, flips, morphology,
//!   blobs, moments, tracker, integer-factor area resize: **exact**;
//! - bilinear resize: **±1** per sample (OpenCV's SIMD and scalar paths
//!   round the vertical pass differently), and at least 99% exact;
//! - fractional-factor area resize: **±1** (float weights);
//! - JPEG decode: **±8** per sample and mean absolute difference **≤ 1.5**
//!   (libjpeg-turbo and zune-jpeg use different IDCTs and chroma upsampling;
//!   both are valid decoders of the same bits).

use framewire::filters::blob::{BlobDetector, moments};
use framewire::filters::blur::{GaussianBlur, Ksize};
use framewire::filters::convert::convert;
use framewire::filters::geom::{Flip, flip};
use framewire::filters::hsv::{HsvLut, HsvRange, rgb_to_hsv, threshold_direct};
use framewire::filters::jpeg::JpegDecoder;
use framewire::filters::morph::{MorphOp, Morphology};
use framewire::filters::resize::{Interp, Resizer};
use framewire::filters::tracker::ColorTracker;
use framewire::image::{FourCC, ImageFormat, ImageMut, ImageRef};
use std::path::PathBuf;
use toml::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/filters")
}

fn load(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn cases(op: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("refs.toml")).unwrap();
    let v: Value = toml::from_str(&text).unwrap();
    let all = v["case"].as_array().unwrap().clone();
    let out: Vec<Value> = all.into_iter().filter(|c| c["op"].as_str() == Some(op)).collect();
    assert!(!out.is_empty(), "no reference cases for {op}");
    out
}

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c[k].as_str().unwrap()
}
fn u(c: &Value, k: &str) -> u32 {
    c[k].as_integer().unwrap() as u32
}
fn f(c: &Value, k: &str) -> f64 {
    c[k].as_float().unwrap()
}
fn arr3(c: &Value, k: &str) -> [u8; 3] {
    let a = c[k].as_array().unwrap();
    [0, 1, 2].map(|i| a[i].as_integer().unwrap() as u8)
}

/// Asserts `got` equals `want` within `tol`, with the first mismatch reported.
fn assert_close(name: &str, got: &[u8], want: &[u8], tol: u8) -> (usize, f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut exact = 0;
    let mut sum = 0u64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = g.abs_diff(w);
        assert!(d <= tol, "{name}: sample {i}: got {g}, OpenCV {w} (tolerance {tol})");
        exact += (d == 0) as usize;
        sum += d as u64;
    }
    (exact, sum as f64 / got.len().max(1) as f64)
}

#[test]
fn conversions_match_opencv_exactly() {
    for c in cases("convert") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let sf = ImageFormat::packed(FourCC::parse(s(&c, "src")).unwrap(), w, h);
        let df = ImageFormat::packed(FourCC::parse(s(&c, "dst")).unwrap(), w, h);
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let mut out = vec![0u8; want.len()];
        convert(&ImageRef { format: sf, data: &input }, &mut ImageMut { format: df, data: &mut out }).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
    }
}

#[test]
fn hsv_matches_opencv_exactly() {
    for c in cases("hsv") {
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let got: Vec<u8> = input.chunks_exact(3).flat_map(|p| rgb_to_hsv(p[0], p[1], p[2])).collect();
        assert_close("rgb_hsv", &got, &want, 0);
    }
}

#[test]
fn in_range_masks_match_opencv_exactly() {
    for c in cases("in_range") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let range = HsvRange { lo: arr3(&c, "lo"), hi: arr3(&c, "hi") };
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let src = ImageRef { format: ImageFormat::packed(FourCC::RGB24, w, h), data: &input };
        let mf = ImageFormat::packed(FourCC::GREY, w, h);
        let mut out = vec![0u8; want.len()];
        threshold_direct(&src, &mut ImageMut { format: mf, data: &mut out }, &range).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
        out.fill(7);
        HsvLut::new(range).threshold(&src, &mut ImageMut { format: mf, data: &mut out }).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
        // BGR input through the same table.
        let bgr: Vec<u8> = input.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        let src = ImageRef { format: ImageFormat::packed(FourCC::BGR24, w, h), data: &bgr };
        HsvLut::new(range).threshold(&src, &mut ImageMut { format: mf, data: &mut out }).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
    }
}

#[test]
fn gaussian_blur_matches_opencv_exactly() {
    let mut b = GaussianBlur::new();
    for c in cases("blur") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let fcc = if u(&c, "channels") == 1 { FourCC::GREY } else { FourCC::RGB24 };
        let f = ImageFormat::packed(fcc, w, h);
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let mut out = vec![0u8; want.len()];
        let k = Ksize::from_side(u(&c, "k")).unwrap();
        b.apply(&ImageRef { format: f, data: &input }, &mut ImageMut { format: f, data: &mut out }, k).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
    }
}

#[test]
fn resize_matches_opencv() {
    let mut r = Resizer::new();
    for c in cases("resize") {
        let (w, h, dw, dh) = (u(&c, "w"), u(&c, "h"), u(&c, "dw"), u(&c, "dh"));
        let fcc = if u(&c, "channels") == 1 { FourCC::GREY } else { FourCC::RGB24 };
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let mut out = vec![0u8; want.len()];
        let interp = if s(&c, "interp") == "area" { Interp::Area } else { Interp::Bilinear };
        r.resize(
            &ImageRef { format: ImageFormat::packed(fcc, w, h), data: &input },
            &mut ImageMut { format: ImageFormat::packed(fcc, dw, dh), data: &mut out },
            interp,
        )
        .unwrap();
        let integer = w % dw == 0 && h % dh == 0 && dw <= w;
        let tol = if interp == Interp::Area && integer { 0 } else { 1 };
        let (exact, _) = assert_close(s(&c, "name"), &out, &want, tol);
        eprintln!("{}: {exact}/{} samples exact", s(&c, "name"), out.len());
        if interp == Interp::Bilinear {
            assert!(exact * 100 >= out.len() * 99, "{}: only {exact}/{} exact", s(&c, "name"), out.len());
        }
    }
}

#[test]
fn flips_match_opencv_exactly() {
    for c in cases("flip") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let f = ImageFormat::packed(FourCC::RGB24, w, h);
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let mut out = vec![0u8; want.len()];
        let mode = match s(&c, "mode") {
            "horizontal" => Flip::Horizontal,
            "vertical" => Flip::Vertical,
            _ => Flip::Rotate180,
        };
        flip(&ImageRef { format: f, data: &input }, &mut ImageMut { format: f, data: &mut out }, mode).unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
    }
}

#[test]
fn morphology_matches_opencv_exactly() {
    let mut m = Morphology::new();
    for c in cases("morph") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let f = ImageFormat::packed(FourCC::GREY, w, h);
        let input = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let mut out = vec![0u8; want.len()];
        let op = match s(&c, "morph") {
            "open" => MorphOp::Open,
            "close" => MorphOp::Close,
            "erode" => MorphOp::Erode,
            _ => MorphOp::Dilate,
        };
        m.apply(&ImageRef { format: f, data: &input }, &mut ImageMut { format: f, data: &mut out }, op, u(&c, "k"))
            .unwrap();
        assert_close(s(&c, "name"), &out, &want, 0);
    }
}

#[test]
fn blobs_and_moments_match_opencv() {
    for c in cases("blobs") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let input = load(s(&c, "input"));
        let img = ImageRef { format: ImageFormat::packed(FourCC::GREY, w, h), data: &input };
        let mut b = BlobDetector::new();
        assert_eq!(b.components(&img).unwrap().len() as u32, u(&c, "count"));
        let d = b.largest(&img).unwrap();
        assert_eq!(d.area, u(&c, "area"));
        let bb = c["bbox"].as_array().unwrap();
        assert_eq!(d.bbox.to_vec(), bb.iter().map(|v| v.as_integer().unwrap() as u32).collect::<Vec<_>>());
        assert!((d.cx as f64 - f(&c, "cx")).abs() < 1e-3 && (d.cy as f64 - f(&c, "cy")).abs() < 1e-3);
        let m = moments(&img).unwrap();
        assert_eq!((m.m00 as f64, m.m10 as f64, m.m01 as f64), (f(&c, "m00"), f(&c, "m10"), f(&c, "m01")));
    }
}

#[test]
fn fused_tracker_matches_the_opencv_chain() {
    for c in cases("tracker") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let input = load(s(&c, "input"));
        let range = HsvRange { lo: arr3(&c, "lo"), hi: arr3(&c, "hi") };
        let mut t = ColorTracker::new(range);
        let m = t.moments(&ImageRef { format: ImageFormat::packed(FourCC::YUYV, w, h), data: &input }).unwrap();
        assert!(m.m00 > 0, "{}: the scene should contain the colour", s(&c, "name"));
        assert_eq!(
            (m.m00 as f64, m.m10 as f64, m.m01 as f64),
            (f(&c, "m00"), f(&c, "m10"), f(&c, "m01")),
            "{}",
            s(&c, "name")
        );
        // And the mask bounding box agrees with OpenCV's mask.
        let mask = load(s(&c, "output"));
        let mm = moments(&ImageRef { format: ImageFormat::packed(FourCC::GREY, w, h), data: &mask }).unwrap();
        assert_eq!(m, mm);
    }
}

#[test]
fn jpeg_decode_matches_libjpeg_within_tolerance() {
    let mut d = JpegDecoder::new();
    for c in cases("jpeg") {
        let (w, h) = (u(&c, "w"), u(&c, "h"));
        let jpeg = load(s(&c, "input"));
        let want = load(s(&c, "output"));
        let fcc = if c["gray"].as_bool().unwrap() { FourCC::GREY } else { FourCC::RGB24 };
        let mut out = vec![0u8; want.len()];
        d.decode(&jpeg, &mut ImageMut { format: ImageFormat::packed(fcc, w, h), data: &mut out }).unwrap();
        if !s(&c, "name").contains("progressive") {
            // Our baseline decoder (what webcams send) runs libjpeg's IDCT,
            // upsampling and colour arithmetic: bit-exact with OpenCV.
            assert_close(s(&c, "name"), &out, &want, 0);
            eprintln!("{}: all {} exact", s(&c, "name"), out.len());
        } else {
            let (exact, mean) = assert_close(s(&c, "name"), &out, &want, 8);
            eprintln!("{}: {exact}/{} exact, mean abs diff {mean:.3}", s(&c, "name"), out.len());
            assert!(mean <= 1.5, "{}: mean abs diff {mean}", s(&c, "name"));
        }
        // Truncated and bit-flipped frames: an error or a picture, never a
        // panic (`decode_unguarded` lets a panic fail this test).
        for cut in [jpeg.len() / 2, 20, 3] {
            let f = ImageFormat::packed(fcc, w, h);
            let r = d.decode_unguarded(&jpeg[..cut], &mut ImageMut { format: f, data: &mut out });
            // A cut progressive frame still holds a coarser picture (libjpeg
            // decodes it too, with a warning); a cut sequential one is an
            // error, not a half-grey picture.
            if !s(&c, "name").contains("progressive") {
                assert!(r.is_err(), "{}: a frame cut at {cut} bytes decoded", s(&c, "name"));
            }
        }
        let mut bad = jpeg.clone();
        for i in (200..bad.len()).step_by(37) {
            bad[i] ^= 0x5a;
        }
        let _ = d.decode_unguarded(&bad, &mut ImageMut { format: ImageFormat::packed(fcc, w, h), data: &mut out });
    }
}

/// Every comparison above again at each lower SIMD level
/// (`FRAMEWIRE_SIMD=avx2`, `ssse3`, `scalar`), in a child process of this
/// test binary (the level is read once per process): the dispatched copies
/// and fallbacks that this CPU would otherwise never run must match
/// OpenCV too.
#[test]
fn every_simd_level_matches_opencv() {
    if std::env::var_os(framewire::filters::SIMD_ENV).is_some() {
        return; // a child run of this very test
    }
    let exe = std::env::current_exe().unwrap();
    for level in ["avx2", "ssse3", "scalar"] {
        let out = std::process::Command::new(&exe)
            .args(["--skip", "every_simd_level_matches_opencv", "--test-threads", "2"])
            .env(framewire::filters::SIMD_ENV, level)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}={level}: {text}\n{}",
            framewire::filters::SIMD_ENV,
            String::from_utf8_lossy(&out.stderr)
        );
        let passed: usize = text
            .split("test result: ok. ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(passed >= 11, "{level}: only {passed} comparisons ran: {text}");
    }
}

/// The level in force is at most what the CPU has, and says so.
#[test]
fn simd_level_is_reported() {
    let (level, cpu) = (framewire::filters::simd_level(), framewire::filters::detected_simd_level());
    assert!(level <= cpu);
    assert!(framewire::filters::simd_description().starts_with(level.name()));
}
