//! The driver core: wheel targets in, controller bytes out, odometry back,
//! with the deadman stop. It knows nothing about wires, so a block wrapper
//! (or a test, or a small program) drives it with [`Driver::tick`].
//!
//! Safety rules it keeps:
//! * if no new command arrived for `command_timeout`, it commands zero and
//!   logs it once (and logs again when commands resume);
//! * on every (re)connection it sends a stop *before* anything else, then
//!   programs the controller's own timeout from the same `command_timeout`
//!   so the motors stop even if this process dies;
//! * a lost port is reopened at the same path, at most every
//!   `reconnect_interval`, without ever blocking a tick for long;
//! * non-finite targets are zero and targets are clamped to
//!   `max_wheel_speed`;
//! * a new command is written as soon as it arrives (the period paces
//!   feedback and the deadman), and the age of the frame it came from is
//!   recorded then ([`Driver::note_source`], [`Driver::latency`]).

use super::MotorError;
use super::diff::{Geometry, OdometryIntegrator, forward};
use super::latency::Latencies;
use super::proto::{arduino as ard, dynamixel as dx, roboclaw as rc};
use super::serial::{LINE, Link, LinkConfig, LinkStats};
use framewire_sdk::msg::{Odometry, WheelCommand};
use std::f64::consts::TAU;
use std::time::{Duration, Instant};

/// What a controller reported in one tick. Channel 0 is motor 1 / the first
/// ID, channel 1 motor 2 / the second ID, before left/right mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Feedback {
    /// Wheel angles in radians (from encoders), if the controller has them.
    pub angle: Option<[f64; 2]>,
    /// Raw encoder counts, unwrapped to 64 bits.
    pub counts: [i64; 2],
    /// Wheel speeds in rad/s, if reported.
    pub speed: Option<[f64; 2]>,
    /// Battery voltage, if reported.
    pub battery_v: Option<f32>,
    /// Controller error flags (protocol specific, 0 = none).
    pub errors: u32,
}

/// One protocol's side of the driver. Speeds are wheel rad/s per channel.
pub trait Backend: Send {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// Programs the controller after a (re)connection, after the stop: mode,
    /// torque and its own failsafe timeout (from `command_timeout`).
    fn configure(&mut self, link: &mut Link, command_timeout: Duration) -> Result<(), MotorError>;
    /// Commands both channels.
    fn command(&mut self, link: &mut Link, speed: [f64; 2]) -> Result<(), MotorError>;
    /// Reads what the controller reports.
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError>;
    /// Called right after the port opened, before the stop (e.g. a bauding
    /// byte the controller needs before it understands anything).
    fn on_connect(&mut self, _link: &mut Link) -> Result<(), MotorError> {
        Ok(())
    }
    /// Called when commands resume after a deadman stop.
    fn resume(&mut self, _link: &mut Link) -> Result<(), MotorError> {
        Ok(())
    }
    /// Whether the controller needs `configure` again (its own failsafe
    /// fired and latched, as a Dynamixel Bus Watchdog or ODrive watchdog
    /// error does).
    fn needs_setup(&self) -> bool {
        false
    }
}

/// Settings shared by every protocol's driver.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The serial port and its timing.
    pub link: LinkConfig,
    /// Robot geometry (odometry, unit conversion, speed clamp).
    pub geometry: Geometry,
    /// How often targets are sent and feedback read, Hz.
    pub rate_hz: f64,
    /// Deadman: zero is commanded when no command arrived for this long;
    /// the controller's own timeout is programmed from it too.
    pub command_timeout: Duration,
    /// Whether the left wheel is on channel 1 (motor 2 / second ID).
    pub swap: bool,
    /// Reverse the left wheel's direction.
    pub invert_left: bool,
    /// Reverse the right wheel's direction (usual: mirrored motors).
    pub invert_right: bool,
}

impl DriverConfig {
    /// Rejects settings under which the failsafe cannot work.
    pub fn validate(&self) -> Result<(), MotorError> {
        self.geometry.validate().map_err(MotorError::Config)?;
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= 1000.0) {
            return Err(MotorError::Config(format!("rate_hz must be in (0, 1000], got {}", self.rate_hz)));
        }
        let period = Duration::from_secs_f64(1.0 / self.rate_hz);
        // The controller's timeout equals command_timeout: if commands were
        // sent less often than that, healthy driving would trip it.
        if self.command_timeout < period * 2 {
            return Err(MotorError::Config(format!(
                "command_timeout ({} ms) must be at least two periods of rate_hz ({} ms)",
                self.command_timeout.as_millis(),
                (period * 2).as_millis()
            )));
        }
        Ok(())
    }
}

/// A motor driver for one controller (or one bus of servos).
pub struct Driver {
    cfg: DriverConfig,
    backend: Box<dyn Backend>,
    link: Link,
    period: Duration,
    next_tick: Option<Instant>,
    last_cmd: Option<(Instant, WheelCommand)>,
    deadman: bool,
    needs_setup: bool,
    odom: OdometryIntegrator,
    last_feedback_at: Option<Instant>,
    last_angles: Option<(f64, f64)>,
    sent: [f64; 2],
    /// Capture time of the frame the newest command came from, until that
    /// command's bytes are written.
    source_ns: Option<u64>,
    latency: Latencies,
}

impl Driver {
    /// A driver; the port is opened on the first tick.
    pub fn new(cfg: DriverConfig, backend: Box<dyn Backend>) -> Result<Driver, MotorError> {
        cfg.validate()?;
        let link = Link::new(cfg.link.clone());
        let period = Duration::from_secs_f64(1.0 / cfg.rate_hz);
        Ok(Driver {
            cfg,
            backend,
            link,
            period,
            next_tick: None,
            last_cmd: None,
            deadman: true,
            needs_setup: true,
            odom: OdometryIntegrator::default(),
            last_feedback_at: None,
            last_angles: None,
            sent: [0.0; 2],
            source_ns: None,
            latency: Latencies::new(),
        })
    }

    /// The send period (1 / `rate_hz`).
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The link's error counters.
    pub fn stats(&self) -> LinkStats {
        self.link.stats()
    }

    /// Whether the deadman is currently holding the motors at zero.
    pub fn deadman_active(&self) -> bool {
        self.deadman
    }

    /// How long until the next tick talks to the controller (zero if due):
    /// a block waits for input at most this long.
    pub fn time_to_next_tick(&self, now: Instant) -> Duration {
        self.next_tick.map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// Notes the capture time (`CLOCK_MONOTONIC` ns, `FrameMeta::timestamp_ns`)
    /// of the frame the command passed to the next [`Driver::tick`] was
    /// derived from: when its bytes are written, their age is recorded in
    /// [`Driver::latency`].
    pub fn note_source(&mut self, capture_ns: u64) {
        self.source_ns = Some(capture_ns);
    }

    /// Glass-to-motor latencies recorded so far: for each command whose
    /// source was noted, the time from the frame's capture to the write of
    /// the command's bytes. The caller reads and clears it.
    pub fn latency(&mut self) -> &mut Latencies {
        &mut self.latency
    }

    /// The wheel speeds (rad/s, left and right) last sent.
    pub fn last_sent(&self) -> [f64; 2] {
        self.sent
    }

    /// Advances the driver to `now`. `cmd` is a newly received wheel command
    /// (`None` if none arrived since the last call). Call it often (at least
    /// at `rate_hz`); it talks to the controller only once per period and
    /// returns the odometry read back in that case.
    pub fn tick(&mut self, now: Instant, cmd: Option<WheelCommand>) -> Result<Option<Odometry>, MotorError> {
        if let Some(c) = cmd {
            self.last_cmd = Some((now, c));
        }
        if let Some(t) = self.next_tick
            && now < t
        {
            // A new command goes out at once rather than at the next period:
            // the period paces feedback and the deadman, not how late a
            // command may reach the motors.
            if cmd.is_some() && self.link.is_connected() && !self.needs_setup {
                self.drive(now)?;
            }
            return Ok(None);
        }
        // Schedule from the ideal time, but never try to catch up a backlog.
        let next = self.next_tick.map(|t| t + self.period).unwrap_or(now + self.period);
        self.next_tick = Some(if next <= now { now + self.period } else { next });

        if self.link.connect(now)? {
            self.needs_setup = true;
        }
        if self.needs_setup {
            self.setup()?;
        }
        self.drive(now)?;
        let fb = match self.backend.feedback(&mut self.link) {
            Ok(f) => f,
            Err(e) => {
                self.note_loss(&e);
                return Err(e);
            }
        };
        if self.backend.needs_setup() {
            tracing::warn!("{}: the controller's own failsafe tripped; configuring it again", self.backend.name());
            self.needs_setup = true;
        }
        Ok(Some(self.odometry(now, fb)))
    }

    fn note_loss(&mut self, e: &MotorError) {
        if matches!(e, MotorError::Disconnected(_)) {
            self.needs_setup = true;
        }
    }

    /// Commands the current target (zero under the deadman), and records the
    /// glass-to-motor latency of a command written for the first time.
    fn drive(&mut self, now: Instant) -> Result<(), MotorError> {
        let was_stopped = self.deadman;
        let target = self.target(now);
        if was_stopped && !self.deadman {
            self.backend.resume(&mut self.link).inspect_err(|e| self.note_loss(e))?;
        }
        let (l, r) = (target.left as f64, target.right as f64);
        let l = if self.cfg.invert_left { -l } else { l };
        let r = if self.cfg.invert_right { -r } else { r };
        let ch = if self.cfg.swap { [r, l] } else { [l, r] };
        self.send(ch)?;
        self.sent = [target.left as f64, target.right as f64];
        if !self.deadman
            && let Some(captured) = self.source_ns.take()
        {
            self.latency.record(self.link.last_write_ns().saturating_sub(captured));
        }
        Ok(())
    }

    fn send(&mut self, ch: [f64; 2]) -> Result<(), MotorError> {
        self.backend.command(&mut self.link, ch).inspect_err(|e| self.note_loss(e))
    }

    fn setup(&mut self) -> Result<(), MotorError> {
        self.backend.on_connect(&mut self.link).inspect_err(|e| self.note_loss(e))?;
        // Stop first: the controller may still be running the last command
        // it got before the link broke.
        self.send([0.0, 0.0])?;
        self.backend.configure(&mut self.link, self.cfg.command_timeout).inspect_err(|e| self.note_loss(e))?;
        self.send([0.0, 0.0])?;
        self.needs_setup = false;
        self.odom.rebase();
        self.last_feedback_at = None;
        self.last_angles = None;
        tracing::info!(
            "{} on {}: connected, motors stopped, controller timeout set from command_timeout = {} ms",
            self.backend.name(),
            self.cfg.link.path,
            self.cfg.command_timeout.as_millis()
        );
        Ok(())
    }

    fn target(&mut self, now: Instant) -> WheelCommand {
        let fresh = self.last_cmd.filter(|(t, _)| now.duration_since(*t) <= self.cfg.command_timeout);
        match fresh {
            Some((_, c)) => {
                if self.deadman && self.last_cmd.is_some() {
                    tracing::info!("{}: commands received, driving", self.backend.name());
                }
                self.deadman = false;
                let max = self.cfg.geometry.max_wheel_speed as f32;
                let ok = |v: f32| {
                    if v.is_finite() { v.clamp(-max, max) } else { 0.0 }
                };
                WheelCommand { left: ok(c.left), right: ok(c.right) }
            }
            None => {
                if !self.deadman {
                    tracing::warn!(
                        "{}: deadman: no command for {} ms, commanding zero",
                        self.backend.name(),
                        self.cfg.command_timeout.as_millis()
                    );
                }
                self.deadman = true;
                WheelCommand::default()
            }
        }
    }

    fn odometry(&mut self, now: Instant, fb: Feedback) -> Odometry {
        let g = self.cfg.geometry;
        let map = |v: [f64; 2]| {
            let (l, r) = if self.cfg.swap { (v[1], v[0]) } else { (v[0], v[1]) };
            (if self.cfg.invert_left { -l } else { l }, if self.cfg.invert_right { -r } else { r })
        };
        let dt = self.last_feedback_at.map(|t| now.duration_since(t).as_secs_f64()).filter(|d| *d > 0.0);
        let angles = fb.angle.map(map);
        // Controllers that report no speed (ROSArduinoBridge) get one
        // estimated from the encoder angles.
        let speeds = fb.speed.map(map).or_else(|| match (angles, self.last_angles, dt) {
            (Some((l, r)), Some((l0, r0)), Some(dt)) => Some(((l - l0) / dt, (r - r0) / dt)),
            _ => None,
        });
        self.last_angles = angles;
        match angles {
            Some((l, r)) => self.odom.update_angles(&g, l, r),
            None => {
                // Open loop: integrate the speeds reported, or sent.
                let (sl, sr) = speeds.unwrap_or((self.sent[0], self.sent[1]));
                if let Some(dt) = dt {
                    self.odom.integrate(&g, sl * dt, sr * dt);
                }
            }
        }
        self.last_feedback_at = Some(now);
        let (ls, rs) = speeds.unwrap_or((f64::NAN, f64::NAN));
        let (lin, ang) = forward(&g, ls, rs);
        let (lc, rc) = if self.cfg.swap { (fb.counts[1], fb.counts[0]) } else { (fb.counts[0], fb.counts[1]) };
        Odometry {
            x: self.odom.x,
            y: self.odom.y,
            heading: self.odom.heading,
            linear: lin as f32,
            angular: ang as f32,
            left_counts: lc,
            right_counts: rc,
            left_speed: ls as f32,
            right_speed: rs as f32,
            battery_v: fb.battery_v.unwrap_or(f32::NAN),
            errors: fb.errors,
        }
    }

    /// Commands zero now (shutdown, restart of the block, upstream crash):
    /// best effort, bounded by the link's timeouts.
    pub fn stop(&mut self) -> Result<(), MotorError> {
        self.last_cmd = None;
        self.deadman = true;
        if !self.link.is_connected() {
            self.link.connect(Instant::now())?;
        }
        self.send([0.0, 0.0])?;
        self.sent = [0.0; 2];
        tracing::info!("{} on {}: stopped", self.backend.name(), self.cfg.link.path);
        Ok(())
    }
}

/// Unwraps a 32-bit counter that wraps around into a 64-bit count.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unwrap32 {
    last: Option<u32>,
    total: i64,
}

impl Unwrap32 {
    /// Feeds the raw value; returns the unwrapped count.
    pub fn update(&mut self, raw: u32) -> i64 {
        match self.last {
            None => self.total = raw as i32 as i64,
            Some(l) => self.total += raw.wrapping_sub(l) as i32 as i64,
        }
        self.last = Some(raw);
        self.total
    }
}

// ---------------------------------------------------------------- RoboClaw

/// RoboClaw packet serial: speed commands in encoder counts/s (command 37,
/// or 40 with an acceleration), encoders (78), speeds (108), battery (24).
pub struct RoboclawBackend {
    /// Packet serial address (0x80..=0x87).
    pub address: u8,
    /// Encoder counts per wheel revolution.
    pub counts_per_rev: f64,
    /// Acceleration in counts/s² for command 40; `None` uses command 37.
    pub accel: Option<u32>,
    enc: [Unwrap32; 2],
    ticks: u64,
    battery: Option<f32>,
}

impl RoboclawBackend {
    /// A backend for the controller at `address`.
    pub fn new(address: u8, counts_per_rev: f64, accel: Option<u32>) -> Self {
        RoboclawBackend { address, counts_per_rev, accel, enc: Default::default(), ticks: 0, battery: None }
    }

    fn write(&mut self, link: &mut Link, what: &str, p: &[u8]) -> Result<(), MotorError> {
        link.transact(what, p, 1, rc::parse_ack)
    }

    fn read(&mut self, link: &mut Link, what: &str, command: u8) -> Result<Vec<u8>, MotorError> {
        let a = self.address;
        let n = rc::reply_data_len(command).unwrap_or(0) + 2;
        link.transact(what, &rc::read_request(a, command), n, |b| rc::parse_read_reply(a, command, b))
    }
}

impl Backend for RoboclawBackend {
    fn name(&self) -> &'static str {
        "roboclaw"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        let p = rc::set_serial_timeout(self.address, rc::timeout_tenths(t));
        self.write(link, "set serial timeout (14)", &p)
    }
    fn command(&mut self, link: &mut Link, s: [f64; 2]) -> Result<(), MotorError> {
        let q = |v: f64| (v * self.counts_per_rev / TAU).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        let p = match self.accel {
            Some(a) => rc::mixed_speed_accel(self.address, a, q(s[0]), q(s[1])),
            None => rc::mixed_speed(self.address, q(s[0]), q(s[1])),
        };
        self.write(link, "drive M1/M2 with signed speed", &p)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        let e = self.read(link, "read encoder counters (78)", rc::cmd::READ_ENCODERS)?;
        let c = [self.enc[0].update(rc::be_u32(&e, 0)), self.enc[1].update(rc::be_u32(&e, 4))];
        let s = self.read(link, "read average speeds (108)", rc::cmd::READ_AVG_SPEEDS)?;
        let k = TAU / self.counts_per_rev;
        let speed = [rc::be_u32(&s, 0) as i32 as f64 * k, rc::be_u32(&s, 4) as i32 as f64 * k];
        // The battery changes slowly: read it every 10th tick only.
        if self.ticks.is_multiple_of(10) {
            let b = self.read(link, "read main battery (24)", rc::cmd::READ_MAIN_BATTERY)?;
            self.battery = Some(u16::from_be_bytes([b[0], b[1]]) as f32 / 10.0);
        }
        self.ticks += 1;
        Ok(Feedback {
            angle: Some([c[0] as f64 * k, c[1] as f64 * k]),
            counts: c,
            speed: Some(speed),
            battery_v: self.battery,
            errors: 0,
        })
    }
}

// --------------------------------------------------------------- Dynamixel

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

fn status_from(id: u8, b: &[u8]) -> super::proto::Parse<dx::Packet> {
    use super::proto::{BadKind, Parse};
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
        use super::proto::Parse;
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

// ---------------------------------------------------------- ROSArduinoBridge

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

fn ok_line(b: &[u8]) -> super::proto::Parse<()> {
    use super::proto::{BadKind, Parse, parse_line};
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
        use super::proto::{BadKind, Parse, parse_line};
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

// -------------------------------------------------------------- Sabertooth

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
            link.send(&[super::proto::sabertooth::BAUDING_BYTE])?;
        }
        Ok(())
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        use super::proto::sabertooth as st;
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
        use super::proto::sabertooth as st;
        let frac = |v: f64| (v / self.max_wheel_speed).clamp(-1.0, 1.0);
        match self.mode {
            SabertoothMode::Packetized(a) => {
                let mut p = st::motor(a, 1, (frac(s[0]) * 127.0).round() as i32).to_vec();
                p.extend_from_slice(&st::motor(a, 2, (frac(s[1]) * 127.0).round() as i32));
                link.send(&p)
            }
            SabertoothMode::Simplified => {
                let m = |v: f64| (frac(v) * 63.0).round() as i32;
                link.send(&[st::simplified(1, m(s[0])), st::simplified(2, m(s[1]))])
            }
        }
    }
    fn feedback(&mut self, _link: &mut Link) -> Result<Feedback, MotorError> {
        Ok(Feedback::default())
    }
}

// -------------------------------------------------------------------- VESC

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
        use super::proto::vesc as vs;
        vs::frame(&if ch == 0 { p } else { vs::forward_can(self.can_id, &p) })
    }
}

impl Backend for VescBackend {
    fn name(&self) -> &'static str {
        "vesc"
    }
    fn configure(&mut self, _link: &mut Link, t: Duration) -> Result<(), MotorError> {
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
        use super::proto::vesc as vs;
        let k = self.erpm_per_rad_s();
        let mut out = Vec::new();
        for (ch, v) in s.iter().enumerate() {
            out.extend_from_slice(&self.payload(ch, vs::set_rpm((v * k).round() as i32)));
            out.extend_from_slice(&self.payload(ch, vs::alive()));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use super::proto::Parse;
        use super::proto::vesc as vs;
        let mut fb = Feedback::default();
        let mut angle = [0.0; 2];
        let mut speed = [0.0; 2];
        let per_rev = 6.0 * self.pole_pairs * self.gear_ratio;
        for ch in 0..2 {
            let req = self.payload(ch, vs::get_values());
            let v = link.transact("COMM_GET_VALUES", &req, vs::VALUES_LEN + 5, |b| match vs::parse(b) {
                Parse::Done { value, used, skipped } => match vs::Values::decode(&value) {
                    Some(v) => Parse::Done { value: v, used, skipped },
                    None => Parse::Bad { used, kind: super::proto::BadKind::Malformed },
                },
                other => other.map(|_| vs::Values::default()),
            })?;
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

// ------------------------------------------------------------------ ODrive

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
        link.transact(what, req, LINE, |b| super::proto::odrive::parse_reply(b, ck))
    }

    fn read_num(&self, link: &mut Link, prop: &str) -> Result<f64, MotorError> {
        let l = self.read(link, prop, &super::proto::odrive::read(prop, self.checksum))?;
        l.trim().parse().map_err(|_| MotorError::Device(format!("odrive: {prop}: unexpected reply {l:?}")))
    }
}

impl Backend for OdriveBackend {
    fn name(&self) -> &'static str {
        "odrive"
    }
    fn configure(&mut self, link: &mut Link, t: Duration) -> Result<(), MotorError> {
        use super::proto::odrive as od;
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
        use super::proto::odrive as od;
        let mut out = Vec::new();
        for (ax, v) in s.iter().enumerate() {
            out.extend_from_slice(&od::velocity(ax as u8, v / TAU * self.gear_ratio, 0.0, self.checksum));
            out.extend_from_slice(&od::feed_watchdog(ax as u8, self.checksum));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use super::proto::odrive as od;
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

// ------------------------------------------------------------------ Pololu

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
        use super::proto::pololu as pl;
        link.transact(
            "get variable",
            &pl::get_variable(pl::Framing::Device(self.devices[ch]), id),
            2,
            pl::parse_variable,
        )
    }

    fn exit_safe_start(&self, link: &mut Link) -> Result<(), MotorError> {
        use super::proto::pololu as pl;
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
        use super::proto::pololu as pl;
        let mut out = Vec::new();
        for (ch, v) in s.iter().enumerate() {
            let sp = ((v / self.max_wheel_speed).clamp(-1.0, 1.0) * pl::MAX_SPEED as f64).round() as i32;
            out.extend_from_slice(&pl::set_speed(pl::Framing::Device(self.devices[ch]), sp));
        }
        link.send(&out)
    }
    fn feedback(&mut self, link: &mut Link) -> Result<Feedback, MotorError> {
        use super::proto::pololu as pl;
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
