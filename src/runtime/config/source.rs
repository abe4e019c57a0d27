//! Reading pipeline files: the raw TOML structure with spans, turning byte
//! offsets into file:line:column, and the `[devices]` tables of included
//! files (with where each key was written, so an error in a device table
//! points into the file that holds it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;
use toml::Spanned;

use super::Problem;
use framewire_wire::Policy;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPipelineSection {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    #[serde(default)]
    pub connect: Vec<Spanned<String>>,
    #[serde(default)]
    pub shm_group_access: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWire {
    pub policy: Option<Policy>,
    pub slots: Option<u32>,
    pub readers: Option<u32>,
    pub slot_bytes: Option<u64>,
}

/// A TOML table with the span of every key and value.
pub(super) type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub pipeline: Option<Spanned<RawPipelineSection>>,
    #[serde(default)]
    pub connect: Vec<Spanned<String>>,
    #[serde(default)]
    pub block: Vec<Spanned<RawTable>>,
    #[serde(default)]
    pub wire: BTreeMap<String, Spanned<RawWire>>,
    #[serde(default)]
    pub devices: BTreeMap<Spanned<String>, Spanned<RawTable>>,
}

/// The source text of one file, for turning byte offsets into lines.
pub(super) struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    /// A problem at byte `offset` of this file.
    pub fn at(&self, offset: usize, message: impl Into<String>, help: Option<String>) -> Problem {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        Problem { file: self.path.clone(), line, col, message: message.into(), help }
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<(Source, RawFile), Problem> {
        let text = std::fs::read_to_string(path).map_err(|e| Problem {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read pipeline file: {}", io_text(&e)),
            help: Some("check the path; pipelines live in config/".into()),
        })?;
        let src = Source { path: path.to_path_buf(), text };
        let raw: RawFile = toml::from_str(&src.text)
            .map_err(|e| src.at(e.span().map_or(0, |s| s.start), e.message().trim().to_string(), None))?;
        Ok((src, raw))
    }
}

/// An I/O error as a sentence, without Rust's "(os error N)" suffix.
pub(super) fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// One `[devices.NAME]` table: its keys, and where each was written.
pub(super) struct Device {
    pub table: toml::Table,
    pub key_at: BTreeMap<String, usize>,
    pub src: Rc<Source>,
}

/// Reads the `[devices]` tables of `main` and of the files it includes
/// (the pipeline's own override included ones). Included files hold
/// devices only: anything else in them is reported, not silently ignored.
pub(super) fn devices(main: &Rc<Source>, raw: &RawFile, problems: &mut Vec<Problem>) -> BTreeMap<String, Device> {
    let mut out = BTreeMap::new();
    let includes = raw.pipeline.as_ref().map(|p| p.get_ref().include.as_slice()).unwrap_or(&[]);
    for inc in includes {
        let ipath = main.path.parent().unwrap_or(Path::new(".")).join(inc.get_ref());
        let (isrc, iraw) = match Source::read(&ipath) {
            Ok(r) => r,
            Err(mut p) if p.line == 0 => {
                // Unreadable: say so at the include line of the pipeline.
                p = main.at(
                    inc.span().start,
                    format!(
                        "cannot read included file {}: {}",
                        ipath.display(),
                        p.message.trim_start_matches("cannot read pipeline file: ")
                    ),
                    Some("include paths are relative to the pipeline file".into()),
                );
                problems.push(p);
                continue;
            }
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let isrc = Rc::new(isrc);
        let not_here = "an included file holds [devices.NAME] tables only; move this to the pipeline file";
        if let Some(b) = iraw.block.first() {
            problems.push(isrc.at(
                b.span().start,
                format!(
                    "[[block]] in included file {} is not used (included by {})",
                    ipath.display(),
                    main.path.display()
                ),
                Some(not_here.into()),
            ));
        }
        if let Some(c) = iraw.connect.first() {
            problems.push(isrc.at(
                c.span().start,
                "connections in an included file are not used",
                Some(not_here.into()),
            ));
        }
        if let Some((_, w)) = iraw.wire.iter().next() {
            problems.push(isrc.at(
                w.span().start,
                "[wire] settings in an included file are not used",
                Some(not_here.into()),
            ));
        }
        if let Some(p) = &iraw.pipeline {
            problems.push(isrc.at(
                p.span().start,
                "a [pipeline] table in an included file is not used",
                Some(not_here.into()),
            ));
        }
        add_devices(&mut out, &iraw, &isrc);
    }
    add_devices(&mut out, raw, main);
    out
}

fn add_devices(out: &mut BTreeMap<String, Device>, raw: &RawFile, src: &Rc<Source>) {
    for (name, t) in &raw.devices {
        let table: toml::Table = t.get_ref().iter().map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone())).collect();
        let key_at = t.get_ref().keys().map(|k| (k.get_ref().clone(), k.span().start)).collect();
        out.insert(name.get_ref().clone(), Device { table, key_at, src: src.clone() });
    }
}
