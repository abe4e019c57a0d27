//! `message_log`: logs the messages of one wire (detections, odometry,
//! drive or wheel commands), rate-limited, to see what a pipeline decides.

use framewire_sdk::FrameMeta;
use framewire_sdk::block::*;
use framewire_sdk::msg::{self, MessageInfo};

framewire_sdk::params! {
    /// Parameters of `message_log`.
    pub struct Params {
        /// The message type on the input: drive, wheels, detection, odometry, or any registered type (`framewire messages`).
        kind: String = required("detection"),
        /// Seconds between log lines (the newest message each time).
        every_s: f64 = 1.0,
    }
}

/// The `message_log` block.
pub struct MessageLog {
    input: Input<Raw>,
    info: MessageInfo,
    every_ns: u64,
    next_ns: u64,
    n: u64,
    latest: Option<(String, FrameMeta)>,
}

fn type_of(s: &str) -> Result<MessageInfo, String> {
    msg::lookup(s).ok_or_else(|| {
        let known: Vec<String> = msg::known().iter().map(|m| m.ty.name().to_string()).collect();
        format!("kind {s:?} is not a message type; use one of {}", known.join(", "))
    })
}

impl BlockType for MessageLog {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("message_log", "Logs the messages on its input (rate-limited), with their age").role(Role::Sink)
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        Ok(Ports::new().input("input", PortType::Msg(type_of(&p.kind)?.ty)))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let info = type_of(&p.kind).map_err(BlockError::Config)?;
        let input = setup.input_raw("input", info.ty)?;
        Ok(MessageLog { input, info, every_ns: (p.every_s.max(0.0) * 1e9) as u64, next_ns: 0, n: 0, latest: None })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let got = self.input.recv(cx.tick()).map(|g| {
            (format!("{} {{ {} }}", self.info.ty.name(), msg::format_fields(&(self.info.layout)(), &g)), *g.meta())
        });
        if let Some(g) = got {
            self.n += 1;
            self.latest = Some(g);
        }
        let now = cx.now_ns();
        if now >= self.next_ns
            && let Some((text, meta)) = self.latest.take()
        {
            self.next_ns = now + self.every_ns;
            let age = now.saturating_sub(meta.timestamp_ns) as f64 / 1e6;
            framewire_sdk::tracing::info!(
                "#{} seq {} (source {}), {age:.2} ms after capture: {text}",
                self.n,
                meta.seq,
                meta.source_seq
            );
        }
        Ok(Step::Continue)
    }
}
