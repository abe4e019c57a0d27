//! Process identity and clocks.
//!
//! A bare pid is not an identity: pids are reused. framewire identifies a
//! process by its pid plus its start time (field 22 of `/proc/<pid>/stat`,
//! in clock ticks since boot), which together never repeat within a boot.

use std::fs;

/// A process identity that survives pid reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcId {
    /// The process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (from `/proc/<pid>/stat`).
    pub start: u64,
}

impl ProcId {
    /// The calling process.
    pub fn current() -> ProcId {
        let pid = std::process::id();
        ProcId { pid, start: start_time(pid).unwrap_or(0) }
    }

    /// Whether this process still runs: the pid exists, is not a zombie, and
    /// started at the same tick (so it is not a newer process with a reused pid).
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 {
            return false;
        }
        match stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.start,
            None => false,
        }
    }
}

/// Start time of `pid` in clock ticks since boot, if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, s)| s)
}

/// State letter and start time of `pid` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the state (field 3) and start time (field 22) of a stat line. The
/// command name (field 2) may contain spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state come fields 4..; start time is field 22, i.e. 18 more.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Nanoseconds on `CLOCK_MONOTONIC`, the clock V4L2 stamps frames with.
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Nanoseconds on `CLOCK_REALTIME`, for humans (creation dates).
pub fn realtime_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .expect("CLOCK_REALTIME is always available on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// CPU time (user + system) consumed by `pid` so far, in nanoseconds.
pub fn cpu_time_ns(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // utime and stime are fields 14 and 15: indexes 11 and 12 after the state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000_000 / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map(|v| v as u64).unwrap_or(100)
}

/// Asks the kernel to send `sig` to the calling process when its parent
/// dies, so blocks never outlive a supervisor that was itself killed.
/// `SIGTERM` lets the block stop cleanly (an actuator commands zero) before
/// it exits; `SIGKILL` ends it at once.
pub fn die_with_parent(sig: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::prctl::set_pdeathsig(sig)
}

/// Makes a program started with `cmd` receive `sig` when the process that
/// spawns it dies, and refuse to start at all if that process is already
/// gone: for `exec` blocks, which are foreign programs that cannot ask for
/// this themselves.
pub fn exec_dies_with_parent(cmd: &mut std::process::Command, sig: nix::sys::signal::Signal) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    let signo = sig as libc::c_int;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: prctl, getppid and _exit are plain
    // system calls, and the closure allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would send
            // the signal, so do not start at all.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// The user id owning process `pid` (the owner of `/proc/<pid>`).
pub fn owner(pid: u32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}")).ok().map(|m| m.uid())
}

/// The environment of process `pid` (readable for the user's own
/// processes), as `NAME=value` pairs.
pub fn environ(pid: u32) -> Option<Vec<(String, String)>> {
    let bytes = fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        bytes
            .split(|&b| b == 0)
            .filter_map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// Every process id in `/proc`.
pub fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Pins the calling thread to the CPU it is running on (children started
/// afterwards inherit the mask) and returns that CPU. Benchmarks use it so
/// that both sides of a comparison run on the same core: on a VM the
/// virtual CPUs can differ in speed by a third, depending on what shares
/// their physical cores.
pub fn pin_to_current_cpu() -> nix::Result<usize> {
    use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
    let cpu = sched_getcpu()?;
    let mut set = CpuSet::new();
    set.set(cpu)?;
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
    }

    #[test]
    fn current_process_is_alive_and_a_fake_one_is_not() {
        let me = ProcId::current();
        assert!(me.start > 0);
        assert!(me.is_alive());
        assert!(!ProcId { pid: me.pid, start: me.start + 1 }.is_alive());
        assert!(!ProcId { pid: 0, start: 0 }.is_alive());
    }
}

/// Termination signals caught by [`catch_termination`].
pub mod signals {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

    /// Set by the handler; blocks poll it through `block::Context`.
    pub static STOP: AtomicBool = AtomicBool::new(false);
    static LAST: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(sig: libc::c_int) {
        // Only atomic stores: async-signal-safe.
        LAST.store(sig, Ordering::SeqCst);
        STOP.store(true, Ordering::SeqCst);
    }

    /// Catches SIGINT, SIGTERM and SIGHUP: they set [`STOP`] instead of
    /// killing the process. No `SA_RESTART`, so a blocking wait returns early
    /// and the caller notices promptly.
    pub fn catch_termination() -> nix::Result<()> {
        let sa = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            // SAFETY: the handler only performs atomic stores, which are
            // async-signal-safe, and touches no other state.
            unsafe { sigaction(s, &sa) }?;
        }
        Ok(())
    }

    /// The last termination signal received, if any.
    pub fn received() -> Option<Signal> {
        match LAST.load(Ordering::SeqCst) {
            0 => None,
            s => Signal::try_from(s).ok(),
        }
    }
}
