#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts and stops one virtlogd + libvirtd pair without systemd, for a test run.
#
#   libvirtd.sh start DIR   # starts them (pid files and logs in DIR) unless a libvirtd already
#                           # answers on qemu:///system, which is then reused and left alone
#   libvirtd.sh uri DIR     # the URI tests connect to
#   libvirtd.sh stop DIR    # stops only the daemons this script started (by their pid files)
set -euo pipefail
cmd=${1:?start|stop|uri}; dir=${2:?state directory}
uri=qemu:///system
answers() { timeout 5 virsh -q -c "$uri" version >/dev/null 2>&1; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    if answers; then echo "reusing the running libvirtd" > "$dir/reused"; exit 0; fi
    if ! pgrep -x virtlogd >/dev/null; then
      virtlogd -p "$dir/virtlogd.pid" >"$dir/virtlogd.log" 2>&1 &
    fi
    libvirtd -p "$dir/libvirtd.pid" >"$dir/libvirtd.log" 2>&1 &
    # libvirtd re-probes QEMU's capabilities on every start: 8-10 s.
    for _ in $(seq 1 120); do answers && exit 0; sleep 0.5; done
    echo "libvirtd did not answer within 60 s" >&2
    exit 1 ;;
  uri) echo "$uri" ;;
  stop)
    for p in libvirtd virtlogd; do
      f="$dir/$p.pid"
      [ -s "$f" ] || continue
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$f"
    done ;;
  *) echo "usage: $0 start|stop|uri DIR" >&2; exit 2 ;;
esac
