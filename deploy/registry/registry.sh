#!/usr/bin/env bash
# A local Apicurio Registry 2.0.2.Final (in-memory storage), built from Maven Central with
# deploy/registry/pom.xml, for the tests of the Confluent wire format. Its Confluent-
# compatible API: http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v6
#
# Usage: deploy/registry/registry.sh {build|start|stop|url}
#   build  build the runner jar in $REGISTRY_RUN_DIR/build (skipped when up to date with pom.xml)
#   start  build, start in the background, wait until it answers
#   stop   stop it; fine if nothing runs
#   url    print the Confluent-compatible base URL
#
# Environment: REGISTRY_RUN_DIR (default <repo>/.run/registry), REGISTRY_PORT (default 18200),
# MVN, JAVA.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
RUN_DIR="$(realpath -m -- "${REGISTRY_RUN_DIR:-$REPO_DIR/.run/registry}")"
PORT="${REGISTRY_PORT:-18200}"
MVN="${MVN:-mvn}"
JAVA="${JAVA:-java}"
BUILD="$RUN_DIR/build"
PID_FILE="$RUN_DIR/registry.pid"
APP="io.apicurio:apicurio-registry-app:2.0.2.Final"
# The app jar has no Jandex index: Quarkus must index these dependencies itself.
INDEXED=(apicurio-registry-app apicurio-registry-common apicurio-registry-utils-import-export
         apicurio-registry-tenant-manager-client)

log() { echo "registry.sh: $*" >&2; }

build() {
    local runner="$BUILD/target/local-schema-registry-1.0.0-runner.jar"
    [[ -f "$runner" && ! "$SCRIPT_DIR/pom.xml" -nt "$runner" ]] && return 0
    log "building Apicurio Registry in $BUILD"
    rm -rf "$BUILD"
    mkdir -p "$BUILD/src/main/resources" "$BUILD/app"
    cp "$SCRIPT_DIR/pom.xml" "$BUILD/"
    # The app's own settings (package type, APIs), from its jar, plus the index lines.
    "$MVN" -B -ntp -q dependency:copy -Dartifact="$APP" -DoutputDirectory="$BUILD/app" >"$RUN_DIR/mvn.log" 2>&1 \
        || { cat "$RUN_DIR/mvn.log" >&2; exit 1; }
    local properties="$BUILD/src/main/resources/application.properties"
    unzip -p "$BUILD"/app/apicurio-registry-app-*.jar application.properties >"$properties"
    for name in "${INDEXED[@]}"; do
        printf 'quarkus.index-dependency.%s.group-id=io.apicurio\nquarkus.index-dependency.%s.artifact-id=%s\n' \
            "$name" "$name" "$name" >>"$properties"
    done
    "$MVN" -B -ntp -q -f "$BUILD/pom.xml" package -DskipTests >>"$RUN_DIR/mvn.log" 2>&1 \
        || { tail -40 "$RUN_DIR/mvn.log" >&2; exit 1; }
}

running_pid() {
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() { curl -sf "http://127.0.0.1:$PORT/apis/ccompat/v6/subjects" >/dev/null; }

case "${1:-}" in
    build) mkdir -p "$RUN_DIR"; build ;;
    start)
        mkdir -p "$RUN_DIR"
        if running_pid >/dev/null; then log "already running"; exit 0; fi
        build
        nohup setsid "$JAVA" -Xmx256m -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
            -jar "$BUILD/target/local-schema-registry-1.0.0-runner.jar" >"$RUN_DIR/registry.log" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
        for _ in $(seq 120); do
            answers && { log "serving on 127.0.0.1:$PORT"; exit 0; }
            running_pid >/dev/null || break
            sleep 0.5
        done
        tail -30 "$RUN_DIR/registry.log" >&2
        log "did not start"; exit 1 ;;
    stop)
        if pid="$(running_pid)"; then kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; fi
        rm -f "$PID_FILE"; echo stopped ;;
    url) echo "http://127.0.0.1:$PORT/apis/ccompat/v6" ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
