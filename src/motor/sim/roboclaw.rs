//! A simulated RoboClaw in packet serial mode.

use super::{Ctx, SimDevice, SimState, each_frame};
use crate::proto::roboclaw::{self as rc, Request, cmd};
use std::time::Duration;

/// A RoboClaw at one address with two encoder motors. Speeds are in encoder
/// counts per second (the "QPPS" of the manual); the model's counts are the
/// encoder counts it reports.
pub struct RoboclawSim {
    address: u8,
    /// Simulated main battery voltage in 0.1 V.
    pub battery_decivolts: u16,
}

impl RoboclawSim {
    /// A controller answering at `address` (0x80..=0x87).
    pub fn new(address: u8) -> Self {
        RoboclawSim { address, battery_decivolts: 124 }
    }
}

fn be_i32(d: &[u8], at: usize) -> i32 {
    rc::be_u32(d, at) as i32
}

/// A signed duty (±32767 = ±100 %) as the model's counts/s.
fn duty(d: &[u8], at: usize) -> f64 {
    i16::from_be_bytes([d[at], d[at + 1]]) as f64 * 10000.0 / 32767.0
}

impl SimDevice for RoboclawSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        // The firmware discards a packet whose CRC fails and sends nothing:
        // the host's read times out.
        let a = self.address;
        each_frame(
            rx,
            ctx,
            |b| rc::parse_request(a, b),
            |req, ctx| {
                // Section "Serial Timeout" (command 14): any valid packet
                // restarts the timer.
                ctx.fed = true;
                let reply = self.execute(req, ctx.state);
                ctx.replies.push(reply);
            },
        );
    }
}

impl RoboclawSim {
    fn execute(&mut self, req: Request, st: &mut SimState) -> Vec<u8> {
        let a = self.address;
        match req {
            Request::Write { command, data } => {
                let m = &mut st.model;
                let mut rec = None;
                match command {
                    cmd::SET_SERIAL_TIMEOUT => {
                        st.hw_timeout = (data[0] > 0).then(|| Duration::from_millis(100 * data[0] as u64));
                    }
                    // Single-motor commands change one target; the log
                    // records both motors' targets after each, like the
                    // mixed ones (a library driving M1 then M2 shows both).
                    cmd::M1_SPEED | cmd::M2_SPEED => {
                        m.target[(command - cmd::M1_SPEED) as usize] = be_i32(&data, 0) as f64;
                        rec = Some(m.target);
                    }
                    cmd::MIXED_SPEED => {
                        m.target = [be_i32(&data, 0) as f64, be_i32(&data, 4) as f64];
                        rec = Some(m.target);
                    }
                    cmd::M1_SPEED_ACCEL | cmd::M2_SPEED_ACCEL => {
                        m.target[(command - cmd::M1_SPEED_ACCEL) as usize] = be_i32(&data, 4) as f64;
                        rec = Some(m.target);
                    }
                    cmd::MIXED_SPEED_ACCEL => {
                        m.target = [be_i32(&data, 4) as f64, be_i32(&data, 8) as f64];
                        rec = Some(m.target);
                    }
                    // Duty: model 100 % as 10000 counts/s, enough for a sim.
                    cmd::M1_DUTY | cmd::M2_DUTY => {
                        let i = (command - cmd::M1_DUTY) as usize;
                        m.target[i] = duty(&data, 0);
                        rec = Some(m.target);
                    }
                    cmd::MIXED_DUTY => {
                        m.target = [duty(&data, 0), duty(&data, 2)];
                        rec = Some(m.target);
                    }
                    _ => {}
                }
                if let Some([m1, m2]) = rec {
                    st.received.push(super::Received { at: std::time::Instant::now(), m1, m2 });
                }
                vec![rc::ACK]
            }
            Request::Read { command } => {
                let m = &st.model;
                let enc = |i: usize| (m.position[i].round() as i64 as u32).to_be_bytes();
                let spd = |i: usize| (m.speed[i].round() as i32).to_be_bytes();
                let mut d = Vec::new();
                match command {
                    cmd::READ_ENC_M1 | cmd::READ_ENC_M2 => {
                        let i = (command - cmd::READ_ENC_M1) as usize;
                        d.extend_from_slice(&enc(i));
                        d.push(if m.speed[i] < 0.0 { 0x02 } else { 0 });
                    }
                    cmd::READ_SPEED_M1 | cmd::READ_SPEED_M2 => {
                        let i = (command - cmd::READ_SPEED_M1) as usize;
                        d.extend_from_slice(&(m.speed[i].abs().round() as u32).to_be_bytes());
                        d.push((m.speed[i] < 0.0) as u8);
                    }
                    cmd::READ_ENCODERS => {
                        d.extend_from_slice(&enc(0));
                        d.extend_from_slice(&enc(1));
                    }
                    cmd::READ_AVG_SPEEDS => {
                        d.extend_from_slice(&spd(0));
                        d.extend_from_slice(&spd(1));
                    }
                    cmd::READ_MAIN_BATTERY => d.extend_from_slice(&self.battery_decivolts.to_be_bytes()),
                    cmd::READ_STATUS => d.extend_from_slice(&0u32.to_be_bytes()),
                    _ => {}
                }
                rc::read_reply(a, command, &d)
            }
        }
    }
}
