#!/bin/sh
# Install Debian's chromium for the end-to-end browser tests (never a Playwright browser
# download), plus a Korean font so the screenshots the tests save are readable.
# Idempotent and quiet: does nothing when both are already there.
set -eu

need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
if ! fc-list :lang=ko 2>/dev/null | grep -q .; then
    need="$need fonts-nanum"
fi
[ -n "$need" ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086  # $need is a list of package names
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null 2>/tmp/install-browser.log || {
    cat /tmp/install-browser.log >&2
    exit 1
}

if [ ! -x /usr/bin/chromium ]; then
    echo "install-browser.sh: chromium was installed but /usr/bin/chromium is missing" >&2
    exit 1
fi
