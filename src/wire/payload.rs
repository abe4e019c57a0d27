//! What a wire's slots carry: images (or other variable-length bytes), or
//! fixed-layout messages of one named type.
//!
//! The type is recorded in the wire's header when the wire is created, so a
//! reader or writer that expects something else is refused at attach time
//! with a message naming both types. Message types are open: any block may
//! declare its own (see `framewire_sdk::message!`); the wire only knows a
//! type's name and its encoded size.

use std::fmt;

/// Longest message type name, in bytes (the header field is one byte longer,
/// so the name is always NUL-terminated).
pub const MAX_TYPE_NAME: usize = 31;

/// Header `KIND` value: images or raw bytes.
pub const KIND_BYTES: u32 = 0;
/// Header `KIND` value: fixed-layout messages of the type named in the header.
pub const KIND_MESSAGE: u32 = 1;

/// The type of what a wire carries.
///
/// Two payload types are equal when both are bytes, or both are messages
/// with the same name and size.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadType {
    /// NUL-padded name; all zero for bytes.
    name: [u8; MAX_TYPE_NAME + 1],
    /// Encoded size of one message; 0 for bytes.
    size: u32,
}

/// Why a message type name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message type name {name:?} is invalid: {reason}")]
pub struct TypeNameError {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

const fn name_error(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Some("it is empty");
    }
    if b.len() > MAX_TYPE_NAME {
        return Some("it is longer than 31 bytes");
    }
    if !b[0].is_ascii_lowercase() {
        return Some("it must start with a lower-case letter");
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'/' || c == b'.' || c == b'-') {
            return Some("use only a-z, 0-9, '_', '-', '.' and '/' (e.g. \"my_robot/pose\")");
        }
        i += 1;
    }
    None
}

impl PayloadType {
    /// Images or raw bytes of variable length.
    pub const BYTES: PayloadType = PayloadType { name: [0; MAX_TYPE_NAME + 1], size: 0 };

    /// A message type named `name` whose encoding is `size` bytes.
    ///
    /// Usable in constants; an invalid name or a size of 0 is a compile-time
    /// error there (and a panic elsewhere). Use [`PayloadType::try_message`]
    /// for names read at run time.
    pub const fn message(name: &str, size: u32) -> PayloadType {
        if let Some(reason) = name_error(name) {
            panic!("{}", reason);
        }
        assert!(size > 0, "a message type needs a size of at least 1 byte");
        let mut out = [0u8; MAX_TYPE_NAME + 1];
        let b = name.as_bytes();
        let mut i = 0;
        while i < b.len() {
            out[i] = b[i];
            i += 1;
        }
        PayloadType { name: out, size }
    }

    /// Like [`PayloadType::message`], for names read at run time.
    pub fn try_message(name: &str, size: u32) -> Result<PayloadType, TypeNameError> {
        if let Some(reason) = name_error(name) {
            return Err(TypeNameError { name: name.to_string(), reason });
        }
        if size == 0 {
            return Err(TypeNameError { name: name.to_string(), reason: "its size is 0" });
        }
        Ok(PayloadType::message(name, size))
    }

    /// Decodes the header fields `KIND`, `TYPE_NAME` and `MSG_SIZE`.
    pub fn from_header(kind: u32, name: &[u8], size: u32) -> Result<PayloadType, String> {
        match kind {
            KIND_BYTES => Ok(PayloadType::BYTES),
            KIND_MESSAGE => {
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                let s = std::str::from_utf8(&name[..end]).map_err(|_| "message type name is not UTF-8".to_string())?;
                PayloadType::try_message(s, size).map_err(|e| e.to_string())
            }
            k => Err(format!("unknown payload kind {k}")),
        }
    }

    /// Whether this is a message type (rather than images or bytes).
    pub fn is_message(&self) -> bool {
        self.size != 0
    }

    /// The header's `KIND` value.
    pub fn kind_code(&self) -> u32 {
        if self.is_message() { KIND_MESSAGE } else { KIND_BYTES }
    }

    /// The type's name: `"bytes"` for images and bytes.
    pub fn name(&self) -> &str {
        if !self.is_message() {
            return "bytes";
        }
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(self.name.len());
        // The name was checked to be ASCII when it was made.
        std::str::from_utf8(&self.name[..end]).unwrap_or("?")
    }

    /// The name field as stored in the header (NUL-padded).
    pub fn name_bytes(&self) -> &[u8; MAX_TYPE_NAME + 1] {
        &self.name
    }

    /// Encoded size of one message (0 for bytes).
    pub fn size(&self) -> u32 {
        self.size
    }
}

impl fmt::Debug for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_message() {
            write!(f, "{} messages ({} bytes)", self.name(), self.size)
        } else {
            f.write_str("bytes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(PayloadType::message("drive", 8).name(), "drive");
        assert!(PayloadType::try_message("my_robot/pose.v2", 24).is_ok());
        for bad in ["", "Drive", "9lives", "with space", "a_name_that_is_much_too_long_for_it"] {
            assert!(PayloadType::try_message(bad, 8).is_err(), "{bad:?}");
        }
        assert!(PayloadType::try_message("drive", 0).is_err());
    }

    #[test]
    fn header_roundtrip() {
        let t = PayloadType::message("odometry", 64);
        assert_eq!(PayloadType::from_header(t.kind_code(), t.name_bytes(), t.size()), Ok(t));
        assert_eq!(PayloadType::from_header(0, &[0; 32], 0), Ok(PayloadType::BYTES));
        assert!(PayloadType::from_header(7, &[0; 32], 0).is_err());
        assert!(PayloadType::from_header(1, b"Bad\0", 8).is_err());
        assert_ne!(PayloadType::message("drive", 8), PayloadType::message("wheels", 8));
        assert_ne!(PayloadType::message("drive", 8), PayloadType::message("drive", 12));
    }
}
