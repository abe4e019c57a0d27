//! Benchmarks behind `framewire bench ...`: they print figures and ratios
//! against baselines measured in the same run (never pass/fail timings).

pub mod wire;

/// The `q` quantile (0..=1) of sorted `v`.
pub fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}
