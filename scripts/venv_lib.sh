#!/usr/bin/env bash
# Shared by scripts/setup_{vllm,verl,trl}.sh: build one side venv, torch (the CPU build) first.
#
#   build_venv VENV REQUIREMENTS CHECK [STEP...]
#
# creates VENV, installs the `torch==` pin of REQUIREMENTS first (so pip never resolves a CUDA
# torch), then REQUIREMENTS, then runs each STEP (a shell command line, run with the venv's
# pip as $PIP and its python as $VPY), installs the project with --no-deps and runs CHECK with
# the venv's python (`python -c CHECK`). Safe to run again: a stamp named after the sha256 of
# the requirements, constraints.txt, pyproject.toml and setup.py skips the work once it succeeded.
# With WITH_PROJECT_DEPS=1 the project's own dependencies go in too, resolved together with
# REQUIREMENTS under constraints.txt (the vLLM venv runs the stages; verl's and TRL's do not).
# Output goes to VENV.log; on failure its tail is printed and the function returns 1.
_run_steps() {
  local step
  for step in "$@"; do
    eval "$step" || return 1
  done
}

build_venv() {
  local venv=$1 reqs=$2 check=$3
  shift 3
  local py=${PYTHON:-python3.11}
  command -v "$py" >/dev/null 2>&1 || py=python3
  local stamp
  stamp=$venv/.installed-$(cat "$reqs" constraints.txt pyproject.toml setup.py | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && return 0
  echo "installing $reqs into $venv (a few minutes; log: $venv.log)"
  local torch_pin
  torch_pin=$(grep -E '^torch==' "$reqs")
  export VPY=$PWD/$venv/bin/python PIP="$PWD/$venv/bin/python -m pip"
  if ! {
    { [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"; } \
      && $PIP install --upgrade pip \
      && $PIP install "$torch_pin" \
      && if [ "${WITH_PROJECT_DEPS:-0}" = 1 ]; then
        $PIP install -c constraints.txt -r "$reqs" -e .
      else
        $PIP install -r "$reqs"
      fi \
      && _run_steps "$@" \
      && $PIP install --no-deps -e . \
      && "$VPY" -c "$check"
  } > "$venv.log" 2>&1; then
    tail -n 40 "$venv.log"
    return 1
  fi
  rm -f "$venv"/.installed-* && touch "$stamp"
  echo "done: $venv"
}
