//! Pololu Simple Motor Controller (SMC G2 and 18v7 family), binary commands.
//!
//! Source: "Pololu Simple Motor Controller User's Guide", section 6.2.1
//! "Binary Command Reference" (Exit Safe Start 0x83, Motor Forward 0x85,
//! Motor Reverse 0x86, Motor Forward 7-bit 0x89, Motor Reverse 7-bit 0x8A,
//! Motor Brake 0x92, Get Variable 0xA1, Stop Motor 0xE0) and section 6.4
//! "Controller Variables" (IDs 0 Error Status, 1 Errors Occurred, 20
//! Target Speed, 21 Speed, 23 Input Voltage in mV, 24 Temperature).
//!
//! Compact protocol: `command, data...` for the one controller on the line.
//! Pololu protocol: `0xAA, device number, command & 0x7F, data...`, so
//! several controllers (left and right) share one serial line. Speed is
//! 0..=3200, sent as `speed & 0x1F, speed >> 5`. Get Variable answers two
//! bytes, low first; setters get no answer.

use super::{BadKind, Parse};

/// Start byte of the Pololu protocol.
pub const POLOLU_START: u8 = 0xAA;
/// Full speed.
pub const MAX_SPEED: u16 = 3200;

/// Compact command bytes.
pub mod cmd {
    /// Exit Safe Start.
    pub const EXIT_SAFE_START: u8 = 0x83;
    /// Motor Forward, two speed bytes.
    pub const FORWARD: u8 = 0x85;
    /// Motor Reverse, two speed bytes.
    pub const REVERSE: u8 = 0x86;
    /// Motor Forward 7-bit: one speed byte, 0..=127 (full speed).
    pub const FORWARD_7BIT: u8 = 0x89;
    /// Motor Reverse 7-bit.
    pub const REVERSE_7BIT: u8 = 0x8A;
    /// Stop Motor: target speed zero, and safe start engages again.
    pub const STOP_MOTOR: u8 = 0xE0;
    /// Motor Brake, brake amount 0..=32.
    pub const BRAKE: u8 = 0x92;
    /// Get Variable, variable ID.
    pub const GET_VARIABLE: u8 = 0xA1;
}

/// Variable IDs.
pub mod var {
    /// Error Status bit field: the errors active now.
    pub const ERROR_STATUS: u8 = 0;
    /// Errors Occurred: every error since this variable was last read
    /// (reading it clears it).
    pub const ERRORS_OCCURRED: u8 = 1;
    /// Target Speed (-3200..=3200).
    pub const TARGET_SPEED: u8 = 20;
    /// Speed (-3200..=3200).
    pub const SPEED: u8 = 21;
    /// Input Voltage, mV.
    pub const INPUT_VOLTAGE: u8 = 23;
}

/// Error Status bit: Command Timeout.
pub const ERR_COMMAND_TIMEOUT: u16 = 1 << 3;
/// Error Status bit: Safe Start Violation.
pub const ERR_SAFE_START: u16 = 1 << 0;
/// The Error Status bits the guide defines (0 to 9, Safe Start Violation to
/// ERR Line High); any other bit set means the reply is not one.
pub const ERR_DEFINED: u16 = (1 << 10) - 1;
/// Highest input voltage of the family, mV (the 24v models' absolute
/// maximum is 40 V); a larger reading cannot be real.
pub const MAX_INPUT_MV: u16 = 40_000;

/// Which framing to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Compact: one controller on the line.
    Compact,
    /// Pololu protocol with this device number (0..=127).
    Device(u8),
}

fn frame(f: Framing, command: u8, data: &[u8]) -> Vec<u8> {
    let mut p = match f {
        Framing::Compact => vec![command],
        Framing::Device(d) => vec![POLOLU_START, d & 0x7F, command & 0x7F],
    };
    p.extend_from_slice(data);
    p
}

/// Exit Safe Start.
pub fn exit_safe_start(f: Framing) -> Vec<u8> {
    frame(f, cmd::EXIT_SAFE_START, &[])
}

/// Motor Forward / Reverse from a signed speed in -3200..=3200.
pub fn set_speed(f: Framing, speed: i32) -> Vec<u8> {
    let s = speed.clamp(-(MAX_SPEED as i32), MAX_SPEED as i32);
    let m = s.unsigned_abs() as u16;
    let c = if s >= 0 { cmd::FORWARD } else { cmd::REVERSE };
    frame(f, c, &[(m & 0x1F) as u8, (m >> 5) as u8])
}

/// Motor Forward / Reverse 7-bit from a signed speed in -127..=127.
pub fn set_speed_7bit(f: Framing, speed: i32) -> Vec<u8> {
    let s = speed.clamp(-127, 127);
    let c = if s >= 0 { cmd::FORWARD_7BIT } else { cmd::REVERSE_7BIT };
    frame(f, c, &[s.unsigned_abs() as u8])
}

/// Stop Motor.
pub fn stop_motor(f: Framing) -> Vec<u8> {
    frame(f, cmd::STOP_MOTOR, &[])
}

/// Motor Brake, 0 (coast) ..= 32 (full brake).
pub fn brake(f: Framing, amount: u8) -> Vec<u8> {
    frame(f, cmd::BRAKE, &[amount.min(32)])
}

/// Get Variable.
pub fn get_variable(f: Framing, id: u8) -> Vec<u8> {
    frame(f, cmd::GET_VARIABLE, &[id & 0x7F])
}

/// Decodes the two-byte answer to Get Variable (low byte first).
pub fn parse_variable(buf: &[u8]) -> Parse<u16> {
    if buf.len() < 2 {
        return Parse::Need;
    }
    Parse::Done { value: u16::from_le_bytes([buf[0], buf[1]]), used: 2, skipped: 0 }
}

/// Whether `value` can be variable `id` at all. Replies carry no checksum,
/// so a range check is the only way to catch a corrupted one: speeds beyond
/// ±3200, voltages beyond the family's maximum, undefined error bits.
pub fn plausible(id: u8, value: u16) -> bool {
    match id {
        var::ERROR_STATUS | var::ERRORS_OCCURRED => value & !ERR_DEFINED == 0,
        var::TARGET_SPEED | var::SPEED => (value as i16).unsigned_abs() <= MAX_SPEED,
        var::INPUT_VOLTAGE => value <= MAX_INPUT_MV,
        _ => true,
    }
}

/// Decodes the answer to Get Variable `id`, rejecting an implausible value
/// as [`BadKind::Implausible`].
pub fn parse_checked(id: u8, buf: &[u8]) -> Parse<u16> {
    match parse_variable(buf) {
        Parse::Done { value, used, .. } if !plausible(id, value) => Parse::Bad { used, kind: BadKind::Implausible },
        other => other,
    }
}

/// A decoded command (simulator side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Device number for the Pololu protocol, `None` for compact.
    pub device: Option<u8>,
    /// Command byte with bit 7 set.
    pub command: u8,
    /// Data bytes.
    pub data: Vec<u8>,
}

fn data_len(c: u8) -> Option<usize> {
    Some(match c {
        cmd::EXIT_SAFE_START | cmd::STOP_MOTOR => 0,
        cmd::FORWARD | cmd::REVERSE => 2,
        cmd::FORWARD_7BIT | cmd::REVERSE_7BIT | cmd::BRAKE | cmd::GET_VARIABLE => 1,
        _ => return None,
    })
}

/// Decodes one command in either framing. A data byte with bit 7 set is a
/// Serial Format Error on the device: the command is dropped.
pub fn parse(buf: &[u8]) -> Parse<Command> {
    let Some(start) = buf.iter().position(|b| b & 0x80 != 0) else {
        return if buf.is_empty() { Parse::Need } else { Parse::Bad { used: buf.len(), kind: BadKind::Malformed } };
    };
    let b = &buf[start..];
    let (device, command, at) = if b[0] == POLOLU_START {
        if b.len() < 3 {
            return Parse::Need;
        }
        if b[1] & 0x80 != 0 || b[2] & 0x80 != 0 {
            return Parse::Bad { used: start + 1, kind: BadKind::Malformed };
        }
        (Some(b[1]), b[2] | 0x80, 3)
    } else {
        (None, b[0], 1)
    };
    let Some(n) = data_len(command) else {
        return Parse::Bad { used: start + at, kind: BadKind::Malformed };
    };
    if b.len() < at + n {
        return Parse::Need;
    }
    if b[at..at + n].iter().any(|x| x & 0x80 != 0) {
        return Parse::Bad { used: start + at, kind: BadKind::Malformed };
    }
    Parse::Done {
        value: Command { device, command, data: b[at..at + n].to_vec() },
        used: start + at + n,
        skipped: start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_examples() {
        // 6.2.1 Motor Forward: speed 3200 → 0x85, 3200 % 32 = 0, 3200 / 32 = 100.
        assert_eq!(set_speed(Framing::Compact, 3200), vec![0x85, 0x00, 0x64]);
        // Motor Reverse at 1900 (≈ 60 %): 0x86, 1900 % 32 = 12, 1900 / 32 = 59.
        assert_eq!(set_speed(Framing::Compact, -1900), vec![0x86, 0x0C, 0x3B]);
        // Pololu protocol: 0xAA, device, command with bit 7 cleared.
        assert_eq!(set_speed(Framing::Device(13), 3200), vec![0xAA, 0x0D, 0x05, 0x00, 0x64]);
        // Exit Safe Start: 0x83 / 0xAA, device, 0x03.
        assert_eq!(exit_safe_start(Framing::Compact), vec![0x83]);
        assert_eq!(exit_safe_start(Framing::Device(13)), vec![0xAA, 0x0D, 0x03]);
        // Motor Brake 50 %: 0x92, 16.
        assert_eq!(brake(Framing::Compact, 16), vec![0x92, 0x10]);
        // Get Variable temperature (24): 0xA1, 0x18 / 0xAA, dev, 0x21, 0x18.
        assert_eq!(get_variable(Framing::Compact, 24), vec![0xA1, 0x18]);
        assert_eq!(get_variable(Framing::Device(13), 24), vec![0xAA, 0x0D, 0x21, 0x18]);
        assert_eq!(parse_variable(&[0x1E, 0x01]), Parse::Done { value: 286, used: 2, skipped: 0 });
        // Motor Forward 7-Bit, "approximately half-speed forward (63)":
        // 0x89, 0x3F; Motor Reverse 7-Bit 0x8A / 0xAA, device, 0x0A.
        assert_eq!(set_speed_7bit(Framing::Compact, 63), vec![0x89, 0x3F]);
        assert_eq!(set_speed_7bit(Framing::Device(13), -127), vec![0xAA, 0x0D, 0x0A, 0x7F]);
        // Stop Motor: 0xE0 / 0xAA, device, 0x60.
        assert_eq!(stop_motor(Framing::Compact), vec![0xE0]);
        assert_eq!(stop_motor(Framing::Device(13)), vec![0xAA, 0x0D, 0x60]);
    }

    #[test]
    fn replies_are_range_checked() {
        // 6.4: Speed is -3200..=3200; 3201 is not a speed.
        assert!(
            matches!(parse_checked(var::SPEED, &(-3200i16).to_le_bytes()), Parse::Done { value, .. } if value as i16 == -3200)
        );
        assert_eq!(
            parse_checked(var::SPEED, &3201u16.to_le_bytes()),
            Parse::Bad { used: 2, kind: BadKind::Implausible }
        );
        assert_eq!(
            parse_checked(var::INPUT_VOLTAGE, &60_000u16.to_le_bytes()),
            Parse::Bad { used: 2, kind: BadKind::Implausible }
        );
        assert!(matches!(parse_checked(var::INPUT_VOLTAGE, &12_100u16.to_le_bytes()), Parse::Done { .. }));
        // Error Status bits 0-9 are defined; bit 12 is not.
        assert!(matches!(parse_checked(var::ERROR_STATUS, &0x0209u16.to_le_bytes()), Parse::Done { .. }));
        assert_eq!(
            parse_checked(var::ERROR_STATUS, &0x1000u16.to_le_bytes()),
            Parse::Bad { used: 2, kind: BadKind::Implausible }
        );
    }

    #[test]
    fn parsing_both_framings() {
        let p = set_speed(Framing::Device(1), -100);
        assert_eq!(
            parse(&p),
            Parse::Done { value: Command { device: Some(1), command: 0x86, data: vec![4, 3] }, used: 5, skipped: 0 }
        );
        let mut g = vec![0x01, 0x02];
        g.extend_from_slice(&set_speed(Framing::Compact, 5));
        assert!(matches!(parse(&g), Parse::Done { skipped: 2, used: 5, .. }));
        assert_eq!(parse(&[0x85, 0x01]), Parse::Need);
        assert!(matches!(parse(&[0x85, 0x81, 0x00]), Parse::Bad { .. }));
    }
}
