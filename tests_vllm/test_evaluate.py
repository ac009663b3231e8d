"""The evaluate stage end to end on CPU against vLLM's own server on the tiny model: a held-out
maze set is rolled out, eval/heldout_maze.json is written, and a run killed with SIGKILL resumes
from the reply cache without re-sending what was answered (and ends with the same results)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import run_pipeline
from tests_vllm.rollouts import SERVED_NAME

ROOT = Path(__file__).resolve().parents[1]
GRID_SIZES, PER_SIZE = (3, 4), 5
QUESTIONS = len(GRID_SIZES) * PER_SIZE


def _config(tmp_path: Path) -> Path:
    config = {
        "heldout": {"maze_grid_sizes": list(GRID_SIZES), "per_grid_size": PER_SIZE},
        # Enough tokens that each request takes a noticeable time on CPU, so replies reach the
        # cache one by one and a kill lands between them.
        "teacher": {"max_tokens": 96},
        "max_images": 8,
    }
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(config))
    return path


def _argv(out: Path, config: Path, server: str) -> list[str]:
    return ["--stage", "evaluate", "--output", str(out), "--config", str(config),
            "--teacher", "openai", "--teacher-endpoint", server,
            "--teacher-model", SERVED_NAME]  # fmt: skip


def _cached(out: Path) -> int:
    cache = out / "cache" / "teacher"
    return len([p for p in cache.glob("*/*.json") if not p.name.startswith(".tmp-")])


def _results(out: Path) -> bytes:
    return (out / "eval" / "heldout_maze.json").read_bytes()


def test_evaluate_heldout_mazes_runs_and_resumes_after_kill_9(
    vllm_server: str, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    clean = tmp_path / "clean"
    assert run_pipeline.main(_argv(clean, config, vllm_server)) == 0
    result = json.loads(_results(clean))
    assert result["benchmark"] == "heldout_maze" and result["source"] == "generated"
    assert set(result["subtasks"]) == {f"grid_{g}" for g in GRID_SIZES}
    for entry in result["subtasks"].values():
        assert entry["accuracy"]["questions"] == PER_SIZE
        assert sum(entry["behaviour"]["termination"].values()) == PER_SIZE
    behaviour = result["behaviour"]
    assert behaviour["trajectories"] == QUESTIONS and behaviour["mean_assistant_turns"] >= 1
    metrics = json.loads((clean / "metrics.json").read_text())
    assert metrics["accounted"] and metrics["input"] == QUESTIONS
    total = metrics["teacher_usage"]["teacher_requests"]
    assert total >= QUESTIONS and _cached(clean) == total
    lines = (clean / "eval" / "heldout_evalset.jsonl").read_text().splitlines()
    assert len(lines) == QUESTIONS and all(json.loads(x)["image_phash"] for x in lines)

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_pipeline.py"), *_argv(resumed, config, vllm_server)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and _cached(resumed) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its Beam workers
    proc.wait(timeout=30)
    cached = _cached(resumed)
    assert 2 <= cached < total
    assert not (resumed / "metrics.json").exists()

    assert run_pipeline.main(_argv(resumed, config, vllm_server)) == 0
    usage = json.loads((resumed / "metrics.json").read_text())["teacher_usage"]
    assert usage["cache_hits"] == cached
    assert usage["teacher_requests"] == total - cached
    assert _results(resumed) == _results(clean)
