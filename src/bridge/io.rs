//! The Zenoh side of the blocks (feature `zenoh`).
//!
//! Frame path, sender: the frame is read from its slot as a borrowed view
//! and written once, behind the header, into a buffer from a small pool
//! (or JPEG-encoded into one); the buffer goes to Zenoh as a zero-copy
//! `ZBytes` and comes back to the pool when Zenoh has sent it. Zenoh then
//! copies it into its transmission batches, as any network path must.
//! The publisher uses congestion control *Drop*: when the link is slower
//! than the frames, Zenoh drops a frame rather than queue it.
//!
//! Receiver: Zenoh's callback keeps only the newest sample (a newer one
//! replaces one the block has not taken yet, counted as `replaced`); the
//! block takes it, judges its age ([`crate::stale`]), and copies the bytes
//! straight from Zenoh's buffers into a slot loaned from the output wire.
//! Zenoh's own reassembly of a large (fragmented) sample allocates inside
//! Zenoh, outside this code's control.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use framewire_ros::cdr::{self, Stamp};
use framewire_sdk::block::*;
use framewire_sdk::image::{FourCC, ImageFormat};
use framewire_sdk::msg::{Message, Odometry, PayloadType};
use framewire_sdk::{FrameMeta, monotonic_ns};
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::{CongestionControl, Priority};

use crate::blocks::{Carried, InParams, OutParams};
use crate::header::{Encoding, HEADER_LEN, Header, TYPE_NAME_LEN};
use crate::jpeg::JpegWriter;
use crate::rmw;
use crate::session::ZenohParams;
use crate::stale::{StaleFilter, Verdict};

/// Opens a Zenoh session with the block's settings.
pub fn open_session(p: &ZenohParams, block: &str) -> Result<zenoh::Session, BlockError> {
    let mut c = zenoh::Config::default();
    for (k, v) in p.json5_settings() {
        c.insert_json5(k, &v)
            .map_err(|e| BlockError::Config(format!("block {block}: zenoh setting {k} = {v}: {e}")))?;
    }
    zenoh::open(c).wait().map_err(|e| {
        BlockError::Other(format!(
            "block {block}: cannot open the Zenoh session ({e}); is another process listening on the same zenoh.listen endpoint?"
        ))
    })
}

/// A random id per process, so a receiver notices that its sender restarted.
fn sender_id() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_err() {
        // No urandom: pid and time are unique enough to tell two runs apart.
        return (std::process::id() as u64) << 32 ^ monotonic_ns();
    }
    u64::from_le_bytes(b)
}

/// CLOCK_REALTIME now, ns since the UNIX epoch.
fn unix_now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// A buffer Zenoh can hold without copying; it returns to the pool when
/// Zenoh drops its `Arc`.
struct Pooled(Arc<Vec<u8>>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Buffers for outgoing payloads, reused once Zenoh has sent them.
#[derive(Default)]
pub struct Pool {
    bufs: Vec<Arc<Vec<u8>>>,
}

impl Pool {
    /// A buffer nobody else holds, cleared (its capacity kept).
    fn take(&mut self) -> Arc<Vec<u8>> {
        // A buffer whose only owner is the pool has been sent and dropped
        // by Zenoh (Arc's count is the synchronisation: Zenoh's drop
        // releases, the count check here acquires).
        if let Some(i) = self.bufs.iter().position(|b| Arc::strong_count(b) == 1) {
            let mut b = self.bufs.swap_remove(i);
            if let Some(v) = Arc::get_mut(&mut b) {
                v.clear();
            }
            return b;
        }
        Arc::new(Vec::new())
    }

    /// Hands `b` to Zenoh and keeps a handle to reuse it.
    fn send(&mut self, b: Arc<Vec<u8>>) -> ZBytes {
        let z = ZBytes::from(bytes::Bytes::from_owner(Pooled(b.clone())));
        // A few in flight at most (Zenoh sends or drops each promptly).
        if self.bufs.len() < 8 {
            self.bufs.push(b);
        }
        z
    }
}

enum OutInput {
    Image(Input<Image>),
    Msg(Input<Raw>),
}

/// What `zenoh_out` publishes to ROS 2 besides the framewire key.
struct RosOut {
    publisher: zenoh::pubsub::Publisher<'static>,
    _node: zenoh::liveliness::LivelinessToken,
    _entity: zenoh::liveliness::LivelinessToken,
    gid: [u8; 16],
    seq: i64,
    frame_id: String,
    compressed: bool,
}

/// `zenoh_out`'s running state.
pub struct Out {
    input: OutInput,
    /// The message type, for a message wire.
    msg_ty: Option<PayloadType>,
    p: OutParams,
    _session: zenoh::Session,
    publisher: zenoh::pubsub::Publisher<'static>,
    ros: Option<RosOut>,
    pool: Pool,
    jpeg: Option<JpegWriter>,
    sender: u64,
    min_interval_ns: u64,
    last_sent_ns: u64,
    sent: u64,
    rate_capped: u64,
}

impl Out {
    /// Connects the input and declares the publisher(s).
    pub fn open(p: OutParams, io: &mut Setup) -> Result<Out, BlockError> {
        let carried = p.validate().map_err(BlockError::Config)?;
        let (input, msg_ty) = match carried {
            Carried::Image { .. } => (OutInput::Image(io.input("input")?), None),
            Carried::Message(ty) => (OutInput::Msg(io.input_raw("input", ty)?), Some(ty)),
        };
        let session = open_session(&p.zenoh, io.name())?;
        let is_image = msg_ty.is_none();
        // Images are bulk data; messages (drive commands, odometry) are small
        // and urgent: they go first and are not held back for batching.
        let (priority, express) = if is_image { (Priority::DataLow, false) } else { (Priority::InteractiveHigh, true) };
        let publisher = session
            .declare_publisher(p.key.clone())
            .congestion_control(CongestionControl::Drop)
            .priority(priority)
            .express(express)
            .wait()
            .map_err(|e| BlockError::Config(format!("key {:?}: {e}", p.key)))?;
        let compressed = p.compress == "jpeg";
        let ros =
            if p.ros_topic.is_empty() { None } else { Some(ros_out(&session, &p, io.name(), is_image, compressed)?) };
        let min_interval_ns = if p.max_rate > 0.0 { (1e9 / p.max_rate) as u64 } else { 0 };
        framewire_sdk::tracing::info!(
            "publishing on {:?} (zenoh session {}, mode {}){}",
            p.key,
            session.zid(),
            p.zenoh.mode,
            if p.ros_topic.is_empty() { String::new() } else { format!(", and as ROS 2 topic {}", p.ros_topic) }
        );
        Ok(Out {
            input,
            msg_ty,
            jpeg: compressed.then(JpegWriter::new),
            p,
            _session: session,
            publisher,
            ros,
            pool: Pool::default(),
            sender: sender_id(),
            min_interval_ns,
            last_sent_ns: 0,
            sent: 0,
            rate_capped: 0,
        })
    }

    /// Logs what the block published, once, at shutdown.
    pub fn stop(&mut self) {
        framewire_sdk::tracing::info!(
            "{:?}: published {}, {} skipped by the rate cap",
            self.p.key,
            self.sent,
            self.rate_capped
        );
    }

    /// Publishes the next frame, if one arrives within the tick.
    pub fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let (frame, skipped) = match &mut self.input {
            OutInput::Image(i) => {
                let skipped = i.skipped();
                (i.recv(cx.tick()), skipped)
            }
            OutInput::Msg(i) => {
                let skipped = i.skipped();
                (i.recv(cx.tick()), skipped)
            }
        };
        let Some(frame) = frame else { return Ok(Step::Idle) };
        let now = cx.now_ns();
        if self.min_interval_ns > 0 && now.saturating_sub(self.last_sent_ns) < self.min_interval_ns {
            self.rate_capped += 1;
            cx.gauge("rate_capped", self.rate_capped as f64);
            return Ok(Step::Continue);
        }
        self.last_sent_ns = now;
        let meta = *frame.meta();
        let mut h = Header {
            encoding: Encoding::Raw,
            seq: meta.seq,
            source_seq: if meta.source_seq != 0 { meta.source_seq } else { meta.seq },
            timestamp_ns: meta.timestamp_ns,
            send_ns: 0,
            sender: self.sender,
            image: ImageFormat::default(),
            payload_len: 0,
            flags: meta.flags,
            msg_size: 0,
            type_name: [0; TYPE_NAME_LEN],
        };
        let mut buf = self.pool.take();
        let Some(out) = Arc::get_mut(&mut buf) else { return Err(BlockError::Other("pooled buffer is shared".into())) };
        out.resize(HEADER_LEN, 0);
        let t0 = monotonic_ns();
        let mut odometry = None;
        match self.msg_ty {
            Some(ty) => {
                h.encoding = Encoding::Message;
                h.msg_size = ty.size();
                h.set_type_name(ty.name());
                let bytes = &frame[..meta.len.min(frame.len())];
                out.extend_from_slice(bytes);
                if ty == Odometry::TYPE {
                    odometry = Odometry::decode(bytes);
                }
            }
            None => {
                let img = frame.image();
                if let Some(j) = &self.jpeg {
                    if img.format.fourcc == FourCC::MJPEG {
                        // Already JPEG (an MJPEG camera): sent as it is.
                        out.extend_from_slice(&img.data[..meta.len.min(img.data.len())]);
                    } else {
                        j.encode(&img, self.p.jpeg_quality, out).map_err(BlockError::Other)?;
                        cx.gauge("jpeg_ms", (monotonic_ns() - t0) as f64 / 1e6);
                    }
                    h.encoding = Encoding::Jpeg;
                    h.image = ImageFormat {
                        width: img.format.width,
                        height: img.format.height,
                        stride: 0,
                        fourcc: FourCC::MJPEG,
                    };
                } else {
                    let len = if img.format.fourcc == FourCC::MJPEG { meta.len } else { img.format.byte_len() };
                    out.extend_from_slice(&img.data[..len.min(img.data.len())]);
                    h.image = img.format;
                }
            }
        }
        h.payload_len = (out.len() - HEADER_LEN) as u32;
        h.send_ns = monotonic_ns();
        h.encode(&mut out[..HEADER_LEN]);
        cx.gauge("payload_kb", h.payload_len as f64 / 1024.0);
        // The ROS message is built from the same bytes before the buffer goes.
        if let Some(ros) = self.ros.as_mut() {
            let payload = &out[HEADER_LEN..];
            let mut rb = self.pool.take();
            let Some(r) = Arc::get_mut(&mut rb) else {
                return Err(BlockError::Other("pooled buffer is shared".into()));
            };
            // The capture time on the wall clock: now, less the frame's age.
            let unix = unix_now_ns().saturating_sub(monotonic_ns().saturating_sub(h.timestamp_ns));
            let stamp = Stamp::from_ns(unix);
            let ok = if let Some(o) = &odometry {
                cdr::encode_odometry(r, stamp, &ros.frame_id, "base_link", o);
                true
            } else if ros.compressed {
                cdr::encode_compressed(r, stamp, &ros.frame_id, "jpeg", payload);
                true
            } else {
                cdr::encode_image(r, stamp, &ros.frame_id, &h.image, payload).is_ok()
            };
            if ok {
                ros.seq += 1;
                let att = rmw::attachment(ros.seq, unix as i64, &ros.gid);
                let z = self.pool.send(rb);
                ros.publisher
                    .put(z)
                    .attachment(ZBytes::from(att))
                    .wait()
                    .map_err(|e| BlockError::Other(format!("ROS topic {}: {e}", self.p.ros_topic)))?;
            }
        }
        drop(frame);
        let z = self.pool.send(buf);
        self.publisher.put(z).wait().map_err(|e| BlockError::Other(format!("key {:?}: {e}", self.p.key)))?;
        self.sent += 1;
        cx.gauge("sent", self.sent as f64);
        cx.gauge("skipped", skipped as f64);
        Ok(Step::Continue)
    }
}

fn ros_out(
    session: &zenoh::Session,
    p: &OutParams,
    block: &str,
    is_image: bool,
    compressed: bool,
) -> Result<RosOut, BlockError> {
    let topic = rmw::check_topic(&p.ros_topic).map_err(BlockError::Config)?;
    let ty = if !is_image {
        rmw::ODOMETRY
    } else if compressed {
        rmw::COMPRESSED_IMAGE
    } else {
        rmw::IMAGE
    };
    // The node lives in the topic's namespace: `/robot1/camera/image_raw`
    // is published by node `/robot1/<ros_node>`.
    let namespace = topic.rsplit_once('/').map(|(ns, _)| ns.to_string()).unwrap_or_default();
    let node = rmw::Node {
        domain: p.ros_domain,
        session_id: session.zid().to_string(),
        node_id: 0,
        namespace,
        name: p.ros_node.clone(),
    };
    let key = rmw::topic_key(p.ros_domain, &topic, &ty);
    let publisher = session
        .declare_publisher(key.clone())
        .congestion_control(CongestionControl::Drop)
        .priority(Priority::DataLow)
        .wait()
        .map_err(|e| BlockError::Config(format!("ROS key {key:?}: {e}")))?;
    let token = |k: String| {
        session
            .liveliness()
            .declare_token(k.clone())
            .wait()
            .map_err(|e| BlockError::Config(format!("liveliness token {k:?}: {e}")))
    };
    let node_token = token(node.token())?;
    let entity = token(node.publisher_token(1, &topic, &ty, rmw::qos_best_effort_keep_last_1()))?;
    // The GID is what rmw_zenoh derives from the token (an XXH3 hash); any
    // 16 bytes unique to this publisher serve a subscriber, which only
    // compares them.
    let mut gid = [0u8; 16];
    gid[..8].copy_from_slice(&sender_id().to_le_bytes());
    gid[8..].copy_from_slice(&sender_id().to_le_bytes());
    framewire_sdk::tracing::info!("ROS 2 topic {topic} ({}) on key {key}", ty.name);
    Ok(RosOut {
        publisher,
        _node: node_token,
        _entity: entity,
        gid,
        seq: 0,
        frame_id: if p.ros_frame_id.is_empty() { block.to_string() } else { p.ros_frame_id.clone() },
        compressed,
    })
}

/// The newest sample, waiting for the block.
struct Latest {
    slot: Mutex<Option<(zenoh::sample::Sample, u64)>>,
    ready: Condvar,
    replaced: AtomicU64,
}

enum InOutput {
    Image(Output<Image>),
    Msg(Output<Raw>, PayloadType),
}

/// `zenoh_in`'s running state.
pub struct In {
    output: InOutput,
    /// The one pixel format the output wire declares, if any.
    format: Option<FourCC>,
    p: InParams,
    _session: zenoh::Session,
    _subscriber: zenoh::pubsub::Subscriber<()>,
    latest: Arc<Latest>,
    stale: StaleFilter,
    last: Option<(u64, u64)>,
    received: u64,
    lost: u64,
    stale_count: u64,
    bad: u64,
    last_arrival_ns: u64,
    link_up: Option<bool>,
    next_warn_ns: u64,
    msg_buf: Vec<u8>,
}

impl In {
    /// Connects the output and subscribes.
    pub fn open(p: InParams, io: &mut Setup) -> Result<In, BlockError> {
        let (output, format) = match p.validate().map_err(BlockError::Config)? {
            Carried::Image { format, .. } => (InOutput::Image(io.output("output")?), format),
            Carried::Message(ty) => (InOutput::Msg(io.output_raw("output", ty)?, ty), None),
        };
        let session = open_session(&p.zenoh, io.name())?;
        let latest = Arc::new(Latest { slot: Mutex::new(None), ready: Condvar::new(), replaced: AtomicU64::new(0) });
        let l = latest.clone();
        let subscriber = session
            .declare_subscriber(p.key.clone())
            .callback(move |sample| {
                let now = monotonic_ns();
                let mut slot = l.slot.lock().unwrap_or_else(|e| e.into_inner());
                if slot.replace((sample, now)).is_some() {
                    // SYNC: a counter only, read for a gauge; no data depends on it.
                    l.replaced.fetch_add(1, Ordering::Relaxed);
                }
                l.ready.notify_one();
            })
            .wait()
            .map_err(|e| BlockError::Config(format!("key {:?}: {e}", p.key)))?;
        framewire_sdk::tracing::info!(
            "subscribed to {:?} (zenoh session {}, mode {})",
            p.key,
            session.zid(),
            p.zenoh.mode
        );
        let max_extra = if p.max_delay_ms == 0 { u64::MAX } else { p.max_delay_ms * 1_000_000 };
        Ok(In {
            output,
            format,
            stale: StaleFilter::new(max_extra, 10_000_000_000),
            p,
            _session: session,
            _subscriber: subscriber,
            latest,
            last: None,
            received: 0,
            lost: 0,
            stale_count: 0,
            bad: 0,
            last_arrival_ns: 0,
            link_up: None,
            next_warn_ns: 0,
            msg_buf: Vec::with_capacity(1024),
        })
    }

    fn gauges(&self, cx: &Context) {
        // SYNC: a counter only (see the callback).
        let replaced = self.latest.replaced.load(Ordering::Relaxed);
        cx.gauge("received", self.received as f64);
        cx.gauge("lost", self.lost as f64);
        cx.gauge("replaced", replaced as f64);
        cx.gauge("stale", self.stale_count as f64);
        cx.gauge("dropped", (self.lost + replaced + self.stale_count) as f64);
        cx.gauge("refused", self.bad as f64);
    }

    fn link(&mut self, cx: &Context, now: u64) {
        // "Up" while something arrived in the last second.
        let up = self.last_arrival_ns != 0 && now.saturating_sub(self.last_arrival_ns) < 1_000_000_000;
        if self.link_up != Some(up) {
            self.link_up = Some(up);
            let (state, what) = if up {
                (framewire_sdk::state::Link::Connected, format!("receiving {}", self.p.key))
            } else if self.last_arrival_ns == 0 {
                (framewire_sdk::state::Link::Connecting, format!("waiting for {}", self.p.key))
            } else {
                (framewire_sdk::state::Link::Lost, format!("nothing on {} for 1 s", self.p.key))
            };
            cx.set_link(state, &what);
        }
    }

    fn refuse(&mut self, cx: &Context, why: String) {
        self.bad += 1;
        let now = cx.now_ns();
        if now >= self.next_warn_ns {
            self.next_warn_ns = now + 5_000_000_000;
            framewire_sdk::tracing::warn!("key {:?}: refused a sample: {why}", self.p.key);
        }
    }

    /// Logs what the block received and dropped, once, at shutdown.
    pub fn stop(&mut self, cx: &mut Context) {
        self.gauges(cx);
        // SYNC: a counter only (see the callback).
        let replaced = self.latest.replaced.load(Ordering::Relaxed);
        framewire_sdk::tracing::info!(
            "{:?}: received {}, dropped {} ({} lost on the way, {} replaced by a newer one, {} stale), refused {}",
            self.p.key,
            self.received,
            self.lost + replaced + self.stale_count,
            self.lost,
            replaced,
            self.stale_count,
            self.bad
        );
    }

    /// Writes the newest sample into the output wire, if one arrives in the tick.
    pub fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        let taken = {
            let slot = self.latest.slot.lock().unwrap_or_else(|e| e.into_inner());
            let (mut slot, _) = self
                .latest
                .ready
                .wait_timeout_while(slot, cx.tick(), |s| s.is_none())
                .unwrap_or_else(|e| e.into_inner());
            slot.take()
        };
        let now = cx.now_ns();
        let Some((sample, recv_ns)) = taken else {
            self.link(cx, now);
            self.gauges(cx);
            return Ok(Step::Idle);
        };
        self.last_arrival_ns = recv_ns;
        self.link(cx, now);
        let payload = sample.payload();
        let total = payload.len();
        let mut reader = payload.reader();
        let mut head = [0u8; HEADER_LEN];
        if reader.read_exact(&mut head).is_err() {
            self.refuse(cx, format!("{total} bytes is shorter than a frame header"));
            return Ok(Step::Continue);
        }
        let (h, start) = match Header::parse(&head, total) {
            Ok(x) => x,
            Err(e) => {
                self.refuse(cx, e.to_string());
                return Ok(Step::Continue);
            }
        };
        // A longer header of a later version: skip what we do not read.
        std::io::copy(&mut (&mut reader).take((start - HEADER_LEN) as u64), &mut std::io::sink())?;
        self.received += 1;
        match self.last {
            Some((sender, seq)) if sender == h.sender && h.seq > seq + 1 => self.lost += h.seq - seq - 1,
            _ => {}
        }
        if self.last.is_some_and(|(s, q)| s == h.sender && h.seq <= q) {
            // Older than what we already wrote: out of order, never go back.
            self.stale_count += 1;
            self.gauges(cx);
            return Ok(Step::Continue);
        }
        self.last = Some((h.sender, h.seq));
        match self.stale.judge(h.sender, h.send_ns, recv_ns) {
            Verdict::Stale { extra_ns } => {
                self.stale_count += 1;
                cx.gauge("late_ms", extra_ns as f64 / 1e6);
                self.gauges(cx);
                return Ok(Step::Continue);
            }
            Verdict::Fresh { extra_ns } => cx.gauge("late_ms", extra_ns as f64 / 1e6),
        }
        let len = h.payload_len as usize;
        let source_seq = if h.source_seq != 0 { h.source_seq } else { h.seq };
        match &mut self.output {
            InOutput::Image(out) => {
                if h.encoding == Encoding::Message {
                    let why = format!("it carries {} messages; this zenoh_in writes images", h.type_name());
                    self.refuse(cx, why);
                    return Ok(Step::Continue);
                }
                if self.format.is_some_and(|f| f != h.image.fourcc) {
                    let why = format!(
                        "it is a {}x{} {} frame, and the output wire declares {}; set output = \"image:{}x{}:{}\"",
                        h.image.width,
                        h.image.height,
                        h.image.fourcc,
                        self.format.unwrap_or_default(),
                        h.image.width,
                        h.image.height,
                        h.image.fourcc
                    );
                    self.refuse(cx, why);
                    return Ok(Step::Continue);
                }
                if len > out.slot_size() {
                    let why = format!(
                        "a {}x{} {} frame ({len} bytes) does not fit the output wire's {}-byte slots; set output = \"image:{}x{}\"",
                        h.image.width,
                        h.image.height,
                        h.image.fourcc,
                        out.slot_size(),
                        h.image.width,
                        h.image.height
                    );
                    self.refuse(cx, why);
                    return Ok(Step::Continue);
                }
                let mut loan = out.loan(cx.tick())?;
                reader.read_exact(&mut loan.bytes()[..len])?;
                loan.set_len(h.image, len);
                loan.set_stamp(h.timestamp_ns, source_seq);
                loan.commit()?;
            }
            InOutput::Msg(out, ty) => {
                if h.encoding != Encoding::Message
                    || h.type_name() != ty.name()
                    || h.msg_size != ty.size()
                    || len != ty.size() as usize
                {
                    let what = if h.encoding == Encoding::Message {
                        format!("{} messages of {} bytes", h.type_name(), h.msg_size)
                    } else {
                        "images".to_string()
                    };
                    let why =
                        format!("it carries {what}; this zenoh_in writes {} messages ({} bytes)", ty.name(), ty.size());
                    self.refuse(cx, why);
                    return Ok(Step::Continue);
                }
                self.msg_buf.resize(len, 0);
                reader.read_exact(&mut self.msg_buf)?;
                let meta = FrameMeta { timestamp_ns: h.timestamp_ns, source_seq, ..Default::default() };
                out.send_bytes(&self.msg_buf, Some(&meta))?;
            }
        }
        self.gauges(cx);
        Ok(Step::Continue)
    }
}
