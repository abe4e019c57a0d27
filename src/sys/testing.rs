//! Test support shared by every crate's tests: saying visibly that a test
//! could not run here.
//!
//! libtest captures what a passing test prints with `eprintln!`, so a skip
//! reported that way looks exactly like a pass. [`skip`] writes straight to
//! the process's stderr (past the capture), appends the line to the file
//! named by `FRAMEWIRE_SKIP_LOG` (CI counts and lists them at the end), and
//! turns the skip into a failure when `FRAMEWIRE_REQUIRE` names the missing
//! requirement (CI sets it for what it installs, so a test that must run
//! cannot quietly stop running).

use std::io::Write;

/// Reports that `test` cannot run here because `requirement` (`vm`,
/// `opencv`, `root`, `gcc`, ...) is missing, for `reason`. Panics instead
/// if `FRAMEWIRE_REQUIRE` (comma-separated, or `all`) lists `requirement`.
pub fn skip(test: &str, requirement: &str, reason: &str) {
    let required = std::env::var("FRAMEWIRE_REQUIRE").unwrap_or_default();
    let must = required.split(',').any(|r| r.trim() == requirement || r.trim() == "all");
    let line = format!("SKIPPED {test} [{requirement}]: {reason}");
    if must {
        panic!("{line}; but FRAMEWIRE_REQUIRE={required} says this test must run here");
    }
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Ok(log) = std::env::var("FRAMEWIRE_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log)
    {
        let _ = writeln!(f, "{line}");
    }
}
