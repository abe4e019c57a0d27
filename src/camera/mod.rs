//! V4L2 cameras: open by any path, enumerate, negotiate, set controls and
//! capture, zero-copy (USERPTR into caller-provided page-aligned buffers)
//! when the driver allows it, MMAP plus one copy otherwise.
//!
//! The kernel requests and every `unsafe` block live in
//! [`crate::sys::v4l2`]; this module is safe code on top of it.
//!
//! * [`Device`] opens a node by any path that resolves to it
//!   (`/dev/video0`, `/dev/v4l/by-id/...`, a udev symlink).
//! * [`list_devices`] enumerates every node with its formats, frame sizes and
//!   frame intervals (what `framewire devices` prints).
//! * [`Device::negotiate`] sets format, size and rate and reports what the
//!   driver granted; a format the device lacks is refused with the list of
//!   what it offers.
//! * [`Device::controls`], [`Device::set_control`] and
//!   [`Device::get_control`] work by name, with ranges.
//! * [`Capture`] streams, recovering from stalls (stream restart) and
//!   disconnects (reopen the same path with backoff).
//! * [`CameraBlock`] is the `camera` block: capture straight into a wire.

mod bench;
mod block;
mod capture;
mod controls;
mod device;
mod error;
mod negotiate;

pub use bench::{BenchResult, bench_camera, bench_capture};
pub use block::CameraBlock;
pub use capture::{Capture, CapturePath, CaptureStats, FrameInfo, IoMode, Recovery};
pub use controls::{ControlInfo, ControlKind};
pub use device::{Capabilities, Device, DeviceInfo, FormatInfo, FrameSize, Interval, SizeInfo, list_devices};
pub use error::CameraError;
pub use negotiate::{FormatRequest, Negotiated};

pub use crate::sys::v4l2::{PageRegion, UserBuf};

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A camera's settings as written in a pipeline's TOML.
///
/// ```toml
/// device = "/dev/v4l/by-id/usb-046d_C920-video-index0"
/// format = "YUYV"        # YUYV, MJPEG, GREY, RGB24, BGR24, NV12 or any FourCC
/// width = 640
/// height = 480
/// fps = 30               # optional; the driver's default otherwise
/// io = "auto"            # auto (USERPTR if supported), userptr, mmap
/// buffers = 4            # driver queue depth
/// frame_timeout_ms = 2000
/// [controls]
/// brightness = 128
/// exposure = 250
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Path of the device node or any link to it.
    pub device: PathBuf,
    /// Pixel format name (see [`crate::image::FourCC::parse`]).
    pub format: String,
    /// Requested width in pixels.
    pub width: u32,
    /// Requested height in pixels.
    pub height: u32,
    /// Requested frame rate; `None` keeps the driver's.
    #[serde(default)]
    pub fps: Option<f64>,
    /// Buffer path.
    #[serde(default)]
    pub io: IoMode,
    /// Number of driver buffers.
    #[serde(default = "default_buffers")]
    pub buffers: u32,
    /// Restart the stream when no frame arrives within this time.
    #[serde(default = "default_timeout_ms")]
    pub frame_timeout_ms: u64,
    /// Controls to set at start, by name (see [`Device::set_control`]).
    #[serde(default)]
    pub controls: BTreeMap<String, i64>,
}

fn default_buffers() -> u32 {
    4
}

fn default_timeout_ms() -> u64 {
    2000
}

impl CameraConfig {
    /// The format request this configuration describes.
    pub fn request(&self) -> Result<FormatRequest, CameraError> {
        let fourcc = crate::image::FourCC::parse(&self.format).ok_or_else(|| CameraError::BadConfig {
            device: self.device.clone(),
            reason: format!("unknown pixel format {:?}", self.format),
        })?;
        Ok(FormatRequest { fourcc, width: self.width, height: self.height, fps: self.fps })
    }

    /// The recovery policy this configuration describes.
    pub fn recovery(&self) -> Recovery {
        Recovery { frame_timeout: std::time::Duration::from_millis(self.frame_timeout_ms), ..Recovery::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_config_parses_and_rejects_unknown_keys() {
        let c: CameraConfig = toml::from_str(
            "device = \"/dev/video0\"\nformat = \"yuyv\"\nwidth = 640\nheight = 480\nfps = 25\n[controls]\nbrightness = 100\n",
        )
        .unwrap();
        assert_eq!(c.buffers, 4);
        assert_eq!(c.io, IoMode::Auto);
        assert_eq!(c.controls["brightness"], 100);
        let r = c.request().unwrap();
        assert_eq!(r.fourcc, crate::image::FourCC::YUYV);
        assert!(toml::from_str::<CameraConfig>("device=\"x\"\nformat=\"YUYV\"\nwidth=1\nheight=1\nfoo=1").is_err());
    }
}
