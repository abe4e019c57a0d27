//! framewire-world: a simulated world for trying the camera-to-motor loop
//! with no hardware. The `sim_world` block owns a small room with a
//! differential-drive robot and a brightly coloured ball, renders what the
//! robot's camera sees into an image wire (YUYV, like a webcam, stamped with
//! its capture time), and runs a simulated RoboClaw on a pseudo-terminal.
//! The real motor driver block talks to that controller over the pty, and
//! the wheel speeds the controller drives move the simulated robot: the loop
//! closes through the same bytes a real robot's controller would receive.
//!
//! * [`model`]: the room, the robot's kinematics, the ball, the camera's
//!   projection (no pixels);
//! * [`render`]: the camera view, drawn straight into a wire slot;
//! * [`SimWorld`]: the block (`config/demo.toml` uses it; documentation in
//!   `config/README.md`).
//!
//! May depend on: `framewire-sdk` (the block API) and `framewire-motor` (its
//! simulated controllers, `framewire_motor::sim`, whose shared state gives
//! the wheel positions). Safe Rust only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block;
pub mod model;
pub mod render;

pub use block::{Params, SimWorld};

use framewire_sdk::block::{Registry, RegistryError};

/// Registers the `sim_world` block type.
pub fn register(reg: &mut Registry) -> Result<(), RegistryError> {
    reg.add::<SimWorld>()
}
