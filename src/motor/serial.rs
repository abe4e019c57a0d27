//! The thin serial layer: opening a port with errors that explain
//! themselves, listing the ports present, and [`Link`], a bounded
//! request/response helper.
//!
//! Why a helper of our own: several vendors' libraries wait forever for a
//! reply that never comes. Here every read has a timeout, a request is sent
//! at most `1 + retries` times, and every failure is counted in
//! [`LinkStats`] so a status display can show a flaky cable before it stops
//! the robot.

use super::MotorError;
use super::proto::{BadKind, Parse};
use serialport::SerialPort;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Opens `path` at `baud` with `read_timeout` applied to every read.
///
/// Errors name the fix: a permission error mentions the `dialout` group; a
/// missing device lists the serial ports that are present, with their USB
/// vendor/product IDs and serial numbers, so the user can pick a stable
/// `/dev/serial/by-id/...` path.
pub fn open_port(path: &str, baud: u32, read_timeout: Duration) -> Result<Box<dyn SerialPort>, MotorError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(MotorError::Open(format!(
                "serial port {path} does not exist. {}",
                describe_ports(&list_ports())
            )));
        }
        Err(e) => return Err(explain_open_error(path, e.into())),
    };
    check_char_device(path, &meta)?;
    serialport::new(path, baud).timeout(read_timeout).open().map_err(|e| explain_open_error(path, e))
}

/// Refuses a path that cannot be a serial port (a regular file, a
/// directory), before anything opens it: retrying would never help.
fn check_char_device(path: &str, meta: &std::fs::Metadata) -> Result<(), MotorError> {
    use std::os::unix::fs::FileTypeExt;
    let ft = meta.file_type();
    if ft.is_char_device() {
        return Ok(());
    }
    let what = if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a device"
    };
    Err(MotorError::NotSerial(format!(
        "{path} is {what}, not a serial port (a character device such as /dev/ttyUSB0 or /dev/ttyACM0): \
         set `port` to the controller's /dev/serial/by-id/... path. {}",
        describe_ports(&list_ports())
    )))
}

fn explain_open_error(path: &str, e: serialport::Error) -> MotorError {
    use serialport::ErrorKind as K;
    // ENOTTY from the terminal ioctls: a character device that is not a
    // terminal (/dev/null, /dev/zero, a sound card).
    if e.description.contains("Inappropriate ioctl") || e.description.contains("Not a typewriter") {
        return MotorError::NotSerial(format!(
            "{path} is a character device but not a serial port (not a terminal: {e}); \
             set `port` to the controller's /dev/serial/by-id/... path. {}",
            describe_ports(&list_ports())
        ));
    }
    let msg = match e.kind() {
        K::Io(ErrorKind::PermissionDenied) => format!(
            "permission denied opening {path}: serial ports belong to the `dialout` group; \
             run `sudo usermod -aG dialout $USER` and log in again (or run `newgrp dialout`)"
        ),
        // TIOCEXCL gives EBUSY; serialport reports a taken exclusive lock
        // as NoDevice with "Unable to acquire exclusive lock": check first.
        _ if ["busy", "EBUSY", "exclusive lock", "temporarily unavailable"]
            .iter()
            .any(|s| e.description.contains(s)) =>
        {
            format!("serial port {path} is in use by another program ({e}); close it (e.g. a serial monitor) and retry")
        }
        K::NoDevice | K::Io(ErrorKind::NotFound) => {
            format!("serial port {path} is not available ({e}). {}", describe_ports(&list_ports()))
        }
        _ => format!("cannot open serial port {path}: {e}"),
    };
    MotorError::Open(msg)
}

/// A serial port found in sysfs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortInfo {
    /// Device node, e.g. `/dev/ttyUSB0`.
    pub dev: PathBuf,
    /// USB vendor ID (hex, as in `lsusb`), if the port is on USB.
    pub vid: Option<String>,
    /// USB product ID (hex).
    pub pid: Option<String>,
    /// USB serial number.
    pub serial: Option<String>,
    /// USB manufacturer and product strings.
    pub description: Option<String>,
    /// Stable `/dev/serial/by-id` links pointing at this port.
    pub by_id: Vec<PathBuf>,
}

/// Lists the serial ports the kernel knows, reading sysfs directly so that
/// no libudev is needed. Virtual consoles (no `device` link) are skipped, as
/// are legacy 8250 UARTs that have no hardware behind them.
pub fn list_ports() -> Vec<PortInfo> {
    list_ports_in(Path::new("/sys/class/tty"), Path::new("/dev/serial/by-id"))
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn list_ports_in(class: &Path, by_id_dir: &Path) -> Vec<PortInfo> {
    let by_id: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(by_id_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.path(), std::fs::canonicalize(e.path()).ok()?)))
        .collect();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(class).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dev_link = entry.path().join("device");
        let Ok(device) = std::fs::canonicalize(&dev_link) else {
            continue;
        };
        let driver = std::fs::read_link(device.join("driver"))
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
        let mut info = PortInfo { dev: PathBuf::from("/dev").join(&name), ..Default::default() };
        // Walk up from the interface to the USB device, which has idVendor.
        // A USB device sits a few levels above its tty; 8 is plenty.
        let mut dir = Some(device.as_path());
        for d in std::iter::from_fn(|| {
            let d = dir?;
            dir = d.parent();
            Some(d)
        })
        .take(8)
        {
            if let Some(vid) = read_trim(&d.join("idVendor")) {
                info.vid = Some(vid);
                info.pid = read_trim(&d.join("idProduct"));
                info.serial = read_trim(&d.join("serial"));
                let m = read_trim(&d.join("manufacturer")).unwrap_or_default();
                let p = read_trim(&d.join("product")).unwrap_or_default();
                info.description = Some(format!("{m} {p}").trim().to_string()).filter(|s| !s.is_empty());
                break;
            }
        }
        if info.vid.is_none() && driver.as_deref() == Some("serial8250") {
            continue;
        }
        info.by_id = by_id.iter().filter(|(_, t)| *t == info.dev).map(|(l, _)| l.clone()).collect();
        out.push(info);
    }
    out.sort_by(|a, b| a.dev.cmp(&b.dev));
    out
}

/// One human-readable paragraph about the ports present.
pub fn describe_ports(ports: &[PortInfo]) -> String {
    if ports.is_empty() {
        return "No serial ports are present: check the cable and `dmesg`.".into();
    }
    let mut s = String::from("Serial ports present:");
    for p in ports {
        s.push_str(&format!("\n  {}", p.dev.display()));
        if let (Some(v), Some(pid)) = (&p.vid, &p.pid) {
            s.push_str(&format!(" USB {v}:{pid}"));
        }
        if let Some(sn) = &p.serial {
            s.push_str(&format!(" serial {sn}"));
        }
        if let Some(d) = &p.description {
            s.push_str(&format!(" ({d})"));
        }
        for l in &p.by_id {
            s.push_str(&format!("\n    stable path: {}", l.display()));
        }
    }
    s
}

/// `min_len` for [`Link::transact`] with a line protocol: a reply is
/// complete only with its line end, so a partial line is always truncated.
pub const LINE: usize = usize::MAX;

/// How a [`Link`] talks to its port.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Device path; a stable one (`/dev/serial/by-id/...`) survives replugging.
    pub path: String,
    /// Baud rate.
    pub baud: u32,
    /// Longest wait for a complete reply to one request.
    pub reply_timeout: Duration,
    /// Silence after a partial reply that ends it (truncated or corrupt).
    /// Longer than a USB adapter's latency timer (FTDI: 16 ms) so that a
    /// reply split across two USB transfers is not cut in half.
    pub quiet_gap: Duration,
    /// Extra attempts after the first one.
    pub retries: u32,
    /// Minimum time between two attempts to reopen a lost port.
    pub reconnect_interval: Duration,
}

impl LinkConfig {
    /// Defaults suitable for a real controller on `path` at `baud`.
    pub fn new(path: impl Into<String>, baud: u32) -> Self {
        LinkConfig {
            path: path.into(),
            baud,
            reply_timeout: Duration::from_millis(100),
            quiet_gap: Duration::from_millis(25),
            retries: 2,
            reconnect_interval: Duration::from_millis(500),
        }
    }
}

/// Counters of everything that went wrong (and right) on a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Requests sent, retries included.
    pub sent: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Valid replies received.
    pub replies: u64,
    /// Attempts that got no byte at all before the reply timeout.
    pub timeouts: u64,
    /// Replies rejected for their checksum.
    pub checksum_errors: u64,
    /// Replies rejected for a value the controller cannot report (protocols
    /// without a checksum are range-checked instead).
    pub implausible: u64,
    /// Replies that stopped short.
    pub truncated: u64,
    /// Times garbage was skipped to find a frame.
    pub resyncs: u64,
    /// Garbage bytes skipped.
    pub garbage_bytes: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Times the port was lost.
    pub port_losses: u64,
    /// Times the port was (re)opened.
    pub connects: u64,
}

/// A serial port that may come and go, with bounded request/response.
pub struct Link {
    cfg: LinkConfig,
    port: Option<Box<dyn SerialPort>>,
    rx: Vec<u8>,
    stats: LinkStats,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    deadline: Option<Instant>,
}

impl Link {
    /// A link that is not opened yet; [`Link::connect`] opens it.
    pub fn new(cfg: LinkConfig) -> Self {
        Link {
            cfg,
            port: None,
            rx: Vec::new(),
            stats: LinkStats::default(),
            last_attempt: None,
            last_error: None,
            deadline: None,
        }
    }

    /// Bounds every exchange from now on: a [`Link::transact`] still waiting
    /// for a reply at `deadline` gives up with [`MotorError::Deadline`]
    /// instead of retrying (the driver sets it to the moment it must command
    /// zero, so a silent controller cannot hold a stop back). `None` lifts it.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Why the port last failed to open or was lost, if it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Whether the port is currently open.
    pub fn is_connected(&self) -> bool {
        self.port.is_some()
    }

    /// Opens the port if it is closed and the reconnect interval has passed.
    /// Returns `Ok(true)` when the port was just (re)opened, so the caller
    /// can send its stop command first; `Err` while it stays unavailable.
    pub fn connect(&mut self, now: Instant) -> Result<bool, MotorError> {
        if self.port.is_some() {
            return Ok(false);
        }
        if let Some(t) = self.last_attempt
            && now.duration_since(t) < self.cfg.reconnect_interval
        {
            return Err(MotorError::Disconnected(self.cfg.path.clone()));
        }
        self.last_attempt = Some(now);
        match open_port(&self.cfg.path, self.cfg.baud, self.cfg.reply_timeout) {
            Ok(p) => {
                self.port = Some(p);
                self.rx.clear();
                self.stats.connects += 1;
                self.last_error = None;
                Ok(true)
            }
            Err(e) => {
                // Not logged here: the driver logs link state changes once
                // and rate-limits repeated errors.
                self.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn lose(&mut self, why: &std::io::Error) -> MotorError {
        if self.port.take().is_some() {
            self.stats.port_losses += 1;
            self.last_error = Some(format!("serial port {} lost ({why})", self.cfg.path));
        }
        MotorError::Disconnected(self.cfg.path.clone())
    }

    fn port(&mut self) -> Result<&mut Box<dyn SerialPort>, MotorError> {
        self.port.as_mut().ok_or_else(|| MotorError::Disconnected(self.cfg.path.clone()))
    }

    /// Sends bytes that get no answer (or whose answer nobody waits for).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MotorError> {
        let timeout = self.cfg.reply_timeout;
        let port = self.port()?;
        // Reads shrink the port timeout to a quiet gap; a write gets the
        // full reply timeout so a slow line is not mistaken for a lost port.
        let _ = port.set_timeout(timeout);
        let r = port.write_all(bytes);
        self.stats.sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        r.map_err(|e| self.lose(&e))
    }

    /// Drops whatever is waiting in the receive buffer (a late reply to an
    /// earlier request must not be taken for the answer to the next one).
    fn drain(&mut self) -> Result<(), MotorError> {
        self.rx.clear();
        let port = self.port()?;
        let n = port.bytes_to_read().unwrap_or(0);
        if n > 0 {
            let _ = port.clear(serialport::ClearBuffer::Input);
            self.stats.garbage_bytes += n as u64;
            self.stats.resyncs += 1;
        }
        Ok(())
    }

    /// Sends `request` and decodes its answer with `parse`, retrying up to
    /// `retries` times on silence, truncation or a bad checksum.
    ///
    /// `min_len` is the shortest complete reply: when the line goes quiet
    /// with at least that many bytes buffered and still no valid frame, the
    /// reply is counted as a checksum error, otherwise as truncated.
    pub fn transact<T>(
        &mut self,
        what: &str,
        request: &[u8],
        min_len: usize,
        mut parse: impl FnMut(&[u8]) -> Parse<T>,
    ) -> Result<T, MotorError> {
        let mut last = "no reply";
        let attempts = self.cfg.retries + 1;
        for attempt in 0..attempts {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(MotorError::Deadline { what: what.to_string() });
            }
            if attempt > 0 {
                self.stats.retries += 1;
            }
            self.drain()?;
            self.send(request)?;
            let reply_deadline = Instant::now() + self.cfg.reply_timeout;
            // The driver's deadline cuts the wait short; the next attempt
            // then returns Deadline above instead of sending again.
            let deadline = self.deadline.map_or(reply_deadline, |d| d.min(reply_deadline));
            let mut buf = [0u8; 256];
            'read: loop {
                loop {
                    match parse(&self.rx) {
                        Parse::Done { value, used, skipped } => {
                            if skipped > 0 {
                                self.stats.resyncs += 1;
                                self.stats.garbage_bytes += skipped as u64;
                            }
                            self.rx.drain(..used.min(self.rx.len()));
                            self.stats.replies += 1;
                            return Ok(value);
                        }
                        Parse::Bad { used, kind } => {
                            self.rx.drain(..used.min(self.rx.len()));
                            match kind {
                                BadKind::Checksum => {
                                    self.stats.checksum_errors += 1;
                                    last = "bad checksum";
                                    break 'read;
                                }
                                BadKind::Implausible => {
                                    self.stats.implausible += 1;
                                    last = "implausible value";
                                    break 'read;
                                }
                                BadKind::Malformed => {
                                    self.stats.resyncs += 1;
                                    self.stats.garbage_bytes += used as u64;
                                }
                            }
                        }
                        Parse::Need => break,
                    }
                }
                let now = Instant::now();
                let remaining = deadline.saturating_duration_since(now);
                let partial = !self.rx.is_empty();
                let slice = if partial { remaining.min(self.cfg.quiet_gap) } else { remaining };
                let read = if slice.is_zero() {
                    Err(std::io::Error::from(ErrorKind::TimedOut))
                } else {
                    let port = self.port()?;
                    let _ = port.set_timeout(slice);
                    port.read(&mut buf)
                };
                match read {
                    Ok(0) => {
                        let e = std::io::Error::from(ErrorKind::UnexpectedEof);
                        return Err(self.lose(&e));
                    }
                    Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                        if partial {
                            if self.rx.len() >= min_len.max(1) {
                                self.stats.checksum_errors += 1;
                                last = "bad checksum";
                            } else {
                                self.stats.truncated += 1;
                                last = "truncated reply";
                            }
                            break 'read;
                        }
                        if Instant::now() >= deadline {
                            self.stats.timeouts += 1;
                            last = "timeout";
                            break 'read;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.lose(&e)),
                }
            }
        }
        Err(MotorError::NoReply { what: what.to_string(), attempts, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_lists_ports() {
        let e = open_port("/dev/framewire-no-such-port", 115200, Duration::from_millis(10)).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("/dev/framewire-no-such-port does not exist"), "{s}");
        assert!(s.contains("Serial ports present") || s.contains("No serial ports"), "{s}");
    }

    #[test]
    fn sysfs_listing_reads_usb_ids() {
        // A fake sysfs tree shaped like a CP210x adapter's.
        let root = std::env::temp_dir().join(format!("fw-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let usb = root.join("devices/usb1/1-1");
        let intf = usb.join("1-1:1.0/ttyUSB0");
        std::fs::create_dir_all(&intf).unwrap();
        for (f, v) in [
            ("idVendor", "10c4"),
            ("idProduct", "ea60"),
            ("serial", "0001"),
            ("manufacturer", "Silicon Labs"),
            ("product", "CP2102"),
        ] {
            std::fs::write(usb.join(f), format!("{v}\n")).unwrap();
        }
        let class = root.join("class/tty");
        std::fs::create_dir_all(class.join("ttyUSB0")).unwrap();
        std::os::unix::fs::symlink(&intf, class.join("ttyUSB0/device")).unwrap();
        std::fs::create_dir_all(class.join("tty0")).unwrap(); // no device: skipped
        let ports = list_ports_in(&class, &root.join("none"));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(p.dev, PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(
            (p.vid.as_deref(), p.pid.as_deref(), p.serial.as_deref()),
            (Some("10c4"), Some("ea60"), Some("0001"))
        );
        let d = describe_ports(&ports);
        assert!(d.contains("/dev/ttyUSB0 USB 10c4:ea60 serial 0001 (Silicon Labs CP2102)"), "{d}");
    }

    #[test]
    fn port_in_use_is_explained() {
        let sim = crate::sim::start(crate::Protocol::Roboclaw, Default::default()).unwrap();
        let path = sim.path();
        let path = path.to_str().unwrap();
        let _first = open_port(path, 38400, Duration::from_millis(10)).unwrap();
        let e = open_port(path, 38400, Duration::from_millis(10)).err().unwrap().to_string();
        assert!(e.contains("in use by another program"), "{e}");
    }

    #[test]
    fn permission_error_mentions_dialout() {
        let e = serialport::Error::new(serialport::ErrorKind::Io(ErrorKind::PermissionDenied), "Permission denied");
        assert!(explain_open_error("/dev/ttyACM0", e).to_string().contains("dialout"));
    }
}
