//! Wires from other languages: the C header (`blocks/c/framewire.h`) and
//! the Python module built on it (`blocks/python/framewire.py`) against the
//! Rust implementation, in both directions, with every byte of every frame
//! checked, and a Python block driving a simulated RoboClaw.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use framewire::wire::{self, Expect, Policy, Reader, WireConfig, Writer};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles `src` (a C program including framewire.h) into `dir`.
fn compile_c(test: &str, dir: &Path, src: &str) -> Option<PathBuf> {
    if Command::new("cc").arg("--version").output().is_err() {
        skip(test, "gcc", "no C compiler (cc)");
        return None;
    }
    let c = dir.join("prog.c");
    std::fs::write(&c, src).unwrap();
    let exe = dir.join("prog");
    let out = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE", "-I"])
        .arg(root().join("blocks/c"))
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .arg("-lpthread")
        .output()
        .unwrap();
    assert!(out.status.success(), "framewire.h compiles cleanly with -Wall -Wextra -Werror:\n{}", text(&out));
    Some(exe)
}

/// The same self-checking frames as tests/common's `fill_frame`, in C.
const FILL_C: &str = r#"
static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
    return h;
}
__attribute__((unused)) static void fill(uint8_t *buf, size_t len, uint64_t seed) {
    uint64_t x = (seed * 0x9e3779b97f4a7c15ull) | 1;
    for (size_t i = 16; i < len; i += 8) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(buf + i, &x, n);
    }
    memcpy(buf, &seed, 8);
    uint64_t sum = fnv(buf + 16, len - 16);
    memcpy(buf + 8, &sum, 8);
}
"#;

#[test]
fn a_c_writer_feeds_a_rust_reader_every_byte_intact() {
    let p = Prefix::new();
    let name = p.wire("c", "cam.frames");
    let len = 640 * 480 * 3;
    wire::create(&name, &WireConfig::new(len as u64, 4, 2, Policy::Queue)).unwrap();
    let src = format!(
        r#"#define FRAMEWIRE_IMPLEMENTATION
#include "framewire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
{FILL_C}
int main(int argc, char **argv) {{
    if (argc < 2) return 9;
    fw_wire w;
    if (fw_writer_attach(&w, argv[1]) != 0) {{ perror(w.error); return 1; }}
    size_t len = (size_t)atol(argv[2]);
    int n = atoi(argv[3]);
    for (int i = 1; i <= n; i++) {{
        int s = fw_loan(&w, 5000);
        if (s < 0) {{ perror(w.error); return 2; }}
        fill(fw_slot(&w, s), len, (uint64_t)i);
        fw_meta m = {{0}};
        m.len = len; m.width = 640; m.height = 480; m.stride = 1920; m.fourcc = 0x33424752; m.source_seq = (uint64_t)i;
        if (fw_commit(&w, s, &m) != (uint64_t)i) {{ perror(w.error); return 3; }}
    }}
    fw_writer_detach(&w);
    printf("wrote %d\n", n);
    return 0;
}}
"#
    );
    let Some(exe) = compile_c("a_c_writer_feeds_a_rust_reader_every_byte_intact", &p.dir(), &src) else {
        wire::unlink(&name).unwrap();
        return;
    };
    // A queue reader attached before the writer starts misses nothing.
    let mut r = Reader::attach(&name, &Expect::default()).unwrap();
    let frames = 50;
    let child = Command::new(&exe).arg(&name).arg(len.to_string()).arg(frames.to_string()).spawn().unwrap();
    let mut seen = 0u64;
    while seen < frames {
        let g = r.read(Duration::from_secs(10)).unwrap_or_else(|| panic!("frame {} never came", seen + 1));
        seen += 1;
        assert_eq!(check_frame(&g), Ok(seen), "every byte of frame {seen} as the C writer made it");
        let m = g.meta();
        assert_eq!((m.seq, m.source_seq, m.image.width, m.image.stride, m.len), (seen, seen, 640, 1920, len));
        assert_eq!(m.image.fourcc, framewire::image::FourCC::RGB24);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    drop(r);
    wire::unlink(&name).unwrap();
}

/// The C writer takes the writer's place the way the Rust writer does (an
/// open-file-description lock on byte 140): while it lives, a Rust writer is
/// refused with the C writer's pid; once it is SIGKILLed, the place is free
/// at once, with no pid or /proc check involved; and a C writer is refused
/// while a Rust writer holds the place.
#[test]
fn c_and_rust_writers_exclude_each_other_and_a_killed_c_writer_frees_its_place() {
    let p = Prefix::new();
    let name = p.wire("c", "drive.out");
    wire::create(&name, &WireConfig::new(64, 4, 2, Policy::Latest)).unwrap();
    let src = r#"#define FRAMEWIRE_IMPLEMENTATION
#include "framewire.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 3) return 9;
    fw_wire w;
    if (fw_writer_attach(&w, argv[1]) != 0) {
        printf("refused: %s (%s)\n", w.error, strerror(errno));
        fflush(stdout);
        return errno == EBUSY ? 4 : 1;
    }
    printf("attached\n");
    fflush(stdout);
    if (argv[2][0] == 'h') for (;;) pause();
    fw_writer_detach(&w);
    return 0;
}
"#;
    let test = "c_and_rust_writers_exclude_each_other_and_a_killed_c_writer_frees_its_place";
    let Some(exe) = compile_c(test, &p.dir(), src) else {
        wire::unlink(&name).unwrap();
        return;
    };
    let mut held = Command::new(&exe).arg(&name).arg("hold").stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(held.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "attached");
    match Writer::attach(&name, &Expect::default()) {
        Err(wire::WireError::WriterBusy { pid, .. }) => assert_eq!(pid, held.id(), "the busy error names the C writer"),
        Err(e) => panic!("expected WriterBusy, got {e}"),
        Ok(_) => panic!("a Rust writer attached beside a live C writer"),
    }
    held.kill().unwrap();
    held.wait().unwrap();
    let w = Writer::attach(&name, &Expect::default()).expect("a killed C writer's place is free at once");
    let out = Command::new(&exe).arg(&name).arg("once").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "a C writer is refused beside a Rust one: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("another writer is attached"), "{}", text(&out));
    drop(w);
    let out = Command::new(&exe).arg(&name).arg("once").output().unwrap();
    assert!(out.status.success(), "a C writer attaches after the Rust one detached: {}", text(&out));
    wire::unlink(&name).unwrap();
}

#[test]
fn a_rust_writer_feeds_a_c_reader_every_byte_intact() {
    let p = Prefix::new();
    let name = p.wire("c", "cam.frames");
    let len = 64 * 1024;
    wire::create(&name, &WireConfig::new(len as u64, 4, 2, Policy::Latest)).unwrap();
    let src = format!(
        r#"#define FRAMEWIRE_IMPLEMENTATION
#include "framewire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
{FILL_C}
int main(int argc, char **argv) {{
    if (argc < 2) return 9;
    fw_wire w;
    if (fw_open(&w, argv[1]) != 0) {{ perror(w.error); return 1; }}
    static uint8_t buf[1 << 20];
    uint64_t last = 0; int good = 0;
    uint64_t deadline = fw_now_ns() + 10000000000ull;
    while (good < 20 && fw_now_ns() < deadline) {{
        fw_meta m;
        long n = fw_read_latest(&w, last, buf, sizeof buf, &m);
        if (n < 0) {{ usleep(500); continue; }}
        uint64_t seed, sum;
        memcpy(&seed, buf, 8); memcpy(&sum, buf + 8, 8);
        if (fnv(buf + 16, (size_t)n - 16) != sum || seed != m.source_seq) {{ printf("torn frame %llu\n", (unsigned long long)m.seq); return 2; }}
        last = m.seq; good++;
    }}
    printf("read %d whole frames\n", good);
    return good == 20 ? 0 : 3;
}}
"#
    );
    let Some(exe) = compile_c("a_rust_writer_feeds_a_c_reader_every_byte_intact", &p.dir(), &src) else {
        wire::unlink(&name).unwrap();
        return;
    };
    let mut child = Command::new(&exe).arg(&name).stdout(Stdio::piped()).spawn().unwrap();
    let mut w = Writer::attach(&name, &Expect::default()).unwrap();
    let mut seed = 0u64;
    while child.try_wait().unwrap().is_none() {
        seed += 1;
        let mut loan = w.loan(Duration::from_secs(1)).unwrap();
        fill_frame(&mut loan.bytes()[..len], seed);
        loan.meta.len = len;
        loan.meta.source_seq = seed;
        loan.commit().unwrap();
        std::thread::sleep(Duration::from_micros(300));
        assert!(seed < 200_000, "the C reader never finished");
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("read 20 whole frames"));
    drop(w);
    wire::unlink(&name).unwrap();
}

fn python() -> bool {
    Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The Python module writes messages a Rust reader decodes, with their
/// timestamps, and refuses a payload of the wrong size for the wire's type.
#[test]
fn python_writes_messages_a_rust_reader_decodes() {
    let test = "python_writes_messages_a_rust_reader_decodes";
    if !python() {
        return skip(test, "python", "python3 is not installed");
    }
    let p = Prefix::new();
    let name = p.wire("py", "pilot.drive");
    let mut cfg = WireConfig::new(8, 16, 2, Policy::Queue);
    cfg.kind = <framewire::msg::DriveCommand as framewire::msg::Message>::TYPE;
    wire::create(&name, &cfg).unwrap();
    let mut r = Reader::attach(&name, &Expect::default()).unwrap();
    let script = format!(
        r#"
import sys
sys.path.insert(0, {dir:?})
import framewire
w = framewire.Writer({name:?})
assert w.type_name == "drive" and w.msg_size == 8, (w.type_name, w.msg_size)
for i in range(10):
    w.send(framewire.drive(0.1 * i, -0.5), timestamp_ns=1000 + i, source_seq=i + 1)
try:
    w.send(b"123")
    print("accepted a 3-byte drive message")
except framewire.WireError as e:
    print("refused:", e)
w.close()
"#,
        dir = root().join("blocks/python").display().to_string(),
        name = name
    );
    let out = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("refused:") && text(&out).contains("carries drive messages of 8 bytes, not 3"),
        "{}",
        text(&out)
    );
    let mut input: Vec<(f32, f32, u64, u64)> = Vec::new();
    while let Some(g) = r.try_read() {
        let d = <framewire::msg::DriveCommand as framewire::msg::Message>::decode(&g).unwrap();
        input.push((d.linear, d.angular, g.meta().timestamp_ns, g.meta().source_seq));
    }
    assert_eq!(input.len(), 10);
    for (i, (lin, ang, ts, src)) in input.iter().enumerate() {
        assert!((lin - 0.1 * i as f32).abs() < 1e-6 && *ang == -0.5, "{input:?}");
        assert_eq!((*ts, *src), (1000 + i as u64, i as u64 + 1));
    }
    drop(r);
    wire::unlink(&name).unwrap();
}

/// A Python block drives the simulated RoboClaw through a wire: Python
/// pilot -> diff_drive -> roboclaw driver -> pseudo-terminal -> simulator.
#[test]
fn a_python_block_drives_the_simulated_roboclaw() {
    let test = "a_python_block_drives_the_simulated_roboclaw";
    if !python() {
        return skip(test, "python", "python3 is not installed");
    }
    let p = Prefix::new();
    let link = p.dir().join("roboclaw");
    let sim = SimMotor::start("roboclaw", &link);
    let pilot = r#"[[block]]
name = "script"
type = "exec"
command = ["python3", "blocks/python/pilot.py"]
outputs = { drive = "drive" }
env = { PILOT_SPEED = "0.3", PILOT_SECONDS = "1.5" }
"#;
    let cfg = temp_config(&p, "py", &motor_pipeline(pilot, "roboclaw", &link, "counts_per_rev = 1920"));
    let mut c = framewire(&p).arg("run").arg(&cfg).args(["--for", "4s"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut log = String::new();
    for line in BufReader::new(c.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
    }
    let st = c.wait().unwrap();
    assert!(st.success(), "{log}");
    assert!(log.contains("[script] pilot: writing drive messages"), "{log}");
    let pos = |s: &str| log.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{log}"));
    assert!(pos("commands received, driving") < pos("pilot: sent"), "{log}");
    let report = sim.finish();
    // The pilot drove forward (both wheels the same, positive), then stopped.
    let n: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("sim-motor: ")?.split(" commands,").next()?.parse().ok())
        .unwrap_or(0);
    assert!(n > 10, "the controller received the drive: {report}");
    assert!(report.contains("last (0.0, 0.0)"), "and ended stopped: {report}");
    let _ = std::io::stderr().flush();
}
