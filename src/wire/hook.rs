//! Test hooks: named points in the wire's attach and reclaim paths where a
//! test can stop the process, to place a kill or a delay at an exact step.
//!
//! A hook is armed only by code running in the same process
//! ([`stop_at`]); nothing outside the process (no environment variable, no
//! file) can arm one. An armed point fires once: the process prints
//! `framewire test hook: <point>` on stderr and stops itself with `SIGSTOP`.
//! The test that started it sees the stop (`waitpid` with `WUNTRACED`), does
//! what it wants meanwhile, then sends `SIGCONT` (a delay of any length) or
//! `SIGKILL` (a crash at exactly that step). Unarmed, a hook costs one relaxed
//! load, and hooks sit only on paths that run when a process attaches or
//! reclaims, never per frame.

use std::io::Write;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

/// A step of the protocol where a test may stop the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum HookPoint {
    /// A reader attaching has taken its entry's lock and written nothing yet.
    ReaderLocked = 0,
    /// A reader attaching has marked its entry `CLAIMING` and written its
    /// identity, and has not yet made it `ACTIVE`.
    ReaderClaiming = 1,
    /// A sweeper holds the lock of an entry whose owner is gone and has not
    /// yet freed it.
    SweepLocked = 2,
    /// A sweeper has cleared a dead reader's pin and has not yet marked the
    /// entry free.
    SweepCleared = 3,
    /// A writer attaching has taken the writer's lock and written nothing yet.
    WriterLocked = 4,
}

static ARMED: AtomicU32 = AtomicU32::new(0);

/// Arms `point`: the next time this process reaches it, it stops itself
/// with `SIGSTOP` (once).
pub fn stop_at(point: HookPoint) {
    ARMED.fetch_or(1 << point as u32, Relaxed);
}

/// Called at each hook point; stops the process if the point is armed.
pub(crate) fn reached(point: HookPoint) {
    let bit = 1 << point as u32;
    if ARMED.load(Relaxed) & bit != 0 && ARMED.fetch_and(!bit, Relaxed) & bit != 0 {
        let _ = writeln!(std::io::stderr(), "framewire test hook: {point:?}");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}
