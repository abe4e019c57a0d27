//! framewire-sdk: the block SDK. Everything a block needs and nothing more:
//! the [`BlockType`](block::BlockType) trait, typed parameters, ports,
//! [`Input`](block::Input)/[`Output`](block::Output), fixed-layout
//! [messages](msg) (framewire's and your own), image views, and the
//! [`Context`](block::Context) a running block gets.
//!
//! Blocks never touch shared memory: they get frames as borrowed views and
//! write into loaned slots, and this crate is how. Your blocks in `blocks/`
//! depend on this crate alone (see `blocks/README.md`).
//!
//! May depend on: `framewire-wire` (the rings), `framewire-sys` (clocks),
//! `serde`, `toml`, `thiserror`, `tracing`. Never on the runtime or on other
//! blocks.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Lets the macros say `framewire_sdk::...` inside this crate too.
extern crate self as framewire_sdk;

pub mod block;
pub mod msg;
pub mod params;
pub mod select;
pub mod state;

/// Image descriptions: FourCC codes, geometry, borrowed views.
pub use framewire_wire::image;
pub use framewire_wire::{FrameMeta, Guard, SlotId, WireError};

/// `CLOCK_MONOTONIC` in nanoseconds: the clock frames are stamped with.
pub use framewire_sys::proc::monotonic_ns;

/// Deserialisation for parameter types a block defines itself
/// (`#[derive(framewire_sdk::serde::Deserialize)]`).
pub use serde;
/// TOML values, as block parameters arrive (used by [`params!`]).
pub use toml;
/// Logging for blocks: `framewire_sdk::tracing::info!(...)`; the runtime
/// prefixes every line with the block's name.
pub use tracing;

/// The names a block file usually needs: `use framewire_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::block::{
        BlockError, BlockInfo, BlockType, Context, Image, ImageLoan, Input, Output, PortType, Ports, Registry, Role,
        Setup, Stamped, Step,
    };
    pub use crate::image::{FourCC, ImageFormat, ImageMut, ImageRef};
    pub use crate::msg::{Detection, DriveCommand, Message, Odometry, WheelCommand};
    pub use crate::select::Select;
    pub use crate::{FrameMeta, Guard};
}
