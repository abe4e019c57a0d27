//! A model check of the real slot protocol: `ring.rs`, unchanged, runs over
//! [`ModelMem`], heap memory whose atomics, fences, semaphores and payload
//! cells are `loom`'s. Loom runs each scenario under every interleaving of
//! its threads (within a preemption bound) and every outcome the C++ memory
//! model allows for the orderings used (loads may return stale values unless
//! a fence or a release/acquire pair forbids it), and fails on:
//! * a data race on a payload: a read not ordered after the write of the
//!   frame it reads, or a write while a reader may still be reading (loom's
//!   `UnsafeCell` tracks every access);
//! * a frame whose bytes are not the frame its sequence number names;
//! * a lost wake-up or a stuck writer: every thread blocked is a deadlock.
//!
//! Scenarios: both policies, several readers, multi-slot loans, a writer that
//! dies mid-write and is replaced, readers that die holding a guard or while
//! attaching, sweepers that die mid-reclaim, concurrent sweepers. Process
//! death is modelled as the kernel does it: the process stops (a test hook
//! unwinds it, or it forgets its handles) and its locks are released.
//!
//! Then, to show the check is not vacuous, each mutant of [`Mutant`] breaks
//! one step (no pin re-check, a missing fence, a relaxed unpin) and the
//! checker must find the race it opens.
//!
//! Run (about a minute on 2 cores; `src/wire/README.md`, "Model check"):
//! `RUSTFLAGS="--cfg loom" cargo test -p framewire-wire --release --lib model`.
//! `LOOM_MAX_PREEMPTIONS` (default 2) widens the search.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::time::Duration;

use loom::cell::{ConstPtr, MutPtr, UnsafeCell};
use loom::sync::Arc;
use loom::sync::Notify;
use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};

use super::hook::HookPoint;
use super::layout::*;
use super::mem::{Identity, Memory, Mutant, impl_atomic};
use super::ring::{Reader, Writer, sweep_dead};
use super::{FrameMeta, Policy, Segment};

impl_atomic!(AtomicU32, u32);
impl_atomic!(AtomicU64, u64);

/// Payload bytes per slot: the frame number, twice.
const PAYLOAD: usize = 16;

/// The segment's memory, shared by every handle of one model execution.
struct Shared {
    geo: Geometry,
    policy: Policy,
    u32s: BTreeMap<usize, AtomicU32>,
    u64s: BTreeMap<usize, AtomicU64>,
    sems: BTreeMap<usize, Notify>,
    payload: Vec<UnsafeCell<[u8; PAYLOAD]>>,
    /// Lock owner per locked byte (0 = free): the handle id.
    locks: BTreeMap<usize, AtomicUsize>,
    next_id: std::sync::atomic::AtomicUsize,
    /// Handles whose process was killed (process-local state, not shared
    /// memory, so not loom's).
    killed: std::sync::Mutex<std::collections::BTreeSet<usize>>,
    mutant: Option<Mutant>,
}

impl Shared {
    fn new(slots: u32, readers: u32, policy: Policy, mutant: Option<Mutant>) -> Arc<Shared> {
        let geo = Geometry::new(PAYLOAD as u64, slots, readers, 64).unwrap();
        let mut u32s = BTreeMap::new();
        let mut u64s = BTreeMap::new();
        let mut sems = BTreeMap::new();
        let mut locks = BTreeMap::new();
        for o in [hdr::STATE, hdr::WRITER_WAITING, hdr::WRITER_PID] {
            u32s.insert(o, AtomicU32::new(0));
        }
        for o in [
            hdr::COMMITTED,
            hdr::WRITER_START,
            hdr::WRITER_PIDNS,
            hdr::FRAMES_WRITTEN,
            hdr::LAST_COMMIT_NS,
            hdr::WRITER_TIMEOUTS,
            hdr::WRITER_ATTACHES,
        ] {
            u64s.insert(o, AtomicU64::new(0));
        }
        sems.insert(hdr::SPACE_SEM, Notify::new());
        locks.insert(WRITER_LOCK, AtomicUsize::new(0));
        for i in 0..slots {
            let m = geo.meta(i);
            for f in [meta::SEQ, meta::TIMESTAMP_NS, meta::COMMIT_NS, meta::LEN, meta::SOURCE_SEQ] {
                u64s.insert(m + f, AtomicU64::new(0));
            }
            for f in [meta::WIDTH, meta::HEIGHT, meta::STRIDE, meta::FOURCC, meta::FLAGS] {
                u32s.insert(m + f, AtomicU32::new(0));
            }
            u32s.insert(geo.order(u64::from(i)), AtomicU32::new(0));
        }
        for r in 0..readers {
            let e = geo.reader(r);
            for f in [rdr::STATE, rdr::PID, rdr::WAITING] {
                u32s.insert(e + f, AtomicU32::new(0));
            }
            u32s.insert(e + rdr::HELD, AtomicU32::new(NO_SLOT));
            for f in [
                rdr::START,
                rdr::CURSOR,
                rdr::FRAMES_READ,
                rdr::FRAMES_SKIPPED,
                rdr::LAST_READ_NS,
                rdr::LATENCY_SUM_NS,
                rdr::PIDNS,
            ] {
                u64s.insert(e + f, AtomicU64::new(0));
            }
            sems.insert(e + rdr::SEM, Notify::new());
            locks.insert(geo.reader_lock(r), AtomicUsize::new(0));
        }
        let payload = (0..slots).map(|_| UnsafeCell::new([0; PAYLOAD])).collect();
        Arc::new(Shared {
            geo,
            policy,
            u32s,
            u64s,
            sems,
            payload,
            locks,
            next_id: std::sync::atomic::AtomicUsize::new(1),
            killed: Default::default(),
            mutant,
        })
    }
}

/// Model-segment handles.
trait Handles {
    /// A new handle (one process's open file description), dying at `die_at`.
    fn segment(&self, die_at: Option<HookPoint>) -> Segment<ModelMem>;
}

impl Handles for Arc<Shared> {
    fn segment(&self, die_at: Option<HookPoint>) -> Segment<ModelMem> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mem = ModelMem { shared: self.clone(), id, die_at };
        Segment { mem, geo: self.geo, name: "model".into(), policy: self.policy }
    }
}

/// One handle on the model segment.
struct ModelMem {
    shared: Arc<Shared>,
    id: usize,
    die_at: Option<HookPoint>,
}

/// The unwinding payload of a process killed at a hook.
struct Killed;

impl Shared {
    /// Kills the process of handle `id`: it runs nothing more (its
    /// destructors leave the segment alone) and, as the kernel does, its
    /// locks are released.
    fn kill(&self, id: usize) {
        self.killed.lock().unwrap().insert(id);
        for l in self.locks.values() {
            let _ = l.compare_exchange(id, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

impl ModelMem {
    fn slot_of(&self, off: usize) -> usize {
        let g = &self.shared.geo;
        ((off as u64 - g.payload_offset) / g.slot_stride) as usize
    }
}

/// A payload borrowed for reading, tracked by loom while it lives.
struct ModelBytes<'a> {
    ptr: ConstPtr<[u8; PAYLOAD]>,
    len: usize,
    _life: PhantomData<&'a ()>,
}

impl Deref for ModelBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the cell lives in `Shared`, which outlives 'a; loom checks
        // that no write races with this read while the guard lives.
        unsafe { &self.ptr.deref()[..self.len] }
    }
}

/// A payload borrowed for writing, tracked by loom while it lives.
struct ModelBytesMut<'a> {
    ptr: MutPtr<[u8; PAYLOAD]>,
    len: usize,
    _life: PhantomData<&'a ()>,
}

impl Deref for ModelBytesMut<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: as for `ModelBytes`; loom checks exclusivity.
        unsafe { &self.ptr.deref()[..self.len] }
    }
}

impl DerefMut for ModelBytesMut<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `ModelBytes`; loom checks exclusivity.
        unsafe { &mut self.ptr.deref()[..self.len] }
    }
}

impl Memory for ModelMem {
    type U32 = AtomicU32;
    type U64 = AtomicU64;
    type Bytes<'a> = ModelBytes<'a>;
    type BytesMut<'a> = ModelBytesMut<'a>;

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        &self.shared.u32s[&off]
    }
    fn u64_at(&self, off: usize) -> &AtomicU64 {
        &self.shared.u64s[&off]
    }
    fn fence() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }
    fn sem_post(&self, off: usize) {
        self.shared.sems[&off].notify();
    }
    fn sem_wait_until(&self, off: usize, _deadline_ns: u64) -> bool {
        // No timeouts in the model: a wake-up the protocol loses leaves the
        // thread blocked for ever, which loom reports as a deadlock.
        self.shared.sems[&off].wait();
        true
    }
    // SAFETY: the contract is the trait's; loom checks it.
    unsafe fn bytes(&self, off: usize, len: usize) -> ModelBytes<'_> {
        ModelBytes { ptr: self.shared.payload[self.slot_of(off)].get(), len, _life: PhantomData }
    }
    // SAFETY: the contract is the trait's; loom checks it.
    unsafe fn bytes_mut(&self, off: usize, len: usize) -> ModelBytesMut<'_> {
        ModelBytesMut { ptr: self.shared.payload[self.slot_of(off)].get_mut(), len, _life: PhantomData }
    }
    fn addr_of(&self, off: usize, _len: usize) -> usize {
        off
    }
    fn try_lock(&self, off: usize) -> bool {
        let l = &self.shared.locks[&off];
        // An open-file-description lock: taking it again through the same
        // handle succeeds. Acquire/release model the kernel's own ordering.
        match l.compare_exchange(0, self.id, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => true,
            Err(owner) => owner == self.id,
        }
    }
    fn unlock(&self, off: usize) {
        let _ = self.shared.locks[&off].compare_exchange(self.id, 0, Ordering::Release, Ordering::Relaxed);
    }
    fn now_ns(&self) -> u64 {
        0
    }
    fn identity(&self) -> Identity {
        Identity { pid: self.id as u32, start: 1, pid_ns: 1 }
    }
    fn hook(&self, point: HookPoint) {
        if self.die_at == Some(point) {
            // resume_unwind does not run the panic hook: a quiet death.
            std::panic::resume_unwind(Box::new(Killed));
        }
    }
    fn mutant(&self, m: Mutant) -> bool {
        self.shared.mutant == Some(m)
    }
    fn killed(&self) -> bool {
        self.shared.killed.lock().unwrap().contains(&self.id)
    }
}

/// Runs `f` as a process that may be killed at a hook; afterwards (however
/// it ended) the process is dead and its locks are gone. Returns whether it
/// was killed.
fn process(shared: &Shared, id: usize, f: impl FnOnce()) -> bool {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let killed = match r {
        Ok(()) => false,
        Err(e) if e.is::<Killed>() => true,
        Err(e) => std::panic::resume_unwind(e),
    };
    shared.kill(id);
    killed
}

fn frame_bytes(seq: u64) -> [u8; PAYLOAD] {
    let mut b = [0; PAYLOAD];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&seq.to_le_bytes());
    b
}

fn put(w: &mut Writer<ModelMem>, seq_expected: Option<u64>) -> u64 {
    let id = w.reserve(Duration::from_secs(3600)).expect("a slot");
    let seq = w.next_seq();
    w.slot_mut(id).copy_from_slice(&frame_bytes(seq));
    let got = w.commit(id, &FrameMeta { len: PAYLOAD, ..Default::default() }).unwrap();
    assert_eq!(got, seq);
    if let Some(e) = seq_expected {
        assert_eq!(got, e);
    }
    got
}

/// Checks a frame's bytes name its sequence number; returns it.
fn check_frame(g: &super::ring::Guard<'_, ModelMem>) -> u64 {
    let seq = g.meta().seq;
    assert_eq!(&g[..], &frame_bytes(seq)[..], "frame {seq} does not hold its own bytes");
    seq
}

/// Runs `f` under loom with at most `bound` preemptions per execution
/// (`LOOM_MAX_PREEMPTIONS` overrides it) and reports how many executions it
/// explored. Every weak-memory outcome is explored at any bound.
fn check(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = runs.clone();
    let t = std::time::Instant::now();
    b.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "model {name}: {} executions explored in {:.1} s, no violation",
        runs.load(Ordering::Relaxed),
        t.elapsed().as_secs_f64()
    );
}

/// Policy latest, two readers, three frames: every frame read is whole, and
/// each reader ends with the newest frame (no lost wake-up).
fn latest_two_readers(mutant: Option<Mutant>) {
    check("latest, two readers", 1, move || {
        let sh = Shared::new(4, 2, Policy::Latest, mutant);
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        put(&mut w, Some(1));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut r = Reader::attach_to(sh.segment(None)).unwrap();
                loom::thread::spawn(move || {
                    let mut last = 0;
                    while last < 3 {
                        let g = r.read(Duration::from_secs(3600)).expect("woken by a commit");
                        let seq = check_frame(&g);
                        assert!(seq > last, "frames go forward");
                        last = seq;
                    }
                })
            })
            .collect();
        put(&mut w, Some(2));
        put(&mut w, Some(3));
        for t in readers {
            t.join().unwrap();
        }
    });
}

/// Policy latest with the fewest slots and a reader that starts at frame 1
/// while the writer goes round the ring: the race a missing pin check or a
/// missing fence opens is reachable here within two preemptions.
fn latest_ring_overtakes_reader(mutant: Option<Mutant>) {
    check("latest, the writer overtakes a reader", 2, move || {
        let sh = Shared::new(3, 1, Policy::Latest, mutant);
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        put(&mut w, Some(1));
        let mut r = Reader::attach_to(sh.segment(None)).unwrap();
        let t = loom::thread::spawn(move || {
            let g = r.try_read().expect("frame 1 or newer is there");
            check_frame(&g);
            drop(g);
            if let Some(g) = r.try_read() {
                check_frame(&g);
            }
        });
        for s in 2..=4 {
            put(&mut w, Some(s));
        }
        t.join().unwrap();
    });
}

/// Policy queue, two slots, one reader, three frames: the reader gets 1, 2,
/// 3 in order, and the writer, a whole ring ahead, waits for space and is
/// woken (both sleep protocols run).
fn queue_every_frame_in_order(mutant: Option<Mutant>) {
    check("queue, one reader, writer waits", 2, move || {
        let sh = Shared::new(2, 1, Policy::Queue, mutant);
        let mut r = Reader::attach_to(sh.segment(None)).unwrap();
        let t = loom::thread::spawn(move || {
            for want in 1..=3 {
                let g = r.read(Duration::from_secs(3600)).expect("woken by a commit");
                assert_eq!(check_frame(&g), want, "queue readers get every frame in order");
            }
        });
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        for s in 1..=3 {
            put(&mut w, Some(s));
        }
        t.join().unwrap();
    });
}

/// Policy queue, two slots, two readers: the writer reuses a slot only when
/// both have read its frame.
fn queue_two_readers() {
    check("queue, two readers", 1, move || {
        let sh = Shared::new(2, 2, Policy::Queue, None);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut r = Reader::attach_to(sh.segment(None)).unwrap();
                loom::thread::spawn(move || {
                    for want in 1..=3 {
                        let g = r.read(Duration::from_secs(3600)).expect("woken by a commit");
                        assert_eq!(check_frame(&g), want, "queue readers get every frame in order");
                    }
                })
            })
            .collect();
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        for s in 1..=3 {
            put(&mut w, Some(s));
        }
        for t in readers {
            t.join().unwrap();
        }
    });
}

#[test]
fn latest_policy_two_readers() {
    latest_two_readers(None);
}

#[test]
fn latest_policy_writer_overtakes_a_reader() {
    latest_ring_overtakes_reader(None);
}

#[test]
fn queue_policy_every_frame_in_order() {
    queue_every_frame_in_order(None);
}

#[test]
fn queue_policy_two_readers() {
    queue_two_readers();
}

/// Two slots loaned at once (a camera queues buffers) and committed in the
/// opposite order; a queue reader gets both whole and in commit order.
#[test]
fn multi_slot_loans_committed_out_of_order() {
    check("multi-slot loans", 2, || {
        let sh = Shared::new(3, 1, Policy::Queue, None);
        let mut r = Reader::attach_to(sh.segment(None)).unwrap();
        let t = loom::thread::spawn(move || {
            for want in 1..=3 {
                let g = r.read(Duration::from_secs(3600)).expect("woken");
                assert_eq!(check_frame(&g), want);
            }
        });
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        let a = w.reserve(Duration::from_secs(3600)).unwrap();
        let b = w.reserve(Duration::from_secs(3600)).unwrap();
        assert_ne!(a, b);
        w.slot_mut(b).copy_from_slice(&frame_bytes(1));
        w.slot_mut(a).copy_from_slice(&frame_bytes(2));
        w.commit(b, &FrameMeta { len: PAYLOAD, ..Default::default() }).unwrap();
        w.commit(a, &FrameMeta { len: PAYLOAD, ..Default::default() }).unwrap();
        put(&mut w, Some(3));
        t.join().unwrap();
    });
}

/// A writer dies with a slot loaned and half written; a new writer attaches
/// (its predecessor's lock went with it), discards the slot and carries on
/// the sequence; the reader never sees the torn slot.
#[test]
fn writer_dies_mid_write_and_is_replaced() {
    check("writer replaced", 2, || {
        let sh = Shared::new(3, 1, Policy::Latest, None);
        let mut r = Reader::attach_to(sh.segment(None)).unwrap();
        let t = loom::thread::spawn(move || {
            let mut last = 0;
            while last < 2 {
                let g = r.read(Duration::from_secs(3600)).expect("woken");
                last = check_frame(&g);
            }
        });
        let mut w1 = Writer::attach_to(sh.segment(None)).unwrap();
        put(&mut w1, Some(1));
        let id = w1.reserve(Duration::from_secs(3600)).unwrap();
        w1.slot_mut(id)[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        // Killed: its destructors do nothing; the kernel drops its lock.
        sh.kill(w1.seg_mem_for_model().id);
        drop(w1);
        let mut w2 = Writer::attach_to(sh.segment(None)).expect("the dead writer's place is free");
        put(&mut w2, Some(2));
        t.join().unwrap();
    });
}

/// A queue reader dies holding a guard, with the writer a whole ring ahead
/// and waiting. The supervisor's sweep (after reaping it) and a concurrent
/// second sweeper race to free its entry, while a new reader attaches (to
/// the dead reader's entry, if it gets its lock first, or to the spare one)
/// and reads. Held frames stay whole, the writer is woken, nothing sticks.
#[test]
fn dead_reader_concurrent_sweepers_and_a_new_reader() {
    check("dead reader, two sweepers, a new reader", 2, || {
        let sh = Shared::new(2, 2, Policy::Queue, None);
        let mut r1 = Reader::attach_to(sh.segment(None)).unwrap();
        let mut w = Writer::attach_to(sh.segment(None)).unwrap();
        put(&mut w, Some(1));
        put(&mut w, Some(2));
        let r1_id = r1.seg_mem_for_model().id;
        let g = r1.read(Duration::from_secs(3600)).unwrap();
        check_frame(&g);
        // Killed holding the guard.
        sh.kill(r1_id);
        drop(g);
        drop(r1);
        let sh2 = sh.clone();
        let sweeper = loom::thread::spawn(move || {
            sweep_dead(&sh2.segment(None), None);
        });
        let sh3 = sh.clone();
        // (Notify may wake spuriously, so a flag says what happened.)
        let attached = Arc::new((Notify::new(), loom::sync::atomic::AtomicBool::new(false)));
        let attached2 = attached.clone();
        let reader = loom::thread::spawn(move || {
            let mut r2 = Reader::attach_to(sh3.segment(None)).expect("an entry is free or reclaimable");
            attached2.1.store(true, Ordering::Release);
            attached2.0.notify();
            let g = r2.read(Duration::from_secs(3600)).expect("woken");
            check_frame(&g);
        });
        // The supervisor, having reaped the reader, sweeps; then the writer
        // needs the dead reader's slots. Frame 3 is committed after the new
        // reader attached, so a queue reader is owed it.
        sweep_dead(&sh.segment(None), None);
        while !attached.1.load(Ordering::Acquire) {
            attached.0.wait();
        }
        put(&mut w, Some(3));
        sweeper.join().unwrap();
        reader.join().unwrap();
    });
}

/// A reader killed at each step of attaching leaves nothing stuck: another
/// reader attaches (a sweeper racing it) and reads.
#[test]
fn reader_killed_while_attaching() {
    for point in [HookPoint::ReaderLocked, HookPoint::ReaderClaiming] {
        check(&format!("reader killed at {point:?}"), 2, move || {
            let sh = Shared::new(3, 1, Policy::Latest, None);
            let mut w = Writer::attach_to(sh.segment(None)).unwrap();
            put(&mut w, Some(1));
            let sh2 = sh.clone();
            let t = loom::thread::spawn(move || {
                let seg = sh2.segment(Some(point));
                let id = seg.mem.id;
                // Killed at the hook, or refused if the other reader was first.
                process(&sh2, id, move || {
                    let _r = Reader::attach_to(seg);
                });
                sweep_dead(&sh2.segment(None), None);
            });
            // The only entry: free, or held by the dying claimant or the
            // sweeper for a moment; a real reader would retry, so do we.
            let mut r = loop {
                match Reader::attach_to(sh.segment(None)) {
                    Ok(r) => break r,
                    Err(_) => loom::thread::yield_now(),
                }
            };
            put(&mut w, Some(2));
            let g = r.read(Duration::from_secs(3600)).expect("a frame");
            check_frame(&g);
            drop(g);
            t.join().unwrap();
        });
    }
}

/// A sweeper killed at each step of freeing a dead reader's entry: the next
/// sweeper finishes the job and the queue writer gets its slots back.
#[test]
fn sweeper_killed_mid_reclaim() {
    for point in [HookPoint::SweepLocked, HookPoint::SweepCleared] {
        check(&format!("sweeper killed at {point:?}"), 2, move || {
            let sh = Shared::new(2, 1, Policy::Queue, None);
            let r1 = Reader::attach_to(sh.segment(None)).unwrap();
            let mut w = Writer::attach_to(sh.segment(None)).unwrap();
            put(&mut w, Some(1));
            put(&mut w, Some(2));
            sh.kill(r1.seg_mem_for_model().id);
            drop(r1);
            let sh2 = sh.clone();
            let t = loom::thread::spawn(move || {
                let seg = sh2.segment(Some(point));
                let id = seg.mem.id;
                // Killed at the hook, unless the writer's own sweep was first.
                process(&sh2, id, move || {
                    sweep_dead(&seg, None);
                });
                sweep_dead(&sh2.segment(None), None);
            });
            put(&mut w, Some(3));
            t.join().unwrap();
        });
    }
}

/// The mutants, each with the scenario that exposes it.
type Scenario = fn(Option<Mutant>);
const MUTANTS: [(Mutant, Scenario); 5] = [
    (Mutant::NoPinRecheck, latest_ring_overtakes_reader),
    (Mutant::NoReaderFence, latest_ring_overtakes_reader),
    (Mutant::NoWriterFence, latest_ring_overtakes_reader),
    (Mutant::RelaxedUnpin, latest_ring_overtakes_reader),
    (Mutant::NoWaitFence, queue_every_frame_in_order),
];

/// Runs the scenario of mutant `FW_LOOM_MUTANT` (a child process of
/// `must_fail`: loom's failures unwind through its own state, which a
/// `catch_unwind` in the same process cannot always survive).
#[test]
#[ignore = "run by must_fail in a child process"]
fn mutant_child() {
    let name = std::env::var("FW_LOOM_MUTANT").expect("FW_LOOM_MUTANT");
    let (m, scenario) = MUTANTS.iter().find(|(m, _)| format!("{m:?}") == name).expect("a known mutant");
    scenario(Some(*m));
}

/// Runs mutant `m`'s scenario in a child process and returns the checker's
/// report; fails if the checker found nothing.
fn must_fail(m: Mutant) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["model::mutant_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("FW_LOOM_MUTANT", format!("{m:?}"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the model check missed the race opened by {m:?}:\n{text}");
    let found =
        ["Causality violation", "deadlock", "does not hold its own bytes", "currently reading", "currently writing"];
    let why = found
        .iter()
        .find(|f| text.contains(*f))
        .unwrap_or_else(|| panic!("{m:?}: the child failed for another reason:\n{text}"));
    format!("{m:?}: loom reports \"{why}\"")
}

#[test]
fn finds_the_race_without_the_writers_pin_recheck() {
    eprintln!("{}", must_fail(Mutant::NoPinRecheck));
}

#[test]
fn finds_the_race_without_the_readers_fence() {
    eprintln!("{}", must_fail(Mutant::NoReaderFence));
}

#[test]
fn finds_the_race_without_the_writers_fence() {
    eprintln!("{}", must_fail(Mutant::NoWriterFence));
}

#[test]
fn finds_the_race_with_a_relaxed_unpin() {
    eprintln!("{}", must_fail(Mutant::RelaxedUnpin));
}

#[test]
fn finds_the_lost_wake_up_without_the_waiting_fence() {
    eprintln!("{}", must_fail(Mutant::NoWaitFence));
}
