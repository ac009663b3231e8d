#!/usr/bin/env bash
# The test command of the README: set up the venvs if needed, then run the whole test suite.
#   .venv     the project with its test tools (scripts/setup.sh)
#   .venv-lf  LLaMA-Factory, for the test that loads our output with its own data loader
#             (SKIP_LLAMAFACTORY=1 skips building it; that test is then skipped)
#   .venv-vllm  vLLM on CPU, for tests_vllm/ (a real engine, in-process and as a server);
#             SKIP_VLLM=1 skips building it and those tests
#   .venv-verl  verl 0.9.1 on CPU, for tests_integrations/verl (the drawing tool, parser and
#             loader against the real verl); SKIP_VERL=1 skips building it and those tests
#   .venv-trl  TRL 1.16.0 on CPU, for tests_integrations/trl (the drawing environment behind
#             GRPOTrainer(environment_factory=...), a few GRPO steps with the tiny model);
#             SKIP_TRL=1 skips building it and those tests
#   one definition  tests_integrations/test_one_definition.py, in .venv, runs the same scripted
#             replies through every entry point (verl and TRL ones in their venvs)
#   package   ruff, the wheel built and installed into a clean venv, the main job run with the
#             installed `drawreason` command, the reward files loaded by path beside unrelated
#             packages named like ours, `pip install .[dev]` into a second clean venv
#             (scripts/check_package.sh; SKIP_PACKAGE=1 skips)
#   chromium  headless, from Debian, for the report's browser test (SKIP_BROWSER=1 skips
#             installing it; that test is then skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${SKIP_BROWSER:-0}" != "1" ]; then
  bash scripts/install_browser.sh
fi
if [ "${SKIP_LLAMAFACTORY:-0}" != "1" ]; then
  stamp=.venv-lf/.installed-$(sha256sum requirements-llamafactory.txt | cut -c1-16)
  if [ ! -f "$stamp" ]; then
    echo "installing LLaMA-Factory into .venv-lf (a few minutes; log: .venv-lf.log)"
    [ -x .venv-lf/bin/python ] || python3 -m venv .venv-lf
    if ! .venv-lf/bin/python -m pip install -r requirements-llamafactory.txt > .venv-lf.log 2>&1; then
      tail -n 40 .venv-lf.log
      exit 1
    fi
    touch "$stamp"
  fi
  export LLAMAFACTORY_PYTHON="$PWD/.venv-lf/bin/python"
fi
if [ "${SKIP_VLLM:-0}" != "1" ]; then
  bash scripts/setup_vllm.sh
fi
if [ "${SKIP_VERL:-0}" != "1" ]; then
  bash scripts/setup_verl.sh
fi
if [ "${SKIP_TRL:-0}" != "1" ]; then
  bash scripts/setup_trl.sh
fi
if [ "${SKIP_PACKAGE:-0}" != "1" ]; then
  bash scripts/check_package.sh
fi
.venv/bin/python -m pytest "$@"
if [ "${SKIP_VLLM:-0}" != "1" ]; then
  # A real vLLM engine on CPU (tiny local model), in its own venv (README: "vLLM on CPU").
  .venv-vllm/bin/python -m pytest tests_vllm
fi
if [ "${SKIP_VERL:-0}" != "1" ]; then
  # The drawing environment as a verl tool, against verl itself, in its own venv.
  PYTHONPATH="$PWD" .venv-verl/bin/python -m pytest tests_integrations/verl
fi
if [ "${SKIP_TRL:-0}" != "1" ]; then
  # The drawing environment behind TRL's GRPOTrainer, against TRL itself, in its own venv.
  PYTHONPATH="$PWD" .venv-trl/bin/python -m pytest tests_integrations/trl
fi
# One definition: every entry point of the environment gives the same images, text and reward
# (the verl / TRL entry points run in their venvs; strict when both were built here).
strict=0
[ "${SKIP_VERL:-0}" != "1" ] && [ "${SKIP_TRL:-0}" != "1" ] && strict=1
DRAWREASON_ONE_DEFINITION_STRICT=$strict .venv/bin/python -m pytest tests_integrations/test_one_definition.py
