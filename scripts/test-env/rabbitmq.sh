# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh: one RabbitMQ node on loopback for the whole test run.
# Exports FERROSTACK_TEST_AMQP_URL (the shared node) and FERROSTACK_TEST_RABBITMQ_NODE (the
# helper script, for tests that start a private node to restart it).
if ! command -v /usr/lib/rabbitmq/bin/rabbitmq-server >/dev/null; then
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends rabbitmq-server \
    || { flock /tmp/apt.lock apt-get update \
         && DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends rabbitmq-server; }
fi
FERROSTACK_TEST_RABBITMQ_NODE="$PWD/scripts/lib/rabbitmq-node.sh"
_fs_mq_dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrostack-rabbitmq.XXXXXX")
# Three consecutive free ports: AMQP, distribution, epmd.
_fs_mq_port=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 60000)
    try:
        for q in (p, p + 1, p + 2):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
)
on_exit "bash '$FERROSTACK_TEST_RABBITMQ_NODE' stop '$_fs_mq_dir'; rm -rf '$_fs_mq_dir'"
bash "$FERROSTACK_TEST_RABBITMQ_NODE" start "$_fs_mq_dir" "$_fs_mq_port"
FERROSTACK_TEST_AMQP_URL=$(bash "$FERROSTACK_TEST_RABBITMQ_NODE" url "$_fs_mq_dir")
export FERROSTACK_TEST_AMQP_URL FERROSTACK_TEST_RABBITMQ_NODE
echo "RabbitMQ on $FERROSTACK_TEST_AMQP_URL (state in $_fs_mq_dir)"
unset _fs_mq_dir _fs_mq_port
