# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-swift` under $FERROSTACK_CACHE with a pinned OpenStack Swift, the
# reference for the ring differential test (objectstore/tests/ring_swift_differential.rs) and
# the side-by-side benchmark (scripts/ring/compare.sh), plus scipy, whose HiGHS MILP solver
# gives the exact minimum movement (scripts/ring/min_moves.py, objectstore/tests/
# ring_movement_exact.rs). Both install from wheels, so no C toolchain is needed.
# Idempotent: does nothing when the venv already has the pinned version. Sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/swift-ring.sh`.
(
  set -euo pipefail
  SWIFT_VERSION=2.38.3
  SCIPY_VERSION=1.17.1
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-swift"
  stamp="$venv/.swift-$SWIFT_VERSION-scipy-$SCIPY_VERSION"
  if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
    echo "swift $SWIFT_VERSION, scipy $SCIPY_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "swift==$SWIFT_VERSION" "scipy==$SCIPY_VERSION"
  "$venv/bin/python" -c 'from swift.common.ring import RingBuilder, Ring; from scipy.optimize import milp'
  touch "$stamp"
  echo "swift $SWIFT_VERSION, scipy $SCIPY_VERSION: installed in $venv"
)
