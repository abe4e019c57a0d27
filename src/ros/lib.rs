//! framewire-ros: ROS 2's wire formats, shared by the recorder (MCAP files
//! with ROS 2 schemas, `framewire-record`) and the Zenoh bridge (topics a
//! ROS 2 host running `rmw_zenoh` sees, `framewire-bridge`).
//!
//! * [`cdr`]: little-endian CDR written and read by hand: `sensor_msgs`
//!   images, framewire's messages as ROS 2 types of their own, and
//!   `nav_msgs/msg/Odometry`; checked byte for byte against `rosbags`.
//!
//! May depend on: `framewire-sdk` (image formats and message layouts),
//! `thiserror`. Pure code: no I/O.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cdr;
