# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh: one PostgreSQL 15 server on loopback for the whole test run.
# Exports FERROSTACK_TEST_POSTGRES_URL (the shared server) and FERROSTACK_TEST_POSTGRES_NODE
# (the helper script, for tests that start a private server to restart it).
if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends postgresql-15 \
    || { flock /tmp/apt.lock apt-get update \
         && DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends postgresql-15; }
fi
FERROSTACK_TEST_POSTGRES_NODE="$PWD/scripts/lib/postgres-node.sh"
_fs_pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrostack-pg.XXXXXX")
_fs_pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
on_exit "bash '$FERROSTACK_TEST_POSTGRES_NODE' stop '$_fs_pg_dir'; rm -rf '$_fs_pg_dir'"
bash "$FERROSTACK_TEST_POSTGRES_NODE" start "$_fs_pg_dir" "$_fs_pg_port"
FERROSTACK_TEST_POSTGRES_URL=$(bash "$FERROSTACK_TEST_POSTGRES_NODE" url "$_fs_pg_dir")
export FERROSTACK_TEST_POSTGRES_URL FERROSTACK_TEST_POSTGRES_NODE
echo "PostgreSQL on $FERROSTACK_TEST_POSTGRES_URL (state in $_fs_pg_dir)"
unset _fs_pg_dir _fs_pg_port
