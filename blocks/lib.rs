//! The user's blocks: every `blocks/NAME.rs` (or `blocks/NAME/mod.rs`) is a
//! module of this crate, found by `build.rs`, and its `register` function is
//! called when `framewire` starts. See `blocks/README.md`.
//!
//! May depend on: `framewire-sdk` only (add the crates your blocks need to
//! `blocks/Cargo.toml`). The SDK is all a block can see of framewire.
#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/user_blocks.rs"));
