//! RoboClaw / Basicmicro packet serial backend.

use super::{Backend, Feedback, Unwrap32};
use crate::MotorError;
use crate::proto::roboclaw as rc;
use crate::serial::Link;
use std::f64::consts::TAU;
use std::time::Duration;

/// RoboClaw packet serial: speed commands in encoder counts/s (command 37,
/// or 40 with an acceleration), encoders (78), speeds (108), battery (24).
pub struct RoboclawBackend {
    /// Packet serial address (0x80..=0x87).
    pub address: u8,
    /// Encoder counts per wheel revolution.
    pub counts_per_rev: f64,
    /// Acceleration in counts/s² for command 40; `None` uses command 37.
    pub accel: Option<u32>,
    enc: [Unwrap32; 2],
    ticks: u64,
    battery: Option<f32>,
}

impl RoboclawBackend {
    /// A backend for the controller at `address`.
    pub fn new(address: u8, counts_per_rev: f64, accel: Option<u32>) -> Self {
        RoboclawBackend { address, counts_per_rev, accel, enc: Default::default(), ticks: 0, battery: None }
    }

    fn write(&mut self, link: &mut Link, what: &str, p: &[u8]) -> Result<(), MotorError> {
        link.transact(what, p, 1, rc::parse_ack)
    }

    fn read(&mut self, link: &mut Link, what: &str, command: u8) -> Result<Vec<u8>, MotorError> {
        let a = self.address;
        let n = rc::reply_data_len(command).unwrap_or(0) + 2;
        link.transact(what, &rc::read_request(a, command), n, |b| rc::parse_read_reply(a, command, b))
    }
}

impl Backend for RoboclawBackend {
    fn name(&self) -> &'static str {
        "roboclaw"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        let p = rc::set_serial_timeout(self.address, rc::timeout_tenths(t));
        self.write(link, "set serial timeout (14)", &p)
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        let q = |v: f64| (v * self.counts_per_rev / TAU).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        let p = match self.accel {
            Some(a) => rc::mixed_speed_accel(self.address, a, q(s[0]), q(s[1])),
            None => rc::mixed_speed(self.address, q(s[0]), q(s[1])),
        };
        self.write(link, "drive M1/M2 with signed speed", &p)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        let e = self.read(link, "read encoder counters (78)", rc::cmd::READ_ENCODERS)?;
        let c = [self.enc[0].update(rc::be_u32(&e, 0)), self.enc[1].update(rc::be_u32(&e, 4))];
        let s = self.read(link, "read average speeds (108)", rc::cmd::READ_AVG_SPEEDS)?;
        let k = TAU / self.counts_per_rev;
        let speed = [rc::be_u32(&s, 0) as i32 as f64 * k, rc::be_u32(&s, 4) as i32 as f64 * k];
        // The battery changes slowly: read it every 10th tick only.
        if self.ticks.is_multiple_of(10) {
            let b = self.read(link, "read main battery (24)", rc::cmd::READ_MAIN_BATTERY)?;
            self.battery = Some(u16::from_be_bytes([b[0], b[1]]) as f32 / 10.0);
        }
        self.ticks += 1;
        Ok(Feedback {
            angle: Some([c[0] as f64 * k, c[1] as f64 * k]),
            counts: c,
            speed: Some(speed),
            battery_v: self.battery,
            errors: 0,
        })
    }
}
