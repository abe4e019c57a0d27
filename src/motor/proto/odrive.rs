//! ODrive ASCII protocol (firmware 0.5.x).
//!
//! Source: ODrive documentation, "ASCII Protocol": commands are lines ending
//! in `\n`; `v motor velocity [torque_ff]` sets the velocity setpoint in
//! turns/s, `f motor` answers `pos vel` (turns, turns/s), `u motor` feeds the
//! watchdog, `r property` answers the value, `w property value` writes and
//! answers nothing, `sc` clears errors. Optionally a line carries
//! `*checksum` after the command: the XOR of every byte before the `*`, in
//! decimal; the ODrive then answers with a checksum too.

use super::{BadKind, Parse, parse_line};

/// `AxisState::CLOSED_LOOP_CONTROL`.
pub const STATE_CLOSED_LOOP: u8 = 8;
/// `AxisState::IDLE`.
pub const STATE_IDLE: u8 = 1;
/// `ControlMode::VELOCITY_CONTROL`.
pub const CONTROL_MODE_VELOCITY: u8 = 2;
/// `AxisError::WATCHDOG_TIMER_EXPIRED` (0.5.x).
pub const AXIS_ERROR_WATCHDOG: u32 = 0x800;

/// The XOR checksum of a command.
pub fn checksum(cmd: &str) -> u8 {
    cmd.bytes().fold(0, |a, b| a ^ b)
}

/// Builds a line, with `*checksum` when `with_checksum`.
pub fn line(cmd: &str, with_checksum: bool) -> Vec<u8> {
    if with_checksum { format!("{cmd} *{}\n", checksum(&format!("{cmd} "))) } else { format!("{cmd}\n") }.into_bytes()
}

/// `v motor velocity torque_ff`.
pub fn velocity(motor: u8, turns_per_s: f64, torque_ff: f64, ck: bool) -> Vec<u8> {
    line(&format!("v {motor} {turns_per_s:.4} {torque_ff:.4}"), ck)
}

/// `f motor`.
pub fn feedback(motor: u8, ck: bool) -> Vec<u8> {
    line(&format!("f {motor}"), ck)
}

/// `u motor`.
pub fn feed_watchdog(motor: u8, ck: bool) -> Vec<u8> {
    line(&format!("u {motor}"), ck)
}

/// `r property`.
pub fn read(property: &str, ck: bool) -> Vec<u8> {
    line(&format!("r {property}"), ck)
}

/// `w property value`.
pub fn write(property: &str, value: &str, ck: bool) -> Vec<u8> {
    line(&format!("w {property} {value}"), ck)
}

/// Splits a received line into its text and verifies the optional
/// checksum: `None` if a checksum is present and wrong, or required and
/// missing.
pub fn check_line(l: &str, require: bool) -> Option<&str> {
    match l.rfind('*') {
        Some(i) => {
            let (body, ck) = (&l[..i], &l[i + 1..]);
            let ck: u8 = ck.trim().parse().ok()?;
            (checksum(body) == ck).then(|| body.trim_end())
        }
        None if require => None,
        None => Some(l),
    }
}

/// Decodes one reply line, checking its checksum when `ck`.
pub fn parse_reply(buf: &[u8], ck: bool) -> Parse<String> {
    match parse_line(buf) {
        Parse::Done { value, used, skipped } => match check_line(&value, ck) {
            Some(v) => Parse::Done { value: v.to_string(), used, skipped },
            None => Parse::Bad { used, kind: BadKind::Checksum },
        },
        other => other,
    }
}

/// Parses the answer to `f`: position and velocity.
pub fn parse_feedback(l: &str) -> Option<(f64, f64)> {
    let mut it = l.split_whitespace();
    let p = it.next()?.parse().ok()?;
    let v = it.next()?.parse().ok()?;
    it.next().is_none().then_some((p, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_byte_exact() {
        // "ASCII Protocol" command list: v, f, u, r, w; lines end with \n.
        assert_eq!(velocity(0, 1.5, 0.0, false), b"v 0 1.5000 0.0000\n");
        assert_eq!(feedback(1, false), b"f 1\n");
        assert_eq!(feed_watchdog(0, false), b"u 0\n");
        assert_eq!(read("vbus_voltage", false), b"r vbus_voltage\n");
        assert_eq!(write("axis0.requested_state", "8", false), b"w axis0.requested_state 8\n");
        // Checksum: XOR of the bytes before '*'. "f 1 " = 0x66^0x20^0x31^0x20 = 0x57 = 87.
        assert_eq!(checksum("f 1 "), 0x57);
        assert_eq!(feedback(1, true), b"f 1 *87\n");
    }

    #[test]
    fn replies() {
        assert_eq!(parse_feedback("1.25 -0.5"), Some((1.25, -0.5)));
        assert_eq!(parse_feedback("invalid command format"), None);
        let body = "12.3 4.5 ";
        let l = format!("{body}*{}\r\n", checksum(body));
        assert_eq!(
            parse_reply(l.as_bytes(), true),
            Parse::Done { value: "12.3 4.5".into(), used: l.len() - 1, skipped: 0 }
        );
        let bad = format!("{body}*{}\n", checksum(body) ^ 1);
        assert!(matches!(parse_reply(bad.as_bytes(), true), Parse::Bad { kind: BadKind::Checksum, .. }));
        assert!(matches!(parse_reply(b"12.3 4.5\n", true), Parse::Bad { kind: BadKind::Checksum, .. }));
        assert_eq!(parse_reply(b"24.1\n", false), Parse::Done { value: "24.1".into(), used: 5, skipped: 0 });
    }
}
