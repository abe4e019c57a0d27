//! End-to-end tests: driver → real pseudo-terminal → simulated controller.
//!
//! Timing: every wait has a generous bound and asserts behaviour (what the
//! controller received, in which order), never speed, so a loaded 2-core
//! machine does not make them flaky. The deadman tests drive
//! [`Driver::tick`] with a synthetic clock, which makes "stop within
//! timeout + one period" exact while the I/O stays real.

use super::diff::{DiffDrive, Geometry};
use super::driver::{
    ArduinoBackend, Backend, Driver, DriverConfig, DynamixelBackend, OdriveBackend, PololuBackend, RoboclawBackend,
    SabertoothBackend, SabertoothMode, VescBackend,
};
use super::serial::LinkConfig;
use super::sim::{self, Faults, SimHandle, SimOptions};
use super::{MotorError, Protocol};
use framewire_sdk::msg::{DriveCommand, WheelCommand};
use std::f64::consts::TAU;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(10);

/// The deadman of the tests, and the controllers' own timeout programmed
/// from it.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_millis(600);
/// Generous, since a loaded machine may schedule the simulator late; three
/// attempts fit in [`COMMAND_TIMEOUT`], as validation requires.
pub(super) const REPLY_TIMEOUT: Duration = Duration::from_millis(200);

fn geometry() -> Geometry {
    Geometry { wheel_radius: 0.05, track_width: 0.3, counts_per_rev: 1000.0, max_wheel_speed: 20.0, accel_limit: 0.0 }
}

/// A directory of one test's own under the temporary directory, removed on
/// drop: simulator links never collide with another test's, another run's
/// or a user's (`/tmp/framewire-roboclaw` is the README's example path).
pub(super) struct TestDir(PathBuf);

impl TestDir {
    pub(super) fn new(name: &str) -> TestDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("fw-motor-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TestDir(d)
    }

    /// The path of the simulator's link in this directory.
    pub(super) fn link(&self) -> PathBuf {
        self.0.join("port")
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A simulator with a link in a directory of its own (dropped first, then
/// the directory).
pub(super) struct Sim {
    handle: SimHandle,
    _dir: TestDir,
}

impl std::ops::Deref for Sim {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Sim {
    pub(super) fn start(p: Protocol, name: &str, faults: Faults) -> Sim {
        Sim::with(name, faults, |opts| sim::start(p, opts))
    }

    pub(super) fn with(
        name: &str,
        faults: Faults,
        start: impl FnOnce(SimOptions) -> std::io::Result<SimHandle>,
    ) -> Sim {
        let dir = TestDir::new(name);
        let handle = start(SimOptions { link: Some(dir.link()), faults }).unwrap();
        Sim { handle, _dir: dir }
    }
}

/// The tests' driver settings for the port at `path`.
pub(super) fn driver_config(path: &std::path::Path) -> DriverConfig {
    let mut lc = LinkConfig::new(path.to_str().unwrap(), 115200);
    lc.reply_timeout = REPLY_TIMEOUT;
    lc.quiet_gap = Duration::from_millis(40);
    lc.reconnect_interval = Duration::from_millis(50);
    DriverConfig { command_timeout: COMMAND_TIMEOUT, ..DriverConfig::new(lc, geometry()) }
}

fn backend(p: Protocol) -> Box<dyn Backend> {
    match p {
        Protocol::Roboclaw => Box::new(RoboclawBackend::new(0x80, geometry().counts_per_rev, None)),
        Protocol::Dynamixel => Box::new(DynamixelBackend::new([1, 2])),
        Protocol::Arduino => Box::new(ArduinoBackend::new(geometry().counts_per_rev, 30.0, Some([20, 12, 0, 50]))),
        Protocol::Sabertooth => {
            Box::new(SabertoothBackend { mode: SabertoothMode::Packetized(128), max_wheel_speed: 20.0 })
        }
        Protocol::Vesc => Box::new(VescBackend::new(1, 7.0, 1.0)),
        Protocol::Odrive => Box::new(OdriveBackend::new(1.0, true)),
        Protocol::Pololu => Box::new(PololuBackend::new([1, 2], 20.0)),
    }
}

fn setup(p: Protocol, name: &str, faults: Faults) -> (Sim, Driver) {
    let sim = Sim::start(p, name, faults);
    let d = Driver::new(driver_config(&sim.path()), backend(p)).unwrap();
    (sim, d)
}

/// The speed a protocol's simulator records for `rad_s`, in its own units.
fn native(p: Protocol, rad_s: f64) -> f64 {
    let cps = rad_s * geometry().counts_per_rev / TAU;
    match p {
        Protocol::Roboclaw => cps.round(),
        Protocol::Dynamixel => super::proto::dynamixel::velocity_units(rad_s) as f64,
        Protocol::Arduino => (cps / 30.0).round(),
        Protocol::Sabertooth => (rad_s / 20.0 * 127.0).round(),
        Protocol::Vesc => (rad_s * 60.0 / TAU * 7.0).round(),
        Protocol::Odrive => (rad_s / TAU * 1e4).round() / 1e4,
        Protocol::Pololu => (rad_s / 20.0 * 3200.0).round(),
    }
}

/// Whether two speeds in a protocol's units match (ODrive sends decimals).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 * b.abs().max(1.0)
}

fn assert_speeds(p: Protocol, got: (f64, f64), want: (f64, f64)) {
    assert!(same(got.0, want.0) && same(got.1, want.1), "{p:?}: got {got:?}, want {want:?}");
}

/// Protocols whose controllers report encoder positions.
fn has_encoders(p: Protocol) -> bool {
    !matches!(p, Protocol::Sabertooth | Protocol::Pololu)
}

const ALL: [Protocol; 7] = [
    Protocol::Roboclaw,
    Protocol::Dynamixel,
    Protocol::Arduino,
    Protocol::Sabertooth,
    Protocol::Vesc,
    Protocol::Odrive,
    Protocol::Pololu,
];

/// Waits until the simulator has read every byte the driver wrote (write-only
/// protocols such as Sabertooth get no reply to synchronise on).
fn sync(sim: &SimHandle, d: &Driver) {
    let sent = d.stats().bytes_sent;
    assert!(sim.wait_for(LONG, |s| s.bytes_received >= sent), "simulator fell behind");
}

/// Ticks with real time until `n` ticks have talked to the controller.
fn run_ticks(d: &mut Driver, n: usize, cmd: Option<WheelCommand>) -> Vec<Result<(), String>> {
    let mut out = Vec::new();
    while out.len() < n {
        match d.tick(Instant::now(), cmd) {
            Ok(Some(_)) => out.push(Ok(())),
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                out.push(Err(e.to_string()));
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    out
}

fn end_to_end(p: Protocol) {
    let (sim, mut d) = setup(p, &format!("e2e-{p:?}"), Faults::default());
    // Drive command wire → differential drive → driver.
    let mut dd = DiffDrive::new(geometry());
    let w = dd.update(DriveCommand { linear: 0.25, angular: 1.0 }, 0.05);
    assert_eq!((w.left, w.right), (2.0, 8.0)); // (0.25 ∓ 1.0·0.15) / 0.05
    let mut odom = None;
    let mut errors = 0;
    let mut ticks = 0;
    for _ in 0..200 {
        match d.tick(Instant::now(), Some(w)) {
            Ok(Some(o)) => {
                odom = Some(o);
                ticks += 1;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                errors += 1;
                eprintln!("{e}");
            }
        }
        if odom.is_some_and(|o| o.x > 0.05) {
            break;
        }
    }
    sync(&sim, &d);
    let st = sim.state();
    // The first thing after connecting was a stop.
    assert_eq!((st.received[0].m1, st.received[0].m2), (0.0, 0.0));
    let last = st.received.last().unwrap();
    assert_speeds(p, (last.m1, last.m2), (native(p, 2.0), native(p, 8.0)));
    // The device's own timeout: what framewire sent, not the simulator's
    // defaults (issue 12). Where the protocol can program it, the value is
    // the one framewire programmed; where it cannot (the sketch's
    // AUTO_STOP_INTERVAL, the VESC's app setting, the SMC's setting), every
    // tick's commands fed it.
    match p {
        Protocol::Arduino | Protocol::Vesc | Protocol::Pololu => {
            assert!(st.feeds >= ticks, "{p:?}: {} feeds for {ticks} ticks", st.feeds)
        }
        _ => assert_eq!(st.hw_timeout, Some(COMMAND_TIMEOUT), "{p:?}: programmed from command_timeout"),
    }
    drop(st);
    let o = odom.expect("odometry");
    if has_encoders(p) {
        assert!(o.left_counts > 0 && o.right_counts > o.left_counts, "{p:?} {o:?}");
    }
    assert!(o.x > 0.05 && o.heading > 0.0, "{p:?}: moving forward, turning left: {o:?}");
    assert_eq!(errors, 0);
}

fn deadman(p: Protocol) {
    let (sim, mut d) = setup(p, &format!("deadman-{p:?}"), Faults::default());
    let period = d.period();
    let timeout = COMMAND_TIMEOUT;
    let cmd = WheelCommand { left: 2.0, right: 2.0 };
    let t0 = Instant::now();
    let last_cmd_at = t0 + period * 10;
    let mut stopped_at = None;
    for k in 0..40u32 {
        let now = t0 + period * k;
        let c = (now <= last_cmd_at).then_some(cmd);
        d.tick(now, c).unwrap_or_else(|e| panic!("{p:?} tick {k}: {e}"));
        sync(&sim, &d);
        let last = *sim.received().last().unwrap();
        if now > last_cmd_at && last.m1 == 0.0 && last.m2 == 0.0 && stopped_at.is_none() {
            stopped_at = Some(now);
        }
        if now <= last_cmd_at && k > 2 {
            assert!(same(last.m1, native(p, 2.0)), "{p:?}: driving before the deadman: {last:?}");
        }
    }
    let s = stopped_at.expect("controller got a stop");
    assert!(s.duration_since(last_cmd_at) <= timeout + period, "{:?}", s.duration_since(last_cmd_at));
    assert!(d.deadman_active());
}

/// If framewire dies, the controller's own timeout (programmed from
/// command_timeout) stops the motors.
fn hardware_timeout(p: Protocol) {
    let (sim, mut d) = setup(p, &format!("hwto-{p:?}"), Faults::default());
    run_ticks(&mut d, 5, Some(WheelCommand { left: 5.0, right: 5.0 }));
    sync(&sim, &d);
    assert!(sim.state().model.target[0] > 0.0);
    drop(d); // the driver "crashes": nothing more is sent
    assert!(sim.wait_for(LONG, |s| s.hw_timeouts >= 1 && s.model.target == [0.0, 0.0]), "{p:?}");
}

#[test]
fn roboclaw_hardware_timeout() {
    hardware_timeout(Protocol::Roboclaw);
    let (sim, mut d) = setup(Protocol::Roboclaw, "hwto-value", Faults::default());
    run_ticks(&mut d, 1, None);
    assert_eq!(sim.state().hw_timeout, Some(COMMAND_TIMEOUT));
}

#[test]
fn other_hardware_timeouts() {
    for p in [Protocol::Arduino, Protocol::Sabertooth, Protocol::Vesc, Protocol::Odrive, Protocol::Pololu] {
        hardware_timeout(p);
    }
    // Programmed from command_timeout where the protocol allows it.
    for p in [Protocol::Sabertooth, Protocol::Odrive] {
        let (sim, mut d) = setup(p, &format!("hwto-value-{p:?}"), Faults::default());
        run_ticks(&mut d, 2, None);
        assert_eq!(sim.state().hw_timeout, Some(COMMAND_TIMEOUT), "{p:?}");
    }
}

#[test]
fn dynamixel_bus_watchdog() {
    hardware_timeout(Protocol::Dynamixel);
    let (sim, mut d) = setup(Protocol::Dynamixel, "wd-value", Faults::default());
    run_ticks(&mut d, 1, None);
    // 600 ms = 30 units of 20 ms.
    assert_eq!(sim.state().hw_timeout, Some(COMMAND_TIMEOUT));
}

fn fault(p: Protocol, f: Faults, check: impl Fn(&super::serial::LinkStats) -> bool) {
    let (sim, mut d) = setup(
        p,
        &format!("fault-{p:?}-{}", f.corrupt + 2 * f.truncate + 4 * f.garbage + 8 * f.silence),
        Faults::default(),
    );
    let w = WheelCommand { left: 1.0, right: -1.0 };
    assert!(run_ticks(&mut d, 3, Some(w)).iter().all(|r| r.is_ok()));
    sim.set_faults(f);
    // Bounded retries absorb a few bad replies; ticks may fail while the
    // faults last, but never hang, and the driver recovers afterwards.
    let _ = run_ticks(&mut d, 4, Some(w));
    sim.set_faults(Faults::default());
    let after = run_ticks(&mut d, 6, Some(w));
    assert!(after[2..].iter().all(|r| r.is_ok()), "{p:?} {f:?}: {after:?}");
    let s = d.stats();
    assert!(check(&s), "{p:?} {f:?}: {s:?}");
    sync(&sim, &d);
    let last = *sim.received().last().unwrap();
    assert_speeds(p, (last.m1, last.m2), (native(p, 1.0), native(p, -1.0)));
}

fn all_faults(p: Protocol) {
    let only = |f: Faults| f;
    if p == Protocol::Pololu {
        // Pololu replies carry no checksum and no framing: only a value out
        // of range gives corruption (or leading garbage) away. The
        // simulator's corruption turns a speed of a few hundred into tens of
        // thousands, beyond ±3200.
        let corrupt = only(Faults { corrupt: 2, ..Default::default() });
        fault(p, corrupt, |s| s.implausible >= 1 && s.retries >= 1);
    } else {
        let corrupt = only(Faults { corrupt: 2, ..Default::default() });
        fault(p, corrupt, |s| s.checksum_errors + s.resyncs >= 1 && s.retries >= 1);
        let garbage = only(Faults { garbage: 3, ..Default::default() });
        fault(p, garbage, |s| s.resyncs >= 1 && s.garbage_bytes >= 5);
    }
    let truncate = only(Faults { truncate: 2, ..Default::default() });
    fault(p, truncate, |s| s.truncated + s.timeouts >= 1 && s.retries >= 1);
    let silence = only(Faults { silence: 3, ..Default::default() });
    fault(p, silence, |s| s.timeouts >= 1 && s.retries >= 1);
    // Permanent silence: every tick fails in bounded time.
    let (sim, mut d) = setup(p, &format!("silent-{p:?}"), Faults::default());
    run_ticks(&mut d, 2, None);
    sim.set_faults(Faults { silence: u32::MAX, ..Default::default() });
    let t = Instant::now();
    let r = run_ticks(&mut d, 2, Some(WheelCommand { left: 1.0, right: 1.0 }));
    assert!(r.iter().all(|r| r.as_ref().is_err_and(|e| e.contains("no valid reply"))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(30));
}

fn vanish_and_return(p: Protocol) {
    let (sim, mut d) = setup(p, &format!("vanish-{p:?}"), Faults::default());
    let w = WheelCommand { left: 4.0, right: 4.0 };
    run_ticks(&mut d, 3, Some(w));
    let before = sim.received().len();
    sim.vanish();
    // The driver notices within a few ticks and keeps failing fast.
    let t = Instant::now();
    let mut lost = false;
    while t.elapsed() < LONG && !lost {
        if let Err(e) = d.tick(Instant::now(), Some(w)) {
            lost = matches!(e, MotorError::Disconnected(_) | MotorError::Open(_));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(lost, "driver saw the port go");
    assert!(d.stats().port_losses >= 1);
    for _ in 0..5 {
        let _ = d.tick(Instant::now(), Some(w));
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = sim.received().len();
    sim.reappear();
    // Back: the first command after reconnecting is a stop, then driving.
    let t = Instant::now();
    while t.elapsed() < LONG && sim.received().len() < n + 3 {
        let _ = d.tick(Instant::now(), Some(w));
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = sim.received();
    assert!(r.len() >= n + 3 && n >= before, "{p:?}: reconnected");
    assert_eq!((r[n].m1, r[n].m2), (0.0, 0.0), "{p:?}: stop first");
    let last = r.last().unwrap();
    assert!(same(last.m1, native(p, 4.0)), "{p:?}: {last:?}");
    assert!(d.stats().connects >= 2);
}

/// The driver stalls longer than the controller's failsafe (which fires
/// and latches), then resumes: it notices and configures the controller
/// again, and the wheels turn again.
fn latched_failsafe_recovers(p: Protocol) {
    let (sim, mut d) = setup(p, &format!("latch-{p:?}"), Faults::default());
    let w = WheelCommand { left: 3.0, right: 3.0 };
    run_ticks(&mut d, 3, Some(w));
    assert!(sim.wait_for(LONG, |s| s.hw_timeouts >= 1 && s.model.target == [0.0, 0.0]), "{p:?}: failsafe fired");
    let t = Instant::now();
    while t.elapsed() < LONG && sim.state().model.target[0] <= 0.0 {
        let _ = run_ticks(&mut d, 1, Some(w));
    }
    assert!(sim.state().model.target[0] > 0.0, "{p:?}: driving again after the latch");
}

#[test]
fn dynamixel_and_odrive_latched_failsafe_recovers() {
    latched_failsafe_recovers(Protocol::Dynamixel);
    latched_failsafe_recovers(Protocol::Odrive);
}

#[test]
fn every_protocol_has_a_simulator() {
    for p in ALL {
        let sim = sim::start(p, SimOptions::default()).unwrap();
        assert!(sim.path().exists(), "{p:?}");
    }
}

#[test]
fn inversion_and_swap_reach_the_right_motor() {
    let sim = Sim::start(Protocol::Roboclaw, "swap", Faults::default());
    let cfg = DriverConfig { swap: true, invert_right: true, ..driver_config(&sim.path()) };
    let mut d = Driver::new(cfg, backend(Protocol::Roboclaw)).unwrap();
    run_ticks(&mut d, 3, Some(WheelCommand { left: 1.0, right: 2.0 }));
    let last = *sim.received().last().unwrap();
    // Left on M2, right on M1 reversed.
    assert_eq!((last.m1, last.m2), (native(Protocol::Roboclaw, -2.0), native(Protocol::Roboclaw, 1.0)));
}

#[test]
fn config_validation() {
    let cfg = DriverConfig { rate_hz: 2.0, ..DriverConfig::new(LinkConfig::new("/dev/null", 38400), geometry()) };
    let e = Driver::new(cfg, backend(Protocol::Roboclaw)).err().unwrap();
    assert!(e.to_string().contains("at least two periods"), "{e}");
}

#[test]
fn sabertooth_simplified_serial() {
    let sim = Sim::with("saber-simple", Faults::default(), |o| SimHandle::start(sim::SabertoothSim::simplified(), o));
    let backend = SabertoothBackend { mode: SabertoothMode::Simplified, max_wheel_speed: 20.0 };
    let mut d = Driver::new(driver_config(&sim.path()), Box::new(backend)).unwrap();
    // Half of max_wheel_speed is half of ±63 around the stop bytes 64 / 192.
    run_ticks(&mut d, 3, Some(WheelCommand { left: 10.0, right: -10.0 }));
    sync(&sim, &d);
    let r = sim.received();
    assert_eq!((r[0].m1, r[0].m2), (0.0, 0.0), "stop first");
    assert_eq!(r.last().map(|l| (l.m1, l.m2)), Some((32.0, -32.0)));
    // Simplified serial has no timeout of its own: the deadman is the only
    // failsafe, and it works.
    run_ticks(&mut d, 20, None);
    sync(&sim, &d);
    assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((0.0, 0.0)));
    assert_eq!(sim.state().hw_timeout, None);
}

/// Issue 11, item 9: a port that is not a serial port fails at once with
/// an error that says so; one that never opens fails after
/// connect_timeout, naming the port, the cause and what to do. Neither
/// retries forever while looking healthy.
#[test]
fn a_port_that_never_connects_is_a_failure() {
    let dir = TestDir::new("never");
    let file = dir.0.join("not-a-port");
    std::fs::write(&file, b"").unwrap();
    for (path, want) in [
        ("/dev/null".to_string(), "is a character device but not a serial port (not a terminal"),
        (file.to_str().unwrap().to_string(), "is a regular file, not a serial port"),
        (dir.0.to_str().unwrap().to_string(), "is a directory, not a serial port"),
    ] {
        let mut d = Driver::new(driver_config(std::path::Path::new(&path)), backend(Protocol::Roboclaw)).unwrap();
        let e = d.tick(Instant::now(), None).unwrap_err();
        assert!(e.is_fatal() && matches!(e, MotorError::NotSerial(_)), "{path}: {e:?}");
        let m = e.to_string();
        assert!(m.contains(&path) && m.contains(want) && m.contains("/dev/serial/by-id/"), "{m}");
    }
    // Missing: retried (it may be plugged in late) until connect_timeout.
    let missing = dir.0.join("unplugged");
    let cfg = DriverConfig { connect_timeout: Duration::from_millis(300), ..driver_config(&missing) };
    let mut d = Driver::new(cfg, backend(Protocol::Roboclaw)).unwrap();
    let t0 = Instant::now();
    let first = d.tick(t0, None).unwrap_err();
    assert!(!first.is_fatal(), "{first}");
    assert!(matches!(d.link_status().unwrap().state, super::driver::LinkState::Connecting { .. }));
    let mut e = first;
    let mut now = t0;
    while !e.is_fatal() && now < t0 + Duration::from_secs(5) {
        now += Duration::from_millis(50);
        e = d.tick(now, None).unwrap_err();
    }
    assert!(matches!(e, MotorError::NeverConnected(_)), "{e:?}");
    assert!(now >= t0 + Duration::from_millis(300), "not before connect_timeout");
    let m = e.to_string();
    for want in [missing.to_str().unwrap(), "connect_timeout_ms = 300 ms", "does not exist", "plugged in"] {
        assert!(m.contains(want), "{want:?} in {m}");
    }
    // A controller that never answers (wrong baud, wrong address) is no
    // better than a missing port.
    let sim = Sim::start(Protocol::Roboclaw, "never-answers", Faults { silence: u32::MAX, ..Default::default() });
    let cfg = DriverConfig { connect_timeout: Duration::from_millis(300), ..driver_config(&sim.path()) };
    let mut d = Driver::new(cfg, backend(Protocol::Roboclaw)).unwrap();
    let t0 = Instant::now();
    let r = loop {
        match d.tick(Instant::now(), None) {
            Err(e) if e.is_fatal() || t0.elapsed() > LONG => break e,
            _ => {}
        }
    };
    assert!(matches!(r, MotorError::NeverConnected(_)) && r.to_string().contains("no valid reply"), "{r}");
}

/// Issue 11, item 9: the driver's link state goes connecting → connected →
/// lost → connected, with the last error while it is not connected.
#[test]
fn link_state_follows_the_port() {
    use super::driver::LinkState;
    let (sim, mut d) = setup(Protocol::Roboclaw, "state", Faults::default());
    assert_eq!(d.link_status(), None);
    run_ticks(&mut d, 2, None);
    let s = d.link_status().unwrap();
    assert!(matches!(s.state, LinkState::Connected { .. }) && s.last_error.is_none(), "{s:?}");
    sim.vanish();
    let t = Instant::now();
    while t.elapsed() < LONG && !matches!(d.link_status().unwrap().state, LinkState::Lost { .. }) {
        let _ = d.tick(Instant::now(), None);
        std::thread::sleep(Duration::from_millis(5));
    }
    let s = d.link_status().unwrap();
    assert!(matches!(s.state, LinkState::Lost { .. }), "{s:?}");
    // A few reopen attempts: the last error is the open error.
    for _ in 0..5 {
        let _ = d.tick(Instant::now(), None);
        std::thread::sleep(Duration::from_millis(30));
    }
    let e = d.link_status().unwrap().last_error.unwrap();
    assert!(e.contains("does not exist") || e.contains("lost"), "{e}");
    sim.reappear();
    let t = Instant::now();
    while t.elapsed() < LONG && !matches!(d.link_status().unwrap().state, LinkState::Connected { .. }) {
        let _ = d.tick(Instant::now(), None);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(d.link_status().unwrap().state, LinkState::Connected { .. }));
}

/// Issue 11, item 15: repeated errors of one kind are logged once, then
/// summarised once per window with their count.
#[test]
fn link_errors_are_rate_limited_per_kind() {
    use super::driver::RateLimitedLog;
    let mut log = RateLimitedLog::new(Duration::from_secs(10));
    let t0 = Instant::now();
    let s = |ms: u64| t0 + Duration::from_millis(ms);
    let list = "serial port /dev/x does not exist. Serial ports present:\n  /dev/ttyUSB0";
    assert_eq!(log.note(s(0), "open", list).as_deref(), Some(list), "the first in full");
    assert_eq!(log.note(s(0), "disconnected", "not connected").as_deref(), Some("not connected"));
    // Four a second for 9.5 s: nothing.
    for k in 1..38 {
        assert_eq!(log.note(s(k * 250), "open", list), None);
        assert_eq!(log.note(s(k * 250 + 10), "disconnected", "not connected"), None);
    }
    // Then one summary line (the port list is not repeated).
    assert_eq!(
        log.note(s(10_000), "open", list).as_deref(),
        Some("serial port /dev/x does not exist. Serial ports present: (37 more in the last 10 s)")
    );
    // Back: what is left is flushed as a summary, and forgotten.
    assert_eq!(log.flush(s(10_500), true), vec!["not connected (37 more in the last 10.5 s)".to_string()]);
    assert_eq!(log.note(s(10_600), "open", list).as_deref(), Some(list));
    assert_eq!(log.emitted(), 5);

    // A real unplug of about 1.5 s: a handful of lines, not 4 a second.
    let (sim, mut d) = setup(Protocol::Roboclaw, "ratelimit", Faults::default());
    run_ticks(&mut d, 2, None);
    let before = d.warnings_logged();
    sim.vanish();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(1500) {
        let _ = d.tick(Instant::now(), None);
        std::thread::sleep(Duration::from_millis(5));
    }
    let n = d.warnings_logged() - before;
    // "link lost", then the first open error and the first "not connected"
    // (and at most one failed request before the loss was seen).
    assert!((1..=4).contains(&n), "{n} warnings during a 1.5 s unplug");
}

/// Issue 11, item 12: noise before every reply. The line protocols used to
/// throw the whole line away, so they never connected while it lasted; now
/// they skip the noise up to the reply's text (and count it).
#[test]
fn line_protocols_connect_through_noise_before_every_reply() {
    let always = Faults { garbage: u32::MAX, ..Default::default() };
    let odrive_plain: Box<dyn Backend> = Box::new(OdriveBackend::new(1.0, false));
    for (p, b) in [
        (Protocol::Arduino, backend(Protocol::Arduino)),
        (Protocol::Odrive, backend(Protocol::Odrive)),
        (Protocol::Odrive, odrive_plain),
    ] {
        let sim = Sim::start(p, &format!("noise-{p:?}"), always);
        let mut d = Driver::new(driver_config(&sim.path()), b).unwrap();
        let r = run_ticks(&mut d, 4, Some(WheelCommand { left: 2.0, right: 8.0 }));
        assert!(r.iter().all(|r| r.is_ok()), "{p:?}: {r:?}");
        sync(&sim, &d);
        let last = *sim.received().last().unwrap();
        assert_speeds(p, (last.m1, last.m2), (native(p, 2.0), native(p, 8.0)));
        let s = d.stats();
        // Five noise bytes before each reply, every one skipped.
        assert!(s.resyncs >= 4 && s.garbage_bytes >= 5 * s.replies && s.retries == 0, "{p:?}: {s:?}");
    }
}

/// Issue 11, item 13: a VESC on firmware 2.x answers COMM_GET_VALUES in
/// another layout (read with the 3.x one: 300 V, 32,768,000 ERPM). The
/// driver asks the firmware version on connection and refuses it, saying
/// what to do; it is a failure, not a retry.
#[test]
fn vesc_firmware_before_3_is_refused() {
    let sim =
        Sim::with("vesc-fw2", Faults::default(), |o| SimHandle::start(sim::VescSim::with_firmware([0, 1], 2, 18), o));
    let mut d = Driver::new(driver_config(&sim.path()), backend(Protocol::Vesc)).unwrap();
    let e = d.tick(Instant::now(), Some(WheelCommand { left: 1.0, right: 1.0 })).unwrap_err();
    assert!(e.is_fatal(), "{e:?}");
    let m = e.to_string();
    assert!(m.contains("runs firmware 2.18") && m.contains("3.0 or later") && m.contains("VESC Tool"), "{m}");
    // It never drove: the only command the controller got is the stop
    // sent before anything else.
    sync(&sim, &d);
    assert!(sim.received().iter().all(|r| (r.m1, r.m2) == (0.0, 0.0)));
}

/// Issue 11, item 14: full scale reaches both ends of both motors in
/// simplified serial; motor 2's full reverse is 128 (it was 129).
#[test]
fn sabertooth_simplified_full_scale() {
    let sim = Sim::with("saber-full", Faults::default(), |o| SimHandle::start(sim::SabertoothSim::simplified(), o));
    let backend = SabertoothBackend { mode: SabertoothMode::Simplified, max_wheel_speed: 20.0 };
    let mut d = Driver::new(driver_config(&sim.path()), Box::new(backend)).unwrap();
    run_ticks(&mut d, 2, Some(WheelCommand { left: -20.0, right: -20.0 }));
    sync(&sim, &d);
    // Recorded as steps from the stop byte: 1 = 64 - 63, 128 = 192 - 64.
    assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((-63.0, -64.0)));
    assert_eq!(sim.state().model.target, [-super::sim::SABERTOOTH_FULL_SPEED, -super::sim::SABERTOOTH_FULL_SPEED]);
    run_ticks(&mut d, 2, Some(WheelCommand { left: 20.0, right: 20.0 }));
    sync(&sim, &d);
    assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((63.0, 63.0)));
}

/// One test per protocol for a scenario, named `scenario::protocol`, so a
/// failure names its protocol and the scenarios run in parallel.
macro_rules! per_protocol {
    ($scenario:ident: $($name:ident => $p:ident),+ $(,)?) => {
        mod $scenario {
            use super::*;
            $(
                #[test]
                fn $name() {
                    super::$scenario(Protocol::$p)
                }
            )+
        }
    };
}

per_protocol!(end_to_end: roboclaw => Roboclaw, dynamixel => Dynamixel, arduino => Arduino, sabertooth => Sabertooth, vesc => Vesc, odrive => Odrive, pololu => Pololu);
per_protocol!(deadman: roboclaw => Roboclaw, dynamixel => Dynamixel, arduino => Arduino, sabertooth => Sabertooth, vesc => Vesc, odrive => Odrive, pololu => Pololu);
per_protocol!(vanish_and_return: roboclaw => Roboclaw, dynamixel => Dynamixel, arduino => Arduino, sabertooth => Sabertooth, vesc => Vesc, odrive => Odrive, pololu => Pololu);
// Sabertooth never replies, so reply faults do not apply to it.
per_protocol!(all_faults: roboclaw => Roboclaw, dynamixel => Dynamixel, arduino => Arduino, vesc => Vesc, odrive => Odrive, pololu => Pololu);
