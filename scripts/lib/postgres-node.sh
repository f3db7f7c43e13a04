#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A throwaway PostgreSQL 15 cluster on loopback, for tests. Used by scripts/test-env/postgres.sh
# (the shared server of a test run) and by tests that need a private server they may restart
# (FERROSTACK_TEST_POSTGRES_NODE points here).
#
#   postgres-node.sh start DIR PORT     initdb DIR/data if needed, start on 127.0.0.1:PORT
#   postgres-node.sh stop DIR [MODE]    pg_ctl stop, MODE fast (default) or immediate (a crash)
#   postgres-node.sh url DIR            the URL of the running cluster
#
# The server runs as the `postgres` user (it refuses root), with its socket and state in DIR.
# fsync is off: the state survives a server crash or restart, not a host crash.
set -euo pipefail
BIN=${FERROSTACK_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: postgres-node.sh start|stop|url DIR [PORT|MODE]}
dir=${2:?DIR missing}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    port=${3:?PORT missing}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    echo "$port" > "$dir/port"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/port"
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    mode=${3:-fast}
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
