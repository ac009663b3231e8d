#!/usr/bin/env bash
# Builds the maze-dataset baseline venv (.venv-bench) if needed, then runs the maze benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install -q -r benchmarks/requirements-bench.txt > .venv-bench/pip.log 2>&1 \
    || { tail -n 30 .venv-bench/pip.log; exit 1; }
fi
.venv/bin/python benchmarks/maze_throughput.py --baseline-python .venv-bench/bin/python "$@"
