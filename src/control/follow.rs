//! Following a coloured ball: the [`Follower`] logic and the `follow` block.
//!
//! Each detection (one per camera frame) gives the ball's horizontal
//! position and size in the image. The follower turns towards it (a PID on
//! its bearing, computed from the horizontal offset and the camera's field
//! of view), drives towards it once it is roughly centred (a PID on its
//! apparent size, which grows as the robot approaches, until it reaches
//! `target_size`), and when the ball has been missing for `lost_after`
//! frames, turns in place to search for it.
//!
//! Odometry (the motor driver's heading) tells the follower how far the
//! robot has turned since it last saw the ball: the search turns towards
//! where the ball should now be (the shorter way round), and the follower
//! notices a full turn without finding it.
//!
//! One drive command goes out per detection, stamped with the capture time
//! of the frame it came from. When detections stop (the vision chain
//! crashed), commands stop too, and the motor driver's deadman stops the
//! wheels: the follower never keeps a robot moving on stale vision.

use std::f64::consts::{PI, TAU};

use framewire_sdk::block::*;
use framewire_sdk::msg::{Detection, DriveCommand, Odometry};
use framewire_sdk::select::Select;
use framewire_sdk::tracing;

use crate::pid::{Gains, Pid};

/// Wraps an angle into (-π, π].
fn wrap(a: f64) -> f64 {
    let a = a.rem_euclid(TAU);
    if a > PI { a - TAU } else { a }
}

/// How the follower behaves; see the `follow` block's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowConfig {
    /// The camera's horizontal field of view, radians.
    pub hfov: f64,
    /// Turning: bearing (rad) to turn rate (rad/s).
    pub turn: Gains,
    /// Approaching: size error (fraction of the image width) to speed (m/s).
    pub size: Gains,
    /// Apparent ball diameter, as a fraction of the image width, to stop at.
    pub target_size: f64,
    /// Fastest forward speed, m/s.
    pub max_linear: f64,
    /// Fastest backward speed (backing off a ball that is too close), m/s.
    pub max_reverse: f64,
    /// Fastest turn, rad/s.
    pub max_angular: f64,
    /// Bearing (rad) beyond which the robot only turns; within it, forward
    /// speed grows as the bearing shrinks.
    pub align: f64,
    /// Turn rate while searching, rad/s.
    pub search_angular: f64,
    /// Frames without the ball before searching.
    pub lost_after: u32,
    /// Blobs smaller than this (pixels) are noise, not the ball.
    pub min_area: u32,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            hfov: 60f64.to_radians(),
            turn: Gains { kp: 4.0, ki: 0.0, kd: 0.15 },
            size: Gains { kp: 2.0, ki: 0.0, kd: 0.0 },
            target_size: 0.3,
            max_linear: 0.4,
            max_reverse: 0.1,
            max_angular: 2.0,
            align: 15f64.to_radians(),
            search_angular: 1.2,
            lost_after: 5,
            min_area: 20,
        }
    }
}

/// What the follower is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No ball seen yet (turning in place to find one).
    Starting,
    /// The ball is in view.
    Tracking,
    /// The ball was in view a moment ago; holding still for `lost_after` frames.
    Missing,
    /// Turning in place to find the ball again.
    Searching,
}

/// What one detection made of the ball.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Seen {
    /// Horizontal offset from the image centre, -1 (left edge) to 1 (right edge).
    pub offset: f64,
    /// Bearing, radians, positive to the left.
    pub bearing: f64,
    /// Apparent diameter as a fraction of the image width.
    pub size: f64,
}

/// The follow logic, without wires: detections and odometry in, drive
/// commands out.
#[derive(Clone, Debug)]
pub struct Follower {
    cfg: FollowConfig,
    turn: Pid,
    size: Pid,
    mode: Mode,
    misses: u32,
    last_ts: Option<u64>,
    /// Heading from odometry, radians (integrated by the motor driver).
    heading: Option<f64>,
    /// Bearing of the ball and the heading when it was last seen.
    last_seen: Option<(f64, Option<f64>)>,
    search_dir: f64,
    /// Heading when the search began, and how far it has turned since.
    search_from: Option<f64>,
    searched: f64,
    full_turn_reported: bool,
    /// The last detection's view of the ball (for status lines).
    pub seen: Option<Seen>,
    /// The last command.
    pub command: DriveCommand,
}

impl Follower {
    /// A follower that has seen nothing yet.
    pub fn new(cfg: FollowConfig) -> Follower {
        Follower {
            cfg,
            turn: Pid::new(cfg.turn, cfg.max_angular),
            size: Pid::new(cfg.size, cfg.max_linear.max(cfg.max_reverse)),
            mode: Mode::Starting,
            misses: 0,
            last_ts: None,
            heading: None,
            last_seen: None,
            search_dir: 1.0,
            search_from: None,
            searched: 0.0,
            full_turn_reported: false,
            seen: None,
            command: DriveCommand::default(),
        }
    }

    /// What it is doing.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How far (radians) the current search has turned, from odometry.
    pub fn searched(&self) -> f64 {
        self.searched
    }

    /// Notes the robot's heading from odometry.
    pub fn on_odometry(&mut self, o: &Odometry) {
        if !o.heading.is_finite() {
            return;
        }
        if let (Some(h0), Some(from)) = (self.heading, self.search_from.as_mut()) {
            self.searched += wrap(o.heading - h0).abs();
            *from = o.heading;
        }
        self.heading = Some(o.heading);
    }

    /// The ball's image position and size in detection `d`, if it shows the ball.
    pub fn look(&self, d: &Detection) -> Option<Seen> {
        if !d.found || d.area < self.cfg.min_area || d.image_width == 0 {
            return None;
        }
        let half = d.image_width as f64 / 2.0;
        let offset = ((d.cx as f64 - half) / half).clamp(-1.0, 1.0);
        // Pinhole: the offset scales tan(bearing); right of centre is a
        // negative (clockwise) bearing.
        let bearing = -(offset * (self.cfg.hfov / 2.0).tan()).atan();
        let size = 2.0 * (d.area as f64 / PI).sqrt() / d.image_width as f64;
        Some(Seen { offset, bearing, size })
    }

    /// The drive command for detection `d` of a frame captured at `ts_ns`.
    pub fn on_detection(&mut self, d: &Detection, ts_ns: u64) -> DriveCommand {
        let dt = self.last_ts.map_or(0.0, |t0| ts_ns.saturating_sub(t0) as f64 / 1e9).min(0.5);
        self.last_ts = Some(ts_ns);
        let c = self.cfg;
        self.seen = self.look(d);
        let cmd = match self.seen {
            Some(s) => {
                if self.mode == Mode::Searching {
                    tracing::info!(
                        "ball found again after turning {:.0}° (bearing {:+.1}°)",
                        self.searched.to_degrees(),
                        s.bearing.to_degrees()
                    );
                }
                if self.mode != Mode::Tracking {
                    self.turn.reset();
                    self.size.reset();
                }
                self.mode = Mode::Tracking;
                self.misses = 0;
                self.search_from = None;
                self.last_seen = Some((s.bearing, self.heading));
                let angular = self.turn.update(s.bearing, dt).clamp(-c.max_angular, c.max_angular);
                // Forward only when roughly facing the ball: full speed
                // allowed when centred, none beyond `align`.
                let facing = (1.0 - s.bearing.abs() / c.align).clamp(0.0, 1.0);
                let linear = self.size.update(c.target_size - s.size, dt).clamp(-c.max_reverse, c.max_linear) * facing;
                DriveCommand { linear: linear as f32, angular: angular as f32 }
            }
            None => {
                self.misses += 1;
                if self.mode == Mode::Tracking {
                    self.mode = Mode::Missing;
                }
                if self.mode == Mode::Missing && self.misses >= c.lost_after {
                    self.start_search();
                }
                match self.mode {
                    Mode::Missing => DriveCommand::default(),
                    _ => {
                        if self.mode == Mode::Searching && self.searched >= TAU && !self.full_turn_reported {
                            self.full_turn_reported = true;
                            tracing::warn!("turned a full circle without finding the ball; still searching");
                        }
                        DriveCommand { linear: 0.0, angular: (self.search_dir * c.search_angular) as f32 }
                    }
                }
            }
        };
        self.command = cmd;
        cmd
    }

    fn start_search(&mut self) {
        // Where the ball should be now: its last bearing, minus how far the
        // robot has turned since (from odometry).
        let estimate = match self.last_seen {
            Some((b, Some(h0))) => self.heading.map_or(b, |h| wrap(b - (h - h0))),
            Some((b, None)) => b,
            None => 1.0,
        };
        self.search_dir = if estimate < 0.0 { -1.0 } else { 1.0 };
        self.mode = Mode::Searching;
        self.search_from = self.heading;
        self.searched = 0.0;
        self.full_turn_reported = false;
        tracing::info!(
            "ball lost for {} frames; searching by turning {} (it was last seen {:+.0}° from where the robot now faces)",
            self.misses,
            if self.search_dir > 0.0 { "left" } else { "right" },
            estimate.to_degrees()
        );
    }
}

framewire_sdk::params! {
    /// Parameters of `follow`.
    pub struct Params {
        /// The camera's horizontal field of view, degrees (bearings come from it).
        pub hfov_deg: f64 = 60.0,
        /// Turning PID [kp, ki, kd]: bearing (radians) to turn rate (rad/s).
        pub turn_gains: [f64; 3] = [4.0, 0.0, 0.15],
        /// Approach PID [kp, ki, kd]: size error (fraction of the image width) to speed (m/s).
        pub size_gains: [f64; 3] = [2.0, 0.0, 0.0],
        /// Stop when the ball looks this wide, as a fraction of the image width.
        pub target_size: f64 = 0.3,
        /// Fastest forward speed, m/s.
        pub max_linear: f64 = 0.4,
        /// Fastest backward speed when the ball is too close, m/s.
        pub max_reverse: f64 = 0.1,
        /// Fastest turn, rad/s.
        pub max_angular: f64 = 2.0,
        /// Drive forward only while the ball is within this bearing, degrees (faster the more centred).
        pub align_deg: f64 = 15.0,
        /// Turn rate while searching for a lost ball, rad/s.
        pub search_angular: f64 = 1.2,
        /// Frames without the ball before searching.
        pub lost_after: u32 = 5,
        /// Blobs smaller than this many pixels are noise, not the ball.
        pub min_area: u32 = 20,
        /// Seconds between status lines (ball offset, command, wheel speeds); 0 = none.
        pub report_every_s: f64 = 1.0,
    }
}

fn config(p: &Params) -> Result<FollowConfig, String> {
    let pos = |v: f64, k: &str| {
        if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("`{k}` must be a positive number, got {v}")) }
    };
    if !(p.hfov_deg > 1.0 && p.hfov_deg < 179.0) {
        return Err(format!("`hfov_deg` {} is out of range (1, 179)", p.hfov_deg));
    }
    for (v, k) in [
        (p.target_size, "target_size"),
        (p.max_linear, "max_linear"),
        (p.max_angular, "max_angular"),
        (p.align_deg, "align_deg"),
        (p.search_angular, "search_angular"),
    ] {
        pos(v, k)?;
    }
    if !(p.max_reverse.is_finite() && p.max_reverse >= 0.0) {
        return Err(format!("`max_reverse` must be zero or positive, got {}", p.max_reverse));
    }
    for (g, k) in [(p.turn_gains, "turn_gains"), (p.size_gains, "size_gains")] {
        if g.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(format!("`{k}` {g:?}: gains must be zero or positive numbers"));
        }
    }
    if !(p.report_every_s.is_finite() && p.report_every_s >= 0.0) {
        return Err(format!("`report_every_s` must be zero or positive, got {}", p.report_every_s));
    }
    Ok(FollowConfig {
        hfov: p.hfov_deg.to_radians(),
        turn: Gains::from_array(p.turn_gains),
        size: Gains::from_array(p.size_gains),
        target_size: p.target_size,
        max_linear: p.max_linear,
        max_reverse: p.max_reverse,
        max_angular: p.max_angular,
        align: p.align_deg.to_radians(),
        search_angular: p.search_angular,
        lost_after: p.lost_after.max(1),
        min_area: p.min_area,
    })
}

/// The `follow` block: detections (and odometry) in, drive commands out.
pub struct Follow {
    detection: Input<Detection>,
    odometry: Option<Input<Odometry>>,
    select: Option<Select>,
    drive: Output<DriveCommand>,
    follower: Follower,
    odom: Option<Odometry>,
    report_ns: u64,
    next_report_ns: u64,
    commands: u64,
}

impl BlockType for Follow {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new(
            "follow",
            "Follows a detected ball: turns towards it, approaches it, searches when it is lost (PID on bearing and size)",
        )
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        config(p)?;
        Ok(Ports::new()
            .input("detection", PortType::msg::<Detection>())
            .optional_input("odometry", PortType::msg::<Odometry>())
            .output("drive", PortType::msg::<DriveCommand>()))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let cfg = config(&p).map_err(BlockError::Config)?;
        let detection = setup.input("detection")?;
        let odometry: Option<Input<Odometry>> = setup.input_opt("odometry")?;
        // With odometry connected, wake for whichever arrives first.
        let select = match &odometry {
            Some(o) => Some(Select::new([detection.waitable()?, o.waitable()?])),
            None => None,
        };
        let report_ns = (p.report_every_s * 1e9) as u64;
        Ok(Follow {
            detection,
            odometry,
            select,
            drive: setup.output("drive")?,
            follower: Follower::new(cfg),
            odom: None,
            report_ns,
            next_report_ns: framewire_sdk::monotonic_ns() + report_ns,
            commands: 0,
        })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let det = match (&mut self.select, &mut self.odometry) {
            (Some(select), Some(odometry)) => {
                let ready = select.wait(cx.tick());
                if ready.is_empty() {
                    return Ok(Step::Idle);
                }
                // Odometry first, so a detection in the same wake-up sees
                // the newest heading.
                if ready.contains(1)
                    && let Some(o) = odometry.try_recv()
                {
                    self.follower.on_odometry(&o.msg);
                    self.odom = Some(o.msg);
                    cx.gauge("left_rad_s", o.msg.left_speed as f64);
                    cx.gauge("right_rad_s", o.msg.right_speed as f64);
                }
                if ready.contains(0) { self.detection.try_recv() } else { None }
            }
            _ => self.detection.recv(cx.tick()),
        };
        if let Some(d) = det {
            let cmd = self.follower.on_detection(&d.msg, d.meta.timestamp_ns);
            // Stamped with the frame's capture time, for glass-to-motor latency.
            self.drive.send(&cmd, Some(&d.meta))?;
            self.commands += 1;
            // The live status line: where the ball is (NaN: not seen).
            let seen = self.follower.seen;
            cx.gauge("offset", seen.map_or(f64::NAN, |s| s.offset));
            cx.gauge("size", seen.map_or(f64::NAN, |s| s.size));
        }
        let now = cx.now_ns();
        if self.report_ns > 0 && now >= self.next_report_ns {
            self.next_report_ns = now + self.report_ns;
            tracing::info!("{}", self.status());
        }
        Ok(Step::Continue)
    }
}

impl Follow {
    fn status(&self) -> String {
        let f = &self.follower;
        let ball = match f.seen {
            Some(s) => {
                format!("ball offset {:+.3} (bearing {:+.1}°), size {:.3}", s.offset, s.bearing.to_degrees(), s.size)
            }
            None => "no ball".to_string(),
        };
        let wheels = match &self.odom {
            Some(o) => format!("wheels {:.2}/{:.2} rad/s", o.left_speed, o.right_speed),
            None => "wheels: no odometry".to_string(),
        };
        format!(
            "{:?}: {ball}; drive {:+.2} m/s {:+.2} rad/s; {wheels}; {} commands",
            f.mode(),
            f.command.linear,
            f.command.angular,
            self.commands
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(cx: f32, area: u32) -> Detection {
        Detection { found: area > 0, area, cx, cy: 240.0, bbox: [0; 4], image_width: 640, image_height: 480 }
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn turns_towards_the_ball_then_approaches_it() {
        let mut f = Follower::new(FollowConfig::default());
        // Far to the right: turn right (negative), no forward speed yet.
        let c = f.on_detection(&det(600.0, 400), 0);
        assert!(c.angular < -0.5 && c.linear == 0.0, "{c:?}");
        assert_eq!(f.mode(), Mode::Tracking);
        // The bearing falling fast (the robot is turning towards it) damps
        // the turn: the derivative term.
        let c2 = f.on_detection(&det(560.0, 400), 33 * MS);
        let p_only = Follower::new(FollowConfig::default()).on_detection(&det(560.0, 400), 0);
        assert!(c2.angular > p_only.angular, "{c2:?} vs {p_only:?}");
        // Centred and small: straight ahead.
        let mut f = Follower::new(FollowConfig::default());
        let c = f.on_detection(&det(320.0, 400), 33 * MS);
        assert!(c.angular.abs() < 0.01 && c.linear > 0.3, "{c:?}");
        // Centred and at the target size: stop.
        let r = 0.3 * 640.0 / 2.0;
        let c = f.on_detection(&det(320.0, (PI * r * r) as u32), 66 * MS);
        assert!(c.linear.abs() < 0.01, "{c:?}");
        // Slightly left: turn left, a little slower forward.
        let c = f.on_detection(&det(300.0, 400), 99 * MS);
        assert!(c.angular > 0.0 && c.linear > 0.0, "{c:?}");
        let s = f.seen.unwrap();
        assert!(s.offset < 0.0 && s.bearing > 0.0);
    }

    #[test]
    fn a_lost_ball_is_searched_for_where_odometry_says_it_went() {
        let mut f = Follower::new(FollowConfig::default());
        let odo = |h: f64| Odometry { heading: h, ..Default::default() };
        f.on_odometry(&odo(0.0));
        // Last seen slightly left (bearing +10°).
        let c10 = 320.0 - (10f64.to_radians().tan() / 30f64.to_radians().tan() * 320.0) as f32;
        f.on_detection(&det(c10, 400), 0);
        // Then the robot turned 40° left (overshooting) and lost it: the
        // ball is now 30° to the right, so the search turns right.
        f.on_odometry(&odo(40f64.to_radians()));
        for k in 1..5 {
            let c = f.on_detection(&det(0.0, 0), k * 33 * MS);
            assert_eq!((c.linear, c.angular), (0.0, 0.0), "holding still for a few frames");
            assert_eq!(f.mode(), Mode::Missing);
        }
        let c = f.on_detection(&det(0.0, 0), 5 * 33 * MS);
        assert_eq!(f.mode(), Mode::Searching);
        assert!(c.angular < 0.0 && c.linear == 0.0, "turning right in place: {c:?}");
        // Odometry measures the search; a full circle is noticed.
        for k in 1..=40 {
            f.on_odometry(&odo(40f64.to_radians() - k as f64 * 0.2));
        }
        assert!(f.searched() > 7.9 && f.searched() < 8.1, "{}", f.searched());
        f.on_detection(&det(0.0, 0), 6 * 33 * MS);
        // Noise-sized blobs are not the ball; the ball is.
        f.on_detection(&det(320.0, 5), 7 * 33 * MS);
        assert_eq!(f.mode(), Mode::Searching);
        f.on_detection(&det(320.0, 400), 8 * 33 * MS);
        assert_eq!(f.mode(), Mode::Tracking);
    }

    #[test]
    fn without_odometry_the_search_follows_the_last_bearing() {
        let mut f = Follower::new(FollowConfig { lost_after: 1, ..Default::default() });
        f.on_detection(&det(100.0, 400), 0); // left of centre
        let c = f.on_detection(&det(0.0, 0), 33 * MS);
        assert!(c.angular > 0.0, "{c:?}");
        // Never seen at all: search (left by convention).
        let mut g = Follower::new(FollowConfig::default());
        let c = g.on_detection(&det(0.0, 0), 0);
        assert!(c.angular > 0.0 && g.mode() == Mode::Starting, "{c:?}");
    }

    #[test]
    fn parameters_are_checked() {
        use framewire_sdk::params::Params as _;
        let t: framewire_sdk::toml::Table = framewire_sdk::toml::from_str("target_size = 0.0").unwrap();
        let p = Params::from_table(&t).unwrap();
        assert!(config(&p).unwrap_err().contains("`target_size`"));
        let t: framewire_sdk::toml::Table = framewire_sdk::toml::from_str("turn_gain = [1.0, 0.0, 0.0]").unwrap();
        let e = Params::from_table(&t).unwrap_err();
        assert!(e.message.contains("did you mean `turn_gains`"), "{e}");
    }
}
