#!/usr/bin/env bash
# What a user of the package hits, checked from nothing: lint, build the wheel, install it into a
# clean venv (dependencies from the wheel's own metadata), and run the main job with the
# installed `drawreason` command from outside the repository, so nothing is imported from the
# source tree. About a minute when pip's cache is warm. Needs ./.venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "checking the package: ruff, wheel, clean install, the installed command"
.venv/bin/ruff check --quiet .
if ! {
  .venv/bin/python -m pip wheel --no-deps -w "$work/dist" "$repo" \
    && "$PY" -m venv "$work/venv" \
    && "$work/venv/bin/python" -m pip install -c constraints.txt "$work"/dist/drawreason-*.whl \
    && "$work/venv/bin/python" -m pip check; } > "$work/pip.log" 2>&1; then
  tail -n 40 "$work/pip.log"
  exit 1
fi
rm -rf "$repo/build" "$repo"/*.egg-info
cd "$work"
"$work/venv/bin/drawreason" --stage cold_start_data --num-samples 8 --output "$work/out" \
  > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
imported=$("$work/venv/bin/python" -c "import pipelines, drawing; print(pipelines.__file__)")
case "$imported" in
  "$work/venv/"*) ;;
  *) echo "the installed command imported the source tree: $imported"; exit 1 ;;
esac
"$work/venv/bin/python" - "$work/out" <<'PY'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
info = json.loads((out / "dataset_info.json").read_text())
metrics = json.loads((out / "metrics.json").read_text())
assert info, "dataset_info.json is empty"
assert metrics["input"] == 8, metrics
print(f"package ok: installed drawreason wrote {metrics['kept']} of 8 samples")
PY
