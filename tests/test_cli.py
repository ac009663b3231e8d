"""run_pipeline.py as a user runs it: help, errors that name the key, determinism across workers."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_pipeline.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every output file but run.json (which records timing and Beam options)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def test_help_explains_stages_and_options():
    result = _cli("--help")
    assert result.returncode == 0
    for word in ("cold_start_data", "--num-samples", "--seed", "--config", "DataflowRunner"):
        assert word in result.stdout


def test_bad_config_value_names_the_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"maze": {"grid_sizes": [3, "big"]}}))
    result = _cli("--stage", "cold_start_data", "--config", str(bad), "--output", str(tmp_path))
    assert result.returncode == 2
    assert "config.maze.grid_sizes[1]: expected an integer, got 'big'" in result.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("num_sample: 5\n")
    result = _cli("--stage", "cold_start_data", "--config", str(unknown))
    assert result.returncode == 2 and "unknown key(s) num_sample" in result.stderr


def test_typo_option_is_not_passed_to_beam(tmp_path):
    result = _cli("--stage", "cold_start_data", "--num-sample", "5", "--output", str(tmp_path))
    assert result.returncode == 2
    assert "unknown option --num-sample; did you mean --num-samples?" in result.stderr


def test_same_seed_same_bytes_with_one_or_two_workers(tmp_path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        result = _cli(
            "--stage",
            "cold_start_data",
            "--num-samples",
            "40",
            "--seed",
            "11",
            "--output",
            str(out),
            "--runner",
            "FnApiRunner",
            "--direct_running_mode",
            "multi_processing",
            f"--direct_num_workers={workers}",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "kept" in result.stdout and "rejected" in result.stdout
        outputs.append(_digest(out))
    assert outputs[0] == outputs[1]
    assert "sft/cold_start/maze.jsonl" in outputs[0] and "metrics.json" in outputs[0]
    metrics = json.loads((tmp_path / "w1/metrics.json").read_text())
    assert metrics["input"] == 40 and metrics["accounted"]


def test_rerun_with_other_config_needs_overwrite(tmp_path):
    first = _cli("--stage", "cold_start_data", "--num-samples", "6", "--output", str(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    second = _cli("--stage", "cold_start_data", "--num-samples", "7", "--output", str(tmp_path))
    assert second.returncode == 2 and "--overwrite" in second.stderr
    third = _cli(
        "--stage",
        "cold_start_data",
        "--num-samples",
        "7",
        "--output",
        str(tmp_path),
        "--overwrite",
    )
    assert third.returncode == 0, third.stderr[-2000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["input"] == 7


def test_local_runner_defaults_and_overrides():
    from apache_beam.options.pipeline_options import DirectOptions
    from drawreason.pipelines.runner import pipeline_options

    def workers(argv, local_workers=None):
        options = pipeline_options(argv, local_workers)
        return options.view_as(DirectOptions).direct_num_workers

    assert workers([], 1) == 1  # the in-process vLLM teacher: one engine
    assert workers(["--direct_num_workers=3"], 1) == 3  # the user's flag wins
    assert workers([]) == (os.cpu_count() or 1)
