//! Block wrappers: `diff_drive` and one motor driver block per protocol.
//!
//! Register them with [`register`]. Every driver block has the same ports
//! (input `wheels`, output `odometry`) and the same common keys, plus its
//! protocol's own keys:
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `port` | required | serial device (prefer `/dev/serial/by-id/...`) |
//! | `baud` | per protocol | baud rate |
//! | `rate_hz` | 20 | how often targets are sent and feedback read |
//! | `command_timeout_ms` | 300 | deadman; also programs the controller's own timeout |
//! | `wheel_radius`, `track_width` | required | metres, for odometry |
//! | `max_wheel_speed` | required | rad/s: clamp, and full scale for open-loop controllers |
//! | `left_motor` | 1 | which channel (1 or 2) drives the left wheel |
//! | `invert_left`, `invert_right` | false | reverse a wheel |
//! | `reply_timeout_ms`, `retries` | 100, 2 | bounded request/response; `reply_timeout_ms × (retries + 1)` ≤ `command_timeout_ms` |
//! | `connect_timeout_ms` | 5000 | the block fails if it never connects within this long |
//!
//! Failsafe: the block stops the motors when its input goes silent for
//! `command_timeout_ms` (upstream crash or stall; a command's age counts
//! from its commit on the wire), on shutdown (`stop`), and first thing after
//! every (re)connection, including a restart of the block. See
//! `src/motor/README.md`.

use super::diff::{DiffDrive, Geometry};
use super::driver::{
    ArduinoBackend, Backend, Driver, DriverConfig, DynamixelBackend, OdriveBackend, PololuBackend, RoboclawBackend,
    SabertoothBackend, SabertoothMode, VescBackend,
};
use super::serial::LinkConfig;
use super::{MotorError, proto};
use framewire_sdk::block::{
    BlockError, BlockInfo, BlockType, Context, Input, Output, PortType, Ports, Registry, Role, Setup, Step,
};
use framewire_sdk::msg::{DriveCommand, Odometry, WheelCommand};
use framewire_sdk::params::SerialPath;
use std::time::{Duration, Instant};

/// Registers `diff_drive` and every motor driver block.
pub fn register(reg: &mut Registry) -> Result<(), framewire_sdk::block::RegistryError> {
    reg.add::<DiffDriveBlock>()?;
    reg.add::<MotorBlock<RoboclawParams>>()?;
    reg.add::<MotorBlock<DynamixelParams>>()?;
    reg.add::<MotorBlock<ArduinoParams>>()?;
    reg.add::<MotorBlock<SabertoothParams>>()?;
    reg.add::<MotorBlock<VescParams>>()?;
    reg.add::<MotorBlock<OdriveParams>>()?;
    reg.add::<MotorBlock<PololuParams>>()?;
    Ok(())
}

// ---------------------------------------------------------------- diff_drive

framewire_sdk::params! {
    /// Parameters of `diff_drive`.
    pub struct DiffDriveParams {
        /// Wheel radius, metres.
        pub wheel_radius: f64 = required(0.05),
        /// Distance between the wheels' contact points, metres.
        pub track_width: f64 = required(0.3),
        /// Largest wheel speed, rad/s; both wheels are scaled together above it, so a turn keeps its direction.
        pub max_wheel_speed: f64 = required(20.0),
        /// Largest wheel acceleration, rad/s² (0 = unlimited).
        pub accel_limit: f64 = 0.0,
    }
}

/// Drive commands (m/s, rad/s) in, wheel targets (rad/s) out.
pub struct DiffDriveBlock {
    input: Input<DriveCommand>,
    output: Output<WheelCommand>,
    dd: DiffDrive,
    last: Option<Instant>,
}

impl BlockType for DiffDriveBlock {
    type Params = DiffDriveParams;
    fn info() -> BlockInfo {
        BlockInfo::new("diff_drive", "Turns drive commands (m/s, rad/s) into left/right wheel speeds (rad/s)")
    }
    fn ports(p: &DiffDriveParams) -> Result<Ports, String> {
        geometry(p.wheel_radius, p.track_width, 1.0, p.max_wheel_speed, p.accel_limit).validate()?;
        Ok(Ports::new()
            .input("drive", PortType::msg::<DriveCommand>())
            .output("wheels", PortType::msg::<WheelCommand>()))
    }
    fn open(p: DiffDriveParams, setup: &mut Setup) -> Result<Self, BlockError> {
        let g = geometry(p.wheel_radius, p.track_width, 1.0, p.max_wheel_speed, p.accel_limit);
        g.validate().map_err(BlockError::Config)?;
        Ok(DiffDriveBlock {
            input: setup.input("drive")?,
            output: setup.output("wheels")?,
            dd: DiffDrive::new(g),
            last: None,
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        // Publishes only when a command arrives: when upstream goes silent,
        // so does this block, and the driver's deadman takes over.
        let Some(s) = self.input.recv(cx.tick()) else { return Ok(Step::Idle) };
        let now = Instant::now();
        let dt = self.last.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        self.last = Some(now);
        let w = self.dd.update(s.msg, dt);
        self.output.send(&w, Some(&s.meta))?;
        Ok(Step::Continue)
    }
}

fn geometry(wheel_radius: f64, track_width: f64, counts_per_rev: f64, max: f64, accel: f64) -> Geometry {
    Geometry { wheel_radius, track_width, counts_per_rev, max_wheel_speed: max, accel_limit: accel }
}

// ------------------------------------------------------------ driver blocks

/// The keys every driver block has, with its baud rate, for the generic block.
#[derive(Clone, Debug)]
pub struct Common {
    /// Serial device path.
    pub port: String,
    /// Baud rate.
    pub baud: u32,
    /// Send/read rate, Hz.
    pub rate_hz: f64,
    /// Deadman timeout, ms.
    pub command_timeout_ms: u64,
    /// Wheel radius, m.
    pub wheel_radius: f64,
    /// Track width, m.
    pub track_width: f64,
    /// Largest wheel speed, rad/s.
    pub max_wheel_speed: f64,
    /// Channel of the left wheel (1 or 2).
    pub left_motor: u8,
    /// Reverse the left wheel.
    pub invert_left: bool,
    /// Reverse the right wheel.
    pub invert_right: bool,
    /// Reply timeout, ms.
    pub reply_timeout_ms: u64,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Longest time to the first connection, ms.
    pub connect_timeout_ms: u64,
}

framewire_sdk::params! {
    /// The keys every driver block has (each block adds its baud rate and
    /// its protocol's own keys).
    pub struct DriverKeys {
        /// Serial device; /dev/framewire/motors (udev/README.md) or /dev/serial/by-id/... survive replugging.
        pub port: SerialPath = required("/dev/framewire/motors"),
        /// How often targets are sent and feedback read, Hz.
        pub rate_hz: f64 = 20.0,
        /// Deadman: zero after this long without a command, ms; also the controller's own timeout where framewire programs it.
        pub command_timeout_ms: u64 = 300,
        /// Wheel radius, metres (odometry).
        pub wheel_radius: f64 = required(0.05),
        /// Distance between the wheels' contact points, metres (odometry).
        pub track_width: f64 = required(0.3),
        /// Largest wheel speed, rad/s: targets are clamped to it (and it is full scale for open-loop controllers).
        pub max_wheel_speed: f64 = required(20.0),
        /// Channel (1 or 2) that drives the left wheel.
        pub left_motor: u8 = 1,
        /// Reverse the left wheel.
        pub invert_left: bool = false,
        /// Reverse the right wheel.
        pub invert_right: bool = false,
        /// Longest wait for one reply, ms; reply_timeout_ms x (retries + 1) must fit in command_timeout_ms.
        pub reply_timeout_ms: u64 = 100,
        /// Extra attempts after a bad or missing reply.
        pub retries: u32 = 2,
        /// The block fails if it cannot open the port and configure the controller within this long, ms.
        pub connect_timeout_ms: u64 = 5000,
    }
}

// The defaults written above are the crate's own constants.
const _: () = assert!(super::DEFAULT_COMMAND_TIMEOUT.as_millis() == 300);
const _: () = assert!(super::driver::DEFAULT_CONNECT_TIMEOUT.as_millis() == 5000);
const _: () = assert!(proto::roboclaw::ADDRESS_MIN == 128 && proto::sabertooth::ADDRESS_MIN == 128);
const _: () = assert!(proto::arduino::DEFAULT_PID_RATE == 30.0);

impl DriverKeys {
    /// The common keys with the block's baud rate.
    pub fn common(&self, baud: u32) -> Common {
        Common {
            port: self.port.0.to_string_lossy().into_owned(),
            baud,
            rate_hz: self.rate_hz,
            command_timeout_ms: self.command_timeout_ms,
            wheel_radius: self.wheel_radius,
            track_width: self.track_width,
            max_wheel_speed: self.max_wheel_speed,
            left_motor: self.left_motor,
            invert_left: self.invert_left,
            invert_right: self.invert_right,
            reply_timeout_ms: self.reply_timeout_ms,
            retries: self.retries,
            connect_timeout_ms: self.connect_timeout_ms,
        }
    }
}

/// What a protocol's parameter struct provides to [`MotorBlock`].
pub trait DriverParams: framewire_sdk::params::Params + Clone {
    /// Block type name.
    const NAME: &'static str;
    /// One line for `framewire blocks`.
    const DESCRIPTION: &'static str;
    /// The common keys.
    fn common(&self) -> Common;
    /// Encoder counts per wheel revolution, if the protocol uses them.
    fn counts_per_rev(&self) -> f64 {
        1.0
    }
    /// Checks the protocol's own keys.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// Builds the protocol backend.
    fn backend(&self) -> Box<dyn Backend>;
}

framewire_sdk::params! {
    /// Parameters of the `roboclaw` block.
    pub struct RoboclawParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (the controller's packet serial setting).
        pub baud: u32 = 38400,
        /// Packet serial address, 128..=135.
        pub address: u8 = 128,
        /// Encoder counts per wheel revolution (quadrature, after gearing).
        pub counts_per_rev: f64 = required(1920.0),
        /// Acceleration in counts/s² (command 40); 0 = the controller's default (command 37).
        pub accel: u32 = 0,
    }
}

impl DriverParams for RoboclawParams {
    const NAME: &'static str = "roboclaw";
    const DESCRIPTION: &'static str = "RoboClaw / Basicmicro packet serial motor driver (speed control with encoders)";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn counts_per_rev(&self) -> f64 {
        self.counts_per_rev
    }
    fn validate(&self) -> Result<(), String> {
        let r = proto::roboclaw::ADDRESS_MIN..=proto::roboclaw::ADDRESS_MAX;
        if !r.contains(&self.address) {
            return Err(format!("address must be 128 to 135, got {}", self.address));
        }
        if !(self.counts_per_rev.is_finite() && self.counts_per_rev > 0.0) {
            return Err("counts_per_rev must be positive".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(RoboclawBackend::new(self.address, self.counts_per_rev, (self.accel > 0).then_some(self.accel)))
    }
}

framewire_sdk::params! {
    /// Parameters of the `dynamixel` block.
    pub struct DynamixelParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (factory default of X series: 57600).
        pub baud: u32 = 57600,
        /// ID of the left servo.
        pub left_id: u8 = 1,
        /// ID of the right servo.
        pub right_id: u8 = 2,
    }
}

impl DriverParams for DynamixelParams {
    const NAME: &'static str = "dynamixel";
    const DESCRIPTION: &'static str = "ROBOTIS Dynamixel Protocol 2.0 servos in velocity mode (X series)";
    fn common(&self) -> Common {
        // IDs name the sides directly, so there is no channel to choose.
        Common { left_motor: 1, ..self.keys.common(self.baud) }
    }
    fn counts_per_rev(&self) -> f64 {
        proto::dynamixel::COUNTS_PER_REV
    }
    fn validate(&self) -> Result<(), String> {
        for id in [self.left_id, self.right_id] {
            if id > 252 {
                return Err(format!("servo IDs are 0 to 252, got {id}"));
            }
        }
        if self.left_id == self.right_id {
            return Err("left_id and right_id must differ".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(DynamixelBackend::new([self.left_id, self.right_id]))
    }
}

framewire_sdk::params! {
    /// Parameters of the `ros_arduino_bridge` block.
    pub struct ArduinoParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (the sketch's BAUDRATE).
        pub baud: u32 = 57600,
        /// Encoder ticks per wheel revolution.
        pub counts_per_rev: f64 = required(1920.0),
        /// The sketch's PID_RATE, Hz.
        pub pid_rate: f64 = 30.0,
        /// PID gains `[Kp, Kd, Ki, Ko]` sent with `u` on connection.
        pub pid: Option<[i32; 4]> = None,
    }
}

impl DriverParams for ArduinoParams {
    const NAME: &'static str = "ros_arduino_bridge";
    const DESCRIPTION: &'static str = "Arduino running ROSArduinoBridge (m/e/r/u/b line protocol)";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn counts_per_rev(&self) -> f64 {
        self.counts_per_rev
    }
    fn validate(&self) -> Result<(), String> {
        if !(self.counts_per_rev > 0.0 && self.pid_rate > 0.0) {
            return Err("counts_per_rev and pid_rate must be positive".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(ArduinoBackend::new(self.counts_per_rev, self.pid_rate, self.pid))
    }
}

framewire_sdk::params! {
    /// Parameters of the `sabertooth` block.
    pub struct SabertoothParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (DIP switches).
        pub baud: u32 = 9600,
        /// `packetized` or `simplified`.
        pub mode: String = "packetized",
        /// Packetized address, 128..=135.
        pub address: u8 = 128,
    }
}

impl DriverParams for SabertoothParams {
    const NAME: &'static str = "sabertooth";
    const DESCRIPTION: &'static str = "Dimension Engineering Sabertooth (packetized or simplified serial, open loop)";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn validate(&self) -> Result<(), String> {
        match self.mode.as_str() {
            "packetized" | "simplified" => {}
            m => return Err(format!("mode must be \"packetized\" or \"simplified\", got {m:?}")),
        }
        if !(proto::sabertooth::ADDRESS_MIN..=proto::sabertooth::ADDRESS_MAX).contains(&self.address) {
            return Err(format!("address must be 128 to 135, got {}", self.address));
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        let mode = if self.mode == "simplified" {
            SabertoothMode::Simplified
        } else {
            SabertoothMode::Packetized(self.address)
        };
        Box::new(SabertoothBackend { mode, max_wheel_speed: self.keys.max_wheel_speed })
    }
}

framewire_sdk::params! {
    /// Parameters of the `vesc` block.
    pub struct VescParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (App Settings > UART).
        pub baud: u32 = 115200,
        /// CAN ID of the VESC on channel 2 (reached through the UART one).
        pub can_id: u8 = 1,
        /// Motor pole pairs.
        pub pole_pairs: f64 = 7.0,
        /// Motor turns per wheel turn.
        pub gear_ratio: f64 = 1.0,
    }
}

impl DriverParams for VescParams {
    const NAME: &'static str = "vesc";
    const DESCRIPTION: &'static str = "Two VESCs (UART + CAN forward) in RPM control";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn validate(&self) -> Result<(), String> {
        if !(self.pole_pairs > 0.0 && self.gear_ratio > 0.0) {
            return Err("pole_pairs and gear_ratio must be positive".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(VescBackend::new(self.can_id, self.pole_pairs, self.gear_ratio))
    }
}

framewire_sdk::params! {
    /// Parameters of the `odrive` block.
    pub struct OdriveParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (config.uart_baudrate).
        pub baud: u32 = 115200,
        /// Motor turns per wheel turn.
        pub gear_ratio: f64 = 1.0,
        /// Append and require `*checksum` on every line.
        pub checksum: bool = true,
    }
}

impl DriverParams for OdriveParams {
    const NAME: &'static str = "odrive";
    const DESCRIPTION: &'static str = "ODrive (0.5.x) over the ASCII protocol, velocity control with its watchdog";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn validate(&self) -> Result<(), String> {
        if self.gear_ratio <= 0.0 {
            return Err("gear_ratio must be positive".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(OdriveBackend::new(self.gear_ratio, self.checksum))
    }
}

framewire_sdk::params! {
    /// Parameters of the `pololu_smc` block.
    pub struct PololuParams {
        /// The keys every driver block has.
        pub keys: DriverKeys = flatten,
        /// Baud rate (or autodetect on the controller).
        pub baud: u32 = 9600,
        /// Device number of the channel 1 controller.
        pub device_1: u8 = 1,
        /// Device number of the channel 2 controller.
        pub device_2: u8 = 2,
    }
}

impl DriverParams for PololuParams {
    const NAME: &'static str = "pololu_smc";
    const DESCRIPTION: &'static str =
        "Two Pololu Simple Motor Controllers on one serial line (Pololu protocol, open loop)";
    fn common(&self) -> Common {
        self.keys.common(self.baud)
    }
    fn validate(&self) -> Result<(), String> {
        if self.device_1 > 127 || self.device_2 > 127 || self.device_1 == self.device_2 {
            return Err("device_1 and device_2 must be different numbers 0 to 127".into());
        }
        Ok(())
    }
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(PololuBackend::new([self.device_1, self.device_2], self.keys.max_wheel_speed))
    }
}

/// Builds the driver configuration from a block's parameters.
pub fn driver_config<P: DriverParams>(p: &P) -> Result<DriverConfig, String> {
    p.validate()?;
    let c = p.common();
    if c.left_motor != 1 && c.left_motor != 2 {
        return Err(format!("left_motor must be 1 or 2, got {}", c.left_motor));
    }
    let mut link = LinkConfig::new(c.port.clone(), c.baud);
    link.reply_timeout = Duration::from_millis(c.reply_timeout_ms.max(1));
    link.retries = c.retries;
    let cfg = DriverConfig {
        link,
        geometry: geometry(c.wheel_radius, c.track_width, p.counts_per_rev(), c.max_wheel_speed, 0.0),
        rate_hz: c.rate_hz,
        command_timeout: Duration::from_millis(c.command_timeout_ms),
        connect_timeout: Duration::from_millis(c.connect_timeout_ms),
        swap: c.left_motor == 2,
        invert_left: c.invert_left,
        invert_right: c.invert_right,
    };
    cfg.validate().map_err(|e| match e {
        MotorError::Config(m) => m,
        other => other.to_string(),
    })?;
    Ok(cfg)
}

/// A motor driver block for protocol `P`: wheel targets in, odometry out.
pub struct MotorBlock<P> {
    input: Input<WheelCommand>,
    output: Output<Odometry>,
    driver: Driver,
    port: String,
    /// The link state last reported to the runtime (`framewire status`).
    reported: Option<(std::mem::Discriminant<super::driver::LinkState>, Option<String>)>,
    _p: std::marker::PhantomData<P>,
}

impl<P: DriverParams> MotorBlock<P> {
    /// The driver inside (its link state, counters, deadman).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Tells the runtime when the link changes state (connecting,
    /// connected, lost) or its last error changes, so `framewire status`
    /// shows a driver that is "running" but not driving.
    fn report_link(&mut self, cx: &Context) {
        use super::driver::LinkState;
        use framewire_sdk::state::Link;
        let Some(st) = self.driver.link_status() else { return };
        let key = (std::mem::discriminant(&st.state), st.last_error.clone());
        if self.reported.as_ref() == Some(&key) {
            return;
        }
        let (link, what) = match st.state {
            LinkState::Connecting { .. } => (Link::Connecting, "connecting to"),
            LinkState::Connected { .. } => (Link::Connected, "talking to"),
            LinkState::Lost { .. } => (Link::Lost, "lost"),
        };
        let detail = match &st.last_error {
            Some(e) => format!("{what} {}: {e}", self.port),
            None => format!("{what} {}", self.port),
        };
        cx.set_link(link, &detail);
        self.reported = Some(key);
    }

    /// The newest command waiting on the input, if any, stamped with its
    /// commit time on the wire mapped onto [`Instant`] (both are
    /// `CLOCK_MONOTONIC`): a command that waited while the driver was busy
    /// keeps its age, so it cannot hold the deadman off.
    fn newest_command(&mut self, wait: Duration) -> Option<(Instant, WheelCommand)> {
        let mut newest = self.input.recv(wait);
        while let Some(s) = self.input.try_recv() {
            newest = Some(s);
        }
        let s = newest?;
        let age = Duration::from_nanos(framewire_sdk::monotonic_ns().saturating_sub(s.meta.commit_ns));
        let now = Instant::now();
        Some((now.checked_sub(age).unwrap_or(now), s.msg))
    }
}

impl<P: DriverParams> BlockType for MotorBlock<P> {
    type Params = P;
    fn info() -> BlockInfo {
        BlockInfo::new(P::NAME, P::DESCRIPTION).role(Role::Actuator)
    }
    fn ports(p: &P) -> Result<Ports, String> {
        driver_config(p)?;
        Ok(Ports::new()
            .input("wheels", PortType::msg::<WheelCommand>())
            .output("odometry", PortType::msg::<Odometry>()))
    }
    fn open(p: P, setup: &mut Setup) -> Result<Self, BlockError> {
        let cfg = driver_config(&p).map_err(BlockError::Config)?;
        let port = cfg.link.path.clone();
        let driver = Driver::new(cfg, p.backend()).map_err(|e| BlockError::Config(e.to_string()))?;
        Ok(MotorBlock {
            input: setup.input("wheels")?,
            output: setup.output("odometry")?,
            driver,
            port,
            reported: None,
            _p: std::marker::PhantomData,
        })
    }
    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let wait = self.driver.time_to_next_tick(Instant::now()).min(cx.tick());
        let cmd = self.newest_command(wait);
        let result = self.driver.tick_at(Instant::now(), cmd);
        self.report_link(cx);
        match result {
            Ok(Some(odom)) => {
                self.output.send(&odom, None)?;
                Ok(Step::Continue)
            }
            Ok(None) => Ok(if cmd.is_some() { Step::Continue } else { Step::Idle }),
            Err(MotorError::Config(m)) => Err(BlockError::Config(m)),
            Err(e) if e.is_fatal() => Err(BlockError::Device { device: self.port.clone(), message: e.to_string() }),
            // Link trouble is the driver's to recover from (retries at the
            // same path, stop first after reconnecting) and to log, rate
            // limited: keep stepping.
            Err(e) => {
                if matches!(e, MotorError::Disconnected(_) | MotorError::Open(_)) {
                    // Nothing to do until the next reconnect attempt.
                    std::thread::sleep(cx.tick().min(Duration::from_millis(20)));
                }
                Ok(Step::Idle)
            }
        }
    }
    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        self.driver.stop().map_err(|e| BlockError::Device { device: P::NAME.into(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;
    use crate::sim::{self, Faults, SimOptions};
    use framewire_sdk::block::BlockSpec;
    use framewire_sdk::msg::Message;
    use framewire_wire::PayloadType;
    use framewire_wire::{self as wire, Policy, WireConfig};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;

    static STOP: AtomicBool = AtomicBool::new(false);

    struct Wire(String);
    impl Wire {
        fn new(tag: &str, kind: PayloadType, size: usize) -> Wire {
            let name = format!("fwmotor-{}-{tag}", std::process::id());
            let _ = wire::unlink(&name);
            let mut cfg = WireConfig::new(size as u64, WireConfig::min_slots(Policy::Latest, 1), 1, Policy::Latest);
            cfg.kind = kind;
            wire::create(&name, &cfg).unwrap();
            Wire(name)
        }
    }
    impl Drop for Wire {
        fn drop(&mut self) {
            let _ = wire::unlink(&self.0);
        }
    }

    fn setup(name: &str, inputs: &[(&str, &Wire)], outputs: &[(&str, &Wire)]) -> Setup {
        let m = |v: &[(&str, &Wire)]| v.iter().map(|(p, w)| (p.to_string(), w.0.clone())).collect::<BTreeMap<_, _>>();
        Setup::new(name, m(inputs), m(outputs))
    }

    #[test]
    fn params_are_strict_and_validated() {
        let ok = "port = \"/dev/ttyACM0\"\nwheel_radius = 0.05\ntrack_width = 0.3\nmax_wheel_speed = 20.0\ncounts_per_rev = 1000.0\n";
        let p: RoboclawParams = toml::from_str(ok).unwrap();
        assert_eq!((p.baud, p.address, p.keys.rate_hz, p.keys.command_timeout_ms), (38400, 128, 20.0, 300));
        assert!(driver_config(&p).is_ok());
        let e = toml::from_str::<RoboclawParams>(&format!("{ok}adress = 129\n")).unwrap_err().to_string();
        assert!(e.contains("unknown parameter `adress`; did you mean `address`?"), "{e}");
        let p: RoboclawParams = toml::from_str(&format!("{ok}address = 140\n")).unwrap();
        assert!(driver_config(&p).unwrap_err().contains("128 to 135"));
        let p: RoboclawParams = toml::from_str(&format!("{ok}command_timeout_ms = 60\n")).unwrap();
        assert!(driver_config(&p).unwrap_err().contains("two periods"));
        // Issue 11, item 10: a request's worst case must fit the deadman;
        // the error names both keys and the fix.
        let p: RoboclawParams = toml::from_str(&format!("{ok}reply_timeout_ms = 400\n")).unwrap();
        let e = driver_config(&p).unwrap_err();
        assert!(
            e.contains("reply_timeout_ms (400) × (retries + 1) (3) = 1200 ms exceeds command_timeout_ms (300 ms)"),
            "{e}"
        );
        assert!(e.contains("lower reply_timeout_ms to at most 100"), "{e}");
        assert!(e.contains("raise command_timeout_ms to at least 1200"), "{e}");
        assert!(!e.contains("retries to at most"), "no number of retries fits: {e}");
        let p: RoboclawParams = toml::from_str(&format!("{ok}reply_timeout_ms = 200\n")).unwrap();
        let e = driver_config(&p).unwrap_err();
        assert!(e.contains("lower reply_timeout_ms to at most 100 or retries to at most 0, or raise command_timeout_ms to at least 600"), "{e}");
        let p: RoboclawParams = toml::from_str(&format!("{ok}connect_timeout_ms = 0\n")).unwrap();
        assert!(driver_config(&p).unwrap_err().contains("connect_timeout_ms must be positive"));
        let p: RoboclawParams = toml::from_str(ok).unwrap();
        assert_eq!(p.keys.connect_timeout_ms, 5000);
        // Dynamixel keys are not RoboClaw keys.
        let e = toml::from_str::<DynamixelParams>(ok).unwrap_err().to_string();
        assert!(e.contains("counts_per_rev"), "{e}");
        // Every block type registers with its own name and ports.
        let mut reg = Registry::new();
        register(&mut reg).unwrap();
        let names = reg.names();
        for n in
            ["diff_drive", "roboclaw", "dynamixel", "ros_arduino_bridge", "sabertooth", "vesc", "odrive", "pololu_smc"]
        {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
        let spec: &BlockSpec = reg.get("roboclaw").unwrap();
        assert_eq!((spec.info)().role, Role::Actuator);
        let ports = (spec.ports)(&toml::from_str(ok).unwrap()).map_err(|e| e.message).unwrap();
        assert_eq!(ports.inputs[0].name, "wheels");
    }

    /// Drive command wire → diff_drive block → roboclaw block → pty →
    /// simulated RoboClaw; then the deadman and the shutdown stop.
    #[test]
    fn drive_wire_to_simulated_roboclaw() {
        let dir = crate::tests::TestDir::new("blocks");
        let link = dir.link();
        let sim =
            sim::start(Protocol::Roboclaw, SimOptions { link: Some(link.clone()), ..Default::default() }).unwrap();
        let drive = Wire::new("drive", DriveCommand::TYPE, DriveCommand::SIZE);
        let wheels = Wire::new("wheels", WheelCommand::TYPE, WheelCommand::SIZE);
        let odom = Wire::new("odom", Odometry::TYPE, Odometry::SIZE);

        let mut src: Output<DriveCommand> = setup("src", &[], &[("out", &drive)]).output("out").unwrap();
        let mut odom_in: Input<Odometry> = setup("sink", &[("in", &odom)], &[]).input("in").unwrap();
        let dp = DiffDriveParams { wheel_radius: 0.05, track_width: 0.3, max_wheel_speed: 20.0, accel_limit: 0.0 };
        let mut dd = DiffDriveBlock::open(dp, &mut setup("dd", &[("drive", &drive)], &[("wheels", &wheels)])).unwrap();
        let mp: RoboclawParams = toml::from_str(&format!(
            "port = {:?}\nwheel_radius = 0.05\ntrack_width = 0.3\nmax_wheel_speed = 20.0\ncounts_per_rev = 1000.0\ncommand_timeout_ms = 600\nreply_timeout_ms = 200\n",
            link.to_str().unwrap()
        ))
        .unwrap();
        let mut mb = MotorBlock::<RoboclawParams>::open(
            mp,
            &mut setup("motors", &[("wheels", &wheels)], &[("odometry", &odom)]),
        )
        .unwrap();
        let mut cx = Context::new("test", &STOP);

        // 0.25 m/s forward, 1 rad/s left: wheels 2 and 8 rad/s, i.e.
        // 318 and 1273 counts/s with 1000 counts per revolution.
        let want = ((2.0 * 1000.0 / std::f64::consts::TAU).round(), (8.0 * 1000.0 / std::f64::consts::TAU).round());
        let mut last_odom = None;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            src.send(&DriveCommand { linear: 0.25, angular: 1.0 }, None).unwrap();
            dd.step(&mut cx).unwrap();
            mb.step(&mut cx).unwrap();
            if let Some(o) = odom_in.try_recv() {
                last_odom = Some(o.msg);
            }
            let r = sim.received();
            if r.last().is_some_and(|l| (l.m1, l.m2) == want) && last_odom.is_some_and(|o| o.x > 0.01) {
                break;
            }
        }
        let r = sim.received();
        assert_eq!((r[0].m1, r[0].m2), (0.0, 0.0), "stop first after connecting");
        assert_eq!(r.last().map(|l| (l.m1, l.m2)), Some(want));
        let o = last_odom.expect("odometry published");
        assert!(o.x > 0.01 && o.heading > 0.0 && o.battery_v > 12.0, "{o:?}");

        // Upstream goes silent: the driver block stops the motors by itself.
        let silent_since = Instant::now();
        while silent_since.elapsed() < Duration::from_secs(10) {
            mb.step(&mut cx).unwrap();
            if sim.received().last().is_some_and(|l| (l.m1, l.m2) == (0.0, 0.0)) {
                break;
            }
        }
        assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((0.0, 0.0)), "deadman stop");
        // 600 ms + one 50 ms period, plus slack for a loaded machine.
        assert!(silent_since.elapsed() < Duration::from_millis(650) + Duration::from_secs(2));

        // Shutdown: stop() commands zero even while commands are flowing.
        src.send(&DriveCommand { linear: 0.2, angular: 0.0 }, None).unwrap();
        dd.step(&mut cx).unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) && sim.received().last().is_some_and(|l| l.m1 == 0.0) {
            mb.step(&mut cx).unwrap();
        }
        BlockType::stop(&mut mb, &mut cx).unwrap();
        assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((0.0, 0.0)), "stopped on shutdown");
        assert_eq!(sim.state().hw_timeout, Some(Duration::from_millis(600)));
    }

    /// Issue 11, item 10: the controller stops answering, then upstream
    /// stalls. The driver must command zero within command_timeout of the
    /// last command's commit on the wire (plus a period, plus slack for a
    /// loaded machine), although every request to the silent controller
    /// waits (retries + 1) × reply_timeout: exchanges are cut at the deadman
    /// deadline, and a command picked up late keeps its commit time.
    ///
    /// Timings are chosen so the two behaviours cannot be confused: with
    /// 1000 ms of deadman and 3 × 333 ms per request, stamping on pickup and
    /// uncut exchanges put the stop 2 s or more after the stall; the bound
    /// asserted is 1000 + 50 + 400 ms.
    fn silent_controller_stops_within_deadline<P: DriverParams>(extra: &str) {
        let tag = P::NAME;
        let sim_protocol = match tag {
            "roboclaw" => Protocol::Roboclaw,
            "dynamixel" => Protocol::Dynamixel,
            "ros_arduino_bridge" => Protocol::Arduino,
            "vesc" => Protocol::Vesc,
            "odrive" => Protocol::Odrive,
            _ => Protocol::Pololu,
        };
        let dir = crate::tests::TestDir::new(&format!("silent-{tag}"));
        let sim = std::sync::Arc::new(
            sim::start(sim_protocol, SimOptions { link: Some(dir.link()), ..Default::default() }).unwrap(),
        );
        let wheels = Wire::new(&format!("silent-{tag}-wheels"), WheelCommand::TYPE, WheelCommand::SIZE);
        let odom = Wire::new(&format!("silent-{tag}-odom"), Odometry::TYPE, Odometry::SIZE);
        let table: toml::Table = toml::from_str(&format!(
            "port = {:?}\nwheel_radius = 0.05\ntrack_width = 0.3\nmax_wheel_speed = 20.0\n\
             command_timeout_ms = 1000\nreply_timeout_ms = 333\nretries = 2\n{extra}",
            dir.link().to_str().unwrap()
        ))
        .unwrap();
        let params = P::from_table(&table).unwrap();
        let mut mb =
            MotorBlock::<P>::open(params, &mut setup("motors", &[("wheels", &wheels)], &[("odometry", &odom)]))
                .unwrap();
        let mut cx = Context::new("test", &STOP);

        // Upstream: a thread committing commands at 20 Hz until told to
        // stall. It then waits for the driver to start a request (the silent
        // controller receives bytes), commits one last command at that moment
        // (the driver cannot see it before its exchange ends) and returns when.
        let stall = std::sync::Arc::new(AtomicBool::new(false));
        let stall2 = stall.clone();
        let wire_name = wheels.0.clone();
        let sim2 = sim.clone();
        let producer = std::thread::spawn(move || {
            let mut out: Output<WheelCommand> =
                Setup::new("pilot", BTreeMap::new(), BTreeMap::from([("out".to_string(), wire_name)]))
                    .output("out")
                    .unwrap();
            let cmd = WheelCommand { left: 2.0, right: 2.0 };
            // SYNC: pairs with the store of `stall` by the test thread; a
            // plain flag, nothing else is published through it.
            while !stall2.load(std::sync::atomic::Ordering::SeqCst) {
                out.send(&cmd, None).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            let seen = sim2.state().bytes_received;
            sim2.wait_for(Duration::from_secs(5), |s| s.bytes_received > seen);
            out.send(&cmd, None).unwrap();
            Instant::now()
        });
        let driving = |sim: &sim::SimHandle| sim.received().last().is_some_and(|r| r.m1 != 0.0 && r.m2 != 0.0);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) && !driving(&sim) {
            mb.step(&mut cx).unwrap();
        }
        assert!(driving(&sim), "{tag}: driving before the fault");
        // The controller goes silent; commands keep coming for a while, so
        // the driver is busy waiting for replies when upstream stalls.
        sim.set_faults(Faults { silence: u32::MAX, ..Default::default() });
        let silent_from = sim.received().len();
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) {
            mb.step(&mut cx).unwrap();
        }
        // SYNC: pairs with the producer's load of `stall2`.
        stall.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut producer = Some(producer);
        let mut last_cmd = None;
        let t = Instant::now();
        let zero = |sim: &sim::SimHandle, after: Instant| {
            sim.received().iter().find(|r| r.at > after && r.m1 == 0.0 && r.m2 == 0.0).map(|r| r.at)
        };
        while t.elapsed() < Duration::from_secs(20) {
            mb.step(&mut cx).unwrap();
            if producer.as_ref().is_some_and(|p| p.is_finished()) {
                last_cmd = producer.take().map(|p| p.join().unwrap());
            }
            if last_cmd.is_some_and(|l| zero(&sim, l).is_some()) {
                break;
            }
        }
        let last = last_cmd.unwrap_or_else(|| producer.take().unwrap().join().unwrap());
        let received = sim.received();
        // Causality: no stop while fresh commands were flowing, although
        // the controller was silent (a cut exchange is not a stale command).
        let spurious = received[silent_from..].iter().filter(|r| r.at <= last).find(|r| r.m1 == 0.0 && r.m2 == 0.0);
        assert!(spurious.is_none(), "{tag}: stopped while commands were fresh: {spurious:?}");
        let z = zero(&sim, last).unwrap_or_else(|| panic!("{tag}: no stop after upstream stalled: {received:?}"));
        let late = z.duration_since(last);
        assert!(late <= Duration::from_millis(1000 + 50 + 400), "{tag}: zero {late:?} after the last command");
        assert!(mb.driver().deadman_active());
    }

    macro_rules! silent {
        ($($name:ident => $p:ty, $extra:expr;)+) => {
            mod silent_controller_stops_within_deadline {
                use super::*;
                $(
                    #[test]
                    fn $name() {
                        super::silent_controller_stops_within_deadline::<$p>($extra);
                    }
                )+
            }
        };
    }

    silent! {
        roboclaw => RoboclawParams, "counts_per_rev = 1000.0";
        dynamixel => DynamixelParams, "";
        arduino => ArduinoParams, "counts_per_rev = 1000.0";
        vesc => VescParams, "";
        odrive => OdriveParams, "";
        pololu => PololuParams, "";
    }
}
