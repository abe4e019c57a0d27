//! Little-endian CDR, the encoding of ROS 2 messages (and of MCAP's `cdr`
//! message encoding), written and read by hand.
//!
//! A serialized message is a 4-byte encapsulation header (`00 01 00 00`:
//! plain CDR, little-endian) followed by the fields in declaration order.
//! Each primitive is aligned to its own size, counted from the end of the
//! encapsulation header (not from the start of the buffer); strings are a
//! `u32` length that counts the terminating NUL, the bytes, and the NUL;
//! sequences (`uint8[]`) are a `u32` element count and the elements; fixed
//! arrays (`uint32[4]`) are the elements alone. These are the rules of OMG
//! CDR (XCDR version 1) as ROS 2's Fast DDS and `rosbags` apply them; the
//! unit tests compare bytes with what `rosbags` serializes for the same
//! values, and `tests/record.rs` runs `rosbags` itself.
//!
//! Everything here is a pure function over byte buffers. The writers append
//! to a caller's `Vec<u8>` that is cleared and reused, so a recorder that
//! keeps one buffer allocates nothing once it has grown to a frame's size.

use framewire_sdk::image::{FourCC, ImageFormat};
use framewire_sdk::msg::FieldInfo;

/// The encapsulation header of little-endian plain CDR.
pub const CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// A CDR encoding or decoding error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    /// The buffer ends before the field.
    #[error("CDR data ends at byte {len} while reading {what} (needs {need} more bytes)")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Buffer length.
        len: usize,
        /// Bytes missing.
        need: usize,
    },
    /// Not little-endian plain CDR.
    #[error("CDR encapsulation header {0:02x?} is not little-endian plain CDR (00 01 00 00)")]
    Header([u8; 4]),
    /// A string is not NUL-terminated UTF-8.
    #[error("CDR string {what} is not NUL-terminated UTF-8")]
    BadString {
        /// Which string.
        what: &'static str,
    },
    /// A message field has a type CDR encoding does not know.
    #[error("field `{field}` has type {ty}, which has no ROS 2 equivalent")]
    FieldType {
        /// The field.
        field: &'static str,
        /// Its type.
        ty: String,
    },
    /// An image whose bytes do not match its format.
    #[error("{0}")]
    Image(String),
}

/// A ROS 2 `builtin_interfaces/msg/Time`: seconds and nanoseconds since the
/// epoch of the clock (for framewire's files: the Unix epoch, wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Whole seconds.
    pub sec: i32,
    /// Nanoseconds, 0 to 999 999 999.
    pub nanosec: u32,
}

impl Stamp {
    /// The stamp of a time in nanoseconds (seconds saturate at `i32::MAX`,
    /// the year 2038, as ROS 2's own `int32 sec` does).
    pub fn from_ns(ns: u64) -> Stamp {
        Stamp { sec: (ns / 1_000_000_000).min(i32::MAX as u64) as i32, nanosec: (ns % 1_000_000_000) as u32 }
    }
    /// Nanoseconds (a negative stamp reads as 0).
    pub fn to_ns(self) -> u64 {
        (self.sec.max(0) as u64) * 1_000_000_000 + self.nanosec as u64
    }
}

/// Appends CDR fields to a buffer that starts with the encapsulation header.
pub struct CdrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> CdrWriter<'a> {
    /// Clears `buf` and writes the encapsulation header.
    pub fn new(buf: &'a mut Vec<u8>) -> CdrWriter<'a> {
        buf.clear();
        buf.extend_from_slice(&CDR_LE);
        CdrWriter { buf }
    }
    /// Pads with zeros to a multiple of `n` from the end of the header.
    pub fn align(&mut self, n: usize) {
        let body = self.buf.len() - CDR_LE.len();
        let pad = body.next_multiple_of(n) - body;
        self.buf.resize(self.buf.len() + pad, 0);
    }
    /// A primitive of `bytes.len()` bytes (already little-endian), aligned to its size.
    pub fn primitive(&mut self, bytes: &[u8]) {
        self.align(bytes.len());
        self.buf.extend_from_slice(bytes);
    }
    /// `uint8` / `byte` / `char`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// `uint32`.
    pub fn u32(&mut self, v: u32) {
        self.primitive(&v.to_le_bytes());
    }
    /// `int32`.
    pub fn i32(&mut self, v: i32) {
        self.primitive(&v.to_le_bytes());
    }
    /// `float64`.
    pub fn f64(&mut self, v: f64) {
        self.primitive(&v.to_le_bytes());
    }
    /// `string`: length with the NUL, bytes, NUL.
    pub fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    /// `uint8[]`: element count, then the bytes.
    pub fn bytes(&mut self, data: &[u8]) {
        self.u32(data.len() as u32);
        self.buf.extend_from_slice(data);
    }
    /// `builtin_interfaces/Time` and a `frame_id`: a `std_msgs/Header`.
    pub fn header(&mut self, stamp: Stamp, frame_id: &str) {
        self.i32(stamp.sec);
        self.u32(stamp.nanosec);
        self.string(frame_id);
    }
}

/// Reads CDR fields from a serialized message.
pub struct CdrReader<'a> {
    data: &'a [u8],
    /// Offset into `data`.
    at: usize,
}

impl<'a> CdrReader<'a> {
    /// Checks the encapsulation header and starts after it.
    pub fn new(data: &'a [u8]) -> Result<CdrReader<'a>, CdrError> {
        let head: [u8; 4] = data.get(..4).and_then(|h| h.try_into().ok()).ok_or(CdrError::Truncated {
            what: "encapsulation header",
            len: data.len(),
            need: 4,
        })?;
        if head != CDR_LE {
            return Err(CdrError::Header(head));
        }
        Ok(CdrReader { data, at: 4 })
    }
    fn align(&mut self, n: usize) {
        self.at = 4 + (self.at - 4).next_multiple_of(n);
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CdrError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(CdrError::Truncated { what, len: self.data.len(), need: self.at + n - self.data.len() });
        };
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    /// A primitive of `n` bytes, aligned to `n`.
    pub fn primitive(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CdrError> {
        self.align(n);
        self.take(n, what)
    }
    /// `uint8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CdrError> {
        Ok(self.take(1, what)?[0])
    }
    /// `uint32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, CdrError> {
        Ok(u32::from_le_bytes(self.primitive(4, what)?.try_into().unwrap_or_default()))
    }
    /// `int32`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, CdrError> {
        Ok(i32::from_le_bytes(self.primitive(4, what)?.try_into().unwrap_or_default()))
    }
    /// `string`.
    pub fn string(&mut self, what: &'static str) -> Result<&'a str, CdrError> {
        let n = self.u32(what)? as usize;
        let s = self.take(n, what)?;
        match s.split_last() {
            Some((0, text)) => std::str::from_utf8(text).map_err(|_| CdrError::BadString { what }),
            _ => Err(CdrError::BadString { what }),
        }
    }
    /// `uint8[]`.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], CdrError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
    /// A `std_msgs/Header`.
    pub fn header(&mut self) -> Result<(Stamp, &'a str), CdrError> {
        let sec = self.i32("header.stamp.sec")?;
        let nanosec = self.u32("header.stamp.nanosec")?;
        Ok((Stamp { sec, nanosec }, self.string("header.frame_id")?))
    }
}

/// The `sensor_msgs/msg/Image` encoding name of a raw pixel format, as ROS 2's
/// `sensor_msgs/image_encodings.hpp` spells it, or `None` for formats that
/// are not raw images (MJPEG goes into `CompressedImage`).
///
/// YUYV is `yuv422_yuy2` and UYVY is `yuv422` (ROS's names since ROS 1, which
/// cv_bridge, Foxglove and RViz all read); NV12 is `nv12`, which ROS 2 Jazzy
/// and later define but Foxglove does not display.
pub fn ros_encoding(fourcc: FourCC) -> Option<&'static str> {
    Some(match fourcc {
        FourCC::RGB24 => "rgb8",
        FourCC::BGR24 => "bgr8",
        FourCC::GREY => "mono8",
        FourCC::YUYV => "yuv422_yuy2",
        FourCC::UYVY => "yuv422",
        FourCC::NV12 => "nv12",
        _ => return None,
    })
}

/// The pixel format of a ROS image encoding (the inverse of [`ros_encoding`],
/// plus the other names ROS uses for the same layouts).
pub fn fourcc_of_encoding(encoding: &str) -> Option<FourCC> {
    Some(match encoding {
        "rgb8" => FourCC::RGB24,
        "bgr8" | "8UC3" => FourCC::BGR24,
        "mono8" | "8UC1" => FourCC::GREY,
        "yuv422_yuy2" | "yuyv" => FourCC::YUYV,
        "yuv422" | "uyvy" => FourCC::UYVY,
        "nv12" => FourCC::NV12,
        _ => return None,
    })
}

/// Serializes a `sensor_msgs/msg/Image` into `out`: `data` must be exactly
/// the image's bytes (`format.byte_len()`, every plane, rows `stride` apart).
pub fn encode_image(
    out: &mut Vec<u8>,
    stamp: Stamp,
    frame_id: &str,
    format: &ImageFormat,
    data: &[u8],
) -> Result<(), CdrError> {
    let encoding = ros_encoding(format.fourcc).ok_or_else(|| {
        CdrError::Image(format!("pixel format {} is not a raw image format ROS knows", format.fourcc))
    })?;
    if data.len() != format.byte_len() {
        return Err(CdrError::Image(format!(
            "a {}x{} {} image with stride {} is {} bytes, not {}",
            format.width,
            format.height,
            format.fourcc,
            format.stride,
            format.byte_len(),
            data.len()
        )));
    }
    let mut w = CdrWriter::new(out);
    w.header(stamp, frame_id);
    w.u32(format.height);
    w.u32(format.width);
    w.string(encoding);
    w.u8(0); // is_bigendian: the samples are bytes
    w.u32(format.stride);
    w.bytes(data);
    Ok(())
}

/// Serializes a `sensor_msgs/msg/CompressedImage` (`format` is `"jpeg"` for MJPEG frames).
pub fn encode_compressed(out: &mut Vec<u8>, stamp: Stamp, frame_id: &str, format: &str, data: &[u8]) {
    let mut w = CdrWriter::new(out);
    w.header(stamp, frame_id);
    w.string(format);
    w.bytes(data);
}

/// Serializes a `nav_msgs/msg/Odometry` from framewire's odometry: the pose
/// in the plane (z = 0, the heading as a rotation about z), the measured
/// body velocities, and both covariances zero (not estimated).
pub fn encode_odometry(
    out: &mut Vec<u8>,
    stamp: Stamp,
    frame_id: &str,
    child_frame_id: &str,
    odo: &framewire_sdk::msg::Odometry,
) {
    let mut w = CdrWriter::new(out);
    w.header(stamp, frame_id);
    w.string(child_frame_id);
    // pose.pose.position, pose.pose.orientation (x, y, z, w)
    for v in [odo.x, odo.y, 0.0, 0.0, 0.0, (odo.heading / 2.0).sin(), (odo.heading / 2.0).cos()] {
        w.f64(v);
    }
    for _ in 0..36 {
        w.f64(0.0);
    }
    // twist.twist.linear, twist.twist.angular
    for v in [odo.linear as f64, 0.0, 0.0, 0.0, 0.0, odo.angular as f64] {
        w.f64(v);
    }
    for _ in 0..36 {
        w.f64(0.0);
    }
}

/// A `sensor_msgs/msg/Image` read back, its pixels borrowed from the message.
#[derive(Debug, Clone, Copy)]
pub struct ImageMsg<'a> {
    /// `header.stamp`.
    pub stamp: Stamp,
    /// `header.frame_id`.
    pub frame_id: &'a str,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// ROS encoding name.
    pub encoding: &'a str,
    /// Whether multi-byte samples are big-endian.
    pub is_bigendian: bool,
    /// Bytes per row.
    pub step: u32,
    /// The pixels.
    pub data: &'a [u8],
}

impl ImageMsg<'_> {
    /// The framewire image format of this message, if its encoding is one framewire carries.
    pub fn format(&self) -> Option<ImageFormat> {
        let fourcc = fourcc_of_encoding(self.encoding)?;
        Some(ImageFormat { width: self.width, height: self.height, stride: self.step, fourcc })
    }
}

/// Reads a serialized `sensor_msgs/msg/Image`.
pub fn decode_image(data: &[u8]) -> Result<ImageMsg<'_>, CdrError> {
    let mut r = CdrReader::new(data)?;
    let (stamp, frame_id) = r.header()?;
    Ok(ImageMsg {
        stamp,
        frame_id,
        height: r.u32("height")?,
        width: r.u32("width")?,
        encoding: r.string("encoding")?,
        is_bigendian: r.u8("is_bigendian")? != 0,
        step: r.u32("step")?,
        data: r.bytes("data")?,
    })
}

/// A `sensor_msgs/msg/CompressedImage` read back.
#[derive(Debug, Clone, Copy)]
pub struct CompressedMsg<'a> {
    /// `header.stamp`.
    pub stamp: Stamp,
    /// `header.frame_id`.
    pub frame_id: &'a str,
    /// `jpeg`, `png`, ...
    pub format: &'a str,
    /// The compressed bytes.
    pub data: &'a [u8],
}

/// Reads a serialized `sensor_msgs/msg/CompressedImage`.
pub fn decode_compressed(data: &[u8]) -> Result<CompressedMsg<'_>, CdrError> {
    let mut r = CdrReader::new(data)?;
    let (stamp, frame_id) = r.header()?;
    Ok(CompressedMsg { stamp, frame_id, format: r.string("format")?, data: r.bytes("data")? })
}

/// A message field's type in ROS 2 terms: the element's name and size, and
/// the length of a fixed array (`None` for a scalar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RosField {
    /// `uint32`, `float64`, `bool`, ...
    pub ros_type: &'static str,
    /// Bytes of one element, which is also its CDR alignment.
    pub elem_size: usize,
    /// `Some(n)` for `T[n]`.
    pub array: Option<usize>,
}

/// The ROS 2 type of a framewire message field (from its layout's type text:
/// `f32`, `bool (u8 0/1)`, `[u32; 4]`).
pub fn ros_field(f: &FieldInfo) -> Result<RosField, CdrError> {
    fn scalar(t: &str) -> Option<(&'static str, usize)> {
        Some(match t.trim() {
            "u8" => ("uint8", 1),
            "i8" => ("int8", 1),
            "u16" => ("uint16", 2),
            "i16" => ("int16", 2),
            "u32" => ("uint32", 4),
            "i32" => ("int32", 4),
            "u64" => ("uint64", 8),
            "i64" => ("int64", 8),
            "f32" => ("float32", 4),
            "f64" => ("float64", 8),
            t if t.starts_with("bool") => ("bool", 1),
            _ => return None,
        })
    }
    let bad = || CdrError::FieldType { field: f.name, ty: f.ty.clone() };
    if let Some(inner) = f.ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let (elem, n) = inner.rsplit_once(';').ok_or_else(bad)?;
        let (ros_type, elem_size) = scalar(elem).ok_or_else(bad)?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if n * elem_size != f.size {
            return Err(bad());
        }
        return Ok(RosField { ros_type, elem_size, array: Some(n) });
    }
    let (ros_type, elem_size) = scalar(&f.ty).ok_or_else(bad)?;
    if elem_size != f.size {
        return Err(bad());
    }
    Ok(RosField { ros_type, elem_size, array: None })
}

/// Serializes a framewire message (its wire bytes `bytes`, laid out as
/// `layout` says) as the ROS 2 message [`schema`](crate::schema) generates for
/// it: a `std_msgs/Header` (the capture stamp) and then every field, in order.
pub fn encode_message(
    out: &mut Vec<u8>,
    stamp: Stamp,
    frame_id: &str,
    layout: &[FieldInfo],
    bytes: &[u8],
) -> Result<(), CdrError> {
    let mut w = CdrWriter::new(out);
    w.header(stamp, frame_id);
    for f in layout {
        let t = ros_field(f)?;
        let src = bytes.get(f.offset..f.offset + f.size).ok_or_else(|| CdrError::Truncated {
            what: f.name,
            len: bytes.len(),
            need: f.offset + f.size - bytes.len(),
        })?;
        // Framewire's message layout is little-endian too, so each element's
        // bytes go across unchanged; only the alignment differs.
        w.align(t.elem_size);
        if t.ros_type == "bool" {
            w.buf.extend(src.iter().map(|&b| (b != 0) as u8));
        } else {
            w.buf.extend_from_slice(src);
        }
    }
    Ok(())
}

/// Reads a message serialized by [`encode_message`] back into framewire's
/// wire bytes (`out` is at least the message's size); returns the header.
pub fn decode_message<'a>(data: &'a [u8], layout: &[FieldInfo], out: &mut [u8]) -> Result<(Stamp, &'a str), CdrError> {
    let mut r = CdrReader::new(data)?;
    let header = r.header()?;
    let out_len = out.len();
    for f in layout {
        let t = ros_field(f)?;
        r.align(t.elem_size);
        let src = r.take(f.size, f.name)?;
        let dst = out.get_mut(f.offset..f.offset + f.size).ok_or_else(|| CdrError::Truncated {
            what: f.name,
            len: out_len,
            need: f.offset + f.size - out_len,
        })?;
        dst.copy_from_slice(src);
    }
    Ok(header)
}

/// Width and height of a baseline or progressive JPEG, from its start-of-frame
/// marker (replay needs them for a frame's format; CompressedImage has none).
pub fn jpeg_size(data: &[u8]) -> Option<(u32, u32)> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return None;
        }
        let marker = data[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let s = data.get(i + 5..i + 9)?;
            let h = u16::from_be_bytes([s[0], s[1]]) as u32;
            let w = u16::from_be_bytes([s[2], s[3]]) as u32;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::msg::{Detection, Message, Odometry};

    #[test]
    fn stamps_split_into_seconds_and_nanoseconds() {
        let s = Stamp::from_ns(1_700_000_000_123_456_789);
        assert_eq!(s, Stamp { sec: 1_700_000_000, nanosec: 123_456_789 });
        assert_eq!(s.to_ns(), 1_700_000_000_123_456_789);
    }

    #[test]
    fn alignment_counts_from_the_end_of_the_encapsulation_header() {
        let mut buf = Vec::new();
        let mut w = CdrWriter::new(&mut buf);
        w.u8(7);
        w.u32(0x0102_0304);
        w.primitive(&1.5f64.to_le_bytes());
        // header, u8, 3 pad, u32 at body offset 4, f64 at body offset 8.
        assert_eq!(buf[..12], [0, 1, 0, 0, 7, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(buf.len(), 4 + 16);
        assert_eq!(buf[12..], 1.5f64.to_le_bytes());
    }

    /// `sensor_msgs/msg/Image` of 2x2 rgb8 pixels 0..12, stamp 1.5 s,
    /// frame_id "cam", as `rosbags.serde.serialize_cdr` (rosbags 0.11.9)
    /// writes it (the same bytes `tests/record.rs` checks live).
    #[test]
    fn image_bytes_equal_rosbags() {
        let rosbags: &[u8] = &[
            0, 1, 0, 0, // CDR_LE
            1, 0, 0, 0, 0x00, 0x65, 0xcd, 0x1d, // sec 1, nanosec 500 000 000
            4, 0, 0, 0, b'c', b'a', b'm', 0, // frame_id
            2, 0, 0, 0, 2, 0, 0, 0, // height, width
            5, 0, 0, 0, b'r', b'g', b'b', b'8', 0, // encoding
            0, // is_bigendian
            0, 0, // pad to 4
            6, 0, 0, 0, // step
            12, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, // data
        ];
        let mut out = Vec::new();
        let data: Vec<u8> = (0..12).collect();
        let fmt = ImageFormat::packed(FourCC::RGB24, 2, 2);
        encode_image(&mut out, Stamp::from_ns(1_500_000_000), "cam", &fmt, &data).unwrap();
        assert_eq!(out, rosbags);
        let back = decode_image(&out).unwrap();
        assert_eq!((back.width, back.height, back.encoding, back.step, back.data), (2, 2, "rgb8", 6, &data[..]));
        assert_eq!(back.format(), Some(fmt));
        assert_eq!(back.stamp.to_ns(), 1_500_000_000);
    }

    #[test]
    fn compressed_image_roundtrips() {
        let mut out = Vec::new();
        encode_compressed(&mut out, Stamp { sec: 3, nanosec: 4 }, "", "jpeg", &[0xFF, 0xD8, 1]);
        assert_eq!(out[..16], [0, 1, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0]);
        let back = decode_compressed(&out).unwrap();
        assert_eq!((back.format, back.data, back.frame_id), ("jpeg", &[0xFF, 0xD8, 1][..], ""));
    }

    /// `framewire_msgs/msg/Detection` (the schema `schema.rs` generates) with
    /// found, area 42, cx 1.5, cy 2.5, bbox [1, 2, 3, 4], 640x480, stamp
    /// 2 s + 7 ns, frame_id "", as rosbags 0.11.9 serializes it.
    #[test]
    fn detection_bytes_equal_rosbags() {
        let rosbags: &[u8] = &[
            0, 1, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, // header, frame_id ""
            1, // found
            0, 0, // pad
            42, 0, 0, 0, // area
            0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0x40, // cx, cy
            1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, // bbox
            0x80, 2, 0, 0, 0xe0, 1, 0, 0, // image_width, image_height
        ];
        let d = Detection {
            found: true,
            area: 42,
            cx: 1.5,
            cy: 2.5,
            bbox: [1, 2, 3, 4],
            image_width: 640,
            image_height: 480,
        };
        let mut bytes = vec![0u8; Detection::SIZE];
        d.encode(&mut bytes);
        let mut out = Vec::new();
        encode_message(&mut out, Stamp { sec: 2, nanosec: 7 }, "", &Detection::layout(), &bytes).unwrap();
        assert_eq!(out, rosbags);
        let mut back = vec![0u8; Detection::SIZE];
        let (stamp, _) = decode_message(&out, &Detection::layout(), &mut back).unwrap();
        assert_eq!(Detection::decode(&back), Some(d));
        assert_eq!(stamp, Stamp { sec: 2, nanosec: 7 });
    }

    #[test]
    fn float64_fields_align_to_eight_after_the_header() {
        let o = Odometry { x: 1.0, y: 2.0, heading: 3.0, left_counts: -5, errors: 9, ..Default::default() };
        let mut bytes = vec![0u8; Odometry::SIZE];
        o.encode(&mut bytes);
        let mut out = Vec::new();
        encode_message(&mut out, Stamp::default(), "", &Odometry::layout(), &bytes).unwrap();
        // Header is 4 + 4 + 4 + 1 = 13 body bytes; x aligns to body offset 16.
        assert_eq!(out[4 + 16..4 + 24], 1.0f64.to_le_bytes());
        let mut back = vec![0u8; Odometry::SIZE];
        decode_message(&out, &Odometry::layout(), &mut back).unwrap();
        assert_eq!(Odometry::decode(&back), Some(o));
    }

    #[test]
    fn truncated_and_foreign_data_are_errors() {
        let mut out = Vec::new();
        encode_compressed(&mut out, Stamp::default(), "", "jpeg", &[1, 2, 3]);
        assert!(matches!(decode_compressed(&out[..out.len() - 1]), Err(CdrError::Truncated { .. })));
        assert_eq!(decode_image(&[0, 0, 0, 0]).unwrap_err(), CdrError::Header([0, 0, 0, 0]));
        let fmt = ImageFormat::packed(FourCC::RGB24, 2, 2);
        assert!(encode_image(&mut out, Stamp::default(), "", &fmt, &[0; 11]).is_err());
    }

    #[test]
    fn jpeg_size_reads_the_frame_header() {
        // SOI, APP0 of length 4, SOF0 with height 480 and width 640.
        let j = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x01, 0xE0, 0x02, 0x80, 3];
        assert_eq!(jpeg_size(&j), Some((640, 480)));
        assert_eq!(jpeg_size(&[0, 1, 2]), None);
    }
}
