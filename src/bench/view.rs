//! What watching costs: `framewire bench view`.
//!
//! Two measurements, each against a baseline run beside it:
//!
//! 1. **Per frame**, in this process: what the live view does with one
//!    frame (copy it out of the slot, convert it to RGB, encode it as a
//!    JPEG), against a `memcpy` of the same frame, on the test pattern (flat
//!    colour bars, the cheap case) and on noise (the expensive case; a real
//!    camera image lies between).
//! 2. **Whole pipeline**: a real `framewire run --view` of a camera-sized
//!    test pattern into a sink, measured as CPU time of the supervisor
//!    process (where the viewer's threads run) and of the block processes,
//!    alternately with nobody watching and with one browser-like client
//!    reading the MJPEG stream. The difference is the price of watching;
//!    the block processes' CPU should not move (the viewer never slows the
//!    pipeline).
//!
//! Figures are medians over rounds; every line names the CPU.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::median;
use framewire_sdk::image::{FourCC, ImageFormat, ImageRef};
use framewire_sys::proc::cpu_time_ns;
use framewire_viewer::picture::Picture;

/// Options of `framewire bench view`.
#[derive(Clone, Debug)]
pub struct Args {
    /// Rounds of each measurement (medians are over these).
    pub rounds: usize,
    /// Seconds each phase of a pipeline round lasts.
    pub seconds: f64,
}

impl Default for Args {
    fn default() -> Self {
        Args { rounds: 5, seconds: 3.0 }
    }
}

/// The CPU's model name and the SIMD the encoder and conversions use here.
pub fn cpu_line() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    #[cfg(target_arch = "x86_64")]
    let simd = if std::is_x86_feature_detected!("avx2") {
        "AVX2 (JPEG encoder and YUYV conversion)"
    } else {
        "SSE2 only (scalar encoder)"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let simd = "no x86 SIMD (scalar encoder; NEON where LLVM vectorises)";
    format!("{model}, {simd}")
}

/// A YUYV frame of the test pattern's bars, or of noise.
fn yuyv(w: u32, h: u32, noise: bool) -> Vec<u8> {
    let mut v = vec![0u8; (w * h * 2) as usize];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for (i, p) in v.chunks_exact_mut(4).enumerate() {
        if noise {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.copy_from_slice(&x.to_le_bytes()[..4]);
        } else {
            let bar = ((2 * i) as u32 % w) * 8 / w;
            let y = 40 + 20 * bar as u8;
            p.copy_from_slice(&[y, 100 + 8 * bar as u8, y, 160 - 8 * bar as u8]);
        }
    }
    v
}

/// Median ms per frame of the live view's work on `frame`, and of a memcpy of it.
fn per_frame(frame: &[u8], w: u32, h: u32, rounds: usize) -> (f64, f64, usize) {
    let img = ImageRef { format: ImageFormat::packed(FourCC::YUYV, w, h), data: frame };
    let mut pic = Picture::new();
    let mut out = Vec::new();
    let mut copy = vec![0u8; frame.len()];
    let (mut work, mut base) = (Vec::new(), Vec::new());
    let n = 20;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..n {
            copy.copy_from_slice(std::hint::black_box(frame));
        }
        base.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            out.clear();
            pic.load(&img, 1280, false).expect("a valid frame");
            pic.encode(80, &mut out).expect("encodes");
        }
        work.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
    std::hint::black_box(&copy);
    (median(work), median(base), out.len())
}

/// A running `framewire run --view` of a test pattern into a sink.
struct Pipeline {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Pipeline {
    fn start(w: u32, h: u32, fps: u32, view_fps: u32) -> Result<Pipeline, String> {
        let dir = std::env::temp_dir().join(format!("framewire-bench-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let cfg = dir.join("view.toml");
        std::fs::write(
            &cfg,
            format!(
                "[pipeline]\nname = \"benchview\"\nconnect = [\"cam.frames -> sink.input\"]\n\n[[block]]\nname = \"cam\"\ntype = \"test_pattern\"\nformat = \"YUYV\"\nwidth = {w}\nheight = {h}\nfps = {fps}\n\n[[block]]\nname = \"sink\"\ntype = \"frame_sink\"\nreport_every_s = 0\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg("run")
            .arg(&cfg)
            .arg("--view=127.0.0.1:0")
            .arg(format!("--view-fps={view_fps}"))
            .env("FRAMEWIRE_SHM_PREFIX", format!("framewire-bench{}", std::process::id()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let err = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("live view at http://").nth(1) {
                    let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the pipeline printed no live view address".to_string())?
            .parse()
            .map_err(|e| format!("{e}"))?;
        // Let every block start and settle.
        std::thread::sleep(Duration::from_secs(2));
        Ok(Pipeline { child, addr, dir })
    }

    /// CPU time so far of the supervisor (with the viewer) and of its blocks.
    fn cpu(&self) -> (u64, u64) {
        let me = self.child.id();
        let kids = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        let blocks = kids.split_whitespace().filter_map(|p| p.parse().ok()).filter_map(cpu_time_ns).sum();
        (cpu_time_ns(me).unwrap_or(0), blocks)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client that reads the MJPEG stream until told to stop; counts frames.
fn watch(addr: SocketAddr, stop: Arc<AtomicBool>, frames: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(addr) else { return };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = write!(s, "GET /stream/cam.frames HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let mut buf = vec![0u8; 1 << 16];
        let mut tail: Vec<u8> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match s.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    // Count boundaries (a boundary may straddle two reads).
                    tail.extend_from_slice(&buf[..n]);
                    let k = tail.windows(9).filter(|w| w == b"--fwframe").count() as u64;
                    frames.fetch_add(k, Ordering::Relaxed);
                    let keep = tail.len().min(8);
                    tail.drain(..tail.len() - keep);
                }
                Err(_) => {}
            }
        }
    })
}

/// Runs the benchmark and prints its figures.
pub fn run(a: &Args) -> Result<(), String> {
    let cpu = cpu_line();
    println!("framewire bench view: {cpu}");
    println!("\nPer frame (this process): copy out, YUYV -> RGB, JPEG quality 80; baseline memcpy of the frame");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        for noise in [false, true] {
            let frame = yuyv(w, h, noise);
            let (work, base, bytes) = per_frame(&frame, w, h, a.rounds);
            println!(
                "  {w}x{h} {:<6} {work:>7.2} ms/frame  (memcpy {base:.3} ms, ratio {:>6.0}x)  JPEG {} KiB",
                if noise { "noise" } else { "bars" },
                work / base,
                bytes / 1024
            );
        }
    }
    println!(
        "\nWhole pipeline: test_pattern YUYV at 30 frames/s -> frame_sink, `run --view --view-fps=10`; CPU % of one core, medians of {} rounds of {} s",
        a.rounds, a.seconds
    );
    println!(
        "  {:<10} {:>22} {:>22} {:>14} {:>14}",
        "size", "supervisor+viewer idle", "watched (1 client)", "blocks idle", "blocks watched"
    );
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let p = Pipeline::start(w, h, 30, 10)?;
        let phase = Duration::from_secs_f64(a.seconds);
        let (mut sup_idle, mut sup_watch, mut blk_idle, mut blk_watch, mut got) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..a.rounds {
            let pct = |c0: u64, c1: u64, t: Duration| (c1 - c0) as f64 / t.as_nanos() as f64 * 100.0;
            let (s0, b0) = p.cpu();
            let t = Instant::now();
            std::thread::sleep(phase);
            let (s1, b1) = p.cpu();
            sup_idle.push(pct(s0, s1, t.elapsed()));
            blk_idle.push(pct(b0, b1, t.elapsed()));
            let stop = Arc::new(AtomicBool::new(false));
            let frames = Arc::new(AtomicU64::new(0));
            let h = watch(p.addr, stop.clone(), frames.clone());
            // The first frame starts the encoder; measure after it.
            std::thread::sleep(Duration::from_millis(500));
            let f0 = frames.load(Ordering::Relaxed);
            let (s0, b0) = p.cpu();
            let t = Instant::now();
            std::thread::sleep(phase);
            let (s1, b1) = p.cpu();
            let el = t.elapsed();
            sup_watch.push(pct(s0, s1, el));
            blk_watch.push(pct(b0, b1, el));
            got.push((frames.load(Ordering::Relaxed) - f0) as f64 / el.as_secs_f64());
            stop.store(true, Ordering::Relaxed);
            let _ = h.join();
            // Let the encoder notice nobody watches before the idle phase.
            std::thread::sleep(Duration::from_secs(1));
        }
        println!(
            "  {:<10} {:>21.1}% {:>21.1}% {:>13.1}% {:>13.1}%   ({:.1} frames/s received)",
            format!("{w}x{h}"),
            median(sup_idle),
            median(sup_watch),
            median(blk_idle),
            median(blk_watch),
            median(got)
        );
    }
    println!("\n(measured on {cpu})");
    Ok(())
}
