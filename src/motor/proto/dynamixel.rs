//! ROBOTIS Dynamixel Protocol 2.0.
//!
//! Source: ROBOTIS e-Manual, "DYNAMIXEL Protocol 2.0": sections
//! "Instruction Packet", "Status Packet", "Byte Stuffing", "CRC" and the
//! per-instruction examples (Ping, Read, Write, Sync Read, Sync Write);
//! control table addresses from the X-series e-Manual pages ("Control Table
//! of EEPROM Area" / "RAM Area", e.g. XL430-W250, XM430-W350).
//!
//! Packet: `FF FF FD 00, ID, LEN_L, LEN_H, INST, PARAM..., CRC_L, CRC_H`.
//! `LEN` counts everything after itself (instruction, parameters after
//! stuffing, CRC). The CRC is [`super::crc16_8005`] over every byte from the
//! header up to the last parameter, after stuffing, sent low byte first.
//! Stuffing: whenever `FF FF FD` appears in the instruction/parameter field,
//! an extra `FD` is inserted after it so that the header can never appear
//! inside a packet; the receiver removes it again.

use super::{BadKind, Parse, crc16_8005};

/// The four header bytes that start every packet.
pub const HEADER: [u8; 4] = [0xFF, 0xFF, 0xFD, 0x00];
/// The broadcast ID (every device executes; used by sync instructions).
pub const BROADCAST_ID: u8 = 0xFE;
/// Largest `LEN` accepted from the wire; a bigger one is a false header.
pub const MAX_LEN: usize = 1024;

/// Instruction codes (e-Manual "Instruction" table).
pub mod inst {
    /// Ping.
    pub const PING: u8 = 0x01;
    /// Read `len` bytes at `addr`.
    pub const READ: u8 = 0x02;
    /// Write bytes at `addr`.
    pub const WRITE: u8 = 0x03;
    /// A status (return) packet.
    pub const STATUS: u8 = 0x55;
    /// Sync Read: same address and length from several IDs.
    pub const SYNC_READ: u8 = 0x82;
    /// Sync Write: same address and length to several IDs.
    pub const SYNC_WRITE: u8 = 0x83;
}

/// X-series control table addresses used for wheel control.
pub mod addr {
    /// Operating Mode (1 byte, EEPROM; 1 = velocity control).
    pub const OPERATING_MODE: u16 = 11;
    /// Torque Enable (1 byte; EEPROM area is locked while 1).
    pub const TORQUE_ENABLE: u16 = 64;
    /// Bus Watchdog (1 byte, 20 ms units, 0 disables; reads 0xFF = -1 once
    /// it has fired, and writing 0 clears it).
    pub const BUS_WATCHDOG: u16 = 98;
    /// Goal Velocity (4 bytes, signed, 0.229 rpm units).
    pub const GOAL_VELOCITY: u16 = 104;
    /// Present Velocity (4 bytes, signed, 0.229 rpm units).
    pub const PRESENT_VELOCITY: u16 = 128;
    /// Present Position (4 bytes, signed, 4096 per revolution).
    pub const PRESENT_POSITION: u16 = 132;
    /// Present Input Voltage (2 bytes, 0.1 V units).
    pub const PRESENT_INPUT_VOLTAGE: u16 = 144;
}

/// Operating Mode value for velocity control.
pub const MODE_VELOCITY: u8 = 1;
/// One unit of Goal/Present Velocity in revolutions per minute.
pub const VELOCITY_UNIT_RPM: f64 = 0.229;
/// Present Position counts per revolution.
pub const COUNTS_PER_REV: f64 = 4096.0;
/// One unit of Bus Watchdog.
pub const WATCHDOG_UNIT_MS: u64 = 20;

/// Status packet error numbers (low 7 bits of the error byte; bit 7 is the
/// hardware Alert flag).
pub mod err {
    /// Result Fail.
    pub const RESULT_FAIL: u8 = 0x01;
    /// Instruction Error.
    pub const INSTRUCTION: u8 = 0x02;
    /// CRC Error.
    pub const CRC: u8 = 0x03;
    /// Data Range Error.
    pub const DATA_RANGE: u8 = 0x04;
    /// Data Length Error.
    pub const DATA_LENGTH: u8 = 0x05;
    /// Data Limit Error.
    pub const DATA_LIMIT: u8 = 0x06;
    /// Access Error (e.g. writing EEPROM with torque on).
    pub const ACCESS: u8 = 0x07;
    /// Alert bit: a hardware error is set in Hardware Error Status.
    pub const ALERT: u8 = 0x80;
}

/// Inserts the stuffing byte `FD` after every `FF FF FD` in `field`.
pub fn stuff(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len() + 4);
    for &b in field {
        out.push(b);
        let n = out.len();
        if n >= 3 && out[n - 3..] == [0xFF, 0xFF, 0xFD] {
            out.push(0xFD);
        }
    }
    out
}

/// Removes stuffing: `FF FF FD FD` becomes `FF FF FD`.
pub fn unstuff(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        out.push(field[i]);
        let n = out.len();
        if n >= 3 && out[n - 3..] == [0xFF, 0xFF, 0xFD] && field.get(i + 1) == Some(&0xFD) {
            i += 1; // drop the stuffing byte
        }
        i += 1;
    }
    out
}

fn frame(id: u8, body: &[u8]) -> Vec<u8> {
    let body = stuff(body);
    let len = (body.len() + 2) as u16;
    let mut p = Vec::with_capacity(body.len() + 9);
    p.extend_from_slice(&HEADER);
    p.push(id);
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(&body);
    let crc = crc16_8005(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Builds an instruction packet.
pub fn instruction(id: u8, instruction: u8, params: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(params.len() + 1);
    body.push(instruction);
    body.extend_from_slice(params);
    frame(id, &body)
}

/// Builds a status packet (what a device answers).
pub fn status(id: u8, error: u8, params: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(params.len() + 2);
    body.push(inst::STATUS);
    body.push(error);
    body.extend_from_slice(params);
    frame(id, &body)
}

/// Ping.
pub fn ping(id: u8) -> Vec<u8> {
    instruction(id, inst::PING, &[])
}

/// Read `len` bytes from `address`.
pub fn read(id: u8, address: u16, len: u16) -> Vec<u8> {
    let a = address.to_le_bytes();
    let l = len.to_le_bytes();
    instruction(id, inst::READ, &[a[0], a[1], l[0], l[1]])
}

/// Write `data` at `address`.
pub fn write(id: u8, address: u16, data: &[u8]) -> Vec<u8> {
    let mut p = address.to_le_bytes().to_vec();
    p.extend_from_slice(data);
    instruction(id, inst::WRITE, &p)
}

/// Sync Write the same-sized `data` of each `(id, data)` at `address`.
pub fn sync_write(address: u16, len: u16, items: &[(u8, &[u8])]) -> Vec<u8> {
    let mut p = address.to_le_bytes().to_vec();
    p.extend_from_slice(&len.to_le_bytes());
    for (id, d) in items {
        debug_assert_eq!(d.len(), len as usize);
        p.push(*id);
        p.extend_from_slice(d);
    }
    instruction(BROADCAST_ID, inst::SYNC_WRITE, &p)
}

/// Sync Read `len` bytes at `address` from each ID; every device answers
/// with its own status packet, in the order of `ids`.
pub fn sync_read(address: u16, len: u16, ids: &[u8]) -> Vec<u8> {
    let mut p = address.to_le_bytes().to_vec();
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(ids);
    instruction(BROADCAST_ID, inst::SYNC_READ, &p)
}

/// A decoded packet, instruction or status, stuffing removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Packet ID.
    pub id: u8,
    /// Instruction (`0x55` for a status packet).
    pub instruction: u8,
    /// Parameters; for a status packet the error byte is `params[0]`.
    pub params: Vec<u8>,
}

impl Packet {
    /// For a status packet: the error byte.
    pub fn error(&self) -> Option<u8> {
        (self.instruction == inst::STATUS).then(|| self.params.first().copied()).flatten()
    }
    /// For a status packet: the data after the error byte.
    pub fn data(&self) -> &[u8] {
        if self.instruction == inst::STATUS && !self.params.is_empty() { &self.params[1..] } else { &self.params }
    }
}

/// Finds and decodes the next packet in `buf`: skips anything before a
/// header, rejects an impossible length as a false header, and a CRC
/// mismatch as [`BadKind::Checksum`].
pub fn parse(buf: &[u8]) -> Parse<Packet> {
    let Some(start) = buf.windows(4).position(|w| w == HEADER) else {
        // Keep up to 3 trailing bytes: they may be the start of a header.
        let keep = buf.len().min(3);
        return if buf.len() > keep {
            Parse::Bad { used: buf.len() - keep, kind: BadKind::Malformed }
        } else {
            Parse::Need
        };
    };
    let b = &buf[start..];
    if b.len() < 7 {
        return Parse::Need;
    }
    let len = u16::from_le_bytes([b[5], b[6]]) as usize;
    if !(3..=MAX_LEN).contains(&len) {
        return Parse::Bad { used: start + 1, kind: BadKind::Malformed };
    }
    let total = 7 + len;
    if b.len() < total {
        return Parse::Need;
    }
    let crc = u16::from_le_bytes([b[total - 2], b[total - 1]]);
    if crc16_8005(&b[..total - 2]) != crc {
        return Parse::Bad { used: start + total, kind: BadKind::Checksum };
    }
    let body = unstuff(&b[7..total - 2]);
    Parse::Done {
        value: Packet { id: b[4], instruction: body[0], params: body[1..].to_vec() },
        used: start + total,
        skipped: start,
    }
}

/// Converts wheel speed in rad/s to Goal Velocity units (0.229 rpm).
pub fn velocity_units(rad_s: f64) -> i32 {
    let rpm = rad_s * 60.0 / std::f64::consts::TAU;
    (rpm / VELOCITY_UNIT_RPM).round() as i32
}

/// Converts a timeout to Bus Watchdog units (20 ms), rounded up, 1..=127.
pub fn watchdog_units(timeout: std::time::Duration) -> u8 {
    (timeout.as_millis().div_ceil(WATCHDOG_UNIT_MS as u128)).clamp(1, 127) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect()
    }

    #[test]
    fn emanual_examples_byte_exact() {
        // e-Manual Protocol 2.0, "Ping" example 1: ID 1.
        assert_eq!(ping(1), hex("FF FF FD 00 01 03 00 01 19 4E"));
        // "Ping" example 1 status: model 1030 (0x0406), firmware 0x26.
        assert_eq!(status(1, 0, &[0x06, 0x04, 0x26]), hex("FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"));
        // "Read" example: ID 1, Present Position (132), 4 bytes.
        assert_eq!(read(1, 132, 4), hex("FF FF FD 00 01 07 00 02 84 00 04 00 1D 15"));
        // "Read" example status: Present Position 166 (0xA6).
        assert_eq!(status(1, 0, &[0xA6, 0, 0, 0]), hex("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0"));
        // "Write" example: ID 1, Goal Position (116) = 512.
        assert_eq!(write(1, 116, &512u32.to_le_bytes()), hex("FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89"));
        // "Write" example status.
        assert_eq!(status(1, 0, &[]), hex("FF FF FD 00 01 04 00 55 00 A1 0C"));
        // "Sync Read" example: IDs 1 and 2, Present Position (132), 4 bytes.
        assert_eq!(sync_read(132, 4, &[1, 2]), hex("FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA"));
        // "Sync Write" example: Goal Position (116), ID 1 = 150, ID 2 = 170.
        assert_eq!(
            sync_write(116, 4, &[(1, &150u32.to_le_bytes()), (2, &170u32.to_le_bytes())]),
            hex("FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87")
        );
    }

    #[test]
    fn byte_stuffing_per_spec() {
        // "Byte Stuffing": FF FF FD in the instruction/parameter field gets
        // an FD appended, and LEN counts the stuffed field.
        assert_eq!(stuff(&[0x03, 0xFF, 0xFF, 0xFD, 0x01]), vec![0x03, 0xFF, 0xFF, 0xFD, 0xFD, 0x01]);
        assert_eq!(stuff(&[0xFF, 0xFF, 0xFF, 0xFD]), vec![0xFF, 0xFF, 0xFF, 0xFD, 0xFD]);
        assert_eq!(unstuff(&[0x03, 0xFF, 0xFF, 0xFD, 0xFD, 0x01]), vec![0x03, 0xFF, 0xFF, 0xFD, 0x01]);
        let p = write(1, 104, &[0xFF, 0xFF, 0xFD, 0x00]);
        // header(4) id(1) len(2) inst(1) addr(2) data(4) + stuff(1) crc(2)
        assert_eq!(p.len(), 17);
        assert_eq!(u16::from_le_bytes([p[5], p[6]]), 10);
        assert_eq!(&p[10..15], &[0xFF, 0xFF, 0xFD, 0xFD, 0x00]);
        match parse(&p) {
            Parse::Done { value, .. } => {
                assert_eq!(value.params, vec![104, 0, 0xFF, 0xFF, 0xFD, 0x00])
            }
            other => panic!("{other:?}"),
        }
        // A header spelled inside data never appears on the wire.
        assert!(p[4..].windows(4).all(|w| w != HEADER));
    }

    #[test]
    fn status_decoding_resync_and_rejection() {
        let s = status(1, err::DATA_RANGE, &[1, 2]);
        let mut g = vec![0xFF, 0x00, 0xFF, 0xFF];
        g.extend_from_slice(&s);
        match parse(&g) {
            Parse::Done { value, used, skipped } => {
                assert_eq!((used, skipped), (g.len(), 4));
                assert_eq!(value.error(), Some(err::DATA_RANGE));
                assert_eq!(value.data(), &[1, 2]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(&s[..8]), Parse::Need);
        let mut bad = s.clone();
        bad[9] ^= 0x10;
        assert_eq!(parse(&bad), Parse::Bad { used: s.len(), kind: BadKind::Checksum });
        // A false header with an absurd length is skipped by one byte.
        assert_eq!(parse(&hex("FF FF FD 00 01 FF FF")), Parse::Bad { used: 1, kind: BadKind::Malformed });
        assert_eq!(parse(&[1, 2, 3, 4, 0xFF, 0xFF]), Parse::Bad { used: 3, kind: BadKind::Malformed });
    }

    #[test]
    fn units() {
        // Goal Velocity unit 0.229 rpm: 1 rev/s = 60 rpm = 262 units.
        assert_eq!(velocity_units(std::f64::consts::TAU), 262);
        assert_eq!(velocity_units(-std::f64::consts::TAU), -262);
        // Bus Watchdog unit 20 ms.
        assert_eq!(watchdog_units(std::time::Duration::from_millis(300)), 15);
        assert_eq!(watchdog_units(std::time::Duration::from_millis(5)), 1);
    }
}
