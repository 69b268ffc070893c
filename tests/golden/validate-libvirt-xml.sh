#!/bin/sh
# Validate the golden libvirt domain XML against the installed libvirt schema. Launch security
# types the installed libvirt does not know yet (sev-snp: 10.5, tdx: 11.x) are reported and
# their files validated with the launchSecurity element removed, so the rest is still checked.
set -eu
dir=$(dirname "$0")
schema=/usr/share/libvirt/schemas/domaincommon.rng
command -v virt-xml-validate >/dev/null || { echo "virt-xml-validate missing: install libvirt-clients (scripts/setup)" >&2; exit 1; }
command -v xmllint >/dev/null || { echo "xmllint missing (virt-xml-validate calls it): install libxml2-utils (scripts/setup)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$dir"/libvirt-*.xml; do
  n=$((n + 1))
  type=$(sed -n "s/.*<launchSecurity type='\([a-z0-9-]*\)'.*/\1/p" "$f")
  if [ -n "$type" ] && ! grep -q "<value>$type</value>" "$schema"; then
    echo "# $(basename "$f"): launchSecurity type '$type' unknown to this libvirt; checking the rest"
    sed '/<launchSecurity/,/<\/launchSecurity>/d; /<launchSecurity .*\/>/d' "$f" > "$tmp/x.xml"
    virt-xml-validate "$tmp/x.xml" domain
  else
    virt-xml-validate "$f" domain
  fi
done
[ "$n" -gt 0 ] || { echo "no golden XML files in $dir" >&2; exit 1; }
