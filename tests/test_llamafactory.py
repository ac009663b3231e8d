"""LLaMA-Factory's own data loader accepts what the cold_start stage writes.

Needs a Python with `llamafactory` installed, named by LLAMAFACTORY_PYTHON (scripts/test.sh
builds .venv-lf from requirements-llamafactory.txt and sets it).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LF_PYTHON = os.environ.get("LLAMAFACTORY_PYTHON", "")

pytestmark = pytest.mark.skipif(
    not LF_PYTHON, reason="LLAMAFACTORY_PYTHON is not set (scripts/test.sh sets it)"
)


def _check(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LF_PYTHON, str(ROOT / "scripts/check_llamafactory.py"), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )


def _make_run(out: Path, *extra: str) -> Path:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_pipeline.py"),
            "--stage",
            "cold_start_data",
            "--num-samples",
            "40",
            "--seed",
            "5",
            "--output",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return _make_run(tmp_path_factory.mktemp("lf") / "run")


def test_every_record_survives_llamafactory(run_dir):
    result = _check(run_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    subsets = json.loads((run_dir / "metrics.json").read_text())["subsets"]
    assert set(subsets) == {"maze", "scenes"}
    for name, entry in subsets.items():
        kept = entry["kept"]
        assert f"ok   cold_start_{name}: {kept} records -> {kept} examples" in result.stdout


def test_the_check_fails_on_a_broken_record(run_dir, tmp_path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(run_dir), str(broken)], check=True)
    path = broken / "sft/cold_start/maze.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["conversations"][3]["content"] = record["conversations"][3]["content"].replace(
        "<image>", "", 1
    )
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    result = _check(broken)
    assert result.returncode == 1
    assert "FAIL cold_start_maze" in result.stdout and "does not match" in result.stdout


def test_a_run_in_parts_loads_every_part(tmp_path):
    """At 6 records per part every subset is a folder of parts, which dataset_info.json names;
    LLaMA-Factory's loader reads the whole folder."""
    config = tmp_path / "parts.json"
    config.write_text(json.dumps({"records_per_part": 6}))
    run = _make_run(tmp_path / "run", "--config", str(config))
    info = json.loads((run / "dataset_info.json").read_text())
    subsets = json.loads((run / "metrics.json").read_text())["subsets"]
    result = _check(run)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name, entry in subsets.items():
        kept = entry["kept"]
        assert info[f"cold_start_{name}"]["file_name"] == f"sft/cold_start/{name}"
        assert len(list((run / "sft/cold_start" / name).glob(f"{name}-*-of-*.jsonl"))) > 1
        assert f"ok   cold_start_{name}: {kept} records -> {kept} examples" in result.stdout
