//! Simulated Pololu Simple Motor Controllers sharing one serial line.

use super::{Ctx, SimDevice, SimState};
use crate::proto::Parse;
use crate::proto::pololu::{self as pl, cmd, var};
use std::time::Duration;

/// Full speed of the simulated motors, counts/s.
pub const FULL_SPEED: f64 = 10_000.0;

/// Two SMCs, motor 1 = `devices[0]`, motor 2 = `devices[1]`; each also
/// answers the compact protocol (as every SMC on a line does).
pub struct PololuSim {
    devices: [u8; 2],
    target: [i32; 2],
    /// Safe start: set at power-up and after an error (here: the command
    /// timeout); cleared by Exit Safe Start.
    safe_start: [bool; 2],
    timed_out: bool,
}

impl PololuSim {
    /// Controllers with these device numbers and a command timeout (a
    /// setting of the device, made with the Pololu configuration utility).
    pub fn new(devices: [u8; 2]) -> Self {
        PololuSim { devices, target: [0; 2], safe_start: [true; 2], timed_out: false }
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
}

impl SimDevice for PololuSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        ctx.state.hw_timeout.get_or_insert(Duration::from_millis(1000));
        loop {
            let c = match pl::parse(rx) {
                Parse::Need => return,
                Parse::Bad { used, kind } => {
                    ctx.state.reject(kind);
                    rx.drain(..used);
                    continue;
                }
                Parse::Done { value, used, .. } => {
                    rx.drain(..used);
                    value
                }
            };
            let which: Vec<usize> = match c.device {
                None => vec![0, 1],
                Some(d) => self.devices.iter().position(|x| *x == d).into_iter().collect(),
            };
            if which.is_empty() {
                continue;
            }
            ctx.fed = true;
            self.timed_out = false;
            let mut recorded = false;
            // Log whole commands: after the second controller's (or a
            // compact command, which both controllers obey).
            let whole = c.device.is_none() || which == [1];
            for i in which {
                match c.command {
                    cmd::EXIT_SAFE_START => self.safe_start[i] = false,
                    cmd::FORWARD | cmd::REVERSE => {
                        let m = c.data[0] as i32 | (c.data[1] as i32) << 5;
                        self.target[i] = if c.command == cmd::FORWARD { m } else { -m };
                        recorded = true;
                    }
                    cmd::BRAKE => {
                        self.target[i] = 0;
                        recorded = true;
                    }
                    cmd::GET_VARIABLE => {
                        let v: u16 = match c.data[0] {
                            var::ERROR_STATUS => self.error_status(i),
                            var::TARGET_SPEED => self.target[i] as i16 as u16,
                            var::SPEED => {
                                (ctx.state.model.speed[i] * pl::MAX_SPEED as f64 / FULL_SPEED).round() as i16 as u16
                            }
                            var::INPUT_VOLTAGE => 12_100,
                            _ => 0,
                        };
                        ctx.replies.push(v.to_le_bytes().to_vec());
                    }
                    _ => {}
                }
            }
            if recorded && whole {
                ctx.record(self.target[0] as f64, self.target[1] as f64);
            }
            self.apply(ctx.state);
        }
    }

    fn on_timeout(&mut self, st: &mut SimState) {
        // Command Timeout error: the motors stop and safe start engages.
        self.timed_out = true;
        self.safe_start = [true; 2];
        self.apply(st);
    }
}
