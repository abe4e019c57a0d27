//! The supervisor: creates the wires, starts one process per block, watches
//! them, restarts them by policy, and shuts everything down in order.
//!
//! Invariant: when `run` returns, for whatever reason, every block process
//! has exited and every wire of the pipeline is unlinked.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::child;
use super::config::{BlockConf, Pipeline, Restart};
use framewire_sdk::block::Role;
use framewire_sys::proc::{ProcId, signals};
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
        "block {block} failed {failures} times (last: {status}), more than max_restarts = {max}; the pipeline stopped. Its log lines above, prefixed [{block}], say why"
    )]
    GaveUp {
        /// Block name.
        block: String,
        /// Failures counted.
        failures: u32,
        /// Its limit.
        max: u32,
        /// How it ended last.
        status: String,
    },
    /// The run file could not be written.
    #[error("cannot write run state {path}: {source}")]
    RunFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
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
    failures: u32,
    restarts: u32,
    last_exit: String,
    segs: Vec<String>,
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

/// Runs pipeline `p` until a signal, the duration, or a failure.
pub fn run(p: &Pipeline, opts: &RunOptions) -> Result<Outcome, SupervisorError> {
    signals::catch_termination().ok();
    let prefix = &opts.prefix;
    // Refuse to run twice; otherwise purge what a crashed run left.
    let rf = run_file(prefix, &p.name);
    if let Ok(text) = std::fs::read_to_string(format!("/dev/shm/{rf}"))
        && let Ok(t) = text.parse::<toml::Table>()
    {
        let pid = t.get("supervisor_pid").and_then(|v| v.as_integer()).unwrap_or(0) as u32;
        let start = t.get("supervisor_start").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
        if (ProcId { pid, start }).is_alive() && pid != std::process::id() {
            return Err(SupervisorError::AlreadyRunning { pipeline: p.name.clone(), pid });
        }
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
    let mut sup = Supervisor { p, opts, console, blocks: Vec::new(), segs: BTreeMap::new(), started: Instant::now() };
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
}

impl Supervisor<'_> {
    fn start(&mut self) -> Result<(), SupervisorError> {
        for w in &self.p.wires {
            let seg = wire::segment_name(&self.opts.prefix, &self.p.name, &w.name)?;
            // Record first: shutdown unlinks whatever was recorded.
            self.segs.insert(w.name.clone(), seg.clone());
            wire::create(&seg, &w.config)?;
        }
        for b in &self.p.blocks {
            let segs = b.inputs.values().chain(b.outputs.values()).map(|w| self.segs[w].clone()).collect();
            self.blocks.push(Managed {
                conf: b.clone(),
                child: None,
                state: State::Stopped,
                failures: 0,
                restarts: 0,
                last_exit: String::new(),
                segs,
                drains: Vec::new(),
            });
        }
        self.write_run_file()?;
        // Dependency order: producers first, so readers find their wires'
        // writers running (they would wait for them anyway).
        for i in 0..self.blocks.len() {
            self.spawn(i)?;
        }
        self.write_run_file()
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
            c
        } else {
            let exe = std::env::current_exe().unwrap_or_else(|_| "framewire".into());
            let mut c = Command::new(exe);
            c.arg("block");
            c
        };
        cmd.env(child::ENV_BLOCK, &b.name)
            .env(child::ENV_TYPE, &b.type_name)
            .env(child::ENV_PARAMS, toml::to_string(&b.params).unwrap_or_default())
            .env(child::ENV_INPUTS, child::encode_ports(&inputs))
            .env(child::ENV_OUTPUTS, child::encode_ports(&outputs))
            .env(child::ENV_SUPERVISOR, std::process::id().to_string())
            .env("FRAMEWIRE_PIPELINE", &self.p.name)
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
        self.blocks[i].child = Some(child);
        self.blocks[i].state = State::Running;
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
                self.write_run_file()?;
            }
            if Instant::now() >= next_status {
                next_status = Instant::now() + Duration::from_secs(1);
                self.write_run_file()?;
                if self.console.tty {
                    let segs: Vec<String> = self.segs.values().cloned().collect();
                    let line = rates.summary(&segs);
                    self.console.set_status(format!("[{}] {line}", self.p.name));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reaps block `i` if it exited and applies its restart policy. Returns
    /// whether its state changed.
    fn check(&mut self, i: usize) -> Result<bool, SupervisorError> {
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
        b.last_exit = describe(status);
        // Its last words come before the supervisor's verdict on them.
        finish_drains(&mut b.drains, Duration::from_secs(1));
        // A dead block must not pin slots or stall a queue.
        for s in &b.segs {
            let _ = wire::reclaim_dead(s);
        }
        let name = b.conf.name.clone();
        let failed = !status.success();
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
        if failed {
            b.failures += 1;
        }
        if b.restarts >= b.conf.max_restarts {
            self.console.line(&format!("framewire: block {name} ended ({}), no restarts left", b.last_exit));
            return Err(SupervisorError::GaveUp {
                block: name,
                failures: b.failures,
                max: b.conf.max_restarts,
                status: b.last_exit.clone(),
            });
        }
        // Exponential backoff: 100 ms, 200 ms, ... up to 5 s.
        let delay = Duration::from_millis(100u64 << b.restarts.min(6)).min(Duration::from_secs(5));
        self.console.line(&format!(
            "framewire: block {name} ended ({}); restart {} of {} in {delay:?}",
            b.last_exit,
            b.restarts + 1,
            b.conf.max_restarts
        ));
        b.state = State::Backoff(Instant::now() + delay);
        Ok(true)
    }

    /// Stops actuators first, then the rest in reverse dependency order;
    /// SIGKILL for stragglers; unlinks every wire and the run file.
    fn shutdown(&mut self) {
        self.console.clear_status();
        let deadline = Instant::now() + self.opts.grace;
        let actuators: Vec<usize> =
            (0..self.blocks.len()).filter(|&i| self.blocks[i].conf.role == Role::Actuator).collect();
        let others: Vec<usize> = (0..self.blocks.len()).rev().filter(|i| !actuators.contains(i)).collect();
        for group in [actuators, others] {
            for &i in &group {
                self.terminate(i);
                // Reverse dependency order: wait for each before the next.
                self.wait_exit(i, deadline);
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
        let rf = run_file(&self.opts.prefix, &self.p.name);
        let _ = std::fs::remove_file(format!("/dev/shm/{rf}"));
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

    fn write_run_file(&self) -> Result<(), SupervisorError> {
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
                toml::Value::Table(e)
            })
            .collect();
        t.insert("block".into(), toml::Value::Array(blocks));
        let rf = run_file(&self.opts.prefix, &self.p.name);
        let path = format!("/dev/shm/{rf}");
        let tmp = format!("{path}.tmp");
        let write = || -> std::io::Result<()> {
            std::fs::write(&tmp, toml::to_string(&t).unwrap_or_default())?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| SupervisorError::RunFile { path, source })
    }
}
