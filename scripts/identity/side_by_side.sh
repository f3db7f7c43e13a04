#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Token issue and validation: Keystone's own Fernet formatter (the `keystone` package in
# venv-keystone, made by scripts/test-env/keystone.sh) beside ours, same operations, same kind
# of key repository, same timing method, one run; prints the ratios.
#
#   bash scripts/identity/side_by_side.sh
#
# Pin both to one core with PIN=1 (taskset). Numbers are wall time per call on whatever the
# machine is doing: compare the ratio, not the absolute values, on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
py="$cache/venv-keystone/bin/python"
[ -x "$py" ] || { echo "no Keystone venv: run bash scripts/test-env/keystone.sh" >&2; exit 2; }
pin=()
[ -n "${PIN:-}" ] && pin=(taskset -c "$PIN")
cargo build --quiet --release -p ferrostack-identity --example token_timing
bin="${CARGO_TARGET_DIR:-target}/release/examples/token_timing"
ours=$("${pin[@]}" "$bin")
theirs=$("${pin[@]}" "$py" identity/benches/keystone_fernet.py)
echo "$theirs"
echo "$ours"
python3 - "$ours" "$theirs" <<'PY'
import re, sys
ours, theirs = sys.argv[1], sys.argv[2]
def val(text, key):
    m = re.search(re.escape(key) + r": ([0-9.]+) us", text)
    return float(m.group(1))
for op in ("issue", "validate"):
    o = val(ours, f"ferrostack/token/{op}")
    k = val(theirs, f"keystone/token/{op}")
    kc = val(theirs, f"keystone/token/{op} (keys cached)")
    print(f"RATIO {op}: {k / o:.0f}x Keystone as it runs ({k:.1f} us / {o:.2f} us), "
          f"{kc / o:.0f}x its formatter with keys cached ({kc:.1f} us)")
PY
