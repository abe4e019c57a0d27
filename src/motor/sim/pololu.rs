//! Simulated Pololu Simple Motor Controllers sharing one serial line.

use super::{Ctx, SimDevice, SimState, each_frame};
use crate::proto::pololu::{self as pl, cmd, var};
use std::time::Duration;

/// Full speed of the simulated motors, counts/s.
pub const FULL_SPEED: f64 = 10_000.0;

/// Two SMCs, motor 1 = `devices[0]`, motor 2 = `devices[1]`. Both obey
/// compact-protocol commands (as every SMC on a line does), but only
/// motor 1's answers a compact request: the compact protocol is meant for
/// one controller on the line, and a library written for one expects one
/// answer (two real controllers would answer on top of each other).
pub struct PololuSim {
    devices: [u8; 2],
    target: [i32; 2],
    /// Safe start: set at power-up, after an error (here: the command
    /// timeout) and by Stop Motor; cleared by Exit Safe Start.
    safe_start: [bool; 2],
    /// The Command Timeout error is active: set when the timeout expires,
    /// cleared by the next motor command (not by reading variables).
    timed_out: bool,
    /// Errors Occurred (variable 1): latched until read.
    occurred: [u16; 2],
}

impl PololuSim {
    /// Controllers with these device numbers and a command timeout (a
    /// setting of the device, made with the Pololu configuration utility).
    pub fn new(devices: [u8; 2]) -> Self {
        PololuSim { devices, target: [0; 2], safe_start: [true; 2], timed_out: false, occurred: [0; 2] }
    }

    fn error_status(&self, i: usize) -> u16 {
        let mut e = 0;
        if self.safe_start[i] {
            e |= pl::ERR_SAFE_START;
        }
        if self.timed_out {
            e |= pl::ERR_COMMAND_TIMEOUT;
        }
        e
    }

    fn apply(&self, st: &mut SimState) {
        for i in 0..2 {
            let t = if self.safe_start[i] { 0 } else { self.target[i] };
            st.model.target[i] = t as f64 * FULL_SPEED / pl::MAX_SPEED as f64;
        }
    }

    /// Acts on one command for controller `i`; returns its answer, if any,
    /// and whether it set a speed.
    fn execute(&mut self, i: usize, c: &pl::Command, st: &SimState) -> (Option<u16>, bool) {
        let speed7 = |b: u8| (b as i32 * pl::MAX_SPEED as i32 + 63) / 127;
        let target = match c.command {
            cmd::EXIT_SAFE_START => {
                self.safe_start[i] = false;
                None
            }
            cmd::FORWARD => Some(c.data[0] as i32 | (c.data[1] as i32) << 5),
            cmd::REVERSE => Some(-(c.data[0] as i32 | (c.data[1] as i32) << 5)),
            cmd::FORWARD_7BIT => Some(speed7(c.data[0])),
            cmd::REVERSE_7BIT => Some(-speed7(c.data[0])),
            cmd::BRAKE => Some(0),
            cmd::STOP_MOTOR => {
                // "sets the motor target speed to zero and makes the
                // controller susceptible to a safe-start violation error".
                self.safe_start[i] = true;
                Some(0)
            }
            cmd::GET_VARIABLE => {
                let v: u16 = match c.data[0] {
                    var::ERROR_STATUS => self.error_status(i),
                    var::ERRORS_OCCURRED => std::mem::take(&mut self.occurred[i]),
                    var::TARGET_SPEED => self.target[i] as i16 as u16,
                    var::SPEED => (st.model.speed[i] * pl::MAX_SPEED as f64 / FULL_SPEED).round() as i16 as u16,
                    var::INPUT_VOLTAGE => 12_100,
                    _ => 0,
                };
                return (Some(v), false);
            }
            _ => None,
        };
        if let Some(t) = target {
            self.target[i] = t.clamp(-(pl::MAX_SPEED as i32), pl::MAX_SPEED as i32);
        }
        (None, target.is_some())
    }
}

impl SimDevice for PololuSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        ctx.state.hw_timeout.get_or_insert(Duration::from_millis(1000));
        each_frame(rx, ctx, pl::parse, |c, ctx| {
            let which: Vec<usize> = match c.device {
                None => vec![0, 1],
                Some(d) => self.devices.iter().position(|x| *x == d).into_iter().collect(),
            };
            if which.is_empty() {
                return;
            }
            // Every valid command restarts the timeout timer; only a command
            // that moves (or stops) the motor ends an active timeout error.
            ctx.fed = true;
            let mut recorded = false;
            for i in which.iter().copied() {
                let (answer, moved) = self.execute(i, &c, ctx.state);
                recorded |= moved;
                if moved || c.command == cmd::EXIT_SAFE_START {
                    self.timed_out = false;
                }
                if let Some(v) = answer
                    && (c.device.is_some() || i == 0)
                {
                    ctx.replies.push(v.to_le_bytes().to_vec());
                }
            }
            // Log whole commands: after the second controller's (or a
            // compact command, which both controllers obey).
            if recorded && (c.device.is_none() || which == [1]) {
                ctx.record(self.target[0] as f64, self.target[1] as f64);
            }
            self.apply(ctx.state);
        });
    }

    fn on_timeout(&mut self, st: &mut SimState) {
        // Command Timeout error: the motors stop and safe start engages.
        self.timed_out = true;
        self.occurred = self.occurred.map(|o| o | pl::ERR_COMMAND_TIMEOUT);
        self.safe_start = [true; 2];
        self.apply(st);
    }
}
