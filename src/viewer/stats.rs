//! `/api/state`: the pipeline's wires and blocks, measured now, as JSON.
//!
//! Wires are read with `framewire_wire::inspect` (their counters, without
//! joining them); rates, latencies and CPU shares are differences against
//! the samples of an earlier request at least a second old, so every
//! browser polling the page sees rates over a second or more however often
//! they poll. Readers of this process (the viewer's own taps) are left out
//! of a wire's latency and drops: the viewer skips frames on purpose.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::time::{Duration, Instant};

use framewire_sdk::state::{BlockState, Link, Phase};
use framewire_sys::proc::{cpu_time_ns, monotonic_ns};
use framewire_wire as wire;

use super::Shared;

/// Samples older than this are dropped.
const KEEP: Duration = Duration::from_secs(5);
/// Rates are measured over at least this long when samples allow.
const WINDOW: Duration = Duration::from_secs(1);
/// Samples closer together than this are not stored.
const MIN_STEP: Duration = Duration::from_millis(200);

/// One wire's counters at one time.
#[derive(Clone, Copy, Default)]
struct WireSample {
    frames: u64,
    /// Of the pipeline's readers: frames read, frames skipped, and the sum
    /// of their handoff latencies.
    reads: u64,
    drops: u64,
    latency_ns: u128,
}

/// Earlier samples, per wire, per block process, per feed.
#[derive(Default)]
pub(crate) struct Rates {
    wires: HashMap<String, VecDeque<(Instant, WireSample)>>,
    cpu: HashMap<u32, VecDeque<(Instant, u64)>>,
    feeds: HashMap<String, VecDeque<(Instant, u64)>>,
}

/// Stores `v` at `now` in `q` and returns the sample to measure against:
/// the newest one at least [`WINDOW`] old, else the oldest.
fn against<T: Copy>(q: &mut VecDeque<(Instant, T)>, now: Instant, v: T) -> Option<(Duration, T)> {
    while q.front().is_some_and(|(t, _)| now.duration_since(*t) > KEEP) {
        q.pop_front();
    }
    let base = q.iter().rev().find(|(t, _)| now.duration_since(*t) >= WINDOW).or(q.front()).copied();
    if q.back().is_none_or(|(t, _)| now.duration_since(*t) >= MIN_STEP) {
        q.push_back((now, v));
    }
    base.map(|(t, s)| (now.duration_since(t), s)).filter(|(d, _)| *d >= MIN_STEP)
}

/// `s` as a JSON string.
pub(crate) fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            // `<` too, so no text can close a script element it lands in.
            c if (c as u32) < 0x20 || c == '<' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `v` as a JSON number (`null` for NaN and infinities), `digits` decimals.
fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "null".into(),
    }
}

/// The whole document.
pub(crate) fn state_json(shared: &Shared) -> String {
    let snap = shared.source.snapshot();
    let now = Instant::now();
    let mono = monotonic_ns();
    let me = std::process::id();
    let mut rates = shared.rates.lock().unwrap_or_else(|e| e.into_inner());
    let mut o = String::with_capacity(4096);
    let _ = write!(o, "{{\"pipeline\":{},\"running\":{},\"wires\":[", js(&snap.pipeline), snap.running);
    for (i, w) in snap.wires.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "{{\"name\":{}", js(&w.name));
        match wire::inspect(&w.segment) {
            Err(e) => {
                let _ = write!(o, ",\"error\":{}}}", js(&e.to_string()));
            }
            Ok(st) => {
                let pipeline: Vec<&wire::ReaderStatus> = st.readers.iter().filter(|r| r.pid != me).collect();
                let sample = WireSample {
                    frames: st.frames_written,
                    reads: pipeline.iter().map(|r| r.frames_read).sum(),
                    drops: pipeline.iter().map(|r| r.frames_skipped).sum(),
                    latency_ns: pipeline.iter().map(|r| r.mean_latency_ns as u128 * r.frames_read as u128).sum(),
                };
                let base = against(rates.wires.entry(w.segment.clone()).or_default(), now, sample);
                let per_s = |a: u64, b: u64, d: Duration| a.saturating_sub(b) as f64 / d.as_secs_f64();
                let fps = base.map(|(d, b)| per_s(sample.frames, b.frames, d));
                let drops_per_s = base.map(|(d, b)| per_s(sample.drops, b.drops, d));
                // Mean handoff latency over the window; over all time when
                // nothing was read in the window (or no window yet).
                let latency_us = base
                    .and_then(|(_, b)| {
                        let n = sample.reads.saturating_sub(b.reads);
                        (n > 0 && sample.latency_ns >= b.latency_ns)
                            .then(|| (sample.latency_ns - b.latency_ns) as f64 / n as f64 / 1e3)
                    })
                    .or_else(|| (sample.reads > 0).then(|| sample.latency_ns as f64 / sample.reads as f64 / 1e3));
                let kind = if st.kind.is_message() { st.kind.name().to_string() } else { "image".to_string() };
                let format = st.last_image.map(|(w, h, f)| format!("{f} {w}x{h}")).unwrap_or_default();
                let silent_ms = (st.last_commit_ns > 0).then(|| mono.saturating_sub(st.last_commit_ns) as f64 / 1e6);
                let viewable = st.policy == wire::Policy::Latest && !st.kind.is_message();
                let overlay = st.policy == wire::Policy::Latest
                    && (st.kind == <framewire_sdk::msg::Detection as framewire_sdk::msg::Message>::TYPE
                        || st.last_image.is_some_and(|(_, _, f)| f == framewire_sdk::image::FourCC::GREY));
                let _ = write!(
                    o,
                    ",\"policy\":{},\"kind\":{},\"format\":{},\"frames\":{},\"fps\":{},\"latency_us\":{},\"drops\":{},\"drops_per_s\":{},\"readers\":{},\"viewer_readers\":{},\"writer_pid\":{},\"silent_ms\":{},\"viewable\":{viewable},\"overlay\":{overlay}}}",
                    js(&st.policy.to_string()),
                    js(&kind),
                    js(&format),
                    st.frames_written,
                    num(fps, 1),
                    num(latency_us, 1),
                    sample.drops,
                    num(drops_per_s, 1),
                    pipeline.len(),
                    st.readers.len() - pipeline.len(),
                    st.writer_pid,
                    num(silent_ms, 0),
                );
            }
        }
    }
    o.push_str("],\"blocks\":[");
    for (i, b) in snap.blocks.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let cpu = (b.pid != 0)
            .then(|| cpu_time_ns(b.pid))
            .flatten()
            .and_then(|c| against(rates.cpu.entry(b.pid).or_default(), now, c).map(|(d, c0)| (d, c, c0)))
            .map(|(d, c, c0)| c.saturating_sub(c0) as f64 / d.as_nanos() as f64 * 100.0);
        let _ = write!(
            o,
            "{{\"name\":{},\"type\":{},\"pid\":{},\"state\":{},\"restarts\":{},\"last_exit\":{},\"cpu_percent\":{}",
            js(&b.name),
            js(&b.type_name),
            b.pid,
            js(&b.state),
            b.restarts,
            js(&b.last_exit),
            num(cpu, 1)
        );
        if let Some(st) = b.state_segment.as_deref().and_then(|n| BlockState::open(n).ok()) {
            let phase = match st.phase() {
                Phase::Opening => "opening",
                Phase::Running => "running",
                Phase::Stopping => "stopping",
            };
            let (_, beat) = st.heartbeat();
            let beat_ms = (beat != 0).then(|| mono.saturating_sub(beat) as f64 / 1e6);
            let _ = write!(o, ",\"phase\":{},\"heartbeat_ms\":{}", js(phase), num(beat_ms, 0));
            let (link, detail, since) = st.link();
            if link != Link::None {
                let for_s = mono.saturating_sub(since) as f64 / 1e9;
                let _ = write!(
                    o,
                    ",\"link\":{{\"state\":{},\"detail\":{},\"for_s\":{}}}",
                    js(link.name()),
                    js(&detail),
                    num(Some(for_s), 1)
                );
            }
            o.push_str(",\"gauges\":[");
            for (j, (n, v)) in st.gauges().iter().enumerate() {
                let _ = write!(o, "{}[{},{}]", if j > 0 { "," } else { "" }, js(n), num(Some(*v), 3));
            }
            o.push(']');
        }
        o.push('}');
    }
    // Forget the processes that are gone.
    let pids: Vec<u32> = snap.blocks.iter().map(|b| b.pid).collect();
    rates.cpu.retain(|p, _| pids.contains(p));
    let cfg = &shared.config;
    let _ = write!(
        o,
        "],\"viewer\":{{\"addr\":{},\"max_fps\":{},\"quality\":{},\"max_width\":{},\"connections\":{},\"feeds\":[",
        js(&shared.addr.to_string()),
        num(Some(cfg.max_fps), 1),
        cfg.quality,
        cfg.max_width,
        shared.connections.load(std::sync::atomic::Ordering::Relaxed)
    );
    let feeds = shared.feeds.list();
    for (i, f) in feeds.iter().enumerate() {
        let s = f.stats();
        let id = format!("{}+{}", f.name, f.overlays.join("+"));
        let fps = against(rates.feeds.entry(id).or_default(), now, s.encoded)
            .map(|(d, e0)| s.encoded.saturating_sub(e0) as f64 / d.as_secs_f64());
        let overlays: Vec<String> = f.overlays.iter().map(|n| js(n)).collect();
        let _ = write!(
            o,
            "{}{{\"wire\":{},\"overlays\":[{}],\"watchers\":{},\"encoded\":{},\"fps\":{},\"work_ms\":{},\"age_ms\":{},\"width\":{},\"height\":{},\"jpeg_bytes\":{}}}",
            if i > 0 { "," } else { "" },
            js(&f.name),
            overlays.join(","),
            s.watchers,
            s.encoded,
            num(fps, 1),
            num(Some(s.work_ns as f64 / 1e6), 2),
            num(Some(s.age_ns as f64 / 1e6), 1),
            s.size.0,
            s.size.1,
            s.jpeg_bytes
        );
    }
    let ids: Vec<String> = feeds.iter().map(|f| format!("{}+{}", f.name, f.overlays.join("+"))).collect();
    rates.feeds.retain(|k, _| ids.contains(k));
    let names: Vec<&str> = snap.wires.iter().map(|w| w.segment.as_str()).collect();
    rates.wires.retain(|k, _| names.contains(&k.as_str()));
    o.push_str("]}}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(js("a\"b\\c\nd</script>\u{1}"), "\"a\\\"b\\\\c\\nd\\u003c/script>\\u0001\"");
        assert_eq!(num(Some(f64::NAN), 1), "null");
        assert_eq!(num(Some(2.25), 1), "2.2");
    }

    #[test]
    fn rates_are_measured_over_a_second_when_samples_allow() {
        let mut q = VecDeque::new();
        let t0 = Instant::now();
        assert!(against(&mut q, t0, 0u64).is_none(), "nothing to compare with yet");
        assert!(against(&mut q, t0 + Duration::from_millis(100), 1).is_none(), "too close");
        let (d, v) = against(&mut q, t0 + Duration::from_millis(600), 6).unwrap();
        assert_eq!((d, v), (Duration::from_millis(600), 0));
        against(&mut q, t0 + Duration::from_millis(1200), 12);
        // At 1.7 s the newest sample at least a second old is the one at 0.6 s.
        let (d, v) = against(&mut q, t0 + Duration::from_millis(1700), 17).unwrap();
        assert_eq!((d, v), (Duration::from_millis(1100), 6));
        // Old samples go.
        against(&mut q, t0 + Duration::from_secs(20), 200);
        assert_eq!(q.len(), 1);
    }
}
