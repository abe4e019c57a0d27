//! A simulated Sabertooth 2x25 / 2x32 in packetized or simplified serial.

use super::{Ctx, SimDevice, each_frame};
use crate::proto::sabertooth::{self as st, cmd};
use std::time::Duration;

/// Full speed of the simulated motors, counts/s (the model's units).
pub const FULL_SPEED: f64 = 10_000.0;

/// A Sabertooth. It never answers: that is the protocol.
pub struct SabertoothSim {
    /// Packetized address, or `None` for simplified serial.
    pub address: Option<u8>,
    cmd: [i32; 2],
    mixed: (Option<i32>, Option<i32>),
}

impl SabertoothSim {
    /// Packetized serial at `address`.
    pub fn packetized(address: u8) -> Self {
        SabertoothSim { address: Some(address), cmd: [0; 2], mixed: (None, None) }
    }
    /// Simplified serial.
    pub fn simplified() -> Self {
        SabertoothSim { address: None, cmd: [0; 2], mixed: (None, None) }
    }

    /// Sets the model from the commands, `scale` steps being full speed
    /// (`scale_m2_reverse` for motor 2 in reverse); logs the pair when
    /// `whole` (after motor 2's half: drivers send motor 1 then motor 2).
    fn apply(&mut self, ctx: &mut Ctx, scale: f64, scale_m2_reverse: f64, whole: bool) {
        let m2 = if self.cmd[1] < 0 { scale_m2_reverse } else { scale };
        ctx.state.model.target = [self.cmd[0] as f64 * FULL_SPEED / scale, self.cmd[1] as f64 * FULL_SPEED / m2];
        if whole {
            ctx.record(self.cmd[0] as f64, self.cmd[1] as f64);
        }
    }
}

impl SimDevice for SabertoothSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        let Some(addr) = self.address else {
            // Simplified: every byte is a command.
            for b in rx.drain(..) {
                match b {
                    0 => self.cmd = [0, 0],
                    1..=127 => self.cmd[0] = b as i32 - 64,
                    _ => self.cmd[1] = b as i32 - 192,
                }
                // Simplified serial has no serial timeout of its own. Motor
                // 2 reaches full reverse at 128, 64 steps below its stop.
                self.apply(ctx, 63.0, 64.0, b == 0 || b >= 128);
            }
            return;
        };
        each_frame(rx, ctx, st::parse, |p, ctx| {
            if p.address != addr {
                return;
            }
            // The serial timeout restarts on every valid packet.
            ctx.fed = true;
            let d = p.data as i32;
            match p.command {
                cmd::M1_FORWARD => self.cmd[0] = d,
                cmd::M1_BACKWARD => self.cmd[0] = -d,
                cmd::M2_FORWARD => self.cmd[1] = d,
                cmd::M2_BACKWARD => self.cmd[1] = -d,
                cmd::DRIVE_FORWARD => self.mixed.0 = Some(d),
                cmd::DRIVE_BACKWARD => self.mixed.0 = Some(-d),
                cmd::TURN_RIGHT => self.mixed.1 = Some(d),
                cmd::TURN_LEFT => self.mixed.1 = Some(-d),
                cmd::SERIAL_TIMEOUT => {
                    ctx.state.hw_timeout = (d > 0).then(|| Duration::from_millis(100 * d as u64));
                    return;
                }
                _ => return,
            }
            if p.command >= cmd::DRIVE_FORWARD {
                // Mixed mode moves only once both halves arrived.
                let (Some(dr), Some(t)) = self.mixed else {
                    return;
                };
                self.cmd = [(dr + t).clamp(-127, 127), (dr - t).clamp(-127, 127)];
            }
            self.apply(ctx, 127.0, 127.0, p.command >= cmd::M2_FORWARD);
        });
    }
}
