//! Opening V4L2 nodes and enumerating what they offer.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::error::{CameraError, ioctl_err};
use framewire_sdk::image::FourCC;
use framewire_sys::v4l2 as sys;

/// The character-device major number of V4L2 nodes.
const V4L2_MAJOR: u64 = 81;

/// What `VIDIOC_QUERYCAP` says about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Driver name (`uvcvideo`, `vivid`, ...).
    pub driver: String,
    /// Card name, as the device reports it.
    pub card: String,
    /// Bus location (`usb-0000:00:14.0-1`, `platform:vivid-000`, ...).
    pub bus: String,
    /// Driver version, `KERNEL_VERSION`-encoded.
    pub version: u32,
    /// Capabilities of the whole physical device.
    pub capabilities: u32,
    /// Capabilities of this node (what counts for capture).
    pub device_caps: u32,
}

impl Capabilities {
    fn from_raw(c: &sys::v4l2_capability) -> Self {
        let device_caps = if c.capabilities & sys::CAP_DEVICE_CAPS != 0 { c.device_caps } else { c.capabilities };
        Capabilities {
            driver: sys::cstr(&c.driver),
            card: sys::cstr(&c.card),
            bus: sys::cstr(&c.bus_info),
            version: c.version,
            capabilities: c.capabilities,
            device_caps,
        }
    }

    /// Whether this node captures single-planar video with streaming I/O.
    pub fn is_video_capture(&self) -> bool {
        self.device_caps & sys::CAP_VIDEO_CAPTURE != 0 && self.device_caps & sys::CAP_STREAMING != 0
    }

    /// The node's capability flags by name.
    pub fn names(&self) -> Vec<&'static str> {
        const NAMES: &[(u32, &str)] = &[
            (sys::CAP_VIDEO_CAPTURE, "video-capture"),
            (sys::CAP_VIDEO_OUTPUT, "video-output"),
            (sys::CAP_VIDEO_OVERLAY, "video-overlay"),
            (sys::CAP_VBI_CAPTURE, "vbi-capture"),
            (sys::CAP_VIDEO_CAPTURE_MPLANE, "video-capture-mplane"),
            (sys::CAP_VIDEO_OUTPUT_MPLANE, "video-output-mplane"),
            (sys::CAP_VIDEO_M2M_MPLANE, "video-m2m-mplane"),
            (sys::CAP_VIDEO_M2M, "video-m2m"),
            (sys::CAP_TUNER, "tuner"),
            (sys::CAP_AUDIO, "audio"),
            (sys::CAP_RADIO, "radio"),
            (sys::CAP_SDR_CAPTURE, "sdr-capture"),
            (sys::CAP_EXT_PIX_FORMAT, "ext-pix-format"),
            (sys::CAP_META_CAPTURE, "meta-capture"),
            (sys::CAP_READWRITE, "read-write"),
            (sys::CAP_STREAMING, "streaming"),
            (sys::CAP_TOUCH, "touch"),
            (sys::CAP_IO_MC, "io-mc"),
        ];
        NAMES.iter().filter(|(b, _)| self.device_caps & b != 0).map(|(_, n)| *n).collect()
    }
}

/// An open V4L2 node.
#[derive(Debug)]
pub struct Device {
    path: PathBuf,
    node: PathBuf,
    file: File,
    caps: Capabilities,
}

impl Device {
    /// Opens `path`, which may be the node itself or any symlink to it
    /// (`/dev/v4l/by-id/...`, `/dev/v4l/by-path/...`, a udev rule's name).
    /// The node must be a V4L2 character device. It is opened non-blocking.
    pub fn open(path: impl AsRef<Path>) -> Result<Device, CameraError> {
        let path = path.as_ref().to_path_buf();
        let node = std::fs::canonicalize(&path).map_err(|e| io_err(&path, "open", e))?;
        let meta = std::fs::metadata(&node).map_err(|e| io_err(&path, "stat", e))?;
        if !meta.file_type().is_char_device() {
            return Err(CameraError::NotCapture {
                device: path,
                reason: format!("{} is not a character device", node.display()),
            });
        }
        let major = dev_major(meta.rdev());
        if major != V4L2_MAJOR {
            return Err(CameraError::NotCapture {
                device: path,
                reason: format!("{} has device major {major}, V4L2 uses {V4L2_MAJOR}", node.display()),
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(&node)
            .map_err(|e| io_err(&path, "open", e))?;
        let mut raw = sys::v4l2_capability::default();
        sys::querycap(file.as_fd(), &mut raw).map_err(ioctl_err(&path, "VIDIOC_QUERYCAP"))?;
        Ok(Device { caps: Capabilities::from_raw(&raw), path, node, file })
    }

    /// Opens `path` and checks that it captures video with streaming I/O.
    pub fn open_capture(path: impl AsRef<Path>) -> Result<Device, CameraError> {
        let d = Device::open(path)?;
        if !d.caps.is_video_capture() {
            return Err(CameraError::NotCapture {
                device: d.path.clone(),
                reason: format!(
                    "{} ({}) has capabilities [{}], without video-capture + streaming",
                    d.node.display(),
                    d.caps.card,
                    d.caps.names().join(", ")
                ),
            });
        }
        Ok(d)
    }

    /// The path as given to [`Device::open`] (used in every message, and to
    /// reopen after a disconnect).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The node the path resolved to (`/dev/videoN`).
    pub fn node(&self) -> &Path {
        &self.node
    }

    /// The node's capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    pub(crate) fn err(&self, request: &'static str) -> impl FnOnce(Errno) -> CameraError + '_ {
        ioctl_err(&self.path, request)
    }

    /// The pixel formats the node offers (`VIDIOC_ENUM_FMT`).
    pub fn formats(&self) -> Result<Vec<(FourCC, String, u32)>, CameraError> {
        let mut out = vec![];
        for index in 0.. {
            let mut d = sys::v4l2_fmtdesc { index, type_: sys::BUF_TYPE_VIDEO_CAPTURE, ..Default::default() };
            match sys::enum_fmt(self.fd(), &mut d) {
                Ok(()) => out.push((FourCC(d.pixelformat), sys::cstr(&d.description), d.flags)),
                Err(Errno::EINVAL) => break,
                Err(e) => return Err(self.err("VIDIOC_ENUM_FMT")(e)),
            }
        }
        Ok(out)
    }

    /// The frame sizes offered for `fourcc` (`VIDIOC_ENUM_FRAMESIZES`).
    pub fn frame_sizes(&self, fourcc: FourCC) -> Result<Vec<FrameSize>, CameraError> {
        let mut out = vec![];
        for index in 0.. {
            let mut e = sys::v4l2_frmsizeenum { index, pixel_format: fourcc.0, ..Default::default() };
            match sys::enum_framesizes(self.fd(), &mut e) {
                Ok(()) => {}
                Err(Errno::EINVAL) | Err(Errno::ENOTTY) => break,
                Err(er) => return Err(self.err("VIDIOC_ENUM_FRAMESIZES")(er)),
            }
            match e.type_ {
                sys::FRMSIZE_TYPE_DISCRETE => {
                    let d = e.discrete();
                    out.push(FrameSize::Discrete { width: d.width, height: d.height });
                }
                t => {
                    let s = e.stepwise();
                    out.push(FrameSize::Stepwise {
                        min: (s.min_width, s.min_height),
                        max: (s.max_width, s.max_height),
                        step: (s.step_width, s.step_height),
                        continuous: t == sys::FRMSIZE_TYPE_CONTINUOUS,
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The frame intervals offered for `fourcc` at `width` x `height`
    /// (`VIDIOC_ENUM_FRAMEINTERVALS`).
    pub fn frame_intervals(&self, fourcc: FourCC, width: u32, height: u32) -> Result<Vec<Interval>, CameraError> {
        let mut out = vec![];
        for index in 0.. {
            let mut e = sys::v4l2_frmivalenum { index, pixel_format: fourcc.0, width, height, ..Default::default() };
            match sys::enum_frameintervals(self.fd(), &mut e) {
                Ok(()) => {}
                Err(Errno::EINVAL) | Err(Errno::ENOTTY) => break,
                Err(er) => return Err(self.err("VIDIOC_ENUM_FRAMEINTERVALS")(er)),
            }
            match e.type_ {
                sys::FRMIVAL_TYPE_DISCRETE => {
                    let d = e.discrete();
                    out.push(Interval::Discrete(d.numerator, d.denominator));
                }
                _ => {
                    let s = e.stepwise();
                    out.push(Interval::Stepwise {
                        min: (s.min.numerator, s.min.denominator),
                        max: (s.max.numerator, s.max.denominator),
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Everything the node offers: capabilities, formats, sizes, intervals.
    pub fn info(&self) -> Result<DeviceInfo, CameraError> {
        let mut formats = vec![];
        if self.caps.is_video_capture() {
            for (fourcc, description, flags) in self.formats()? {
                let mut sizes = vec![];
                for size in self.frame_sizes(fourcc)? {
                    let (w, h) = match size {
                        FrameSize::Discrete { width, height } => (width, height),
                        FrameSize::Stepwise { max, .. } => max,
                    };
                    let intervals = self.frame_intervals(fourcc, w, h)?;
                    sizes.push(SizeInfo { size, intervals });
                }
                formats.push(FormatInfo {
                    fourcc,
                    description,
                    compressed: flags & sys::FMT_FLAG_COMPRESSED != 0,
                    emulated: flags & sys::FMT_FLAG_EMULATED != 0,
                    sizes,
                });
            }
        }
        let controls = if self.caps.is_video_capture() { self.controls()? } else { vec![] };
        Ok(DeviceInfo {
            node: self.node.clone(),
            links: stable_links(&self.node),
            caps: self.caps.clone(),
            formats,
            controls,
        })
    }
}

fn dev_major(rdev: u64) -> u64 {
    ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff)
}

fn io_err(path: &Path, request: &'static str, e: std::io::Error) -> CameraError {
    CameraError::Ioctl {
        device: path.to_path_buf(),
        request,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)),
    }
}

/// Links under `/dev/v4l/by-id` and `/dev/v4l/by-path` that lead to `node`.
fn stable_links(node: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for dir in ["/dev/v4l/by-id", "/dev/v4l/by-path"] {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            if std::fs::canonicalize(e.path()).is_ok_and(|p| p == node) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A frame size as `VIDIOC_ENUM_FRAMESIZES` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSize {
    /// One size.
    Discrete {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A range of sizes.
    Stepwise {
        /// Smallest (width, height).
        min: (u32, u32),
        /// Largest (width, height).
        max: (u32, u32),
        /// Step (width, height).
        step: (u32, u32),
        /// Whether any size in range works (step 1).
        continuous: bool,
    },
}

/// A frame interval (seconds per frame, as a fraction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// One interval, `numerator / denominator` seconds.
    Discrete(u32, u32),
    /// A range of intervals, fractions of seconds.
    Stepwise {
        /// Shortest interval.
        min: (u32, u32),
        /// Longest interval.
        max: (u32, u32),
    },
}

/// A frame size and the intervals offered at it (for a range of sizes, at
/// its largest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeInfo {
    /// The size.
    pub size: FrameSize,
    /// Intervals at that size.
    pub intervals: Vec<Interval>,
}

/// A pixel format and its sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatInfo {
    /// The format code.
    pub fourcc: FourCC,
    /// The driver's description.
    pub description: String,
    /// Compressed (MJPEG, H.264, ...).
    pub compressed: bool,
    /// Converted in software by the driver or libv4l.
    pub emulated: bool,
    /// Sizes.
    pub sizes: Vec<SizeInfo>,
}

/// One V4L2 node as `framewire devices` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The node (`/dev/videoN`).
    pub node: PathBuf,
    /// Stable links to it (`/dev/v4l/by-id/...`, `/dev/v4l/by-path/...`).
    pub links: Vec<PathBuf>,
    /// Driver, card, bus and capabilities.
    pub caps: Capabilities,
    /// Capture formats (empty for nodes that don't capture video).
    pub formats: Vec<FormatInfo>,
    /// Controls with their ranges (the names TOML `[controls]` accepts).
    pub controls: Vec<super::controls::ControlInfo>,
}

/// Every V4L2 node under `/dev` (`/dev/video*`), in numeric order, with what
/// it offers. A node that cannot be opened or queried is skipped with a
/// warning.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let n: u32 = name.strip_prefix("video")?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
        .into_iter()
        .filter_map(|(_, p)| match Device::open(&p).and_then(|d| d.info()) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!("skipping {}: {e}", p.display());
                None
            }
        })
        .collect()
}

impl fmt::Display for FrameSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameSize::Discrete { width, height } => write!(f, "{width}x{height}"),
            FrameSize::Stepwise { min, max, step, .. } => {
                write!(f, "{}x{} to {}x{} step {}x{}", min.0, min.1, max.0, max.1, step.0, step.1)
            }
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fps = |(n, d): (u32, u32)| if n == 0 { 0.0 } else { d as f64 / n as f64 };
        match *self {
            Interval::Discrete(n, d) => write!(f, "{:.3} fps", fps((n, d))),
            Interval::Stepwise { min, max } => write!(f, "{:.3}-{:.3} fps", fps(max), fps(min)),
        }
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.caps;
        writeln!(f, "{}: {} (driver {}, bus {})", self.node.display(), c.card, c.driver, c.bus)?;
        for l in &self.links {
            writeln!(f, "  link: {}", l.display())?;
        }
        writeln!(f, "  capabilities: {}", c.names().join(", "))?;
        for fm in &self.formats {
            let mut flags = String::new();
            if fm.compressed {
                flags.push_str(" [compressed]");
            }
            if fm.emulated {
                flags.push_str(" [emulated]");
            }
            writeln!(f, "  format {} ({}){flags}", fm.fourcc, fm.description)?;
            for s in &fm.sizes {
                let iv: Vec<String> = s.intervals.iter().map(|i| i.to_string()).collect();
                writeln!(f, "    {}: {}", s.size, iv.join(", "))?;
            }
        }
        for c in &self.controls {
            writeln!(f, "  control {c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_non_v4l2_paths_naming_them() {
        let e = Device::open("/dev/null").unwrap_err().to_string();
        assert!(e.contains("/dev/null") && e.contains("major"), "{e}");
        let e = Device::open("/nonexistent/video9").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/video9") && e.contains("open"), "{e}");
    }

    #[test]
    fn major_decoding() {
        // makedev(81, 3) with glibc's encoding.
        assert_eq!(dev_major((81 << 8) | 3), 81);
        assert_eq!(dev_major(0x0000_1000_0000_0000 | (81 << 8)), 81 | 0x1000);
    }

    #[test]
    fn list_devices_does_not_fail_without_cameras() {
        for d in list_devices() {
            println!("{d}");
        }
    }
}
