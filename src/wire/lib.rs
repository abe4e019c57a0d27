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
//! orderings are in `ring.rs`, written over the [`mem::Memory`] trait so
//! that the model check (`model.rs`, run with `--cfg loom`) runs the very
//! same code. Image geometry ([`image`]) belongs here too: a slot's metadata
//! records width, height, stride and FourCC.
//!
//! This crate is the wire ABI: what a reader or writer in C, Python or any
//! other language must match (`src/wire/README.md` restates it byte by byte,
//! with the protocol and its crash-safety guarantee).
//!
//! May depend on: `framewire-sys` (every OS call), `nix`, `serde`,
//! `thiserror`. Never on blocks, the SDK or the runtime.
#![warn(missing_docs)]

pub mod hook;
pub mod image;
pub mod layout;
pub mod mem;
#[cfg(all(test, loom))]
mod model;
pub mod payload;
mod ring;

use std::fmt;
use std::time::Duration;

use nix::errno::Errno;

use crate::image::{FourCC, ImageFormat};
use framewire_sys::proc::pid_namespace;
use framewire_sys::shm::{self, Mapping, ReadOnlyMapping};
use mem::{Identity, Memory, Shm};
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
    /// A header field holds a value no framewire writes: the segment is
    /// damaged (or was written by something else).
    #[error(
        "wire {name} is damaged: header field `{field}` is {value}, expected {expected}; stop the pipeline and start it again (`framewire run` removes stale wires), or delete /dev/shm/{name}"
    )]
    Corrupt {
        /// The wire.
        name: String,
        /// The field, as named in `src/wire/README.md`.
        field: &'static str,
        /// The value found.
        value: u64,
        /// What it must be.
        expected: String,
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
    if cfg.max_readers == 0 || cfg.max_readers > layout::MAX_READERS {
        return bad(format!("readers must be 1 to {}, not {}", layout::MAX_READERS, cfg.max_readers));
    }
    let min = WireConfig::min_slots(cfg.policy, cfg.max_readers);
    if cfg.slot_count < min {
        return bad(format!(
            "{} slots are too few for policy {} with {} readers; use at least {min}",
            cfg.slot_count, cfg.policy, cfg.max_readers
        ));
    }
    if cfg.slot_count > layout::MAX_SLOTS {
        return bad(format!("{} slots are too many; use at most {}", cfg.slot_count, layout::MAX_SLOTS));
    }
    let Some(geo) = Geometry::new(cfg.slot_size, cfg.slot_count, cfg.max_readers, page_size()) else {
        return bad(format!(
            "{} slots of {} bytes do not fit in this machine's address space; use fewer or smaller slots",
            cfg.slot_count, cfg.slot_size
        ));
    };
    let fd = shm::create(name, geo.total_size, cfg.mode).map_err(|e| match e {
        shm::CreateError::Exists => WireError::Exists { name: name.to_string() },
        shm::CreateError::NoSpace { needed, free } => WireError::NoSpace { name: name.to_string(), needed, free },
        shm::CreateError::Os(e) => WireError::os(name, "creating the segment", e),
    })?;
    let init = || -> Result<(), WireError> {
        let mut m = Mapping::new(&fd, geo.total_size).map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
        // The segment is fresh from ftruncate, so all zero: state is
        // STATE_INITIALISING until the release store at the end.
        let me = Identity::current();
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

/// Waits (up to 2 s) until the creator has marked the segment ready, then
/// reads and validates its header. `u32_at`/`u64_at` read the mapping;
/// `state` loads the header's state word with acquire ordering.
fn validate_header(
    name: &str,
    size: u64,
    state: impl Fn() -> u32,
    u32_at: impl Fn(usize) -> u32,
    u64_at: impl Fn(usize) -> u64,
    bytes_at: impl Fn(usize, usize) -> Vec<u8>,
) -> Result<(Geometry, Policy, PayloadType), WireError> {
    let not_a_wire = |reason: String| WireError::NotAWire { name: name.to_string(), reason };
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while state() != STATE_READY {
        if std::time::Instant::now() > deadline {
            return Err(not_a_wire(
                "still initialising after 2 s (its creator probably died; `framewire run` purges it)".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let h = Header::parse(&u32_at, &u64_at, size).map_err(|e| match e {
        HeaderError::BadMagic => not_a_wire("bad magic".into()),
        HeaderError::Version(found) => WireError::Version { name: name.to_string(), found, expected: LAYOUT_VERSION },
        HeaderError::Field { field, value, expected } => {
            WireError::Corrupt { name: name.to_string(), field, value, expected }
        }
    })?;
    let policy = Policy::from_u32(h.policy).expect("Header::parse accepts only 0 and 1");
    let corrupt = |field: &'static str, value: u32, expected: String| WireError::Corrupt {
        name: name.to_string(),
        field,
        value: value.into(),
        expected,
    };
    if h.kind > payload::KIND_MESSAGE {
        return Err(corrupt("payload kind", h.kind, "0 (bytes or images) or 1 (messages)".into()));
    }
    let msg_size = u32_at(hdr::MSG_SIZE);
    let kind = PayloadType::from_header(h.kind, &bytes_at(hdr::TYPE_NAME, hdr::TYPE_NAME_LEN), msg_size)
        .map_err(|why| corrupt("message size", msg_size, format!("a valid message type ({why})")))?;
    Ok((h.geo, policy, kind))
}

/// An open, validated wire segment: a handle on its memory plus its geometry.
pub(crate) struct Segment<M: Memory = Shm> {
    pub(crate) mem: M,
    pub(crate) geo: Geometry,
    pub(crate) name: String,
    pub(crate) policy: Policy,
}

impl Segment<Shm> {
    /// Opens and validates wire `name`, waiting briefly if its creator is
    /// still initialising it.
    pub(crate) fn open(name: &str, expect: &Expect) -> Result<Segment, WireError> {
        Segment::open_with(name, expect, true)
    }

    /// Opens to reclaim dead processes' places: no prefaulting of payloads.
    pub(crate) fn open_for_reclaim(name: &str) -> Result<Segment, WireError> {
        Segment::open_with(name, &Expect::default(), false)
    }

    fn open_with(name: &str, expect: &Expect, populate: bool) -> Result<Segment, WireError> {
        let (fd, size) = open_segment(name, false)?;
        // Map only the header first: a damaged header must not make us map
        // (and, with populate, fault in) whatever size the file claims.
        let map = Mapping::with_populate(&fd, size, false).map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
        let u64_at = |o: usize| u64::from_le_bytes(map.read_const(o, 8).try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(map.read_const(o, 4).try_into().unwrap());
        // SYNC: acquire; pairs with the release store of STATE_READY in `create`.
        let state = || map.atomic_u32(hdr::STATE).load(std::sync::atomic::Ordering::Acquire);
        let bytes_at = |o: usize, n: usize| map.read_const(o, n);
        let (geo, policy, kind) = validate_header(name, size, state, u32_at, u64_at, bytes_at)?;
        drop(map);
        let map = Mapping::with_populate(&fd, geo.total_size, populate)
            .map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
        let seg = Segment { mem: Shm { map, fd, me: Identity::current() }, geo, name: name.to_string(), policy };
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
        Ok(seg)
    }
}

impl<M: Memory> Segment<M> {
    pub(crate) fn h64(&self, off: usize) -> &M::U64 {
        self.mem.u64_at(off)
    }
    pub(crate) fn h32(&self, off: usize) -> &M::U32 {
        self.mem.u32_at(off)
    }
    pub(crate) fn m64(&self, slot: u32, field: usize) -> &M::U64 {
        self.mem.u64_at(self.geo.meta(slot) + field)
    }
    pub(crate) fn m32(&self, slot: u32, field: usize) -> &M::U32 {
        self.mem.u32_at(self.geo.meta(slot) + field)
    }
    pub(crate) fn r64(&self, r: u32, field: usize) -> &M::U64 {
        self.mem.u64_at(self.geo.reader(r) + field)
    }
    pub(crate) fn r32(&self, r: u32, field: usize) -> &M::U32 {
        self.mem.u32_at(self.geo.reader(r) + field)
    }
    pub(crate) fn order(&self, seq: u64) -> &M::U32 {
        self.mem.u32_at(self.geo.order(seq))
    }
}

/// Opens segment `name` (read-only or read-write, never following a
/// symlink) and returns it with its size, refusing a file too small to hold
/// a header.
fn open_segment(name: &str, read_only: bool) -> Result<(std::os::fd::OwnedFd, u64), WireError> {
    let fd = if read_only { shm::open_readonly(name) } else { shm::open(name) }.map_err(|e| match e {
        Errno::ENOENT => WireError::NotFound { name: name.to_string() },
        e => WireError::os(name, "shm_open", e),
    })?;
    let (size, _) = shm::size_and_owner(&fd).map_err(|e| WireError::os(name, "fstat", e))?;
    if size < HEADER_SIZE as u64 || usize::try_from(size).is_err() {
        return Err(WireError::NotAWire { name: name.to_string(), reason: format!("{size} bytes long") });
    }
    Ok((fd, size))
}

/// A reader's counters as `framewire status` shows them.
#[derive(Clone, Debug)]
pub struct ReaderStatus {
    /// Reader pid, in the reader's own pid namespace.
    pub pid: u32,
    /// Whether the reader is in this process's pid namespace (if not, `pid`
    /// numbers a process of another namespace, e.g. a container's).
    pub same_pid_namespace: bool,
    /// Whether the process still holds its entry (its lock is held); a dead
    /// reader's entry stays until the supervisor or a waiting writer
    /// reclaims it.
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
    /// Writer pid in its own pid namespace (0 = none attached).
    pub writer_pid: u32,
    /// Whether the writer that recorded `writer_pid` is still attached.
    pub writer_alive: bool,
    /// Times a writer attached (1 + restarts).
    pub writer_attaches: u64,
    /// Times a queue writer gave up waiting for space.
    pub writer_timeouts: u64,
    /// Reader entries in use (attached readers, and dead ones not yet
    /// reclaimed: see [`ReaderStatus::alive`]).
    pub readers: Vec<ReaderStatus>,
    /// Image geometry of the newest frame, if any.
    pub last_image: Option<(u32, u32, FourCC)>,
}

/// Reads wire `name`'s counters without attaching to it and without
/// changing anything: the segment is opened and mapped read-only, and
/// liveness is only looked at (`F_OFD_GETLK`), never acted on.
pub fn inspect(name: &str) -> Result<WireStatus, WireError> {
    use std::sync::atomic::{Ordering::Acquire, fence};
    let (fd, size) = open_segment(name, true)?;
    let map = ReadOnlyMapping::new(&fd, size).map_err(|e| WireError::os(name, "mmap", io_errno(&e)))?;
    // SYNC: relaxed load then acquire fence; pairs with the release store of
    // STATE_READY in `create`.
    let state = || {
        let s = map.load_u32(hdr::STATE);
        fence(Acquire);
        s
    };
    let (geo, policy, kind) =
        validate_header(name, size, state, |o| map.load_u32(o), |o| map.load_u64(o), |o, n| map.read_const(o, n))?;
    // Every load below is relaxed; this fence after them would order them
    // against nothing, so the figures are a snapshot, each word exact.
    let held = |off: usize| shm::byte_locked(&fd, off as u64).unwrap_or(true);
    let my_ns = pid_namespace();
    let mut readers = Vec::new();
    for r in 0..geo.max_readers {
        let e = geo.reader(r);
        if map.load_u32(e + rdr::STATE) != R_ACTIVE {
            continue;
        }
        let read = map.load_u64(e + rdr::FRAMES_READ);
        let lat = map.load_u64(e + rdr::LATENCY_SUM_NS);
        readers.push(ReaderStatus {
            pid: map.load_u32(e + rdr::PID),
            same_pid_namespace: map.load_u64(e + rdr::PIDNS) == my_ns,
            alive: held(geo.reader_lock(r)),
            frames_read: read,
            frames_skipped: map.load_u64(e + rdr::FRAMES_SKIPPED),
            last_read_ns: map.load_u64(e + rdr::LAST_READ_NS),
            mean_latency_ns: lat.checked_div(read).unwrap_or(0),
        });
    }
    let committed = map.load_u64(hdr::COMMITTED);
    let last_image = (committed > 0)
        .then(|| map.load_u32(geo.order(committed)))
        .filter(|&s| s < geo.slot_count)
        .map(|s| {
            let m = geo.meta(s);
            (map.load_u32(m + meta::WIDTH), map.load_u32(m + meta::HEIGHT), FourCC(map.load_u32(m + meta::FOURCC)))
        })
        .filter(|(w, _, _)| *w > 0);
    let writer_pid = map.load_u32(hdr::WRITER_PID);
    Ok(WireStatus {
        name: name.to_string(),
        policy,
        kind,
        slot_size: geo.slot_size,
        slot_count: geo.slot_count,
        total_size: geo.total_size,
        committed,
        frames_written: map.load_u64(hdr::FRAMES_WRITTEN),
        last_commit_ns: map.load_u64(hdr::LAST_COMMIT_NS),
        writer_pid,
        writer_alive: writer_pid != 0 && held(WRITER_LOCK),
        writer_attaches: map.load_u64(hdr::WRITER_ATTACHES),
        writer_timeouts: map.load_u64(hdr::WRITER_TIMEOUTS),
        readers,
        last_image,
    })
}

/// What [`reclaim_dead`] freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Reader entries of processes that had gone.
    pub readers: u32,
    /// Whether the writer's place was held by a process that had gone.
    pub writer: bool,
}

/// Frees whatever departed processes hold in wire `name` (reader entries,
/// the writer's place). The supervisor calls it when it reaps a block, so a
/// crashed reader never pins a slot or stalls a queue. It frees only places
/// whose lock no open file description holds any more, so it never touches
/// a live process's place, in whatever pid namespace that process runs.
pub fn reclaim_dead(name: &str) -> Result<Reclaimed, WireError> {
    let seg = Segment::open_for_reclaim(name)?;
    Ok(ring::sweep_dead(&seg, None))
}
