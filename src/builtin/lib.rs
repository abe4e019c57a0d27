//! framewire-builtin: the built-in blocks that need no hardware: a
//! test-pattern source, a frame sink that measures what arrives, a message
//! logger, a drive script, and `exec` for programs in any language.
//!
//! May depend on: `framewire-sdk` (and `framewire-sys` for clocks). Like a
//! user's blocks, these see only the SDK.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod drive_script;
pub mod exec;
mod message_log;
mod sink;
mod test_pattern;

pub use drive_script::DriveScript;
pub use exec::Exec;
pub use message_log::MessageLog;
pub use sink::FrameSink;
pub use test_pattern::TestPattern;

use framewire_sdk::block::{Registry, RegistryError};

/// Registers the built-in block types.
pub fn register(reg: &mut Registry) -> Result<(), RegistryError> {
    reg.add::<TestPattern>()?;
    reg.add::<FrameSink>()?;
    reg.add::<Exec>()?;
    reg.add::<DriveScript>()?;
    reg.add::<MessageLog>()?;
    Ok(())
}
