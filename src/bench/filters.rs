//! The filter benchmark: every filter at the requested sizes, single
//! threaded, against OpenCV on the same data in the same run, and against
//! the memory floor: a warm `memcpy` moving as many bytes as the filter
//! reads and writes (half of them read, half written), timed in the same
//! way beside it, so the floor sits in the same caches as the filter.
//!
//! Run by `framewire bench filters` and `cargo bench --bench bench_filters`. The OpenCV side is a Python helper
//! (`tests/opencv/bench_opencv.py`, `cv2.setNumThreads(1)`); when Python or
//! OpenCV is missing those columns say so and the rest still runs.

use crate::{cpu_model, median, today};
use framewire_filters::blob::{BlobDetector, moments};
use framewire_filters::blur::{GaussianBlur, Ksize};
use framewire_filters::convert::convert;
use framewire_filters::geom::{Flip, Rect, crop, flip};
use framewire_filters::hsv::{HsvLut, HsvRange};
use framewire_filters::jpeg::JpegDecoder;
use framewire_filters::morph::{MorphOp, Morphology};
use framewire_filters::resize::{Interp, Resizer};
use framewire_filters::tracker::ColorTracker;
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut, ImageRef};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Benchmark settings.
#[derive(Clone, Debug)]
pub struct Args {
    /// Frame sizes to run, `(width, height)`.
    pub sizes: Vec<(u32, u32)>,
    /// Minimum timed iterations per operation.
    pub min_iters: usize,
    /// Minimum time per operation; iterations continue until both minimums
    /// are met (at most 1000).
    pub min_time: Duration,
    /// Rounds per operation: framewire and OpenCV alternate this many times
    /// and each side reports the median of its round medians, so a burst of
    /// load from another process does not land on one side only.
    pub rounds: usize,
    /// Only operations whose name contains this.
    pub only: Option<String>,
    /// Run the OpenCV helper.
    pub opencv: bool,
    /// Python interpreter for the helper.
    pub python: String,
    /// Path of `bench_opencv.py`.
    pub helper: PathBuf,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            sizes: vec![(640, 480), (1920, 1080)],
            min_iters: 10,
            min_time: Duration::from_millis(100),
            rounds: 5,
            only: None,
            opencv: true,
            python: "python3".into(),
            helper: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/opencv/bench_opencv.py")),
        }
    }
}

impl Args {
    /// Parses `--sizes 640x480,1920x1080 --min-iters N --min-time-ms MS
    /// --rounds N --only SUBSTR --no-opencv --python PATH`; unknown arguments (such as
    /// the `--bench` cargo passes) are ignored.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = args.into_iter();
        while let Some(k) = it.next() {
            let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
            match k.as_str() {
                "--sizes" => a.sizes = crate::parse_sizes(&val()?)?,
                "--min-iters" => a.min_iters = val()?.parse().map_err(|e| format!("--min-iters: {e}"))?,
                "--min-time-ms" => {
                    a.min_time = Duration::from_millis(val()?.parse().map_err(|e| format!("--min-time-ms: {e}"))?)
                }
                "--only" => a.only = Some(val()?),
                "--rounds" => a.rounds = val()?.parse::<usize>().map_err(|e| format!("--rounds: {e}"))?.max(1),
                "--no-opencv" => a.opencv = false,
                "--python" => a.python = val()?,
                _ => {}
            }
        }
        Ok(a)
    }
}

/// One line of the result table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Operation name (the same key as in the OpenCV helper).
    pub op: String,
    /// Frame size.
    pub size: (u32, u32),
    /// framewire median ms/frame.
    pub ms: f64,
    /// OpenCV median ms/frame, if measured.
    pub opencv_ms: Option<f64>,
    /// framewire / OpenCV: the median of the per-round ratios (each round
    /// times framewire, then OpenCV right after), if OpenCV ran.
    pub ratio: Option<f64>,
    /// Memory floor in ms: a warm copy of `(input + output bytes) / 2`,
    /// i.e. the same bytes read and written as the filter.
    pub floor_ms: f64,
    /// Target ratio to OpenCV (1.0, or 0.5 for the fused tracker).
    pub target: f64,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// One row per operation and size.
    pub rows: Vec<Row>,
    /// Copy bandwidth to and from DRAM (64 MiB buffers), GB/s (bytes read +
    /// bytes written per second), for scale.
    pub bandwidth_gbs: f64,
    /// OpenCV version, or why it was skipped.
    pub opencv: String,
}

fn median_ms(mut f: impl FnMut(), args: &Args) -> f64 {
    f();
    f();
    let mut t = Vec::new();
    let start = Instant::now();
    while t.len() < args.min_iters || (start.elapsed() < args.min_time && t.len() < 1000) {
        let t0 = Instant::now();
        f();
        t.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    median(&mut t)
}

/// Copy bandwidth (read + write bytes per second) over a buffer much
/// larger than the caches, best of several runs.
fn bandwidth() -> f64 {
    let n = 64 << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * n as f64 / best
}

/// A deterministic test scene: colour gradients, noise, and some saturated
/// green and red discs (what the tracker looks for).
pub fn scene(w: u32, h: u32) -> Vec<u8> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 17) as i32 - 8
    };
    let discs = [
        (0.3f32, 0.4f32, 0.12f32, [30u8, 180, 60]),
        (0.7, 0.6, 0.08, [200, 30, 30]),
        (0.55, 0.25, 0.05, [40, 160, 70]),
    ];
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut p = [(60.0 + 150.0 * fx) as i32, (80.0 + 100.0 * fy) as i32, (120.0 + 80.0 * (fx - fy)) as i32];
            for &(cx, cy, r, c) in &discs {
                let (dx, dy) = ((fx - cx) * w as f32, (fy - cy) * h as f32);
                if dx * dx + dy * dy <= (r * h as f32).powi(2) {
                    p = c.map(|c| c as i32);
                }
            }
            for c in p {
                v.push((c + noise()).clamp(0, 255) as u8);
            }
        }
    }
    v
}

/// BT.601 limited-range 4:2:2 encoding of an RGB image (chroma of the pair
/// averaged), for benchmark inputs.
pub fn rgb_to_yuyv(rgb: &[u8]) -> Vec<u8> {
    let yuv = |p: &[u8]| {
        let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
        [
            16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
            128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
            128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
        ]
    };
    let mut out = Vec::with_capacity(rgb.len() / 3 * 2);
    for p in rgb.chunks_exact(6) {
        let (a, b) = (yuv(&p[..3]), yuv(&p[3..]));
        let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        out.extend_from_slice(&[q(a[0]), q((a[1] + b[1]) / 2.0), q(b[0]), q((a[2] + b[2]) / 2.0)]);
    }
    out
}

fn rgb_to_nv12(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let yuyv = rgb_to_yuyv(rgb);
    let mut out = vec![0u8; w * h * 3 / 2];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = yuyv[(y * w + x) * 2];
        }
        if y % 2 == 0 {
            for x in (0..w).step_by(2) {
                out[w * h + (y / 2) * w + x] = yuyv[(y * w + x) * 2 + 1];
                out[w * h + (y / 2) * w + x + 1] = yuyv[(y * w + x) * 2 + 3];
            }
        }
    }
    out
}

/// The HSV range every threshold and tracker benchmark uses (green).
pub const GREEN: HsvRange = HsvRange { lo: [35, 80, 40], hi: [85, 255, 255] };

/// The OpenCV helper kept running (`--serve`): it loads every input once,
/// then times one operation per request, so OpenCV's timing of an
/// operation follows framewire's by milliseconds, not by an interpreter
/// start-up.
struct CvServer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl CvServer {
    /// Starts the helper; returns it with OpenCV's version, or why OpenCV
    /// is skipped.
    fn start(args: &Args, dir: &std::path::Path) -> Result<(Self, String), String> {
        use std::io::BufRead;
        use std::process::Stdio;
        let sizes: Vec<String> = args.sizes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        let mut child = Command::new(&args.python)
            .arg(&args.helper)
            .arg(dir)
            .arg("--min-iters")
            .arg(args.min_iters.to_string())
            .arg("--min-time")
            .arg(format!("{}", args.min_time.as_secs_f64()))
            .arg("--sizes")
            .arg(sizes.join(","))
            .arg("--serve")
            // No BLAS/OpenMP worker threads: OpenCV must be single-threaded too.
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("OMP_NUM_THREADS", "1")
            // A decode loop reuses its output (`cv::imdecode(buf, flags,
            // &dst)` in C++); Python's `cv2.imdecode` cannot, so glibc is
            // told to keep freed buffers in the heap instead of unmapping
            // them: otherwise every 1080p frame costs OpenCV 2,000 page
            // faults that a real loop does not pay.
            .env("MALLOC_MMAP_THRESHOLD_", "1073741824")
            .env("MALLOC_TRIM_THRESHOLD_", "4294967296")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", args.python))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("helper without pipes".into());
        };
        let mut stdout = std::io::BufReader::new(stdout);
        let mut version = "?".to_string();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                let status = child.wait().map_err(|e| e.to_string())?;
                return Err(format!("helper exited ({status}) before it was ready"));
            }
            let line = line.trim_end();
            if let Some(why) = line.strip_prefix("SKIP:") {
                let _ = child.wait();
                return Err(why.trim().to_string());
            }
            if let Some(v) = line.strip_prefix("VERSION\t") {
                version = v.to_string();
            }
            if let Some(v) = line.strip_prefix("CPU\t") {
                // `*` marks what OpenCV dispatches to, `?` what it may not
                // use (OPENCV_CPU_DISABLE, or missing on this CPU).
                version += &format!(" (dispatch: {v})");
            }
            if let Some(v) = line.strip_prefix("IPP\t") {
                // IPP dispatches by itself: capping OpenCV's own dispatch
                // leaves IPP's AVX-512 code in use, which would compare an
                // AVX2 framewire with an AVX-512 OpenCV.
                version += &format!(", IPP: {v}");
                if v.contains("AVX-512") && framewire_filters::simd_level() < framewire_filters::SimdLevel::Avx512 {
                    eprintln!(
                        "warning: framewire runs at {} but OpenCV's IPP at AVX-512 ({v}); set OPENCV_IPP=avx2 to compare like with like",
                        framewire_filters::simd_level().name()
                    );
                }
            }
            if line == "READY" {
                return Ok((CvServer { child, stdin, stdout }, version));
            }
        }
    }

    /// OpenCV's median ms for one operation; `None` if the helper failed.
    fn time(&mut self, name: &str, size: &str) -> Option<f64> {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{name} {size}").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        let f: Vec<&str> = line.trim_end().split('\t').collect();
        (f.len() == 3 && f[0] == name && f[1] == size).then(|| f[2].parse().ok()).flatten()
    }
}

impl Drop for CvServer {
    fn drop(&mut self) {
        // Closing stdin ends the helper's request loop; kill in case it hangs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Op<'a> = (String, usize, usize, f64, Box<dyn FnMut() + 'a>);

fn push<'a>(ops: &mut Vec<Op<'a>>, name: String, inb: usize, outb: usize, target: f64, op: Box<dyn FnMut() + 'a>) {
    ops.push((name, inb, outb, target, op));
}

/// A page-aligned buffer (an anonymous mapping), as a wire slot is: the
/// benchmark's inputs, outputs and floor copies all start on a page, so
/// that every run sees the same relative alignment of input and output (a
/// copy whose destination sits 16 bytes past a 4 KiB boundary relative to
/// its source, as two `malloc`ed buffers may, runs several times slower on
/// some CPUs, and would make any figure depend on where malloc put it).
fn page(len: usize) -> memmap2::MmapMut {
    memmap2::MmapMut::map_anon(len.max(1)).expect("anonymous mapping for a benchmark buffer")
}

fn page_from(data: &[u8]) -> memmap2::MmapMut {
    let mut m = page(data.len());
    m[..data.len()].copy_from_slice(data);
    m
}

/// What OpenCV does beyond framewire's version of an operation, for the
/// table (the ratio compares unequal work there).
fn note(op: &str) -> &'static str {
    match op {
        "moments" => "cv: all 24 moments; fw: m00, m10, m01 and the box",
        "blobs_largest" => "cv: label image + stats of every component; fw: the largest blob",
        o if o.starts_with("tracker") => "cv: 3-4 calls and 2-3 images; fw: one pass",
        _ => "",
    }
}

/// Runs the benchmark, printing progress to stderr and the table to stdout.
pub fn run(args: &Args) -> std::io::Result<Report> {
    let dir = std::env::temp_dir().join(format!("framewire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Inputs for both sides, written before OpenCV runs.
    let mut inputs = Vec::new();
    for &(w, h) in &args.sizes {
        let (wu, hu) = (w as usize, h as usize);
        let rgb = scene(w, h);
        let yuyv = rgb_to_yuyv(&rgb);
        let nv12 = rgb_to_nv12(&rgb, wu, hu);
        let bgr: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
        let mut gray = vec![0u8; wu * hu];
        let rf = ImageFormat::packed(FourCC::RGB24, w, h);
        let gf = ImageFormat::packed(FourCC::GREY, w, h);
        convert(&ImageRef { format: rf, data: &rgb }, &mut ImageMut { format: gf, data: &mut gray }).expect("gray");
        let mut mask = vec![0u8; wu * hu];
        HsvLut::new(GREEN)
            .threshold(&ImageRef { format: rf, data: &rgb }, &mut ImageMut { format: gf, data: &mut mask })
            .expect("mask");
        for (name, data) in [("rgb", &rgb), ("yuyv", &yuyv), ("nv12", &nv12), ("gray", &gray), ("mask", &mask)] {
            std::fs::write(dir.join(format!("{name}_{w}x{h}.raw")), data)?;
        }
        let p = page_from;
        inputs.push((w, h, p(&rgb), p(&bgr), p(&yuyv), p(&nv12), p(&gray), p(&mask)));
    }
    // Prepare once (JPEG inputs, version); time each OpenCV op right after
    // framewire's so that both see the same load on a shared machine.
    // Both sides on one core: the helper inherits the mask.
    let pinned = match framewire_sys::proc::pin_to_current_cpu() {
        Ok(cpu) => format!("framewire and OpenCV pinned to CPU {cpu}"),
        Err(e) => format!("not pinned to a CPU ({e})"),
    };
    eprintln!("{pinned}");
    let (mut cv_server, opencv) = if !args.opencv {
        (None, "OpenCV skipped (--no-opencv)".to_string())
    } else {
        match CvServer::start(args, &dir) {
            Ok((server, v)) => (
                Some(server),
                format!(
                    "OpenCV {v}, cv2.setNumThreads(1), outputs reused, timed right after each framewire op; fw/cv = median of per-round ratios"
                ),
            ),
            Err(e) => (None, format!("OpenCV skipped: {e}")),
        }
    };
    eprintln!("{opencv}");
    let machine = format!("{}, {}; framewire SIMD: {}", cpu_model(), today(), framewire_filters::simd_description());
    eprintln!("{machine}");
    let bw = bandwidth();
    eprintln!("DRAM copy bandwidth: {:.1} GB/s (read + write)", bw / 1e9);

    let t0 = Instant::now();
    let lut = HsvLut::new(GREEN);
    let lut_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut tracker = ColorTracker::new(GREEN);
    let t0 = Instant::now();
    tracker.prepare(FourCC::YUYV);
    let yuv_lut_ms = t0.elapsed().as_secs_f64() * 1e3;
    tracker.prepare(FourCC::RGB24);
    eprintln!("one-off table builds: RGB→mask {lut_ms:.0} ms, YUV→mask {yuv_lut_ms:.0} ms");

    let mut rows = Vec::new();
    for (w, h, rgb, bgr, yuyv, nv12, gray, mask) in &inputs {
        let (w, h) = (*w, *h);
        let (rgb, bgr, yuyv, nv12, gray, mask) = (&rgb[..], &bgr[..], &yuyv[..], &nv12[..], &gray[..], &mask[..]);
        let n = (w * h) as usize;
        let f = move |c| ImageFormat::packed(c, w, h);
        let jpeg = std::fs::read(dir.join(format!("scene_{w}x{h}.jpg"))).ok().map(|j| page_from(&j));
        let size = format!("{w}x{h}");
        let mut ops: Vec<Op> = Vec::new();
        // Each closure owns its page-aligned output buffer and scratch,
        // allocated here, outside the timed region.
        let src_of = |c: FourCC| match c {
            FourCC::YUYV | FourCC::UYVY => yuyv,
            FourCC::NV12 => nv12,
            FourCC::RGB24 => rgb,
            FourCC::BGR24 => bgr,
            _ => gray,
        };
        for &(sc, dc) in framewire_filters::convert::SUPPORTED {
            let name = format!("{}_to_{}", fourcc_name(sc), fourcc_name(dc));
            let (src, df) = (src_of(sc), f(dc));
            let mut o = page(df.byte_len());
            push(
                &mut ops,
                name,
                f(sc).byte_len(),
                df.byte_len(),
                1.0,
                Box::new(move || convert(&img(f(sc), src), &mut ImageMut { format: df, data: &mut o[..] }).unwrap()),
            );
        }
        if let Some(j) = &jpeg {
            for c in [FourCC::RGB24, FourCC::GREY] {
                let j = &j[..];
                let (mut o, mut d) = (page(f(c).byte_len()), JpegDecoder::new());
                push(
                    &mut ops,
                    format!("jpeg_to_{}", fourcc_name(c)),
                    j.len(),
                    f(c).byte_len(),
                    1.0,
                    Box::new(move || d.decode(j, &mut ImageMut { format: f(c), data: &mut o[..] }).unwrap()),
                );
            }
        } else {
            eprintln!("jpeg_to_*: skipped (the JPEG input is encoded by the OpenCV helper, which did not run)");
        }
        for (cname, c, src) in [("rgb", FourCC::RGB24, rgb), ("gray", FourCC::GREY, gray)] {
            for (tag, (dw, dh), interp) in [
                ("area_half", (w / 2, h / 2), Interp::Area),
                ("area_3q", (w * 3 / 4, h * 3 / 4), Interp::Area),
                ("area_2x", (w * 2, h * 2), Interp::Area),
                ("bilinear_half", (w / 2, h / 2), Interp::Bilinear),
                ("bilinear_3q", (w * 3 / 4, h * 3 / 4), Interp::Bilinear),
                ("bilinear_2x", (w * 2, h * 2), Interp::Bilinear),
            ] {
                let df = ImageFormat::packed(c, dw, dh);
                let (mut o, mut r) = (page(df.byte_len()), Resizer::new());
                push(
                    &mut ops,
                    format!("resize_{tag}_{cname}"),
                    src.len(),
                    df.byte_len(),
                    1.0,
                    Box::new(move || {
                        r.resize(&img(f(c), src), &mut ImageMut { format: df, data: &mut o[..] }, interp).unwrap()
                    }),
                );
            }
        }
        let rect = Rect { x: w / 4, y: h / 4, w: w / 2, h: h / 2 };
        for (cname, c, src) in [("rgb", FourCC::RGB24, rgb), ("yuyv", FourCC::YUYV, yuyv)] {
            let df = ImageFormat::packed(c, rect.w, rect.h);
            let mut o = page(df.byte_len());
            push(
                &mut ops,
                format!("crop_center_{cname}"),
                df.byte_len(),
                df.byte_len(),
                1.0,
                Box::new(move || crop(&img(f(c), src), &mut ImageMut { format: df, data: &mut o[..] }, rect).unwrap()),
            );
        }
        for (cname, c, src) in [("rgb", FourCC::RGB24, rgb), ("gray", FourCC::GREY, gray)] {
            let len = src.len();
            for (tag, mode) in
                [("flip_h", Flip::Horizontal), ("flip_v", Flip::Vertical), ("rotate180", Flip::Rotate180)]
            {
                let mut o = page(len);
                push(
                    &mut ops,
                    format!("{tag}_{cname}"),
                    len,
                    len,
                    1.0,
                    Box::new(move || {
                        flip(&img(f(c), src), &mut ImageMut { format: f(c), data: &mut o[..] }, mode).unwrap()
                    }),
                );
            }
            for (k, ks) in [(3, Ksize::K3), (5, Ksize::K5)] {
                let (mut o, mut b) = (page(len), GaussianBlur::new());
                push(
                    &mut ops,
                    format!("blur{k}_{cname}"),
                    len,
                    len,
                    1.0,
                    Box::new(move || {
                        b.apply(&img(f(c), src), &mut ImageMut { format: f(c), data: &mut o[..] }, ks).unwrap()
                    }),
                );
            }
        }
        let lut = &lut;
        for (cname, c, src) in [("rgb", FourCC::RGB24, rgb), ("bgr", FourCC::BGR24, bgr)] {
            let mut o = page(n);
            push(
                &mut ops,
                format!("hsv_threshold_{cname}"),
                3 * n,
                n,
                1.0,
                Box::new(move || {
                    lut.threshold(&img(f(c), src), &mut ImageMut { format: f(FourCC::GREY), data: &mut o[..] }).unwrap()
                }),
            );
        }
        for k in (3..=31).step_by(2) {
            for (oname, op) in [
                ("erode", MorphOp::Erode),
                ("dilate", MorphOp::Dilate),
                ("open", MorphOp::Open),
                ("close", MorphOp::Close),
            ] {
                let (mut o, mut m) = (page(n), Morphology::new());
                push(
                    &mut ops,
                    format!("morph_{oname}{k}"),
                    n,
                    n,
                    1.0,
                    Box::new(move || {
                        m.apply(
                            &img(f(FourCC::GREY), mask),
                            &mut ImageMut { format: f(FourCC::GREY), data: &mut o[..] },
                            op,
                            k,
                        )
                        .unwrap()
                    }),
                );
            }
        }
        let mut b = BlobDetector::new();
        push(
            &mut ops,
            "blobs_largest".into(),
            n,
            0,
            1.0,
            Box::new(move || {
                black_box(b.largest(&img(f(FourCC::GREY), mask)).unwrap());
            }),
        );
        push(
            &mut ops,
            "moments".into(),
            n,
            0,
            1.0,
            Box::new(move || {
                black_box(moments(&img(f(FourCC::GREY), mask)).unwrap());
            }),
        );
        for (cname, c, src, target) in [
            ("yuyv", FourCC::YUYV, yuyv, 0.5),
            ("uyvy", FourCC::UYVY, yuyv, 0.5),
            ("rgb", FourCC::RGB24, rgb, 1.0),
            ("bgr", FourCC::BGR24, bgr, 1.0),
        ] {
            let mut t = tracker.clone();
            t.prepare(c);
            push(
                &mut ops,
                format!("tracker_{cname}"),
                f(c).byte_len(),
                0,
                target,
                Box::new(move || {
                    black_box(t.moments(&img(f(c), src)).unwrap());
                }),
            );
        }
        // Copy buffers for the floor, page-aligned like the filters' own.
        let (floor_src, mut floor_dst) = (page_from(&vec![1u8; 4 * n]), page(4 * n));
        let floor_args = Args { min_time: args.min_time / 4, ..args.clone() };
        for (name, inb, outb, target, mut op) in ops {
            if args.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
                continue;
            }
            let half = ((inb + outb) / 2).min(floor_src.len());
            let (mut fw, mut cv, mut ratios, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..args.rounds {
                // The floor is timed every round, beside the filter, so a
                // change in the machine's load shows in both.
                floor.push(median_ms(|| floor_dst[..half].copy_from_slice(black_box(&floor_src[..half])), &floor_args));
                let t = median_ms(&mut op, args);
                fw.push(t);
                if let Some(c) = cv_server.as_mut().and_then(|s| s.time(&name, &size)) {
                    cv.push(c);
                    ratios.push(t / c);
                }
            }
            let row = Row {
                op: name.clone(),
                size: (w, h),
                ms: median(&mut fw),
                opencv_ms: (!cv.is_empty()).then(|| median(&mut cv)),
                ratio: (!ratios.is_empty()).then(|| median(&mut ratios)),
                floor_ms: median(&mut floor),
                target,
            };
            eprintln!("{}", fmt_row(&row));
            rows.push(row);
        }
    }
    drop(cv_server);
    let _ = std::fs::remove_dir_all(&dir);
    let report = Report { rows, bandwidth_gbs: bw / 1e9, opencv: format!("{machine}; {opencv}; {pinned}") };
    print!("{}", table(&report));
    Ok(report)
}

/// The lower-case name used in operation names (`gray` for GREY).
fn fourcc_name(c: FourCC) -> &'static str {
    match c {
        FourCC::YUYV => "yuyv",
        FourCC::UYVY => "uyvy",
        FourCC::NV12 => "nv12",
        FourCC::RGB24 => "rgb",
        FourCC::BGR24 => "bgr",
        _ => "gray",
    }
}

fn img(format: ImageFormat, data: &[u8]) -> ImageRef<'_> {
    ImageRef { format, data }
}

fn fmt_row(r: &Row) -> String {
    let (cv, ratio, verdict) = match (r.opencv_ms, r.ratio) {
        (Some(c), Some(ratio)) => {
            (format!("{c:9.3}"), format!("{ratio:6.2}x"), if ratio <= r.target { "ok" } else { "MISS" })
        }
        _ => ("        -".into(), "     -".into(), "-"),
    };
    format!(
        "{:<26} {:>9} {:9.3} {cv} {ratio} (≤{:.1}x {verdict:<4}) {:8.3} {:6.1}x  {}",
        r.op,
        format!("{}x{}", r.size.0, r.size.1),
        r.ms,
        r.target,
        r.floor_ms,
        r.ms / r.floor_ms.max(1e-9),
        note(&r.op)
    )
}

/// The result table as printed.
pub fn table(rep: &Report) -> String {
    let mut s = String::new();
    s += &format!(
        "# framewire filters, single thread, ms/frame = median over rounds of each round's median. {}. Floor: a warm copy of the same bytes between page-aligned buffers, timed in every round. DRAM copy bandwidth {:.1} GB/s.\n",
        rep.opencv, rep.bandwidth_gbs
    );
    s += &format!(
        "{:<26} {:>9} {:>9} {:>9} {:>7} {:<12} {:>8} {:>7}  {}\n",
        "op", "size", "fw ms", "cv ms", "fw/cv", "(target)", "floor ms", "fw/floor", "unequal work"
    );
    for r in &rep.rows {
        s += &fmt_row(r);
        s.push('\n');
    }
    s
}
