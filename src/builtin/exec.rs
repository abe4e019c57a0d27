//! `exec`: any executable as a block. The supervisor runs it directly with
//! its wires' segment names in `FRAMEWIRE_WIRE_<PORT>`; the program maps
//! them using the layout documented in the README ("Wires").

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::block::*;
use crate::image::FourCC;
use crate::msg::*;

/// Parameters of `exec`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    command: Vec<String>,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
    // `env` and `actuator` are read by the supervisor and the validator from
    // the raw table; they are declared here so that typos are still caught.
    #[serde(default)]
    #[allow(dead_code)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    actuator: bool,
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
        "drive" => Ok(PortType::msg::<DriveCommand>()),
        "wheels" => Ok(PortType::msg::<WheelCommand>()),
        "detection" => Ok(PortType::msg::<Detection>()),
        "odometry" => Ok(PortType::msg::<Odometry>()),
        other => Err(format!(
            "unknown port type {other:?}; use image, image:WxH, image:WxH:FOURCC, drive, wheels, detection or odometry"
        )),
    }
}

/// The `exec` block type (validation only: the supervisor runs the program).
pub struct Exec;

impl BlockType for Exec {
    type Params = Params;

    fn info() -> BlockInfo {
        BlockInfo::new("exec", "Runs any program as a block; it finds its wires in FRAMEWIRE_WIRE_<PORT>")
            .param(
                "command",
                "[string]",
                "required",
                "program and arguments, run in the directory `framewire run` was started in",
            )
            .param(
                "inputs",
                "{port = type}",
                "{}",
                "input ports: image[:WxH[:FOURCC]], drive, wheels, detection, odometry",
            )
            .param("outputs", "{port = type}", "{}", "output ports, same types")
            .param("env", "{NAME = value}", "{}", "extra environment variables")
            .param("actuator", "bool", "false", "stop this block first on shutdown (it drives motors)")
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
