#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Token validation through HTTP alone and while password logins run, side by side (issue 17:
# under 8 concurrent logins, validation keeps at least half of its throughput alone). Serves
# the identity router on 127.0.0.1 in release mode, sends a fixed number of validations from
# CLIENTS concurrent connections alone, then the same while LOGINS password login loops (bcrypt
# of cost COST, Keystone's default 12) run; prints both rates, p50/p99 and the ratio. Bounded:
# it stops by itself.
#
#   bash scripts/identity/validate_under_logins.sh
#   CLIENTS=8 REQUESTS=5000 LOGINS=8 COST=12 bash scripts/identity/validate_under_logins.sh
#
# On a shared machine compare the ratio, not the absolute rates.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release -p ferrostack-identity --example validate_under_logins
bin="${CARGO_TARGET_DIR:-target}/release/examples/validate_under_logins"
"$bin" "${CLIENTS:-8}" "${REQUESTS:-5000}" "${LOGINS:-8}" "${COST:-12}"
