#!/usr/bin/env bash
# Creates ./.venv-verl: verl plus the project (no deps), for integrations/verl and
# tests_integrations/verl. Safe to run again (scripts/venv_lib.sh). Log: .venv-verl.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh
build_venv .venv-verl requirements-verl.txt "import drawreason.integrations.verl"
