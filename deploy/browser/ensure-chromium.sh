#!/usr/bin/env bash
# Debian's chromium and chromedriver for the browser tests (tests/integration/test_acknowledge_page.py).
# Installed from the distribution's packages, never downloaded by the tests themselves.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
    if [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; then
        exit 0
    fi
    echo "ensure-chromium: apt-get ran but $CHROMIUM or $CHROMEDRIVER is still missing" >&2
    exit 1
fi

cat >&2 <<MSG
ensure-chromium: the browser tests need Debian's chromium and chromedriver
($CHROMIUM and $CHROMEDRIVER). Install them as root:

    sudo apt-get update && sudo apt-get install --no-install-recommends chromium chromium-driver
MSG
exit 1
