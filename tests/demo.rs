//! The closed-loop demo end to end: the real `framewire` binary runs
//! `config/demo.toml` (the simulated world, the vision chain, the follow
//! controller, `diff_drive` and the RoboClaw driver talking to the world's
//! simulated RoboClaw over a pseudo-terminal), headless, for a bounded time.
//!
//! Each test changes only what it needs (a smaller frame so a loaded
//! machine keeps up, the pty and a trace file in its own directory, where
//! the ball is) and asserts on what the world recorded: the robot's pose
//! and the ball's bearing at every frame, and every speed command the
//! simulated controller accepted, i.e. the bytes the driver sent. Times are
//! only bounds on behaviour (the deadman's), never speed targets.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Prefix, block_pid, framewire, text};

/// One line of the world's trace per frame.
#[derive(Clone, Copy, Debug)]
struct Frame {
    t_ns: u64,
    x: f64,
    y: f64,
    heading: f64,
    bearing: f64,
    distance: f64,
    in_view: bool,
    left: f64,
    right: f64,
}

/// One speed command the simulated RoboClaw accepted (counts/s, M1 = left).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cmd {
    t_ns: u64,
    m1: f64,
    m2: f64,
}

impl Cmd {
    fn is_stop(&self) -> bool {
        self.m1 == 0.0 && self.m2 == 0.0
    }
}

struct Trace {
    frames: Vec<Frame>,
    cmds: Vec<Cmd>,
}

fn read_trace(path: &std::path::Path) -> Trace {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut frames, mut cmds) = (Vec::new(), Vec::new());
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split(',').collect();
        let num = |i: usize| f[i].parse::<f64>().unwrap_or_else(|_| panic!("field {i} of {l:?}"));
        match f[0] {
            "f" => frames.push(Frame {
                t_ns: f[1].parse().unwrap(),
                x: num(3),
                y: num(4),
                heading: num(5),
                bearing: num(8),
                distance: num(9),
                in_view: f[10] == "1",
                left: num(11),
                right: num(12),
            }),
            "c" => cmds.push(Cmd { t_ns: f[1].parse().unwrap(), m1: num(2), m2: num(3) }),
            other => panic!("unknown trace line kind {other:?}: {l}"),
        }
    }
    assert!(!frames.is_empty() && !cmds.is_empty(), "empty trace {}", path.display());
    Trace { frames, cmds }
}

/// The shipped demo with this test's changes: a 320x240 camera, the pty
/// and the trace in the test's directory, and `world`/`motors` keys set.
/// Returns the config, the trace and the pty link paths.
fn demo_config(
    p: &Prefix,
    world: &[(&str, toml::Value)],
    motors: &[(&str, toml::Value)],
) -> (PathBuf, PathBuf, PathBuf) {
    let dir = p.dir();
    let (port, trace, cfg) = (dir.join("motors"), dir.join("trace.csv"), dir.join("demo.toml"));
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    let mut t: toml::Table = text.parse().unwrap();
    let port_s = toml::Value::from(port.display().to_string());
    for b in t["block"].as_array_mut().unwrap().iter_mut().map(|b| b.as_table_mut().unwrap()) {
        let name = b["name"].as_str().unwrap().to_string();
        let kv: Vec<(&str, toml::Value)> = match name.as_str() {
            "world" => [
                ("width", 320.into()),
                ("height", 240.into()),
                ("motor_port", port_s.clone()),
                ("trace", trace.display().to_string().into()),
            ]
            .into_iter()
            .chain(world.iter().cloned())
            .collect(),
            "motors" => [("port", port_s.clone())].into_iter().chain(motors.iter().cloned()).collect(),
            _ => Vec::new(),
        };
        for (k, v) in kv {
            b.insert(k.to_string(), v);
        }
    }
    std::fs::write(&cfg, toml::to_string(&t).unwrap()).unwrap();
    (cfg, trace, port)
}

/// The world's `final:` line.
fn final_line(all: &str) -> &str {
    all.lines()
        .find(|l| l.starts_with("[world]") && l.contains("final:"))
        .unwrap_or_else(|| panic!("no final line:\n{all}"))
}

/// The p50s (ms) of the motor block's once-a-second latency lines.
fn latency_p50s(all: &str) -> Vec<f64> {
    all.lines()
        .filter(|l| l.starts_with("[motors]"))
        .filter_map(|l| l.split("(frame capture to serial write): p50 ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Checks what every clean run leaves: nothing in /dev/shm, no pty link,
/// the motors stopped before the world (the last command a stop).
fn assert_clean_stop(p: &Prefix, all: &str, port: &std::path::Path, tr: &Trace) {
    assert!(all.contains("pipeline demo stopped cleanly"), "{all}");
    let pos = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{all}"));
    assert!(pos("roboclaw on ") < pos("final:"), "the actuator stopped first");
    assert!(pos(": stopped") < pos("final:"), "{all}");
    assert!(final_line(all).contains("last (0, 0) counts/s"), "the controller's last command is a stop: {all}");
    assert!(tr.cmds.last().unwrap().is_stop(), "{:?}", tr.cmds.last());
    assert!(!port.exists() && port.symlink_metadata().is_err(), "the pty link {} is removed", port.display());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// From a start where the ball is 20° to the left and 2.3 m away, the robot
/// turns until the ball is centred, then approaches it and stops at the
/// distance where it looks `target_size` wide; the bytes the controller got
/// show the turn (right wheel faster), the approach (both alike), the stop
/// on connection first and the stop on shutdown last.
#[test]
fn the_robot_turns_to_the_ball_and_approaches_it() {
    let p = Prefix::new();
    let (cfg, trace, port) = demo_config(&p, &[], &[]);
    let out = framewire(&p).arg("run").arg(&cfg).args(["--for", "16s"]).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let tr = read_trace(&trace);
    let (first, last) = (tr.frames[0], *tr.frames.last().unwrap());
    assert!((first.bearing - 20.0).abs() < 1.0 && (first.distance - 2.34).abs() < 0.02, "start: {first:?}");
    assert!(first.in_view, "the ball is in view from the start");

    // It turns first: centred within 3° while still far away.
    let centred = tr.frames.iter().position(|f| f.bearing.abs() < 3.0).expect("the ball gets centred");
    let c = tr.frames[centred];
    assert!(c.distance > 1.9, "centred before approaching: {c:?}");
    assert!((c.heading - 20.0).abs() < 4.0, "by turning about 20° left: {c:?}");
    // Then approaches, keeps it centred, and stops near the target size:
    // 30 % of a 60° image's width is a 0.1 m ball at 0.58 m.
    assert!(last.bearing.abs() < 4.0, "centred at the end: {last:?}");
    assert!((0.45..0.8).contains(&last.distance), "approached: {last:?}");
    assert!(last.left.abs() < 0.5 && last.right.abs() < 0.5, "and stopped: {last:?}");
    let travelled = (last.x - first.x).hypot(last.y - first.y);
    assert!(travelled > 1.4, "moved {travelled:.2} m towards the ball");

    // The bytes: a stop on connection, then a left turn (M2, the right
    // wheel, faster than M1), then a straight approach, then the stop.
    assert!(tr.cmds[0].is_stop(), "stop first: {:?}", &tr.cmds[..3]);
    let turning = tr.cmds.iter().position(|c| c.m2 - c.m1 > 500.0).expect("a left turn was commanded");
    let straight = tr
        .cmds
        .iter()
        .skip(turning)
        .position(|c| c.m1 > 1000.0 && (c.m2 - c.m1).abs() < 0.05 * c.m1)
        .map(|i| i + turning);
    assert!(straight.is_some(), "then a straight approach: {:?}", &tr.cmds[turning..turning + 20]);
    // Commands are frame-paced (one per detection) plus the driver's 20 Hz
    // refresh: far more than the 20 Hz alone over the run.
    assert!(tr.cmds.len() > 25 * 12, "{} commands", tr.cmds.len());

    // The glass-to-motor latency is measured and reported, and positive.
    let p50s = latency_p50s(&all);
    assert!(p50s.len() >= 5 && p50s.iter().all(|&v| v > 0.0 && v.is_finite()), "latency lines: {p50s:?}\n{all}");
    assert!(all.contains("glass-to-motor latency over the run: p50 "), "{all}");
    assert_clean_stop(&p, &all, &port, &tr);
}

/// The ball jumps behind the robot once it has approached: the controller
/// notices it is gone, turns in place to search, finds it and approaches
/// it again.
#[test]
fn a_lost_ball_is_searched_for_and_found_again() {
    let p = Prefix::new();
    let jump_s = 8.0;
    let (cfg, trace, port) =
        demo_config(&p, &[("ball_jumps", toml::Value::try_from([[jump_s, -1.3, -0.6]]).unwrap())], &[]);
    let out = framewire(&p).arg("run").arg(&cfg).args(["--for", "26s"]).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let tr = read_trace(&trace);
    let t0 = tr.frames[0].t_ns;
    let at = |f: &Frame| (f.t_ns - t0) as f64 / 1e9;
    let jump = tr.frames.iter().position(|f| at(f) >= jump_s + 0.1).expect("ran past the jump");
    let before = tr.frames[jump - 5];
    assert!(before.distance < 1.2 && before.bearing.abs() < 4.0, "following before the jump: {before:?}");
    let after = tr.frames[jump];
    assert!(!after.in_view && after.bearing.abs() > 120.0, "the ball is behind: {after:?}");

    // Searching: out of view for a while, turning in place.
    let back =
        tr.frames[jump..].iter().position(|f| f.in_view).map(|i| i + jump).expect("the ball comes back into view");
    let (a, b) = (tr.frames[jump], tr.frames[back]);
    let turned = (b.heading - a.heading).rem_euclid(360.0);
    let turned = turned.min(360.0 - turned);
    assert!(turned > 90.0, "turned {turned:.0}° to find it: {a:?} -> {b:?}");
    assert!((b.x - a.x).hypot(b.y - a.y) < 0.15, "in place: {a:?} -> {b:?}");
    // The controller received turn-in-place commands: wheels opposite.
    let (ta, tb) = (a.t_ns, b.t_ns);
    let spins =
        tr.cmds.iter().filter(|c| c.t_ns > ta && c.t_ns < tb && c.m1 * c.m2 < 0.0 && c.m1.abs() > 300.0).count();
    assert!(spins >= 10, "{spins} turn-in-place commands while searching");
    assert!(all.contains("searching by turning") && all.contains("ball found again"), "{all}");

    // Found and followed again.
    let last = *tr.frames.last().unwrap();
    assert!(last.in_view && last.bearing.abs() < 4.0 && last.distance < 0.9, "following again: {last:?}");
    assert_clean_stop(&p, &all, &port, &tr);
}

/// Lines of a running pipeline's stderr, with when each arrived.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(p: &Prefix, cfg: &std::path::Path) -> Running {
        let mut child = framewire(p).arg("run").arg(cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running { child, lines, seen: Vec::new() }
    }

    /// Waits up to `limit` for a line containing `what`.
    fn wait_for(&mut self, what: &str, limit: Duration) {
        self.wait_all(&[what], limit)
    }

    /// Waits up to `limit` until lines containing each of `whats` have
    /// come, in any order.
    fn wait_all(&mut self, whats: &[&str], limit: Duration) {
        let end = Instant::now() + limit;
        let mut missing: Vec<&str> = whats.to_vec();
        while !missing.is_empty() {
            let Ok(l) = self.lines.recv_timeout(end.saturating_duration_since(Instant::now())) else { break };
            missing.retain(|w| !l.contains(w));
            self.seen.push(l);
        }
        if !missing.is_empty() {
            panic!("no line with {missing:?} within {limit:?}:\n{}", self.seen.join("\n"));
        }
    }

    /// SIGINT, then everything it printed.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGINT)
            .unwrap();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status, self.seen.join("\n"))
    }
}

impl Drop for Running {
    /// A test that fails half-way still stops its pipeline: Ctrl-C, and
    /// SIGKILL if that takes more than 10 s.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let t = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The vision block is killed with SIGKILL while the robot drives, and
/// again as soon as the supervisor has restarted it (a crash loop): no
/// detections, so no commands; the motor driver's deadman stops the wheels
/// within its timeout; the supervisor restarts the block once more (after
/// a doubled backoff) and the robot drives on. Then Ctrl-C stops
/// everything cleanly.
///
/// Timing that makes it deterministic: the deadman is 100 ms here (driver
/// at 40 Hz, reply timeout 30 ms so that every exchange fits in it), while
/// the second outage lasts at least the 200 ms backoff of a second restart
/// plus a process start, so the wheels are always stopped by the deadman
/// and stay stopped for a while before the vision block is back.
#[test]
fn sigkill_of_the_vision_block_stops_the_wheels_by_deadman_then_the_robot_resumes() {
    let p = Prefix::new();
    // Far from the ball, straight ahead: driving at full speed for seconds.
    let (cfg, trace, port) = demo_config(
        &p,
        &[
            ("robot", toml::Value::try_from([-1.8, 0.0, 0.0]).unwrap()),
            ("ball", toml::Value::try_from([1.7, 0.0]).unwrap()),
        ],
        &[("command_timeout_ms", 100.into()), ("rate_hz", 40.into()), ("reply_timeout_ms", 30.into())],
    );
    let mut run = Running::start(&p, &cfg);
    run.wait_for("commands received, driving", Duration::from_secs(60));
    // Let it reach speed.
    std::thread::sleep(Duration::from_millis(1500));
    // The live status: frames/s per wire, the ball's offset and the wheel
    // speeds (the controller's gauges), the glass-to-motor latency (the
    // motor driver's).
    let st = framewire(&p).args(["status", "--window", "0.5"]).output().unwrap();
    let s = text(&st);
    assert!(st.status.success(), "{s}");
    for want in
        ["world.frames", "offset=", "size=", "left_rad_s=", "right_rad_s=", "latency_p50_ms=", "latency_p99_ms="]
    {
        assert!(s.contains(want), "{want} in framewire status:\n{s}");
    }
    let kill = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
        framewire::sys::proc::monotonic_ns()
    };
    let first = block_pid(&p, "demo", "mask").expect("the vision block's pid");
    let kill1 = kill(first);
    run.wait_all(
        &["block mask ended (killed by SIGKILL)", "started block mask (hsv_threshold)"],
        Duration::from_secs(20),
    );
    // The supervisor writes the new pid to its run file just after it says so.
    let t = Instant::now();
    let second = loop {
        match block_pid(&p, "demo", "mask") {
            Some(pid) if pid != first && pid > 0 => break pid,
            _ if t.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(1)),
            other => panic!("the restarted block's pid: {other:?}"),
        }
    };
    let kill2 = kill(second);
    run.wait_all(&["restart 2 of 5", "started block mask (hsv_threshold)"], Duration::from_secs(20));
    run.wait_for("roboclaw: commands received, driving", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    let (status, all) = run.stop();
    assert!(status.success(), "{all}");
    let tr = read_trace(&trace);

    // Before the kill: driving at speed.
    let pre = tr.cmds.iter().rev().find(|c| c.t_ns < kill1).unwrap();
    assert!(pre.m1 > 1000.0 && pre.m2 > 1000.0, "driving when killed: {pre:?}");
    // The first stop after the kill is the deadman's. The last command from
    // upstream left at most one frame (33 ms) before the first kill, and
    // none came after the second; the driver resends the last command every
    // period (25 ms) until the deadman fires. So the stop comes no sooner
    // than the timeout minus a frame after the first kill, and no later than
    // the timeout plus one period after the second (plus scheduling slack
    // on a loaded machine: these are real processes).
    let stop = tr.cmds.iter().position(|c| c.t_ns > kill1 && c.is_stop()).expect("the wheels were commanded to stop");
    assert!(!tr.cmds[stop - 1].is_stop(), "driving until then: {:?}", &tr.cmds[stop - 3..=stop]);
    let t_stop = tr.cmds[stop].t_ns;
    let after_first_ms = (t_stop - kill1) as f64 / 1e6;
    assert!(after_first_ms >= 100.0 - 33.0 - 10.0, "not before the deadman's timeout: {after_first_ms:.1} ms");
    let after_second_ms = t_stop as f64 / 1e6 - kill2 as f64 / 1e6;
    assert!(
        after_second_ms <= 100.0 + 25.0 + 150.0,
        "within the timeout and a period (+150 ms slack): {after_second_ms:.1} ms"
    );
    // Then, with the vision block back, driving again.
    let resumed =
        tr.cmds[stop..].iter().find(|c| c.m1 > 500.0 && c.m2 > 500.0).expect("driving again after the restart");
    assert!(resumed.t_ns > kill2 + 200_000_000, "not before the second restart's backoff");
    // In between, the wheels really stood still (30 ms after the stop: the
    // simulated motors decelerate within a few ms).
    let still: Vec<&Frame> =
        tr.frames.iter().filter(|f| f.t_ns > t_stop + 30_000_000 && f.t_ns < resumed.t_ns).collect();
    assert!(!still.is_empty(), "a frame between the stop and the restart");
    assert!(still.iter().all(|f| f.left.abs() < 0.2 && f.right.abs() < 0.2), "wheels at rest: {still:?}");
    let distance_at = |t: u64| tr.frames.iter().find(|f| f.t_ns >= t).map(|f| f.distance).unwrap();
    let (at_stop, end) = (distance_at(t_stop), tr.frames.last().unwrap().distance);
    assert!(end < at_stop - 0.2, "approached the ball after resuming: {at_stop:.2} -> {end:.2} m");
    let pos = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{all}"));
    assert!(
        all[pos("block mask ended (killed by SIGKILL)")..].contains("deadman: no command for 100 ms, commanding zero")
    );
    // Ctrl-C: clean stop, motors first, nothing left behind.
    assert!(all.contains("SIGINT received, stopping pipeline demo"), "{all}");
    assert_clean_stop(&p, &all, &port, &tr);
}

/// `framewire bench demo` runs the demo and prints its frames/s and the
/// glass-to-motor p50 (no time is asserted: it is a measurement).
#[test]
fn bench_demo_prints_frames_per_second_and_latency() {
    let p = Prefix::new();
    let child = framewire(&p)
        .args(["bench", "demo", "--sizes", "160x120", "--seconds", "2", "--warmup", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("framewire bench demo, ") && all.contains("CPU "), "{all}");
    let line = all.lines().find(|l| l.starts_with("160x120: glass-to-motor p50 ")).unwrap_or_else(|| panic!("{all}"));
    let p50: f64 = line.split("p50 ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(p50 > 0.0, "{line}");
    let rates = all.lines().find(|l| l.contains("frames/s per wire: ")).unwrap();
    assert!(rates.contains("world.frames ") && rates.contains("base.wheels "), "{rates}");
    assert!(all.contains("age of a frame when each stage committed"), "{all}");
    let ours: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("framewire-bench{pid}-")))
        .collect();
    assert!(ours.is_empty(), "the benchmark's pipeline left {ours:?}");
}
