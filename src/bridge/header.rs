//! The frame header: what travels in front of every payload a bridge
//! publishes, so the receiving side can rebuild the frame's metadata
//! (sequence numbers, capture time, image geometry) exactly.
//!
//! The header is a fixed 112 bytes, little-endian, at the start of the
//! Zenoh payload (not in a Zenoh attachment: one contiguous buffer is what
//! a program in any language reads most easily, e.g. Python's
//! `struct.unpack_from("<4sHBBQQQQQIII4sIIII32s", payload)`):
//!
//! | offset | type | field |
//! |---:|---|---|
//! | 0 | `[u8; 4]` | magic `FWZ1` |
//! | 4 | `u16` | header length (112); the payload starts here |
//! | 6 | `u8` | version (1) |
//! | 7 | `u8` | encoding: 0 raw image, 1 JPEG image, 2 message |
//! | 8 | `u64` | sequence number on the sender's wire |
//! | 16 | `u64` | source sequence (the camera's frame number) |
//! | 24 | `u64` | capture time, sender's `CLOCK_MONOTONIC` ns |
//! | 32 | `u64` | send time, sender's `CLOCK_MONOTONIC` ns |
//! | 40 | `u64` | sender id: random per sending process |
//! | 48 | `u32` | image width (0 for messages) |
//! | 52 | `u32` | image height |
//! | 56 | `u32` | image stride, bytes per row of the first plane (0 for JPEG) |
//! | 60 | `[u8; 4]` | FourCC of the payload (`MJPG` for JPEG; zero for messages) |
//! | 64 | `u32` | payload length in bytes |
//! | 68 | `u32` | flags (bit 0: the sender skipped frames before this one) |
//! | 72 | `u32` | message size (0 for images) |
//! | 76 | `u32` | reserved, 0 |
//! | 80 | `[u8; 32]` | message type name, NUL-padded (zero for images) |
//! | 112 | bytes | payload |

use framewire_sdk::image::{FourCC, ImageFormat};

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"FWZ1";
/// Header length in bytes; the payload follows.
pub const HEADER_LEN: usize = 112;
/// The version this code writes and reads.
pub const VERSION: u8 = 1;
/// Longest message type name the header holds.
pub const TYPE_NAME_LEN: usize = 32;

/// How the payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Image pixels as they were on the wire (`fourcc`, `stride`).
    Raw = 0,
    /// An image compressed to JPEG by the sender (`fourcc` is `MJPG`).
    Jpeg = 1,
    /// A fixed-layout message (`type_name`, `msg_size`).
    Message = 2,
}

impl Encoding {
    fn from_u8(v: u8) -> Option<Encoding> {
        match v {
            0 => Some(Encoding::Raw),
            1 => Some(Encoding::Jpeg),
            2 => Some(Encoding::Message),
            _ => None,
        }
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload encoding.
    pub encoding: Encoding,
    /// Sequence number on the sender's wire.
    pub seq: u64,
    /// Sequence number of the source frame (the camera's).
    pub source_seq: u64,
    /// Capture time, sender's `CLOCK_MONOTONIC` ns.
    pub timestamp_ns: u64,
    /// When the sender published it, sender's `CLOCK_MONOTONIC` ns.
    pub send_ns: u64,
    /// Random per sending process: a new value means the sender restarted.
    pub sender: u64,
    /// Image geometry of the payload (all zero for messages).
    pub image: ImageFormat,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// Flags; bit 0: the sender skipped frames before this one.
    pub flags: u32,
    /// Encoded size of one message (0 for images).
    pub msg_size: u32,
    /// Message type name, NUL-padded (all zero for images).
    pub type_name: [u8; TYPE_NAME_LEN],
}

/// Why a received payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Shorter than a header.
    #[error(
        "payload of {0} bytes is shorter than the {HEADER_LEN}-byte framewire header; is the publisher a framewire zenoh_out?"
    )]
    TooShort(usize),
    /// Not `FWZ1`.
    #[error(
        "payload does not start with the framewire magic FWZ1 (got {0:02x?}); is the publisher a framewire zenoh_out, or a ROS 2 / raw publisher on the same key?"
    )]
    Magic([u8; 4]),
    /// A newer or older format.
    #[error(
        "frame header version {0} is not supported (this build reads version {VERSION}); run the same framewire version on both sides"
    )]
    Version(u8),
    /// Unknown encoding byte.
    #[error("unknown payload encoding {0}")]
    Encoding(u8),
    /// The header says more or fewer bytes than arrived.
    #[error("header announces {announced} payload bytes but {actual} arrived")]
    Length {
        /// From the header.
        announced: usize,
        /// What arrived after the header.
        actual: usize,
    },
}

impl Header {
    /// The message type name as a string (empty for images).
    pub fn type_name(&self) -> &str {
        let end = self.type_name.iter().position(|&c| c == 0).unwrap_or(TYPE_NAME_LEN);
        std::str::from_utf8(&self.type_name[..end]).unwrap_or("?")
    }

    /// Sets the type name from `name` (truncated to 32 bytes; framewire's
    /// names are at most 31).
    pub fn set_type_name(&mut self, name: &str) {
        self.type_name = [0; TYPE_NAME_LEN];
        let n = name.len().min(TYPE_NAME_LEN);
        self.type_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    }

    /// Writes the header into `out[..HEADER_LEN]`.
    pub fn encode(&self, out: &mut [u8]) {
        let o = &mut out[..HEADER_LEN];
        o[0..4].copy_from_slice(&MAGIC);
        o[4..6].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        o[6] = VERSION;
        o[7] = self.encoding as u8;
        o[8..16].copy_from_slice(&self.seq.to_le_bytes());
        o[16..24].copy_from_slice(&self.source_seq.to_le_bytes());
        o[24..32].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        o[32..40].copy_from_slice(&self.send_ns.to_le_bytes());
        o[40..48].copy_from_slice(&self.sender.to_le_bytes());
        o[48..52].copy_from_slice(&self.image.width.to_le_bytes());
        o[52..56].copy_from_slice(&self.image.height.to_le_bytes());
        o[56..60].copy_from_slice(&self.image.stride.to_le_bytes());
        o[60..64].copy_from_slice(&self.image.fourcc.chars());
        o[64..68].copy_from_slice(&self.payload_len.to_le_bytes());
        o[68..72].copy_from_slice(&self.flags.to_le_bytes());
        o[72..76].copy_from_slice(&self.msg_size.to_le_bytes());
        o[76..80].copy_from_slice(&0u32.to_le_bytes());
        o[80..112].copy_from_slice(&self.type_name);
    }

    /// Reads a header from the start of `data` and returns it with the
    /// payload that follows it.
    pub fn decode(data: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        let (h, start) = Header::parse(data, data.len())?;
        Ok((h, &data[start..]))
    }

    /// Reads a header from `head` (at least [`HEADER_LEN`] bytes: the start
    /// of a payload of `total_len` bytes, which may arrive in pieces) and
    /// returns it with the offset where the frame's bytes start.
    pub fn parse(head: &[u8], total_len: usize) -> Result<(Header, usize), HeaderError> {
        let data = head;
        if data.len() < HEADER_LEN || total_len < HEADER_LEN {
            return Err(HeaderError::TooShort(total_len.min(data.len())));
        }
        let magic: [u8; 4] = data[0..4].try_into().unwrap_or_default();
        if magic != MAGIC {
            return Err(HeaderError::Magic(magic));
        }
        if data[6] != VERSION {
            return Err(HeaderError::Version(data[6]));
        }
        let encoding = Encoding::from_u8(data[7]).ok_or(HeaderError::Encoding(data[7]))?;
        let u32_at = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().unwrap_or_default());
        let u64_at = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().unwrap_or_default());
        // A later version may grow the header: the payload starts where the
        // header says, never before our own fields end.
        let start = (u16::from_le_bytes([data[4], data[5]]) as usize).max(HEADER_LEN);
        let h = Header {
            encoding,
            seq: u64_at(8),
            source_seq: u64_at(16),
            timestamp_ns: u64_at(24),
            send_ns: u64_at(32),
            sender: u64_at(40),
            image: ImageFormat {
                width: u32_at(48),
                height: u32_at(52),
                stride: u32_at(56),
                fourcc: FourCC(u32_at(60)),
            },
            payload_len: u32_at(64),
            flags: u32_at(68),
            msg_size: u32_at(72),
            type_name: data[80..112].try_into().unwrap_or_default(),
        };
        let actual = total_len.saturating_sub(start);
        if actual != h.payload_len as usize {
            return Err(HeaderError::Length { announced: h.payload_len as usize, actual });
        }
        Ok((h, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        let mut h = Header {
            encoding: Encoding::Raw,
            seq: 0x0102_0304_0506_0708,
            source_seq: 77,
            timestamp_ns: 123_456_789_012,
            send_ns: 123_456_999_000,
            sender: 0xdead_beef_cafe_f00d,
            image: ImageFormat::packed(FourCC::YUYV, 640, 480),
            payload_len: 4,
            flags: 1,
            msg_size: 0,
            type_name: [0; TYPE_NAME_LEN],
        };
        h.set_type_name("");
        h
    }

    #[test]
    fn roundtrip_and_layout() {
        let h = sample();
        let mut buf = vec![0u8; HEADER_LEN + 4];
        h.encode(&mut buf);
        buf[HEADER_LEN..].copy_from_slice(b"abcd");
        let (back, payload) = Header::decode(&buf).unwrap();
        assert_eq!(back, h);
        assert_eq!(payload, b"abcd");
        // The documented offsets, which the Python example relies on.
        assert_eq!(&buf[0..4], b"FWZ1");
        assert_eq!(u16::from_le_bytes([buf[4], buf[5]]), 112);
        assert_eq!(buf[7], 0);
        assert_eq!(u64::from_le_bytes(buf[8..16].try_into().unwrap()), 0x0102_0304_0506_0708);
        assert_eq!(u64::from_le_bytes(buf[24..32].try_into().unwrap()), 123_456_789_012);
        assert_eq!(u32::from_le_bytes(buf[48..52].try_into().unwrap()), 640);
        assert_eq!(&buf[60..64], b"YUYV");
        assert_eq!(u32::from_le_bytes(buf[64..68].try_into().unwrap()), 4);
    }

    #[test]
    fn messages_carry_their_type() {
        let mut h = sample();
        h.encoding = Encoding::Message;
        h.image = ImageFormat::default();
        h.msg_size = 8;
        h.payload_len = 8;
        h.set_type_name("drive");
        let mut buf = vec![0u8; HEADER_LEN + 8];
        h.encode(&mut buf);
        let (back, p) = Header::decode(&buf).unwrap();
        assert_eq!((back.type_name(), back.msg_size, p.len()), ("drive", 8, 8));
        assert_eq!(back.encoding, Encoding::Message);
    }

    #[test]
    fn refuses_what_is_not_a_frame() {
        let h = sample();
        let mut buf = vec![0u8; HEADER_LEN + 4];
        h.encode(&mut buf);
        assert_eq!(Header::decode(&buf[..50]), Err(HeaderError::TooShort(50)));
        assert!(matches!(Header::decode(&buf[..HEADER_LEN + 3]), Err(HeaderError::Length { announced: 4, actual: 3 })));
        let mut bad = buf.clone();
        bad[0] = b'X';
        assert!(matches!(Header::decode(&bad), Err(HeaderError::Magic(_))));
        let mut bad = buf.clone();
        bad[6] = 9;
        assert_eq!(Header::decode(&bad), Err(HeaderError::Version(9)));
        let mut bad = buf;
        bad[7] = 7;
        assert_eq!(Header::decode(&bad), Err(HeaderError::Encoding(7)));
        // A ROS 2 CDR payload on the same key is named as such.
        let cdr = [0u8, 1, 0, 0, 5, 0, 0, 0];
        assert!(Header::decode(&[&cdr[..], &[0; 120]].concat()).unwrap_err().to_string().contains("ROS 2"));
    }
}
