//! Pololu Simple Motor Controller backend (two controllers on one line).

use super::{Backend, Feedback};
use crate::MotorError;
use crate::serial::Link;
use std::time::Duration;

/// Pololu Simple Motor Controllers, one per wheel, sharing a line with the
/// Pololu protocol (device numbers). Open loop: speeds are fractions of
/// `max_wheel_speed`; the controllers report their current speed.
pub struct PololuBackend {
    /// Device numbers for channel 0 and channel 1.
    pub devices: [u8; 2],
    /// Wheel speed (rad/s) commanded as 3200 (full speed).
    pub max_wheel_speed: f64,
    ticks: u64,
    battery: Option<f32>,
    errors: u32,
}

impl PololuBackend {
    /// A backend for controllers with these device numbers.
    pub fn new(devices: [u8; 2], max_wheel_speed: f64) -> Self {
        PololuBackend { devices, max_wheel_speed, ticks: 0, battery: None, errors: 0 }
    }

    fn var(&self, link: &mut Link, ch: usize, id: u8) -> Result<u16, MotorError> {
        use crate::proto::pololu as pl;
        // No checksum on replies: a value out of range is counted as bad and
        // asked again (LinkStats::implausible).
        link.transact("get variable", &pl::get_variable(pl::Framing::Device(self.devices[ch]), id), 2, |b| {
            pl::parse_checked(id, b)
        })
    }

    fn exit_safe_start(&self, link: &mut Link) -> Result<(), MotorError> {
        use crate::proto::pololu as pl;
        for d in self.devices {
            link.send(&pl::exit_safe_start(pl::Framing::Device(d)))?;
        }
        Ok(())
    }
}

impl Backend for PololuBackend {
    fn name(&self) -> &'static str {
        "pololu"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        tracing::info!(
            "pololu: set the Command Timeout setting to about {} ms in the Simple Motor Control Center (not settable over serial)",
            t.as_millis()
        );
        self.exit_safe_start(link)
    }
    fn resume(&mut self, link: &mut Link) -> Result<(), MotorError> {
        // Fresh commands after a stop are a deliberate restart: leave the
        // safe-start state a command timeout may have put us in.
        self.exit_safe_start(link)
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        use crate::proto::pololu as pl;
        let mut out = Vec::new();
        for (ch, v) in s.iter().enumerate() {
            let sp = ((v / self.max_wheel_speed).clamp(-1.0, 1.0) * pl::MAX_SPEED as f64).round() as i32;
            out.extend_from_slice(&pl::set_speed(pl::Framing::Device(self.devices[ch]), sp));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use crate::proto::pololu as pl;
        let k = self.max_wheel_speed / pl::MAX_SPEED as f64;
        let speed = [
            self.var(link, 0, pl::var::SPEED)? as i16 as f64 * k,
            self.var(link, 1, pl::var::SPEED)? as i16 as f64 * k,
        ];
        if self.ticks.is_multiple_of(10) {
            self.battery = Some(self.var(link, 0, pl::var::INPUT_VOLTAGE)? as f32 / 1000.0);
            let e0 = self.var(link, 0, pl::var::ERROR_STATUS)? as u32;
            let e1 = self.var(link, 1, pl::var::ERROR_STATUS)? as u32;
            self.errors = e0 | e1 << 16;
        }
        self.ticks += 1;
        Ok(Feedback { angle: None, counts: [0; 2], speed: Some(speed), battery_v: self.battery, errors: self.errors })
    }
}
