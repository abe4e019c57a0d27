//! Waiting for a reader's next frame from another thread, so that a block
//! can wait on several inputs at once (`framewire_sdk::select::Select`).
//!
//! A [`WakeHandle`] maps the wire a second time (header and reader table
//! only; the payloads are not touched) and sleeps on the reader entry's own
//! semaphore, with the same flag-then-check protocol as [`Reader::read`], so
//! a writer's post is never lost. It never reads a frame: the reader does
//! that with `try_read` once the handle says one is ready.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use super::super::layout::*;
use super::super::mem::{Memory, Shm};
use super::super::{Segment, WireError};
use super::Reader;

/// Waits for frames of one reader entry without borrowing the [`Reader`].
/// While a handle is in use, read the reader with `try_read` only: a
/// blocking `read` would compete with the handle for the same wake-ups.
pub struct WakeHandle {
    seg: Segment,
    entry: u32,
}

impl Reader<Shm> {
    /// A handle that waits for this reader's next frame from any thread.
    pub fn wake_handle(&self) -> Result<WakeHandle, WireError> {
        // Its own mapping; it never takes a lock, so it is not a place.
        let seg = Segment::open_for_reclaim(&self.seg.name)?;
        Ok(WakeHandle { seg, entry: self.entry })
    }
}

impl WakeHandle {
    /// Whether a frame newer than the last one the reader returned is ready.
    pub fn ready(&self) -> bool {
        // SYNC: acquire; pairs with the writer's release store of COMMITTED
        // (and, after `wait_until`'s WAITING store and fence, forms the
        // Dekker pair with the writer's fence and WAITING load).
        let committed = self.seg.h64(hdr::COMMITTED).load(Acquire);
        // SYNC: acquire; pairs with the reader's release store of CURSOR.
        committed >= self.seg.r64(self.entry, rdr::CURSOR).load(Acquire)
    }

    /// Sleeps until a frame is ready or `deadline_ns` (`CLOCK_MONOTONIC`)
    /// passes; returns whether one is ready.
    pub fn wait_until(&self, deadline_ns: u64) -> bool {
        let waiting = self.seg.r32(self.entry, rdr::WAITING);
        waiting.store(1, Relaxed);
        // SYNC: SeqCst fence between the WAITING store and `ready`'s load of
        // COMMITTED: the writer stores COMMITTED, fences, then loads WAITING;
        // one of us sees the other.
        Shm::fence();
        if self.ready() {
            waiting.store(0, Relaxed);
            return true;
        }
        self.seg.mem.sem_wait_until(self.seg.geo.reader(self.entry) + rdr::SEM, deadline_ns);
        waiting.store(0, Relaxed);
        self.ready()
    }
}
