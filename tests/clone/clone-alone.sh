#!/bin/bash
# clone-alone: the committed HEAD of this source tree, cloned into an empty temp dir that has
# no sibling directories, builds and passes its unit and golden suites there. Proves that no
# test reads outside its checkout (a sibling data dir, say). Uncommitted changes are not part
# of the clone: commit before relying on this test.
set -euo pipefail
src=${VEIL_SOURCE_ROOT:?VEIL_SOURCE_ROOT is not set (run this through meson test)}
for tool in git meson ninja; do
  command -v "$tool" >/dev/null || { echo "clone-alone: $tool is missing (scripts/setup installs it)" >&2; exit 1; }
done
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 ||
  { echo "clone-alone: $src is not a git checkout: nothing to clone" >&2; exit 1; }

rev=$(git -C "$src" rev-parse HEAD)
[[ -z $(git -C "$src" status --porcelain --untracked-files=no) ]] ||
  echo "clone-alone: note: $src has uncommitted changes; testing the commit $rev only"

tmp=$(mktemp -d /tmp/veil-clone-alone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git clone --quiet --no-hardlinks "$src" "$tmp/veil"
git -C "$tmp/veil" checkout --quiet --detach "$rev"
if [[ $(ls -A "$tmp") != veil ]]; then
  echo "clone-alone: $tmp holds more than the clone" >&2
  exit 1
fi
cd "$tmp/veil"

# A static check first: the build and test files name no directory outside the checkout.
if git grep -n -e '\.\./shared' -e 'VEIL_SHARED[_]DIR' -- tests scripts meson.build '*/meson.build'; then
  echo "clone-alone: the lines above reach outside the checkout" >&2
  exit 1
fi

# The outer meson test's variables describe the outer tree: drop them.
unset VEIL_SOURCE_ROOT VEIL_BUILD_ROOT
nice -n 10 meson setup build -Dstatic_agent=false >setup.log 2>&1 ||
  { cat setup.log >&2; echo "clone-alone: meson setup failed in the clone" >&2; exit 1; }
nice -n 10 ninja -C build >ninja.log 2>&1 ||
  { tail -50 ninja.log >&2; echo "clone-alone: the build failed in the clone" >&2; exit 1; }
status=0
nice -n 10 meson test -C build --suite unit --suite golden --print-errorlogs --num-processes 2 || status=$?
ok=$(grep -c '"result": "OK"' build/meson-logs/testlog.json || true)
bad=$(grep -c '"result": "\(FAIL\|TIMEOUT\|ERROR\|UNEXPECTEDPASS\)"' build/meson-logs/testlog.json || true)
echo "clone-alone: commit $rev in $tmp/veil: $ok passed, $bad failed"
if (( status != 0 || bad != 0 || ok == 0 )); then
  echo "clone-alone: the unit/golden suites fail in a clone with no sibling directories" >&2
  exit 1
fi
