//! ODrive 0.5.x ASCII protocol backend.

use super::{Backend, Feedback};
use crate::MotorError;
use crate::serial::{LINE, Link};
use std::f64::consts::TAU;
use std::time::Duration;

/// ODrive ASCII: axes 0 and 1 in velocity control, the ODrive watchdog
/// programmed from `command_timeout` and fed every period.
pub struct OdriveBackend {
    /// Motor turns per wheel turn.
    pub gear_ratio: f64,
    /// Append `*checksum` to every line (and require it on replies).
    pub checksum: bool,
    ticks: u64,
    battery: Option<f32>,
    errors: u32,
    latched: bool,
}

impl OdriveBackend {
    /// A backend for both axes.
    pub fn new(gear_ratio: f64, checksum: bool) -> Self {
        OdriveBackend { gear_ratio, checksum, ticks: 0, battery: None, errors: 0, latched: false }
    }

    fn read(&self, link: &mut Link, what: &str, req: &[u8]) -> Result<String, MotorError> {
        let ck = self.checksum;
        link.transact(what, req, LINE, |b| crate::proto::odrive::parse_reply(b, ck))
    }

    fn read_num(&self, link: &mut Link, prop: &str) -> Result<f64, MotorError> {
        let l = self.read(link, prop, &crate::proto::odrive::read(prop, self.checksum))?;
        l.trim().parse().map_err(|_| MotorError::Device(format!("odrive: {prop}: unexpected reply {l:?}")))
    }
}

impl Backend for OdriveBackend {
    fn name(&self) -> &'static str {
        "odrive"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        use crate::proto::odrive as od;
        let ck = self.checksum;
        link.send(&od::line("sc", ck))?; // clear latched errors (0.5.x)
        for ax in 0..2u8 {
            let p = |s: &str| format!("axis{ax}.{s}");
            link.send(&od::write(&p("config.watchdog_timeout"), &format!("{:.3}", t.as_secs_f64()), ck))?;
            link.send(&od::write(&p("controller.config.control_mode"), &od::CONTROL_MODE_VELOCITY.to_string(), ck))?;
            link.send(&od::feed_watchdog(ax, ck))?;
            link.send(&od::write(&p("config.enable_watchdog"), "1", ck))?;
            link.send(&od::write(&p("requested_state"), &od::STATE_CLOSED_LOOP.to_string(), ck))?;
            // Writes get no answer: read the state back to know it worked.
            let st = self.read_num(link, &p("current_state"))?;
            if st as u8 != od::STATE_CLOSED_LOOP {
                let e = self.read_num(link, &p("error")).unwrap_or(f64::NAN);
                return Err(MotorError::Device(format!(
                    "odrive axis{ax} did not enter closed loop (state {st}, error {e})"
                )));
            }
        }
        self.latched = false;
        Ok(())
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        use crate::proto::odrive as od;
        let mut out = Vec::new();
        for (ax, v) in s.iter().enumerate() {
            out.extend_from_slice(&od::velocity(ax as u8, v / TAU * self.gear_ratio, 0.0, self.checksum));
            out.extend_from_slice(&od::feed_watchdog(ax as u8, self.checksum));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use crate::proto::odrive as od;
        let mut fb = Feedback::default();
        let mut angle = [0.0; 2];
        let mut speed = [0.0; 2];
        for ax in 0..2u8 {
            let l = self.read(link, "feedback (f)", &od::feedback(ax, self.checksum))?;
            let (p, v) = od::parse_feedback(&l)
                .ok_or_else(|| MotorError::Device(format!("odrive: f {ax}: unexpected reply {l:?}")))?;
            angle[ax as usize] = p / self.gear_ratio * TAU;
            speed[ax as usize] = v / self.gear_ratio * TAU;
            fb.counts[ax as usize] = (p * 1000.0).round() as i64; // milli-turns
        }
        if self.ticks.is_multiple_of(10) {
            self.battery = Some(self.read_num(link, "vbus_voltage")? as f32);
            let e0 = self.read_num(link, "axis0.error")? as u32;
            let e1 = self.read_num(link, "axis1.error")? as u32;
            self.errors = (e0 & 0xFFFF) | (e1 & 0xFFFF) << 16;
            if (e0 | e1) & od::AXIS_ERROR_WATCHDOG != 0 {
                self.latched = true;
            }
        }
        self.ticks += 1;
        fb.angle = Some(angle);
        fb.speed = Some(speed);
        fb.battery_v = self.battery;
        fb.errors = self.errors;
        Ok(fb)
    }
    fn needs_setup(&self) -> bool {
        self.latched
    }
}
