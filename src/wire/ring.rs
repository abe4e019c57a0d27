//! The slot protocol: how one writer and many readers share a ring of slots
//! without locks on the frame path and without copying.
//!
//! State lives in the segment (see `layout`):
//! * each slot's `SEQ`: 0 (empty), `LOANED` (the writer owns it), or the
//!   sequence number of the committed frame it holds;
//! * `COMMITTED`: the newest committed sequence number, and the order ring
//!   `order[seq % slot_count]` naming the slot that holds `seq`;
//! * each reader entry's `STATE`, `HELD` (the slot its guard pins) and
//!   `CURSOR` (the next sequence number it wants).
//!
//! **Writer.** To loan, it picks a slot that is neither loaned, nor pinned by
//! any reader's `HELD`, nor (policy `latest`) the newest frame, nor (policy
//! `queue`) a frame some active reader has yet to read (`seq >= CURSOR`). It
//! swaps the slot's `SEQ` to `LOANED`, issues a `SeqCst` fence, and checks the
//! pins *again*: a reader may have pinned the slot between the first check
//! and the swap. To commit, it fills the metadata, writes the order ring,
//! stores `SEQ = s` and `COMMITTED = s` (release), fences, and wakes sleeping
//! readers.
//!
//! **Reader.** To read sequence `s` from slot `i`, it stores `HELD = i`,
//! fences, and checks that `SEQ[i]` still equals `s`; if not, the writer got
//! there first and it retries. Both sides store, fence, then load the other's
//! variable (Dekker's pattern with `SeqCst` fences), so at least one of them
//! sees the other: either the reader sees `LOANED` (and retries) or the
//! writer's re-check sees the pin (and restores the slot). So a pinned slot
//! is never written, and no reader ever sees a torn frame: a writer that dies
//! mid-write leaves its slot `LOANED`, never published.
//!
//! **Sleeping.** A reader with nothing to read sets its `WAITING` flag,
//! fences, looks once more, and sleeps on its semaphore; the writer, after
//! publishing and fencing, posts the semaphore of every reader whose flag is
//! set. Again store, fence, load on both sides, so no wake-up is lost. Only
//! the sleeper writes its flag (it clears it when it wakes), so a second post
//! before then costs one early wake-up, never a lost one. The queue-policy
//! writer sleeps the same way on `SPACE_SEM` with `WRITER_WAITING`, posted by
//! readers that release a slot and by sweepers that free an entry.
//!
//! **Who is alive.** The writer, and each reader for its entry, holds an
//! open-file-description lock on one byte of the segment for as long as it
//! is attached ([`Memory::try_lock`]); the kernel drops it when the process
//! dies, however it dies, in whatever pid namespace it runs. Only the holder
//! of an entry's lock changes the entry's `STATE`, identity or `CURSOR`. A
//! sweeper ([`sweep_dead`]) frees an entry only after taking its lock itself,
//! which proves its owner gone and keeps anyone else from claiming the entry
//! until the sweeper has finished. So a live reader never loses its entry,
//! every step of claiming or reclaiming can be interrupted by a crash and
//! picked up by the next process (the lock goes with the crash), and no
//! decision rests on pids, start times or `/proc`.
//!
//! Every synchronising ordering below has a `SYNC:` comment naming its pair.
//! `model.rs` runs this code, unchanged, under a model checker.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use super::hook::HookPoint;
use super::layout::*;
use super::mem::{Atomic, Memory, Mutant, Shm};
use super::{Expect, FrameMeta, Policy, Reclaimed, Segment, WireError};
use crate::image::{FourCC, ImageFormat};

mod wake;
pub use wake::WakeHandle;

/// How often a sleeping queue-policy writer looks for dead readers.
const SWEEP_EVERY_NS: u64 = 50_000_000;

/// A slot the writer has loaned (see [`Writer::reserve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotId(pub u32);

/// Frees the reader entries and the writer's place of processes that are
/// gone, skipping the lock `own` (the caller's own place, if any: a lock
/// this handle holds would look free to it).
pub(crate) fn sweep_dead<M: Memory>(seg: &Segment<M>, own: Option<usize>) -> Reclaimed {
    let mut out = Reclaimed::default();
    for r in 0..seg.geo.max_readers {
        let lock = seg.geo.reader_lock(r);
        if Some(lock) == own || seg.r32(r, rdr::STATE).load(Relaxed) == R_FREE {
            continue;
        }
        // A live owner holds this lock; so does a process claiming the entry,
        // or another sweeper freeing it. Taking it proves none of them is left.
        if !seg.mem.try_lock(lock) {
            continue;
        }
        seg.mem.hook(HookPoint::SweepLocked);
        // SYNC: release; the writer's acquire load of HELD (pinned) then sees
        // the slot free, and everything the dead reader did came before.
        seg.r32(r, rdr::HELD).store(NO_SLOT, Release);
        seg.r32(r, rdr::WAITING).store(0, Relaxed);
        seg.mem.hook(HookPoint::SweepCleared);
        // SYNC: release; pairs with the writer's acquire load of STATE in
        // min_cursor: from here the dead reader's cursor no longer counts.
        seg.r32(r, rdr::STATE).store(R_FREE, Release);
        seg.mem.unlock(lock);
        out.readers += 1;
        // A queue writer may be waiting for this reader's slots.
        wake_writer(seg);
    }
    if own != Some(WRITER_LOCK) && seg.h32(hdr::WRITER_PID).load(Relaxed) != 0 && seg.mem.try_lock(WRITER_LOCK) {
        // The writer is gone; its half-written slots are discarded by the next
        // writer that attaches. Clearing the pid only tells `status`.
        seg.h32(hdr::WRITER_PID).store(0, Relaxed);
        seg.mem.unlock(WRITER_LOCK);
        out.writer = true;
    }
    out
}

fn wake_writer<M: Memory>(seg: &Segment<M>) {
    // SYNC: SeqCst fence after the caller's stores (cursor, pin or entry
    // state), then the load of WRITER_WAITING; pairs with the writer's
    // WRITER_WAITING store, fence, and loads of cursors and pins in `reserve`
    // (Dekker). Only the writer writes its flag (it clears it when it wakes),
    // so several wakers may post once each: the writer then wakes early and
    // looks again, which costs a poll, never a lost wake-up.
    M::fence();
    if seg.h32(hdr::WRITER_WAITING).load(Relaxed) == 1 {
        seg.mem.sem_post(hdr::SPACE_SEM);
    }
}

/// The one writer of a wire.
pub struct Writer<M: Memory = Shm> {
    seg: Segment<M>,
    /// Slots loaned and not yet committed or abandoned; its capacity is the
    /// slot count, so loaning never allocates.
    loaned: Vec<u32>,
    next_sweep_ns: u64,
}

impl Writer<Shm> {
    /// Attaches as the writer of wire `name`. A writer that died is replaced:
    /// its half-written slots are discarded and sequence numbers carry on
    /// from the last committed frame.
    pub fn attach(name: &str, expect: &Expect) -> Result<Writer, WireError> {
        Writer::attach_to(Segment::open(name, expect)?)
    }
}

impl<M: Memory> Writer<M> {
    pub(crate) fn attach_to(seg: Segment<M>) -> Result<Writer<M>, WireError> {
        if !seg.mem.try_lock(WRITER_LOCK) {
            return Err(WireError::WriterBusy { name: seg.name.clone(), pid: seg.h32(hdr::WRITER_PID).load(Relaxed) });
        }
        seg.mem.hook(HookPoint::WriterLocked);
        // The place is ours: whoever held it is gone. Its identity is written
        // whole before the pid that announces it.
        let me = seg.mem.identity();
        seg.h64(hdr::WRITER_START).store(me.start, Relaxed);
        seg.h64(hdr::WRITER_PIDNS).store(me.pid_ns, Relaxed);
        // SYNC: release; `status` loads the pid and then the rest.
        seg.h32(hdr::WRITER_PID).store(me.pid, Release);
        seg.h64(hdr::WRITER_ATTACHES).fetch_add(1, Relaxed);
        // Recover from a predecessor that died: slots it had loaned were never
        // published, and a slot it published without advancing COMMITTED is
        // invisible to readers; both become empty.
        // SYNC: acquire; the predecessor's stores came before its lock was
        // released, and ours after we took it.
        let committed = seg.h64(hdr::COMMITTED).load(Acquire);
        for i in 0..seg.geo.slot_count {
            let s = seg.m64(i, meta::SEQ).load(Acquire);
            if s == LOANED || s > committed {
                // SYNC: release; a reader's acquire load of SEQ sees the slot
                // empty (it never validates an empty slot).
                seg.m64(i, meta::SEQ).store(0, Release);
            }
        }
        let loaned = Vec::with_capacity(seg.geo.slot_count as usize);
        Ok(Writer { seg, loaned, next_sweep_ns: 0 })
    }

    /// The memory handle, for the model check to kill this process.
    #[cfg(all(test, loom))]
    pub(crate) fn seg_mem_for_model(&self) -> &M {
        &self.seg.mem
    }

    /// The wire's name.
    pub fn name(&self) -> &str {
        &self.seg.name
    }

    /// Payload capacity of each slot in bytes.
    pub fn slot_size(&self) -> usize {
        self.seg.geo.slot_size as usize
    }

    /// The wire's policy.
    pub fn policy(&self) -> Policy {
        self.seg.policy
    }

    /// Sequence number the next commit will get.
    pub fn next_seq(&self) -> u64 {
        self.seg.h64(hdr::COMMITTED).load(Acquire) + 1
    }

    fn pinned(&self, slot: u32) -> bool {
        // SYNC: acquire loads after the writer's SeqCst fence; pair with a
        // reader's pin store and fence (Dekker), and with its release store of
        // NO_SLOT, so its reads of the payload happen before our writes.
        (0..self.seg.geo.max_readers).any(|r| self.seg.r32(r, rdr::HELD).load(Acquire) == slot)
    }

    fn min_cursor(&self) -> u64 {
        let mut min = u64::MAX;
        for r in 0..self.seg.geo.max_readers {
            // SYNC: acquire; pairs with the reader's release stores of STATE and
            // CURSOR (attach, release), which come before its wake_writer fence.
            if self.seg.r32(r, rdr::STATE).load(Acquire) == R_ACTIVE {
                min = min.min(self.seg.r64(r, rdr::CURSOR).load(Acquire));
            }
        }
        min
    }

    /// Picks and loans a free slot, or `None` if none is free right now.
    /// Allocates nothing.
    fn try_claim(&mut self) -> Option<u32> {
        let seg = &self.seg;
        // A swap or a re-check can fail only because a reader pinned the slot
        // meanwhile; each retry rescans, and a bounded number keeps a storm of
        // pins from holding the writer here.
        for _ in 0..=seg.geo.slot_count {
            let committed = seg.h64(hdr::COMMITTED).load(Relaxed);
            let min_cursor = if seg.policy == Policy::Queue { self.min_cursor() } else { u64::MAX };
            // Prefer the slot holding the oldest frame: it is the least likely
            // to be wanted by a slow reader.
            let mut best: Option<(u64, u32)> = None;
            for i in 0..seg.geo.slot_count {
                let s = seg.m64(i, meta::SEQ).load(Relaxed);
                let busy = s == LOANED
                    || (seg.policy == Policy::Latest && s != 0 && s == committed)
                    || (s != 0 && s >= min_cursor);
                if !busy && best.is_none_or(|(b, _)| s < b) && !self.pinned(i) {
                    best = Some((s, i));
                }
            }
            let (s, i) = best?;
            let seqf = seg.m64(i, meta::SEQ);
            if seqf.compare_exchange(s, LOANED, Relaxed, Relaxed).is_err() {
                continue;
            }
            // SYNC: SeqCst fence between the swap to LOANED and the pin loads;
            // pairs with the reader's fence between its pin and its SEQ load.
            if !seg.mem.mutant(Mutant::NoWriterFence) {
                M::fence();
            }
            // Re-check after the swap (see the module comment): a reader that
            // pinned the slot meanwhile keeps it.
            if !seg.mem.mutant(Mutant::NoPinRecheck) && self.pinned(i) {
                // Relaxed: a reader that validates this restored value has
                // already synchronised with the commit of frame `s` through its
                // acquire load of COMMITTED (which was at least `s`).
                seqf.store(s, Relaxed);
                continue;
            }
            self.loaned.push(i);
            return Some(i);
        }
        None
    }

    /// Loans a free slot for the caller to fill, waiting up to `timeout` if
    /// none is free (queue policy: the slowest reader is a ring behind).
    /// Several slots may be loaned at once (a camera queues several buffers).
    pub fn reserve(&mut self, timeout: Duration) -> Result<SlotId, WireError> {
        if let Some(i) = self.try_claim() {
            return Ok(SlotId(i));
        }
        let start = self.seg.mem.now_ns();
        let deadline = start.saturating_add(timeout.as_nanos() as u64);
        loop {
            let now = self.seg.mem.now_ns();
            if now >= self.next_sweep_ns {
                sweep_dead(&self.seg, Some(WRITER_LOCK));
                self.next_sweep_ns = now + SWEEP_EVERY_NS;
            }
            self.seg.h32(hdr::WRITER_WAITING).store(1, Relaxed);
            // SYNC: SeqCst fence between the WRITER_WAITING store and
            // try_claim's loads; pairs with the fence in wake_writer (Dekker).
            M::fence();
            if let Some(i) = self.try_claim() {
                self.seg.h32(hdr::WRITER_WAITING).store(0, Relaxed);
                return Ok(SlotId(i));
            }
            if now >= deadline {
                self.seg.h32(hdr::WRITER_WAITING).store(0, Relaxed);
                self.seg.h64(hdr::WRITER_TIMEOUTS).fetch_add(1, Relaxed);
                return Err(WireError::Full { name: self.seg.name.clone(), waited: Duration::from_nanos(now - start) });
            }
            self.seg.mem.sem_wait_until(hdr::SPACE_SEM, deadline.min(now + SWEEP_EVERY_NS));
        }
    }

    /// Loans a free slot and returns a guard to fill and commit it.
    pub fn loan(&mut self, timeout: Duration) -> Result<Loan<'_, M>, WireError> {
        let id = self.reserve(timeout)?;
        Ok(Loan { writer: self, id, meta: FrameMeta::default(), done: false })
    }

    /// Wraps slot `id`, reserved with [`Writer::reserve`], in a [`Loan`]
    /// (which commits or abandons it), for callers that wait for space in
    /// their own loop.
    pub fn loan_reserved(&mut self, id: SlotId) -> Loan<'_, M> {
        self.check_loaned(id);
        Loan { writer: self, id, meta: FrameMeta::default(), done: false }
    }

    fn check_loaned(&self, id: SlotId) {
        assert!(self.loaned.contains(&id.0), "slot {} of wire {} is not loaned to this writer", id.0, self.seg.name);
    }

    /// The bytes of loaned slot `id`, to fill in place.
    pub fn slot_mut(&mut self, id: SlotId) -> M::BytesMut<'_> {
        self.check_loaned(id);
        let off = self.seg.geo.payload(id.0);
        // SAFETY: the slot is LOANED to this writer (checked above): no reader
        // reads it (readers only read slots whose SEQ is a committed number)
        // and no other writer exists. The &mut borrow of self prevents a
        // second slice of the same slot in this process.
        unsafe { self.seg.mem.bytes_mut(off, self.seg.geo.slot_size as usize) }
    }

    /// Address and length of loaned slot `id`, for a driver that fills it
    /// directly (V4L2 USERPTR). The slot stays the writer's until committed
    /// or abandoned, so the driver may write to it until then.
    pub fn slot_addr(&self, id: SlotId) -> (usize, usize) {
        self.check_loaned(id);
        let len = self.seg.geo.slot_size as usize;
        (self.seg.mem.addr_of(self.seg.geo.payload(id.0), len), len)
    }

    /// Publishes loaned slot `id` with `meta` (its `seq` and `commit_ns` are
    /// assigned here) and wakes the readers. Returns the sequence number.
    pub fn commit(&mut self, id: SlotId, meta: &FrameMeta) -> Result<u64, WireError> {
        self.check_loaned(id);
        if meta.len > self.slot_size() {
            return Err(WireError::TooLarge {
                name: self.seg.name.clone(),
                len: meta.len,
                slot_size: self.slot_size(),
            });
        }
        let seg = &self.seg;
        let i = id.0;
        let seq = seg.h64(hdr::COMMITTED).load(Relaxed) + 1;
        let now = seg.mem.now_ns();
        let ts = if meta.timestamp_ns == 0 { now } else { meta.timestamp_ns };
        seg.m64(i, meta::TIMESTAMP_NS).store(ts, Relaxed);
        seg.m64(i, meta::COMMIT_NS).store(now, Relaxed);
        seg.m64(i, meta::LEN).store(meta.len as u64, Relaxed);
        seg.m32(i, meta::WIDTH).store(meta.image.width, Relaxed);
        seg.m32(i, meta::HEIGHT).store(meta.image.height, Relaxed);
        seg.m32(i, meta::STRIDE).store(meta.image.stride, Relaxed);
        seg.m32(i, meta::FOURCC).store(meta.image.fourcc.0, Relaxed);
        seg.m64(i, meta::SOURCE_SEQ).store(meta.source_seq, Relaxed);
        seg.m32(i, meta::FLAGS).store(meta.flags, Relaxed);
        seg.order(seq).store(i, Relaxed);
        // SYNC: release; pairs with the reader's acquire load of SEQ: payload,
        // metadata and order entry above happen-before its reads.
        seg.m64(i, meta::SEQ).store(seq, Release);
        // SYNC: release; pairs with the reader's acquire load of COMMITTED.
        seg.h64(hdr::COMMITTED).store(seq, Release);
        if let Some(k) = self.loaned.iter().position(|&s| s == i) {
            self.loaned.swap_remove(k);
        }
        seg.h64(hdr::FRAMES_WRITTEN).fetch_add(1, Relaxed);
        seg.h64(hdr::LAST_COMMIT_NS).store(now, Relaxed);
        // SYNC: SeqCst fence between the COMMITTED store and the WAITING
        // loads; pairs with each reader's WAITING store, fence and COMMITTED
        // load (Dekker), and orders this commit before the next loan's loads
        // of reader states (a reader attaching: STATE store, fence, COMMITTED).
        M::fence();
        for r in 0..seg.geo.max_readers {
            // Only the reader writes its flag (it clears it when it wakes); a
            // second post before it does is one early wake-up and one more
            // look, not a lost frame.
            if seg.r32(r, rdr::WAITING).load(Relaxed) == 1 {
                seg.mem.sem_post(seg.geo.reader(r) + rdr::SEM);
            }
        }
        Ok(seq)
    }

    /// Gives loaned slot `id` back unpublished.
    pub fn abandon(&mut self, id: SlotId) {
        self.check_loaned(id);
        // SYNC: release; the slot's bytes may be reused by the next loan.
        self.seg.m64(id.0, meta::SEQ).store(0, Release);
        if let Some(k) = self.loaned.iter().position(|&s| s == id.0) {
            self.loaned.swap_remove(k);
        }
    }
}

impl<M: Memory> Drop for Writer<M> {
    fn drop(&mut self) {
        if self.seg.mem.killed() {
            return;
        }
        for i in std::mem::take(&mut self.loaned) {
            // SYNC: release, as in `abandon`.
            self.seg.m64(i, meta::SEQ).store(0, Release);
        }
        self.seg.h32(hdr::WRITER_PID).store(0, Relaxed);
        self.seg.mem.unlock(WRITER_LOCK);
    }
}

/// A slot on loan to the writer: fill [`Loan::bytes`] and set the metadata,
/// then [`Loan::commit`]. Dropped without commit, the slot goes back unused.
pub struct Loan<'w, M: Memory = Shm> {
    writer: &'w mut Writer<M>,
    id: SlotId,
    /// Metadata to publish with the frame (`len` must be set).
    pub meta: FrameMeta,
    done: bool,
}

impl<M: Memory> Loan<'_, M> {
    /// The slot's bytes, in shared memory.
    pub fn bytes(&mut self) -> M::BytesMut<'_> {
        self.writer.slot_mut(self.id)
    }

    /// Publishes the frame; returns its sequence number.
    pub fn commit(mut self) -> Result<u64, WireError> {
        self.done = true;
        self.writer.commit(self.id, &self.meta)
    }
}

impl<M: Memory> Drop for Loan<'_, M> {
    fn drop(&mut self) {
        if !self.done && !self.writer.seg.mem.killed() {
            self.writer.abandon(self.id);
        }
    }
}

/// One of a wire's readers.
pub struct Reader<M: Memory = Shm> {
    seg: Segment<M>,
    entry: u32,
    /// Newest sequence number handed out (0 = none yet).
    last_seen: u64,
    spin: Duration,
}

/// A slot found by `poll`, before it is wrapped in a guard.
struct Found {
    slot: u32,
    seq: u64,
    skipped: u64,
}

impl Reader<Shm> {
    /// Attaches as a reader of wire `name`. With policy `queue`, the reader
    /// gets every frame committed from now on; with `latest`, the newest.
    pub fn attach(name: &str, expect: &Expect) -> Result<Reader, WireError> {
        Reader::attach_to(Segment::open(name, expect)?)
    }
}

impl<M: Memory> Reader<M> {
    pub(crate) fn attach_to(seg: Segment<M>) -> Result<Reader<M>, WireError> {
        // The first entry whose lock we can take is ours: it is free, or its
        // owner is gone (a crashed reader, a crashed claimant or sweeper).
        let Some(e) = (0..seg.geo.max_readers).find(|&r| seg.mem.try_lock(seg.geo.reader_lock(r))) else {
            return Err(WireError::ReadersFull { name: seg.name.clone(), max: seg.geo.max_readers });
        };
        seg.mem.hook(HookPoint::ReaderLocked);
        // Stop the writer counting a departed owner's cursor before changing
        // anything else.
        seg.r32(e, rdr::STATE).store(R_CLAIMING, Relaxed);
        let me = seg.mem.identity();
        seg.r32(e, rdr::PID).store(me.pid, Relaxed);
        seg.r64(e, rdr::START).store(me.start, Relaxed);
        seg.r64(e, rdr::PIDNS).store(me.pid_ns, Relaxed);
        // SYNC: release, as in Guard::drop: a departed owner's pin is released.
        seg.r32(e, rdr::HELD).store(NO_SLOT, Release);
        seg.r32(e, rdr::WAITING).store(0, Relaxed);
        for f in [rdr::FRAMES_READ, rdr::FRAMES_SKIPPED, rdr::LAST_READ_NS, rdr::LATENCY_SUM_NS] {
            seg.r64(e, f).store(0, Relaxed);
        }
        seg.mem.hook(HookPoint::ReaderClaiming);
        let committed = seg.h64(hdr::COMMITTED).load(Acquire);
        seg.r64(e, rdr::CURSOR).store(committed + 1, Relaxed);
        // SYNC: release; pairs with the writer's acquire load of STATE in
        // min_cursor: from here it keeps every frame from CURSOR on.
        seg.r32(e, rdr::STATE).store(R_ACTIVE, Release);
        // SYNC: SeqCst fence between the STATE store and the COMMITTED load;
        // pairs with the writer's fence after its COMMITTED store (commit),
        // before its next scan of reader states: frames committed after the
        // value we load are kept for us.
        M::fence();
        // Frames committed while we registered may already be overwritten
        // (the writer did not see us yet), so start after the newest one now.
        let committed = seg.h64(hdr::COMMITTED).load(Acquire);
        // Policy latest: the newest frame, if any, is new to this reader (a
        // late joiner sees the current value at once). Policy queue: frames
        // from the next commit on.
        let first = match seg.policy {
            Policy::Latest => committed.max(1),
            Policy::Queue => committed + 1,
        };
        // SYNC: release; pairs with the writer's acquire load in min_cursor.
        seg.r64(e, rdr::CURSOR).store(first, Release);
        wake_writer(&seg);
        Ok(Reader { seg, entry: e, last_seen: first - 1, spin: Duration::ZERO })
    }

    /// The memory handle, for the model check to kill this process.
    #[cfg(all(test, loom))]
    pub(crate) fn seg_mem_for_model(&self) -> &M {
        &self.seg.mem
    }

    /// The wire's name.
    pub fn name(&self) -> &str {
        &self.seg.name
    }

    /// The wire's policy.
    pub fn policy(&self) -> Policy {
        self.seg.policy
    }

    /// Spin for up to `spin` before sleeping when no frame is ready: lower
    /// latency (no scheduler wake-up) for one core's time while it spins.
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Total frames this reader skipped or lost.
    pub fn skipped(&self) -> u64 {
        self.seg.r64(self.entry, rdr::FRAMES_SKIPPED).load(Relaxed)
    }

    /// Looks for a frame newer than the last one returned and pins it.
    fn poll(&self) -> Option<Found> {
        let seg = &self.seg;
        let e = self.entry;
        loop {
            // SYNC: acquire; pairs with the writer's release store of COMMITTED.
            let committed = seg.h64(hdr::COMMITTED).load(Acquire);
            // Our own entry: only we change it while we hold its lock.
            let cursor = seg.r64(e, rdr::CURSOR).load(Relaxed);
            if committed < cursor {
                return None;
            }
            let want = if seg.policy == Policy::Latest { committed } else { cursor };
            let slot = seg.order(want).load(Relaxed);
            if slot >= seg.geo.slot_count {
                return None;
            }
            seg.r32(e, rdr::HELD).store(slot, Relaxed);
            // SYNC: SeqCst fence between the pin and the SEQ load (Dekker with
            // the writer's swap to LOANED, fence and pin re-check).
            if !seg.mem.mutant(Mutant::NoReaderFence) {
                M::fence();
            }
            // SYNC: acquire; pairs with the writer's release stores of SEQ
            // (commit, restore): the frame's bytes happen-before our reads.
            let s = seg.m64(slot, meta::SEQ).load(Acquire);
            if s == want {
                let skipped = if seg.policy == Policy::Latest { want - cursor } else { 0 };
                return Some(Found { slot, seq: want, skipped });
            }
            seg.r32(e, rdr::HELD).store(NO_SLOT, Relaxed);
            if seg.policy == Policy::Queue {
                // The frame we wanted is gone: only possible if the slot was
                // reused while this process was not yet counted (it cannot be
                // with the protocol above) or the segment was tampered with.
                // Count the loss and resume at the newest frame.
                let newest = seg.h64(hdr::COMMITTED).load(Acquire);
                seg.r64(e, rdr::FRAMES_SKIPPED).fetch_add(newest.saturating_sub(cursor), Relaxed);
                // SYNC: release; pairs with the writer's acquire load in min_cursor.
                seg.r64(e, rdr::CURSOR).store(newest.max(cursor + 1), Release);
            }
            // Policy latest: the writer overtook us; try the newer frame.
            std::hint::spin_loop();
        }
    }

    fn guard(&mut self, f: Found) -> Guard<'_, M> {
        let seg = &self.seg;
        let e = self.entry;
        let s = f.slot;
        let meta = FrameMeta {
            seq: f.seq,
            timestamp_ns: seg.m64(s, meta::TIMESTAMP_NS).load(Relaxed),
            commit_ns: seg.m64(s, meta::COMMIT_NS).load(Relaxed),
            len: (seg.m64(s, meta::LEN).load(Relaxed) as usize).min(seg.geo.slot_size as usize),
            image: ImageFormat {
                width: seg.m32(s, meta::WIDTH).load(Relaxed),
                height: seg.m32(s, meta::HEIGHT).load(Relaxed),
                stride: seg.m32(s, meta::STRIDE).load(Relaxed),
                fourcc: FourCC(seg.m32(s, meta::FOURCC).load(Relaxed)),
            },
            source_seq: seg.m64(s, meta::SOURCE_SEQ).load(Relaxed),
            flags: seg.m32(s, meta::FLAGS).load(Relaxed),
        };
        let now = seg.mem.now_ns();
        seg.r64(e, rdr::FRAMES_READ).fetch_add(1, Relaxed);
        seg.r64(e, rdr::FRAMES_SKIPPED).fetch_add(f.skipped, Relaxed);
        seg.r64(e, rdr::LAST_READ_NS).store(now, Relaxed);
        seg.r64(e, rdr::LATENCY_SUM_NS).fetch_add(now.saturating_sub(meta.commit_ns), Relaxed);
        self.last_seen = f.seq;
        let off = seg.geo.payload(s);
        // SAFETY: the slot is pinned by this reader's HELD (and, for queue,
        // protected by its CURSOR) and its SEQ was validated after the pin, so
        // the writer will not loan it until the guard drops (module comment).
        let data = unsafe { seg.mem.bytes(off, meta.len) };
        Guard { reader: self, data: Some(data), meta, skipped: f.skipped }
    }

    /// Returns the next frame if one is ready, without waiting.
    pub fn try_read(&mut self) -> Option<Guard<'_, M>> {
        let f = self.poll()?;
        Some(self.guard(f))
    }

    /// Waits up to `timeout` for a frame newer than the last one returned.
    /// `None` means the timeout passed with nothing new.
    pub fn read(&mut self, timeout: Duration) -> Option<Guard<'_, M>> {
        let start = self.seg.mem.now_ns();
        let deadline = start.saturating_add(timeout.as_nanos() as u64);
        let spin_until = start.saturating_add(self.spin.as_nanos() as u64);
        let found = loop {
            if let Some(f) = self.poll() {
                break f;
            }
            let now = self.seg.mem.now_ns();
            if now < spin_until.min(deadline) {
                std::hint::spin_loop();
                continue;
            }
            let waiting = self.seg.r32(self.entry, rdr::WAITING);
            waiting.store(1, Relaxed);
            // SYNC: SeqCst fence between the WAITING store and poll's COMMITTED
            // load (Dekker with the writer's COMMITTED store, fence and WAITING
            // load in commit).
            if !self.seg.mem.mutant(Mutant::NoWaitFence) {
                M::fence();
            }
            if let Some(f) = self.poll() {
                waiting.store(0, Relaxed);
                break f;
            }
            if now >= deadline {
                waiting.store(0, Relaxed);
                return None;
            }
            self.seg.mem.sem_wait_until(self.seg.geo.reader(self.entry) + rdr::SEM, deadline);
            waiting.store(0, Relaxed);
        };
        Some(self.guard(found))
    }

    fn release(&self) {
        let e = self.entry;
        let seg = &self.seg;
        // SYNC: release; pairs with the writer's acquire loads of CURSOR and
        // HELD: our reads of the payload happen before it reuses the slot.
        let order = if seg.mem.mutant(Mutant::RelaxedUnpin) { Relaxed } else { Release };
        seg.r64(e, rdr::CURSOR).store(self.last_seen + 1, order);
        seg.r32(e, rdr::HELD).store(NO_SLOT, order);
        if seg.policy == Policy::Queue {
            wake_writer(seg);
        }
    }
}

impl<M: Memory> Drop for Reader<M> {
    fn drop(&mut self) {
        let seg = &self.seg;
        if seg.mem.killed() {
            return;
        }
        // SYNC: release, as in `release`.
        seg.r32(self.entry, rdr::HELD).store(NO_SLOT, Release);
        // SYNC: release; pairs with the writer's acquire load in min_cursor.
        seg.r32(self.entry, rdr::STATE).store(R_FREE, Release);
        wake_writer(seg);
        seg.mem.unlock(seg.geo.reader_lock(self.entry));
    }
}

/// A frame a reader holds: derefs to the payload bytes in shared memory.
/// The slot is not overwritten until the guard is dropped.
pub struct Guard<'r, M: Memory = Shm> {
    reader: &'r Reader<M>,
    /// The payload; `None` only inside `drop`, which ends the borrow before
    /// it unpins the slot (the model check tracks the borrow to its end).
    data: Option<M::Bytes<'r>>,
    meta: FrameMeta,
    skipped: u64,
}

impl<M: Memory> Guard<'_, M> {
    /// The frame's metadata.
    pub fn meta(&self) -> &FrameMeta {
        &self.meta
    }

    /// Frames skipped between the previous frame this reader got and this one
    /// (policy `latest`; always 0 for `queue`).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The frame as an image view (for image wires).
    pub fn image(&self) -> crate::image::ImageRef<'_> {
        crate::image::ImageRef { format: self.meta.image, data: self }
    }
}

impl<M: Memory> std::ops::Deref for Guard<'_, M> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.data {
            Some(d) => d,
            None => &[],
        }
    }
}

impl<M: Memory> Drop for Guard<'_, M> {
    fn drop(&mut self) {
        // The borrow of the slot ends before the slot is unpinned.
        self.data = None;
        if self.reader.seg.mem.killed() {
            return;
        }
        self.reader.release();
    }
}
