//! V4L2 kernel UAPI, declared by hand from `linux/videodev2.h`, and the few
//! requests the camera needs, wrapped as safe functions.
//!
//! Only what framewire uses is declared. Layouts are those of the kernel's
//! 64-bit ABI (x86_64, aarch64); the golden test in `tests` compiles a C
//! program against the system's `videodev2.h` and checks every size, the
//! offsets that matter, and every request number against the values here.
//!
//! Every `unsafe` block of the camera is in this file. The raw ioctls are the
//! `nix` macro functions in [`raw`]; the safe wrappers below pass them a
//! pointer to a live, correctly typed Rust value and retry on `EINTR`.
//!
//! Structs keep the kernel's names (`v4l2_format`, ...) and field names
//! (`type` becomes `type_`), so `videodev2.h` and the V4L2 documentation
//! are their reference; fields and the `V4L2_*` constants (named without
//! the prefix) are therefore not documented one by one.
#![allow(non_camel_case_types, missing_docs)]

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use nix::errno::Errno;

// ---------------------------------------------------------------------------
// Constants.

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`.
pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// `V4L2_MEMORY_MMAP`.
pub const MEMORY_MMAP: u32 = 1;
/// `V4L2_MEMORY_USERPTR`.
pub const MEMORY_USERPTR: u32 = 2;
/// `V4L2_FIELD_ANY`.
pub const FIELD_ANY: u32 = 0;
/// `V4L2_FIELD_NONE`.
pub const FIELD_NONE: u32 = 1;

pub const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
pub const CAP_VIDEO_OUTPUT: u32 = 0x0000_0002;
pub const CAP_VIDEO_OVERLAY: u32 = 0x0000_0004;
pub const CAP_VBI_CAPTURE: u32 = 0x0000_0010;
pub const CAP_VIDEO_CAPTURE_MPLANE: u32 = 0x0000_1000;
pub const CAP_VIDEO_OUTPUT_MPLANE: u32 = 0x0000_2000;
pub const CAP_VIDEO_M2M_MPLANE: u32 = 0x0000_4000;
pub const CAP_VIDEO_M2M: u32 = 0x0000_8000;
pub const CAP_TUNER: u32 = 0x0001_0000;
pub const CAP_AUDIO: u32 = 0x0002_0000;
pub const CAP_RADIO: u32 = 0x0004_0000;
pub const CAP_SDR_CAPTURE: u32 = 0x0010_0000;
pub const CAP_EXT_PIX_FORMAT: u32 = 0x0020_0000;
pub const CAP_META_CAPTURE: u32 = 0x0080_0000;
pub const CAP_READWRITE: u32 = 0x0100_0000;
pub const CAP_STREAMING: u32 = 0x0400_0000;
pub const CAP_TOUCH: u32 = 0x1000_0000;
pub const CAP_IO_MC: u32 = 0x2000_0000;
pub const CAP_DEVICE_CAPS: u32 = 0x8000_0000;

pub const BUF_CAP_SUPPORTS_MMAP: u32 = 1 << 0;
pub const BUF_CAP_SUPPORTS_USERPTR: u32 = 1 << 1;
pub const BUF_CAP_SUPPORTS_DMABUF: u32 = 1 << 2;

pub const BUF_FLAG_MAPPED: u32 = 0x0001;
pub const BUF_FLAG_QUEUED: u32 = 0x0002;
pub const BUF_FLAG_DONE: u32 = 0x0004;
pub const BUF_FLAG_ERROR: u32 = 0x0040;
pub const BUF_FLAG_TIMESTAMP_MASK: u32 = 0xe000;
pub const BUF_FLAG_TIMESTAMP_MONOTONIC: u32 = 0x2000;

pub const FMT_FLAG_COMPRESSED: u32 = 0x0001;
pub const FMT_FLAG_EMULATED: u32 = 0x0002;

pub const FRMSIZE_TYPE_DISCRETE: u32 = 1;
pub const FRMSIZE_TYPE_CONTINUOUS: u32 = 2;
pub const FRMSIZE_TYPE_STEPWISE: u32 = 3;
pub const FRMIVAL_TYPE_DISCRETE: u32 = 1;
pub const FRMIVAL_TYPE_CONTINUOUS: u32 = 2;
pub const FRMIVAL_TYPE_STEPWISE: u32 = 3;

/// `V4L2_CAP_TIMEPERFRAME` in `v4l2_captureparm.capability`.
pub const CAP_TIMEPERFRAME: u32 = 0x1000;

pub const CTRL_FLAG_DISABLED: u32 = 0x0001;
pub const CTRL_FLAG_GRABBED: u32 = 0x0002;
pub const CTRL_FLAG_READ_ONLY: u32 = 0x0004;
pub const CTRL_FLAG_INACTIVE: u32 = 0x0010;
pub const CTRL_FLAG_WRITE_ONLY: u32 = 0x0040;
pub const CTRL_FLAG_VOLATILE: u32 = 0x0080;
pub const CTRL_FLAG_HAS_PAYLOAD: u32 = 0x0100;
pub const CTRL_FLAG_NEXT_CTRL: u32 = 0x8000_0000;
pub const CTRL_FLAG_NEXT_COMPOUND: u32 = 0x4000_0000;

pub const CTRL_TYPE_INTEGER: u32 = 1;
pub const CTRL_TYPE_BOOLEAN: u32 = 2;
pub const CTRL_TYPE_MENU: u32 = 3;
pub const CTRL_TYPE_BUTTON: u32 = 4;
pub const CTRL_TYPE_INTEGER64: u32 = 5;
pub const CTRL_TYPE_CTRL_CLASS: u32 = 6;
pub const CTRL_TYPE_STRING: u32 = 7;
pub const CTRL_TYPE_BITMASK: u32 = 8;
pub const CTRL_TYPE_INTEGER_MENU: u32 = 9;

/// `V4L2_CTRL_WHICH_CUR_VAL`.
pub const CTRL_WHICH_CUR_VAL: u32 = 0;

// ---------------------------------------------------------------------------
// Structures. Field names follow the kernel's.

/// `struct v4l2_fract` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct v4l2_fract {
    pub numerator: u32,
    pub denominator: u32,
}

/// `struct v4l2_capability` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

/// `struct v4l2_fmtdesc` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_fmtdesc {
    pub index: u32,
    pub type_: u32,
    pub flags: u32,
    pub description: [u8; 32],
    pub pixelformat: u32,
    pub mbus_code: u32,
    pub reserved: [u32; 3],
}

/// `struct v4l2_frmsize_discrete` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_frmsize_discrete {
    pub width: u32,
    pub height: u32,
}

/// `struct v4l2_frmsize_stepwise` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_frmsize_stepwise {
    pub min_width: u32,
    pub max_width: u32,
    pub step_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub step_height: u32,
}

/// An anonymous or named union inside a `videodev2.h` struct (`v4l2_frmsize_union` is our name for it).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_frmsize_union {
    pub discrete: v4l2_frmsize_discrete,
    pub stepwise: v4l2_frmsize_stepwise,
}

/// `struct v4l2_frmsizeenum` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_frmsizeenum {
    pub index: u32,
    pub pixel_format: u32,
    pub type_: u32,
    pub u: v4l2_frmsize_union,
    pub reserved: [u32; 2],
}

/// `struct v4l2_frmival_stepwise` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_frmival_stepwise {
    pub min: v4l2_fract,
    pub max: v4l2_fract,
    pub step: v4l2_fract,
}

/// An anonymous or named union inside a `videodev2.h` struct (`v4l2_frmival_union` is our name for it).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_frmival_union {
    pub discrete: v4l2_fract,
    pub stepwise: v4l2_frmival_stepwise,
}

/// `struct v4l2_frmivalenum` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_frmivalenum {
    pub index: u32,
    pub pixel_format: u32,
    pub width: u32,
    pub height: u32,
    pub type_: u32,
    pub u: v4l2_frmival_union,
    pub reserved: [u32; 2],
}

/// `struct v4l2_pix_format` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct v4l2_pix_format {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

/// The `fmt` union of `v4l2_format`. It contains pointers in the kernel's
/// definition (`v4l2_window`), hence the 8-byte alignment member.
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_format_union {
    pub pix: v4l2_pix_format,
    pub raw_data: [u8; 200],
    _align: [u64; 25],
}

/// `struct v4l2_format` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_format {
    pub type_: u32,
    pub fmt: v4l2_format_union,
}

/// `struct v4l2_captureparm` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_captureparm {
    pub capability: u32,
    pub capturemode: u32,
    pub timeperframe: v4l2_fract,
    pub extendedmode: u32,
    pub readbuffers: u32,
    pub reserved: [u32; 4],
}

/// An anonymous or named union inside a `videodev2.h` struct (`v4l2_streamparm_union` is our name for it).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_streamparm_union {
    pub capture: v4l2_captureparm,
    pub raw_data: [u8; 200],
}

/// `struct v4l2_streamparm` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_streamparm {
    pub type_: u32,
    pub parm: v4l2_streamparm_union,
}

/// `struct v4l2_requestbuffers` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_requestbuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

/// `struct v4l2_timecode` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

/// An anonymous or named union inside a `videodev2.h` struct (`v4l2_buffer_m` is our name for it).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_buffer_m {
    pub offset: u32,
    pub userptr: libc::c_ulong,
    pub planes: *mut libc::c_void,
    pub fd: i32,
}

/// `struct v4l2_buffer` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub timestamp: libc::timeval,
    pub timecode: v4l2_timecode,
    pub sequence: u32,
    pub memory: u32,
    pub m: v4l2_buffer_m,
    pub length: u32,
    pub reserved2: u32,
    /// `request_fd` / `reserved` union.
    pub request_fd: i32,
}

/// `struct v4l2_queryctrl` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_queryctrl {
    pub id: u32,
    pub type_: u32,
    pub name: [u8; 32],
    pub minimum: i32,
    pub maximum: i32,
    pub step: i32,
    pub default_value: i32,
    pub flags: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_query_ext_ctrl` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct v4l2_query_ext_ctrl {
    pub id: u32,
    pub type_: u32,
    pub name: [u8; 32],
    pub minimum: i64,
    pub maximum: i64,
    pub step: u64,
    pub default_value: i64,
    pub flags: u32,
    pub elem_size: u32,
    pub elems: u32,
    pub nr_of_dims: u32,
    pub dims: [u32; 4],
    pub reserved: [u32; 32],
}

/// `struct v4l2_querymenu` is `packed` in the kernel; its union of
/// `char name[32]` and `__s64 value` is declared here as the 32 raw bytes
/// (`value` is their first 8, native-endian), which gives the same layout
/// with natural alignment.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct v4l2_querymenu {
    pub id: u32,
    pub index: u32,
    pub name_or_value: [u8; 32],
    pub reserved: u32,
}

/// `struct v4l2_control` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_control {
    pub id: u32,
    pub value: i32,
}

/// `struct v4l2_ext_control` is `packed` (20 bytes); the value union is kept
/// as two 32-bit halves so the struct needs no packing attribute. Only the
/// integer members (`value`, `value64`) are used.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct v4l2_ext_control {
    pub id: u32,
    pub size: u32,
    pub reserved2: [u32; 1],
    pub value: [u32; 2],
}

impl v4l2_ext_control {
    /// The `value64` member.
    pub fn value64(&self) -> i64 {
        (self.value[0] as u64 | (self.value[1] as u64) << 32) as i64
    }
    /// Sets the `value64` member (which also sets `value` on little-endian).
    pub fn set_value64(&mut self, v: i64) {
        self.value = [v as u32, ((v as u64) >> 32) as u32];
    }
}

/// `struct v4l2_ext_controls` from `linux/videodev2.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct v4l2_ext_controls {
    pub which: u32,
    pub count: u32,
    pub error_idx: u32,
    pub request_fd: i32,
    pub reserved: [u32; 1],
    pub controls: *mut v4l2_ext_control,
}

macro_rules! zeroed_default {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                // SAFETY: a plain-old-data kernel struct of integers, arrays
                // and unions of those (pointers become null); all-zero is a
                // valid value, and the kernel's documented initial state.
                unsafe { std::mem::zeroed() }
            }
        }
    )*};
}
zeroed_default!(
    v4l2_frmsizeenum,
    v4l2_frmivalenum,
    v4l2_format,
    v4l2_streamparm,
    v4l2_buffer,
    v4l2_query_ext_ctrl,
    v4l2_querymenu,
    v4l2_ext_controls
);

impl v4l2_format {
    /// The single-planar pixel format member.
    pub fn pix(&self) -> v4l2_pix_format {
        // SAFETY: every bit pattern is a valid `v4l2_pix_format` (all u32s)
        // and the union is at least that large.
        unsafe { self.fmt.pix }
    }
    /// Replaces the single-planar pixel format member.
    pub fn set_pix(&mut self, pix: v4l2_pix_format) {
        self.fmt.pix = pix;
    }
}

impl v4l2_streamparm {
    /// The capture member.
    pub fn capture(&self) -> v4l2_captureparm {
        // SAFETY: all-integer struct, any bit pattern is valid.
        unsafe { self.parm.capture }
    }
    /// Replaces the capture member.
    pub fn set_capture(&mut self, c: v4l2_captureparm) {
        self.parm.capture = c;
    }
}

impl v4l2_frmsizeenum {
    /// The discrete member (meaningful when `type_` is discrete).
    pub fn discrete(&self) -> v4l2_frmsize_discrete {
        // SAFETY: all-integer union members; any bit pattern is valid.
        unsafe { self.u.discrete }
    }
    /// The stepwise member (meaningful when `type_` is stepwise/continuous).
    pub fn stepwise(&self) -> v4l2_frmsize_stepwise {
        // SAFETY: as above.
        unsafe { self.u.stepwise }
    }
}

impl v4l2_frmivalenum {
    /// The discrete member (meaningful when `type_` is discrete).
    pub fn discrete(&self) -> v4l2_fract {
        // SAFETY: all-integer union members; any bit pattern is valid.
        unsafe { self.u.discrete }
    }
    /// The stepwise member (meaningful when `type_` is stepwise/continuous).
    pub fn stepwise(&self) -> v4l2_frmival_stepwise {
        // SAFETY: as above.
        unsafe { self.u.stepwise }
    }
}

impl v4l2_buffer {
    /// The `m.offset` member (MMAP buffers).
    pub fn offset(&self) -> u32 {
        // SAFETY: reading the low 32 bits of an 8-byte integer/pointer union.
        unsafe { self.m.offset }
    }
    /// The `m.userptr` member (USERPTR buffers).
    pub fn userptr(&self) -> usize {
        // SAFETY: reading an 8-byte integer member of an integer/pointer union.
        unsafe { self.m.userptr as usize }
    }
    /// Sets `m.userptr`.
    pub fn set_userptr(&mut self, p: usize) {
        self.m.userptr = p as libc::c_ulong;
    }
}

/// A C string field (`char name[N]`) as text, up to the first NUL.
pub fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

// ---------------------------------------------------------------------------
// Requests.

/// The raw ioctls, as generated by `nix`'s macros. Each takes a pointer to a
/// value of exactly the type whose size is encoded in the request number.
pub mod raw {
    use super::*;
    nix::ioctl_read!(vidioc_querycap, b'V', 0, v4l2_capability);
    nix::ioctl_readwrite!(vidioc_enum_fmt, b'V', 2, v4l2_fmtdesc);
    nix::ioctl_readwrite!(vidioc_g_fmt, b'V', 4, v4l2_format);
    nix::ioctl_readwrite!(vidioc_s_fmt, b'V', 5, v4l2_format);
    nix::ioctl_readwrite!(vidioc_reqbufs, b'V', 8, v4l2_requestbuffers);
    nix::ioctl_readwrite!(vidioc_querybuf, b'V', 9, v4l2_buffer);
    nix::ioctl_readwrite!(vidioc_qbuf, b'V', 15, v4l2_buffer);
    nix::ioctl_readwrite!(vidioc_dqbuf, b'V', 17, v4l2_buffer);
    nix::ioctl_write_ptr!(vidioc_streamon, b'V', 18, libc::c_int);
    nix::ioctl_write_ptr!(vidioc_streamoff, b'V', 19, libc::c_int);
    nix::ioctl_readwrite!(vidioc_g_parm, b'V', 21, v4l2_streamparm);
    nix::ioctl_readwrite!(vidioc_s_parm, b'V', 22, v4l2_streamparm);
    nix::ioctl_readwrite!(vidioc_g_ctrl, b'V', 27, v4l2_control);
    nix::ioctl_readwrite!(vidioc_s_ctrl, b'V', 28, v4l2_control);
    nix::ioctl_readwrite!(vidioc_queryctrl, b'V', 36, v4l2_queryctrl);
    nix::ioctl_readwrite!(vidioc_querymenu, b'V', 37, v4l2_querymenu);
    nix::ioctl_readwrite!(vidioc_try_fmt, b'V', 64, v4l2_format);
    nix::ioctl_readwrite!(vidioc_g_ext_ctrls, b'V', 71, v4l2_ext_controls);
    nix::ioctl_readwrite!(vidioc_s_ext_ctrls, b'V', 72, v4l2_ext_controls);
    nix::ioctl_readwrite!(vidioc_enum_framesizes, b'V', 74, v4l2_frmsizeenum);
    nix::ioctl_readwrite!(vidioc_enum_frameintervals, b'V', 75, v4l2_frmivalenum);
    nix::ioctl_readwrite!(vidioc_query_ext_ctrl, b'V', 103, v4l2_query_ext_ctrl);
}

/// The request numbers, by their kernel names, for messages and the golden
/// test.
pub fn request_numbers() -> Vec<(&'static str, u64)> {
    use std::mem::size_of as sz;
    macro_rules! rw {
        ($n:expr, $t:ty) => {
            nix::request_code_readwrite!(b'V', $n, sz::<$t>()) as u64
        };
    }
    vec![
        ("VIDIOC_QUERYCAP", nix::request_code_read!(b'V', 0, sz::<v4l2_capability>()) as u64),
        ("VIDIOC_ENUM_FMT", rw!(2, v4l2_fmtdesc)),
        ("VIDIOC_G_FMT", rw!(4, v4l2_format)),
        ("VIDIOC_S_FMT", rw!(5, v4l2_format)),
        ("VIDIOC_REQBUFS", rw!(8, v4l2_requestbuffers)),
        ("VIDIOC_QUERYBUF", rw!(9, v4l2_buffer)),
        ("VIDIOC_QBUF", rw!(15, v4l2_buffer)),
        ("VIDIOC_DQBUF", rw!(17, v4l2_buffer)),
        ("VIDIOC_STREAMON", nix::request_code_write!(b'V', 18, sz::<libc::c_int>()) as u64),
        ("VIDIOC_STREAMOFF", nix::request_code_write!(b'V', 19, sz::<libc::c_int>()) as u64),
        ("VIDIOC_G_PARM", rw!(21, v4l2_streamparm)),
        ("VIDIOC_S_PARM", rw!(22, v4l2_streamparm)),
        ("VIDIOC_G_CTRL", rw!(27, v4l2_control)),
        ("VIDIOC_S_CTRL", rw!(28, v4l2_control)),
        ("VIDIOC_QUERYCTRL", rw!(36, v4l2_queryctrl)),
        ("VIDIOC_QUERYMENU", rw!(37, v4l2_querymenu)),
        ("VIDIOC_TRY_FMT", rw!(64, v4l2_format)),
        ("VIDIOC_G_EXT_CTRLS", rw!(71, v4l2_ext_controls)),
        ("VIDIOC_S_EXT_CTRLS", rw!(72, v4l2_ext_controls)),
        ("VIDIOC_ENUM_FRAMESIZES", rw!(74, v4l2_frmsizeenum)),
        ("VIDIOC_ENUM_FRAMEINTERVALS", rw!(75, v4l2_frmivalenum)),
        ("VIDIOC_QUERY_EXT_CTRL", rw!(103, v4l2_query_ext_ctrl)),
    ]
}

type RawIoctl<T> = unsafe fn(libc::c_int, *mut T) -> nix::Result<libc::c_int>;

fn call<T>(fd: BorrowedFd<'_>, f: RawIoctl<T>, arg: &mut T) -> Result<(), Errno> {
    loop {
        // SAFETY: `f` is one of the `raw` functions, whose request number
        // encodes `size_of::<T>()`; `arg` is a live, exclusive, initialised
        // `T`, so the kernel reads and writes exactly within it. `fd` is
        // borrowed, hence open for the duration of the call.
        match unsafe { f(fd.as_raw_fd(), arg) } {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

macro_rules! safe_rw {
    ($($(#[$m:meta])* $name:ident => $raw:ident : $t:ty;)*) => {$(
        $(#[$m])*
        pub fn $name(fd: BorrowedFd<'_>, arg: &mut $t) -> Result<(), Errno> {
            call(fd, raw::$raw, arg)
        }
    )*};
}

safe_rw! {
    /// `VIDIOC_QUERYCAP`.
    querycap => vidioc_querycap: v4l2_capability;
    /// `VIDIOC_ENUM_FMT`.
    enum_fmt => vidioc_enum_fmt: v4l2_fmtdesc;
    /// `VIDIOC_G_FMT`.
    g_fmt => vidioc_g_fmt: v4l2_format;
    /// `VIDIOC_S_FMT`.
    s_fmt => vidioc_s_fmt: v4l2_format;
    /// `VIDIOC_TRY_FMT`.
    try_fmt => vidioc_try_fmt: v4l2_format;
    /// `VIDIOC_REQBUFS`.
    reqbufs => vidioc_reqbufs: v4l2_requestbuffers;
    /// `VIDIOC_QUERYBUF`.
    querybuf => vidioc_querybuf: v4l2_buffer;
    /// `VIDIOC_DQBUF`: the kernel fills `arg` (for USERPTR buffers it hands
    /// back the pointer that was queued).
    dqbuf => vidioc_dqbuf: v4l2_buffer;
    /// `VIDIOC_G_PARM`.
    g_parm => vidioc_g_parm: v4l2_streamparm;
    /// `VIDIOC_S_PARM`.
    s_parm => vidioc_s_parm: v4l2_streamparm;
    /// `VIDIOC_G_CTRL`.
    g_ctrl => vidioc_g_ctrl: v4l2_control;
    /// `VIDIOC_S_CTRL`.
    s_ctrl => vidioc_s_ctrl: v4l2_control;
    /// `VIDIOC_QUERYCTRL`.
    queryctrl => vidioc_queryctrl: v4l2_queryctrl;
    /// `VIDIOC_QUERY_EXT_CTRL`.
    query_ext_ctrl => vidioc_query_ext_ctrl: v4l2_query_ext_ctrl;
    /// `VIDIOC_QUERYMENU`.
    querymenu => vidioc_querymenu: v4l2_querymenu;
    /// `VIDIOC_ENUM_FRAMESIZES`.
    enum_framesizes => vidioc_enum_framesizes: v4l2_frmsizeenum;
    /// `VIDIOC_ENUM_FRAMEINTERVALS`.
    enum_frameintervals => vidioc_enum_frameintervals: v4l2_frmivalenum;
}

/// `VIDIOC_QBUF` of an MMAP buffer (`memory` must be [`MEMORY_MMAP`]): the
/// driver writes into memory it owns.
pub fn qbuf_mmap(fd: BorrowedFd<'_>, arg: &mut v4l2_buffer) -> Result<(), Errno> {
    if arg.memory != MEMORY_MMAP {
        return Err(Errno::EINVAL);
    }
    call(fd, raw::vidioc_qbuf, arg)
}

/// `VIDIOC_QBUF` of a USERPTR buffer: the driver will write a frame into
/// `buf` at some later time, until the buffer is dequeued or the stream is
/// stopped. Taking the [`UserBuf`] by reference ties nothing: the caller
/// (the capture) keeps the `UserBuf` out of everyone's reach meanwhile,
/// which [`UserBuf::new`]'s contract requires.
pub fn qbuf_userptr(fd: BorrowedFd<'_>, arg: &mut v4l2_buffer, buf: &UserBuf) -> Result<(), Errno> {
    arg.memory = MEMORY_USERPTR;
    arg.set_userptr(buf.ptr.as_ptr() as usize);
    arg.length = u32::try_from(buf.len).map_err(|_| Errno::EOVERFLOW)?;
    call(fd, raw::vidioc_qbuf, arg)
}

fn stream(fd: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    let ty: libc::c_int = BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
    loop {
        // SAFETY: the request takes a pointer to an `int` that the kernel
        // only reads; `ty` lives across the call; `fd` is borrowed (open).
        let r = unsafe {
            if on { raw::vidioc_streamon(fd.as_raw_fd(), &ty) } else { raw::vidioc_streamoff(fd.as_raw_fd(), &ty) }
        };
        match r {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `VIDIOC_STREAMON` for video capture.
pub fn streamon(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    stream(fd, true)
}

/// `VIDIOC_STREAMOFF` for video capture: every queued buffer is returned to
/// user space (for USERPTR, the driver stops touching them).
pub fn streamoff(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    stream(fd, false)
}

/// `VIDIOC_G_EXT_CTRLS` / `VIDIOC_S_EXT_CTRLS` on integer controls.
pub fn ext_ctrls(fd: BorrowedFd<'_>, set: bool, ctrls: &mut [v4l2_ext_control]) -> Result<(), Errno> {
    let mut arg = v4l2_ext_controls {
        which: CTRL_WHICH_CUR_VAL,
        count: u32::try_from(ctrls.len()).map_err(|_| Errno::E2BIG)?,
        controls: ctrls.as_mut_ptr(),
        ..Default::default()
    };
    // The pointer in `arg` refers to `ctrls`, borrowed exclusively for the call.
    if set { call(fd, raw::vidioc_s_ext_ctrls, &mut arg) } else { call(fd, raw::vidioc_g_ext_ctrls, &mut arg) }
}

// ---------------------------------------------------------------------------
// Memory.

/// A region of memory that a driver may fill by USERPTR: a pointer and a
/// length, with ownership of the bytes handed over while it is queued.
#[derive(Debug)]
pub struct UserBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `UserBuf` is an exclusive claim on its bytes (see `new`); moving
// that claim to another thread is as sound as moving a `&mut [u8]`.
unsafe impl Send for UserBuf {}

impl UserBuf {
    /// Wraps `len` bytes at `ptr` for capture.
    ///
    /// # Safety
    /// Until this `UserBuf` (or the one a capture returns for it) is dropped
    /// or turned back with [`UserBuf::into_raw`], and until the capture that
    /// queued it has stopped streaming: the bytes must stay mapped and
    /// writable, and nothing else may read or write them except through
    /// [`UserBuf::as_slice`]/[`UserBuf::as_mut_slice`]. A page-aligned
    /// pointer and a length that is a multiple of the page size are what
    /// drivers expect (wire slots are made that way).
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Option<UserBuf> {
        NonNull::new(ptr).map(|ptr| UserBuf { ptr, len })
    }
    /// The start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes (call only while the buffer is not queued: a `UserBuf` you
    /// hold never is).
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `new`'s contract: valid for `len` bytes and exclusively
        // ours; a held `UserBuf` is not queued, so the driver isn't writing.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
    /// Gives the pointer and length back.
    pub fn into_raw(self) -> (*mut u8, usize) {
        (self.ptr.as_ptr(), self.len)
    }
}

/// The system page size.
pub fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |v| v as usize)
}

/// Anonymous, page-aligned memory (`mmap(MAP_ANONYMOUS)`), cut into
/// page-aligned slots: a stand-in for a wire's slots in tests and benchmarks.
#[derive(Debug)]
pub struct PageRegion {
    ptr: NonNull<libc::c_void>,
    len: usize,
}

// SAFETY: owns its mapping exclusively; no interior sharing.
unsafe impl Send for PageRegion {}

impl PageRegion {
    /// Maps `len` bytes (rounded up to whole pages), zero-filled.
    pub fn new(len: usize) -> Result<PageRegion, Errno> {
        let len = len.max(1).next_multiple_of(page_size());
        let nz = std::num::NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
        // SAFETY: a fresh anonymous private mapping; it aliases nothing.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                nz,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_PRIVATE,
            )?
        };
        Ok(PageRegion { ptr, len })
    }
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether it is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Cuts the region into `count` slots of `slot_len` bytes, each rounded
    /// up to whole pages, for capture. The returned buffers borrow `self`'s
    /// memory: keep `self` alive until every capture using them has stopped
    /// (dropping a `Capture` stops it).
    pub fn slots(&mut self, count: usize, slot_len: usize) -> Option<Vec<UserBuf>> {
        let stride = slot_len.next_multiple_of(page_size());
        if count.checked_mul(stride)? > self.len {
            return None;
        }
        (0..count)
            .map(|i| {
                // SAFETY: slot `i` lies inside our mapping (checked above);
                // slots don't overlap; `&mut self` means no one else has a
                // view. Lifetime: documented above (the region outlives the
                // captures that use it; the VM tests and benches keep it so).
                unsafe { UserBuf::new((self.ptr.as_ptr() as *mut u8).add(i * stride), slot_len) }
            })
            .collect()
    }
}

impl Drop for PageRegion {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we made; no slices into it
        // outlive `self` except `UserBuf`s, whose owners promised otherwise.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

/// A driver buffer mapped into our address space (`V4L2_MEMORY_MMAP`).
#[derive(Debug)]
pub struct MmapBuf {
    ptr: NonNull<libc::c_void>,
    len: usize,
}

// SAFETY: owns its mapping exclusively.
unsafe impl Send for MmapBuf {}

impl MmapBuf {
    /// Maps driver buffer `len` bytes at `offset` (from `VIDIOC_QUERYBUF`).
    pub fn map(fd: BorrowedFd<'_>, offset: u32, len: u32) -> Result<MmapBuf, Errno> {
        let nz = std::num::NonZeroUsize::new(len as usize).ok_or(Errno::EINVAL)?;
        // SAFETY: a shared read-only mapping of a driver buffer; the kernel
        // validates offset and length; it aliases no Rust object.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                nz,
                nix::sys::mman::ProtFlags::PROT_READ,
                nix::sys::mman::MapFlags::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )?
        };
        Ok(MmapBuf { ptr, len: len as usize })
    }
    /// The buffer's bytes. Read them only while the buffer is dequeued.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: our mapping, `len` bytes, readable; the capture reads it
        // only between DQBUF and the next QBUF, when the driver leaves it be.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr() as *const u8, self.len) }
    }
}

impl Drop for MmapBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly our mapping; `as_slice` borrows end first.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Sizes, offsets and request numbers on our side, as `name value` lines,
    /// in the same order the C program prints them.
    fn ours() -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = vec![];
        macro_rules! s {
            ($t:ident) => {
                v.push((format!("sizeof {}", stringify!($t)), size_of::<$t>() as u64));
            };
        }
        macro_rules! o {
            ($t:ident, $f:ident, $c:literal) => {
                v.push((format!("offsetof {}.{}", stringify!($t), $c), offset_of!($t, $f) as u64));
            };
        }
        s!(v4l2_capability);
        s!(v4l2_fmtdesc);
        s!(v4l2_frmsizeenum);
        s!(v4l2_frmivalenum);
        s!(v4l2_format);
        s!(v4l2_pix_format);
        s!(v4l2_streamparm);
        s!(v4l2_captureparm);
        s!(v4l2_requestbuffers);
        s!(v4l2_buffer);
        s!(v4l2_timecode);
        s!(v4l2_queryctrl);
        s!(v4l2_query_ext_ctrl);
        s!(v4l2_querymenu);
        s!(v4l2_control);
        s!(v4l2_ext_control);
        s!(v4l2_ext_controls);
        o!(v4l2_capability, capabilities, "capabilities");
        o!(v4l2_capability, device_caps, "device_caps");
        o!(v4l2_fmtdesc, pixelformat, "pixelformat");
        o!(v4l2_frmsizeenum, u, "discrete");
        o!(v4l2_frmivalenum, u, "discrete");
        o!(v4l2_format, fmt, "fmt");
        o!(v4l2_pix_format, bytesperline, "bytesperline");
        o!(v4l2_pix_format, sizeimage, "sizeimage");
        o!(v4l2_streamparm, parm, "parm");
        o!(v4l2_captureparm, timeperframe, "timeperframe");
        o!(v4l2_requestbuffers, capabilities, "capabilities");
        o!(v4l2_buffer, timestamp, "timestamp");
        o!(v4l2_buffer, sequence, "sequence");
        o!(v4l2_buffer, memory, "memory");
        o!(v4l2_buffer, m, "m");
        o!(v4l2_buffer, length, "length");
        o!(v4l2_buffer, request_fd, "request_fd");
        o!(v4l2_query_ext_ctrl, minimum, "minimum");
        o!(v4l2_query_ext_ctrl, flags, "flags");
        o!(v4l2_query_ext_ctrl, dims, "dims");
        o!(v4l2_querymenu, reserved, "reserved");
        o!(v4l2_ext_control, value, "value");
        o!(v4l2_ext_controls, controls, "controls");
        for (n, r) in request_numbers() {
            v.push((format!("ioctl {n}"), r));
        }
        v
    }

    /// The C side: one `printf` per entry of `ours()`, names identical.
    fn c_program(entries: &[(String, u64)]) -> String {
        let mut c =
            String::from("#include <stdio.h>\n#include <stddef.h>\n#include <linux/videodev2.h>\nint main(void){\n");
        for (name, _) in entries {
            let expr = if let Some(t) = name.strip_prefix("sizeof ") {
                format!("sizeof(struct {t})")
            } else if let Some(tf) = name.strip_prefix("offsetof ") {
                let (t, f) = tf.split_once('.').unwrap();
                format!("offsetof(struct {t}, {f})")
            } else {
                name.strip_prefix("ioctl ").unwrap().to_string()
            };
            c.push_str(&format!("printf(\"%s %llu\\n\", \"{name}\", (unsigned long long)({expr}));\n"));
        }
        c.push_str("return 0;}\n");
        c
    }

    #[test]
    fn golden_layouts_and_request_numbers_match_videodev2_h() {
        let header = std::path::Path::new("/usr/include/linux/videodev2.h");
        let gcc_ok = std::process::Command::new("gcc").arg("--version").output().is_ok_and(|o| o.status.success());
        if !gcc_ok || !header.exists() {
            let why = if gcc_ok { "/usr/include/linux/videodev2.h is missing" } else { "gcc is not available" };
            crate::testing::skip(
                "golden_layouts_and_request_numbers_match_videodev2_h",
                "gcc",
                &format!("{why} (install gcc and linux-libc-dev)"),
            );
            return;
        }
        let entries = ours();
        let dir = std::env::temp_dir().join(format!("framewire-v4l2-golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("golden.c");
        let exe = dir.join("golden");
        std::fs::write(&src, c_program(&entries)).unwrap();
        let out = std::process::Command::new("gcc").arg("-o").arg(&exe).arg(&src).output().unwrap();
        assert!(out.status.success(), "gcc failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8(out.stdout).unwrap();
        let mut mismatches = vec![];
        for ((name, ours), line) in entries.iter().zip(text.lines()) {
            let (cname, cval) = line.rsplit_once(' ').unwrap();
            assert_eq!(cname, name);
            let cval: u64 = cval.parse().unwrap();
            if cval != *ours {
                mismatches.push(format!("{name}: kernel {cval:#x}, ours {ours:#x}"));
            }
        }
        assert_eq!(text.lines().count(), entries.len());
        assert!(mismatches.is_empty(), "layout mismatches:\n{}", mismatches.join("\n"));
    }

    #[test]
    fn page_region_slots_are_page_aligned() {
        let ps = page_size();
        let mut r = PageRegion::new(3 * 614_400).unwrap();
        let slots = r.slots(3, 614_400).unwrap();
        for s in &slots {
            assert_eq!(s.as_ptr() as usize % ps, 0);
            assert_eq!(s.len(), 614_400);
        }
        assert!(r.slots(4, 614_400).is_none());
    }
}
