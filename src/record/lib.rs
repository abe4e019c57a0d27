//! framewire-record: recording wires to MCAP files and playing them back.
//!
//! * [`Recorder`] (block type `recorder`) writes the wires connected to it
//!   into MCAP files: images as ROS 2 `sensor_msgs/msg/Image` (MJPEG as
//!   `sensor_msgs/msg/CompressedImage`), messages as generated ROS 2 types,
//!   all in CDR with their capture stamps, so Foxglove, the `mcap` tools and
//!   ROS 2 open them. Files rotate by size; a crash loses at most the last
//!   chunk ([`recording`]).
//! * [`Replay`] (block type `replay`) plays such files back into wires, at
//!   the recorded speed, faster, or one message per step.
//! * [`tap`] records wires of a pipeline that is already running
//!   (`framewire record`).
//!
//! CDR and the ROS 2 schemas are written by hand ([`cdr`], [`schema`]); the
//! file format is the `mcap` crate's, without its compression features.
//!
//! May depend on: `framewire-sdk` (like any block), `framewire-ros` (CDR,
//! shared with the Zenoh bridge), `framewire-wire` (only to
//! find and inspect a running pipeline's wires for [`tap`]), `mcap`,
//! `thiserror`. Never on the runtime.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// CDR, shared with the Zenoh bridge (it lives in `framewire-ros`).
pub use framewire_ros::cdr;
pub mod reader;
pub mod recorder;
pub mod recording;
pub mod replay;
pub mod schema;
pub mod tap;

pub use recorder::Recorder;
pub use replay::{Replay, ReplayStamp};

use framewire_sdk::block::{Registry, RegistryError};

/// Registers the `recorder` and `replay` block types and the
/// `replay_stamp` message type.
pub fn register(reg: &mut Registry) -> Result<(), RegistryError> {
    reg.add::<Recorder>()?;
    reg.add::<Replay>()?;
    reg.add_message::<ReplayStamp>()?;
    Ok(())
}
