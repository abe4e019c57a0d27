//! The ROSArduinoBridge serial command protocol (hbrobotics / ros-arduino
//! bridge, `ROSArduinoBridge.ino` and `commands.h`).
//!
//! Source: the firmware's `commands.h` (single-letter commands) and
//! `runCommand()` in `ROSArduinoBridge.ino`, and the host side
//! `arduino_driver.py`: a command is letters and space-separated integer
//! arguments terminated by a carriage return (`\r`, byte 13); every
//! command is answered by one line printed with `Serial.println`, i.e.
//! ending in `\r\n`. The default baud rate is 57600.
//!
//! * `m L R` sets the PID targets in encoder ticks *per PID frame*
//!   (`PID_RATE` = 30 Hz, so ticks/s ÷ 30); answers `OK`. `m 0 0` also
//!   resets the PID and stops.
//! * `e` answers `L R`, the two encoder counts.
//! * `r` resets both encoders; answers `OK`.
//! * `u Kp:Kd:Ki:Ko` updates the PID gains; answers `OK`.
//! * `b` answers the baud rate.
//! * anything else answers `Invalid Command`.
//!
//! The firmware stops the motors by itself when no `m` command arrived for
//! `AUTO_STOP_INTERVAL` (2000 ms). That interval is a compile-time constant
//! of the sketch: it cannot be programmed over the serial line.

/// The firmware's default baud rate (`#define BAUDRATE 57600`).
pub const DEFAULT_BAUD: u32 = 57600;
/// The firmware's PID loop rate (`#define PID_RATE 30`, Hz).
pub const DEFAULT_PID_RATE: f64 = 30.0;
/// The firmware's auto-stop interval (`#define AUTO_STOP_INTERVAL 2000`).
pub const AUTO_STOP_MS: u64 = 2000;
/// The reply to `m`, `r`, `u` and other setters.
pub const OK: &str = "OK";
/// The reply to an unknown command.
pub const INVALID: &str = "Invalid Command";

/// `m L R`: wheel targets in encoder ticks per PID frame.
pub fn motor_speeds(left: i32, right: i32) -> Vec<u8> {
    format!("m {left} {right}\r").into_bytes()
}

/// `e`: read encoders.
pub fn read_encoders() -> Vec<u8> {
    b"e\r".to_vec()
}

/// `r`: reset encoders.
pub fn reset_encoders() -> Vec<u8> {
    b"r\r".to_vec()
}

/// `b`: get the baud rate.
pub fn get_baud() -> Vec<u8> {
    b"b\r".to_vec()
}

/// `u Kp:Kd:Ki:Ko`: update the PID gains (integers, as the firmware parses
/// them with `atoi`).
pub fn update_pid(kp: i32, kd: i32, ki: i32, ko: i32) -> Vec<u8> {
    format!("u {kp}:{kd}:{ki}:{ko}\r").into_bytes()
}

/// Converts wheel ticks per second to the `m` command's ticks per PID frame.
pub fn ticks_per_frame(ticks_per_s: f64, pid_rate: f64) -> i32 {
    (ticks_per_s / pid_rate).round() as i32
}

/// Parses the answer to `e`: two signed integers separated by a space.
pub fn parse_encoders(line: &str) -> Option<(i64, i64)> {
    let mut it = line.split_whitespace();
    let l = it.next()?.parse().ok()?;
    let r = it.next()?.parse().ok()?;
    it.next().is_none().then_some((l, r))
}

/// A command as the firmware's parser sees it (simulator side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The command letter (the first byte of the line).
    pub cmd: u8,
    /// The first argument (`argv1`), as text.
    pub arg1: String,
    /// The second argument (`argv2`), as text.
    pub arg2: String,
}

/// Splits one `\r`-terminated command the way `loop()` in the sketch does:
/// the first byte is the command, a space moves to the next argument, and
/// every other byte (including `\n`) is appended to the current one.
pub fn parse_command(line: &[u8]) -> Command {
    let mut c = Command { cmd: 0, arg1: String::new(), arg2: String::new() };
    let mut arg = 0;
    for &b in line {
        if b == b' ' {
            arg += 1;
        } else if arg == 0 {
            c.cmd = b;
        } else if arg == 1 {
            c.arg1.push(b as char);
        } else if arg == 2 {
            c.arg2.push(b as char);
        }
    }
    c
}

/// The C library's `atoi`, as the firmware applies it to its arguments:
/// leading whitespace, an optional sign, then digits up to the first
/// non-digit; 0 if there are none.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_byte_exact() {
        // commands.h: MOTOR_SPEEDS 'm', READ_ENCODERS 'e', RESET_ENCODERS
        // 'r', UPDATE_PID 'u', GET_BAUDRATE 'b'; terminated by CR (13).
        assert_eq!(motor_speeds(12, -7), b"m 12 -7\r");
        assert_eq!(read_encoders(), b"e\r");
        assert_eq!(reset_encoders(), b"r\r");
        assert_eq!(get_baud(), b"b\r");
        // The host driver formats gains as "u Kp:Kd:Ki:Ko".
        assert_eq!(update_pid(20, 12, 0, 50), b"u 20:12:0:50\r");
    }

    #[test]
    fn replies_and_units() {
        assert_eq!(parse_encoders("1234 -56"), Some((1234, -56)));
        assert_eq!(parse_encoders("OK"), None);
        assert_eq!(parse_encoders("1 2 3"), None);
        // PID_RATE 30 Hz: 300 ticks/s is 10 ticks per frame.
        assert_eq!(ticks_per_frame(300.0, DEFAULT_PID_RATE), 10);
        assert_eq!(ticks_per_frame(-301.0, DEFAULT_PID_RATE), -10);
    }

    #[test]
    fn firmware_parser() {
        let c = parse_command(b"m 10 -3");
        assert_eq!((c.cmd, atoi(&c.arg1), atoi(&c.arg2)), (b'm', 10, -3));
        let c = parse_command(b"u 20:12:0:50");
        assert_eq!(c.arg1, "20:12:0:50");
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi(""), 0);
    }
}
