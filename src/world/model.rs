//! The world's state and its physics, without pixels: a rectangular room
//! centred on the origin, a differential-drive robot, a ball on the floor,
//! and the pinhole camera that looks out of the robot.
//!
//! Conventions (REP 103, as `framewire_motor::diff`): x forward, y left,
//! angles counter-clockwise positive, metres and radians. A bearing is the
//! angle from the robot's heading to the ball: positive means to the left.

use std::f64::consts::{PI, TAU};

/// A robot pose.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pose {
    /// Metres.
    pub x: f64,
    /// Metres.
    pub y: f64,
    /// Radians, counter-clockwise from +x.
    pub heading: f64,
}

/// Wraps an angle into (-π, π].
pub fn wrap(a: f64) -> f64 {
    let a = a.rem_euclid(TAU);
    if a > PI { a - TAU } else { a }
}

/// How the ball moves on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BallMotion {
    /// It stays where it is (until pushed or moved by a jump).
    Still,
    /// Circles the room's centre, counter-clockwise, at a speed in m/s.
    Circle(f64),
    /// Rolls in a straight line at a speed in m/s, bouncing off the walls.
    Bounce(f64),
}

/// The robot's base, as the motor driver block is configured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Base {
    /// Encoder counts per wheel revolution (the simulated controller's units).
    pub counts_per_rev: f64,
    /// Wheel radius, metres.
    pub wheel_radius: f64,
    /// Distance between the wheels, metres.
    pub track_width: f64,
    /// The robot's footprint, a disc of this radius (metres).
    pub radius: f64,
}

/// The camera on the robot: level, looking forward, at the robot's centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Horizontal field of view, radians.
    pub hfov: f64,
    /// Height of the lens above the floor, metres.
    pub height_m: f64,
}

impl Camera {
    /// Focal length in pixels.
    pub fn focal(&self) -> f64 {
        self.width as f64 / 2.0 / (self.hfov / 2.0).tan()
    }
}

/// Where the ball appears in the image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BallImage {
    /// Centre column, pixels (0 = left edge).
    pub u: f64,
    /// Centre row, pixels (0 = top edge).
    pub v: f64,
    /// Radius, pixels.
    pub r: f64,
}

/// Everything in the world.
#[derive(Clone, Debug)]
pub struct World {
    /// Half the room's size along x and y (walls at ±half).
    pub half: [f64; 2],
    /// The robot.
    pub robot: Pose,
    /// The robot's base.
    pub base: Base,
    /// Ball centre on the floor plane, metres.
    pub ball: [f64; 2],
    /// Ball radius, metres.
    pub ball_radius: f64,
    /// How the ball moves.
    pub motion: BallMotion,
    /// Direction of a bouncing ball, radians.
    pub ball_dir: f64,
    /// Wheel encoder positions last seen, counts (left, right).
    last_counts: Option<[f64; 2]>,
}

impl World {
    /// A world with the robot and ball where given (both kept inside the room).
    pub fn new(room: [f64; 2], robot: Pose, base: Base, ball: [f64; 2], ball_radius: f64, motion: BallMotion) -> World {
        let mut w = World {
            half: [room[0] / 2.0, room[1] / 2.0],
            robot,
            base,
            ball,
            ball_radius,
            motion,
            ball_dir: PI / 4.0,
            last_counts: None,
        };
        w.robot.heading = wrap(w.robot.heading);
        w.keep_inside();
        w
    }

    /// Moves the robot by what its wheels turned since the last call, from
    /// the simulated controller's encoder positions (counts, left and right).
    /// The first call only notes the positions.
    pub fn drive_to_counts(&mut self, counts: [f64; 2]) {
        let Some(last) = self.last_counts.replace(counts) else { return };
        let b = self.base;
        let k = TAU / b.counts_per_rev * b.wheel_radius;
        let (dl, dr) = ((counts[0] - last[0]) * k, (counts[1] - last[1]) * k);
        let (ds, dth) = ((dl + dr) / 2.0, (dr - dl) / b.track_width);
        // In steps of at most 2 cm and 3°, so that walls and the ball are
        // met on the way even after a long pause (the robot cannot pass
        // through the ball between two frames).
        let pieces = (ds.abs() / 0.02).ceil().max((dth.abs() / 0.05).ceil()).clamp(1.0, 10_000.0);
        let (ds, dth) = (ds / pieces, dth / pieces);
        for _ in 0..pieces as u32 {
            // Midpoint integration: exact for a constant-curvature step's chord.
            let mid = self.robot.heading + dth / 2.0;
            self.robot.x += ds * mid.cos();
            self.robot.y += ds * mid.sin();
            self.robot.heading = wrap(self.robot.heading + dth);
            self.keep_inside();
        }
    }

    /// Moves the ball on its own for `dt` seconds.
    pub fn move_ball(&mut self, dt: f64) {
        match self.motion {
            BallMotion::Still => {}
            BallMotion::Circle(speed) => {
                let r = self.ball[0].hypot(self.ball[1]).max(0.05);
                let a = self.ball[1].atan2(self.ball[0]) + speed * dt / r;
                self.ball = [r * a.cos(), r * a.sin()];
            }
            BallMotion::Bounce(speed) => {
                self.ball[0] += speed * dt * self.ball_dir.cos();
                self.ball[1] += speed * dt * self.ball_dir.sin();
                let [hx, hy] = self.ball_limits();
                if self.ball[0].abs() > hx {
                    self.ball_dir = PI - self.ball_dir;
                }
                if self.ball[1].abs() > hy {
                    self.ball_dir = -self.ball_dir;
                }
            }
        }
        self.keep_inside();
    }

    /// Puts the ball at `(x, y)` (kept inside the room).
    pub fn place_ball(&mut self, x: f64, y: f64) {
        self.ball = [x, y];
        self.keep_inside();
    }

    fn ball_limits(&self) -> [f64; 2] {
        [self.half[0] - self.ball_radius, self.half[1] - self.ball_radius]
    }

    /// Walls stop the robot and the ball; the robot pushes the ball.
    fn keep_inside(&mut self) {
        let r = self.base.radius;
        let clamp = |v: f64, h: f64| v.clamp(-h.max(0.0), h.max(0.0));
        self.robot.x = clamp(self.robot.x, self.half[0] - r);
        self.robot.y = clamp(self.robot.y, self.half[1] - r);
        let touch = r + self.ball_radius;
        let (dx, dy) = (self.ball[0] - self.robot.x, self.ball[1] - self.robot.y);
        let d = dx.hypot(dy);
        if d < touch {
            // Push the ball out along the line between the centres (straight
            // ahead if they coincide).
            let (ux, uy) =
                if d > 1e-9 { (dx / d, dy / d) } else { (self.robot.heading.cos(), self.robot.heading.sin()) };
            self.ball = [self.robot.x + ux * touch, self.robot.y + uy * touch];
        }
        let [hx, hy] = self.ball_limits();
        self.ball = [clamp(self.ball[0], hx), clamp(self.ball[1], hy)];
        // A ball against a wall pushes back: the robot stops at it.
        let (dx, dy) = (self.robot.x - self.ball[0], self.robot.y - self.ball[1]);
        let d = dx.hypot(dy);
        if d < touch && d > 1e-9 {
            self.robot.x = self.ball[0] + dx / d * touch;
            self.robot.y = self.ball[1] + dy / d * touch;
        }
    }

    /// Bearing (radians, positive = left of the heading) and distance
    /// (metres, centre to centre) from the robot to the ball.
    pub fn ball_bearing(&self) -> (f64, f64) {
        let (dx, dy) = (self.ball[0] - self.robot.x, self.ball[1] - self.robot.y);
        (wrap(dy.atan2(dx) - self.robot.heading), dx.hypot(dy))
    }

    /// Where the camera sees the ball, if in front of it: a sphere resting on
    /// the floor, projected through a pinhole (its outline approximated by a
    /// disc of radius f·R/z, exact on the optical axis).
    pub fn ball_in_image(&self, cam: &Camera) -> Option<BallImage> {
        let (dx, dy) = (self.ball[0] - self.robot.x, self.ball[1] - self.robot.y);
        let (c, s) = (self.robot.heading.cos(), self.robot.heading.sin());
        let z = dx * c + dy * s; // depth along the optical axis
        let lateral = -dx * s + dy * c; // to the left
        if z < 0.05 {
            return None;
        }
        let f = cam.focal();
        let u = cam.width as f64 / 2.0 - f * lateral / z;
        let v = cam.height as f64 / 2.0 + f * (cam.height_m - self.ball_radius) / z;
        let r = f * self.ball_radius / z;
        let visible = u + r > 0.0 && u - r < cam.width as f64 && v + r > 0.0 && v - r < cam.height as f64;
        visible.then_some(BallImage { u, v, r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(robot: Pose, ball: [f64; 2]) -> World {
        let base = Base { counts_per_rev: 1000.0, wheel_radius: 0.05, track_width: 0.3, radius: 0.15 };
        World::new([4.0, 3.0], robot, base, ball, 0.1, BallMotion::Still)
    }

    const CAM: Camera = Camera { width: 640, height: 480, hfov: PI / 3.0, height_m: 0.15 };

    #[test]
    fn wheels_move_the_robot_like_the_kinematics_say() {
        let mut w = world(Pose::default(), [1.5, 1.0]);
        w.drive_to_counts([0.0, 0.0]);
        // One revolution of both wheels: 2π·0.05 m straight ahead.
        w.drive_to_counts([1000.0, 1000.0]);
        assert!((w.robot.x - TAU * 0.05).abs() < 1e-9 && w.robot.y.abs() < 1e-9 && w.robot.heading == 0.0);
        // Right wheel forward, left back by the same: a turn in place, left.
        // Each wheel travels 0.15·π/2 m for a quarter turn.
        let q = 0.15 * PI / 2.0 / (TAU * 0.05) * 1000.0;
        w.drive_to_counts([1000.0 - q, 1000.0 + q]);
        assert!((w.robot.heading - PI / 2.0).abs() < 1e-9, "{:?}", w.robot);
        assert!((w.robot.x - TAU * 0.05).abs() < 1e-9);
    }

    #[test]
    fn walls_stop_the_robot_and_it_pushes_the_ball() {
        let mut w = world(Pose { x: 1.5, y: 0.0, heading: 0.0 }, [-1.0, 1.0]);
        w.drive_to_counts([0.0, 0.0]);
        w.drive_to_counts([10_000.0, 10_000.0]); // 3.1 m forward, into the wall at x = 2
        assert!((w.robot.x - (2.0 - 0.15)).abs() < 1e-9, "{:?}", w.robot);
        let mut w = world(Pose::default(), [0.3, 0.0]);
        w.drive_to_counts([0.0, 0.0]);
        w.drive_to_counts([1000.0, 1000.0]); // 0.31 m forward into the ball
        let (_, d) = w.ball_bearing();
        assert!((d - 0.25).abs() < 1e-9, "touching, not overlapping: {d}");
        assert!(w.ball[0] > 0.3);
    }

    #[test]
    fn the_ball_projects_where_its_bearing_and_distance_say() {
        let w = world(Pose::default(), [1.0, 0.0]);
        let b = w.ball_in_image(&CAM).unwrap();
        let f = CAM.focal();
        assert!((b.u - 320.0).abs() < 1e-9 && (b.r - f * 0.1).abs() < 1e-9, "{b:?}");
        assert!((b.v - (240.0 + f * 0.05)).abs() < 1e-9, "below the horizon: {b:?}");
        // 10° to the left appears left of the centre, at f·tan(10°).
        let a = 10f64.to_radians();
        let w = world(Pose::default(), [a.cos(), a.sin()]);
        let b = w.ball_in_image(&CAM).unwrap();
        assert!((b.u - (320.0 - f * a.tan())).abs() < 1e-6, "{b:?}");
        let (bearing, dist) = w.ball_bearing();
        assert!((bearing - a).abs() < 1e-12 && (dist - 1.0).abs() < 1e-12);
        // Behind the robot: not in the image.
        let w = world(Pose { x: 0.0, y: 0.0, heading: PI }, [1.0, 0.0]);
        assert!(w.ball_in_image(&CAM).is_none());
        assert!((w.ball_bearing().0.abs() - PI).abs() < 1e-12);
    }

    #[test]
    fn moving_balls_stay_in_the_room() {
        let base = Base { counts_per_rev: 1000.0, wheel_radius: 0.05, track_width: 0.3, radius: 0.15 };
        let mut w = World::new([4.0, 3.0], Pose::default(), base, [1.0, 0.0], 0.1, BallMotion::Circle(0.5));
        for _ in 0..100 {
            w.move_ball(0.1);
        }
        assert!((w.ball[0].hypot(w.ball[1]) - 1.0).abs() < 1e-9, "on its circle: {:?}", w.ball);
        let mut w = World::new([4.0, 3.0], Pose::default(), base, [1.0, 0.5], 0.1, BallMotion::Bounce(1.0));
        for _ in 0..1000 {
            w.move_ball(0.05);
            assert!(w.ball[0].abs() <= 1.9 + 1e-9 && w.ball[1].abs() <= 1.4 + 1e-9, "{:?}", w.ball);
        }
        assert_eq!(wrap(3.0 * PI), PI);
        assert!((wrap(-3.5 * PI) - PI / 2.0).abs() < 1e-12);
    }
}
