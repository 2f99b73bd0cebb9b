#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the pinned requirements (idempotent: reinstalls
# only when the requirements change). Usage: scripts/setup.sh [base|test]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-base}"
python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "cstrack needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
stamp=".venv/.installed-$profile"
digest=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "requirements/$profile.txt"
  echo "$digest" > "$stamp"
fi
