//! The operating-system layer: the only place where framewire calls the C
//! library or the kernel through `unsafe`. Every unsafe block carries a
//! `// SAFETY:` comment; everything above this module is safe Rust, except
//! the two places in `wire` where the slot protocol hands out a slot's bytes
//! (see `wire::ring`).

pub mod proc;
pub mod shm;
