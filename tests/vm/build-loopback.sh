#!/usr/bin/env bash
# Builds v4l2loopback.ko for the VM's kernel: Debian's v4l2loopback-dkms
# source, compiled against the unpacked linux-headers-<kver>, its -common
# package and linux-kbuild (none installed). The headers' Makefile includes
# an absolute /usr/src path, pointed here at the unpacked tree.
#   build-loopback.sh CACHE KVER   ->  CACHE/v4l2loopback.ko
set -euo pipefail
CACHE=$1
kver=$2
base=${kver%-amd64}                  # 6.1.0-56
series=$(echo "$kver" | cut -d. -f1,2)  # 6.1
cd "$CACHE/debs"
pkgs=("linux-headers-$kver" "linux-headers-$base-common" "linux-kbuild-$series" v4l2loopback-dkms)
need=()
for p in "${pkgs[@]}"; do ls "${p}"_*.deb >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] || apt-get download "${need[@]}"
command -v make >/dev/null || { echo "make is missing"; exit 1; }
tree="$CACHE/kbuild"
rm -rf "$tree" && mkdir -p "$tree"
for p in "${pkgs[@]}"; do dpkg-deb -x "$(ls "${p}"_*.deb | head -n1)" "$tree"; done
hdr="$tree/usr/src/linux-headers-$kver"
sed -i "s#include /usr/src/#include $tree/usr/src/#" "$hdr/Makefile"
cc=$(sed -n 's/^CC = .*\(gcc-[0-9][0-9]*\).*/\1/p' "$hdr/.kernelvariables")
command -v "${cc:-gcc}" >/dev/null || { echo "${cc} (the kernel's compiler) is missing"; exit 1; }
src=$(ls -d "$tree"/usr/src/v4l2loopback-* | head -n1)
make -C "$hdr" M="$src" modules
cp "$src/v4l2loopback.ko" "$CACHE/v4l2loopback.ko"
echo "built $CACHE/v4l2loopback.ko"
