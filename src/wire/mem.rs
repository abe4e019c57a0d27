//! The memory the slot protocol runs over.
//!
//! `ring.rs` is written against [`Memory`], not against a mapping, so that
//! the very same protocol code runs over a real shared-memory segment in
//! production ([`Shm`]) and over model-checked atomics in `model.rs` (run
//! with `--cfg loom`), where every interleaving and every weak-memory
//! outcome the orderings allow is explored. Everything the protocol does to
//! shared state goes through this trait: atomics, the `SeqCst` fences that
//! make its store-then-load pairs work, semaphores, the payload bytes, the
//! per-entry liveness locks, the clock and the test hooks.

use std::ops::{Deref, DerefMut};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::hook::{self, HookPoint};
use framewire_sys::proc::{ProcId, monotonic_ns, pid_namespace};
use framewire_sys::shm::{self, Mapping};

/// The atomic operations the protocol uses on a 32- or 64-bit word.
pub trait Atomic<T> {
    /// Atomic load.
    fn load(&self, order: Ordering) -> T;
    /// Atomic store.
    fn store(&self, v: T, order: Ordering);
    /// Atomic swap; returns the old value.
    fn swap(&self, v: T, order: Ordering) -> T;
    /// Atomic compare-and-swap.
    fn compare_exchange(&self, current: T, new: T, success: Ordering, failure: Ordering) -> Result<T, T>;
    /// Atomic add; returns the old value.
    fn fetch_add(&self, v: T, order: Ordering) -> T;
}

macro_rules! impl_atomic {
    ($a:ty, $t:ty) => {
        impl $crate::mem::Atomic<$t> for $a {
            #[inline(always)]
            fn load(&self, order: Ordering) -> $t {
                <$a>::load(self, order)
            }
            #[inline(always)]
            fn store(&self, v: $t, order: Ordering) {
                <$a>::store(self, v, order)
            }
            #[inline(always)]
            fn swap(&self, v: $t, order: Ordering) -> $t {
                <$a>::swap(self, v, order)
            }
            #[inline(always)]
            fn compare_exchange(&self, c: $t, n: $t, s: Ordering, f: Ordering) -> Result<$t, $t> {
                <$a>::compare_exchange(self, c, n, s, f)
            }
            #[inline(always)]
            fn fetch_add(&self, v: $t, order: Ordering) -> $t {
                <$a>::fetch_add(self, v, order)
            }
        }
    };
}
impl_atomic!(AtomicU32, u32);
impl_atomic!(AtomicU64, u64);
#[cfg(loom)]
pub(crate) use impl_atomic;

/// Who a process is, as recorded in the segment for `framewire status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Pid in the process's own pid namespace.
    pub pid: u32,
    /// Start time, clock ticks since boot.
    pub start: u64,
    /// Pid namespace (inode number of `/proc/self/ns/pid`).
    pub pid_ns: u64,
}

impl Identity {
    /// The calling process.
    pub fn current() -> Identity {
        let id = ProcId::current();
        Identity { pid: id.pid, start: id.start, pid_ns: pid_namespace() }
    }
}

/// Deliberate breakages of the protocol, for showing that the model check
/// finds the races they open. Production memory never enables one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// The writer does not re-check pins after swapping a slot to `LOANED`.
    NoPinRecheck,
    /// No `SeqCst` fence between the reader's pin and its load of `SEQ`.
    NoReaderFence,
    /// No `SeqCst` fence between the writer's swap to `LOANED` and its pin
    /// re-check.
    NoWriterFence,
    /// The reader releases its pin with a relaxed store instead of release.
    RelaxedUnpin,
    /// No `SeqCst` fence between a reader's `WAITING` store and its last
    /// look for a frame before it sleeps.
    NoWaitFence,
}

/// Shared memory as the slot protocol sees it: one handle per attached
/// writer, reader or inspecting tool (for a real segment: one open file
/// description and one mapping).
pub trait Memory {
    /// A 32-bit atomic word in the segment.
    type U32: Atomic<u32>;
    /// A 64-bit atomic word in the segment.
    type U64: Atomic<u64>;
    /// A payload borrowed for reading.
    type Bytes<'a>: Deref<Target = [u8]>
    where
        Self: 'a;
    /// A payload borrowed for writing.
    type BytesMut<'a>: DerefMut<Target = [u8]>
    where
        Self: 'a;

    /// The 32-bit word at byte `off` (4-byte aligned).
    fn u32_at(&self, off: usize) -> &Self::U32;
    /// The 64-bit word at byte `off` (8-byte aligned).
    fn u64_at(&self, off: usize) -> &Self::U64;
    /// A sequentially consistent fence.
    fn fence();
    /// Posts the semaphore at `off`.
    fn sem_post(&self, off: usize);
    /// Waits on the semaphore at `off` until posted or `deadline_ns` passes
    /// (`CLOCK_MONOTONIC`); may return early. True if it was posted.
    fn sem_wait_until(&self, off: usize, deadline_ns: u64) -> bool;
    /// The `len` payload bytes at `off`, shared.
    ///
    /// # Safety
    /// No one may write them while the result lives (the slot is pinned).
    unsafe fn bytes(&self, off: usize, len: usize) -> Self::Bytes<'_>;
    /// The `len` payload bytes at `off`, exclusively.
    ///
    /// # Safety
    /// No one else may read or write them while the result lives (the slot
    /// is loaned to this writer).
    unsafe fn bytes_mut(&self, off: usize, len: usize) -> Self::BytesMut<'_>;
    /// The address of the `len` bytes at `off`, for a driver to fill.
    fn addr_of(&self, off: usize, len: usize) -> usize;
    /// Takes this handle's lock on byte `off` without waiting; false if
    /// another handle holds it. A lock is released by [`Memory::unlock`], by
    /// dropping the handle, or by the death of its process.
    fn try_lock(&self, off: usize) -> bool;
    /// Releases this handle's lock on byte `off`.
    fn unlock(&self, off: usize);
    /// `CLOCK_MONOTONIC` in ns.
    fn now_ns(&self) -> u64;
    /// The process this handle belongs to.
    fn identity(&self) -> Identity;
    /// A test hook point (see `hook`).
    fn hook(&self, point: HookPoint);
    /// Whether this handle's process was killed (model check only: a killed
    /// process runs no destructors, so `Drop` impls then leave the segment
    /// alone; always false for real memory).
    #[inline(always)]
    fn killed(&self) -> bool {
        false
    }
    /// Whether the protocol should break itself in way `m` (model check
    /// only; always false for real memory, so the checks compile away).
    #[inline(always)]
    fn mutant(&self, _m: Mutant) -> bool {
        false
    }
}

/// A real wire segment: its mapping and the open file description whose
/// byte locks say who is alive.
pub struct Shm {
    pub(crate) map: Mapping,
    pub(crate) fd: OwnedFd,
    pub(crate) me: Identity,
}

impl Memory for Shm {
    type U32 = AtomicU32;
    type U64 = AtomicU64;
    type Bytes<'a> = &'a [u8];
    type BytesMut<'a> = &'a mut [u8];

    #[inline(always)]
    fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.map.atomic_u32(off)
    }
    #[inline(always)]
    fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.map.atomic_u64(off)
    }
    #[inline(always)]
    fn fence() {
        std::sync::atomic::fence(Ordering::SeqCst);
    }
    fn sem_post(&self, off: usize) {
        self.map.sem_post(off)
    }
    fn sem_wait_until(&self, off: usize, deadline_ns: u64) -> bool {
        self.map.sem_wait_until(off, deadline_ns)
    }
    // SAFETY: the contract is the trait's (see `# Safety` on `Memory::bytes`).
    unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: the caller guarantees what `Mapping::bytes` requires.
        unsafe { self.map.bytes(off, len) }
    }
    // SAFETY: the contract is the trait's (see `Memory::bytes_mut`).
    unsafe fn bytes_mut(&self, off: usize, len: usize) -> &mut [u8] {
        // SAFETY: the caller guarantees what `Mapping::bytes_mut` requires.
        unsafe { self.map.bytes_mut(off, len) }
    }
    fn addr_of(&self, off: usize, len: usize) -> usize {
        self.map.addr_of(off, len)
    }
    fn try_lock(&self, off: usize) -> bool {
        // An error other than "held elsewhere" (there is none for a valid
        // descriptor and offset) counts as "held": never reclaim on doubt.
        shm::try_lock_byte(&self.fd, off as u64).unwrap_or(false)
    }
    fn unlock(&self, off: usize) {
        let _ = shm::unlock_byte(&self.fd, off as u64);
    }
    fn now_ns(&self) -> u64 {
        monotonic_ns()
    }
    fn identity(&self) -> Identity {
        self.me
    }
    fn hook(&self, point: HookPoint) {
        hook::reached(point)
    }
}
