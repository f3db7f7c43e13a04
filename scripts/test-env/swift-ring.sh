# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-swift` under $FERROSTACK_CACHE with a pinned OpenStack Swift, the
# reference for the ring differential test (objectstore/tests/ring_swift_differential.rs) and
# the side-by-side benchmark (scripts/ring/compare.sh). Swift 2.38.3 installs from wheels
# (pyeclib ships manylinux wheels), so no C toolchain is needed.
# Idempotent: does nothing when the venv already has the pinned version. Sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/swift-ring.sh`.
(
  set -euo pipefail
  SWIFT_VERSION=2.38.3
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-swift"
  stamp="$venv/.swift-$SWIFT_VERSION"
  if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
    echo "swift $SWIFT_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "swift==$SWIFT_VERSION"
  "$venv/bin/python" -c 'from swift.common.ring import RingBuilder, Ring'
  touch "$stamp"
  echo "swift $SWIFT_VERSION: installed in $venv"
)
