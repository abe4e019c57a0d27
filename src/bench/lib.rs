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

/// Parses a `--sizes` value, `640x480,1920x1080`, into (width, height)
/// pairs; the error names the size that is not `WxH`.
pub fn parse_sizes(v: &str) -> Result<Vec<(u32, u32)>, String> {
    v.split(',')
        .map(|s| {
            let (w, h) = s.split_once('x').ok_or_else(|| format!("size {s:?} is not WxH"))?;
            Ok((
                w.parse().map_err(|_| format!("bad width in {s:?}"))?,
                h.parse().map_err(|_| format!("bad height in {s:?}"))?,
            ))
        })
        .collect()
}

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

/// The CPU's model name (and, on x86, family and model numbers, which tell
/// generations apart when a VM shows only a brand), from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let name = field("model name").or_else(|| field("Hardware")).or_else(|| field("Model"));
    let name = name.unwrap_or_else(|| "unknown CPU".into());
    match (field("cpu family"), field("model")) {
        (Some(f), Some(m)) => format!("{name} (family {f}, model {m})"),
        _ => name,
    }
}

/// Today's date and time in UTC, `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = framewire_sys::proc::realtime_ns() / 1_000_000_000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    utc_now()[..10].to_string()
}
