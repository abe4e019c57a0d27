//! `framewire bench wire`: how fast a frame crosses a wire between processes.
//!
//! Handoff latency is measured from the writer's commit to the moment a
//! reader in another process holds the guard and has read the frame's first
//! and last byte. Frames are spaced 2 ms apart so that readers are asleep
//! when each frame arrives, as with a camera. Baselines in the same run:
//! * the one-way wake-up floor: a process-shared POSIX semaphore posted
//!   every 2 ms to a sleeping process (what any event-driven transport pays);
//! * a Unix domain socket carrying the same frames (a copying transport);
//! * `memcpy` of each frame (what a single copy costs).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::quantile;
use framewire_sys::proc::monotonic_ns;
use framewire_sys::shm::{self, Mapping};
use framewire_wire::{self as wire, Expect, Policy, Reader, WireConfig, Writer};

/// Spacing of paced frames.
const SPACING: Duration = Duration::from_millis(2);
/// Payload sizes measured: 64 KiB, 1 MiB and one 1920x1080 RGB24 frame.
pub const SIZES: [usize; 3] = [64 * 1024, 1024 * 1024, 6_220_800];

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn spawn_peer(args: &[&str]) -> Res<Child> {
    let exe = std::env::current_exe()?;
    Ok(Command::new(exe).arg("bench-peer").args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?)
}

fn wait_line(c: &mut Child, marker: &str) -> Res<String> {
    let out = c.stdout.as_mut().ok_or("no stdout")?;
    let mut r = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(format!("peer ended before {marker}").into());
        }
        if let Some(rest) = line.strip_prefix(marker) {
            return Ok(rest.trim().to_string());
        }
    }
}

fn collect(mut c: Child) -> Res<Vec<u64>> {
    let mut s = String::new();
    c.stdout.take().ok_or("no stdout")?.read_to_string(&mut s)?;
    c.wait()?;
    let line = s.lines().find_map(|l| l.strip_prefix("LAT ")).ok_or("peer printed no latencies")?;
    Ok(line.split_whitespace().filter_map(|v| v.parse().ok()).collect())
}

fn pace(next: &mut Instant) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next = Instant::now().max(*next) + SPACING;
}

fn prefix() -> String {
    format!("framewire-bench{}", std::process::id())
}

/// Commits one frame of `size` bytes, touching its first and last byte.
fn put_frame(w: &mut Writer, i: usize, size: usize, timeout: Duration) -> Res<()> {
    let mut loan = w.loan(timeout)?;
    let b = loan.bytes();
    b[0] = i as u8;
    b[size - 1] = i as u8;
    loan.meta.len = size;
    loan.commit()?;
    Ok(())
}

/// Creates wire `wire` as `cfg` says, starts one reader process per reader
/// entry, each reading `frames` frames (spinning `spin_us` before sleeping),
/// lets `write` drive the writer, and returns what `write` returned with
/// every reader's latencies. The wire is unlinked whatever happens.
fn with_readers<T>(
    wire: &str,
    cfg: &WireConfig,
    frames: usize,
    spin_us: u64,
    write: impl FnOnce(&mut Writer) -> Res<T>,
) -> Res<(T, Vec<u64>)> {
    let name = wire::segment_name(&prefix(), "bench", wire)?;
    let _ = wire::unlink(&name);
    wire::create(&name, cfg)?;
    let result = (|| {
        let mut peers = Vec::new();
        for _ in 0..cfg.max_readers {
            let mut c = spawn_peer(&["wire-reader", &name, &frames.to_string(), &spin_us.to_string()])?;
            wait_line(&mut c, "READY")?;
            peers.push(c);
        }
        let mut w = Writer::attach(&name, &Expect::default())?;
        let t = write(&mut w)?;
        let mut all = Vec::new();
        for c in peers {
            all.extend(collect(c)?);
        }
        Ok((t, all))
    })();
    let _ = wire::unlink(&name);
    result
}

/// Paced handoff latency (ns) over a `latest` wire with `readers` readers.
fn wire_latency(size: usize, readers: usize, frames: usize, spin_us: u64) -> Res<Vec<u64>> {
    let wire = format!("lat{size}.r{readers}");
    let cfg = WireConfig::new(size as u64, readers as u32 + 2, readers as u32, Policy::Latest);
    let ((), lat) = with_readers(&wire, &cfg, frames, spin_us, |w| {
        let mut next = Instant::now() + SPACING;
        for i in 0..frames {
            pace(&mut next);
            put_frame(w, i, size, Duration::from_secs(1))?;
        }
        Ok(())
    })?;
    Ok(lat)
}

/// Unpaced lossless throughput (frames/s) over a `queue` wire.
fn wire_throughput(size: usize, readers: usize, frames: usize) -> Res<f64> {
    let wire = format!("fps{size}.r{readers}");
    // The clock stops when the last frame is committed; the readers drain after.
    let cfg = WireConfig::new(size as u64, 4, readers as u32, Policy::Queue);
    let (fps, _) = with_readers(&wire, &cfg, frames, 0, |w| {
        let t = Instant::now();
        for i in 0..frames {
            put_frame(w, i, size, Duration::from_secs(5))?;
        }
        Ok(frames as f64 / t.elapsed().as_secs_f64())
    })?;
    Ok(fps)
}

/// One-way latency of a process-shared semaphore to a sleeping waiter.
fn semaphore_floor(n: usize) -> Res<Vec<u64>> {
    let name = format!("{}.bench.sem", prefix());
    let fd = shm::create(&name, 4096, 0o600).map_err(|e| format!("{e:?}"))?;
    let result = (|| {
        let m = Mapping::new(&fd, 4096)?;
        m.sem_init(64)?;
        let mut c = spawn_peer(&["sem-waiter", &name, &n.to_string()])?;
        wait_line(&mut c, "READY")?;
        let mut next = Instant::now() + SPACING;
        for _ in 0..n {
            pace(&mut next);
            m.atomic_u64(0).store(monotonic_ns(), std::sync::atomic::Ordering::SeqCst);
            m.sem_post(64);
        }
        collect(c)
    })();
    let _ = shm::unlink(&name);
    result
}

/// Latency of the same frames over a Unix stream socket (send start to
/// last byte received).
fn socket_latency(size: usize, n: usize) -> Res<Vec<u64>> {
    let dir = std::env::temp_dir().join(format!("framewire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let c = spawn_peer(&["sock-reader", path.to_str().ok_or("path")?, &n.to_string(), &size.to_string()])?;
    let (mut s, _) = listener.accept()?;
    let mut frame = vec![7u8; size];
    let mut next = Instant::now() + SPACING;
    for _ in 0..n {
        pace(&mut next);
        frame[..8].copy_from_slice(&monotonic_ns().to_le_bytes());
        s.write_all(&frame)?;
    }
    drop(s);
    let r = collect(c);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn memcpy_ns(size: usize, n: usize) -> u64 {
    let src = vec![1u8; size];
    let mut dst = vec![0u8; size];
    let mut v: Vec<u64> = (0..n)
        .map(|i| {
            let t = monotonic_ns();
            dst.copy_from_slice(&src);
            std::hint::black_box(&mut dst)[i % size] ^= 1;
            monotonic_ns() - t
        })
        .collect();
    v.sort_unstable();
    quantile(&v, 0.5)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Median of a few values.
fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Sorts `v` and returns (p50, p99).
fn p50_p99(mut v: Vec<u64>) -> (u64, u64) {
    v.sort_unstable();
    (quantile(&v, 0.5), quantile(&v, 0.99))
}

/// Runs the benchmark and prints the table. Each row is measured in
/// `rounds` rounds; every round measures the semaphore floor right before
/// the wire, so both see the same machine load, and the table shows the
/// median over rounds of each round's p50 (and the median p99).
pub fn run(frames: usize, quick: bool) -> Res<()> {
    let frames = frames.max(20);
    let rounds = 3;
    let sizes: Vec<usize> = if quick { vec![SIZES[2]] } else { SIZES.to_vec() };
    println!(
        "framewire bench wire: {rounds} rounds x {frames} frames per point, paced {SPACING:?} apart for latency; {} CPUs",
        num_cpus()
    );
    println!("latency = commit -> reader in another process holds the guard and has read the first and last byte");
    println!(
        "floor   = one-way wake-up of a sleeping process through a process-shared semaphore, measured beside each row"
    );
    println!();
    println!(
        "{:>9} {:>3} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>10} {:>10}",
        "payload",
        "rdr",
        "p50 us",
        "p99 us",
        "floor us",
        "p50/floor",
        "fps(queue)",
        "socket us",
        "sock/wire",
        "memcpy us"
    );
    let mut p50_by_size = Vec::new();
    for &size in &sizes {
        let (sp, _) = p50_p99(socket_latency(size, frames.min(200))?);
        let mc = memcpy_ns(size, 50);
        for readers in [1usize, 3] {
            let (mut p50s, mut p99s, mut floors, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (f50, _) = p50_p99(semaphore_floor(frames)?);
                let (w50, w99) = p50_p99(wire_latency(size, readers, frames, 0)?);
                p50s.push(w50);
                p99s.push(w99);
                floors.push(f50);
                ratios.push(w50 * 1000 / f50.max(1));
            }
            let fps = wire_throughput(size, readers, frames * 3)?;
            let p50 = median(p50s);
            if readers == 1 {
                p50_by_size.push((size, p50));
            }
            println!(
                "{:>9} {:>3} {:>9.1} {:>9.1} {:>9.1} {:>8.2}x {:>11.0} {:>11} {:>10} {:>10.1}",
                size,
                readers,
                us(p50),
                us(median(p99s)),
                us(median(floors)),
                median(ratios) as f64 / 1000.0,
                fps,
                if readers == 1 { format!("{:.1}", us(sp)) } else { "-".into() },
                if readers == 1 { format!("{:.0}x", sp as f64 / p50 as f64) } else { "-".into() },
                us(mc)
            );
        }
    }
    if let (Some((s0, a)), Some((s1, b))) = (p50_by_size.first(), p50_by_size.last())
        && s0 != s1
    {
        println!();
        println!("latency at {s1} bytes / latency at {s0} bytes (1 reader, median p50): {:.2}x", *b as f64 / *a as f64);
    }
    // Optional low-latency mode: the reader spins before sleeping.
    let (s50, s99) = p50_p99(wire_latency(SIZES[2], 1, frames.min(200), 2500)?);
    println!(
        "spin mode (reader spins up to 2.5 ms before sleeping: ~100% of one core at this frame rate): 6220800 bytes p50 {:.1} us p99 {:.1} us",
        us(s50),
        us(s99)
    );
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The peer processes of the benchmark (`framewire bench-peer ...`).
pub fn peer_main(args: &[String]) -> Res<()> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["wire-reader", name, n, spin] => {
            let n: usize = n.parse()?;
            let mut r = Reader::attach(name, &Expect::default())?;
            r.set_spin(Duration::from_micros(spin.parse()?));
            println!("READY");
            std::io::stdout().flush()?;
            let mut lat = Vec::with_capacity(n);
            let mut last = 0;
            while lat.len() < n {
                let Some(g) = r.read(Duration::from_secs(2)) else { break };
                // The handoff ends when the reader has touched both ends of
                // the frame in place.
                std::hint::black_box((g[0], g[g.len() - 1]));
                let now = monotonic_ns();
                lat.push(now.saturating_sub(g.meta().commit_ns));
                last = g.meta().seq;
            }
            let _ = last;
            println!("LAT {}", lat.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        }
        ["sem-waiter", name, n] => {
            let n: usize = n.parse()?;
            let fd = shm::open(name)?;
            let m = Mapping::new(&fd, 4096)?;
            println!("READY");
            std::io::stdout().flush()?;
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                if !m.sem_wait_until(64, monotonic_ns() + 2_000_000_000) {
                    break;
                }
                let now = monotonic_ns();
                lat.push(now.saturating_sub(m.atomic_u64(0).load(std::sync::atomic::Ordering::SeqCst)));
            }
            println!("LAT {}", lat.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        }
        ["sock-reader", path, n, size] => {
            let (n, size): (usize, usize) = (n.parse()?, size.parse()?);
            let mut s = UnixStream::connect(path)?;
            let mut buf = vec![0u8; size];
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                if s.read_exact(&mut buf).is_err() {
                    break;
                }
                let now = monotonic_ns();
                lat.push(now.saturating_sub(u64::from_le_bytes(buf[..8].try_into()?)));
            }
            println!("LAT {}", lat.iter().map(u64::to_string).collect::<Vec<_>>().join(" "));
        }
        _ => return Err(format!("unknown bench peer {a:?}").into()),
    }
    Ok(())
}
