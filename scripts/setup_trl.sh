#!/usr/bin/env bash
# Creates ./.venv-trl: trl plus the project (no deps), for integrations/trl and
# tests_integrations/trl. Safe to run again: a stamp named after the sha256 of
# requirements-trl.txt skips the work once it succeeded. Log: .venv-trl.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv-trl/.installed-$(cat requirements-trl.txt pyproject.toml | sha256sum | cut -c1-16)
[ -f "$stamp" ] && exit 0
echo "installing trl (CPU) into .venv-trl (a few minutes; log: .venv-trl.log)"
torch_pin=$(grep -E '^torch==' requirements-trl.txt)
pip=(.venv-trl/bin/python -m pip)
if ! {
  { [ -x .venv-trl/bin/python ] || "$PY" -m venv .venv-trl; } \
    && "${pip[@]}" install --upgrade pip \
    && "${pip[@]}" install "$torch_pin" \
    && "${pip[@]}" install -r requirements-trl.txt \
    && "${pip[@]}" install --no-deps -e . \
    && .venv-trl/bin/python -c "import integrations.trl"
} > .venv-trl.log 2>&1; then
  tail -n 40 .venv-trl.log
  exit 1
fi
rm -f .venv-trl/.installed-* && touch "$stamp"
echo "done: .venv-trl"
