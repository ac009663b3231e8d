"""Judging a trajectory into an outcome, and metrics that must add up."""

import dataclasses
import json

from drawreason.filters.rules import cold_start_filters
from drawreason.filters.scoring import score_trajectory
from drawreason.pipelines.outcomes import (
    ERROR,
    KEPT,
    REJECTED,
    build_metrics,
    error_outcome,
    judge_trajectory,
    stat_keys,
)
from drawreason.schemas.records import rejection_from_dict

from tests.factories import make_trajectory


def _scored(traj):
    return dataclasses.replace(traj, scores=score_trajectory(traj))


def test_kept_outcome_is_a_sharegpt_line():
    outcome = judge_trajectory(_scored(make_trajectory()), cold_start_filters(), "cold_start")
    assert outcome.status == KEPT and outcome.turns == 3
    assert json.loads(outcome.line)["images"][0].startswith("images/aa/")
    assert outcome.relpath() == "sft/cold_start/maze.jsonl"


def test_export_failure_becomes_a_rejection():
    traj = make_trajectory()
    turns = (dataclasses.replace(traj.turns[0], raw=traj.turns[0].raw + " <video>"),) + traj.turns[
        1:
    ]
    outcome = judge_trajectory(_scored(dataclasses.replace(traj, turns=turns)), (), "cold_start")
    assert (outcome.status, outcome.reason) == (REJECTED, "export_invalid")
    assert outcome.relpath() == "rejected/cold_start/maze.jsonl"
    rejection = rejection_from_dict(json.loads(outcome.line))
    assert "media token <video>" in rejection.detail and rejection.trajectory is not None


def test_metrics_add_up_and_flag_a_lost_record():
    kept = judge_trajectory(_scored(make_trajectory("m-1")), cold_start_filters(), "cold_start")
    wrong = _scored(make_trajectory("m-2", termination="no_action"))
    rejected = judge_trajectory(wrong, cold_start_filters(), "cold_start")
    error = error_outcome("cold_start", "maze", "m-3", "generate", ValueError("boom"))
    assert error.status == ERROR and error.relpath() == "errors/cold_start.jsonl"
    counts: dict[str, int] = {}
    for outcome in (kept, rejected, error):
        for key in stat_keys(outcome):
            counts[key] = counts.get(key, 0) + 1
    metrics = build_metrics("cold_start", counts, {"maze": 3})
    assert (metrics.input, metrics.kept, metrics.errors) == (3, 1, 1)
    assert metrics.rejected == {"no_action": 1} and metrics.accounted
    assert metrics.subsets["maze"].turns == {"3": 1}
    assert metrics.subsets["maze"].token_length is None  # no length check configured
    lost = build_metrics("cold_start", counts, {"maze": 4})
    assert not lost.accounted and not lost.subsets["maze"].accounted
