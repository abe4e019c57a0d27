//! Differential-drive kinematics and wheel odometry.
//!
//! Conventions (REP 103): x forward, y left, heading counter-clockwise
//! positive; a positive wheel speed drives the robot forward.

use framewire_sdk::msg::{DriveCommand, WheelCommand};
use serde::Deserialize;

/// A differential-drive robot's geometry, as written in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    /// Wheel radius, metres.
    pub wheel_radius: f64,
    /// Distance between the two wheels' contact points, metres.
    pub track_width: f64,
    /// Encoder counts per wheel revolution (after any gearbox).
    pub counts_per_rev: f64,
    /// Largest wheel speed allowed, rad/s.
    pub max_wheel_speed: f64,
    /// Largest wheel acceleration allowed, rad/s² (0 = unlimited).
    #[serde(default)]
    pub accel_limit: f64,
}

impl Geometry {
    /// Checks that every value is usable.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: f64, n: &str| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{n} must be a positive number, got {v}")) }
        };
        pos(self.wheel_radius, "wheel_radius")?;
        pos(self.track_width, "track_width")?;
        pos(self.counts_per_rev, "counts_per_rev")?;
        pos(self.max_wheel_speed, "max_wheel_speed")?;
        if !(self.accel_limit.is_finite() && self.accel_limit >= 0.0) {
            return Err(format!("accel_limit must be zero or positive, got {}", self.accel_limit));
        }
        Ok(())
    }

    /// Converts wheel rad/s to encoder counts per second.
    pub fn counts_per_s(&self, rad_s: f64) -> f64 {
        rad_s * self.counts_per_rev / std::f64::consts::TAU
    }
}

/// Wheel speeds (rad/s) for a body velocity, before any limit.
pub fn inverse(g: &Geometry, linear: f64, angular: f64) -> (f64, f64) {
    let half = g.track_width / 2.0;
    ((linear - angular * half) / g.wheel_radius, (linear + angular * half) / g.wheel_radius)
}

/// Body velocity (m/s, rad/s) from wheel speeds (rad/s).
pub fn forward(g: &Geometry, left: f64, right: f64) -> (f64, f64) {
    let (vl, vr) = (left * g.wheel_radius, right * g.wheel_radius);
    ((vl + vr) / 2.0, (vr - vl) / g.track_width)
}

/// Turns drive commands into wheel targets: scales both wheels by the same
/// factor when one would exceed `max_wheel_speed` (so the turn's direction
/// and curvature are kept: scaling one wheel alone would change a gentle
/// curve into a spin), then limits each wheel's acceleration, again by a
/// common factor so the ratio between the wheels is kept while ramping.
#[derive(Clone, Debug)]
pub struct DiffDrive {
    geometry: Geometry,
    last: (f64, f64),
}

impl DiffDrive {
    /// A converter for `geometry`, starting at rest.
    pub fn new(geometry: Geometry) -> Self {
        DiffDrive { geometry, last: (0.0, 0.0) }
    }

    /// The geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Wheel targets for `cmd`, `dt` seconds after the previous call. A
    /// non-finite command is treated as a stop: NaN must never reach a motor.
    pub fn update(&mut self, cmd: DriveCommand, dt: f64) -> WheelCommand {
        let (lin, ang) = (cmd.linear as f64, cmd.angular as f64);
        let (mut l, mut r) =
            if lin.is_finite() && ang.is_finite() { inverse(&self.geometry, lin, ang) } else { (0.0, 0.0) };
        let max = self.geometry.max_wheel_speed;
        let peak = l.abs().max(r.abs());
        if peak > max {
            let k = max / peak;
            l *= k;
            r *= k;
        }
        let a = self.geometry.accel_limit;
        if a > 0.0 && dt > 0.0 {
            let step = a * dt;
            let (dl, dr) = (l - self.last.0, r - self.last.1);
            let big = dl.abs().max(dr.abs());
            if big > step {
                let k = step / big;
                l = self.last.0 + dl * k;
                r = self.last.1 + dr * k;
            }
        }
        self.last = (l, r);
        WheelCommand { left: l as f32, right: r as f32 }
    }

    /// Forgets the ramp state (after a stop the next ramp starts from zero).
    pub fn reset(&mut self) {
        self.last = (0.0, 0.0);
    }
}

/// Integrates wheel rotations into a pose.
#[derive(Clone, Debug, Default)]
pub struct OdometryIntegrator {
    last: Option<(f64, f64)>,
    /// x, metres.
    pub x: f64,
    /// y, metres.
    pub y: f64,
    /// Heading, radians, wrapped to (-π, π].
    pub heading: f64,
}

impl OdometryIntegrator {
    /// Adds the motion since the previous call, given each wheel's absolute
    /// angle in radians. The first call only records the starting angles.
    /// Uses the midpoint heading, exact for constant-curvature arcs to second
    /// order, which is plenty at driver rates of 10 Hz or more.
    pub fn update_angles(&mut self, g: &Geometry, left_rad: f64, right_rad: f64) {
        if let Some((l0, r0)) = self.last {
            self.integrate(g, left_rad - l0, right_rad - r0);
        }
        self.last = Some((left_rad, right_rad));
    }

    /// Adds a wheel rotation increment directly (open-loop controllers
    /// without encoders integrate their commanded speeds this way).
    pub fn integrate(&mut self, g: &Geometry, dl_rad: f64, dr_rad: f64) {
        let (dl, dr) = (dl_rad * g.wheel_radius, dr_rad * g.wheel_radius);
        let ds = (dl + dr) / 2.0;
        let dth = (dr - dl) / g.track_width;
        let mid = self.heading + dth / 2.0;
        self.x += ds * mid.cos();
        self.y += ds * mid.sin();
        self.heading = wrap(self.heading + dth);
    }

    /// Forgets the last wheel angles (after a controller reset or
    /// reconnection its counters may have restarted from zero).
    pub fn rebase(&mut self) {
        self.last = None;
    }
}

fn wrap(a: f64) -> f64 {
    let mut a = a % std::f64::consts::TAU;
    if a > std::f64::consts::PI {
        a -= std::f64::consts::TAU;
    } else if a <= -std::f64::consts::PI {
        a += std::f64::consts::TAU;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn g() -> Geometry {
        Geometry {
            wheel_radius: 0.05,
            track_width: 0.3,
            counts_per_rev: 1000.0,
            max_wheel_speed: 10.0,
            accel_limit: 0.0,
        }
    }

    #[test]
    fn straight_and_spin() {
        let (l, r) = inverse(&g(), 0.5, 0.0);
        assert!((l - 10.0).abs() < 1e-12 && (r - 10.0).abs() < 1e-12);
        let (l, r) = inverse(&g(), 0.0, 1.0);
        assert!((l + 3.0).abs() < 1e-12 && (r - 3.0).abs() < 1e-12);
        let (v, w) = forward(&g(), -3.0, 3.0);
        assert!(v.abs() < 1e-12 && (w - 1.0).abs() < 1e-12);
    }

    #[test]
    fn saturation_keeps_turn_direction_and_ratio() {
        let mut d = DiffDrive::new(g());
        // 1 m/s and 2 rad/s: wheels 14 and 26 rad/s, both over 10.
        let w = d.update(DriveCommand { linear: 1.0, angular: 2.0 }, 0.1);
        assert!((w.right as f64 - 10.0).abs() < 1e-5);
        assert!((w.left as f64 - 10.0 * 14.0 / 26.0).abs() < 1e-5);
        let (_, ang) = forward(&g(), w.left as f64, w.right as f64);
        assert!(ang > 0.0, "still turning left");
        // A spin in place stays a spin in place.
        let w = d.update(DriveCommand { linear: 0.0, angular: -100.0 }, 0.1);
        assert_eq!((w.left, w.right), (10.0, -10.0));
        // NaN is a stop.
        let w = d.update(DriveCommand { linear: f32::NAN, angular: 0.0 }, 0.1);
        assert_eq!((w.left, w.right), (0.0, 0.0));
    }

    #[test]
    fn acceleration_limit_ramps_both_wheels_together() {
        let mut d = DiffDrive::new(Geometry { accel_limit: 5.0, ..g() });
        let w = d.update(DriveCommand { linear: 0.5, angular: 1.0 }, 0.1); // wants 7 and 13
        assert!((w.right - 0.5).abs() < 1e-6, "{w:?}");
        assert!((w.left as f64 - 0.5 * 7.0 / 13.0).abs() < 1e-6);
    }

    #[test]
    fn odometry_square_and_circle() {
        let g = g();
        let mut o = OdometryIntegrator::default();
        o.update_angles(&g, 0.0, 0.0);
        // 1 m straight: 20 rad per wheel.
        o.update_angles(&g, 20.0, 20.0);
        assert!((o.x - 1.0).abs() < 1e-9 && o.y.abs() < 1e-9);
        // Quarter turn left in place: each wheel ±(π/2 · 0.15)/0.05.
        let q = PI / 2.0 * 0.15 / 0.05;
        o.update_angles(&g, 20.0 - q, 20.0 + q);
        assert!((o.heading - PI / 2.0).abs() < 1e-9);
        o.update_angles(&g, 40.0 - q, 40.0 + q);
        assert!((o.x - 1.0).abs() < 1e-9 && (o.y - 1.0).abs() < 1e-9);
        // A full circle in small steps comes back to the start.
        let mut c = OdometryIntegrator::default();
        c.update_angles(&g, 0.0, 0.0);
        for i in 1..=1000 {
            let t = i as f64 / 1000.0;
            c.update_angles(&g, 12.0 * PI * t, 24.0 * PI * t); // Δθ = 12π·0.05/0.3 = 2π
        }
        assert!(c.x.abs() < 1e-3 && c.y.abs() < 1e-3, "{c:?}");
    }
}
