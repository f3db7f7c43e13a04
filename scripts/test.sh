#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the whole test suite: prepares prerequisites (idempotent, cached outside the clone),
# starts shared backends once, runs every test with nextest, stops what it started.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p ferrostack-core   # extra arguments go to `cargo nextest run`
set -euo pipefail
cd "$(dirname "$0")/.."
export FERROSTACK_CACHE="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
mkdir -p "$FERROSTACK_CACHE"

# 0. The test runner itself: cargo-nextest, installed from crates.io when missing.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest (cargo install --locked cargo-nextest)"
  cargo install --locked cargo-nextest
fi

# 1. Prerequisites: every scripts/test-env/*.sh is idempotent and may export FERROSTACK_TEST_*
#    variables and register cleanup commands with `on_exit`.
cleanups=()
on_exit() { cleanups+=("$*"); }
cleanup() {
  local i
  for ((i=${#cleanups[@]}-1; i>=0; i--)); do eval "${cleanups[$i]}" || true; done
}
trap cleanup EXIT
for setup in scripts/test-env/*.sh; do
  [ -e "$setup" ] || continue
  echo "== test environment: $setup"
  # shellcheck source=/dev/null
  source "$setup"
done

# 2. The tests, with the facade's optional drivers compiled in so its configuration tests run
#    against the PostgreSQL, RabbitMQ and libvirtd started above.
features="ferrostack/postgres,ferrostack/amqp,ferrostack/kvm,ferrostack/linuxnet"
echo "== cargo nextest run --workspace --features $features $*"
cargo nextest run --workspace --no-fail-fast --features "$features" "$@"
