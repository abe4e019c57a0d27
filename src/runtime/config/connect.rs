//! Connections: each `producer.port -> consumer.port`, port types and
//! formats compatible, every required input connected, and the order blocks
//! start in.

use std::collections::{BTreeMap, BTreeSet};

use framewire_sdk::block::PortType;
use toml::Spanned;

use super::blocks::Parsed;
use super::source::Source;
use super::{BlockConf, Problem};

/// A wire as the connections define it: its producer's port type, its
/// readers (`block.port`), and where its first connection was written.
pub(super) struct WirePorts {
    pub ty: PortType,
    pub readers: Vec<String>,
    pub at: usize,
    /// Index of the producing block.
    pub writer: usize,
}

/// Resolves the connections into wires, filling each block's inputs and
/// outputs.
pub(super) fn connect(
    main: &Source,
    connections: &[&Spanned<String>],
    declared: &BTreeSet<String>,
    parsed: &mut [Parsed],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, WirePorts> {
    let index: BTreeMap<String, usize> = parsed.iter().enumerate().map(|(i, b)| (b.conf.name.clone(), i)).collect();
    let mut wires: BTreeMap<String, WirePorts> = BTreeMap::new();
    // Inputs named in connections, even failed ones: no second error saying
    // they are unconnected.
    let mut attempted: BTreeSet<String> = BTreeSet::new();
    for c in connections {
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
                if declared.contains(b) {
                    continue;
                }
                problems.push(main.at(
                    at,
                    format!("connection names unknown block {b:?}"),
                    Some(format!("blocks: {}", index.keys().cloned().collect::<Vec<_>>().join(", "))),
                ));
                continue;
            };
            let Some(ports) = &parsed[bi].ports else { continue };
            let list = if i == 0 { &ports.outputs } else { &ports.inputs };
            match list.iter().find(|d| d.name == p) {
                Some(d) => resolved.push((bi, p.to_string(), d.ty.clone())),
                None => problems.push(main.at(
                    at,
                    format!(
                        "block {b:?} ({}) has no {} port {p:?}",
                        parsed[bi].conf.type_name,
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
                format!("{}.{wp} -> {}.{rp}: {prob}", parsed[wb].conf.name, parsed[rb].conf.name),
                Some("connect ports of the same type, or put a converting block between them".into()),
            ));
            continue;
        }
        let wname = format!("{}.{wp}", parsed[wb].conf.name);
        if let Some(prev) = parsed[rb].conf.inputs.get(&rp) {
            problems.push(main.at(
                at,
                format!("input {}.{rp} is connected twice (also from {prev})", parsed[rb].conf.name),
                Some("an input has exactly one producer".into()),
            ));
            continue;
        }
        parsed[rb].conf.inputs.insert(rp.clone(), wname.clone());
        parsed[wb].conf.outputs.insert(wp.clone(), wname.clone());
        let entry = wires.entry(wname).or_insert(WirePorts { ty: wty, readers: Vec::new(), at, writer: wb });
        entry.readers.push(format!("{}.{rp}", parsed[rb].conf.name));
    }
    for b in parsed.iter() {
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
    wires
}

pub(super) fn incompatible(w: &PortType, r: &PortType) -> Option<String> {
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
            PortType::Image { formats: wf, max_width: ww, max_height: wh, .. },
            PortType::Image { formats: rf, max_width: rw, max_height: rh, .. },
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
pub(super) fn dependency_order(blocks: Vec<BlockConf>) -> Vec<BlockConf> {
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
