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
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(10);

fn geometry() -> Geometry {
    Geometry { wheel_radius: 0.05, track_width: 0.3, counts_per_rev: 1000.0, max_wheel_speed: 20.0, accel_limit: 0.0 }
}

fn link_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fw-motor-{}-{name}", std::process::id()))
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

fn setup(p: Protocol, name: &str, faults: Faults) -> (SimHandle, Driver) {
    let link = link_path(name);
    let sim = sim::start(p, SimOptions { link: Some(link.clone()), faults }).unwrap();
    let mut lc = LinkConfig::new(link.to_str().unwrap(), 115200);
    // Generous: a loaded machine may schedule the simulator late.
    lc.reply_timeout = Duration::from_millis(400);
    lc.quiet_gap = Duration::from_millis(40);
    lc.reconnect_interval = Duration::from_millis(50);
    let cfg = DriverConfig {
        link: lc,
        geometry: geometry(),
        rate_hz: 20.0,
        command_timeout: Duration::from_millis(300),
        swap: false,
        invert_left: false,
        invert_right: false,
    };
    let d = Driver::new(cfg, backend(p)).unwrap();
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
    for _ in 0..200 {
        match d.tick(Instant::now(), Some(w)) {
            Ok(Some(o)) => odom = Some(o),
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
    assert!(st.hw_timeout.is_some(), "{p:?}: the device's own timeout is armed");
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
    let timeout = Duration::from_millis(300);
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
    assert_eq!(sim.state().hw_timeout, Some(Duration::from_millis(300)));
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
        assert_eq!(sim.state().hw_timeout, Some(Duration::from_millis(300)), "{p:?}");
    }
}

#[test]
fn dynamixel_bus_watchdog() {
    hardware_timeout(Protocol::Dynamixel);
    let (sim, mut d) = setup(Protocol::Dynamixel, "wd-value", Faults::default());
    run_ticks(&mut d, 1, None);
    // 300 ms = 15 units of 20 ms.
    assert_eq!(sim.state().hw_timeout, Some(Duration::from_millis(300)));
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
    if p != Protocol::Pololu {
        // Pololu replies carry no checksum and no framing: corruption and
        // leading garbage cannot be detected (see proto::pololu).
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
    let (sim, d) = setup(Protocol::Roboclaw, "swap", Faults::default());
    drop(d);
    let mut cfg_d = {
        let mut lc = LinkConfig::new(sim.path().to_str().unwrap(), 38400);
        lc.reply_timeout = Duration::from_millis(400);
        DriverConfig {
            link: lc,
            geometry: geometry(),
            rate_hz: 20.0,
            command_timeout: Duration::from_millis(300),
            swap: true,
            invert_left: false,
            invert_right: true,
        }
    };
    cfg_d.link.quiet_gap = Duration::from_millis(40);
    let mut d = Driver::new(cfg_d, backend(Protocol::Roboclaw)).unwrap();
    run_ticks(&mut d, 3, Some(WheelCommand { left: 1.0, right: 2.0 }));
    let last = *sim.received().last().unwrap();
    // Left on M2, right on M1 reversed.
    assert_eq!((last.m1, last.m2), (native(Protocol::Roboclaw, -2.0), native(Protocol::Roboclaw, 1.0)));
}

#[test]
fn config_validation() {
    let lc = LinkConfig::new("/dev/null", 38400);
    let cfg = DriverConfig {
        link: lc,
        geometry: geometry(),
        rate_hz: 2.0,
        command_timeout: Duration::from_millis(300),
        swap: false,
        invert_left: false,
        invert_right: false,
    };
    let e = Driver::new(cfg, backend(Protocol::Roboclaw)).err().unwrap();
    assert!(e.to_string().contains("at least two periods"), "{e}");
}

#[test]
fn sabertooth_simplified_serial() {
    let link = link_path("saber-simple");
    let sim = SimHandle::start(
        sim::SabertoothSim::simplified(),
        SimOptions { link: Some(link.clone()), ..Default::default() },
    )
    .unwrap();
    let cfg = DriverConfig {
        link: LinkConfig::new(link.to_str().unwrap(), 9600),
        geometry: geometry(),
        rate_hz: 20.0,
        command_timeout: Duration::from_millis(300),
        swap: false,
        invert_left: false,
        invert_right: false,
    };
    let backend = SabertoothBackend { mode: SabertoothMode::Simplified, max_wheel_speed: 20.0 };
    let mut d = Driver::new(cfg, Box::new(backend)).unwrap();
    // Half of max_wheel_speed is half of ±63 around the stop bytes 64 / 192.
    run_ticks(&mut d, 3, Some(WheelCommand { left: 10.0, right: -10.0 }));
    sync(&sim, &d);
    let r = sim.received();
    assert_eq!((r[0].m1, r[0].m2), (0.0, 0.0), "stop first");
    assert_eq!(r.last().map(|l| (l.m1, l.m2)), Some((32.0, -32.0)));
    // Simplified serial has no timeout of its own: the deadman is the only
    // failsafe, and it works.
    run_ticks(&mut d, 10, None);
    sync(&sim, &d);
    assert_eq!(sim.received().last().map(|l| (l.m1, l.m2)), Some((0.0, 0.0)));
    assert_eq!(sim.state().hw_timeout, None);
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

/// A new command is written as soon as it arrives, not at the next period,
/// and the age of the frame it came from is recorded when its bytes go out.
#[test]
fn a_new_command_is_written_at_once_and_its_latency_recorded() {
    let link = link_path("at-once");
    let sim = sim::start(Protocol::Roboclaw, SimOptions { link: Some(link.clone()), ..Default::default() }).unwrap();
    let mut lc = LinkConfig::new(link.to_str().unwrap(), 38400);
    lc.reply_timeout = Duration::from_millis(400);
    // A period of 2 s: the test makes no second periodic tick, so anything
    // the controller receives after the first one was sent on arrival.
    let cfg = DriverConfig {
        link: lc,
        geometry: geometry(),
        rate_hz: 0.5,
        command_timeout: Duration::from_secs(5),
        swap: false,
        invert_left: false,
        invert_right: false,
    };
    let mut d = Driver::new(cfg, backend(Protocol::Roboclaw)).unwrap();
    let t0 = Instant::now();
    assert!(d.tick(t0, None).unwrap().is_some(), "the first tick connects and reads feedback");
    let before = sim.received().len();
    let captured = framewire_sdk::monotonic_ns().saturating_sub(3_000_000); // a frame 3 ms old
    d.note_source(captured);
    let w = WheelCommand { left: 2.0, right: 4.0 };
    assert!(d.tick(t0 + Duration::from_millis(1), Some(w)).unwrap().is_none(), "not a periodic tick");
    let want = (native(Protocol::Roboclaw, 2.0), native(Protocol::Roboclaw, 4.0));
    assert!(
        sim.wait_for(LONG, |s| s.received.len() > before && s.received.last().is_some_and(|r| (r.m1, r.m2) == want)),
        "the command reached the controller without waiting for the period: {:?}",
        sim.received()
    );
    let lat = d.latency();
    assert_eq!(lat.count(), 1, "one command from a frame was written");
    assert!(lat.max() >= 3_000_000, "at least the frame's age when noted: {} ns", lat.max());
    // A command with no noted source records nothing; the same command
    // resent at the next period is not counted again.
    lat.clear();
    d.tick(t0 + Duration::from_millis(2), Some(w)).unwrap();
    assert!(d.tick(t0 + Duration::from_secs(3), None).unwrap().is_some());
    assert_eq!(d.latency().count(), 0);
}
