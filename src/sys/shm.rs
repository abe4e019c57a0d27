//! POSIX shared memory: segments, their mapping, and process-shared
//! semaphores that live inside them.
//!
//! A segment is created with `shm_open(O_CREAT | O_EXCL)`, sized with
//! `ftruncate`, its memory reserved with `posix_fallocate` (so a full
//! `/dev/shm` fails here and not later with `SIGBUS`), and mapped shared with
//! `MAP_POPULATE` so that no page fault lands on the frame path.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::{MmapMut, MmapOptions};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::{Mode, fchmod, fstat};

/// Where Linux keeps POSIX shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

/// Bytes reserved for one semaphore inside a segment. glibc's `sem_t` is 32
/// bytes on 64-bit targets and 16 on 32-bit ones; the layout reserves 32.
pub const SEM_BYTES: usize = 32;
const _: () = assert!(std::mem::size_of::<libc::sem_t>() <= SEM_BYTES);

/// Why a segment could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// A segment of that name exists already.
    Exists,
    /// `posix_fallocate` found too little room in the shared-memory filesystem.
    NoSpace {
        /// Bytes asked for.
        needed: u64,
        /// Bytes free in `/dev/shm` at the time.
        free: u64,
    },
    /// Any other OS error.
    Os(Errno),
}

/// Creates segment `name` (without the leading `/`) of `size` bytes with
/// permission bits `mode`, reserving its memory. On failure nothing is left
/// behind.
pub fn create(name: &str, size: u64, mode: u32) -> Result<OwnedFd, CreateError> {
    let path = format!("/{name}");
    let fd = shm_open(
        path.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| if e == Errno::EEXIST { CreateError::Exists } else { CreateError::Os(e) })?;
    let cleanup = |e: CreateError| {
        let _ = shm_unlink(path.as_str());
        e
    };
    // The umask may have cleared bits the configuration asked for (group
    // access); set them explicitly.
    fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| cleanup(CreateError::Os(e)))?;
    nix::unistd::ftruncate(&fd, size as i64).map_err(|e| cleanup(CreateError::Os(e)))?;
    match nix::fcntl::posix_fallocate(&fd, 0, size as i64) {
        Ok(()) => Ok(fd),
        Err(Errno::ENOSPC) => {
            let free = free_space().unwrap_or(0);
            Err(cleanup(CreateError::NoSpace { needed: size, free }))
        }
        Err(e) => Err(cleanup(CreateError::Os(e))),
    }
}

/// Opens existing segment `name` read-write.
pub fn open(name: &str) -> Result<OwnedFd, Errno> {
    shm_open(format!("/{name}").as_str(), OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
}

/// Removes segment `name`; mappings stay valid until unmapped.
pub fn unlink(name: &str) -> Result<(), Errno> {
    shm_unlink(format!("/{name}").as_str())
}

/// Size in bytes and owner uid of an open segment.
pub fn size_and_owner(fd: &OwnedFd) -> Result<(u64, u32), Errno> {
    let st = fstat(fd.as_fd())?;
    Ok((st.st_size as u64, st.st_uid))
}

/// Bytes free in `/dev/shm`.
pub fn free_space() -> Result<u64, Errno> {
    space(SHM_DIR).map(|(_, free)| free)
}

/// Total and available bytes of the file system holding `path`. (The casts
/// are no-ops on 64-bit Linux and widen on 32-bit boards.)
pub fn space(path: impl AsRef<std::path::Path>) -> Result<(u64, u64), Errno> {
    let st = nix::sys::statvfs::statvfs(path.as_ref())?;
    let block = st.fragment_size() as u64;
    Ok((st.blocks() as u64 * block, st.blocks_available() as u64 * block))
}

/// Names of the segments in `/dev/shm` that start with `prefix` and belong
/// to user `uid`.
pub fn list(prefix: &str, uid: u32) -> io::Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) {
            continue;
        }
        match entry.metadata() {
            Ok(m) if m.uid() == uid && m.is_file() => out.push(name.to_string()),
            _ => {}
        }
    }
    out.sort();
    Ok(out)
}

/// The real user id of the calling process.
pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// A shared, read-write mapping of a whole segment.
///
/// It hands out atomics and semaphores at byte offsets (checked for bounds
/// and alignment) and, through two `unsafe fn`s, plain byte slices whose
/// exclusivity the wire protocol guarantees.
pub struct Mapping {
    map: MmapMut,
}

impl Mapping {
    /// Maps all `len` bytes of `fd` shared and read-write, prefaulting the
    /// pages so the frame path never takes a page fault.
    pub fn new(fd: &OwnedFd, len: u64) -> io::Result<Mapping> {
        Mapping::with_populate(fd, len, true)
    }

    /// Maps like [`Mapping::new`], prefaulting only if `populate` (tools that
    /// read a wire's counters touch a few pages, not its payloads).
    pub fn with_populate(fd: &OwnedFd, len: u64, populate: bool) -> io::Result<Mapping> {
        let file = File::from(fd.try_clone()?);
        let mut opts = MmapOptions::new();
        opts.len(len as usize);
        if populate {
            opts.populate();
        }
        // SAFETY: the mapping aliases memory other processes write. memmap2
        // requires that the file is not truncated while mapped: framewire never
        // truncates a segment after creation (it only unlinks it, which keeps
        // the memory alive until every mapping is gone). All concurrent access
        // goes through atomics, semaphores, or slices whose exclusivity the
        // wire protocol guarantees.
        let map = unsafe { opts.map_mut(&file)? };
        Ok(Mapping { map })
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the mapping is empty (never, for a valid segment).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn ptr_at(&self, offset: usize, size: usize, align: usize) -> *mut u8 {
        assert!(
            offset.checked_add(size).is_some_and(|end| end <= self.map.len()),
            "shared-memory access at {offset}+{size} past the end ({})",
            self.map.len()
        );
        let ptr = self.map.as_ptr().wrapping_add(offset) as *mut u8;
        assert!((ptr as usize).is_multiple_of(align), "misaligned shared-memory access at {offset}");
        ptr
    }

    /// The 64-bit atomic at `offset` (8-byte aligned).
    pub fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        let ptr = self.ptr_at(offset, 8, 8);
        // SAFETY: the pointer is in bounds and aligned (checked above), lives as
        // long as `self`, and atomics may be shared freely, also with other
        // processes mapping the same memory.
        unsafe { AtomicU64::from_ptr(ptr as *mut u64) }
    }

    /// The 32-bit atomic at `offset` (4-byte aligned).
    pub fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        let ptr = self.ptr_at(offset, 4, 4);
        // SAFETY: as for `atomic_u64`.
        unsafe { AtomicU32::from_ptr(ptr as *mut u32) }
    }

    /// Reads bytes at `offset` that are written only before the segment is
    /// published (the header's constant part).
    pub fn read_const(&self, offset: usize, len: usize) -> Vec<u8> {
        self.map[offset..offset + len].to_vec()
    }

    /// Writes bytes during initialisation, before the segment is published.
    pub fn write_init(&mut self, offset: usize, bytes: &[u8]) {
        self.map[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Initialises a process-shared semaphore with value 0 at `offset`.
    pub fn sem_init(&self, offset: usize) -> Result<(), Errno> {
        let ptr = self.ptr_at(offset, SEM_BYTES, 8) as *mut libc::sem_t;
        // SAFETY: `ptr` is in bounds and aligned for sem_t (checked above) and
        // lives in a MAP_SHARED mapping, as a pshared semaphore must. It is only
        // (re)initialised while no process can be waiting on it: at segment
        // creation, or by a claimant that owns the entry holding it.
        Errno::result(unsafe { libc::sem_init(ptr, 1, 0) }).map(drop)
    }

    /// Posts the semaphore at `offset`.
    pub fn sem_post(&self, offset: usize) {
        let ptr = self.ptr_at(offset, SEM_BYTES, 8) as *mut libc::sem_t;
        // SAFETY: the semaphore was initialised by `sem_init` before the segment
        // was published; sem_post is async-signal-safe and thread-safe. It can
        // only fail with EOVERFLOW, which merely means waiters are due anyway.
        unsafe { libc::sem_post(ptr) };
    }

    /// Takes the semaphore at `offset` without blocking; true if it was taken.
    pub fn sem_try(&self, offset: usize) -> bool {
        let ptr = self.ptr_at(offset, SEM_BYTES, 8) as *mut libc::sem_t;
        // SAFETY: as for `sem_post`.
        unsafe { libc::sem_trywait(ptr) == 0 }
    }

    /// Waits on the semaphore at `offset` until `deadline_ns` on
    /// `CLOCK_MONOTONIC` (immune to wall-clock jumps). Returns true if it was
    /// taken, false on timeout; a signal counts as a spurious wake-up.
    pub fn sem_wait_until(&self, offset: usize, deadline_ns: u64) -> bool {
        let ptr = self.ptr_at(offset, SEM_BYTES, 8) as *mut libc::sem_t;
        let ts = libc::timespec {
            tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: the semaphore was initialised before publication and `ts` is
        // a valid timespec on the stack for the duration of the call.
        let r = unsafe { sem_clockwait(ptr, libc::CLOCK_MONOTONIC, &ts) };
        r == 0
    }

    /// The bytes at `offset..offset + len`, shared.
    ///
    /// # Safety
    /// No process may write these bytes while the returned slice lives. The
    /// wire protocol guarantees this for a slot a reader has pinned.
    pub unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        let ptr = self.ptr_at(offset, len, 1);
        // SAFETY: in bounds (checked); the caller guarantees no concurrent writer.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }

    /// The bytes at `offset..offset + len`, exclusively.
    ///
    /// # Safety
    /// No other process or slice may read or write these bytes while the
    /// returned slice lives. The wire protocol guarantees this for a slot the
    /// writer has loaned.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        let ptr = self.ptr_at(offset, len, 1);
        // SAFETY: in bounds (checked); the caller guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    /// The address of byte `offset`, for handing a slot to a driver
    /// (V4L2 USERPTR) that fills it while the writer holds the loan.
    pub fn addr_of(&self, offset: usize, len: usize) -> usize {
        self.ptr_at(offset, len, 1) as usize
    }
}

unsafe extern "C" {
    // glibc 2.30+ (Debian 11 and later, Raspberry Pi OS bullseye, JetPack 5).
    // The libc crate does not declare it; its signature is from semaphore.h.
    fn sem_clockwait(sem: *mut libc::sem_t, clock: libc::clockid_t, abstime: *const libc::timespec) -> libc::c_int;
}
