# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-keystone` under $FERROSTACK_CACHE with a pinned Keystone, the reference
# for identity's Fernet interop test (identity/tests/fernet_keystone_interop.rs), which imports
# keystone.token.token_formatters to issue and validate tokens with the same key repository.
# Keystone is installed with its declared dependencies (its package imports oslo.* at import
# time, so a --no-deps install does not import). Idempotent; sourced by scripts/test.sh; also
# runnable on its own: `bash scripts/test-env/keystone.sh`.
(
  set -euo pipefail
  KEYSTONE_VERSION=30.0.0
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-keystone"
  stamp="$venv/.keystone-$KEYSTONE_VERSION"
  if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
    echo "keystone $KEYSTONE_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "keystone==$KEYSTONE_VERSION"
  "$venv/bin/python" -c 'import keystone.token.token_formatters'
  touch "$stamp"
  echo "keystone $KEYSTONE_VERSION: installed in $venv"
)
