//! `framewire record`: records wires of a pipeline that is already running.
//!
//! The recorder joins each wire as one more reader: wires keep a spare
//! reader entry for exactly such taps (`readers` defaults to the connected
//! readers plus one). On a `latest` wire the tap cannot slow the pipeline:
//! if it falls behind it skips frames, and the skips are counted. On a
//! `queue` wire a tap is a lossless reader like any other, so the producer
//! waits for it when it is a whole ring behind; writing a chunk to disk
//! takes milliseconds, which a queue of a few slots absorbs at camera rates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use framewire_sdk::block::{BlockError, Setup};
use framewire_wire::PayloadType;

use crate::recorder::{Recorded, Recorder, check_topic, parse_kind};
use crate::recording::Options;

/// What went wrong tapping a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// A wire name or type is wrong.
    #[error("{0}")]
    Wire(String),
    /// Recording failed.
    #[error("recording: {0}")]
    Record(#[from] BlockError),
}

/// The topic a wire is recorded under: `cam.frames` -> `/cam/frames`.
pub fn topic_of(wire: &str) -> String {
    format!("/{}", wire.replace('.', "/"))
}

/// Records `wires` (`block.port`) of pipeline `pipeline` under shared-memory
/// prefix `prefix` until `stop` is set (or `duration` passes), then finishes
/// the files.
pub fn record(
    prefix: &str,
    pipeline: &str,
    wires: &[String],
    opts: Options,
    stop: &'static AtomicBool,
    duration: Option<Duration>,
) -> Result<Recorded, TapError> {
    if wires.is_empty() {
        return Err(TapError::Wire("no wires given; name them like --wires camera.frames,blob.detection".into()));
    }
    let mut inputs = BTreeMap::new();
    let mut kinds = Vec::new();
    for w in wires {
        if w.split_once('.').is_none_or(|(b, p)| b.is_empty() || p.is_empty()) {
            return Err(TapError::Wire(format!("wire {w:?} is not `block.port` (e.g. camera.frames)")));
        }
        let seg = framewire_wire::segment_name(prefix, pipeline, w).map_err(|e| TapError::Wire(e.to_string()))?;
        let st = framewire_wire::inspect(&seg).map_err(|e| {
            TapError::Wire(format!(
                "wire {w} of pipeline {pipeline}: {e}; `framewire status {pipeline}` lists its wires"
            ))
        })?;
        let kind = if st.kind == PayloadType::BYTES { parse_kind("image") } else { parse_kind(st.kind.name()) }
            .map_err(|e| TapError::Wire(format!("wire {w}: {e}")))?;
        let topic = topic_of(w);
        check_topic(&topic).map_err(|e| TapError::Wire(format!("wire {w}: {e}")))?;
        inputs.insert(w.clone(), seg);
        kinds.push((w.clone(), topic, kind));
    }
    let mut setup = Setup::new("record", inputs, BTreeMap::new());
    let mut ports = Vec::new();
    for (w, topic, kind) in kinds {
        let ty = crate::recorder::port_type(kind).kind();
        ports.push((topic, kind, setup.input_raw(&w, ty)?));
    }
    let meta = BTreeMap::from([("pipeline".to_string(), pipeline.to_string()), ("wires".to_string(), wires.join(","))]);
    let mut rec = Recorder::start(opts, ports, meta)?;
    let end = duration.map(|d| framewire_sdk::monotonic_ns() + d.as_nanos() as u64);
    let result = loop {
        let now = framewire_sdk::monotonic_ns();
        if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
            break Ok(());
        }
        if let Err(e) = rec.poll(Duration::from_millis(100), now) {
            break Err(e);
        }
    };
    // Finish the files even after an error: what was recorded stays readable.
    let done = rec.finish()?;
    result?;
    Ok(done)
}
