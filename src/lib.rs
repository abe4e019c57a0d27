//! framewire: a Linux robotics runtime where blocks run as separate processes
//! and exchange frames through zero-copy POSIX shared-memory wires.
//!
//! See `README.md` for the architecture and the invariants this crate keeps.
#![warn(missing_docs)]

pub mod image;
pub mod filters;
pub mod msg;
