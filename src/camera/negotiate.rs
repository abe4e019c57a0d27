//! Format, size and frame-rate negotiation.

use super::device::Device;
use super::error::CameraError;
use framewire_sdk::image::{FourCC, ImageFormat};
use framewire_sys::v4l2 as sys;

/// What the user asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FormatRequest {
    /// Pixel format.
    pub fourcc: FourCC,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second; `None` keeps the driver's rate.
    pub fps: Option<f64>,
}

/// What the driver granted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Negotiated {
    /// Geometry: width, height, stride (`bytesperline`) and format.
    pub format: ImageFormat,
    /// Bytes a buffer must hold for one frame (`sizeimage`).
    pub sizeimage: u32,
    /// Seconds per frame as (numerator, denominator), if the driver says.
    pub interval: Option<(u32, u32)>,
}

impl Negotiated {
    /// Frames per second granted, if known.
    pub fn fps(&self) -> Option<f64> {
        self.interval.filter(|i| i.0 != 0).map(|(n, d)| d as f64 / n as f64)
    }
}

impl Device {
    /// The current format (`VIDIOC_G_FMT`).
    pub fn current_format(&self) -> Result<Negotiated, CameraError> {
        let mut f = sys::v4l2_format { type_: sys::BUF_TYPE_VIDEO_CAPTURE, ..Default::default() };
        sys::g_fmt(self.fd(), &mut f).map_err(self.err("VIDIOC_G_FMT"))?;
        let mut n = from_pix(&f.pix());
        n.interval = self.current_interval()?;
        Ok(n)
    }

    fn current_interval(&self) -> Result<Option<(u32, u32)>, CameraError> {
        let mut p = sys::v4l2_streamparm { type_: sys::BUF_TYPE_VIDEO_CAPTURE, ..Default::default() };
        match sys::g_parm(self.fd(), &mut p) {
            Ok(()) => {
                let t = p.capture().timeperframe;
                Ok((t.denominator != 0).then_some((t.numerator, t.denominator)))
            }
            Err(nix::errno::Errno::ENOTTY) | Err(nix::errno::Errno::EINVAL) => Ok(None),
            Err(e) => Err(self.err("VIDIOC_G_PARM")(e)),
        }
    }

    /// What `S_FMT` would grant for `req`, without changing anything
    /// (`VIDIOC_TRY_FMT`). The format must be offered.
    pub fn try_format(&self, req: &FormatRequest) -> Result<Negotiated, CameraError> {
        self.check_offered(req.fourcc)?;
        let mut f = format_for(req);
        sys::try_fmt(self.fd(), &mut f).map_err(self.err("VIDIOC_TRY_FMT"))?;
        Ok(from_pix(&f.pix()))
    }

    fn check_offered(&self, fourcc: FourCC) -> Result<(), CameraError> {
        let offered: Vec<FourCC> = self.formats()?.into_iter().map(|f| f.0).collect();
        if offered.contains(&fourcc) {
            Ok(())
        } else {
            Err(CameraError::FormatUnavailable { device: self.path().to_path_buf(), requested: fourcc, offered })
        }
    }

    /// Sets format, size and rate (`VIDIOC_S_FMT`, `VIDIOC_S_PARM`) and
    /// returns, and logs, what the driver granted. A format the device does
    /// not offer is refused with the list of those it does. The driver may
    /// adjust the size (to the nearest it supports) and the rate; that is
    /// logged as a warning, not refused.
    pub fn negotiate(&self, req: &FormatRequest) -> Result<Negotiated, CameraError> {
        self.check_offered(req.fourcc)?;
        let mut f = format_for(req);
        sys::s_fmt(self.fd(), &mut f).map_err(self.err("VIDIOC_S_FMT"))?;
        let mut got = from_pix(&f.pix());
        if got.format.fourcc != req.fourcc {
            return Err(CameraError::FormatRefused {
                device: self.path().to_path_buf(),
                requested: req.fourcc,
                granted: got.format.fourcc,
            });
        }
        if let Some(fps) = req.fps.filter(|f| *f > 0.0) {
            let mut p = sys::v4l2_streamparm { type_: sys::BUF_TYPE_VIDEO_CAPTURE, ..Default::default() };
            sys::g_parm(self.fd(), &mut p).map_err(self.err("VIDIOC_G_PARM"))?;
            let mut c = p.capture();
            if c.capability & sys::CAP_TIMEPERFRAME == 0 {
                tracing::warn!("{}: driver cannot set the frame rate; {fps} fps ignored", self.path().display());
            } else {
                c.timeperframe = fps_to_fract(fps);
                p.set_capture(c);
                sys::s_parm(self.fd(), &mut p).map_err(self.err("VIDIOC_S_PARM"))?;
            }
        }
        got.interval = self.current_interval()?;
        let fmt = got.format;
        tracing::info!(
            "{}: granted {} {}x{} stride {} sizeimage {} at {}",
            self.path().display(),
            fmt.fourcc,
            fmt.width,
            fmt.height,
            fmt.stride,
            got.sizeimage,
            got.fps().map_or("driver rate".into(), |r| format!("{r:.3} fps")),
        );
        if (fmt.width, fmt.height) != (req.width, req.height) {
            tracing::warn!(
                "{}: asked for {}x{}, driver granted {}x{}",
                self.path().display(),
                req.width,
                req.height,
                fmt.width,
                fmt.height
            );
        }
        if let (Some(want), Some(have)) = (req.fps, got.fps())
            && (want - have).abs() > 0.01 * want
        {
            tracing::warn!("{}: asked for {want} fps, driver granted {have:.3} fps", self.path().display());
        }
        Ok(got)
    }
}

fn format_for(req: &FormatRequest) -> sys::v4l2_format {
    let mut f = sys::v4l2_format { type_: sys::BUF_TYPE_VIDEO_CAPTURE, ..Default::default() };
    f.set_pix(sys::v4l2_pix_format {
        width: req.width,
        height: req.height,
        pixelformat: req.fourcc.0,
        field: sys::FIELD_NONE,
        ..Default::default()
    });
    f
}

fn from_pix(p: &sys::v4l2_pix_format) -> Negotiated {
    Negotiated {
        format: ImageFormat { width: p.width, height: p.height, stride: p.bytesperline, fourcc: FourCC(p.pixelformat) },
        sizeimage: p.sizeimage,
        interval: None,
    }
}

/// `1/fps` seconds as a fraction, exact for integer and common NTSC rates.
fn fps_to_fract(fps: f64) -> sys::v4l2_fract {
    if (fps - fps.round()).abs() < 1e-6 {
        sys::v4l2_fract { numerator: 1, denominator: fps.round() as u32 }
    } else {
        sys::v4l2_fract { numerator: 1000, denominator: (fps * 1000.0).round() as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_fractions() {
        assert_eq!(fps_to_fract(30.0), sys::v4l2_fract { numerator: 1, denominator: 30 });
        assert_eq!(fps_to_fract(29.97), sys::v4l2_fract { numerator: 1000, denominator: 29970 });
        let n = Negotiated { format: ImageFormat::default(), sizeimage: 0, interval: Some((1, 25)) };
        assert_eq!(n.fps(), Some(25.0));
    }
}
