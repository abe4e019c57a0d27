//! The runtime tried as a new user would and attacked as a hostile second
//! user would: every test here reproduced a failure of an earlier version
//! (issue "Hardening") and checks the fix with real processes, real signals
//! and real files in /dev/shm.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A user id that is not ours, for files "another user" planted (only root
/// can give a file to someone else).
const NOBODY: u32 = 65534;

fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn signal(pid: i32, s: Signal) {
    let _ = kill(Pid::from_raw(pid), s);
}

// ---------------------------------------------------------------- security

#[test]
fn a_symlink_planted_at_the_run_file_is_never_followed() {
    let p = Prefix::new();
    let victim = p.dir().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    // The old code wrote through `<run file>.tmp`; plant links at both names.
    let run = format!("/dev/shm/{}.t._run", p.name);
    std::os::unix::fs::symlink(&victim, format!("{run}.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, &run).unwrap();
    let (out, all) = run_for(&p, &cfg, "1s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains(&format!("{run} is not a regular file")), "{all}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // With only the old temporary name planted, the run works and the
    // victim is still untouched: the temporary name is random now.
    std::fs::remove_file(&run).unwrap();
    let (out, all) = run_for(&p, &cfg, "1s");
    assert!(out.status.success(), "{all}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_file(format!("{run}.tmp")).unwrap();
}

#[test]
fn the_run_file_is_private_while_the_pipeline_runs() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    let (mut c, _err) = start(&p, &cfg);
    let mode = std::fs::metadata(format!("/dev/shm/{}.t._run", p.name)).unwrap().permissions().mode();
    signal(c.id() as i32, Signal::SIGINT);
    c.wait().unwrap();
    assert_eq!(mode & 0o777, 0o600, "run file mode {mode:o}");
}

#[test]
fn segments_of_another_user_are_refused_by_name() {
    if !is_root() {
        return skip(
            "segments_of_another_user_are_refused_by_name",
            "root",
            "only root can create a file owned by another user",
        );
    }
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    // Another user pre-creates the camera's wire.
    let seg = format!("/dev/shm/{}.t.cam.frames", p.name);
    std::fs::write(&seg, "").unwrap();
    chown_nobody(Path::new(&seg));
    let (out, all) = run_for(&p, &cfg, "1s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains(&format!("{seg} belongs to user nobody ({NOBODY}), not to you")), "{all}");
    std::fs::remove_file(&seg).unwrap();
    // Another user's fake run file naming pid 1: refused as theirs, and the
    // message never tells us to kill pid 1.
    let run = format!("/dev/shm/{}.t._run", p.name);
    std::fs::write(&run, "pipeline = \"t\"\nsupervisor_pid = 1\nsupervisor_start = 1\n").unwrap();
    chown_nobody(Path::new(&run));
    let (out, all) = run_for(&p, &cfg, "1s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains(&format!("{run} belongs to user nobody")), "{all}");
    assert!(!all.contains("kill 1"), "{all}");
    // `status` does not trust it either.
    let st = framewire(&p).args(["status", "t"]).output().unwrap();
    assert_eq!(st.status.code(), Some(4), "{}", text(&st));
    std::fs::remove_file(&run).unwrap();
}

#[test]
fn a_run_file_naming_a_process_that_is_no_supervisor_does_not_block_the_run() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    // Our own stale or forged file naming pid 1 with its real start time:
    // pid 1 is alive, but it is not a framewire supervisor.
    let start1 = framewire::sys::proc::start_time(1).unwrap_or(0);
    let run = format!("/dev/shm/{}.t._run", p.name);
    std::fs::write(&run, format!("pipeline = \"t\"\nsupervisor_pid = 1\nsupervisor_start = {start1}\n")).unwrap();
    let (out, all) = run_for(&p, &cfg, "1s");
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("already running"), "{all}");
}

#[test]
fn the_default_prefix_is_the_users_own() {
    if std::env::var("FRAMEWIRE_SHM_PREFIX").is_ok() {
        return skip("the_default_prefix_is_the_users_own", "env", "FRAMEWIRE_SHM_PREFIX is set in this environment");
    }
    let uid = nix::unistd::getuid().as_raw();
    assert_eq!(framewire::wire::prefix(), format!("framewire-u{uid}"));
}

// ---------------------------------------------------------------- lifetime

fn pid_of(p: &Prefix, pipeline: &str, block: &str) -> i32 {
    let text = std::fs::read_to_string(format!("/dev/shm/{}.{pipeline}._run", p.name)).unwrap();
    let t: toml::Table = text.parse().unwrap();
    t["block"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str() == Some(block))
        .map(|b| b["pid"].as_integer().unwrap() as i32)
        .unwrap()
}

fn wait_dead(pid: i32, within: Duration) -> bool {
    let t = Instant::now();
    while alive(pid) {
        if t.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// An `exec` program dies with its supervisor (SIGTERM); one that ignores
/// SIGTERM is found and stopped by the next run of the same pipeline.
#[test]
fn exec_blocks_die_with_the_supervisor_and_orphans_are_stopped_by_the_next_run() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "x",
        r#"
[pipeline]
name = "x"
[[block]]
name = "polite"
type = "exec"
command = ["sleep", "1000"]
[[block]]
name = "stubborn"
type = "exec"
actuator = true
command = ["sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"]
"#,
    );
    let mut c = framewire(&p).arg("run").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("started block stubborn") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "pipeline did not start");
    }
    std::thread::sleep(Duration::from_millis(300));
    let (polite, stubborn) = (pid_of(&p, "x", "polite"), pid_of(&p, "x", "stubborn"));
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(wait_dead(polite, Duration::from_secs(2)), "the exec block outlived its killed supervisor");
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(stubborn), "this program ignores SIGTERM, so it is still there");
    let (out, all) = run_for(&p, &cfg, "1s");
    assert!(out.status.success(), "{all}");
    // The program and the `sleep` it had started carry the block's
    // environment: both are orphans of the killed run.
    assert!(all.contains("left running by an earlier run of x whose supervisor died: stubborn (pid"), "{all}");
    assert!(wait_dead(stubborn, Duration::from_secs(2)), "the orphan was stopped");
}

/// The last thing every simulated controller hears after its supervisor is
/// killed with SIGKILL is a stop, sent by the driver (not the controller's
/// own timeout, which is set far longer than the test waits).
#[test]
fn actuators_stop_their_motors_when_the_supervisor_is_killed() {
    for (protocol, block, extra) in MOTOR_CASES {
        let p = Prefix::new();
        let link = p.dir().join(protocol);
        let sim = SimMotor::start(protocol, &link);
        // The controller's own timeout (and the deadman) far beyond the wait.
        let extra = format!("{extra}\ncommand_timeout_ms = 5000");
        let cfg = temp_config(&p, protocol, &motor_pipeline(&script_block(600.0), block, &link, &extra));
        let mut c = framewire(&p).arg("run").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut err = BufReader::new(c.stderr.take().unwrap());
        let mut log = String::new();
        let t = Instant::now();
        loop {
            let mut line = String::new();
            assert!(err.read_line(&mut line).unwrap() > 0, "{block}: pipeline ended early:\n{log}");
            log.push_str(&line);
            if line.contains("commands received, driving") {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "{block}: never drove:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(300));
        let driver = pid_of(&p, "m", "motors");
        c.kill().unwrap();
        c.wait().unwrap();
        assert!(wait_dead(driver, Duration::from_secs(3)), "{block}: the driver outlived its supervisor");
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        let report = sim.finish();
        assert!(
            report.contains("commands, last (0.0, 0.0)"),
            "{block}: the last command after the supervisor's SIGKILL is a stop: {report}\n{log}{rest}"
        );
        assert!(report.contains(" 0 device timeouts"), "{block}: the stop came from the driver: {report}");
        // The killed supervisor could not unlink its wires; the next run would.
        p.purge();
    }
}

// ---------------------------------------------------------------- watchdog

/// A block stopped with SIGSTOP stops beating; the watchdog kills and
/// restarts it. On a `queue` wire its producer waits instead of failing,
/// names the stalled reader, and is never restarted.
#[test]
fn a_hung_block_is_restarted_by_the_watchdog_and_its_producer_names_it() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "t",
        &format!("{}\n[wire.\"cam.frames\"]\npolicy = \"queue\"\n", pipeline("", "watchdog_ms = 1500")),
    );
    let (mut c, mut err) = start(&p, &cfg);
    let sink = pid_of(&p, "t", "sink");
    signal(sink, Signal::SIGSTOP);
    let mut log = String::new();
    let t = Instant::now();
    let mut restarted = false;
    while t.elapsed() < Duration::from_secs(20) {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        log.push_str(&line);
        if log.contains("block sink is not responding") && line.contains("[sink]") && line.contains("first frame") {
            restarted = true;
            break;
        }
    }
    signal(c.id() as i32, Signal::SIGINT);
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let st = c.wait().unwrap();
    let all = format!("{log}{rest}");
    assert!(restarted, "the stopped sink was restarted:\n{all}");
    assert!(all.contains("no heartbeat for"), "{all}");
    assert!(all.contains("wire") && all.contains("is full (policy queue): reader `sink`"), "{all}");
    assert!(!all.contains("block cam ended"), "the producer never failed:\n{all}");
    assert!(st.success(), "{all}");
    assert!(!alive(sink));
}

// ---------------------------------------------------------------- restarts

/// Crashes spread out in time do not use up the restart limit: it counts
/// restarts within `restart_window_s`, and the backoff starts again at
/// 100 ms once a window passes without a restart.
#[test]
fn the_restart_limit_counts_within_a_window() {
    let p = Prefix::new();
    // A crash every ~1.5 s (150 frames at 100/s), a window of 1 s: never
    // more than one restart in a window, however long it runs.
    let cfg =
        temp_config(&p, "spread", &pipeline("crash_after_frames = 150\nmax_restarts = 1\nrestart_window_s = 1", ""));
    let (out, all) = run_for(&p, &cfg, "6s");
    assert!(out.status.success(), "{all}");
    let restarts = all.matches("block cam ended (exit code 3); restart 1 of 1 within 1 s, in 100ms").count();
    assert!(restarts >= 3, "{restarts} restarts, each with the shortest backoff:\n{all}");
    assert!(!all.contains("in 200ms"), "{all}");
    // The same crashes within a long window stop the pipeline.
    let cfg =
        temp_config(&p, "dense", &pipeline("crash_after_frames = 150\nmax_restarts = 1\nrestart_window_s = 60", ""));
    let (out, all) = run_for(&p, &cfg, "10s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("block cam ended again after 1 restart(s) within 60 s"), "{all}");
}

#[test]
fn a_configuration_refused_at_open_is_not_retried() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "refuse", &pipeline("", "refuse_config = true"));
    let t = Instant::now();
    let (out, all) = run_for(&p, &cfg, "20s");
    assert_eq!(out.status.code(), Some(2), "a configuration error exits 2:\n{all}");
    assert!(t.elapsed() < Duration::from_secs(10), "{all}");
    assert!(all.contains("block sink refused its configuration when it opened"), "{all}");
    assert!(!all.contains("restart 1 of"), "not retried:\n{all}");
}

/// /dev/shm filling up while the pipeline runs must not stop it: its wires
/// are allocated already, and the run file is bookkeeping. Real: a private
/// 16 MiB /dev/shm in a mount namespace, filled to the last byte.
#[test]
fn a_full_dev_shm_while_running_does_not_stop_the_pipeline() {
    let test = "a_full_dev_shm_while_running_does_not_stop_the_pipeline";
    if !is_root() {
        return skip(test, "root", "needs a private tmpfs on /dev/shm in a mount namespace");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return skip(test, "util-linux", "unshare and nsenter (util-linux) are not installed");
    }
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    let script = format!(
        "mount -t tmpfs -o size=16m tmpfs /dev/shm && exec {} run {} --for 5s",
        env!("CARGO_BIN_EXE_framewire"),
        cfg.display()
    );
    let mut c = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("FRAMEWIRE_SHM_PREFIX", &p.name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "did not start:\n{log}");
        log.push_str(&line);
        if line.contains("first frame") {
            break;
        }
    }
    // Fill that /dev/shm, from inside the same mount namespace.
    let fill = Command::new("nsenter")
        .args(["--target", &c.id().to_string(), "--mount", "sh", "-c", "cat /dev/zero > /dev/shm/filler; df /dev/shm"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&fill.stdout).contains("100%"), "filled: {}", text(&fill));
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let st = c.wait().unwrap();
    let all = format!("{log}{rest}");
    assert!(st.success(), "exit 0 at --for although /dev/shm filled up:\n{all}");
    assert_eq!(all.matches("cannot update the run state").count(), 1, "reported once:\n{all}");
    assert!(all.contains("stopped cleanly"), "{all}");
}

// ---------------------------------------------------------------- command line

#[test]
fn odd_numbers_on_the_command_line_are_refused_not_panicked_on() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    for (args, want) in [
        (vec!["run", cfg.to_str().unwrap(), "--grace", "nan"], "out of range"),
        (vec!["run", cfg.to_str().unwrap(), "--grace=-1"], "out of range"),
        (vec!["run", cfg.to_str().unwrap(), "--grace", "1e30"], "out of range"),
        (vec!["run", cfg.to_str().unwrap(), "--for", "99999999999999999999h"], "too long"),
        (vec!["status", "--window=-1"], "out of range"),
    ] {
        let out = framewire(&p).args(&args).output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains(want), "{args:?}: {all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
}

#[test]
fn a_closed_pipe_does_not_panic_any_command() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    let bin = env!("CARGO_BIN_EXE_framewire");
    for cmd in [
        format!("{bin} run {} --for 2s 2>&1 | head -c 10", cfg.display()),
        format!("{bin} blocks | head -1"),
        format!("{bin} messages | head -1"),
    ] {
        // The first command's exit status, through the pipe.
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {cmd} >/dev/null; echo status=${{PIPESTATUS[0]}}")])
            .env("FRAMEWIRE_SHM_PREFIX", &p.name)
            .output()
            .unwrap();
        let all = text(&out);
        assert!(
            all.contains("status=0"),
            "{cmd}: {all}\n{}",
            String::from_utf8_lossy(
                &Command::new("bash").args(["-c", &cmd]).env("FRAMEWIRE_SHM_PREFIX", &p.name).output().unwrap().stdout
            )
        );
    }
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn status_of_a_dead_pipeline_says_so_and_exits_4() {
    let p = Prefix::new();
    let cfg = temp_config(&p, "t", &pipeline("", ""));
    let (mut c, _err) = start(&p, &cfg);
    let running = framewire(&p).args(["status", "t", "--window", "0.1"]).output().unwrap();
    assert_eq!(running.status.code(), Some(0), "{}", text(&running));
    assert!(text(&running).contains("running, supervisor pid"), "{}", text(&running));
    c.kill().unwrap();
    c.wait().unwrap();
    let dead = framewire(&p).args(["status", "t", "--window", "0.1"]).output().unwrap();
    let all = text(&dead);
    assert_eq!(dead.status.code(), Some(4), "{all}");
    assert!(all.contains("NOT RUNNING: its supervisor"), "{all}");
    assert!(!all.contains(" running "), "no block is listed as running: {all}");
    // The next run cleans up what the killed one left.
    let (out, all) = run_for(&p, &cfg, "0.5s");
    assert!(out.status.success(), "{all}");
}

#[test]
fn blocks_lists_the_ports_of_types_with_required_parameters() {
    let out = Command::new(env!("CARGO_BIN_EXE_framewire")).arg("blocks").output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    for (block, port) in [
        ("camera", "out frames"),
        ("drive_script", "out drive"),
        ("message_log", "in  input"),
        ("test_pattern", "out frames"),
        ("diff_drive", "out wheels"),
        ("roboclaw", "in  wheels"),
        ("pololu_smc", "out odometry"),
        ("convert", "in  input"),
        ("crop", "out output"),
        ("resize", "out output"),
        ("hsv_threshold", "out output"),
        ("morphology", "in  input"),
    ] {
        let section = all
            .split("\n\n")
            .find(|s| s.starts_with(&format!("{block} (")))
            .unwrap_or_else(|| panic!("{block}: {all}"));
        assert!(section.contains(port), "{block} lists its ports:\n{section}");
    }
}

// ---------------------------------------------------------------- actuator links

/// `status` shows each driver's link; a driver that never reaches its
/// controller is a block failure, not a "running" block.
#[test]
fn status_shows_the_drivers_link_and_a_driver_that_never_connects_fails() {
    let p = Prefix::new();
    let link = p.dir().join("roboclaw");
    let sim = SimMotor::start("roboclaw", &link);
    let cfg = temp_config(&p, "m", &motor_pipeline(&script_block(60.0), "roboclaw", &link, "counts_per_rev = 1920"));
    let mut c = framewire(&p).arg("run").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("commands received, driving") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "never drove");
    }
    let st = framewire(&p).args(["status", "m", "--window", "0.2"]).output().unwrap();
    let all = text(&st);
    assert!(all.contains("link connected for") && all.contains(&format!("talking to {}", link.display())), "{all}");
    signal(c.id() as i32, Signal::SIGINT);
    c.wait().unwrap();
    drop(sim);

    // A controller that never answers: the block fails after
    // connect_timeout_ms, and with restart = "never" so does the pipeline.
    let silent = p.dir().join("silent");
    let _sim = SimMotor::start_with("roboclaw", &silent, &["--silent"]);
    let cfg = temp_config(
        &p,
        "never",
        &motor_pipeline(
            &script_block(60.0),
            "roboclaw",
            &silent,
            "counts_per_rev = 1920\nconnect_timeout_ms = 1500\nrestart = \"never\"",
        ),
    );
    let (out, all) = run_for(&p, &cfg, "20s");
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("not connected within connect_timeout_ms = 1500 ms"), "{all}");
    assert!(all.contains("block motors failed"), "{all}");
}

// ---------------------------------------------------------------- start order

/// Readers of a `queue` wire are attached before its writer starts: at 1000
/// frames/s, two sinks each get frames 1 to 200, none skipped, although the
/// producer is listed (and is upstream) first.
#[test]
fn queue_readers_are_attached_before_their_writer_starts() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "q",
        r#"
[pipeline]
name = "q"
connect = ["cam.frames -> a.input", "cam.frames -> b.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
fps = 1000

[[block]]
name = "a"
type = "frame_sink"
frames = 200

[[block]]
name = "b"
type = "frame_sink"
frames = 200

[wire."cam.frames"]
policy = "queue"
"#,
    );
    let (out, all) = run_for(&p, &cfg, "3s");
    assert!(out.status.success(), "{all}");
    for sink in ["a", "b"] {
        assert!(
            all.lines()
                .any(|l| l.starts_with(&format!("[{sink}]"))
                    && l.contains("received 200 frames, skipped 0, last seq 200")),
            "sink {sink} got the queue wire's frames from the first:\n{all}"
        );
    }
    let started: Vec<&str> = all.lines().filter(|l| l.contains("framewire: started block")).collect();
    assert!(started.last().is_some_and(|l| l.contains("block cam ")), "the writer starts last: {started:?}");
}

/// Issue 16, item 7: each block gets the whole shutdown grace. A block that
/// ignores SIGTERM is stopped first (reverse order) and uses up its grace;
/// the block stopped after it needs most of a grace to finish, and must
/// still get it and exit by itself rather than be killed. With one shared
/// deadline it had no time left and was SIGKILLed.
#[test]
fn a_stuck_block_does_not_take_the_grace_of_the_blocks_stopped_after_it() {
    let p = Prefix::new();
    let done = p.dir().join("slow-finished");
    let cfg = temp_config(
        &p,
        "g",
        &format!(
            r#"
[pipeline]
name = "g"
[[block]]
name = "slow"
type = "exec"
command = ["sh", "-c", "trap 'sleep 1; touch {done}; exit 0' TERM; while true; do sleep 0.05; done"]
[[block]]
name = "stuck"
type = "exec"
command = ["sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"]
"#,
            done = done.display()
        ),
    );
    let out = framewire(&p).arg("run").arg(&cfg).args(["--for", "1s", "--grace", "1.6"]).output().unwrap();
    let all = text(&out);
    assert!(all.contains("block stuck did not stop within"), "the stuck block is killed after its grace: {all}");
    assert!(!all.contains("block slow did not stop"), "the slow block got its own grace: {all}");
    assert!(done.exists(), "the slow block finished its stop by itself: {all}");
}
