//! Glass-to-motor latency: how old a camera frame was when the motor bytes
//! derived from it were written to the serial port.
//!
//! Every message derived from a frame carries that frame's capture timestamp
//! (`FrameMeta::timestamp_ns`, `CLOCK_MONOTONIC`), through filters,
//! controller and kinematics, up to the wheel command the driver receives.
//! The driver notes the timestamp with the command and, when it writes the
//! command's bytes, records `write time - capture time` here.
//!
//! [`Latencies`] is a log-linear histogram (64 sub-buckets per power of two,
//! so a quantile is exact to within 1/64 = 1.6 % of its value), fixed in size
//! and allocated once: recording never allocates, and a long run costs no
//! more memory than a short one.

/// Sub-buckets per power of two: the relative resolution is `1 / SUB`.
const SUB: u64 = 64;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Values below `SUB` ns have a bucket each; each power of two above has
/// `SUB` buckets, up to 2^63 ns.
const BUCKETS: usize = (SUB as usize) * (64 - SUB_BITS as usize + 1);

/// A histogram of latencies in nanoseconds, with quantiles.
#[derive(Clone)]
pub struct Latencies {
    counts: Box<[u32]>,
    n: u64,
    sum: u128,
    max: u64,
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latencies").field("n", &self.n).field("max", &self.max).finish()
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    // The top SUB_BITS + 1 bits of v: the leading one and SUB_BITS below it.
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (v >> shift) - SUB; // 0..SUB
    ((shift as u64 + 1) * SUB + sub) as usize
}

/// The smallest value that falls into bucket `i`, and the bucket's width.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let shift = i / SUB - 1;
    let sub = i % SUB;
    ((SUB + sub) << shift, 1 << shift)
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Latencies {
        Latencies { counts: vec![0u32; BUCKETS].into_boxed_slice(), n: 0, sum: 0, max: 0 }
    }

    /// Records one latency of `ns` nanoseconds.
    pub fn record(&mut self, ns: u64) {
        let b = &mut self.counts[bucket(ns)];
        *b = b.saturating_add(1);
        self.n += 1;
        self.sum += ns as u128;
        self.max = self.max.max(ns);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The largest latency recorded (0 if none).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean latency in ns (0 if none).
    pub fn mean(&self) -> u64 {
        if self.n == 0 { 0 } else { (self.sum / self.n as u128) as u64 }
    }

    /// The `q` quantile (0..=1) in ns: the middle of the bucket holding the
    /// sample of rank `ceil(q * n)`, so within 1/128 of the true value.
    /// 0 when nothing was recorded.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                let (lo, w) = bucket_range(i);
                // Never report more than was seen: the top bucket's middle
                // can exceed the maximum.
                return (lo + w / 2).min(self.max);
            }
        }
        self.max
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.n += other.n;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Forgets everything recorded (keeps the memory).
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.n = 0;
        self.sum = 0;
        self.max = 0;
    }

    /// One line for logs: `p50 1.23 ms p99 2.34 ms max 3.45 ms (N commands)`.
    pub fn summary(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        format!(
            "p50 {:.3} ms p99 {:.3} ms max {:.3} ms ({} commands)",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.max),
            self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_fine() {
        // Every bucket starts where the previous one ended.
        let mut next = 0;
        for i in 0..BUCKETS - 1 {
            let (lo, w) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            next = lo + w;
            assert_eq!(bucket(lo), i);
            assert_eq!(bucket(lo + w - 1), i);
            // Relative width at most 1/SUB.
            assert!(w == 1 || w * SUB <= lo, "bucket {i}: {lo} + {w}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_are_within_the_resolution() {
        let mut h = Latencies::new();
        assert_eq!((h.quantile(0.5), h.count(), h.max()), (0, 0, 0));
        // 1..=1000 µs, once each.
        for us in 1..=1000u64 {
            h.record(us * 1000);
        }
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 / 100.0;
        assert!(near(h.quantile(0.5), 500_000), "{}", h.quantile(0.5));
        assert!(near(h.quantile(0.99), 990_000), "{}", h.quantile(0.99));
        assert_eq!(h.quantile(1.0), 1_000_000, "the maximum, not past it");
        assert!(near(h.quantile(0.0), 1000));
        assert_eq!((h.count(), h.max(), h.mean()), (1000, 1_000_000, 500_500));
        assert!(h.summary().starts_with("p50 0.50"), "{}", h.summary());
        let mut total = Latencies::new();
        total.merge(&h);
        total.merge(&h);
        assert_eq!((total.count(), total.max()), (2000, 1_000_000));
        assert_eq!(total.quantile(0.5), h.quantile(0.5));
        h.clear();
        assert_eq!((h.count(), h.quantile(0.5)), (0, 0));
        // Small values are exact.
        h.record(7);
        h.record(9);
        assert_eq!(h.quantile(0.5), 7);
        assert_eq!(h.quantile(1.0), 9);
    }
}
