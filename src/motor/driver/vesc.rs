//! VESC backend (one VESC on the UART, one behind it on CAN).

use super::{Backend, Feedback, Unwrap32};
use crate::MotorError;
use crate::proto::{BadKind, Parse};
use crate::serial::Link;
use std::f64::consts::TAU;
use std::time::Duration;

/// VESC: channel 0 on the UART, channel 1 forwarded over CAN. Speed
/// commands in electrical RPM; the tachometer gives the wheel angle.
pub struct VescBackend {
    /// CAN ID of the second VESC (channel 1).
    pub can_id: u8,
    /// Motor pole pairs.
    pub pole_pairs: f64,
    /// Motor turns per wheel turn.
    pub gear_ratio: f64,
    tacho: [Unwrap32; 2],
}

impl VescBackend {
    /// A backend whose second VESC has CAN ID `can_id`.
    pub fn new(can_id: u8, pole_pairs: f64, gear_ratio: f64) -> Self {
        VescBackend { can_id, pole_pairs, gear_ratio, tacho: Default::default() }
    }

    fn erpm_per_rad_s(&self) -> f64 {
        60.0 / TAU * self.pole_pairs * self.gear_ratio
    }

    fn payload(&self, ch: usize, p: Vec<u8>) -> Vec<u8> {
        use crate::proto::vesc as vs;
        vs::frame(&if ch == 0 { p } else { vs::forward_can(self.can_id, &p) })
    }
}

impl Backend for VescBackend {
    fn name(&self) -> &'static str {
        "vesc"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        use crate::proto::vesc as vs;
        // Firmware before 3.x answers COMM_GET_VALUES in another layout:
        // refuse it rather than read nonsense speeds and voltages.
        for ch in 0..2 {
            let req = self.payload(ch, vs::fw_version());
            let fw = link.transact("COMM_FW_VERSION", &req, 5 + 3, |b| match vs::parse(b) {
                Parse::Done { value, used, skipped } => match vs::FwVersion::decode(&value) {
                    Some(v) => Parse::Done { value: v, used, skipped },
                    None => Parse::Bad { used, kind: BadKind::Malformed },
                },
                other => other.map(|_| vs::FwVersion::default()),
            })?;
            if fw.major < 3 {
                return Err(MotorError::Unsupported(format!(
                    "the VESC {} runs firmware {}.{}; framewire needs 3.0 or later (older firmware answers \
                     COMM_GET_VALUES in a layout it cannot read): update it with VESC Tool",
                    if ch == 0 { "on the UART".to_string() } else { format!("with CAN ID {}", self.can_id) },
                    fw.major,
                    fw.minor
                )));
            }
        }
        // The timeout lives in the app configuration (`timeout_msec`), whose
        // binary layout changes with every firmware: it is not written from
        // here. COMM_ALIVE every period keeps it from firing while we run.
        tracing::info!(
            "vesc: set App Settings > General > Timeout to about {} ms in VESC Tool; framewire sends COMM_ALIVE every period",
            t.as_millis()
        );
        Ok(())
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        use crate::proto::vesc as vs;
        let k = self.erpm_per_rad_s();
        let mut out = Vec::new();
        for (ch, v) in s.iter().enumerate() {
            out.extend_from_slice(&self.payload(ch, vs::set_rpm((v * k).round() as i32)));
            out.extend_from_slice(&self.payload(ch, vs::alive()));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use crate::proto::vesc as vs;
        let mut fb = Feedback::default();
        let mut angle = [0.0; 2];
        let mut speed = [0.0; 2];
        let per_rev = 6.0 * self.pole_pairs * self.gear_ratio;
        for ch in 0..2 {
            let req = self.payload(ch, vs::get_values());
            let v = link
                .transact("COMM_GET_VALUES", &req, vs::VALUES_LENS[0] + 5, |b| match vs::parse(b) {
                    Parse::Done { value, used, skipped } if value.first() == Some(&vs::comm::GET_VALUES) => {
                        Parse::Done { value: vs::Values::decode_checked(&value), used, skipped }
                    }
                    Parse::Done { used, .. } => Parse::Bad { used, kind: BadKind::Malformed },
                    other => other.map(|_| Ok(vs::Values::default())),
                })?
                .map_err(|e| MotorError::Unsupported(format!("the VESC on channel {}: {e}", ch + 1)))?;
            let c = self.tacho[ch].update(v.tachometer as u32);
            fb.counts[ch] = c;
            angle[ch] = c as f64 / per_rev * TAU;
            speed[ch] = v.erpm / self.erpm_per_rad_s();
            fb.battery_v = Some(v.v_in as f32);
            fb.errors |= (v.fault as u32) << (8 * ch);
        }
        fb.angle = Some(angle);
        fb.speed = Some(speed);
        Ok(fb)
    }
}
