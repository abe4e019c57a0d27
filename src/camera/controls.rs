//! Controls (exposure, gain, white balance, brightness, ...) by name.

use nix::errno::Errno;

use super::device::Device;
use super::error::CameraError;
use framewire_sys::v4l2 as sys;

/// The type of a control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// A 32-bit integer in a range.
    Integer,
    /// A 64-bit integer in a range.
    Integer64,
    /// 0 or 1.
    Boolean,
    /// One of the named items in [`ControlInfo::menu`].
    Menu,
    /// One of the integers in [`ControlInfo::menu`].
    IntegerMenu,
    /// An action: writing any value triggers it.
    Button,
    /// A bit mask.
    Bitmask,
    /// Another type (string, compound); listed but not settable by name.
    Other(u32),
}

/// A control and its range, as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlInfo {
    /// The V4L2 control id.
    pub id: u32,
    /// The driver's name (`"Brightness"`, `"Exposure Time, Absolute"`).
    pub name: String,
    /// The name as TOML keys write it: lowercase, words joined by `_`
    /// (`"brightness"`, `"exposure_time_absolute"`).
    pub key: String,
    /// Type.
    pub kind: ControlKind,
    /// Minimum value.
    pub min: i64,
    /// Maximum value.
    pub max: i64,
    /// Step.
    pub step: u64,
    /// Default value.
    pub default: i64,
    /// `V4L2_CTRL_FLAG_*`.
    pub flags: u32,
    /// Menu items (value, label) for menu controls.
    pub menu: Vec<(i64, String)>,
}

impl ControlInfo {
    /// Whether the control can be written now.
    pub fn writable(&self) -> bool {
        self.flags & (sys::CTRL_FLAG_READ_ONLY | sys::CTRL_FLAG_DISABLED | sys::CTRL_FLAG_GRABBED) == 0
    }
}

impl std::fmt::Display for ControlInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}): {}..={} step {} default {}",
            self.key, self.kind, self.min, self.max, self.step, self.default
        )?;
        if !self.menu.is_empty() {
            let m: Vec<String> = self.menu.iter().map(|(v, l)| format!("{v}={l}")).collect();
            write!(f, " [{}]", m.join(", "))?;
        }
        if self.flags & sys::CTRL_FLAG_READ_ONLY != 0 {
            write!(f, " read-only")?;
        }
        if self.flags & sys::CTRL_FLAG_INACTIVE != 0 {
            write!(f, " inactive")?;
        }
        Ok(())
    }
}

/// A control name normalised for matching: lowercase ASCII alphanumerics,
/// runs of anything else become one `_`.
pub(crate) fn key_of(name: &str) -> String {
    let mut k = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            k.push(c.to_ascii_lowercase());
        } else if !k.ends_with('_') {
            k.push('_');
        }
    }
    k.trim_matches('_').to_string()
}

/// Common names and the driver names they stand for, tried in order.
const ALIASES: &[(&str, &[&str])] = &[
    ("exposure", &["exposure_time_absolute", "exposure_absolute", "exposure"]),
    ("auto_exposure", &["auto_exposure", "exposure_auto"]),
    ("gain", &["gain", "analogue_gain", "analog_gain"]),
    ("white_balance", &["white_balance_temperature"]),
    ("auto_white_balance", &["white_balance_automatic", "white_balance_temperature_auto", "auto_white_balance"]),
    ("white_balance_auto", &["white_balance_automatic", "white_balance_temperature_auto", "auto_white_balance"]),
];

fn kind_of(t: u32) -> ControlKind {
    match t {
        sys::CTRL_TYPE_INTEGER => ControlKind::Integer,
        sys::CTRL_TYPE_INTEGER64 => ControlKind::Integer64,
        sys::CTRL_TYPE_BOOLEAN => ControlKind::Boolean,
        sys::CTRL_TYPE_MENU => ControlKind::Menu,
        sys::CTRL_TYPE_INTEGER_MENU => ControlKind::IntegerMenu,
        sys::CTRL_TYPE_BUTTON => ControlKind::Button,
        sys::CTRL_TYPE_BITMASK => ControlKind::Bitmask,
        t => ControlKind::Other(t),
    }
}

impl Device {
    /// Every control of the node with its range (`VIDIOC_QUERY_EXT_CTRL`,
    /// or `VIDIOC_QUERYCTRL` on old drivers), menus included. Disabled
    /// controls and class headings are left out.
    pub fn controls(&self) -> Result<Vec<ControlInfo>, CameraError> {
        let mut out = vec![];
        let mut id = sys::CTRL_FLAG_NEXT_CTRL;
        loop {
            let mut q = sys::v4l2_query_ext_ctrl { id, ..Default::default() };
            let info = match sys::query_ext_ctrl(self.fd(), &mut q) {
                Ok(()) => ControlInfo {
                    id: q.id,
                    name: sys::cstr(&q.name),
                    key: key_of(&sys::cstr(&q.name)),
                    kind: kind_of(q.type_),
                    min: q.minimum,
                    max: q.maximum,
                    step: q.step,
                    default: q.default_value,
                    flags: q.flags,
                    menu: vec![],
                },
                Err(Errno::EINVAL) => break,
                Err(Errno::ENOTTY) => return self.controls_legacy(),
                Err(e) => return Err(self.err("VIDIOC_QUERY_EXT_CTRL")(e)),
            };
            id = info.id | sys::CTRL_FLAG_NEXT_CTRL;
            self.push_control(info, &mut out)?;
        }
        Ok(out)
    }

    fn controls_legacy(&self) -> Result<Vec<ControlInfo>, CameraError> {
        let mut out = vec![];
        let mut id = sys::CTRL_FLAG_NEXT_CTRL;
        loop {
            let mut q = sys::v4l2_queryctrl { id, ..Default::default() };
            match sys::queryctrl(self.fd(), &mut q) {
                Ok(()) => {}
                Err(Errno::EINVAL) => break,
                Err(e) => return Err(self.err("VIDIOC_QUERYCTRL")(e)),
            }
            id = q.id | sys::CTRL_FLAG_NEXT_CTRL;
            let info = ControlInfo {
                id: q.id,
                name: sys::cstr(&q.name),
                key: key_of(&sys::cstr(&q.name)),
                kind: kind_of(q.type_),
                min: q.minimum.into(),
                max: q.maximum.into(),
                step: q.step.max(0) as u64,
                default: q.default_value.into(),
                flags: q.flags,
                menu: vec![],
            };
            self.push_control(info, &mut out)?;
        }
        Ok(out)
    }

    fn push_control(&self, mut info: ControlInfo, out: &mut Vec<ControlInfo>) -> Result<(), CameraError> {
        if info.flags & sys::CTRL_FLAG_DISABLED != 0 || info.kind == ControlKind::Other(sys::CTRL_TYPE_CTRL_CLASS) {
            return Ok(());
        }
        if matches!(info.kind, ControlKind::Menu | ControlKind::IntegerMenu) && info.min >= 0 && info.max < 4096 {
            for index in info.min..=info.max {
                let mut m = sys::v4l2_querymenu { id: info.id, index: index as u32, ..Default::default() };
                match sys::querymenu(self.fd(), &mut m) {
                    Ok(()) => {
                        let label = if info.kind == ControlKind::Menu {
                            sys::cstr(&m.name_or_value)
                        } else {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&m.name_or_value[..8]);
                            i64::from_ne_bytes(b).to_string()
                        };
                        info.menu.push((index, label));
                    }
                    Err(Errno::EINVAL) => {} // a gap in the menu
                    Err(e) => return Err(self.err("VIDIOC_QUERYMENU")(e)),
                }
            }
        }
        out.push(info);
        Ok(())
    }

    /// Finds a control by name: its driver name in any case and spacing
    /// (`"Exposure Time, Absolute"`, `"exposure_time_absolute"`), or a
    /// common alias (`exposure`, `gain`, `white_balance`,
    /// `auto_white_balance`, `auto_exposure`).
    pub fn find_control(&self, name: &str) -> Result<ControlInfo, CameraError> {
        let all = self.controls()?;
        let key = key_of(name);
        let mut candidates = vec![key.clone()];
        if let Some((_, names)) = ALIASES.iter().find(|(a, _)| *a == key) {
            candidates.extend(names.iter().map(|s| s.to_string()));
        }
        for c in &candidates {
            if let Some(i) = all.iter().find(|i| &i.key == c) {
                return Ok(i.clone());
            }
        }
        Err(CameraError::NoSuchControl {
            device: self.path().to_path_buf(),
            name: name.to_string(),
            available: all.iter().map(|i| i.key.clone()).collect(),
        })
    }

    /// Sets a control by name (see [`Device::find_control`]) after checking
    /// the value against its range; returns the control with its range.
    pub fn set_control(&self, name: &str, value: i64) -> Result<ControlInfo, CameraError> {
        let info = self.find_control(name)?;
        let in_range = value >= info.min
            && value <= info.max
            && (info.step <= 1 || ((value - info.min) as u64).is_multiple_of(info.step))
            && (info.menu.is_empty() || info.menu.iter().any(|(v, _)| *v == value));
        if !in_range && info.kind != ControlKind::Button {
            return Err(CameraError::ControlRange {
                device: self.path().to_path_buf(),
                name: info.key.clone(),
                value,
                min: info.min,
                max: info.max,
                step: info.step,
            });
        }
        self.set_control_id(info.id, info.kind, value)?;
        tracing::info!("{}: control {} = {value} (range {}..={})", self.path().display(), info.key, info.min, info.max);
        Ok(info)
    }

    /// Reads a control's current value by name.
    pub fn get_control(&self, name: &str) -> Result<i64, CameraError> {
        let info = self.find_control(name)?;
        self.get_control_id(info.id, info.kind)
    }

    /// Sets a control by id.
    pub fn set_control_id(&self, id: u32, kind: ControlKind, value: i64) -> Result<(), CameraError> {
        if kind == ControlKind::Integer64 {
            let mut c = [sys::v4l2_ext_control { id, ..Default::default() }];
            c[0].set_value64(value);
            sys::ext_ctrls(self.fd(), true, &mut c).map_err(self.err("VIDIOC_S_EXT_CTRLS"))
        } else {
            let v = i32::try_from(value).map_err(|_| CameraError::ControlRange {
                device: self.path().to_path_buf(),
                name: format!("{id:#x}"),
                value,
                min: i32::MIN.into(),
                max: i32::MAX.into(),
                step: 1,
            })?;
            let mut c = sys::v4l2_control { id, value: v };
            sys::s_ctrl(self.fd(), &mut c).map_err(self.err("VIDIOC_S_CTRL"))
        }
    }

    /// Reads a control by id.
    pub fn get_control_id(&self, id: u32, kind: ControlKind) -> Result<i64, CameraError> {
        if kind == ControlKind::Integer64 {
            let mut c = [sys::v4l2_ext_control { id, ..Default::default() }];
            sys::ext_ctrls(self.fd(), false, &mut c).map_err(self.err("VIDIOC_G_EXT_CTRLS"))?;
            Ok(c[0].value64())
        } else {
            let mut c = sys::v4l2_control { id, value: 0 };
            sys::g_ctrl(self.fd(), &mut c).map_err(self.err("VIDIOC_G_CTRL"))?;
            Ok(c.value.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(key_of("Exposure Time, Absolute"), "exposure_time_absolute");
        assert_eq!(key_of("White Balance, Automatic"), "white_balance_automatic");
        assert_eq!(key_of("  Gain "), "gain");
        assert_eq!(key_of("Inject V4L2_BUF_FLAG_ERROR"), "inject_v4l2_buf_flag_error");
    }
}
