//! RoboClaw / Basicmicro packet serial.
//!
//! Source: Basicmicro "RoboClaw Series User Manual", chapter "Packet Serial"
//! (sections "Packet Serial Mode", "Address", "CRC16 Checksum Calculation",
//! "Easy to use Libraries"), and the command reference chapters
//! "Compatibility Commands" (14), "Advance Packet Serial" (16-19, 24, 78,
//! 90, 108) and "Encoder Commands" / "Advanced Motor Control" (32-40).
//!
//! Framing, from those sections:
//! * a write is `address, command, data..., CRC16` (CRC high byte first) and
//!   the controller answers a single `0xFF` byte when the CRC matched;
//! * a read is `address, command` and the answer is `data..., CRC16`, where
//!   the CRC covers the address and command bytes *sent* followed by the data
//!   received;
//! * multi-byte values are big-endian ("MSB first");
//! * the CRC is CRC-16/XMODEM (poly 0x1021, init 0): [`super::crc16_xmodem`].

use super::{BadKind, Parse, crc16_xmodem};

/// The byte a RoboClaw answers to a write with a valid CRC.
pub const ACK: u8 = 0xFF;
/// Lowest packet serial address (mode 7); eight addresses 0x80..=0x87.
pub const ADDRESS_MIN: u8 = 0x80;
/// Highest packet serial address.
pub const ADDRESS_MAX: u8 = 0x87;

/// Command numbers used by framewire.
pub mod cmd {
    /// Set serial timeout, one byte in 100 ms units (0 disables).
    pub const SET_SERIAL_TIMEOUT: u8 = 14;
    /// Read encoder count M1: u32 count, u8 status.
    pub const READ_ENC_M1: u8 = 16;
    /// Read encoder count M2.
    pub const READ_ENC_M2: u8 = 17;
    /// Read speed M1: u32 counts/s magnitude, u8 direction (1 = backwards).
    pub const READ_SPEED_M1: u8 = 18;
    /// Read speed M2.
    pub const READ_SPEED_M2: u8 = 19;
    /// Read main battery voltage: u16 in 0.1 V.
    pub const READ_MAIN_BATTERY: u8 = 24;
    /// Drive M1 with signed duty (i16, ±32767 = ±100 %).
    pub const M1_DUTY: u8 = 32;
    /// Drive M2 with signed duty.
    pub const M2_DUTY: u8 = 33;
    /// Drive M1 and M2 with signed duty.
    pub const MIXED_DUTY: u8 = 34;
    /// Drive M1 with signed speed (i32 quadrature pulses per second).
    pub const M1_SPEED: u8 = 35;
    /// Drive M2 with signed speed.
    pub const M2_SPEED: u8 = 36;
    /// Drive M1 and M2 with signed speeds.
    pub const MIXED_SPEED: u8 = 37;
    /// Drive M1 with u32 acceleration then i32 speed.
    pub const M1_SPEED_ACCEL: u8 = 38;
    /// Drive M2 with u32 acceleration then i32 speed.
    pub const M2_SPEED_ACCEL: u8 = 39;
    /// Drive both with u32 acceleration, i32 speed M1, i32 speed M2.
    pub const MIXED_SPEED_ACCEL: u8 = 40;
    /// Read both encoder counts: u32 M1, u32 M2.
    pub const READ_ENCODERS: u8 = 78;
    /// Read status flags: u32.
    pub const READ_STATUS: u8 = 90;
    /// Read average speeds: i32 M1, i32 M2 (counts/s).
    pub const READ_AVG_SPEEDS: u8 = 108;
}

/// Builds a write packet: `address, command, data, CRC16 (MSB first)`.
pub fn write_packet(address: u8, command: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(data.len() + 4);
    p.push(address);
    p.push(command);
    p.extend_from_slice(data);
    let crc = crc16_xmodem(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

/// Builds a read request: just `address, command` (no CRC is sent).
pub fn read_request(address: u8, command: u8) -> Vec<u8> {
    vec![address, command]
}

/// Command 37: both motors' signed speeds in encoder counts per second.
pub fn mixed_speed(address: u8, m1: i32, m2: i32) -> Vec<u8> {
    let mut d = Vec::with_capacity(8);
    d.extend_from_slice(&m1.to_be_bytes());
    d.extend_from_slice(&m2.to_be_bytes());
    write_packet(address, cmd::MIXED_SPEED, &d)
}

/// Command 40: acceleration (counts/s², both motors) then both speeds.
pub fn mixed_speed_accel(address: u8, accel: u32, m1: i32, m2: i32) -> Vec<u8> {
    let mut d = Vec::with_capacity(12);
    d.extend_from_slice(&accel.to_be_bytes());
    d.extend_from_slice(&m1.to_be_bytes());
    d.extend_from_slice(&m2.to_be_bytes());
    write_packet(address, cmd::MIXED_SPEED_ACCEL, &d)
}

/// Command 34: both motors' signed duty cycles (±32767).
pub fn mixed_duty(address: u8, m1: i16, m2: i16) -> Vec<u8> {
    let mut d = Vec::with_capacity(4);
    d.extend_from_slice(&m1.to_be_bytes());
    d.extend_from_slice(&m2.to_be_bytes());
    write_packet(address, cmd::MIXED_DUTY, &d)
}

/// Command 14: serial timeout in tenths of a second (0 disables it). The
/// controller stops both motors when no valid packet arrives for that long.
pub fn set_serial_timeout(address: u8, tenths: u8) -> Vec<u8> {
    write_packet(address, cmd::SET_SERIAL_TIMEOUT, &[tenths])
}

/// Converts a timeout to command 14's 100 ms units, rounding up so the
/// controller never stops earlier than asked, clamped to 0.1..=25.5 s.
pub fn timeout_tenths(timeout: std::time::Duration) -> u8 {
    let t = timeout.as_millis().div_ceil(100);
    t.clamp(1, 255) as u8
}

/// The number of data bytes (without the CRC) a read command answers with,
/// or `None` for a command this module does not read.
pub fn reply_data_len(command: u8) -> Option<usize> {
    Some(match command {
        cmd::READ_ENC_M1 | cmd::READ_ENC_M2 | cmd::READ_SPEED_M1 | cmd::READ_SPEED_M2 => 5,
        cmd::READ_MAIN_BATTERY => 2,
        cmd::READ_ENCODERS | cmd::READ_AVG_SPEEDS => 8,
        cmd::READ_STATUS => 4,
        _ => return None,
    })
}

/// Builds the controller's answer to a read: `data, CRC16` where the CRC
/// covers `address, command, data`. Used by the simulated controller.
pub fn read_reply(address: u8, command: u8, data: &[u8]) -> Vec<u8> {
    let mut crc_in = vec![address, command];
    crc_in.extend_from_slice(data);
    let crc = crc16_xmodem(&crc_in);
    let mut p = data.to_vec();
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

/// Decodes the answer to a read of `command` from `address`.
///
/// A reply has no header, so resynchronisation after leading garbage slides
/// a window over the buffer until the CRC matches. A window that does not
/// match is only judged bad once enough extra bytes have arrived to rule out
/// a garbage prefix (`MAX_GARBAGE`); until then the caller's quiet-gap
/// timeout decides (see `serial::Link::transact`).
pub fn parse_read_reply(address: u8, command: u8, buf: &[u8]) -> Parse<Vec<u8>> {
    const MAX_GARBAGE: usize = 16;
    let Some(n) = reply_data_len(command) else {
        return Parse::Bad { used: buf.len(), kind: BadKind::Malformed };
    };
    let need = n + 2;
    if buf.len() < need {
        return Parse::Need;
    }
    for off in 0..=(buf.len() - need) {
        let w = &buf[off..off + need];
        let mut crc_in = vec![address, command];
        crc_in.extend_from_slice(&w[..n]);
        if crc16_xmodem(&crc_in).to_be_bytes() == w[n..] {
            return Parse::Done { value: w[..n].to_vec(), used: off + need, skipped: off };
        }
    }
    if buf.len() >= need + MAX_GARBAGE {
        return Parse::Bad { used: buf.len(), kind: BadKind::Checksum };
    }
    Parse::Need
}

/// Decodes the one-byte acknowledgement of a write, skipping anything else.
pub fn parse_ack(buf: &[u8]) -> Parse<()> {
    match buf.iter().position(|&b| b == ACK) {
        Some(i) => Parse::Done { value: (), used: i + 1, skipped: i },
        None if buf.is_empty() => Parse::Need,
        None => Parse::Bad { used: buf.len(), kind: BadKind::Malformed },
    }
}

/// Reads a big-endian u32 at `at`.
pub fn be_u32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// A command as the controller sees it, decoded strictly (simulator side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A write command with its data, CRC already verified.
    Write {
        /// Command number.
        command: u8,
        /// Data bytes between the command and the CRC.
        data: Vec<u8>,
    },
    /// A read command.
    Read {
        /// Command number.
        command: u8,
    },
}

/// The data length of a write command this module knows.
pub fn write_data_len(command: u8) -> Option<usize> {
    Some(match command {
        cmd::SET_SERIAL_TIMEOUT => 1,
        cmd::M1_DUTY | cmd::M2_DUTY => 2,
        cmd::MIXED_DUTY => 4,
        cmd::M1_SPEED | cmd::M2_SPEED => 4,
        cmd::MIXED_SPEED | cmd::M1_SPEED_ACCEL | cmd::M2_SPEED_ACCEL => 8,
        cmd::MIXED_SPEED_ACCEL => 12,
        _ => return None,
    })
}

/// Decodes one request addressed to `address` (what the device does).
/// Bytes for another address or an unknown command are dropped as
/// malformed, like the firmware that simply ignores them.
pub fn parse_request(address: u8, buf: &[u8]) -> Parse<Request> {
    let Some(&a) = buf.first() else {
        return Parse::Need;
    };
    if a != address {
        return Parse::Bad { used: 1, kind: BadKind::Malformed };
    }
    let Some(&c) = buf.get(1) else {
        return Parse::Need;
    };
    if reply_data_len(c).is_some() {
        return Parse::Done { value: Request::Read { command: c }, used: 2, skipped: 0 };
    }
    let Some(n) = write_data_len(c) else {
        return Parse::Bad { used: 2, kind: BadKind::Malformed };
    };
    if buf.len() < n + 4 {
        return Parse::Need;
    }
    if crc16_xmodem(&buf[..n + 2]).to_be_bytes() != buf[n + 2..n + 4] {
        return Parse::Bad { used: n + 4, kind: BadKind::Checksum };
    }
    Parse::Done { value: Request::Write { command: c, data: buf[2..n + 2].to_vec() }, used: n + 4, skipped: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_xmodem() {
        // User manual, "CRC16 Checksum Calculation": poly 0x1021, init 0.
        // Check value of that parameter set over "123456789" is 0x31C3.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn mixed_speed_bytes() {
        // Command 37 "Drive M1 / M2 With Signed Speed": Send [Address, 37,
        // SpeedM1(4 bytes), SpeedM2(4 Bytes), CRC(2 bytes)], MSB first.
        // 1000 = 0x000003E8, -1000 = 0xFFFFFC18. CRC over the first 10 bytes.
        let p = mixed_speed(0x80, 1000, -1000);
        assert_eq!(&p[..10], &[0x80, 37, 0x00, 0x00, 0x03, 0xE8, 0xFF, 0xFF, 0xFC, 0x18]);
        let crc = crc16_xmodem(&p[..10]);
        assert_eq!(&p[10..], &crc.to_be_bytes());
        // The zero command is what every stop sends. Its CRC is pinned as a
        // regression value computed with the CRC verified above (not a value
        // printed in the manual).
        assert_eq!(mixed_speed(0x80, 0, 0), vec![0x80, 37, 0, 0, 0, 0, 0, 0, 0, 0, 0x34, 0x04]);
    }

    #[test]
    fn speed_accel_and_duty_layout() {
        // Command 40: [Address, 40, Accel(4), SpeedM1(4), SpeedM2(4), CRC(2)].
        let p = mixed_speed_accel(0x81, 0x0001_0000, 256, -1);
        assert_eq!(&p[..14], &[0x81, 40, 0, 1, 0, 0, 0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(p.len(), 16);
        // Command 34: [Address, 34, DutyM1(2), DutyM2(2), CRC(2)], ±32767.
        let p = mixed_duty(0x80, 32767, -32767);
        assert_eq!(&p[..6], &[0x80, 34, 0x7F, 0xFF, 0x80, 0x01]);
    }

    #[test]
    fn serial_timeout_units() {
        // Command 14 "Set Serial Timeout": value in 100 ms increments, 0-255.
        use std::time::Duration;
        assert_eq!(timeout_tenths(Duration::from_millis(300)), 3);
        assert_eq!(timeout_tenths(Duration::from_millis(301)), 4);
        assert_eq!(timeout_tenths(Duration::from_millis(10)), 1);
        assert_eq!(timeout_tenths(Duration::from_secs(60)), 255);
        assert_eq!(&set_serial_timeout(0x80, 3)[..3], &[0x80, 14, 3]);
    }

    #[test]
    fn read_reply_roundtrip_resync_and_reject() {
        // Command 78 "Read Encoder Counters": Receive [Enc1(4), Enc2(4), CRC(2)];
        // the CRC covers the address and command sent plus the data.
        let data = [0, 0, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFE];
        let r = read_reply(0x80, 78, &data);
        assert_eq!(r.len(), 10);
        assert_eq!(parse_read_reply(0x80, 78, &r), Parse::Done { value: data.to_vec(), used: 10, skipped: 0 });
        // Leading garbage is skipped by sliding until the CRC matches.
        let mut g = vec![0x13, 0x37, 0x00];
        g.extend_from_slice(&r);
        assert_eq!(parse_read_reply(0x80, 78, &g), Parse::Done { value: data.to_vec(), used: 13, skipped: 3 });
        // Truncated: wait for more.
        assert_eq!(parse_read_reply(0x80, 78, &r[..7]), Parse::Need);
        // Corrupted CRC: never accepted.
        let mut bad = r.clone();
        bad[9] ^= 1;
        assert_eq!(parse_read_reply(0x80, 78, &bad), Parse::Need);
        bad.extend_from_slice(&[0u8; 16]);
        assert!(matches!(parse_read_reply(0x80, 78, &bad), Parse::Bad { kind: BadKind::Checksum, .. }));
    }

    #[test]
    fn device_side_request_parsing() {
        let p = mixed_speed(0x80, 5, 6);
        assert_eq!(
            parse_request(0x80, &p),
            Parse::Done { value: Request::Write { command: 37, data: p[2..10].to_vec() }, used: 12, skipped: 0 }
        );
        let mut bad = p.clone();
        bad[11] ^= 0x40;
        assert_eq!(parse_request(0x80, &bad), Parse::Bad { used: 12, kind: BadKind::Checksum });
        assert_eq!(
            parse_request(0x80, &[0x80, 78]),
            Parse::Done { value: Request::Read { command: 78 }, used: 2, skipped: 0 }
        );
        assert_eq!(parse_request(0x80, &[0x81, 78]), Parse::Bad { used: 1, kind: BadKind::Malformed });
        assert_eq!(parse_request(0x80, &p[..5]), Parse::Need);
        assert_eq!(parse_ack(&[0x00, 0xFF]), Parse::Done { value: (), used: 2, skipped: 1 });
    }
}
