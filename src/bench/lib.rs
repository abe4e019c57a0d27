//! framewire-bench: the benchmarks behind `framewire bench ...`. They print
//! figures and ratios against baselines measured in the same run, never
//! pass/fail timings. Kept out of the library crates so that measuring code
//! never ships inside a block.
//!
//! May depend on: any framewire crate (it measures them), `nix`, `memmap2`
//! (page-aligned buffers for the filter benchmark).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod camera;
pub mod demo;
pub mod filters;
pub mod view;
pub mod wire;
#[cfg(feature = "zenoh")]
pub mod zenoh;

/// The median of `v` (the upper one of an even count; NaN when empty),
/// sorting `v` in place. Takes a `Vec` or a mutable slice.
pub fn median(mut v: impl AsMut<[f64]>) -> f64 {
    let v = v.as_mut();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `q` quantile (0..=1) of sorted `v`.
pub fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}
