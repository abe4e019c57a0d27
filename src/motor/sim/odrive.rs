//! A simulated ODrive (firmware 0.5.x) speaking the ASCII protocol.

use super::{Ctx, SimDevice, SimState};
use crate::proto::Parse;
use crate::proto::odrive as od;
use crate::proto::parse_line;
use std::time::Duration;

/// Model counts per motor turn (the model runs in these units).
pub const COUNTS_PER_TURN: f64 = 10_000.0;

#[derive(Clone, Debug, Default)]
struct Axis {
    state: u8,
    error: u32,
    control_mode: u8,
    watchdog_timeout: f64,
    watchdog_enabled: bool,
    vel: f64,
}

/// A two-axis ODrive.
pub struct OdriveSim {
    axes: [Axis; 2],
}

impl OdriveSim {
    /// A board fresh from power-up: both axes idle, watchdogs off.
    pub fn new() -> Self {
        let a = Axis { state: od::STATE_IDLE, control_mode: 3, ..Default::default() };
        OdriveSim { axes: [a.clone(), a] }
    }

    fn apply(&self, st: &mut SimState) {
        for (i, a) in self.axes.iter().enumerate() {
            let on = a.state == od::STATE_CLOSED_LOOP && a.control_mode == od::CONTROL_MODE_VELOCITY;
            st.model.target[i] = if on { a.vel * COUNTS_PER_TURN } else { 0.0 };
        }
        st.hw_timeout = self
            .axes
            .iter()
            .filter(|a| a.watchdog_enabled && a.watchdog_timeout > 0.0 && a.state == od::STATE_CLOSED_LOOP)
            .map(|a| Duration::from_secs_f64(a.watchdog_timeout))
            .min_by(|a, b| a.cmp(b));
    }

    fn axis_prop<'a, 'b>(&'a mut self, p: &'b str) -> Option<(&'a mut Axis, &'b str)> {
        let rest = p.strip_prefix("axis")?;
        let (n, prop) = rest.split_once('.')?;
        let i: usize = n.parse().ok()?;
        Some((self.axes.get_mut(i)?, prop))
    }

    fn read(&mut self, p: &str, st: &SimState) -> Option<String> {
        if p == "vbus_voltage" {
            return Some("24.0".into());
        }
        let (a, prop) = self.axis_prop(p)?;
        Some(match prop {
            "error" => a.error.to_string(),
            "current_state" => a.state.to_string(),
            "config.watchdog_timeout" => a.watchdog_timeout.to_string(),
            "config.enable_watchdog" => (a.watchdog_enabled as u8).to_string(),
            "controller.config.control_mode" => a.control_mode.to_string(),
            "controller.input_vel" => a.vel.to_string(),
            _ => {
                let _ = st;
                return None;
            }
        })
    }

    fn write(&mut self, p: &str, v: &str) {
        let Some((a, prop)) = self.axis_prop(p) else {
            return;
        };
        let f: f64 = v.parse().unwrap_or(0.0);
        match prop {
            "error" => a.error = f as u32,
            "requested_state" => {
                // Closed loop is refused while an error is latched.
                a.state = if f as u8 == od::STATE_CLOSED_LOOP && a.error != 0 { od::STATE_IDLE } else { f as u8 };
            }
            "config.watchdog_timeout" => a.watchdog_timeout = f,
            "config.enable_watchdog" => a.watchdog_enabled = f != 0.0,
            "controller.config.control_mode" => a.control_mode = f as u8,
            _ => {}
        }
    }
}

impl Default for OdriveSim {
    fn default() -> Self {
        Self::new()
    }
}

impl SimDevice for OdriveSim {
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx) {
        loop {
            let line = match parse_line(rx) {
                Parse::Need => return,
                Parse::Bad { used, .. } => {
                    ctx.state.malformed += 1;
                    rx.drain(..used);
                    continue;
                }
                Parse::Done { value, used, .. } => {
                    rx.drain(..used);
                    value
                }
            };
            let with_ck = line.contains('*');
            let Some(body) = od::check_line(&line, false) else {
                // A line with a wrong checksum is ignored entirely.
                ctx.state.checksum_rejects += 1;
                continue;
            };
            let body = body.split(';').next().unwrap_or("").trim().to_string();
            let mut it = body.split_whitespace();
            let reply: Option<String> = match it.next() {
                Some("v") => {
                    let m: usize = it.next().and_then(|x| x.parse().ok()).unwrap_or(9);
                    let v: Option<f64> = it.next().and_then(|x| x.parse().ok());
                    match (self.axes.get_mut(m), v) {
                        (Some(a), Some(v)) => {
                            a.vel = v;
                            ctx.fed = true; // the velocity command feeds the watchdog
                            // Log the pair once axis 1's half arrived.
                            if m == 1 {
                                let r = [self.axes[0].vel, self.axes[1].vel];
                                ctx.record(r[0], r[1]);
                            }
                            None
                        }
                        _ => Some("invalid command format".into()),
                    }
                }
                Some("u") => {
                    ctx.fed = true;
                    None
                }
                Some("f") => match it.next().and_then(|x| x.parse::<usize>().ok()).filter(|m| *m < 2) {
                    Some(m) => {
                        let p = ctx.state.model.position[m] / COUNTS_PER_TURN;
                        let v = ctx.state.model.speed[m] / COUNTS_PER_TURN;
                        Some(format!("{p:.6} {v:.6}"))
                    }
                    None => Some("invalid motor".into()),
                },
                Some("r") => match it.next() {
                    Some(p) => Some(self.read(p, ctx.state).unwrap_or_else(|| "invalid property".into())),
                    None => Some("invalid property".into()),
                },
                Some("w") => {
                    if let (Some(p), Some(v)) = (it.next(), it.next()) {
                        self.write(p, v);
                    }
                    None
                }
                Some("sc") => {
                    for a in self.axes.iter_mut() {
                        a.error = 0;
                    }
                    None
                }
                _ => Some("unknown command".into()),
            };
            self.apply(ctx.state);
            if let Some(r) = reply {
                let r = if with_ck { format!("{r} *{}", od::checksum(&format!("{r} "))) } else { r };
                ctx.replies.push(format!("{r}\r\n").into_bytes());
            }
        }
    }

    fn on_timeout(&mut self, st: &mut SimState) {
        for a in self.axes.iter_mut() {
            if a.watchdog_enabled && a.state == od::STATE_CLOSED_LOOP {
                a.error |= od::AXIS_ERROR_WATCHDOG;
                a.state = od::STATE_IDLE;
            }
        }
        self.apply(st);
    }

    fn corrupt(&self, reply: &mut Vec<u8>) {
        // Change the first character: the checksum no longer matches.
        if let Some(b) = reply.first_mut() {
            *b ^= 0x01;
        }
    }
}
