#!/bin/bash
# Builds veil's dev guest image from Debian 13 (trixie) packages, reproducibly.
#
#   build-image.sh <outdir> <init-binary> [<modules.list>]
#
# Output: <outdir>/vmlinuz (Debian's bzImage: for firmware boots, OVMF/SEV),
#         <outdir>/vmlinux (the same kernel uncompressed: an ELF with a PVH entry that QEMU
#                           loads directly with -kernel; skips the in-guest decompression),
#         <outdir>/initrd.img (gzip'd newc cpio), <outdir>/kernel-release.
#   /init                      <init-binary> (veil-agent-static), stripped
#   /usr/bin/crun              trixie's crun, with the trixie libraries its DT_NEEDED names
#                              (transitively) and the trixie ld.so of its PT_INTERP
#   /bin/busybox + links       the host's busybox-static (debugging, tests)
#   /lib/modules/<release>/    the modules of modules.list and their dependencies (not the
#                              ones built into the kernel)
#   /etc/veil/modules.order    those modules in load order, relative to /lib/modules/<release>/
#   /etc/passwd, /etc/group    root and nobody
#
# Packages (guest/debs.sh): the newest linux-image-6.12.*-amd64 (or VEIL_GUEST_KERNEL=
# <package>) and crun with its Depends, from trixie through private apt dirs under
# /var/cache/veil; .debs cached in VEIL_DEB_CACHE (/var/cache/veil/debs) by name and version.
# The lists are refreshed by scripts/setup; this script fetches them only when there are none,
# and without network uses the newest cached .debs. Reproducible: same packages and init
# binary give the same bytes (sorted entries, mtimes = SOURCE_DATE_EPOCH, owner 0:0, modes set
# explicitly, renumbered inodes, gzip -n).
set -euo pipefail

die() { echo "build-image.sh: $*" >&2; exit 1; }

(($# >= 2)) || die "usage: build-image.sh <outdir> <init-binary> [<modules.list>]"
outdir=$1
init_bin=$2
here=$(dirname "$(realpath "$0")")
modules_list=${3:-$here/modules.list}
epoch=${SOURCE_DATE_EPOCH:-1704067200} # 2024-01-01, when the environment sets nothing
# shellcheck source=debs.sh
source "$here/debs.sh"

[[ -x $init_bin ]] || die "init binary '$init_bin' missing: build veil-agent-static first (ninja agent/veil-agent-static)"
[[ -f $modules_list ]] || die "module list '$modules_list' missing"
for tool in apt-get apt-cache dpkg dpkg-deb depmod cpio gzip xz zstd strip readelf od dd flock \
            /bin/busybox; do
  command -v "$tool" >/dev/null ||
    die "'$tool' not found: run scripts/setup (apt kmod cpio busybox-static binutils xz-utils zstd)"
done
if readelf -l "$init_bin" 2>/dev/null | grep -q 'program interpreter'; then
  die "init binary '$init_bin' is dynamically linked: the initramfs has no libraries for it"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/veil-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- packages ----------------------------------------------------------------
trixie_apt_init
trixie_have_lists || trixie_apt_update || true
kernel_deb=$(guest_kernel_deb)
guest_deb_closure crun >"$work/crun-debs"
mapfile -t crun_debs <"$work/crun-debs"
trixie_apt_unlock

dpkg -x "$kernel_deb" "$work/kernel"
# trixie's kernel ships its modules in /usr/lib/modules; depmod -b looks in <base>/lib/modules
if [[ -d $work/kernel/usr/lib/modules && ! -e $work/kernel/lib/modules ]]; then
  mkdir -p "$work/kernel/lib"
  mv "$work/kernel/usr/lib/modules" "$work/kernel/lib/modules"
fi
release=$(ls "$work/kernel/lib/modules")
[[ -n $release && -f $work/kernel/boot/vmlinuz-$release ]] || die "$kernel_deb holds no vmlinuz"
depmod -b "$work/kernel" "$release"
tree=$work/trixie
for deb in "${crun_debs[@]}"; do dpkg -x "$deb" "$tree"; done

# ---- root tree ---------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/veil,dev,proc,sys,tmp,run}
moddir=lib/modules/$release

# Module load order: depth-first over modules.dep, dependencies first, each module once.
# A listed module built into the kernel (modules.builtin) needs nothing.
module_name() { local n=${1##*/}; n=${n%%.ko*}; echo "${n//-/_}"; }
declare -A dep_of=() path_of=() seen=() builtin=()
while IFS= read -r line; do
  mod=${line%%:*}
  path_of[$(module_name "$mod")]=$mod
  dep_of[$mod]=${line#*:}
done <"$work/kernel/$moddir/modules.dep"
while IFS= read -r mod; do builtin[$(module_name "$mod")]=1; done <"$work/kernel/$moddir/modules.builtin"
order=() listed_builtin=()
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
  if [[ -n ${path_of[$name]:-} ]]; then
    visit "${path_of[$name]}"
  elif [[ -n ${builtin[$name]:-} ]]; then
    listed_builtin+=("$name")
  else
    die "module '$name' (from $modules_list) is neither a module nor built into $release"
  fi
done <"$modules_list"
# Stored uncompressed: the initramfs is gzip'd anyway, and the guest kernel's xz decoder under
# TCG made module loading take ~3 times longer.
for mod in "${order[@]}"; do
  mkdir -p "$root/$moddir/$(dirname "$mod")"
  case $mod in
    *.ko.xz) xz -dc "$work/kernel/$moddir/$mod" >"$root/$moddir/${mod%.xz}" ;;
    *.ko.zst) zstd -qdc "$work/kernel/$moddir/$mod" >"$root/$moddir/${mod%.zst}" ;;
    *.ko.gz) gzip -dc "$work/kernel/$moddir/$mod" >"$root/$moddir/${mod%.gz}" ;;
    *) cp "$work/kernel/$moddir/$mod" "$root/$moddir/$mod" ;;
  esac
  echo "${mod%.ko*}.ko"
done >"$root/etc/veil/modules.order"
chmod 0644 $(find "$root/lib/modules" -type f)

# /init: the agent
strip --strip-all -o "$root/init" "$init_bin"
chmod 0755 "$root/init"

# crun and, from the trixie tree only (the host's glibc is Debian 12's), its PT_INTERP and
# every library DT_NEEDED names, transitively. Symlinks in the tree resolve inside the tree.
tree_resolve() { # tree-relative path -> tree-relative path of the file it ends at, or fail
  local p=$1 t i
  for ((i = 0; i < 40; i++)); do
    if [[ ! -e $tree/$p && ! -L $tree/$p && $p != usr/* ]]; then p=usr/$p; fi # merged /usr
    [[ -L $tree/$p ]] || { [[ -f $tree/$p ]] && echo "$p"; return; }
    t=$(readlink "$tree/$p")
    [[ $t == /* ]] && p=${t#/} || p=$(dirname "$p")/$t
    p=$(realpath -m -s "/$p") && p=${p#/}
  done
  return 1
}
lib_dirs=(usr/lib/x86_64-linux-gnu lib/x86_64-linux-gnu usr/lib64 lib64 usr/lib lib)
install -D -m 0755 "$tree/usr/bin/crun" "$root/usr/bin/crun"
interp=$(readelf -lW "$tree/usr/bin/crun" | sed -n 's/.*program interpreter: \(.*\)\]$/\1/p')
[[ -n $interp ]] || die "crun has no PT_INTERP"
src=$(tree_resolve "${interp#/}") || die "crun's interpreter $interp is not in the $VEIL_GUEST_SUITE packages"
install -D -m 0755 "$tree/$src" "$root$interp"
declare -A have_lib=([${interp##*/}]=1)
queue=(usr/bin/crun)
while ((${#queue[@]})); do
  elf=${queue[0]}
  queue=("${queue[@]:1}")
  for soname in $(readelf -dW "$tree/$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
    [[ -n ${have_lib[$soname]:-} ]] && continue
    have_lib[$soname]=1
    src= dir=
    for dir in "${lib_dirs[@]}"; do
      src=$(tree_resolve "$dir/$soname") && break
    done
    [[ -n $src ]] || die "$soname (NEEDED by /$elf) is in none of the $VEIL_GUEST_SUITE packages" \
      "$(printf '%s ' "${crun_debs[@]##*/}")"
    install -D -m 0755 "$tree/$src" "$root/$dir/$soname"
    queue+=("$src")
  done
done
# the guest's loader finds them without ld.so.cache: ask it, confined to the image tree
run_in_root() {
  if ((EUID == 0)); then chroot "$root" "$@"; else unshare -r --root="$root" "$@"; fi
}
libs=$(run_in_root "$interp" --list /usr/bin/crun 2>&1) || die "crun's libraries do not load in the image: $libs"
crun_version=$(dpkg-deb -f "$(grep -m1 '/crun_' "$work/crun-debs")" Version)

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

# ---- kernel: vmlinux out of the bzImage ----------------------------------------
# The boot protocol header (>= 2.08) gives the payload's place: (setup_sects + 1) * 512 +
# payload_offset, payload_length bytes, the last 4 of them the decompressed size
# (arch/x86/boot/header.S, compressed/Makefile's size_append). Debian 12 used xz, 13 zstd.
extract_vmlinux() {
  local bz=$1 out=$2
  u() { od -An -tu"$1" -j "$2" -N "$1" "$bz" | tr -d ' '; }
  [[ $(od -An -c -j $((0x202)) -N4 "$bz" | tr -d ' ') == HdrS ]] || die "$bz is not a bzImage"
  (($(u 2 $((0x206))) >= 0x208)) || die "$bz: boot protocol older than 2.08 (no payload fields)"
  local sects start len size magic
  sects=$(u 1 $((0x1f1)))
  ((sects)) || sects=4
  start=$(((sects + 1) * 512 + $(u 4 $((0x248)))))
  len=$(u 4 $((0x24c)))
  size=$(u 4 $((start + len - 4)))
  magic=$(od -An -tx1 -j "$start" -N6 "$bz" | tr -d ' \n')
  local decompress
  case $magic in
    28b52ffd*) decompress=(zstd -dc --memory=2048MB) ;;
    fd377a585a00) decompress=(xz -dc --single-stream) ;;
    1f8b*) decompress=(gzip -dc) ;;
    *) die "$bz: payload compression with magic $magic not handled (zstd, xz and gzip are)" ;;
  esac
  dd if="$bz" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((len - 4)) status=none |
    "${decompress[@]}" >"$out" || die "cannot decompress the ${decompress[0]} payload of $bz"
  [[ $(stat -c %s "$out") == "$size" ]] || die "$bz: payload decompressed to $(stat -c %s "$out") bytes, header says $size"
  [[ $(od -An -c -N4 "$out" | tr -d ' ') == 177ELF ]] || die "$bz: payload is not an ELF vmlinux"
  # XEN_ELFNOTE_PHYS32_ENTRY (18): the PVH entry point QEMU's -kernel jumps to
  local notes
  notes=$(readelf -nW "$out")
  grep -qE '^[[:space:]]+Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*(\(0x00000012\)|PHYS32_ENTRY)' <<<"$notes" ||
    die "vmlinux from $bz has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
}

# ---- archive -----------------------------------------------------------------
find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$outdir"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -n -6 >"$work/initrd.img"
extract_vmlinux "$work/kernel/boot/vmlinuz-$release" "$work/vmlinux"
install -m 0644 "$work/kernel/boot/vmlinuz-$release" "$outdir/vmlinuz.tmp"
chmod 0644 "$work/vmlinux" "$work/initrd.img"
mv "$work/vmlinux" "$outdir/vmlinux"
mv "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
mv "$work/initrd.img" "$outdir/initrd.img"
echo "$release" >"$outdir/kernel-release"

size() { stat -c %s "$1"; }
echo "guest image: ${kernel_deb##*/}, crun $crun_version, ${#order[@]} modules" \
  "(built in: ${listed_builtin[*]:-none}), vmlinuz $(size "$outdir/vmlinuz") bytes," \
  "vmlinux $(size "$outdir/vmlinux") bytes, initrd.img $(size "$outdir/initrd.img") bytes" \
  "(sha256 $(sha256sum "$outdir/initrd.img" | cut -c1-16))"
