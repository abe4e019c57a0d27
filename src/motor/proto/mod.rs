//! Pure encoders and decoders for the motor controllers' serial protocols.
//!
//! Nothing here does I/O: every function turns values into bytes or bytes
//! into values, so each protocol is tested byte for byte against its vendor's
//! manual, and the same code serves the driver and the simulated controller.
//!
//! Stream decoders share one contract, [`Parse`]: given the bytes received so
//! far they either find one complete frame (possibly after skipping garbage),
//! ask for more bytes, or reject a definitely broken frame. They never block
//! and never consume bytes they have not judged.

pub mod arduino;
pub mod dynamixel;
pub mod odrive;
pub mod pololu;
pub mod roboclaw;
pub mod sabertooth;
pub mod vesc;

/// Why a decoder threw bytes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadKind {
    /// A complete frame whose checksum does not match its contents.
    Checksum,
    /// Bytes that cannot start a frame, or a frame with an impossible field.
    Malformed,
    /// A well-formed reply whose value cannot be real (a speed beyond the
    /// controller's range): for protocols without a checksum, the only sign
    /// of corruption.
    Implausible,
}

/// The outcome of running a stream decoder over a receive buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse<T> {
    /// A frame was decoded. `used` bytes (including `skipped` leading garbage
    /// bytes) can be dropped from the buffer.
    Done {
        /// The decoded frame.
        value: T,
        /// Bytes consumed from the start of the buffer, garbage included.
        used: usize,
        /// Leading bytes that were not part of any frame (a resync).
        skipped: usize,
    },
    /// No complete frame yet: read more bytes (or give up on timeout).
    Need,
    /// The first `used` bytes are definitely not a valid frame.
    Bad {
        /// Bytes to drop.
        used: usize,
        /// Why.
        kind: BadKind,
    },
}

impl<T> Parse<T> {
    /// Maps the decoded value, keeping the bookkeeping.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Parse<U> {
        match self {
            Parse::Done { value, used, skipped } => Parse::Done { value: f(value), used, skipped },
            Parse::Need => Parse::Need,
            Parse::Bad { used, kind } => Parse::Bad { used, kind },
        }
    }
}

/// CRC-16, most significant bit first, initial value 0, no reflection, no
/// final XOR, with polynomial `poly`: the shape both CRCs below share.
fn crc16_msb_first(poly: u16, data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ poly } else { crc << 1 };
        }
    }
    crc
}

/// CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection, no final
/// XOR. RoboClaw (Basicmicro user manual, "CRC16 Checksum Calculation") and
/// VESC (`crc.c` in the bldc firmware) both use it.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    crc16_msb_first(0x1021, data)
}

/// CRC-16 with polynomial 0x8005, initial value 0, no reflection, no final
/// XOR (CRC-16/BUYPASS), as the ROBOTIS e-Manual's Protocol 2.0 "CRC"
/// section specifies (its `update_crc` table is this polynomial).
pub fn crc16_8005(data: &[u8]) -> u16 {
    crc16_msb_first(0x8005, data)
}

/// Splits off one line ending in `\n` or `\r` (either, or both in any order)
/// from `buf`, for the ASCII protocols. Empty lines are skipped as resyncs.
///
/// Line noise before a reply (bytes outside printable ASCII, as a glitch or
/// a board's boot output leaves them) is skipped up to the reply's text: the
/// line's value is what follows the last such byte, and the skipped bytes
/// are counted in `skipped`. A line that is nothing but noise is
/// [`BadKind::Malformed`]. Printable noise cannot be told from text; the
/// callers check the reply's form (and ODrive's checksum when enabled).
pub fn parse_line(buf: &[u8]) -> Parse<String> {
    let mut start = 0;
    while start < buf.len() && (buf[start] == b'\r' || buf[start] == b'\n') {
        start += 1;
    }
    let Some(end) = buf[start..].iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Parse::Need;
    };
    let line = &buf[start..start + end];
    let used = start + end + 1;
    let text_from = line.iter().rposition(|b| !(0x20..0x7f).contains(b)).map_or(0, |i| i + 1);
    if text_from == line.len() && !line.is_empty() {
        return Parse::Bad { used, kind: BadKind::Malformed };
    }
    Parse::Done { value: String::from_utf8_lossy(&line[text_from..]).into_owned(), used, skipped: start + text_from }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_values() {
        // The catalogue "check" value (CRC of ASCII "123456789") of each
        // parameter set: CRC-16/XMODEM = 0x31C3, CRC-16/BUYPASS = 0xFEE8
        // (Greg Cook, "Catalogue of parametrised CRC algorithms").
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc16_8005(b"123456789"), 0xFEE8);
    }

    #[test]
    fn lines_split_and_resync() {
        assert_eq!(parse_line(b"OK\r\n"), Parse::Done { value: "OK".into(), used: 3, skipped: 0 });
        assert_eq!(parse_line(b"\nOK\r"), Parse::Done { value: "OK".into(), used: 4, skipped: 1 });
        assert_eq!(parse_line(b"12 3"), Parse::Need);
        // Noise before a reply is skipped up to its text (issue 11: a
        // reply behind noise used to be thrown away whole, so a driver
        // never connected while the noise lasted).
        assert_eq!(parse_line(b"\xff\x00x\r\nOK\r\n"), Parse::Done { value: "x".into(), used: 4, skipped: 2 });
        assert_eq!(parse_line(b"\x00U\x137\x0fOK\r\n"), Parse::Done { value: "OK".into(), used: 8, skipped: 5 });
        assert_eq!(parse_line(b"\x00\xff\r\nOK\r\n"), Parse::Bad { used: 3, kind: BadKind::Malformed });
    }
}
