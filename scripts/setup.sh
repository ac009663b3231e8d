#!/usr/bin/env bash
# Creates ./.venv (Python 3.11) with the project (editable) and its test tools (the [dev] extra),
# at the exact versions of constraints.txt; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.installed-$(cat constraints.txt pyproject.toml setup.py | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing into .venv (about a minute; log: .venv/pip.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip \
        && .venv/bin/python -m pip install -c constraints.txt -e ".[dev]" \
        && .venv/bin/python -m pip check; } > .venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log
    exit 1
  fi
  rm -f .venv/.installed-* && touch "$stamp"
fi
