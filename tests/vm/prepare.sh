#!/usr/bin/env bash
# Fetches and unpacks what the vivid VM needs, once, into $FRAMEWIRE_VM_CACHE
# (default ~/.cache/framewire-vm): Debian's kernel image (the one that
# linux-image-amd64 depends on), busybox-static and qemu-system-x86, each
# unpacked with dpkg-deb -x (qemu is NOT installed: that would replace the
# machine's newer qemu-utils), plus qemu's runtime libraries and firmware,
# which install normally. Then extracts the uncompressed kernel ELF for PVH
# boot and works out the vivid module load order.
#
# (qemu-system-common is unpacked too: it carries the TCG accelerator module.)
# Exit status: 0 ready; 77 cannot prepare here (reason on stderr); other: error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${FRAMEWIRE_VM_CACHE:-$HOME/.cache/framewire-vm}
mkdir -p "$CACHE/debs"
cd "$CACHE"
skip() { echo "framewire-vm: SKIP: $*" >&2; exit 77; }

[ "$(uname -m)" = x86_64 ] || skip "the VM harness needs an x86_64 host (this is $(uname -m))"
command -v apt-get >/dev/null || skip "apt-get is not available (the harness uses Debian packages)"
command -v dpkg-deb >/dev/null || skip "dpkg-deb is not available"

if [ -f ready ]; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

updated=0
apt_update() { if [ $updated = 0 ]; then as_root apt-get update -qq || true; updated=1; fi; }

# Host tools: depmod/modprobe (kmod), qemu's libraries and firmware.
need_pkgs=(kmod seabios ipxe-qemu qemu-system-data xz-utils cpio)
missing=()
for p in "${need_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    apt_update
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || skip "cannot install ${missing[*]} (not root, or no package registry)"
fi

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then apt_update; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); fi
[ -n "$kpkg" ] || skip "cannot resolve the kernel package that linux-image-amd64 depends on"

cd debs
if ! ls "$kpkg"_*.deb >/dev/null 2>&1 || ! ls qemu-system-x86_*.deb >/dev/null 2>&1 || ! ls qemu-system-common_*.deb >/dev/null 2>&1 || ! ls busybox-static_*.deb >/dev/null 2>&1; then
    apt-get download "$kpkg" qemu-system-x86 qemu-system-common busybox-static 2>/dev/null \
        || { apt_update; apt-get download "$kpkg" qemu-system-x86 qemu-system-common busybox-static; } \
        || skip "apt-get download of $kpkg qemu-system-x86 qemu-system-common busybox-static failed"
fi
cd ..

# qemu's shared libraries: install what the unpacked binary lacks.
rm -rf kernel qemu busybox && mkdir -p kernel qemu busybox
dpkg-deb -x debs/"$kpkg"_*.deb kernel
dpkg-deb -x debs/qemu-system-x86_*.deb qemu
# qemu-system-common carries the TCG accelerator module (accel-tcg-x86_64.so).
dpkg-deb -x debs/qemu-system-common_*.deb qemu
dpkg-deb -x debs/busybox-static_*.deb busybox
libs=$(apt-cache depends qemu-system-x86 | awk '/Depends: lib/{print $2}' | sort -u)
lib_missing=()
for p in $libs; do dpkg -s "$p" >/dev/null 2>&1 || lib_missing+=("$p"); done
if [ ${#lib_missing[@]} -gt 0 ]; then
    apt_update
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${lib_missing[@]}" >/dev/null \
        || skip "cannot install qemu's libraries: ${lib_missing[*]}"
fi
if ldd qemu/usr/bin/qemu-system-x86_64 | grep -q 'not found'; then
    skip "qemu-system-x86_64 lacks libraries: $(ldd qemu/usr/bin/qemu-system-x86_64 | grep 'not found' | tr -s ' \n' ' ')"
fi

kver=$(ls kernel/lib/modules | head -n1)
echo "$kver" > kver
# The uncompressed kernel ELF (PVH entry) from the xz payload of the bzImage.
python3 - "kernel/boot/vmlinuz-$kver" vmlinux <<'PY'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
i = data.find(b'\xfd7zXZ\x00')
if i < 0:
    sys.exit("no xz payload in " + sys.argv[1])
d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
out = d.decompress(data[i:])
if out[:4] != b'\x7fELF':
    sys.exit("payload is not an ELF")
open(sys.argv[2], 'wb').write(out)
PY

# Module load order for vivid (and what it needs), relative to the tree.
/sbin/depmod -b kernel "$kver"
/sbin/modprobe -d kernel -S "$kver" --show-depends vivid \
    | awk '$1=="insmod"{print $2}' | sed "s#^.*/lib/modules/$kver/##" > vivid.modules
[ -s vivid.modules ] || skip "modprobe --show-depends vivid found nothing in $kpkg"
# Optional: v4l2loopback (for the MJPEG test), built from Debian's DKMS
# source against the unpacked headers of the same kernel. A failure here only
# makes the MJPEG test skip (it says why).
if ! "$here/build-loopback.sh" "$CACHE" "$kver" > loopback.log 2>&1; then
    echo "framewire-vm: WARNING: v4l2loopback could not be built (see $CACHE/loopback.log); the MJPEG test will skip" >&2
fi
touch ready
echo "framewire-vm: prepared $kpkg ($(wc -l < vivid.modules) modules) in $CACHE" >&2
