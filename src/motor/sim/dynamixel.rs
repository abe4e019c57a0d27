//! Simulated Dynamixel X-series servos in velocity mode on one bus.

use super::{Ctx, SimDevice, SimState};
use crate::proto::dynamixel::{self as dx, addr, err, inst};
use crate::proto::{BadKind, Parse};
use std::time::Duration;

/// Model number reported to Ping (XL430-W250 = 1060).
pub const MODEL_NUMBER: u16 = 1060;

/// Counts/s of the motor model per Goal Velocity unit:
/// 0.229 rev/min × 4096 counts/rev ÷ 60 s/min.
fn counts_per_s_per_unit() -> f64 {
    dx::VELOCITY_UNIT_RPM * dx::COUNTS_PER_REV / 60.0
}

#[derive(Clone, Debug, Default)]
struct Servo {
    id: u8,
    torque: bool,
    mode: u8,
    /// Raw Bus Watchdog register: 0 off, 1..=127 armed, 0xFF fired.
    watchdog: u8,
    goal: i32,
}

/// Two servos (motor 1 = `ids[0]`, motor 2 = `ids[1]`) on one bus.
pub struct DynamixelSim {
    servos: [Servo; 2],
    /// Velocity Limit (address 44) in 0.229 rpm units.
    pub velocity_limit: i32,
}

impl DynamixelSim {
    /// Servos with these IDs, factory-fresh: position mode, torque off.
    pub fn new(ids: [u8; 2]) -> Self {
        let s = |id| Servo { id, mode: 3, ..Default::default() };
        DynamixelSim { servos: [s(ids[0]), s(ids[1])], velocity_limit: 1023 }
    }

    fn index(&self, id: u8) -> Option<usize> {
        self.servos.iter().position(|s| s.id == id)
    }

    fn update_model(&self, st: &mut SimState) {
        for (i, s) in self.servos.iter().enumerate() {
            let on = s.torque && s.mode == dx::MODE_VELOCITY && s.watchdog != 0xFF;
            st.model.target[i] = if on { s.goal as f64 * counts_per_s_per_unit() } else { 0.0 };
        }
    }

    fn refresh_timeout(&self, st: &mut SimState) {
        // One watchdog per servo in reality; the model shares one timer
        // and uses the shortest armed value.
        st.hw_timeout = self
            .servos
            .iter()
            .filter(|s| s.torque && (1..=127).contains(&s.watchdog))
            .map(|s| Duration::from_millis(s.watchdog as u64 * dx::WATCHDOG_UNIT_MS))
            .min();
    }

    fn read_reg(&self, i: usize, st: &SimState, a: u16) -> u8 {
        let s = &self.servos[i];
        let m = &st.model;
        let word = |v: i32, a0: u16| v.to_le_bytes()[(a - a0) as usize];
        match a {
            0 => MODEL_NUMBER.to_le_bytes()[0],
            1 => MODEL_NUMBER.to_le_bytes()[1],
            11 => s.mode,
            64 => s.torque as u8,
            98 => s.watchdog,
            104..=107 => word(s.goal, 104),
            128..=131 => word((m.speed[i] / counts_per_s_per_unit()).round() as i32, 128),
            132..=135 => word(m.position[i].round() as i32, 132),
            144 => 120u16.to_le_bytes()[0], // 12.0 V
            145 => 120u16.to_le_bytes()[1],
            _ => 0,
        }
    }

    /// Applies a write; returns the status error.
    fn write_reg(&mut self, i: usize, a: u16, data: &[u8]) -> u8 {
        let s = &mut self.servos[i];
        match (a, data.len()) {
            (addr::OPERATING_MODE, 1) => {
                // EEPROM area: locked while torque is on.
                if s.torque {
                    return err::ACCESS;
                }
                s.mode = data[0];
            }
            (addr::TORQUE_ENABLE, 1) => s.torque = data[0] != 0,
            (addr::BUS_WATCHDOG, 1) => {
                if data[0] > 127 {
                    return err::DATA_RANGE;
                }
                s.watchdog = data[0];
            }
            (addr::GOAL_VELOCITY, 4) => {
                let v = i32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                // After a Bus Watchdog error, goal writes are refused until
                // the watchdog is cleared by writing 0.
                if s.watchdog == 0xFF {
                    return err::DATA_RANGE;
                }
                if v.abs() > self.velocity_limit {
                    return err::DATA_LIMIT;
                }
                s.goal = v;
            }
            _ => return err::ACCESS,
        }
        0
    }

    fn execute(&mut self, p: dx::Packet, ctx: &mut Ctx) {
        let broadcast = p.id == dx::BROADCAST_ID;
        let me = self.index(p.id);
        let pr = &p.params;
        match p.instruction {
            inst::PING => {
                if let Some(i) = me {
                    let m = MODEL_NUMBER.to_le_bytes();
                    ctx.replies.push(dx::status(self.servos[i].id, 0, &[m[0], m[1], 0x2D]));
                }
            }
            inst::READ if pr.len() == 4 => {
                if let Some(i) = me {
                    let a = u16::from_le_bytes([pr[0], pr[1]]);
                    let n = u16::from_le_bytes([pr[2], pr[3]]);
                    let d: Vec<u8> = (a..a + n).map(|x| self.read_reg(i, ctx.state, x)).collect();
                    ctx.replies.push(dx::status(self.servos[i].id, 0, &d));
                }
            }
            inst::WRITE if pr.len() >= 3 => {
                if let Some(i) = me {
                    let a = u16::from_le_bytes([pr[0], pr[1]]);
                    let e = self.write_reg(i, a, &pr[2..]);
                    if a == addr::GOAL_VELOCITY && e == 0 {
                        let g = [self.servos[0].goal as f64, self.servos[1].goal as f64];
                        ctx.record(g[0], g[1]);
                    }
                    ctx.replies.push(dx::status(self.servos[i].id, e, &[]));
                }
            }
            inst::SYNC_WRITE if broadcast && pr.len() >= 4 => {
                let a = u16::from_le_bytes([pr[0], pr[1]]);
                let n = u16::from_le_bytes([pr[2], pr[3]]) as usize;
                let mut any = false;
                for chunk in pr[4..].chunks(n + 1) {
                    if chunk.len() == n + 1
                        && let Some(i) = self.index(chunk[0])
                        && self.write_reg(i, a, &chunk[1..]) == 0
                    {
                        any = true;
                    }
                }
                if a == addr::GOAL_VELOCITY && any {
                    let g = [self.servos[0].goal as f64, self.servos[1].goal as f64];
                    ctx.record(g[0], g[1]);
                }
            }
            inst::SYNC_READ if broadcast && pr.len() >= 4 => {
                let a = u16::from_le_bytes([pr[0], pr[1]]);
                let n = u16::from_le_bytes([pr[2], pr[3]]);
                for &id in &pr[4..] {
                    if let Some(i) = self.index(id) {
                        let d: Vec<u8> = (a..a + n).map(|x| self.read_reg(i, ctx.state, x)).collect();
                        ctx.replies.push(dx::status(id, 0, &d));
                    }
                }
            }
            _ => {
                if let Some(i) = me {
                    ctx.replies.push(dx::status(self.servos[i].id, err::INSTRUCTION, &[]));
                }
            }
        }
        self.update_model(ctx.state);
        self.refresh_timeout(ctx.state);
    }
}

impl SimDevice for DynamixelSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        loop {
            match dx::parse(rx) {
                Parse::Need => return,
                Parse::Bad { used, kind } => {
                    ctx.state.reject(kind);
                    if kind == BadKind::Checksum {
                        // A unicast packet with a bad CRC is answered with
                        // the CRC Error status (e-Manual "Status Packet").
                        let id = rx.windows(4).position(|w| w == dx::HEADER).and_then(|h| rx.get(h + 4).copied());
                        if let Some(i) = id.and_then(|id| self.index(id)) {
                            ctx.replies.push(dx::status(self.servos[i].id, err::CRC, &[]));
                        }
                    }
                    rx.drain(..used);
                }
                Parse::Done { value, used, .. } => {
                    rx.drain(..used);
                    if value.instruction == inst::STATUS {
                        continue; // another device's status: not for us
                    }
                    ctx.fed = true;
                    self.execute(value, ctx);
                }
            }
        }
    }

    fn on_timeout(&mut self, st: &mut SimState) {
        // Bus Watchdog fired: Goal Velocity becomes 0 and the register -1.
        for s in self.servos.iter_mut() {
            if s.torque && (1..=127).contains(&s.watchdog) {
                s.watchdog = 0xFF;
                s.goal = 0;
            }
        }
        self.update_model(st);
        self.refresh_timeout(st);
    }

    fn corrupt(&self, reply: &mut Vec<u8>) {
        // Flip a CRC bit (the last byte is CRC_H).
        if let Some(b) = reply.last_mut() {
            *b ^= 0x01;
        }
    }
}
