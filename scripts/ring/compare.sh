#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Side by side: OpenStack Swift's RingBuilder/Ring and Ferrostack's ring on the same layout
# and the same names, on this machine, in one run. Prints both sets of numbers and ratios.
#
#   scripts/ring/compare.sh [PART_POWER=20] [SERVERS_PER_ZONE=6] [DISKS_PER_SERVER=14] [NAMES=200000]
#
# Layout: 3 regions x 4 zones x servers x disks, mixed weights (Swift benchmark scheme
# "balanced", seed 42). Times are CPU seconds of one thread (Swift: time.process_time;
# ours: /proc/thread-self/schedstat). Needs the venv of scripts/test-env/swift-ring.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
PP="${1:-20}"; SERVERS="${2:-6}"; DISKS="${3:-14}"; N="${4:-200000}"
bash scripts/test-env/swift-ring.sh >/dev/null
PY="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}/venv-swift/bin/python"
cargo build --quiet --release -p ferrostack-objectstore --features cli --example ring_tool
RING="${CARGO_TARGET_DIR:-target}/release/examples/ring_tool"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$PY" objectstore/tests/swift/swift_ring_tool.py layout --servers "$SERVERS" --disks "$DISKS" --out "$work/devs.json"
"$PY" - "$N" > "$work/names.txt" <<'PYEOF'
import random, sys
rng = random.Random(7)
for _ in range(int(sys.argv[1])):
    print('AUTH_test%d/cont%d/obj/%016x' % (rng.randrange(100), rng.randrange(1000), rng.getrandbits(64)))
PYEOF
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== Swift $("$PY" -c 'import swift; print(swift.__version__)'): build, +1/-1 device, get_nodes (pp$PP, $(( 12 * SERVERS * DISKS )) devices)"
"$PY" scripts/ring/swift_side.py "$work/devs.json" "$PP" "$work" "$work/names.txt" > "$work/swift.json"
cat "$work/swift.json"
echo "== Ferrostack: build, +1/-1 device"
/usr/bin/time -f "%M" -o "$work/rss" "$RING" bench-build --json "$work/devs.json" --part-power "$PP" > "$work/ours.json"
cat "$work/ours.json"
echo "== Ferrostack: lookups on Swift's ring file, same names"
"$RING" bench-lookup --ring "$work/swift.ring.gz" --names "$work/names.txt" --reps 5 > "$work/lookup.json"
cat "$work/lookup.json"
"$RING" lookup --ring "$work/swift.ring.gz" --hash-prefix startcap --hash-suffix endcap < "$work/names.txt" > "$work/ours-lookups.txt"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$work" <<'PYEOF'
import json, sys
w = sys.argv[1]
s = json.load(open(w + '/swift.json')); o = json.load(open(w + '/ours.json')); l = json.load(open(w + '/lookup.json'))
rss_kib = int(open(w + '/rss').read().split()[-1])
ours = open(w + '/ours-lookups.txt').read().splitlines(); theirs = open(w + '/swift-lookups.txt').read().splitlines()
mism = sum(1 for a, b in zip(ours, theirs) if a != b) + abs(len(ours) - len(theirs))
print('== side by side (CPU time, one thread)')
print('lookup mismatches vs Swift get_nodes: %d of %d names' % (mism, len(theirs)))
rows = [
 ('get_nodes/s, md5 (Swift-compatible)', s['get_nodes_per_cpu_s'], l['md5_get_nodes_per_cpu_s'], 'rate'),
 ('get_nodes/s, md5 batch (4-way md5)', s['get_nodes_per_cpu_s'], l['md5_batch_per_cpu_s'], 'rate'),
 ('get_nodes/s, native xxh3', s['get_nodes_per_cpu_s'], l['native_get_nodes_per_cpu_s'], 'rate'),
 ('get_nodes/s, native batch', s['get_nodes_per_cpu_s'], l['native_batch_per_cpu_s'], 'rate'),
 ('initial build + rebalance, s', s['initial_build_cpu_s'], o['initial_build_cpu_s'], 'time'),
 ('rebalance after +1 device, s', s['add_one']['cpu_s'], o['add_one']['cpu_s'], 'time'),
 ('rebalance after -1 device, s', s['remove_one']['cpu_s'], o['remove_one']['cpu_s'], 'time'),
]
for name, sw, us, kind in rows:
    ratio = us / sw if kind == 'rate' else sw / us
    print('%-40s swift %12.4g  ours %12.4g  ours faster x%.1f' % (name, sw, us, ratio))
print('moved after +1 device: swift %d, ours %d, minimum %d (ours/min %.4f)' % (s['add_one']['moved'], o['add_one']['moved'], o['add_one']['min'], o['add_one']['ratio']))
print('moved after -1 device: swift %d, ours %d, minimum %d (ours/min %.4f)' % (s['remove_one']['moved'], o['remove_one']['moved'], o['remove_one']['min'], o['remove_one']['ratio']))
print('balance after build: swift %.3f %%, ours %.3f %%; ours distinct regions/zones/servers/devices %s %%' % (s['initial_balance_pct'], o['initial_balance_pct'], o['initial_distinct_pct']))
print('peak RSS: swift %.0f MiB (build + 2 copies), ours %.0f MiB (build + 2 copies)' % (s['peak_rss_mib'], rss_kib / 1024))
PYEOF
