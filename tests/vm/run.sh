#!/usr/bin/env bash
# The camera's tests against the kernel's vivid driver, in a QEMU TCG guest.
# Entry point for CI (.ci/run) and for people:  bash tests/vm/run.sh
#
# 1. prepare.sh: fetch/unpack kernel, qemu, busybox once (~/.cache/framewire-vm).
# 2. Build tests/vivid.rs as a statically linked test binary, and the
#    framewire binary (own target dir, target/vm, so it never waits on
#    another cargo holding target/).
# 3. boot.sh: boot the guest, load vivid, run the tests one at a time,
#    parse the exit marker.
#
# Exit status: 0 passed; 1 failed; 0 with a loud "SKIP" line when QEMU cannot
# run here (FRAMEWIRE_VM_REQUIRED=1, or FRAMEWIRE_REQUIRE listing vm, turns a
# skip into a failure).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$(date +%s)
skip() {
    echo "==================================================================" >&2
    echo "framewire-vm: SKIPPED the vivid VM tests: $*" >&2
    echo "==================================================================" >&2
    [ "${FRAMEWIRE_VM_REQUIRED:-0}" = 1 ] && exit 1
    case ",${FRAMEWIRE_REQUIRE:-}," in *,vm,*|*,all,*) exit 1 ;; esac
    exit 0
}

"$here/prepare.sh"; rc=$?
[ $rc = 77 ] && skip "prepare.sh could not set the VM up (see above)"
[ $rc = 0 ] || { echo "framewire-vm: prepare.sh failed ($rc)" >&2; exit 1; }

target=x86_64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$target" && [ "$(rustc -vV | sed -n 's/^host: //p')" != "$target" ]; then
    skip "the Rust target $target is not installed"
fi
echo "framewire-vm: building the static guest test binary" >&2
bin=$(cd "$repo" && CARGO_TARGET_DIR="$repo/target/vm" RUSTFLAGS='-C target-feature=+crt-static' \
    cargo test --test vivid --no-run --target "$target" --message-format=json 2>"$repo/target/vm-build.log" \
    | python3 -c '
import json, sys
exe = None
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "vivid" and m.get("executable"):
        exe = m["executable"]
print(exe or "")')
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    cat "$repo/target/vm-build.log" >&2
    echo "framewire-vm: building the guest binary failed" >&2
    exit 1
fi
if ! file "$bin" 2>/dev/null | grep -q "static" && ldd "$bin" 2>/dev/null | grep -q "=>"; then
    echo "framewire-vm: $bin is not statically linked" >&2
    exit 1
fi
# The real framewire binary too, for the pipeline test in the guest.
if (cd "$repo" && CARGO_TARGET_DIR="$repo/target/vm" RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --bin framewire --target "$target" 2>>"$repo/target/vm-build.log"); then
    export FRAMEWIRE_VM_FILES="$repo/target/vm/$target/debug/framewire"
else
    cat "$repo/target/vm-build.log" >&2
    echo "framewire-vm: building the framewire binary failed" >&2
    exit 1
fi
built=$(date +%s)
echo "framewire-vm: booting the guest (build took $((built - start)) s)" >&2
"$here/boot.sh" "$bin" --test-threads=1 --show-output ${FRAMEWIRE_VM_TEST_FILTER:-}
rc=$?
end=$(date +%s)
echo "framewire-vm: guest run took $((end - built)) s, total $((end - start)) s" >&2
case $rc in
    0) echo "framewire-vm: vivid tests PASSED" >&2; exit 0 ;;
    77) skip "QEMU cannot run here (see above)" ;;
    124) echo "framewire-vm: the VM TIMED OUT" >&2; exit 1 ;;
    *) echo "framewire-vm: vivid tests FAILED (status $rc)" >&2; exit 1 ;;
esac
