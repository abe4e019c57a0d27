//! Dimension Engineering Sabertooth: packetized serial and simplified serial.
//!
//! Source: the Sabertooth 2x25 / 2x32 / 2x60 user's guides, chapter
//! "Packetized Serial" (address 128-135, command, data, checksum; commands
//! 0/1 drive motor 1 forward/backward, 4/5 motor 2, 8-11 mixed mode, 14
//! serial timeout; the 0xAA (170) baud-rate bauding byte) and chapter
//! "Simplified Serial" (one byte per command).
//!
//! Packetized: `address, command, data, (address + command + data) & 0x7F`;
//! data is 0..=127. The controller never answers.
//! Simplified: 1..=127 drive motor 1 (1 full reverse, 64 stop, 127 full
//! forward), 128..=255 motor 2 (128 full reverse, 192 stop, 255 full
//! forward), 0 stops both. There is no address and no checksum.

use super::{BadKind, Parse};

/// The bauding byte sent once after power-up so the controller learns the
/// baud rate ("Packetized Serial", autobauding).
pub const BAUDING_BYTE: u8 = 0xAA;
/// Lowest address (all DIP switches set for address 128).
pub const ADDRESS_MIN: u8 = 128;
/// Highest address.
pub const ADDRESS_MAX: u8 = 135;

/// Packetized command numbers.
pub mod cmd {
    /// Drive motor 1 forward, data 0..=127.
    pub const M1_FORWARD: u8 = 0;
    /// Drive motor 1 backward.
    pub const M1_BACKWARD: u8 = 1;
    /// Drive motor 2 forward.
    pub const M2_FORWARD: u8 = 4;
    /// Drive motor 2 backward.
    pub const M2_BACKWARD: u8 = 5;
    /// Mixed mode: drive forward.
    pub const DRIVE_FORWARD: u8 = 8;
    /// Mixed mode: drive backward.
    pub const DRIVE_BACKWARD: u8 = 9;
    /// Mixed mode: turn right.
    pub const TURN_RIGHT: u8 = 10;
    /// Mixed mode: turn left.
    pub const TURN_LEFT: u8 = 11;
    /// Serial timeout, data in 100 ms units (0 disables).
    pub const SERIAL_TIMEOUT: u8 = 14;
}

/// The 7-bit checksum.
pub fn checksum(address: u8, command: u8, data: u8) -> u8 {
    (address.wrapping_add(command).wrapping_add(data)) & 0x7F
}

/// One packetized command. `data` is masked to 7 bits.
pub fn packet(address: u8, command: u8, data: u8) -> [u8; 4] {
    let data = data & 0x7F;
    [address, command, data, checksum(address, command, data)]
}

/// Drives `motor` (1 or 2) at `speed` in -127..=127 with commands 0/1/4/5.
pub fn motor(address: u8, motor: u8, speed: i32) -> [u8; 4] {
    let s = speed.clamp(-127, 127);
    let base = if motor == 2 { cmd::M2_FORWARD } else { cmd::M1_FORWARD };
    if s >= 0 { packet(address, base, s as u8) } else { packet(address, base + 1, (-s) as u8) }
}

/// Mixed mode: drive (forward positive) and turn (right positive), each
/// -127..=127. The controller waits for both a drive and a turn command
/// before it moves in mixed mode, so both packets are always sent.
pub fn mixed(address: u8, drive: i32, turn: i32) -> [[u8; 4]; 2] {
    let (d, t) = (drive.clamp(-127, 127), turn.clamp(-127, 127));
    let dp = if d >= 0 {
        packet(address, cmd::DRIVE_FORWARD, d as u8)
    } else {
        packet(address, cmd::DRIVE_BACKWARD, (-d) as u8)
    };
    let tp =
        if t >= 0 { packet(address, cmd::TURN_RIGHT, t as u8) } else { packet(address, cmd::TURN_LEFT, (-t) as u8) };
    [dp, tp]
}

/// Command 14: serial timeout, 100 ms units, rounded up, 1..=127.
pub fn serial_timeout(address: u8, timeout: std::time::Duration) -> [u8; 4] {
    packet(address, cmd::SERIAL_TIMEOUT, timeout.as_millis().div_ceil(100).clamp(1, 127) as u8)
}

/// Simplified serial byte for `motor` (1 or 2) at `speed` in -63..=63
/// (motor 1: 64 + speed, motor 2: 192 + speed; full reverse is 1 / 128).
pub fn simplified(motor: u8, speed: i32) -> u8 {
    if motor == 2 { (192 + speed.clamp(-64, 63)) as u8 } else { (64 + speed.clamp(-63, 63)) as u8 }
}

/// Simplified serial byte for `motor` (1 or 2) at `frac` of full speed
/// (-1..=1). Motor 2's range is not symmetric: full reverse is 128, 64
/// steps below its stop byte 192, and full forward 255, 63 steps above, so
/// reverse scales by 64 there (motor 1: 1 and 127, 63 either side of 64).
pub fn simplified_frac(motor: u8, frac: f64) -> u8 {
    let f = if frac.is_finite() { frac.clamp(-1.0, 1.0) } else { 0.0 };
    let steps = if motor == 2 && f < 0.0 { 64.0 } else { 63.0 };
    simplified(motor, (f * steps).round() as i32)
}

/// The simplified serial byte that stops both motors.
pub const SIMPLIFIED_STOP_ALL: u8 = 0;

/// A decoded packet (simulator side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Address 128..=135.
    pub address: u8,
    /// Command.
    pub command: u8,
    /// Data 0..=127.
    pub data: u8,
}

/// Decodes one packet: resynchronises on an address byte (bit 7 set, in
/// 128..=135), rejects a bad checksum or a data byte with bit 7 set. The
/// bauding byte 0xAA is skipped as a resync.
pub fn parse(buf: &[u8]) -> Parse<Packet> {
    let Some(start) = buf.iter().position(|b| (ADDRESS_MIN..=ADDRESS_MAX).contains(b)) else {
        return if buf.is_empty() { Parse::Need } else { Parse::Bad { used: buf.len(), kind: BadKind::Malformed } };
    };
    let b = &buf[start..];
    if b.len() < 4 {
        return if start > 0 { Parse::Bad { used: start, kind: BadKind::Malformed } } else { Parse::Need };
    }
    if b[1] & 0x80 != 0 || b[2] & 0x80 != 0 {
        return Parse::Bad { used: start + 1, kind: BadKind::Malformed };
    }
    if checksum(b[0], b[1], b[2]) != b[3] {
        return Parse::Bad { used: start + 4, kind: BadKind::Checksum };
    }
    Parse::Done { value: Packet { address: b[0], command: b[1], data: b[2] }, used: start + 4, skipped: start }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packetized_examples() {
        // "Packetized Serial" example: address 128, command 0 (drive forward
        // motor 1), speed 127 (full): checksum (128 + 0 + 127) & 127 = 127.
        assert_eq!(packet(128, 0, 127), [128, 0, 127, 127]);
        // Motor 2 backward at half speed (64) on address 130.
        assert_eq!(motor(130, 2, -64), [130, 5, 64, (130 + 5 + 64) & 127]);
        assert_eq!(motor(128, 1, 0), [128, 0, 0, 0]);
        // Mixed: drive 8 and turn 10/11 always go together.
        assert_eq!(mixed(128, 20, -5), [[128, 8, 20, 28], [128, 11, 5, 16]]);
        // Serial timeout (14), 100 ms units.
        assert_eq!(serial_timeout(128, std::time::Duration::from_millis(250)), [128, 14, 3, (128 + 14 + 3) & 127]);
    }

    #[test]
    fn simplified_examples() {
        // "Simplified Serial": 1 full reverse M1, 64 stop, 127 full forward;
        // 128 full reverse M2, 192 stop, 255 full forward; 0 stops both.
        assert_eq!(simplified(1, -63), 1);
        assert_eq!(simplified(1, 0), 64);
        assert_eq!(simplified(1, 63), 127);
        assert_eq!(simplified(2, -64), 128);
        assert_eq!(simplified(2, 0), 192);
        assert_eq!(simplified(2, 63), 255);
        // Full scale reaches every end byte, motor 2's full reverse too.
        assert_eq!([simplified_frac(1, -1.0), simplified_frac(1, 0.0), simplified_frac(1, 1.0)], [1, 64, 127]);
        assert_eq!([simplified_frac(2, -1.0), simplified_frac(2, 0.0), simplified_frac(2, 1.0)], [128, 192, 255]);
        assert_eq!([simplified_frac(2, -0.5), simplified_frac(1, f64::NAN)], [160, 64]);
    }

    #[test]
    fn parsing() {
        let p = packet(129, 4, 100);
        assert_eq!(
            parse(&p),
            Parse::Done { value: Packet { address: 129, command: 4, data: 100 }, used: 4, skipped: 0 }
        );
        let mut g = vec![BAUDING_BYTE, 0x01];
        g.extend_from_slice(&p);
        assert!(matches!(parse(&g), Parse::Done { skipped: 2, .. }));
        let mut bad = p;
        bad[3] ^= 1;
        assert_eq!(parse(&bad), Parse::Bad { used: 4, kind: BadKind::Checksum });
        assert_eq!(parse(&p[..3]), Parse::Need);
    }
}
