//! framewire-bridge: wires across machines, over Eclipse Zenoh.
//!
//! Two blocks: `zenoh_out` publishes a wire's frames or messages on a Zenoh
//! key expression (optionally JPEG-compressed, optionally also as a ROS 2
//! topic the way `rmw_zenoh` names it), and `zenoh_in` writes what arrives
//! on a key expression into a local wire, so a remote frame enters a
//! pipeline exactly like a local one. Both keep the *latest* semantics of a
//! wire end to end: the publisher drops rather than queues under
//! congestion, the receiver keeps only the newest sample and drops frames
//! that sat in a queue on the way, and every drop is counted.
//!
//! * [`header`]: the 112-byte frame header in front of every payload;
//! * [`session`]: the `zenoh` settings table and key expressions;
//! * [`stale`]: telling a queued frame from a fresh one across two clocks;
//! * [`rmw`]: rmw_zenoh's key expressions, liveliness tokens and attachment;
//! * [`jpeg`]: JPEG compression of image wires;
//! * [`blocks`]: the two blocks; their Zenoh I/O (`io`) needs the `zenoh`
//!   feature (the root package's `--features zenoh`);
//! * `bench` (with the feature): `framewire bench zenoh`.
//!
//! `src/bridge/README.md` is the user's guide ("Across machines").
//!
//! May depend on: `framewire-sdk` (like any block), `framewire-ros` (CDR),
//! `jpeg-encoder`, `thiserror`, `tracing`; with the `zenoh` feature `zenoh`
//! and `bytes` (the bench also uses `framewire-wire` to make its own wires).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocks;
pub mod header;
pub mod jpeg;
pub mod rmw;
pub mod session;
pub mod stale;

#[cfg(feature = "zenoh")]
mod io;

pub use blocks::{ZenohIn, ZenohOut};

use framewire_sdk::block::{Registry, RegistryError};

/// Registers `zenoh_out` and `zenoh_in` (with or without the `zenoh`
/// feature: without it they validate and refuse to start, saying why).
pub fn register(reg: &mut Registry) -> Result<(), RegistryError> {
    reg.add::<ZenohOut>()?;
    reg.add::<ZenohIn>()?;
    Ok(())
}
