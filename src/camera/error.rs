//! Camera errors: each names the device and, for kernel failures, the request.

use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

use framewire_sdk::image::FourCC;

/// What went wrong with a camera.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// A kernel request failed.
    #[error("{device}: {request} failed: {errno} ({desc})", desc = errno.desc())]
    Ioctl {
        /// The device path as given by the user.
        device: PathBuf,
        /// The request (`VIDIOC_S_FMT`, `open`, `mmap`, ...).
        request: &'static str,
        /// The error number.
        errno: Errno,
    },
    /// The path does not lead to a V4L2 video capture node.
    #[error("{device}: not a V4L2 video capture device: {reason}")]
    NotCapture {
        /// The device path.
        device: PathBuf,
        /// Why.
        reason: String,
    },
    /// The requested pixel format is not offered.
    #[error("{device}: pixel format {requested} is not offered; the device offers: {}", list(offered))]
    FormatUnavailable {
        /// The device path.
        device: PathBuf,
        /// What was asked for.
        requested: FourCC,
        /// What the device offers.
        offered: Vec<FourCC>,
    },
    /// The driver changed the pixel format on `S_FMT`.
    #[error("{device}: asked for {requested} but the driver set {granted}")]
    FormatRefused {
        /// The device path.
        device: PathBuf,
        /// What was asked for.
        requested: FourCC,
        /// What the driver set.
        granted: FourCC,
    },
    /// No control has that name.
    #[error("{device}: no control named {name:?}; controls: {}", available.join(", "))]
    NoSuchControl {
        /// The device path.
        device: PathBuf,
        /// The name asked for.
        name: String,
        /// Names of the device's controls.
        available: Vec<String>,
    },
    /// A control value is outside the control's range.
    #[error("{device}: control {name:?} = {value} is outside {min}..={max} (step {step})")]
    ControlRange {
        /// The device path.
        device: PathBuf,
        /// The control.
        name: String,
        /// The rejected value.
        value: i64,
        /// Minimum.
        min: i64,
        /// Maximum.
        max: i64,
        /// Step.
        step: u64,
    },
    /// A buffer handed to the capture is smaller than a frame.
    #[error("{device}: capture buffer of {len} bytes is smaller than a frame ({needed} bytes)")]
    BufferTooSmall {
        /// The device path.
        device: PathBuf,
        /// The buffer's length.
        len: usize,
        /// `sizeimage`.
        needed: usize,
    },
    /// The operation does not fit the capture's path or state.
    #[error("{device}: {reason}")]
    Usage {
        /// The device path.
        device: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No frame arrived although the stream was restarted.
    #[error("{device}: no frame for {waited:?} despite {restarts} stream restart(s)")]
    Stalled {
        /// The device path.
        device: PathBuf,
        /// Total time waited.
        waited: Duration,
        /// Restarts attempted.
        restarts: u32,
    },
    /// The device went away and did not come back in time.
    #[error("{device}: disconnected ({cause}); not back after {waited:?}")]
    Disconnected {
        /// The device path.
        device: PathBuf,
        /// The failing request that revealed it.
        cause: String,
        /// Time spent retrying.
        waited: Duration,
    },
    /// The configuration is wrong.
    #[error("{device}: {reason}")]
    BadConfig {
        /// The device path.
        device: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn list(f: &[FourCC]) -> String {
    f.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
}

impl CameraError {
    /// Whether this error means the device is gone (unplugged).
    pub fn is_disconnect(&self) -> bool {
        matches!(self, CameraError::Ioctl { errno: Errno::ENODEV | Errno::ENXIO | Errno::ENOENT, .. })
            || matches!(self, CameraError::Disconnected { .. })
    }
}

/// Shorthand to build a [`CameraError::Ioctl`].
pub(crate) fn ioctl_err<'a>(
    device: &'a std::path::Path,
    request: &'static str,
) -> impl FnOnce(Errno) -> CameraError + 'a {
    move |errno| CameraError::Ioctl { device: device.to_path_buf(), request, errno }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_device_the_request_and_the_alternatives() {
        let e =
            CameraError::Ioctl { device: "/dev/v4l/by-id/cam".into(), request: "VIDIOC_S_FMT", errno: Errno::EBUSY };
        let m = e.to_string();
        assert!(m.contains("/dev/v4l/by-id/cam") && m.contains("VIDIOC_S_FMT") && m.contains("EBUSY"), "{m}");
        let e = CameraError::FormatUnavailable {
            device: "/dev/video0".into(),
            requested: FourCC::MJPEG,
            offered: vec![FourCC::YUYV, FourCC::NV12],
        };
        assert_eq!(e.to_string(), "/dev/video0: pixel format MJPG is not offered; the device offers: YUYV, NV12");
        assert!(
            CameraError::Ioctl { device: "x".into(), request: "VIDIOC_DQBUF", errno: Errno::ENODEV }.is_disconnect()
        );
    }
}
