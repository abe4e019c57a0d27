//! Camera tests against the kernel's virtual camera driver, `vivid`.
//!
//! They need a vivid capture node. No machine here has one, so
//! `tests/vm/run.sh` builds this file as a static binary and runs it inside
//! a QEMU guest that loads vivid; on a host without vivid every test prints
//! SKIPPED and passes. Run them one at a time (`--test-threads=1`): they
//! share the device.

use std::path::PathBuf;
use std::time::Duration;

use framewire::bench::camera::bench_camera;
use framewire::camera::{
    CameraError, Capture, CapturePath, Device, FormatRequest, IoMode, PageRegion, Recovery, UserBuf, list_devices,
};
use framewire::image::FourCC;

/// The first vivid video capture node, or `None` (after saying why).
fn vivid(test: &str) -> Option<PathBuf> {
    let found =
        list_devices().into_iter().find(|d| d.caps.driver == "vivid" && d.caps.is_video_capture()).map(|d| d.node);
    if found.is_none() {
        // On the host these run inside the VM instead (tests/vm.rs).
        framewire::sys::testing::skip(
            test,
            "vivid",
            "no vivid capture device here (tests/vm.rs runs these tests in a VM)",
        );
    }
    found
}

fn init_log() {
    let _ = tracing_subscriber::fmt().with_ansi(false).with_writer(std::io::stderr).try_init();
}

fn req(fourcc: FourCC, width: u32, height: u32) -> FormatRequest {
    FormatRequest { fourcc, width, height, fps: Some(25.0) }
}

/// Captures `n` frames by USERPTR into page-aligned anonymous memory and
/// checks what a wire slot's metadata would carry.
fn capture_userptr(dev: &PathBuf, fourcc: FourCC, width: u32, height: u32, n: usize) {
    let mut cap = Capture::open(dev, &req(fourcc, width, height), IoMode::Auto, 4, Recovery::default()).unwrap();
    assert_eq!(cap.path(), CapturePath::UserPtr, "vivid supports USERPTR: Auto must choose it");
    let neg = *cap.negotiated();
    assert_eq!(neg.format.fourcc, fourcc);
    assert_eq!((neg.format.width, neg.format.height), (width, height));
    assert_eq!(Some(neg.format.stride), fourcc.min_stride(width), "stride");
    assert_eq!(neg.sizeimage as usize, neg.format.byte_len(), "sizeimage");
    let len = cap.frame_len();
    let slots = cap.buffer_count() as usize;
    let page = framewire::sys::v4l2::page_size();
    let mut region = PageRegion::new(slots * len.next_multiple_of(page)).unwrap();
    let base = region.slots(1, 1).unwrap().remove(0).as_ptr() as usize;
    let end = base + region.len();
    for s in region.slots(slots, len).unwrap() {
        cap.queue(s).unwrap();
    }
    let mut last: Option<(u32, u64)> = None;
    for _ in 0..n {
        let (buf, info) = cap.dequeue().unwrap();
        let p = buf.as_ptr() as usize;
        assert!(p >= base && p < end && p.is_multiple_of(page), "the frame is in our page-aligned memory");
        assert_eq!(info.format, neg.format);
        assert_eq!(info.bytesused, len, "bytesused");
        assert!(info.monotonic, "vivid timestamps are CLOCK_MONOTONIC");
        assert!(buf.as_slice()[..info.bytesused].iter().any(|&b| b != 0), "the driver wrote the frame");
        if let Some((seq, ts)) = last {
            assert!(info.sequence > seq, "sequence {} after {seq}", info.sequence);
            assert!(info.timestamp_ns > ts, "timestamp {} after {ts}", info.timestamp_ns);
        }
        last = Some((info.sequence, info.timestamp_ns));
        cap.queue(buf).unwrap();
    }
    let back = cap.stop();
    assert_eq!(back.len(), slots, "stop() hands back every buffer");
    eprintln!("captured {n} frames {fourcc} {width}x{height} by USERPTR, last {last:?}");
}

#[test]
fn userptr_capture_yuyv_and_rgb24_at_two_sizes() {
    init_log();
    let Some(dev) = vivid("userptr_capture_yuyv_and_rgb24_at_two_sizes") else { return };
    for (f, w, h) in
        [(FourCC::YUYV, 640, 480), (FourCC::YUYV, 1280, 720), (FourCC::RGB24, 640, 480), (FourCC::RGB24, 1280, 720)]
    {
        capture_userptr(&dev, f, w, h, 6);
    }
}

#[test]
fn userptr_capture_grey_and_nv12() {
    init_log();
    let Some(dev) = vivid("userptr_capture_grey_and_nv12") else { return };
    capture_userptr(&dev, FourCC::GREY, 640, 480, 4);
    capture_userptr(&dev, FourCC::NV12, 640, 480, 4);
}

#[test]
fn mmap_fallback_copies_into_the_callers_buffer() {
    init_log();
    let Some(dev) = vivid("mmap_fallback_copies_into_the_callers_buffer") else { return };
    let mut cap = Capture::open(&dev, &req(FourCC::YUYV, 640, 480), IoMode::Mmap, 4, Recovery::default()).unwrap();
    assert_eq!(cap.path(), CapturePath::MmapCopy);
    let mut dst = vec![0u8; cap.frame_len()];
    let mut last = None;
    for _ in 0..4 {
        let info = cap.read_into(&mut dst).unwrap();
        assert_eq!(info.bytesused, dst.len());
        assert!(dst.iter().any(|&b| b != 0));
        if let Some(s) = last {
            assert!(info.sequence > s);
        }
        last = Some(info.sequence);
    }
    let err = cap.dequeue().unwrap_err().to_string();
    assert!(err.contains("MMAP"), "{err}");
}

#[test]
fn devices_are_listed_with_formats_sizes_and_intervals_and_open_by_symlink() {
    init_log();
    let Some(dev) = vivid("devices_are_listed") else { return };
    let all = list_devices();
    for d in &all {
        let f = d.formats.len();
        eprintln!(
            "{}: {} (driver {}, bus {}), {f} capture formats",
            d.node.display(),
            d.caps.card,
            d.caps.driver,
            d.caps.bus
        );
    }
    let info = all.iter().find(|d| d.node == dev).unwrap();
    assert!(info.caps.names().contains(&"video-capture"));
    assert!(info.caps.bus.starts_with("platform:vivid"), "{}", info.caps.bus);
    for f in [FourCC::YUYV, FourCC::NV12, FourCC::GREY, FourCC::RGB24, FourCC::BGR24] {
        let fi = info.formats.iter().find(|x| x.fourcc == f).unwrap_or_else(|| panic!("vivid offers {f}"));
        assert!(!fi.sizes.is_empty(), "{f} has sizes");
        assert!(fi.sizes.iter().any(|s| !s.intervals.is_empty()), "{f} has intervals");
    }
    let link = std::env::temp_dir().join("framewire-cam-link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&dev, &link).unwrap();
    let d = Device::open_capture(&link).unwrap();
    assert_eq!(d.node(), dev.as_path());
    assert_eq!(d.path(), link.as_path());
    let _ = std::fs::remove_file(&link);
}

#[test]
fn controls_set_read_back_and_range_errors() {
    init_log();
    let Some(dev) = vivid("controls_set_read_back_and_range_errors") else { return };
    let d = Device::open_capture(&dev).unwrap();
    for c in d.controls().unwrap() {
        eprintln!("control {c}");
    }
    let info = d.set_control("Brightness", 200).unwrap();
    assert_eq!((info.min, info.max), (0, 255));
    assert_eq!(d.get_control("brightness").unwrap(), 200);
    d.set_control("contrast", 100).unwrap();
    assert_eq!(d.get_control("Contrast").unwrap(), 100);
    let e = d.set_control("brightness", 1000).unwrap_err();
    assert!(matches!(e, CameraError::ControlRange { .. }), "{e}");
    assert!(e.to_string().contains("0..=255"), "{e}");
    let e = d.set_control("warp_drive", 1).unwrap_err().to_string();
    assert!(e.contains("warp_drive") && e.contains("brightness"), "{e}");
    d.set_control("brightness", 128).unwrap();
}

#[test]
fn a_format_vivid_lacks_is_refused_listing_what_it_offers() {
    init_log();
    let Some(dev) = vivid("a_format_vivid_lacks_is_refused") else { return };
    let e = Capture::open(&dev, &req(FourCC::MJPEG, 640, 480), IoMode::Auto, 4, Recovery::default()).unwrap_err();
    let msg = e.to_string();
    eprintln!("{msg}");
    match e {
        CameraError::FormatUnavailable { requested, offered, .. } => {
            assert_eq!(requested, FourCC::MJPEG);
            assert!(offered.contains(&FourCC::YUYV) && offered.contains(&FourCC::NV12));
        }
        other => panic!("expected FormatUnavailable, got {other}"),
    }
    assert!(msg.contains("MJPG") && msg.contains("YUYV") && msg.contains(dev.to_str().unwrap()), "{msg}");
}

/// Presses a vivid error-injection button (by key fragment).
fn press(cap: &Capture, fragment: &str) {
    let d = cap.device().unwrap();
    let c = d
        .controls()
        .unwrap()
        .into_iter()
        .find(|c| c.key.contains(fragment))
        .unwrap_or_else(|| panic!("vivid has a control matching {fragment}"));
    d.set_control_id(c.id, c.kind, 1).unwrap();
}

fn userptr_capture(dev: &PathBuf, policy: Recovery) -> (Capture, PageRegion) {
    let cap = Capture::open(dev, &req(FourCC::YUYV, 640, 480), IoMode::UserPtr, 4, policy).unwrap();
    let len = cap.frame_len();
    let region = PageRegion::new(4 * len.next_multiple_of(framewire::sys::v4l2::page_size())).unwrap();
    (cap, region)
}

fn queue_all(cap: &mut Capture, region: &mut PageRegion) {
    let (n, len) = (cap.buffer_count() as usize, cap.frame_len());
    for s in region.slots(n, len).unwrap() {
        cap.queue(s).unwrap();
    }
}

fn frames(cap: &mut Capture, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let (b, i): (UserBuf, _) = cap.dequeue().unwrap();
            cap.queue(b).unwrap();
            i.sequence
        })
        .collect()
}

#[test]
fn corrupt_frames_are_dropped_and_fatal_stream_errors_restart_the_stream() {
    init_log();
    let Some(dev) = vivid("corrupt_frames_are_dropped_and_fatal_stream_errors_restart_the_stream") else { return };
    let (mut region_cap, mut region) = userptr_capture(&dev, Recovery::default());
    let cap = &mut region_cap;
    queue_all(cap, &mut region);
    frames(cap, 2);
    press(cap, "buf_flag_error");
    frames(cap, 4);
    assert!(cap.stats().error_frames >= 1, "{:?}", cap.stats());
    press(cap, "fatal_streaming_error");
    frames(cap, 3);
    assert!(cap.stats().restarts >= 1, "{:?}", cap.stats());
    eprintln!("stats after error injection: {:?}", cap.stats());
    drop(region_cap);
}

#[test]
fn a_disconnected_device_is_reopened_when_it_comes_back() {
    init_log();
    let Some(dev) = vivid("a_disconnected_device_is_reopened_when_it_comes_back") else { return };
    // vivid's "Disconnect" makes every request fail with ENODEV, like an
    // unplugged USB camera, until the last open handle is closed; then the
    // device is back. The capture must notice, close, reopen, renegotiate
    // and resume.
    let policy = Recovery { give_up_after: Some(Duration::from_secs(30)), ..Recovery::default() };
    let (mut cap, mut region) = userptr_capture(&dev, policy);
    queue_all(&mut cap, &mut region);
    frames(&mut cap, 2);
    press(&cap, "disconnect");
    let seqs = frames(&mut cap, 3);
    assert_eq!(cap.stats().reconnects, 1, "{:?}", cap.stats());
    assert_eq!(cap.path(), CapturePath::UserPtr);
    eprintln!("frames after reconnect: {seqs:?}; {:?}", cap.stats());
}

#[test]
fn a_vanished_node_is_waited_for_with_backoff_until_it_reappears() {
    init_log();
    let Some(dev) = vivid("a_vanished_node_is_waited_for_with_backoff_until_it_reappears") else { return };
    let module = std::path::Path::new("/modules/vivid.ko");
    if !module.exists() {
        framewire::sys::testing::skip(
            "a_vanished_node_is_waited_for_with_backoff_until_it_reappears",
            "vivid",
            "needs the VM (reloads vivid)",
        );
        return;
    }
    // The first reopen attempt comes 1 s after the loss: time for the test
    // to unload vivid (the node disappears) and load it again 2 s later.
    let policy = Recovery {
        give_up_after: Some(Duration::from_secs(60)),
        backoff_min: Duration::from_secs(1),
        backoff_max: Duration::from_secs(2),
        ..Recovery::default()
    };
    let (mut cap, mut region) = userptr_capture(&dev, policy);
    queue_all(&mut cap, &mut region);
    frames(&mut cap, 2);
    press(&cap, "disconnect");
    let node = dev.clone();
    let replug = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while !std::process::Command::new("rmmod").arg("vivid").status().is_ok_and(|s| s.success()) {
            assert!(t.elapsed() < Duration::from_secs(20), "rmmod vivid kept failing");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        let gone = !node.exists();
        std::thread::sleep(Duration::from_secs(2));
        assert!(std::process::Command::new("insmod").arg("/modules/vivid.ko").status().unwrap().success());
        gone
    });
    let seqs = frames(&mut cap, 3);
    assert!(replug.join().unwrap(), "the node disappeared while vivid was unloaded");
    let st = cap.stats();
    assert_eq!(st.reconnects, 1, "{st:?}");
    eprintln!("frames after the node came back: {seqs:?}; {st:?}");
}

#[test]
fn zz_bench_userptr_against_mmap_copy() {
    init_log();
    let Some(dev) = vivid("zz_bench_userptr_against_mmap_copy") else { return };
    let frames = std::env::var("FRAMEWIRE_BENCH_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let results = bench_camera(&dev, frames).unwrap();
    for r in &results {
        println!("BENCH {r}");
    }
    for pair in results.chunks(2) {
        let (u, m) = (&pair[0], &pair[1]);
        assert_eq!((u.path, m.path), (CapturePath::UserPtr, CapturePath::MmapCopy));
        println!(
            "BENCH {}x{} MMAP+copy / USERPTR CPU per frame = {:.2}",
            u.width,
            u.height,
            m.cpu_per_frame.as_secs_f64() / u.cpu_per_frame.as_secs_f64().max(1e-9)
        );
    }
}

#[test]
fn a_stream_without_frames_is_restarted() {
    init_log();
    let Some(dev) = vivid("a_stream_without_frames_is_restarted") else { return };
    // One frame a second against a 150 ms frame timeout. vivid delivers a
    // frame as soon as streaming starts, then one a second: the second wait
    // times out, the stream is restarted, and its first frame comes at once.
    let slow = FormatRequest { fps: Some(1.0), ..req(FourCC::YUYV, 640, 480) };
    let policy = Recovery { frame_timeout: Duration::from_millis(150), max_restarts: 2, ..Recovery::default() };
    let mut cap = Capture::open(&dev, &slow, IoMode::UserPtr, 4, policy).unwrap();
    let fps = cap.negotiated().fps().unwrap();
    assert!(fps <= 2.0, "vivid granted {fps} fps");
    let mut region = PageRegion::new(4 * cap.frame_len().next_multiple_of(framewire::sys::v4l2::page_size())).unwrap();
    queue_all(&mut cap, &mut region);
    let seqs = frames(&mut cap, 2);
    assert!(cap.stats().restarts >= 1, "{:?}", cap.stats());
    // vivid counts from 0 again after a restart: the restart, not the next
    // 1 s tick, brought the second frame.
    assert_eq!(seqs, [0, 0], "{:?}", cap.stats());
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The camera block writing into a real wire, read back by a wire reader.
fn block_into_wire(dev: &std::path::Path, io: &str, fourcc: FourCC, width: u32, height: u32) -> CapturePath {
    use framewire::block::{BlockType, Context, Setup, Step};
    use framewire::camera::CameraBlock;
    use framewire::wire::{self, Expect, Policy, Reader, WireConfig};

    let cfg: framewire::camera::CameraConfig = toml::from_str(&format!(
        "device = {:?}\nformat = \"{fourcc}\"\nwidth = {width}\nheight = {height}\nfps = 25\nio = \"{io}\"\n",
        dev.display().to_string()
    ))
    .unwrap();
    let ports = CameraBlock::ports(&cfg).unwrap();
    let slot_size = ports.outputs[0].ty.slot_size().unwrap();
    let slots = WireConfig::min_slots(Policy::Latest, 1) + ports.extra_loans;
    let prefix = format!("fwcamtest{}", std::process::id());
    let seg = wire::segment_name(&prefix, "p", "camera.frames").unwrap();
    wire::create(&seg, &WireConfig::new(slot_size, slots, 1, Policy::Latest)).unwrap();
    let mut setup = Setup::new("camera", Default::default(), [("frames".to_string(), seg.clone())].into());
    let mut block = CameraBlock::open(cfg, &mut setup).unwrap();
    let path = block.path().unwrap();
    let mut reader = Reader::attach(&seg, &Expect::default()).unwrap();
    let mut cx = Context::new("camera", &STOP);
    let expect_stride = fourcc.min_stride(width).unwrap();
    let mut last: Option<(u64, u64, u64)> = None;
    let mut got = 0;
    let t = std::time::Instant::now();
    while got < 5 {
        assert!(t.elapsed() < Duration::from_secs(30), "no frames through the wire");
        if block.step(&mut cx).unwrap() != Step::Continue {
            continue;
        }
        let Some(g) = reader.try_read() else { continue };
        let m = *g.meta();
        assert_eq!(
            (m.image.fourcc, m.image.width, m.image.height, m.image.stride),
            (fourcc, width, height, expect_stride)
        );
        assert_eq!(m.len, m.image.byte_len(), "len is the driver's bytesused");
        assert!(g.iter().any(|&b| b != 0), "the driver's pixels are in the slot");
        if let Some((seq, src, ts)) = last {
            assert!(m.seq > seq && m.source_seq > src && m.timestamp_ns > ts, "{m:?} after {last:?}");
        }
        last = Some((m.seq, m.source_seq, m.timestamp_ns));
        got += 1;
    }
    block.stop(&mut cx).unwrap();
    drop(reader);
    drop(block);
    wire::unlink(&seg).unwrap();
    eprintln!("camera block: {fourcc} {width}x{height} via {path}, last {last:?}");
    path
}

#[test]
fn camera_block_captures_into_a_wire_by_userptr_at_two_sizes_and_formats() {
    init_log();
    let Some(dev) = vivid("camera_block_captures_into_a_wire") else { return };
    if !std::path::Path::new("/dev/shm").is_dir() {
        framewire::sys::testing::skip("camera_block_captures_into_a_wire", "vivid", "no /dev/shm");
        return;
    }
    for (f, w, h) in [(FourCC::YUYV, 640, 480), (FourCC::NV12, 1280, 720), (FourCC::RGB24, 640, 480)] {
        assert_eq!(block_into_wire(&dev, "auto", f, w, h), CapturePath::UserPtr);
    }
    assert_eq!(block_into_wire(&dev, "mmap", FourCC::YUYV, 640, 480), CapturePath::MmapCopy);
}

/// JPEG-framed test frames (SOI, JFIF APP0, a distinct payload, EOI) of
/// different lengths: a loopback device must return them byte for byte.
fn known_jpegs() -> Vec<Vec<u8>> {
    (0..4u32)
        .map(|i| {
            let mut f = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
            f.extend((0..(5000 + 1237 * i)).map(|k| (k.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8));
            f.extend([0xFF, 0xD9]);
            f
        })
        .collect()
}

/// A thread feeding `frames` (in rotation, every 20 ms) to the output side
/// of a v4l2loopback node as MJPEG 640x480, after writing the first one.
struct LoopbackWriter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackWriter {
    fn start(node: &std::path::Path, frames: Vec<Vec<u8>>) -> LoopbackWriter {
        use framewire::sys::v4l2 as sys;
        use std::io::Write as _;
        use std::os::fd::AsFd;
        let mut out = std::fs::OpenOptions::new().read(true).write(true).open(node).unwrap();
        let mut f = sys::v4l2_format { type_: 2, ..Default::default() }; // V4L2_BUF_TYPE_VIDEO_OUTPUT
        f.set_pix(sys::v4l2_pix_format {
            width: 640,
            height: 480,
            pixelformat: FourCC::MJPEG.0,
            field: sys::FIELD_NONE,
            sizeimage: 640 * 480 * 2,
            ..Default::default()
        });
        sys::s_fmt(out.as_fd(), &mut f).unwrap();
        assert_eq!(out.write(&frames[0]).unwrap(), frames[0].len());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 1;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let fr = &frames[i % frames.len()];
                assert_eq!(out.write(fr).unwrap(), fr.len());
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        LoopbackWriter { stop, thread: Some(thread) }
    }
}

impl Drop for LoopbackWriter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn loopback(test: &str) -> Option<PathBuf> {
    let found = list_devices().into_iter().find(|d| d.caps.driver.contains("loopback")).map(|d| d.node);
    if found.is_none() {
        framewire::sys::testing::skip(
            test,
            "vivid",
            "no v4l2loopback device (tests/vm/run.sh loads one if it could build it)",
        );
    }
    found
}

#[test]
fn mjpeg_through_v4l2loopback_comes_back_byte_for_byte() {
    init_log();
    let Some(node) = loopback("mjpeg_through_v4l2loopback_comes_back_byte_for_byte") else { return };
    let frames = known_jpegs();
    let writer = LoopbackWriter::start(&node, frames.clone());
    // v4l2loopback has no USERPTR, so Auto must fall back to MMAP + one copy.
    let r = FormatRequest { fourcc: FourCC::MJPEG, width: 640, height: 480, fps: None };
    let mut cap = Capture::open(&node, &r, IoMode::Auto, 4, Recovery::default()).unwrap();
    assert_eq!(cap.path(), CapturePath::MmapCopy);
    assert_eq!(cap.negotiated().format.fourcc, FourCC::MJPEG);
    let mut dst = vec![0u8; cap.frame_len()];
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..12 {
        let info = cap.read_into(&mut dst).unwrap();
        let got = &dst[..info.bytesused];
        // v4l2loopback 0.12's REQBUFS resets every buffer's bytesused to
        // sizeimage, so what was written before the capture started comes
        // back padded: only those first frames may be of that length.
        if n < 3 && info.bytesused == cap.frame_len() {
            continue;
        }
        let which = frames.iter().position(|f| f.as_slice() == got);
        assert!(which.is_some(), "captured {} bytes that match no written frame", got.len());
        seen.insert(which.unwrap());
    }
    drop(writer);
    assert!(seen.len() >= 3, "saw frames {seen:?}");
    eprintln!("MJPEG via {}: frames {seen:?} came back byte for byte", node.display());
}

#[test]
fn mjpeg_through_the_camera_block_into_a_wire_byte_for_byte() {
    use framewire::block::{BlockType, Context, Setup, Step};
    use framewire::camera::CameraBlock;
    use framewire::wire::{self, Expect, Policy, Reader, WireConfig};
    init_log();
    let Some(node) = loopback("mjpeg_through_the_camera_block_into_a_wire_byte_for_byte") else { return };
    let frames = known_jpegs();
    let _writer = LoopbackWriter::start(&node, frames.clone());
    let cfg: framewire::camera::CameraConfig = toml::from_str(&format!(
        "device = {:?}\nformat = \"MJPEG\"\nwidth = 640\nheight = 480\n",
        node.display().to_string()
    ))
    .unwrap();
    let ports = CameraBlock::ports(&cfg).unwrap();
    let seg = wire::segment_name(&format!("fwmjpg{}", std::process::id()), "p", "camera.frames").unwrap();
    let slots = WireConfig::min_slots(Policy::Latest, 1) + ports.extra_loans;
    wire::create(&seg, &WireConfig::new(ports.outputs[0].ty.slot_size().unwrap(), slots, 1, Policy::Latest)).unwrap();
    let mut setup = Setup::new("camera", Default::default(), [("frames".to_string(), seg.clone())].into());
    let mut block = CameraBlock::open(cfg, &mut setup).unwrap();
    assert_eq!(block.path(), Some(CapturePath::MmapCopy));
    let mut reader = Reader::attach(&seg, &Expect::default()).unwrap();
    let mut cx = Context::new("camera", &STOP);
    let mut seen = std::collections::BTreeSet::new();
    let (mut n, t) = (0, std::time::Instant::now());
    while n < 12 {
        assert!(t.elapsed() < Duration::from_secs(30), "no MJPEG frames through the wire");
        if block.step(&mut cx).unwrap() != Step::Continue {
            continue;
        }
        let Some(g) = reader.try_read() else { continue };
        n += 1;
        assert_eq!(g.meta().image.fourcc, FourCC::MJPEG);
        if n <= 3 && g.len() == 640 * 480 * 2 {
            continue; // written before the capture started (see above)
        }
        let which = frames.iter().position(|f| f.as_slice() == &g[..]);
        assert!(which.is_some(), "a {}-byte slot matches no written frame", g.len());
        seen.insert(which.unwrap());
    }
    block.stop(&mut cx).unwrap();
    drop((reader, block));
    wire::unlink(&seg).unwrap();
    assert!(seen.len() >= 3, "saw frames {seen:?}");
}

#[test]
fn framewire_run_streams_vivid_through_the_camera_block_and_stops_cleanly_on_sigint() {
    init_log();
    let Some(dev) = vivid("framewire_run_streams_vivid_through_the_camera_block") else { return };
    let bin = std::path::Path::new("/bin/framewire");
    if !bin.exists() {
        framewire::sys::testing::skip(
            "framewire_run_streams_vivid_through_the_camera_block_and_stops_cleanly_on_sigint",
            "vivid",
            "needs the VM (/bin/framewire)",
        );
        return;
    }
    let dir = std::env::temp_dir().join("framewire-run-cam");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cam.toml");
    std::fs::write(
        &cfg,
        format!(
            "[pipeline]\nname = \"vmcam\"\nconnect = [\"camera.frames -> sink.input\"]\n\n\
             [[block]]\nname = \"camera\"\ntype = \"camera\"\ndevice = {:?}\nformat = \"YUYV\"\n\
             width = 640\nheight = 480\nfps = 25\n[block.controls]\nbrightness = 100\n\n\
             [[block]]\nname = \"sink\"\ntype = \"frame_sink\"\nframes = 20\nreport_every_s = 0.5\n",
            dev.display().to_string()
        ),
    )
    .unwrap();
    let log = dir.join("run.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(bin)
        .arg("run")
        .arg(&cfg)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("block sink finished") || child.try_wait().unwrap().is_some() {
            break text;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "pipeline did not deliver 20 frames:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "framewire did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = format!("{text}{}", std::fs::read_to_string(&log).unwrap_or_default());
    println!("{text}");
    assert!(text.contains("capturing via USERPTR"), "{text}");
    assert!(text.contains("first frame: 640x480 YUYV stride 1280 (614400 bytes)"), "{text}");
    assert!(text.contains("control brightness = 100"), "{text}");
    assert!(status.success(), "framewire run exited with {status}:\n{text}");
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("vmcam"))
        .collect();
    assert!(left.is_empty(), "wires left in /dev/shm: {left:?}");
}
