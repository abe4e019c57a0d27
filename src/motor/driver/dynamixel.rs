//! ROBOTIS Dynamixel Protocol 2.0 backend (two X-series servos).

use super::{Backend, Feedback, Unwrap32};
use crate::MotorError;
use crate::proto::dynamixel as dx;
use crate::serial::Link;
use std::f64::consts::TAU;
use std::time::Duration;

/// Dynamixel Protocol 2.0, two X-series servos in velocity mode: sync write
/// of Goal Velocity, sync read of Present Velocity + Present Position, and
/// the Bus Watchdog as the controller-side failsafe.
pub struct DynamixelBackend {
    /// Servo IDs for channel 0 and channel 1.
    pub ids: [u8; 2],
    pos: [Unwrap32; 2],
    ticks: u64,
    battery: Option<f32>,
    watchdog_fired: bool,
}

impl DynamixelBackend {
    /// A backend for servos `ids`.
    pub fn new(ids: [u8; 2]) -> Self {
        DynamixelBackend { ids, pos: Default::default(), ticks: 0, battery: None, watchdog_fired: false }
    }

    fn write(&self, link: &mut Link, id: u8, what: &str, a: u16, data: &[u8]) -> Result<(), MotorError> {
        let pkt = link.transact(what, &dx::write(id, a, data), 11, |b| status_from(id, b))?;
        check_status(id, what, &pkt)
    }
}

fn status_from(id: u8, b: &[u8]) -> crate::proto::Parse<dx::Packet> {
    use crate::proto::{BadKind, Parse};
    match dx::parse(b) {
        // Our own instruction echoed by a half-duplex adapter, or another
        // servo's packet: skip it and keep reading.
        Parse::Done { value, used, .. } if value.instruction != dx::inst::STATUS || value.id != id => {
            Parse::Bad { used, kind: BadKind::Malformed }
        }
        other => other,
    }
}

fn check_status(id: u8, what: &str, p: &dx::Packet) -> Result<(), MotorError> {
    match p.error() {
        Some(0) | Some(dx::err::ALERT) => Ok(()),
        Some(e) => Err(MotorError::Device(format!("Dynamixel ID {id}: {what}: status error 0x{e:02X}"))),
        None => Err(MotorError::Device(format!("Dynamixel ID {id}: {what}: empty status"))),
    }
}

impl Backend for DynamixelBackend {
    fn name(&self) -> &'static str {
        "dynamixel"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        let wd = dx::watchdog_units(t);
        for id in self.ids {
            // Clear a fired watchdog first (goal writes are refused until
            // then), and switch mode with torque off (EEPROM is locked).
            self.write(link, id, "clear Bus Watchdog (98)", dx::addr::BUS_WATCHDOG, &[0])?;
            self.write(link, id, "torque off (64)", dx::addr::TORQUE_ENABLE, &[0])?;
            self.write(link, id, "velocity mode (11)", dx::addr::OPERATING_MODE, &[dx::MODE_VELOCITY])?;
            self.write(link, id, "torque on (64)", dx::addr::TORQUE_ENABLE, &[1])?;
            self.write(link, id, "set Bus Watchdog (98)", dx::addr::BUS_WATCHDOG, &[wd])?;
        }
        self.watchdog_fired = false;
        Ok(())
    }
    fn needs_setup(&self) -> bool {
        self.watchdog_fired
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        let v = [dx::velocity_units(s[0]).to_le_bytes(), dx::velocity_units(s[1]).to_le_bytes()];
        // Sync write gets no status packet: nothing to wait for.
        link.send(&dx::sync_write(dx::addr::GOAL_VELOCITY, 4, &[(self.ids[0], &v[0]), (self.ids[1], &v[1])]))
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use crate::proto::Parse;
        let ids = self.ids;
        // Present Velocity (128, 4 bytes) and Present Position (132, 4
        // bytes) are adjacent: one sync read of 8 bytes gets both.
        let req = dx::sync_read(dx::addr::PRESENT_VELOCITY, 8, &ids);
        let pkts = link.transact("sync read present velocity/position", &req, 2 * 19, |b| {
            let first = status_from(ids[0], b);
            let Parse::Done { value: p0, used: u0, skipped: s0 } = first else {
                return first.map(|_| unreachable!());
            };
            match status_from(ids[1], &b[u0..]) {
                Parse::Done { value: p1, used: u1, skipped: s1 } => {
                    Parse::Done { value: (p0, p1), used: u0 + u1, skipped: s0 + s1 }
                }
                Parse::Need => Parse::Need,
                Parse::Bad { used, kind } => Parse::Bad { used: u0 + used, kind },
            }
        })?;
        let mut errors = 0u32;
        let mut out = Feedback::default();
        let mut angle = [0.0; 2];
        let mut speed = [0.0; 2];
        for (i, p) in [pkts.0, pkts.1].iter().enumerate() {
            let e = p.error().unwrap_or(0);
            errors |= (e as u32) << (8 * i);
            let d = p.data();
            if d.len() < 8 {
                return Err(MotorError::Device(format!("Dynamixel ID {}: short sync read reply", ids[i])));
            }
            let vel = i32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            let pos = self.pos[i].update(u32::from_le_bytes([d[4], d[5], d[6], d[7]]));
            out.counts[i] = pos;
            angle[i] = pos as f64 * TAU / dx::COUNTS_PER_REV;
            speed[i] = vel as f64 * dx::VELOCITY_UNIT_RPM * TAU / 60.0;
        }
        if self.ticks.is_multiple_of(10) {
            let id = ids[0];
            let p = link.transact(
                "read input voltage (144)",
                &dx::read(id, dx::addr::PRESENT_INPUT_VOLTAGE, 2),
                13,
                |b| status_from(id, b),
            )?;
            if let [lo, hi, ..] = p.data() {
                self.battery = Some(u16::from_le_bytes([*lo, *hi]) as f32 / 10.0);
            }
            // A fired Bus Watchdog (register = -1) silently refuses every
            // goal written by sync write (which has no status): look for it.
            for id in ids {
                let p = link.transact("read Bus Watchdog (98)", &dx::read(id, dx::addr::BUS_WATCHDOG, 1), 12, |b| {
                    status_from(id, b)
                })?;
                if p.data().first() == Some(&0xFF) {
                    self.watchdog_fired = true;
                }
            }
        }
        self.ticks += 1;
        out.angle = Some(angle);
        out.speed = Some(speed);
        out.battery_v = self.battery;
        out.errors = errors;
        Ok(out)
    }
}
