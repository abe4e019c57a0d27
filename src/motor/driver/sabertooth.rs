//! Dimension Engineering Sabertooth backend (packetized or simplified serial).

use super::{Backend, Feedback};
use crate::MotorError;
use crate::serial::Link;
use std::time::Duration;

/// How a Sabertooth is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SabertoothMode {
    /// Packetized serial at this address (128..=135).
    Packetized(u8),
    /// Simplified serial (no address, no checksum, no serial timeout).
    Simplified,
}

/// Sabertooth: open loop (it reports nothing), speeds as fractions of
/// `max_wheel_speed`. Packetized mode programs the serial timeout (14).
pub struct SabertoothBackend {
    /// Addressing mode.
    pub mode: SabertoothMode,
    /// Wheel speed (rad/s) commanded as full power.
    pub max_wheel_speed: f64,
}

impl Backend for SabertoothBackend {
    fn name(&self) -> &'static str {
        "sabertooth"
    }
    fn on_connect(&mut self, link: &mut Link) -> Result<(), MotorError> {
        if let SabertoothMode::Packetized(_) = self.mode {
            link.send(&[crate::proto::sabertooth::BAUDING_BYTE])?;
        }
        Ok(())
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        use crate::proto::sabertooth as st;
        match self.mode {
            SabertoothMode::Packetized(a) => link.send(&st::serial_timeout(a, t)),
            SabertoothMode::Simplified => {
                tracing::warn!(
                    "sabertooth: simplified serial has no serial timeout; only framewire's deadman stops it"
                );
                Ok(())
            }
        }
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        use crate::proto::sabertooth as st;
        let frac = |v: f64| (v / self.max_wheel_speed).clamp(-1.0, 1.0);
        match self.mode {
            SabertoothMode::Packetized(a) => {
                let mut p = st::motor(a, 1, (frac(s[0]) * 127.0).round() as i32).to_vec();
                p.extend_from_slice(&st::motor(a, 2, (frac(s[1]) * 127.0).round() as i32));
                link.send(&p)
            }
            SabertoothMode::Simplified => {
                link.send(&[st::simplified_frac(1, frac(s[0])), st::simplified_frac(2, frac(s[1]))])
            }
        }
    }
    fn feedback(&mut self, _link: &mut Link) -> Result<Feedback, MotorError> {
        Ok(Feedback::default())
    }
}
