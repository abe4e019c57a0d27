//! `message_log`: logs the messages of one wire (detections, odometry,
//! drive or wheel commands), rate-limited, to see what a pipeline decides.

use serde::Deserialize;

use crate::block::*;
use crate::msg::*;
use crate::wire::FrameMeta;

fn d_every() -> f64 {
    1.0
}

/// Parameters of `message_log`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    kind: String,
    #[serde(default = "d_every")]
    every_s: f64,
}

enum AnyInput {
    Drive(Input<DriveCommand>),
    Wheels(Input<WheelCommand>),
    Detection(Input<Detection>),
    Odometry(Input<Odometry>),
}

/// The `message_log` block.
pub struct MessageLog {
    input: AnyInput,
    every_ns: u64,
    next_ns: u64,
    n: u64,
    latest: Option<(String, FrameMeta)>,
}

fn kind_of(s: &str) -> Result<PortType, String> {
    Ok(match s {
        "drive" => PortType::msg::<DriveCommand>(),
        "wheels" => PortType::msg::<WheelCommand>(),
        "detection" => PortType::msg::<Detection>(),
        "odometry" => PortType::msg::<Odometry>(),
        k => return Err(format!("kind {k:?} is not a message kind; use drive, wheels, detection or odometry")),
    })
}

impl BlockType for MessageLog {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("message_log", "Logs the messages on its input (rate-limited), with their age")
            .role(Role::Sink)
            .param("kind", "string", "required", "drive, wheels, detection or odometry")
            .param("every_s", "float", "1.0", "seconds between log lines (the newest message each time)")
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        Ok(Ports::new().input("input", kind_of(&p.kind)?))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let input = match p.kind.as_str() {
            "drive" => AnyInput::Drive(setup.input("input")?),
            "wheels" => AnyInput::Wheels(setup.input("input")?),
            "detection" => AnyInput::Detection(setup.input("input")?),
            _ => AnyInput::Odometry(setup.input("input")?),
        };
        Ok(MessageLog { input, every_ns: (p.every_s.max(0.0) * 1e9) as u64, next_ns: 0, n: 0, latest: None })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let got = match &mut self.input {
            AnyInput::Drive(i) => i.recv(cx.tick()).map(|m| (format!("{:?}", m.msg), m.meta)),
            AnyInput::Wheels(i) => i.recv(cx.tick()).map(|m| (format!("{:?}", m.msg), m.meta)),
            AnyInput::Detection(i) => i.recv(cx.tick()).map(|m| (format!("{:?}", m.msg), m.meta)),
            AnyInput::Odometry(i) => i.recv(cx.tick()).map(|m| (format!("{:?}", m.msg), m.meta)),
        };
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
            tracing::info!(
                "#{} seq {} (source {}), {age:.2} ms after capture: {text}",
                self.n,
                meta.seq,
                meta.source_seq
            );
        }
        Ok(Step::Continue)
    }
}
