#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Token issue and validation: Keystone's own Fernet formatter (the `keystone` package in
# venv-keystone, made by scripts/test-env/keystone.sh) beside ours, same operations, same kind
# of key repository, same timing method, one run; prints the ratios. The headline compares like
# with like (Keystone's keys cached, as ours are); Keystone as deployed is printed beside it.
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
    # Like with like first: Keystone's formatter with its keys cached against ours with keys
    # loaded. Keystone as deployed re-reads its key repository on every call; that figure
    # follows, labelled, because it is what a real Keystone costs.
    print(f"RATIO {op} (headline, keys cached on both sides): {kc / o:.0f}x "
          f"({kc:.1f} us Keystone / {o:.2f} us ours)")
    print(f"      {op} (Keystone as deployed, key repository read per call): {k / o:.0f}x "
          f"({k:.1f} us)")
PY
