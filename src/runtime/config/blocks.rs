//! Each `[[block]]` table: name, type, runtime keys, the device it uses,
//! and its parameters checked by the block type itself.

use std::collections::BTreeMap;
use std::path::Path;

use framewire_sdk::block::{Ports, Registry, Role};
use framewire_wire as wire;

use super::checks::{self, DeviceClass};
use super::source::{Device, RawFile, Source};
use super::{BlockConf, DEFAULT_RESTART_WINDOW_S, DEFAULT_WATCHDOG_MS, Problem, RUNTIME_KEYS, Restart};

/// A block as validation sees it.
pub(super) struct Parsed {
    pub conf: BlockConf,
    /// Its ports, if its parameters were valid.
    pub ports: Option<Ports>,
    /// Where its `[[block]]` table starts.
    pub at: usize,
    /// Where each key of its own table was written (keys from a device
    /// table it uses are not here).
    pub keys: BTreeMap<String, usize>,
}

/// Parses every `[[block]]` of the file.
/// Parses every `[[block]]` of the file; also returns the names of all
/// declared blocks, those with errors included.
pub(super) fn parse_all(
    main: &Source,
    raw: &RawFile,
    reg: &Registry,
    devices: &BTreeMap<String, Device>,
    problems: &mut Vec<Problem>,
) -> (Vec<Parsed>, std::collections::BTreeSet<String>) {
    let mut out: Vec<Parsed> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let provided = provided_devices(raw, reg, devices);
    for b in &raw.block {
        if let Some(p) = parse_one(main, b.get_ref(), b.span().start, reg, devices, &provided, &mut seen, problems) {
            out.push(p);
        }
    }
    (out, seen.into_keys().collect())
}

/// Device paths that blocks of this pipeline create when they start (a
/// simulated controller's pseudo-terminal, `BlockInfo::provides_device`):
/// other blocks may name them before they exist.
fn provided_devices(
    raw: &RawFile,
    reg: &Registry,
    devices: &BTreeMap<String, Device>,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for b in &raw.block {
        let t = b.get_ref();
        let get = |k: &str| t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v.get_ref());
        let Some(spec) = get("type").and_then(|v| v.as_str()).and_then(|n| reg.get(n)) else { continue };
        let used = get("uses").and_then(|v| v.as_str()).and_then(|d| devices.get(d));
        for p in (spec.info)().provides {
            let v = get(p).or_else(|| used.and_then(|d| d.table.get(p)));
            if let Some(path) = v.and_then(|v| v.as_str()) {
                out.insert(path.to_string());
            }
        }
    }
    out
}

// The file, the registry, the devices and what the other blocks create are
// each needed here, as in `wires::settle`.
#[allow(clippy::too_many_arguments)]
fn parse_one(
    main: &Source,
    table: &super::source::RawTable,
    start: usize,
    reg: &Registry,
    devices: &BTreeMap<String, Device>,
    provided: &std::collections::BTreeSet<String>,
    seen: &mut BTreeMap<String, usize>,
    problems: &mut Vec<Problem>,
) -> Option<Parsed> {
    let get = |k: &str| table.iter().find(|(key, _)| key.get_ref() == k).map(|(key, v)| (key.span().start, v));
    let keys: BTreeMap<String, usize> = table.keys().map(|k| (k.get_ref().clone(), k.span().start)).collect();
    let Some((_, name_v)) = get("name") else {
        problems.push(main.at(start, "block without a name", Some("add `name = \"...\"` to this [[block]]".into())));
        return None;
    };
    let Some(bname) = name_v.get_ref().as_str().map(str::to_string) else {
        problems.push(main.at(name_v.span().start, "block name must be a string", None));
        return None;
    };
    if let Err(e) = wire::check_component("block", &bname) {
        problems.push(main.at(name_v.span().start, e.to_string(), None));
        return None;
    }
    if let Some(prev) = seen.insert(bname.clone(), name_v.span().start) {
        let p = main.at(prev, "", None);
        problems.push(main.at(
            name_v.span().start,
            format!("duplicate block name {bname:?} (first defined at line {})", p.line),
            Some("give every block a unique name".into()),
        ));
        return None;
    }
    let Some((_, type_v)) = get("type") else {
        problems.push(main.at(
            start,
            format!("block {bname:?} has no type"),
            Some(format!("add `type = \"...\"`; known types: {}", reg.names().join(", "))),
        ));
        return None;
    };
    let tname = type_v.get_ref().as_str().unwrap_or("").to_string();
    let Some(spec) = reg.get(&tname) else {
        let near = framewire_sdk::params::nearest(&tname, &reg.names()).map(|n| format!("; did you mean {n:?}?"));
        problems.push(main.at(
            type_v.span().start,
            format!("unknown block type {tname:?} for block {bname:?}{}", near.unwrap_or_default()),
            Some(format!("known types: {} (`framewire blocks` describes them)", reg.names().join(", "))),
        ));
        return None;
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
    let mut whole = |key: &str, default: u64, max: u64, what: &str| match get(key) {
        None => default,
        Some((_, v)) => match v.get_ref().as_integer() {
            Some(n) if (0..=max as i64).contains(&n) => n as u64,
            _ => {
                problems.push(main.at(
                    v.span().start,
                    format!("{key} of block {bname:?} must be a whole number from 0 to {max}, not {}", v.get_ref()),
                    Some(what.to_string()),
                ));
                default
            }
        },
    };
    let max_restarts =
        whole("max_restarts", 5, 1_000_000, "restarts allowed within restart_window_s (default 5)") as u32;
    let restart_window = std::time::Duration::from_secs(whole(
        "restart_window_s",
        DEFAULT_RESTART_WINDOW_S,
        7 * 24 * 3600,
        "seconds within which max_restarts restarts are allowed (default 60)",
    ));
    let default_watchdog = if tname == "exec" { 0 } else { DEFAULT_WATCHDOG_MS };
    let watchdog_ms = whole(
        "watchdog_ms",
        default_watchdog,
        3_600_000,
        "milliseconds without a heartbeat before the block is restarted (0 = no watchdog)",
    );
    let watchdog = (watchdog_ms > 0).then(|| std::time::Duration::from_millis(watchdog_ms.max(200)));

    // Parameters: the device's keys, then the block's own (which win).
    let mut params = toml::Table::new();
    let mut device: Option<(&str, &Device)> = None;
    if let Some((_, u)) = get("uses") {
        let dev = u.get_ref().as_str().unwrap_or("");
        match devices.get_key_value(dev) {
            Some((k, d)) => {
                params.extend(d.table.clone());
                device = Some((k.as_str(), d));
            }
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
    // Where a key was written: in this block, or in the device it uses
    // (an error there belongs to the devices file, not the pipeline).
    let locate = |key: &str| -> Locus<'_> {
        if let Some(&at) = keys.get(key) {
            return Locus { src: main, at, via: String::new() };
        }
        if let Some((dname, d)) = device
            && let Some(&at) = d.key_at.get(key)
        {
            return Locus { src: &d.src, at, via: format!(" (in device {dname:?}, used by block {bname:?})") };
        }
        Locus { src: main, at: start, via: String::new() }
    };
    let names: Vec<&'static str> = info.params.iter().map(|p| p.name).collect();
    let ports = match (spec.ports)(&params) {
        Ok(p) => Some(p),
        Err(e) => {
            // `params!` reports an unknown key as the error's key; serde
            // structs say "unknown field `x`".
            let unknown = if e.message.starts_with("unknown parameter") {
                e.key.clone()
            } else {
                e.message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string)
            };
            let key = e
                .key
                .as_deref()
                .and_then(|k| k.split(['.', '[']).next())
                .map(str::to_string)
                .or_else(|| checks::key_in_message(&e.message, names.iter().copied()).map(str::to_string));
            let loc = locate(unknown.as_deref().or(key.as_deref()).unwrap_or(""));
            let msg = match (&unknown, &key) {
                (Some(u), _) => {
                    let near = framewire_sdk::params::nearest(u, &names)
                        .map(|n| format!("; did you mean {n:?}?"))
                        .unwrap_or_default();
                    format!("unknown parameter {u:?} for block {bname:?} (type {tname}){near}{}", loc.via)
                }
                (None, Some(k)) => format!("parameter {k:?} of block {bname:?}{}: {}", loc.via, e.message),
                (None, None) => format!("block {bname:?}: {}", e.message),
            };
            let mut valid = names.clone();
            valid.extend(RUNTIME_KEYS);
            problems.push(loc.src.at(loc.at, msg, Some(format!("valid parameters: {}", valid.join(", ")))));
            None
        }
    };
    // Device files named by parameters must exist and be the right kind,
    // unless a block of this pipeline creates them when it starts.
    let role = if tname == "exec" && params.get("actuator").and_then(|v| v.as_bool()) == Some(true) {
        Role::Actuator
    } else {
        info.role
    };
    for p in info.params.iter().filter(|p| p.device) {
        if let Some(v) = params.get(p.name).and_then(|v| v.as_str())
            && !provided.contains(v)
        {
            let class = device_class(&p.ty, &tname, role);
            if let Err((msg, help)) = checks::check_device(v, class) {
                let loc = locate(p.name);
                problems.push(loc.src.at(loc.at, format!("block {bname:?}: {msg}{}", loc.via), Some(help)));
            }
        }
    }
    if tname == "exec"
        && let Some(prog) =
            params.get("command").and_then(|v| v.as_array()).and_then(|a| a.first()).and_then(|v| v.as_str())
    {
        let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").into());
        if let Err(msg) = checks::find_program(prog, &cwd) {
            let loc = locate("command");
            problems.push(loc.src.at(loc.at, format!("exec block {bname:?}: {msg}"), None));
        }
    }
    Some(Parsed {
        conf: BlockConf {
            name: bname,
            type_name: tname,
            params,
            restart,
            max_restarts,
            restart_window,
            watchdog,
            role,
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
        },
        ports,
        at: start,
        keys,
    })
}

/// Where a key was written, for its error.
struct Locus<'a> {
    src: &'a Source,
    at: usize,
    /// " (in device ...)" when it came from a device table.
    via: String,
}

/// The kind of device a parameter names: from its declared type, or, for
/// parameters documented by hand, from the block's role (a motor driver's
/// port is a serial port).
fn device_class(ty: &str, type_name: &str, role: Role) -> DeviceClass {
    match ty {
        "serial port" => DeviceClass::Tty,
        "video device" => DeviceClass::Video,
        _ if type_name == "camera" => DeviceClass::Video,
        _ if role == Role::Actuator => DeviceClass::Tty,
        _ => DeviceClass::Any,
    }
}
