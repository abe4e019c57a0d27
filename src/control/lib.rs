//! framewire-control: controllers that close the camera-to-motor loop.
//!
//! * [`pid`]: a PID controller with anti-windup, timed by frame timestamps;
//! * [`follow`]: the follow logic (steer towards a detected blob, approach
//!   it to a target size, search by turning in place when it is lost) and
//!   the `follow` block, which waits on detections and odometry together
//!   ([`framewire_sdk::select::Select`]) and publishes drive commands
//!   stamped with the capture time of the frame each one came from.
//!
//! `config/demo.toml` (simulated) and `config/robot.toml` (a real robot) use
//! it; `config/README.md` explains its keys and how to tune the gains.
//!
//! May depend on: `framewire-sdk` only, as every block a real robot runs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod follow;
pub mod pid;

pub use follow::{Follow, FollowConfig, Follower};

use framewire_sdk::block::{Registry, RegistryError};

/// Registers the controller block types.
pub fn register(reg: &mut Registry) -> Result<(), RegistryError> {
    reg.add::<Follow>()
}
