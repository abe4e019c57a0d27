//! A simulated Arduino running ROSArduinoBridge with an H-bridge and
//! encoders.

use super::{Ctx, SimDevice};
use crate::proto::arduino::{self as ard, atoi};
use std::time::Duration;

/// The sketch's command loop, PID targets and auto-stop.
pub struct ArduinoSim {
    /// `PID_RATE` of the sketch, Hz.
    pub pid_rate: f64,
    /// Encoder offsets subtracted after `r`.
    zero: [f64; 2],
}

impl ArduinoSim {
    /// The sketch with its default settings (`PID_RATE` 30 Hz, auto-stop
    /// after 2000 ms without an `m` command).
    pub fn new() -> Self {
        ArduinoSim { pid_rate: ard::DEFAULT_PID_RATE, zero: [0.0; 2] }
    }
}

impl Default for ArduinoSim {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDevice for ArduinoSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        // The sketch's AUTO_STOP_INTERVAL is always armed.
        ctx.state.hw_timeout = Some(Duration::from_millis(ard::AUTO_STOP_MS));
        while let Some(end) = rx.iter().position(|&b| b == b'\r') {
            let line: Vec<u8> = rx.drain(..=end).take(end).collect();
            let c = ard::parse_command(&line);
            let reply = match c.cmd {
                b'm' => {
                    let (l, r) = (atoi(&c.arg1), atoi(&c.arg2));
                    ctx.fed = true; // lastMotorCommand = millis()
                    ctx.state.model.target = [l as f64 * self.pid_rate, r as f64 * self.pid_rate];
                    ctx.record(l as f64, r as f64);
                    ard::OK.to_string()
                }
                b'e' => {
                    let p = &ctx.state.model.position;
                    format!("{} {}", (p[0] - self.zero[0]).round() as i64, (p[1] - self.zero[1]).round() as i64)
                }
                b'r' => {
                    self.zero = ctx.state.model.position;
                    ard::OK.to_string()
                }
                b'u' => ard::OK.to_string(),
                b'b' => ard::DEFAULT_BAUD.to_string(),
                _ => {
                    ctx.state.malformed += 1;
                    ard::INVALID.to_string()
                }
            };
            // Serial.println ends every answer with CR LF.
            ctx.replies.push(format!("{reply}\r\n").into_bytes());
        }
        // The sketch's input buffer is small; a runaway line is dropped.
        if rx.len() > 64 {
            ctx.state.malformed += 1;
            rx.clear();
        }
    }

    fn corrupt(&self, reply: &mut Vec<u8>) {
        // No checksum in this protocol: noise shows as a non-ASCII byte.
        if let Some(b) = reply.first_mut() {
            *b = 0xFF;
        }
    }
}
