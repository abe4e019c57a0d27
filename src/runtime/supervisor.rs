//! The supervisor: creates the wires, starts one process per block, watches
//! them, restarts them by policy, and shuts everything down in order.
//!
//! Invariant: when `run` returns, for whatever reason, every block process
//! has exited and every wire of the pipeline is unlinked.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::child;
use super::config::{BlockConf, Pipeline, Restart};
use super::orphans;
use super::runfile::{self, RunFileError, SHM_DIR};
use framewire_sdk::block::Role;
use framewire_sdk::state::{self, BlockState, Phase};
use framewire_sys::proc::{ProcId, monotonic_ns, signals};
use framewire_wire::{self as wire, WireError};

/// Errors that stop a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The same pipeline is running already.
    #[error("pipeline {pipeline} is already running (supervisor pid {pid}); stop it first (Ctrl-C, or `kill {pid}`)")]
    AlreadyRunning {
        /// Pipeline name.
        pipeline: String,
        /// Its supervisor.
        pid: u32,
    },
    /// A wire could not be created.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A block process could not be started.
    #[error("cannot start block {block}: {source}")]
    Spawn {
        /// Block name.
        block: String,
        /// Why.
        source: std::io::Error,
    },
    /// A block with restart policy `never` failed.
    #[error("block {block} failed ({status}) and its restart policy is \"never\"; the pipeline stopped")]
    BlockFailed {
        /// Block name.
        block: String,
        /// How it ended.
        status: String,
    },
    /// A block failed more often than its restart limit allows.
    #[error(
        "block {block} ended again after {restarts} restart(s) within {window_s} s (last: {status}), the most max_restarts = {max} allows; the pipeline stopped. Its log lines above, prefixed [{block}], say why"
    )]
    GaveUp {
        /// Block name.
        block: String,
        /// Restarts within the window.
        restarts: u32,
        /// Its limit.
        max: u32,
        /// The window, seconds.
        window_s: u64,
        /// How it ended last.
        status: String,
    },
    /// A block refused its configuration when it opened; a restart cannot help.
    #[error(
        "block {block} refused its configuration when it opened (its log lines above, prefixed [{block}], say what to fix); not restarting it"
    )]
    BlockConfig {
        /// Block name.
        block: String,
    },
    /// A name in /dev/shm cannot be used (another user's, or planted).
    #[error(transparent)]
    Shm(#[from] RunFileError),
    /// A block's state segment could not be created.
    #[error(transparent)]
    State(#[from] state::StateError),
}

/// How `run` ended without error.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A termination signal arrived (Ctrl-C, SIGTERM).
    Signalled(String),
    /// The requested duration passed.
    DurationElapsed,
    /// Every block finished by itself.
    AllFinished,
}

/// Options for `run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Stop cleanly after this long.
    pub duration: Option<Duration>,
    /// How long blocks get to exit after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// Segment prefix.
    pub prefix: String,
    /// Show a live status line (only when stderr is a terminal).
    pub status_line: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { duration: None, grace: Duration::from_secs(3), prefix: wire::prefix(), status_line: true }
    }
}

impl SupervisorError {
    /// Whether the pipeline's configuration is at fault (exit code 2)
    /// rather than something at run time (exit code 3).
    pub fn is_config(&self) -> bool {
        matches!(self, SupervisorError::BlockConfig { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Running,
    Backoff(Instant),
    Finished,
    Stopped,
}

struct Managed {
    conf: BlockConf,
    child: Option<Child>,
    state: State,
    /// Restarts so far (what `status` shows, and `FRAMEWIRE_RESTARTS`).
    restarts: u32,
    /// When recent restarts happened, for the restart window.
    recent: VecDeque<Instant>,
    /// Doublings of the backoff delay; back to 0 after a healthy run.
    backoff: u32,
    /// When the current process started.
    started: Instant,
    last_exit: String,
    /// Set when the watchdog killed the process: why.
    hung: Option<String>,
    segs: Vec<String>,
    /// Its state segment (heartbeat, link, gauges), and the segment's name.
    state_seg: Option<(String, BlockState)>,
    /// Threads draining the current process's stdout and stderr.
    drains: Vec<std::thread::JoinHandle<()>>,
}

/// Lets drain threads print what the process wrote before it exited. A
/// grandchild that inherited the pipes may keep them open, so the wait is
/// bounded.
fn finish_drains(drains: &mut Vec<std::thread::JoinHandle<()>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while drains.iter().any(|d| !d.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    drains.retain(|d| !d.is_finished());
}

/// Serialises output lines from every block with the status line.
struct Console {
    status: Mutex<String>,
    tty: bool,
}

impl Console {
    fn line(&self, text: &str) {
        let st = self.status.lock().unwrap();
        let mut err = std::io::stderr().lock();
        if self.tty && !st.is_empty() {
            let _ = write!(err, "\r\x1b[K{text}\n{st}");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }
    fn set_status(&self, text: String) {
        if !self.tty {
            return;
        }
        let mut st = self.status.lock().unwrap();
        *st = text;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{st}");
        let _ = err.flush();
    }
    fn clear_status(&self) {
        if self.tty {
            let mut st = self.status.lock().unwrap();
            st.clear();
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// Segment name of the supervisor's run-state file.
pub fn run_file(prefix: &str, pipeline: &str) -> String {
    format!("{prefix}.{pipeline}._run")
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by {}", Signal::try_from(s).map(|s| s.as_str()).unwrap_or("a signal")),
        _ => "unknown".into(),
    }
}

/// The supervisor named in a run file, if it is alive and really a
/// supervisor of this user (a forged file naming pid 1 names nobody).
pub fn live_supervisor(run_file_text: &str) -> Option<ProcId> {
    let t: toml::Table = run_file_text.parse().ok()?;
    let pid = t.get("supervisor_pid").and_then(|v| v.as_integer()).unwrap_or(0) as u32;
    let start = t.get("supervisor_start").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
    let id = ProcId { pid, start };
    let me = nix::unistd::getuid().as_raw();
    // The same program as this one: a pid that is alive but runs something
    // else (pid 1, say) is not a supervisor, whatever the file claims.
    let same_program = std::fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| p.file_name().map(|n| n.to_owned()))
        == std::env::current_exe().ok().map(|p| p.file_name().map(|n| n.to_owned()));
    (id.is_alive() && pid != std::process::id() && framewire_sys::proc::owner(pid) == Some(me) && same_program)
        .then_some(id)
}

/// Runs pipeline `p` until a signal, the duration, or a failure.
pub fn run(p: &Pipeline, opts: &RunOptions) -> Result<Outcome, SupervisorError> {
    signals::catch_termination().ok();
    let prefix = &opts.prefix;
    // Refuse to run twice; otherwise purge what a crashed run left. A run
    // file another user planted is refused, never trusted.
    let rf = Path::new(SHM_DIR).join(run_file(prefix, &p.name));
    match runfile::read_own(&rf) {
        Ok(text) => {
            if let Some(sup) = live_supervisor(&text) {
                return Err(SupervisorError::AlreadyRunning { pipeline: p.name.clone(), pid: sup.pid });
            }
        }
        Err(RunFileError::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Blocks of an earlier run whose supervisor was killed: stop them
    // before anything of this run starts (an orphaned driver keeps driving).
    let orphans = orphans::find(prefix, &p.name);
    if !orphans.is_empty() {
        let names: Vec<String> = orphans.iter().map(|o| format!("{} (pid {})", o.block, o.id.pid)).collect();
        tracing::warn!(
            "stopping {} process(es) left running by an earlier run of {} whose supervisor died: {}",
            orphans.len(),
            p.name,
            names.join(", ")
        );
        orphans::stop(&orphans, opts.grace.min(Duration::from_secs(5)));
    }
    let stale = wire::purge_pipeline(prefix, &p.name)?;
    if !stale.is_empty() {
        tracing::warn!(
            "removed {} stale segment(s) left by an earlier run of {}: {}",
            stale.len(),
            p.name,
            stale.join(", ")
        );
    }
    let console = Arc::new(Console {
        status: Mutex::new(String::new()),
        tty: opts.status_line && std::io::stderr().is_terminal(),
    });
    let mut sup = Supervisor {
        p,
        opts,
        console,
        blocks: Vec::new(),
        segs: BTreeMap::new(),
        started: Instant::now(),
        run_file_failing: false,
    };
    let result = sup.start().and_then(|()| sup.watch());
    sup.shutdown();
    result
}

struct Supervisor<'a> {
    p: &'a Pipeline,
    opts: &'a RunOptions,
    console: Arc<Console>,
    blocks: Vec<Managed>,
    /// Wire name (`block.port`) to segment name.
    segs: BTreeMap<String, String>,
    started: Instant,
    /// Whether the last run-file write failed (warn once, not every second).
    run_file_failing: bool,
}

impl Supervisor<'_> {
    fn start(&mut self) -> Result<(), SupervisorError> {
        for w in &self.p.wires {
            let seg = wire::segment_name(&self.opts.prefix, &self.p.name, &w.name)?;
            // A name another user planted would make creation fail with a
            // misleading "exists": say whose it is.
            runfile::check_own(&Path::new(SHM_DIR).join(&seg))?;
            // Record first: shutdown unlinks whatever was recorded.
            self.segs.insert(w.name.clone(), seg.clone());
            wire::create(&seg, &w.config)?;
        }
        for b in &self.p.blocks {
            let segs = b.inputs.values().chain(b.outputs.values()).map(|w| self.segs[w].clone()).collect();
            let name = state::segment_name(&self.opts.prefix, &self.p.name, &b.name);
            runfile::check_own(&Path::new(SHM_DIR).join(&name))?;
            let st = BlockState::create(&name)?;
            self.blocks.push(Managed {
                conf: b.clone(),
                child: None,
                state: State::Stopped,
                restarts: 0,
                recent: VecDeque::new(),
                backoff: 0,
                started: Instant::now(),
                last_exit: String::new(),
                hung: None,
                segs,
                state_seg: Some((name, st)),
                drains: Vec::new(),
            });
        }
        runfile::check_own(&Path::new(SHM_DIR).join(run_file(&self.opts.prefix, &self.p.name)))?;
        self.write_run_file();
        for i in self.start_order() {
            if let Some(signal) = signals::received() {
                // Ctrl-C while waiting for readers: stop what was started.
                self.console.line(&format!("framewire: {} received while starting", signal.as_str()));
                break;
            }
            self.await_queue_readers(i);
            self.spawn(i)?;
        }
        self.write_run_file();
        Ok(())
    }

    /// The order blocks start in. Dependency order (producers first: readers
    /// find their wires' writers running, and would wait for them anyway),
    /// except that a block writing a `queue` wire starts after every block
    /// reading it, and in reverse dependency order among such blocks, so
    /// that a lossless wire's readers are attached before its first frame
    /// (a reader attached later would miss the frames before it).
    fn start_order(&self) -> Vec<usize> {
        let queue_writer = |b: &BlockConf| {
            b.outputs
                .values()
                .any(|w| self.p.wires.iter().any(|c| &c.name == w && c.config.policy == wire::Policy::Queue))
        };
        let (deferred, first): (Vec<usize>, Vec<usize>) =
            (0..self.blocks.len()).partition(|&i| queue_writer(&self.blocks[i].conf));
        first.into_iter().chain(deferred.into_iter().rev()).collect()
    }

    /// Before starting block `i`, waits (up to 3 s in all) until every
    /// already started framewire block that reads one of its `queue` wires
    /// has attached to it. `exec` readers are not waited for: a foreign
    /// program may read without registering. A reader that does not attach
    /// in time (slow to open, or refusing its configuration) only costs the
    /// wait, and the log says which.
    fn await_queue_readers(&self, i: usize) {
        let me = &self.blocks[i].conf;
        let deadline = Instant::now() + Duration::from_secs(3);
        for out in me.outputs.values() {
            let Some(w) = self.p.wires.iter().find(|c| &c.name == out && c.config.policy == wire::Policy::Queue) else {
                continue;
            };
            let started = |reader: &String| {
                let block = reader.split('.').next().unwrap_or_default();
                self.blocks.iter().any(|m| m.conf.name == block && m.child.is_some() && m.conf.type_name != "exec")
            };
            let expected = w.readers.iter().filter(|r| started(r)).count();
            if expected == 0 {
                continue;
            }
            let seg = &self.segs[&w.name];
            loop {
                let attached = wire::inspect(seg).map_or(0, |s| s.readers.iter().filter(|r| r.alive).count());
                if attached >= expected {
                    break;
                }
                if Instant::now() >= deadline || signals::received().is_some() {
                    self.console.line(&format!(
                        "framewire: starting block {} although only {attached} of the {expected} started readers of queue wire {} have attached (they may miss its first frames)",
                        me.name, w.name
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn command(&self, b: &BlockConf) -> Command {
        let map =
            |m: &BTreeMap<String, String>| m.iter().map(|(port, w)| (port.clone(), self.segs[w].clone())).collect();
        let inputs: BTreeMap<String, String> = map(&b.inputs);
        let outputs: BTreeMap<String, String> = map(&b.outputs);
        let mut cmd = if b.type_name == "exec" {
            // An external program: wires by name in the environment.
            let argv: Vec<String> = b
                .params
                .get("command")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            for (port, seg) in inputs.iter().chain(&outputs) {
                c.env(format!("FRAMEWIRE_WIRE_{}", port.to_ascii_uppercase()), seg);
            }
            if let Some(env) = b.params.get("env").and_then(|v| v.as_table()) {
                for (k, v) in env {
                    c.env(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                }
            }
            // A foreign program cannot ask for this itself: SIGTERM when the
            // supervisor dies (an actuator gets its chance to stop), and the
            // next run stops it if it ignores that (see `orphans`).
            framewire_sys::proc::exec_dies_with_parent(&mut c, Signal::SIGTERM);
            c
        } else {
            let exe = std::env::current_exe().unwrap_or_else(|_| "framewire".into());
            let mut c = Command::new(exe);
            c.arg("block");
            c
        };
        let me = ProcId::current();
        let grace_ms = self.opts.grace.as_millis().min(u64::MAX as u128) as u64;
        let restarts = self.blocks.iter().find(|m| m.conf.name == b.name).map_or(0, |m| m.restarts);
        if let Some((seg, _)) = self.blocks.iter().find(|m| m.conf.name == b.name).and_then(|m| m.state_seg.as_ref()) {
            cmd.env(child::ENV_STATE, seg);
        }
        cmd.env(child::ENV_BLOCK, &b.name)
            .env(child::ENV_SUPERVISOR_START, me.start.to_string())
            .env(orphans::ENV_PREFIX, &self.opts.prefix)
            .env(child::ENV_RESTARTS, restarts.to_string())
            .env(child::ENV_STOP_GRACE, grace_ms.to_string())
            .env(child::ENV_TYPE, &b.type_name)
            .env(child::ENV_PARAMS, toml::to_string(&b.params).unwrap_or_default())
            .env(child::ENV_INPUTS, child::encode_ports(&inputs))
            .env(child::ENV_OUTPUTS, child::encode_ports(&outputs))
            .env(child::ENV_SUPERVISOR, std::process::id().to_string())
            .env(child::ENV_PIPELINE, &self.p.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: a Ctrl-C in the terminal reaches only the
        // supervisor, which then stops the blocks in order.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    fn spawn(&mut self, i: usize) -> Result<(), SupervisorError> {
        let conf = self.blocks[i].conf.clone();
        if let Some((_, st)) = &self.blocks[i].state_seg {
            // A fresh process: no heartbeat until it has opened. Marked before
            // the spawn, so a fast block's own `Running` is never overwritten.
            st.set_phase(Phase::Opening);
        }
        let mut child = self
            .command(&conf)
            .spawn()
            .map_err(|source| SupervisorError::Spawn { block: conf.name.clone(), source })?;
        // Drain both pipes continuously so a chatty block never blocks.
        for pipe in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let console = self.console.clone();
            let name = conf.name.clone();
            let handle = std::thread::spawn(move || {
                let mut r = BufReader::new(pipe);
                let mut line = Vec::new();
                while r.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                    let text = String::from_utf8_lossy(&line);
                    console.line(&format!("[{name}] {}", text.trim_end()));
                    line.clear();
                }
            });
            self.blocks[i].drains.push(handle);
        }
        self.console.line(&format!("framewire: started block {} ({}) pid {}", conf.name, conf.type_name, child.id()));
        let b = &mut self.blocks[i];
        b.child = Some(child);
        b.state = State::Running;
        b.started = Instant::now();
        b.hung = None;
        Ok(())
    }

    fn watch(&mut self) -> Result<Outcome, SupervisorError> {
        let mut next_status = Instant::now();
        let mut rates = super::status::RateMeter::default();
        loop {
            if let Some(sig) = signals::received() {
                self.console.line(&format!("framewire: {} received, stopping pipeline {}", sig.as_str(), self.p.name));
                return Ok(Outcome::Signalled(sig.as_str().to_string()));
            }
            if let Some(d) = self.opts.duration
                && self.started.elapsed() >= d
            {
                self.console.line(&format!("framewire: ran for {d:?}, stopping pipeline {}", self.p.name));
                return Ok(Outcome::DurationElapsed);
            }
            let mut changed = false;
            for i in 0..self.blocks.len() {
                changed |= self.check(i)?;
            }
            if self.blocks.iter().all(|b| b.state == State::Finished) {
                self.console.line(&format!("framewire: every block finished, pipeline {} done", self.p.name));
                return Ok(Outcome::AllFinished);
            }
            if changed {
                self.write_run_file();
            }
            if Instant::now() >= next_status {
                next_status = Instant::now() + Duration::from_secs(1);
                self.write_run_file();
                if self.console.tty {
                    let segs: Vec<String> = self.segs.values().cloned().collect();
                    let mut line = rates.summary(&segs);
                    for b in &self.blocks {
                        if let Some((_, st)) = &b.state_seg {
                            let g = super::status::gauge_text(st);
                            if !g.is_empty() {
                                line.push_str(&format!(" | {}: {g}", b.conf.name));
                            }
                        }
                    }
                    self.console.set_status(format!("[{}] {line}", self.p.name));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills block `i` if its heartbeat stopped for longer than its
    /// watchdog allows (SIGSTOPped, deadlocked, stuck in a device call).
    fn watchdog(&mut self, i: usize) {
        let b = &mut self.blocks[i];
        let (Some(limit), Some(child), Some((_, st))) = (b.conf.watchdog, b.child.as_ref(), b.state_seg.as_ref())
        else {
            return;
        };
        if b.hung.is_some() || st.phase() != Phase::Running {
            return;
        }
        let (_, last) = st.heartbeat();
        let silent = Duration::from_nanos(monotonic_ns().saturating_sub(last));
        if last != 0 && silent > limit {
            let why = format!(
                "no heartbeat for {} ms (watchdog_ms = {}): stopped or stuck",
                silent.as_millis(),
                limit.as_millis()
            );
            self.console.line(&format!("framewire: block {} is not responding: {why}; killing it", b.conf.name));
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            b.hung = Some(why);
        }
    }

    /// Reaps block `i` if it exited and applies its restart policy. Returns
    /// whether its state changed.
    fn check(&mut self, i: usize) -> Result<bool, SupervisorError> {
        self.watchdog(i);
        let b = &mut self.blocks[i];
        if let State::Backoff(at) = b.state {
            if Instant::now() >= at {
                b.restarts += 1;
                self.spawn(i)?;
                return Ok(true);
            }
            return Ok(false);
        }
        let Some(child) = b.child.as_mut() else { return Ok(false) };
        let Ok(Some(status)) = child.try_wait() else { return Ok(false) };
        b.child = None;
        b.last_exit = match &b.hung {
            Some(why) => format!("hung: {why}"),
            None => describe(status),
        };
        // Its last words come before the supervisor's verdict on them.
        finish_drains(&mut b.drains, Duration::from_secs(1));
        // A dead block must not pin slots or stall a queue.
        for s in &b.segs {
            let _ = wire::reclaim_dead(s);
        }
        let name = b.conf.name.clone();
        let failed = !status.success() || b.hung.is_some();
        // An open-time configuration error fails the same way every time.
        if status.code() == Some(child::EXIT_CONFIG) && b.conf.type_name != "exec" {
            self.console.line(&format!("framewire: block {name} refused its configuration"));
            return Err(SupervisorError::BlockConfig { block: name });
        }
        let restart = match (b.conf.restart, failed) {
            (Restart::Never, true) => {
                self.console.line(&format!("framewire: block {name} failed ({})", b.last_exit));
                return Err(SupervisorError::BlockFailed { block: name, status: b.last_exit.clone() });
            }
            (Restart::Always, _) | (Restart::OnFailure, true) => true,
            _ => false,
        };
        if !restart {
            self.console.line(&format!("framewire: block {name} finished"));
            b.state = State::Finished;
            return Ok(true);
        }
        // The limit counts restarts within a window (systemd's
        // StartLimitBurst/StartLimitIntervalSec), not over the robot's life.
        let now = Instant::now();
        while b.recent.front().is_some_and(|t| now.duration_since(*t) > b.conf.restart_window) {
            b.recent.pop_front();
        }
        if b.recent.len() as u32 >= b.conf.max_restarts {
            self.console.line(&format!("framewire: block {name} ended ({}), no restarts left", b.last_exit));
            return Err(SupervisorError::GaveUp {
                block: name,
                restarts: b.recent.len() as u32,
                max: b.conf.max_restarts,
                window_s: b.conf.restart_window.as_secs(),
                status: b.last_exit.clone(),
            });
        }
        // Exponential backoff, 100 ms doubling to 5 s; it starts again from
        // 100 ms once the block has run a whole window without a restart.
        if b.recent.is_empty() {
            b.backoff = 0;
        }
        b.recent.push_back(now);
        let delay = Duration::from_millis(100u64 << b.backoff.min(6)).min(Duration::from_secs(5));
        b.backoff += 1;
        self.console.line(&format!(
            "framewire: block {name} ended ({}); restart {} of {} within {} s, in {delay:?}",
            b.last_exit,
            b.recent.len(),
            b.conf.max_restarts,
            b.conf.restart_window.as_secs()
        ));
        b.state = State::Backoff(now + delay);
        Ok(true)
    }

    /// Stops actuators first, then the rest in reverse dependency order;
    /// SIGKILL for stragglers; unlinks every wire and the run file.
    fn shutdown(&mut self) {
        self.console.clear_status();
        let actuators: Vec<usize> =
            (0..self.blocks.len()).filter(|&i| self.blocks[i].conf.role == Role::Actuator).collect();
        let others: Vec<usize> = (0..self.blocks.len()).rev().filter(|i| !actuators.contains(i)).collect();
        for group in [actuators, others] {
            for &i in &group {
                self.terminate(i);
                // Reverse dependency order: wait for each before the next.
                // Each block gets the whole grace: one stuck block must not
                // use up the time of those stopped after it.
                let deadline = Instant::now() + self.opts.grace;
                self.wait_exit(i, deadline);
                if let Some(mut c) = self.blocks[i].child.take() {
                    self.console.line(&format!(
                        "framewire: block {} did not stop within {:?}; killing it",
                        self.blocks[i].conf.name, self.opts.grace
                    ));
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        for i in 0..self.blocks.len() {
            if let Some(mut c) = self.blocks[i].child.take() {
                self.console
                    .line(&format!("framewire: block {} did not stop in time; killing it", self.blocks[i].conf.name));
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for b in &mut self.blocks {
            finish_drains(&mut b.drains, Duration::from_secs(1));
        }
        for seg in self.segs.values() {
            let _ = wire::unlink(seg);
        }
        for b in &mut self.blocks {
            if let Some((name, _)) = b.state_seg.take() {
                let _ = framewire_sys::shm::unlink(&name);
            }
        }
        let rf = Path::new(SHM_DIR).join(run_file(&self.opts.prefix, &self.p.name));
        // Only our own file: a name another user planted stays untouched.
        if runfile::check_own(&rf).unwrap_or(false) {
            let _ = std::fs::remove_file(&rf);
        }
        // Anything else of this run (a tmp run file) goes too.
        let _ = wire::purge_pipeline(&self.opts.prefix, &self.p.name);
    }

    fn terminate(&mut self, i: usize) {
        if let Some(c) = &self.blocks[i].child {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
        self.blocks[i].state = State::Stopped;
    }

    fn wait_exit(&mut self, i: usize, deadline: Instant) {
        while let Some(c) = self.blocks[i].child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                if !st.success() {
                    self.console.line(&format!(
                        "framewire: block {} stopped ({})",
                        self.blocks[i].conf.name,
                        describe(st)
                    ));
                }
                self.blocks[i].child = None;
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Rewrites the run file. Its failure (a full /dev/shm) is reported
    /// once and never stops the pipeline: the wires are allocated already,
    /// and the file is only bookkeeping for `framewire status`.
    fn write_run_file(&mut self) {
        match self.try_write_run_file() {
            Ok(()) if self.run_file_failing => {
                self.run_file_failing = false;
                self.console.line("framewire: the run state file is written again");
            }
            Ok(()) => {}
            Err(e) if !self.run_file_failing => {
                self.run_file_failing = true;
                self.console.line(&format!(
                    "framewire: warning: cannot update the run state for `framewire status` ({e}); the pipeline keeps running"
                ));
            }
            Err(_) => {}
        }
    }

    fn try_write_run_file(&self) -> Result<(), RunFileError> {
        let me = ProcId::current();
        let mut t = toml::Table::new();
        t.insert("pipeline".into(), self.p.name.clone().into());
        t.insert("file".into(), self.p.file.display().to_string().into());
        t.insert("supervisor_pid".into(), (me.pid as i64).into());
        t.insert("supervisor_start".into(), (me.start as i64).into());
        t.insert("uptime_s".into(), self.started.elapsed().as_secs_f64().into());
        t.insert("wires".into(), toml::Value::Array(self.segs.values().map(|s| s.clone().into()).collect()));
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                let mut e = toml::Table::new();
                e.insert("name".into(), b.conf.name.clone().into());
                e.insert("type".into(), b.conf.type_name.clone().into());
                e.insert("pid".into(), (b.child.as_ref().map_or(0, |c| c.id()) as i64).into());
                let state = match b.state {
                    State::Running => "running",
                    State::Backoff(_) => "restarting",
                    State::Finished => "finished",
                    State::Stopped => "stopped",
                };
                e.insert("state".into(), state.into());
                e.insert("restarts".into(), (b.restarts as i64).into());
                e.insert("last_exit".into(), b.last_exit.clone().into());
                if let Some((seg, _)) = &b.state_seg {
                    e.insert("state_segment".into(), seg.clone().into());
                }
                toml::Value::Table(e)
            })
            .collect();
        t.insert("block".into(), toml::Value::Array(blocks));
        let path = Path::new(SHM_DIR).join(run_file(&self.opts.prefix, &self.p.name));
        runfile::write_private(&path, &toml::to_string(&t).unwrap_or_default())
    }
}
