//! `recorder`: writes the wires connected to it into MCAP files that
//! Foxglove, the `mcap` tools and ROS 2 open (see `README.md` beside this file).

use std::collections::BTreeMap;
use std::path::PathBuf;

use framewire_sdk::block::*;
use framewire_sdk::msg;
use framewire_sdk::select::Select;

use crate::recording::{ChannelKind, Options, Recording};

framewire_sdk::params! {
    /// Parameters of `recorder`.
    pub struct Params {
        /// Where to record: `dir/name.mcap` writes `dir/name.0001.mcap`, `dir/name.0002.mcap`, ... (numbered after any already there; the directory is created).
        pub path: String = required("recordings/run.mcap"),
        /// Input ports, `{port = type}`: `image` (any format) or a message type (`framewire messages`).
        pub inputs: BTreeMap<String, String> = required({ frames = "image" }),
        /// Topic of each port, `{port = "/camera/image"}` (default: `/<port>`).
        pub topics: BTreeMap<String, String> = BTreeMap::new(),
        /// Start a new file before one grows past this many MiB (0 = never).
        pub max_file_mb: f64 = 1024.0,
        /// Finish a chunk (and hand it to the kernel) once it holds this many KiB ...
        pub chunk_kb: u64 = 1024,
        /// ... or once it is this old, in ms: a crash loses at most this much.
        pub chunk_ms: u64 = 1000,
        /// fdatasync every finished chunk, so that a power cut also loses at most one chunk.
        pub sync: bool = true,
    }
}

/// What a port carries: `image` or a message type name.
pub fn parse_kind(s: &str) -> Result<ChannelKind, String> {
    if s == "image" {
        return Ok(ChannelKind::Image);
    }
    msg::lookup(s).map(ChannelKind::Message).ok_or_else(|| {
        let known: Vec<String> = msg::known().iter().map(|m| m.ty.name().to_string()).collect();
        format!("unknown port type {s:?}; use image or a message type ({})", known.join(", "))
    })
}

/// The port type of a channel kind.
pub fn port_type(kind: ChannelKind) -> PortType {
    match kind {
        ChannelKind::Image => PortType::image_any(),
        ChannelKind::Message(m) => PortType::Msg(m.ty),
    }
}

/// A topic must be a ROS name: `/` then letters, digits, `_` and `/`.
pub fn check_topic(t: &str) -> Result<(), String> {
    let ok = t.starts_with('/')
        && t.len() > 1
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
        && !t.contains("//");
    if ok { Ok(()) } else { Err(format!("topic {t:?} is not a ROS topic name like \"/camera/image\"")) }
}

impl Params {
    fn check(&self) -> Result<Vec<(String, String, ChannelKind)>, String> {
        if self.inputs.is_empty() {
            return Err("inputs is empty; give the ports to record, e.g. inputs = { frames = \"image\" }".into());
        }
        if !(self.max_file_mb >= 0.0 && self.max_file_mb.is_finite()) {
            return Err(format!("max_file_mb = {} must be 0 (no limit) or more", self.max_file_mb));
        }
        if self.chunk_kb == 0 || self.chunk_ms == 0 {
            return Err("chunk_kb and chunk_ms must be at least 1".into());
        }
        if let Some(p) = self.topics.keys().find(|p| !self.inputs.contains_key(*p)) {
            return Err(format!("topics names port {p:?}, which is not among inputs"));
        }
        let mut out = Vec::new();
        for (port, ty) in &self.inputs {
            let topic = self.topics.get(port).cloned().unwrap_or_else(|| format!("/{port}"));
            check_topic(&topic).map_err(|e| format!("port {port}: {e}"))?;
            out.push((port.clone(), topic, parse_kind(ty).map_err(|e| format!("port {port}: {e}"))?));
        }
        Ok(out)
    }

    /// The recording options these parameters give.
    pub fn options(&self) -> Options {
        Options {
            path: PathBuf::from(&self.path),
            max_file_bytes: (self.max_file_mb * 1024.0 * 1024.0) as u64,
            chunk_bytes: self.chunk_kb * 1024,
            chunk_ns: self.chunk_ms * 1_000_000,
            sync: self.sync,
        }
    }
}

/// What a recorder wrote.
#[derive(Debug)]
pub struct Recorded {
    /// The files, in order.
    pub files: Vec<PathBuf>,
    /// Messages per topic.
    pub counts: Vec<(String, u64)>,
}

/// One recorded input.
struct Port {
    input: Input<Raw>,
    channel: usize,
    image: bool,
}

/// The `recorder` block.
pub struct Recorder {
    ports: Vec<Port>,
    select: Select,
    recording: Option<Recording>,
    /// Most frames taken from one input per step, so one busy queue cannot starve the others.
    burst: usize,
}

impl Recorder {
    /// A recorder of `ports` (port name, topic, kind, input) into a recording
    /// with `opts`; `metadata` goes into every file. Used by the block and by
    /// `framewire record`.
    pub fn start(
        opts: Options,
        ports: Vec<(String, ChannelKind, Input<Raw>)>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Recorder, BlockError> {
        let mut recording = Recording::create(opts, metadata).map_err(|e| BlockError::Other(e.to_string()))?;
        let mut out = Vec::new();
        let mut waits = Vec::new();
        for (topic, kind, input) in ports {
            let channel = recording.add_channel(&topic, kind).map_err(|e| BlockError::Config(e.to_string()))?;
            waits.push(input.waitable()?);
            out.push(Port { input, channel, image: matches!(kind, ChannelKind::Image) });
        }
        if let Some(p) = recording.current_path() {
            framewire_sdk::tracing::info!(
                "recording {} topic(s) to {} (clock offset {} ns)",
                out.len(),
                p.display(),
                recording.clock().offset_ns
            );
        }
        Ok(Recorder { ports: out, select: Select::new(waits), recording: Some(recording), burst: 64 })
    }

    /// Waits up to `tick` for frames and writes what arrived.
    pub fn poll(&mut self, tick: std::time::Duration, now_ns: u64) -> Result<Step, BlockError> {
        let ready = self.select.wait(tick);
        let Some(rec) = self.recording.as_mut() else { return Ok(Step::Done) };
        let fail = |e: crate::recording::RecordError| BlockError::Other(e.to_string());
        let mut any = false;
        for (i, p) in self.ports.iter_mut().enumerate() {
            if !ready.contains(i) {
                continue;
            }
            for _ in 0..self.burst {
                let Some(g) = p.input.try_recv() else { break };
                any = true;
                if p.image {
                    rec.write_image(p.channel, g.meta(), &g).map_err(fail)?;
                } else {
                    rec.write_message(p.channel, g.meta(), &g).map_err(fail)?;
                }
            }
        }
        rec.tick(now_ns).map_err(fail)?;
        Ok(if any { Step::Continue } else { Step::Idle })
    }

    /// Finishes the files; returns their paths and how many messages each topic got.
    pub fn finish(&mut self) -> Result<Recorded, BlockError> {
        let Some(rec) = self.recording.take() else { return Ok(Recorded { files: Vec::new(), counts: Vec::new() }) };
        let counts = rec.counts();
        let files = rec.finish().map_err(|e| BlockError::Other(e.to_string()))?;
        Ok(Recorded { files, counts })
    }
}

impl BlockType for Recorder {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("recorder", "Records its inputs to MCAP files (ROS 2 CDR: images as sensor_msgs/Image)")
            .role(Role::Sink)
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        let mut ports = Ports::new();
        for (port, _, kind) in p.check()? {
            // Port names must be 'static for PortDecl; a recorder's ports are
            // few and live for the whole process, so leaking them is bounded.
            ports = ports.input(Box::leak(port.into_boxed_str()), port_type(kind));
        }
        Ok(ports)
    }

    fn open(p: Params, setup: &mut Setup) -> Result<Self, BlockError> {
        let decl = p.check().map_err(BlockError::Config)?;
        let mut ports = Vec::new();
        for (port, topic, kind) in decl {
            let input = setup.input_raw(&port, port_type(kind).kind())?;
            ports.push((topic, kind, input));
        }
        let meta = BTreeMap::from([("block".to_string(), setup.name().to_string())]);
        Recorder::start(p.options(), ports, meta)
    }

    fn step(&mut self, cx: &mut Context) -> Result<Step, BlockError> {
        self.poll(cx.tick(), cx.now_ns())
    }

    fn stop(&mut self, _cx: &mut Context) -> Result<(), BlockError> {
        let done = self.finish()?;
        let counts: Vec<String> = done.counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let files: Vec<String> = done.files.iter().map(|f| f.display().to_string()).collect();
        framewire_sdk::tracing::info!("recorded {} into {}", counts.join(", "), files.join(", "));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framewire_sdk::params::Params as _;

    fn params(text: &str) -> Result<Params, String> {
        Params::from_table(&toml::from_str(text).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn ports_come_from_the_inputs_table() {
        let p = params("path = \"x.mcap\"\ninputs = { frames = \"image\", det = \"detection\" }").unwrap();
        let ports = Recorder::ports(&p).unwrap();
        let names: Vec<&str> = ports.inputs.iter().map(|d| d.name).collect();
        assert_eq!(names, ["det", "frames"]);
        assert_eq!(ports.inputs[1].ty, PortType::image_any());
    }

    #[test]
    fn bad_parameters_say_what_to_do() {
        let e = Recorder::ports(&params("path = \"x\"\ninputs = { a = \"imagee\" }").unwrap()).unwrap_err();
        assert!(e.contains("port a: unknown port type \"imagee\"") && e.contains("detection"), "{e}");
        let e = Recorder::ports(&params("path = \"x\"\ninputs = { a = \"image\" }\ntopics = { b = \"/b\" }").unwrap())
            .unwrap_err();
        assert!(e.contains("port \"b\", which is not among inputs"), "{e}");
        let e = Recorder::ports(&params("path = \"x\"\ninputs = { a = \"image\" }\ntopics = { a = \"cam\" }").unwrap())
            .unwrap_err();
        assert!(e.contains("not a ROS topic name"), "{e}");
        let e = params("inputs = { a = \"image\" }").unwrap_err();
        assert!(e.contains("`path = \"recordings/run.mcap\"`"), "{e}");
        // The documented example parses: `framewire blocks` shows its ports.
        assert!(Recorder::ports(&Params::from_table(&Params::example()).unwrap()).is_ok());
    }
}
