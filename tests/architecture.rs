//! The layering `src/ARCHITECTURE.md` promises, checked: which framewire
//! crates each crate may depend on, which crates may contain `unsafe` at all,
//! and that every `unsafe` block in those says why it is sound.
//!
//! These are the rules a reviewer would otherwise have to remember; a change
//! that breaks one fails here with the rule it broke.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every workspace member: (package name, directory).
fn members() -> Vec<(String, PathBuf)> {
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let ws = manifest["workspace"].as_table().unwrap();
    let mut out = vec![("framewire".to_string(), root())];
    for m in ws["members"].as_array().unwrap() {
        let dir = root().join(m.as_str().unwrap());
        let t: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        out.push((t["package"]["name"].as_str().unwrap().to_string(), dir));
    }
    out
}

fn framewire_deps(dir: &Path, section: &str) -> Vec<String> {
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
    let mut v: Vec<String> = t
        .get(section)
        .and_then(|d| d.as_table())
        .map(|d| d.keys().filter(|k| k.starts_with("framewire")).cloned().collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// What each crate may depend on among framewire's crates (normal
/// dependencies). The root package and the benchmarks may use anything.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("framewire-sys", &[][..]),
        ("framewire-wire", &["framewire-sys"][..]),
        ("framewire-sdk", &["framewire-sys", "framewire-wire"][..]),
        ("framewire-builtin", &["framewire-sdk"][..]),
        ("framewire-user-blocks", &["framewire-sdk"][..]),
        ("framewire-control", &["framewire-sdk"][..]),
        ("framewire-camera", &["framewire-sdk", "framewire-sys", "framewire-wire"][..]),
        ("framewire-filters", &["framewire-sdk"][..]),
        ("framewire-motor", &["framewire-sdk", "framewire-wire"][..]),
        ("framewire-world", &["framewire-motor", "framewire-sdk"][..]),
        ("framewire-runtime", &["framewire-sdk", "framewire-sys", "framewire-wire"][..]),
        ("framewire-ros", &["framewire-sdk"][..]),
        ("framewire-record", &["framewire-ros", "framewire-sdk", "framewire-wire"][..]),
        ("framewire-bridge", &["framewire-ros", "framewire-sdk"][..]),
        ("framewire-viewer", &["framewire-filters", "framewire-sdk", "framewire-sys", "framewire-wire"][..]),
    ])
}

#[test]
fn crates_depend_only_on_the_layers_below_them() {
    let allowed = allowed();
    let mut problems = Vec::new();
    for (name, dir) in members() {
        // The command, the benchmarks and the setup tools sit on top of everything.
        if name == "framewire" || name == "framewire-bench" || name == "framewire-setup" {
            continue;
        }
        let Some(ok) = allowed.get(name.as_str()) else {
            problems.push(format!("{name}: not in tests/architecture.rs's table; add it with what it may depend on"));
            continue;
        };
        for d in framewire_deps(&dir, "dependencies") {
            if !ok.contains(&d.as_str()) {
                problems.push(format!("{name} depends on {d}, which src/ARCHITECTURE.md does not allow"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Crates that may contain `unsafe`, and why. Every other crate's root
/// file must say `#![forbid(unsafe_code)]`.
const UNSAFE_ALLOWED: &[(&str, &str)] = &[
    ("framewire-sys", "the OS layer: libc, mmap, semaphores, ioctls"),
    ("framewire-wire", "hands out a loaned or pinned slot's bytes"),
    ("framewire-filters", "SIMD kernels and their run-time dispatch"),
    ("framewire-camera", "one site: a reserved wire slot handed to the V4L2 driver (#![deny] elsewhere)"),
];

fn lib_root(dir: &Path) -> PathBuf {
    for p in ["lib.rs", "src/lib.rs"] {
        if dir.join(p).exists() {
            return dir.join(p);
        }
    }
    panic!("no lib.rs in {}", dir.display())
}

#[test]
fn unsafe_code_is_forbidden_outside_the_crates_that_need_it() {
    let mut problems = Vec::new();
    for (name, dir) in members() {
        let root = std::fs::read_to_string(lib_root(&dir)).unwrap();
        let allowed = UNSAFE_ALLOWED.iter().any(|(n, _)| *n == name);
        if !allowed && !root.contains("#![forbid(unsafe_code)]") {
            problems.push(format!("{name}: its lib.rs lacks #![forbid(unsafe_code)]"));
        }
        if name == "framewire-camera" && !root.contains("#![deny(unsafe_code)]") {
            problems.push(format!("{name}: its lib.rs lacks #![deny(unsafe_code)]"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let skip = p.file_name().is_some_and(|n| n == "target" || n == "fuzz");
        if p.is_dir() && !skip && !p.join("Cargo.toml").exists() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `unsafe` block, `unsafe impl` and call site in the crates that may
/// have them carries a `// SAFETY:` comment just above it (ripgrep's
/// habit), and every `unsafe fn` documents its contract under `# Safety`.
#[test]
fn every_unsafe_block_says_why_it_is_sound() {
    let mut problems = Vec::new();
    for (name, dir) in members() {
        if !UNSAFE_ALLOWED.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if !code.contains("unsafe") || code.contains("unsafe_code") || code.contains("unsafe_op_in_unsafe_fn") {
                    continue;
                }
                // A function pointer type (`unsafe fn(...)`) declares nothing unsafe.
                if code.contains("unsafe fn(") {
                    continue;
                }
                let window = &lines[i.saturating_sub(12)..i];
                let documented = if code.contains("unsafe fn") {
                    window.iter().any(|l| l.contains("# Safety") || l.contains("SAFETY"))
                } else if code.contains("unsafe extern") || code.contains("#[target_feature") {
                    true
                } else {
                    window.iter().chain(std::iter::once(line)).any(|l| l.contains("SAFETY:"))
                };
                if !documented {
                    problems.push(format!("{}:{}: `unsafe` without a SAFETY comment above it", f.display(), i + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The user's blocks see the SDK alone: `blocks/` may add crates of its
/// own, but no framewire crate other than `framewire-sdk`.
#[test]
fn user_blocks_depend_on_the_sdk_alone() {
    let deps = framewire_deps(&root().join("blocks"), "dependencies");
    assert_eq!(deps, ["framewire-sdk"], "blocks/Cargo.toml");
}

/// Every crate's root file opens with what it is for and what it may
/// depend on, as `src/ARCHITECTURE.md` asks.
#[test]
fn every_crate_says_what_it_is_for_and_may_depend_on() {
    let mut problems = Vec::new();
    for (name, dir) in members() {
        let root = std::fs::read_to_string(lib_root(&dir)).unwrap();
        if !root.starts_with("//!") {
            problems.push(format!("{name}: lib.rs does not open with a //! comment"));
        }
        if !root.contains("May depend on") {
            problems.push(format!("{name}: lib.rs does not say what it may depend on"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
