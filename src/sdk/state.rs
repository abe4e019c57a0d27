//! A block's state segment: what a running block tells the supervisor and
//! `framewire status`, through a small shared-memory segment the supervisor
//! creates for it (`<prefix>.<pipeline>._state.<block>`, mode 0600).
//!
//! * a **heartbeat**: the block process bumps it on every step, so the
//!   supervisor's watchdog can tell a hung or stopped block from a busy one;
//! * its **phase** (opening, running, stopping);
//! * a **link** state with a line of detail (a motor driver: connecting,
//!   connected, lost since when, and why), so "running" never hides a driver
//!   that never reached its controller;
//! * up to [`MAX_GAUGES`] named **gauges** (`offset_px`, `latency_p50_ms`):
//!   numbers the live status line and `framewire status` show.
//!
//! One process writes (the block), others only read, so the protocol is
//! simple: every field is an atomic word, a gauge's name is written once
//! before the gauge count is raised (release/acquire), and the detail text
//! is guarded by a sequence counter (a seqlock).
//!
//! Layout (little-endian, offsets in bytes; a foreign `exec` program may
//! write its heartbeat at offset 24 and 32 to get a watchdog too):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u64 | magic `"FWSTATE1"` |
//! | 8 | u32 | layout version (1) |
//! | 16 | u32 | pid of the block process |
//! | 20 | u32 atomic | phase: 0 opening, 1 running, 2 stopping |
//! | 24 | u64 atomic | heartbeat count |
//! | 32 | u64 atomic | last heartbeat, `CLOCK_MONOTONIC` ns |
//! | 40 | u32 atomic | link: 0 none, 1 connecting, 2 connected, 3 lost |
//! | 44 | u32 atomic | gauges in use |
//! | 48 | u64 atomic | link state since, `CLOCK_MONOTONIC` ns |
//! | 56 | u64 atomic | detail sequence (odd while being written) |
//! | 64 | 192 bytes | detail text, UTF-8, NUL-padded |
//! | 256 | 32 x 32 bytes | gauges: 24-byte NUL-padded name, f64 value (atomic bits) |

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use framewire_sys::shm::{self, Mapping};

/// `b"FWSTATE1"` as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"FWSTATE1");
/// Layout version of the state segment.
pub const VERSION: u32 = 1;
/// Size of the segment.
pub const SIZE: u64 = 4096;
/// Gauges a block may publish.
pub const MAX_GAUGES: usize = 32;
/// Longest gauge name in bytes.
pub const MAX_GAUGE_NAME: usize = 23;

const PID: usize = 16;
const PHASE: usize = 20;
const BEATS: usize = 24;
const LAST_BEAT: usize = 32;
const LINK: usize = 40;
const GAUGES_USED: usize = 44;
const LINK_SINCE: usize = 48;
const DETAIL_SEQ: usize = 56;
const DETAIL: usize = 64;
const DETAIL_LEN: usize = 192;
const GAUGE0: usize = 256;
const GAUGE_SIZE: usize = 32;

/// What a block is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Opening its ports and devices (no heartbeat yet).
    Opening,
    /// Stepping.
    Running,
    /// Stopping (commanding motors to zero, closing devices).
    Stopping,
}

/// A block's link to its device (motor controllers, cameras).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The block has no device link.
    None,
    /// Trying to reach the device.
    Connecting,
    /// Talking to the device.
    Connected,
    /// The device stopped answering or vanished.
    Lost,
}

impl Link {
    fn code(self) -> u32 {
        match self {
            Link::None => 0,
            Link::Connecting => 1,
            Link::Connected => 2,
            Link::Lost => 3,
        }
    }
    fn from_code(c: u32) -> Link {
        match c {
            1 => Link::Connecting,
            2 => Link::Connected,
            3 => Link::Lost,
            _ => Link::None,
        }
    }
    /// The word `status` shows.
    pub fn name(self) -> &'static str {
        match self {
            Link::None => "",
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Lost => "lost",
        }
    }
}

/// Why a state segment could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An OS call failed.
    #[error("block state {name}: {what}: {errno}")]
    Os {
        /// Segment name.
        name: String,
        /// What was being done.
        what: &'static str,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// The segment is not a state segment, or not this version.
    #[error("block state {name} is not a framewire block state segment of version {VERSION}")]
    Invalid {
        /// Segment name.
        name: String,
    },
}

fn os<'a>(name: &'a str, what: &'static str) -> impl Fn(nix::errno::Errno) -> StateError + 'a {
    move |errno| StateError::Os { name: name.to_string(), what, errno }
}

/// A mapped state segment.
pub struct BlockState {
    map: Mapping,
}

impl BlockState {
    /// Creates segment `name` (the supervisor does this before starting the
    /// block), private to the user.
    pub fn create(name: &str) -> Result<BlockState, StateError> {
        let fd = shm::create(name, SIZE, 0o600).map_err(|e| match e {
            shm::CreateError::Exists => {
                StateError::Os { name: name.into(), what: "create", errno: nix::errno::Errno::EEXIST }
            }
            shm::CreateError::NoSpace { .. } => {
                StateError::Os { name: name.into(), what: "create", errno: nix::errno::Errno::ENOSPC }
            }
            shm::CreateError::Os(e) => StateError::Os { name: name.into(), what: "create", errno: e },
        })?;
        let mut map = Mapping::new(&fd, SIZE).map_err(|e| StateError::Os {
            name: name.into(),
            what: "mmap",
            errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio())),
        })?;
        map.write_init(8, &VERSION.to_le_bytes());
        // SYNC: release; pairs with the acquire load in `open`, so an opener
        // that sees the magic sees the version too.
        map.atomic_u64(0).store(MAGIC, Release);
        Ok(BlockState { map })
    }

    /// Opens existing segment `name` (the block process, and readers).
    /// Refuses a segment another user owns.
    pub fn open(name: &str) -> Result<BlockState, StateError> {
        let fd = shm::open(name).map_err(os(name, "shm_open"))?;
        let (size, owner) = shm::size_and_owner(&fd).map_err(os(name, "fstat"))?;
        if size < SIZE || owner != shm::current_uid() {
            return Err(StateError::Invalid { name: name.into() });
        }
        let map = Mapping::new(&fd, SIZE).map_err(|e| StateError::Os {
            name: name.into(),
            what: "mmap",
            errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio())),
        })?;
        // SYNC: acquire; pairs with the release store in `create`.
        if map.atomic_u64(0).load(Acquire) != MAGIC
            || u32::from_le_bytes(map.read_const(8, 4).try_into().unwrap_or([0; 4])) != VERSION
        {
            return Err(StateError::Invalid { name: name.into() });
        }
        Ok(BlockState { map })
    }

    /// Records the block process (called once it runs).
    pub fn set_pid(&self, pid: u32) {
        self.map.atomic_u32(PID).store(pid, Relaxed);
    }

    /// Sets the phase.
    pub fn set_phase(&self, p: Phase) {
        let c = match p {
            Phase::Opening => 0,
            Phase::Running => 1,
            Phase::Stopping => 2,
        };
        self.map.atomic_u32(PHASE).store(c, Relaxed);
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        match self.map.atomic_u32(PHASE).load(Relaxed) {
            1 => Phase::Running,
            2 => Phase::Stopping,
            _ => Phase::Opening,
        }
    }

    /// One heartbeat, at `now_ns` (`CLOCK_MONOTONIC`).
    pub fn beat(&self, now_ns: u64) {
        self.map.atomic_u64(LAST_BEAT).store(now_ns, Relaxed);
        self.map.atomic_u64(BEATS).fetch_add(1, Relaxed);
    }

    /// Heartbeats so far and the time of the last one (0 = none yet).
    pub fn heartbeat(&self) -> (u64, u64) {
        (self.map.atomic_u64(BEATS).load(Relaxed), self.map.atomic_u64(LAST_BEAT).load(Relaxed))
    }

    /// Sets the link state and its detail; `since_ns` is when it changed.
    pub fn set_link(&self, link: Link, detail: &str, since_ns: u64) {
        let seq = self.map.atomic_u64(DETAIL_SEQ);
        let s = seq.load(Relaxed);
        // SYNC: seqlock write side: odd (release) before the text, even
        // (release) after; readers retry on odd or changed values.
        seq.store(s | 1, Release);
        let b = detail.as_bytes();
        let n = b.len().min(DETAIL_LEN - 1);
        // A char boundary, so the text stays valid UTF-8.
        let n = (0..=n).rev().find(|&i| detail.is_char_boundary(i)).unwrap_or(0);
        for i in 0..DETAIL_LEN / 8 {
            let mut w = [0u8; 8];
            for (j, v) in w.iter_mut().enumerate() {
                let k = i * 8 + j;
                if k < n {
                    *v = b[k];
                }
            }
            self.map.atomic_u64(DETAIL + i * 8).store(u64::from_le_bytes(w), Relaxed);
        }
        self.map.atomic_u64(LINK_SINCE).store(since_ns, Relaxed);
        self.map.atomic_u32(LINK).store(link.code(), Relaxed);
        seq.store((s | 1) + 1, Release);
    }

    /// The link state, its detail and when it changed.
    pub fn link(&self) -> (Link, String, u64) {
        let seq = self.map.atomic_u64(DETAIL_SEQ);
        for _ in 0..100 {
            // SYNC: seqlock read side; pairs with the release stores in `set_link`.
            let s1 = seq.load(Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut bytes = Vec::with_capacity(DETAIL_LEN);
            for i in 0..DETAIL_LEN / 8 {
                bytes.extend_from_slice(&self.map.atomic_u64(DETAIL + i * 8).load(Relaxed).to_le_bytes());
            }
            let link = Link::from_code(self.map.atomic_u32(LINK).load(Relaxed));
            let since = self.map.atomic_u64(LINK_SINCE).load(Relaxed);
            std::sync::atomic::fence(Acquire);
            if seq.load(Relaxed) == s1 {
                let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
                return (link, String::from_utf8_lossy(&bytes[..end]).into_owned(), since);
            }
        }
        (Link::None, String::new(), 0)
    }

    /// Sets gauge `name` to `value`, claiming a slot on first use. Returns
    /// false when all [`MAX_GAUGES`] are taken (the value is dropped).
    pub fn gauge(&self, name: &str, value: f64) -> bool {
        let used = self.map.atomic_u32(GAUGES_USED).load(Relaxed) as usize;
        let key = gauge_key(name);
        for i in 0..used.min(MAX_GAUGES) {
            if self.name_words(i) == key {
                self.map.atomic_u64(GAUGE0 + i * GAUGE_SIZE + 24).store(value.to_bits(), Relaxed);
                return true;
            }
        }
        if used >= MAX_GAUGES {
            return false;
        }
        for (j, w) in key.iter().enumerate() {
            self.map.atomic_u64(GAUGE0 + used * GAUGE_SIZE + j * 8).store(*w, Relaxed);
        }
        self.map.atomic_u64(GAUGE0 + used * GAUGE_SIZE + 24).store(value.to_bits(), Relaxed);
        // SYNC: release; pairs with the acquire load in `gauges`, so a reader
        // that counts this gauge sees its name.
        self.map.atomic_u32(GAUGES_USED).store(used as u32 + 1, Release);
        true
    }

    fn name_words(&self, i: usize) -> [u64; 3] {
        let at = GAUGE0 + i * GAUGE_SIZE;
        [0, 1, 2].map(|j| self.map.atomic_u64(at + j * 8).load(Relaxed))
    }

    /// Every gauge, in the order the block first set them.
    pub fn gauges(&self) -> Vec<(String, f64)> {
        // SYNC: acquire; pairs with the release store in `gauge`.
        let used = (self.map.atomic_u32(GAUGES_USED).load(Acquire) as usize).min(MAX_GAUGES);
        (0..used)
            .map(|i| {
                let bytes: Vec<u8> = self.name_words(i).iter().flat_map(|w| w.to_le_bytes()).collect();
                let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
                let v = f64::from_bits(self.map.atomic_u64(GAUGE0 + i * GAUGE_SIZE + 24).load(Relaxed));
                (String::from_utf8_lossy(&bytes[..end]).into_owned(), v)
            })
            .collect()
    }

    /// The block process's pid (0 until it has started).
    pub fn pid(&self) -> u32 {
        self.map.atomic_u32(PID).load(Relaxed)
    }
}

fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

/// A gauge name as three little-endian words, truncated to
/// [`MAX_GAUGE_NAME`] bytes at a character boundary.
fn gauge_key(name: &str) -> [u64; 3] {
    let n = (0..=name.len().min(MAX_GAUGE_NAME)).rev().find(|&i| name.is_char_boundary(i)).unwrap_or(0);
    let mut b = [0u8; 24];
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    [0, 1, 2].map(|j| u64::from_le_bytes(b[j * 8..j * 8 + 8].try_into().unwrap_or([0; 8])))
}

/// The state segment's name for block `block` of `pipeline`.
pub fn segment_name(prefix: &str, pipeline: &str, block: &str) -> String {
    format!("{prefix}.{pipeline}._state.{block}")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seg(String);
    impl Drop for Seg {
        fn drop(&mut self) {
            let _ = shm::unlink(&self.0);
        }
    }

    #[test]
    fn heartbeat_link_and_gauges_cross_mappings() {
        let seg = Seg(format!("framewire-t{}-state-unit", std::process::id()));
        let w = BlockState::create(&seg.0).unwrap();
        let r = BlockState::open(&seg.0).unwrap();
        assert_eq!(r.heartbeat(), (0, 0));
        w.beat(42);
        w.beat(50);
        assert_eq!(r.heartbeat(), (2, 50));
        w.set_link(Link::Lost, "/dev/ttyACM0: no reply for 300 ms", 7);
        assert_eq!(r.link(), (Link::Lost, "/dev/ttyACM0: no reply for 300 ms".to_string(), 7));
        assert!(w.gauge("offset_px", -12.5));
        assert!(w.gauge("a_gauge_name_that_is_far_too_long", 1.0));
        assert!(w.gauge("offset_px", 3.0));
        assert_eq!(r.gauges(), [("offset_px".to_string(), 3.0), ("a_gauge_name_that_is_fa".to_string(), 1.0)]);
        for i in 0..MAX_GAUGES {
            w.gauge(&format!("g{i}"), 0.0);
        }
        assert!(!w.gauge("one_too_many", 0.0));
        assert_eq!(r.gauges().len(), MAX_GAUGES);
        w.set_phase(Phase::Stopping);
        assert_eq!(r.phase(), Phase::Stopping);
    }
}
