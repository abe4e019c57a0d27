//! `framewire doctor`: what is wrong with this machine's setup for a
//! pipeline, each finding with its fix.
//!
//! Every check reads the machine through [`Roots`](crate::Roots), so the
//! tests run it against fake trees; the command runs it against the real
//! one. A finding is `ok`, a `warning` (works, but will bite: a container's
//! 64 MiB `/dev/shm`, `RemoveIPC=yes` for a service user) or a `problem`
//! (will fail: no permission on the motor controller).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::Roots;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// As it should be.
    Ok,
    /// Works now, but will cause trouble.
    Warning,
    /// Will fail.
    Problem,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// What was checked (`groups`, `device /dev/framewire/motors`).
    pub check: String,
    /// What was found.
    pub message: String,
    /// What to do, for warnings and problems.
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Ok => "ok     ",
            Severity::Warning => "warning",
            Severity::Problem => "PROBLEM",
        };
        write!(f, "{tag} {}: {}", self.check, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n        fix: {fix}")?;
        }
        Ok(())
    }
}

fn ok(check: &str, message: impl Into<String>) -> Finding {
    Finding { severity: Severity::Ok, check: check.into(), message: message.into(), fix: None }
}
fn warn(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { severity: Severity::Warning, check: check.into(), message: message.into(), fix: Some(fix.into()) }
}
fn problem(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { severity: Severity::Problem, check: check.into(), message: message.into(), fix: Some(fix.into()) }
}

/// Who is asking: user name and id, and the groups the process has now.
#[derive(Clone, Debug)]
pub struct Who {
    /// User name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Group ids of the running process (what a new process gets).
    pub gids: Vec<u32>,
}

impl Who {
    /// The calling process.
    pub fn current() -> Who {
        let uid = nix::unistd::getuid().as_raw();
        let mut gids: Vec<u32> = nix::unistd::getgroups().unwrap_or_default().iter().map(|g| g.as_raw()).collect();
        gids.push(nix::unistd::getgid().as_raw());
        Who { name: framewire_runtime::runfile::user_name(uid), uid, gids }
    }
}

/// `/etc/group`: name, gid, members.
fn groups(roots: &Roots) -> Vec<(String, u32, Vec<String>)> {
    std::fs::read_to_string(roots.etc.join("group"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let gid = f.get(2)?.parse().ok()?;
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect());
            Some((f[0].to_string(), gid, members.unwrap_or_default()))
        })
        .collect()
}

/// Membership in `video` (cameras) and `dialout` (serial ports).
pub fn check_groups(roots: &Roots, who: &Who) -> Vec<Finding> {
    if who.uid == 0 {
        return vec![warn(
            "groups",
            "running as root: every device opens, but a robot's pipeline should not run as root",
            "run it as a user in the video and dialout groups (`framewire service` writes a unit that does)",
        )];
    }
    let all = groups(roots);
    let mut out = Vec::new();
    for (group, what) in [("video", "cameras"), ("dialout", "serial motor controllers")] {
        let Some((_, gid, members)) = all.iter().find(|(n, _, _)| n == group) else {
            out.push(warn(
                "groups",
                format!("this system has no `{group}` group"),
                format!("check who owns the {what}' device files"),
            ));
            continue;
        };
        let listed = members.contains(&who.name);
        let active = who.gids.contains(gid);
        out.push(match (listed || active, active) {
            (_, true) => ok("groups", format!("{} is in `{group}` ({what})", who.name)),
            (true, false) => warn(
                "groups",
                format!("{} was added to `{group}` but this session does not have it yet", who.name),
                "log out and in again (or `newgrp ".to_string() + group + "`)",
            ),
            (false, _) => problem(
                "groups",
                format!("{} is not in `{group}`: {what} will refuse to open", who.name),
                format!("sudo usermod -aG {group} {}, then log out and in again", who.name),
            ),
        });
    }
    out
}

/// `/dev/shm`: room for `needed` bytes (a pipeline's wires) or, without a
/// pipeline, for a 1080p pipeline's rings.
pub fn check_shm(roots: &Roots, needed: Option<u64>) -> Finding {
    let Ok((total, free)) = framewire_sys::shm::space(&roots.shm) else {
        return problem("/dev/shm", format!("{} is missing", roots.shm.display()), "mount a tmpfs on /dev/shm");
    };
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    // A 1080p RGB camera wire with a few readers and a filter chain:
    // about six 6 MiB slots per wire and three such wires.
    let typical = 3 * 6 * 6_220_800u64;
    let want = needed.unwrap_or(typical);
    let small = "make /dev/shm larger: `docker run --shm-size=1g`, or `sudo mount -o remount,size=1G /dev/shm`";
    if free < want {
        let what = if needed.is_some() { "this pipeline's wires need" } else { "a 1080p pipeline needs about" };
        return problem(
            "/dev/shm",
            format!("{:.0} MiB free of {:.0} MiB, but {what} {:.0} MiB", mib(free), mib(total), mib(want)),
            small,
        );
    }
    if total <= 64 << 20 {
        return warn(
            "/dev/shm",
            format!("only {:.0} MiB (a container's default): 640x480 pipelines fit, 1080p rings do not", mib(total)),
            small,
        );
    }
    ok("/dev/shm", format!("{:.0} MiB free of {:.0} MiB", mib(free), mib(total)))
}

/// framewire segments left by runs whose supervisor is gone.
pub fn check_stale(roots: &Roots, uid: u32) -> Finding {
    let Ok(rd) = std::fs::read_dir(&roots.shm) else { return ok("stale segments", "none") };
    let mut stale: Vec<String> = Vec::new();
    let mut runs: Vec<(String, bool)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.starts_with("framewire") || e.metadata().map(|m| m.uid()).ok() != Some(uid) {
            continue;
        }
        if n.ends_with("._run") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let alive = framewire_runtime::supervisor::live_supervisor(&text).is_some();
            runs.push((n.trim_end_matches("._run").to_string(), alive));
        }
        names.push(n);
    }
    for n in &names {
        // A segment belongs to a run if a run file shares its prefix.pipeline.
        let run = runs.iter().find(|(p, _)| n.starts_with(&format!("{p}.")));
        match run {
            Some((_, true)) => {}
            _ => stale.push(n.clone()),
        }
    }
    if stale.is_empty() {
        return ok("stale segments", "none");
    }
    stale.sort();
    problem(
        "stale segments",
        format!("{} segment(s) left by runs whose supervisor is gone: {}", stale.len(), stale.join(", ")),
        "the next `framewire run` of each pipeline removes its own; or remove them: rm /dev/shm/<name>",
    )
}

/// The udev rules that give devices stable names.
pub fn check_udev(roots: &Roots) -> Finding {
    let dirs = [roots.etc.join("udev/rules.d"), roots.run.join("udev/rules.d")];
    let installed: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("framewire")))
        .collect();
    let links: Vec<String> = std::fs::read_dir(roots.dev.join("framewire"))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    match (installed.is_empty(), links.is_empty()) {
        (true, _) => warn(
            "udev rules",
            "no framewire udev rules are installed: devices are named by plug order (/dev/ttyACM0 may become ttyACM1)",
            "`framewire udev --camera /dev/video0 --motors /dev/ttyACM0 -o 70-framewire.rules`, then install it (udev/README.md)",
        ),
        (false, true) => warn(
            "udev rules",
            format!(
                "installed ({}) but /dev/framewire/ holds no links: the devices are unplugged, or the rules were not reloaded",
                installed[0].display()
            ),
            "plug the devices in; `sudo udevadm control --reload && sudo udevadm trigger`",
        ),
        (false, false) => ok("udev rules", format!("installed; /dev/framewire/: {}", links.join(", "))),
    }
}

/// systemd-logind's `RemoveIPC`: when on (Debian's default) and the
/// pipeline runs as a regular user (uid >= 1000), logging that user out
/// removes their shared memory, wires of a running pipeline included.
pub fn check_remove_ipc(roots: &Roots, uid: u32) -> Finding {
    let mut value = "yes".to_string();
    let mut files = vec![roots.etc.join("systemd/logind.conf")];
    if let Ok(rd) = std::fs::read_dir(roots.etc.join("systemd/logind.conf.d")) {
        let mut more: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            if let Some(v) = line.trim().strip_prefix("RemoveIPC=") {
                value = v.trim().to_ascii_lowercase();
            }
        }
    }
    let on = matches!(value.as_str(), "yes" | "true" | "1" | "on");
    if !on {
        return ok("RemoveIPC", "off: logging out never removes a pipeline's wires");
    }
    if uid != 0 && uid < 1000 {
        return ok("RemoveIPC", "on, but this is a system user, which it spares");
    }
    warn(
        "RemoveIPC",
        "on (systemd-logind's default): when this user's last session ends, logind removes their /dev/shm segments, a running pipeline's wires included",
        "run boot services as a system user (uid < 1000: `sudo useradd --system --groups video,dialout robot`), or set RemoveIPC=no in /etc/systemd/logind.conf",
    )
}

/// A device a pipeline names: it exists and this user may open it.
pub fn check_device_opens(path: &str) -> Finding {
    let check = format!("device {path}");
    let f = std::fs::OpenOptions::new().read(true).custom_flags_nonblock().open(path);
    match f {
        Ok(_) => ok(&check, "opens"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => problem(
            &check,
            "does not exist",
            "plug it in; with the udev rules installed it appears under /dev/framewire/",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let group = std::fs::metadata(path)
                .ok()
                .and_then(|m| groups(&Roots::default()).into_iter().find(|(_, g, _)| *g == m.gid()).map(|(n, _, _)| n))
                .unwrap_or_else(|| "its group".into());
            problem(
                &check,
                "permission denied",
                format!("add the user to `{group}` (sudo usermod -aG {group} $USER), then log in again"),
            )
        }
        Err(e) => problem(&check, format!("cannot open: {e}"), "check the device (dmesg)"),
    }
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}
impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking, and never this process's controlling terminal.
        self.custom_flags((nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOCTTY).bits())
    }
}

/// A camera offers the format and size a pipeline asks of it.
pub fn check_camera_format(path: &str, format: &str, width: u32, height: u32) -> Finding {
    let check = format!("camera {path}");
    let Some(fourcc) = framewire_sdk::image::FourCC::parse(format) else {
        return problem(
            &check,
            format!("unknown pixel format {format:?}"),
            "use YUYV, MJPEG, GREY, RGB24, BGR24 or NV12",
        );
    };
    let dev = match framewire_camera::Device::open(Path::new(path)) {
        Ok(d) => d,
        Err(e) => return problem(&check, e.to_string(), "`framewire devices` lists the cameras and what they offer"),
    };
    let formats = dev.formats().unwrap_or_default();
    if !formats.iter().any(|(f, _, _)| *f == fourcc) {
        let offered: Vec<String> = formats.iter().map(|(f, _, _)| f.to_string()).collect();
        return problem(
            &check,
            format!("does not offer {format} (it offers {})", offered.join(", ")),
            "pick one of those in the pipeline",
        );
    }
    use framewire_camera::FrameSize;
    let fits = dev.frame_sizes(fourcc).unwrap_or_default().iter().any(|s| match *s {
        FrameSize::Discrete { width: w, height: h } => (w, h) == (width, height),
        FrameSize::Stepwise { min, max, step, .. } => {
            (min.0..=max.0).contains(&width)
                && (min.1..=max.1).contains(&height)
                && (width - min.0).is_multiple_of(step.0.max(1))
                && (height - min.1).is_multiple_of(step.1.max(1))
        }
    });
    if fits {
        ok(&check, format!("offers {format} at {width}x{height}"))
    } else {
        warn(
            &check,
            format!("offers {format} but not exactly {width}x{height}; the driver will pick the nearest"),
            "`framewire devices` lists its sizes",
        )
    }
}

/// Everything, for `framewire doctor [PIPELINE]`.
pub fn run(roots: &Roots, who: &Who, pipeline: Option<&Path>, reg: &framewire_sdk::block::Registry) -> Vec<Finding> {
    let mut out = check_groups(roots, who);
    let mut needed = None;
    if let Some(file) = pipeline {
        match framewire_runtime::config::load(file, reg) {
            Err(e) => {
                for p in &e.problems {
                    out.push(problem("pipeline", p.to_string(), "fix the file (`framewire check` says the same)"));
                }
            }
            Ok(p) => {
                out.push(ok("pipeline", format!("{} is valid", file.display())));
                let page = 4096;
                needed = Some(
                    p.wires
                        .iter()
                        .map(|w| {
                            let c = &w.config;
                            framewire_wire::layout::Geometry::new(c.slot_size, c.slot_count, c.max_readers, page)
                                .total_size
                        })
                        .sum(),
                );
                for b in &p.blocks {
                    let Some(spec) = reg.get(&b.type_name) else { continue };
                    for param in (spec.info)().params.iter().filter(|p| p.device) {
                        if let Some(path) = b.params.get(param.name).and_then(|v| v.as_str()) {
                            out.push(check_device_opens(path));
                            if b.type_name == "camera" {
                                let g = |k: &str| b.params.get(k);
                                out.push(check_camera_format(
                                    path,
                                    g("format").and_then(|v| v.as_str()).unwrap_or(""),
                                    g("width").and_then(|v| v.as_integer()).unwrap_or(0) as u32,
                                    g("height").and_then(|v| v.as_integer()).unwrap_or(0) as u32,
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    out.push(check_shm(roots, needed));
    out.push(check_stale(roots, who.uid));
    out.push(check_udev(roots));
    out.push(check_remove_ipc(roots, who.uid));
    out
}

/// The summary line.
pub fn summary(findings: &[Finding]) -> String {
    let n = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (p, w, o) = (n(Severity::Problem), n(Severity::Warning), n(Severity::Ok));
    match (p, w) {
        (0, 0) => format!("framewire doctor: all {o} checks passed"),
        (0, w) => format!("framewire doctor: {o} ok, {w} warning(s), no problems"),
        (p, w) => format!("framewire doctor: {p} problem(s), {w} warning(s), {o} ok"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(name: &str) -> Roots {
        let d = std::env::temp_dir().join(format!("framewire-doctor-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for sub in ["etc/udev/rules.d", "etc/systemd", "dev", "sys", "shm", "run"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        Roots { etc: d.join("etc"), dev: d.join("dev"), sys: d.join("sys"), shm: d.join("shm"), run: d.join("run") }
    }

    fn who(name: &str, uid: u32, gids: &[u32]) -> Who {
        Who { name: name.into(), uid, gids: gids.to_vec() }
    }

    #[test]
    fn groups_are_checked_by_membership_and_by_session() {
        let r = fake("groups");
        std::fs::write(r.etc.join("group"), "root:x:0:\nvideo:x:44:robot\ndialout:x:20:\n").unwrap();
        let f = check_groups(&r, &who("robot", 1000, &[1000]));
        assert_eq!(f[0].severity, Severity::Warning, "{f:?}");
        assert!(f[0].message.contains("added to `video` but this session does not have it yet"));
        assert_eq!(f[1].severity, Severity::Problem);
        assert_eq!(f[1].fix.as_deref(), Some("sudo usermod -aG dialout robot, then log out and in again"));
        let f = check_groups(&r, &who("robot", 1000, &[44, 20]));
        assert!(f.iter().all(|f| f.severity == Severity::Ok), "{f:?}");
    }

    #[test]
    fn remove_ipc_defaults_on_and_spares_system_users() {
        let r = fake("ipc");
        assert_eq!(check_remove_ipc(&r, 1000).severity, Severity::Warning);
        assert_eq!(check_remove_ipc(&r, 998).severity, Severity::Ok);
        std::fs::write(r.etc.join("systemd/logind.conf"), "[Login]\n#RemoveIPC=yes\n").unwrap();
        assert_eq!(check_remove_ipc(&r, 1000).severity, Severity::Warning);
        std::fs::create_dir_all(r.etc.join("systemd/logind.conf.d")).unwrap();
        std::fs::write(r.etc.join("systemd/logind.conf.d/framewire.conf"), "[Login]\nRemoveIPC=no\n").unwrap();
        assert_eq!(check_remove_ipc(&r, 1000).severity, Severity::Ok);
    }

    #[test]
    fn udev_rules_and_links() {
        let r = fake("udev");
        assert_eq!(check_udev(&r).severity, Severity::Warning);
        std::fs::write(r.etc.join("udev/rules.d/70-framewire.rules"), "# rules\n").unwrap();
        let f = check_udev(&r);
        assert!(f.severity == Severity::Warning && f.message.contains("holds no links"), "{f}");
        std::fs::create_dir_all(r.dev.join("framewire")).unwrap();
        std::os::unix::fs::symlink("../ttyACM0", r.dev.join("framewire/motors")).unwrap();
        let f = check_udev(&r);
        assert_eq!(f.severity, Severity::Ok, "{f}");
        assert!(f.message.contains("motors"));
    }

    #[test]
    fn stale_segments_are_those_without_a_live_supervisor() {
        let r = fake("stale");
        let uid = nix::unistd::getuid().as_raw();
        std::fs::write(r.shm.join("framewire-u1.demo._run"), "supervisor_pid = 999999999\nsupervisor_start = 1\n")
            .unwrap();
        std::fs::write(r.shm.join("framewire-u1.demo.cam.frames"), "").unwrap();
        std::fs::write(r.shm.join("other-program"), "").unwrap();
        let f = check_stale(&r, uid);
        assert_eq!(f.severity, Severity::Problem, "{f}");
        assert!(f.message.starts_with("2 segment(s)") && !f.message.contains("other-program"), "{f}");
        std::fs::remove_file(r.shm.join("framewire-u1.demo._run")).unwrap();
        std::fs::remove_file(r.shm.join("framewire-u1.demo.cam.frames")).unwrap();
        assert_eq!(check_stale(&r, uid).severity, Severity::Ok);
    }

    #[test]
    fn shm_room_against_a_pipelines_need() {
        let r = fake("shm");
        assert_eq!(check_shm(&r, Some(1 << 20)).severity, Severity::Ok);
        let f = check_shm(&r, Some(1 << 60));
        assert_eq!(f.severity, Severity::Problem);
        assert!(f.message.contains("this pipeline's wires need"), "{f}");
        let missing = Roots { shm: PathBuf::from("/nonexistent-shm"), ..r };
        assert_eq!(check_shm(&missing, None).severity, Severity::Problem);
    }

    #[test]
    fn devices_that_do_not_open_say_why() {
        let f = check_device_opens("/dev/nonexistent-framewire-motors");
        assert_eq!((f.severity, f.message.as_str()), (Severity::Problem, "does not exist"));
        assert_eq!(check_device_opens("/dev/null").severity, Severity::Ok);
    }
}
