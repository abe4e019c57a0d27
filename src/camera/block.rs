//! The `camera` block: V4L2 capture straight into the wire's slots.
//!
//! On the USERPTR path (chosen whenever the driver supports it, as vivid,
//! uvcvideo and most CSI drivers do), the block reserves wire slots, hands
//! their page-aligned payloads to the driver, and commits each slot as the
//! driver returns it filled: the frame is written once, by the driver, and
//! never copied. Otherwise (MMAP) it copies each frame once into a loaned
//! slot. The log says which path is used.
//!
//! Slot metadata: `timestamp_ns` is the driver's capture timestamp
//! (`CLOCK_MONOTONIC`), `source_seq` is the driver's frame sequence number
//! plus one (the wire reserves 0 for "no source"), `len` is the driver's
//! `bytesused` (for MJPEG, the JPEG's length), `image` is the negotiated
//! geometry, and flag bit 0 marks a gap in the driver's sequence (frames the
//! driver dropped before this one).
//!
//! A block step waits at most one tick for a frame, so shutdown stays
//! prompt; stalls (stream restart) and disconnects (reopen with backoff)
//! are handled across steps by the capture (see [`super::Capture`]).

use std::collections::HashMap;
use std::time::Duration;

use super::{CameraConfig, CameraError, Capture, CapturePath, FrameInfo, UserBuf};
use framewire_sdk::block::{
    BlockError, BlockInfo, BlockType, Context, Image, Output, PortType, Ports, Role, Setup, Step,
};
use framewire_sdk::image::FourCC;
use framewire_wire::{FrameMeta, SlotId, WireError};

/// The `camera` block type. Its parameters are a [`CameraConfig`].
pub struct CameraBlock {
    // Field order matters: `cap` is dropped first, which stops the driver
    // (STREAMOFF, REQBUFS 0) before the writer and its slots go away.
    cap: Option<Capture>,
    out: Output<Image>,
    /// USERPTR: the wire slot behind each buffer queued with the driver,
    /// by payload address.
    slots: HashMap<usize, SlotId>,
    /// How many slots to keep queued with the driver.
    target: usize,
    last_seq: Option<u32>,
    device: String,
}

fn device_err(e: CameraError) -> BlockError {
    let device = match &e {
        CameraError::Ioctl { device, .. }
        | CameraError::NotCapture { device, .. }
        | CameraError::FormatUnavailable { device, .. }
        | CameraError::FormatRefused { device, .. }
        | CameraError::NoSuchControl { device, .. }
        | CameraError::ControlRange { device, .. }
        | CameraError::BufferTooSmall { device, .. }
        | CameraError::Usage { device, .. }
        | CameraError::Stalled { device, .. }
        | CameraError::Disconnected { device, .. }
        | CameraError::BadConfig { device, .. } => device.display().to_string(),
    };
    // The message already starts with the device path.
    let message = e.to_string();
    let message = message.strip_prefix(&format!("{device}: ")).unwrap_or(&message).to_string();
    BlockError::Device { device, message }
}

impl CameraBlock {
    /// The buffer path in use (USERPTR: zero-copy into the wire's slots).
    pub fn path(&self) -> Option<CapturePath> {
        self.cap.as_ref().map(|c| c.path())
    }

    /// The capture's counters (frames, restarts, reconnects).
    pub fn stats(&self) -> Option<super::CaptureStats> {
        self.cap.as_ref().map(|c| c.stats())
    }

    fn cap(&mut self) -> &mut Capture {
        self.cap.as_mut().expect("the capture lives until stop()")
    }

    /// Keeps `target` wire slots queued with the driver (USERPTR). A wire
    /// with no free slot right now is not an error: fewer are queued, and
    /// the next step tries again.
    fn top_up(&mut self) -> Result<(), BlockError> {
        while self.slots.len() < self.target {
            let id = match self.out.reserve(Duration::ZERO) {
                Ok(id) => id,
                Err(BlockError::Wire(WireError::Full { .. })) => break,
                Err(e) => return Err(e),
            };
            let (addr, len) = self.out.slot_addr(id)?;
            // SAFETY: slot `id` is reserved (LOANED) to this block's writer:
            // no reader reads it and nothing else writes it until it is
            // committed or abandoned, which this block does only for buffers
            // the capture has handed back (dequeue, stop). The writer's
            // mapping outlives the capture (field order above; `stop`).
            // The payload is page-aligned, as the wire guarantees.
            #[allow(unsafe_code)]
            let buf = unsafe { UserBuf::new(addr as *mut u8, len) };
            let Some(buf) = buf else {
                self.out.abandon_slot(id);
                return Err(BlockError::Other(format!("wire slot {} has a null address", id.0)));
            };
            if let Err(e) = self.cap().queue(buf) {
                self.out.abandon_slot(id);
                return Err(device_err(e));
            }
            self.slots.insert(addr, id);
        }
        Ok(())
    }

    fn meta(&mut self, info: &FrameInfo, now_ns: u64) -> FrameMeta {
        let gap = self.last_seq.is_some_and(|l| info.sequence > l.wrapping_add(1));
        self.last_seq = Some(info.sequence);
        FrameMeta {
            timestamp_ns: if info.monotonic && info.timestamp_ns != 0 { info.timestamp_ns } else { now_ns },
            len: info.bytesused,
            image: info.format,
            source_seq: info.sequence as u64 + 1,
            flags: u32::from(gap),
            ..FrameMeta::default()
        }
    }
}

impl BlockType for CameraBlock {
    type Params = CameraConfig;

    fn info() -> BlockInfo {
        BlockInfo::new("camera", "Captures a V4L2 camera into a wire, zero-copy (USERPTR) when the driver allows")
            .role(Role::Source)
    }

    fn ports(p: &CameraConfig) -> Result<Ports, String> {
        let fourcc = FourCC::parse(&p.format).ok_or_else(|| format!("unknown pixel format {:?}", p.format))?;
        let mut ports = Ports::new().output("frames", PortType::image(&[fourcc], p.width, p.height));
        // USERPTR keeps `buffers` slots loaned at once.
        ports.extra_loans = p.buffers.max(2) - 1;
        Ok(ports)
    }

    fn open(p: CameraConfig, setup: &mut Setup) -> Result<Self, BlockError> {
        let device = p.device.display().to_string();
        let out = setup.output::<Image>("frames")?;
        let mut cap = Capture::from_config(&p).map_err(device_err)?;
        let f = cap.negotiated().format;
        let compressed = f.fourcc.bytes_per_pixel().is_none();
        if out.is_connected() && cap.frame_len() > out.slot_size() {
            if compressed && cap.path() == CapturePath::UserPtr {
                // The driver wants whole `sizeimage` buffers, larger than the
                // slots; compressed frames are much smaller than that, so
                // copy each by its real length instead.
                tracing::warn!(
                    "{device}: the driver's {} buffers ({} bytes) exceed the wire's {}-byte slots; using MMAP + one copy",
                    f.fourcc,
                    cap.frame_len(),
                    out.slot_size()
                );
                drop(cap);
                cap =
                    Capture::from_config(&CameraConfig { io: super::IoMode::Mmap, ..p.clone() }).map_err(device_err)?;
            } else if !compressed {
                return Err(BlockError::Config(format!(
                    "{device}: the driver's {}x{} {} frames (stride {}) take {} bytes but the wire's slots hold {}; \
                     set width/height to what the driver grants",
                    f.width,
                    f.height,
                    f.fourcc,
                    f.stride,
                    cap.frame_len(),
                    out.slot_size()
                )));
            }
        }
        tracing::info!("{}: camera block capturing via {}", setup.name(), cap.path());
        let target = (cap.buffer_count() as usize).min(p.buffers.max(2) as usize);
        let mut b = CameraBlock { cap: Some(cap), out, slots: HashMap::new(), target, last_seq: None, device };
        if b.cap().path() == CapturePath::UserPtr {
            if !b.out.is_connected() {
                return Err(BlockError::Config(format!("{}: output port frames is not connected", b.device)));
            }
            b.top_up()?;
        }
        Ok(b)
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let tick = cx.tick();
        match self.cap().path() {
            CapturePath::UserPtr => {
                self.top_up()?;
                if self.slots.is_empty() {
                    // Every slot is pinned by readers (queue policy full):
                    // wait for one rather than fail.
                    std::thread::sleep(tick.min(Duration::from_millis(10)));
                    return Ok(Step::Idle);
                }
                let Some((buf, info)) = self.cap().dequeue_timeout(tick).map_err(device_err)? else {
                    return Ok(Step::Idle);
                };
                let (addr, _) = buf.into_raw();
                let id = self.slots.remove(&(addr as usize)).ok_or_else(|| {
                    BlockError::Other(format!("{}: the driver returned an unknown buffer {addr:p}", self.device))
                })?;
                let meta = self.meta(&info, cx.now_ns());
                self.out.commit_slot(id, &meta)?;
                self.top_up()?;
                Ok(Step::Continue)
            }
            CapturePath::MmapCopy => {
                let cap = self.cap.as_mut().expect("the capture lives until stop()");
                let mut loan = self.out.loan(tick)?;
                let info = match cap.read_into_timeout(loan.bytes(), tick) {
                    Ok(Some(info)) => info,
                    Ok(None) => return Ok(Step::Idle), // the loan goes back unused
                    Err(CameraError::BufferTooSmall { len, needed, .. }) => {
                        // Only compressed frames can outgrow a slot (raw
                        // sizes are checked at open): drop this one.
                        tracing::warn!(
                            "{}: dropped a {needed}-byte frame larger than the {len}-byte slots",
                            self.device
                        );
                        return Ok(Step::Idle);
                    }
                    Err(e) => return Err(device_err(e)),
                };
                loan.set_len(info.format, info.bytesused);
                let gap = self.last_seq.is_some_and(|l| info.sequence > l.wrapping_add(1));
                self.last_seq = Some(info.sequence);
                let ts = if info.monotonic && info.timestamp_ns != 0 { info.timestamp_ns } else { cx.now_ns() };
                loan.set_stamp(ts, info.sequence as u64 + 1);
                if gap {
                    tracing::debug!("{}: the driver dropped frames before {}", self.device, info.sequence);
                }
                loan.commit()?;
                Ok(Step::Continue)
            }
        }
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        if let Some(cap) = self.cap.take() {
            let stats = cap.stats();
            for buf in cap.stop() {
                let (addr, _) = buf.into_raw();
                if let Some(id) = self.slots.remove(&(addr as usize)) {
                    self.out.abandon_slot(id);
                }
            }
            tracing::info!("{}: stopped; {stats:?}", self.device);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_errors() {
        let p: CameraConfig =
            toml::from_str("device = \"/dev/video0\"\nformat = \"NV12\"\nwidth = 640\nheight = 480\nbuffers = 3\n")
                .unwrap();
        let ports = CameraBlock::ports(&p).unwrap();
        assert_eq!(ports.outputs[0].name, "frames");
        assert_eq!(ports.outputs[0].ty.slot_size(), Some(640 * 480 * 3 / 2));
        assert_eq!(ports.extra_loans, 2);
        let info = (framewire_sdk::block::BlockSpec::of::<CameraBlock>().info)();
        assert!(info.params.iter().any(|i| i.name == "device" && i.device));
        let e = device_err(CameraError::Usage { device: "/dev/video7".into(), reason: "x".into() });
        assert_eq!(e.to_string(), "device /dev/video7: x");
    }
}
