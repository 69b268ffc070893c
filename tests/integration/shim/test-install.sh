#!/bin/bash
# packaging/install.sh into a temp prefix with temp containerd configs: --dry-run changes
# nothing, the first run installs and registers the runtimes (containerd 1.6 parses the result
# and sees every veil-* runtime), the second run changes nothing (same bytes, same mtimes, no
# new backup), a missing config is created, a version 3 config gets the 2.x plugin section,
# a veil-* runtime outside the managed block is refused, and every Kubernetes RuntimeClass
# names a handler that the containerd snippet defines.
set -euo pipefail

src=${VEIL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
build=${VEIL_BUILD_ROOT:-$src/build}
install=$src/packaging/install.sh
tmp=$(mktemp -d /tmp/veil-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
snapshot() { (cd "$tmp" && find . -path ./out -prune -o -printf '%p %T@ %m %s\n' | sort &&
  find . -path ./out -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }

cfg=$tmp/etc/containerd/config.toml
mkdir -p "$(dirname "$cfg")" "$tmp/out"
cat >"$cfg" <<'EOF'
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.example/pause:3.9"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
EOF
operator_part=$(cat "$cfg")
args=(--prefix "$tmp/prefix" --build-dir "$build" --containerd-config "$cfg")

# 1. --dry-run changes nothing.
before=$(snapshot)
"$install" "${args[@]}" --dry-run >"$tmp/out/dry" || fail "dry run failed: $(cat "$tmp/out/dry")"
[[ $(snapshot) == "$before" ]] || fail "--dry-run changed files"
grep -q 'would install .*/bin/containerd-shim-veil-v2' "$tmp/out/dry" || fail "dry run is silent"
pass "--dry-run changes nothing"

# 2. First run: binaries, guest, configs, containerd runtimes, one backup.
"$install" "${args[@]}" >"$tmp/out/first" || fail "install failed: $(cat "$tmp/out/first")"
for f in bin/containerd-shim-veil-v2 bin/veil share/veil/guest/vmlinuz share/veil/guest/vmlinux \
  share/veil/guest/initrd.img share/veil/configs/dev.json; do
  [[ -f $tmp/prefix/$f ]] || fail "$f not installed"
done
[[ -x $tmp/prefix/bin/containerd-shim-veil-v2 ]] || fail "shim not executable"
grep -q "\"$tmp/prefix/share/veil/guest/vmlinux\"" "$tmp/prefix/share/veil/configs/dev.json" ||
  fail "dev.json does not point at the installed kernel"
backups=("$cfg".veil-backup-*)
((${#backups[@]} == 1)) || fail "expected one backup, got ${backups[*]}"
[[ $(cat "${backups[0]}") == "$operator_part" ]] || fail "the backup is not the old config"
[[ $(head -c ${#operator_part} "$cfg") == "$operator_part" ]] ||
  fail "the operator's part of the config changed"
dump=$(containerd --config "$cfg" config dump) || fail "containerd cannot parse the config"
for p in dev sev sev-es snp tdx se; do
  grep -q "runtimes.veil-$p\]" <<<"$dump" || fail "containerd does not see runtime veil-$p"
  grep -q "ConfigPath = \"$tmp/prefix/share/veil/configs/$p.json\"" <<<"$dump" ||
    fail "veil-$p has no ConfigPath"
done
grep -q 'sandbox_image = "registry.example/pause:3.9"' <<<"$dump" || fail "operator setting lost"
pass "first run installs and registers 6 runtimes"

# 3. Second run: nothing changes.
before=$(snapshot)
"$install" "${args[@]}" >"$tmp/out/second" || fail "second run failed"
grep -q 'done: 0 change(s)' "$tmp/out/second" || fail "second run changed: $(cat "$tmp/out/second")"
[[ $(snapshot) == "$before" ]] || fail "second run modified files: $(diff <(echo "$before") \
  <(snapshot))"
pass "second run changes nothing"

# 4. A missing config is created (version 2 for containerd 1.6) and parses.
new_cfg=$tmp/new/config.toml
"$install" "${args[@]:0:4}" --containerd-config "$new_cfg" >"$tmp/out/new"
head -n1 "$new_cfg" | grep -qx 'version = 2' || fail "new config has no version 2 header"
containerd --config "$new_cfg" config dump | grep -q 'runtimes.veil-dev\]' ||
  fail "new config lacks veil-dev"
pass "missing config created"

# 5. containerd 2.x configs (version 3) get the io.containerd.cri.v1.runtime section.
v3=$tmp/v3.toml
printf 'version = 3\n' >"$v3"
"$install" "${args[@]:0:4}" --containerd-config "$v3" >"$tmp/out/v3"
grep -q '^\[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.veil-tdx\]' "$v3" ||
  fail "version 3 config lacks the 2.x runtime section"
grep -q 'io.containerd.grpc.v1.cri' "$v3" && fail "version 3 config got the 1.x section"
pass "version 3 config"

# 6. A veil runtime the operator defined outside the block is not silently duplicated.
clash=$tmp/clash.toml
printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.veil-dev]\n' >"$clash"
if "$install" "${args[@]:0:4}" --containerd-config "$clash" >"$tmp/out/clash" 2>&1; then
  fail "a clashing veil-dev runtime was accepted"
fi
grep -q 'outside the' "$tmp/out/clash" || fail "unclear clash error: $(cat "$tmp/out/clash")"
pass "clash refused"

# 7. Every RuntimeClass names a handler the containerd snippet defines.
/usr/bin/python3 - "$src/packaging" <<'EOF'
import glob, re, sys, yaml
root = sys.argv[1]
snippet = open(f"{root}/containerd/veil-runtimes.v2.toml.in").read()
handlers = set(re.findall(r"runtimes\.(veil-[a-z-]+)\]", snippet))
classes = sorted(glob.glob(f"{root}/kubernetes/runtimeclass-*.yaml"))
assert len(classes) >= 4, classes
for path in classes:
    rc = yaml.safe_load(open(path))
    assert rc["kind"] == "RuntimeClass" and rc["apiVersion"] == "node.k8s.io/v1", path
    assert rc["handler"] in handlers, f"{path}: handler {rc['handler']} not in {handlers}"
    assert rc["overhead"]["podFixed"]["memory"] and rc["overhead"]["podFixed"]["cpu"], path
    assert rc["scheduling"]["nodeSelector"], path
print(f"ok: {len(classes)} RuntimeClasses name defined handlers")
EOF
echo "PASS: packaging/install.sh"
