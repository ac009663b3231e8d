"""The trainer's reward file agrees with the data filters and loads by path like EasyR1 does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from drawreason.drawing.prompts import Prompts
from drawreason.generators.maze import MazeConfig
from drawreason.generators.oracle import build_oracle_sample
from drawreason.trainer.reward import compute_score, split_turns, trajectory_response

from tests.factories import PROVENANCE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trajectories():
    prompts = Prompts.load()
    return [
        build_oracle_sample("maze", i, 7, MazeConfig(), prompts, PROVENANCE).trajectory
        for i in range(40)
    ]


def test_reward_matches_the_filters_scores(trajectories):
    assert any(t.scores["reflection"] for t in trajectories)
    for traj in trajectories:
        got = compute_score(trajectory_response(traj), traj.item.answer, traj.item.question_type)
        for key in ("accuracy", "format", "reflection", "reflection_line_moved"):
            assert got[key] == traj.scores[key], (traj.id, key)
        assert got["overall"] == traj.scores["reward_acc_gated"] == 2.0


def test_failures_score_zero(trajectories):
    traj = trajectories[0]
    response = trajectory_response(traj)
    wrong = "B" if traj.item.answer != "B" else "C"
    if traj.item.question_type == "numerical":
        wrong = str(int(float(traj.item.answer)) + 100)
    bad_answer = response.rsplit("<answer>", 1)[0] + f"<answer> {wrong} </answer><|im_end|>"
    assert compute_score(bad_answer, traj.item.answer, traj.item.question_type)["overall"] == 0.0
    no_tag = response.rsplit("<answer>", 1)[0] + f"The answer is {traj.item.answer}.<|im_end|>"
    scores = compute_score(no_tag, traj.item.answer, traj.item.question_type)
    assert scores["accuracy"] == 0.0 and scores["overall"] == 0.0
    mean = compute_score(no_tag, traj.item.answer, traj.item.question_type, variant="mean")
    assert mean["overall"] == 0.0  # no answer, and the format is broken too


def test_out_of_range_index_breaks_the_format(trajectories):
    traj = trajectories[1]
    response = trajectory_response(traj).replace('"index": 2,', '"index": 99,', 1)
    scores = compute_score(response, traj.item.answer, traj.item.question_type)
    assert scores["format"] == 0.0 and scores["accuracy"] == 1.0 and scores["overall"] == 1.0


def test_answer_in_a_non_final_turn_is_a_format_failure():
    response = (
        "<think>x</think> Action: Answer\n<answer>A</answer><|im_end|>\n<|im_start|>user\n"
        "Go on.<|im_end|>\n<|im_start|>assistant\n<think>y</think> Action: Answer\n"
        "<answer>A</answer><|im_end|>"
    )
    assert [r for r, _ in split_turns(response)] == ["assistant", "user", "assistant"]
    scores = compute_score(response, "A")
    assert scores["accuracy"] == 1.0 and scores["format"] == 0.0


def test_loads_by_path_in_a_fresh_interpreter(tmp_path):
    path = str(ROOT / "trainer/reward.py")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('reward', {path!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(module.compute_score("
        "'<think>x</think> Action: Answer\\n<answer>(B)</answer>', 'B')))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('apache_beam'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    scores_line, beam_modules = result.stdout.strip().splitlines()
    assert json.loads(scores_line)["overall"] == 2.0
    assert json.loads(beam_modules) == []  # no pipeline machinery pulled in by the reward


CHECK = ROOT / "scripts" / "check_reward_by_path.py"


def test_loads_by_path_beside_unrelated_packages_named_like_ours(tmp_path):
    """The three reward files, loaded by path from this checkout, score an oracle trajectory
    as the filters did while packages named filters, schemas, drawing and trainer are first
    on sys.path and imported already (scripts/check_package.sh runs the same check on the
    installed wheel, and on a checkout where drawreason is not installed)."""
    case = tmp_path / "case.json"
    made = subprocess.run(
        [sys.executable, str(CHECK), "case", str(case)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    result = subprocess.run(
        [sys.executable, str(CHECK), "score", str(ROOT), str(case)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "reward by path ok" in result.stdout
    # The check fails when a score differs from the case's.
    doc = json.loads(case.read_text())
    doc["scores"]["reflection"] = 0.0
    case.write_text(json.dumps(doc))
    result = subprocess.run(
        [sys.executable, str(CHECK), "score", str(ROOT), str(case)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "trainer/reward.py: reflection 1.0 != 0.0" in result.stderr


def test_refuses_a_different_drawreason_imported_already(tmp_path):
    """Loaded by path while another drawreason is imported, the reward says so instead of
    scoring with a mix of two versions."""
    other = tmp_path / "site" / "drawreason"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    path = str(ROOT / "trainer/reward.py")
    code = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'site')!r})\n"
        "import drawreason\n"
        f"spec = importlib.util.spec_from_file_location('custom_reward', {path!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "ImportError" in result.stderr and "another one is imported already" in result.stderr
    assert str(other / "__init__.py") in result.stderr
