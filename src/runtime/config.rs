//! Pipeline files: parsing and validation before anything starts.
//!
//! Every error names the file, line and column, says what is wrong and what
//! to do. All errors of a file are collected and reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use framewire_sdk::block::{PortType, Ports, Registry, Role};
use framewire_wire::{self as wire, Policy, WireConfig};

/// One validation problem, located in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 if unknown).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// A pipeline file that failed validation: every problem found.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// When the supervisor restarts a block that exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never: a failure stops the pipeline.
    Never,
    /// After a failure (non-zero exit or a signal), up to `max_restarts` times.
    OnFailure,
    /// After any exit, up to `max_restarts` times.
    Always,
}

/// A validated block.
#[derive(Clone, Debug)]
pub struct BlockConf {
    /// Name, unique in the pipeline.
    pub name: String,
    /// Block type.
    pub type_name: String,
    /// Parameters (device entries merged in).
    pub params: toml::Table,
    /// Restart policy.
    pub restart: Restart,
    /// Restarts allowed before the pipeline gives up.
    pub max_restarts: u32,
    /// Role of the block type.
    pub role: Role,
    /// Connected inputs: port name to wire name (`block.port` of the writer).
    pub inputs: BTreeMap<String, String>,
    /// Connected outputs: port name to wire name.
    pub outputs: BTreeMap<String, String>,
}

/// A validated wire.
#[derive(Clone, Debug)]
pub struct WireConf {
    /// `block.port` of the writer.
    pub name: String,
    /// Readers as `block.port`.
    pub readers: Vec<String>,
    /// Layout.
    pub config: WireConfig,
}

/// A validated pipeline, ready to run.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// Pipeline name (segment names start with `<prefix>.<name>.`).
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Blocks in dependency order (producers first).
    pub blocks: Vec<BlockConf>,
    /// Wires.
    pub wires: Vec<WireConf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPipelineSection {
    name: Option<Spanned<String>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    connect: Vec<Spanned<String>>,
    #[serde(default)]
    shm_group_access: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWire {
    policy: Option<Policy>,
    slots: Option<u32>,
    readers: Option<u32>,
    slot_bytes: Option<u64>,
}

type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    pipeline: RawPipelineSection,
    #[serde(default)]
    connect: Vec<Spanned<String>>,
    #[serde(default)]
    block: Vec<Spanned<RawTable>>,
    #[serde(default)]
    wire: BTreeMap<String, Spanned<RawWire>>,
    #[serde(default)]
    devices: BTreeMap<String, Spanned<toml::Table>>,
}

/// The source text of one file, for turning byte offsets into lines.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn at(&self, offset: usize, message: impl Into<String>, help: Option<String>) -> Problem {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Problem { file: self.path.clone(), line, col, message: message.into(), help }
    }
}

/// Keys of a `[[block]]` table that belong to the runtime, not the block.
const RUNTIME_KEYS: &[&str] = &["name", "type", "restart", "max_restarts", "uses"];

/// Default readers per wire beyond the connected ones, so that tools
/// (`framewire status` taps, recorders) and restarting readers find room.
pub const SPARE_READERS: u32 = 1;

/// Reads and validates pipeline `path` against the block types in `reg`.
pub fn load(path: &Path, reg: &Registry) -> Result<Pipeline, ConfigError> {
    let mut problems = Vec::new();
    let err = |path: &Path, message: String, help: Option<String>| ConfigError {
        problems: vec![Problem { file: path.to_path_buf(), line: 0, col: 0, message, help }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(path, format!("cannot read pipeline file: {e}"), Some("check the path; pipelines live in config/".into()))
    })?;
    let main = Source { path: path.to_path_buf(), text };
    let raw: RawFile = toml::from_str(&main.text).map_err(|e| ConfigError {
        problems: vec![main.at(e.span().map_or(0, |s| s.start), e.message().trim().to_string(), None)],
    })?;

    // Devices: from included files, then this file (which overrides).
    let mut devices: BTreeMap<String, toml::Table> = BTreeMap::new();
    for inc in &raw.pipeline.include {
        let ipath = path.parent().unwrap_or(Path::new(".")).join(inc.get_ref());
        match std::fs::read_to_string(&ipath) {
            Err(e) => problems.push(main.at(
                inc.span().start,
                format!("cannot read included file {}: {e}", ipath.display()),
                Some("include paths are relative to the pipeline file".into()),
            )),
            Ok(itext) => {
                let isrc = Source { path: ipath.clone(), text: itext };
                match toml::from_str::<RawFile>(&isrc.text) {
                    Err(e) => {
                        problems.push(isrc.at(e.span().map_or(0, |s| s.start), e.message().trim().to_string(), None))
                    }
                    Ok(inc_raw) => {
                        for (k, v) in inc_raw.devices {
                            devices.insert(k, v.into_inner());
                        }
                    }
                }
            }
        }
    }
    for (k, v) in &raw.devices {
        devices.insert(k.clone(), v.get_ref().clone());
    }

    let name = match &raw.pipeline.name {
        Some(n) => {
            if let Err(e) = wire::check_component("pipeline", n.get_ref()) {
                problems.push(main.at(n.span().start, e.to_string(), None));
            }
            n.get_ref().clone()
        }
        None => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("pipeline");
            stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
        }
    };

    // Blocks.
    struct Parsed {
        conf: BlockConf,
        ports: Option<Ports>,
        at: usize,
    }
    let mut blocks: Vec<Parsed> = Vec::new();
    let mut seen = BTreeMap::new();
    // Device paths that blocks create when they start (path -> block), and
    // device paths that do not exist yet (offset, block, path): checked once
    // every block is known, since the creator may come later in the file.
    let mut provided: BTreeMap<String, String> = BTreeMap::new();
    let mut absent: Vec<(usize, String, String)> = Vec::new();
    for b in &raw.block {
        let table = b.get_ref();
        let start = b.span().start;
        let get = |k: &str| table.iter().find(|(key, _)| key.get_ref() == k).map(|(key, v)| (key.span().start, v));
        let keys: BTreeMap<String, usize> = table.keys().map(|k| (k.get_ref().clone(), k.span().start)).collect();
        let Some((_, name_v)) = get("name") else {
            problems.push(main.at(
                start,
                "block without a name",
                Some("add `name = \"...\"` to this [[block]]".into()),
            ));
            continue;
        };
        let Some(bname) = name_v.get_ref().as_str().map(str::to_string) else {
            problems.push(main.at(name_v.span().start, "block name must be a string", None));
            continue;
        };
        if let Err(e) = wire::check_component("block", &bname) {
            problems.push(main.at(name_v.span().start, e.to_string(), None));
            continue;
        }
        if let Some(prev) = seen.insert(bname.clone(), name_v.span().start) {
            let p = main.at(prev, "", None);
            problems.push(main.at(
                name_v.span().start,
                format!("duplicate block name {bname:?} (first defined at line {})", p.line),
                Some("give every block a unique name".into()),
            ));
            continue;
        }
        let Some((_, type_v)) = get("type") else {
            problems.push(main.at(
                start,
                format!("block {bname:?} has no type"),
                Some(format!("add `type = \"...\"`; known types: {}", reg.names().join(", "))),
            ));
            continue;
        };
        let tname = type_v.get_ref().as_str().unwrap_or("").to_string();
        let Some(spec) = reg.get(&tname) else {
            problems.push(main.at(
                type_v.span().start,
                format!("unknown block type {tname:?} for block {bname:?}"),
                Some(format!("known types: {} (`framewire blocks` describes them)", reg.names().join(", "))),
            ));
            continue;
        };
        let info = (spec.info)();
        let restart = match get("restart") {
            None => Restart::OnFailure,
            Some((_, v)) => match v.get_ref().clone().try_into::<Restart>() {
                Ok(r) => r,
                Err(_) => {
                    problems.push(main.at(
                        v.span().start,
                        format!("invalid restart policy {} for block {bname:?}", v.get_ref()),
                        Some("use \"never\", \"on-failure\" or \"always\"".into()),
                    ));
                    Restart::OnFailure
                }
            },
        };
        let max_restarts = match get("max_restarts") {
            None => 5,
            Some((_, v)) => match v.get_ref().as_integer() {
                Some(n) if (0..=1_000_000).contains(&n) => n as u32,
                _ => {
                    problems.push(main.at(v.span().start, "max_restarts must be a whole number from 0", None));
                    5
                }
            },
        };
        let mut params = toml::Table::new();
        if let Some((_, u)) = get("uses") {
            let dev = u.get_ref().as_str().unwrap_or("");
            match devices.get(dev) {
                Some(t) => params.extend(t.clone()),
                None => problems.push(main.at(
                    u.span().start,
                    format!("block {bname:?} uses unknown device {dev:?}"),
                    Some(if devices.is_empty() {
                        "define it in a [devices.NAME] table, here or in a file listed in [pipeline] include".into()
                    } else {
                        format!("defined devices: {}", devices.keys().cloned().collect::<Vec<_>>().join(", "))
                    }),
                )),
            }
        }
        for (k, v) in table {
            if !RUNTIME_KEYS.contains(&k.get_ref().as_str()) {
                params.insert(k.get_ref().clone(), v.get_ref().clone());
            }
        }
        let valid = || {
            let mut v: Vec<&str> = info.params.iter().map(|p| p.name).collect();
            v.extend(RUNTIME_KEYS);
            v.join(", ")
        };
        let ports = match (spec.ports)(&params) {
            Ok(p) => Some(p),
            Err(e) => {
                let key = e.key.as_deref().and_then(|k| k.split(['.', '[']).next()).map(str::to_string);
                // `params!` reports an unknown key as the error's key; serde
                // structs say "unknown field `x`".
                let unknown = if e.message.starts_with("unknown parameter") {
                    e.key.clone()
                } else {
                    e.message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string)
                };
                let at_key = unknown.as_ref().or(key.as_ref()).and_then(|k| keys.get(k)).copied().unwrap_or(start);
                let msg = match (&unknown, &key) {
                    (Some(u), _) => {
                        let names: Vec<&'static str> = info.params.iter().map(|p| p.name).collect();
                        let near = framewire_sdk::params::nearest(u, &names)
                            .map(|n| format!("; did you mean {n:?}?"))
                            .unwrap_or_default();
                        format!("unknown parameter {u:?} for block {bname:?} (type {tname}){near}")
                    }
                    (None, Some(k)) => format!("parameter {k:?} of block {bname:?}: {}", e.message),
                    (None, None) => format!("block {bname:?}: {}", e.message),
                };
                problems.push(main.at(at_key, msg, Some(format!("valid parameters: {}", valid()))));
                None
            }
        };
        // Device files named by parameters must exist, or be created by a
        // block of this pipeline.
        for p in info.params.iter().filter(|p| p.device) {
            if let Some(v) = params.get(p.name).and_then(|v| v.as_str())
                && !Path::new(v).exists()
            {
                absent.push((keys.get(p.name).copied().unwrap_or(start), bname.clone(), v.to_string()));
            }
        }
        for p in &info.provides {
            if let Some(v) = params.get(*p).and_then(|v| v.as_str()) {
                provided.insert(v.to_string(), bname.clone());
            }
        }
        let role = if tname == "exec" && params.get("actuator").and_then(|v| v.as_bool()) == Some(true) {
            Role::Actuator
        } else {
            info.role
        };
        blocks.push(Parsed {
            conf: BlockConf {
                name: bname,
                type_name: tname,
                params,
                restart,
                max_restarts,
                role,
                inputs: BTreeMap::new(),
                outputs: BTreeMap::new(),
            },
            ports,
            at: start,
        });
    }

    for (at, bname, v) in absent {
        if !provided.contains_key(&v) {
            problems.push(main.at(at, format!("device {v} for block {bname:?} does not exist"), Some(device_hint(&v))));
        }
    }

    // Connections.
    let index: BTreeMap<String, usize> = blocks.iter().enumerate().map(|(i, b)| (b.conf.name.clone(), i)).collect();
    let mut wires: BTreeMap<String, (PortType, Vec<String>, usize)> = BTreeMap::new();
    let mut writer_of: BTreeMap<String, usize> = BTreeMap::new();
    // Inputs named in connections, even failed ones: no second error saying
    // they are unconnected.
    let mut attempted: BTreeSet<String> = BTreeSet::new();
    for c in raw.connect.iter().chain(&raw.pipeline.connect) {
        let at = c.span().start;
        if let Some((_, to)) = c.get_ref().split_once("->") {
            attempted.insert(to.trim().to_string());
        }
        let Some((from, to)) = c.get_ref().split_once("->") else {
            problems.push(main.at(
                at,
                format!("connection {:?} lacks \"->\"", c.get_ref()),
                Some("write \"producer.port -> consumer.port\"".into()),
            ));
            continue;
        };
        let ends = [from.trim(), to.trim()];
        let mut resolved = Vec::new();
        for (i, end) in ends.iter().enumerate() {
            let Some((b, p)) = end.split_once('.') else {
                problems.push(main.at(
                    at,
                    format!("{end:?} is not block.port"),
                    Some("write \"producer.port -> consumer.port\"".into()),
                ));
                continue;
            };
            let Some(&bi) = index.get(b) else {
                // A block declared with an error of its own was reported already.
                if seen.contains_key(b) {
                    continue;
                }
                problems.push(main.at(
                    at,
                    format!("connection names unknown block {b:?}"),
                    Some(format!("blocks: {}", index.keys().cloned().collect::<Vec<_>>().join(", "))),
                ));
                continue;
            };
            let Some(ports) = &blocks[bi].ports else { continue };
            let list = if i == 0 { &ports.outputs } else { &ports.inputs };
            match list.iter().find(|d| d.name == p) {
                Some(d) => resolved.push((bi, p.to_string(), d.ty.clone())),
                None => problems.push(main.at(
                    at,
                    format!(
                        "block {b:?} ({}) has no {} port {p:?}",
                        blocks[bi].conf.type_name,
                        if i == 0 { "output" } else { "input" }
                    ),
                    Some(format!(
                        "its {} ports: {}",
                        if i == 0 { "output" } else { "input" },
                        list.iter().map(|d| format!("{} ({})", d.name, d.ty.describe())).collect::<Vec<_>>().join(", ")
                    )),
                )),
            }
        }
        let [(wb, wp, wty), (rb, rp, rty)] = match <[_; 2]>::try_from(resolved) {
            Ok(r) => r,
            Err(_) => continue,
        };
        if let Some(prob) = incompatible(&wty, &rty) {
            problems.push(main.at(
                at,
                format!("{}.{wp} -> {}.{rp}: {prob}", blocks[wb].conf.name, blocks[rb].conf.name),
                Some("connect ports of the same type, or put a converting block between them".into()),
            ));
            continue;
        }
        let wname = format!("{}.{wp}", blocks[wb].conf.name);
        if let Some(prev) = blocks[rb].conf.inputs.get(&rp) {
            problems.push(main.at(
                at,
                format!("input {}.{rp} is connected twice (also from {prev})", blocks[rb].conf.name),
                Some("an input has exactly one producer".into()),
            ));
            continue;
        }
        blocks[rb].conf.inputs.insert(rp.clone(), wname.clone());
        blocks[wb].conf.outputs.insert(wp.clone(), wname.clone());
        writer_of.insert(wname.clone(), wb);
        let entry = wires.entry(wname).or_insert((wty, Vec::new(), at));
        entry.1.push(format!("{}.{rp}", blocks[rb].conf.name));
    }
    for b in &blocks {
        if let Some(ports) = &b.ports {
            for d in ports.inputs.iter().filter(|d| d.required) {
                if !b.conf.inputs.contains_key(d.name) && !attempted.contains(&format!("{}.{}", b.conf.name, d.name)) {
                    problems.push(main.at(
                        b.at,
                        format!("required input {}.{} ({}) is not connected", b.conf.name, d.name, d.ty.describe()),
                        Some(format!("add a connection \"producer.port -> {}.{}\"", b.conf.name, d.name)),
                    ));
                }
            }
        }
    }

    // Sizes of derived image outputs (a filter keeping its input's size):
    // follow the chain upstream to a producer that states its size.
    // The size comes from the first producer upstream that states one; the
    // format from the nearest block on the way that states one (a `convert`
    // between the camera and this block changes it).
    let dims_of = |start: &str| -> Option<(u32, u32, Vec<framewire_sdk::image::FourCC>)> {
        let mut w = start.to_string();
        let mut nearest: Option<Vec<framewire_sdk::image::FourCC>> = None;
        for _ in 0..=blocks.len() {
            match &wires.get(&w)?.0 {
                PortType::Image { formats, max_width, max_height } => {
                    return Some((*max_width, *max_height, nearest.unwrap_or_else(|| formats.clone())));
                }
                PortType::ImageFrom { input, formats } => {
                    if nearest.is_none() && !formats.is_empty() {
                        nearest = Some(formats.clone());
                    }
                    w = blocks[*writer_of.get(&w)?].conf.inputs.get(*input)?.clone();
                }
                PortType::Msg(_) => return None,
            }
        }
        None // a loop of derived sizes
    };

    // Wire settings.
    let mut wire_confs = Vec::new();
    for (wname, (ty, readers, _)) in &wires {
        let raw_w = raw.wire.get(wname);
        let settings = raw_w.map(|s| s.get_ref());
        let writer_block = wname.split('.').next().unwrap();
        let extra = blocks[index[writer_block]].ports.as_ref().map_or(0, |p| p.extra_loans);
        let policy = settings.and_then(|s| s.policy).unwrap_or(Policy::Latest);
        let max_readers = settings.and_then(|s| s.readers).unwrap_or(readers.len() as u32 + SPARE_READERS);
        let needed = match ty.slot_size() {
            Some(n) => n,
            None => match (ty, dims_of(wname)) {
                (PortType::ImageFrom { .. }, Some((w, h, formats))) => framewire_sdk::block::image_slot(&formats, w, h),
                _ => {
                    problems.push(main.at(
                        0,
                        format!(
                            "cannot size wire {wname}: its image size derives from an input with no sized producer"
                        ),
                        Some("connect the block's input to a producer with a stated size".into()),
                    ));
                    continue;
                }
            },
        };
        let slot_size = settings.and_then(|s| s.slot_bytes).unwrap_or(needed);
        let min_slots = WireConfig::min_slots(policy, max_readers) + extra;
        let slots = settings.and_then(|s| s.slots).unwrap_or(match policy {
            Policy::Latest => min_slots,
            Policy::Queue => 4.max(min_slots),
        });
        let at = raw_w.map_or(0, |s| s.span().start);
        if slot_size < needed {
            problems.push(main.at(
                at,
                format!("wire {wname}: slot_bytes = {slot_size} is smaller than the {needed} bytes its producer needs"),
                Some("remove slot_bytes (framewire sizes slots from the producer), or lower the producer's maximum size".into()),
            ));
        }
        if slots < min_slots {
            problems.push(main.at(
                at,
                format!("wire {wname}: {slots} slots are too few for policy {policy} with {max_readers} readers"),
                Some(format!("use slots = {min_slots} or more")),
            ));
        }
        if (max_readers as usize) < readers.len() {
            problems.push(main.at(
                at,
                format!("wire {wname}: readers = {max_readers} but {} blocks read it", readers.len()),
                Some(format!("use readers = {} or more", readers.len())),
            ));
        }
        let mut config = WireConfig::new(slot_size, slots, max_readers, policy);
        config.kind = ty.kind();
        if raw.pipeline.shm_group_access {
            config.mode = 0o660;
        }
        wire_confs.push(WireConf { name: wname.clone(), readers: readers.clone(), config });
    }
    for (wname, s) in &raw.wire {
        if !wires.contains_key(wname) {
            problems.push(main.at(
                s.span().start,
                format!("settings for wire {wname:?}, which no connection creates"),
                Some(format!(
                    "wires are named after their producer's output (block.port); this pipeline has: {}",
                    wires.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            ));
        }
    }

    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.col));
        return Err(ConfigError { problems });
    }
    let ordered = dependency_order(blocks.into_iter().map(|b| b.conf).collect());
    Ok(Pipeline { name, file: path.to_path_buf(), blocks: ordered, wires: wire_confs })
}

/// Why a producer's port type cannot feed a consumer's, if it cannot.
fn incompatible(w: &PortType, r: &PortType) -> Option<String> {
    match (w, r) {
        (PortType::Msg(a), PortType::Msg(b)) if a != b => {
            Some(format!("produces {} messages but the input takes {} messages", a.name(), b.name()))
        }
        (PortType::Msg(a), PortType::Image { .. }) => {
            Some(format!("produces {} messages but the input takes images", a.name()))
        }
        (PortType::Image { .. }, PortType::Msg(b)) => {
            Some(format!("produces images but the input takes {} messages", b.name()))
        }
        (PortType::ImageFrom { formats: wf, .. }, PortType::Image { formats: rf, .. })
            if !wf.is_empty() && !rf.is_empty() && !wf.iter().any(|f| rf.contains(f)) =>
        {
            let j = |v: &[framewire_sdk::image::FourCC]| v.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("/");
            Some(format!("produces {} images but the input accepts {}", j(wf), j(rf)))
        }
        (PortType::Msg(a), PortType::ImageFrom { .. }) => {
            Some(format!("produces {} messages but the input takes images", a.name()))
        }
        (PortType::ImageFrom { .. }, PortType::Msg(b)) => {
            Some(format!("produces images but the input takes {} messages", b.name()))
        }
        (
            PortType::Image { formats: wf, max_width: ww, max_height: wh },
            PortType::Image { formats: rf, max_width: rw, max_height: rh },
        ) => {
            if !wf.is_empty() && !rf.is_empty() && !wf.iter().any(|f| rf.contains(f)) {
                let j =
                    |v: &[framewire_sdk::image::FourCC]| v.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("/");
                return Some(format!("produces {} images but the input accepts {}", j(wf), j(rf)));
            }
            if ww > rw || wh > rh {
                return Some(format!("produces images up to {ww}x{wh} but the input handles at most {rw}x{rh}"));
            }
            None
        }
        _ => None,
    }
}

/// Blocks ordered so that producers come before consumers (Kahn's
/// algorithm); blocks in a feedback loop keep their file order.
fn dependency_order(blocks: Vec<BlockConf>) -> Vec<BlockConf> {
    let names: BTreeSet<String> = blocks.iter().map(|b| b.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let mut rest = blocks;
    while !rest.is_empty() {
        let ready = rest.iter().position(|b| {
            b.inputs.values().all(|w| {
                let producer = w.split('.').next().unwrap();
                placed.contains(producer) || !names.contains(producer) || producer == b.name
            })
        });
        // A cycle: take the first remaining block in file order.
        let i = ready.unwrap_or(0);
        let b = rest.remove(i);
        placed.insert(b.name.clone());
        out.push(b);
    }
    out
}

/// A hint listing device nodes like the missing one.
pub fn device_hint(missing: &str) -> String {
    let video = missing.contains("video") || missing.contains("v4l") || missing.contains("camera");
    let mut found = Vec::new();
    let dirs: &[(&str, &str)] = if video {
        &[("/dev/v4l/by-id", ""), ("/dev", "video")]
    } else {
        &[("/dev/serial/by-id", ""), ("/dev", "ttyUSB"), ("/dev", "ttyACM"), ("/dev", "ttyAMA"), ("/dev", "ttyTHS")]
    };
    for (dir, prefix) in dirs {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.starts_with(prefix) {
                    found.push(format!("{dir}/{n}"));
                }
            }
        }
    }
    found.sort();
    let kind = if video { "cameras" } else { "serial ports" };
    let mut hint = if found.is_empty() && video {
        format!("no {kind} are present; plug the camera in (`framewire devices` lists what V4L2 sees)")
    } else if found.is_empty() {
        format!(
            "no {kind} are present; plug the device in, or point the path at a simulator (`framewire sim-motor` prints one)"
        )
    } else {
        format!("{kind} present: {}", found.join(", "))
    };
    // Stable names made by framewire's udev rules.
    if missing.starts_with("/dev/framewire/") {
        hint.push_str("; /dev/framewire/... links are made by the udev rules in udev/: install them, or name the device by its /dev/v4l/by-id or /dev/serial/by-id path");
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(name: &str, text: &str) -> Result<Pipeline, ConfigError> {
        let dir = std::env::temp_dir().join(format!("framewire-config-unit-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.toml");
        std::fs::write(&path, text).unwrap();
        let mut reg = framewire_sdk::block::Registry::new();
        framewire_builtin::register(&mut reg).unwrap();
        framewire_filters::blocks::register(&mut reg).unwrap();
        let r = load(&path, &reg);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    /// A block that keeps its input's size and format sits after one that
    /// changes the format: its wire is sized for the nearest upstream
    /// format (RGB24 from `convert`), not the camera's (YUYV).
    #[test]
    fn derived_wires_take_the_nearest_upstream_format() {
        let p = load_text(
            "derived",
            r#"
[pipeline]
connect = ["cam.frames -> rgb.input", "rgb.output -> inv.input", "inv.output -> sink.input"]
[[block]]
name = "cam"
type = "test_pattern"
format = "YUYV"
[[block]]
name = "rgb"
type = "convert"
format = "RGB24"
[[block]]
name = "inv"
type = "flip"
[[block]]
name = "sink"
type = "frame_sink"
"#,
        )
        .unwrap();
        let size = |w: &str| p.wires.iter().find(|c| c.name == w).unwrap().config.slot_size;
        assert_eq!(size("cam.frames"), 640 * 480 * 2);
        assert_eq!(size("rgb.output"), 640 * 480 * 3);
        assert_eq!(size("inv.output"), 640 * 480 * 3);
    }
}
