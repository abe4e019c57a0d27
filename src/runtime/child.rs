//! The block process: what `framewire` does when the supervisor re-executes
//! it for one block.
//!
//! The supervisor passes the block's name, type, parameters and its wires'
//! segment names in the environment (see [`ENV_BLOCK`] and friends).
//!
//! Lifetime: the block asks the kernel for `SIGTERM` when the supervisor
//! dies (`PR_SET_PDEATHSIG`), so even a supervisor killed with `SIGKILL`
//! leaves its blocks a chance to stop cleanly: a motor driver commands zero
//! in `stop`. Once a stop is requested, for whatever reason, a timer ends
//! the process after [`ENV_STOP_GRACE`] even if `stop` hangs, so nothing is
//! left running without its supervisor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use framewire_sdk::block::{BlockError, Context, Registry, Setup, Step};
use framewire_sdk::state::{BlockState, Phase};
use framewire_sys::proc::{die_with_parent, signals};
use nix::sys::signal::Signal;

/// Block name.
pub const ENV_BLOCK: &str = "FRAMEWIRE_BLOCK";
/// Block type.
pub const ENV_TYPE: &str = "FRAMEWIRE_TYPE";
/// Parameters as a TOML table.
pub const ENV_PARAMS: &str = "FRAMEWIRE_PARAMS";
/// Connected inputs: `port=segment` separated by `,`.
pub const ENV_INPUTS: &str = "FRAMEWIRE_INPUTS";
/// Connected outputs: `port=segment` separated by `,`.
pub const ENV_OUTPUTS: &str = "FRAMEWIRE_OUTPUTS";
/// The supervisor's pid, to detect that it died before we asked to die with it.
pub const ENV_SUPERVISOR: &str = "FRAMEWIRE_SUPERVISOR_PID";
/// The supervisor's start time (with its pid, an identity that survives pid
/// reuse), so a later run can tell an orphan from a live pipeline's block.
pub const ENV_SUPERVISOR_START: &str = "FRAMEWIRE_SUPERVISOR_START";
/// The pipeline's name.
pub const ENV_PIPELINE: &str = "FRAMEWIRE_PIPELINE";
/// The block's state segment (heartbeat, link, gauges).
pub const ENV_STATE: &str = "FRAMEWIRE_STATE";
/// How many times this block has been restarted (0 on the first start).
pub const ENV_RESTARTS: &str = "FRAMEWIRE_RESTARTS";
/// Milliseconds the block may take to stop once asked before it ends itself.
pub const ENV_STOP_GRACE: &str = "FRAMEWIRE_STOP_GRACE_MS";

/// Exit status of a block process whose parameters or ports were refused
/// when it opened: a configuration error that a restart cannot fix.
pub const EXIT_CONFIG: i32 = 2;

/// Why a block process ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// `open` refused the configuration: restarting will not help.
    #[error("{0}")]
    Config(BlockError),
    /// Anything else: a crash the restart policy applies to.
    #[error("{0}")]
    Failed(BlockError),
}

impl ChildError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ChildError::Config(_) => EXIT_CONFIG,
            ChildError::Failed(_) => 3,
        }
    }
}

/// Encodes a port map for the environment.
pub fn encode_ports(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(p, s)| format!("{p}={s}")).collect::<Vec<_>>().join(",")
}

fn decode_ports(s: &str) -> BTreeMap<String, String> {
    s.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn var(k: &str) -> Result<String, ChildError> {
    std::env::var(k).map_err(|_| {
        ChildError::Config(BlockError::Config(format!(
            "{k} is not set: `framewire block` is started by `framewire run`"
        )))
    })
}

/// Ends the process `grace` after a stop was requested, whatever `stop` is
/// doing by then. A thread, so it runs while the block's thread is stuck.
fn arm_stop_timer(grace: Duration) {
    std::thread::spawn(move || {
        while !signals::STOP.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(grace);
        framewire_sdk::tracing::error!("did not stop within {grace:?} of being asked to; exiting");
        std::process::exit(3);
    });
}

/// Runs one block until it finishes or a termination signal arrives.
pub fn run(reg: &Registry) -> Result<(), ChildError> {
    let fail = |e: String| ChildError::Failed(BlockError::Other(e));
    // SIGTERM, not SIGKILL, on the supervisor's death: the block's signal
    // handler turns it into a clean stop (motors to zero).
    die_with_parent(Signal::SIGTERM).map_err(|e| fail(format!("prctl(PR_SET_PDEATHSIG): {e}")))?;
    signals::catch_termination().map_err(|e| fail(format!("sigaction: {e}")))?;
    if let Ok(sup) = std::env::var(ENV_SUPERVISOR)
        && nix::unistd::getppid().as_raw().to_string() != sup
    {
        return Err(fail("the supervisor is gone".into()));
    }
    let grace = std::env::var(ENV_STOP_GRACE)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis);
    arm_stop_timer(grace);
    let name = var(ENV_BLOCK)?;
    let type_name = var(ENV_TYPE)?;
    let params: toml::Table = toml::from_str(&var(ENV_PARAMS)?)
        .map_err(|e| ChildError::Config(BlockError::Config(format!("parameters: {e}"))))?;
    let inputs = decode_ports(&std::env::var(ENV_INPUTS).unwrap_or_default());
    let outputs = decode_ports(&std::env::var(ENV_OUTPUTS).unwrap_or_default());
    let spec = reg
        .get(&type_name)
        .ok_or_else(|| ChildError::Config(BlockError::Config(format!("unknown block type {type_name}"))))?;
    // The state segment is the supervisor's; without one (a block started
    // by hand) the block runs without heartbeat or gauges.
    let state = match std::env::var(ENV_STATE) {
        Ok(seg) => Some(Arc::new(BlockState::open(&seg).map_err(|e| fail(e.to_string()))?)),
        Err(_) => None,
    };
    if let Some(s) = &state {
        s.set_pid(std::process::id());
        s.set_phase(Phase::Opening);
    }
    let mut setup = Setup::new(&name, inputs, outputs).with_stop(&signals::STOP);
    if let Some(s) = &state {
        setup = setup.with_state(s.clone());
    }
    let mut block = (spec.open)(&params, &mut setup).map_err(|e| match e {
        BlockError::Config(_) => ChildError::Config(e),
        e => ChildError::Failed(e),
    })?;
    let mut cx = match &state {
        Some(s) => Context::with_state(&name, &signals::STOP, s.clone()),
        None => Context::new(&name, &signals::STOP),
    };
    if let Some(s) = &state {
        s.set_phase(Phase::Running);
    }
    let result = loop {
        cx.beat();
        if cx.should_stop() {
            break Ok(());
        }
        match block.step(&mut cx) {
            Ok(Step::Done) | Err(BlockError::Stopped) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    if let Some(s) = &state {
        s.set_phase(Phase::Stopping);
    }
    // Stop even after an error: a motor driver commands zero here.
    let stopped = block.stop(&mut cx);
    result.and(stopped).map_err(ChildError::Failed)
}
