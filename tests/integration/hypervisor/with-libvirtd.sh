#!/bin/sh
# Run a test program against a private libvirtd: its own config, unix socket dir and pid file
# under a temp dir (the QEMU driver's state dirs are libvirt's system ones). virtlogd is started
# only if none runs. Everything this script started is stopped again, also on failure.
# Usage: with-libvirtd.sh PROGRAM [ARGS...]   (PROGRAM gets VEIL_LIBVIRT_URI)
set -eu
tmp=$(mktemp -d /tmp/veil-libvirtd-XXXXXX)
started_virtlogd=""
libvirtd_pid=""
cleanup() {
  if [ -n "$libvirtd_pid" ]; then kill "$libvirtd_pid" 2>/dev/null || true; fi
  if [ -n "$started_virtlogd" ] && [ -f "$tmp/virtlogd.pid" ]; then
    kill "$(cat "$tmp/virtlogd.pid")" 2>/dev/null || true
  fi
  # wait for them to go (bounded), then remove the temp dir
  for _ in $(seq 50); do
    alive=""
    [ -n "$libvirtd_pid" ] && kill -0 "$libvirtd_pid" 2>/dev/null && alive=1
    [ -z "$alive" ] && break
    sleep 0.1
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

command -v libvirtd >/dev/null || { echo "libvirtd not installed (scripts/setup)" >&2; exit 1; }
command -v virtlogd >/dev/null || { echo "virtlogd not installed (scripts/setup)" >&2; exit 1; }

if ! pgrep -x virtlogd >/dev/null 2>&1; then
  virtlogd -d -p "$tmp/virtlogd.pid"
  started_virtlogd=1
fi
cat > "$tmp/libvirtd.conf" <<CONF
unix_sock_dir = "$tmp"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$tmp/libvirtd.log"
CONF
libvirtd -d -f "$tmp/libvirtd.conf" -p "$tmp/libvirtd.pid"
for _ in $(seq 100); do
  [ -S "$tmp/libvirt-sock" ] && [ -f "$tmp/libvirtd.pid" ] && break
  sleep 0.1
done
libvirtd_pid=$(cat "$tmp/libvirtd.pid")
[ -S "$tmp/libvirt-sock" ] || { echo "libvirtd did not create $tmp/libvirt-sock" >&2; cat "$tmp/libvirtd.log" >&2 || true; exit 1; }
export VEIL_LIBVIRT_URI="qemu:///system?socket=$tmp/libvirt-sock"
status=0
"$@" || status=$?
if [ "$status" -ne 0 ]; then tail -20 "$tmp/libvirtd.log" >&2 || true; fi
exit "$status"
