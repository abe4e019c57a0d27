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
//!   `max_wheel_speed`.

//!
//! One backend per protocol, each in its own file: [`RoboclawBackend`],
//! [`DynamixelBackend`], [`ArduinoBackend`], [`SabertoothBackend`],
//! [`VescBackend`], [`OdriveBackend`], [`PololuBackend`].

mod arduino;
mod dynamixel;
mod odrive;
mod pololu;
mod roboclaw;
mod sabertooth;
mod vesc;

pub use arduino::ArduinoBackend;
pub use dynamixel::DynamixelBackend;
pub use odrive::OdriveBackend;
pub use pololu::PololuBackend;
pub use roboclaw::RoboclawBackend;
pub use sabertooth::{SabertoothBackend, SabertoothMode};
pub use vesc::VescBackend;

use super::MotorError;
use super::diff::{Geometry, OdometryIntegrator, forward};
use super::serial::{Link, LinkConfig, LinkStats};
use crate::msg::{Odometry, WheelCommand};
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
