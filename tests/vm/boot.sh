#!/usr/bin/env bash
# Boots the vivid VM once under QEMU TCG and runs one program in it.
#
#   tests/vm/boot.sh GUEST_BINARY [ARGS...]
#
# GUEST_BINARY must be statically linked. The guest loads the vivid module
# chain, waits for /dev/video0, runs GUEST_BINARY ARGS with the console as
# stdout/stderr, prints "FRAMEWIRE-VM-EXIT=<status>" and powers off. This
# script exits with that status; 124 if the VM timed out (FRAMEWIRE_VM_TIMEOUT
# seconds, default 300), 125 if the guest ended without printing the marker,
# 77 if it cannot run here (reason on stderr). Env FRAMEWIRE_VM_FILES may name
# extra host files to copy into the guest's /bin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${FRAMEWIRE_VM_CACHE:-$HOME/.cache/framewire-vm}
skip() { echo "framewire-vm: SKIP: $*" >&2; exit 77; }
[ $# -ge 1 ] || { echo "usage: $0 GUEST_BINARY [ARGS...]" >&2; exit 2; }
guest=$1; shift

"$here/prepare.sh" || exit $?
kver=$(cat "$CACHE/kver")
qemu="$CACHE/qemu/usr/bin/qemu-system-x86_64"
[ -x "$qemu" ] || skip "no unpacked qemu at $qemu"

work=$(mktemp -d "${TMPDIR:-/tmp}/framewire-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
cp "$CACHE/busybox/bin/busybox" "$root/bin/busybox"
cp "$guest" "$root/bin/guest"
for f in ${FRAMEWIRE_VM_FILES:-}; do cp "$f" "$root/bin/"; done
order=()
while read -r m; do
    cp "$CACHE/kernel/lib/modules/$kver/$m" "$root/modules/"
    order+=("$(basename "$m")")
done < "$CACHE/vivid.modules"
printf '%s\n' "${order[@]}" > "$root/modules/order"
# v4l2loopback (MJPEG test), if prepare.sh could build it.
[ -f "$CACHE/v4l2loopback.ko" ] && cp "$CACHE/v4l2loopback.ko" "$root/modules/"
args=""
for a in "$@"; do args+=" '${a//\'/\'\\\'\'}'"; done
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /dev/shm && mount -t tmpfs -o size=256M shm /dev/shm
for m in \$(cat /modules/order); do
    opts=""
    [ "\$m" = vivid.ko ] && opts="\${VIVID_OPTS:-}"
    insmod /modules/\$m \$opts || echo "framewire-vm: insmod \$m failed"
done
if [ -f /modules/v4l2loopback.ko ]; then
    insmod /modules/v4l2loopback.ko video_nr=20 card_label=framewire-loopback exclusive_caps=0 max_buffers=4 \
        || echo "framewire-vm: insmod v4l2loopback.ko failed"
fi
i=0
while [ ! -e /dev/video0 ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
echo "framewire-vm: guest up, running guest$args"
cd /tmp
RUST_BACKTRACE=1 /bin/guest$args
echo "FRAMEWIRE-VM-EXIT=\$?"
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

log="$work/console.log"
set +e
QEMU_MODULE_DIR="$CACHE/qemu/usr/lib/x86_64-linux-gnu/qemu" \
    timeout -k 5 "${FRAMEWIRE_VM_TIMEOUT:-300}" "$qemu" \
    -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu \
    -accel tcg -machine pc -cpu max -smp 1 -m 768 \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    -kernel "$CACHE/vmlinux" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init" \
    < /dev/null 2>&1 | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "framewire-vm: TIMEOUT after ${FRAMEWIRE_VM_TIMEOUT:-300} s" >&2; exit 124
fi
code=$(tr -d '\r' < "$log" | sed -n 's/^FRAMEWIRE-VM-EXIT=\([0-9]*\)$/\1/p' | tail -n1)
if [ -z "$code" ]; then
    if [ "$qrc" != 0 ] && ! grep -q 'Linux version\|framewire-vm:' "$log"; then
        skip "qemu could not start (status $qrc)"
    fi
    echo "framewire-vm: guest ended without the exit marker (qemu status $qrc)" >&2; exit 125
fi
exit "$code"
