#!/bin/bash
# Installs veil from a build directory and registers it with containerd, idempotently:
#   <prefix>/bin/containerd-shim-veil-v2, <prefix>/bin/veil
#   <prefix>/share/veil/configs/<profile>.json   (guest paths rewritten for <prefix>)
#   <prefix>/share/veil/guest/{vmlinuz,vmlinux,initrd.img}
#   containerd's config: the runtimes veil-dev, veil-sev, veil-sev-es, veil-snp, veil-tdx,
#   veil-se between "# BEGIN veil" and "# END veil" (config version 2 for containerd 1.6/1.7,
#   version 3 or 4 for 2.x), with a timestamped backup of the previous file.
# Running it twice changes nothing the second time (files are compared before copying).
set -euo pipefail

usage() {
  cat <<EOF
usage: $0 [--prefix DIR] [--build-dir DIR] [--containerd-config PATH] [--no-containerd]
          [--dry-run]
  --prefix DIR               install prefix (default /usr/local)
  --build-dir DIR            meson build dir with the shim, CLI and guest image
                             (default <repo>/build)
  --containerd-config PATH   containerd config to patch (default /etc/containerd/config.toml;
                             created if missing)
  --no-containerd            do not touch containerd's config
  --dry-run                  print what would change, change nothing
EOF
}

src_root=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
build_dir=$src_root/build
containerd_config=/etc/containerd/config.toml
patch_containerd=1
dry_run=0

while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --containerd-config) containerd_config=${2:?--containerd-config needs a path}; shift 2 ;;
    --no-containerd) patch_containerd=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

prefix=${prefix%/}
share=$prefix/share/veil
changed=0

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

# place SRC DEST MODE: copies only when the content or mode differs.
place() {
  local src=$1 dest=$2 mode=$3
  if [[ -f $dest ]] && cmp -s "$src" "$dest" && [[ $(stat -c %a "$dest") == "$mode" ]]; then
    return 0
  fi
  changed=$((changed + 1))
  if ((dry_run)); then
    say "would install $dest (mode $mode)"
  else
    install -D -m "$mode" "$src" "$dest"
    say "installed $dest"
  fi
}

# ---- inputs ----------------------------------------------------------------------------------
shim=$build_dir/shim/containerd-shim-veil-v2
cli=$build_dir/cli/veil
kernel=$build_dir/guest/vmlinuz
kernel_raw=$build_dir/guest/vmlinux   # the dev profile's (uncompressed: faster under TCG)
initrd=$build_dir/guest/initrd.img
for f in "$shim" "$cli" "$kernel" "$kernel_raw" "$initrd"; do
  [[ -f $f ]] || die "missing $f: build first (meson setup $build_dir && ninja -C $build_dir)"
done
profiles=()
for cfg in "$src_root"/configs/*.json; do
  profiles+=("$(basename "$cfg" .json)")
done
((${#profiles[@]})) || die "no runtime configs in $src_root/configs"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- binaries, guest image, configs -----------------------------------------------------------
place "$shim" "$prefix/bin/containerd-shim-veil-v2" 755
place "$cli" "$prefix/bin/veil" 755
place "$kernel" "$share/guest/vmlinuz" 644
place "$kernel_raw" "$share/guest/vmlinux" 644
place "$initrd" "$share/guest/initrd.img" 644
for p in "${profiles[@]}"; do
  # The shipped configs name /usr/local/share/veil/...: point them at this prefix.
  sed "s|/usr/local/share/veil/|$share/|g" "$src_root/configs/$p.json" >"$tmp/$p.json"
  place "$tmp/$p.json" "$share/configs/$p.json" 644
done

# ---- containerd -------------------------------------------------------------------------------
# config_version FILE: the `version = N` of a containerd config (0 if none).
config_version() {
  sed -n 's/^[[:space:]]*version[[:space:]]*=[[:space:]]*\([0-9]\+\).*/\1/p' "$1" | head -n1
}

patch_config() {
  local cfg=$1 version template new="$tmp/containerd.toml"
  if [[ -f $cfg ]]; then
    version=$(config_version "$cfg")
    [[ -n $version ]] || die "$cfg has no 'version = N' line: containerd's v1 format is not" \
      "supported; run 'containerd config migrate' (2.x) or add the v2 sections by hand"
  else
    # No config yet: match the installed containerd (2.x reads version 3).
    version=2
    if command -v containerd >/dev/null &&
      containerd --version 2>/dev/null | grep -Eq ' v?2\.[0-9]+'; then
      version=3
    fi
  fi
  # Version 4 (what `containerd config default` writes from 2.3 on) moved only the server
  # settings into plugins: its CRI runtime tables are version 3's.
  case $version in
    2|3) template=$src_root/packaging/containerd/veil-runtimes.v$version.toml.in ;;
    4) template=$src_root/packaging/containerd/veil-runtimes.v3.toml.in ;;
    *) die "$cfg: containerd config version $version is not supported (2, 3 or 4)" ;;
  esac

  # Everything but our block, then our block at the end.
  if [[ -f $cfg ]]; then
    awk '/^# BEGIN veil/ {skip = 1} !skip {print} /^# END veil/ {skip = 0}' "$cfg" >"$tmp/rest"
    if grep -Eq 'runtimes\.veil-' "$tmp/rest"; then
      die "$cfg defines veil-* runtimes outside the '# BEGIN veil' block: remove them first"
    fi
  else
    printf 'version = %s\n' "$version" >"$tmp/rest"
  fi
  {
    # Keep exactly one blank line between the operator's part and our block.
    sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp/rest"
    echo
    echo "# BEGIN veil (managed by veil's packaging/install.sh; edits here are overwritten)"
    sed "s|@CONFIG_DIR@|$share/configs|g" "$template"
    echo "# END veil"
  } >"$new"

  if [[ -f $cfg ]] && cmp -s "$new" "$cfg"; then
    say "$cfg already up to date"
    return 0
  fi
  changed=$((changed + 1))
  if ((dry_run)); then
    say "would update $cfg:"
    if [[ -f $cfg ]]; then diff -u "$cfg" "$new" || true; else cat "$new"; fi
    return 0
  fi
  if [[ -f $cfg ]]; then
    local backup
    backup=$cfg.veil-backup-$(date -u +%Y%m%dT%H%M%SZ)
    cp -p "$cfg" "$backup"
    say "backed up $cfg to $backup"
  fi
  install -D -m 644 "$new" "$cfg"
  say "registered the veil runtimes in $cfg (restart containerd to load them)"
}

if ((patch_containerd)); then
  patch_config "$containerd_config"
fi

if ((dry_run)); then
  say "dry run: $changed change(s) would be made"
else
  say "done: $changed change(s)"
fi
