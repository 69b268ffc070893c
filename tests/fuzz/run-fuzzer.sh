#!/bin/bash
# run-fuzzer.sh <fuzzer binary> <seed corpus dir> <seconds>
# Runs a libFuzzer target for a bounded time on a scratch copy of its seed corpus
# (new inputs never land in the repository). Fails on any crash, leak or UB report.
set -euo pipefail
bin=$(realpath "$1") seeds=$(realpath -m "$2") secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [[ -d $seeds ]]; then cp -r "$seeds"/. "$work/corpus/"; fi
cd "$work"
# -error_exitcode: libFuzzer's default, 77, is what meson reads as a skip
exec "$bin" -error_exitcode=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" corpus
