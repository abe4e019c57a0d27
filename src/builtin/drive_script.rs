//! `drive_script`: sends a scripted sequence of drive commands, for
//! bench-testing a robot base (wheels off the ground) without a controller.
//!
//! A restarted script does not replay by default. The supervisor restarts a
//! block that crashed (`restart = "on-failure"`); replaying from the first
//! step after each quick crash would keep the robot moving forever, the
//! deadman never firing because commands never stop. So with `on_restart =
//! "stop"` (the default) a restarted script sends one zero drive command,
//! says why, and finishes; `on_restart = "replay"` starts over as before.
//! A script under `restart = "always"` that should loop wants `repeat =
//! true` (or `on_restart = "replay"`): with "stop", each restart only sends
//! zero and finishes again, until `max_restarts`.

use std::time::Duration;

use framewire_sdk::block::*;
use framewire_sdk::msg::DriveCommand;

/// The environment variable in which the supervisor tells a block how many
/// times it has been restarted (absent or "0" on the first start).
pub const ENV_RESTARTS: &str = "FRAMEWIRE_RESTARTS";

/// How many times this block has been restarted, from the value of
/// [`ENV_RESTARTS`]. A value that is not a number counts as a restart: when
/// in doubt, a script must not replay.
pub fn restarts(value: Option<&str>) -> u64 {
    match value.map(str::trim) {
        None | Some("") => 0,
        Some(v) => v.parse().unwrap_or_else(|_| {
            framewire_sdk::tracing::warn!("{ENV_RESTARTS}={v:?} is not a number; taking this start as a restart");
            1
        }),
    }
}

framewire_sdk::params! {
    /// Parameters of `drive_script`.
    pub struct Params {
        /// Each step: `[seconds, linear m/s, angular rad/s]`, in order.
        steps: Vec<[f64; 3]> = required([[2.0, 0.2, 0.0], [1.0, 0.0, 0.5]]),
        /// How often the current command is sent, Hz.
        rate_hz: f64 = 20.0,
        /// Start over after the last step (else finish and go silent).
        repeat: bool = false,
        /// After a restart (a crash under restart = "on-failure"): "stop"
        /// sends zero and finishes, "replay" starts the script over.
        on_restart: String = "stop",
    }
}

/// The `drive_script` block.
pub struct DriveScript {
    out: Output<DriveCommand>,
    p: Params,
    start_ns: u64,
    next_ns: u64,
    step: usize,
    /// Restarts so far (from the supervisor), when the script must not replay.
    stop_after_restart: Option<u64>,
}

impl DriveScript {
    /// Opens the block as the `restarts`-th restart (0: the first start).
    pub fn open_after(p: Params, setup: &mut Setup, restarts: u64) -> Result<Self, BlockError> {
        let now = framewire_sdk::monotonic_ns();
        let stop_after_restart = (restarts > 0 && p.on_restart == "stop").then_some(restarts);
        Ok(DriveScript { out: setup.output("drive")?, p, start_ns: now, next_ns: now, step: 0, stop_after_restart })
    }
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
        if !matches!(p.on_restart.as_str(), "stop" | "replay") {
            return Err(format!("on_restart must be \"stop\" or \"replay\", got {:?}", p.on_restart));
        }
        Ok(Ports::new().output("drive", PortType::msg::<DriveCommand>()))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let n = restarts(std::env::var(ENV_RESTARTS).ok().as_deref());
        Self::open_after(p, setup, n)
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        if let Some(n) = self.stop_after_restart {
            // Zero now rather than at the driver's deadman: whatever the
            // crashed instance was commanding stops at once.
            self.out.send(&DriveCommand { linear: 0.0, angular: 0.0 }, None)?;
            framewire_sdk::tracing::warn!(
                "restarted ({n} restart(s)): not replaying the script from its first step (on_restart = \"stop\"); \
                 sent a zero drive command and finishing. Set on_restart = \"replay\" to start over instead"
            );
            return Ok(Step::Done);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::msg::Message;
    use framewire_wire::{self as wire, Policy, WireConfig};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;

    static STOP: AtomicBool = AtomicBool::new(false);

    /// A wire of this test's own, unlinked on drop.
    struct Wire(String);
    impl Wire {
        fn new(tag: &str) -> Wire {
            let name = format!("fwscript-{}-{tag}", std::process::id());
            let _ = wire::unlink(&name);
            let mut cfg =
                WireConfig::new(DriveCommand::SIZE as u64, WireConfig::min_slots(Policy::Latest, 1), 1, Policy::Latest);
            cfg.kind = DriveCommand::TYPE;
            wire::create(&name, &cfg).unwrap();
            Wire(name)
        }
    }
    impl Drop for Wire {
        fn drop(&mut self) {
            let _ = wire::unlink(&self.0);
        }
    }

    fn params(extra: &str) -> Params {
        let t: framewire_sdk::toml::Table =
            framewire_sdk::toml::from_str(&format!("steps = [[5.0, 0.3, 0.0]]\n{extra}")).unwrap();
        <Params as framewire_sdk::params::Params>::from_table(&t).unwrap()
    }

    /// Runs the script as the `restarts`-th start: what it sent first, and
    /// whether it finished at once.
    fn first_command(tag: &str, p: Params, restarts: u64) -> (DriveCommand, Step) {
        let w = Wire::new(tag);
        let m = |port: &str| BTreeMap::from([(port.to_string(), w.0.clone())]);
        let mut reader: Input<DriveCommand> = Setup::new("sink", m("in"), BTreeMap::new()).input("in").unwrap();
        let mut b =
            DriveScript::open_after(p, &mut Setup::new("script", BTreeMap::new(), m("drive")), restarts).unwrap();
        let mut cx = Context::new("test", &STOP);
        let step = BlockType::step(&mut b, &mut cx).unwrap();
        (reader.recv(Duration::from_secs(5)).expect("a command").msg, step)
    }

    /// Issue 11, item 11: a script restarted after a crash must not replay
    /// (the robot would never stop); by default it commands zero and
    /// finishes. `replay` keeps the old behaviour on request.
    #[test]
    fn a_restarted_script_stops_instead_of_replaying() {
        let (c, s) = first_command("first", params(""), 0);
        assert_eq!((c.linear, c.angular, s), (0.3, 0.0, Step::Continue), "first start: the script");
        let (c, s) = first_command("restarted", params(""), 1);
        assert_eq!((c.linear, c.angular, s), (0.0, 0.0, Step::Done), "restarted: zero, then done");
        let (c, s) = first_command("replay", params("on_restart = \"replay\""), 3);
        assert_eq!((c.linear, c.angular, s), (0.3, 0.0, Step::Continue), "replay on request");
        assert!(DriveScript::ports(&params("on_restart = \"again\"")).unwrap_err().contains("\"stop\" or \"replay\""));
    }

    #[test]
    fn restart_count_from_the_environment_value() {
        assert_eq!([restarts(None), restarts(Some("0")), restarts(Some("")), restarts(Some("2"))], [0, 0, 0, 2]);
        assert_eq!(restarts(Some("twice")), 1, "unreadable: taken as a restart");
    }
}
