//! Drives `tests/vm/run.sh`: the camera tests against the kernel's vivid
//! driver in a QEMU TCG guest (about 20 s once the packages are cached).
//!
//! Skips loudly, with the reason, where QEMU cannot run (the script decides
//! and says why); set `FRAMEWIRE_SKIP_VM=1` to skip on purpose (for example
//! when `.ci/run` calls the script itself). Never hangs: the guest has a
//! timeout (`FRAMEWIRE_VM_TIMEOUT`, default 300 s).

use std::io::Write;
use std::process::Command;

#[test]
fn vivid_camera_tests_in_a_vm() {
    if std::env::var_os("FRAMEWIRE_SKIP_VM").is_some_and(|v| v == "1") {
        framewire::sys::testing::skip("vivid_camera_tests_in_a_vm", "vm", "FRAMEWIRE_SKIP_VM=1");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/run.sh");
    let out = Command::new("bash").arg(script).output().expect("run bash tests/vm/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Let the skip reason and the benchmark lines reach the test log.
    for line in stderr.lines().chain(stdout.lines()) {
        if line.contains("SKIP") || line.starts_with("BENCH") || line.starts_with("framewire-vm:") {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
    assert!(out.status.success(), "tests/vm/run.sh failed:\n{stdout}\n{stderr}");
    // The script skips (exit 0) where QEMU cannot run: count it as a skip,
    // a failure where the VM is required.
    if let Some(reason) = stderr.lines().find_map(|l| l.strip_prefix("framewire-vm: SKIPPED the vivid VM tests: ")) {
        framewire::sys::testing::skip("vivid_camera_tests_in_a_vm", "vm", reason);
    }
}
