//! The filter blocks on real wires, in-process: a frame written into an
//! input wire comes out of the block's output wire processed, stamped with
//! the source frame's capture time and sequence.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::Prefix;
use framewire::block::{Block, Context, Setup, Step};
use framewire::image::{FourCC, ImageFormat};
use framewire::msg::{Detection, Message};
use framewire::wire::PayloadType;
use framewire::wire::{self, Expect, Policy, Reader, WireConfig, Writer};

static STOP: AtomicBool = AtomicBool::new(false);

struct Rig {
    prefix: Prefix,
    names: Vec<String>,
}

impl Rig {
    fn new() -> Rig {
        Rig { prefix: Prefix::new(), names: Vec::new() }
    }
    fn wire(&mut self, name: &str, slot: u64, kind: PayloadType) -> String {
        let seg = self.prefix.wire("filters", name);
        let mut cfg = WireConfig::new(slot, 4, 2, Policy::Queue);
        cfg.kind = kind;
        wire::create(&seg, &cfg).unwrap();
        self.names.push(seg.clone());
        seg
    }
    fn block(&self, ty: &str, params: &str, inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> Box<dyn Block> {
        let reg = framewire::registry().unwrap();
        let spec = reg.get(ty).unwrap_or_else(|| panic!("no block type {ty}"));
        let table: toml::Table = toml::from_str(params).unwrap();
        (spec.ports)(&table).map_err(|e| e.message).unwrap();
        let m = |v: &[(&str, &str)]| v.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect::<BTreeMap<_, _>>();
        let mut setup = Setup::new(ty, m(inputs), m(outputs));
        (spec.open)(&table, &mut setup).unwrap_or_else(|e| panic!("{ty}: {e}"))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = wire::unlink(n);
        }
    }
}

fn send_image(w: &mut Writer, format: ImageFormat, data: &[u8], ts: u64) {
    let mut loan = w.loan(Duration::from_secs(5)).unwrap();
    loan.bytes()[..data.len()].copy_from_slice(data);
    loan.meta.len = data.len();
    loan.meta.image = format;
    loan.meta.timestamp_ns = ts;
    loan.commit().unwrap();
}

fn step_until_work(b: &mut dyn Block) {
    let mut cx = Context::new("test", &STOP);
    for _ in 0..50 {
        if b.step(&mut cx).unwrap() == Step::Continue {
            return;
        }
    }
    panic!("block did no work");
}

/// YUYV frame with a bright red square at x 100..140, y 60..100.
fn yuyv_square(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in (0..w).step_by(2) {
            let red = (100..140).contains(&x) && (60..100).contains(&y);
            // BT.601 limited range: grey (Y 110, neutral) or red (81, 90, 240).
            let (yy, u, vv) = if red { (81, 90, 240) } else { (110, 128, 128) };
            v.extend_from_slice(&[yy, u, yy, vv]);
        }
    }
    v
}

#[test]
fn tracker_and_threshold_chain_on_wires() {
    let (w, h) = (320u32, 240u32);
    let mut rig = Rig::new();
    let cam = rig.wire("cam", (w * h * 2) as u64, PayloadType::BYTES);
    let rgb = rig.wire("rgb", (w * h * 3) as u64, PayloadType::BYTES);
    let mask = rig.wire("mask", (w * h) as u64, PayloadType::BYTES);
    let det1 = rig.wire("det1", Detection::SIZE as u64, Detection::TYPE);
    let det2 = rig.wire("det2", Detection::SIZE as u64, Detection::TYPE);

    let red = "lo = [170, 120, 70]\nhi = [10, 255, 255]";
    let mut tracker = rig.block("color_tracker", red, &[("input", &cam)], &[("detection", &det1)]);
    let mut conv = rig.block("convert", "format = \"RGB24\"", &[("input", &cam)], &[("output", &rgb)]);
    let mut thr = rig.block("hsv_threshold", red, &[("input", &rgb)], &[("output", &mask)]);
    let mut blobs = rig.block("blob_detect", "", &[("input", &mask)], &[("detection", &det2)]);
    let mut r1 = Reader::attach(&det1, &Expect::default()).unwrap();
    let mut r2 = Reader::attach(&det2, &Expect::default()).unwrap();

    let mut wr = Writer::attach(&cam, &Expect::default()).unwrap();
    send_image(&mut wr, ImageFormat::packed(FourCC::YUYV, w, h), &yuyv_square(w, h), 123_456);
    step_until_work(tracker.as_mut());
    step_until_work(conv.as_mut());
    step_until_work(thr.as_mut());
    step_until_work(blobs.as_mut());

    for r in [&mut r1, &mut r2] {
        let g = r.read(Duration::from_secs(5)).expect("a detection");
        assert_eq!(g.meta().timestamp_ns, 123_456, "capture time carried through");
        assert_eq!(g.meta().source_seq, 1, "source sequence carried through");
        let d = Detection::decode(&g).unwrap();
        assert!(d.found);
        assert_eq!((d.area, d.cx, d.cy, d.bbox), (1600, 119.5, 79.5, [100, 60, 40, 40]));
        assert_eq!((d.image_width, d.image_height), (w, h));
    }
}

#[test]
fn image_filters_on_wires_and_corrupt_jpeg_is_dropped() {
    let (w, h) = (64u32, 48u32);
    let mut rig = Rig::new();
    let a = rig.wire("a", (w * h * 3) as u64, PayloadType::BYTES);
    let b = rig.wire("b", (w * h * 3) as u64, PayloadType::BYTES);
    let c = rig.wire("c", (w * h * 3) as u64, PayloadType::BYTES);
    let mut blur = rig.block("gaussian_blur", "ksize = 3", &[("input", &a)], &[("output", &b)]);
    let mut small = rig.block("resize", "width = 32\nheight = 24", &[("input", &b)], &[("output", &c)]);
    let mut rc = Reader::attach(&c, &Expect::default()).unwrap();
    let mut wa = Writer::attach(&a, &Expect::default()).unwrap();
    let grey = vec![77u8; (w * h * 3) as usize];
    send_image(&mut wa, ImageFormat::packed(FourCC::RGB24, w, h), &grey, 9);
    step_until_work(blur.as_mut());
    step_until_work(small.as_mut());
    let g = rc.read(Duration::from_secs(5)).unwrap();
    assert_eq!(g.meta().image, ImageFormat::packed(FourCC::RGB24, 32, 24));
    assert!(g.image().data.iter().all(|&v| v == 77));
    drop(g);

    // A corrupt MJPEG frame is dropped (counted), not fatal.
    let j = rig.wire("j", 4096, PayloadType::BYTES);
    let o = rig.wire("o", (w * h * 3) as u64, PayloadType::BYTES);
    let mut dec = rig.block("jpeg_decode", "", &[("input", &j)], &[("output", &o)]);
    let mut wj = Writer::attach(&j, &Expect::default()).unwrap();
    send_image(&mut wj, ImageFormat { width: w, height: h, stride: 0, fourcc: FourCC::MJPEG }, b"\xff\xd8garbage", 1);
    let mut cx = Context::new("test", &STOP);
    assert_eq!(dec.step(&mut cx).unwrap(), Step::Continue);
    // A real JPEG from the reference data decodes.
    let jpeg =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/filters/jpeg_q90_420_nodht.jpg")).unwrap();
    send_image(&mut wj, ImageFormat { width: w, height: h, stride: 0, fourcc: FourCC::MJPEG }, &jpeg, 2);
    let mut ro = Reader::attach(&o, &Expect::default()).unwrap();
    step_until_work(dec.as_mut());
    let g = ro.read(Duration::from_secs(5)).expect("decoded frame");
    assert_eq!(g.meta().image, ImageFormat::packed(FourCC::RGB24, w, h));
    assert_eq!(g.meta().timestamp_ns, 2);
    drop(g);

    // A damaged header claiming a larger frame than the wire carries
    // (here 4x the size: 128x96 in a 64x48 stream whose output slots hold
    // 64x48) is a corrupt frame: dropped, and the block goes on.
    let mut big = jpeg.clone();
    let sof = big.windows(2).position(|p| p == [0xFF, 0xC0]).expect("SOF0");
    big[sof + 5..sof + 9].copy_from_slice(&[0, 96, 0, 128]);
    send_image(&mut wj, ImageFormat { width: w, height: h, stride: 0, fourcc: FourCC::MJPEG }, &big, 3);
    assert_eq!(dec.step(&mut cx).unwrap(), Step::Continue, "the frame is dropped, not fatal");
    // The same header on a wire that declares no size: still dropped, as
    // it does not fit the output slots.
    send_image(&mut wj, ImageFormat { width: 0, height: 0, stride: 0, fourcc: FourCC::MJPEG }, &big, 4);
    assert_eq!(dec.step(&mut cx).unwrap(), Step::Continue, "the frame is dropped, not fatal");
    send_image(&mut wj, ImageFormat { width: w, height: h, stride: 0, fourcc: FourCC::MJPEG }, &jpeg, 5);
    step_until_work(dec.as_mut());
    let g = ro.read(Duration::from_secs(5)).expect("the next good frame decodes");
    assert_eq!(g.meta().timestamp_ns, 5);
}

/// `framewire check` accepts a pipeline using every filter block and names
/// the offending key of a bad one.
#[test]
fn check_validates_filter_pipelines() {
    let dir = std::env::temp_dir().join(format!("framewire-filters-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = r#"
[pipeline]
name = "filters_check"
connect = [
  "cam.frames -> rgb.input",
  "rgb.output -> blur.input",
  "blur.output -> small.input",
  "small.output -> turned.input",
  "turned.output -> roi.input",
  "roi.output -> sink.input",
  "rgb.output -> mask.input",
  "mask.output -> clean.input",
  "clean.output -> blobs.input",
  "cam.frames -> tracker.input",
]

[[block]]
name = "cam"
type = "test_pattern"
format = "YUYV"

[[block]]
name = "rgb"
type = "convert"
format = "RGB24"

[[block]]
name = "blur"
type = "gaussian_blur"
ksize = 3

[[block]]
name = "small"
type = "resize"
width = 320
height = 240
interp = "bilinear"

[[block]]
name = "turned"
type = "flip"
mode = "horizontal"

[[block]]
name = "roi"
type = "crop"
x = 10
y = 10
width = 100
height = 80

[[block]]
name = "sink"
type = "frame_sink"

[[block]]
name = "mask"
type = "hsv_threshold"
lo = [170, 120, 70]
hi = [10, 255, 255]

[[block]]
name = "clean"
type = "morphology"
op = "close"
ksize = 5

[[block]]
name = "blobs"
type = "blob_detect"

[[block]]
name = "tracker"
type = "color_tracker"
lo = [35, 80, 40]
hi = [85, 255, 255]
"#;
    let path = dir.join("good.toml");
    std::fs::write(&path, good).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_framewire")).arg("check").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = good.replace("ksize = 3", "ksize = 4");
    let path = dir.join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_framewire")).arg("check").arg(&path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(text.contains("ksize 4"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `framewire check` compares a crop's region with the size the producer
/// declares, but a camera may deliver another size: the block checks every
/// frame too, and a frame that does not hold the region stops it with the
/// reason (no slot is committed).
#[test]
fn crop_refuses_at_run_time_a_frame_smaller_than_its_region() {
    let mut rig = Rig::new();
    let a = rig.wire("crop_in", 64 * 48, PayloadType::BYTES);
    let b = rig.wire("crop_out", 40 * 10, PayloadType::BYTES);
    let mut crop = rig.block("crop", "x = 20\nwidth = 40\nheight = 10", &[("input", &a)], &[("output", &b)]);
    let mut out = Reader::attach(&b, &Expect::default()).unwrap();
    let mut wr = Writer::attach(&a, &Expect::default()).unwrap();
    // A frame that holds the region passes.
    send_image(&mut wr, ImageFormat::packed(FourCC::GREY, 64, 48), &[7; 64 * 48], 1);
    step_until_work(crop.as_mut());
    let g = out.read(Duration::from_secs(5)).expect("the cropped frame");
    assert_eq!((g.meta().image.width, g.meta().image.height), (40, 10));
    drop(g);
    // A narrower one (48 < 20 + 40) stops the block.
    send_image(&mut wr, ImageFormat::packed(FourCC::GREY, 48, 48), &[7; 48 * 48], 2);
    let mut cx = Context::new("test", &STOP);
    let mut err = String::new();
    for _ in 0..50 {
        match crop.step(&mut cx) {
            Ok(Step::Idle) => continue,
            Ok(s) => panic!("the block went on: {s:?}"),
            Err(e) => {
                err = e.to_string();
                break;
            }
        }
    }
    assert!(err.contains("is outside the 48x48 image"), "{err}");
    assert!(out.read(Duration::from_millis(50)).is_none(), "nothing committed");
}
