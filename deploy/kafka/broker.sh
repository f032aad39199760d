#!/usr/bin/env bash
# Run a local Apache Kafka 3.9 broker (KRaft, combined broker + controller) from jars that
# Maven resolves from Maven Central. Needs only java and mvn. One node alone by default;
# deploy/kafka/cluster.sh runs three of them as one cluster (KAFKA_NODE_ID, KAFKA_VOTERS).
#
# Usage: deploy/kafka/broker.sh {fetch|start|launch|wait|run|stop|status|reset|tool} [args]
#   fetch   resolve the jars into $KAFKA_RUN_DIR/libs (skipped when up to date with pom.xml)
#   start   fetch, format the storage once, start the broker in the background and wait
#           until it serves requests (exit non-zero and show the log tail if it does not)
#   launch  start without waiting (a cluster's nodes wait for each other's votes)
#   wait    wait until the broker started by launch serves requests
#   run     like start, but exec the broker in the foreground (for a supervising process)
#   stop    SIGTERM the broker, SIGKILL after $KAFKA_STOP_TIMEOUT s; fine if nothing runs
#   status  print "running" and exit 0 if the broker is up, else print "stopped", exit 1
#   reset   stop and delete the data dir (the jars in libs are kept)
#   tool    run a Kafka CLI main class with the libs classpath, e.g.
#             broker.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#
# Environment:
#   KAFKA_RUN_DIR          run dir (libs/, data/, logs/, pid file); default <repo>/.run/kafka
#   KAFKA_PORT             PLAINTEXT listener port, default 9092
#   KAFKA_CONTROLLER_PORT  CONTROLLER listener port, default 9093
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to serve, default 90
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean exit before SIGKILL, default 30
#   KAFKA_HEAP_OPTS        default "-Xmx512m -Xms256m"
#   KAFKA_CLUSTER_ID       default is a fixed id, so re-formatting is deterministic
#   KAFKA_NODE_ID          this node's id, default 1
#   KAFKA_VOTERS           controller.quorum.voters, default this node alone (id@127.0.0.1:controller port)
#   KAFKA_REPLICATION      replication of internal topics and the default for others, default 1
#   KAFKA_MIN_INSYNC       min.insync.replicas (and of the transaction log), default 1
#   KAFKA_LIBS_DIR         where the jars go, default $KAFKA_RUN_DIR/libs (a cluster shares one)
#   JAVA, MVN              the java / mvn commands, default "java" / "mvn"
# With a different KAFKA_PORT, KAFKA_CONTROLLER_PORT and KAFKA_RUN_DIR, several brokers
# can run side by side.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"

RUN_DIR="${KAFKA_RUN_DIR:-$REPO_DIR/.run/kafka}"
# Absolute, canonical path: it is matched against the broker's command line and /proc fds.
if command -v realpath >/dev/null 2>&1; then
    RUN_DIR="$(realpath -m -- "$RUN_DIR")"
elif [[ "$RUN_DIR" != /* ]]; then
    RUN_DIR="$PWD/$RUN_DIR"
fi
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
NODE_ID="${KAFKA_NODE_ID:-1}"
VOTERS="${KAFKA_VOTERS:-$NODE_ID@127.0.0.1:$CONTROLLER_PORT}"
REPLICATION="${KAFKA_REPLICATION:-1}"
MIN_INSYNC="${KAFKA_MIN_INSYNC:-1}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
# 16 bytes ("referralhubkafka"), base64url without padding, as Kafka expects.
CLUSTER_ID="${KAFKA_CLUSTER_ID:-cmVmZXJyYWxodWJrYWZrYQ}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
LOCK_TIMEOUT="${KAFKA_LOCK_TIMEOUT:-180}"
HOST=127.0.0.1

POM="$SCRIPT_DIR/pom.xml"
TEMPLATE="$SCRIPT_DIR/server.properties"
LOG4J_CONF="$SCRIPT_DIR/log4j.properties"

LIBS_DIR="${KAFKA_LIBS_DIR:-$RUN_DIR/libs}"
LIBS_STAMP="$LIBS_DIR/.fetched"
DATA_DIR="$RUN_DIR/data"
LOGS_DIR="$RUN_DIR/logs"
PROPS="$RUN_DIR/server.properties"
TOOLS_LOG4J="$RUN_DIR/tools-log4j.properties"
PID_FILE="$RUN_DIR/kafka.pid"
OUT_FILE="$LOGS_DIR/kafka.out"
LOCK_FILE="$RUN_DIR/.lock"

log() { echo "broker.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Serialise start/stop/fetch on the same run dir (parallel test processes).
# The lock fd (9) is never passed on to the broker process.
take_lock() {
    mkdir -p "$RUN_DIR"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$LOCK_FILE"
    # A broker started by an early version of this script inherited the lock fd and holds
    # the lock for as long as it runs: do not wait for it.
    local pid
    if pid="$(broker_pid)" && holds_lock_file "$pid"; then
        log "note: broker pid $pid itself holds $LOCK_FILE (started by an older broker.sh); not locking"
        return 0
    fi
    flock -w "$LOCK_TIMEOUT" 9 || die "could not lock $LOCK_FILE within ${LOCK_TIMEOUT}s"
}

holds_lock_file() {
    local fd
    for fd in "/proc/$1/fd/"*; do
        [[ "$(readlink "$fd" 2>/dev/null || true)" == "$LOCK_FILE" ]] && return 0
    done
    return 1
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Pid from the pid file if that process is alive and is our broker, else nothing.
broker_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be kafka.Kafka with our properties file.
    if [[ -r "/proc/$pid/cmdline" ]]; then
        local cmd
        cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        [[ "$cmd" == *kafka.Kafka*"$PROPS"* ]] || return 1
    fi
    echo "$pid"
}

classpath() { echo "$LIBS_DIR/*"; }

write_tools_log4j() {
    cat >"$TOOLS_LOG4J" <<'EOF'
# Generated by deploy/kafka/broker.sh: logging for CLI tools (WARN+ to stderr).
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# Run a Kafka main class with the libs classpath and quiet tool logging.
run_tool() {
    [[ -f "$TOOLS_LOG4J" ]] || write_tools_log4j
    "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j.configuration="file:$TOOLS_LOG4J" \
        -cp "$(classpath)" "$@"
}

do_fetch() {
    command -v "$MVN" >/dev/null 2>&1 || die "'$MVN' not found"
    if [[ -f "$LIBS_STAMP" && ! "$POM" -nt "$LIBS_STAMP" ]]; then
        return 0
    fi
    log "resolving Kafka jars with Maven into $LIBS_DIR"
    local tmp="$RUN_DIR/libs.tmp.$$"
    rm -rf "$tmp"
    # Output kept in a file and shown only on failure (Debian's mvn prints stray ANSI codes even with -q -B).
    local mvn_log="$RUN_DIR/mvn-fetch.log"
    if ! "$MVN" -q -B -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
        cat "$mvn_log" >&2
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed (log: $mvn_log)"
    fi
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "no kafka_2.13 jar in $tmp"; }
    rm -rf "$LIBS_DIR"
    mv "$tmp" "$LIBS_DIR"
    touch "$LIBS_STAMP"
}

# <run dir>/server.properties from the template, with our ports and data dir.
write_props() {
    mkdir -p "$DATA_DIR" "$LOGS_DIR"
    local missing
    missing="$(awk -F= '
        /^(log\.dirs|listeners|advertised\.listeners|controller\.quorum\.voters)=/ { seen[$1]=1 }
        END {
            split("log.dirs listeners advertised.listeners controller.quorum.voters", k, " ")
            for (i in k) if (!(k[i] in seen)) printf "%s ", k[i]
        }' "$TEMPLATE")"
    [[ -z "$missing" ]] || die "$TEMPLATE lacks: $missing"
    awk -v data="$DATA_DIR" -v host="$HOST" -v port="$PORT" -v cport="$CONTROLLER_PORT" \
        -v node="$NODE_ID" -v voters="$VOTERS" -v replication="$REPLICATION" -v insync="$MIN_INSYNC" '
        /^log\.dirs=/                 { print "log.dirs=" data; next }
        /^listeners=/                 { print "listeners=PLAINTEXT://" host ":" port ",CONTROLLER://" host ":" cport; next }
        /^advertised\.listeners=/     { print "advertised.listeners=PLAINTEXT://" host ":" port; next }
        /^controller\.quorum\.voters=/ { print "controller.quorum.voters=" voters; next }
        /^node\.id=/                  { print "node.id=" node; next }
        /^(default\.replication\.factor|offsets\.topic\.replication\.factor|transaction\.state\.log\.replication\.factor)=/ {
                                        sub(/=.*/, "=" replication); print; next }
        /^(min\.insync\.replicas|transaction\.state\.log\.min\.isr)=/ { sub(/=.*/, "=" insync); print; next }
        { print }' "$TEMPLATE" >"$PROPS.tmp"
    mv "$PROPS.tmp" "$PROPS"
}

format_storage() {
    if [[ -f "$DATA_DIR/meta.properties" ]]; then
        return 0
    fi
    log "formatting storage in $DATA_DIR (cluster id $CLUSTER_ID)"
    run_tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$PROPS" --ignore-formatted >&2 \
        || die "storage format failed"
}

broker_java_cmd() {
    # shellcheck disable=SC2206
    local heap=($HEAP_OPTS)
    BROKER_CMD=("$JAVA" "${heap[@]}"
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
        -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
        -Dlog4j.configuration="file:$LOG4J_CONF" -Dkafka.logs.dir="$LOGS_DIR"
        -cp "$(classpath)" kafka.Kafka "$PROPS")
}

# Refuse to start when something else already holds one of our ports.
check_ports_free() {
    local p
    for p in "$PORT" "$CONTROLLER_PORT"; do
        if port_open "$p"; then
            die "port $HOST:$p is already in use by another process (not the broker of $RUN_DIR)"
        fi
    done
}

prepare() {
    do_fetch
    write_tools_log4j
    write_props
    format_storage
}

# Wait until the broker answers an API request (or the process dies / times out).
wait_ready() {
    local pid="$1" deadline=$((SECONDS + START_TIMEOUT)) out
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker process $pid exited during startup"
            return 1
        fi
        if port_open "$PORT"; then
            if out="$(timeout 30 "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
                    -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$(classpath)" \
                    kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$HOST:$PORT" 2>&1)" \
                && [[ "$out" == *"(id: $NODE_ID "* ]]; then
                return 0
            fi
        fi
        sleep 0.5
    done
    log "broker did not answer on $HOST:$PORT within ${START_TIMEOUT}s"
    return 1
}

show_log_tail() {
    local f
    for f in "$LOGS_DIR/server.log" "$OUT_FILE"; do
        if [[ -s "$f" ]]; then
            echo "----- tail of $f -----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

# $1: "wait" to return only once the broker serves, "launch" to return once it runs.
do_start() {
    local mode="${1:-wait}"
    take_lock
    local pid
    if pid="$(broker_pid)"; then
        if port_open "$PORT"; then
            log "already running (pid $pid) on $HOST:$PORT"
            return 0
        fi
        log "broker pid $pid exists but port $PORT is not open yet; waiting"
        wait_ready "$pid" || { show_log_tail; die "broker (pid $pid) is not serving"; }
        return 0
    fi
    rm -f "$PID_FILE"
    check_ports_free
    prepare
    broker_java_cmd
    : >"$OUT_FILE"
    # 9>&-: the broker must not inherit the lock fd (it would hold the run-dir lock forever).
    # Own session, so the broker outlives the caller's process group / terminal.
    if command -v setsid >/dev/null 2>&1; then
        nohup setsid "${BROKER_CMD[@]}" >>"$OUT_FILE" 2>&1 </dev/null 9>&- &
    else
        nohup "${BROKER_CMD[@]}" >>"$OUT_FILE" 2>&1 </dev/null 9>&- &
    fi
    pid=$!
    echo "$pid" >"$PID_FILE"
    [[ "$mode" == wait ]] || { log "started broker pid $pid (node $NODE_ID, $HOST:$PORT)"; return 0; }
    log "started broker pid $pid; waiting for $HOST:$PORT (timeout ${START_TIMEOUT}s)"
    local t0=$SECONDS
    if ! wait_ready "$pid"; then
        show_log_tail
        do_stop_unlocked >/dev/null 2>&1 || true
        die "broker failed to start"
    fi
    log "broker is serving on $HOST:$PORT (pid $pid, ready after $((SECONDS - t0))s)"
}

do_wait() {
    local pid
    pid="$(broker_pid)" || die "no broker running in $RUN_DIR"
    wait_ready "$pid" || { show_log_tail; die "broker (pid $pid) is not serving"; }
}

do_run() {
    local pid
    take_lock
    if pid="$(broker_pid)"; then
        die "already running (pid $pid); stop it first"
    fi
    rm -f "$PID_FILE"
    check_ports_free
    prepare
    broker_java_cmd
    echo "$$" >"$PID_FILE"
    # Release the lock for the exec'd broker (fd 9 would otherwise stay locked).
    exec 9>&-
    exec "${BROKER_CMD[@]}"
}

do_stop_unlocked() {
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        echo "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "broker pid $pid did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    echo "stopped"
}

do_stop() {
    [[ -d "$RUN_DIR" ]] || { echo "not running"; return 0; }
    take_lock
    do_stop_unlocked
}

do_status() {
    local pid
    if pid="$(broker_pid)" && port_open "$PORT"; then
        echo "running"
        return 0
    fi
    echo "stopped"
    return 1
}

do_reset() {
    do_stop
    rm -rf "$DATA_DIR" "$PROPS"
    echo "data removed: $DATA_DIR"
}

do_tool() {
    [[ $# -ge 1 ]] || die "usage: $0 tool <main class> [args...]"
    take_lock
    do_fetch
    exec 9>&-
    run_tool "$@"
}

usage() {
    sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        fetch)  take_lock; do_fetch ;;
        start)  do_start wait ;;
        launch) do_start launch ;;
        wait)   do_wait ;;
        run)    do_run ;;
        stop)   do_stop ;;
        status) do_status ;;
        reset)  do_reset ;;
        tool)   do_tool "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; return 2 ;;
    esac
}

# One line, so a running instance never reads past it if this file is edited meanwhile.
main "$@"; exit $?
