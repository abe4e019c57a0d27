//! Built-in blocks that need no hardware: a test-pattern source, a frame
//! sink that measures what arrives, and `exec` for programs in any language.

mod drive_script;
mod exec;
mod message_log;
mod sink;
mod test_pattern;

pub use drive_script::DriveScript;
pub use exec::Exec;
pub use message_log::MessageLog;
pub use sink::FrameSink;
pub use test_pattern::TestPattern;

use crate::block::Registry;

/// Registers the built-in block types (and those of the filter, motor and
/// camera modules as they land).
pub fn register(reg: &mut Registry) {
    reg.add::<TestPattern>();
    reg.add::<FrameSink>();
    reg.add::<Exec>();
    reg.add::<DriveScript>();
    reg.add::<MessageLog>();
    reg.add::<crate::camera::CameraBlock>();
    crate::motor::blocks::register(reg);
    crate::filters::blocks::register(reg);
}
