#!/usr/bin/env bash
# What a user of the package hits, checked from nothing: lint, build the wheel, install it into a
# clean venv (dependencies from the wheel's own metadata, at the versions of constraints.txt),
# run the main job and its report with the installed `drawreason` command from outside the
# repository, so
# nothing is imported from the source tree; load the reward files by path, as trainers do,
# beside unrelated packages named filters, schemas, drawing and trainer, from the installed
# package and then from the checkout with drawreason uninstalled; and `pip install .[dev]` into
# a second clean venv. About two minutes when pip's cache is warm. Needs ./.venv
# (scripts/setup.sh).
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
"$work/venv/bin/drawreason" --stage report --output "$work/out" > "$work/report.log" 2>&1 \
  || { cat "$work/report.log"; exit 1; }
test -s "$work/out/report.html" || { echo "the installed report stage wrote no report.html"; exit 1; }
imported=$("$work/venv/bin/python" -c "import drawreason.pipelines as p; print(p.__file__)")
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
# The reward files by path: from site-packages, then from the checkout with nothing installed.
site=$("$work/venv/bin/python" -c "import drawreason, pathlib; print(pathlib.Path(drawreason.__file__).parent)")
"$work/venv/bin/python" "$repo/scripts/check_reward_by_path.py" case "$work/case.json" > /dev/null
"$work/venv/bin/python" "$repo/scripts/check_reward_by_path.py" score "$site" "$work/case.json"
"$work/venv/bin/python" -m pip uninstall -y -q drawreason
"$work/venv/bin/python" "$repo/scripts/check_reward_by_path.py" score "$repo" "$work/case.json"
# The [dev] extra from the source folder, as a contributor installs it.
if ! {
  "$PY" -m venv "$work/dev" \
    && "$work/dev/bin/python" -m pip install -c "$repo/constraints.txt" "$repo[dev]" \
    && "$work/dev/bin/python" -m pip check \
    && "$work/dev/bin/python" -m pytest --version \
    && "$work/dev/bin/ruff" --version \
    && "$work/dev/bin/python" -c "import selenium, hypothesis, drawreason.cli.main"; } \
  > "$work/dev.log" 2>&1; then
  tail -n 40 "$work/dev.log"
  exit 1
fi
rm -rf "$repo/build" "$repo"/*.egg-info
echo "package ok: pip install .[dev] into a clean venv"
