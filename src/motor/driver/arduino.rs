//! ROSArduinoBridge backend (the sketch's line protocol).

use super::{Backend, Feedback};
use crate::MotorError;
use crate::proto::arduino as ard;
use crate::serial::{LINE, Link};
use std::f64::consts::TAU;
use std::time::Duration;

/// ROSArduinoBridge: `m` with ticks per PID frame, `e` for encoders. The
/// firmware's auto-stop (2 s) is compiled into the sketch and cannot be
/// programmed, so only the deadman enforces shorter timeouts.
pub struct ArduinoBackend {
    /// Encoder ticks per wheel revolution.
    pub counts_per_rev: f64,
    /// The sketch's `PID_RATE`, Hz.
    pub pid_rate: f64,
    /// PID gains `Kp, Kd, Ki, Ko` to send with `u` on connection.
    pub pid: Option<[i32; 4]>,
}

impl ArduinoBackend {
    /// A backend for the sketch with `PID_RATE` = `pid_rate`.
    pub fn new(counts_per_rev: f64, pid_rate: f64, pid: Option<[i32; 4]>) -> Self {
        ArduinoBackend { counts_per_rev, pid_rate, pid }
    }
}

fn ok_line(b: &[u8]) -> crate::proto::Parse<()> {
    use crate::proto::{BadKind, Parse, parse_line};
    match parse_line(b) {
        Parse::Done { value, used, skipped } if value == ard::OK => Parse::Done { value: (), used, skipped },
        Parse::Done { used, .. } => Parse::Bad { used, kind: BadKind::Malformed },
        other => other.map(|_| ()),
    }
}

impl Backend for ArduinoBackend {
    fn name(&self) -> &'static str {
        "arduino"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        if let Some([kp, kd, ki, ko]) = self.pid {
            link.transact("update PID (u)", &ard::update_pid(kp, kd, ki, ko), LINE, ok_line)?;
        }
        if t < Duration::from_millis(ard::AUTO_STOP_MS) {
            tracing::info!(
                "arduino: the sketch's own auto-stop is fixed at {} ms (AUTO_STOP_INTERVAL); \
                 the {} ms deadman is enforced by framewire",
                ard::AUTO_STOP_MS,
                t.as_millis()
            );
        }
        Ok(())
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        let f = |v: f64| ard::ticks_per_frame(v * self.counts_per_rev / TAU, self.pid_rate);
        link.transact("motor speeds (m)", &ard::motor_speeds(f(s[0]), f(s[1])), LINE, ok_line)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use crate::proto::{BadKind, Parse, parse_line};
        let (l, r) = link.transact("read encoders (e)", &ard::read_encoders(), LINE, |b| match parse_line(b) {
            Parse::Done { value, used, skipped } => match ard::parse_encoders(&value) {
                Some(v) => Parse::Done { value: v, used, skipped },
                None => Parse::Bad { used, kind: BadKind::Malformed },
            },
            other => other.map(|_| (0, 0)),
        })?;
        let k = TAU / self.counts_per_rev;
        Ok(Feedback {
            angle: Some([l as f64 * k, r as f64 * k]),
            counts: [l, r],
            speed: None,
            battery_v: None,
            errors: 0,
        })
    }
}
