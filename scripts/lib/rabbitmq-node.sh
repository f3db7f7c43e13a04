#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A throwaway RabbitMQ node on loopback, for tests. Used by scripts/test-env/rabbitmq.sh (the
# shared node of a test run) and by tests that need a private node they may restart
# (FERROSTACK_TEST_RABBITMQ_NODE points here).
#
#   rabbitmq-node.sh start DIR PORT   start a node with its state in DIR, AMQP on 127.0.0.1:PORT
#                                     (PORT+1: distribution, PORT+2: a private epmd); restarting
#                                     on the same DIR keeps durable queues and persistent messages
#   rabbitmq-node.sh stop DIR         stop the node and its epmd (by PID), keep DIR
#   rabbitmq-node.sh url DIR          the AMQP URL (user guest, vhost /)
set -euo pipefail
cmd=${1:?usage: rabbitmq-node.sh start|stop|url DIR [PORT]}
dir=${2:?DIR missing}
waitpid() { local i; for i in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null || true; }
case "$cmd" in
  start)
    port=${3:?PORT missing}
    mkdir -p "$dir"/{mnesia,log}
    cat > "$dir/env.sh" <<ENV
export HOME=$dir
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/rabbit.pid
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$((port + 1))
export ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$((port + 2))
export RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export PATH=/usr/lib/rabbitmq/bin:\$PATH
ENV
    cat > "$dir/rabbitmq.conf" <<CONF
loopback_users = none
listeners.tcp.default = 127.0.0.1:$port
default_user = guest
default_pass = guest
CONF
    echo "[]." > "$dir/enabled_plugins"
    echo "$port" > "$dir/port"
    # shellcheck source=/dev/null
    source "$dir/env.sh"
    setsid rabbitmq-server >> "$dir/log/stdout.log" 2>&1 < /dev/null &
    if ! rabbitmqctl -q wait --timeout 180 "$dir/rabbit.pid" >/dev/null 2>&1; then
      tail -30 "$dir/log/stdout.log" >&2
      exit 1
    fi
    ;;
  stop)
    [ -f "$dir/env.sh" ] || exit 0
    # shellcheck source=/dev/null
    source "$dir/env.sh"
    if [ -f "$dir/rabbit.pid" ]; then
      pid=$(cat "$dir/rabbit.pid")
      rabbitmqctl -q stop "$dir/rabbit.pid" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
      waitpid "$pid"
      rm -f "$dir/rabbit.pid"
    fi
    # epmd is started by the node and outlives it: stop the one on our private port, by PID.
    epmd_pid=$(ss -ltnpH "sport = :$ERL_EPMD_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
    if [ -n "$epmd_pid" ]; then kill "$epmd_pid" 2>/dev/null || true; waitpid "$epmd_pid"; fi
    ;;
  url)
    echo "amqp://guest:guest@127.0.0.1:$(cat "$dir/port")/%2f"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
