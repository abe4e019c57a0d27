//! Hand-written x86-64 SIMD kernels for what LLVM does not vectorise on its
//! own, one module per kernel family:
//!
//! - [`shuffle`]: byte shuffles of 3-byte pixels (SSSE3 `pshufb`: flips,
//!   RGB <-> BGR, 2x shrink) and the AVX2, AVX-512BW and AVX-512 VBMI
//!   RGB <-> BGR kernels;
//! - [`idct`]: libjpeg's accurate integer IDCT (AVX2 `pmaddwd`);
//! - [`yuv`]: YUV -> RGB (AVX2, AVX-512 VBMI);
//! - [`gray`]: RGB -> GREY (AVX-512 VBMI);
//! - [`resize`]: the bilinear taps (32-bit gathers + `pmaddwd`), the
//!   bilinear vertical blend and the 2x2 box average;
//! - [`mask`]: mask bit packing for the morphology bit planes.
//!
//! These are the only modules of the filters with `unsafe`: unaligned loads
//! and stores (and gathers), each on a range whose length was checked just
//! before, and calls into `#[target_feature]` functions after run-time
//! detection.
//!
//! Every function has a scalar fallback computing exactly the same result
//! (the tests compare them); it runs for remainders, on CPUs without the
//! feature, on other architectures (aarch64 builds use only the fallbacks
//! and the auto-vectorised kernels elsewhere), and when the environment
//! variable `FRAMEWIRE_SIMD` caps the level (see [`simd_level`]).

mod gray;
mod idct;
mod mask;
mod resize;
mod shuffle;
mod yuv;

pub(crate) use gray::rgb_gray;
pub(crate) use idct::idct_islow;
pub(crate) use mask::{pack_mask, unpack_mask};
pub(crate) use resize::{area_v2, area2_gray, area43_h, hline, vline};
pub(crate) use shuffle::{copy2, even3, rev3, swap3};
pub(crate) use yuv::yuv_rgb;

use std::sync::OnceLock;

/// The environment variable that caps the SIMD level the filters use:
/// `avx512` (the default: everything this CPU has), `avx2`, `ssse3` or
/// `scalar`. It is read once, the first time a filter asks.
pub const SIMD_ENV: &str = "FRAMEWIRE_SIMD";

/// The instruction-set levels the filters' kernels are written for, in
/// increasing order; each level includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Plain Rust only (what aarch64 and pre-2006 x86-64 CPUs run; on
    /// aarch64 LLVM still vectorises the plain loops with NEON).
    Scalar,
    /// SSSE3 byte shuffles.
    Ssse3,
    /// AVX2, with BMI1/2, FMA, LZCNT and POPCNT (every AVX2 CPU has them):
    /// the hand-written AVX2 kernels and the AVX2 copies of the
    /// auto-vectorised ones.
    Avx2,
    /// AVX-512F and AVX-512BW (and the VBMI kernel where the CPU also has
    /// AVX-512 VBMI).
    Avx512,
}

impl SimdLevel {
    /// The value of [`SIMD_ENV`] that selects this level.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Ssse3 => "ssse3",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// Parses a value of [`SIMD_ENV`] (case-insensitive).
    pub fn parse(s: &str) -> Option<SimdLevel> {
        [SimdLevel::Scalar, SimdLevel::Ssse3, SimdLevel::Avx2, SimdLevel::Avx512]
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// What this CPU supports, ignoring [`SIMD_ENV`].
pub fn detected_simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        if has!("avx2") && has!("bmi1") && has!("bmi2") && has!("fma") && has!("lzcnt") && has!("popcnt") {
            if has!("avx512f") && has!("avx512bw") {
                return SimdLevel::Avx512;
            }
            return SimdLevel::Avx2;
        }
        if has!("ssse3") {
            return SimdLevel::Ssse3;
        }
    }
    SimdLevel::Scalar
}

/// The level the filters run at: what the CPU supports, capped by
/// [`SIMD_ENV`] when it is set. Decided once per process. An unknown value
/// is reported (as a warning naming the accepted values) and ignored.
pub fn simd_level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let found = detected_simd_level();
        match std::env::var(SIMD_ENV) {
            Err(_) => found,
            Ok(v) => match SimdLevel::parse(&v) {
                Some(cap) => found.min(cap),
                None => {
                    tracing::warn!(
                        "{SIMD_ENV}={v:?} is not a SIMD level; use avx512, avx2, ssse3 or scalar (running at {})",
                        found.name()
                    );
                    found
                }
            },
        }
    })
}

/// A description of the level in use for reports, e.g. `avx512 (VBMI)` or
/// `avx2 (capped by FRAMEWIRE_SIMD; the CPU has avx512)`.
pub fn simd_description() -> String {
    let (level, found) = (simd_level(), detected_simd_level());
    let mut s = level.name().to_string();
    if level == SimdLevel::Avx512 && have_avx512vbmi() {
        s += " (VBMI)";
    }
    if level < found {
        s += &format!(" (capped by {SIMD_ENV}; the CPU has {})", found.name());
    }
    s
}

/// Whether the SSSE3 kernels may run.
pub(crate) fn have_ssse3() -> bool {
    simd_level() >= SimdLevel::Ssse3
}

/// Whether the AVX2 kernels (and the AVX2 copies of [`super::simd_dispatch`]
/// kernels) may run.
pub(crate) fn have_avx2() -> bool {
    simd_level() >= SimdLevel::Avx2
}

/// Whether AVX-512 kernels (foundation and byte/word instructions) may run.
pub(crate) fn have_avx512bw() -> bool {
    simd_level() >= SimdLevel::Avx512
}

/// Whether the AVX-512 copies of [`super::simd_dispatch`] kernels may run
/// (AVX-512 F, BW, VL and DQ).
pub(crate) fn have_avx512_all() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        have_avx512bw() && std::is_x86_feature_detected!("avx512vl") && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX-512 VBMI byte permutes (with AVX-512BW) may run.
pub(crate) fn have_avx512vbmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        have_avx512bw() && std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        for l in [SimdLevel::Scalar, SimdLevel::Ssse3, SimdLevel::Avx2, SimdLevel::Avx512] {
            assert_eq!(SimdLevel::parse(l.name()), Some(l));
        }
        assert_eq!(SimdLevel::parse(" AVX2 "), Some(SimdLevel::Avx2));
        assert_eq!(SimdLevel::parse("sse9"), None);
        assert!(SimdLevel::Scalar < SimdLevel::Ssse3 && SimdLevel::Avx2 < SimdLevel::Avx512);
        assert!(simd_level() <= detected_simd_level());
    }
}

/// What the kernel tests need: which kernels this CPU can run whatever
/// [`SIMD_ENV`] says (the tests compare every kernel the CPU has with the
/// scalar reference), and a visible skip line.
#[cfg(test)]
pub(crate) mod test_util {
    use super::{SimdLevel, detected_simd_level};

    /// Whether the CPU has `level` (ignoring the cap).
    pub(crate) fn cpu_has(level: SimdLevel) -> bool {
        detected_simd_level() >= level
    }

    /// Whether the CPU has AVX-512 VBMI (ignoring the cap).
    pub(crate) fn cpu_has_vbmi() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Reports visibly (`SKIPPED <test> [simd]: <why>`, past libtest's
    /// capture, and to CI's skip log) that a kernel could not be tested
    /// on this CPU.
    pub(crate) fn skipped(test: &str, why: &str) {
        framewire_sys::testing::skip(test, "simd", why);
    }
}
