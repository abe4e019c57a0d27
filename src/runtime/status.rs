//! `framewire status`: what running pipelines are doing, read from outside
//! through the supervisors' run files and the wires' counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use framewire_sdk::state::{BlockState, Link};
use framewire_sys::proc::{cpu_time_ns, monotonic_ns};
use framewire_wire as wire;

use super::runfile;

/// A block's gauges as `name=value` pairs (3 significant decimals at most).
pub fn gauge_text(st: &BlockState) -> String {
    st.gauges()
        .iter()
        .map(|(n, v)| {
            let v = if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v:.0}") } else { format!("{v:.3}") };
            format!("{n}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Frame rates from successive samples of wire counters.
#[derive(Default)]
pub struct RateMeter {
    last: BTreeMap<String, (Instant, u64)>,
}

impl RateMeter {
    /// Frames per second on `seg` since the previous call (0 the first time).
    pub fn rate(&mut self, seg: &str, frames: u64) -> f64 {
        let now = Instant::now();
        let r = match self.last.get(seg) {
            Some((t, f)) if now > *t => frames.saturating_sub(*f) as f64 / (now - *t).as_secs_f64(),
            _ => 0.0,
        };
        self.last.insert(seg.to_string(), (now, frames));
        r
    }

    /// One line: `wire fps` for each segment.
    pub fn summary(&mut self, segs: &[String]) -> String {
        let mut s = String::new();
        for seg in segs {
            if let Ok(st) = wire::inspect(seg) {
                let short = seg.splitn(3, '.').nth(2).unwrap_or(seg);
                let r = self.rate(seg, st.frames_written);
                let _ = write!(s, "{short} {r:.1}/s  ");
            }
        }
        s.trim_end().to_string()
    }
}

/// A running pipeline, from its run file.
#[derive(Debug)]
pub struct RunInfo {
    /// Run-file contents.
    pub table: toml::Table,
    /// Whether its supervisor is alive.
    pub alive: bool,
}

/// The run files under `prefix`, optionally only pipeline `only`.
pub fn pipelines(prefix: &str, only: Option<&str>) -> Vec<RunInfo> {
    let mut out = Vec::new();
    let Ok(names) = framewire_sys::shm::list(&format!("{prefix}."), framewire_sys::shm::current_uid()) else {
        return out;
    };
    for n in names.iter().filter(|n| n.ends_with("._run")) {
        // Our own regular files only: never a symlink or another user's.
        let Ok(text) = runfile::read_own(&std::path::Path::new(runfile::SHM_DIR).join(n)) else { continue };
        let Ok(table) = text.parse::<toml::Table>() else { continue };
        let name = table.get("pipeline").and_then(|v| v.as_str()).unwrap_or("");
        if only.is_some_and(|o| o != name) {
            continue;
        }
        out.push(RunInfo { alive: super::supervisor::live_supervisor(&text).is_some(), table });
    }
    out
}

/// Renders a report of every pipeline under `prefix` (or just `only`),
/// sampling counters twice `window` apart to measure rates.
pub fn report(prefix: &str, only: Option<&str>, window: Duration) -> String {
    let runs = pipelines(prefix, only);
    if runs.is_empty() {
        return match only {
            Some(p) => format!("pipeline {p} is not running (no run file under /dev/shm/{prefix}.{p}.*)\n"),
            None => "no framewire pipeline is running\n".to_string(),
        };
    }
    let segs: Vec<String> = runs
        .iter()
        .flat_map(|r| r.table.get("wires").and_then(|w| w.as_array()).cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let pids: Vec<u32> = runs
        .iter()
        .flat_map(|r| r.table.get("block").and_then(|b| b.as_array()).cloned().unwrap_or_default())
        .filter_map(|b| b.get("pid").and_then(|p| p.as_integer()).map(|p| p as u32))
        .collect();
    let before: BTreeMap<String, (u64, Vec<u64>)> = segs
        .iter()
        .filter_map(|s| {
            wire::inspect(s)
                .ok()
                .map(|st| (s.clone(), (st.frames_written, st.readers.iter().map(|r| r.frames_skipped).collect())))
        })
        .collect();
    let cpu0: BTreeMap<u32, u64> = pids.iter().filter_map(|&p| cpu_time_ns(p).map(|c| (p, c))).collect();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let dt = t0.elapsed().as_secs_f64();
    let mut out = String::new();
    for r in &runs {
        let t = &r.table;
        let name = t.get("pipeline").and_then(|v| v.as_str()).unwrap_or("?");
        let pid = t.get("supervisor_pid").and_then(|v| v.as_integer()).unwrap_or(0);
        let up = t.get("uptime_s").and_then(|v| v.as_float()).unwrap_or(0.0);
        let file = t.get("file").and_then(|v| v.as_str()).unwrap_or("?");
        if !r.alive {
            // Its blocks are not "running": what is left is stale state.
            let _ = writeln!(
                out,
                "pipeline {name} ({file}): NOT RUNNING: its supervisor (pid {pid}) is gone; the state left in /dev/shm is stale and the next `framewire run` of it removes it"
            );
            continue;
        }
        let _ = writeln!(out, "pipeline {name} ({file}): running, supervisor pid {pid}, up {up:.0} s");
        let _ = writeln!(
            out,
            "  {:<16} {:<14} {:>7} {:<11} {:>8} {:>6}  last exit",
            "block", "type", "pid", "state", "restarts", "cpu%"
        );
        for b in t.get("block").and_then(|b| b.as_array()).into_iter().flatten() {
            let g = |k: &str| {
                b.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default()
            };
            let bpid = b.get("pid").and_then(|p| p.as_integer()).unwrap_or(0) as u32;
            let cpu = match (cpu0.get(&bpid), cpu_time_ns(bpid)) {
                (Some(a), Some(b)) => format!("{:.1}", (b.saturating_sub(*a)) as f64 / 1e9 / dt * 100.0),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<16} {:<14} {:>7} {:<11} {:>8} {:>6}  {}",
                g("name"),
                g("type"),
                bpid,
                g("state"),
                g("restarts"),
                cpu,
                g("last_exit")
            );
            // What the block says of itself: its device link and gauges.
            if let Some(st) = b.get("state_segment").and_then(|v| v.as_str()).and_then(|n| BlockState::open(n).ok()) {
                let (link, detail, since) = st.link();
                if link != Link::None {
                    let ago = monotonic_ns().saturating_sub(since) as f64 / 1e9;
                    let _ = writeln!(out, "  {:<16} link {} for {ago:.1} s: {detail}", "", link.name());
                }
                let g = gauge_text(&st);
                if !g.is_empty() {
                    let _ = writeln!(out, "  {:<16} {g}", "");
                }
            }
        }
        let _ = writeln!(
            out,
            "  {:<28} {:>8} {:>10} {:>12} {:>8} {:>9}",
            "wire", "policy", "frames/s", "latency", "drops", "readers"
        );
        for v in t.get("wires").and_then(|w| w.as_array()).into_iter().flatten() {
            let Some(seg) = v.as_str() else { continue };
            let short = seg.splitn(3, '.').nth(2).unwrap_or(seg);
            match wire::inspect(seg) {
                Err(e) => {
                    let _ = writeln!(out, "  {short:<28} unreadable: {e}");
                }
                Ok(st) => {
                    let (f0, s0) = before.get(seg).cloned().unwrap_or_default();
                    let fps = st.frames_written.saturating_sub(f0) as f64 / dt;
                    let lat = st.readers.iter().map(|r| r.mean_latency_ns).max().unwrap_or(0);
                    let drops: u64 =
                        st.readers.iter().map(|r| r.frames_skipped).sum::<u64>().saturating_sub(s0.iter().sum());
                    let age = if st.last_commit_ns > 0 { (monotonic_ns() - st.last_commit_ns) / 1_000_000 } else { 0 };
                    let _ = writeln!(
                        out,
                        "  {short:<28} {:>8} {fps:>10.1} {:>9.1} us {drops:>8} {:>9}{}",
                        st.policy.to_string(),
                        lat as f64 / 1000.0,
                        st.readers.len(),
                        if st.frames_written > 0 && age > 2000 {
                            format!("  (silent for {age} ms)")
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
    out
}
