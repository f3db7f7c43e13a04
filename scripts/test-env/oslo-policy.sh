# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-oslo-policy` under $FERROSTACK_CACHE with a pinned oslo.policy, the
# reference for core's policy differential test (core/tests/policy_oslo_differential.rs).
# Idempotent: does nothing when the venv already has the pinned version. Sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/oslo-policy.sh`.
(
  set -euo pipefail
  OSLO_POLICY_VERSION=6.0.1
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-oslo-policy"
  stamp="$venv/.oslo.policy-$OSLO_POLICY_VERSION"
  if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
    echo "oslo.policy $OSLO_POLICY_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "oslo.policy==$OSLO_POLICY_VERSION"
  "$venv/bin/python" -c 'import oslo_policy._parser, oslo_policy._checks'
  touch "$stamp"
  echo "oslo.policy $OSLO_POLICY_VERSION: installed in $venv"
)
