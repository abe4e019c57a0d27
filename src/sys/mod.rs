//! The operating-system layer: the only place where framewire calls the C
//! library or the kernel through `unsafe`. Every unsafe block carries a
//! `// SAFETY:` comment; everything above this module is safe Rust, except
//! the two places in `wire` where the slot protocol hands out a slot's bytes
//! (see `wire::ring`) and the one in `camera::block` where a reserved wire
//! slot is handed to the V4L2 driver for USERPTR capture.

pub mod proc;
pub mod shm;
pub mod v4l2;
