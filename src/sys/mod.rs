//! The OS layer: every `unsafe` block of the crate lives under this module.
pub mod v4l2;
