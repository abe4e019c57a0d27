//! Helpers shared by the integration tests: a unique shared-memory prefix
//! per test that checks for leftovers, child processes that re-execute this
//! test binary in a given role, and self-checking frame payloads.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A shared-memory prefix unique to one test. On drop it asserts that
/// nothing under it is left in /dev/shm (and removes what is, so one failing
/// test does not leak into the next run).
pub struct Prefix {
    /// The prefix, e.g. `framewire-t1234-3`.
    pub name: String,
}

impl Prefix {
    /// A fresh prefix.
    pub fn new() -> Prefix {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Prefix { name: format!("framewire-t{}-{n}", std::process::id()) }
    }

    /// Segment name for `pipeline`/`wire` under this prefix.
    pub fn wire(&self, pipeline: &str, wire: &str) -> String {
        framewire::wire::segment_name(&self.name, pipeline, wire).unwrap()
    }

    /// A temporary directory of this test's own, removed on drop.
    pub fn dir(&self) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(&self.name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Segments in /dev/shm under this prefix.
    pub fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&format!("{}.", self.name)))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
        let left = self.leftovers();
        for n in &left {
            let _ = std::fs::remove_file(format!("/dev/shm/{n}"));
        }
        if !std::thread::panicking() {
            assert!(left.is_empty(), "test left segments in /dev/shm: {left:?}");
        }
    }
}

/// Starts this test binary again as a child process in role `role`; the
/// child runs the test named `entry` which dispatches on `FW_ROLE`.
pub fn spawn_role(entry: &str, role: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("FW_ROLE", role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child test process")
}

/// Reads lines from a child's stdout until one starts with `marker`;
/// returns that line. Panics if the child's stdout ends first.
pub fn wait_line(out: &mut impl std::io::BufRead, marker: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("child ended before printing {marker:?}");
        }
        if line.starts_with(marker) {
            return line.trim_end().to_string();
        }
    }
}

/// Waits for a child and returns its stdout; panics with it if the child failed.
pub fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "child failed ({}): {text}", out.status);
    text
}

/// Environment variable `k`, parsed.
pub fn env<T: std::str::FromStr>(k: &str) -> T {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set")).parse().ok().unwrap()
}

/// FNV-1a, 64 bit.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Fills `buf` with a pseudo-random pattern derived from `seed` and returns
/// how many bytes were used: `[0..8]` seed, `[8..16]` FNV of the rest.
pub fn fill_frame(buf: &mut [u8], seed: u64) -> usize {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in buf[16..].chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    buf[..8].copy_from_slice(&seed.to_le_bytes());
    let sum = fnv(&buf[16..]);
    buf[8..16].copy_from_slice(&sum.to_le_bytes());
    buf.len()
}

/// Checks a frame made by `fill_frame`; returns its seed.
pub fn check_frame(buf: &[u8]) -> Result<u64, String> {
    if buf.len() < 16 {
        return Err(format!("frame of {} bytes is too short", buf.len()));
    }
    let seed = u64::from_le_bytes(buf[..8].try_into().unwrap());
    let sum = u64::from_le_bytes(buf[8..16].try_into().unwrap());
    if fnv(&buf[16..]) != sum {
        return Err(format!("torn frame: checksum mismatch (seed {seed})"));
    }
    Ok(seed)
}

/// The real `framewire` binary, run from the repository root with this
/// test's shared-memory prefix.
pub fn framewire_command(prefix: &Prefix) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_framewire"));
    c.env("FRAMEWIRE_SHM_PREFIX", &prefix.name).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// The run file the supervisor of `pipeline` keeps under this prefix.
pub fn run_file(prefix: &Prefix, pipeline: &str) -> Option<toml::Table> {
    std::fs::read_to_string(format!("/dev/shm/{}.{pipeline}._run", prefix.name)).ok()?.parse().ok()
}

/// The pid of block `block` of a running pipeline, from its run file.
pub fn block_pid(prefix: &Prefix, pipeline: &str, block: &str) -> Option<i32> {
    let t = run_file(prefix, pipeline)?;
    t.get("block")?
        .as_array()?
        .iter()
        .find_map(|b| (b.get("name")?.as_str()? == block).then(|| b.get("pid")?.as_integer().map(|p| p as i32))?)
}
