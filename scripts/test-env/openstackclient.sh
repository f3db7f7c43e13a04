# SPDX-License-Identifier: Apache-2.0
# Prepares the venv `venv-osc` under $FERROSTACK_CACHE with a pinned python-openstackclient, the
# unmodified CLI the identity end-to-end test (tests/identity_cli.rs) drives against minicloud.
# Idempotent: does nothing when the venv already has the pinned version. Sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/openstackclient.sh`.
(
  set -euo pipefail
  OSC_VERSION=10.5.0
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-osc"
  stamp="$venv/.python-openstackclient-$OSC_VERSION"
  if [ -x "$venv/bin/openstack" ] && [ -e "$stamp" ]; then
    echo "python-openstackclient $OSC_VERSION: ready in $venv"
    exit 0
  fi
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "python-openstackclient==$OSC_VERSION"
  "$venv/bin/openstack" --version
  touch "$stamp"
  echo "python-openstackclient $OSC_VERSION: installed in $venv"
)
