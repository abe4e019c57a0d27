//! `drive_script`: sends a scripted sequence of drive commands, for
//! bench-testing a robot base (wheels off the ground) without a controller.

use std::time::Duration;

use framewire_sdk::block::*;
use framewire_sdk::msg::DriveCommand;

framewire_sdk::params! {
    /// Parameters of `drive_script`.
    pub struct Params {
        /// Each step: `[seconds, linear m/s, angular rad/s]`, in order.
        steps: Vec<[f64; 3]> = required([[2.0, 0.2, 0.0], [1.0, 0.0, 0.5]]),
        /// How often the current command is sent, Hz.
        rate_hz: f64 = 20.0,
        /// Start over after the last step (else finish and go silent).
        repeat: bool = false,
    }
}

/// The `drive_script` block.
pub struct DriveScript {
    out: Output<DriveCommand>,
    p: Params,
    start_ns: u64,
    next_ns: u64,
    step: usize,
}

impl BlockType for DriveScript {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("drive_script", "Sends scripted drive commands (bench-testing a base without a controller)")
            .role(Role::Source)
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        if p.steps.is_empty() {
            return Err("steps is empty; give [[seconds, linear, angular], ...]".into());
        }
        if let Some(s) = p.steps.iter().find(|s| s[0].is_nan() || s[0] <= 0.0 || !s[1].is_finite() || !s[2].is_finite())
        {
            return Err(format!("step {s:?} needs a positive duration and finite speeds"));
        }
        if !(p.rate_hz > 0.0 && p.rate_hz <= 1000.0) {
            return Err(format!("rate_hz {} is out of range (0, 1000]", p.rate_hz));
        }
        Ok(Ports::new().output("drive", PortType::msg::<DriveCommand>()))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let now = framewire_sdk::monotonic_ns();
        Ok(DriveScript { out: setup.output("drive")?, p, start_ns: now, next_ns: now, step: 0 })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let now = cx.now_ns();
        if now < self.next_ns {
            std::thread::sleep(Duration::from_nanos((self.next_ns - now).min(cx.tick().as_nanos() as u64)));
            return Ok(Step::Idle);
        }
        self.next_ns = (self.next_ns + (1e9 / self.p.rate_hz) as u64).max(now);
        // Advance through the steps by elapsed time.
        loop {
            let dur = (self.p.steps[self.step][0] * 1e9) as u64;
            if now - self.start_ns < dur {
                break;
            }
            self.start_ns += dur;
            self.step += 1;
            if self.step == self.p.steps.len() {
                if !self.p.repeat {
                    framewire_sdk::tracing::info!(
                        "script finished; sending nothing more (drivers downstream stop by their deadman)"
                    );
                    return Ok(Step::Done);
                }
                self.step = 0;
            }
            framewire_sdk::tracing::info!(
                "step {}: linear {} m/s, angular {} rad/s",
                self.step,
                self.p.steps[self.step][1],
                self.p.steps[self.step][2]
            );
        }
        let [_, linear, angular] = self.p.steps[self.step];
        self.out.send(&DriveCommand { linear: linear as f32, angular: angular as f32 }, None)?;
        Ok(Step::Continue)
    }
}
