//! `frame_sink`: reads frames and reports rate, latency and drops; the
//! end of a pipeline when nothing else consumes it.

use framewire_sdk::block::*;

framewire_sdk::params! {
    /// Parameters of `frame_sink`.
    pub struct Params {
        /// Seconds between log lines (0 = only at stop).
        report_every_s: f64 = 1.0,
        /// Testing aid: exit with an error after this many frames (0 = never).
        crash_after_frames: u64 = 0,
        /// Finish after this many frames (0 = run until stopped).
        frames: u64 = 0,
        /// Testing aid: refuse the configuration when opening (how the supervisor treats open-time configuration errors).
        refuse_config: bool = false,
    }
}

/// The `frame_sink` block.
pub struct FrameSink {
    input: Input<Image>,
    p: Params,
    n: u64,
    window_n: u64,
    window_start: u64,
    latencies: Vec<u64>,
    last_seq: u64,
}

impl BlockType for FrameSink {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("frame_sink", "Consumes frames and logs frames/s, capture-to-sink latency and drops")
            .role(Role::Sink)
    }

    fn ports(_: &Params) -> Result<Ports, String> {
        Ok(Ports::new().input("input", PortType::image_any()))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        if p.refuse_config {
            return Err(BlockError::Config("refuse_config = true (testing aid)".into()));
        }
        Ok(FrameSink {
            input: setup.input("input")?,
            p,
            n: 0,
            window_n: 0,
            window_start: framewire_sdk::monotonic_ns(),
            latencies: Vec::with_capacity(1024),
            last_seq: 0,
        })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        if let Some(frame) = self.input.recv(cx.tick()) {
            let m = frame.meta();
            let now = cx.now_ns();
            self.latencies.push(now.saturating_sub(m.timestamp_ns));
            self.last_seq = m.seq;
            if self.n == 0 {
                framewire_sdk::tracing::info!(
                    "first frame: {}x{} {} stride {} ({} bytes)",
                    m.image.width,
                    m.image.height,
                    m.image.fourcc,
                    m.image.stride,
                    m.len
                );
            }
            drop(frame);
            self.n += 1;
            self.window_n += 1;
            if self.p.crash_after_frames > 0 && self.n >= self.p.crash_after_frames {
                return Err(BlockError::Other(format!("crash_after_frames = {} reached (testing aid)", self.n)));
            }
        }
        let now = cx.now_ns();
        let elapsed = (now - self.window_start) as f64 / 1e9;
        if self.p.report_every_s > 0.0 && elapsed >= self.p.report_every_s {
            self.report(elapsed);
            self.window_start = now;
            self.window_n = 0;
        }
        if self.p.frames > 0 && self.n >= self.p.frames {
            return Ok(Step::Done);
        }
        Ok(Step::Continue)
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        framewire_sdk::tracing::info!(
            "received {} frames, skipped {}, last seq {}",
            self.n,
            self.input.skipped(),
            self.last_seq
        );
        Ok(())
    }
}

impl FrameSink {
    fn report(&mut self, elapsed: f64) {
        self.latencies.sort_unstable();
        let pct = |q: f64| self.latencies.get(((self.latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
        framewire_sdk::tracing::info!(
            "{:.1} frames/s, capture-to-sink latency p50 {:.2} ms p99 {:.2} ms, {} skipped in total",
            self.window_n as f64 / elapsed,
            pct(0.5) as f64 / 1e6,
            pct(0.99) as f64 / 1e6,
            self.input.skipped()
        );
        self.latencies.clear();
    }
}
