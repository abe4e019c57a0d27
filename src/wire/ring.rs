//! The slot protocol: how one writer and many readers share a ring of slots
//! without locks and without copying.
//!
//! State lives in the segment (see `layout`):
//! * each slot's `SEQ`: 0 (empty), `LOANED` (the writer owns it), or the
//!   sequence number of the committed frame it holds;
//! * `COMMITTED`: the newest committed sequence number, and the order ring
//!   `order[seq % slot_count]` naming the slot that holds `seq`;
//! * each reader entry's `HELD` (the slot its guard pins) and `CURSOR` (the
//!   next sequence number it wants).
//!
//! **Writer.** To loan, it picks a slot that is neither loaned, nor pinned by
//! any reader's `HELD`, nor (policy `latest`) the newest frame, nor (policy
//! `queue`) a frame some reader has yet to read (`seq >= min CURSOR`). It
//! swaps the slot's `SEQ` to `LOANED` and then checks the pins *again*: a
//! reader may have pinned the slot between the first check and the swap. To
//! commit, it fills the metadata, writes the order ring, stores `SEQ = s`
//! and `COMMITTED = s` (release), then wakes sleeping readers.
//!
//! **Reader.** To read sequence `s` from slot `i`, it stores `HELD = i` and
//! then checks that `SEQ[i]` still equals `s`; if not, the writer got there
//! first and it retries. Because both sides store, then load the other's
//! variable, with sequentially consistent operations (Dekker's pattern), at
//! least one of them sees the other: either the reader sees `LOANED` (and
//! retries) or the writer's re-check sees the pin (and restores the slot).
//! So a pinned slot is never written, and no reader ever sees a torn frame:
//! a writer that dies mid-write leaves its slot `LOANED`, never published.
//!
//! **Sleeping.** A reader with nothing to read sets its `WAITING` flag, looks
//! once more, and sleeps on its semaphore; the writer, after publishing,
//! swaps every `WAITING` flag to 0 and posts the semaphore of each that was
//! set. Again store-then-load on both sides, so no wake-up is lost. The
//! queue-policy writer sleeps the same way on `SPACE_SEM` with
//! `WRITER_WAITING`, posted by readers that release a slot.
//!
//! **Crashes.** Reader entries and the writer's place carry the process's
//! pid and start time; `sweep_dead` frees those whose process is gone, which
//! also drops their pins and cursors.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::Duration;

use super::layout::*;
use super::{Expect, FrameMeta, Policy, Segment, WireError};
use crate::image::{FourCC, ImageFormat};
use framewire_sys::proc::{ProcId, monotonic_ns};

mod wake;
pub use wake::WakeHandle;

/// How often a sleeping queue-policy writer looks for dead readers.
const SWEEP_EVERY_NS: u64 = 50_000_000;

/// A slot the writer has loaned (see [`Writer::reserve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotId(pub u32);

/// Frees the reader entries, pins and writer place of processes that died.
pub(crate) fn sweep_dead(seg: &Segment) {
    for r in 0..seg.geo.max_readers {
        if seg.r32(r, rdr::STATE).load(Acquire) != R_ACTIVE {
            continue;
        }
        let id = ProcId { pid: seg.r32(r, rdr::PID).load(Relaxed), start: seg.r64(r, rdr::START).load(Relaxed) };
        if id.is_alive() {
            continue;
        }
        // Only one sweeper reclaims an entry.
        if seg.r32(r, rdr::STATE).compare_exchange(R_ACTIVE, R_RECLAIMING, SeqCst, Relaxed).is_err() {
            continue;
        }
        seg.r32(r, rdr::HELD).store(NO_SLOT, SeqCst);
        seg.r32(r, rdr::WAITING).store(0, Relaxed);
        // SYNC: release; a claimant's acquire CAS on STATE sees the cleared entry.
        seg.r32(r, rdr::STATE).store(R_FREE, Release);
        // A queue writer may be waiting for this reader's slots.
        wake_writer(seg);
    }
    let wpid = seg.h32(hdr::WRITER_PID).load(Acquire);
    if wpid != 0 {
        let id = ProcId { pid: wpid, start: seg.h64(hdr::WRITER_START).load(Acquire) };
        if !id.is_alive() {
            let _ = seg.h32(hdr::WRITER_PID).compare_exchange(wpid, 0, SeqCst, Relaxed);
        }
    }
}

fn wake_writer(seg: &Segment) {
    // SYNC: SeqCst swap after the caller's SeqCst store (cursor, pin or entry
    // state); pairs with the writer's SeqCst store of WRITER_WAITING followed
    // by its SeqCst loads of cursors and pins (Dekker).
    if seg.h32(hdr::WRITER_WAITING).swap(0, SeqCst) == 1 {
        seg.map.sem_post(hdr::SPACE_SEM);
    }
}

/// The one writer of a wire.
pub struct Writer {
    seg: Segment,
    me: ProcId,
    /// Slots loaned and not yet committed or abandoned.
    loaned: Vec<u32>,
    next_sweep_ns: u64,
}

impl Writer {
    /// Attaches as the writer of wire `name`. A writer that died is replaced:
    /// its half-written slots are discarded and sequence numbers carry on
    /// from the last committed frame.
    pub fn attach(name: &str, expect: &Expect) -> Result<Writer, WireError> {
        let seg = Segment::open(name, expect)?;
        let me = ProcId::current();
        loop {
            let cur = seg.h32(hdr::WRITER_PID).load(Acquire);
            if cur != 0 {
                let id = ProcId { pid: cur, start: seg.h64(hdr::WRITER_START).load(Acquire) };
                if id.is_alive() {
                    return Err(WireError::WriterBusy { name: name.to_string(), pid: cur });
                }
            }
            if seg.h32(hdr::WRITER_PID).compare_exchange(cur, me.pid, SeqCst, Relaxed).is_ok() {
                break;
            }
        }
        seg.h64(hdr::WRITER_START).store(me.start, SeqCst);
        seg.h64(hdr::WRITER_ATTACHES).fetch_add(1, Relaxed);
        // Recover from a predecessor that died: slots it had loaned were never
        // published, and a slot it published without advancing COMMITTED is
        // invisible to readers; both become empty.
        let committed = seg.h64(hdr::COMMITTED).load(Acquire);
        for i in 0..seg.geo.slot_count {
            let s = seg.m64(i, meta::SEQ).load(Acquire);
            if s == LOANED || s > committed {
                seg.m64(i, meta::SEQ).store(0, Release);
            }
        }
        Ok(Writer { seg, me, loaned: Vec::new(), next_sweep_ns: 0 })
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
        // SYNC: SeqCst loads after the writer's SeqCst swap to LOANED; pairs
        // with a reader's SeqCst store of HELD before its SeqCst load of SEQ.
        (0..self.seg.geo.max_readers).any(|r| self.seg.r32(r, rdr::HELD).load(SeqCst) == slot)
    }

    fn min_cursor(&self) -> u64 {
        let mut min = u64::MAX;
        for r in 0..self.seg.geo.max_readers {
            // SYNC: SeqCst; pairs with the reader's SeqCst stores of STATE and
            // CURSOR (attach, release) and their wake_writer swap.
            if self.seg.r32(r, rdr::STATE).load(SeqCst) == R_ACTIVE {
                min = min.min(self.seg.r64(r, rdr::CURSOR).load(SeqCst));
            }
        }
        min
    }

    /// Picks and loans a free slot, or `None` if none is free right now.
    fn try_claim(&mut self) -> Option<u32> {
        let seg = &self.seg;
        let committed = seg.h64(hdr::COMMITTED).load(Acquire);
        let min_cursor = if seg.policy == Policy::Queue { self.min_cursor() } else { u64::MAX };
        // Prefer the slot holding the oldest frame: it is the least likely to
        // be wanted by a slow reader.
        let mut candidates: Vec<(u64, u32)> = Vec::new();
        for i in 0..seg.geo.slot_count {
            let s = seg.m64(i, meta::SEQ).load(Acquire);
            let busy = s == LOANED
                || (seg.policy == Policy::Latest && s != 0 && s == committed)
                || (s != 0 && s >= min_cursor);
            if !busy && !self.pinned(i) {
                candidates.push((s, i));
            }
        }
        candidates.sort_unstable();
        for (s, i) in candidates {
            let seqf = seg.m64(i, meta::SEQ);
            if seqf.compare_exchange(s, LOANED, SeqCst, Relaxed).is_err() {
                continue;
            }
            // Re-check after the swap (see the module comment): a reader that
            // pinned the slot meanwhile keeps it.
            if self.pinned(i) {
                seqf.store(s, SeqCst);
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
        let start = monotonic_ns();
        let deadline = start.saturating_add(timeout.as_nanos() as u64);
        loop {
            let now = monotonic_ns();
            if now >= self.next_sweep_ns {
                sweep_dead(&self.seg);
                self.next_sweep_ns = now + SWEEP_EVERY_NS;
            }
            // SYNC: SeqCst store, then the SeqCst loads in try_claim (Dekker
            // with wake_writer in readers).
            self.seg.h32(hdr::WRITER_WAITING).store(1, SeqCst);
            if let Some(i) = self.try_claim() {
                self.seg.h32(hdr::WRITER_WAITING).store(0, Relaxed);
                return Ok(SlotId(i));
            }
            if now >= deadline {
                self.seg.h32(hdr::WRITER_WAITING).store(0, Relaxed);
                self.seg.h64(hdr::WRITER_TIMEOUTS).fetch_add(1, Relaxed);
                return Err(WireError::Full { name: self.seg.name.clone(), waited: Duration::from_nanos(now - start) });
            }
            self.seg.map.sem_wait_until(hdr::SPACE_SEM, deadline.min(now + SWEEP_EVERY_NS));
        }
    }

    /// Loans a free slot and returns a guard to fill and commit it.
    pub fn loan(&mut self, timeout: Duration) -> Result<Loan<'_>, WireError> {
        let id = self.reserve(timeout)?;
        Ok(Loan { writer: self, id, meta: FrameMeta::default(), done: false })
    }

    /// Wraps slot `id`, reserved with [`Writer::reserve`], in a [`Loan`]
    /// (which commits or abandons it), for callers that wait for space in
    /// their own loop.
    pub fn loan_reserved(&mut self, id: SlotId) -> Loan<'_> {
        self.check_loaned(id);
        Loan { writer: self, id, meta: FrameMeta::default(), done: false }
    }

    fn check_loaned(&self, id: SlotId) {
        assert!(self.loaned.contains(&id.0), "slot {} of wire {} is not loaned to this writer", id.0, self.seg.name);
    }

    /// The bytes of loaned slot `id`, to fill in place.
    pub fn slot_mut(&mut self, id: SlotId) -> &mut [u8] {
        self.check_loaned(id);
        let off = self.seg.geo.payload(id.0);
        // SAFETY: the slot is LOANED to this writer (checked above): no reader
        // reads it (readers only read slots whose SEQ is a committed number)
        // and no other writer exists. The &mut borrow of self prevents a
        // second slice of the same slot in this process.
        unsafe { self.seg.map.bytes_mut(off, self.seg.geo.slot_size as usize) }
    }

    /// Address and length of loaned slot `id`, for a driver that fills it
    /// directly (V4L2 USERPTR). The slot stays the writer's until committed
    /// or abandoned, so the driver may write to it until then.
    pub fn slot_addr(&self, id: SlotId) -> (usize, usize) {
        self.check_loaned(id);
        let len = self.seg.geo.slot_size as usize;
        (self.seg.map.addr_of(self.seg.geo.payload(id.0), len), len)
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
        let now = monotonic_ns();
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
        // SYNC: release; pairs with the reader's acquire/SeqCst load of SEQ:
        // payload, metadata and order entry above happen-before the read.
        seg.m64(i, meta::SEQ).store(seq, Release);
        // SYNC: SeqCst; publishes the frame (release for readers' acquire load
        // of COMMITTED) and is the store half of the Dekker pair with each
        // reader's SeqCst WAITING store followed by its COMMITTED load.
        seg.h64(hdr::COMMITTED).store(seq, SeqCst);
        self.loaned.retain(|&s| s != i);
        seg.h64(hdr::FRAMES_WRITTEN).fetch_add(1, Relaxed);
        seg.h64(hdr::LAST_COMMIT_NS).store(now, Relaxed);
        for r in 0..seg.geo.max_readers {
            // SYNC: SeqCst swap after the SeqCst COMMITTED store (Dekker).
            if seg.r32(r, rdr::WAITING).load(SeqCst) == 1 && seg.r32(r, rdr::WAITING).swap(0, SeqCst) == 1 {
                seg.map.sem_post(seg.geo.reader(r) + rdr::SEM);
            }
        }
        Ok(seq)
    }

    /// Gives loaned slot `id` back unpublished.
    pub fn abandon(&mut self, id: SlotId) {
        self.check_loaned(id);
        // SYNC: release; the slot's bytes may be reused by the next loan.
        self.seg.m64(id.0, meta::SEQ).store(0, Release);
        self.loaned.retain(|&s| s != id.0);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        for i in std::mem::take(&mut self.loaned) {
            self.seg.m64(i, meta::SEQ).store(0, Release);
        }
        let _ = self.seg.h32(hdr::WRITER_PID).compare_exchange(self.me.pid, 0, SeqCst, Relaxed);
    }
}

/// A slot on loan to the writer: fill [`Loan::bytes`] and set the metadata,
/// then [`Loan::commit`]. Dropped without commit, the slot goes back unused.
pub struct Loan<'w> {
    writer: &'w mut Writer,
    id: SlotId,
    /// Metadata to publish with the frame (`len` must be set).
    pub meta: FrameMeta,
    done: bool,
}

impl Loan<'_> {
    /// The slot's bytes, in shared memory.
    pub fn bytes(&mut self) -> &mut [u8] {
        self.writer.slot_mut(self.id)
    }

    /// Publishes the frame; returns its sequence number.
    pub fn commit(mut self) -> Result<u64, WireError> {
        self.done = true;
        self.writer.commit(self.id, &self.meta)
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.writer.abandon(self.id);
        }
    }
}

/// One of a wire's readers.
pub struct Reader {
    seg: Segment,
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

impl Reader {
    /// Attaches as a reader of wire `name`. With policy `queue`, the reader
    /// gets every frame committed from now on; with `latest`, the newest.
    pub fn attach(name: &str, expect: &Expect) -> Result<Reader, WireError> {
        let seg = Segment::open(name, expect)?;
        let me = ProcId::current();
        let mut swept = false;
        let entry = loop {
            let free = (0..seg.geo.max_readers)
                .find(|&r| seg.r32(r, rdr::STATE).compare_exchange(R_FREE, R_CLAIMING, SeqCst, Relaxed).is_ok());
            match free {
                Some(r) => break r,
                None if !swept => {
                    sweep_dead(&seg);
                    swept = true;
                }
                None => return Err(WireError::ReadersFull { name: name.to_string(), max: seg.geo.max_readers }),
            }
        };
        let committed = seg.h64(hdr::COMMITTED).load(SeqCst);
        seg.r32(entry, rdr::PID).store(me.pid, Relaxed);
        seg.r64(entry, rdr::START).store(me.start, Relaxed);
        seg.r32(entry, rdr::HELD).store(NO_SLOT, Relaxed);
        seg.r32(entry, rdr::WAITING).store(0, Relaxed);
        for f in [rdr::FRAMES_READ, rdr::FRAMES_SKIPPED, rdr::LAST_READ_NS, rdr::LATENCY_SUM_NS] {
            seg.r64(entry, f).store(0, Relaxed);
        }
        seg.r64(entry, rdr::CURSOR).store(committed + 1, SeqCst);
        // SYNC: SeqCst; from here the writer counts this reader's cursor.
        seg.r32(entry, rdr::STATE).store(R_ACTIVE, SeqCst);
        // Frames committed while we registered may already be overwritten
        // (the writer did not see us yet), so start after the newest one now.
        let committed = seg.h64(hdr::COMMITTED).load(SeqCst);
        // Policy latest: the newest frame, if any, is new to this reader (a
        // late joiner sees the current value at once). Policy queue: frames
        // from the next commit on.
        let first = match seg.policy {
            Policy::Latest => committed.max(1),
            Policy::Queue => committed + 1,
        };
        seg.r64(entry, rdr::CURSOR).store(first, SeqCst);
        wake_writer(&seg);
        Ok(Reader { seg, entry, last_seen: first - 1, spin: Duration::ZERO })
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
            // SYNC: SeqCst (acquire) load; pairs with the writer's COMMITTED store.
            let committed = seg.h64(hdr::COMMITTED).load(SeqCst);
            let cursor = seg.r64(e, rdr::CURSOR).load(Relaxed);
            if committed < cursor {
                return None;
            }
            let want = if seg.policy == Policy::Latest { committed } else { cursor };
            let slot = seg.order(want).load(Acquire);
            if slot >= seg.geo.slot_count {
                return None;
            }
            // SYNC: SeqCst store of the pin, then SeqCst load of SEQ (Dekker
            // with the writer's swap to LOANED and its pin re-check).
            seg.r32(e, rdr::HELD).store(slot, SeqCst);
            let s = seg.m64(slot, meta::SEQ).load(SeqCst);
            if s == want {
                let skipped = if seg.policy == Policy::Latest { want - cursor } else { 0 };
                return Some(Found { slot, seq: want, skipped });
            }
            seg.r32(e, rdr::HELD).store(NO_SLOT, Release);
            if seg.policy == Policy::Queue {
                // The frame we wanted is gone (only possible if this entry was
                // reclaimed while the process was stopped, or the writer was
                // replaced): count the loss and resume at the newest frame.
                let newest = seg.h64(hdr::COMMITTED).load(SeqCst);
                seg.r64(e, rdr::FRAMES_SKIPPED).fetch_add(newest.saturating_sub(cursor), Relaxed);
                seg.r64(e, rdr::CURSOR).store(newest, SeqCst);
            }
            // Policy latest: the writer overtook us; try the newer frame.
            std::hint::spin_loop();
        }
    }

    fn guard(&mut self, f: Found) -> Guard<'_> {
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
        let now = monotonic_ns();
        seg.r64(e, rdr::FRAMES_READ).fetch_add(1, Relaxed);
        seg.r64(e, rdr::FRAMES_SKIPPED).fetch_add(f.skipped, Relaxed);
        seg.r64(e, rdr::LAST_READ_NS).store(now, Relaxed);
        seg.r64(e, rdr::LATENCY_SUM_NS).fetch_add(now.saturating_sub(meta.commit_ns), Relaxed);
        self.last_seen = f.seq;
        let off = seg.geo.payload(s);
        // SAFETY: the slot is pinned by this reader's HELD (latest) or protected
        // by its CURSOR (queue) and its SEQ was validated after the pin, so the
        // writer will not loan it until the guard drops (module comment).
        let data = unsafe { seg.map.bytes(off, meta.len) };
        Guard { reader: self, data, meta, skipped: f.skipped }
    }

    /// Returns the next frame if one is ready, without waiting.
    pub fn try_read(&mut self) -> Option<Guard<'_>> {
        let f = self.poll()?;
        Some(self.guard(f))
    }

    /// Waits up to `timeout` for a frame newer than the last one returned.
    /// `None` means the timeout passed with nothing new.
    pub fn read(&mut self, timeout: Duration) -> Option<Guard<'_>> {
        let start = monotonic_ns();
        let deadline = start.saturating_add(timeout.as_nanos() as u64);
        let spin_until = start.saturating_add(self.spin.as_nanos() as u64);
        let found = loop {
            if let Some(f) = self.poll() {
                break f;
            }
            let now = monotonic_ns();
            if now < spin_until.min(deadline) {
                std::hint::spin_loop();
                continue;
            }
            let waiting = self.seg.r32(self.entry, rdr::WAITING);
            // SYNC: SeqCst store, then poll's SeqCst load of COMMITTED (Dekker
            // with the writer's COMMITTED store and WAITING swap).
            waiting.store(1, SeqCst);
            if let Some(f) = self.poll() {
                waiting.store(0, Relaxed);
                break f;
            }
            if now >= deadline {
                waiting.store(0, Relaxed);
                return None;
            }
            self.seg.map.sem_wait_until(self.seg.geo.reader(self.entry) + rdr::SEM, deadline);
            waiting.store(0, Relaxed);
        };
        Some(self.guard(found))
    }

    fn release(&self) {
        let e = self.entry;
        let seg = &self.seg;
        seg.r64(e, rdr::CURSOR).store(self.last_seen + 1, SeqCst);
        // SYNC: SeqCst; the writer's pin scan after this sees the slot free.
        seg.r32(e, rdr::HELD).store(NO_SLOT, SeqCst);
        if seg.policy == Policy::Queue {
            wake_writer(seg);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let seg = &self.seg;
        seg.r32(self.entry, rdr::HELD).store(NO_SLOT, SeqCst);
        seg.r32(self.entry, rdr::STATE).store(R_FREE, SeqCst);
        wake_writer(seg);
    }
}

/// A frame a reader holds: derefs to the payload bytes in shared memory.
/// The slot is not overwritten until the guard is dropped.
pub struct Guard<'r> {
    reader: &'r Reader,
    data: &'r [u8],
    meta: FrameMeta,
    skipped: u64,
}

impl Guard<'_> {
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
        crate::image::ImageRef { format: self.meta.image, data: self.data }
    }
}

impl std::ops::Deref for Guard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.reader.release();
    }
}
