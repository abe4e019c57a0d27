//! `replay`: plays a recording back into wires, at the recorded speed, at
//! a multiple of it, as fast as the wires take it, or one message per step.
//! Its outputs are the recording's topics, found in the file when the
//! pipeline is checked (see `README.md` beside this file).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use framewire_sdk::block::*;
use framewire_sdk::image::{FourCC, ImageFormat};
use framewire_sdk::msg::{self, FieldInfo, MessageInfo};
use framewire_sdk::{FrameMeta, SlotId, WireError};

use crate::cdr;
use crate::reader::{self, ChannelInfo, Reader};
use crate::recording::files_of;
use crate::schema;

framewire_sdk::params! {
    /// Parameters of `replay`.
    pub struct Params {
        /// A recording: one `.mcap` file, or the path given to the recorder (`dir/name.mcap` plays `dir/name.0001.mcap`, `dir/name.0002.mcap`, ... in order).
        pub path: String = required("recordings/run.mcap"),
        /// Only these topics (default: every topic replay can play).
        pub topics: Vec<String> = Vec::new(),
        /// Speed: 1 = as recorded, 2 = twice as fast, 0 = as fast as the wires take the messages.
        pub rate: f64 = 1.0,
        /// Start paused: publish one message per `step` line appended to the control file.
        pub step: bool = false,
        /// Control file: append lines `step [N]`, `pause`, `play`, `rate X` to steer a running replay.
        pub control: Option<String> = None,
        /// Start again from the beginning at the end of the recording.
        pub repeat: bool = false,
        /// Size image outputs for frames up to this width (default: the largest recorded).
        pub max_width: Option<u32> = None,
        /// ... and this height.
        pub max_height: Option<u32> = None,
        /// Before the first message, wait up to this many seconds for the readers of the outputs to attach (until each output has one and their number has been steady for 0.5 s); 0 = start at once.
        pub wait_readers_s: f64 = 5.0,
    }
}

framewire_sdk::message! {
    /// The original times of a message `replay` published: one on its
    /// `stamps` output per message, stamped like the message itself (same
    /// capture time and source sequence), so a block can pair them.
    pub struct ReplayStamp = "replay_stamp" {
        /// Index of the output that published it, in the order `framewire blocks replay` lists them.
        pub output: u32,
        /// Sequence number as recorded (the source frame's).
        pub source_seq: u64,
        /// Original capture time, wall clock, ns since the Unix epoch.
        pub capture_wall_ns: u64,
        /// Original capture time on the recording machine's CLOCK_MONOTONIC (0 if the file has no clock offset).
        pub capture_monotonic_ns: u64,
        /// When it was originally published on its wire, wall clock ns.
        pub publish_wall_ns: u64,
    }
}

/// What a replayed topic carries.
#[derive(Clone)]
pub enum TopicKind {
    /// Images: `sensor_msgs/msg/Image` or `CompressedImage` (MJPEG).
    Image {
        /// Formats recorded.
        formats: Vec<FourCC>,
        /// Largest width recorded (or `max_width`).
        width: u32,
        /// Largest height recorded (or `max_height`).
        height: u32,
    },
    /// A framewire message type.
    Message(MessageInfo),
}

/// One output of a replay.
#[derive(Clone)]
pub struct Topic {
    /// Output port (the topic without the leading `/`, other `/` as `_`).
    pub port: String,
    /// The recorded topic.
    pub topic: String,
    /// What it carries.
    pub kind: TopicKind,
}

impl Topic {
    /// The port type.
    pub fn port_type(&self) -> PortType {
        match &self.kind {
            TopicKind::Image { formats, width, height } => PortType::image(formats, *width, *height),
            TopicKind::Message(m) => PortType::Msg(m.ty),
        }
    }
}

/// The port a topic plays on: `/cam/frames` -> `cam_frames`.
pub fn port_of(topic: &str) -> String {
    let p: String = topic
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if p.is_empty() { "root".into() } else { p }
}

/// The name of the stamps output.
pub const STAMPS: &str = "stamps";

/// The files and topics of recording `path`: what `replay` will play.
/// Topics replay cannot play (types it does not know) are left out unless
/// `only` names them, which is an error.
pub fn topics(
    path: &Path,
    only: &[String],
    max: (Option<u32>, Option<u32>),
) -> Result<(Vec<PathBuf>, Vec<Topic>), String> {
    let files = files_of(path)?;
    let channels = reader::channels(&files).map_err(|e| e.to_string())?;
    if let Some(t) = only.iter().find(|t| !channels.contains_key(*t)) {
        let known: Vec<&String> = channels.keys().collect();
        return Err(format!("topic {t} is not in {}; it has {known:?}", path.display()));
    }
    let mut out: Vec<Topic> = Vec::new();
    for (topic, variants) in &channels {
        if !only.is_empty() && !only.contains(topic) {
            continue;
        }
        let kind = match kind_of(&files, topic, variants, max) {
            Ok(k) => k,
            Err(e) if only.contains(topic) => return Err(format!("topic {topic}: {e}")),
            Err(_) => continue,
        };
        let port = port_of(topic);
        if port == STAMPS {
            return Err(format!(
                "topic {topic} would play on port `{STAMPS}`, which replay uses for the original stamps"
            ));
        }
        if let Some(other) = out.iter().find(|t| t.port == port) {
            return Err(format!(
                "topics {} and {topic} would both play on port `{port}`; pick one with `topics`",
                other.topic
            ));
        }
        out.push(Topic { port, topic: topic.clone(), kind });
    }
    if out.is_empty() {
        return Err(format!("{}: no topic replay can play (images, and framewire's message types)", path.display()));
    }
    Ok((files, out))
}

fn kind_of(
    files: &[PathBuf],
    topic: &str,
    variants: &[ChannelInfo],
    max: (Option<u32>, Option<u32>),
) -> Result<TopicKind, String> {
    let first = &variants[0];
    if first.encoding != "cdr" {
        return Err(format!("message encoding {:?} is not cdr", first.encoding));
    }
    if first.schema == schema::IMAGE || first.schema == schema::COMPRESSED_IMAGE {
        let (mut formats, mut width, mut height) = (Vec::new(), 0, 0);
        for c in variants {
            let m = &c.metadata;
            let recorded = (m.get("framewire.fourcc"), m.get("framewire.width"), m.get("framewire.height"));
            let fmt = match recorded {
                (Some(f), Some(w), Some(h)) => ImageFormat {
                    fourcc: FourCC::parse(f).ok_or_else(|| format!("unknown pixel format {f}"))?,
                    width: w.parse().map_err(|_| format!("bad width {w}"))?,
                    height: h.parse().map_err(|_| format!("bad height {h}"))?,
                    stride: 0,
                },
                // Not recorded by framewire: the first frame tells.
                _ => first_format(files, topic)?,
            };
            if !formats.contains(&fmt.fourcc) {
                formats.push(fmt.fourcc);
            }
            width = width.max(fmt.width);
            height = height.max(fmt.height);
        }
        return Ok(TopicKind::Image { formats, width: max.0.unwrap_or(width), height: max.1.unwrap_or(height) });
    }
    let name =
        first.metadata.get("framewire.kind").ok_or_else(|| format!("type {} is not framewire's", first.schema))?;
    let info = msg::lookup(name).ok_or_else(|| {
        format!("message type {name} is not known to this build (register it, or leave the topic out with `topics`)")
    })?;
    let (_, text) = schema::message(&info).map_err(|e| e.to_string())?;
    if variants.iter().any(|c| c.schema_text != text) {
        return Err(format!(
            "was recorded with another layout of message type {name} than this build has; replay it with the build that recorded it"
        ));
    }
    Ok(TopicKind::Message(info))
}

/// The format of the first image on `topic`.
fn first_format(files: &[PathBuf], topic: &str) -> Result<ImageFormat, String> {
    let mut r = Reader::new(files.to_vec());
    loop {
        let found = r
            .next_with(|m| {
                if m.channel.topic != topic {
                    return None;
                }
                Some(image_format(m.channel, m.data).map(|(f, _, _)| f))
            })
            .map_err(|e| e.to_string())?;
        match found {
            None => return Err("no frame recorded".into()),
            Some(None) => continue,
            Some(Some(r)) => return r,
        }
    }
}

/// Format, pixels and capture stamp of a recorded image message.
fn image_format<'a>(c: &ChannelInfo, data: &'a [u8]) -> Result<(ImageFormat, &'a [u8], cdr::Stamp), String> {
    if c.schema == schema::COMPRESSED_IMAGE {
        let m = cdr::decode_compressed(data).map_err(|e| e.to_string())?;
        if m.format != "jpeg" && !m.format.starts_with("jpeg ") && !m.format.ends_with("jpeg") {
            return Err(format!("compressed format {:?} is not jpeg", m.format));
        }
        let (w, h) = cdr::jpeg_size(m.data).ok_or("a frame is not a JPEG image")?;
        return Ok((ImageFormat::packed(FourCC::MJPEG, w, h), m.data, m.stamp));
    }
    let m = cdr::decode_image(data).map_err(|e| e.to_string())?;
    let fmt = m.format().ok_or_else(|| format!("image encoding {:?} is not one framewire carries", m.encoding))?;
    let len = fmt.byte_len();
    let pixels =
        m.data.get(..len).ok_or_else(|| format!("a frame has {} bytes, its format needs {len}", m.data.len()))?;
    Ok((fmt, pixels, m.stamp))
}

enum Out {
    Image(Output<Image>),
    Message { out: Output<Raw>, layout: Vec<FieldInfo>, buf: Vec<u8> },
}

/// A message read and ready to publish once it is due.
struct Pending {
    out: usize,
    /// The reserved slot holding an image.
    slot: Option<SlotId>,
    meta: FrameMeta,
    capture_wall: u64,
    publish_wall: u64,
    offset_ns: Option<i64>,
}

/// A control file: lines appended to it steer the replay.
struct Control {
    path: PathBuf,
    file: File,
    at: u64,
    text: String,
}

impl Control {
    fn open(path: &str) -> Result<Control, BlockError> {
        let io = |e: std::io::Error| BlockError::Config(format!("control file {path}: {e}"));
        let file = File::options().read(true).append(true).create(true).open(path).map_err(io)?;
        // Lines written before this replay started are not for it.
        let at = file.metadata().map_err(io)?.len();
        Ok(Control { path: PathBuf::from(path), file, at, text: String::new() })
    }

    /// Complete lines appended since the last call.
    fn poll(&mut self) -> Vec<String> {
        let len = self.file.metadata().map_or(self.at, |m| m.len());
        if len <= self.at {
            return Vec::new();
        }
        if self.file.seek(SeekFrom::Start(self.at)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let _ = (&mut self.file).take(len - self.at).read_to_end(&mut buf);
        self.at += buf.len() as u64;
        self.text.push_str(&String::from_utf8_lossy(&buf));
        let mut lines = Vec::new();
        while let Some(i) = self.text.find('\n') {
            lines.push(self.text[..i].trim().to_string());
            self.text.drain(..=i);
        }
        lines
    }
}

/// The `replay` block.
pub struct Replay {
    reader: Reader,
    outs: Vec<Out>,
    by_topic: HashMap<String, usize>,
    stamps: Output<ReplayStamp>,
    rate: f64,
    paused: bool,
    credits: u64,
    repeat: bool,
    control: Option<Control>,
    pending: Option<Pending>,
    /// (monotonic now, recorded publish time) that line up: the timing base.
    base: Option<(u64, u64)>,
    played: u64,
    played_this_pass: u64,
    /// Problems already reported.
    reported: usize,
    /// Wires of the connected outputs, until their readers have attached.
    waiting: Option<ReaderWait>,
}

/// Waiting for the readers of the outputs to attach: a queue wire gives a
/// reader only what is committed after it attached, and the runtime starts
/// producers first, so a fast replay would otherwise play to nobody.
struct ReaderWait {
    wires: Vec<String>,
    until: u64,
    /// Total readers last seen, and since when.
    seen: usize,
    since: u64,
}

impl ReaderWait {
    /// Whether to keep waiting at monotonic time `now`.
    fn waiting(&mut self, now: u64) -> bool {
        if now >= self.until {
            framewire_sdk::tracing::warn!("starting although not every output has a reader yet");
            return false;
        }
        let counts: Vec<usize> = self
            .wires
            .iter()
            .map(|w| framewire_wire::inspect(w).map_or(0, |st| st.readers.iter().filter(|r| r.alive).count()))
            .collect();
        let total = counts.iter().sum();
        if total != self.seen {
            (self.seen, self.since) = (total, now);
        }
        counts.contains(&0) || now - self.since < 500_000_000
    }
}

impl Params {
    fn check(&self) -> Result<(), String> {
        if !(self.wait_readers_s >= 0.0 && self.wait_readers_s.is_finite()) {
            return Err(format!("wait_readers_s = {} must be 0 or more", self.wait_readers_s));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err(format!("rate = {} must be 0 (as fast as possible) or more", self.rate));
        }
        if self.step && self.control.is_none() {
            return Err("step = true needs a control file to step with: control = \"/tmp/replay.ctl\", then `echo step >> /tmp/replay.ctl`".into());
        }
        Ok(())
    }
    fn topics(&self) -> Result<(Vec<PathBuf>, Vec<Topic>), String> {
        self.check()?;
        topics(Path::new(&self.path), &self.topics, (self.max_width, self.max_height))
    }
}

impl BlockType for Replay {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("replay", "Plays an MCAP recording back into wires: recorded speed, faster, or stepping")
            .role(Role::Source)
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        let (_, topics) = p.topics()?;
        let mut ports = Ports::new();
        for t in &topics {
            // Port names must be 'static; a replay's ports are few and live
            // as long as the process, so leaking them is bounded.
            ports = ports.output(Box::leak(t.port.clone().into_boxed_str()), t.port_type());
        }
        Ok(ports.output(STAMPS, PortType::msg::<ReplayStamp>()))
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let (files, topics) = p.topics().map_err(BlockError::Config)?;
        let mut outs = Vec::new();
        let mut by_topic = HashMap::new();
        for t in &topics {
            let out = match &t.kind {
                TopicKind::Image { .. } => Out::Image(setup.output(&t.port)?),
                TopicKind::Message(m) => Out::Message {
                    out: setup.output_raw(&t.port, m.ty)?,
                    layout: (m.layout)(),
                    buf: vec![0; m.ty.size() as usize],
                },
            };
            by_topic.insert(t.topic.clone(), outs.len());
            outs.push(out);
        }
        let control = p.control.as_deref().map(Control::open).transpose()?;
        let stamps: Output<ReplayStamp> = setup.output(STAMPS)?;
        let wires: Vec<String> = outs
            .iter()
            .filter_map(|o| match o {
                Out::Image(o) => o.wire_name(),
                Out::Message { out, .. } => out.wire_name(),
            })
            .chain(stamps.wire_name())
            .map(str::to_string)
            .collect();
        let now = framewire_sdk::monotonic_ns();
        let waiting = (p.wait_readers_s > 0.0 && !wires.is_empty()).then(|| ReaderWait {
            wires,
            until: now + (p.wait_readers_s * 1e9) as u64,
            seen: 0,
            since: now,
        });
        let names: Vec<String> = topics.iter().map(|t| format!("{} -> {}", t.topic, t.port)).collect();
        framewire_sdk::tracing::info!("replaying {} file(s) of {}: {}", files.len(), p.path, names.join(", "));
        Ok(Replay {
            reader: Reader::new(files),
            outs,
            by_topic,
            stamps,
            rate: p.rate,
            paused: p.step,
            credits: 0,
            repeat: p.repeat,
            control,
            pending: None,
            base: None,
            played: 0,
            played_this_pass: 0,
            reported: 0,
            waiting,
        })
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        if let Some(w) = self.waiting.as_mut() {
            if w.waiting(cx.now_ns()) {
                std::thread::sleep(Duration::from_millis(20));
                return Ok(Step::Idle);
            }
            self.waiting = None;
        }
        self.steer();
        if self.pending.is_none() {
            match self.read_next(cx)? {
                Some(p) => self.pending = p,
                None => return Ok(self.end_of_recording()),
            }
            if self.pending.is_none() {
                return Ok(Step::Continue);
            }
        }
        let now = cx.now_ns();
        let Some(p) = self.pending.as_ref() else { return Ok(Step::Continue) };
        if self.paused {
            if self.credits == 0 {
                std::thread::sleep(cx.tick().min(Duration::from_millis(20)));
                return Ok(Step::Idle);
            }
        } else if self.rate > 0.0 {
            let (start, t0) = *self.base.get_or_insert((now, p.publish_wall));
            let due = start as f64 + p.publish_wall.saturating_sub(t0) as f64 / self.rate;
            if (now as f64) < due {
                let wait = Duration::from_nanos((due - now as f64) as u64).min(cx.tick());
                std::thread::sleep(wait);
                return Ok(Step::Idle);
            }
        }
        self.publish(cx.now_ns())?;
        Ok(Step::Continue)
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        if let Some(p) = self.pending.take()
            && let (Some(slot), Some(Out::Image(o))) = (p.slot, self.outs.get_mut(p.out))
        {
            o.abandon_slot(slot);
        }
        self.report_problems();
        framewire_sdk::tracing::info!("replayed {} messages", self.played);
        Ok(())
    }
}

impl Replay {
    /// Applies the commands appended to the control file.
    fn steer(&mut self) {
        let Some(c) = self.control.as_mut() else { return };
        for line in c.poll() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next().map(str::parse::<f64>)) {
                (None, _) => {}
                (Some("step"), None) => {
                    self.paused = true;
                    self.credits += 1;
                }
                (Some("step"), Some(Ok(n))) if n >= 1.0 => {
                    self.paused = true;
                    self.credits += n as u64;
                }
                (Some("pause"), None) => {
                    self.paused = true;
                    self.credits = 0;
                }
                (Some("play"), None) => {
                    self.paused = false;
                    self.base = None;
                }
                (Some("rate"), Some(Ok(r))) if r >= 0.0 && r.is_finite() => {
                    self.rate = r;
                    self.base = None;
                }
                _ => framewire_sdk::tracing::warn!(
                    "control file {}: {line:?} is not a command; use `step [N]`, `pause`, `play` or `rate X`",
                    c.path.display()
                ),
            }
        }
    }

    /// Reads the next message and stages it: an image straight into a
    /// reserved slot of its output. `Ok(None)` at the end of the recording,
    /// `Ok(Some(None))` for a message nothing is to be done with.
    fn read_next(&mut self, cx: &Context) -> Result<Option<Option<Pending>>, BlockError> {
        let Replay { reader, outs, by_topic, .. } = self;
        let got = reader
            .next_with(|m| -> Result<Option<Pending>, BlockError> {
                let Some(&i) = by_topic.get(&m.channel.topic) else { return Ok(None) };
                let offset_ns = m.file_meta.get("clock_offset_ns").and_then(|v| v.parse::<i64>().ok());
                let bad = |e: String| BlockError::Other(format!("{}: {e}", m.channel.topic));
                let mut meta = FrameMeta { source_seq: m.header.sequence as u64, ..Default::default() };
                let (slot, capture) = match &mut outs[i] {
                    Out::Image(o) => {
                        let (fmt, pixels, stamp) = image_format(m.channel, m.data).map_err(bad)?;
                        if !o.is_connected() {
                            return Ok(None);
                        }
                        if pixels.len() > o.slot_size() {
                            return Err(bad(format!(
                                "a {}x{} {} frame ({} bytes) does not fit the output's {}-byte slots; raise max_width and max_height",
                                fmt.width,
                                fmt.height,
                                fmt.fourcc,
                                pixels.len(),
                                o.slot_size()
                            )));
                        }
                        let id = loop {
                            match o.reserve(cx.tick()) {
                                Ok(id) => break id,
                                Err(BlockError::Wire(WireError::Full { .. })) if !cx.should_stop() => cx.beat(),
                                Err(e) => return Err(e),
                            }
                        };
                        o.slot_mut(id)?[..pixels.len()].copy_from_slice(pixels);
                        meta.image = fmt;
                        meta.len = pixels.len();
                        (Some(id), stamp)
                    }
                    Out::Message { out, layout, buf } => {
                        if !out.is_connected() {
                            return Ok(None);
                        }
                        let (stamp, _) = cdr::decode_message(m.data, layout, buf).map_err(|e| bad(e.to_string()))?;
                        meta.len = buf.len();
                        (None, stamp)
                    }
                };
                Ok(Some(Pending {
                    out: i,
                    slot,
                    meta,
                    capture_wall: capture.to_ns(),
                    publish_wall: m.header.log_time,
                    offset_ns,
                }))
            })
            .map_err(|e| BlockError::Other(e.to_string()))?;
        got.transpose()
    }

    /// Publishes the pending message with its capture stamp moved to now.
    fn publish(&mut self, now: u64) -> Result<(), BlockError> {
        let Some(mut p) = self.pending.take() else { return Ok(()) };
        // The original capture-to-publish delay, kept (scaled by the rate).
        let delay = p.publish_wall.saturating_sub(p.capture_wall);
        let scale = if self.rate > 0.0 && !self.paused { self.rate } else { 1.0 };
        p.meta.timestamp_ns = now.saturating_sub((delay as f64 / scale) as u64).max(1);
        match &mut self.outs[p.out] {
            Out::Image(o) => {
                if let Some(slot) = p.slot {
                    o.commit_slot(slot, &p.meta)?;
                }
            }
            Out::Message { out, buf, .. } => out.send_bytes(buf, Some(&p.meta))?,
        }
        let stamp = ReplayStamp {
            output: p.out as u32,
            source_seq: p.meta.source_seq,
            capture_wall_ns: p.capture_wall,
            capture_monotonic_ns: p.offset_ns.map_or(0, |o| (p.capture_wall as i64 - o).max(0) as u64),
            publish_wall_ns: p.publish_wall,
        };
        self.stamps.send(&stamp, Some(&p.meta))?;
        if self.paused {
            self.credits = self.credits.saturating_sub(1);
        }
        self.played += 1;
        self.played_this_pass += 1;
        Ok(())
    }

    fn report_problems(&mut self) {
        for p in &self.reader.problems[self.reported..] {
            framewire_sdk::tracing::warn!("{p}");
        }
        self.reported = self.reader.problems.len();
    }

    fn end_of_recording(&mut self) -> Step {
        self.report_problems();
        if self.repeat && self.played_this_pass > 0 {
            framewire_sdk::tracing::info!(
                "end of the recording after {} messages; from the start again",
                self.played_this_pass
            );
            self.reader.rewind();
            self.base = None;
            self.played_this_pass = 0;
            return Step::Continue;
        }
        framewire_sdk::tracing::info!("end of the recording: replayed {} messages", self.played);
        Step::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_topics_without_slashes() {
        assert_eq!(port_of("/frames"), "frames");
        assert_eq!(port_of("/cam/frames"), "cam_frames");
        assert_eq!(port_of("/a-b"), "a_b");
    }
}
