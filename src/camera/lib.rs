//! V4L2 cameras: open by any path, enumerate, negotiate, set controls and
//! capture, zero-copy (USERPTR into caller-provided page-aligned buffers)
//! when the driver allows it, MMAP plus one copy otherwise.
//!
//! The kernel requests and every `unsafe` block live in
//! [`framewire_sys::v4l2`]; this module is safe code on top of it.
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
//!
//! May depend on: `framewire-sdk` (the block API), `framewire-wire` (slot
//! reservation for USERPTR capture), `framewire-sys` (the V4L2 ioctls).
//! `unsafe` is denied except for the one place in `block.rs` where a
//! reserved wire slot is handed to the driver to capture into.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod block;
mod capture;
mod controls;
mod device;
mod error;
mod negotiate;

pub use block::CameraBlock;
pub use capture::{Capture, CapturePath, CaptureStats, FrameInfo, IoMode, Recovery};
pub use controls::{ControlInfo, ControlKind};
pub use device::{Capabilities, Device, DeviceInfo, FormatInfo, FrameSize, Interval, SizeInfo, list_devices};
pub use error::CameraError;
pub use negotiate::{FormatRequest, Negotiated};

pub use framewire_sys::v4l2::{PageRegion, UserBuf};

use std::collections::BTreeMap;

use framewire_sdk::params::VideoPath;

framewire_sdk::params! {
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
    pub struct CameraConfig {
        /// V4L2 node or any link to it (`/dev/v4l/by-id/...`, `/dev/framewire/camera0`).
        pub device: VideoPath = required("/dev/video0"),
        /// Pixel format: YUYV, MJPEG, GREY, RGB24, BGR24, NV12 or any FourCC.
        pub format: String = required("YUYV"),
        /// Frame width in pixels.
        pub width: u32 = required(640),
        /// Frame height in pixels.
        pub height: u32 = required(480),
        /// Frames per second (the driver's default if absent).
        pub fps: Option<f64> = None,
        /// Buffer path: auto (USERPTR if the driver supports it), userptr or mmap.
        pub io: IoMode = IoMode::Auto,
        /// Driver buffers, i.e. wire slots kept queued with the driver.
        pub buffers: u32 = 4,
        /// Restart the stream after this long without a frame, ms.
        pub frame_timeout_ms: u64 = 2000,
        /// Controls by name: brightness, exposure, gain, white_balance, ... (see `framewire devices`).
        pub controls: BTreeMap<String, i64> = BTreeMap::new(),
    }
}

impl CameraConfig {
    /// The format request this configuration describes.
    pub fn request(&self) -> Result<FormatRequest, CameraError> {
        let fourcc = framewire_sdk::image::FourCC::parse(&self.format).ok_or_else(|| CameraError::BadConfig {
            device: self.device.0.clone(),
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
        assert_eq!(r.fourcc, framewire_sdk::image::FourCC::YUYV);
        assert!(toml::from_str::<CameraConfig>("device=\"x\"\nformat=\"YUYV\"\nwidth=1\nheight=1\nfoo=1").is_err());
    }
}
