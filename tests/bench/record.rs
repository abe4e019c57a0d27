//! What recording costs per frame: `Recording::write_image` (CDR encoding
//! into the staging buffer, the MCAP record, chunk CRC, the write to the
//! file) against the floor of writing the same bytes to a file through a
//! `BufWriter`, run side by side in this process, and a `memcpy` of the frame.
//!
//!     cargo bench --bench bench_record [-- --dir /path/on/the/disk/to/test]
//!
//! Prints medians over rounds and the ratio recorder / floor, per frame size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use framewire::image::{FourCC, ImageFormat};
use framewire::record::recording::{ChannelKind, Options, Recording};
use framewire::wire::FrameMeta;

const ROUNDS: usize = 9;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("?");
    #[cfg(target_arch = "x86_64")]
    let crc = if std::arch::is_x86_feature_detected!("pclmulqdq") { "PCLMULQDQ" } else { "table" };
    #[cfg(not(target_arch = "x86_64"))]
    let crc = "portable";
    format!("{} (chunk CRC by crc32fast: {crc})", model.trim())
}

/// Seconds per frame recording `n` frames of `data` into a new recording in `dir`.
fn record(dir: &Path, fmt: ImageFormat, data: &[u8], n: usize, sync: bool) -> f64 {
    let opts = Options {
        path: dir.join("bench.mcap"),
        max_file_bytes: 0,
        chunk_bytes: 1 << 20,
        chunk_ns: 1_000_000_000,
        sync,
    };
    let mut rec = Recording::create(opts, Default::default()).unwrap();
    let ch = rec.add_channel("/frames", ChannelKind::Image).unwrap();
    let t = Instant::now();
    for i in 0..n {
        let meta = FrameMeta {
            seq: i as u64 + 1,
            timestamp_ns: framewire::sdk::monotonic_ns(),
            commit_ns: framewire::sdk::monotonic_ns(),
            len: data.len(),
            image: fmt,
            source_seq: i as u64 + 1,
            flags: 0,
        };
        rec.write_image(ch, &meta, data).unwrap();
    }
    for f in rec.finish().unwrap() {
        std::fs::remove_file(f).unwrap();
    }
    t.elapsed().as_secs_f64() / n as f64
}

/// Seconds per frame writing the same bytes (and a 48-byte header) through a BufWriter.
fn floor(dir: &Path, data: &[u8], n: usize) -> f64 {
    let path = dir.join("bench.raw");
    let mut f = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&path).unwrap());
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(&[0u8; 48]).unwrap();
        f.write_all(data).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let s = t.elapsed().as_secs_f64() / n as f64;
    std::fs::remove_file(path).unwrap();
    s
}

fn memcpy(data: &[u8], n: usize) -> f64 {
    let mut dst = vec![0u8; data.len()];
    let t = Instant::now();
    for _ in 0..n {
        dst.copy_from_slice(std::hint::black_box(data));
        std::hint::black_box(&mut dst);
    }
    t.elapsed().as_secs_f64() / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("framewire-bench-record-{}", std::process::id())));
    std::fs::create_dir_all(&dir).unwrap();
    println!("recorder cost per frame, {} rounds, medians; {}", ROUNDS, cpu());
    println!("files in {} (page cache; `sync` adds one fdatasync per 1 MiB chunk)", dir.display());
    println!(
        "{:<12} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "frame", "recorder ms", "+sync ms", "write ms", "memcpy ms", "rec/write"
    );
    for (w, h, n) in [(640u32, 480u32, 120usize), (1920, 1080, 30)] {
        let fmt = ImageFormat::packed(FourCC::RGB24, w, h);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..fmt.byte_len())
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (mut rec, mut synced, mut base, mut copy, mut ratio) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let r = record(&dir, fmt, &data, n, false);
            let b = floor(&dir, &data, n);
            rec.push(r);
            base.push(b);
            ratio.push(r / b);
            synced.push(record(&dir, fmt, &data, n, true));
            copy.push(memcpy(&data, n));
        }
        println!(
            "{:<12} {:>12.3} {:>12.3} {:>12.3} {:>12.3} {:>9.2}",
            format!("{w}x{h} RGB"),
            median(rec) * 1e3,
            median(synced) * 1e3,
            median(base) * 1e3,
            median(copy) * 1e3,
            median(ratio)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
