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
use framewire_sdk::msg::{Odometry, WheelCommand};
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
    /// A driver that has not once connected and configured its controller
    /// within this long fails (instead of retrying forever while looking
    /// healthy).
    pub connect_timeout: Duration,
    /// Whether the left wheel is on channel 1 (motor 2 / second ID).
    pub swap: bool,
    /// Reverse the left wheel's direction.
    pub invert_left: bool,
    /// Reverse the right wheel's direction (usual: mirrored motors).
    pub invert_right: bool,
}

/// The default `connect_timeout`: long enough for a USB adapter to
/// enumerate and a controller to boot, short enough to notice a wrong port.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);

impl DriverConfig {
    /// A configuration with the documented defaults: 20 Hz, the default
    /// deadman and connect timeouts, left wheel on channel 1, no inversion.
    pub fn new(link: LinkConfig, geometry: Geometry) -> Self {
        DriverConfig {
            link,
            geometry,
            rate_hz: 20.0,
            command_timeout: super::DEFAULT_COMMAND_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            swap: false,
            invert_left: false,
            invert_right: false,
        }
    }

    /// Rejects settings under which the failsafe cannot work. Messages name
    /// the block keys (`rate_hz`, `command_timeout_ms`, ...) and the fix.
    pub fn validate(&self) -> Result<(), MotorError> {
        self.geometry.validate().map_err(MotorError::Config)?;
        if !(self.rate_hz.is_finite() && self.rate_hz > 0.0 && self.rate_hz <= 1000.0) {
            return Err(MotorError::Config(format!("rate_hz must be in (0, 1000], got {}", self.rate_hz)));
        }
        let period = Duration::from_secs_f64(1.0 / self.rate_hz);
        let ms = |d: Duration| d.as_millis();
        // The controller's timeout equals command_timeout: if commands were
        // sent less often than that, healthy driving would trip it.
        if self.command_timeout < period * 2 {
            return Err(MotorError::Config(format!(
                "command_timeout ({} ms) must be at least two periods of rate_hz ({} ms)",
                ms(self.command_timeout),
                ms(period * 2)
            )));
        }
        // One request may wait (retries + 1) reply timeouts for a silent
        // controller. Exchanges are cut at the deadman deadline anyway, but a
        // request that cannot finish its retries within the deadman would
        // turn a slow controller into stops.
        let worst = self.link.reply_timeout * (self.link.retries + 1);
        if worst > self.command_timeout {
            // Attempts that fit: retries can only help if at least one does.
            let fit = self.command_timeout.as_nanos() / self.link.reply_timeout.as_nanos().max(1);
            let fewer_retries = if fit >= 1 { format!(" or retries to at most {}", fit - 1) } else { String::new() };
            return Err(MotorError::Config(format!(
                "reply_timeout_ms ({}) × (retries + 1) ({}) = {} ms exceeds command_timeout_ms ({} ms): \
                 one request to a silent controller could outlast the deadman; \
                 lower reply_timeout_ms to at most {}{fewer_retries}, or raise command_timeout_ms to at least {}",
                ms(self.link.reply_timeout),
                self.link.retries + 1,
                ms(worst),
                ms(self.command_timeout),
                ms(self.command_timeout / (self.link.retries + 1)),
                ms(worst)
            )));
        }
        if self.connect_timeout.is_zero() {
            return Err(MotorError::Config("connect_timeout_ms must be positive".into()));
        }
        Ok(())
    }
}

/// Where the driver's link to its controller stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet since the driver started (first tick at `since`).
    Connecting {
        /// When the driver first tried.
        since: Instant,
    },
    /// The port is open and the controller configured.
    Connected {
        /// Since when.
        since: Instant,
    },
    /// It was connected, then the port was lost; it is being reopened.
    Lost {
        /// When it was lost.
        since: Instant,
    },
}

/// The link state with the last error, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// Connecting, connected or lost, and since when.
    pub state: LinkState,
    /// The last error on the link (opening, reading, the controller), if
    /// any since the last successful exchange.
    pub last_error: Option<String>,
}

/// Logs repeated errors without flooding: per kind of error, the first one
/// in full, then nothing for `window`, then one line "... (N more in the
/// last T s)" and a new window.
#[derive(Debug)]
pub struct RateLimitedLog {
    window: Duration,
    kinds: Vec<(&'static str, Instant, u64, String)>,
    emitted: u64,
}

impl RateLimitedLog {
    /// A log that repeats each kind of error at most once per `window`.
    pub fn new(window: Duration) -> Self {
        RateLimitedLog { window, kinds: Vec::new(), emitted: 0 }
    }

    /// Notes an error of `kind` at `now`: returns the line to log, if any.
    /// Multi-line messages (a port list) are logged whole only the first
    /// time; summaries carry their first line.
    pub fn note(&mut self, now: Instant, kind: &'static str, msg: &str) -> Option<String> {
        let first_line = msg.lines().next().unwrap_or("").to_string();
        let Some(k) = self.kinds.iter_mut().find(|k| k.0 == kind) else {
            self.kinds.push((kind, now, 0, first_line));
            self.emitted += 1;
            return Some(msg.to_string());
        };
        if now.duration_since(k.1) < self.window {
            k.2 += 1;
            k.3 = first_line;
            return None;
        }
        let n = std::mem::take(&mut k.2);
        k.1 = now;
        k.3 = first_line.clone();
        self.emitted += 1;
        Some(if n > 0 {
            format!("{first_line} ({n} more in the last {:.0} s)", self.window.as_secs_f64())
        } else {
            first_line
        })
    }

    /// Summaries of the kinds whose window has ended with errors left
    /// unreported (or of every kind when `all`, e.g. when the link comes
    /// back); each is then forgotten, so its next error is logged in full.
    pub fn flush(&mut self, now: Instant, all: bool) -> Vec<String> {
        let mut out = Vec::new();
        let window = self.window;
        self.kinds.retain(|k| {
            let age = now.duration_since(k.1);
            if !all && age < window {
                return true;
            }
            if k.2 > 0 {
                out.push(format!("{} ({} more in the last {:.1} s)", k.3, k.2, age.as_secs_f64()));
            }
            false
        });
        self.emitted += out.len() as u64;
        out
    }

    /// How many lines this log has emitted (notes and summaries).
    pub fn emitted(&self) -> u64 {
        self.emitted
    }
}

/// How long the same kind of link error stays quiet after being logged.
pub const LOG_WINDOW: Duration = Duration::from_secs(10);

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
    state: Option<LinkState>,
    last_error: Option<String>,
    log: RateLimitedLog,
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
            state: None,
            last_error: None,
            log: RateLimitedLog::new(LOG_WINDOW),
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

    /// Connecting, connected or lost (and since when), with the last error;
    /// `None` before the first tick.
    pub fn link_status(&self) -> Option<LinkStatus> {
        Some(LinkStatus { state: self.state?, last_error: self.last_error.clone() })
    }

    /// How many warning lines the driver has logged about its link (state
    /// changes and rate-limited errors).
    pub fn warnings_logged(&self) -> u64 {
        self.log.emitted()
    }

    /// Whether the deadman is currently holding the motors at zero.
    pub fn deadman_active(&self) -> bool {
        self.deadman
    }

    /// When zero must be commanded if no newer command arrives: the last
    /// command's time plus `command_timeout`, while driving.
    pub fn deadman_due(&self) -> Option<Instant> {
        if self.deadman {
            return None;
        }
        self.last_cmd.map(|(t, _)| t + self.cfg.command_timeout)
    }

    /// How long until the next tick talks to the controller (zero if due):
    /// a block waits for input at most this long. The deadman's moment
    /// counts as a tick, so a stop is never late by up to a period.
    pub fn time_to_next_tick(&self, now: Instant) -> Duration {
        let next = match (self.next_tick, self.deadman_due()) {
            (Some(t), Some(d)) => t.min(d),
            (t, d) => match t.or(d) {
                Some(x) => x,
                None => return Duration::ZERO,
            },
        };
        next.saturating_duration_since(now)
    }

    /// The wheel speeds (rad/s, left and right) last sent.
    pub fn last_sent(&self) -> [f64; 2] {
        self.sent
    }

    /// Advances the driver to `now`. `cmd` is a newly received wheel command
    /// (`None` if none arrived since the last call), taken as sent at `now`.
    /// Call it often (at least at `rate_hz`); it talks to the controller
    /// only once per period, and when the deadman is due, and returns the
    /// odometry read back in that case.
    pub fn tick(&mut self, now: Instant, cmd: Option<WheelCommand>) -> Result<Option<Odometry>, MotorError> {
        self.tick_at(now, cmd.map(|c| (now, c)))
    }

    /// Like [`Driver::tick`], with the command stamped by when it was sent
    /// (its commit time on the wire), so a command picked up late (the
    /// driver was busy with a slow controller) is not taken for a fresh one.
    pub fn tick_at(
        &mut self,
        now: Instant,
        cmd: Option<(Instant, WheelCommand)>,
    ) -> Result<Option<Odometry>, MotorError> {
        let started = match self.state {
            Some(LinkState::Connecting { since }) => Some(since),
            None => {
                self.state = Some(LinkState::Connecting { since: now });
                Some(now)
            }
            _ => None,
        };
        if let Some((at, c)) = cmd
            && self.last_cmd.is_none_or(|(t, _)| at >= t)
        {
            self.last_cmd = Some((at, c));
        }
        let due = self.deadman_due().is_some_and(|d| now >= d);
        if let Some(t) = self.next_tick
            && now < t
            && !due
        {
            return Ok(None);
        }
        let r = self.exchange(now);
        match &r {
            Ok(_) => {
                self.last_error = None;
                for line in self.log.flush(now, false) {
                    tracing::warn!("{} on {}: {line}", self.backend.name(), self.cfg.link.path);
                }
            }
            Err(e) => {
                self.on_error(now, e);
                // Never connected (wrong port, no permission, wrong baud):
                // after connect_timeout this is a failure, not a retry.
                if let Some(since) = started
                    && !e.is_fatal()
                    && now.duration_since(since) >= self.cfg.connect_timeout
                {
                    return Err(MotorError::NeverConnected(format!(
                        "{} on {}: not connected within connect_timeout_ms = {} ms; last error: {e}. \
                         Check that the controller is powered and plugged in, that `port` names it \
                         (a /dev/serial/by-id/... path) and that `baud` matches its setting; \
                         raise connect_timeout_ms if it needs longer to boot",
                        self.backend.name(),
                        self.cfg.link.path,
                        self.cfg.connect_timeout.as_millis()
                    )));
                }
            }
        }
        r
    }

    /// Records an error: link state changes are logged once, repeated errors
    /// rate-limited per kind.
    fn on_error(&mut self, now: Instant, e: &MotorError) {
        let msg = e.to_string();
        if let (MotorError::Disconnected(_), Some(LinkState::Connected { .. })) = (e, self.state) {
            self.state = Some(LinkState::Lost { since: now });
            let why = self.link.last_error().unwrap_or("port closed").to_string();
            self.log.emitted += 1;
            tracing::warn!(
                "{} on {}: link lost ({why}); reopening it every {} ms at the same path (the deadman and the \
                 controller's own timeout stop the motors meanwhile)",
                self.backend.name(),
                self.cfg.link.path,
                self.cfg.link.reconnect_interval.as_millis()
            );
        }
        // While the port is closed, the cause is the open error, not the
        // "not connected" placeholder.
        self.last_error = match e {
            MotorError::Disconnected(_) => self.link.last_error().map(str::to_string).or(Some(msg.clone())),
            _ => Some(msg.clone()),
        };
        if let Some(line) = self.log.note(now, e.kind(), &msg) {
            tracing::warn!("{} on {}: {line}", self.backend.name(), self.cfg.link.path);
        }
    }

    /// One tick's talk with the controller.
    fn exchange(&mut self, now: Instant) -> Result<Option<Odometry>, MotorError> {
        // Schedule from the ideal time, but never try to catch up a backlog.
        let next = self.next_tick.map(|t| t + self.period).unwrap_or(now + self.period);
        self.next_tick = Some(if next <= now { now + self.period } else { next });

        // Every exchange of this tick ends by the time zero is due (if the
        // last command is still fresh), so a silent controller cannot hold a
        // stop back: mapped from `now` onto the real clock, which the link's
        // reads use.
        let due = self.last_cmd.map(|(t, _)| t + self.cfg.command_timeout).filter(|d| *d > now);
        self.link.set_deadline(due.map(|d| Instant::now() + d.saturating_duration_since(now)));
        if due.is_none() {
            // Stale: the deadman holds from now, even if the port is gone
            // and nothing below gets to send the zero.
            self.target(now);
        }

        if self.link.connect(now)? {
            self.needs_setup = true;
        }
        if self.needs_setup {
            self.setup(now)?;
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

    fn setup(&mut self, now: Instant) -> Result<(), MotorError> {
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
        let back = match self.state {
            Some(LinkState::Lost { since }) => format!(" again after {:.1} s", now.duration_since(since).as_secs_f64()),
            _ => String::new(),
        };
        self.state = Some(LinkState::Connected { since: now });
        for line in self.log.flush(now, true) {
            tracing::warn!("{} on {}: {line}", self.backend.name(), self.cfg.link.path);
        }
        tracing::info!(
            "{} on {}: connected{back}, motors stopped, controller timeout set from command_timeout = {} ms",
            self.backend.name(),
            self.cfg.link.path,
            self.cfg.command_timeout.as_millis()
        );
        Ok(())
    }

    fn target(&mut self, now: Instant) -> WheelCommand {
        // Fresh while younger than command_timeout: stale at exactly the
        // moment deadman_due() names.
        let fresh = self.last_cmd.filter(|(t, _)| now.saturating_duration_since(*t) < self.cfg.command_timeout);
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
        // A stop is never cut short by the deadman deadline it enforces.
        self.link.set_deadline(None);
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
