#!/bin/bash
# tests/bench/shim/run.sh [BUILD_DIR] [RUNS]
# veil's shim against containerd-shim-runc-v2 and against a bare guest boot, through a private
# containerd (tests/integration/lib/harness.py): shim RSS/PSS, `ctr run` wall time, shim CPU per
# container lifecycle, stdout throughput. Not a test: numbers depend on the machine's load.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
runs=${2:-3}
for t in shim/containerd-shim-veil-v2 guest/vmlinuz guest/initrd.img \
  tests/integration/shim/veil-pause tests/bench/guest/guest-boot-bench; do
  [[ -e $build/$t ]] || { echo "build it first: ninja -C $build ($build/$t missing)"; exit 1; }
done
VEIL_BUILD_ROOT=$build VEIL_SOURCE_ROOT=$src exec /usr/bin/python3 \
  "$src/tests/bench/shim/bench_shim.py" --runs "$runs"
