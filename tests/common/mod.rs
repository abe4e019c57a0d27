//! Helpers shared by the integration tests: a unique shared-memory prefix
//! per test that checks for leftovers, child processes that re-execute this
//! test binary in a given role, and self-checking frame payloads.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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

    /// Removes what a test left on purpose (a supervisor it killed with
    /// SIGKILL cannot unlink its segments).
    pub fn purge(&self) {
        for n in self.leftovers() {
            let _ = std::fs::remove_file(format!("/dev/shm/{n}"));
        }
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

// ------------------------------------------------------------ skipping

/// Reports that test `test` cannot run here, visibly, and fails instead
/// when `FRAMEWIRE_REQUIRE` lists `requirement` (see
/// `framewire::sys::testing::skip`).
pub fn skip(test: &str, requirement: &str, reason: &str) {
    framewire::sys::testing::skip(test, requirement, reason)
}

/// Whether this process runs as root (some tests need a second user's
/// files, which only root can make).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ------------------------------------------------------------ running framewire

pub fn framewire(prefix: &Prefix) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_framewire"));
    c.env("FRAMEWIRE_SHM_PREFIX", &prefix.name).current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn temp_config(prefix: &Prefix, name: &str, text: &str) -> PathBuf {
    let p = prefix.dir().join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `framewire run CFG --for DURATION`; returns its result and all it printed.
pub fn run_for(p: &Prefix, cfg: &Path, duration: &str) -> (Output, String) {
    let out = framewire(p).arg("run").arg(cfg).args(["--for", duration]).output().unwrap();
    let all = text(&out);
    (out, all)
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn pipeline(camera_extra: &str, sink_extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "t"
connect = ["cam.frames -> sink.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 100
{camera_extra}

[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 0
{sink_extra}
"#
    )
}

pub fn start(p: &Prefix, cfg: &Path) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut c = framewire(p).arg("run").arg(cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    // Wait until both blocks run and frames flow.
    let mut line = String::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.contains("[sink]") && line.contains("first frame") {
            return (c, err);
        }
    }
    let _ = c.kill();
    let _ = c.wait();
    panic!("pipeline did not start (last line: {line})");
}

pub fn block_pids(p: &Prefix, pipeline: &str) -> Vec<i32> {
    let text = std::fs::read_to_string(format!("/dev/shm/{}.{pipeline}._run", p.name)).unwrap();
    let t: toml::Table = text.parse().unwrap();
    t["block"].as_array().unwrap().iter().map(|b| b["pid"].as_integer().unwrap() as i32).filter(|&p| p > 0).collect()
}

pub fn alive(pid: i32) -> bool {
    // A zombie is not alive: it has exited and only awaits its parent.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
        .unwrap_or(false)
}

pub struct SimMotor {
    child: Child,
    err: Option<std::process::ChildStderr>,
}

impl SimMotor {
    pub fn start(protocol: &str, link: &Path) -> SimMotor {
        SimMotor::start_with(protocol, link, &[])
    }

    /// A simulator with fault flags (`--silent`, `--corrupt`, ...).
    pub fn start_with(protocol: &str, link: &Path, flags: &[&str]) -> SimMotor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_framewire"))
            .args(["sim-motor", "--protocol", protocol])
            .args(flags)
            .arg("--link")
            .arg(link)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), link.to_str().unwrap(), "sim-motor prints the path to use");
        let err = child.stderr.take();
        SimMotor { child, err }
    }

    /// Stops the simulator and returns what it reported.
    pub fn finish(mut self) -> String {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGINT)
            .unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(self.err.as_mut().unwrap(), &mut s).unwrap();
        self.child.wait().unwrap();
        s
    }
}

impl Drop for SimMotor {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
    }
}

/// Every motor protocol: (simulator name, driver block type, the driver's
/// protocol-specific keys).
pub const MOTOR_CASES: [(&str, &str, &str); 7] = [
    ("roboclaw", "roboclaw", "counts_per_rev = 1920"),
    ("dynamixel", "dynamixel", ""),
    ("arduino", "ros_arduino_bridge", "counts_per_rev = 1920"),
    ("sabertooth", "sabertooth", ""),
    ("vesc", "vesc", ""),
    ("odrive", "odrive", ""),
    ("pololu", "pololu_smc", ""),
];

/// Pipeline `m`: a drive source (`source_block`, a `[[block]]` named
/// `script` with a `drive` output) -> `diff_drive` -> driver `block` on
/// `port`, with `extra` keys for the driver.
pub fn motor_pipeline(source_block: &str, block: &str, port: &Path, extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "m"
connect = ["script.drive -> base.drive", "base.wheels -> motors.wheels"]

{source_block}

[[block]]
name = "base"
type = "diff_drive"
wheel_radius = 0.05
track_width = 0.3
max_wheel_speed = 20.0

[[block]]
name = "motors"
type = "{block}"
port = "{}"
wheel_radius = 0.05
track_width = 0.3
max_wheel_speed = 20.0
{extra}
"#,
        port.display()
    )
}

/// A `drive_script` named `script` driving forward for `seconds`.
pub fn script_block(seconds: f64) -> String {
    format!("[[block]]\nname = \"script\"\ntype = \"drive_script\"\nsteps = [[{seconds:.1}, 0.2, 0.0]]\n")
}
