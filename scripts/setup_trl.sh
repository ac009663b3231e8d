#!/usr/bin/env bash
# Creates ./.venv-trl: TRL plus the project (no deps), for integrations/trl and
# tests_integrations/trl. Safe to run again (scripts/venv_lib.sh). Log: .venv-trl.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh
build_venv .venv-trl requirements-trl.txt \
  "import trl, torchvision, drawreason.integrations.trl.train" \
  '$PIP uninstall -y torchaudio torchcodec triton' \
  '"$VPY" scripts/patch_torchvision.py'
