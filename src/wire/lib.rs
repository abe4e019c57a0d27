//! Wires: fixed-size POSIX shared-memory rings that carry frames from one
//! writer process to many reader processes without copying them.
//!
//! * [`create`] makes a wire (the runtime does this), [`unlink`] removes it,
//!   [`purge_pipeline`] removes what a crashed run of the same pipeline left.
//! * [`Writer`] loans a free slot, the block fills it in place, and a commit
//!   publishes it and wakes the readers.
//! * [`Reader`] waits for a newer frame and gets a [`Guard`] that derefs to
//!   the slot's bytes in the mapping; the slot is never overwritten while the
//!   guard lives.
//!
//! The byte layout is in [`layout`]; the slot protocol and its memory
//! orderings are in `ring.rs`. Image geometry ([`image`]) belongs here too:
//! a slot's metadata records width, height, stride and FourCC.
//!
//! This crate is the wire ABI: what a reader or writer in C, Python or any
//! other language must match (`src/wire/README.md` restates it byte by byte).
//!
//! May depend on: `framewire-sys` (every OS call), `nix`, `serde`,
//! `thiserror`. Never on blocks, the SDK or the runtime.
#![warn(missing_docs)]

pub mod image;
pub mod layout;
#[cfg(test)]
mod model;
pub mod payload;
mod ring;

use std::fmt;
use std::time::Duration;

use nix::errno::Errno;

use crate::image::{FourCC, ImageFormat};
use framewire_sys::proc::ProcId;
use framewire_sys::shm::{self, Mapping};
pub use payload::PayloadType;
pub use ring::{Guard, Loan, Reader, SlotId, WakeHandle, Writer};

use layout::*;

/// How a wire delivers frames to its readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Camera semantics: a reader always gets the newest committed frame,
    /// unread older frames are skipped, and the writer never waits.
    #[default]
    Latest,
    /// Lossless: every reader gets every frame in order; the writer waits
    /// (with a timeout) when the slowest reader is a whole ring behind.
    Queue,
}

impl Policy {
    fn to_u32(self) -> u32 {
        match self {
            Policy::Latest => 0,
            Policy::Queue => 1,
        }
    }
    fn from_u32(v: u32) -> Option<Policy> {
        match v {
            0 => Some(Policy::Latest),
            1 => Some(Policy::Queue),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Latest => "latest",
            Policy::Queue => "queue",
        })
    }
}

/// Everything that fixes a wire's layout, chosen when it is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireConfig {
    /// Payload capacity of one slot in bytes.
    pub slot_size: u64,
    /// Number of slots in the ring.
    pub slot_count: u32,
    /// Most readers that may attach at once.
    pub max_readers: u32,
    /// Delivery policy.
    pub policy: Policy,
    /// What the slots carry.
    pub kind: PayloadType,
    /// Permission bits: `0o600` by default, `0o660` for group access.
    pub mode: u32,
}

impl WireConfig {
    /// A wire of `slot_count` slots of `slot_size` bytes for up to
    /// `max_readers` readers, private to the user (`0600`).
    pub fn new(slot_size: u64, slot_count: u32, max_readers: u32, policy: Policy) -> Self {
        WireConfig { slot_size, slot_count, max_readers, policy, kind: PayloadType::BYTES, mode: 0o600 }
    }

    /// The fewest slots that let this policy keep its promises: `latest`
    /// needs one slot per reader (each may hold a guard), one for the newest
    /// frame, and one for the writer to fill; `queue` needs two.
    pub fn min_slots(policy: Policy, max_readers: u32) -> u32 {
        match policy {
            Policy::Latest => max_readers + 2,
            Policy::Queue => 2,
        }
    }
}

/// A frame's metadata, stored beside its payload in the slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    /// Sequence number, assigned by the wire at commit (1, 2, 3, ...).
    pub seq: u64,
    /// Capture time of the source frame, `CLOCK_MONOTONIC` ns. Filters copy it
    /// from their input so it measures end-to-end latency.
    pub timestamp_ns: u64,
    /// Commit time, `CLOCK_MONOTONIC` ns, set by the wire.
    pub commit_ns: u64,
    /// Valid payload bytes.
    pub len: usize,
    /// Image geometry (all zero for messages).
    pub image: ImageFormat,
    /// Sequence number of the source frame (the camera's), carried through.
    pub source_seq: u64,
    /// Flags; bit 0 means the producer skipped frames before this one.
    pub flags: u32,
}

/// Errors from creating, opening or using a wire. Each names the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A name is empty, too long, or has characters other than
    /// `A-Z a-z 0-9 _ - .`.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration cannot work.
    #[error("wire {name}: {reason}")]
    BadConfig {
        /// The wire.
        name: String,
        /// Why and what to do.
        reason: String,
    },
    /// A wire of that name exists already.
    #[error(
        "wire {name} already exists in /dev/shm (is the pipeline already running? if not, `framewire run` purges stale wires at start)"
    )]
    Exists {
        /// The wire.
        name: String,
    },
    /// `/dev/shm` is too small.
    #[error("wire {name} needs {needed} bytes ({} MiB) of shared memory but /dev/shm has only {free} bytes ({} MiB) free; enlarge /dev/shm (e.g. `mount -o remount,size=512M /dev/shm`, or `--shm-size` for Docker) or use fewer/smaller slots", needed >> 20, free >> 20)]
    NoSpace {
        /// The wire.
        name: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// No wire of that name exists.
    #[error("wire {name} does not exist in /dev/shm (is the pipeline running?)")]
    NotFound {
        /// The wire.
        name: String,
    },
    /// The segment is not a framewire wire, or is damaged.
    #[error("{name} is not a framewire wire: {reason}")]
    NotAWire {
        /// The segment.
        name: String,
        /// What was found.
        reason: String,
    },
    /// The segment was made by a framewire with another layout.
    #[error(
        "wire {name} has layout version {found}, this framewire uses {expected}; stop the pipeline and start it again with one framewire version"
    )]
    Version {
        /// The wire.
        name: String,
        /// Version in the segment.
        found: u32,
        /// Version this build speaks.
        expected: u32,
    },
    /// The wire differs from what the block needs.
    #[error("wire {name} does not match: {}", differences.join("; "))]
    Mismatch {
        /// The wire.
        name: String,
        /// Each difference, as "field: wire has X, expected Y".
        differences: Vec<String>,
    },
    /// Another live process is the writer.
    #[error("wire {name} already has a live writer (pid {pid}); a wire has exactly one writer")]
    WriterBusy {
        /// The wire.
        name: String,
        /// The writer's pid.
        pid: u32,
    },
    /// All reader entries are taken by live readers.
    #[error("wire {name} has all {max} reader entries in use; raise `readers` for this wire in the pipeline file")]
    ReadersFull {
        /// The wire.
        name: String,
        /// Its reader limit.
        max: u32,
    },
    /// A queue-policy writer found no free slot in time.
    #[error("wire {name}: no free slot within {waited:?} (a queue-policy reader is a full ring behind)")]
    Full {
        /// The wire.
        name: String,
        /// How long the writer waited.
        waited: Duration,
    },
    /// A payload longer than the slot.
    #[error("wire {name}: payload of {len} bytes does not fit its {slot_size}-byte slots")]
    TooLarge {
        /// The wire.
        name: String,
        /// Bytes offered.
        len: usize,
        /// Slot capacity.
        slot_size: usize,
    },
    /// An operating-system call failed.
    #[error("wire {name}: {op} failed: {source}")]
    Os {
        /// The wire.
        name: String,
        /// The call.
        op: &'static str,
        /// The error.
        source: Errno,
    },
}

impl WireError {
    fn os(name: &str, op: &'static str, source: Errno) -> WireError {
        WireError::Os { name: name.to_string(), op, source }
    }
}

/// The start of every framewire segment's name; the default prefix adds the
/// user's id (`framewire-u1000`), so two users' pipelines of the same name
/// never meet in `/dev/shm`.
pub const DEFAULT_PREFIX: &str = "framewire";

/// The segment prefix in force: `$FRAMEWIRE_SHM_PREFIX`, or `framewire-u<uid>`.
pub fn prefix() -> String {
    std::env::var("FRAMEWIRE_SHM_PREFIX")
        .unwrap_or_else(|_| format!("{DEFAULT_PREFIX}-u{}", framewire_sys::shm::current_uid()))
}

/// Longest segment name Linux accepts (`NAME_MAX` minus nothing: shm_open
/// adds only the directory).
pub const MAX_NAME: usize = 255;

/// Checks one component of a segment name: a prefix, pipeline, block or port.
pub fn check_component(what: &str, s: &str) -> Result<(), WireError> {
    let bad = |reason: String| WireError::InvalidName { name: s.to_string(), reason };
    if s.is_empty() {
        return Err(bad(format!("{what} name is empty")));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(bad(format!("{what} name may use only letters, digits, '_' and '-', not {c:?}")));
    }
    Ok(())
}

/// The segment name of wire `wire` (e.g. `camera.frames`) of `pipeline`
/// under `prefix`: `<prefix>.<pipeline>.<wire>`.
pub fn segment_name(prefix: &str, pipeline: &str, wire: &str) -> Result<String, WireError> {
    check_component("prefix", prefix)?;
    check_component("pipeline", pipeline)?;
    for part in wire.split('.') {
        check_component("wire", part)?;
    }
    let name = format!("{prefix}.{pipeline}.{wire}");
    if name.len() > MAX_NAME {
        return Err(WireError::InvalidName {
            name,
            reason: format!("longer than {MAX_NAME} bytes; use shorter pipeline or block names"),
        });
    }
    Ok(name)
}

/// Removes every segment of `pipeline` under `prefix` owned by this user:
/// what a crashed run left. Never touches other pipelines (names are
/// `<prefix>.<pipeline>.` exactly) or other users' segments.
pub fn purge_pipeline(prefix: &str, pipeline: &str) -> Result<Vec<String>, WireError> {
    let start = format!("{prefix}.{pipeline}.");
    let names = shm::list(&start, shm::current_uid())
        .map_err(|e| WireError::os(&start, "listing /dev/shm", Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    for n in &names {
        match shm::unlink(n) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(WireError::os(n, "shm_unlink", e)),
        }
    }
    Ok(names)
}

/// Removes wire `name`. Processes that have it mapped keep working; the
/// memory is freed when the last one unmaps it.
pub fn unlink(name: &str) -> Result<(), WireError> {
    match shm::unlink(name) {
        Ok(()) => Ok(()),
        Err(Errno::ENOENT) => Err(WireError::NotFound { name: name.to_string() }),
        Err(e) => Err(WireError::os(name, "shm_unlink", e)),
    }
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as u64
}

/// Creates wire `name` with configuration `cfg`. The segment is sized,
/// reserved with `posix_fallocate`, laid out, its semaphores initialised,
/// and only then marked ready, so no opener ever sees a half-made wire.
pub fn create(name: &str, cfg: &WireConfig) -> Result<(), WireError> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains('/') {
        return Err(WireError::InvalidName {
            name: name.to_string(),
            reason: format!("must be 1 to {MAX_NAME} bytes without '/'"),
        });
    }
    let bad = |reason: String| Err(WireError::BadConfig { name: name.to_string(), reason });
    if cfg.slot_size == 0 {
        return bad("slot size is 0".into());
    }
    if cfg.max_readers == 0 || cfg.max_readers > 1024 {
        return bad(format!("readers must be 1 to 1024, not {}", cfg.max_readers));
    }
    let min = WireConfig::min_slots(cfg.policy, cfg.max_readers);
    if cfg.slot_count < min {
        return bad(format!(
            "{} slots are too few for policy {} with {} readers; use at least {min}",
            cfg.slot_count, cfg.policy, cfg.max_readers
        ));
    }
    let geo = Geometry::new(cfg.slot_size, cfg.slot_count, cfg.max_readers, page_size());
    let fd = shm::create(name, geo.total_size, cfg.mode).map_err(|e| match e {
        shm::CreateError::Exists => WireError::Exists { name: name.to_string() },
        shm::CreateError::NoSpace { needed, free } => WireError::NoSpace { name: name.to_string(), needed, free },
        shm::CreateError::Os(e) => WireError::os(name, "creating the segment", e),
    })?;
    let init = || -> Result<(), WireError> {
        let mut m = Mapping::new(&fd, geo.total_size).map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
        // The segment is fresh from ftruncate, so all zero: state is
        // STATE_INITIALISING until the release store at the end.
        let me = ProcId::current();
        let put64 = |m: &mut Mapping, off: usize, v: u64| m.write_init(off, &v.to_le_bytes());
        let put32 = |m: &mut Mapping, off: usize, v: u32| m.write_init(off, &v.to_le_bytes());
        put64(&mut m, hdr::MAGIC, MAGIC);
        put32(&mut m, hdr::VERSION, LAYOUT_VERSION);
        put64(&mut m, hdr::SLOT_SIZE, geo.slot_size);
        put32(&mut m, hdr::SLOT_COUNT, geo.slot_count);
        put32(&mut m, hdr::MAX_READERS, geo.max_readers);
        put32(&mut m, hdr::POLICY, cfg.policy.to_u32());
        put32(&mut m, hdr::KIND, cfg.kind.kind_code());
        m.write_init(hdr::TYPE_NAME, cfg.kind.name_bytes());
        put32(&mut m, hdr::MSG_SIZE, cfg.kind.size());
        put64(&mut m, hdr::SLOT_STRIDE, geo.slot_stride);
        put64(&mut m, hdr::META_OFFSET, geo.meta_offset);
        put64(&mut m, hdr::ORDER_OFFSET, geo.order_offset);
        put64(&mut m, hdr::READERS_OFFSET, geo.readers_offset);
        put64(&mut m, hdr::PAYLOAD_OFFSET, geo.payload_offset);
        put64(&mut m, hdr::TOTAL_SIZE, geo.total_size);
        put32(&mut m, hdr::CREATOR_PID, me.pid);
        put32(&mut m, hdr::PAGE_SIZE, geo.page_size as u32);
        put64(&mut m, hdr::CREATOR_START, me.start);
        put64(&mut m, hdr::CREATED_NS, framewire_sys::proc::realtime_ns());
        let nb = name.as_bytes();
        m.write_init(hdr::NAME, &nb[..nb.len().min(hdr::NAME_LEN - 1)]);
        m.sem_init(hdr::SPACE_SEM).map_err(|e| WireError::os(name, "sem_init", e))?;
        for r in 0..geo.max_readers {
            put32(&mut m, geo.reader(r) + rdr::HELD, NO_SLOT);
            m.sem_init(geo.reader(r) + rdr::SEM).map_err(|e| WireError::os(name, "sem_init", e))?;
        }
        // SYNC: release; pairs with the acquire load in `Segment::open`, so an
        // opener that sees READY sees every field written above.
        m.atomic_u32(hdr::STATE).store(STATE_READY, std::sync::atomic::Ordering::Release);
        Ok(())
    };
    init().inspect_err(|_| {
        let _ = shm::unlink(name);
    })
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// What a block expects of a wire it attaches to; `None` accepts anything.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// What the slots must carry.
    pub kind: Option<PayloadType>,
    /// The smallest slot the block can work with.
    pub min_slot_size: Option<u64>,
    /// The delivery policy.
    pub policy: Option<Policy>,
}

/// An open, validated wire segment: the mapping plus its geometry.
pub(crate) struct Segment {
    pub(crate) map: Mapping,
    pub(crate) geo: Geometry,
    pub(crate) name: String,
    pub(crate) policy: Policy,
    pub(crate) kind: PayloadType,
}

impl Segment {
    /// Opens and validates wire `name`, waiting briefly if its creator is
    /// still initialising it.
    pub(crate) fn open(name: &str, expect: &Expect) -> Result<Segment, WireError> {
        Segment::open_with(name, expect, true)
    }

    /// Opens for reading counters only: no prefaulting of the payloads.
    pub(crate) fn open_for_inspection(name: &str) -> Result<Segment, WireError> {
        Segment::open_with(name, &Expect::default(), false)
    }

    fn open_with(name: &str, expect: &Expect, populate: bool) -> Result<Segment, WireError> {
        let fd = shm::open(name).map_err(|e| match e {
            Errno::ENOENT => WireError::NotFound { name: name.to_string() },
            e => WireError::os(name, "shm_open", e),
        })?;
        let (size, _) = shm::size_and_owner(&fd).map_err(|e| WireError::os(name, "fstat", e))?;
        let not_a_wire = |reason: String| WireError::NotAWire { name: name.to_string(), reason };
        if size < HEADER_SIZE as u64 {
            return Err(not_a_wire(format!("only {size} bytes long")));
        }
        let map = Mapping::with_populate(&fd, size, populate).map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
        // SYNC: acquire; pairs with the release store of STATE_READY in `create`.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while map.atomic_u32(hdr::STATE).load(std::sync::atomic::Ordering::Acquire) != STATE_READY {
            if std::time::Instant::now() > deadline {
                return Err(not_a_wire(
                    "still initialising after 2 s (its creator probably died; `framewire run` purges it)".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let u64_at = |o: usize| u64::from_le_bytes(map.read_const(o, 8).try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(map.read_const(o, 4).try_into().unwrap());
        if u64_at(hdr::MAGIC) != MAGIC {
            return Err(not_a_wire("bad magic".into()));
        }
        let version = u32_at(hdr::VERSION);
        if version != LAYOUT_VERSION {
            return Err(WireError::Version { name: name.to_string(), found: version, expected: LAYOUT_VERSION });
        }
        let geo = Geometry::new(
            u64_at(hdr::SLOT_SIZE),
            u32_at(hdr::SLOT_COUNT),
            u32_at(hdr::MAX_READERS),
            u32_at(hdr::PAGE_SIZE) as u64,
        );
        let stored = (
            u64_at(hdr::META_OFFSET),
            u64_at(hdr::ORDER_OFFSET),
            u64_at(hdr::READERS_OFFSET),
            u64_at(hdr::PAYLOAD_OFFSET),
            u64_at(hdr::SLOT_STRIDE),
            u64_at(hdr::TOTAL_SIZE),
        );
        let computed = (
            geo.meta_offset,
            geo.order_offset,
            geo.readers_offset,
            geo.payload_offset,
            geo.slot_stride,
            geo.total_size,
        );
        if stored != computed || geo.total_size > size || geo.slot_count == 0 {
            return Err(not_a_wire(format!(
                "inconsistent layout (offsets {stored:?}, expected {computed:?}, file {size} bytes)"
            )));
        }
        let policy = Policy::from_u32(u32_at(hdr::POLICY)).ok_or_else(|| not_a_wire("unknown policy".into()))?;
        let kind = PayloadType::from_header(
            u32_at(hdr::KIND),
            &map.read_const(hdr::TYPE_NAME, hdr::TYPE_NAME_LEN),
            u32_at(hdr::MSG_SIZE),
        )
        .map_err(not_a_wire)?;
        let mut differences = Vec::new();
        if let Some(k) = expect.kind
            && k != kind
        {
            differences.push(format!("carries {kind}, expected {k}"));
        }
        if let Some(min) = expect.min_slot_size
            && geo.slot_size < min
        {
            differences.push(format!("slot size is {} bytes, expected at least {min}", geo.slot_size));
        }
        if let Some(p) = expect.policy
            && p != policy
        {
            differences.push(format!("policy is {policy}, expected {p}"));
        }
        if !differences.is_empty() {
            return Err(WireError::Mismatch { name: name.to_string(), differences });
        }
        Ok(Segment { map, geo, name: name.to_string(), policy, kind })
    }

    pub(crate) fn h64(&self, off: usize) -> &std::sync::atomic::AtomicU64 {
        self.map.atomic_u64(off)
    }
    pub(crate) fn h32(&self, off: usize) -> &std::sync::atomic::AtomicU32 {
        self.map.atomic_u32(off)
    }
    pub(crate) fn m64(&self, slot: u32, field: usize) -> &std::sync::atomic::AtomicU64 {
        self.map.atomic_u64(self.geo.meta(slot) + field)
    }
    pub(crate) fn m32(&self, slot: u32, field: usize) -> &std::sync::atomic::AtomicU32 {
        self.map.atomic_u32(self.geo.meta(slot) + field)
    }
    pub(crate) fn r64(&self, r: u32, field: usize) -> &std::sync::atomic::AtomicU64 {
        self.map.atomic_u64(self.geo.reader(r) + field)
    }
    pub(crate) fn r32(&self, r: u32, field: usize) -> &std::sync::atomic::AtomicU32 {
        self.map.atomic_u32(self.geo.reader(r) + field)
    }
    pub(crate) fn order(&self, seq: u64) -> &std::sync::atomic::AtomicU32 {
        self.map.atomic_u32(self.geo.order(seq))
    }
}

/// A reader's counters as `framewire status` shows them.
#[derive(Clone, Debug)]
pub struct ReaderStatus {
    /// Reader pid.
    pub pid: u32,
    /// Whether the process still runs.
    pub alive: bool,
    /// Frames read.
    pub frames_read: u64,
    /// Frames skipped (latest policy) or lost.
    pub frames_skipped: u64,
    /// Last read, `CLOCK_MONOTONIC` ns.
    pub last_read_ns: u64,
    /// Mean handoff latency (commit to guard) over all reads, ns.
    pub mean_latency_ns: u64,
}

/// A wire's state read from outside, without joining it.
#[derive(Clone, Debug)]
pub struct WireStatus {
    /// Segment name.
    pub name: String,
    /// Delivery policy.
    pub policy: Policy,
    /// What the slots carry.
    pub kind: PayloadType,
    /// Slot capacity in bytes.
    pub slot_size: u64,
    /// Number of slots.
    pub slot_count: u32,
    /// Total segment size.
    pub total_size: u64,
    /// Newest committed sequence number.
    pub committed: u64,
    /// Frames written since creation.
    pub frames_written: u64,
    /// Last commit, `CLOCK_MONOTONIC` ns (0 = never).
    pub last_commit_ns: u64,
    /// Writer pid (0 = none attached).
    pub writer_pid: u32,
    /// Times a writer attached (1 + restarts).
    pub writer_attaches: u64,
    /// Times a queue writer gave up waiting for space.
    pub writer_timeouts: u64,
    /// Attached readers.
    pub readers: Vec<ReaderStatus>,
    /// Image geometry of the newest frame, if any.
    pub last_image: Option<(u32, u32, FourCC)>,
}

/// Reads wire `name`'s counters without attaching to it. Also reclaims the
/// entries of readers that have died, so the writer's view stays accurate.
pub fn inspect(name: &str) -> Result<WireStatus, WireError> {
    use std::sync::atomic::Ordering::Acquire;
    let seg = Segment::open_for_inspection(name)?;
    ring::sweep_dead(&seg);
    let mut readers = Vec::new();
    for r in 0..seg.geo.max_readers {
        if seg.r32(r, rdr::STATE).load(Acquire) != R_ACTIVE {
            continue;
        }
        let pid = seg.r32(r, rdr::PID).load(Acquire);
        let start = seg.r64(r, rdr::START).load(Acquire);
        let read = seg.r64(r, rdr::FRAMES_READ).load(Acquire);
        let lat = seg.r64(r, rdr::LATENCY_SUM_NS).load(Acquire);
        readers.push(ReaderStatus {
            pid,
            alive: ProcId { pid, start }.is_alive(),
            frames_read: read,
            frames_skipped: seg.r64(r, rdr::FRAMES_SKIPPED).load(Acquire),
            last_read_ns: seg.r64(r, rdr::LAST_READ_NS).load(Acquire),
            mean_latency_ns: lat.checked_div(read).unwrap_or(0),
        });
    }
    let committed = seg.h64(hdr::COMMITTED).load(Acquire);
    let last_image = (committed > 0)
        .then(|| {
            let s = seg.order(committed).load(Acquire);
            (
                seg.m32(s, meta::WIDTH).load(Acquire),
                seg.m32(s, meta::HEIGHT).load(Acquire),
                FourCC(seg.m32(s, meta::FOURCC).load(Acquire)),
            )
        })
        .filter(|(w, _, _)| *w > 0);
    Ok(WireStatus {
        name: name.to_string(),
        policy: seg.policy,
        kind: seg.kind,
        slot_size: seg.geo.slot_size,
        slot_count: seg.geo.slot_count,
        total_size: seg.geo.total_size,
        committed,
        frames_written: seg.h64(hdr::FRAMES_WRITTEN).load(Acquire),
        last_commit_ns: seg.h64(hdr::LAST_COMMIT_NS).load(Acquire),
        writer_pid: seg.h32(hdr::WRITER_PID).load(Acquire),
        writer_attaches: seg.h64(hdr::WRITER_ATTACHES).load(Acquire),
        writer_timeouts: seg.h64(hdr::WRITER_TIMEOUTS).load(Acquire),
        readers,
        last_image,
    })
}

/// Frees whatever dead processes hold in wire `name` (reader entries, the
/// writer's place). The supervisor calls it when it reaps a block, so a
/// crashed reader never pins a slot or stalls a queue.
pub fn reclaim_dead(name: &str) -> Result<(), WireError> {
    let seg = Segment::open_for_inspection(name)?;
    ring::sweep_dead(&seg);
    Ok(())
}
