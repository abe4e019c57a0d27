//! framewire-sys: the operating-system layer. The only crate where
//! framewire calls the C library or the kernel through `unsafe`: POSIX shared
//! memory and mappings, process-shared semaphores, signals and process
//! identity, clocks, and the V4L2 UAPI. Every unsafe block carries a
//! `// SAFETY:` comment; the crates above it are safe Rust except where
//! `src/ARCHITECTURE.md` lists an exception.
//!
//! May depend on: `libc`, `nix`, `memmap2`, `thiserror`. Nothing of framewire.
#![warn(missing_docs)]

pub mod proc;
pub mod shm;
pub mod testing;
pub mod v4l2;
