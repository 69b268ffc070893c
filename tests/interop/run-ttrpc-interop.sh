#!/bin/bash
# run-ttrpc-interop.sh c-client|go-client <ttrpc-interop-peer binary> <work dir>
# Builds the Go peer (containerd/ttrpc 1.1.1 from Debian's gocode tree, GOPATH
# mode, offline) into the work dir, starts the server side (Go for c-client, C
# for go-client) on a unix socket and runs the other side's checks against it.
# Fails (does not skip) when Go or the Go ttrpc sources are missing.
set -euo pipefail
mode=$1 cpeer=$2 work=$3
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
work=$(cd "$work" && pwd)
command -v go >/dev/null || { echo "FAIL: go not found: install golang-go (scripts/setup)"; exit 1; }
[[ -d /usr/share/gocode/src/github.com/containerd/ttrpc ]] || {
  echo "FAIL: Go ttrpc sources missing: install golang-github-containerd-ttrpc-dev (scripts/setup)"; exit 1; }
gopeer=$work/veil-ttrpc-peer
tmpbin=$gopeer.$$
GO111MODULE=off GOPATH="$src/go:/usr/share/gocode" GOPROXY=off GOFLAGS= GOCACHE="$work/gocache" \
  go build -o "$tmpbin" veil-ttrpc-peer
mv -f "$tmpbin" "$gopeer"

sockdir=$(mktemp -d /tmp/veil-interop-XXXXXX)
sock=$sockdir/ttrpc.sock
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$sockdir"
}
trap cleanup EXIT

case $mode in
  c-client) server=("$gopeer" server "$sock"); client=("$cpeer" client "$sock") ;;
  go-client) server=("$cpeer" server "$sock"); client=("$gopeer" client "$sock") ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
"${server[@]}" > "$sockdir/server.out" 2>"$sockdir/server.err" &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q READY "$sockdir/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: server exited"; cat "$sockdir/server.err"; exit 1; }
  sleep 0.05
done
grep -q READY "$sockdir/server.out" || { echo "FAIL: server not ready"; exit 1; }
rc=0
"${client[@]}" || rc=$?
kill -0 "$server_pid" 2>/dev/null || { echo "FAIL: server died during the checks"; cat "$sockdir/server.err"; rc=1; }
exit $rc
