#!/bin/bash
# tests/bench/ttrpc/run.sh [BUILD_DIR] [SECONDS_PER_CELL]
# Unary echo over a unix socket: veil's C ttrpc (client+server) against the Go
# containerd/ttrpc 1.1.1 (client+server), same machine, same run. Payloads
# 16 B, 4 KiB, 1 MiB; concurrency 1 and 16. Prints requests/s, p50, p99 and the
# C/Go requests/s ratio. Not a test: numbers depend on the machine's load.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
secs=${2:-2}
cbin=$build/tests/bench/ttrpc/bench-ttrpc
[[ -x $cbin ]] || { echo "build it first: ninja -C $build tests/bench/ttrpc/bench-ttrpc"; exit 1; }
command -v go >/dev/null || { echo "go not found: install golang-go (scripts/setup)"; exit 1; }
work=$build/tests/bench/ttrpc/go-work
mkdir -p "$work"
gobin=$work/veil-ttrpc-peer
GO111MODULE=off GOPATH="$src/tests/interop/go:/usr/share/gocode" GOPROXY=off GOFLAGS= \
  GOCACHE="$work/gocache" go build -o "$gobin.$$" veil-ttrpc-peer
mv -f "$gobin.$$" "$gobin"

tmp=$(mktemp -d /tmp/veil-bench-ttrpc-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
start_server() { # name cmd...
  local name=$1; shift
  "$@" > "$tmp/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q READY "$tmp/$name.out" && return 0; sleep 0.05; done
  echo "$name server did not start"; cat "$tmp/$name.out"; exit 1
}
start_server c "$cbin" server "$tmp/c.sock"
start_server go "$gobin" bench-server "$tmp/go.sock"

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
printf '%-8s %-4s | %12s %9s %9s | %12s %9s %9s | %8s %s\n' payload conc \
  "C req/s" "C p50us" "C p99us" "Go req/s" "Go p50us" "Go p99us" "C/Go" "p99 C<Go"
for size in 16 4096 1048576; do
  for conc in 1 16; do
    c=$("$cbin" client "$tmp/c.sock" "$size" "$conc" "$secs")
    g=$("$gobin" bench-client "$tmp/go.sock" "$size" "$conc" "$secs")
    crps=$(field rps "$c") gorps=$(field rps "$g")
    cp99=$(field p99_us "$c") gop99=$(field p99_us "$g")
    ratio=$(awk -v a="$crps" -v b="$gorps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    better=$(awk -v a="$cp99" -v b="$gop99" 'BEGIN { print (a < b) ? "yes" : "NO" }')
    case $size in 16) label="16 B" ;; 4096) label="4 KiB" ;; *) label="1 MiB" ;; esac
    printf '%-8s %-4s | %12s %9s %9s | %12s %9s %9s | %8s %s\n' "$label" "$conc" \
      "$crps" "$(field p50_us "$c")" "$cp99" "$gorps" "$(field p50_us "$g")" "$gop99" "$ratio" "$better"
  done
done
