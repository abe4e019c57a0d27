//! Pipeline files: parsing and validation before anything starts.
//!
//! Every error names the file, line and column, says what is wrong and what
//! to do. All errors of a file are collected and reported together. Every
//! check that can be made without opening hardware is made here, so that
//! `framewire check` (exit code 2) finds what `framewire run` would fail on.
//!
//! The phases, one module each: [`source`] (files, includes, devices),
//! [`blocks`] (each `[[block]]` table), [`connect`] (connections, port
//! types, start order), [`wires`] (slot sizes, policies, room in
//! `/dev/shm`), with [`checks`] for what needs the machine (device files,
//! programs).

mod blocks;
pub mod checks;
mod connect;
mod source;
mod wires;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;

use framewire_sdk::block::{Registry, Role};
use framewire_wire::{self as wire, WireConfig};

pub use checks::{DeviceClass, device_hint};

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
    /// Restarts allowed within `restart_window` before the pipeline gives up.
    pub max_restarts: u32,
    /// The window `max_restarts` counts restarts in.
    pub restart_window: std::time::Duration,
    /// How long the block may go without a heartbeat before the supervisor
    /// kills and restarts it (`None`: no watchdog).
    pub watchdog: Option<std::time::Duration>,
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

/// Keys of a `[[block]]` table that belong to the runtime, not the block.
pub const RUNTIME_KEYS: &[&str] =
    &["name", "type", "restart", "max_restarts", "restart_window_s", "watchdog_ms", "uses"];

/// Default `watchdog_ms` for framewire's own blocks. A step returns within
/// about a tick (100 ms), so 5 s of silence means a stopped or stuck block.
/// `exec` blocks have none unless set: a foreign program heartbeats only if
/// it writes its state segment (see `framewire_sdk::state`).
pub const DEFAULT_WATCHDOG_MS: u64 = 5000;

/// Default `restart_window_s`.
pub const DEFAULT_RESTART_WINDOW_S: u64 = 60;

/// Default readers per wire beyond the connected ones, so that tools
/// (`framewire status` taps, recorders) and restarting readers find room.
pub const SPARE_READERS: u32 = 1;

/// Reads and validates pipeline `path` against the block types in `reg`.
pub fn load(path: &Path, reg: &Registry) -> Result<Pipeline, ConfigError> {
    let (main, raw) = source::Source::read(path).map_err(|p| ConfigError { problems: vec![p] })?;
    let main = Rc::new(main);
    let mut problems = Vec::new();
    let devices = source::devices(&main, &raw, &mut problems);
    let section = raw.pipeline.as_ref().map(|p| p.get_ref());
    let name = match section.and_then(|s| s.name.as_ref()) {
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
    let (mut parsed, declared) = blocks::parse_all(&main, &raw, reg, &devices, &mut problems);
    let connections: Vec<_> = raw.connect.iter().chain(section.map(|s| s.connect.as_slice()).unwrap_or(&[])).collect();
    let wire_ports = connect::connect(&main, &connections, &declared, &mut parsed, &mut problems);
    let group_access = section.is_some_and(|s| s.shm_group_access);
    let wire_confs = wires::settle(&main, &raw, &name, &wire_ports, &parsed, reg, group_access, &mut problems);
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        return Err(ConfigError { problems });
    }
    let ordered = connect::dependency_order(parsed.into_iter().map(|b| b.conf).collect());
    Ok(Pipeline { name, file: path.to_path_buf(), blocks: ordered, wires: wire_confs })
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
