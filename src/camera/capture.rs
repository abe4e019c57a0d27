//! Streaming capture: USERPTR into caller-provided buffers (zero-copy) or
//! MMAP plus one copy, with stall and disconnect recovery.
//!
//! # USERPTR (zero-copy)
//! The caller owns the memory (for framewire, a wire's page-aligned slots),
//! wraps each buffer in a [`UserBuf`] and hands it to [`Capture::queue`].
//! [`Capture::dequeue`] returns a filled buffer with its [`FrameInfo`]; the
//! driver wrote the frame there and nobody copies it. The caller then
//! commits it (the wire slot) and queues another. Buffers the driver holds
//! belong to the capture until they come back from `dequeue` or from
//! [`Capture::stop`].
//!
//! # MMAP (fallback)
//! The driver's own buffers are mapped; [`Capture::read_into`] copies each
//! frame once into the caller's buffer.
//!
//! # Recovery
//! No frame within [`Recovery::frame_timeout`]: the stream is restarted
//! (`STREAMOFF`, requeue, `STREAMON`), up to [`Recovery::max_restarts`]
//! times in a row before [`CameraError::Stalled`]. The device disappears
//! (`ENODEV`): the capture closes it, logs it, and reopens the same path
//! with exponential backoff, renegotiates, reapplies its controls, requeues
//! its buffers and resumes; [`CameraError::Disconnected`] only after
//! [`Recovery::give_up_after`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde::Deserialize;

use super::device::Device;
use super::error::CameraError;
use super::negotiate::{FormatRequest, Negotiated};
use framewire_sdk::image::ImageFormat;
use framewire_sys::v4l2::{self as sys, MmapBuf, UserBuf};

/// Which buffer path the user wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// USERPTR if the driver supports it, MMAP otherwise.
    #[default]
    Auto,
    /// USERPTR or fail.
    #[serde(rename = "userptr")]
    UserPtr,
    /// MMAP plus one copy.
    Mmap,
}

/// The buffer path a capture actually uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePath {
    /// The driver writes into caller-provided buffers: zero copies.
    UserPtr,
    /// The driver writes into its own buffers; one copy to the caller's.
    MmapCopy,
}

impl std::fmt::Display for CapturePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CapturePath::UserPtr => "USERPTR (zero-copy)",
            CapturePath::MmapCopy => "MMAP + one copy",
        })
    }
}

/// How a capture recovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Restart the stream when no frame arrives within this time.
    pub frame_timeout: Duration,
    /// Stream restarts in a row, without a frame, before giving up.
    pub max_restarts: u32,
    /// First delay between reopen attempts after a disconnect.
    pub backoff_min: Duration,
    /// Longest delay between reopen attempts.
    pub backoff_max: Duration,
    /// Stop retrying a vanished device after this long (`None`: never).
    pub give_up_after: Option<Duration>,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            frame_timeout: Duration::from_secs(2),
            max_restarts: 3,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            give_up_after: None,
        }
    }
}

/// What the driver says about one captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The driver's frame counter (gaps mean dropped frames).
    pub sequence: u32,
    /// The driver's capture timestamp in ns; `CLOCK_MONOTONIC` when
    /// [`FrameInfo::monotonic`] is set (it is for every modern driver).
    pub timestamp_ns: u64,
    /// Whether the timestamp is on `CLOCK_MONOTONIC`.
    pub monotonic: bool,
    /// Bytes of the buffer the frame occupies.
    pub bytesused: usize,
    /// The frame's geometry.
    pub format: ImageFormat,
    /// The driver buffer index.
    pub index: u32,
}

/// Counters of a capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames delivered.
    pub frames: u64,
    /// Stream restarts (stalls, stream errors).
    pub restarts: u64,
    /// Reconnections after the device vanished.
    pub reconnects: u64,
    /// Frames the driver flagged as corrupt, dropped and requeued.
    pub error_frames: u64,
    /// Reconnections in progress (the capture is waiting for the device).
    pub disconnected: bool,
}

/// What one pass of the capture loop came to.
enum Pass {
    /// A filled buffer.
    Frame(sys::v4l2_buffer),
    /// Nothing yet; go round again.
    Again,
    /// The caller's wait is over.
    TimedOut,
}

fn gone(path: &Path) -> CameraError {
    CameraError::Disconnected {
        device: path.to_path_buf(),
        cause: "the device is gone; dequeue() or read_into() reopen it".into(),
        waited: Duration::ZERO,
    }
}

/// A streaming capture from one device.
#[derive(Debug)]
pub struct Capture {
    dev: Option<Device>,
    path_name: std::path::PathBuf,
    req: FormatRequest,
    neg: Negotiated,
    path: CapturePath,
    count: u32,
    policy: Recovery,
    stats: CaptureStats,
    controls: Vec<(String, i64)>,
    /// USERPTR: buffers held by the driver, by index.
    queued: Vec<Option<UserBuf>>,
    /// USERPTR: the address last queued at each index (vb2 keeps a pinned
    /// mapping per index; reusing it avoids re-pinning).
    last_ptr: Vec<usize>,
    /// USERPTR: buffers the capture owns but could not queue yet.
    pending: Vec<UserBuf>,
    /// MMAP: the driver's buffers.
    maps: Vec<MmapBuf>,
    streaming: bool,
    cancel: Option<Arc<AtomicBool>>,
    /// Last frame or stream (re)start: the stall clock.
    progress: Instant,
    /// Stream restarts since the last frame.
    restarts_in_row: u32,
    /// Set while the device is gone.
    reconnecting: Option<Reconnect>,
}

#[derive(Debug)]
struct Reconnect {
    since: Instant,
    next_try: Instant,
    delay: Duration,
    cause: String,
}

impl Capture {
    /// Opens `device`, negotiates `req`, chooses the buffer path per `io`
    /// (logging which), and asks the driver for `buffers` buffers. MMAP
    /// captures start streaming at once; USERPTR captures start when the
    /// first buffers are [`queue`](Capture::queue)d.
    pub fn open(
        device: impl AsRef<Path>,
        req: &FormatRequest,
        io: IoMode,
        buffers: u32,
        policy: Recovery,
    ) -> Result<Capture, CameraError> {
        let dev = Device::open_capture(device.as_ref())?;
        let neg = dev.negotiate(req)?;
        let count = buffers.max(2);
        let path = match io {
            IoMode::Mmap => CapturePath::MmapCopy,
            IoMode::UserPtr | IoMode::Auto => {
                let mut r = sys::v4l2_requestbuffers {
                    count,
                    type_: sys::BUF_TYPE_VIDEO_CAPTURE,
                    memory: sys::MEMORY_USERPTR,
                    ..Default::default()
                };
                match sys::reqbufs(dev.fd(), &mut r) {
                    Ok(()) => CapturePath::UserPtr,
                    Err(e) if io == IoMode::Auto && matches!(e, Errno::EINVAL | Errno::ENOTTY) => {
                        tracing::info!("{}: driver refuses USERPTR ({e}); using MMAP", dev.path().display());
                        CapturePath::MmapCopy
                    }
                    Err(e) => return Err(dev.err("VIDIOC_REQBUFS(USERPTR)")(e)),
                }
            }
        };
        tracing::info!("{}: capture path {path}", dev.path().display());
        let mut c = Capture {
            path_name: dev.path().to_path_buf(),
            dev: Some(dev),
            req: *req,
            neg,
            path,
            count,
            policy,
            stats: CaptureStats::default(),
            controls: vec![],
            queued: vec![],
            last_ptr: vec![],
            pending: vec![],
            maps: vec![],
            streaming: false,
            cancel: None,
            progress: Instant::now(),
            restarts_in_row: 0,
            reconnecting: None,
        };
        c.setup_buffers()?;
        Ok(c)
    }

    /// Opens a capture as a [`super::CameraConfig`] describes, setting its
    /// controls (which are reapplied after a reconnect).
    pub fn from_config(cfg: &super::CameraConfig) -> Result<Capture, CameraError> {
        let mut c = Capture::open(&cfg.device, &cfg.request()?, cfg.io, cfg.buffers, cfg.recovery())?;
        for (name, value) in &cfg.controls {
            c.set_control(name, *value)?;
        }
        Ok(c)
    }

    /// The device (for controls and queries); an error while the device is
    /// gone (after [`CameraError::Disconnected`]; `dequeue` and `read_into`
    /// keep trying to reopen it).
    pub fn device(&self) -> Result<&Device, CameraError> {
        self.dev.as_ref().ok_or_else(|| gone(&self.path_name))
    }

    /// Sets a control by name now and after every reconnect.
    pub fn set_control(&mut self, name: &str, value: i64) -> Result<(), CameraError> {
        self.device()?.set_control(name, value)?;
        self.controls.retain(|(n, _)| n != name);
        self.controls.push((name.to_string(), value));
        Ok(())
    }

    /// A flag that, once set (from another thread or a signal handler),
    /// makes a waiting `dequeue`/`read_into` give up reconnecting and return
    /// [`CameraError::Disconnected`] at its next backoff step: how a block
    /// stops promptly while its camera is unplugged.
    pub fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    /// The buffer path in use.
    pub fn path(&self) -> CapturePath {
        self.path
    }

    /// What the driver granted.
    pub fn negotiated(&self) -> &Negotiated {
        &self.neg
    }

    /// Bytes every buffer must hold (`sizeimage`).
    pub fn frame_len(&self) -> usize {
        self.neg.sizeimage as usize
    }

    /// The number of driver buffers (how many [`UserBuf`]s may be queued).
    pub fn buffer_count(&self) -> u32 {
        self.count
    }

    /// Counters.
    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    fn memory(&self) -> u32 {
        match self.path {
            CapturePath::UserPtr => sys::MEMORY_USERPTR,
            CapturePath::MmapCopy => sys::MEMORY_MMAP,
        }
    }

    fn usage(&self, reason: impl Into<String>) -> CameraError {
        CameraError::Usage { device: self.path_name.clone(), reason: reason.into() }
    }

    /// `REQBUFS` (and for MMAP: map and queue every buffer).
    fn setup_buffers(&mut self) -> Result<(), CameraError> {
        let dev = self.dev.as_ref().ok_or_else(|| gone(&self.path_name))?;
        let mut r = sys::v4l2_requestbuffers {
            count: self.count,
            type_: sys::BUF_TYPE_VIDEO_CAPTURE,
            memory: self.memory(),
            ..Default::default()
        };
        sys::reqbufs(dev.fd(), &mut r).map_err(dev.err("VIDIOC_REQBUFS"))?;
        if r.count == 0 {
            return Err(dev.err("VIDIOC_REQBUFS")(Errno::ENOMEM));
        }
        self.count = r.count;
        match self.path {
            CapturePath::UserPtr => {
                self.queued = (0..r.count).map(|_| None).collect();
                self.last_ptr = vec![0; r.count as usize];
            }
            CapturePath::MmapCopy => {
                self.maps.clear();
                for index in 0..r.count {
                    let mut b = sys::v4l2_buffer {
                        index,
                        type_: sys::BUF_TYPE_VIDEO_CAPTURE,
                        memory: sys::MEMORY_MMAP,
                        ..Default::default()
                    };
                    sys::querybuf(dev.fd(), &mut b).map_err(dev.err("VIDIOC_QUERYBUF"))?;
                    self.maps.push(MmapBuf::map(dev.fd(), b.offset(), b.length).map_err(dev.err("mmap"))?);
                }
                for index in 0..r.count {
                    self.qbuf_mmap(index)?;
                }
                sys::streamon(dev.fd()).map_err(dev.err("VIDIOC_STREAMON"))?;
                self.streaming = true;
                self.progress = Instant::now();
            }
        }
        Ok(())
    }

    fn qbuf_mmap(&self, index: u32) -> Result<(), CameraError> {
        let dev = self.device()?;
        let mut b = sys::v4l2_buffer {
            index,
            type_: sys::BUF_TYPE_VIDEO_CAPTURE,
            memory: sys::MEMORY_MMAP,
            ..Default::default()
        };
        sys::qbuf_mmap(dev.fd(), &mut b).map_err(dev.err("VIDIOC_QBUF"))
    }

    /// Hands a buffer to the driver to capture into (USERPTR path only).
    /// It must hold at least [`Capture::frame_len`] bytes. If the device is
    /// momentarily gone, the buffer is kept and queued once it is back.
    pub fn queue(&mut self, buf: UserBuf) -> Result<(), CameraError> {
        if self.path != CapturePath::UserPtr {
            return Err(self.usage("queue() needs the USERPTR path; this capture uses MMAP (use read_into)"));
        }
        if buf.len() < self.frame_len() {
            return Err(CameraError::BufferTooSmall {
                device: self.path_name.clone(),
                len: buf.len(),
                needed: self.frame_len(),
            });
        }
        if self.dev.is_none() {
            self.pending.push(buf);
            return Ok(());
        }
        match self.qbuf_user(buf) {
            Ok(()) => Ok(()),
            Err((buf, e)) if e.is_disconnect() => {
                self.pending.push(buf);
                Ok(())
            }
            Err((buf, e)) => {
                self.pending.push(buf);
                Err(e)
            }
        }
    }

    fn qbuf_user(&mut self, buf: UserBuf) -> Result<(), (UserBuf, CameraError)> {
        let ptr = buf.as_ptr() as usize;
        let free = |i: &usize| self.queued[*i].is_none();
        let index = (0..self.queued.len())
            .find(|i| free(i) && self.last_ptr[*i] == ptr)
            .or_else(|| (0..self.queued.len()).find(|i| free(i) && self.last_ptr[*i] == 0))
            .or_else(|| (0..self.queued.len()).find(free));
        let Some(index) = index else {
            let n = self.queued.len();
            return Err((buf, self.usage(format!("all {n} driver buffers are already queued"))));
        };
        let dev = match self.device() {
            Ok(d) => d,
            Err(e) => return Err((buf, e)),
        };
        let mut b = sys::v4l2_buffer {
            index: index as u32,
            type_: sys::BUF_TYPE_VIDEO_CAPTURE,
            memory: sys::MEMORY_USERPTR,
            ..Default::default()
        };
        if let Err(e) = sys::qbuf_userptr(dev.fd(), &mut b, &buf) {
            let e = dev.err("VIDIOC_QBUF(USERPTR)")(e);
            return Err((buf, e));
        }
        self.last_ptr[index] = ptr;
        self.queued[index] = Some(buf);
        Ok(())
    }

    fn queued_count(&self) -> usize {
        match self.path {
            CapturePath::UserPtr => self.queued.iter().filter(|q| q.is_some()).count(),
            CapturePath::MmapCopy => self.maps.len(),
        }
    }

    /// Queues pending buffers and starts streaming if needed.
    fn ensure_streaming(&mut self) -> Result<(), CameraError> {
        while let Some(buf) = self.pending.pop() {
            if let Err((buf, e)) = self.qbuf_user(buf) {
                self.pending.push(buf);
                if e.is_disconnect() {
                    return Err(e);
                }
                break; // every index busy: keep it for later
            }
        }
        if self.queued_count() == 0 {
            return Err(self.usage("no buffer is queued: queue() buffers before dequeue()"));
        }
        if !self.streaming {
            let dev = self.device()?;
            sys::streamon(dev.fd()).map_err(dev.err("VIDIOC_STREAMON"))?;
            self.streaming = true;
            self.progress = Instant::now();
        }
        Ok(())
    }

    /// Waits for the next frame, with recovery (see the module docs), and
    /// returns its raw buffer description; `Ok(None)` if `wait` is given and
    /// passes first (stall and reconnect state carry over to the next call,
    /// so a caller polling in short steps gets the same recovery).
    /// The next filled buffer from the driver, recovering on the way: a
    /// stalled stream is restarted, a vanished device reopened with backoff.
    /// `None` when `wait` passed first.
    fn next_raw(&mut self, wait: Option<Duration>) -> Result<Option<sys::v4l2_buffer>, CameraError> {
        let call_deadline = wait.map(|w| Instant::now() + w);
        loop {
            let pass = if self.reconnecting.is_some() {
                self.reconnect_pass(call_deadline)?
            } else {
                self.stream_pass(call_deadline)?
            };
            match pass {
                Pass::Frame(b) => return Ok(Some(b)),
                Pass::TimedOut => return Ok(None),
                Pass::Again => {}
            }
        }
    }

    /// While the device is gone: try to reopen it when its backoff is due,
    /// and give up only when told to (cancel flag, `give_up_after`).
    fn reconnect_pass(&mut self, call_deadline: Option<Instant>) -> Result<Pass, CameraError> {
        let rc = self.reconnecting.as_ref().expect("reconnect_pass while reconnecting");
        if Instant::now() >= rc.next_try {
            match self.reopen() {
                Ok(()) => {
                    let since = self.reconnecting.take().map(|r| r.since.elapsed()).unwrap_or_default();
                    self.stats.reconnects += 1;
                    self.stats.disconnected = false;
                    self.progress = Instant::now();
                    tracing::info!("{}: device back after {since:?}; streaming resumed", self.path_name.display());
                    return Ok(Pass::Again);
                }
                Err(e) => {
                    self.dev = None;
                    self.maps.clear();
                    let rc = self.reconnecting.as_mut().expect("reconnecting");
                    tracing::debug!("{}: still gone: {e}", self.path_name.display());
                    let waited = rc.since.elapsed();
                    if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
                        || self.policy.give_up_after.is_some_and(|g| waited >= g)
                    {
                        let cause = rc.cause.clone();
                        return Err(CameraError::Disconnected { device: self.path_name.clone(), cause, waited });
                    }
                    rc.delay = (rc.delay * 2).min(self.policy.backoff_max);
                    rc.next_try = Instant::now() + rc.delay;
                }
            }
        }
        let rc = self.reconnecting.as_ref().expect("reconnecting");
        let until = call_deadline.map_or(rc.next_try, |d| d.min(rc.next_try));
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        Ok(if call_deadline.is_some_and(|d| Instant::now() >= d) { Pass::TimedOut } else { Pass::Again })
    }

    /// While streaming: wait for a buffer until the stall deadline or the
    /// caller's, then dequeue it.
    fn stream_pass(&mut self, call_deadline: Option<Instant>) -> Result<Pass, CameraError> {
        if self.dev.is_none() {
            self.start_reconnect("device closed".into());
            return Ok(Pass::Again);
        }
        if let Err(e) = self.ensure_streaming() {
            if e.is_disconnect() {
                self.start_reconnect(e.to_string());
                return Ok(Pass::Again);
            }
            return Err(e);
        }
        let now = Instant::now();
        let stall_deadline = self.progress + self.policy.frame_timeout;
        let until = call_deadline.map_or(stall_deadline, |d| d.min(stall_deadline));
        let ready = {
            let dev = self.device()?;
            let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
            let left = until.saturating_duration_since(now);
            // Round up to whole ms so a sub-ms remainder doesn't spin.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            match nix::poll::poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(n) => n > 0,
                Err(Errno::EINTR) => return Ok(Pass::Again),
                Err(e) => return Err(dev.err("poll")(e)),
            }
        };
        if ready { self.dequeue_pass() } else { self.stall_pass(stall_deadline, call_deadline) }
    }

    /// No buffer came: before the stall deadline that is the caller's
    /// timeout; after it, the stream is restarted (a few times in a row
    /// before the capture gives up).
    fn stall_pass(&mut self, stall_deadline: Instant, call_deadline: Option<Instant>) -> Result<Pass, CameraError> {
        let now = Instant::now();
        if now < stall_deadline {
            return Ok(if call_deadline.is_some_and(|d| now >= d) { Pass::TimedOut } else { Pass::Again });
        }
        if self.restarts_in_row >= self.policy.max_restarts {
            let restarts = std::mem::take(&mut self.restarts_in_row);
            let waited = self.progress.elapsed();
            self.progress = Instant::now();
            return Err(CameraError::Stalled { device: self.path_name.clone(), waited, restarts });
        }
        self.restarts_in_row += 1;
        tracing::warn!(
            "{}: no frame for {:?}; restarting the stream ({}/{})",
            self.path_name.display(),
            self.policy.frame_timeout,
            self.restarts_in_row,
            self.policy.max_restarts
        );
        self.restart_or_reconnect()?;
        Ok(Pass::Again)
    }

    /// A buffer is ready: dequeue it; drop frames the driver flags as
    /// corrupt; treat a vanished device or a broken stream as what they are.
    fn dequeue_pass(&mut self) -> Result<Pass, CameraError> {
        let mut b =
            sys::v4l2_buffer { type_: sys::BUF_TYPE_VIDEO_CAPTURE, memory: self.memory(), ..Default::default() };
        match sys::dqbuf(self.device()?.fd(), &mut b) {
            Ok(()) => {
                self.progress = Instant::now();
                if b.flags & sys::BUF_FLAG_ERROR != 0 {
                    self.stats.error_frames += 1;
                    tracing::warn!(
                        "{}: driver flagged frame {} as corrupt; dropped",
                        self.path_name.display(),
                        b.sequence
                    );
                    self.requeue_index(b.index)?;
                    return Ok(Pass::Again);
                }
                self.restarts_in_row = 0;
                self.stats.frames += 1;
                Ok(Pass::Frame(b))
            }
            Err(Errno::EAGAIN) => Ok(Pass::Again),
            Err(Errno::ENODEV | Errno::ENXIO) => {
                self.start_reconnect(format!("VIDIOC_DQBUF failed: {}", Errno::ENODEV.desc()));
                Ok(Pass::Again)
            }
            Err(e @ (Errno::EIO | Errno::EPIPE | Errno::EINVAL)) => {
                if self.restarts_in_row >= self.policy.max_restarts {
                    self.restarts_in_row = 0;
                    return Err(self.device()?.err("VIDIOC_DQBUF")(e));
                }
                self.restarts_in_row += 1;
                tracing::warn!(
                    "{}: VIDIOC_DQBUF failed: {e}; restarting the stream ({}/{})",
                    self.path_name.display(),
                    self.restarts_in_row,
                    self.policy.max_restarts
                );
                self.restart_or_reconnect()?;
                Ok(Pass::Again)
            }
            Err(e) => Err(self.device()?.err("VIDIOC_DQBUF")(e)),
        }
    }

    fn requeue_index(&mut self, index: u32) -> Result<(), CameraError> {
        match self.path {
            CapturePath::MmapCopy => self.qbuf_mmap(index),
            CapturePath::UserPtr => {
                if let Some(buf) = self.queued.get_mut(index as usize).and_then(Option::take) {
                    self.pending.push(buf);
                }
                Ok(())
            }
        }
    }

    fn restart_or_reconnect(&mut self) -> Result<(), CameraError> {
        self.stats.restarts += 1;
        match self.restart_stream() {
            Ok(()) => Ok(()),
            Err(e) if e.is_disconnect() => {
                self.start_reconnect(e.to_string());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `STREAMOFF` (the driver returns every buffer), requeue, `STREAMON`.
    fn restart_stream(&mut self) -> Result<(), CameraError> {
        let dev = self.device()?;
        sys::streamoff(dev.fd()).map_err(dev.err("VIDIOC_STREAMOFF"))?;
        self.streaming = false;
        match self.path {
            CapturePath::UserPtr => {
                let back: Vec<UserBuf> = self.queued.iter_mut().filter_map(Option::take).collect();
                self.pending.extend(back);
                self.ensure_streaming()
            }
            CapturePath::MmapCopy => {
                for index in 0..self.maps.len() as u32 {
                    self.qbuf_mmap(index)?;
                }
                let dev = self.device()?;
                sys::streamon(dev.fd()).map_err(dev.err("VIDIOC_STREAMON"))?;
                self.streaming = true;
                self.progress = Instant::now();
                Ok(())
            }
        }
    }

    /// The device vanished: close it and start reopening the same path with
    /// backoff (done by `next_raw`) until it is back or `give_up_after`
    /// passes.
    fn start_reconnect(&mut self, cause: String) {
        tracing::warn!("{}: device lost ({cause}); waiting for it to come back", self.path_name.display());
        self.stats.disconnected = true;
        let back: Vec<UserBuf> = self.queued.iter_mut().filter_map(Option::take).collect();
        self.pending.extend(back);
        self.maps.clear();
        self.streaming = false;
        self.dev = None; // closes the node, releasing the driver
        let now = Instant::now();
        self.reconnecting = Some(Reconnect {
            since: now,
            next_try: now + self.policy.backoff_min,
            delay: self.policy.backoff_min,
            cause,
        });
    }

    fn reopen(&mut self) -> Result<(), CameraError> {
        let dev = Device::open_capture(&self.path_name)?;
        let neg = dev.negotiate(&self.req)?;
        for (name, value) in &self.controls {
            dev.set_control(name, *value)?;
        }
        if neg.sizeimage > self.neg.sizeimage {
            return Err(CameraError::Usage {
                device: self.path_name.clone(),
                reason: format!(
                    "frame size grew from {} to {} bytes after reconnect",
                    self.neg.sizeimage, neg.sizeimage
                ),
            });
        }
        self.neg = neg;
        self.dev = Some(dev);
        self.setup_buffers()
    }

    fn info(&self, b: &sys::v4l2_buffer) -> FrameInfo {
        let ts = b.timestamp.tv_sec as u64 * 1_000_000_000 + b.timestamp.tv_usec as u64 * 1000;
        FrameInfo {
            sequence: b.sequence,
            timestamp_ns: ts,
            monotonic: b.flags & sys::BUF_FLAG_TIMESTAMP_MASK == sys::BUF_FLAG_TIMESTAMP_MONOTONIC,
            bytesused: b.bytesused as usize,
            format: self.neg.format,
            index: b.index,
        }
    }

    /// Waits for the next frame (USERPTR path) and returns the buffer the
    /// driver filled, now the caller's again, with the frame's description.
    /// Blocks through stream restarts and, after a disconnect, until the
    /// device is back (or [`Recovery::give_up_after`]).
    pub fn dequeue(&mut self) -> Result<(UserBuf, FrameInfo), CameraError> {
        loop {
            if let Some(f) = self.dequeue_timeout(Duration::from_secs(3600))? {
                return Ok(f);
            }
        }
    }

    /// Like [`Capture::dequeue`] but returns `Ok(None)` once `wait` passes
    /// without a frame; stall detection and reconnection go on across calls
    /// (how a block steps without blocking its shutdown).
    pub fn dequeue_timeout(&mut self, wait: Duration) -> Result<Option<(UserBuf, FrameInfo)>, CameraError> {
        if self.path != CapturePath::UserPtr {
            return Err(self.usage("dequeue() needs the USERPTR path; this capture uses MMAP (use read_into)"));
        }
        let deadline = Instant::now() + wait;
        loop {
            let Some(b) = self.next_raw(Some(deadline.saturating_duration_since(Instant::now())))? else {
                return Ok(None);
            };
            let info = self.info(&b);
            match self.queued.get_mut(b.index as usize).and_then(Option::take) {
                Some(buf) => {
                    debug_assert_eq!(buf.as_ptr() as usize, b.userptr());
                    return Ok(Some((buf, info)));
                }
                None => tracing::warn!("{}: driver returned unknown buffer {}", self.path_name.display(), b.index),
            }
        }
    }

    /// Waits for the next frame and copies it into `dst` (MMAP path: the
    /// one copy). `dst` must hold [`Capture::frame_len`] bytes. Blocks like
    /// [`Capture::dequeue`].
    pub fn read_into(&mut self, dst: &mut [u8]) -> Result<FrameInfo, CameraError> {
        loop {
            if let Some(f) = self.read_into_timeout(dst, Duration::from_secs(3600))? {
                return Ok(f);
            }
        }
    }

    /// Like [`Capture::read_into`] but returns `Ok(None)` once `wait`
    /// passes without a frame.
    pub fn read_into_timeout(&mut self, dst: &mut [u8], wait: Duration) -> Result<Option<FrameInfo>, CameraError> {
        if self.path != CapturePath::MmapCopy {
            return Err(self.usage("read_into() needs the MMAP path; this capture uses USERPTR (use queue/dequeue)"));
        }
        let Some(b) = self.next_raw(Some(wait))? else { return Ok(None) };
        let info = self.info(&b);
        let src = self.maps[b.index as usize].as_slice();
        let n = info.bytesused.min(src.len());
        let res = if dst.len() < n {
            Err(CameraError::BufferTooSmall { device: self.path_name.clone(), len: dst.len(), needed: n })
        } else {
            dst[..n].copy_from_slice(&src[..n]);
            Ok(Some(info))
        };
        self.qbuf_mmap(b.index)?;
        res
    }

    /// Stops streaming and returns every buffer the capture held (USERPTR),
    /// so their owner may reuse or release them.
    pub fn stop(mut self) -> Vec<UserBuf> {
        self.shutdown();
        let mut out: Vec<UserBuf> = self.queued.iter_mut().filter_map(Option::take).collect();
        out.append(&mut self.pending);
        out
    }

    fn shutdown(&mut self) {
        if let Some(dev) = self.dev.as_ref() {
            let _ = sys::streamoff(dev.fd());
            let mut r = sys::v4l2_requestbuffers {
                count: 0,
                type_: sys::BUF_TYPE_VIDEO_CAPTURE,
                memory: self.memory(),
                ..Default::default()
            };
            self.maps.clear();
            let _ = sys::reqbufs(dev.fd(), &mut r);
        }
        self.streaming = false;
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // The driver must stop writing into USERPTR buffers before their
        // owner can free them.
        self.shutdown();
    }
}
