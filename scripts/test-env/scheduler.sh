# SPDX-License-Identifier: Apache-2.0
# Prerequisites of ferrostack-scheduler's decision-equivalence tests
# (scheduler/tests/equivalence.rs): only `python3` with its standard library, which runs the
# reference scripts in scheduler/tests/reference/. Nothing to install; this checks and says so.
#
# Optional, for side-by-side runs against real Nova (scripts/scheduler/side_by_side.py --nova):
# with FERROSTACK_SCHEDULER_NOVA=1 this also prepares $FERROSTACK_CACHE/venv-nova with
# nova 34.0.0 from PyPI (about 400 MB; not needed by the tests). Idempotent; sourced by
# scripts/test.sh; also runnable on its own: `bash scripts/test-env/scheduler.sh`.
(
  set -euo pipefail
  if command -v python3 >/dev/null 2>&1; then
    echo "scheduler: $(python3 --version) ready for the equivalence tests"
  else
    echo "scheduler: python3 is missing; the equivalence tests will report SKIPPED (fail under CI)"
  fi
  if [ "${FERROSTACK_SCHEDULER_NOVA:-0}" = "1" ]; then
    NOVA_VERSION=34.0.0
    cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
    venv="$cache/venv-nova"
    stamp="$venv/.nova-$NOVA_VERSION"
    if [ -x "$venv/bin/python" ] && [ -e "$stamp" ]; then
      echo "scheduler: nova $NOVA_VERSION ready in $venv"
    else
      mkdir -p "$cache"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install --quiet "nova==$NOVA_VERSION"
      "$venv/bin/python" -c 'import nova.scheduler.manager'
      touch "$stamp"
      echo "scheduler: nova $NOVA_VERSION installed in $venv"
    fi
  fi
)
