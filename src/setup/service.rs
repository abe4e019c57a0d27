//! A systemd unit that runs a pipeline at boot.
//!
//! The unit starts once the pipeline's devices exist (`BindsTo=` and
//! `After=` on their device units, which exist because the udev rules tag
//! them `TAG+="systemd"`), restarts the pipeline on failure, and stops it
//! cleanly: SIGTERM goes to the supervisor alone (`KillMode=mixed`), which
//! stops the actuators first and every other block after them; only what is
//! still running after `TimeoutStopSec` is killed.

use std::fmt::Write;
use std::path::Path;

/// systemd's escaping of a path into a unit name (`systemd-escape --path`):
/// `/dev/framewire/camera0` becomes `dev-framewire-camera0`.
pub fn escape_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    let mut out = String::new();
    for (i, c) in trimmed.bytes().enumerate() {
        match c {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            c if c.is_ascii_alphanumeric() || c == b':' || c == b'_' || c == b'.' => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

/// The `.device` unit of device node `path`.
pub fn device_unit(path: &str) -> String {
    format!("{}.device", escape_path(path))
}

/// What the unit runs.
#[derive(Clone, Debug)]
pub struct ServiceSpec<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// Its file (absolute).
    pub file: &'a Path,
    /// The `framewire` binary (absolute).
    pub binary: &'a Path,
    /// The user it runs as.
    pub user: &'a str,
    /// Device nodes it needs (from the pipeline's device parameters).
    pub devices: Vec<String>,
    /// Seconds each block gets to stop (`--grace`).
    pub grace_s: u64,
    /// Blocks in the pipeline (the stop timeout covers each one's grace).
    pub blocks: usize,
}

/// The unit file's text.
pub fn unit(spec: &ServiceSpec<'_>) -> String {
    let mut s = String::new();
    let units: Vec<String> = spec.devices.iter().map(|d| device_unit(d)).collect();
    let _ = writeln!(s, "# framewire pipeline {} as a boot service, written by `framewire service`.", spec.pipeline);
    let _ = writeln!(s, "# Install: sudo cp THIS_FILE /etc/systemd/system/framewire-{}.service", spec.pipeline);
    let _ = writeln!(
        s,
        "#          sudo systemctl daemon-reload && sudo systemctl enable --now framewire-{}",
        spec.pipeline
    );
    let _ = writeln!(s, "[Unit]");
    let _ = writeln!(s, "Description=framewire pipeline {} ({})", spec.pipeline, spec.file.display());
    if !units.is_empty() {
        let _ = writeln!(s, "# Start when the devices appear; stop if one goes away (udev tags them for systemd).");
        let _ = writeln!(s, "BindsTo={}", units.join(" "));
        let _ = writeln!(s, "After={}", units.join(" "));
    }
    let _ = writeln!(s, "# Give up after 5 failures within 60 s (framewire restarts single blocks itself).");
    let _ = writeln!(s, "StartLimitIntervalSec=60");
    let _ = writeln!(s, "StartLimitBurst=5");
    let _ = writeln!(s);
    let _ = writeln!(s, "[Service]");
    let _ = writeln!(s, "Type=exec");
    let _ = writeln!(s, "User={}", spec.user);
    let _ = writeln!(s, "SupplementaryGroups=video dialout");
    let _ = writeln!(s, "ExecStart={} run {} --grace {}", spec.binary.display(), spec.file.display(), spec.grace_s);
    let _ = writeln!(s, "# SIGTERM to the supervisor only: it stops the motors first, then the rest in order.");
    let _ = writeln!(s, "KillSignal=SIGTERM");
    let _ = writeln!(s, "KillMode=mixed");
    let _ = writeln!(s, "TimeoutStopSec={}", spec.grace_s * spec.blocks.max(1) as u64 + 5);
    let _ = writeln!(s, "Restart=on-failure");
    let _ = writeln!(s, "RestartSec=2");
    let _ = writeln!(s);
    let _ = writeln!(s, "[Install]");
    let _ = writeln!(s, "WantedBy=multi-user.target");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_as_systemd_escapes_them() {
        assert_eq!(escape_path("/dev/framewire/camera0"), "dev-framewire-camera0");
        assert_eq!(
            device_unit("/dev/serial/by-id/usb-03eb_USB_Roboclaw-if00"),
            "dev-serial-by\\x2did-usb\\x2d03eb_USB_Roboclaw\\x2dif00.device"
        );
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("/.hidden"), "\\x2ehidden");
    }

    #[test]
    fn the_unit_binds_to_its_devices_and_stops_the_supervisor_first() {
        let u = unit(&ServiceSpec {
            pipeline: "robot",
            file: Path::new("/etc/framewire/robot.toml"),
            binary: Path::new("/usr/local/bin/framewire"),
            user: "robot",
            devices: vec!["/dev/framewire/camera0".into(), "/dev/framewire/motors".into()],
            grace_s: 3,
            blocks: 6,
        });
        assert!(u.contains("BindsTo=dev-framewire-camera0.device dev-framewire-motors.device\n"), "{u}");
        assert!(u.contains("After=dev-framewire-camera0.device dev-framewire-motors.device\n"), "{u}");
        assert!(u.contains("KillMode=mixed\n") && u.contains("TimeoutStopSec=23\n"), "{u}");
        assert!(u.contains("ExecStart=/usr/local/bin/framewire run /etc/framewire/robot.toml --grace 3\n"), "{u}");
    }
}
