//! Orphans: block processes that outlived their supervisor.
//!
//! Blocks ask the kernel to signal them when the supervisor dies, but a
//! foreign `exec` program may ignore `SIGTERM`, and a process it started
//! inherits nothing of that. So before a pipeline starts, the supervisor
//! looks for processes of the same user that carry the same pipeline name
//! and segment prefix in their environment (the supervisor puts them there)
//! and whose supervisor is gone, and stops them: an orphaned motor driver
//! must not keep driving.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::child::{ENV_BLOCK, ENV_PIPELINE, ENV_SUPERVISOR, ENV_SUPERVISOR_START};
use framewire_sys::proc::{ProcId, all_pids, environ, owner};

/// The environment variable naming the segment prefix of a block's run.
pub const ENV_PREFIX: &str = "FRAMEWIRE_SHM_PREFIX";

/// A process left over from an earlier run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    /// Its identity.
    pub id: ProcId,
    /// The block it ran (`FRAMEWIRE_BLOCK`), or its command name.
    pub block: String,
}

/// Processes of this user left over from an earlier run of `pipeline`
/// under `prefix` whose supervisor is no longer alive.
pub fn find(prefix: &str, pipeline: &str) -> Vec<Orphan> {
    let me = nix::unistd::getuid().as_raw();
    let my_pid = std::process::id();
    let mut out = Vec::new();
    for pid in all_pids() {
        if pid == my_pid || owner(pid) != Some(me) {
            continue;
        }
        let Some(env) = environ(pid) else { continue };
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get(ENV_PIPELINE) != Some(pipeline) || get(ENV_PREFIX) != Some(prefix) {
            continue;
        }
        let sup = ProcId {
            pid: get(ENV_SUPERVISOR).and_then(|v| v.parse().ok()).unwrap_or(0),
            start: get(ENV_SUPERVISOR_START).and_then(|v| v.parse().ok()).unwrap_or(0),
        };
        if sup.pid == my_pid || sup.is_alive() {
            continue;
        }
        let Some(start) = framewire_sys::proc::start_time(pid) else { continue };
        let block = get(ENV_BLOCK).map(str::to_string).unwrap_or_else(|| format!("pid {pid}"));
        out.push(Orphan { id: ProcId { pid, start }, block });
    }
    out
}

/// Stops `orphans`: `SIGTERM` (a driver stops its motors), then `SIGKILL`
/// for those still alive after `grace`. Returns those that were stopped.
pub fn stop(orphans: &[Orphan], grace: Duration) -> Vec<Orphan> {
    for o in orphans {
        if o.id.is_alive() {
            let _ = kill(Pid::from_raw(o.id.pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while orphans.iter().any(|o| o.id.is_alive()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for o in orphans {
        if o.id.is_alive() {
            let _ = kill(Pid::from_raw(o.id.pid as i32), Signal::SIGKILL);
        }
    }
    orphans.to_vec()
}
