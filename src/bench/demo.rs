//! `framewire bench demo`: the closed-loop demo's frames/s and glass-to-motor
//! latency at each requested size, and where the time goes.
//!
//! For each size it runs the real demo (`config/demo.toml`, the ball
//! circling so that the robot keeps chasing it) as `framewire run` in a
//! child process, exactly as a user would, with the world's resolution
//! changed and its pseudo-terminal in a temporary directory. After a
//! warm-up it samples every wire's frame counter and every block's CPU time
//! over the measurement window, and reads the motor driver's once-a-second
//! latency lines (frame capture to the RoboClaw's bytes being written):
//! the figures are the medians over those one-second windows.
//!
//! Where the time goes: while it measures, a thread of this process looks
//! at every wire's newest slot every 5 ms and takes the frame's age when
//! that stage committed (slot commit time minus capture time), so the
//! report shows the latency building up stage by stage in the real
//! pipeline. Beside it, in this process, it times each stage's computation
//! alone on the same kind of frame (render, YUYV to RGB, HSV threshold,
//! blob detection).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{median, today};
use framewire_filters::blob::BlobDetector;
use framewire_filters::convert::convert;
use framewire_filters::hsv::{HsvLut, HsvRange};
use framewire_wire::image::{FourCC, ImageFormat, ImageMut, ImageRef};
use framewire_world::model::{BallMotion, Base, Camera, Pose, World};
use framewire_world::render::Renderer;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Settings of `framewire bench demo`.
#[derive(Clone, Debug)]
pub struct Args {
    /// Frame sizes, `(width, height)`.
    pub sizes: Vec<(u32, u32)>,
    /// Measurement window per size.
    pub seconds: f64,
    /// Warm-up before measuring (blocks start, the robot finds the ball).
    pub warmup: f64,
    /// The demo pipeline to run.
    pub config: PathBuf,
    /// The `framewire` binary (this one).
    pub exe: PathBuf,
}

impl Args {
    /// Parses `--sizes 640x480,1920x1080 --seconds 10 --warmup 3 --config FILE`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args {
            sizes: vec![(640, 480), (1920, 1080)],
            seconds: 10.0,
            warmup: 3.0,
            config: PathBuf::from("config/demo.toml"),
            exe: std::env::current_exe().map_err(|e| format!("cannot find the framewire binary: {e}"))?,
        };
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
            match k.as_str() {
                "--sizes" => a.sizes = crate::parse_sizes(val()?)?,
                "--seconds" => a.seconds = val()?.parse().map_err(|_| "--seconds takes a number".to_string())?,
                "--warmup" => a.warmup = val()?.parse().map_err(|_| "--warmup takes a number".to_string())?,
                "--config" => a.config = PathBuf::from(val()?),
                other => {
                    return Err(format!(
                        "unknown option {other:?}; use --sizes WxH,... --seconds N --warmup N --config FILE"
                    ));
                }
            }
        }
        if a.seconds.is_nan() || a.seconds < 1.0 {
            return Err("--seconds must be at least 1 (the latency is reported once a second)".into());
        }
        Ok(a)
    }
}

/// What one size measured.
#[derive(Clone, Debug, Default)]
pub struct SizeResult {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second on each wire over the window, `(wire, rate)`.
    pub rates: Vec<(String, f64)>,
    /// CPU use of each block over the window, percent of one CPU.
    pub cpu: Vec<(String, f64)>,
    /// Median over one-second windows of the glass-to-motor p50, ms.
    pub p50_ms: f64,
    /// Median over one-second windows of the glass-to-motor p99, ms.
    pub p99_ms: f64,
    /// Largest one-second p99, ms.
    pub worst_p99_ms: f64,
    /// One-second windows measured.
    pub windows: usize,
    /// Age of each frame when each stage committed what it derived from it
    /// (slot commit time minus capture time), medians in ms, in pipeline
    /// order: `(wire, age)`.
    pub ages: Vec<(String, f64)>,
    /// In-process stage medians, ms: render, YUYV->RGB, threshold, blob.
    pub stages: [f64; 4],
}

/// The CPU's model name, from /proc/cpuinfo.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The widest SIMD level the filters dispatch to on this CPU.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512bw") {
            return "AVX-512BW";
        }
        if std::is_x86_feature_detected!("avx2") {
            return "AVX2";
        }
        if std::is_x86_feature_detected!("ssse3") {
            return "SSSE3";
        }
        "SSE2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "NEON (baseline)"
    }
}

/// Times the stages of one frame in this process: render, YUYV -> RGB,
/// HSV threshold, blob detection (medians over `frames` frames, ms).
pub fn stage_times(width: u32, height: u32, frames: usize) -> [f64; 4] {
    let cam = Camera { width, height, hfov: 60f64.to_radians(), height_m: 0.15 };
    let base = Base { counts_per_rev: 1920.0, wheel_radius: 0.05, track_width: 0.3, radius: 0.15 };
    // The ball 1.2 m ahead, a little to the left: mid-chase.
    let world =
        World::new([4.0, 3.0], Pose { x: -0.5, y: 0.0, heading: 0.0 }, base, [0.7, 0.1], 0.1, BallMotion::Still);
    let mut r = Renderer::new(cam, 0.6, [240, 60, 20], 8);
    let yuyv_f = ImageFormat::packed(FourCC::YUYV, width, height);
    let rgb_f = ImageFormat::packed(FourCC::RGB24, width, height);
    let grey_f = ImageFormat::packed(FourCC::GREY, width, height);
    let mut yuyv = vec![0u8; yuyv_f.byte_len()];
    let mut rgb = vec![0u8; rgb_f.byte_len()];
    let mut mask = vec![0u8; grey_f.byte_len()];
    let lut = HsvLut::new(HsvRange { lo: [0, 120, 60], hi: [20, 255, 255] });
    let mut blobs = BlobDetector::new();
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for i in 0..frames + 3 {
        let t0 = Instant::now();
        r.render(&world, &mut yuyv);
        let t1 = Instant::now();
        let _ = convert(&ImageRef { format: yuyv_f, data: &yuyv }, &mut ImageMut { format: rgb_f, data: &mut rgb });
        let t2 = Instant::now();
        let _ =
            lut.threshold(&ImageRef { format: rgb_f, data: &rgb }, &mut ImageMut { format: grey_f, data: &mut mask });
        let t3 = Instant::now();
        let d = blobs.largest(&ImageRef { format: grey_f, data: &mask });
        let t4 = Instant::now();
        std::hint::black_box(&d);
        if i >= 3 {
            for (k, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4)].into_iter().enumerate() {
                t[k].push((b - a).as_secs_f64() * 1e3);
            }
        }
    }
    t.map(|mut v| median(&mut v))
}

/// The demo pipeline's text with the world at `width` x `height`, its
/// pseudo-terminal at `port` and the ball circling.
fn config_for(base: &str, width: u32, height: u32, port: &Path) -> Res<String> {
    let mut t: toml::Table = toml::from_str(base)?;
    let blocks = t.get_mut("block").and_then(|b| b.as_array_mut()).ok_or("the demo config has no [[block]]s")?;
    let mut found = false;
    for b in blocks.iter_mut().filter_map(|b| b.as_table_mut()) {
        match b.get("type").and_then(|v| v.as_str()) {
            Some("sim_world") => {
                b.insert("width".into(), (width as i64).into());
                b.insert("height".into(), (height as i64).into());
                b.insert("motor_port".into(), port.display().to_string().into());
                b.insert("ball_motion".into(), "circle".into());
                found = true;
            }
            Some("roboclaw") => {
                b.insert("port".into(), port.display().to_string().into());
            }
            _ => {}
        }
    }
    if !found {
        return Err("the demo config has no sim_world block".into());
    }
    Ok(toml::to_string(&t)?)
}

/// Parses `p50 X ms p99 Y ms` from a motor block's latency line.
fn latency_line(line: &str) -> Option<(f64, f64)> {
    let rest = line.split("glass-to-motor latency (frame capture to serial write): ").nth(1)?;
    let num = |key: &str| rest.split(key).nth(1)?.split_whitespace().next()?.parse::<f64>().ok();
    Some((num("p50 ")?, num("p99 ")?))
}

/// Runs the demo at one size and measures it.
pub fn measure(args: &Args, width: u32, height: u32) -> Res<SizeResult> {
    let base = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("{}: {e} (run from the repository, or pass --config)", args.config.display()))?;
    let prefix = format!("framewire-bench{}-demo{width}", std::process::id());
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir)?;
    let port = dir.join("motors");
    let cfg = dir.join("demo.toml");
    std::fs::write(&cfg, config_for(&base, width, height, &port)?)?;
    let pipeline: String = toml::from_str::<toml::Table>(&base)?
        .get("pipeline")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("demo")
        .to_string();

    let mut child = Command::new(&args.exe)
        .arg("run")
        .arg(&cfg)
        .env("FRAMEWIRE_SHM_PREFIX", &prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let reader = {
        let lines = lines.clone();
        let err = child.stderr.take().ok_or("no stderr")?;
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|e| e.into_inner()).push((Instant::now(), l));
            }
        })
    };
    let result = (|| -> Res<SizeResult> {
        std::thread::sleep(Duration::from_secs_f64(args.warmup));
        let run_file = format!("/dev/shm/{prefix}.{pipeline}._run");
        let run: toml::Table = toml::from_str(
            &std::fs::read_to_string(&run_file).map_err(|e| format!("{run_file}: {e}: the demo did not start"))?,
        )?;
        let wires: Vec<String> = run
            .get("wires")
            .and_then(|w| w.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let blocks: Vec<(String, u32)> = run
            .get("block")
            .and_then(|b| b.as_array())
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b.get("name")?.as_str()?.to_string(), b.get("pid")?.as_integer()? as u32)))
            .collect();
        // Each wire's newest slot, looked at every 5 ms (more often than
        // frames come) from a thread that is not in step with the pipeline:
        // the age of the frame when that stage committed its result.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (wires, stop) = (wires.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut readers: Vec<(String, framewire_wire::Reader)> = wires
                    .iter()
                    .filter_map(|w| Some((w.clone(), framewire_wire::Reader::attach(w, &Default::default()).ok()?)))
                    .collect();
                let mut ages: Vec<Vec<f64>> = vec![Vec::new(); readers.len()];
                // SYNC: a plain flag, no data hangs on it: the results come
                // back through the thread's join.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for (i, (_, r)) in readers.iter_mut().enumerate() {
                        if let Some(g) = r.try_read() {
                            let m = g.meta();
                            ages[i].push(m.commit_ns.saturating_sub(m.timestamp_ns) as f64 / 1e6);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                readers.into_iter().map(|(w, _)| w).zip(ages).collect::<Vec<_>>()
            })
        };
        let count = |w: &String| framewire_wire::inspect(w).map(|s| s.frames_written).unwrap_or(0);
        let cpu = |pid: u32| framewire_sys::proc::cpu_time_ns(pid).unwrap_or(0);
        let (f0, c0) =
            (wires.iter().map(count).collect::<Vec<_>>(), blocks.iter().map(|b| cpu(b.1)).collect::<Vec<_>>());
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(args.seconds));
        let (f1, c1) =
            (wires.iter().map(count).collect::<Vec<_>>(), blocks.iter().map(|b| cpu(b.1)).collect::<Vec<_>>());
        let t1 = Instant::now();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = sampler.join().map_err(|_| "the wire sampler panicked")?;
        let dt = (t1 - t0).as_secs_f64();
        let short = |w: &str| w.splitn(3, '.').nth(2).unwrap_or(w).to_string();
        let rates = wires
            .iter()
            .zip(f0.iter().zip(&f1))
            .map(|(w, (a, b))| (short(w), b.saturating_sub(*a) as f64 / dt))
            .collect();
        let cpu = blocks
            .iter()
            .zip(c0.iter().zip(&c1))
            .map(|((n, _), (a, b))| (n.clone(), b.saturating_sub(*a) as f64 / 1e9 / dt * 100.0))
            .collect();
        let got = lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let window = got.iter().filter(|(t, _)| *t > t0 && *t <= t1);
        // Wires whose frames carry no capture time of their own (odometry:
        // stamped when sent) show an age of zero and are left out.
        let mut ages: Vec<(String, f64)> =
            samples.into_iter().map(|(w, mut v)| (short(&w), median(&mut v))).filter(|(_, a)| *a > 0.0).collect();
        ages.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for (_, l) in window {
            if l.starts_with("[motors]")
                && let Some((a, b)) = latency_line(l)
            {
                p50.push(a);
                p99.push(b);
            }
        }
        if p50.is_empty() {
            let tail: Vec<&str> = got.iter().rev().take(20).map(|(_, l)| l.as_str()).collect();
            return Err(format!(
                "no latency reported by the motor block in {dt:.0} s; the demo's last lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
            .into());
        }
        let worst = p99.iter().copied().fold(0.0, f64::max);
        Ok(SizeResult {
            width,
            height,
            rates,
            cpu,
            windows: p50.len(),
            p50_ms: median(&mut p50),
            p99_ms: median(&mut p99),
            worst_p99_ms: worst,
            ages,
            stages: [0.0; 4],
        })
    })();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT);
    let status = child.wait()?;
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&dir);
    let mut r = result?;
    if !status.success() {
        let tail: Vec<String> =
            lines.lock().unwrap_or_else(|e| e.into_inner()).iter().rev().take(20).map(|(_, l)| l.clone()).collect();
        return Err(format!(
            "the demo exited with {status}:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
        .into());
    }
    r.stages = stage_times(width, height, 60);
    Ok(r)
}

/// Runs the benchmark and prints the report.
pub fn run(args: &Args) -> Res<Vec<SizeResult>> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "framewire bench demo, {}: CPU {} ({} CPUs online, filters dispatch to {}), load average {}",
        today(),
        cpu_name(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        simd_level(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "{} run by `framewire run` with the ball circling; after {:.0} s of warm-up, {:.0} s measured per size.\n\
         Glass-to-motor: from the frame's capture timestamp (the moment the world is sampled, before it is\n\
         rendered) to the RoboClaw command derived from it being written to the serial port; medians over\n\
         one-second windows of the motor block's p50 and p99.",
        args.config.display(),
        args.warmup,
        args.seconds
    );
    let mut out = Vec::new();
    for &(w, h) in &args.sizes {
        let r = measure(args, w, h)?;
        println!(
            "\n{w}x{h}: glass-to-motor p50 {:.2} ms, p99 {:.2} ms (worst window p99 {:.2} ms, {} windows)",
            r.p50_ms, r.p99_ms, r.worst_p99_ms, r.windows
        );
        let rates: Vec<String> = r.rates.iter().map(|(n, f)| format!("{n} {f:.1}")).collect();
        println!("  frames/s per wire: {}", rates.join(", "));
        let ages: Vec<String> = r.ages.iter().map(|(n, a)| format!("{n} {a:.2}")).collect();
        println!(
            "  age of a frame when each stage committed (p50, ms): {} -> serial write {:.2}",
            ages.join(" -> "),
            r.p50_ms
        );
        let cpu: Vec<String> = r.cpu.iter().map(|(n, c)| format!("{n} {c:.0}%")).collect();
        println!("  CPU per block (% of one CPU): {}", cpu.join(", "));
        let [render, conv, thr, blob] = r.stages;
        println!(
            "  compute per stage (this process, same frame size, median of 60 frames): render {render:.2} ms, \
             YUYV->RGB {conv:.2} ms, HSV threshold {thr:.2} ms, blob detection {blob:.2} ms"
        );
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_and_latency_lines() {
        let a = Args::parse(&["--sizes".into(), "320x240,64x48".into(), "--seconds".into(), "2".into()]).unwrap();
        assert_eq!((a.sizes, a.seconds), (vec![(320, 240), (64, 48)], 2.0));
        assert!(Args::parse(&["--speed".into()]).unwrap_err().contains("unknown option"));
        let l = "[motors]  INFO glass-to-motor latency (frame capture to serial write): p50 1.712 ms p99 12.248 ms max 12.248 ms (27 commands)";
        assert_eq!(latency_line(l), Some((1.712, 12.248)));
        assert_eq!(today().len(), 10);
    }
}
