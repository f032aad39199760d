#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available for the operations tests and for running
# Prometheus against `make up`. Debian's `prometheus` package provides both binaries.
#
#   bash deploy/prometheus/ensure-tools.sh
#
# Exits 0 when both are on PATH (installing them first when run as root), 1 otherwise.
# The package's service is never left running: a Prometheus server on 9090 started by the
# install would scrape nothing of ours and could be mistaken for the project's.
set -euo pipefail

PACKAGE=prometheus

have_tools() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

if have_tools; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    cat >&2 <<EOF
ensure-tools.sh: prometheus and promtool are not on PATH.
Install Debian's package, which provides both, then run this again:

    sudo apt-get update && sudo apt-get install --no-install-recommends $PACKAGE

(or put the prometheus and promtool binaries of a Prometheus 2.x release on PATH).
EOF
    exit 1
fi

# Keep the package's maintainer scripts from starting its service: a policy-rc.d that
# denies every start, only for the length of the install, unless the machine has one.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# ensure-tools.sh: no service starts during the install\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    added_policy=1
fi
remove_policy() {
    if [ "$added_policy" -eq 1 ]; then
        rm -f "$POLICY"
    fi
}
trap remove_policy EXIT

echo "ensure-tools.sh: installing Debian's $PACKAGE package (prometheus, promtool)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$PACKAGE" >&2

# Had the service started all the same (systemd ignores policy-rc.d on some machines),
# stop it and keep it from starting at boot.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
pidfile=/run/prometheus/prometheus.pid
if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
fi
if command -v ss >/dev/null 2>&1 && ss -ltnp 2>/dev/null | grep -q '"prometheus"'; then
    echo "ensure-tools.sh: warning: a prometheus server is still listening:" >&2
    ss -ltnp 2>/dev/null | grep '"prometheus"' >&2
fi

if ! have_tools; then
    echo "ensure-tools.sh: $PACKAGE installed but prometheus/promtool are not on PATH" >&2
    exit 1
fi
echo "ensure-tools.sh: $(prometheus --version 2>&1 | head -n 1)" >&2
