//! udev rules for stable device names.
//!
//! `/dev/ttyACM0` becomes `/dev/ttyACM1` after a replug and `/dev/video0`
//! swaps with `/dev/video2` when a second camera appears. A rule that
//! matches a device by its USB vendor and product id and its serial number
//! gives it a name of its own (`/dev/framewire/motors`) wherever it is
//! plugged in, the group that may use it (`video`, `dialout`), mode 0660
//! (never 0666), `TAG+="systemd"` so a boot service can wait for it, and,
//! for serial adapters, keeps ModemManager from probing it (a probe sends
//! AT commands to the motor controller).
//!
//! [`rule_for`] reads what sysfs says of a device (a pure function of a
//! sysfs tree, so tests use fake ones); `framewire udev` writes the rules
//! for the devices actually plugged in.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What kind of device a rule names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A V4L2 capture node (`video4linux`), group `video`.
    Camera,
    /// A serial port (`tty`), group `dialout`.
    Serial,
}

impl Kind {
    fn subsystem(self) -> &'static str {
        match self {
            Kind::Camera => "video4linux",
            Kind::Serial => "tty",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Kind::Camera => "video",
            Kind::Serial => "dialout",
        }
    }
}

/// Why a rule cannot be written for a device.
#[derive(Debug, thiserror::Error)]
pub enum UdevError {
    /// The device node does not exist or is not a character device.
    #[error("{path}: {reason}")]
    NotADevice {
        /// The node.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// sysfs says nothing of it.
    #[error("{path}: sysfs has no entry {sys} for it ({reason})")]
    NoSysfs {
        /// The node.
        path: PathBuf,
        /// The sysfs path looked at.
        sys: PathBuf,
        /// The error.
        reason: String,
    },
    /// It is not of the kind asked for.
    #[error("{path} is a {found} device, not a {wanted} one")]
    WrongKind {
        /// The node.
        path: PathBuf,
        /// Its subsystem.
        found: String,
        /// The one asked for.
        wanted: &'static str,
    },
    /// It is not on USB, so nothing identifies it but its place.
    #[error(
        "{path} is not a USB device (it has no idVendor/idProduct above it in sysfs); its kernel name is already stable, use it as it is"
    )]
    NotUsb {
        /// The node.
        path: PathBuf,
    },
}

/// What sysfs says of a USB device, and the rule that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRule {
    /// The name under `/dev`, e.g. `framewire/motors`.
    pub name: String,
    /// Kind of device.
    pub kind: Kind,
    /// USB vendor id (4 hex digits).
    pub vendor: String,
    /// USB product id.
    pub product: String,
    /// USB serial number, if the device has one.
    pub serial: Option<String>,
    /// Manufacturer and product strings, for the comment.
    pub description: String,
    /// The USB port path (`1-1.2`), used when there is no serial number.
    pub port: String,
    /// The interface number, when the device has several nodes of this kind.
    pub interface: Option<String>,
    /// The V4L2 node index (0 = the capture node; 1 = metadata).
    pub video_index: Option<String>,
}

impl DeviceRule {
    /// The rule, with a comment saying what it matches and why.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}: {} ({}:{})", self.name, self.description, self.vendor, self.product);
        let mut keys = vec![
            format!("SUBSYSTEM==\"{}\"", self.kind.subsystem()),
            format!("ATTRS{{idVendor}}==\"{}\"", self.vendor),
            format!("ATTRS{{idProduct}}==\"{}\"", self.product),
        ];
        match &self.serial {
            Some(sn) => keys.push(format!("ATTRS{{serial}}==\"{}\"", escape(sn))),
            None => {
                let _ = writeln!(
                    s,
                    "# It reports no serial number, so it is matched by the USB port it is plugged into ({}): keep it there.",
                    self.port
                );
                keys.push(format!("KERNELS==\"{}\"", escape(&self.port)));
            }
        }
        if let Some(i) = &self.interface {
            keys.push(format!("ENV{{ID_USB_INTERFACE_NUM}}==\"{i}\""));
        }
        if let Some(i) = &self.video_index {
            keys.push(format!("ATTR{{index}}==\"{i}\""));
        }
        keys.push(format!("SYMLINK+=\"{}\"", self.name));
        keys.push(format!("GROUP=\"{}\"", self.kind.group()));
        keys.push("MODE=\"0660\"".into());
        if self.kind == Kind::Serial {
            keys.push("ENV{ID_MM_DEVICE_IGNORE}=\"1\"".into());
        }
        keys.push("TAG+=\"systemd\"".into());
        let _ = writeln!(s, "{}", keys.join(", "));
        s
    }
}

/// Escapes a value for a udev match string (quotes and backslashes).
fn escape(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).map(|c| if c == '"' || c == '\\' { '?' } else { c }).collect()
}

fn read_attr(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The rule naming character device `major:minor` (found at `path`)
/// `name` under `/dev`, from the sysfs tree at `sys`.
pub fn rule_for(
    sys: &Path,
    path: &Path,
    major: u64,
    minor: u64,
    kind: Kind,
    name: &str,
) -> Result<DeviceRule, UdevError> {
    let link = sys.join(format!("dev/char/{major}:{minor}"));
    let node = std::fs::canonicalize(&link).map_err(|e| UdevError::NoSysfs {
        path: path.into(),
        sys: link.clone(),
        reason: e.to_string(),
    })?;
    let subsystem = std::fs::read_link(node.join("subsystem"))
        .ok()
        .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if subsystem != kind.subsystem() {
        return Err(UdevError::WrongKind { path: path.into(), found: subsystem, wanted: kind.subsystem() });
    }
    let video_index = if kind == Kind::Camera { read_attr(&node, "index") } else { None };
    // Up from the node to the USB device: the first directory with ids.
    let mut dir = node.clone();
    let mut interface_dir: Option<PathBuf> = None;
    let usb = loop {
        if read_attr(&dir, "idVendor").is_some() && read_attr(&dir, "idProduct").is_some() {
            break dir;
        }
        if read_attr(&dir, "bInterfaceNumber").is_some() {
            interface_dir = Some(dir.clone());
        }
        match dir.parent() {
            Some(p) if p.starts_with(sys) && p != sys => dir = p.to_path_buf(),
            _ => return Err(UdevError::NotUsb { path: path.into() }),
        }
    };
    // Which interface, if the device has several nodes of this kind (a
    // dual-channel FTDI, a board with two CDC ports).
    let nodes_of_kind = count_nodes(&usb, kind.subsystem());
    let interface =
        if nodes_of_kind > 1 { interface_dir.as_deref().and_then(|d| read_attr(d, "bInterfaceNumber")) } else { None };
    let manufacturer = read_attr(&usb, "manufacturer").unwrap_or_default();
    let product_name = read_attr(&usb, "product").unwrap_or_default();
    let description = match (manufacturer.is_empty(), product_name.is_empty()) {
        (false, false) => format!("{manufacturer} {product_name}"),
        (true, false) => product_name,
        (false, true) => manufacturer,
        (true, true) => "USB device".into(),
    };
    Ok(DeviceRule {
        name: name.trim_start_matches('/').trim_start_matches("dev/").to_string(),
        kind,
        vendor: read_attr(&usb, "idVendor").unwrap_or_default(),
        product: read_attr(&usb, "idProduct").unwrap_or_default(),
        serial: read_attr(&usb, "serial"),
        description,
        port: usb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        interface,
        video_index,
    })
}

/// How many device nodes of `subsystem` (with a `dev` file) lie under `dir`.
fn count_nodes(dir: &Path, subsystem: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            // Do not follow symlinks (sysfs has loops through them).
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|f| f == subsystem) {
                n += std::fs::read_dir(&p).map(|r| r.count()).unwrap_or(0);
            } else {
                stack.push(p);
            }
        }
    }
    n
}

/// The rule for device node `path` (resolved through symlinks).
pub fn rule_for_node(sys: &Path, path: &Path, kind: Kind, name: &str) -> Result<DeviceRule, UdevError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path)
        .map_err(|e| UdevError::NotADevice { path: path.into(), reason: e.to_string().to_lowercase() })?;
    if !meta.file_type().is_char_device() {
        return Err(UdevError::NotADevice { path: path.into(), reason: "not a character device".into() });
    }
    let (major, minor) = (nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
    rule_for(sys, path, major, minor, kind, name)
}

/// A whole rules file for `rules`, with the header that says what it is.
pub fn rules_file(rules: &[DeviceRule]) -> String {
    let mut s = String::from(
        "# Stable names for this robot's devices, written by `framewire udev` from sysfs.\n\
         # Install: sudo cp THIS_FILE /etc/udev/rules.d/70-framewire.rules\n\
         #          sudo udevadm control --reload && sudo udevadm trigger\n\
         # Then the pipelines name /dev/framewire/... and a replug into another port changes nothing.\n\n",
    );
    for r in rules {
        s.push_str(&r.render());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs with one USB device `usb` (ids, serial) whose interface
    /// `usb:1.0` holds node `name` of `subsystem` at `major:minor`.
    pub(crate) fn fake_sysfs(
        root: &Path,
        usb: &str,
        ids: (&str, &str),
        serial: Option<&str>,
        subsystem: &str,
        node: &str,
        dev: (u64, u64),
    ) {
        let usbdir = root.join("devices/pci0000:00/0000:00:14.0/usb1").join(usb);
        let iface = usbdir.join(format!("{usb}:1.0"));
        let nodedir = iface.join(subsystem).join(node);
        std::fs::create_dir_all(&nodedir).unwrap();
        std::fs::write(usbdir.join("idVendor"), format!("{}\n", ids.0)).unwrap();
        std::fs::write(usbdir.join("idProduct"), format!("{}\n", ids.1)).unwrap();
        std::fs::write(usbdir.join("manufacturer"), "Basicmicro\n").unwrap();
        std::fs::write(usbdir.join("product"), "USB Roboclaw 2x15A\n").unwrap();
        if let Some(sn) = serial {
            std::fs::write(usbdir.join("serial"), format!("{sn}\n")).unwrap();
        }
        std::fs::write(iface.join("bInterfaceNumber"), "00\n").unwrap();
        std::fs::write(nodedir.join("dev"), format!("{}:{}\n", dev.0, dev.1)).unwrap();
        if subsystem == "video4linux" {
            std::fs::write(nodedir.join("index"), "0\n").unwrap();
        }
        let class = root.join("class").join(subsystem);
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&class, nodedir.join("subsystem")).unwrap();
        let chardir = root.join("dev/char");
        std::fs::create_dir_all(&chardir).unwrap();
        std::os::unix::fs::symlink(&nodedir, chardir.join(format!("{}:{}", dev.0, dev.1))).unwrap();
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("framewire-udev-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_usb_serial_controller_is_named_by_ids_and_serial() {
        let sys = tmp("serial");
        fake_sysfs(&sys, "1-1.2", ("03eb", "2404"), Some("A1B2C3"), "tty", "ttyACM0", (166, 0));
        let r = rule_for(&sys, Path::new("/dev/ttyACM0"), 166, 0, Kind::Serial, "framewire/motors").unwrap();
        assert_eq!(
            r.render(),
            "# framewire/motors: Basicmicro USB Roboclaw 2x15A (03eb:2404)\n\
             SUBSYSTEM==\"tty\", ATTRS{idVendor}==\"03eb\", ATTRS{idProduct}==\"2404\", ATTRS{serial}==\"A1B2C3\", \
             SYMLINK+=\"framewire/motors\", GROUP=\"dialout\", MODE=\"0660\", ENV{ID_MM_DEVICE_IGNORE}=\"1\", TAG+=\"systemd\"\n"
        );
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn a_device_without_serial_is_named_by_its_port_and_says_so() {
        let sys = tmp("noserial");
        fake_sysfs(&sys, "1-1.4", ("1a86", "7523"), None, "tty", "ttyUSB0", (188, 0));
        let r = rule_for(&sys, Path::new("/dev/ttyUSB0"), 188, 0, Kind::Serial, "framewire/motors").unwrap();
        let text = r.render();
        assert!(text.contains("KERNELS==\"1-1.4\""), "{text}");
        assert!(text.contains("no serial number, so it is matched by the USB port"), "{text}");
        assert!(!text.contains("0666"));
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn a_camera_is_named_by_its_capture_node() {
        let sys = tmp("cam");
        fake_sysfs(&sys, "1-2", ("046d", "082d"), Some("8D2E"), "video4linux", "video0", (81, 0));
        let r = rule_for(&sys, Path::new("/dev/video0"), 81, 0, Kind::Camera, "/dev/framewire/camera0").unwrap();
        let text = r.render();
        assert!(text.contains("SUBSYSTEM==\"video4linux\""), "{text}");
        assert!(text.contains("ATTR{index}==\"0\""), "{text}");
        assert!(text.contains("SYMLINK+=\"framewire/camera0\", GROUP=\"video\", MODE=\"0660\""), "{text}");
        assert!(!text.contains("ID_MM_DEVICE_IGNORE"), "{text}");
        // Asked for a serial port, the camera is refused by kind.
        let e = rule_for(&sys, Path::new("/dev/video0"), 81, 0, Kind::Serial, "x").unwrap_err();
        assert!(e.to_string().contains("is a video4linux device, not a tty one"), "{e}");
        std::fs::remove_dir_all(&sys).unwrap();
    }

    #[test]
    fn a_device_not_on_usb_is_refused_with_the_reason() {
        let sys = tmp("pnp");
        let node = sys.join("devices/pnp0/00:00/tty/ttyS0");
        std::fs::create_dir_all(&node).unwrap();
        std::fs::create_dir_all(sys.join("class/tty")).unwrap();
        std::os::unix::fs::symlink(sys.join("class/tty"), node.join("subsystem")).unwrap();
        std::fs::create_dir_all(sys.join("dev/char")).unwrap();
        std::os::unix::fs::symlink(&node, sys.join("dev/char/4:64")).unwrap();
        let e = rule_for(&sys, Path::new("/dev/ttyS0"), 4, 64, Kind::Serial, "framewire/motors").unwrap_err();
        assert!(matches!(e, UdevError::NotUsb { .. }), "{e}");
        let e = rule_for(&sys, Path::new("/dev/ttyX"), 9, 9, Kind::Serial, "framewire/motors").unwrap_err();
        assert!(e.to_string().contains("sysfs has no entry"), "{e}");
        std::fs::remove_dir_all(&sys).unwrap();
    }
}
