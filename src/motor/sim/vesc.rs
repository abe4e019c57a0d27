//! Simulated VESCs: one on the UART, one behind it on CAN.

use super::{Ctx, SimDevice, SimState, each_frame};
use crate::proto::vesc::{self as vs, FwVersion, Values, comm};
use std::time::Duration;

/// Tachometer steps per electrical revolution (6 commutation steps).
pub const TACHO_PER_EREV: f64 = 6.0;

/// Two VESCs: motor 1 local (CAN ID `ids[0]`), motor 2 reached with
/// `COMM_FORWARD_CAN` to `ids[1]`. The model runs in tachometer steps.
pub struct VescSim {
    ids: [u8; 2],
    erpm: [i32; 2],
    firmware: (u8, u8),
}

impl VescSim {
    /// VESCs with these controller IDs, firmware 6.2 and the app setting
    /// `timeout_msec` at its default of 1000 ms.
    pub fn new(ids: [u8; 2]) -> Self {
        VescSim { ids, erpm: [0; 2], firmware: (6, 2) }
    }

    /// VESCs running firmware `major.minor`: before 3.x, `COMM_FW_VERSION`
    /// answers only the two numbers and `COMM_GET_VALUES` has the 2.x layout.
    pub fn with_firmware(ids: [u8; 2], major: u8, minor: u8) -> Self {
        VescSim { firmware: (major, minor), ..VescSim::new(ids) }
    }

    fn fw_version(&self, i: usize) -> Vec<u8> {
        let (major, minor) = self.firmware;
        if major < 3 {
            return vec![comm::FW_VERSION, major, minor];
        }
        // The second controller's UUID differs, as two chips' do.
        let uuid = [0x30 + i as u8; 12];
        FwVersion { major, minor, hw_name: "60".into(), uuid }.encode()
    }

    /// The 2.x `COMM_GET_VALUES` layout (bldc 2.x `commands.c`): seven
    /// temperatures, currents, duty, rpm, input voltage, energy counters,
    /// tachometers, fault code: 56 bytes.
    fn values_v2(v: &Values) -> Vec<u8> {
        let mut p = vec![comm::GET_VALUES];
        for _ in 0..7 {
            p.extend_from_slice(&((v.temp_fet * 10.0) as i16).to_be_bytes());
        }
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&((v.duty * 1000.0) as i16).to_be_bytes());
        p.extend_from_slice(&(v.erpm as i32).to_be_bytes());
        p.extend_from_slice(&((v.v_in * 10.0) as i16).to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&v.tachometer.to_be_bytes());
        p.extend_from_slice(&v.tachometer_abs.to_be_bytes());
        p.push(v.fault);
        p
    }

    fn values(&self, i: usize, st: &SimState) -> Values {
        Values {
            temp_fet: 30.0,
            temp_motor: 25.0,
            v_in: 24.0,
            erpm: (st.model.speed[i] * 60.0 / TACHO_PER_EREV).round(),
            tachometer: st.model.position[i].round() as i32,
            tachometer_abs: st.model.position[i].abs().round() as i32,
            controller_id: self.ids[i],
            status: (st.model.target[i] == 0.0 && self.erpm[i] != 0) as u8,
            ..Default::default()
        }
    }

    fn execute(&mut self, i: usize, p: &[u8], ctx: &mut Ctx) {
        let arg = || p.get(1..5).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match p[0] {
            comm::SET_RPM => {
                if let Some(v) = arg() {
                    self.erpm[i] = v;
                    ctx.state.model.target[i] = v as f64 * TACHO_PER_EREV / 60.0;
                    // Drivers command the local VESC, then the CAN one: log
                    // the pair once the second half arrived.
                    if i == 1 {
                        ctx.record(self.erpm[0] as f64, self.erpm[1] as f64);
                    }
                }
            }
            // Duty and current: a crude model, full duty = 30000 erpm.
            comm::SET_DUTY => {
                if let Some(v) = arg() {
                    ctx.state.model.target[i] = v as f64 / 100_000.0 * 30_000.0 * TACHO_PER_EREV / 60.0;
                }
            }
            comm::SET_CURRENT | comm::SET_CURRENT_BRAKE => {
                if arg() == Some(0) {
                    ctx.state.model.target[i] = 0.0;
                }
            }
            comm::ALIVE => {}
            comm::GET_VALUES => {
                let v = self.values(i, ctx.state);
                let p = if self.firmware.0 < 3 { Self::values_v2(&v) } else { v.encode() };
                ctx.replies.push(vs::frame(&p));
                // Reading does not reset the timeout (commands.c: no
                // timeout_reset() in COMM_GET_VALUES).
                return;
            }
            comm::FW_VERSION => {
                ctx.replies.push(vs::frame(&self.fw_version(i)));
                // Not a command that resets the timeout in commands.c.
                return;
            }
            _ => return,
        }
        // commands.c: every command left here calls timeout_reset().
        ctx.fed = true;
    }
}

impl SimDevice for VescSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        ctx.state.hw_timeout.get_or_insert(Duration::from_millis(1000));
        each_frame(rx, ctx, vs::parse, |p, ctx| {
            if p[0] == comm::FORWARD_CAN {
                if p.len() >= 3 && p[1] == self.ids[1] {
                    self.execute(1, &p[2..], ctx);
                }
            } else {
                self.execute(0, &p, ctx);
            }
        });
    }

    fn on_timeout(&mut self, st: &mut SimState) {
        // timeout.c: the motor is released (brake current) on timeout.
        st.model.target = [0.0; 2];
    }

    fn corrupt(&self, reply: &mut Vec<u8>) {
        // The CRC sits just before the final 0x03.
        let n = reply.len();
        if n >= 3 {
            reply[n - 2] ^= 0x01;
        }
    }
}
