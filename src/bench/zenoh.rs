//! `framewire bench zenoh`: frames between two processes through the Zenoh
//! bridge on loopback, raw and JPEG, next to the same frames through a
//! local wire, in one run.
//!
//! Process A (this one) renders a few frames of the demo's simulated camera
//! (YUYV, so JPEG has real content to compress) and, for each frame, copies
//! one into a slot of a local wire and stamps it with the capture time.
//! Then either:
//!
//! * **local wire**: process B (`framewire bench-peer zenoh`) reads that wire;
//! * **zenoh raw**: a `zenoh_out` block in A publishes it on loopback TCP; a
//!   `zenoh_in` block in B writes it into B's own wire, which B reads;
//! * **zenoh JPEG**: the same with `compress = "jpeg"` (quality 80); B
//!   decodes each JPEG to RGB24 (framewire's decoder), since a user of the
//!   frames would.
//!
//! B reads every cache line of every frame (a sum of one byte in 8), or
//! decodes the JPEG,
//! and measures its age: its read time minus the capture stamp (the same
//! `CLOCK_MONOTONIC`). Two loads: paced at 30 frames/s (a camera; latency
//! p50/p99) and unpaced (as fast as A can write; frames/s delivered). Each
//! figure is the median over rounds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::median;
use framewire_bridge::blocks::{InParams, OutParams};
use framewire_bridge::{ZenohIn, ZenohOut};
use framewire_filters::jpeg::JpegDecoder;
use framewire_sdk::block::{BlockType, Context, Setup};
use framewire_sdk::image::{FourCC, ImageFormat, ImageMut};
use framewire_sdk::params::Params;
use framewire_wire::{self as wire, Expect, FrameMeta, Policy, Reader, WireConfig, Writer};
use framewire_world::model::{BallMotion, Base, Camera, Pose, World};
use framewire_world::render::Renderer;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Options of `framewire bench zenoh`.
#[derive(Clone, Debug)]
pub struct Args {
    /// Frame sizes.
    pub sizes: Vec<(u32, u32)>,
    /// Seconds per measurement.
    pub seconds: f64,
    /// Rounds per figure (medians over them).
    pub rounds: usize,
}

impl Args {
    /// Parses `--sizes 640x480,1920x1080 --seconds 3 --rounds 3`.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args { sizes: vec![(640, 480), (1920, 1080)], seconds: 3.0, rounds: 3 };
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
            match k.as_str() {
                "--sizes" => a.sizes = crate::parse_sizes(v()?)?,
                "--seconds" => a.seconds = v()?.parse().map_err(|_| "--seconds takes a number".to_string())?,
                "--rounds" => a.rounds = v()?.parse().map_err(|_| "--rounds takes a number".to_string())?,
                other => return Err(format!("unknown option {other}; use --sizes WxH,... --seconds S --rounds N")),
            }
        }
        if !(0.5..=60.0).contains(&a.seconds) || a.rounds == 0 {
            return Err("--seconds is 0.5 to 60 and --rounds at least 1".into());
        }
        Ok(a)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Local,
    Raw,
    Jpeg,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Local => "local wire",
            Mode::Raw => "zenoh raw",
            Mode::Jpeg => "zenoh JPEG q80",
        }
    }
}

/// One measurement: frames/s received, age p50/p99 (ms), bytes per frame sent.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    fps: f64,
    p50: f64,
    p99: f64,
    kb: f64,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Frames of the demo's camera at `w` x `h`, the ball in a few places.
fn render(w: u32, h: u32) -> Vec<Vec<u8>> {
    let cam = Camera { width: w, height: h, hfov: 60f64.to_radians(), height_m: 0.15 };
    let base = Base { counts_per_rev: 1920.0, wheel_radius: 0.05, track_width: 0.3, radius: 0.15 };
    let mut world =
        World::new([4.0, 3.0], Pose { x: -0.5, y: 0.0, heading: 0.0 }, base, [0.7, 0.1], 0.1, BallMotion::Circle(0.5));
    let mut r = Renderer::new(cam, 0.6, [240, 60, 20], 8);
    (0..8)
        .map(|_| {
            let mut f = vec![0u8; r.frame_len()];
            r.render(&world, &mut f);
            world.move_ball(0.1);
            f
        })
        .collect()
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn table(text: &str) -> Res<framewire_sdk::toml::Table> {
    Ok(framewire_sdk::toml::from_str(text)?)
}

/// Runs one measurement.
fn measure(mode: Mode, w: u32, h: u32, frames: &[Vec<u8>], fps: f64, seconds: f64) -> Res<Stats> {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("framewire-bench{}", std::process::id());
    let w1 = wire::segment_name(&prefix, "zb", &format!("in{n}"))?;
    let fmt = ImageFormat::packed(FourCC::YUYV, w, h);
    wire::create(&w1, &WireConfig::new(fmt.byte_len() as u64, 6, 2, Policy::Latest))?;
    let result = (|| -> Res<Stats> {
        let port = free_port()?;
        let w2 = wire::segment_name(&prefix, "zb", &format!("out{n}"))?;
        let key = format!("framewire/bench{}/{n}", std::process::id());
        let peer_args: Vec<String> = match mode {
            Mode::Local => vec!["local".into(), w1.clone(), "raw".into()],
            Mode::Raw | Mode::Jpeg => vec![
                "bridge".into(),
                w2.clone(),
                if mode == Mode::Jpeg { "jpeg".into() } else { "raw".into() },
                key.clone(),
                format!("tcp/127.0.0.1:{port}"),
                format!("{w}x{h}"),
            ],
        };
        let mut peer = Command::new(std::env::current_exe()?)
            .arg("bench-peer")
            .arg("zenoh")
            .args(&peer_args)
            .arg(format!("{seconds}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut out = BufReader::new(peer.stdout.take().ok_or("no peer stdout")?);
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        // The bridge's sending side, a zenoh_out block on its own thread.
        let sender = if mode == Mode::Local {
            None
        } else {
            let compress = if mode == Mode::Jpeg { "jpeg" } else { "none" };
            let t = table(&format!(
                "key = {key:?}\ncompress = {compress:?}\njpeg_quality = 80\nzenoh = {{ multicast_scouting = false, listen = [\"tcp/127.0.0.1:{port}\"] }}"
            ))?;
            let p = OutParams::from_table(&t)?;
            let w1c = w1.clone();
            Some(std::thread::spawn(move || -> Res<()> {
                let mut setup = Setup::new("bench_out", [("input".to_string(), w1c)].into(), Default::default());
                let mut b = ZenohOut::open(p, &mut setup)?;
                let mut cx = Context::new("bench_out", stop);
                while !stop.load(Ordering::Relaxed) {
                    b.step(&mut cx)?;
                }
                Ok(())
            }))
        };
        let mut line = String::new();
        out.read_line(&mut line)?;
        if !line.starts_with("READY") {
            return Err(format!("benchmark peer: {line}").into());
        }
        // The camera: copies a frame (every byte) into a slot and commits it.
        let mut writer = Writer::attach(&w1, &Expect::default())?;
        let period = if fps > 0.0 { Duration::from_secs_f64(1.0 / fps) } else { Duration::ZERO };
        let start = Instant::now();
        let mut next = start;
        let mut i = 0usize;
        let mut result = String::new();
        let mut reader_done = false;
        while start.elapsed() < Duration::from_secs_f64(seconds + 20.0) {
            if period > Duration::ZERO {
                let now = Instant::now();
                if now < next {
                    std::thread::sleep(next - now);
                }
                next += period;
            }
            let id = writer.reserve(Duration::from_millis(100))?;
            let slot = writer.slot_mut(id);
            let f = &frames[i % frames.len()];
            slot[..f.len()].copy_from_slice(f);
            let meta = FrameMeta {
                timestamp_ns: framewire_sys::proc::monotonic_ns(),
                len: f.len(),
                image: fmt,
                ..Default::default()
            };
            writer.commit(id, &meta)?;
            i += 1;
            if period == Duration::ZERO {
                // Unpaced: let the other threads have the cores in between.
                std::thread::yield_now();
            }
            if i.is_multiple_of(8) && peer.try_wait()?.is_some() {
                reader_done = true;
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(t) = sender {
            t.join().map_err(|_| "zenoh_out thread panicked")??;
        }
        if !reader_done {
            peer.wait()?;
        }
        out.read_line(&mut result)?;
        let v: Vec<f64> = result.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        if !result.starts_with("RESULT") || v.len() < 4 {
            return Err(format!("benchmark peer gave no result: {result:?}").into());
        }
        Ok(Stats { fps: v[0], p50: v[1], p99: v[2], kb: v[3] })
    })();
    let _ = wire::unlink(&w1);
    result
}

/// The receiving process: `bench-peer zenoh local|bridge WIRE raw|jpeg [KEY ENDPOINT WxH] SECONDS`.
pub fn peer_main(args: &[String]) -> Res<()> {
    let get = |i: usize| args.get(i).cloned().ok_or_else(|| format!("bench-peer zenoh: argument {i} missing"));
    let mode = get(0)?;
    let wire_name = get(1)?;
    let jpeg = get(2)? == "jpeg";
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    let (seconds, receiver, created) = if mode == "bridge" {
        let (key, endpoint, size) = (get(3)?, get(4)?, get(5)?);
        let (w, h) = size.split_once('x').ok_or("size is WxH")?;
        let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
        wire::create(&wire_name, &WireConfig::new(w as u64 * h as u64 * 3, 6, 2, Policy::Latest))?;
        let t = table(&format!(
            "key = {key:?}\noutput = \"image:{w}x{h}\"\nmax_delay_ms = 0\nzenoh = {{ multicast_scouting = false, connect = [{endpoint:?}] }}"
        ))?;
        let p = InParams::from_table(&t)?;
        let name = wire_name.clone();
        let t = std::thread::spawn(move || -> Res<()> {
            let mut setup = Setup::new("bench_in", Default::default(), [("output".to_string(), name)].into());
            let mut b = ZenohIn::open(p, &mut setup)?;
            let mut cx = Context::new("bench_in", stop);
            while !stop.load(Ordering::Relaxed) {
                b.step(&mut cx)?;
            }
            Ok(())
        });
        (get(6)?.parse::<f64>()?, Some(t), true)
    } else {
        (get(3)?.parse::<f64>()?, None, false)
    };
    let result = (|| -> Res<String> {
        let mut r = Reader::attach(&wire_name, &Expect::default())?;
        println!("READY");
        let mut decoder = JpegDecoder::new();
        let mut rgb = Vec::new();
        let mut ages = Vec::new();
        let (mut first, mut n, mut bytes) = (None, 0u64, 0u64);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds + 15.0);
        let mut sum = 0u64;
        while Instant::now() < deadline {
            let Some(g) = r.read(Duration::from_millis(100)) else { continue };
            let m = *g.meta();
            let data = &g[..m.len];
            // The work a user's program does with each frame: it reads it all
            // (one byte in 8 is every cache line), or decodes the JPEG.
            if jpeg {
                let f = ImageFormat::packed(FourCC::RGB24, m.image.width, m.image.height);
                rgb.resize(f.byte_len(), 0);
                decoder.decode(data, &mut ImageMut { format: f, data: &mut rgb })?;
                sum = sum.wrapping_add(rgb[rgb.len() / 2] as u64);
            } else {
                sum = data.chunks(8).fold(sum, |s, c| s.wrapping_add(c[0] as u64));
            }
            let now = framewire_sys::proc::monotonic_ns();
            let t0 = *first.get_or_insert(now);
            // The first half second is warm-up (connections, page faults).
            if now - t0 < 500_000_000 {
                continue;
            }
            ages.push(now.saturating_sub(m.timestamp_ns));
            n += 1;
            bytes += m.len as u64;
            if (now - t0) as f64 / 1e9 >= seconds + 0.5 {
                break;
            }
        }
        std::hint::black_box(sum);
        ages.sort_unstable();
        let q = |x: f64| crate::quantile(&ages, x) as f64 / 1e6;
        Ok(format!(
            "RESULT {:.1} {:.2} {:.2} {:.1}",
            n as f64 / seconds,
            q(0.5),
            q(0.99),
            bytes as f64 / n.max(1) as f64 / 1024.0
        ))
    })();
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = receiver {
        let _ = t.join();
    }
    if created {
        let _ = wire::unlink(&wire_name);
    }
    println!("{}", result?);
    Ok(())
}

/// Runs the benchmark and prints its table.
pub fn run(a: &Args) -> Res<()> {
    println!(
        "framewire bench zenoh: two processes on loopback TCP, {} s per measurement, medians of {} rounds",
        a.seconds, a.rounds
    );
    println!("CPU: {}", crate::cpu_model());
    println!("SIMD: {} (JPEG encode: jpeg-encoder, decode: framewire's decoder)", crate::wire::simd_summary());
    println!("date: {}", crate::today());
    println!(
        "frames: the demo's simulated camera, YUYV; the receiver reads every cache line of each frame (JPEG: decodes it to RGB24)"
    );
    println!();
    println!("| size | path | kB/frame | paced 30 fps: p50 ms | p99 ms | unpaced: frames/s | vs local wire |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for &(w, h) in &a.sizes {
        let frames = render(w, h);
        let mut local_fps = 0.0;
        for mode in [Mode::Local, Mode::Raw, Mode::Jpeg] {
            let (mut p50, mut p99, mut fps, mut kb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..a.rounds {
                let paced = measure(mode, w, h, &frames, 30.0, a.seconds)?;
                let free = measure(mode, w, h, &frames, 0.0, a.seconds)?;
                p50.push(paced.p50);
                p99.push(paced.p99);
                kb.push(paced.kb);
                fps.push(free.fps);
            }
            let f = median(fps);
            if mode == Mode::Local {
                local_fps = f;
            }
            println!(
                "| {w}x{h} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2}x |",
                mode.label(),
                median(kb),
                median(p50),
                median(p99),
                f,
                if local_fps > 0.0 { f / local_fps } else { 0.0 }
            );
        }
    }
    Ok(())
}
