#!/bin/sh
# Find or install a Chromium for the browser tests and print its path; exit 1 (with one line on
# stderr saying how to get one) when there is none. Never needs root when a browser is already
# there. In order:
#   1. CHROMIUM=/path/to/chromium-or-chrome, if set;
#   2. a Chromium or Chrome already installed (PATH, /usr/bin, Playwright's cache);
#   3. Debian's chromium package, when root or password-less sudo and apt-get are available
#      (plus a Korean font, so the screenshots the tests save are readable);
#   4. Playwright's own Chromium download, where the network allows it.
set -eu

found() { printf '%s\n' "$1"; exit 0; }
works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${CHROMIUM:-}" ]; then
    works "$CHROMIUM" && found "$CHROMIUM"
    echo "install-browser.sh: CHROMIUM=$CHROMIUM is not a working browser" >&2
    exit 1
fi

existing() {
    for name in chromium chromium-browser google-chrome-stable google-chrome chrome; do
        path=$(command -v "$name" 2>/dev/null) && works "$path" && { echo "$path"; return 0; }
    done
    for path in /usr/bin/chromium /usr/lib/chromium/chromium \
        "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome; do
        works "$path" && { echo "$path"; return 0; }
    done
    return 1
}

korean_font_missing() { ! fc-list :lang=ko 2>/dev/null | grep -q .; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
fi
can_apt() { [ "$SUDO" != "none" ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # $SUDO and $* are word lists
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>/tmp/install-browser.log
}

if path=$(existing); then
    if korean_font_missing && can_apt; then apt_install fonts-nanum || true; fi
    found "$path"
fi

if can_apt && apt_install chromium fonts-nanum && path=$(existing); then
    found "$path"
fi

venv_python="${PYTHON_VENV:-.venv}/bin/python"
if [ -x "$venv_python" ] && "$venv_python" -m playwright install chromium >/tmp/install-browser.log 2>&1 \
    && path=$(existing); then
    found "$path"
fi

echo "install-browser.sh: no Chromium found or installable; browser tests will be skipped." \
    "Install chromium (or Chrome) and/or set CHROMIUM=/path/to/it." >&2
exit 1
