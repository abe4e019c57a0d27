//! Wires over Zenoh with real processes (`cargo test --features zenoh
//! --test bridge`): two `framewire run` pipelines as separate processes on
//! loopback, or each inside a network namespace of its own joined by a veth
//! pair that the test creates and removes; Zenoh's TCP between them.
//!
//! The test process reads the pipelines' wires directly (a reader attaches
//! to a running pipeline's wire like any block), so it compares what one
//! side committed with what the other side received, frame by frame.
//!
//! Link trouble is made with what this machine's kernel has: `tc netem` is
//! not built into it ("Specified qdisc kind is unknown"), so congestion is a
//! token-bucket rate limit (`tc qdisc ... tbf`, whose queue adds delay, as
//! a slow Wi-Fi link's does), loss is an nftables rule dropping a random
//! share of packets, and a cut link is an nftables rule dropping all of
//! them (silent, like a robot out of Wi-Fi range).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Prefix, fnv, framewire, skip, temp_config, text};
use framewire::msg::{DriveCommand, Message};
use framewire::wire::{Expect, Reader};

/// A TCP port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `framewire run`, its stderr lines collected by a thread.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(cmd: &mut Command) -> Running {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
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

    fn pump(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// Waits up to `secs` for a line containing all of `parts`.
    fn wait_for(&mut self, parts: &[&str], secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(l) = self.seen.iter().find(|l| parts.iter().all(|p| l.contains(p))) {
                return l.clone();
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(l) => self.seen.push(l),
                Err(_) if Instant::now() >= end => {
                    panic!("no line with {parts:?} in {secs} s:\n{}", self.seen.join("\n"))
                }
                Err(_) => {}
            }
        }
    }

    /// Stops it with SIGINT and returns everything it printed.
    fn stop(mut self) -> String {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        self.pump();
        let all = self.seen.join("\n");
        assert!(status.success(), "framewire run failed ({status}):\n{all}");
        all
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Attaches a reader to wire `wire` of a running pipeline, waiting for it
/// to exist.
fn attach(p: &Prefix, pipeline: &str, wire: &str) -> Reader {
    let name = p.wire(pipeline, wire);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        match Reader::attach(&name, &Expect::default()) {
            Ok(r) => return r,
            Err(e) if Instant::now() > end => panic!("wire {name}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// What one frame looked like on a wire: capture time, source sequence,
/// geometry and a hash of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    timestamp_ns: u64,
    source_seq: u64,
    width: u32,
    height: u32,
    stride: u32,
    fourcc: framewire::image::FourCC,
    len: usize,
    hash: u64,
}

/// Reads `r` for `d`, keyed by source sequence.
fn collect(readers: &mut [(&mut Reader, &mut BTreeMap<u64, Seen>)], d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        for (r, into) in readers.iter_mut() {
            while let Some(g) = r.try_read() {
                let m = *g.meta();
                let src = if m.source_seq != 0 { m.source_seq } else { m.seq };
                let s = Seen {
                    timestamp_ns: m.timestamp_ns,
                    source_seq: src,
                    width: m.image.width,
                    height: m.image.height,
                    stride: m.image.stride,
                    fourcc: m.image.fourcc,
                    len: m.len,
                    hash: fnv(&g[..m.len]),
                };
                into.insert(src, s);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Two pipelines as two processes on loopback: a test pattern crosses from
/// `robot` to `base` and drive commands from `base` to `robot`. Every frame
/// that arrives has the sender's bytes, geometry, source sequence and
/// capture timestamp exactly; every command too.
#[test]
fn frames_and_commands_cross_between_two_pipelines_with_metadata_intact() {
    let p = Prefix::new();
    let (p_cam, p_cmd) = (free_port(), free_port());
    let robot = temp_config(
        &p,
        "robot",
        &format!(
            r#"
[pipeline]
name = "robot"
connect = ["cam.frames -> up.input", "down.output -> log.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 320
height = 240
format = "YUYV"
fps = 30

[[block]]
name = "up"
type = "zenoh_out"
key = "framewire/t{pid}/camera"
zenoh = {{ multicast_scouting = false, listen = ["tcp/127.0.0.1:{p_cam}"] }}

[[block]]
name = "down"
type = "zenoh_in"
key = "framewire/t{pid}/drive"
output = "drive"
zenoh = {{ multicast_scouting = false, connect = ["tcp/127.0.0.1:{p_cmd}"] }}

[[block]]
name = "log"
type = "message_log"
kind = "drive"
"#,
            pid = std::process::id()
        ),
    );
    let base = temp_config(
        &p,
        "base",
        &format!(
            r#"
[pipeline]
name = "base"
connect = ["down.output -> sink.input", "script.drive -> up.input"]

[[block]]
name = "down"
type = "zenoh_in"
key = "framewire/t{pid}/camera"
output = "image:320x240:YUYV"
zenoh = {{ multicast_scouting = false, connect = ["tcp/127.0.0.1:{p_cam}"] }}

[[block]]
name = "sink"
type = "frame_sink"

[[block]]
name = "script"
type = "drive_script"
steps = [[1.0, 0.1, 0.0], [1.0, 0.2, -0.5]]
repeat = true
rate_hz = 20

[[block]]
name = "up"
type = "zenoh_out"
key = "framewire/t{pid}/drive"
input = "drive"
zenoh = {{ multicast_scouting = false, listen = ["tcp/127.0.0.1:{p_cmd}"] }}
"#,
            pid = std::process::id()
        ),
    );
    let a = Running::start(framewire(&p).arg("run").arg(&robot));
    let mut b = Running::start(framewire(&p).arg("run").arg(&base));
    b.wait_for(&["[sink]", "first frame: 320x240 YUYV"], 60);
    let mut sent = attach(&p, "robot", "cam.frames");
    let mut got = attach(&p, "base", "down.output");
    let mut cmd_sent = attach(&p, "base", "script.drive");
    let mut cmd_got = attach(&p, "robot", "down.output");
    let (mut s, mut g, mut cs, mut cg) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    collect(
        &mut [(&mut sent, &mut s), (&mut got, &mut g), (&mut cmd_sent, &mut cs), (&mut cmd_got, &mut cg)],
        Duration::from_secs(4),
    );
    // Let the last frames in flight land before comparing.
    collect(&mut [(&mut got, &mut g), (&mut cmd_got, &mut cg)], Duration::from_millis(500));
    let matched: Vec<_> = g.iter().filter(|(k, _)| s.contains_key(k)).collect();
    assert!(matched.len() >= 60, "{} of {} received frames were seen sent ({} sent)", matched.len(), g.len(), s.len());
    for (k, v) in &matched {
        assert_eq!(*v, &s[k], "frame {k} arrived as it was sent (bytes, geometry, capture time)");
    }
    let m = matched[0].1;
    assert_eq!((m.width, m.height, m.fourcc, m.len), (320, 240, framewire::image::FourCC::YUYV, 320 * 240 * 2));
    // Commands: keyed by the base's sequence number, which the robot's wire
    // carries as the source sequence; same bytes, same timestamp.
    let cmatched: Vec<_> = cg.iter().filter(|(k, _)| cs.contains_key(k)).collect();
    assert!(cmatched.len() >= 40, "{} commands matched ({} sent, {} received)", cmatched.len(), cs.len(), cg.len());
    for (k, v) in &cmatched {
        assert_eq!(v.hash, cs[k].hash, "command {k} bytes");
        assert_eq!(v.timestamp_ns, cs[k].timestamp_ns, "command {k} timestamp");
    }
    drop((sent, got, cmd_sent, cmd_got));
    let all_b = b.stop();
    let all_a = a.stop();
    assert!(all_a.contains("publishing on \"framewire/t"), "{all_a}");
    assert!(all_b.contains("subscribed to"), "{all_b}");
    let _ = DriveCommand::SIZE;
}

/// A bad `zenoh` table is refused before anything starts, naming the file,
/// the block, the field and the fix.
#[test]
fn bad_zenoh_settings_are_refused_naming_the_field() {
    let p = Prefix::new();
    let cfg = temp_config(
        &p,
        "bad",
        r#"
[pipeline]
name = "bad"
connect = ["cam.frames -> up.input"]

[[block]]
name = "cam"
type = "test_pattern"

[[block]]
name = "up"
type = "zenoh_out"
key = "framewire/robot1/camera"
zenoh = { mode = "peer", connect = ["192.168.1.20:7447"] }
"#,
    );
    let out = framewire(&p).arg("check").arg(&cfg).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("bad.toml"), "names the file: {all}");
    assert!(
        all.contains("zenoh.connect[0]") && all.contains("PROTOCOL/HOST:PORT"),
        "names the field and the fix: {all}"
    );
}

// ------------------------------------------------------------ network namespaces

/// Two network namespaces joined by a veth pair, `10.251.N.1` (robot) and
/// `10.251.N.2` (base), made by this test and removed on drop, even when
/// the test fails.
struct Netns {
    robot: String,
    base: String,
    dev_robot: String,
    robot_addr: String,
}

impl Netns {
    fn ip(args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
        if out.status.success() { Ok(()) } else { Err(format!("ip {}: {}", args.join(" "), text(&out))) }
    }

    /// Creates the pair; `None` (with a visible skip) where this machine cannot.
    fn create(test: &str, n: u32) -> Option<Netns> {
        if !common::is_root() {
            skip(test, "netns", "creating network namespaces needs root");
            return None;
        }
        let tag = format!("fwz{}{n}", std::process::id() % 100_000);
        let sub = (10 + std::process::id() % 200 + n) % 250;
        let ns = Netns {
            robot: format!("{tag}r"),
            base: format!("{tag}b"),
            dev_robot: format!("{tag}r0"),
            robot_addr: format!("10.251.{sub}.1"),
        };
        let dev_base = format!("{tag}b0");
        let (ra, ba) = (format!("10.251.{sub}.1/30"), format!("10.251.{sub}.2/30"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &ns.robot],
            vec!["netns", "add", &ns.base],
            vec!["link", "add", &ns.dev_robot, "type", "veth", "peer", "name", &dev_base],
            vec!["link", "set", &ns.dev_robot, "netns", &ns.robot],
            vec!["link", "set", &dev_base, "netns", &ns.base],
            vec!["-n", &ns.robot, "addr", "add", &ra, "dev", &ns.dev_robot],
            vec!["-n", &ns.base, "addr", "add", &ba, "dev", &dev_base],
            vec!["-n", &ns.robot, "link", "set", &ns.dev_robot, "up"],
            vec!["-n", &ns.base, "link", "set", &dev_base, "up"],
            vec!["-n", &ns.robot, "link", "set", "lo", "up"],
            vec!["-n", &ns.base, "link", "set", "lo", "up"],
        ];
        for s in steps {
            if let Err(e) = Netns::ip(&s) {
                drop(ns);
                skip(test, "netns", &format!("cannot make the namespaces: {e}"));
                return None;
            }
        }
        Some(ns)
    }

    /// The robot's address: it listens, the base connects.
    fn addr(&self) -> &str {
        &self.robot_addr
    }

    /// Runs `framewire run CFG` inside namespace `ns`.
    fn run(&self, p: &Prefix, robot: bool, cfg: &Path) -> Running {
        let ns = if robot { &self.robot } else { &self.base };
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_framewire"), "run"])
            .arg(cfg)
            .env("FRAMEWIRE_SHM_PREFIX", &p.name)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        Running::start(&mut c)
    }

    /// Runs a command in the robot's namespace; panics on failure.
    fn in_robot(&self, cmd: &[&str]) {
        let out = Command::new("ip").args(["netns", "exec", &self.robot]).args(cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    }

    /// Drops every packet the robot sends (the link is cut, silently), or
    /// none.
    fn cut(&self, on: bool) {
        if on {
            self.in_robot(&["nft", "add", "table", "inet", "fwcut"]);
            self.in_robot(&["nft", "add chain inet fwcut o { type filter hook output priority 0; }"]);
            self.in_robot(&["nft", "add chain inet fwcut i { type filter hook input priority 0; }"]);
            self.in_robot(&["nft", "add", "rule", "inet", "fwcut", "o", "oifname", &self.dev_robot, "drop"]);
            self.in_robot(&["nft", "add", "rule", "inet", "fwcut", "i", "iifname", &self.dev_robot, "drop"]);
        } else {
            self.in_robot(&["nft", "delete", "table", "inet", "fwcut"]);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        let _ = Netns::ip(&["netns", "del", &self.robot]);
        let _ = Netns::ip(&["netns", "del", &self.base]);
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
        || Command::new(tool).arg("-V").output().is_ok_and(|o| o.status.success())
}

/// The shipped robot and base-station pipelines, each in its namespace,
/// with explicit endpoints (multicast scouting off), the world's trace and
/// pty in the test's directory, a 320x240 camera.
fn robot_and_base(p: &Prefix, ns: &Netns, extra_robot: &[(&str, &str, toml::Value)]) -> (PathBuf, PathBuf, PathBuf) {
    let dir = p.dir();
    let (port, trace) = (dir.join("motors"), dir.join("trace.csv"));
    let ports = [7447, 7448, 7449];
    let edit = |file: &str, robot: bool| -> PathBuf {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(file)).unwrap();
        let mut t: toml::Table = text.parse().unwrap();
        for b in t["block"].as_array_mut().unwrap().iter_mut().map(|b| b.as_table_mut().unwrap()) {
            let name = b["name"].as_str().unwrap().to_string();
            let ty = b["type"].as_str().unwrap().to_string();
            // The robot listens (one port per bridge block); the base connects.
            let i = match name.as_str() {
                "camera_up" | "camera_down" => Some(0),
                "odometry_up" | "odometry_down" => Some(1),
                "drive_down" | "drive_up" => Some(2),
                _ => None,
            };
            if let Some(i) = i {
                let ep = format!("tcp/{}:{}", ns.addr(), ports[i]);
                let mut z = toml::Table::new();
                z.insert("multicast_scouting".into(), false.into());
                z.insert((if robot { "listen" } else { "connect" }).into(), toml::Value::Array(vec![ep.into()]));
                b.insert("zenoh".into(), z.into());
            }
            if ty == "sim_world" {
                b.insert("width".into(), 320.into());
                b.insert("height".into(), 240.into());
                b.insert("motor_port".into(), port.display().to_string().into());
                b.insert("trace".into(), trace.display().to_string().into());
            }
            if ty == "roboclaw" {
                b.insert("port".into(), port.display().to_string().into());
            }
            if name == "camera_down" {
                b.insert("output".into(), "image:320x240:MJPG".into());
            }
            for (n, k, v) in extra_robot {
                if *n == name {
                    b.insert(k.to_string(), v.clone());
                }
            }
        }
        let out = dir.join(file);
        std::fs::write(&out, toml::to_string(&t).unwrap()).unwrap();
        out
    };
    (edit("zenoh-robot.toml", true), edit("zenoh-base.toml", false), trace)
}

/// Speed commands the simulated RoboClaw accepted: (time ns, m1, m2).
fn commands(trace: &Path) -> Vec<(u64, f64, f64)> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("c,"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f[1].parse().ok()?, f[2].parse().ok()?, f[3].parse().ok()?))
        })
        .collect()
}

/// The robot and the base station in two network namespaces: the loop
/// closes over Zenoh (the base's commands move the robot's motors); cutting
/// the link (every packet dropped) makes the robot's deadman stop the
/// motors within its 300 ms, and nothing moves them while the link is
/// down; restoring it resumes driving, and none of the commands sent before
/// the cut is obeyed late.
#[test]
fn cutting_the_link_stops_the_motors_and_restoring_it_resumes() {
    let test = "cutting_the_link_stops_the_motors_and_restoring_it_resumes";
    if !have("nft") {
        return skip(test, "netns", "nft (nftables) is not installed: apt-get install nftables");
    }
    let Some(ns) = Netns::create(test, 1) else { return };
    let p = Prefix::new();
    let (robot_cfg, base_cfg, trace) = robot_and_base(&p, &ns, &[]);
    let mut robot = ns.run(&p, true, &robot_cfg);
    let mut base = ns.run(&p, false, &base_cfg);
    robot.wait_for(&["[drive_down]", "subscribed"], 60);
    base.wait_for(&["[camera_down]", "subscribed"], 60);
    // Driving: non-zero commands reach the simulated controller.
    let moving = |from: u64| commands(&trace).iter().filter(|c| c.0 > from && (c.1 != 0.0 || c.2 != 0.0)).count();
    let t0 = framewire::sys::proc::monotonic_ns();
    let end = Instant::now() + Duration::from_secs(40);
    while moving(t0) < 20 {
        assert!(Instant::now() < end, "the loop never closed over Zenoh:\n{}", base.seen.join("\n"));
        std::thread::sleep(Duration::from_millis(200));
    }
    // Cut.
    ns.cut(true);
    let cut_at = framewire::sys::proc::monotonic_ns();
    std::thread::sleep(Duration::from_secs(4));
    let during = commands(&trace);
    let after_cut: Vec<_> = during.iter().filter(|c| c.0 > cut_at).collect();
    let first_stop =
        after_cut.iter().find(|c| c.1 == 0.0 && c.2 == 0.0).expect("the deadman sent a stop after the cut");
    assert!(
        first_stop.0 - cut_at < 700_000_000,
        "stopped {} ms after the cut (deadman 300 ms, commands in flight)",
        (first_stop.0 - cut_at) / 1_000_000
    );
    let moving_late: Vec<_> = after_cut.iter().filter(|c| c.0 > first_stop.0 && (c.1 != 0.0 || c.2 != 0.0)).collect();
    assert!(moving_late.is_empty(), "no motion while the link is cut: {moving_late:?}");
    // Restore: driving resumes.
    ns.cut(false);
    let restored_at = framewire::sys::proc::monotonic_ns();
    let end = Instant::now() + Duration::from_secs(30);
    while moving(restored_at) < 10 {
        assert!(Instant::now() < end, "driving did not resume after the link came back:\n{}", robot.seen.join("\n"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let all_base = base.stop();
    let all_robot = robot.stop();
    // The last bytes the controller got are a stop (shutdown), and the
    // motors stopped before the world went away.
    let last = *commands(&trace).last().unwrap();
    assert!(last.1 == 0.0 && last.2 == 0.0, "last command {last:?}\n{all_robot}");
    assert!(p.leftovers().is_empty(), "{:?}\n{all_base}", p.leftovers());
}

/// Over a link slower than the camera (a token bucket of 12 Mbit/s with a
/// queue that can hold seconds), raw 320x240 YUYV frames at 30 fps need
/// 37 Mbit/s: frames are dropped (by Zenoh's congestion control at the
/// sender, and as stale at the receiver) rather than queued, so what the
/// base receives stays fresh: its age never grows with the run, and a
/// slow consumer behind `zenoh_in` does not back anything up. With 5 %
/// random loss on top, the same holds.
#[test]
fn over_a_slow_lossy_link_stale_frames_are_dropped_not_queued() {
    let test = "over_a_slow_lossy_link_stale_frames_are_dropped_not_queued";
    if !have("nft") || !have("tc") {
        return skip(test, "netns", "tc (iproute2) and nft (nftables) are needed");
    }
    let Some(ns) = Netns::create(test, 2) else { return };
    let p = Prefix::new();
    let pid = std::process::id();
    let robot_cfg = temp_config(
        &p,
        "robot",
        &format!(
            r#"
[pipeline]
name = "robot"
connect = ["cam.frames -> up.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 320
height = 240
format = "YUYV"
fps = 30

[[block]]
name = "up"
type = "zenoh_out"
key = "framewire/t{pid}/camera"
zenoh = {{ multicast_scouting = false, listen = ["tcp/{}:7447"] }}
"#,
            ns.addr()
        ),
    );
    let base_cfg = temp_config(
        &p,
        "base",
        &format!(
            r#"
[pipeline]
name = "base"
connect = ["down.output -> sink.input"]

[[block]]
name = "down"
type = "zenoh_in"
key = "framewire/t{pid}/camera"
output = "image:320x240:YUYV"
max_delay_ms = 250
zenoh = {{ multicast_scouting = false, connect = ["tcp/{}:7447"] }}

[[block]]
name = "sink"
type = "frame_sink"
report_every_s = 1.0
"#,
            ns.addr()
        ),
    );
    // 12 Mbit/s with a 3 MB bucket queue (seconds of frames).
    ns.in_robot(&[
        "tc",
        "qdisc",
        "add",
        "dev",
        &ns.dev_robot,
        "root",
        "tbf",
        "rate",
        "12mbit",
        "burst",
        "32kb",
        "limit",
        "3mb",
    ]);
    ns.in_robot(&["nft", "add", "table", "inet", "fwloss"]);
    ns.in_robot(&["nft", "add chain inet fwloss o { type filter hook output priority 0; }"]);
    ns.in_robot(&["nft", "add rule inet fwloss o numgen random mod 100 < 5 drop"]);
    let robot = ns.run(&p, true, &robot_cfg);
    let mut base = ns.run(&p, false, &base_cfg);
    base.wait_for(&["[sink]", "first frame"], 60);
    // Read what arrives, as a consumer that is slow on purpose (one frame
    // every 200 ms), for 12 s: the age of each frame it gets.
    let mut r = attach(&p, "base", "down.output");
    let start = Instant::now();
    let mut ages = Vec::new();
    while start.elapsed() < Duration::from_secs(12) {
        if let Some(g) = r.read(Duration::from_millis(500)) {
            let age = framewire::sys::proc::monotonic_ns().saturating_sub(g.meta().timestamp_ns);
            ages.push((start.elapsed().as_secs_f64(), age as f64 / 1e6));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(r);
    base.pump();
    let all_base = base.stop();
    let all_robot = robot.stop();
    assert!(ages.len() >= 20, "frames kept arriving: {ages:?}\n{all_base}");
    // Fresh throughout: a queue would make the age grow without bound (at
    // 37 Mbit/s into 12, by ~2 s every 3 s); here the last frames are as
    // young as the first ones, within the stale limit plus the link.
    let late: Vec<_> = ages.iter().filter(|(t, _)| *t > 6.0).map(|(_, a)| *a).collect();
    let worst = late.iter().cloned().fold(0.0, f64::max);
    assert!(worst < 1000.0, "frame age in the second half peaked at {worst:.0} ms: {ages:?}\n{all_base}");
    // And drops were counted: the stop line of zenoh_in's gauges shows them.
    let sink_lines: Vec<&str> = all_base.lines().filter(|l| l.contains("[sink]") && l.contains("frames/s")).collect();
    assert!(!sink_lines.is_empty(), "{all_base}");
    assert!(all_robot.contains("publishing on"), "{all_robot}");
    let fps: Vec<f64> = sink_lines
        .iter()
        .filter_map(|l| l.split(" frames/s").next()?.split_whitespace().last()?.parse().ok())
        .collect();
    assert!(fps.len() >= 8, "one rate line a second: {fps:?}\n{all_base}");
    // 12 Mbit/s carries about 8 of the 30 raw frames a second.
    assert!(fps.iter().skip(2).all(|&f| f < 20.0), "fewer frames than sent got through: {fps:?}");
    let dropped: u64 = all_base
        .lines()
        .filter(|l| l.contains("[down]") && l.contains("received"))
        .filter_map(|l| l.split("dropped ").nth(1)?.split(' ').next()?.parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("zenoh_in reports its drops when it stops:\n{all_base}"));
    assert!(dropped > 0, "frames were dropped, and counted:\n{all_base}");
    // For the record (visible with --nocapture).
    eprintln!(
        "{} frames read, worst age after 6 s {worst:.0} ms; sink frames/s {fps:?}; {dropped} dropped",
        ages.len()
    );
    assert!(p.leftovers().is_empty());
}

// ------------------------------------------------------------ other languages

/// Whether python3 can import `modules`.
fn python_has(modules: &str) -> bool {
    Command::new("python3").args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success())
}

/// The Python example (blocks/python/zenoh_pilot.py, eclipse-zenoh)
/// subscribes to a robot pipeline's frames, parses the frame header, and
/// publishes drive commands that the robot's `zenoh_in` writes into its
/// pipeline.
#[test]
fn the_python_example_receives_frames_and_drives_the_robot() {
    let test = "the_python_example_receives_frames_and_drives_the_robot";
    if !python_has("zenoh") {
        return skip(test, "zenoh-python", "python3 cannot import zenoh: pip install eclipse-zenoh==1.10.2");
    }
    let p = Prefix::new();
    let (p_cam, p_py) = (free_port(), free_port());
    let robot_name = format!("t{}py", std::process::id());
    let robot = temp_config(
        &p,
        "robot",
        &format!(
            r#"
[pipeline]
name = "robot"
connect = ["cam.frames -> up.input", "down.output -> log.input"]

[[block]]
name = "cam"
type = "test_pattern"
width = 160
height = 120
format = "YUYV"
fps = 20

[[block]]
name = "up"
type = "zenoh_out"
key = "framewire/{robot_name}/camera"
zenoh = {{ multicast_scouting = false, listen = ["tcp/127.0.0.1:{p_cam}"] }}

[[block]]
name = "down"
type = "zenoh_in"
key = "framewire/{robot_name}/drive"
output = "drive"
zenoh = {{ multicast_scouting = false, connect = ["tcp/127.0.0.1:{p_py}"] }}

[[block]]
name = "log"
type = "message_log"
kind = "drive"
"#
        ),
    );
    let mut a = Running::start(framewire(&p).arg("run").arg(&robot));
    a.wait_for(&["[down]", "subscribed"], 60);
    let mut cmds = attach(&p, "robot", "down.output");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("blocks/python/zenoh_pilot.py");
    let py = Command::new("python3")
        .arg(&script)
        .args(["--robot", &robot_name, "--no-multicast", "--frames", "40", "--timeout", "30"])
        .args(["--connect", &format!("tcp/127.0.0.1:{p_cam}"), "--listen", &format!("tcp/127.0.0.1:{p_py}")])
        .output()
        .unwrap();
    let out = text(&py);
    assert!(py.status.success(), "{out}");
    let frames: Vec<&str> = out.lines().filter(|l| l.starts_with("frame seq=")).collect();
    assert_eq!(frames.len(), 40, "{out}");
    assert!(frames.iter().all(|l| l.contains("160x120 YUYV 38400 bytes")), "{out}");
    // The capture time came across: ages are those of live frames.
    let ages: Vec<f64> =
        frames.iter().filter_map(|l| l.split("age_ms=").nth(1)?.split(' ').next()?.parse().ok()).collect();
    assert!(ages.iter().all(|&a| (0.0..2000.0).contains(&a)), "{ages:?}");
    // Its commands arrived in the robot's pipeline.
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && got.len() < 10 {
        if let Some(g) = cmds.read(Duration::from_millis(200)) {
            got.push(DriveCommand::decode(&g).unwrap());
        }
    }
    assert!(!got.is_empty(), "no command from Python reached the robot:\n{out}\n{}", a.seen.join("\n"));
    assert!(got.iter().all(|d| (d.linear - 0.1).abs() < 1e-6 && d.angular.abs() <= 1.0), "{got:?}");
    drop(cmds);
    a.stop();
}

/// A robot pipeline with `ros_topic` set publishes its camera as
/// `sensor_msgs/msg/Image` and its odometry as `nav_msgs/msg/Odometry`
/// on the key expressions rmw_zenoh uses, with the liveliness tokens of a
/// node and its publishers. A Python Zenoh session (eclipse-zenoh) finds
/// them by the keys it builds itself from the type hashes `rosbags`
/// computes (`hash_rihs01`), checks the tokens' documented layout, decodes
/// the payloads with `rosbags` and re-serializes them: the bytes are
/// exactly what `rosbags` writes.
#[test]
fn ros2_hosts_see_image_and_odometry_topics_as_rmw_zenoh_names_them() {
    let test = "ros2_hosts_see_image_and_odometry_topics_as_rmw_zenoh_names_them";
    if !python_has("zenoh, rosbags") {
        return skip(
            test,
            "zenoh-python",
            "python3 cannot import zenoh and rosbags: pip install eclipse-zenoh==1.10.2 rosbags==0.11.9",
        );
    }
    let p = Prefix::new();
    let link = p.dir().join("motors");
    let sim = common::SimMotor::start("roboclaw", &link);
    let (port, port2) = (free_port(), free_port());
    let cfg = temp_config(
        &p,
        "ros",
        &format!(
            r#"
[pipeline]
name = "ros"
connect = [
  "cam.frames -> cam_up.input",
  "script.drive -> base.drive",
  "base.wheels -> motors.wheels",
  "motors.odometry -> odo_up.input",
]

[[block]]
name = "cam"
type = "test_pattern"
width = 64
height = 48
format = "RGB24"
fps = 20

[[block]]
name = "cam_up"
type = "zenoh_out"
key = "framewire/rosbot/camera"
ros_topic = "/robot1/camera/image_raw"
ros_frame_id = "camera"
zenoh = {{ multicast_scouting = false, listen = ["tcp/127.0.0.1:{port}"] }}

[[block]]
name = "script"
type = "drive_script"
steps = [[30.0, 0.2, 0.3]]

[[block]]
name = "base"
type = "diff_drive"
wheel_radius = 0.05
track_width = 0.3
max_wheel_speed = 20.0

[[block]]
name = "motors"
type = "roboclaw"
port = "{link}"
counts_per_rev = 1920
wheel_radius = 0.05
track_width = 0.3
max_wheel_speed = 20.0

[[block]]
name = "odo_up"
type = "zenoh_out"
key = "framewire/rosbot/odometry"
input = "odometry"
ros_topic = "/robot1/odom"
zenoh = {{ multicast_scouting = false, listen = ["tcp/127.0.0.1:{port2}"] }}

# The test's own reader below must see every pose the driver commits, even
# when this machine starves it for a while: a `latest` reader would skip
# poses and could miss the one that went out on the ROS topic.
[wire."motors.odometry"]
policy = "queue"
slots = 64
"#,
            link = link.display()
        ),
    );
    let mut run = Running::start(framewire(&p).arg("run").arg(&cfg));
    // Every pose the driver commits, from as soon as the wire exists (the
    // supervisor makes it before it starts any block): `odo_up` reads this
    // queue wire in order too, so a pose it publishes late, after a backlog,
    // was still committed after this reader attached.
    let mut odo_wire = attach(&p, "ros", "motors.odometry");
    let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let l = listening.clone();
    let poses = std::thread::spawn(move || {
        let mut v = Vec::new();
        while l.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(g) = odo_wire.read(Duration::from_millis(50)) {
                let o = framewire::msg::Odometry::decode(&g).unwrap();
                v.push((o.x.to_bits(), o.y.to_bits()));
            }
        }
        // The Python side has finished, so every pose it saw is committed
        // by now; a starved reader may still be behind on this queue wire.
        // Catch up with everything committed so far.
        while let Some(g) = odo_wire.try_read() {
            let o = framewire::msg::Odometry::decode(&g).unwrap();
            v.push((o.x.to_bits(), o.y.to_bits()));
        }
        v
    });
    run.wait_for(&["[odo_up]", "ROS 2 topic /robot1/odom"], 60);
    run.wait_for(&["[cam_up]", "ROS 2 topic /robot1/camera/image_raw"], 60);
    let script = format!(
        r#"
import json, struct, sys, time, zenoh
from rosbags.typesys import Stores, get_typestore
ts = get_typestore(Stores.ROS2_JAZZY)
def dds(t):
    pkg, kind, name = t.split("/")
    return f"{{pkg}}::{{kind}}::dds_::{{name}}_"
def key(topic, t):
    return f"0/{{topic.strip('/')}}/{{dds(t)}}/{{ts.hash_rihs01(t)}}"
conf = zenoh.Config()
conf.insert_json5("scouting/multicast/enabled", "false")
conf.insert_json5("transport/shared_memory/enabled", "false")
conf.insert_json5("connect/endpoints", '["tcp/127.0.0.1:{port}", "tcp/127.0.0.1:{port2}"]')
out = {{}}
with zenoh.open(conf) as s:
    subs = {{t: s.declare_subscriber(key(topic, t), zenoh.handlers.FifoChannel(16))
            for topic, t in [("/robot1/camera/image_raw", "sensor_msgs/msg/Image"), ("/robot1/odom", "nav_msgs/msg/Odometry")]}}
    deadline = time.time() + 30
    for t, sub in subs.items():
        samples = []
        while len(samples) < 3 and time.time() < deadline:
            r = sub.try_recv()
            if r is None:
                time.sleep(0.01)
                continue
            samples.append(r)
        if not samples:
            print(f"nothing arrived on {{t}}", file=sys.stderr); sys.exit(2)
        last = samples[-1]
        raw = last.payload.to_bytes()
        msg = ts.deserialize_cdr(raw, t)
        again = ts.serialize_cdr(msg, t)
        att = last.attachment.to_bytes()
        seqs = [int.from_bytes(x.attachment.to_bytes()[:8], "little") for x in samples]
        rec = dict(same_bytes=bytes(again) == bytes(raw), att_len=len(att), gid_len=att[16],
                   att_ns=int.from_bytes(att[8:16], "little"), seqs=seqs,
                   stamp_ns=msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, frame_id=msg.header.frame_id)
        if t.endswith("Image"):
            rec.update(width=int(msg.width), height=int(msg.height), encoding=msg.encoding, step=int(msg.step),
                       data_len=len(msg.data))
        else:
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            # The pose's exact bits too: a JSON float can come back 1 ulp off.
            bits = lambda f: struct.unpack("<Q", struct.pack("<d", f))[0]
            rec.update(child=msg.child_frame_id, x=float(p.x), y=float(p.y), qz=float(q.z), qw=float(q.w),
                       x_bits=bits(float(p.x)), y_bits=bits(float(p.y)),
                       norm=float(q.x**2 + q.y**2 + q.z**2 + q.w**2),
                       vx=float(msg.twist.twist.linear.x), wz=float(msg.twist.twist.angular.z))
        out[t] = rec
    tokens = []
    for r in s.liveliness().get("@ros2_lv/0/**", timeout=5):
        if r.ok is not None:
            tokens.append(str(r.ok.key_expr))
    out["tokens"] = tokens
    out["hashes"] = {{t: ts.hash_rihs01(t) for t in ["sensor_msgs/msg/Image", "nav_msgs/msg/Odometry", "sensor_msgs/msg/CompressedImage"]}}
print(json.dumps(out))
"#
    );
    let py = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    let out = text(&py);
    assert!(py.status.success(), "{out}\n{}", run.seen.join("\n"));
    listening.store(false, std::sync::atomic::Ordering::Relaxed);
    let odo_values = poses.join().unwrap();
    run.stop();
    drop(sim);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&py.stdout).trim()).unwrap();
    // Our type hashes are rosbags'.
    use framewire::bridge::rmw;
    for ty in [rmw::IMAGE, rmw::ODOMETRY, rmw::COMPRESSED_IMAGE] {
        assert_eq!(v["hashes"][ty.name], ty.hash, "{}", ty.name);
    }
    let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for t in ["sensor_msgs/msg/Image", "nav_msgs/msg/Odometry"] {
        let r = &v[t];
        assert_eq!(r["same_bytes"], true, "{t}: rosbags re-serializes the payload to the same bytes: {r}");
        assert_eq!((r["att_len"].as_u64(), r["gid_len"].as_u64()), (Some(33), Some(16)), "{t} attachment: {r}");
        let seqs: Vec<i64> = r["seqs"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{t}: sequence numbers increase: {seqs:?}");
        let stamp = r["stamp_ns"].as_u64().unwrap();
        assert!(unix_now.abs_diff(stamp) < 60_000_000_000, "{t}: stamp {stamp} is wall-clock time near {unix_now}");
        assert_eq!(r["att_ns"].as_u64(), Some(stamp), "{t}: the attachment's source time is the stamp");
    }
    let img = &v["sensor_msgs/msg/Image"];
    assert_eq!(
        (&img["width"], &img["height"], &img["encoding"], &img["step"], &img["data_len"], &img["frame_id"]),
        (&64.into(), &48.into(), &"rgb8".into(), &192.into(), &(64 * 48 * 3).into(), &"camera".into()),
        "{img}"
    );
    let odo = &v["nav_msgs/msg/Odometry"];
    assert_eq!(odo["child"], "base_link", "{odo}");
    assert!((odo["norm"].as_f64().unwrap() - 1.0).abs() < 1e-9, "a unit quaternion: {odo}");
    let (x, y) = (odo["x"].as_f64().unwrap(), odo["y"].as_f64().unwrap());
    assert!(x > 0.0, "the robot drove forward: {odo}");
    // Compared bit for bit (serde_json may parse a float 1 ulp off).
    let bits = (odo["x_bits"].as_u64().unwrap(), odo["y_bits"].as_u64().unwrap());
    assert!(
        odo_values.contains(&bits),
        "the pose is one the driver committed ({x}, {y}) among {} values: {:?}",
        odo_values.len(),
        odo_values.iter().map(|&(a, b)| (f64::from_bits(a), f64::from_bits(b))).collect::<Vec<_>>()
    );
    // Liveliness tokens in design.md's layout.
    let tokens: Vec<&str> = v["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let node = tokens.iter().find(|t| t.contains("/NN/") && t.ends_with("%robot1%camera/framewire"));
    assert!(node.is_some(), "node token of /robot1/camera/framewire: {tokens:?}");
    let publ = tokens
        .iter()
        .map(|t| t.split('/').collect::<Vec<_>>())
        .find(|c| c.len() == 13 && c[5] == "MP" && c[9] == "%robot1%camera%image_raw")
        .unwrap_or_else(|| panic!("publisher token for the image: {tokens:?}"));
    assert_eq!((publ[0], publ[1], publ[6], publ[7], publ[8]), ("@ros2_lv", "0", "%", "%robot1%camera", "framewire"));
    assert_eq!((publ[10], publ[11], publ[12]), (rmw::IMAGE.dds_name, rmw::IMAGE.hash, "2::,1:,:,:,,"));
    assert!(
        tokens.iter().any(|t| t.contains("/MP/") && t.contains("/%robot1%odom/nav_msgs::msg::dds_::Odometry_/")),
        "{tokens:?}"
    );
    assert!(p.leftovers().is_empty());
}
