//! Reading recordings back: messages in file order from one or several MCAP
//! files, streamed (memory bounded by one chunk, not by the file), and
//! tolerant of a file that ends in a broken chunk (a recorder that was
//! killed): it plays what is intact and says where the file broke.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use mcap::records::{MessageHeader, Record, op};
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};

/// A file that cannot be opened or is not MCAP at all.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// A channel of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Topic (`/frames`).
    pub topic: String,
    /// Schema name (`sensor_msgs/msg/Image`), empty if none.
    pub schema: String,
    /// Schema text.
    pub schema_text: String,
    /// Message encoding (`cdr`).
    pub encoding: String,
    /// Channel metadata (framewire's `framewire.kind`, `framewire.width`, ...).
    pub metadata: BTreeMap<String, String>,
}

/// One message, borrowed from the reader.
pub struct Msg<'a> {
    /// Its channel.
    pub channel: &'a ChannelInfo,
    /// Sequence and times.
    pub header: MessageHeader,
    /// The serialized message.
    pub data: &'a [u8],
    /// The `framewire` metadata of the file it is in (clock offset ...).
    pub file_meta: &'a BTreeMap<String, String>,
}

/// Reads the messages of a list of MCAP files, one file after the other.
pub struct Reader {
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<(PathBuf, File)>,
    lin: LinearReader,
    schemas: HashMap<u16, (String, String)>,
    channels: HashMap<u16, ChannelInfo>,
    file_meta: BTreeMap<String, String>,
    /// What went wrong in the files read so far (a truncated file, a bad chunk).
    pub problems: Vec<String>,
    /// Messages read from the current file.
    in_file: u64,
}

fn new_linear() -> LinearReader {
    // Files of a recorder that was killed have no end magic; the reader
    // reports their end as an error, which `next` turns into a problem note.
    LinearReader::new_with_options(LinearReaderOptions::default().with_validate_chunk_crcs(true))
}

impl Reader {
    /// A reader of `files`, in this order.
    pub fn new(files: Vec<PathBuf>) -> Reader {
        Reader {
            files,
            next_file: 0,
            current: None,
            lin: new_linear(),
            schemas: HashMap::new(),
            channels: HashMap::new(),
            file_meta: BTreeMap::new(),
            problems: Vec::new(),
            in_file: 0,
        }
    }

    /// Starts over from the first file.
    pub fn rewind(&mut self) {
        self.next_file = 0;
        self.current = None;
    }

    fn open_next(&mut self) -> Result<bool, ReadError> {
        let Some(path) = self.files.get(self.next_file).cloned() else { return Ok(false) };
        self.next_file += 1;
        let file = File::open(&path).map_err(|e| ReadError { path: path.clone(), message: e.to_string() })?;
        self.current = Some((path, file));
        self.lin = new_linear();
        self.schemas.clear();
        self.channels.clear();
        self.file_meta.clear();
        self.in_file = 0;
        Ok(true)
    }

    /// Calls `f` with the next message and returns what it returns, or
    /// `None` at the end of the last file. A file that breaks off is noted
    /// in [`Reader::problems`] and reading goes on with the next file.
    pub fn next_with<R>(&mut self, f: impl FnOnce(Msg<'_>) -> R) -> Result<Option<R>, ReadError> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some((path, file)) = self.current.as_mut() else { continue };
            let event = match self.lin.next_event() {
                None => {
                    self.current = None;
                    continue;
                }
                Some(Err(e)) => {
                    let why = if self.in_file == 0 { "" } else { " (a recorder stopped abruptly leaves that)" };
                    self.problems.push(format!("{}: read {} messages, then: {e}{why}", path.display(), self.in_file));
                    self.current = None;
                    continue;
                }
                Some(Ok(ev)) => ev,
            };
            match event {
                LinearReadEvent::ReadRequest(n) => {
                    let buf = self.lin.insert(n);
                    let got = loop {
                        match file.read(buf) {
                            Ok(k) => break k,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(ReadError { path: path.clone(), message: e.to_string() }),
                        }
                    };
                    self.lin.notify_read(got);
                }
                LinearReadEvent::Record { data, opcode } => {
                    let record = match mcap::parse_record(opcode, data) {
                        Ok(r) => r,
                        Err(e) => {
                            self.problems.push(format!("{}: bad record (opcode {opcode:#x}): {e}", path.display()));
                            continue;
                        }
                    };
                    match record {
                        Record::Schema { header, data } => {
                            let text = String::from_utf8_lossy(&data).into_owned();
                            self.schemas.insert(header.id, (header.name, text));
                        }
                        Record::Channel(c) => {
                            let (schema, schema_text) = self.schemas.get(&c.schema_id).cloned().unwrap_or_default();
                            self.channels.insert(
                                c.id,
                                ChannelInfo {
                                    topic: c.topic,
                                    schema,
                                    schema_text,
                                    encoding: c.message_encoding,
                                    metadata: c.metadata,
                                },
                            );
                        }
                        Record::Metadata(m) if m.name == "framewire" => self.file_meta = m.metadata,
                        Record::Message { header, data } => {
                            let Some(channel) = self.channels.get(&header.channel_id) else {
                                self.problems.push(format!(
                                    "{}: message on unknown channel {}",
                                    path.display(),
                                    header.channel_id
                                ));
                                continue;
                            };
                            self.in_file += 1;
                            let data: &[u8] = &data;
                            return Ok(Some(f(Msg { channel, header, data, file_meta: &self.file_meta })));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Every channel of `files` by topic (the first file that has a topic
/// describes it), read from each file's summary when it has one, else by
/// scanning it (a file whose recorder was killed has no summary).
pub fn channels(files: &[PathBuf]) -> Result<BTreeMap<String, Vec<ChannelInfo>>, ReadError> {
    let mut out: BTreeMap<String, Vec<ChannelInfo>> = BTreeMap::new();
    for path in files {
        let list = match summary_channels(path)? {
            Some(list) => list,
            None => scan_channels(path)?,
        };
        for c in list {
            let seen = out.entry(c.topic.clone()).or_default();
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
    }
    Ok(out)
}

/// The channels listed in a file's summary section, or `None` if it has no footer.
fn summary_channels(path: &Path) -> Result<Option<Vec<ChannelInfo>>, ReadError> {
    let err = |e: std::io::Error| ReadError { path: path.to_path_buf(), message: e.to_string() };
    let mut file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    // Footer record (opcode, length 20, summary start, offset start, crc) and the magic.
    const TAIL: u64 = 1 + 8 + 20 + 8;
    if len < TAIL + 8 {
        return Ok(None);
    }
    let mut tail = [0u8; TAIL as usize];
    file.seek(SeekFrom::Start(len - TAIL)).map_err(err)?;
    file.read_exact(&mut tail).map_err(err)?;
    if tail[0] != op::FOOTER || &tail[29..] != mcap::MAGIC {
        return Ok(None);
    }
    let summary_start = u64::from_le_bytes(tail[9..17].try_into().unwrap_or_default());
    if summary_start == 0 || summary_start >= len - TAIL {
        return Ok(None);
    }
    let mut summary = vec![0u8; (len - TAIL - summary_start) as usize];
    file.seek(SeekFrom::Start(summary_start)).map_err(err)?;
    file.read_exact(&mut summary).map_err(err)?;
    let mut schemas = HashMap::new();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= summary.len() {
        let opcode = summary[at];
        let n = u64::from_le_bytes(summary[at + 1..at + 9].try_into().unwrap_or_default()) as usize;
        let Some(body) = summary.get(at + 9..at + 9 + n) else { break };
        at += 9 + n;
        match mcap::parse_record(opcode, body) {
            Ok(Record::Schema { header, data }) => {
                schemas.insert(header.id, (header.name, String::from_utf8_lossy(&data).into_owned()));
            }
            Ok(Record::Channel(c)) => {
                let (schema, schema_text) = schemas.get(&c.schema_id).cloned().unwrap_or_default();
                out.push(ChannelInfo {
                    topic: c.topic,
                    schema,
                    schema_text,
                    encoding: c.message_encoding,
                    metadata: c.metadata,
                });
            }
            _ => {}
        }
    }
    Ok(Some(out))
}

/// The channels of a file found by reading it through.
fn scan_channels(path: &Path) -> Result<Vec<ChannelInfo>, ReadError> {
    let mut r = Reader::new(vec![path.to_path_buf()]);
    let mut seen: Vec<ChannelInfo> = Vec::new();
    while r
        .next_with(|m| (!seen.contains(m.channel)).then(|| m.channel.clone()))?
        .map(|c| c.map(|c| seen.push(c)))
        .is_some()
    {}
    if seen.is_empty() && !r.problems.is_empty() {
        return Err(ReadError { path: path.to_path_buf(), message: r.problems.join("; ") });
    }
    Ok(seen)
}
