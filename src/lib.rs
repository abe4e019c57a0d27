//! framewire: a Linux robotics runtime where blocks run as separate processes
//! and exchange frames through zero-copy POSIX shared-memory wires.
//!
//! See `README.md` for the architecture and the invariants this crate keeps.
#![warn(missing_docs)]

// Lets blocks compiled from blocks/ say `framewire::...` like external code.
extern crate self as framewire;

pub mod bench;
pub mod block;
pub mod builtin;
pub mod camera;
pub mod filters;
pub mod image;
pub mod motor;
pub mod msg;
pub mod runtime;
pub mod sys;
pub mod wire;

/// The user's blocks, compiled from `blocks/` by `build.rs`.
#[allow(missing_docs)]
pub mod user_blocks {
    include!(concat!(env!("OUT_DIR"), "/user_blocks.rs"));
}
