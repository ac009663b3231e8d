#!/usr/bin/env bash
# Creates ./.venv-verl: verl plus the project (no deps), for integrations/verl and
# tests_integrations/verl. Safe to run again: a stamp named after the sha256 of
# requirements-verl.txt skips the work once it succeeded. Log: .venv-verl.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv-verl/.installed-$(cat requirements-verl.txt pyproject.toml | sha256sum | cut -c1-16)
[ -f "$stamp" ] && exit 0
echo "installing verl (CPU) into .venv-verl (a few minutes; log: .venv-verl.log)"
torch_pin=$(grep -E '^torch==' requirements-verl.txt)
pip=(.venv-verl/bin/python -m pip)
if ! {
  { [ -x .venv-verl/bin/python ] || "$PY" -m venv .venv-verl; } \
    && "${pip[@]}" install --upgrade pip \
    && "${pip[@]}" install "$torch_pin" \
    && "${pip[@]}" install -r requirements-verl.txt \
    && "${pip[@]}" install --no-deps -e . \
    && .venv-verl/bin/python -c "import integrations.verl"
} > .venv-verl.log 2>&1; then
  tail -n 40 .venv-verl.log
  exit 1
fi
rm -f .venv-verl/.installed-* && touch "$stamp"
echo "done: .venv-verl"
