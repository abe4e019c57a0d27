//! Wires: slot sizes (from the producer's stated size, or followed upstream
//! for a filter that keeps its input's size), policies, slot and reader
//! counts, and whether `/dev/shm` has room for them all.

use std::collections::BTreeMap;

use framewire_sdk::block::{PortType, Registry};
use framewire_sdk::image::FourCC;
use framewire_wire::layout::Geometry;
use framewire_wire::{Policy, WireConfig};

use super::blocks::Parsed;
use super::connect::WirePorts;
use super::source::{RawFile, Source};
use super::{Problem, SPARE_READERS, WireConf};

/// Most readers a wire can have (the wire's own limit).
pub const MAX_READERS: u32 = 1024;

/// Where a derived image size comes from, or why it cannot be found.
enum Dims {
    Found(u32, u32, Vec<FourCC>),
    /// No producer upstream states a size.
    Unsized,
    /// The chain of "same size as my input" loops back: these wires.
    Cycle(Vec<String>),
}

/// Follows a chain of blocks that keep their input's size upstream to the
/// first producer that states one. The format comes from the nearest block
/// on the way that states one (a `convert` between the camera and this
/// block changes it).
fn dims_of(start: &str, wires: &BTreeMap<String, WirePorts>, parsed: &[Parsed]) -> Dims {
    let mut w = start.to_string();
    let mut nearest: Option<Vec<FourCC>> = None;
    let mut path: Vec<String> = Vec::new();
    loop {
        if path.contains(&w) {
            let from = path.iter().position(|p| *p == w).unwrap_or(0);
            let mut cycle = path[from..].to_vec();
            cycle.push(w);
            return Dims::Cycle(cycle);
        }
        path.push(w.clone());
        let Some(wp) = wires.get(&w) else { return Dims::Unsized };
        match &wp.ty {
            PortType::Image { formats, max_width, max_height, .. } => {
                return Dims::Found(*max_width, *max_height, nearest.unwrap_or_else(|| formats.clone()));
            }
            PortType::ImageFrom { input, formats } => {
                if nearest.is_none() && !formats.is_empty() {
                    nearest = Some(formats.clone());
                }
                match parsed[wp.writer].conf.inputs.get(*input) {
                    Some(up) => w = up.clone(),
                    None => return Dims::Unsized,
                }
            }
            PortType::Msg(_) => return Dims::Unsized,
        }
    }
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |v| v as u64)
}

/// Sizes and configures every wire; checks counts and `/dev/shm`'s room.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle(
    main: &Source,
    raw: &RawFile,
    pipeline: &str,
    wires: &BTreeMap<String, WirePorts>,
    parsed: &[Parsed],
    reg: &Registry,
    group_access: bool,
    problems: &mut Vec<Problem>,
) -> Vec<WireConf> {
    let _ = reg;
    let index: BTreeMap<&str, usize> = parsed.iter().enumerate().map(|(i, b)| (b.conf.name.as_str(), i)).collect();
    let mut out = Vec::new();
    let mut cycles_reported: Vec<Vec<String>> = Vec::new();
    for (wname, wp) in wires {
        let raw_w = raw.wire.get(wname);
        let settings = raw_w.map(|s| s.get_ref());
        let at = raw_w.map_or(wp.at, |s| s.span().start);
        let writer_block = wname.split('.').next().unwrap_or("");
        let extra = index.get(writer_block).and_then(|&i| parsed[i].ports.as_ref()).map_or(0, |p| p.extra_loans);
        let policy = settings.and_then(|s| s.policy).unwrap_or(Policy::Latest);
        let max_readers = settings.and_then(|s| s.readers).unwrap_or(wp.readers.len() as u32 + SPARE_READERS);
        let needed = match wp.ty.slot_size() {
            Some(n) => n,
            None => match dims_of(wname, wires, parsed) {
                Dims::Found(w, h, formats) => framewire_sdk::block::image_slot(&formats, w, h),
                Dims::Cycle(cycle) => {
                    let mut key = cycle.clone();
                    key.sort();
                    key.dedup();
                    if !cycles_reported.contains(&key) {
                        cycles_reported.push(key);
                        problems.push(main.at(
                            wp.at,
                            format!(
                                "image size cycle: {} each keep their input's size, so none of them has one",
                                cycle.join(" <- ")
                            ),
                            Some("break the cycle, or put a block that states a size (resize, a camera) in it".into()),
                        ));
                    }
                    continue;
                }
                Dims::Unsized => {
                    problems.push(main.at(
                        wp.at,
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
        if slot_size < needed {
            problems.push(main.at(
                at,
                format!("wire {wname}: slot_bytes = {slot_size} is smaller than the {needed} bytes its producer needs"),
                Some("remove slot_bytes (framewire sizes slots from the producer), or lower the producer's maximum size".into()),
            ));
        }
        if max_readers == 0 || max_readers > MAX_READERS {
            problems.push(main.at(
                at,
                format!("wire {wname}: readers = {max_readers} is out of range"),
                Some(format!("a wire has 1 to {MAX_READERS} readers")),
            ));
            continue;
        }
        if slots < min_slots {
            problems.push(main.at(
                at,
                format!("wire {wname}: {slots} slots are too few for policy {policy} with {max_readers} readers"),
                Some(format!("use slots = {min_slots} or more")),
            ));
        }
        if (max_readers as usize) < wp.readers.len() {
            problems.push(main.at(
                at,
                format!("wire {wname}: readers = {max_readers} but {} blocks read it", wp.readers.len()),
                Some(format!("use readers = {} or more", wp.readers.len())),
            ));
        }
        let mut config = WireConfig::new(slot_size, slots, max_readers, policy);
        config.kind = wp.ty.kind();
        if group_access {
            config.mode = 0o660;
        }
        out.push(WireConf { name: wname.clone(), readers: wp.readers.clone(), config });
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
    check_room(main, pipeline, &out, parsed.len(), wires, problems);
    check_min_sizes(main, wires, parsed, problems);
    out
}

/// The largest images wire `wname` carries, if its producer states a size
/// (directly, or upstream through blocks that keep their input's size).
fn carried_size(wname: &str, wires: &BTreeMap<String, WirePorts>, parsed: &[Parsed]) -> Option<(u32, u32)> {
    let (w, h) = match &wires.get(wname)?.ty {
        PortType::Image { max_width, max_height, .. } => (*max_width, *max_height),
        PortType::ImageFrom { .. } => match dims_of(wname, wires, parsed) {
            Dims::Found(w, h, _) => (w, h),
            Dims::Unsized | Dims::Cycle(_) => return None,
        },
        PortType::Msg(_) => return None,
    };
    // A producer of any size (an `exec` block, a camera left to choose)
    // may well deliver large enough images: only run time can tell.
    (w != u32::MAX && h != u32::MAX).then_some((w, h))
}

/// Refuses a wire whose producer's images are smaller than a reader's
/// input needs (a crop's region of interest outside the image): the
/// reader would fail on its first frame.
fn check_min_sizes(main: &Source, wires: &BTreeMap<String, WirePorts>, parsed: &[Parsed], problems: &mut Vec<Problem>) {
    let index: BTreeMap<&str, usize> = parsed.iter().enumerate().map(|(i, b)| (b.conf.name.as_str(), i)).collect();
    for (wname, wp) in wires {
        let Some((w, h)) = carried_size(wname, wires, parsed) else { continue };
        for reader in &wp.readers {
            let Some((rb, rp)) = reader.split_once('.') else { continue };
            let Some(&ri) = index.get(rb) else { continue };
            let b = &parsed[ri];
            let Some(ports) = &b.ports else { continue };
            let Some(PortType::Image { min: Some(m), .. }) = ports.inputs.iter().find(|d| d.name == rp).map(|d| &d.ty)
            else {
                continue;
            };
            let (wide, tall) = (m.width > w, m.height > h);
            if !wide && !tall {
                continue;
            }
            // Point at the parameter that makes the need too large: the
            // first key of the failing dimension the block's table sets.
            let from = if wide { m.width_from } else { m.height_from };
            let at = framewire_sdk::block::MinSize::keys(from).find_map(|k| b.keys.get(k).copied()).unwrap_or(b.at);
            let mut over = Vec::new();
            if wide {
                over.push(format!("{} = {} exceeds the width {w}", m.width_from, m.width));
            }
            if tall {
                over.push(format!("{} = {} exceeds the height {h}", m.height_from, m.height));
            }
            let mut fix = Vec::new();
            if wide {
                fix.push(format!("{} at most {w}", m.width_from));
            }
            if tall {
                fix.push(format!("{} at most {h}", m.height_from));
            }
            let writer = wname.split('.').next().unwrap_or(wname);
            problems.push(main.at(
                at,
                format!(
                    "block {rb:?} ({}) needs images of at least {}x{} on {reader}, but wire {wname} carries images of at most {w}x{h}: {}",
                    b.conf.type_name,
                    m.width,
                    m.height,
                    over.join(" and ")
                ),
                Some(format!("make {} (the size of {writer}'s images), or give {writer} larger images", fix.join(" and "))),
            ));
        }
    }
}

/// Every segment is reserved whole when the pipeline starts
/// (`posix_fallocate`): refuse now what would fail then.
fn check_room(
    main: &Source,
    pipeline: &str,
    confs: &[WireConf],
    blocks: usize,
    wires: &BTreeMap<String, WirePorts>,
    problems: &mut Vec<Problem>,
) {
    let page = page_size();
    let sizes: Vec<(u64, &WireConf)> = confs
        .iter()
        .map(|w| {
            let c = &w.config;
            // A layout too large for this machine counts as endless room.
            (Geometry::new(c.slot_size, c.slot_count, c.max_readers, page).map_or(u64::MAX, |g| g.total_size), w)
        })
        .collect();
    let total: u64 = sizes
        .iter()
        .fold(0u64, |t, (s, _)| t.saturating_add(*s))
        .saturating_add(blocks as u64 * framewire_sdk::state::SIZE + page);
    let Ok(free) = framewire_sys::shm::free_space() else { return };
    // This pipeline's own segments from an earlier run are removed before
    // it starts, so their space counts as free.
    let prefix = framewire_wire::prefix();
    let own: u64 = framewire_sys::shm::list(&format!("{prefix}.{pipeline}."), framewire_sys::shm::current_uid())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| std::fs::metadata(format!("/dev/shm/{n}")).ok())
        .map(|m| m.len())
        .sum();
    if total <= free + own {
        return;
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let (biggest, w) = sizes.iter().max_by_key(|(s, _)| *s).map(|(s, w)| (*s, *w)).unwrap_or((0, &confs[0]));
    problems.push(main.at(
        wires.get(&w.name).map_or(0, |wp| wp.at),
        format!(
            "the wires need {:.1} MiB of /dev/shm but only {:.1} MiB are free (the largest, {}, is {} slots of {} bytes: {:.1} MiB)",
            mib(total),
            mib(free + own),
            w.name,
            w.config.slot_count,
            w.config.slot_size,
            mib(biggest)
        ),
        Some(
            "make /dev/shm larger (a container's default is 64 MiB: `docker run --shm-size=1g`, or `mount -o remount,size=1G /dev/shm`), or use smaller images or fewer slots"
                .into(),
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer that states its size is checked against its readers'
    /// needs; one of unknown size (`u32::MAX`) is not: it may well deliver
    /// large enough images, which only run time can tell.
    #[test]
    fn only_stated_sizes_are_carried() {
        let wire = |ty: PortType| WirePorts { ty, readers: vec!["roi.input".into()], at: 0, writer: 0 };
        let mut wires = BTreeMap::new();
        wires.insert("cam.frames".to_string(), wire(PortType::image(&[FourCC::GREY], 64, 48)));
        wires.insert("any.frames".to_string(), wire(PortType::image_any()));
        wires.insert("tall.frames".to_string(), wire(PortType::image(&[FourCC::GREY], 64, u32::MAX)));
        assert_eq!(carried_size("cam.frames", &wires, &[]), Some((64, 48)));
        assert_eq!(carried_size("any.frames", &wires, &[]), None);
        assert_eq!(carried_size("tall.frames", &wires, &[]), None);
        assert_eq!(carried_size("nothing.frames", &wires, &[]), None);
    }
}
