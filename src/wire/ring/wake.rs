//! Waiting for a reader's next frame from another thread, so that a block
//! can wait on several inputs at once (`framewire_sdk::select::Select`).
//!
//! A [`WakeHandle`] maps the wire a second time (header and reader table
//! only; the payloads are not touched) and sleeps on the reader entry's own
//! semaphore, with the same flag-then-check protocol as [`Reader::read`], so
//! a writer's post is never lost. It never reads a frame: the reader does
//! that with `try_read` once the handle says one is ready.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use super::super::layout::*;
use super::super::{Segment, WireError};
use super::Reader;

/// Waits for frames of one reader entry without borrowing the [`Reader`].
/// While a handle is in use, read the reader with `try_read` only: a
/// blocking `read` would compete with the handle for the same wake-ups.
pub struct WakeHandle {
    seg: Segment,
    entry: u32,
}

impl Reader {
    /// A handle that waits for this reader's next frame from any thread.
    pub fn wake_handle(&self) -> Result<WakeHandle, WireError> {
        let seg = Segment::open_for_inspection(&self.seg.name)?;
        Ok(WakeHandle { seg, entry: self.entry })
    }
}

impl WakeHandle {
    /// Whether a frame newer than the last one the reader returned is ready.
    pub fn ready(&self) -> bool {
        // SYNC: SeqCst load of COMMITTED; pairs with the writer's SeqCst
        // store (and, after `wait`'s WAITING store, forms the Dekker pair
        // with the writer's WAITING swap).
        let committed = self.seg.h64(hdr::COMMITTED).load(SeqCst);
        committed >= self.seg.r64(self.entry, rdr::CURSOR).load(SeqCst)
    }

    /// Sleeps until a frame is ready or `deadline_ns` (`CLOCK_MONOTONIC`)
    /// passes; returns whether one is ready.
    pub fn wait_until(&self, deadline_ns: u64) -> bool {
        let waiting = self.seg.r32(self.entry, rdr::WAITING);
        // SYNC: SeqCst store, then `ready`'s SeqCst load of COMMITTED: the
        // writer stores COMMITTED, then swaps WAITING; one of us sees the other.
        waiting.store(1, SeqCst);
        if self.ready() {
            waiting.store(0, Relaxed);
            return true;
        }
        self.seg.map.sem_wait_until(self.seg.geo.reader(self.entry) + rdr::SEM, deadline_ns);
        waiting.store(0, Relaxed);
        self.ready()
    }
}
