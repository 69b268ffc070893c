#!/bin/bash
# Builds veil's dev guest image from Debian packages, reproducibly.
#
#   build-image.sh <outdir> <init-binary> [<modules.list>]
#
# Output: <outdir>/vmlinuz (Debian's bzImage: for firmware boots, OVMF/SEV),
#         <outdir>/vmlinux (the same kernel uncompressed: an ELF with a PVH entry that QEMU
#                           loads directly with -kernel; skips the xz decompression that
#                           costs ~2.5 s under TCG),
#         <outdir>/initrd.img (gzip'd newc cpio), <outdir>/kernel-release.
#   /init                      <init-binary> (veil-agent-static), stripped
#   /usr/bin/crun              Debian's crun with its shared libraries and ld.so
#   /bin/busybox + links       busybox-static (debugging, tests)
#   /lib/modules/<release>/    the modules of modules.list and their dependencies
#   /etc/veil/modules.order    those modules in load order, relative to /lib/modules/<release>/
#   /etc/passwd, /etc/group    root and nobody
#
# Kernel: linux-image-6.1.0-<N>-amd64, newest N known to apt-cache (or VEIL_GUEST_KERNEL=
# <package>), downloaded once into VEIL_DEB_CACHE (default /var/cache/veil/debs); with no apt
# lists the newest cached package is used. Reproducible: same packages and init binary give
# the same bytes (sorted entries, mtimes = SOURCE_DATE_EPOCH, owner 0:0, renumbered inodes,
# gzip -n).
set -euo pipefail

die() { echo "build-image.sh: $*" >&2; exit 1; }

(($# >= 2)) || die "usage: build-image.sh <outdir> <init-binary> [<modules.list>]"
outdir=$1
init_bin=$2
modules_list=${3:-$(dirname "$0")/modules.list}
cache=${VEIL_DEB_CACHE:-/var/cache/veil/debs}
epoch=${SOURCE_DATE_EPOCH:-1704067200} # 2024-01-01, when the environment sets nothing

[[ -x $init_bin ]] || die "init binary '$init_bin' missing: build veil-agent-static first (ninja agent/veil-agent-static)"
[[ -f $modules_list ]] || die "module list '$modules_list' missing"
for tool in dpkg depmod cpio gzip xz strip readelf ldd /bin/busybox /usr/bin/crun; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/setup (kmod cpio busybox-static crun binutils)"
done
if readelf -l "$init_bin" 2>/dev/null | grep -q 'program interpreter'; then
  die "init binary '$init_bin' is dynamically linked: the initramfs has no libraries for it"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/veil-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- kernel package ----------------------------------------------------------
find_kernel_deb() {
  local pkg=${VEIL_GUEST_KERNEL:-}
  if [[ -z $pkg ]]; then
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
      awk '{print $1}' | sort -V | tail -n1 || true)
  fi
  if [[ -z $pkg ]]; then # no apt lists: newest cached package
    ls "$cache"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | grep -v cloud | sort -V | tail -n1
    return
  fi
  local version
  version=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
  local deb
  deb=$(ls "$cache/${pkg}_${version//:/%3a}_amd64.deb" 2>/dev/null || true)
  if [[ -z $deb ]]; then
    mkdir -p "$cache"
    (cd "$cache" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed (no network and nothing in $cache?)"
    deb=$(ls "$cache/${pkg}"_*_amd64.deb | sort -V | tail -n1)
  fi
  echo "$deb"
}
kernel_deb=$(find_kernel_deb)
[[ -n $kernel_deb && -f $kernel_deb ]] || die "no linux-image-6.1.0-N-amd64 package: apt-get update, or put one into $cache"
dpkg -x "$kernel_deb" "$work/kernel"
release=$(ls "$work/kernel/lib/modules")
[[ -n $release && -f $work/kernel/boot/vmlinuz-$release ]] || die "$kernel_deb holds no vmlinuz"
depmod -b "$work/kernel" "$release"

# ---- root tree ---------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/veil,dev,proc,sys,tmp,run,lib64}
moddir=lib/modules/$release

# Module load order: depth-first over modules.dep, dependencies first, each module once.
declare -A dep_of=() path_of=() seen=()
while IFS= read -r line; do
  mod=${line%%:*}
  name=$(basename "$mod" .ko)
  name=${name//-/_}
  path_of[$name]=$mod
  dep_of[$mod]=${line#*:}
done <"$work/kernel/$moddir/modules.dep"
order=()
visit() {
  local mod=$1 i
  [[ -n ${seen[$mod]:-} ]] && return
  seen[$mod]=1
  # modules.dep lists the transitive closure, last entry loaded first
  local deps=(${dep_of[$mod]})
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do visit "${deps[i]}"; done
  order+=("$mod")
}
while read -r name _; do
  [[ -z $name || $name == \#* ]] && continue
  name=${name//-/_}
  [[ -n ${path_of[$name]:-} ]] || die "module '$name' (from $modules_list) is not in $release"
  visit "${path_of[$name]}"
done <"$modules_list"
for mod in "${order[@]}"; do
  install -D -m 0644 "$work/kernel/$moddir/$mod" "$root/$moddir/$mod"
  echo "$mod"
done >"$root/etc/veil/modules.order"

# /init: the agent
strip --strip-all -o "$root/init" "$init_bin"
chmod 0755 "$root/init"

# crun with the libraries it links (ldd output: "name => /path (addr)" or "/path (addr)")
install -D -m 0755 /usr/bin/crun "$root/usr/bin/crun"
ldd /usr/bin/crun | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' | sort -u |
  while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
[[ -e $root/lib64/ld-linux-x86-64.so.2 ]] || die "ld.so not found by ldd /usr/bin/crun"

# busybox-static and its applet links (not init/linuxrc: /init is the agent)
install -m 0755 /bin/busybox "$root/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
  case $applet in linuxrc | */init | bin/busybox) continue ;; esac
  [[ -e $root/$applet || -L $root/$applet ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -s /bin/busybox "$root/$applet"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/veil/modules.order"
chmod 0755 $(find "$root" -type d)
chmod 1777 "$root/tmp"

# ---- archive -----------------------------------------------------------------
find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$outdir"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -n -6 >"$work/initrd.img"
install -m 0644 "$work/kernel/boot/vmlinuz-$release" "$outdir/vmlinuz.tmp"
# vmlinux: the bzImage payload is one xz stream (CONFIG_KERNEL_XZ) holding the ELF vmlinux
xz_offset=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$outdir/vmlinuz.tmp" | cut -d: -f1)
[[ -n $xz_offset ]] || die "no xz payload in vmlinuz-$release (kernel not built with CONFIG_KERNEL_XZ?)"
xz -dc --single-stream < <(tail -c +$((xz_offset + 1)) "$outdir/vmlinuz.tmp") >"$work/vmlinux" ||
  die "cannot decompress the xz payload of vmlinuz-$release"
readelf -n "$work/vmlinux" 2>/dev/null | grep -c 'Xen' >/dev/null || die "vmlinux from vmlinuz-$release has no PVH note"
chmod 0644 "$work/vmlinux"
mv "$work/vmlinux" "$outdir/vmlinux"
mv "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
mv "$work/initrd.img" "$outdir/initrd.img"
chmod 0644 "$outdir/initrd.img"
echo "$release" >"$outdir/kernel-release"

size() { stat -c %s "$1"; }
echo "guest image: $(basename "$kernel_deb"), ${#order[@]} modules," \
  "vmlinuz $(size "$outdir/vmlinuz") bytes, vmlinux $(size "$outdir/vmlinux") bytes, initrd.img $(size "$outdir/initrd.img") bytes" \
  "(sha256 $(sha256sum "$outdir/initrd.img" | cut -c1-16))"
