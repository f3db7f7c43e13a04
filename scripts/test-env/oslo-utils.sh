# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-oslo-utils` under $FERROSTACK_CACHE with a pinned oslo.utils, whose
# `oslo_utils.imageutils.format_inspector` is the reference for the image crate's differential
# format-inspector test (image/tests/inspector_differential.rs).
# Idempotent: does nothing when the venv already has the pinned version. Sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/oslo-utils.sh`.
(
  set -euo pipefail
  OSLO_UTILS_VERSION=10.2.0
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-oslo-utils"
  stamp="$venv/.oslo.utils-$OSLO_UTILS_VERSION"
  if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
    echo "oslo.utils $OSLO_UTILS_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "oslo.utils==$OSLO_UTILS_VERSION" cryptography
  "$venv/bin/python" -c 'from oslo_utils.imageutils import format_inspector'
  touch "$stamp"
  echo "oslo.utils $OSLO_UTILS_VERSION: installed in $venv"
)
