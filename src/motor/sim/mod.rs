//! Simulated motor controllers on pseudo-terminals.
//!
//! Part of the product, not only of the tests: `framewire sim-motor
//! --protocol roboclaw` runs one of these so a pipeline can be tried without
//! hardware (see [`SimMotorArgs`] and [`run_sim_motor`]).
//!
//! A simulator owns the master side of a pty and publishes the slave's path,
//! optionally as a stable symlink (ptys get a new `/dev/pts/N` each time, so
//! the symlink is what lets the "controller vanished and came back" fault
//! look like a USB adapter that was unplugged and plugged in again).
//!
//! Each protocol's device parses strictly (a bad checksum is rejected the way
//! the device rejects it), answers like the device, drives a simple motor
//! model and implements the device's own timeout. Faults are injected on the
//! replies: corrupted checksums, truncation, silence and leading garbage.

mod arduino;
mod dynamixel;
mod odrive;
mod pololu;
mod roboclaw;
mod sabertooth;
mod vesc;

pub use arduino::ArduinoSim;
pub use dynamixel::DynamixelSim;
pub use odrive::OdriveSim;
pub use pololu::PololuSim;
pub use roboclaw::RoboclawSim;
pub use sabertooth::{FULL_SPEED as SABERTOOTH_FULL_SPEED, SabertoothSim};
pub use vesc::VescSim;

use super::Protocol;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Two wheels whose speed follows a target with a bounded acceleration.
/// Units are encoder counts and counts per second; each device converts.
#[derive(Clone, Debug, PartialEq)]
pub struct MotorModel {
    /// Target speed per motor, counts/s.
    pub target: [f64; 2],
    /// Current speed per motor, counts/s.
    pub speed: [f64; 2],
    /// Position per motor, counts.
    pub position: [f64; 2],
    /// Acceleration, counts/s² (large: simulated motors are nimble).
    pub accel: f64,
}

impl Default for MotorModel {
    fn default() -> Self {
        MotorModel { target: [0.0; 2], speed: [0.0; 2], position: [0.0; 2], accel: 200_000.0 }
    }
}

impl MotorModel {
    /// Advances the model by `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        for i in 0..2 {
            let dv = (self.target[i] - self.speed[i]).clamp(-self.accel * dt, self.accel * dt);
            let v0 = self.speed[i];
            self.speed[i] += dv;
            self.position[i] += (v0 + self.speed[i]) / 2.0 * dt;
        }
    }
}

/// Faults applied to the simulator's replies. Counters say how many of the
/// upcoming replies are affected (`u32::MAX` = all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Replies sent with a corrupted checksum.
    pub corrupt: u32,
    /// Replies cut short.
    pub truncate: u32,
    /// Replies preceded by garbage bytes.
    pub garbage: u32,
    /// Replies not sent at all.
    pub silence: u32,
}

/// What the simulated device received, for tests and the status line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Received {
    /// When it was parsed.
    pub at: Instant,
    /// Speed commanded to motor 1 (left by default), in the protocol's own
    /// units (RoboClaw counts/s, Dynamixel 0.229 rpm units, ROSArduinoBridge
    /// ticks per PID frame...).
    pub m1: f64,
    /// Speed commanded to motor 2.
    pub m2: f64,
}

/// Counters and logs shared between the simulator thread and its handle.
#[derive(Clone, Debug, Default)]
pub struct SimState {
    /// Faults still to inject.
    pub faults: Faults,
    /// Every speed command the device accepted, in order.
    pub received: Vec<Received>,
    /// Requests rejected for a bad checksum.
    pub checksum_rejects: u64,
    /// Bytes or commands the device could not parse.
    pub malformed: u64,
    /// Times the device's own timeout stopped the motors.
    pub hw_timeouts: u64,
    /// The device's timeout as last programmed (None = disabled).
    pub hw_timeout: Option<Duration>,
    /// The motor model.
    pub model: MotorModel,
    /// Current pty slave path.
    pub pty: PathBuf,
    /// Bytes received since start (lets a test wait until the device has
    /// seen everything a write-only driver sent).
    pub bytes_received: u64,
    /// Chunks of input that restarted the device's own timeout (what the
    /// driver sent to keep it from firing).
    pub feeds: u64,
}

impl SimState {
    /// Counts a request the device rejected, by why: the device discards it
    /// (and, for most protocols, sends nothing, so the host's read times out).
    pub fn reject(&mut self, kind: crate::proto::BadKind) {
        match kind {
            crate::proto::BadKind::Checksum => self.checksum_rejects += 1,
            crate::proto::BadKind::Malformed | crate::proto::BadKind::Implausible => self.malformed += 1,
        }
    }
}

/// What a device implementation gets to act on one chunk of input.
pub struct Ctx<'a> {
    /// Wall-clock time of this input.
    pub now: Instant,
    /// Shared state (model, counters, log).
    pub state: &'a mut SimState,
    /// Replies to send, each a separate unit for fault injection.
    pub replies: Vec<Vec<u8>>,
    /// Set by the device when the input resets its failsafe timer.
    pub fed: bool,
}

impl Ctx<'_> {
    /// Records an accepted speed command (native units).
    pub fn record(&mut self, m1: f64, m2: f64) {
        self.state.received.push(Received { at: self.now, m1, m2 });
    }
}

/// Runs `parse` over `rx` until it needs more bytes: each complete frame is
/// removed and handed to `on_frame`; bytes the device rejects are removed
/// and counted (devices answer nothing to them, so the host times out).
pub fn each_frame<T>(
    rx: &mut Vec<u8>,
    ctx: &mut Ctx,
    parse: impl Fn(&[u8]) -> crate::proto::Parse<T>,
    mut on_frame: impl FnMut(T, &mut Ctx),
) {
    use crate::proto::Parse;
    loop {
        match parse(rx) {
            Parse::Need => return,
            Parse::Bad { used, kind } => {
                ctx.state.reject(kind);
                rx.drain(..used);
            }
            Parse::Done { value, used, .. } => {
                rx.drain(..used);
                on_frame(value, ctx);
            }
        }
    }
}

/// A simulated controller: parses requests, answers, drives the model.
pub trait SimDevice: Send + 'static {
    /// Consumes complete requests from the front of `rx` (leaving a partial
    /// one), acting on each and pushing replies into `ctx.replies`.
    fn handle(&mut self, rx: &mut Vec<u8>, ctx: &mut Ctx);
    /// Called once when the device's own timeout expires: stop the motors.
    fn on_timeout(&mut self, state: &mut SimState) {
        state.model.target = [0.0; 2];
    }
    /// Corrupts a reply the way line noise would break its checksum.
    fn corrupt(&self, reply: &mut Vec<u8>) {
        if let Some(b) = reply.last_mut() {
            *b ^= 0x5A;
        }
    }
}

/// Options for starting a simulator.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// A stable symlink to (re)point at the pty slave.
    pub link: Option<PathBuf>,
    /// Initial faults.
    pub faults: Faults,
}

struct Shared {
    state: Mutex<SimState>,
    stop: AtomicBool,
    vanished: AtomicBool,
}

/// A running simulator. Dropping it stops the thread and removes the link.
pub struct SimHandle {
    shared: Arc<Shared>,
    link: Option<PathBuf>,
    thread: Option<JoinHandle<()>>,
}

fn open_pty() -> std::io::Result<(PtyMaster, PathBuf)> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    // Raw mode so that a user tool opening the slave sees bytes unchanged
    // (serialport also sets raw mode itself when the driver opens it).
    if let Ok(slave) = std::fs::OpenOptions::new().read(true).write(true).open(&name)
        && let Ok(mut t) = nix::sys::termios::tcgetattr(&slave)
    {
        nix::sys::termios::cfmakeraw(&mut t);
        let _ = nix::sys::termios::tcsetattr(&slave, nix::sys::termios::SetArg::TCSANOW, &t);
    }
    Ok((master, PathBuf::from(name)))
}

fn point_link(link: &Path, target: &Path) -> std::io::Result<()> {
    // Replace atomically: a driver polling the path never sees it half made.
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

impl SimHandle {
    /// Starts `device` on a fresh pty in a background thread.
    pub fn start(device: impl SimDevice, opts: SimOptions) -> std::io::Result<SimHandle> {
        let (master, pty) = open_pty()?;
        if let Some(l) = &opts.link {
            point_link(l, &pty)?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState { faults: opts.faults, pty, ..Default::default() }),
            stop: AtomicBool::new(false),
            vanished: AtomicBool::new(false),
        });
        let s2 = shared.clone();
        let link = opts.link.clone();
        let thread =
            std::thread::Builder::new().name("sim-motor".into()).spawn(move || run(device, master, s2, link))?;
        Ok(SimHandle { shared, link: opts.link, thread: Some(thread) })
    }

    /// The path to point a driver at: the stable link if any, else the pty.
    pub fn path(&self) -> PathBuf {
        self.link.clone().unwrap_or_else(|| self.state().pty.clone())
    }

    /// Locks and returns the shared state (faults, logs, model).
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the faults to inject from now on.
    pub fn set_faults(&self, f: Faults) {
        self.state().faults = f;
    }

    /// The speed commands received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    /// Closes the pty and removes the link, like unplugging the adapter.
    /// The motor model keeps running: a real controller stays powered, and
    /// only its own timeout stops it.
    pub fn vanish(&self) {
        self.shared.vanished.store(true, Ordering::SeqCst);
    }

    /// Opens a new pty and points the link at it, like plugging back in.
    pub fn reappear(&self) {
        self.shared.vanished.store(false, Ordering::SeqCst);
    }

    /// Waits until `pred` holds for the state or `timeout` passes; returns
    /// whether it held. Tests use it with generous timeouts.
    pub fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&SimState) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(&self.state()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(l) = &self.link {
            let _ = std::fs::remove_file(l);
        }
    }
}

const GARBAGE: &[u8] = &[0x00, 0x55, 0x13, 0x37, 0x0F];

fn take(n: &mut u32) -> bool {
    if *n == 0 {
        return false;
    }
    if *n != u32::MAX {
        *n -= 1;
    }
    true
}

fn run(mut device: impl SimDevice, master: PtyMaster, shared: Arc<Shared>, link: Option<PathBuf>) {
    let mut master = Some(master);
    let mut rx = Vec::new();
    let mut last_step = Instant::now();
    let mut last_fed = Instant::now();
    let mut timed_out = false;
    let mut buf = [0u8; 512];
    while !shared.stop.load(Ordering::SeqCst) {
        // Plug and unplug.
        let vanished = shared.vanished.load(Ordering::SeqCst);
        if vanished && master.is_some() {
            master = None; // closing the master hangs up the slave side
            if let Some(l) = &link {
                let _ = std::fs::remove_file(l);
            }
            rx.clear();
        } else if !vanished && master.is_none() {
            match open_pty() {
                Ok((m, pty)) => {
                    if let Some(l) = &link {
                        let _ = point_link(l, &pty);
                    }
                    shared.state.lock().unwrap_or_else(|e| e.into_inner()).pty = pty;
                    master = Some(m);
                }
                Err(e) => tracing::warn!("sim-motor: cannot open a pty: {e}"),
            }
        }
        let now = Instant::now();
        // Read whatever arrived, waiting at most 5 ms so the model and the
        // device timeout keep ticking.
        let mut got = 0;
        if let Some(m) = master.as_mut() {
            let ready = {
                let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(5u16))
                    .ok()
                    .and_then(|_| fds[0].revents())
                    .unwrap_or(PollFlags::empty())
            };
            if ready.contains(PollFlags::POLLIN) {
                match m.read(&mut buf) {
                    Ok(n) => got = n,
                    // EIO: no process has the slave open right now.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            } else if ready.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let dt = now.duration_since(last_step).as_secs_f64();
        last_step = now;
        st.model.step(dt);
        let mut out = Vec::new();
        if got > 0 {
            st.bytes_received += got as u64;
            rx.extend_from_slice(&buf[..got]);
            let mut ctx = Ctx { now, state: &mut st, replies: Vec::new(), fed: false };
            device.handle(&mut rx, &mut ctx);
            if ctx.fed {
                ctx.state.feeds += 1;
                last_fed = now;
                timed_out = false;
            }
            let replies = std::mem::take(&mut ctx.replies);
            for mut r in replies {
                let f = &mut st.faults;
                if take(&mut f.silence) {
                    continue;
                }
                if take(&mut f.corrupt) {
                    device.corrupt(&mut r);
                }
                if take(&mut f.truncate) {
                    r.truncate(r.len() / 2);
                }
                if take(&mut f.garbage) {
                    out.extend_from_slice(GARBAGE);
                }
                out.extend_from_slice(&r);
            }
        }
        if let Some(t) = st.hw_timeout
            && !timed_out
            && now.duration_since(last_fed) > t
        {
            timed_out = true;
            st.hw_timeouts += 1;
            device.on_timeout(&mut st);
        }
        drop(st);
        if !out.is_empty()
            && let Some(m) = master.as_mut()
        {
            let _ = m.write_all(&out);
        }
    }
}

/// Starts the simulator for `protocol` with its default device settings.
pub fn start(protocol: Protocol, opts: SimOptions) -> std::io::Result<SimHandle> {
    match protocol {
        Protocol::Roboclaw => SimHandle::start(RoboclawSim::new(0x80), opts),
        Protocol::Dynamixel => SimHandle::start(DynamixelSim::new([1, 2]), opts),
        Protocol::Arduino => SimHandle::start(ArduinoSim::new(), opts),
        Protocol::Sabertooth => SimHandle::start(SabertoothSim::packetized(128), opts),
        Protocol::Vesc => SimHandle::start(VescSim::new([0, 1]), opts),
        Protocol::Odrive => SimHandle::start(OdriveSim::new(), opts),
        Protocol::Pololu => SimHandle::start(PololuSim::new([1, 2]), opts),
    }
}

/// Options of `framewire sim-motor` (the command line parses them).
#[derive(Clone, Debug)]
pub struct SimMotorArgs {
    /// Which controller to simulate.
    pub protocol: Protocol,
    /// A stable path to create as a symlink to the pty (point the driver's
    /// `port` at it).
    pub link: Option<PathBuf>,
    /// Corrupt the checksum of every reply.
    pub corrupt: bool,
    /// Truncate every reply.
    pub truncate: bool,
    /// Prefix every reply with garbage bytes.
    pub garbage: bool,
    /// Never reply.
    pub silent: bool,
}

/// Runs `framewire sim-motor` until SIGINT or SIGTERM: prints the device
/// path on stdout, then a status line every few seconds on stderr.
pub fn run_sim_motor(args: &SimMotorArgs) -> std::io::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    // Block the signals before any thread exists so every thread inherits
    // the mask, then wait for them synchronously: no async handler needed.
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().map_err(std::io::Error::from)?;
    let all = |b: bool| if b { u32::MAX } else { 0 };
    let faults = Faults {
        corrupt: all(args.corrupt),
        truncate: all(args.truncate),
        garbage: all(args.garbage),
        silence: all(args.silent),
    };
    let sim = start(args.protocol, SimOptions { link: args.link.clone(), faults })?;
    println!("{}", sim.path().display());
    let _ = std::io::stdout().flush();
    let shared = sim.shared.clone();
    let report = move |shared: &Arc<Shared>| {
        let st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let last = st.received.last().map(|r| (r.m1, r.m2)).unwrap_or_default();
        eprintln!(
            "sim-motor: {} commands, last {:?}, speed {:.0}/{:.0} counts/s, {} bad checksums, {} device timeouts",
            st.received.len(),
            last,
            st.model.speed[0],
            st.model.speed[1],
            st.checksum_rejects,
            st.hw_timeouts
        );
    };
    let periodic = shared.clone();
    std::thread::spawn(move || {
        while !periodic.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(5));
            report(&periodic);
        }
    });
    let sig = set.wait().map_err(std::io::Error::from)?;
    eprintln!("sim-motor: {sig:?}, stopping");
    // A final report, so a short run also shows what the controller got.
    report(&shared);
    drop(sim);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{
        Parse, dynamixel as dx, odrive as od, pololu as pl, roboclaw as rc, sabertooth as sb, vesc as vs,
    };

    /// Opens the simulator's pty like a driver would and exchanges raw bytes.
    struct Raw(Box<dyn serialport::SerialPort>);
    impl Raw {
        fn open(sim: &SimHandle) -> Raw {
            let p = serialport::new(sim.path().to_str().unwrap(), 115200).timeout(Duration::from_millis(300));
            Raw(p.open().unwrap())
        }
        /// Sends `req` and collects whatever comes back within 300 ms.
        fn ask(&mut self, req: &[u8]) -> Vec<u8> {
            self.0.write_all(req).unwrap();
            let mut out = Vec::new();
            let mut b = [0u8; 256];
            while let Ok(n) = self.0.read(&mut b) {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&b[..n]);
                self.0.set_timeout(Duration::from_millis(60)).unwrap();
            }
            self.0.set_timeout(Duration::from_millis(300)).unwrap();
            out
        }
    }

    fn corrupt_last(mut p: Vec<u8>) -> Vec<u8> {
        *p.last_mut().unwrap() ^= 0x01;
        p
    }

    #[test]
    fn simulators_reject_bad_checksums_like_the_devices() {
        // RoboClaw: no answer at all to a bad CRC, 0xFF to a good one.
        let sim = start(Protocol::Roboclaw, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        assert_eq!(r.ask(&corrupt_last(rc::mixed_speed(0x80, 100, 100))), b"");
        assert_eq!(r.ask(&rc::mixed_speed(0x80, 100, 100)), vec![rc::ACK]);
        assert_eq!(sim.state().checksum_rejects, 1);
        assert_eq!(sim.state().model.target, [100.0, 100.0]);

        // Dynamixel: a unicast packet with a bad CRC gets the CRC Error status.
        let sim = start(Protocol::Dynamixel, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        let reply = r.ask(&corrupt_last(dx::ping(1)));
        match dx::parse(&reply) {
            Parse::Done { value, .. } => assert_eq!(value.error(), Some(dx::err::CRC)),
            other => panic!("{other:?}"),
        }
        let reply = r.ask(&dx::write(1, dx::addr::OPERATING_MODE, &[1]));
        assert!(matches!(dx::parse(&reply), Parse::Done { value, .. } if value.error() == Some(0)));
        // EEPROM is locked while torque is on: Access Error, as on the servo.
        r.ask(&dx::write(1, dx::addr::TORQUE_ENABLE, &[1]));
        let reply = r.ask(&dx::write(1, dx::addr::OPERATING_MODE, &[3]));
        assert!(matches!(dx::parse(&reply), Parse::Done { value, .. } if value.error() == Some(dx::err::ACCESS)));

        // Sabertooth: a bad checksum is ignored (it never answers anyway).
        let sim = start(Protocol::Sabertooth, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        r.ask(&corrupt_last(sb::motor(128, 1, 100).to_vec()));
        assert!(sim.wait_for(Duration::from_secs(5), |s| s.checksum_rejects == 1));
        assert_eq!(sim.state().model.target, [0.0, 0.0]);

        // VESC: a bad CRC is dropped; GET_VALUES answers a full 6.x frame.
        let sim = start(Protocol::Vesc, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        let f = vs::frame(&vs::get_values());
        let mut bad = f.clone();
        bad[3] ^= 1;
        assert_eq!(r.ask(&bad), b"");
        match vs::parse(&r.ask(&f)) {
            Parse::Done { value, .. } => assert_eq!(value.len(), vs::VALUES_LEN),
            other => panic!("{other:?}"),
        }

        // ODrive: a line with a wrong checksum is ignored; replies carry one.
        let sim = start(Protocol::Odrive, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        assert_eq!(r.ask(b"r vbus_voltage *1\n"), b"");
        let reply = r.ask(&od::read("vbus_voltage", true));
        assert!(matches!(od::parse_reply(&reply, true), Parse::Done { value, .. } if value == "24.0"));

        // Pololu: a data byte with bit 7 set is a format error: no answer.
        let sim = start(Protocol::Pololu, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        assert_eq!(r.ask(&[0xAA, 1, 0x21, 0x95]), b"");
        assert_eq!(r.ask(&pl::get_variable(pl::Framing::Device(1), pl::var::INPUT_VOLTAGE)), 12_100u16.to_le_bytes());
    }

    /// Issue 11, item 14: what the vendors' own libraries expect of the
    /// simulators, byte for byte.
    #[test]
    fn simulators_answer_like_the_devices_manuals() {
        // VESC (bldc commands.c, COMM_FW_VERSION): id, major, minor, HW_NAME
        // NUL, 12 UUID bytes, pairing_done, FW_TEST_VERSION_NUMBER,
        // HW_TYPE_VESC, custom config count, phase filters, QML hw, QML app,
        // NRF flags, FW_NAME NUL. It used to be id, major, minor only.
        let sim = start(Protocol::Vesc, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        let reply = r.ask(&vs::frame(&vs::fw_version()));
        let Parse::Done { value, .. } = vs::parse(&reply) else { panic!("{reply:?}") };
        let mut want = vec![0x00, 6, 2, b'6', b'0', 0];
        want.extend_from_slice(&[0x30; 12]);
        want.extend_from_slice(&[0; 9]);
        assert_eq!(value, want);
        // Through CAN to the second VESC: its own UUID.
        let reply = r.ask(&vs::frame(&vs::forward_can(1, &vs::fw_version())));
        let Parse::Done { value, .. } = vs::parse(&reply) else { panic!("{reply:?}") };
        assert_eq!(vs::FwVersion::decode(&value).unwrap().uuid, [0x31; 12]);

        // Pololu SMC (User's Guide 6.2.1). Both controllers obey a compact
        // command, but only one answers a compact Get Variable: two bytes.
        let sim = start(Protocol::Pololu, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        assert_eq!(r.ask(&pl::get_variable(pl::Framing::Compact, pl::var::INPUT_VOLTAGE)), 12_100u16.to_le_bytes());
        r.ask(&pl::exit_safe_start(pl::Framing::Compact));
        // Motor Forward 7-bit, "half-speed forward (63)": 0x89, 0x3F, obeyed by both.
        r.ask(&[0x89, 0x3F]);
        let half = (63.0 * 3200.0 / 127.0f64).round();
        let target = |r: &mut Raw, d: u8| {
            let v = r.ask(&pl::get_variable(pl::Framing::Device(d), pl::var::TARGET_SPEED));
            i16::from_le_bytes([v[0], v[1]]) as f64
        };
        assert_eq!((target(&mut r, 1), target(&mut r, 2)), (half, half));
        // Motor Reverse 7-bit to device 2 only: 0xAA, 2, 0x0A, 127 = full reverse.
        r.ask(&[0xAA, 2, 0x0A, 127]);
        assert_eq!((target(&mut r, 1), target(&mut r, 2)), (half, -3200.0));
        assert_eq!(sim.received().last().map(|x| (x.m1, x.m2)), Some((half, -3200.0)));
        // Stop Motor (0xAA, device, 0x60): target zero and safe start again.
        r.ask(&[0xAA, 1, 0x60]);
        assert_eq!(target(&mut r, 1), 0.0);
        let err = |r: &mut Raw, d: u8| {
            let v = r.ask(&pl::get_variable(pl::Framing::Device(d), pl::var::ERROR_STATUS));
            u16::from_le_bytes([v[0], v[1]])
        };
        assert_eq!(err(&mut r, 1) & pl::ERR_SAFE_START, pl::ERR_SAFE_START);
        assert_eq!(err(&mut r, 2) & pl::ERR_SAFE_START, 0);
        // The command timeout (1 s) fires; reading Error Status shows it and
        // does not clear it; a motor command does.
        assert!(sim.wait_for(Duration::from_secs(5), |s| s.hw_timeouts >= 1));
        assert_eq!(err(&mut r, 2) & pl::ERR_COMMAND_TIMEOUT, pl::ERR_COMMAND_TIMEOUT);
        assert_eq!(err(&mut r, 2) & pl::ERR_COMMAND_TIMEOUT, pl::ERR_COMMAND_TIMEOUT, "reading does not clear it");
        r.ask(&pl::set_speed(pl::Framing::Device(2), 0));
        assert_eq!(err(&mut r, 2) & pl::ERR_COMMAND_TIMEOUT, 0);
        // Errors Occurred (variable 1) latches the timeout until read.
        let occurred = r.ask(&pl::get_variable(pl::Framing::Device(2), pl::var::ERRORS_OCCURRED));
        assert_eq!(u16::from_le_bytes([occurred[0], occurred[1]]) & pl::ERR_COMMAND_TIMEOUT, pl::ERR_COMMAND_TIMEOUT);
        let occurred = r.ask(&pl::get_variable(pl::Framing::Device(2), pl::var::ERRORS_OCCURRED));
        assert_eq!(occurred, [0, 0]);

        // RoboClaw user manual: 35/36 "Drive M1/M2 With Signed Speed"
        // [address, cmd, speed (4 bytes), CRC]; 38/39 "... With Signed Speed
        // And Acceleration" [address, cmd, accel (4), speed (4), CRC]. Each
        // is acknowledged with 0xFF and now logged like 37 and 40.
        let sim = start(Protocol::Roboclaw, SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        assert_eq!(r.ask(&rc::write_packet(0x80, 35, &1000i32.to_be_bytes())), [rc::ACK]);
        assert_eq!(r.ask(&rc::write_packet(0x80, 36, &(-500i32).to_be_bytes())), [rc::ACK]);
        let accel_speed = |a: u32, v: i32| [a.to_be_bytes(), v.to_be_bytes()].concat();
        assert_eq!(r.ask(&rc::write_packet(0x80, 38, &accel_speed(5000, 700))), [rc::ACK]);
        assert_eq!(r.ask(&rc::write_packet(0x80, 39, &accel_speed(5000, -700))), [rc::ACK]);
        let log: Vec<(f64, f64)> = sim.received().iter().map(|x| (x.m1, x.m2)).collect();
        assert_eq!(log, [(1000.0, 0.0), (1000.0, -500.0), (700.0, -500.0), (700.0, -700.0)]);

        // Sabertooth simplified serial (2x25 / 2x32 manuals): 128 is motor
        // 2's full reverse, 64 steps below its stop (192); 255 full forward.
        let sim = SimHandle::start(SabertoothSim::simplified(), SimOptions::default()).unwrap();
        let mut r = Raw::open(&sim);
        r.ask(&[1, 128]);
        assert!(sim.wait_for(Duration::from_secs(5), |s| s.received.len() == 1));
        assert_eq!(sim.state().model.target, [-sabertooth::FULL_SPEED, -sabertooth::FULL_SPEED]);
        r.ask(&[127, 255]);
        assert!(sim.wait_for(Duration::from_secs(5), |s| s.received.len() == 2));
        assert_eq!(sim.state().model.target, [sabertooth::FULL_SPEED, sabertooth::FULL_SPEED]);
    }
}
