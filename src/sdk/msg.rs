//! Small fixed-layout messages that travel on wires between blocks.
//!
//! Each message type has a name (recorded in the wire's header, so a reader
//! of the wrong type is refused at attach time) and a stable little-endian
//! byte layout, so a block written in another language can read and write it
//! from a mapped wire. Fields are laid out in declaration order, each at the
//! next offset that is a multiple of its own size (natural alignment), and
//! the size is rounded up to the largest field's alignment: the same rule a
//! C compiler applies to the equivalent struct on every platform framewire
//! runs on. Encoding is explicit rather than a `#[repr(C)]` transmute, which
//! keeps `unsafe` out of this crate and the layout independent of the
//! compiler.
//!
//! Declare your own type with [`message!`](crate::message):
//!
//! ```
//! framewire_sdk::message! {
//!     /// A 2-D pose estimate.
//!     pub struct Pose2D = "my_robot/pose2d" {
//!         /// Metres.
//!         pub x: f64,
//!         /// Metres.
//!         pub y: f64,
//!         /// Radians, counter-clockwise.
//!         pub theta: f32,
//!         /// Whether the estimate is valid.
//!         pub valid: bool,
//!     }
//! }
//! use framewire_sdk::msg::Message;
//! assert_eq!(Pose2D::SIZE, 24); // 8 + 8 + 4 + 1, rounded up to 8
//! let layout = Pose2D::layout();
//! assert_eq!((layout[3].name, layout[3].offset), ("valid", 20));
//! ```
//!
//! and register it with `Registry::add_message::<Pose2D>()` so that `exec`
//! blocks can name it and `framewire messages` documents it.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

pub use framewire_wire::PayloadType;

/// A scalar, `bool` or array that can be a message field: little-endian and
/// naturally aligned.
pub trait Field: Copy + Default {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Alignment within the message: a scalar's size, an array's element's.
    const ALIGN: usize;
    /// Writes the value into `out[..SIZE]`.
    fn put(&self, out: &mut [u8]);
    /// Reads a value from `b[..SIZE]`.
    fn get(b: &[u8]) -> Self;
    /// The type as the layout documentation shows it (`f32`, `[u32; 4]`).
    fn type_name() -> String;
}

macro_rules! scalar_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            const ALIGN: usize = std::mem::size_of::<$t>();
            fn put(&self, out: &mut [u8]) {
                out[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
            fn type_name() -> String {
                stringify!($t).to_string()
            }
        }
    )*};
}
scalar_field!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

/// One byte, 0 or 1 (any non-zero byte reads as `true`).
impl Field for bool {
    const SIZE: usize = 1;
    const ALIGN: usize = 1;
    fn put(&self, out: &mut [u8]) {
        out[0] = *self as u8;
    }
    fn get(b: &[u8]) -> Self {
        b[0] != 0
    }
    fn type_name() -> String {
        "bool (u8 0/1)".to_string()
    }
}

impl<T: Field, const N: usize> Field for [T; N]
where
    [T; N]: Default,
{
    const SIZE: usize = T::SIZE * N;
    const ALIGN: usize = T::ALIGN;
    fn put(&self, out: &mut [u8]) {
        for (i, v) in self.iter().enumerate() {
            v.put(&mut out[i * T::SIZE..]);
        }
    }
    fn get(b: &[u8]) -> Self {
        let mut a = <[T; N]>::default();
        for (i, v) in a.iter_mut().enumerate() {
            *v = T::get(&b[i * T::SIZE..]);
        }
        a
    }
    fn type_name() -> String {
        format!("[{}; {N}]", T::type_name())
    }
}

/// Offsets of fields of the given `(size, align)`, in order, and the total
/// size: each field at the next multiple of its alignment, the total rounded
/// up to the largest alignment. Used by [`message!`](crate::message).
pub const fn layout<const N: usize>(fields: [(usize, usize); N]) -> ([usize; N], usize) {
    let mut offsets = [0usize; N];
    let mut at: usize = 0;
    let mut max_align: usize = 1;
    let mut i = 0;
    while i < N {
        let (size, align) = fields[i];
        at = at.div_ceil(align) * align;
        offsets[i] = at;
        at += size;
        if align > max_align {
            max_align = align;
        }
        i += 1;
    }
    (offsets, at.div_ceil(max_align) * max_align)
}

/// One field of a message's byte layout, for documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// Field name.
    pub name: &'static str,
    /// Type (`f32`, `[u32; 4]`, ...).
    pub ty: String,
    /// Byte offset from the start of the message.
    pub offset: usize,
    /// Encoded size in bytes.
    pub size: usize,
    /// The field's documentation.
    pub doc: String,
}

/// A message with a fixed little-endian layout of `SIZE` bytes. Implement it
/// with [`message!`](crate::message), which derives the layout from the
/// struct declaration.
pub trait Message: Sized + Copy + Default + Send + 'static {
    /// The type recorded in the wire header: name and size.
    const TYPE: PayloadType;
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Writes the message into `out[..SIZE]`.
    fn encode(&self, out: &mut [u8]);
    /// Reads a message from `buf[..SIZE]`; `None` if `buf` is too short.
    fn decode(buf: &[u8]) -> Option<Self>;
    /// The byte layout, field by field.
    fn layout() -> Vec<FieldInfo> {
        Vec::new()
    }
    /// The type's documentation.
    fn doc() -> &'static str {
        ""
    }
}

/// A message type as `framewire messages` and `exec` blocks know it.
#[derive(Clone, Copy)]
pub struct MessageInfo {
    /// Name and size.
    pub ty: PayloadType,
    /// Documentation.
    pub doc: fn() -> &'static str,
    /// Byte layout.
    pub layout: fn() -> Vec<FieldInfo>,
}

impl MessageInfo {
    /// The description of message type `M`.
    pub fn of<M: Message>() -> MessageInfo {
        MessageInfo { ty: M::TYPE, doc: M::doc, layout: M::layout }
    }
}

fn table() -> &'static Mutex<BTreeMap<String, MessageInfo>> {
    static TABLE: OnceLock<Mutex<BTreeMap<String, MessageInfo>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = BTreeMap::new();
        for m in builtin() {
            t.insert(m.ty.name().to_string(), m);
        }
        Mutex::new(t)
    })
}

/// The message types framewire itself declares.
pub fn builtin() -> [MessageInfo; 4] {
    [
        MessageInfo::of::<DriveCommand>(),
        MessageInfo::of::<WheelCommand>(),
        MessageInfo::of::<Detection>(),
        MessageInfo::of::<Odometry>(),
    ]
}

/// Makes message type `info` known to this process by name (the block
/// registry does this for `Registry::add_message`). Registering the same type
/// twice is harmless; a different type under a known name is an error.
pub fn register(info: MessageInfo) -> Result<(), String> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    match t.get(info.ty.name()) {
        Some(old) if old.ty != info.ty => Err(format!(
            "message type {:?} is declared twice with different sizes ({} and {} bytes); give one of them another name",
            info.ty.name(),
            old.ty.size(),
            info.ty.size()
        )),
        _ => {
            t.insert(info.ty.name().to_string(), info);
            Ok(())
        }
    }
}

/// The message type named `name`, if this process knows it.
pub fn lookup(name: &str) -> Option<MessageInfo> {
    table().lock().unwrap_or_else(|e| e.into_inner()).get(name).copied()
}

/// Every message type this process knows, sorted by name.
pub fn known() -> Vec<MessageInfo> {
    table().lock().unwrap_or_else(|e| e.into_inner()).values().copied().collect()
}

/// Formats a message's fields from its raw bytes and layout, as
/// `name=value` pairs (for loggers that handle any message type).
pub fn format_fields(layout: &[FieldInfo], bytes: &[u8]) -> String {
    fn scalar(ty: &str, b: &[u8]) -> Option<String> {
        Some(match ty {
            "u8" => u8::get(b).to_string(),
            "i8" => i8::get(b).to_string(),
            "u16" => u16::get(b).to_string(),
            "i16" => i16::get(b).to_string(),
            "u32" => u32::get(b).to_string(),
            "i32" => i32::get(b).to_string(),
            "u64" => u64::get(b).to_string(),
            "i64" => i64::get(b).to_string(),
            "f32" => format!("{:.4}", f32::get(b)),
            "f64" => format!("{:.4}", f64::get(b)),
            t if t.starts_with("bool") => bool::get(b).to_string(),
            _ => return None,
        })
    }
    let mut out = Vec::new();
    for f in layout {
        let Some(b) = bytes.get(f.offset..f.offset + f.size) else { break };
        let text = if let Some(inner) = f.ty.strip_prefix('[').and_then(|t| t.split(';').next()) {
            let n = f.ty.rsplit(';').next().and_then(|t| t.trim().trim_end_matches(']').parse::<usize>().ok());
            match n.filter(|&n| n > 0) {
                Some(n) => {
                    let each = f.size / n;
                    let items: Vec<String> =
                        (0..n).map(|i| scalar(inner, &b[i * each..]).unwrap_or_else(|| "?".into())).collect();
                    format!("[{}]", items.join(", "))
                }
                None => "?".into(),
            }
        } else {
            scalar(&f.ty, b).unwrap_or_else(|| "?".into())
        };
        out.push(format!("{}={text}", f.name));
    }
    out.join(" ")
}

/// Declares a fixed-layout message type: the struct, its [`Message`]
/// implementation (encode, decode, size, wire type name) and its layout
/// documentation, all from one declaration. See the [module docs](crate::msg).
///
/// Fields may be `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`, `f32`,
/// `f64`, `bool` (one byte) and arrays of them. The type name (`"drive"`,
/// `"my_robot/pose2d"`) is 1 to 31 bytes of `a-z 0-9 _ - . /`; prefix your
/// own with your project's name so it cannot clash with framewire's.
#[macro_export]
macro_rules! message {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident = $type_name:literal {
            $(
                $(#[doc = $fdoc:literal])*
                $fvis:vis $field:ident : $fty:ty
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        $vis struct $name {
            $(
                $(#[doc = $fdoc])*
                $fvis $field: $fty,
            )*
        }

        impl $name {
            const __FIELDS: usize = <[()]>::len(&[$($crate::__unit!($field)),*]);
            const __LAYOUT: ([usize; Self::__FIELDS], usize) = $crate::msg::layout([
                $((<$fty as $crate::msg::Field>::SIZE, <$fty as $crate::msg::Field>::ALIGN)),*
            ]);
        }

        impl $crate::msg::Message for $name {
            const TYPE: $crate::msg::PayloadType =
                $crate::msg::PayloadType::message($type_name, Self::__LAYOUT.1 as u32);
            const SIZE: usize = Self::__LAYOUT.1;

            #[allow(unused_assignments)]
            fn encode(&self, out: &mut [u8]) {
                let offsets = &Self::__LAYOUT.0;
                let mut i = 0;
                $(
                    $crate::msg::Field::put(&self.$field, &mut out[offsets[i]..]);
                    i += 1;
                )*
            }

            #[allow(unused_assignments)]
            fn decode(b: &[u8]) -> Option<Self> {
                if b.len() < Self::SIZE {
                    return None;
                }
                let offsets = &Self::__LAYOUT.0;
                let mut i = 0;
                Some($name {
                    $(
                        $field: {
                            let v = <$fty as $crate::msg::Field>::get(&b[offsets[i]..]);
                            i += 1;
                            v
                        },
                    )*
                })
            }

            #[allow(unused_assignments)]
            fn layout() -> Vec<$crate::msg::FieldInfo> {
                let offsets = &Self::__LAYOUT.0;
                let mut out = Vec::new();
                let mut i = 0;
                $(
                    out.push($crate::msg::FieldInfo {
                        name: stringify!($field),
                        ty: <$fty as $crate::msg::Field>::type_name(),
                        offset: offsets[i],
                        size: <$fty as $crate::msg::Field>::SIZE,
                        doc: [$($fdoc),*].iter().map(|l: &&str| l.trim()).collect::<Vec<_>>().join(" "),
                    });
                    i += 1;
                )*
                out
            }

            fn doc() -> &'static str {
                concat!($($doc, "\n"),*)
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __unit {
    ($t:tt) => {
        ()
    };
}

crate::message! {
    /// A body-frame velocity request, as `geometry_msgs/Twist` restricted to
    /// a ground robot.
    pub struct DriveCommand = "drive" {
        /// Forward speed in m/s (forward positive).
        pub linear: f32,
        /// Turn rate in rad/s, counter-clockwise (left) positive.
        pub angular: f32,
    }
}

crate::message! {
    /// Wheel speed targets for a differential-drive base.
    pub struct WheelCommand = "wheels" {
        /// Left wheel angular speed, rad/s; positive drives the robot forward.
        pub left: f32,
        /// Right wheel angular speed, rad/s; positive drives the robot forward.
        pub right: f32,
    }
}

crate::message! {
    /// A blob found in a mask (the largest one, or all matching pixels for
    /// the colour tracker). The capture timestamp and sequence number of the
    /// source frame travel in the wire slot's metadata, not in the message.
    pub struct Detection = "detection" {
        /// Whether any pixel was set.
        pub found: bool,
        /// Blob area in pixels.
        pub area: u32,
        /// Centroid x in pixels.
        pub cx: f32,
        /// Centroid y in pixels.
        pub cy: f32,
        /// Bounding box: left, top, width, height, in pixels.
        pub bbox: [u32; 4],
        /// Width of the image the blob was found in.
        pub image_width: u32,
        /// Height of the image the blob was found in.
        pub image_height: u32,
    }
}

crate::message! {
    /// What a motor driver reports.
    pub struct Odometry = "odometry" {
        /// Integrated position x, metres, in the frame where the driver started.
        pub x: f64,
        /// Integrated position y, metres.
        pub y: f64,
        /// Integrated heading, radians.
        pub heading: f64,
        /// Measured forward speed, m/s.
        pub linear: f32,
        /// Measured turn rate, rad/s.
        pub angular: f32,
        /// Left encoder count as reported by the controller.
        pub left_counts: i64,
        /// Right encoder count.
        pub right_counts: i64,
        /// Left wheel speed, rad/s.
        pub left_speed: f32,
        /// Right wheel speed, rad/s.
        pub right_speed: f32,
        /// Battery voltage, volts (NaN when the controller does not report it).
        pub battery_v: f32,
        /// Controller error flags (controller specific, 0 = none).
        pub errors: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let mut buf = vec![0u8; M::SIZE];
        m.encode(&mut buf);
        assert_eq!(M::decode(&buf), Some(m));
        assert_eq!(M::decode(&buf[..M::SIZE - 1]), None);
    }

    #[test]
    fn messages_roundtrip() {
        roundtrip(DriveCommand { linear: 0.5, angular: -1.25 });
        roundtrip(WheelCommand { left: 3.0, right: -2.0 });
        roundtrip(Detection {
            found: true,
            area: 42,
            cx: 1.5,
            cy: 2.5,
            bbox: [1, 2, 3, 4],
            image_width: 640,
            image_height: 480,
        });
        roundtrip(Odometry {
            x: 1.0,
            y: -2.0,
            heading: 0.3,
            left_counts: -5,
            right_counts: 7,
            battery_v: 12.1,
            errors: 3,
            ..Default::default()
        });
    }

    #[test]
    fn layouts_are_the_documented_ones() {
        // The offsets foreign readers rely on (src/wire/README.md).
        let off = |l: Vec<FieldInfo>| l.iter().map(|f| (f.name, f.offset)).collect::<Vec<_>>();
        assert_eq!(DriveCommand::SIZE, 8);
        assert_eq!(Detection::SIZE, 40);
        assert_eq!(
            off(Detection::layout()),
            [("found", 0), ("area", 4), ("cx", 8), ("cy", 12), ("bbox", 16), ("image_width", 32), ("image_height", 36)]
        );
        assert_eq!(Odometry::SIZE, 64);
        assert_eq!(
            off(Odometry::layout())[5..],
            [
                ("left_counts", 32),
                ("right_counts", 40),
                ("left_speed", 48),
                ("right_speed", 52),
                ("battery_v", 56),
                ("errors", 60)
            ]
        );
        assert_eq!(Odometry::TYPE, PayloadType::message("odometry", 64));
        assert!(Detection::layout()[4].doc.starts_with("Bounding box"));
    }

    #[test]
    fn a_clashing_type_name_is_refused() {
        crate::message! {
            /// Not the real drive command.
            struct Impostor = "drive" { a: f64, b: f64 }
        }
        let err = register(MessageInfo::of::<Impostor>()).unwrap_err();
        assert!(err.contains("\"drive\" is declared twice"), "{err}");
        assert!(register(MessageInfo::of::<DriveCommand>()).is_ok());
        assert_eq!(lookup("wheels").map(|m| m.ty), Some(WheelCommand::TYPE));
    }

    #[test]
    fn fields_format_from_raw_bytes() {
        let d = Detection { found: true, area: 12, cx: 1.5, bbox: [1, 2, 3, 4], ..Default::default() };
        let mut buf = vec![0u8; Detection::SIZE];
        d.encode(&mut buf);
        let text = format_fields(&Detection::layout(), &buf);
        assert_eq!(text, "found=true area=12 cx=1.5000 cy=0.0000 bbox=[1, 2, 3, 4] image_width=0 image_height=0");
    }

    #[test]
    fn drive_layout_is_little_endian_f32() {
        let mut buf = [0u8; 8];
        DriveCommand { linear: 1.0, angular: 0.0 }.encode(&mut buf);
        assert_eq!(buf, [0, 0, 0x80, 0x3f, 0, 0, 0, 0]);
    }
}
