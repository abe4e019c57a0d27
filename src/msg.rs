//! Small fixed-layout messages that travel on wires between blocks.
//!
//! Each message has a stable little-endian byte layout (documented on the
//! type, offsets in bytes), so a block written in another language can read
//! and write them from a mapped wire. Encoding is explicit rather than a
//! `#[repr(C)]` transmute: it keeps every `unsafe` out of this module and the
//! layout independent of the compiler.

/// Identifies a message type on a wire (stored in the wire header so that a
/// reader of the wrong type is refused at attach time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MsgKind {
    /// Raw bytes or an image: no fixed layout.
    Bytes = 0,
    /// [`DriveCommand`].
    Drive = 1,
    /// [`WheelCommand`].
    Wheels = 2,
    /// [`Detection`].
    Detection = 3,
    /// [`Odometry`].
    Odometry = 4,
}

impl MsgKind {
    /// The kind stored under `v` in a wire header.
    pub fn from_u32(v: u32) -> Option<MsgKind> {
        Some(match v {
            0 => MsgKind::Bytes,
            1 => MsgKind::Drive,
            2 => MsgKind::Wheels,
            3 => MsgKind::Detection,
            4 => MsgKind::Odometry,
            _ => return None,
        })
    }
    /// The name users see in `framewire blocks` and errors.
    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Bytes => "bytes",
            MsgKind::Drive => "drive",
            MsgKind::Wheels => "wheels",
            MsgKind::Detection => "detection",
            MsgKind::Odometry => "odometry",
        }
    }
}

/// A message with a fixed little-endian layout of `SIZE` bytes.
pub trait Message: Sized + Copy + Default + Send + 'static {
    /// The kind recorded in the wire header.
    const KIND: MsgKind;
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Writes the message into `out[..SIZE]`.
    fn encode(&self, out: &mut [u8]);
    /// Reads a message from `buf[..SIZE]`; `None` if `buf` is too short.
    fn decode(buf: &[u8]) -> Option<Self>;
}

fn put_f32(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_f64(out: &mut [u8], at: usize, v: f64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_i64(out: &mut [u8], at: usize, v: i64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_f64(b: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_i64(b: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A body-frame velocity request, as `geometry_msgs/Twist` restricted to a
/// ground robot. Layout: `0: f32 linear (m/s, forward positive)`,
/// `4: f32 angular (rad/s, counter-clockwise positive)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DriveCommand {
    /// Forward speed in m/s.
    pub linear: f32,
    /// Turn rate in rad/s, counter-clockwise (left) positive.
    pub angular: f32,
}

impl Message for DriveCommand {
    const KIND: MsgKind = MsgKind::Drive;
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        put_f32(out, 0, self.linear);
        put_f32(out, 4, self.angular);
    }
    fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| DriveCommand { linear: get_f32(b, 0), angular: get_f32(b, 4) })
    }
}

/// Wheel speed targets for a differential-drive base. Layout:
/// `0: f32 left (rad/s of the wheel)`, `4: f32 right (rad/s)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WheelCommand {
    /// Left wheel angular speed, rad/s, positive drives the robot forward.
    pub left: f32,
    /// Right wheel angular speed, rad/s, positive drives the robot forward.
    pub right: f32,
}

impl Message for WheelCommand {
    const KIND: MsgKind = MsgKind::Wheels;
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        put_f32(out, 0, self.left);
        put_f32(out, 4, self.right);
    }
    fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| WheelCommand { left: get_f32(b, 0), right: get_f32(b, 4) })
    }
}

/// The largest blob found in a mask. Layout: `0: u32 found (0/1)`,
/// `4: u32 area (pixels)`, `8: f32 cx`, `12: f32 cy` (centroid, pixels),
/// `16: u32 x`, `20: u32 y`, `24: u32 w`, `28: u32 h` (bounding box),
/// `32: u32 image width`, `36: u32 image height`.
/// The capture timestamp and sequence number of the source frame travel in
/// the wire slot's metadata, not in the message.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Detection {
    /// Whether any pixel was set.
    pub found: bool,
    /// Blob area in pixels.
    pub area: u32,
    /// Centroid x in pixels.
    pub cx: f32,
    /// Centroid y in pixels.
    pub cy: f32,
    /// Bounding box: left, top, width, height.
    pub bbox: [u32; 4],
    /// Width of the image the blob was found in.
    pub image_width: u32,
    /// Height of the image the blob was found in.
    pub image_height: u32,
}

impl Message for Detection {
    const KIND: MsgKind = MsgKind::Detection;
    const SIZE: usize = 40;
    fn encode(&self, out: &mut [u8]) {
        put_u32(out, 0, self.found as u32);
        put_u32(out, 4, self.area);
        put_f32(out, 8, self.cx);
        put_f32(out, 12, self.cy);
        for (i, v) in self.bbox.iter().enumerate() {
            put_u32(out, 16 + 4 * i, *v);
        }
        put_u32(out, 32, self.image_width);
        put_u32(out, 36, self.image_height);
    }
    fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Detection {
            found: get_u32(b, 0) != 0,
            area: get_u32(b, 4),
            cx: get_f32(b, 8),
            cy: get_f32(b, 12),
            bbox: [get_u32(b, 16), get_u32(b, 20), get_u32(b, 24), get_u32(b, 28)],
            image_width: get_u32(b, 32),
            image_height: get_u32(b, 36),
        })
    }
}

/// What a motor driver reports. Layout: `0: f64 x (m)`, `8: f64 y (m)`,
/// `16: f64 heading (rad)`, `24: f32 linear (m/s)`, `28: f32 angular (rad/s)`,
/// `32: i64 left encoder counts`, `40: i64 right encoder counts`,
/// `48: f32 left wheel speed (rad/s)`, `52: f32 right wheel speed (rad/s)`,
/// `56: f32 battery voltage (V, NaN if unknown)`, `60: u32 error flags
/// (controller specific, 0 = none)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Odometry {
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
    /// Controller error flags (0 = none).
    pub errors: u32,
}

impl Message for Odometry {
    const KIND: MsgKind = MsgKind::Odometry;
    const SIZE: usize = 64;
    fn encode(&self, out: &mut [u8]) {
        put_f64(out, 0, self.x);
        put_f64(out, 8, self.y);
        put_f64(out, 16, self.heading);
        put_f32(out, 24, self.linear);
        put_f32(out, 28, self.angular);
        put_i64(out, 32, self.left_counts);
        put_i64(out, 40, self.right_counts);
        put_f32(out, 48, self.left_speed);
        put_f32(out, 52, self.right_speed);
        put_f32(out, 56, self.battery_v);
        put_u32(out, 60, self.errors);
    }
    fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Odometry {
            x: get_f64(b, 0),
            y: get_f64(b, 8),
            heading: get_f64(b, 16),
            linear: get_f32(b, 24),
            angular: get_f32(b, 28),
            left_counts: get_i64(b, 32),
            right_counts: get_i64(b, 40),
            left_speed: get_f32(b, 48),
            right_speed: get_f32(b, 52),
            battery_v: get_f32(b, 56),
            errors: get_u32(b, 60),
        })
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
    fn drive_layout_is_little_endian_f32() {
        let mut buf = [0u8; 8];
        DriveCommand { linear: 1.0, angular: 0.0 }.encode(&mut buf);
        assert_eq!(buf, [0, 0, 0x80, 0x3f, 0, 0, 0, 0]);
    }
}
