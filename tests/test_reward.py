"""The trainer's reward file agrees with the data filters and loads by path like EasyR1 does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from drawing.prompts import Prompts
from generators.maze import MazeConfig
from generators.oracle import build_oracle_sample
from tests.factories import PROVENANCE
from trainer.reward import compute_score, split_turns, trajectory_response

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


def test_loads_by_path_beside_an_unrelated_filters_package(tmp_path):
    other = tmp_path / "site" / "filters"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("UNRELATED = True\n")
    path = str(ROOT / "trainer/reward.py")
    code = (
        "import importlib.util, json\n"
        f"spec = importlib.util.spec_from_file_location('custom_reward', {path!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps(module.compute_score("
        "'<think>x</think> Action: Answer\\n<answer>B</answer><|endoftext|>', 'B')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["overall"] == 2.0
