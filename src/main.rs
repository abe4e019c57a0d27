//! The `framewire` command line: the only place that uses `anyhow` and maps
//! errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use framewire::runtime::{self, config, status, supervisor};

/// Writes a line to stderr, ignoring errors: a closed stderr (`run 2>&1 |
/// head`) must not panic the supervisor in the middle of a pipeline.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Writes to stdout; when the reader has gone (`framewire blocks | head`),
/// stops quietly with exit code 0 instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        out!("\n")
    };
    ($($t:tt)*) => {{
        out!($($t)*);
        out!("\n");
    }};
}

/// Exit codes, in one place.
mod exit {
    /// Clean stop.
    pub const OK: u8 = 0;
    /// Invalid configuration or arguments.
    pub const CONFIG: u8 = 2;
    /// A block failed beyond its restart policy, or the runtime failed.
    pub const RUNTIME: u8 = 3;
    /// `status` found no running pipeline.
    pub const NOT_RUNNING: u8 = 4;
    /// `doctor` found problems.
    pub const DOCTOR_PROBLEMS: u8 = 5;
}

#[derive(Parser)]
#[command(
    name = "framewire",
    version,
    about = "Robotics pipelines of processes joined by zero-copy shared-memory wires"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a pipeline until Ctrl-C (or --for).
    Run {
        /// Pipeline file, e.g. config/demo.toml.
        file: PathBuf,
        /// Stop cleanly after this long (e.g. 10s, 500ms, 2m).
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Seconds each block gets to stop after SIGTERM before SIGKILL (0 to 3600).
        #[arg(long, default_value = "3", value_parser = |s: &str| parse_seconds(s, 0.0, 3600.0))]
        grace: f64,
        /// Serve the live view (the wires' images and statistics in a browser) on
        /// 127.0.0.1:8090, or on --view=ADDR (a port, or IP:PORT). An address other
        /// than loopback lets other machines watch: give it only on a trusted network.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
              default_missing_value = "127.0.0.1:8090", value_parser = parse_view_addr)]
        view: Option<std::net::SocketAddr>,
        /// Most frames per second the live view encodes for one stream (0.5 to 60).
        #[arg(long, default_value = "10", value_parser = parse_view_fps)]
        view_fps: f64,
    },
    /// Serve the live view of a running pipeline (started elsewhere) until Ctrl-C.
    View {
        /// The pipeline (default: the only one running).
        pipeline: Option<String>,
        /// Where to listen: a port, or IP:PORT. Loopback unless you say otherwise.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090", value_parser = parse_view_addr)]
        addr: std::net::SocketAddr,
        /// Most frames per second encoded for one stream (0.5 to 60).
        #[arg(long, default_value = "10", value_parser = parse_view_fps)]
        fps: f64,
    },
    /// Validate a pipeline file without running it.
    Check {
        /// Pipeline file.
        file: PathBuf,
    },
    /// List every block type with its parameters and ports.
    Blocks {
        /// Only this type.
        name: Option<String>,
    },
    /// Print a pipeline as a Graphviz DOT graph.
    Graph {
        /// Pipeline file.
        file: PathBuf,
    },
    /// Show running pipelines: blocks, wires, rates, latency, drops.
    Status {
        /// Only this pipeline.
        pipeline: Option<String>,
        /// Sampling window for rates, in seconds (0.05 to 60).
        #[arg(long, default_value = "1", value_parser = |s: &str| parse_seconds(s, 0.05, 60.0))]
        window: f64,
    },
    /// Record wires of a running pipeline to MCAP files, until Ctrl-C (or --for).
    Record(RecordCli),
    /// Replay an MCAP recording: image topics into frame_sink, message topics into message_log.
    Replay(ReplayCli),
    /// List V4L2 cameras: driver, card, bus, formats, sizes, rates, controls.
    Devices,
    /// Benchmarks (`framewire bench wire`, `framewire bench demo`, `framewire bench camera`, ...).
    Bench {
        /// What to measure.
        #[command(subcommand)]
        what: Bench,
    },
    /// List every message type with its byte layout (for blocks in other languages).
    Messages {
        /// Only this type.
        name: Option<String>,
    },
    /// Simulate a serial motor controller on a pseudo-terminal; prints its path.
    SimMotor(SimMotorCli),
    /// Write udev rules giving the plugged-in camera and motor controller stable names.
    Udev {
        /// A camera (V4L2 node) to name /dev/framewire/camera0, camera1, ... in order.
        #[arg(long)]
        camera: Vec<PathBuf>,
        /// The motor controller's serial port, to name /dev/framewire/motors.
        #[arg(long)]
        motors: Option<PathBuf>,
        /// More serial ports, as NAME=PATH (named /dev/framewire/NAME).
        #[arg(long)]
        serial: Vec<String>,
        /// Write the rules here (default: print them).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a systemd unit that runs a pipeline at boot, once its devices appear.
    Service {
        /// Pipeline file.
        file: PathBuf,
        /// The user it runs as (default: the current one).
        #[arg(long)]
        user: Option<String>,
        /// Seconds each block gets to stop.
        #[arg(long, default_value = "3", value_parser = |s: &str| parse_seconds(s, 0.0, 3600.0))]
        grace: f64,
    },
    /// Check this machine's setup (groups, devices, /dev/shm, udev, RemoveIPC), and a pipeline's.
    Doctor {
        /// Pipeline file to check as well.
        file: Option<PathBuf>,
    },
    /// Run one block (started by `framewire run`; not for direct use).
    #[command(hide = true)]
    Block,
    /// Benchmark helper process (started by `framewire bench`).
    #[command(hide = true)]
    BenchPeer {
        /// Peer arguments.
        args: Vec<String>,
    },
}

/// `framewire sim-motor` options.
#[derive(clap::Args)]
struct SimMotorCli {
    /// Which controller to simulate: roboclaw, dynamixel, arduino, sabertooth, vesc, odrive or pololu.
    #[arg(long, value_parser = |s: &str| s.parse::<framewire::motor::Protocol>())]
    protocol: framewire::motor::Protocol,
    /// A stable path to create as a symlink to the pty (point the driver's `port` at it).
    #[arg(long)]
    link: Option<PathBuf>,
    /// Corrupt the checksum of every reply.
    #[arg(long)]
    corrupt: bool,
    /// Truncate every reply.
    #[arg(long)]
    truncate: bool,
    /// Prefix every reply with garbage bytes.
    #[arg(long)]
    garbage: bool,
    /// Never reply.
    #[arg(long)]
    silent: bool,
}

impl SimMotorCli {
    fn args(&self) -> framewire::motor::sim::SimMotorArgs {
        framewire::motor::sim::SimMotorArgs {
            protocol: self.protocol,
            link: self.link.clone(),
            corrupt: self.corrupt,
            truncate: self.truncate,
            garbage: self.garbage,
            silent: self.silent,
        }
    }
}

/// `framewire record` options.
#[derive(clap::Args)]
struct RecordCli {
    /// Where to record: DIR/NAME.mcap writes DIR/NAME.0001.mcap, DIR/NAME.0002.mcap, ...
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Wires to record, `block.port`, comma-separated (e.g. camera.frames,blob.detection).
    #[arg(long, value_delimiter = ',', required = true)]
    wires: Vec<String>,
    /// The pipeline whose wires these are (default: the only one running).
    #[arg(long)]
    pipeline: Option<String>,
    /// Stop after this long (e.g. 10s, 2m).
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Start a new file before one grows past this many MiB (0 = never).
    #[arg(long, default_value = "1024", value_parser = |s: &str| parse_seconds(s, 0.0, 1e9))]
    max_file_mb: f64,
    /// Finish a chunk at least this often, in ms: a crash loses at most this much.
    #[arg(long, default_value = "1000")]
    chunk_ms: u64,
}

/// `framewire replay` options.
#[derive(clap::Args)]
struct ReplayCli {
    /// The recording: an .mcap file, or the -o path given to the recorder.
    file: PathBuf,
    /// Speed: 1 = as recorded, 2 = twice as fast, 0 = as fast as the wires take it.
    #[arg(long, default_value = "1", value_parser = |s: &str| parse_seconds(s, 0.0, 1e6))]
    rate: f64,
    /// Start paused: Enter publishes the next message (or type play, pause, rate X, step N).
    #[arg(long)]
    step: bool,
    /// Start again at the end.
    #[arg(long)]
    repeat: bool,
    /// Only these topics, comma-separated.
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Print the generated pipeline instead of running it (a start for your own: add your filter).
    #[arg(long)]
    config: bool,
    /// Stop after this long.
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<Duration>,
}

#[derive(Subcommand)]
enum Bench {
    /// Wire handoff latency and throughput against semaphore, socket and memcpy baselines.
    Wire {
        /// Frames per measurement.
        #[arg(long, default_value = "300")]
        frames: usize,
        /// Only the 1080p RGB payload.
        #[arg(long)]
        quick: bool,
    },
    /// Every filter against OpenCV (if installed) and the memory floor, at 640x480 and 1920x1080.
    Filters {
        /// Options: --sizes 640x480,1920x1080 --only NAME --rounds N --no-opencv.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The closed-loop demo: frames/s per wire and glass-to-motor latency at 640x480 and 1920x1080.
    Demo {
        /// Options: --sizes 640x480,1920x1080 --seconds 10 --warmup 3 --config config/demo.toml.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// What watching costs: the live view's work per frame against memcpy, and a
    /// pipeline's CPU with and without a client on its live view.
    View {
        /// Rounds per measurement (medians are over these).
        #[arg(long, default_value = "5")]
        rounds: usize,
        /// Seconds per phase of a pipeline round.
        #[arg(long, default_value = "3", value_parser = |s: &str| parse_seconds(s, 0.5, 60.0))]
        seconds: f64,
    },
    /// Frames between two processes through the Zenoh bridge (raw and JPEG) next to a local wire (needs --features zenoh).
    Zenoh {
        /// Options: --sizes 640x480,1920x1080 --seconds 3 --rounds 3.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// CPU time per frame: USERPTR zero-copy against MMAP + copy, at 640x480 and 1920x1080.
    Camera {
        /// The V4L2 device.
        #[arg(long, default_value = "/dev/video0")]
        device: PathBuf,
        /// Frames per measurement.
        #[arg(long, default_value = "100")]
        frames: u32,
    },
}

/// A number of seconds within `lo..=hi` (NaN, infinities and negatives are
/// refused here rather than panicking later).
fn parse_seconds(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!("{s} is out of range: give {lo} to {hi} seconds"));
    }
    Ok(v)
}

fn parse_view_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    framewire::viewer::parse_addr(s).map_err(|e| e.to_string())
}

fn parse_view_fps(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of frames per second"))?;
    if !(0.5..=60.0).contains(&v) {
        return Err(format!("{s} frames/s is out of range: give 0.5 to 60"));
    }
    Ok(v)
}

/// The viewer's view of a pipeline: the supervisor's run file, read on
/// each request (the viewer may not depend on the runtime, so it is handed
/// this instead).
struct RunFileSource {
    prefix: String,
    pipeline: String,
    /// The run file is this process's own (`run --view`): it exists
    /// exactly while the pipeline runs.
    own: bool,
    /// How many blocks read each wire, from the pipeline file.
    readers: std::collections::BTreeMap<String, usize>,
}

/// How many blocks read each wire of `p`.
fn wire_readers(p: &config::Pipeline) -> std::collections::BTreeMap<String, usize> {
    p.wires.iter().map(|w| (w.name.clone(), w.readers.len())).collect()
}

impl framewire::viewer::Source for RunFileSource {
    fn snapshot(&self) -> framewire::viewer::Snapshot {
        use framewire::viewer::{BlockEntry, Snapshot, WireEntry};
        let mut snap = Snapshot { pipeline: self.pipeline.clone(), ..Snapshot::default() };
        let Some(run) = status::pipelines(&self.prefix, Some(&self.pipeline)).into_iter().next() else {
            return snap;
        };
        snap.running = self.own || run.alive;
        let t = &run.table;
        for seg in t.get("wires").and_then(|w| w.as_array()).into_iter().flatten().filter_map(|v| v.as_str()) {
            // `<prefix>.<pipeline>.<block>.<port>`: neither prefix nor
            // pipeline names contain dots.
            let name = seg.splitn(3, '.').nth(2).unwrap_or(seg).to_string();
            let readers = self.readers.get(&name).copied().unwrap_or(0);
            snap.wires.push(WireEntry { name, segment: seg.to_string(), readers });
        }
        for b in t.get("block").and_then(|b| b.as_array()).into_iter().flatten() {
            let s = |k: &str| b.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let n = |k: &str| b.get(k).and_then(|v| v.as_integer()).unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
            snap.blocks.push(BlockEntry {
                name: s("name"),
                type_name: s("type"),
                pid: n("pid"),
                state: s("state"),
                restarts: n("restarts"),
                last_exit: s("last_exit"),
                state_segment: b.get("state_segment").and_then(|v| v.as_str()).map(str::to_string),
            });
        }
        snap
    }
}

/// Starts the live view and says where it is; a non-loopback address gets
/// a warning, as it lets other machines watch.
fn start_viewer(
    addr: std::net::SocketAddr,
    fps: f64,
    source: RunFileSource,
) -> anyhow::Result<framewire::viewer::Viewer> {
    let cfg = framewire::viewer::Config { addr, max_fps: fps, ..Default::default() };
    let v = framewire::viewer::Viewer::start(cfg, source)?;
    let local = v.local_addr();
    if v.is_loopback() {
        errln!(
            "framewire: live view at {} (this machine only; from another one: ssh -L {}:localhost:{} ROBOT, then open http://localhost:{}/)",
            v.url(),
            local.port(),
            local.port(),
            local.port()
        );
    } else {
        errln!("framewire: live view at {} (port {})", v.url(), local.port());
        errln!(
            "framewire: warning: the live view listens on {local}, not on loopback: anyone who can reach this machine on port {} can watch its cameras and the pipeline's state, without a password. Prefer the default 127.0.0.1 and an SSH tunnel unless this network is trusted",
            local.port()
        );
    }
    Ok(v)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 10s, 500ms or 2m"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not a duration like 10s, 500ms or 2m"));
    }
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is too long"))
}

fn init_logging() {
    let level = match std::env::var("FRAMEWIRE_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    // Blocks' lines are prefixed with the block name by the supervisor, so
    // they carry no timestamp or target of their own.
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        // A block whose supervisor was killed writes into a closed pipe.
        // The subscriber would report that failure with `eprintln!` into the
        // same closed pipe, which panics, and a panicking actuator never
        // commands its stop; a lost log line is the lesser harm.
        .log_internal_errors(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli.cmd) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Configuration errors are already a full report; others get a chain.
            if let Some(ce) = e.downcast_ref::<config::ConfigError>() {
                errln!("{ce}");
                errln!("framewire: {} problem(s); nothing was started", ce.problems.len());
                return ExitCode::from(exit::CONFIG);
            }
            errln!("framewire: error: {e:#}");
            let config = e.downcast_ref::<supervisor::SupervisorError>().is_some_and(|s| s.is_config());
            ExitCode::from(if config { exit::CONFIG } else { exit::RUNTIME })
        }
    }
}

fn dispatch(cmd: Cmd) -> anyhow::Result<u8> {
    let reg = framewire::registry()?;
    match cmd {
        Cmd::Run { file, duration, grace, view, view_fps } => {
            let p = config::load(&file, &reg)?;
            let opts = supervisor::RunOptions { duration, grace: Duration::from_secs_f64(grace), ..Default::default() };
            // Before anything starts: a port in use stops here, not after
            // the robot has begun to move.
            let viewer = match view {
                Some(addr) => {
                    let source = RunFileSource {
                        prefix: opts.prefix.clone(),
                        pipeline: p.name.clone(),
                        own: true,
                        readers: wire_readers(&p),
                    };
                    Some(start_viewer(addr, view_fps, source)?)
                }
                None => None,
            };
            errln!(
                "framewire: running pipeline {} ({} blocks, {} wires); Ctrl-C stops it",
                p.name,
                p.blocks.len(),
                p.wires.len()
            );
            let outcome = supervisor::run(&p, &opts);
            if let Some(v) = viewer {
                v.stop();
            }
            let outcome = outcome?;
            errln!("framewire: pipeline {} stopped cleanly ({outcome:?})", p.name);
            Ok(exit::OK)
        }
        Cmd::View { pipeline, addr, fps } => {
            let prefix = framewire::wire::prefix();
            let name = match pipeline {
                Some(n) => n,
                None => {
                    let alive: Vec<String> = status::pipelines(&prefix, None)
                        .iter()
                        .filter(|r| r.alive)
                        .filter_map(|r| r.table.get("pipeline").and_then(|v| v.as_str()).map(str::to_string))
                        .collect();
                    match alive.as_slice() {
                        [one] => one.clone(),
                        [] => {
                            errln!(
                                "framewire: no framewire pipeline is running (under prefix {prefix}); start one, or name it"
                            );
                            return Ok(exit::NOT_RUNNING);
                        }
                        many => anyhow::bail!(
                            "{} pipelines are running ({}); name the one to view",
                            many.len(),
                            many.join(", ")
                        ),
                    }
                }
            };
            framewire::sys::proc::signals::catch_termination()?;
            // Which blocks read which wire: from the pipeline file the run
            // file names (if it still loads; without it the viewer cannot
            // tell a restarting block's free entry from a spare one).
            let file = status::pipelines(&prefix, Some(&name))
                .first()
                .and_then(|r| r.table.get("file").and_then(|f| f.as_str()).map(PathBuf::from));
            let readers = match file.as_deref().map(|f| config::load(f, &reg)) {
                Some(Ok(p)) => wire_readers(&p),
                Some(Err(e)) => {
                    errln!(
                        "framewire: warning: cannot read {name}'s pipeline file ({e}); the view may take a restarting block's reader entry"
                    );
                    Default::default()
                }
                None => Default::default(),
            };
            let source = RunFileSource { prefix, pipeline: name.clone(), own: false, readers };
            let v = start_viewer(addr, fps, source)?;
            errln!("framewire: viewing pipeline {name}; Ctrl-C stops the view (not the pipeline)");
            while framewire::sys::proc::signals::received().is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            v.stop();
            Ok(exit::OK)
        }
        Cmd::Check { file } => {
            let p = config::load(&file, &reg)?;
            outln!("{}: pipeline {} is valid", file.display(), p.name);
            for b in &p.blocks {
                outln!("  block {} ({})", b.name, b.type_name);
            }
            for w in &p.wires {
                let c = &w.config;
                outln!(
                    "  wire {} -> {}: {} x {} bytes, policy {}, {} readers max ({} MiB)",
                    w.name,
                    w.readers.join(", "),
                    c.slot_count,
                    c.slot_size,
                    c.policy,
                    c.max_readers,
                    (c.slot_count as u64 * c.slot_size) >> 20
                );
            }
            Ok(exit::OK)
        }
        Cmd::Blocks { name } => {
            let mut any = false;
            for spec in reg.specs() {
                let info = (spec.info)();
                if name.as_deref().is_some_and(|n| n != info.name) {
                    continue;
                }
                any = true;
                outln!("{} ({:?}): {}", info.name, info.role, info.description);
                for p in &info.params {
                    outln!("    {:<22} {:<14} default {:<14} {}", p.name, p.ty, p.default, p.doc);
                }
                // Ports with every parameter at its default, and the required
                // ones at the examples their declaration gives.
                if let Ok(ports) = (spec.ports)(&(spec.example)()) {
                    for d in &ports.inputs {
                        outln!(
                            "    in  {:<18} {}{}",
                            d.name,
                            d.ty.describe(),
                            if d.required { "" } else { " (optional)" }
                        );
                    }
                    for d in &ports.outputs {
                        outln!("    out {:<18} {}", d.name, d.ty.describe());
                    }
                }
                outln!();
            }
            if !any {
                anyhow::bail!("no block type {:?}; known: {}", name.unwrap_or_default(), reg.names().join(", "));
            }
            Ok(exit::OK)
        }
        Cmd::Graph { file } => {
            let p = config::load(&file, &reg)?;
            outln!("digraph {} {{\n  rankdir=LR;\n  node [shape=box, style=rounded];", dot_id(&p.name));
            for b in &p.blocks {
                outln!("  {} [label=\"{}\\n({})\"];", dot_id(&b.name), b.name, b.type_name);
            }
            for w in &p.wires {
                let (from, port) = w.name.split_once('.').unwrap();
                for r in &w.readers {
                    let (to, rport) = r.split_once('.').unwrap();
                    outln!("  {} -> {} [label=\"{port} -> {rport}\\n{}\"];", dot_id(from), dot_id(to), w.config.policy);
                }
            }
            outln!("}}");
            Ok(exit::OK)
        }
        Cmd::Status { pipeline, window } => {
            let prefix = framewire::wire::prefix();
            let alive = status::pipelines(&prefix, pipeline.as_deref()).iter().filter(|r| r.alive).count();
            out!("{}", status::report(&prefix, pipeline.as_deref(), Duration::from_secs_f64(window)));
            Ok(if alive == 0 { exit::NOT_RUNNING } else { exit::OK })
        }
        Cmd::Udev { camera, motors, serial, output } => {
            use framewire::setup::udev::{Kind, rule_for_node, rules_file};
            let sys = std::path::Path::new("/sys");
            let mut wanted: Vec<(PathBuf, Kind, String)> = Vec::new();
            for (i, c) in camera.iter().enumerate() {
                wanted.push((c.clone(), Kind::Camera, format!("framewire/camera{i}")));
            }
            if let Some(m) = motors {
                wanted.push((m, Kind::Serial, "framewire/motors".into()));
            }
            for s in &serial {
                let (name, path) = s.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("--serial {s:?}: write NAME=PATH, e.g. --serial arm=/dev/ttyUSB1")
                })?;
                wanted.push((path.into(), Kind::Serial, format!("framewire/{name}")));
            }
            if wanted.is_empty() {
                anyhow::bail!(
                    "name at least one device: --camera /dev/video0, --motors /dev/ttyACM0 or --serial NAME=PATH"
                );
            }
            let mut rules = Vec::new();
            for (path, kind, name) in &wanted {
                rules.push(rule_for_node(sys, path, *kind, name)?);
            }
            let text = rules_file(&rules);
            match output {
                Some(o) => {
                    std::fs::write(&o, &text).map_err(|e| anyhow::anyhow!("{}: {e}", o.display()))?;
                    errln!(
                        "framewire: wrote {} rule(s) to {}; install it as udev/README.md says",
                        rules.len(),
                        o.display()
                    );
                }
                None => out!("{text}"),
            }
            Ok(exit::OK)
        }
        Cmd::Service { file, user, grace } => {
            let p = config::load(&file, &reg)?;
            let abs = std::fs::canonicalize(&file)?;
            let binary = std::env::current_exe()?;
            let mut devices = Vec::new();
            for b in &p.blocks {
                let Some(spec) = reg.get(&b.type_name) else { continue };
                for param in (spec.info)().params.iter().filter(|p| p.device) {
                    if let Some(d) = b.params.get(param.name).and_then(|v| v.as_str()) {
                        devices.push(d.to_string());
                    }
                }
            }
            let user = user.unwrap_or_else(|| framewire::runtime::runfile::user_name(nix::unistd::getuid().as_raw()));
            out!(
                "{}",
                framewire::setup::service::unit(&framewire::setup::service::ServiceSpec {
                    pipeline: &p.name,
                    file: &abs,
                    binary: &binary,
                    user: &user,
                    devices,
                    grace_s: grace.ceil() as u64,
                    blocks: p.blocks.len(),
                })
            );
            Ok(exit::OK)
        }
        Cmd::Doctor { file } => {
            use framewire::setup::doctor;
            let findings =
                doctor::run(&framewire::setup::Roots::default(), &doctor::Who::current(), file.as_deref(), &reg);
            for f in &findings {
                outln!("{f}");
            }
            outln!("{}", doctor::summary(&findings));
            let problems = findings.iter().any(|f| f.severity == doctor::Severity::Problem);
            Ok(if problems { exit::DOCTOR_PROBLEMS } else { exit::OK })
        }
        Cmd::Messages { name } => {
            let mut any = false;
            for m in framewire::msg::known() {
                if name.as_deref().is_some_and(|n| n != m.ty.name()) {
                    continue;
                }
                any = true;
                outln!("{} ({} bytes): {}", m.ty.name(), m.ty.size(), (m.doc)().trim().replace('\n', " "));
                for f in (m.layout)() {
                    outln!("    {:>3}  {:<14} {:<16} {}", f.offset, f.ty, f.name, f.doc);
                }
                outln!();
            }
            if !any {
                let known: Vec<String> = framewire::msg::known().iter().map(|m| m.ty.name().to_string()).collect();
                anyhow::bail!("no message type {:?}; known: {}", name.unwrap_or_default(), known.join(", "));
            }
            Ok(exit::OK)
        }
        Cmd::Bench { what: Bench::Wire { frames, quick } } => {
            framewire::bench::wire::run(frames, quick).map_err(|e| anyhow::anyhow!("wire benchmark: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::SimMotor(args) => {
            framewire::motor::sim::run_sim_motor(&args.args()).map_err(|e| anyhow::anyhow!("sim-motor: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::Record(args) => record(&args),
        Cmd::Replay(args) => replay(&args, &reg),
        Cmd::Devices => {
            let devs = framewire::camera::list_devices();
            if devs.is_empty() {
                outln!("no V4L2 devices (/dev/video*) found");
            }
            for d in devs {
                outln!("{d}");
            }
            Ok(exit::OK)
        }
        Cmd::Bench { what: Bench::Filters { args } } => {
            let a = framewire::bench::filters::Args::parse(args).map_err(|e| anyhow::anyhow!("bench filters: {e}"))?;
            framewire::bench::filters::run(&a)?;
            Ok(exit::OK)
        }
        Cmd::Bench { what: Bench::Demo { args } } => {
            let a = framewire::bench::demo::Args::parse(&args).map_err(|e| anyhow::anyhow!("bench demo: {e}"))?;
            framewire::bench::demo::run(&a).map_err(|e| anyhow::anyhow!("bench demo: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::Bench { what: Bench::View { rounds, seconds } } => {
            let a = framewire::bench::view::Args { rounds: rounds.max(1), seconds };
            framewire::bench::view::run(&a).map_err(|e| anyhow::anyhow!("bench view: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::Bench { what: Bench::Camera { device, frames } } => {
            for r in framewire::bench::camera::bench_camera(&device, frames)? {
                outln!("{r}");
            }
            Ok(exit::OK)
        }
        #[cfg(feature = "zenoh")]
        Cmd::Bench { what: Bench::Zenoh { args } } => {
            let a = framewire::bench::zenoh::Args::parse(&args).map_err(|e| anyhow::anyhow!("bench zenoh: {e}"))?;
            framewire::bench::zenoh::run(&a).map_err(|e| anyhow::anyhow!("bench zenoh: {e}"))?;
            Ok(exit::OK)
        }
        #[cfg(not(feature = "zenoh"))]
        Cmd::Bench { what: Bench::Zenoh { .. } } => {
            errln!("framewire: bench zenoh: {}", framewire::bridge::blocks::NO_ZENOH);
            Ok(exit::CONFIG)
        }
        #[cfg(feature = "zenoh")]
        Cmd::BenchPeer { args } if args.first().map(String::as_str) == Some("zenoh") => {
            framewire::bench::zenoh::peer_main(&args[1..]).map_err(|e| anyhow::anyhow!("benchmark peer: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::BenchPeer { args } => {
            framewire::bench::wire::peer_main(&args).map_err(|e| anyhow::anyhow!("benchmark peer: {e}"))?;
            Ok(exit::OK)
        }
        Cmd::Block => {
            let name = std::env::var(runtime::child::ENV_BLOCK).unwrap_or_default();
            match runtime::child::run(&reg) {
                Ok(()) => Ok(exit::OK),
                Err(e) => {
                    tracing::error!("block {name} failed: {e}");
                    Ok(e.exit_code() as u8)
                }
            }
        }
    }
}

/// `framewire record`: taps the wires of a running pipeline.
fn record(a: &RecordCli) -> anyhow::Result<u8> {
    let prefix = framewire::wire::prefix();
    let pipeline = match &a.pipeline {
        Some(p) => p.clone(),
        None => {
            let names: Vec<String> = status::pipelines(&prefix, None)
                .iter()
                .filter(|r| r.alive)
                .filter_map(|r| r.table.get("pipeline").and_then(|v| v.as_str()).map(str::to_string))
                .collect();
            match names.as_slice() {
                [one] => one.clone(),
                [] => anyhow::bail!("no pipeline is running; start one with `framewire run FILE`"),
                many => anyhow::bail!(
                    "{} pipelines are running ({}); choose one with --pipeline",
                    many.len(),
                    many.join(", ")
                ),
            }
        }
    };
    framewire::sys::proc::signals::catch_termination()?;
    let opts = framewire::record::recording::Options {
        path: a.output.clone(),
        max_file_bytes: (a.max_file_mb * 1024.0 * 1024.0) as u64,
        chunk_bytes: 1 << 20,
        chunk_ns: a.chunk_ms.max(1) * 1_000_000,
        sync: true,
    };
    errln!("framewire: recording {} of pipeline {pipeline}; Ctrl-C stops", a.wires.join(", "));
    let stop = &framewire::sys::proc::signals::STOP;
    let done = framewire::record::tap::record(&prefix, &pipeline, &a.wires, opts, stop, a.duration)?;
    for (topic, n) in &done.counts {
        errln!("framewire: {topic}: {n} messages");
    }
    for f in &done.files {
        outln!("{}", f.display());
    }
    Ok(exit::OK)
}

/// `framewire replay`: a pipeline of a replay block and a sink per topic.
fn replay(a: &ReplayCli, reg: &framewire::block::Registry) -> anyhow::Result<u8> {
    use framewire::record::replay::{TopicKind, topics};
    let file = std::path::absolute(&a.file)?;
    let (_, list) = topics(&file, &a.topics, (None, None)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = std::env::temp_dir().join(format!("framewire-replay-{}", std::process::id()));
    let control = dir.join("control");
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut text = format!(
        "# Replays {} (generated by `framewire replay --config`): put your\n# filter between the replay and a sink to tune it on the footage.\n[pipeline]\nname = \"replay\"\nconnect = [\n",
        file.display()
    );
    for t in &list {
        text += &format!("  \"replay.{} -> {}.input\",\n", t.port, t.port);
    }
    text += "]\n\n[[block]]\nname = \"replay\"\ntype = \"replay\"\n";
    text += &format!("path = {}\nrate = {}\nrepeat = {}\n", quote(&file.to_string_lossy()), a.rate, a.repeat);
    if !a.topics.is_empty() {
        let t: Vec<String> = a.topics.iter().map(|t| quote(t)).collect();
        text += &format!("topics = [{}]\n", t.join(", "));
    }
    if a.step {
        text += &format!("step = true\ncontrol = {}\n", quote(&control.to_string_lossy()));
    }
    for t in &list {
        text += &format!("\n[[block]]\nname = \"{}\"\n", t.port);
        match &t.kind {
            TopicKind::Image { .. } => text += "type = \"frame_sink\"\n",
            TopicKind::Message(m) => text += &format!("type = \"message_log\"\nkind = {}\n", quote(m.ty.name())),
        }
    }
    if a.config {
        out!("{text}");
        return Ok(exit::OK);
    }
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("replay.toml");
    std::fs::write(&cfg, &text)?;
    let p = config::load(&cfg, reg)?;
    if a.step {
        errln!("framewire: stepping: Enter publishes the next message; or type `step N`, `play`, `pause`, `rate X`");
        let control = control.clone();
        std::thread::spawn(move || {
            use std::io::{BufRead as _, Write as _};
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let cmd = if line.trim().is_empty() { "step".to_string() } else { line.trim().to_string() };
                let f = std::fs::OpenOptions::new().append(true).create(true).open(&control);
                if let Ok(mut f) = f {
                    let _ = writeln!(f, "{cmd}");
                }
            }
        });
    }
    let opts = supervisor::RunOptions { duration: a.duration, ..Default::default() };
    errln!("framewire: replaying {} ({} topics); Ctrl-C stops", file.display(), list.len());
    let outcome = supervisor::run(&p, &opts);
    let _ = std::fs::remove_dir_all(&dir);
    errln!("framewire: replay stopped ({:?})", outcome?);
    Ok(exit::OK)
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}
