//! framewire-setup: what it takes to live with a robot, beyond running a
//! pipeline once:
//!
//! * [`udev`]: rules that give the camera and the motor controller stable
//!   names (`/dev/framewire/camera0`, `/dev/framewire/motors`), whatever USB
//!   port they are plugged into, written from what sysfs says of the devices
//!   actually plugged in (`framewire udev`);
//! * [`service`]: a systemd unit that starts a pipeline at boot once its
//!   devices appear, restarts it on failure and stops it cleanly
//!   (`framewire service`);
//! * [`doctor`]: checks of the machine and a pipeline's setup, each with the
//!   fix (`framewire doctor`).
//!
//! Every check reads the machine through a [`Roots`] value (where `/etc`,
//! `/dev`, `/sys` and `/dev/shm` are), so tests run it against fake trees.
//!
//! May depend on: `framewire-runtime` (to load pipelines), `framewire-camera`
//! (to ask a camera what it offers), `framewire-sdk`, `framewire-wire`,
//! `framewire-sys`. No block depends on it. Safe Rust only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod doctor;
pub mod service;
pub mod udev;

use std::path::PathBuf;

/// Where the machine's files are: the real ones, or a fake tree in tests.
#[derive(Clone, Debug)]
pub struct Roots {
    /// `/etc` (groups, udev rules, logind.conf).
    pub etc: PathBuf,
    /// `/dev`.
    pub dev: PathBuf,
    /// `/sys`.
    pub sys: PathBuf,
    /// `/dev/shm`.
    pub shm: PathBuf,
    /// `/run` (runtime udev rules).
    pub run: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots { etc: "/etc".into(), dev: "/dev".into(), sys: "/sys".into(), shm: "/dev/shm".into(), run: "/run".into() }
    }
}
