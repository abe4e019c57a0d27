//! `exec`: any executable as a block. The supervisor runs it directly with
//! its wires' segment names in `FRAMEWIRE_WIRE_<PORT>`; the program maps
//! them using the layout documented in the README ("Wires").

use std::collections::BTreeMap;

use framewire_sdk::block::*;
use framewire_sdk::image::FourCC;
use framewire_sdk::msg;

framewire_sdk::params! {
    /// Parameters of `exec`. `env` and `actuator` are read by the supervisor
    /// and the validator; they are declared here so that they are documented
    /// and typos are caught.
    pub struct Params {
        /// Program and arguments, run in the directory `framewire run` was started in.
        pub command: Vec<String> = required(["python3", "blocks/python/frame_stats.py"]),
        /// Input ports, `{port = type}`: image, image:WxH, image:WxH:FOURCC, or a message type (`framewire messages`).
        pub inputs: BTreeMap<String, String> = BTreeMap::new(),
        /// Output ports, `{port = type}`, the same types.
        pub outputs: BTreeMap<String, String> = BTreeMap::new(),
        /// Extra environment variables, `{NAME = "value"}`.
        pub env: BTreeMap<String, String> = BTreeMap::new(),
        /// Stop this block first on shutdown, and give it time to stop motors (it drives them).
        pub actuator: bool = false,
    }
}

/// Parses a port type as written in `inputs`/`outputs`: `image`,
/// `image:WxH`, `image:WxH:FOURCC`, or a message name.
pub fn parse_port_type(s: &str) -> Result<PortType, String> {
    let mut parts = s.split(':');
    match parts.next().unwrap_or("") {
        "image" => {
            let (mut w, mut h) = (1920, 1080);
            let mut formats = Vec::new();
            if let Some(size) = parts.next() {
                let (a, b) = size.split_once('x').ok_or_else(|| format!("image size {size:?} is not WxH"))?;
                w = a.parse().map_err(|_| format!("bad width in {size:?}"))?;
                h = b.parse().map_err(|_| format!("bad height in {size:?}"))?;
            }
            if let Some(f) = parts.next() {
                formats.push(FourCC::parse(f).ok_or_else(|| format!("unknown pixel format {f:?}"))?);
            }
            Ok(PortType::image(&formats, w, h))
        }
        name => match msg::lookup(name) {
            Some(m) => Ok(PortType::Msg(m.ty)),
            None => {
                let known: Vec<String> = msg::known().iter().map(|m| m.ty.name().to_string()).collect();
                Err(format!(
                    "unknown port type {name:?}; use image, image:WxH, image:WxH:FOURCC or a message type ({})",
                    known.join(", ")
                ))
            }
        },
    }
}

/// The `exec` block type (validation only: the supervisor runs the program).
pub struct Exec;

impl BlockType for Exec {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("exec", "Runs any program as a block; it finds its wires in FRAMEWIRE_WIRE_<PORT>")
    }

    fn ports(p: &Params) -> Result<Ports, String> {
        if p.command.is_empty() {
            return Err("command is empty; give the program and its arguments".into());
        }
        let mut ports = Ports::new();
        // Port names must be 'static for PortDecl; exec ports are few and
        // live for the whole process, so leaking them is bounded.
        for (name, ty) in &p.inputs {
            ports = ports.input(Box::leak(name.clone().into_boxed_str()), parse_port_type(ty)?);
        }
        for (name, ty) in &p.outputs {
            ports = ports.output(Box::leak(name.clone().into_boxed_str()), parse_port_type(ty)?);
        }
        Ok(ports)
    }

    fn open(_: Params, _: &mut Setup) -> Result<Self, BlockError> {
        Err(BlockError::Config("exec blocks are started by the supervisor, not by `framewire block`".into()))
    }

    fn step(&mut self, _: &mut Context) -> Result<Step, BlockError> {
        Ok(Step::Done)
    }
}
