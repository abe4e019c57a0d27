//! framewire: a Linux robotics runtime where blocks run as separate
//! processes and exchange frames through zero-copy POSIX shared-memory wires.
//!
//! This crate is the `framewire` command and a facade over the workspace's
//! crates, so that one dependency reaches all of them:
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`sys`] | `framewire-sys` | the OS layer: every `unsafe` call into libc and the kernel |
//! | [`wire`], [`image`] | `framewire-wire` | the shared-memory ring: layout, protocol, image geometry |
//! | [`sdk`] ([`block`], [`msg`], [`params`], [`select`]) | `framewire-sdk` | the block SDK |
//! | [`builtin`] | `framewire-builtin` | hardware-free built-in blocks |
//! | [`camera`] | `framewire-camera` | the V4L2 camera block |
//! | [`filters`] | `framewire-filters` | image filters and their blocks |
//! | [`motor`] | `framewire-motor` | serial motor drivers, kinematics, simulators |
//! | [`runtime`] | `framewire-runtime` | pipeline files, supervisor, block process, status |
//! | [`world`] | `framewire-world` | the simulated world of the demo: room, robot, ball, camera, motor controller |
//! | [`control`] | `framewire-control` | controllers: the `follow` block (detections and odometry to drive commands) |
//! | [`record`] | `framewire-record` | recording wires to MCAP files (ROS 2 CDR) and replaying them |
//! | [`bridge`] | `framewire-bridge` | wires across machines over Zenoh: `zenoh_out`, `zenoh_in` (I/O with `--features zenoh`) |
//! | [`ros`] | `framewire-ros` | ROS 2 wire formats (CDR) shared by the recorder and the bridge |
//! | [`bench`] | `framewire-bench` | `framewire bench ...` |
//! | [`setup`] | `framewire-setup` | udev rules, the boot service, `framewire doctor` |
//! | [`viewer`] | `framewire-viewer` | the live view: a web page with MJPEG streams of the wires and live statistics |
//! | [`user_blocks`] | `framewire-user-blocks` | your blocks in `blocks/` |
//!
//! See `src/ARCHITECTURE.md` for the layering and the invariants.
//!
//! May depend on: every crate of the workspace (it is the top), `clap`,
//! `anyhow` and `tracing-subscriber` for the command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use framewire_bench as bench;
pub use framewire_bridge as bridge;
pub use framewire_builtin as builtin;
pub use framewire_camera as camera;
pub use framewire_control as control;
pub use framewire_filters as filters;
pub use framewire_motor as motor;
pub use framewire_record as record;
pub use framewire_ros as ros;
pub use framewire_runtime as runtime;
pub use framewire_sdk as sdk;
pub use framewire_sdk::{block, msg, params, select};
pub use framewire_setup as setup;
pub use framewire_sys as sys;
pub use framewire_user_blocks as user_blocks;
pub use framewire_viewer as viewer;
pub use framewire_wire as wire;
pub use framewire_wire::image;
pub use framewire_world as world;

use framewire_sdk::block::{Registry, RegistryError};

/// Every block type and message type this build knows: the built-in,
/// camera, filter, motor, controller, simulated-world, recorder and
/// replay blocks, and the user's blocks from `blocks/`.
/// A user block whose name clashes with another is an error naming both.
pub fn registry() -> Result<Registry, RegistryError> {
    let mut reg = Registry::new();
    framewire_builtin::register(&mut reg)?;
    reg.add::<framewire_camera::CameraBlock>()?;
    framewire_filters::blocks::register(&mut reg)?;
    framewire_motor::blocks::register(&mut reg)?;
    framewire_control::register(&mut reg)?;
    framewire_world::register(&mut reg)?;
    framewire_bridge::register(&mut reg)?;
    framewire_record::register(&mut reg)?;
    framewire_user_blocks::register(&mut reg)?;
    Ok(reg)
}
