//! `framewire bench wire`: how fast a frame crosses a wire between processes,
//! in two measures that answer different questions.
//!
//! 1. **Handoff latency** (the notification): from the writer's commit to the
//!    moment a reader in another process holds the guard and has touched the
//!    frame's first and last byte. The payload is not read: this is the cost
//!    of handing a frame over, which zero copy makes independent of its size.
//!    Frames are spaced 2 ms apart so that readers are asleep when each frame
//!    arrives, as with a camera. Beside it, in the same run: the one-way
//!    wake-up floor (a process-shared POSIX semaphore posted to a sleeping
//!    process, what any event-driven transport pays), and the time a Unix
//!    socket takes to deliver the whole frame (not the same work: it is the
//!    delay before a socket reader *has* the bytes).
//! 2. **Full-payload throughput** (the work a program does): the producer
//!    writes every byte of every frame and every reader reads every byte,
//!    summing it into a checksum it verifies (so nothing can be skipped),
//!    unpaced, lossless. The same frames go over the wire (policy `queue`),
//!    over a Unix socket per reader, and through a plain `memcpy` in one
//!    process (fill, copy per reader, checksum: one copy's cost without a
//!    second process or a kernel). Frames per second and GB/s per reader.
//!
//! Every figure is the median of three rounds; ratios are medians of
//! per-round ratios. The CPU, the SIMD level of each loop and the date come
//! first in the output.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{cpu_model, quantile, utc_now};
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

/// The byte frame `seq` is filled with (never 0, so an empty slot fails).
fn fill_byte(seq: u64) -> u8 {
    (seq % 251) as u8 + 1
}

/// Sum of the little-endian u64 words of `b` (length a multiple of 8): reads
/// every byte at memory speed, and the compiler cannot skip it because the
/// result is checked.
pub fn checksum(b: &[u8]) -> u64 {
    b.chunks_exact(8).fold(0u64, |a, c| a.wrapping_add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
}

/// The checksum of a `size`-byte frame filled with `fill_byte(seq)`.
fn expected_checksum(seq: u64, size: usize) -> u64 {
    (u64::from(fill_byte(seq)) * 0x0101_0101_0101_0101).wrapping_mul((size / 8) as u64)
}

/// Frames per full-payload round: about 300 MB, at least 20.
fn payload_frames(size: usize) -> usize {
    (300_000_000 / size).clamp(20, 3000)
}

/// Collects the readers' `END <ns> <good>` lines; returns the latest end time.
fn collect_ends(peers: Vec<Child>, frames: usize) -> Res<u64> {
    let mut last = 0;
    for mut c in peers {
        let mut s = String::new();
        c.stdout.take().ok_or("no stdout")?.read_to_string(&mut s)?;
        c.wait()?;
        let line = s.lines().find_map(|l| l.strip_prefix("END ")).ok_or("reader printed no END")?;
        let mut it = line.split_whitespace().map(|v| v.parse::<u64>());
        let (end, good) = (it.next().ok_or("END")??, it.next().ok_or("END")??);
        if good != frames as u64 {
            return Err(format!("a reader verified {good} of {frames} frames").into());
        }
        last = last.max(end);
    }
    Ok(last)
}

/// Full-payload frames per second over a `queue` wire with `readers` readers.
fn wire_payload_fps(size: usize, readers: usize, frames: usize) -> Res<f64> {
    let name = wire::segment_name(&prefix(), "bench", &format!("sum{size}.r{readers}"))?;
    let _ = wire::unlink(&name);
    wire::create(&name, &WireConfig::new(size as u64, 4, readers as u32, Policy::Queue))?;
    let result = (|| {
        let mut peers = Vec::new();
        for _ in 0..readers {
            let mut c = spawn_peer(&["wire-sum-reader", &name, &frames.to_string(), &size.to_string()])?;
            wait_line(&mut c, "READY")?;
            peers.push(c);
        }
        let mut w = Writer::attach(&name, &Expect::default())?;
        let t0 = monotonic_ns();
        for _ in 0..frames {
            let seq = w.next_seq();
            let mut loan = w.loan(Duration::from_secs(10))?;
            loan.bytes()[..size].fill(fill_byte(seq));
            loan.meta.len = size;
            loan.commit()?;
        }
        let end = collect_ends(peers, frames)?;
        Ok(frames as f64 / ((end - t0) as f64 / 1e9))
    })();
    let _ = wire::unlink(&name);
    result
}

/// Full-payload frames per second over one Unix stream socket per reader.
fn socket_payload_fps(size: usize, readers: usize, frames: usize) -> Res<f64> {
    let dir = std::env::temp_dir().join(format!("framewire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sum");
    let _ = std::fs::remove_file(&path);
    let result = (|| {
        let listener = UnixListener::bind(&path)?;
        let mut peers = Vec::new();
        let mut socks = Vec::new();
        for _ in 0..readers {
            let c =
                spawn_peer(&["sock-sum-reader", path.to_str().ok_or("path")?, &frames.to_string(), &size.to_string()])?;
            socks.push(listener.accept()?.0);
            peers.push(c);
        }
        let mut buf = vec![0u8; size];
        let t0 = monotonic_ns();
        for seq in 1..=frames as u64 {
            buf.fill(fill_byte(seq));
            for s in &mut socks {
                s.write_all(&buf)?;
            }
        }
        drop(socks);
        let end = collect_ends(peers, frames)?;
        Ok(frames as f64 / ((end - t0) as f64 / 1e9))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Full-payload frames per second through `memcpy` in one process: fill,
/// then per reader a copy and a checksum.
fn memcpy_payload_fps(size: usize, readers: usize, frames: usize) -> Res<f64> {
    let mut src = vec![0u8; size];
    let mut dst = vec![0u8; size];
    let t0 = Instant::now();
    for seq in 1..=frames as u64 {
        src.fill(fill_byte(seq));
        for _ in 0..readers {
            dst.copy_from_slice(std::hint::black_box(&src));
            if checksum(std::hint::black_box(&dst)) != expected_checksum(seq, size) {
                return Err("memcpy checksum mismatch".into());
            }
        }
    }
    Ok(frames as f64 / t0.elapsed().as_secs_f64())
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

/// The SIMD level the checksum loop was compiled for, and what the CPU has
/// (glibc's `memcpy`/`memset` pick their own kernels at run time).
pub fn simd_summary() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let compiled = if cfg!(target_feature = "avx512bw") {
            "AVX-512BW"
        } else if cfg!(target_feature = "avx2") {
            "AVX2"
        } else {
            "SSE2 (the x86-64 baseline)"
        };
        let mut has = vec!["SSE2"];
        if std::arch::is_x86_feature_detected!("avx2") {
            has.push("AVX2");
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            has.push("AVX-512BW");
        }
        format!(
            "checksum compiled for {compiled}; fill and copy are glibc's memset/memcpy, dispatched at run time; the CPU has {}",
            has.join(", ")
        )
    }
    #[cfg(target_arch = "aarch64")]
    {
        "checksum compiled for NEON (the aarch64 baseline); fill and copy are glibc's memset/memcpy".to_string()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "checksum compiled for this target's baseline; fill and copy are the C library's".to_string()
    }
}

/// Runs the benchmark and prints both tables. Each row is measured in
/// `rounds` rounds; every latency round measures the semaphore floor right
/// before the wire, so both see the same machine load, and each table shows
/// the median over rounds.
pub fn run(frames: usize, quick: bool) -> Res<()> {
    let frames = frames.max(20);
    let rounds = 3;
    let sizes: Vec<usize> = if quick { vec![SIZES[2]] } else { SIZES.to_vec() };
    println!("framewire bench wire, {}", utc_now());
    println!("CPU: {} ({} CPUs online)", cpu_model(), num_cpus());
    println!("SIMD: {}", simd_summary());
    println!();
    println!("1. Handoff latency (the notification; the reader touches only the first and last byte)");
    println!("   {rounds} rounds x {frames} frames per row, paced {SPACING:?} apart so readers sleep between frames");
    println!("   handoff = commit -> a reader in another process holds the guard and has touched both ends");
    println!("   floor   = one-way wake-up of a sleeping process through a process-shared semaphore, beside each row");
    println!(
        "   socket  = send start -> last byte received over a Unix socket (a different thing: delivering the bytes)"
    );
    println!("   memcpy  = one copy of the frame, for scale");
    println!();
    println!(
        "{:>9} {:>3} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10}",
        "payload", "rdr", "p50 us", "p99 us", "floor us", "p50/floor", "socket us", "memcpy us"
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
            let p50 = median(p50s);
            if readers == 1 {
                p50_by_size.push((size, p50));
            }
            println!(
                "{:>9} {:>3} {:>10.1} {:>10.1} {:>9.1} {:>9.2}x {:>10} {:>10.1}",
                size,
                readers,
                us(p50),
                us(median(p99s)),
                us(median(floors)),
                median(ratios) as f64 / 1000.0,
                if readers == 1 { format!("{:.1}", us(sp)) } else { "-".into() },
                us(mc)
            );
        }
    }
    if let (Some((s0, a)), Some((s1, b))) = (p50_by_size.first(), p50_by_size.last())
        && s0 != s1
    {
        println!("handoff at {s1} bytes / handoff at {s0} bytes (1 reader, median p50): {:.2}x", *b as f64 / *a as f64);
    }
    // Optional low-latency mode: the reader spins before sleeping.
    let (s50, s99) = p50_p99(wire_latency(SIZES[2], 1, frames.min(200), 2500)?);
    println!(
        "spin mode (reader spins up to 2.5 ms before sleeping: ~100% of one core at this frame rate): 6220800 bytes p50 {:.1} us p99 {:.1} us",
        us(s50),
        us(s99)
    );
    println!();
    println!(
        "2. Full-payload throughput (the producer writes every byte, every reader reads every byte and verifies a checksum)"
    );
    println!("   unpaced and lossless; wire = policy queue, 4 slots; socket = one Unix socket per reader;");
    println!("   memcpy = one process: fill, then per reader a copy and a checksum (no second process, no kernel)");
    println!("   GB/s = frame bytes per second, per reader (10^9 bytes)");
    println!();
    println!(
        "{:>9} {:>3} {:>7} {:>10} {:>7} {:>10} {:>7} {:>10} {:>7} {:>12}",
        "payload", "rdr", "frames", "wire f/s", "GB/s", "socket f/s", "GB/s", "memcpy f/s", "GB/s", "wire/socket"
    );
    for &size in &sizes {
        let n = payload_frames(size);
        for readers in [1usize, 3] {
            let (mut w, mut so, mut mc, mut ratio) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let a = wire_payload_fps(size, readers, n)?;
                let b = socket_payload_fps(size, readers, n)?;
                let c = memcpy_payload_fps(size, readers, n)?;
                w.push(a as u64);
                so.push(b as u64);
                mc.push(c as u64);
                ratio.push((a / b * 1000.0) as u64);
            }
            let (w, so, mc) = (median(w), median(so), median(mc));
            let gbs = |fps: u64| fps as f64 * size as f64 / 1e9;
            println!(
                "{:>9} {:>3} {:>7} {:>10} {:>7.2} {:>10} {:>7.2} {:>10} {:>7.2} {:>11.2}x",
                size,
                readers,
                n,
                w,
                gbs(w),
                so,
                gbs(so),
                mc,
                gbs(mc),
                median(ratio) as f64 / 1000.0
            );
        }
    }
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
        ["wire-sum-reader", name, n, size] => {
            let (n, size): (usize, usize) = (n.parse()?, size.parse()?);
            let mut r = Reader::attach(name, &Expect::default())?;
            println!("READY");
            std::io::stdout().flush()?;
            let mut good = 0u64;
            for _ in 0..n {
                let Some(g) = r.read(Duration::from_secs(10)) else { break };
                if g.len() == size && checksum(&g) == expected_checksum(g.meta().seq, size) {
                    good += 1;
                }
            }
            println!("END {} {good}", monotonic_ns());
        }
        ["sock-sum-reader", path, n, size] => {
            let (n, size): (usize, usize) = (n.parse()?, size.parse()?);
            let mut s = UnixStream::connect(path)?;
            let mut buf = vec![0u8; size];
            let mut good = 0u64;
            for seq in 1..=n as u64 {
                if s.read_exact(&mut buf).is_err() {
                    break;
                }
                if checksum(&buf) == expected_checksum(seq, size) {
                    good += 1;
                }
            }
            println!("END {} {good}", monotonic_ns());
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
