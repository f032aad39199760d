#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft; each node broker and controller) on
# loopback, from the same Maven jars as deploy/kafka/broker.sh, which runs each node.
# Internal topics are replicated three times with min.insync.replicas 2, as in production.
#
# Usage: deploy/kafka/cluster.sh {start|stop|status|reset|bootstrap|kill N|start-node N}
#   start         start the three nodes and wait until each serves
#   stop          stop the three nodes (SIGTERM, then SIGKILL)
#   status        "running" (exit 0) if every node serves, else which do not (exit 1)
#   reset         stop and delete every node's data
#   bootstrap     print the bootstrap servers (host:port,host:port,host:port)
#   kill N        SIGKILL node N (1-3), as a crashed machine
#   start-node N  start node N again and wait until it serves
#
# Environment:
#   KAFKA_CLUSTER_RUN_DIR    run dir, default <repo>/.run/cluster (node-1..3/ and the shared libs/)
#   KAFKA_CLUSTER_PORT_BASE  node N listens on base+N, its controller on base+10+N; default 19100
#   KAFKA_HEAP_OPTS          per node, default "-Xmx384m -Xms128m"
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
RUN_DIR="$(realpath -m -- "${KAFKA_CLUSTER_RUN_DIR:-$REPO_DIR/.run/cluster}")"
BASE="${KAFKA_CLUSTER_PORT_BASE:-19100}"
NODES=(1 2 3)
VOTERS="1@127.0.0.1:$((BASE + 11)),2@127.0.0.1:$((BASE + 12)),3@127.0.0.1:$((BASE + 13))"

node() {  # node N COMMAND: broker.sh COMMAND for node N
    local n="$1"; shift
    KAFKA_RUN_DIR="$RUN_DIR/node-$n" KAFKA_LIBS_DIR="$RUN_DIR/libs" KAFKA_NODE_ID="$n" \
        KAFKA_PORT="$((BASE + n))" KAFKA_CONTROLLER_PORT="$((BASE + 10 + n))" KAFKA_VOTERS="$VOTERS" \
        KAFKA_REPLICATION=3 KAFKA_MIN_INSYNC=2 KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx384m -Xms128m}" \
        bash "$SCRIPT_DIR/broker.sh" "$@"
}

check_node() {
    [[ "${1:-}" =~ ^[123]$ ]] || { echo "cluster.sh: a node number, 1 to 3, is needed" >&2; exit 2; }
}

case "${1:-}" in
    start)
        node 1 fetch  # once, before three nodes would each try
        # All launched before any is waited for: a node serves only once a majority of the
        # controllers has elected a leader.
        for n in "${NODES[@]}"; do node "$n" launch; done
        for n in "${NODES[@]}"; do node "$n" wait; done ;;
    stop)
        for n in "${NODES[@]}"; do node "$n" stop; done ;;
    status)
        down=()
        for n in "${NODES[@]}"; do node "$n" status >/dev/null || down+=("$n"); done
        if ((${#down[@]})); then echo "not serving: node ${down[*]}"; exit 1; fi
        echo running ;;
    reset)
        for n in "${NODES[@]}"; do node "$n" reset; done ;;
    bootstrap)
        echo "127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))" ;;
    kill)
        check_node "${2:-}"
        pid="$(cat "$RUN_DIR/node-$2/kafka.pid")"
        kill -KILL "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        echo "killed node $2 (pid $pid)" ;;
    start-node)
        check_node "${2:-}"
        node "$2" start ;;
    *)
        sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2 ;;
esac
