# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-tempest` under $FERROSTACK_CACHE with a pinned tempest, run by
# identity/tests/tempest_identity.rs (tempest.api.identity.v3 token, catalog, discovery and
# project tests against the identity API). Idempotent; sourced by scripts/test.sh; also
# runnable on its own: `bash scripts/test-env/tempest.sh`.
(
  set -euo pipefail
  TEMPEST_VERSION=47.0.0
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-tempest"
  stamp="$venv/.tempest-$TEMPEST_VERSION"
  if [ -x "$venv/bin/tempest" ] && [ -e "$stamp" ]; then
    echo "tempest $TEMPEST_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "tempest==$TEMPEST_VERSION"
  "$venv/bin/tempest" --version
  touch "$stamp"
  echo "tempest $TEMPEST_VERSION: installed in $venv"
)
