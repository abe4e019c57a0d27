//! framewire-runtime: pipeline files and their validation, the supervisor
//! that runs a pipeline's blocks as processes, the per-block process, and
//! `status` read from outside.
//!
//! The runtime knows no block type: the caller (the `framewire` binary)
//! hands it a [`Registry`](framewire_sdk::block::Registry) holding the
//! built-in, camera, filter, motor and user blocks.
//!
//! May depend on: `framewire-sdk`, `framewire-wire`, `framewire-sys`, `toml`,
//! `serde`, `nix`. Never on a block crate. Safe Rust only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod child;
pub mod config;
pub mod orphans;
pub mod runfile;
pub mod status;
pub mod supervisor;
