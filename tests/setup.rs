//! Living with a robot, checked against the real tools: the udev rules
//! parse in udev itself (`udevadm test`), the boot unit passes
//! `systemd-analyze verify`, and `framewire doctor` reports and exits as
//! documented.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use framewire::setup::udev::{DeviceRule, Kind, rules_file};

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Runs `udevadm test` with `rules` installed under /run/udev/rules.d and
/// returns what udev said of the file.
fn udev_says(test: &str, rules: &str) -> Option<String> {
    if !is_root() {
        skip(test, "root", "udevadm test reads rules from /run/udev/rules.d, which only root may write");
        return None;
    }
    if !have("udevadm") {
        skip(test, "udev", "udevadm is not installed (apt-get install udev)");
        return None;
    }
    let dir = Path::new("/run/udev/rules.d");
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join(format!("99-framewire-test-{}.rules", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    // Any device will do: the rules are parsed whole before matching.
    let dev = ["/sys/class/tty/ttyS0", "/sys/class/tty/tty0", "/sys/class/mem/null"]
        .into_iter()
        .find(|d| Path::new(d).exists())
        .unwrap();
    let out = Command::new("udevadm").args(["test", "--action=add", dev]).output().unwrap();
    std::fs::remove_file(&file).unwrap();
    let all = text(&out);
    assert!(all.contains(&format!("Reading rules file: {}", file.display())), "udev read the file:\n{all}");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    Some(all.lines().filter(|l| l.contains(&name)).collect::<Vec<_>>().join("\n"))
}

#[test]
fn the_shipped_serial_rules_parse_in_udev() {
    let rules =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/udev/60-framewire-serial.rules")).unwrap();
    let Some(said) = udev_says("the_shipped_serial_rules_parse_in_udev", &rules) else { return };
    assert!(!said.contains("Invalid") && !said.contains("error"), "{said}");
    assert!(!rules.contains("MODE=\"0666\""), "never world-writable");
    // The check can fail: a rule udev cannot parse is reported.
    let said =
        udev_says("the_shipped_serial_rules_parse_in_udev", "SUBSYSTEM==\"tty\", BADKEY{x}==\"1\", MODE=\"0660\"\n")
            .unwrap();
    assert!(said.contains("Invalid key"), "{said}");
}

#[test]
fn generated_rules_parse_in_udev() {
    let rules = rules_file(&[
        DeviceRule {
            name: "framewire/camera0".into(),
            kind: Kind::Camera,
            vendor: "046d".into(),
            product: "082d".into(),
            serial: Some("8D2E6B1F".into()),
            description: "Logitech HD Pro Webcam C920".into(),
            port: "1-2".into(),
            interface: None,
            video_index: Some("0".into()),
        },
        DeviceRule {
            name: "framewire/motors".into(),
            kind: Kind::Serial,
            vendor: "1a86".into(),
            product: "7523".into(),
            serial: None,
            description: "USB Serial".into(),
            port: "1-1.4".into(),
            interface: Some("00".into()),
            video_index: None,
        },
    ]);
    let Some(said) = udev_says("generated_rules_parse_in_udev", &rules) else { return };
    assert!(!said.contains("Invalid") && !said.contains("error"), "{said}\n{rules}");
}

#[test]
fn the_boot_unit_passes_systemd_analyze_and_waits_for_its_devices() {
    let test = "the_boot_unit_passes_systemd_analyze_and_waits_for_its_devices";
    let p = Prefix::new();
    // A pipeline naming a serial device: a simulated controller's link.
    let link = p.dir().join("motors");
    let _sim = SimMotor::start("roboclaw", &link);
    let cfg = temp_config(&p, "robot", &motor_pipeline(&script_block(1.0), "roboclaw", &link, "counts_per_rev = 1920"));
    let out = framewire(&p).arg("service").arg(&cfg).args(["--user", "root"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let unit = String::from_utf8(out.stdout).unwrap();
    let dev = framewire::setup::service::device_unit(link.to_str().unwrap());
    assert!(unit.contains(&format!("BindsTo={dev}\n")) && unit.contains(&format!("After={dev}\n")), "{unit}");
    assert!(unit.contains("KillMode=mixed") && unit.contains("Restart=on-failure"), "{unit}");
    if !have("systemd-analyze") {
        return skip(test, "systemd", "systemd-analyze is not installed");
    }
    let file = p.dir().join("framewire-robot.service");
    std::fs::write(&file, &unit).unwrap();
    let v = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&file).output().unwrap();
    let said = text(&v);
    assert!(v.status.success(), "{said}\n{unit}");
    for bad in ["Unknown key", "Unknown section", "bad unit file", "Invalid"] {
        assert!(!said.contains(bad), "{said}");
    }
    // The escaping is systemd's own.
    if have("systemd-escape") {
        let e = Command::new("systemd-escape").args(["--path", "--suffix=device"]).arg(&link).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&e.stdout).trim(), dev);
    }
}

#[test]
fn doctor_reports_each_finding_with_its_fix_and_exits_5_on_problems() {
    let p = Prefix::new();
    let good = temp_config(&p, "good", &pipeline("", ""));
    let out = framewire(&p).arg("doctor").arg(&good).output().unwrap();
    let all = text(&out);
    assert!(all.contains("ok      pipeline:") && all.contains("/dev/shm:"), "{all}");
    assert!(all.lines().last().unwrap_or("").starts_with("framewire doctor: "), "{all}");
    let bad = temp_config(
        &p,
        "bad",
        "[[block]]\nname = \"motors\"\ntype = \"roboclaw\"\nport = \"/dev/ttyUSB97\"\ncounts_per_rev = 1920\nwheel_radius = 0.05\ntrack_width = 0.3\nmax_wheel_speed = 20.0\n",
    );
    let out = framewire(&p).arg("doctor").arg(&bad).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(all.contains("PROBLEM pipeline:") && all.contains("/dev/ttyUSB97 does not exist"), "{all}");
    assert!(all.contains("fix: "), "{all}");
}
