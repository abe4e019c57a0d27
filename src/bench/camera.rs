//! CPU time per captured frame: USERPTR (zero-copy) against MMAP plus one
//! copy, measured side by side (what `framewire bench camera` prints).
//!
//! The figure is the capturing thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
//! user + system, so the kernel's QBUF/DQBUF work and the copy both count)
//! divided by frames. The driver's own work to produce a frame happens in
//! its thread and is the same for both paths.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};

use framewire_camera::{CameraError, Capture, CapturePath, FormatRequest, IoMode, Recovery};
use framewire_sys::v4l2::PageRegion;

/// One path's measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchResult {
    /// The path measured.
    pub path: CapturePath,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames captured.
    pub frames: u32,
    /// CPU time of the capturing thread per frame.
    pub cpu_per_frame: Duration,
    /// Wall time per frame (the camera's rate, mostly).
    pub wall_per_frame: Duration,
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{} {:<20} {:>4} frames  CPU {:>9.1} us/frame  wall {:>8.2} ms/frame",
            self.width,
            self.height,
            self.path.to_string(),
            self.frames,
            self.cpu_per_frame.as_secs_f64() * 1e6,
            self.wall_per_frame.as_secs_f64() * 1e3
        )
    }
}

fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).unwrap_or_default()
}

/// Captures `frames` frames from `device` at `req` through `path`
/// (USERPTR into page-aligned anonymous memory, or MMAP plus a copy into
/// such memory) and measures the capturing thread's CPU time per frame.
pub fn bench_capture(
    device: &Path,
    req: &FormatRequest,
    path: CapturePath,
    frames: u32,
) -> Result<BenchResult, CameraError> {
    let io = match path {
        CapturePath::UserPtr => IoMode::UserPtr,
        CapturePath::MmapCopy => IoMode::Mmap,
    };
    // Declared before the capture so that it is dropped after it, even on
    // an early error return: the driver must stop before the memory goes.
    let mut region_slot: Option<PageRegion> = None;
    let mut cap = Capture::open(device, req, io, 4, Recovery::default())?;
    let len = cap.frame_len();
    let n = cap.buffer_count() as usize;
    let granted = cap.negotiated().format;
    let region = region_slot.insert(
        PageRegion::new(n * len.next_multiple_of(framewire_sys::v4l2::page_size()))
            .map_err(|e| CameraError::Ioctl { device: device.to_path_buf(), request: "mmap", errno: e })?,
    );
    let warmup = 3;
    let (mut cpu0, mut t0) = (thread_cpu(), Instant::now());
    match cap.path() {
        CapturePath::UserPtr => {
            let slots = region.slots(n, len).expect("region sized for n slots");
            for s in slots {
                cap.queue(s)?;
            }
            for i in 0..frames + warmup {
                if i == warmup {
                    (cpu0, t0) = (thread_cpu(), Instant::now());
                }
                let (buf, _info) = cap.dequeue()?;
                // A consumer would commit the slot here; touch it as one would.
                std::hint::black_box(buf.as_slice()[0]);
                cap.queue(buf)?;
            }
            let _ = cap.stop();
        }
        CapturePath::MmapCopy => {
            let mut slots = region.slots(1, len).expect("region sized for a slot");
            let dst = slots[0].as_mut_slice();
            for i in 0..frames + warmup {
                if i == warmup {
                    (cpu0, t0) = (thread_cpu(), Instant::now());
                }
                cap.read_into(dst)?;
                std::hint::black_box(dst[0]);
            }
            drop(cap);
        }
    }
    let cpu = thread_cpu().saturating_sub(cpu0);
    let wall = t0.elapsed();
    Ok(BenchResult {
        path,
        width: granted.width,
        height: granted.height,
        frames,
        cpu_per_frame: cpu / frames.max(1),
        wall_per_frame: wall / frames.max(1),
    })
}

/// The whole `framewire bench camera` run on `device`: YUYV at 640x480 and
/// 1920x1080 (or the nearest the driver grants), at the highest rate near
/// 60 fps the driver grants, each through USERPTR and
/// then MMAP + copy, `frames` frames apiece. Print each result; compare
/// `cpu_per_frame` of the two paths at each size.
pub fn bench_camera(device: &Path, frames: u32) -> Result<Vec<BenchResult>, CameraError> {
    let mut out = vec![];
    for (width, height) in [(640, 480), (1920, 1080)] {
        let req = FormatRequest { fourcc: framewire_wire::image::FourCC::YUYV, width, height, fps: Some(60.0) };
        for path in [CapturePath::UserPtr, CapturePath::MmapCopy] {
            out.push(bench_capture(device, &req, path, frames)?);
        }
    }
    Ok(out)
}
