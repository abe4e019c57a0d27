//! Edge cases against OpenCV references made by
//! `tests/opencv/make_edge_refs.py` (data in `tests/data/filters/edge/`):
//! images a few pixels wide, `INTER_AREA` when enlarging, and the rare
//! kinds of JPEG, which are either decoded like OpenCV or refused, never
//! returned wrong.

use framewire::filters::FilterError;
use framewire::filters::blur::{GaussianBlur, Ksize};
use framewire::filters::jpeg::JpegDecoder;
use framewire::filters::resize::{Interp, Resizer};
use framewire::image::{FourCC, ImageFormat, ImageMut, ImageRef};

fn load(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/filters/edge/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Gaussian blur of every size from 1x1 to 8x8 (reflect-101 borders on
/// sides of 1 and 2 pixels reflect more than once), GREY and RGB, 3x3 and
/// 5x5: exactly OpenCV's.
#[test]
fn blur_of_tiny_images_matches_opencv() {
    let src = load("blur_tiny_in.raw");
    let want = load("blur_tiny_out.raw");
    let mut at = 0;
    let mut b = GaussianBlur::new();
    for k in [Ksize::K3, Ksize::K5] {
        for c in [1usize, 3] {
            for h in 1..=8usize {
                for w in 1..=8usize {
                    let img: Vec<u8> = (0..h)
                        .flat_map(|y| (0..w).flat_map(move |x| (0..c).map(move |ch| (y, x, ch))))
                        .map(|(y, x, ch)| src[(y * 8 + x) * 3 + ch])
                        .collect();
                    let fcc = if c == 1 { FourCC::GREY } else { FourCC::RGB24 };
                    let f = ImageFormat::packed(fcc, w as u32, h as u32);
                    let mut out = vec![0u8; img.len()];
                    b.apply(&ImageRef { format: f, data: &img }, &mut ImageMut { format: f, data: &mut out }, k)
                        .unwrap();
                    let exp = &want[at..at + img.len()];
                    at += img.len();
                    assert_eq!(out, exp, "{k:?}, {c} channel(s), {w}x{h}");
                }
            }
        }
    }
    assert_eq!(at, want.len());
}

/// JPEG 4:2:0 and 4:2:2 at every size from 1x1 to 9x9 decode exactly as
/// OpenCV decodes them, to RGB and to GREY (libjpeg replicates chroma
/// instead of its fancy upsampling when a chroma row has 1 or 2 samples).
#[test]
fn jpeg_of_tiny_frames_matches_opencv() {
    let all = load("jpeg_tiny.bin");
    let lens: Vec<usize> =
        String::from_utf8(load("jpeg_tiny.lens")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    let (rgb, gray) = (load("jpeg_tiny_rgb.raw"), load("jpeg_tiny_gray.raw"));
    let (mut at, mut ra, mut ga) = (0, 0, 0);
    let mut d = JpegDecoder::new();
    let mut i = 0;
    for sampling in ["4:2:0", "4:2:2"] {
        for h in 1..=9u32 {
            for w in 1..=9u32 {
                let j = &all[at..at + lens[i]];
                at += lens[i];
                i += 1;
                let n = (w * h) as usize;
                let mut out = vec![0u8; 3 * n];
                let f = ImageFormat::packed(FourCC::RGB24, w, h);
                d.decode_unguarded(j, &mut ImageMut { format: f, data: &mut out }).unwrap();
                assert_eq!(out, &rgb[ra..ra + 3 * n], "{sampling} {w}x{h} RGB");
                ra += 3 * n;
                let f = ImageFormat::packed(FourCC::GREY, w, h);
                d.decode_unguarded(j, &mut ImageMut { format: f, data: &mut out[..n] }).unwrap();
                assert_eq!(&out[..n], &gray[ga..ga + n], "{sampling} {w}x{h} GREY");
                ga += n;
            }
        }
    }
    assert_eq!((at, ra, ga), (all.len(), rgb.len(), gray.len()));
}

fn decode(name: &str, fcc: FourCC) -> (Result<(), FilterError>, Vec<u8>) {
    let f = ImageFormat::packed(fcc, 48, 32);
    let mut out = vec![0u8; f.byte_len()];
    let r = JpegDecoder::new().decode_unguarded(&load(name), &mut ImageMut { format: f, data: &mut out });
    (r, out)
}

/// A sequential JPEG with one scan per component (`cjpeg -scans`), which
/// OpenCV decodes, is refused with a reason: the general decoder would
/// return a wrong picture as a success.
#[test]
fn jpeg_with_one_scan_per_component_is_refused_not_decoded_wrong() {
    for fcc in [FourCC::RGB24, FourCC::GREY] {
        let (r, _) = decode("scans.jpg", fcc);
        assert!(matches!(&r, Err(FilterError::Unsupported(m)) if m.contains("scans")), "{fcc}: {r:?}");
    }
    assert_eq!(load("scans_rgb.raw").len(), 48 * 32 * 3, "OpenCV decodes it");
}

/// Arithmetic-coded JPEGs are refused, naming the coding.
#[test]
fn arithmetic_coded_jpeg_is_refused() {
    for fcc in [FourCC::RGB24, FourCC::GREY] {
        let (r, _) = decode("arith.jpg", fcc);
        assert!(matches!(&r, Err(FilterError::Unsupported(m)) if m.contains("arithmetic")), "{fcc}: {r:?}");
    }
}

/// An RGB-coded JPEG (`cjpeg -rgb`) decodes to RGB24 like OpenCV (through
/// the general decoder: within 8 per sample), and GREY output from it is
/// refused with the way round it.
#[test]
fn rgb_coded_jpeg_decodes_to_rgb_and_refuses_grey() {
    let (r, out) = decode("rgb.jpg", FourCC::RGB24);
    r.unwrap();
    let want = load("rgb_rgb.raw");
    let worst = out.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 8, "RGB-coded JPEG differs from OpenCV by up to {worst}");
    let (r, _) = decode("rgb.jpg", FourCC::GREY);
    assert!(matches!(&r, Err(FilterError::Unsupported(m)) if m.contains("RGB24")), "{r:?}");
}

/// `interp = "area"` when enlarging (or shrinking one axis only) follows
/// OpenCV's `INTER_AREA`, which is not bilinear there: at 2x it repeats
/// pixels. Exact on these cases.
#[test]
fn area_resize_when_enlarging_matches_opencv() {
    let mut r = Resizer::new();
    for ((sw, sh), (dw, dh)) in
        [((3u32, 2u32), (6u32, 4u32)), ((17, 13), (40, 29)), ((40, 29), (17, 58)), ((20, 10), (60, 7))]
    {
        let rgb = load(&format!("resize_area_up_{sw}x{sh}_rgb.raw"));
        let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
        for (fcc, src, tag) in [(FourCC::RGB24, &rgb, "rgb"), (FourCC::GREY, &grey, "gray")] {
            let want = load(&format!("resize_area_up_{sw}x{sh}_to_{dw}x{dh}_{tag}.raw"));
            let mut out = vec![0u8; want.len()];
            r.resize(
                &ImageRef { format: ImageFormat::packed(fcc, sw, sh), data: src },
                &mut ImageMut { format: ImageFormat::packed(fcc, dw, dh), data: &mut out },
                Interp::Area,
            )
            .unwrap();
            assert_eq!(out, want, "{sw}x{sh} -> {dw}x{dh} {tag}");
        }
    }
}
