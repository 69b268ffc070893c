#!/bin/bash
# The guest image is the same bytes wherever it is built: two copies of the source tree in two
# different directories (different path lengths), each with its own meson build of
# veil-agent-static and the image (different TMPDIR and umask too), give identical vmlinuz,
# vmlinux and initrd.img. The second build also runs without network and without trixie
# package lists (a fresh VEIL_APT_DIR in a network namespace of its own): it must take the
# same packages from the .deb cache. Fails naming the files that differ.
#   image-reproducible.sh <source root>
set -euo pipefail
src=$(realpath "$1")
for tool in meson ninja tar git cpio; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (scripts/setup installs it)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/veil-guest-repro.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# The tree as it is (uncommitted changes included), without .git and build dirs.
copy_tree() {
  mkdir -p "$2"
  if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$1" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done |
      tar --null -T - -cf -) | tar -C "$2" -xf -
  else
    tar -C "$1" --exclude-vcs --exclude-tag-all=build.ninja -cf - . | tar -C "$2" -xf -
  fi
}

build() { # build <tree> <umask> [<command prefix>]: the agent and the image, nothing else
  local tree=$1 mask=$2
  shift 2
  mkdir -p "$tree.tmp"
  (cd "$tree" && umask "$mask" && export TMPDIR=$tree.tmp &&
    meson setup build -Dtests=disabled >"$tree.log" 2>&1 &&
    "$@" nice -n 10 ninja -C build guest-image >>"$tree.log" 2>&1) ||
    { echo "FAIL: the build in $tree failed:" >&2; tail -n 30 "$tree.log" >&2; exit 1; }
  grep -E '^(guest image:|warning:)' "$tree.log"
}

a=$tmp/a/veil
b=$tmp/second-checkout-with-a-longer-path/veil
copy_tree "$src" "$a"
copy_tree "$src" "$b"
build "$a" 022
offline=(unshare -n)
((EUID == 0)) || offline=(unshare -rn)
build "$b" 077 env VEIL_APT_DIR="$tmp/apt-without-lists" "${offline[@]}"

differ=()
for f in vmlinuz vmlinux initrd.img; do
  ha=$(sha256sum <"$a/build/guest/$f" | cut -d' ' -f1)
  hb=$(sha256sum <"$b/build/guest/$f" | cut -d' ' -f1)
  echo "$f: $ha $hb"
  [[ $ha == "$hb" ]] || differ+=("$f")
done
status=0
if ((${#differ[@]})); then
  echo "FAIL: ${differ[*]} differ between the builds in $a and $b" >&2
  agent=agent/veil-agent-static
  cmp -s "$a/build/$agent" "$b/build/$agent" ||
    echo "  $agent differs too: a build path in the binary or its build-id?" >&2
  status=1
fi

# and the archive holds what the agent needs
list=$(zcat "$a/build/guest/initrd.img" | cpio -it --quiet)
for want in init usr/bin/crun lib64/ld-linux-x86-64.so.2 usr/lib/x86_64-linux-gnu/libc.so.6 \
            bin/busybox bin/sh etc/veil/modules.order etc/passwd etc/group; do
  grep -qx "$want" <<<"$list" || { echo "FAIL: $want missing from initrd.img" >&2; status=1; }
done
owners=$(zcat "$a/build/guest/initrd.img" | cpio -itv --quiet | awk '$3 != "root" || $4 != "root"')
[[ -z $owners ]] || { echo "FAIL: entries not owned by 0:0: ${owners:0:300}" >&2; status=1; }
exit $status
