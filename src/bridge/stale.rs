//! Telling a stale frame from a fresh one when the two ends' clocks differ.
//!
//! Every frame carries its sender's send time (sender's `CLOCK_MONOTONIC`).
//! The receiver cannot compare that with its own clock directly: on two
//! machines the clocks have unrelated origins. But the difference
//! `receive time - send time` is the transit delay plus a constant offset,
//! so its smallest recent value is the offset plus the best transit delay.
//! A frame whose difference exceeds that baseline by more than `max_extra`
//! spent that much longer on the way than the best recent frame: it sat in
//! a queue (a TCP buffer across a Wi-Fi dropout, a router's queue) and is
//! stale. It is dropped, so a link that comes back does not replay seconds
//! of old frames and old drive commands.
//!
//! The baseline is the minimum over the current and the previous window
//! (10 s each), so it follows slow clock drift; a window in which no frame
//! arrived does not replace the previous one (a link that was down for a
//! minute keeps its baseline, and the burst of old frames that arrives when
//! it comes back is judged against it). A new sender id (the sender
//! restarted) starts afresh.

/// The verdict on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// On time; `extra_ns` is how much slower than the best recent frame.
    Fresh {
        /// Delay beyond the baseline, ns.
        extra_ns: u64,
    },
    /// Late by `extra_ns` beyond the baseline: drop it.
    Stale {
        /// Delay beyond the baseline, ns.
        extra_ns: u64,
    },
}

/// The receiver's delay baseline for one sender.
#[derive(Clone, Debug)]
pub struct StaleFilter {
    max_extra_ns: u64,
    window_ns: u64,
    sender: Option<u64>,
    window_start: u64,
    /// Minimum of `recv - send` (as a wrapping i64) in the current window.
    cur: Option<i64>,
    /// The same for the last window that saw a frame.
    prev: Option<i64>,
}

impl StaleFilter {
    /// A filter that drops frames more than `max_extra_ns` later than the
    /// best recent one, with baseline windows of `window_ns`.
    pub fn new(max_extra_ns: u64, window_ns: u64) -> StaleFilter {
        StaleFilter { max_extra_ns, window_ns, sender: None, window_start: 0, cur: None, prev: None }
    }

    /// Judges a frame sent at `send_ns` (sender's clock) by `sender` and
    /// received at `recv_ns` (our clock).
    pub fn judge(&mut self, sender: u64, send_ns: u64, recv_ns: u64) -> Verdict {
        if self.sender != Some(sender) {
            *self = StaleFilter::new(self.max_extra_ns, self.window_ns);
            self.sender = Some(sender);
            self.window_start = recv_ns;
        }
        if recv_ns.saturating_sub(self.window_start) >= self.window_ns {
            if self.cur.is_some() {
                self.prev = self.cur;
            }
            self.cur = None;
            self.window_start = recv_ns;
        }
        let d = recv_ns.wrapping_sub(send_ns) as i64;
        let base = match (self.cur, self.prev) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => d,
        };
        let extra = d.saturating_sub(base).max(0) as u64;
        if extra > self.max_extra_ns {
            return Verdict::Stale { extra_ns: extra };
        }
        self.cur = Some(self.cur.map_or(d, |c| c.min(d)));
        Verdict::Fresh { extra_ns: extra }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    #[test]
    fn clock_offset_cancels_and_queued_frames_are_stale() {
        // The sender's clock is 1000 s ahead of ours; transit is 5-8 ms.
        let mut f = StaleFilter::new(200 * MS, 10 * S);
        let off = 1000 * S;
        let mut now = 50 * S;
        for i in 0..100 {
            let transit = (5 + i % 4) * MS;
            assert!(matches!(f.judge(7, now + off - transit, now), Verdict::Fresh { extra_ns } if extra_ns <= 3 * MS));
            now += 33 * MS;
        }
        // The link drops for 30 s; what was queued arrives when it returns.
        let cut_at = now;
        now += 30 * S;
        for k in 0..10 {
            let sent = cut_at + k * 33 * MS + off;
            assert!(matches!(f.judge(7, sent, now), Verdict::Stale { .. }), "frame {k} is 30 s old");
        }
        // New frames are fresh again.
        assert!(matches!(f.judge(7, now + off - 6 * MS, now), Verdict::Fresh { .. }));
    }

    #[test]
    fn a_restarted_sender_starts_afresh_and_drift_is_followed() {
        let mut f = StaleFilter::new(100 * MS, 10 * S);
        assert!(matches!(f.judge(1, 10 * S, 20 * S), Verdict::Fresh { extra_ns: 0 }));
        // Another sender with a completely different clock.
        assert!(matches!(f.judge(2, 5, 20 * S + MS), Verdict::Fresh { extra_ns: 0 }));
        // The sender's clock runs 0.1 % slow: after 200 s the offset has
        // moved by 200 ms, more than max_extra, yet frames stay fresh
        // because the baseline follows.
        let mut f = StaleFilter::new(100 * MS, 10 * S);
        for t in (0..200_000u64).step_by(33) {
            let now = t * MS;
            let send = now - now / 1000;
            assert!(matches!(f.judge(3, send, now + 5 * MS), Verdict::Fresh { .. }), "t = {t} ms");
        }
    }
}
