#!/bin/bash
# The guest image build is reproducible: two builds from the same packages and init binary,
# in two fresh directories, give byte-identical vmlinuz, vmlinux and initrd.img.
#   image-reproducible.sh <build-image.sh> <init-binary> <modules.list>
set -euo pipefail
script=$(realpath "$1") init=$(realpath "$2") modules=$(realpath "$3")
tmp=$(mktemp -d /tmp/veil-guest-repro.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# different working directories and TMPDIRs: no build path may leak into the image
mkdir -p "$tmp/a/tmp" "$tmp/b/tmp"
(cd "$tmp/a" && TMPDIR=$tmp/a/tmp "$script" "$tmp/a/out" "$init" "$modules")
# ... and a different umask: modes in the archive must not depend on it
(cd "$tmp/b" && umask 077 && TMPDIR=$tmp/b/tmp "$script" "$tmp/b/out" "$init" "$modules")
status=0
for f in vmlinuz vmlinux initrd.img; do
  a=$(sha256sum <"$tmp/a/out/$f" | cut -d' ' -f1)
  b=$(sha256sum <"$tmp/b/out/$f" | cut -d' ' -f1)
  echo "$f: $a $b"
  [[ $a == "$b" ]] || { echo "FAIL: $f differs between two builds" >&2; status=1; }
done
# and the archive holds what the agent needs
list=$(zcat "$tmp/a/out/initrd.img" | cpio -it --quiet)
for want in init usr/bin/crun lib64/ld-linux-x86-64.so.2 bin/busybox bin/sh etc/veil/modules.order \
            etc/passwd etc/group; do
  grep -qx "$want" <<<"$list" || { echo "FAIL: $want missing from initrd.img" >&2; status=1; }
done
owners=$(zcat "$tmp/a/out/initrd.img" | cpio -itv --quiet | awk '$3 != "root" || $4 != "root"' | head -3)
[[ -z $owners ]] || { echo "FAIL: entries not owned by 0:0: $owners" >&2; status=1; }
exit $status
