#!/bin/sh
# `veil check` on this host (no TEE usable, each TEE with a reason and a remedy) and on a fake
# SNP host tree (--root: sysfs flags, /dev/kvm and an SNP firmware descriptor as files).
# Usage: veil-check.sh PATH/TO/veil
set -eu
veil=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$veil" check > "$tmp/table"
grep -q "No TEE is usable on this host" "$tmp/table" || fail "table does not say no TEE is usable"
for tee in sev sev-es snp tdx se; do
  grep -Eq "^  $tee +no " "$tmp/table" || fail "table: $tee not reported unusable"
done
grep -q -- "-> " "$tmp/table" || fail "table gives no remedy"

"$veil" check --json > "$tmp/json"
/usr/bin/python3 - "$tmp/json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for tee in ("sev", "sev-es", "snp", "tdx", "se"):
    t = d["tee"][tee]
    assert t["usable"] is False, tee
    assert t["why"] and t["todo"], tee
assert d["vhost_vsock"]["usable"] is False
assert "9.1" in d["tee"]["snp"]["why"] or d["qemu"]["x86_64"].split(".")[0] >= "9"
assert d["dev"]["usable"] is True
PY

# A fake SNP host: the --root tree supplies sysfs flags, /dev/kvm and the firmware. CPUID is
# this CPU's, so SNP is still reported unusable -- but for the CPU and QEMU only.
root=$tmp/root
mkdir -p "$root/dev" "$root/sys/module/kvm_amd/parameters" "$root/usr/share/qemu/firmware" "$root/fw"
: > "$root/dev/kvm"
echo Y > "$root/sys/module/kvm_amd/parameters/sev_snp"
: > "$root/fw/AMDSEV.fd"
cat > "$root/usr/share/qemu/firmware/10-snp.json" <<JSON
{"interface-types":["uefi"],"mapping":{"device":"memory","filename":"/fw/AMDSEV.fd"},
 "targets":[{"architecture":"x86_64","machines":["pc-q35-*"]}],"features":["amd-sev-snp"]}
JSON
"$veil" check --json --root "$root" > "$tmp/fake.json"
/usr/bin/python3 - "$tmp/fake.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
snp = d["tee"]["snp"]
assert d["kvm"]["usable"] is True, d["kvm"]
assert d["kvm_params"]["sev_snp"] is True
assert "sev_snp is not Y" not in snp["why"], snp
assert "no firmware" not in snp["why"], snp
assert snp["firmware"].endswith("/fw/AMDSEV.fd"), snp
PY
"$veil" check --bogus >/dev/null 2>&1 && fail "unknown option accepted"
echo "veil check: ok"
