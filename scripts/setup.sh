#!/usr/bin/env bash
# Create the virtualenv and install the pinned requirements (idempotent: reinstalls only when
# the requirements or the interpreter change).
#
#   scripts/setup.sh [base|test]      install into $CSTRACK_VENV (default .venv)
#   scripts/setup.sh --find [newest|oldest|all]
#                                     print the supported interpreters found on this machine
#
# Supported: Python 3.11, 3.12 and 3.13. Without PYTHON=/path/to/python it takes the newest
# supported interpreter it finds: on PATH (python3.13, python3.12, python3.11, python3), then
# pyenv's and the system's usual places. Each candidate is run once to check it really works
# (a pyenv shim for a version that is not selected only prints an error).
set -euo pipefail
cd "$(dirname "$0")/.."
SUPPORTED="3.13 3.12 3.11"   # newest first
supported_list=$(printf '%s\n' $SUPPORTED | sort -V | paste -sd, - | sed 's/,/, /g')

version_of() {  # prints "3.12" for a working supported interpreter, nothing otherwise
  "$1" -c 'import sys, venv; v = "%d.%d" % sys.version_info[:2]; print(v)' 2>/dev/null | grep -xE "${SUPPORTED// /|}" || true
}

candidates() {
  local v
  for v in $SUPPORTED; do command -v "python$v" 2>/dev/null || true; done
  command -v python3 2>/dev/null || true
  for v in $SUPPORTED; do
    ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v"*/bin/python"$v" 2>/dev/null | sort -V -r || true
    for dir in /usr/local/bin /usr/bin /opt/homebrew/bin; do
      [ -x "$dir/python$v" ] && echo "$dir/python$v"
    done
  done
}

find_interpreters() {  # "version path" lines, one per supported version, newest first
  local seen="" path v
  while read -r path; do
    [ -n "$path" ] || continue
    v=$(version_of "$path")
    [ -n "$v" ] || continue
    case " $seen " in *" $v "*) continue ;; esac
    seen="$seen $v"
    echo "$v $path"
  done < <(candidates) | sort -t. -k2,2nr
}

if [ "${1:-}" = "--find" ]; then
  found=$(find_interpreters)
  case "${2:-newest}" in
    newest) echo "$found" | head -n1 | cut -d' ' -f2 ;;
    oldest) echo "$found" | tail -n1 | cut -d' ' -f2 ;;
    all) echo "$found" ;;
    *) echo "usage: scripts/setup.sh --find [newest|oldest|all]" >&2; exit 2 ;;
  esac
  exit 0
fi

profile="${1:-base}"
venv="${CSTRACK_VENV:-.venv}"
python_bin="${PYTHON:-}"
if [ -n "$python_bin" ]; then
  if [ -z "$(version_of "$python_bin")" ]; then
    echo "PYTHON=$python_bin is not a working Python $supported_list (the versions cstrack supports)." >&2
    exit 1
  fi
else
  python_bin=$(find_interpreters | head -n1 | cut -d' ' -f2)
  if [ -z "$python_bin" ]; then
    cat >&2 <<MSG
cstrack needs Python ($supported_list) with the venv module, and none was found.
Install one (Debian/Ubuntu: apt install python3 python3-venv; or pyenv install 3.13),
or point at it: PYTHON=/path/to/python3.13 scripts/setup.sh
MSG
    exit 1
  fi
fi

# The virtualenv belongs to one interpreter: rebuild it when another one is chosen.
wanted="$("$python_bin" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.interpreter" 2>/dev/null)" != "$wanted" ]; then
  if [ -f "$venv/.interpreter" ] || [ "$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')" != "$wanted" ]; then
    echo "setup: $venv was made with another Python; rebuilding it for $wanted" >&2
    rm -rf "$venv"
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python_bin" -m venv "$venv"
fi
echo "$wanted" > "$venv/.interpreter"
stamp="$venv/.installed-$profile"
digest=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "requirements/$profile.txt"
  echo "$digest" > "$stamp"
fi
