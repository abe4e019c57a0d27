//! Serial motor controllers: protocols, a serial port layer, simulated
//! controllers, differential-drive kinematics and the driver core.
//!
//! Code map:
//! * [`proto`]: pure encode/decode, one file per protocol, tested byte for
//!   byte against the vendors' manuals;
//! * [`serial`]: opening a port with helpful errors, and [`serial::Link`],
//!   the bounded request/response helper that never blocks forever;
//! * [`sim`]: simulated controllers on pseudo-terminals (part of the product:
//!   `framewire sim-motor`), with fault injection for tests;
//! * [`diff`]: differential-drive kinematics and odometry integration;
//! * [`driver`]: the driver core with its deadman stop, and one backend per
//!   protocol;
//! * [`blocks`]: the `diff_drive` block and one driver block per protocol
//!   (register them with [`blocks::register`]).
//!
//! User documentation (TOML keys, wiring, failsafe): `src/motor/README.md`.
//!
//! May depend on: `framewire-sdk` (the block API), `serialport` and `nix`
//! (ports and pseudo-terminals). Safe Rust only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocks;
pub mod diff;
pub mod driver;
pub mod proto;
pub mod serial;
pub mod sim;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// Everything that can go wrong talking to a motor controller.
#[derive(Debug, thiserror::Error)]
pub enum MotorError {
    /// The port could not be opened; the message says why and what to do.
    #[error("{0}")]
    Open(String),
    /// The port is gone (unplugged, pty closed) and is being retried.
    #[error("serial port {0} is not connected (retrying)")]
    Disconnected(String),
    /// No valid reply after every retry.
    #[error("no valid reply to {what} after {attempts} attempts ({last})")]
    NoReply {
        /// The request that failed.
        what: String,
        /// How many times it was sent.
        attempts: u32,
        /// What happened to the last attempt.
        last: &'static str,
    },
    /// The controller answered, but with an error.
    #[error("controller reported: {0}")]
    Device(String),
    /// The configuration cannot work.
    #[error("invalid motor configuration: {0}")]
    Config(String),
    /// The port exists but is not a serial port (a regular file, a
    /// directory, /dev/null): retrying cannot help.
    #[error("{0}")]
    NotSerial(String),
    /// The port never opened within `connect_timeout_ms`; the message names
    /// the port, the last cause and what to do.
    #[error("{0}")]
    NeverConnected(String),
    /// The controller runs something framewire cannot drive safely (VESC
    /// firmware before 3.x); the message says what to update.
    #[error("{0}")]
    Unsupported(String),
    /// An exchange was cut short because the deadman deadline passed: the
    /// driver must command zero before waiting any longer for a reply.
    #[error("gave up waiting for the reply to {what}: no fresh command, the motors must be stopped first")]
    Deadline {
        /// The request that was cut short.
        what: String,
    },
}

impl MotorError {
    /// A short name for the kind of error, for rate-limited logging.
    pub fn kind(&self) -> &'static str {
        match self {
            MotorError::Open(_) => "open",
            MotorError::Disconnected(_) => "disconnected",
            MotorError::NoReply { .. } => "no reply",
            MotorError::Device(_) => "device",
            MotorError::Config(_) => "config",
            MotorError::NotSerial(_) => "not serial",
            MotorError::NeverConnected(_) => "never connected",
            MotorError::Deadline { .. } => "deadline",
            MotorError::Unsupported(_) => "unsupported",
        }
    }

    /// Whether retrying cannot help: the block should fail.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            MotorError::Config(_)
                | MotorError::NotSerial(_)
                | MotorError::NeverConnected(_)
                | MotorError::Unsupported(_)
        )
    }
}

/// The default deadman timeout (`command_timeout_ms`): long enough for a
/// few 20 Hz periods to be late, short enough that a runaway robot stops
/// within a fraction of a metre.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(300);

/// The serial protocols framewire speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// RoboClaw / Basicmicro packet serial.
    Roboclaw,
    /// ROBOTIS Dynamixel Protocol 2.0.
    Dynamixel,
    /// ROSArduinoBridge line protocol.
    Arduino,
    /// Sabertooth packetized / simplified serial.
    Sabertooth,
    /// VESC UART.
    Vesc,
    /// ODrive ASCII.
    Odrive,
    /// Pololu Simple Motor Controller.
    Pololu,
}

impl Protocol {
    /// Every protocol, in the order `framewire sim-motor --help` lists them.
    pub const ALL: [Protocol; 7] = [
        Protocol::Roboclaw,
        Protocol::Dynamixel,
        Protocol::Arduino,
        Protocol::Sabertooth,
        Protocol::Vesc,
        Protocol::Odrive,
        Protocol::Pololu,
    ];

    /// The name users write (`--protocol roboclaw`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Roboclaw => "roboclaw",
            Protocol::Dynamixel => "dynamixel",
            Protocol::Arduino => "arduino",
            Protocol::Sabertooth => "sabertooth",
            Protocol::Vesc => "vesc",
            Protocol::Odrive => "odrive",
            Protocol::Pololu => "pololu",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        Protocol::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
            format!("unknown protocol {s:?}; use one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod protocol_tests {
    use super::Protocol;

    #[test]
    fn protocol_names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
        }
        assert!("kangaroo".parse::<Protocol>().unwrap_err().contains("use one of roboclaw, dynamixel"));
    }
}
