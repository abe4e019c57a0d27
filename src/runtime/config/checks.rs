//! Checks that need the machine but not the hardware: device files exist
//! and are devices of the right kind, `exec` programs exist, and hints that
//! list what is present instead.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What kind of device a parameter must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceClass {
    /// Any device file.
    Any,
    /// A terminal: a serial port (ttyUSB, ttyACM, ttyAMA, ...) or a
    /// pseudo-terminal (a simulated controller).
    Tty,
    /// A V4L2 video node.
    Video,
}

/// The sysfs class of character device `path` (`tty`, `video4linux`,
/// `mem`, ...), if it is one.
fn char_class(meta: &std::fs::Metadata) -> Option<String> {
    let (major, minor) = (nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev()));
    // UNIX98 pseudo-terminal slaves (majors 136-143) have no sysfs entry.
    if (136..=143).contains(&major) {
        return Some("tty".into());
    }
    let link = std::fs::read_link(format!("/sys/dev/char/{major}:{minor}/subsystem")).ok()?;
    link.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Checks that `path` names a device of `class`; the error says what it is
/// instead and what to do.
pub fn check_device(path: &str, class: DeviceClass) -> Result<(), (String, String)> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((format!("device {path} does not exist"), device_hint(path, class)));
        }
        Err(e) => return Err((format!("device {path}: {}", super::source::io_text(&e)), access_hint(class))),
    };
    if !meta.file_type().is_char_device() {
        let what = if meta.is_dir() {
            "a directory"
        } else if meta.is_file() {
            "a regular file"
        } else {
            "not a character device"
        };
        return Err((format!("{path} is {what}, not a device"), device_hint(path, class)));
    }
    let found = char_class(&meta).unwrap_or_default();
    let (want, name) = match class {
        DeviceClass::Any => return Ok(()),
        DeviceClass::Tty => ("tty", "a serial port (tty)"),
        DeviceClass::Video => ("video4linux", "a V4L2 video device"),
    };
    if found != want {
        let is = if found.is_empty() { "another kind of device".to_string() } else { format!("a {found} device") };
        return Err((format!("{path} is {is}, not {name}"), device_hint(path, class)));
    }
    Ok(())
}

fn access_hint(class: DeviceClass) -> String {
    match class {
        DeviceClass::Video => "add the user to the `video` group (then log in again); `framewire doctor` checks".into(),
        _ => "add the user to the `dialout` group (then log in again); `framewire doctor` checks".into(),
    }
}

/// A hint listing devices of the wanted kind that are present.
pub fn device_hint(missing: &str, class: DeviceClass) -> String {
    let video = class == DeviceClass::Video
        || (class == DeviceClass::Any && (missing.contains("video") || missing.contains("v4l")));
    let mut found = Vec::new();
    let dirs: &[(&str, &str)] = if video {
        &[("/dev/framewire", "camera"), ("/dev/v4l/by-id", ""), ("/dev", "video")]
    } else {
        &[
            ("/dev/framewire", "motor"),
            ("/dev/serial/by-id", ""),
            ("/dev", "ttyUSB"),
            ("/dev", "ttyACM"),
            ("/dev", "ttyAMA"),
            ("/dev", "ttyTHS"),
        ]
    };
    for (dir, prefix) in dirs {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(prefix) {
                    found.push(format!("{dir}/{n}"));
                }
            }
        }
    }
    found.sort();
    let hint: String = match (video, found.is_empty()) {
        (true, true) => "no cameras are present: plug one in (`framewire devices` lists what V4L2 sees); without a camera, use the `sim_world` or `test_pattern` block".into(),
        (false, true) => "no serial ports are present: plug the controller in (`dmesg` shows its name), or point `port` at a simulated controller (`framewire sim-motor` prints one)".into(),
        (true, false) => format!("cameras present: {}", found.join(", ")),
        (false, false) => format!("serial ports present: {}", found.join(", ")),
    };
    if missing.starts_with("/dev/framewire/") {
        format!(
            "{hint}; /dev/framewire/... links are made by the udev rules in udev/: install them, or name the device by its /dev/v4l/by-id or /dev/serial/by-id path"
        )
    } else {
        hint
    }
}

/// Where program `prog` of an `exec` block would be run from, or why not.
pub fn find_program(prog: &str, cwd: &Path) -> Result<PathBuf, String> {
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if prog.contains('/') {
        let p = cwd.join(prog);
        return if executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(format!("{prog} is not an executable file (chmod +x it, or run it through its interpreter)"))
        } else {
            Err(format!("{prog} does not exist (relative paths start where `framewire run` is started)"))
        };
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(prog);
        if executable(&p) {
            return Ok(p);
        }
    }
    Err(format!("program {prog:?} is not found in PATH ({path}); install it, or give its path"))
}

/// The parameter a block's port error is about, if it names one: the
/// message starts with it (`fps 0 is out of range`) or quotes it.
pub fn key_in_message<'a>(message: &str, keys: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for k in keys {
        let pos = [format!("{k} "), format!("{k}:"), format!("`{k}`"), format!("{k}=")]
            .iter()
            .filter_map(|pat| {
                message
                    .match_indices(pat.as_str())
                    .map(|(i, _)| i)
                    .find(|&i| i == 0 || !message[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
            })
            .min();
        if let Some(p) = pos
            && best.is_none_or(|(b, _)| p < b)
        {
            best = Some((p, k));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_of_the_wrong_kind_are_named() {
        assert!(check_device("/dev/null", DeviceClass::Any).is_ok());
        let (m, _) = check_device("/dev/null", DeviceClass::Tty).unwrap_err();
        assert_eq!(m, "/dev/null is a mem device, not a serial port (tty)");
        let (m, _) = check_device("/etc/hostname", DeviceClass::Tty).unwrap_err();
        assert_eq!(m, "/etc/hostname is a regular file, not a device");
        let (m, h) = check_device("/dev/nonexistent-video9", DeviceClass::Video).unwrap_err();
        assert_eq!(m, "device /dev/nonexistent-video9 does not exist");
        assert!(!h.contains("sim-motor"), "a camera hint does not talk about motor simulators: {h}");
    }

    #[test]
    fn programs_are_found_or_refused() {
        assert!(find_program("sh", Path::new("/")).is_ok());
        assert!(find_program("no-such-program-xyz", Path::new("/")).unwrap_err().contains("not found in PATH"));
        assert!(find_program("./nope.sh", Path::new("/")).unwrap_err().contains("does not exist"));
        let dir = std::env::temp_dir().join(format!("framewire-prog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plain.txt"), "not a program").unwrap();
        assert!(find_program("./plain.txt", &dir).unwrap_err().contains("not an executable"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_are_found_in_messages() {
        let keys = ["fps", "format", "width"];
        assert_eq!(key_in_message("fps 0 is out of range (0, 1000]", keys.iter().copied()), Some("fps"));
        assert_eq!(key_in_message("format \"x\" is unknown", keys.iter().copied()), Some("format"));
        assert_eq!(key_in_message("size 1x1 is too small", keys.iter().copied()), None);
        assert_eq!(key_in_message("the roi_width must fit", keys.iter().copied()), None);
    }
}
