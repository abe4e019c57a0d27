//! The runtime: pipeline files, the supervisor that runs them, the
//! per-block process, and `status` read from outside.

pub mod child;
pub mod config;
pub mod status;
pub mod supervisor;

use crate::block::Registry;

/// Every block type this build knows: the built-ins and the user's blocks
/// compiled from `blocks/`.
pub fn registry() -> Registry {
    let mut reg = Registry::new();
    crate::builtin::register(&mut reg);
    crate::user_blocks::register(&mut reg);
    reg
}
