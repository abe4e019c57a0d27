//! A PID controller for control loops timed by frames.
//!
//! The time step comes from the caller (the difference between two frames'
//! capture timestamps), not from when the code happens to run, so a loop
//! that is late or skips a frame still integrates and differentiates over
//! the time that really passed.

/// Gains of a PID controller.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gains {
    /// Proportional gain.
    pub kp: f64,
    /// Integral gain (per second).
    pub ki: f64,
    /// Derivative gain (seconds).
    pub kd: f64,
}

impl Gains {
    /// Gains from `[kp, ki, kd]`, as TOML writes them.
    pub fn from_array(g: [f64; 3]) -> Gains {
        Gains { kp: g[0], ki: g[1], kd: g[2] }
    }
}

/// A PID controller: `output = kp·e + ki·∫e dt + kd·de/dt`, clamped to
/// `±limit`. The integral stops growing while the output is saturated in
/// the same direction (conditional integration), so it does not wind up
/// while the robot cannot go faster.
#[derive(Clone, Debug)]
pub struct Pid {
    gains: Gains,
    limit: f64,
    integral: f64,
    last_error: Option<f64>,
}

impl Pid {
    /// A controller with `gains` whose output is limited to `±limit`.
    pub fn new(gains: Gains, limit: f64) -> Pid {
        Pid { gains, limit: limit.abs(), integral: 0.0, last_error: None }
    }

    /// Forgets the integral and the last error (after the target was lost).
    pub fn reset(&mut self) {
        self.integral = 0.0;
        self.last_error = None;
    }

    /// The output for `error` after `dt` seconds. The first call after a
    /// reset has no derivative term.
    pub fn update(&mut self, error: f64, dt: f64) -> f64 {
        let g = self.gains;
        let dt = if dt.is_finite() && dt > 0.0 { dt } else { 0.0 };
        let derivative = match self.last_error {
            Some(e0) if dt > 0.0 => (error - e0) / dt,
            _ => 0.0,
        };
        self.last_error = Some(error);
        let unclamped = g.kp * error + g.ki * (self.integral + error * dt) + g.kd * derivative;
        let out = unclamped.clamp(-self.limit, self.limit);
        // Integrate unless that pushes further into saturation.
        if out == unclamped || unclamped.signum() != error.signum() {
            self.integral += error * dt;
        }
        if out.is_finite() { out } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_derivative_and_limit() {
        let mut p = Pid::new(Gains { kp: 2.0, ki: 0.0, kd: 0.5 }, 10.0);
        assert_eq!(p.update(1.0, 0.1), 2.0, "no derivative on the first call");
        // Error falls by 0.5 in 0.1 s: derivative -5, times 0.5.
        assert!((p.update(0.5, 0.1) - (1.0 - 2.5)).abs() < 1e-12);
        assert_eq!(p.update(100.0, 0.1), 10.0, "clamped");
        p.reset();
        assert_eq!(p.update(-1.0, 0.1), -2.0);
    }

    #[test]
    fn the_integral_removes_a_steady_error_without_winding_up() {
        let mut p = Pid::new(Gains { kp: 0.0, ki: 1.0, kd: 0.0 }, 1.0);
        for _ in 0..100 {
            p.update(1.0, 0.1);
        }
        assert_eq!(p.update(1.0, 0.1), 1.0, "saturated");
        // Saturated for 10 s, yet a reversed error brings the output back
        // below the limit at once: the integral stopped at the limit.
        assert!(p.update(-1.0, 0.1) < 1.0);
        let mut q = Pid::new(Gains { kp: 0.0, ki: 2.0, kd: 0.0 }, 100.0);
        assert!((q.update(1.0, 0.5) - 1.0).abs() < 1e-12);
        assert!((q.update(1.0, 0.5) - 2.0).abs() < 1e-12);
        assert_eq!(q.update(1.0, f64::NAN), 2.0, "a bad step integrates nothing");
    }
}
