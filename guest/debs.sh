# Debian 13 (trixie) packages for the dev guest image, sourced by build-image.sh and
# scripts/setup. The host is Debian 12: trixie is never added to the machine's apt sources;
# a private apt state lives under VEIL_APT_DIR and the .debs are only fetched with
# `apt-get download` (cached by name and version in VEIL_DEB_CACHE) and unpacked with dpkg -x.
#
#   trixie_apt_update       refresh the private lists (scripts/setup: once per run)
#   guest_kernel_deb        the kernel package's .deb (newest linux-image-6.12.*-amd64)
#   guest_deb_closure PKG   .debs of PKG and of everything it Depends on, one path a line
#
# Offline: with stale lists, a version that cannot be downloaded falls back to the newest
# cached .deb of that name; with no lists at all, the newest cached .debs are used. The
# caller defines die().

VEIL_APT_DIR=${VEIL_APT_DIR:-/var/cache/veil/apt}
VEIL_DEB_CACHE=${VEIL_DEB_CACHE:-/var/cache/veil/debs}
VEIL_GUEST_SUITE=trixie

trixie_apt=(
  -o Dir::Etc::SourceList="$VEIL_APT_DIR/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$VEIL_APT_DIR/lists" -o Dir::Cache="$VEIL_APT_DIR/cache"
  -o Dir::State::status=/dev/null -o Acquire::Languages=none
  -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
  -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
  -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
  -o APT::Sandbox::User=root -q
)

# Creates the private apt dirs and the cache and takes an exclusive lock on them (fd 9, until
# trixie_apt_unlock or exit), so two builds never write the lists or a .deb at once.
trixie_apt_init() {
  mkdir -p "$VEIL_APT_DIR"/{lists/partial,cache/archives/partial,etc} "$VEIL_DEB_CACHE" ||
    die "cannot create $VEIL_APT_DIR and $VEIL_DEB_CACHE (run as root, or set VEIL_APT_DIR and VEIL_DEB_CACHE)"
  local src="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $VEIL_GUEST_SUITE main"
  [[ $(cat "$VEIL_APT_DIR/etc/sources.list" 2>/dev/null) == "$src" ]] ||
    echo "$src" >"$VEIL_APT_DIR/etc/sources.list"
  exec 9>"$VEIL_APT_DIR/lock"
  flock -w 900 9 || die "$VEIL_APT_DIR/lock still held after 15 min"
}

trixie_apt_unlock() {
  exec 9>&-
}

trixie_have_lists() {
  compgen -G "$VEIL_APT_DIR/lists/*_Packages*" >/dev/null
}

# 0 when the lists were refreshed; else a warning and 1 (the caches are still usable).
trixie_apt_update() {
  trixie_apt_init
  if apt-get "${trixie_apt[@]}" --error-on=any update >&2; then
    return 0
  fi
  echo "warning: cannot refresh the $VEIL_GUEST_SUITE package lists in $VEIL_APT_DIR;" \
    "the guest image uses the cached .debs in $VEIL_DEB_CACHE" >&2
  return 1
}

# The version apt would download, or nothing (no lists, unknown package).
trixie_candidate() {
  trixie_have_lists || return 0
  apt-cache "${trixie_apt[@]}" policy "$1" 2>/dev/null |
    awk '$1 == "Candidate:" && $2 != "(none)" {print $2}'
}

newest_cached_deb() {
  compgen -G "$VEIL_DEB_CACHE/${1}_*.deb" | LC_ALL=C sort -V | tail -n1
}

# Path of PKG's .deb in the cache: the candidate version (downloaded once), else the newest
# cached one. Fails when neither exists.
trixie_deb() {
  local pkg=$1 version deb=
  version=$(trixie_candidate "$pkg")
  if [[ -n $version ]]; then
    deb=$(compgen -G "$VEIL_DEB_CACHE/${pkg}_${version//:/%3a}_*.deb" | tail -n1)
    if [[ -z $deb ]]; then
      local part
      part=$(mktemp -d "$VEIL_DEB_CACHE/.partial.XXXXXX")
      if (cd "$part" && apt-get "${trixie_apt[@]}" download "$pkg=$version" >&2); then
        deb=$(compgen -G "$part/${pkg}_*.deb" | tail -n1)
        [[ -n $deb ]] && mv "$deb" "$VEIL_DEB_CACHE/" && deb=$VEIL_DEB_CACHE/${deb##*/}
      else
        echo "warning: apt-get download $pkg=$version failed" >&2
        deb=
      fi
      rm -rf "$part"
    fi
  fi
  if [[ -z $deb ]]; then
    deb=$(newest_cached_deb "$pkg")
    [[ -n $deb && -n $version ]] && echo "warning: $pkg: using the cached ${deb##*/}" >&2
  fi
  [[ -n $deb ]] || return 1
  echo "$deb"
}

# The kernel package: VEIL_GUEST_KERNEL, else the newest plain linux-image-6.12.*-amd64
# (never -rt; -cloud only when no plain one exists: it lacks 9p).
guest_kernel_name() {
  [[ -n ${VEIL_GUEST_KERNEL:-} ]] && { echo "$VEIL_GUEST_KERNEL"; return; }
  local flavour re names
  for flavour in amd64 cloud-amd64; do
    re="^linux-image-6\.12\.[0-9]+\+deb13-$flavour\$"
    if trixie_have_lists; then
      names=$(apt-cache "${trixie_apt[@]}" search --names-only "$re" 2>/dev/null | awk '{print $1}')
    else
      names=$(compgen -G "$VEIL_DEB_CACHE/linux-image-6.12.*-${flavour}_*.deb" |
        sed 's,.*/,,; s,_.*,,' | grep -E "$re" || true)
    fi
    names=$(LC_ALL=C sort -V <<<"$names" | tail -n1)
    [[ -n $names ]] && { echo "$names"; return; }
  done
}

guest_kernel_deb() {
  local name deb
  name=$(guest_kernel_name)
  [[ -n $name ]] || die "no linux-image-6.12.*-amd64 package known: the $VEIL_GUEST_SUITE lists" \
    "in $VEIL_APT_DIR are empty and $VEIL_DEB_CACHE holds none (run scripts/setup with network)"
  deb=$(trixie_deb "$name") || die "$name: not downloadable and not in $VEIL_DEB_CACHE"
  echo "$deb"
}

# PKG and its Depends/Pre-Depends, transitively (first alternative of each, as apt would pick
# on a system with nothing installed), read from the .debs themselves so the walk works offline.
guest_deb_closure() {
  local -A seen=()
  local queue=("$@") pkg deb dep
  while ((${#queue[@]})); do
    pkg=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n ${seen[$pkg]:-} ]] && continue
    seen[$pkg]=1
    deb=$(trixie_deb "$pkg") ||
      die "$VEIL_GUEST_SUITE package $pkg: not downloadable and not in $VEIL_DEB_CACHE (run scripts/setup with network)"
    echo "$deb"
    for dep in $( (dpkg-deb -f "$deb" Pre-Depends; dpkg-deb -f "$deb" Depends) | tr ',' '\n' |
      sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g'); do
      [[ -n ${seen[$dep]:-} ]] || queue+=("$dep")
    done
  done
}
