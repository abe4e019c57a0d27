//! The runtime end to end: `framewire check` against config fixtures, and
//! `framewire run` with real block processes, crashes, restarts, SIGINT and
//! SIGKILL. Each test uses its own shared-memory prefix and checks that
//! nothing is left in /dev/shm.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn every_validation_error_fixture_gives_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config");
    let p = Prefix::new();
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        let expects: Vec<&str> = src.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        if expects.is_empty() {
            continue;
        }
        let out = framewire(&p).arg("check").arg(&path).output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{}: exit code 2 expected\n{all}", path.display());
        // The error names the file the problem is in: the fixture, or the
        // file it includes when the fixture says `# file: NAME`.
        let fname = src
            .lines()
            .find_map(|l| l.strip_prefix("# file: "))
            .map(str::to_string)
            .unwrap_or_else(|| path.file_name().unwrap().to_str().unwrap().to_string());
        assert!(all.contains(&fname), "{}: error names the file {fname}\n{all}", path.display());
        for ex in expects {
            assert!(all.contains(ex), "{}: expected {ex:?} in\n{all}", path.display());
        }
        assert!(all.contains("nothing was started"), "{all}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} fixtures");
    assert!(p.leftovers().is_empty());
}

#[test]
fn check_accepts_the_shipped_pipelines() {
    let p = Prefix::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    // config/devices.toml points the rover at a simulated controller's
    // link; the test runs its own simulator at a link of its own (never the
    // path a user's simulator may be using) and checks copies of the files.
    let link = p.dir().join("roboclaw");
    let _sim = SimMotor::start("roboclaw", &link);
    let copies = p.dir().join("config");
    std::fs::create_dir_all(&copies).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let f = e.unwrap().path();
        if f.extension().is_some_and(|x| x == "toml") {
            let src = std::fs::read_to_string(&f).unwrap().replace("/tmp/framewire-roboclaw", link.to_str().unwrap());
            std::fs::write(copies.join(f.file_name().unwrap()), src).unwrap();
        }
    }
    let mut n = 0;
    for e in std::fs::read_dir(&copies).unwrap() {
        let f = e.unwrap().path();
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        // Device files hold only [devices.*] tables; pipelines have blocks.
        if f.extension().is_some_and(|x| x == "toml") && src.contains("[[block]]") {
            let out = framewire(&p).arg("check").arg(&f).output().unwrap();
            assert!(out.status.success(), "{}: {}", f.display(), text(&out));
            n += 1;
        }
    }
    assert!(n >= 2);
}

/// The demo uses the example user block compiled from blocks/invert.rs.
#[test]
fn demo_pipeline_with_the_custom_block_runs_and_cleans_up() {
    let p = Prefix::new();
    let out = framewire(&p).args(["run", "config/demo.toml", "--for", "2s"]).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("started block invert (invert)"), "{all}");
    let received: u64 = all
        .lines()
        .find_map(|l| l.split("[sink]").nth(1)?.split("received ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("sink summary missing:\n{all}"));
    assert!(received >= 10, "frames flowed through the custom block: {received}\n{all}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_crashing_block_is_restarted_by_policy_and_the_sequence_carries_on() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "restart",
        &pipeline("crash_after_frames = 20\nrestart = \"on-failure\"\nmax_restarts = 10", ""),
    );
    let (out, all) = run_for(&p, &cfg, "2s");
    assert!(out.status.success(), "{all}");
    assert!(all.contains("block cam ended (exit code 3); restart 1 of 10"), "{all}");
    assert!(all.contains("[cam] ERROR block cam failed: crash_after_frames = 20 reached"), "{all}");
    // The sink kept reading the same wire across the camera's restarts, and
    // sequence numbers kept increasing past the first crash.
    let last: u64 = all
        .lines()
        .find_map(|l| l.split("last seq ").nth(1)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sink summary\n{all}"));
    assert!(last > 20, "sequence continued across restarts: {last}\n{all}");
    assert!(p.leftovers().is_empty());
}

#[test]
fn exceeding_the_restart_limit_stops_the_pipeline_with_a_clear_error() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "limit", &pipeline("crash_after_frames = 3\nmax_restarts = 2", ""));
    let t = Instant::now();
    let (out, all) = run_for(&p, &cfg, "30s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(t.elapsed() < Duration::from_secs(25), "gave up early, not at --for");
    assert!(
        all.contains(
            "block cam ended again after 2 restart(s) within 60 s (last: exit code 3), the most max_restarts = 2 allows; the pipeline stopped"
        ),
        "{all}"
    );
    assert!(p.leftovers().is_empty());
}

#[test]
fn restart_never_stops_the_pipeline_on_the_first_failure() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "never", &pipeline("", "crash_after_frames = 5\nrestart = \"never\""));
    let (out, all) = run_for(&p, &cfg, "30s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("block sink failed (exit code 3) and its restart policy is \"never\""), "{all}");
    assert!(p.leftovers().is_empty());
}

#[test]
fn sigint_stops_everything_and_leaves_nothing_in_dev_shm() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "sigint", &pipeline("", ""));
    let (mut c, mut err) = start(&p, &cfg);
    let pids = block_pids(&p, "t");
    assert_eq!(pids.len(), 2);
    assert!(!p.leftovers().is_empty(), "wires exist while running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let st = c.wait().unwrap();
    assert!(st.success(), "clean stop exits 0: {st}\n{rest}");
    assert!(rest.contains("SIGINT received, stopping pipeline t"), "{rest}");
    assert!(rest.contains("stopped cleanly"), "{rest}");
    for pid in pids {
        assert!(!alive(pid), "block process {pid} still running");
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sigkill_of_the_supervisor_leaves_no_orphans_and_the_next_run_starts_cleanly() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "sigkill", &pipeline("", ""));
    let (mut c, _err) = start(&p, &cfg);
    let pids = block_pids(&p, "t");
    c.kill().unwrap();
    c.wait().unwrap();
    let t = Instant::now();
    while pids.iter().any(|&pid| alive(pid)) {
        assert!(t.elapsed() < Duration::from_secs(2), "orphan block processes after 2 s: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The dead run left its wires; the next run purges them and works.
    assert!(!p.leftovers().is_empty(), "a SIGKILLed supervisor cannot clean up");
    let (out, all) = run_for(&p, &cfg, "1s");
    assert!(out.status.success(), "{all}");
    // Its wire, its run file and the two blocks' state segments.
    assert!(all.contains("removed 4 stale segment(s) left by an earlier run of t"), "{all}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_second_run_of_the_same_pipeline_is_refused_and_status_sees_the_first() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "twice", &pipeline("", ""));
    let (mut c, _err) = start(&p, &cfg);
    let out = framewire(&p).arg("run").arg(&cfg).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains(&format!("pipeline t is already running (supervisor pid {})", c.id())), "{all}");
    let st = framewire(&p).args(["status", "--window", "0.5"]).output().unwrap();
    let s = text(&st);
    assert!(st.status.success(), "{s}");
    assert!(s.contains("pipeline t ("), "{s}");
    assert!(s.contains("cam") && s.contains("test_pattern") && s.contains("running"), "{s}");
    let rate: f64 = s
        .lines()
        .find(|l| l.trim_start().starts_with("cam.frames"))
        .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or_else(|| panic!("no wire line\n{s}"));
    assert!(rate > 10.0, "live frame rate read from outside: {rate}\n{s}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(c.wait().unwrap().success());
    assert!(p.leftovers().is_empty());
    let st = framewire(&p).arg("status").output().unwrap();
    assert_eq!(st.status.code(), Some(4));
}

#[test]
fn graph_prints_dot() {
    let p = Prefix::new();
    let out = framewire(&p).args(["graph", "config/demo.toml"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("digraph \"demo\" {"), "{s}");
    assert!(s.contains("\"camera\" -> \"invert\" [label=\"frames -> input\\nlatest\"];"), "{s}");
}

/// A Python program maps a wire from the documented layout alone.
#[test]
fn an_exec_block_in_python_reads_a_wire_from_the_documented_layout() {
    if Command::new("python3").arg("--version").output().is_err() {
        skip("an_exec_block_in_python_reads_a_wire_from_the_documented_layout", "python", "python3 is not installed");
        return;
    }
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "python",
        r#"
[pipeline]
name = "py"
connect = ["cam.frames -> py.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 100
frames = 300

[[block]]
name = "py"
type = "exec"
command = ["python3", "blocks/python/frame_stats.py"]
inputs = { input = "image" }
env = { FRAMES = "20" }
restart = "never"
"#,
    );
    let (out, all) = run_for(&p, &cfg, "20s");
    assert!(out.status.success(), "{all}");
    assert!(all.contains("[py] python first frame 64x48 RGB3 stride 192 len 9216"), "{all}");
    assert!(all.contains("[py] python received 20 frames"), "{all}");
    // The disc is pure red (255) on dimmed bars: the copy holds real pixels.
    assert!(all.contains("brightest sample 255"), "{all}");
    assert!(p.leftovers().is_empty());
}

/// The supervisor drains children's output continuously: a block writing
/// megabytes of log lines never blocks on a full pipe.
#[test]
fn a_block_that_writes_a_lot_never_blocks() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "chatty",
        r#"
[[block]]
name = "chatty"
type = "exec"
command = ["sh", "-c", "seq 1 200000; echo chatty-done"]
restart = "never"
"#,
    );
    let t = Instant::now();
    let (out, all) = run_for(&p, &cfg, "60s");
    assert!(out.status.success(), "{}", &all[all.len().saturating_sub(2000)..]);
    assert!(t.elapsed() < Duration::from_secs(50), "finished by itself, not at --for");
    assert!(all.contains("[chatty] 200000\n"), "every line arrived");
    assert!(all.contains("[chatty] chatty-done"));
    assert!(all.contains("every block finished"));
}

/// On shutdown, actuators are told to stop first, then the others in
/// reverse dependency order.
#[test]
fn shutdown_stops_actuators_first() {
    let p = Prefix::new();
    let script = |name: &str| {
        format!(
            "[[block]]\nname = \"{name}\"\ntype = \"exec\"\ncommand = [\"sh\", \"-c\", \"trap 'echo {name} stopping; exit 0' TERM; echo {name} up; while true; do sleep 0.02; done\"]\n"
        )
    };
    let cfg =
        temp_config(&p, "order", &format!("{}{}actuator = true\n{}", script("early"), script("motor"), script("late")));
    let (out, all) = run_for(&p, &cfg, "1.5s");
    assert!(out.status.success(), "{all}");
    let pos = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{all}"));
    // The actuator first; then the others in reverse order of the file
    // (these blocks have no wires, so file order is dependency order).
    assert!(pos("[motor] motor stopping") < pos("[late] late stopping"), "{all}");
    assert!(pos("[late] late stopping") < pos("[early] early stopping"), "{all}");
}

/// `framewire sim-motor` on a pty, stopped (SIGINT) on drop.
/// The shipped rover pipeline drives a simulated RoboClaw through the CLI:
/// stop first on connection, commands, the deadman after the script ends,
/// and a stop on shutdown.
#[test]
fn rover_pipeline_drives_a_simulated_roboclaw_and_stops_it() {
    let p = Prefix::new();
    let link = p.dir().join("roboclaw");
    let sim = SimMotor::start("roboclaw", &link);
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rover-sim.toml")).unwrap();
    // Same pipeline, own simulator: the block's own `port` overrides the device's.
    let text = base
        .replace(
            "include = [\"devices.toml\"]",
            &format!("include = [\"{}/config/devices.toml\"]", env!("CARGO_MANIFEST_DIR")),
        )
        .replace("uses = \"base_controller\"", &format!("uses = \"base_controller\"\nport = \"{}\"", link.display()))
        .replace("[[2.0, 0.3, 0.0], [1.5, 0.0, 1.0]]", "[[0.8, 0.3, 0.0], [0.5, 0.0, 1.0]]");
    let cfg = temp_config(&p, "rover", &text);
    let (out, all) = run_for(&p, &cfg, "3s");
    assert!(out.status.success(), "{all}");
    let pos = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{all}"));
    assert!(
        pos("connected, motors stopped, controller timeout set from command_timeout = 300 ms")
            < pos("commands received, driving")
    );
    assert!(pos("script finished") < pos("deadman: no command for 300 ms, commanding zero"));
    assert!(pos("deadman: no command") < pos(": stopped"));
    let report = sim.finish();
    assert!(
        report.contains("last (0.0, 0.0), speed 0/0 counts/s, 0 bad checksums"),
        "the controller ends stopped: {report}"
    );
    assert!(p.leftovers().is_empty());
}

/// Every motor driver block runs from TOML against its simulated
/// controller: it connects with a stop first, drives, and stops at the end.
#[test]
fn every_motor_driver_block_drives_its_simulated_controller() {
    for (protocol, block, extra) in MOTOR_CASES {
        let p = Prefix::new();
        let link = p.dir().join(protocol);
        let sim = SimMotor::start(protocol, &link);
        let cfg = temp_config(&p, protocol, &motor_pipeline(&script_block(60.0), block, &link, extra));
        let (out, all) = run_for(&p, &cfg, "2.5s");
        assert!(out.status.success(), "{block}: {all}");
        let pos = |s: &str| all.find(s).unwrap_or_else(|| panic!("{block}: {s:?} missing in\n{all}"));
        assert!(pos("connected, motors stopped") < pos("commands received, driving"), "{block}: {all}");
        assert!(pos("commands received, driving") < pos(": stopped"), "{block}: {all}");
        let report = sim.finish();
        assert!(report.contains("commands, last (0.0, 0.0)"), "{block}: the controller ends stopped: {report}");
        assert!(!report.contains(" 0 commands"), "{block}: {report}");
    }
}

/// The shipped tracker pipeline finds the test pattern's red disc: every
/// detection's centroid matches where the pattern drew the disc in the very
/// frame it names (its source sequence number), through both the fused
/// tracker and the five-block chain.
#[test]
fn tracker_pipeline_finds_the_disc_where_the_pattern_drew_it() {
    let p = Prefix::new();
    let out = framewire(&p).args(["run", "config/tracker.toml", "--for", "5s"]).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let mut checked = [0, 0];
    for line in all.lines() {
        let which = if line.starts_with("[fused_log]") {
            0
        } else if line.starts_with("[blobs_log]") {
            1
        } else {
            continue;
        };
        let num = |key: &str| -> f64 {
            let rest = line.split(key).nth(1).unwrap_or_else(|| panic!("{key} in {line}"));
            rest.trim_start().split([',', ')', ' ']).next().unwrap().parse().unwrap()
        };
        let (source, area, cx, cy) = (num("(source "), num("area="), num("cx="), num("cy="));
        let (ex, ey) = framewire::builtin::TestPattern::disc_centre(640, 480, 30.0, source as u64 - 1);
        assert!(
            (cx - ex).abs() < 1.5 && (cy - ey).abs() < 1.5,
            "centroid ({cx}, {cy}) vs disc at ({ex}, {ey}): {line}"
        );
        let disc = std::f64::consts::PI * 48.0 * 48.0;
        assert!((area - disc).abs() / disc < 0.03, "area {area} vs {disc}: {line}");
        checked[which] += 1;
    }
    assert!(checked[0] >= 2 && checked[1] >= 2, "detections from both trackers: {checked:?}\n{all}");
    assert!(p.leftovers().is_empty());
}

/// On a terminal the supervisor keeps a live status line with each wire's
/// rate; into a pipe or file it writes plain logs with no escape codes.
#[test]
fn live_status_line_only_on_a_terminal() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "live", &pipeline("", ""));
    let plain = framewire(&p).arg("run").arg(&cfg).args(["--for", "2.5s"]).output().unwrap();
    assert!(plain.status.success());
    assert!(!text(&plain).contains("\x1b["), "no escape codes without a terminal");
    if Command::new("script").arg("--version").output().is_err() {
        skip("live_status_line_only_on_a_terminal", "util-linux", "script(1) from util-linux is not installed");
        return;
    }
    // script(1) runs the command on a pseudo-terminal.
    let cmd = format!("{} run {} --for 2.5s", env!("CARGO_BIN_EXE_framewire"), cfg.display());
    let out =
        Command::new("script").args(["-qec", &cmd, "/dev/null"]).env("FRAMEWIRE_SHM_PREFIX", &p.name).output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let rates: Vec<f64> =
        all.split("\r\x1b[K[t] cam.frames ").skip(1).filter_map(|s| s.split("/s").next()?.parse().ok()).collect();
    assert!(rates.iter().any(|&r| r > 10.0), "a live rate near 100 frames/s: {rates:?}\n{all}");
    assert!(p.leftovers().is_empty());
}
