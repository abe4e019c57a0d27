//! A recording: a set of MCAP files `<stem>.0001.mcap`, `<stem>.0002.mcap`,
//! ... written with bounded size, each chunk finished and handed to the
//! kernel before the next begins.
//!
//! Crash safety comes from the chunk discipline: messages go into one open
//! chunk; the chunk is finished (its header completed, its message index
//! written) and the file flushed when it holds `chunk_bytes` or has been
//! open `chunk_ms`, optionally followed by `fdatasync`. A recorder killed at
//! any instant therefore leaves a file whose every finished chunk is intact;
//! only the open chunk, and the summary and footer a clean stop would have
//! written, are missing. Stream readers (`mcap` for Python's
//! `NonSeekingReader`, this crate's [`reader`](crate::reader)) read such a
//! file up to the broken chunk.
//!
//! Times: framewire stamps frames with `CLOCK_MONOTONIC`. Files carry wall
//! clock time, so that they line up with other recordings and tools: every
//! stamp is the monotonic stamp plus the offset `CLOCK_REALTIME -
//! CLOCK_MONOTONIC` measured once when the recording starts. The offset is
//! written in each file's `framewire` metadata record, so the original
//! monotonic stamps can be recovered exactly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use framewire_sdk::FrameMeta;
use framewire_sdk::image::FourCC;
use framewire_sdk::msg::{FieldInfo, MessageInfo};
use mcap::records::{MessageHeader, Metadata};

use crate::cdr::{self, CdrError, Stamp};
use crate::schema;

/// A recording error; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The MCAP writer failed.
    #[error("{path}: MCAP: {source}")]
    Mcap {
        /// The file.
        path: PathBuf,
        /// Why.
        source: mcap::McapError,
    },
    /// A frame or message could not be encoded.
    #[error("topic {topic}: {source}")]
    Encode {
        /// The topic.
        topic: String,
        /// Why.
        source: CdrError,
    },
    /// Bad options.
    #[error("{0}")]
    Config(String),
}

/// How a recording is written.
#[derive(Clone, Debug)]
pub struct Options {
    /// `dir/stem.mcap` or `dir/stem`: files are `dir/stem.NNNN.mcap`.
    pub path: PathBuf,
    /// Largest size of one file in bytes (0 = no limit, one file).
    pub max_file_bytes: u64,
    /// Finish a chunk once it holds this many bytes.
    pub chunk_bytes: u64,
    /// ... or once it has been open this long.
    pub chunk_ns: u64,
    /// `fdatasync` each finished chunk, so that a power cut, not only a
    /// crash, loses at most the open chunk.
    pub sync: bool,
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` in nanoseconds, measured between two
/// readings of the monotonic clock (the midpoint, and the uncertainty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOffset {
    /// Add to a monotonic time to get wall-clock time (ns since the Unix epoch).
    pub offset_ns: i64,
    /// Half the time the measurement took.
    pub uncertainty_ns: u64,
}

impl ClockOffset {
    /// Measures the offset now: the tightest of a few tries.
    pub fn measure() -> ClockOffset {
        let mut best = ClockOffset { offset_ns: 0, uncertainty_ns: u64::MAX };
        for _ in 0..5 {
            let a = framewire_sdk::monotonic_ns();
            let wall =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let b = framewire_sdk::monotonic_ns();
            let half = (b - a) / 2;
            if half < best.uncertainty_ns {
                best = ClockOffset { offset_ns: wall as i64 - (a + half) as i64, uncertainty_ns: half };
            }
        }
        best
    }
    /// Wall-clock time of monotonic time `mono_ns`.
    pub fn wall(&self, mono_ns: u64) -> u64 {
        (mono_ns as i64).saturating_add(self.offset_ns).max(0) as u64
    }
    /// Monotonic time of wall-clock time `wall_ns`.
    pub fn mono(&self, wall_ns: u64) -> u64 {
        (wall_ns as i64).saturating_sub(self.offset_ns).max(0) as u64
    }
}

/// What a channel carries.
#[derive(Clone, Copy)]
pub enum ChannelKind {
    /// Images: raw formats as `sensor_msgs/msg/Image`, MJPEG as `CompressedImage`.
    Image,
    /// A framewire message type.
    Message(MessageInfo),
}

impl std::fmt::Debug for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelKind::Image => f.write_str("image"),
            ChannelKind::Message(m) => f.write_str(m.ty.name()),
        }
    }
}

/// One topic of the recording.
struct Channel {
    topic: String,
    kind: ChannelKind,
    /// The generated schema of a message channel.
    msg_schema: Option<(String, String)>,
    /// The message layout (empty for images), kept so encoding allocates nothing.
    layout: Vec<FieldInfo>,
    /// Its id in the current file, once its first message is written there.
    id: Option<u16>,
    /// Messages written, all files.
    count: u64,
}

/// The file being written.
struct OpenFile {
    path: PathBuf,
    writer: mcap::Writer<BufWriter<File>>,
    /// A second descriptor of the file: length and `fdatasync`.
    file: File,
    /// File length after the last finished chunk.
    flushed: u64,
    /// Bytes in the open chunk (records and the message index to follow).
    pending: u64,
    /// Channels with messages in the open chunk (each adds a message index record).
    chunk_channels: u64,
    /// When the open chunk received its first message (monotonic ns; 0 = no chunk open).
    chunk_start: u64,
    /// Chunks finished.
    chunks: u64,
    messages: u64,
    /// Bytes the summary will take: schemas and channels repeated, indexes.
    summary_fixed: u64,
}

/// Bytes an MCAP record adds around its content: opcode and length.
const RECORD: u64 = 9;
/// A message record's header: channel id, sequence, log and publish time.
const MESSAGE_HEADER: u64 = 2 + 4 + 8 + 8;
/// The chunk record's fields before its data (with the empty compression name).
const CHUNK_HEADER: u64 = RECORD + 8 + 8 + 8 + 4 + 4 + 8;
/// What the summary takes per chunk (its chunk index), not counting the per-channel offsets.
const CHUNK_INDEX: u64 = RECORD + 8 + 8 + 8 + 8 + 4 + 8 + 4 + 8 + 8;
/// Summary records of fixed size: statistics, data end, summary offsets,
/// metadata index, footer, magic; rounded up generously.
const SUMMARY_BASE: u64 = 1024;

/// A recording in progress.
pub struct Recording {
    opts: Options,
    clock: ClockOffset,
    dir: PathBuf,
    stem: String,
    next_index: u32,
    file: Option<OpenFile>,
    channels: Vec<Channel>,
    /// The serialized message being written (reused: no allocation per frame).
    staging: Vec<u8>,
    /// Files finished so far.
    done: Vec<PathBuf>,
    /// Extra metadata written into every file (the pipeline, the wires).
    metadata: BTreeMap<String, String>,
}

/// The files `path` names, in order: `path` itself if it is an MCAP file,
/// else `dir/stem.NNNN.mcap` for every number present.
pub fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let (dir, stem) = split(path);
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n = number_of(&name, &stem)?;
            Some((n, dir.join(name)))
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "{}: no such file, and no {stem}.NNNN.mcap files in {}",
            path.display(),
            if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }.display()
        ));
    }
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Directory and stem of a recording path (`rec/run.mcap` -> (`rec`, `run`)).
fn split(path: &Path) -> (PathBuf, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".mcap").unwrap_or(&name).to_string();
    (dir, stem)
}

/// `N` if `name` is `stem.N.mcap` with `N` all digits.
fn number_of(name: &str, stem: &str) -> Option<u32> {
    let digits = name.strip_prefix(stem)?.strip_prefix('.')?.strip_suffix(".mcap")?;
    if digits.len() >= 4 && digits.bytes().all(|b| b.is_ascii_digit()) { digits.parse().ok() } else { None }
}

impl Recording {
    /// Starts a recording: creates the directory if needed and the first
    /// file, numbered after any files of the same stem already there (a
    /// restarted recorder never overwrites what it recorded before).
    pub fn create(opts: Options, metadata: BTreeMap<String, String>) -> Result<Recording, RecordError> {
        if opts.chunk_bytes == 0 {
            return Err(RecordError::Config("chunk size must be at least 1 byte".into()));
        }
        let (dir, stem) = split(&opts.path);
        if stem.is_empty() {
            return Err(RecordError::Config(format!("{}: give a file name, e.g. run.mcap", opts.path.display())));
        }
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(&dir).map_err(|source| RecordError::Io { path: dir.clone(), source })?;
        }
        let listing = if dir.as_os_str().is_empty() { Path::new(".") } else { &dir };
        let next_index = std::fs::read_dir(listing)
            .map_err(|source| RecordError::Io { path: listing.to_path_buf(), source })?
            .filter_map(|e| number_of(&e.ok()?.file_name().into_string().ok()?, &stem))
            .max()
            .unwrap_or(0)
            + 1;
        let mut r = Recording {
            opts,
            clock: ClockOffset::measure(),
            dir,
            stem,
            next_index,
            file: None,
            channels: Vec::new(),
            staging: Vec::new(),
            done: Vec::new(),
            metadata,
        };
        r.open_next()?;
        Ok(r)
    }

    /// The clock offset every stamp in the files was shifted by.
    pub fn clock(&self) -> ClockOffset {
        self.clock
    }

    /// The file being written.
    pub fn current_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Adds a topic; returns its index for the `write_*` calls.
    pub fn add_channel(&mut self, topic: &str, kind: ChannelKind) -> Result<usize, RecordError> {
        let msg_schema = match kind {
            ChannelKind::Image => None,
            ChannelKind::Message(info) => Some(
                schema::message(&info).map_err(|source| RecordError::Encode { topic: topic.to_string(), source })?,
            ),
        };
        if self.channels.iter().any(|c| c.topic == topic) {
            return Err(RecordError::Config(format!("topic {topic} is recorded twice")));
        }
        let layout = match kind {
            ChannelKind::Image => Vec::new(),
            ChannelKind::Message(info) => (info.layout)(),
        };
        self.channels.push(Channel { topic: topic.to_string(), kind, msg_schema, layout, id: None, count: 0 });
        Ok(self.channels.len() - 1)
    }

    /// Messages written on each topic so far.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.channels.iter().map(|c| (c.topic.clone(), c.count)).collect()
    }

    fn open_next(&mut self) -> Result<(), RecordError> {
        let path = self.dir.join(format!("{}.{:04}.mcap", self.stem, self.next_index));
        self.next_index += 1;
        let io = |source| RecordError::Io { path: path.clone(), source };
        // create_new: never overwrite a file, even one made since we looked.
        let file = File::options().write(true).create_new(true).open(&path).map_err(io)?;
        let second = file.try_clone().map_err(io)?;
        let options = mcap::WriteOptions::new()
            .compression(None)
            .profile("ros2")
            .library(concat!("framewire-record ", env!("CARGO_PKG_VERSION")))
            // Chunks are finished here (by size and age), not by the writer.
            .chunk_size(None)
            // Each chunk has its CRC; one over the whole data section as
            // well would read every byte a second time (it costs 0.1 ms of
            // a 640x480 RGB frame's 0.5) and is optional in MCAP (0 = none).
            .calculate_data_section_crc(false);
        let mcap_err = |source| RecordError::Mcap { path: path.clone(), source };
        let mut writer = options.create(BufWriter::with_capacity(1 << 16, file)).map_err(mcap_err)?;
        let mut meta = self.metadata.clone();
        meta.insert("clock_offset_ns".into(), self.clock.offset_ns.to_string());
        meta.insert("clock_offset_uncertainty_ns".into(), self.clock.uncertainty_ns.to_string());
        meta.insert(
            "clock".into(),
            "stamps and log times are CLOCK_MONOTONIC + clock_offset_ns (wall clock, ns since the Unix epoch)".into(),
        );
        meta.insert("recorder".into(), concat!("framewire-record ", env!("CARGO_PKG_VERSION")).into());
        writer.write_metadata(&Metadata { name: "framewire".into(), metadata: meta }).map_err(mcap_err)?;
        writer.flush().map_err(mcap_err)?;
        let flushed = second.metadata().map_err(io)?.len();
        for c in &mut self.channels {
            c.id = None;
        }
        self.file = Some(OpenFile {
            path,
            writer,
            file: second,
            flushed,
            pending: 0,
            chunk_channels: 0,
            chunk_start: 0,
            chunks: 0,
            messages: 0,
            summary_fixed: SUMMARY_BASE,
        });
        Ok(())
    }

    /// Finishes the open chunk, flushes it to the kernel (and the disk, with `sync`).
    fn finish_chunk(&mut self) -> Result<(), RecordError> {
        let sync = self.opts.sync;
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        if f.chunk_start == 0 {
            return Ok(());
        }
        f.writer.flush().map_err(|source| RecordError::Mcap { path: f.path.clone(), source })?;
        let io = |source| RecordError::Io { path: f.path.clone(), source };
        if sync {
            f.file.sync_data().map_err(io)?;
        }
        f.flushed = f.file.metadata().map_err(io)?.len();
        f.pending = 0;
        f.chunk_channels = 0;
        f.chunk_start = 0;
        f.chunks += 1;
        Ok(())
    }

    /// Finishes the current file: summary, footer, closed.
    fn finish_file(&mut self) -> Result<(), RecordError> {
        let Some(mut f) = self.file.take() else { return Ok(()) };
        f.writer.finish().map_err(|source| RecordError::Mcap { path: f.path.clone(), source })?;
        let mut inner = f.writer.into_inner();
        inner.flush().map_err(|source| RecordError::Io { path: f.path.clone(), source })?;
        if self.opts.sync {
            f.file.sync_all().map_err(|source| RecordError::Io { path: f.path.clone(), source })?;
        }
        self.done.push(f.path);
        Ok(())
    }

    /// Finishes the open chunk if it is older than `chunk_ns` (call it when
    /// idle, so a quiet topic still reaches the disk in time).
    pub fn tick(&mut self, now_ns: u64) -> Result<(), RecordError> {
        let old = self
            .file
            .as_ref()
            .is_some_and(|f| f.chunk_start != 0 && now_ns.saturating_sub(f.chunk_start) >= self.opts.chunk_ns);
        if old { self.finish_chunk() } else { Ok(()) }
    }

    /// Records image `data` (as a wire slot holds it) on channel `ch`.
    pub fn write_image(&mut self, ch: usize, meta: &FrameMeta, data: &[u8]) -> Result<(), RecordError> {
        let stamp = Stamp::from_ns(self.clock.wall(capture_ns(meta)));
        let fmt = meta.image;
        let encoded = if fmt.fourcc == FourCC::MJPEG {
            cdr::encode_compressed(&mut self.staging, stamp, "", "jpeg", data);
            Ok(())
        } else {
            let len = fmt.byte_len();
            let pixels = data.get(..len).ok_or_else(|| {
                CdrError::Image(format!(
                    "frame {} has {} bytes, a {}x{} {} image needs {len}",
                    meta.seq,
                    data.len(),
                    fmt.width,
                    fmt.height,
                    fmt.fourcc
                ))
            });
            pixels.and_then(|p| cdr::encode_image(&mut self.staging, stamp, "", &fmt, p))
        };
        encoded.map_err(|source| RecordError::Encode { topic: self.channels[ch].topic.clone(), source })?;
        self.write_staged(ch, meta)
    }

    /// Records a message (its wire bytes) on channel `ch`.
    pub fn write_message(&mut self, ch: usize, meta: &FrameMeta, bytes: &[u8]) -> Result<(), RecordError> {
        let stamp = Stamp::from_ns(self.clock.wall(capture_ns(meta)));
        let c = &self.channels[ch];
        if c.layout.is_empty() {
            return Err(RecordError::Config(format!("topic {} carries images", c.topic)));
        }
        cdr::encode_message(&mut self.staging, stamp, "", &c.layout, bytes)
            .map_err(|source| RecordError::Encode { topic: c.topic.clone(), source })?;
        self.write_staged(ch, meta)
    }

    /// Schema name, schema text and channel metadata of channel `ch`, whose
    /// next message is `meta`'s. Called for a channel's first message in a
    /// file only, so its allocations are not per frame.
    fn describe(&self, ch: usize, meta: &FrameMeta) -> (String, String, BTreeMap<String, String>) {
        let c = &self.channels[ch];
        match (&c.kind, &c.msg_schema) {
            (ChannelKind::Message(info), Some((name, text))) => {
                let m = BTreeMap::from([
                    ("framewire.kind".to_string(), info.ty.name().to_string()),
                    ("framewire.size".to_string(), info.ty.size().to_string()),
                ]);
                (name.clone(), text.clone(), m)
            }
            _ => {
                let fmt = meta.image;
                let m = BTreeMap::from([
                    ("framewire.kind".to_string(), "image".to_string()),
                    ("framewire.fourcc".to_string(), fmt.fourcc.to_string()),
                    ("framewire.width".to_string(), fmt.width.to_string()),
                    ("framewire.height".to_string(), fmt.height.to_string()),
                ]);
                if fmt.fourcc == FourCC::MJPEG {
                    (schema::COMPRESSED_IMAGE.to_string(), schema::compressed_image(), m)
                } else {
                    (schema::IMAGE.to_string(), schema::image(), m)
                }
            }
        }
    }

    /// Writes the message in `staging` on channel `ch`, adding the schema and
    /// channel to the file first if this is its first message there, rotating
    /// the file and finishing the chunk as the limits say.
    fn write_staged(&mut self, ch: usize, meta: &FrameMeta) -> Result<(), RecordError> {
        let size = RECORD + MESSAGE_HEADER + self.staging.len() as u64;
        let mut described = if self.channels[ch].id.is_none() { Some(self.describe(ch, meta)) } else { None };
        // Rotate first if this message would take the file past its limit
        // (a file always takes at least one message, however large).
        if let Some(f) = &self.file
            && self.opts.max_file_bytes > 0
            && f.messages > 0
        {
            let topic = self.channels[ch].topic.len() as u64;
            // A channel new to this file: its schema and channel records, in the chunk and the summary.
            let new_channel = described.as_ref().map_or(0, |(n, t, m)| 2 * channel_records_len(n, t, topic, m));
            if projected(f, self.channels.len() as u64) + size + 16 + RECORD + 15 + new_channel
                > self.opts.max_file_bytes
            {
                self.finish_file()?;
                self.open_next()?;
                described = Some(self.describe(ch, meta));
            }
        }
        let now = framewire_sdk::monotonic_ns();
        let nch = self.channels.len() as u64;
        let c = &mut self.channels[ch];
        let Some(f) = self.file.as_mut() else { return Err(RecordError::Config("the recording is finished".into())) };
        let mcap_err = |source| RecordError::Mcap { path: f.path.clone(), source };
        let id = match c.id {
            Some(id) => id,
            None => {
                let (name, text, m) = described.unwrap_or_default();
                let schema_id = f.writer.add_schema(&name, "ros2msg", text.as_bytes()).map_err(mcap_err)?;
                let id = f.writer.add_channel(schema_id, &c.topic, "cdr", &m).map_err(mcap_err)?;
                let records = channel_records_len(&name, &text, c.topic.len() as u64, &m);
                // In the open chunk now, and repeated in the summary later.
                f.pending += records;
                f.summary_fixed += records + 10 * nch;
                c.id = Some(id);
                id
            }
        };
        if f.chunk_start == 0 {
            f.chunk_start = now.max(1);
        }
        let seq = if meta.source_seq != 0 { meta.source_seq } else { meta.seq };
        let time = self.clock.wall(meta.commit_ns);
        let header = MessageHeader { channel_id: id, sequence: seq as u32, log_time: time, publish_time: time };
        f.writer.write_to_known_channel(&header, &self.staging).map_err(mcap_err)?;
        // The message, and its entry in the chunk's message index.
        f.pending += size + 16;
        f.chunk_channels += 1;
        f.messages += 1;
        c.count += 1;
        if f.pending >= self.opts.chunk_bytes || now.saturating_sub(f.chunk_start) >= self.opts.chunk_ns {
            self.finish_chunk()?;
        }
        Ok(())
    }

    /// Finishes the recording: the open chunk, the summary and footer of
    /// the last file. Returns every file written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, RecordError> {
        self.finish_file()?;
        Ok(std::mem::take(&mut self.done))
    }
}

/// What the file will be at most once finished, without a further message:
/// what is on disk, the open chunk, and the summary.
fn projected(f: &OpenFile, channels: u64) -> u64 {
    let chunk = if f.chunk_start != 0 {
        CHUNK_HEADER + f.pending + f.chunk_channels.min(channels) * (RECORD + 6)
    } else {
        CHUNK_HEADER
    };
    f.flushed + chunk + f.summary_fixed + (f.chunks + 1) * (CHUNK_INDEX + 10 * channels)
}

/// Bytes of a channel's schema and channel records.
fn channel_records_len(name: &str, text: &str, topic: u64, m: &BTreeMap<String, String>) -> u64 {
    let metadata = 4 + m.iter().map(|(k, v)| 8 + k.len() as u64 + v.len() as u64).sum::<u64>();
    // Schema: id, name, encoding "ros2msg", data. Channel: ids, topic, encoding "cdr", metadata.
    (RECORD + 2 + 4 + name.len() as u64 + 4 + 7 + 4 + text.len() as u64) + (RECORD + 4 + 4 + topic + 4 + 3 + metadata)
}

/// The capture stamp of a frame, or its commit time for a message published
/// without a source frame.
fn capture_ns(meta: &FrameMeta) -> u64 {
    if meta.timestamp_ns != 0 { meta.timestamp_ns } else { meta.commit_ns }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // A block that fails mid-recording still leaves a finished file.
        let _ = self.finish_file();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_numbers_are_found_and_continued() {
        assert_eq!(number_of("run.0003.mcap", "run"), Some(3));
        assert_eq!(number_of("run.12345.mcap", "run"), Some(12345));
        assert_eq!(number_of("run.3.mcap", "run"), None);
        assert_eq!(number_of("runx.0003.mcap", "run"), None);
        assert_eq!(split(Path::new("rec/run.mcap")), (PathBuf::from("rec"), "run".to_string()));
        assert_eq!(split(Path::new("run")), (PathBuf::new(), "run".to_string()));
    }

    #[test]
    fn the_clock_offset_maps_both_ways() {
        let c = ClockOffset::measure();
        assert!(c.uncertainty_ns < 1_000_000, "{c:?}");
        let now = framewire_sdk::monotonic_ns();
        assert_eq!(c.mono(c.wall(now)), now);
        // The wall clock is past 2020 on any machine that runs this.
        assert!(c.wall(now) > 1_577_836_800_000_000_000);
    }
}
