//! Waiting on several inputs at once.
//!
//! A controller needs detections *and* odometry: it must wake for whichever
//! arrives first, without polling. [`Select`] does that: give it the inputs,
//! call [`Select::wait`], then `try_recv` the inputs it reports ready.
//!
//! ```no_run
//! # use framewire_sdk::prelude::*;
//! # fn demo(det: &mut Input<Detection>, odo: &mut Input<Odometry>, cx: &Context) -> Result<(), BlockError> {
//! let mut select = Select::new([det.waitable()?, odo.waitable()?]);
//! let ready = select.wait(cx.tick());
//! if ready.contains(0) {
//!     if let Some(d) = det.try_recv() { /* steer */ }
//! }
//! if ready.contains(1) {
//!     if let Some(o) = odo.try_recv() { /* update the pose */ }
//! }
//! # Ok(()) }
//! ```
//!
//! How: each input's wake-up arrives on its own process-shared semaphore in
//! its own wire (a writer only ever posts the semaphores of its own wire), so
//! one helper thread per input sleeps on that semaphore and passes the
//! wake-up on to the block's thread through a condition variable. When a
//! frame is already waiting, `wait` returns at once without involving the
//! helpers. Inputs given to a `Select` must be read with `try_recv`: a
//! blocking `recv` would compete with the helper for the same wake-ups.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use framewire_sys::proc::monotonic_ns;
use framewire_wire::WakeHandle;

/// One input's wake-up source, from `Input::waitable`.
pub struct Waitable(pub(crate) WakeHandle);

/// The inputs [`Select::wait`] found ready, by their index in
/// [`Select::new`]'s list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready(u64);

impl Ready {
    /// Whether input `i` has a frame ready.
    pub fn contains(self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
    /// Whether no input is ready (the wait timed out).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

struct State {
    /// Bumped by every `wait`; a helper that reported readiness sleeps until
    /// it changes, so it does not report the same frame in a loop.
    generation: u64,
    /// Set by helpers, cleared by `wait`.
    woken: bool,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    stop: AtomicBool,
}

/// Waits for the first of several inputs to have a frame. See the module docs.
pub struct Select {
    handles: Vec<Arc<WakeHandle>>,
    shared: Arc<Shared>,
}

/// How long a helper sleeps on its semaphore before it looks at the stop
/// flag: bounds how long a dropped `Select`'s threads linger.
const HELPER_TICK: Duration = Duration::from_millis(100);

impl Select {
    /// Starts waiting on `inputs` (at most 64), numbered in this order.
    pub fn new(inputs: impl IntoIterator<Item = Waitable>) -> Select {
        let handles: Vec<Arc<WakeHandle>> = inputs.into_iter().map(|w| Arc::new(w.0)).collect();
        assert!(handles.len() <= 64, "Select takes at most 64 inputs");
        let shared = Arc::new(Shared {
            state: Mutex::new(State { generation: 0, woken: false }),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        for h in &handles {
            let (h, shared) = (h.clone(), shared.clone());
            std::thread::Builder::new()
                .name("framewire-select".into())
                .spawn(move || helper(&h, &shared))
                .expect("spawning a select helper thread");
        }
        Select { handles, shared }
    }

    fn ready_now(&self) -> Ready {
        let mut r = 0u64;
        for (i, h) in self.handles.iter().enumerate() {
            if h.ready() {
                r |= 1 << i;
            }
        }
        Ready(r)
    }

    /// Waits up to `timeout` for any input to have a frame; returns which do
    /// (empty on timeout). Returns at once if one already has.
    pub fn wait(&mut self, timeout: Duration) -> Ready {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.generation += 1;
        st.woken = false;
        // Helpers parked after an earlier report may now look again.
        self.shared.cv.notify_all();
        loop {
            // Checked under the lock: a helper sets `woken` under it too, so
            // a frame that arrives after this check wakes the wait below.
            let r = self.ready_now();
            if !r.is_empty() {
                return r;
            }
            let now = Instant::now();
            if now >= deadline {
                return r;
            }
            if !st.woken {
                st = self.shared.cv.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
            }
            st.woken = false;
        }
    }
}

fn helper(h: &WakeHandle, shared: &Shared) {
    while !shared.stop.load(Ordering::Relaxed) {
        let seen = shared.state.lock().unwrap_or_else(|e| e.into_inner()).generation;
        if !h.wait_until(monotonic_ns() + HELPER_TICK.as_nanos() as u64) {
            continue;
        }
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.woken = true;
        shared.cv.notify_all();
        // Park until the block waits again (it will have read the frame, or
        // will find it ready without us), or until the Select is dropped.
        while st.generation == seen && !shared.stop.load(Ordering::Relaxed) {
            st = shared.cv.wait_timeout(st, HELPER_TICK).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Drop for Select {
    fn drop(&mut self) {
        // Helpers notice within HELPER_TICK and exit; they hold their own
        // mappings, so nothing they touch goes away under them.
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.cv.notify_all();
    }
}
