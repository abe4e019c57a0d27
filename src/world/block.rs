//! The `sim_world` block: owns the world, renders the robot's camera view
//! into its `frames` wire, and runs the simulated RoboClaw whose wheels move
//! the robot.

use std::io::Write;
use std::time::{Duration, Instant};

use framewire_motor::Protocol;
use framewire_motor::latency::Latencies;
use framewire_motor::sim::{self, SimHandle, SimOptions};
use framewire_sdk::block::*;
use framewire_sdk::image::{FourCC, ImageFormat};
use framewire_sdk::tracing;

use crate::model::{BallMotion, Base, Camera, Pose, World};
use crate::render::Renderer;

framewire_sdk::params! {
    /// Parameters of `sim_world`.
    pub struct Params {
        /// Path at which the simulated RoboClaw's serial port appears (a
        /// symlink to its pseudo-terminal, made when the block starts): the
        /// motor driver block's `port`.
        pub motor_port: String = required("/tmp/framewire-demo-motors"),
        /// Frame width in pixels (even: YUYV).
        pub width: u32 = 640,
        /// Frame height in pixels.
        pub height: u32 = 480,
        /// Frames per second.
        pub fps: f64 = 30.0,
        /// The camera's horizontal field of view, degrees.
        pub hfov_deg: f64 = 60.0,
        /// Height of the camera above the floor, metres.
        pub camera_height: f64 = 0.15,
        /// Room size along x and y, metres (the origin is its centre).
        pub room: [f64; 2] = [4.0, 3.0],
        /// Height of the walls, metres.
        pub wall_height: f64 = 0.6,
        /// The robot's start: x, y (metres), heading (degrees, counter-clockwise from +x).
        pub robot: [f64; 3] = [-1.2, -0.3, 0.0],
        /// Radius of the robot's footprint, metres (walls and the ball stop it there).
        pub robot_radius: f64 = 0.15,
        /// The ball's start: x, y, metres.
        pub ball: [f64; 2] = [1.0, 0.5],
        /// Ball radius, metres.
        pub ball_radius: f64 = 0.1,
        /// Ball colour, [r, g, b].
        pub ball_rgb: [u8; 3] = [240, 60, 20],
        /// How the ball moves: "still", "circle" (around the room's centre) or "bounce" (off the walls).
        pub ball_motion: String = "still",
        /// Speed of a moving ball, m/s.
        pub ball_speed: f64 = 0.3,
        /// Scripted moves: [[seconds after start, x, y], ...]: the ball jumps there then.
        pub ball_jumps: Option<Vec<[f64; 3]>> = None,
        /// Luma noise on every pixel, up to ± this much.
        pub noise: u8 = 8,
        /// Encoder counts per wheel revolution: the same as the motor driver block's.
        pub counts_per_rev: f64 = 1920.0,
        /// Wheel radius, metres: the same as the motor driver block's.
        pub wheel_radius: f64 = 0.05,
        /// Distance between the wheels, metres: the same as the motor driver block's.
        pub track_width: f64 = 0.30,
        /// Seconds between status lines (pose, ball, wheels, commands); 0 = none.
        pub report_every_s: f64 = 1.0,
        /// A CSV file to write every frame's pose and every command the controller accepted to.
        pub trace: Option<String> = None,
    }
}

fn check(p: &Params) -> Result<(), String> {
    let pos = |v: f64, k: &str| {
        if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("`{k}` must be a positive number, got {v}")) }
    };
    if p.width < 16 || p.height < 16 || p.width > 3840 || p.height > 2160 {
        return Err(format!("`width` x `height` {}x{} is out of range 16x16 to 3840x2160", p.width, p.height));
    }
    if p.width % 2 == 1 {
        return Err(format!("`width` {} must be even (YUYV pairs pixels)", p.width));
    }
    if !(p.fps > 0.0 && p.fps <= 240.0) {
        return Err(format!("`fps` {} is out of range (0, 240]", p.fps));
    }
    if !(p.hfov_deg > 10.0 && p.hfov_deg < 170.0) {
        return Err(format!("`hfov_deg` {} is out of range (10, 170)", p.hfov_deg));
    }
    for (v, k) in [
        (p.camera_height, "camera_height"),
        (p.wall_height, "wall_height"),
        (p.robot_radius, "robot_radius"),
        (p.ball_radius, "ball_radius"),
        (p.counts_per_rev, "counts_per_rev"),
        (p.wheel_radius, "wheel_radius"),
        (p.track_width, "track_width"),
        (p.room[0], "room[0]"),
        (p.room[1], "room[1]"),
    ] {
        pos(v, k)?;
    }
    let fits = p.room.iter().all(|&r| r > 2.0 * (p.robot_radius + p.ball_radius));
    if !fits {
        return Err(format!("`room` {:?} is too small for the robot and the ball", p.room));
    }
    if !(p.ball_speed.is_finite() && p.ball_speed >= 0.0) {
        return Err(format!("`ball_speed` must be zero or positive, got {}", p.ball_speed));
    }
    motion(p)?;
    if !(p.report_every_s.is_finite() && p.report_every_s >= 0.0) {
        return Err(format!("`report_every_s` must be zero or positive, got {}", p.report_every_s));
    }
    if p.motor_port.is_empty() {
        return Err("`motor_port` must name a path, e.g. /tmp/framewire-demo-motors".into());
    }
    Ok(())
}

fn motion(p: &Params) -> Result<BallMotion, String> {
    match p.ball_motion.as_str() {
        "still" => Ok(BallMotion::Still),
        "circle" => Ok(BallMotion::Circle(p.ball_speed)),
        "bounce" => Ok(BallMotion::Bounce(p.ball_speed)),
        other => Err(format!("`ball_motion` {other:?} is not one of \"still\", \"circle\", \"bounce\"")),
    }
}

/// Converts `Instant`s (what the simulated controller stamps commands with)
/// to `CLOCK_MONOTONIC` nanoseconds (what frames are stamped with); both
/// read the same clock on Linux, only the representation differs.
#[derive(Clone, Copy)]
struct Epoch {
    at: Instant,
    ns: u64,
}

impl Epoch {
    fn now() -> Epoch {
        Epoch { at: Instant::now(), ns: framewire_sdk::monotonic_ns() }
    }
    fn ns(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.at) {
            Some(d) => self.ns + d.as_nanos() as u64,
            None => self.ns.saturating_sub(self.at.duration_since(t).as_nanos() as u64),
        }
    }
}

/// The `sim_world` block.
pub struct SimWorld {
    out: Output<Image>,
    fmt: ImageFormat,
    cam: Camera,
    world: World,
    renderer: Renderer,
    sim: SimHandle,
    port: String,
    epoch: Epoch,
    period_ns: u64,
    next_ns: u64,
    start_ns: u64,
    last_ns: u64,
    frames: u64,
    jumps: Vec<[f64; 3]>,
    next_jump: usize,
    /// Wheel speeds the simulated controller's motors turn at, rad/s.
    wheels: [f64; 2],
    commands: u64,
    last_command: (f64, f64),
    hw_timeouts: u64,
    render: Latencies,
    report_ns: u64,
    next_report_ns: u64,
    frames_at_report: u64,
    trace: Option<std::io::BufWriter<std::fs::File>>,
    trace_path: String,
}

impl BlockType for SimWorld {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new(
            "sim_world",
            "A simulated room, robot and ball: renders the robot's camera (YUYV) and runs the simulated RoboClaw that drives it",
        )
        .role(Role::Source)
        .provides_device("motor_port")
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        check(p)?;
        Ok(Ports::new().output("frames", PortType::image(&[FourCC::YUYV], p.width, p.height)))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        check(&p).map_err(BlockError::Config)?;
        let cam = Camera { width: p.width, height: p.height, hfov: p.hfov_deg.to_radians(), height_m: p.camera_height };
        let base = Base {
            counts_per_rev: p.counts_per_rev,
            wheel_radius: p.wheel_radius,
            track_width: p.track_width,
            radius: p.robot_radius,
        };
        let start = Pose { x: p.robot[0], y: p.robot[1], heading: p.robot[2].to_radians() };
        let motion = motion(&p).map_err(BlockError::Config)?;
        let world = World::new(p.room, start, base, p.ball, p.ball_radius, motion);
        let port = p.motor_port.clone();
        let link = std::path::PathBuf::from(&port);
        let sim = sim::start(Protocol::Roboclaw, SimOptions { link: Some(link), ..Default::default() }).map_err(|e| {
            BlockError::Device {
                device: port.clone(),
                message: format!(
                    "cannot create the simulated RoboClaw's serial port there: {e}; `motor_port` must be a path in a writable directory"
                ),
            }
        })?;
        tracing::info!("simulated RoboClaw (packet serial, address 128) on {port} -> {}", sim.state().pty.display());
        let mut jumps = p.ball_jumps.clone().unwrap_or_default();
        jumps.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let trace_path = p.trace.clone().unwrap_or_default();
        let trace = match &p.trace {
            None => None,
            Some(path) => {
                let f = std::fs::File::create(path).map_err(|e| BlockError::Device {
                    device: path.clone(),
                    message: format!("cannot create the trace file: {e}"),
                })?;
                let mut w = std::io::BufWriter::new(f);
                writeln!(
                    w,
                    "# sim_world trace: one line per frame (f) and per speed command the simulated RoboClaw accepted (c)\n\
                     # f,t_ns,seq,x,y,heading_deg,ball_x,ball_y,bearing_deg,distance_m,in_view,left_rad_s,right_rad_s\n\
                     # c,t_ns,m1_counts_per_s,m2_counts_per_s"
                )?;
                Some(w)
            }
        };
        let now = framewire_sdk::monotonic_ns();
        let report_ns = (p.report_every_s * 1e9) as u64;
        Ok(SimWorld {
            out: setup.output("frames")?,
            fmt: ImageFormat::packed(FourCC::YUYV, p.width, p.height),
            cam,
            renderer: Renderer::new(cam, p.wall_height, p.ball_rgb, p.noise),
            world,
            sim,
            port,
            epoch: Epoch::now(),
            period_ns: (1e9 / p.fps) as u64,
            next_ns: now,
            start_ns: now,
            last_ns: now,
            frames: 0,
            jumps,
            next_jump: 0,
            wheels: [0.0; 2],
            commands: 0,
            last_command: (0.0, 0.0),
            hw_timeouts: 0,
            render: Latencies::new(),
            report_ns,
            next_report_ns: now + report_ns,
            frames_at_report: 0,
            trace,
            trace_path,
        })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let now = cx.now_ns();
        if now < self.next_ns {
            std::thread::sleep(Duration::from_nanos((self.next_ns - now).min(cx.tick().as_nanos() as u64)));
            return Ok(Step::Idle);
        }
        // Keep the cadence without bursting after a stall.
        self.next_ns = (self.next_ns + self.period_ns).max(now);
        // The world is sampled now: this is the frame's capture time (the
        // moment the shutter sees it); rendering is its readout.
        self.advance(now)?;
        let fmt = self.fmt;
        let mut loan = self.out.loan(cx.tick())?;
        let img = loan.image(fmt)?;
        self.renderer.render(&self.world, img.data);
        self.frames += 1;
        loan.set_stamp(now, self.frames);
        loan.commit()?;
        self.render.record(framewire_sdk::monotonic_ns().saturating_sub(now));
        self.trace_frame(now)?;
        if self.report_ns > 0 && now >= self.next_report_ns {
            let secs = (now - self.next_report_ns + self.report_ns) as f64 / 1e9;
            let fps = (self.frames - self.frames_at_report) as f64 / secs;
            self.next_report_ns = now + self.report_ns;
            self.frames_at_report = self.frames;
            tracing::info!(
                "{}; {fps:.1} frames/s, render p50 {:.2} ms",
                self.status(),
                self.render.quantile(0.5) as f64 / 1e6
            );
            self.render.clear();
            if let Some(t) = self.trace.as_mut() {
                t.flush()?;
            }
        }
        Ok(Step::Continue)
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        // The motor driver, an actuator, was stopped before this block: its
        // last stop command is among what the controller received.
        self.advance(framewire_sdk::monotonic_ns())?;
        let (bearing, dist) = self.world.ball_bearing();
        let in_view = self.world.ball_in_image(&self.cam).is_some();
        let r = &self.world.robot;
        tracing::info!(
            "final: robot at ({:.3}, {:.3}) heading {:.1}°; ball at ({:.3}, {:.3}): bearing {:+.1}°, distance {:.3} m, {}; \
             simulated RoboClaw on {}: {} speed commands, last ({:.0}, {:.0}) counts/s, {} device timeouts",
            r.x,
            r.y,
            r.heading.to_degrees(),
            self.world.ball[0],
            self.world.ball[1],
            bearing.to_degrees(),
            dist,
            if in_view { "in view" } else { "out of view" },
            self.port,
            self.commands,
            self.last_command.0,
            self.last_command.1,
            self.hw_timeouts
        );
        if let Some(t) = self.trace.as_mut() {
            t.flush().map_err(|e| BlockError::Device { device: self.trace_path.clone(), message: e.to_string() })?;
        }
        Ok(())
    }
}

impl SimWorld {
    /// Brings the world to `now`: the robot moves by what the simulated
    /// motors turned, the ball by its own motion and scripted jumps, and the
    /// commands the controller accepted are logged.
    fn advance(&mut self, now: u64) -> Result<(), BlockError> {
        let dt = now.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = now;
        let k = std::f64::consts::TAU / self.world.base.counts_per_rev;
        {
            let mut st = self.sim.state();
            self.world.drive_to_counts(st.model.position);
            self.wheels = [st.model.speed[0] * k, st.model.speed[1] * k];
            self.hw_timeouts = st.hw_timeouts;
            for c in st.received.drain(..) {
                self.commands += 1;
                self.last_command = (c.m1, c.m2);
                if let Some(t) = self.trace.as_mut() {
                    writeln!(t, "c,{},{},{}", self.epoch.ns(c.at), c.m1, c.m2)?;
                }
            }
        }
        self.world.move_ball(dt);
        let elapsed = now.saturating_sub(self.start_ns) as f64 / 1e9;
        while let Some(&[t, x, y]) = self.jumps.get(self.next_jump)
            && elapsed >= t
        {
            self.world.place_ball(x, y);
            self.next_jump += 1;
            tracing::info!("the ball jumps to ({x:.2}, {y:.2}) at t = {t:.1} s");
        }
        Ok(())
    }

    fn trace_frame(&mut self, now: u64) -> Result<(), BlockError> {
        let Some(t) = self.trace.as_mut() else { return Ok(()) };
        let (bearing, dist) = self.world.ball_bearing();
        let in_view = self.world.ball_in_image(&self.cam).is_some();
        let r = self.world.robot;
        writeln!(
            t,
            "f,{now},{},{:.4},{:.4},{:.2},{:.4},{:.4},{:.2},{:.4},{},{:.3},{:.3}",
            self.frames,
            r.x,
            r.y,
            r.heading.to_degrees(),
            self.world.ball[0],
            self.world.ball[1],
            bearing.to_degrees(),
            dist,
            in_view as u8,
            self.wheels[0],
            self.wheels[1]
        )?;
        Ok(())
    }

    fn status(&self) -> String {
        let (bearing, dist) = self.world.ball_bearing();
        let in_view = self.world.ball_in_image(&self.cam).is_some();
        let r = &self.world.robot;
        format!(
            "robot ({:.2}, {:.2}) heading {:.0}°; ball bearing {:+.1}° at {:.2} m{}; wheels {:.1}/{:.1} rad/s; \
             controller got {} commands (last {:.0}/{:.0} counts/s)",
            r.x,
            r.y,
            r.heading.to_degrees(),
            bearing.to_degrees(),
            dist,
            if in_view { "" } else { " (out of view)" },
            self.wheels[0],
            self.wheels[1],
            self.commands,
            self.last_command.0,
            self.last_command.1
        )
    }
}
