"""Filters keep or reject with the reason codes docs/stages.md lists."""

import dataclasses

import pytest
from drawreason.filters.rules import (
    AnswerFilter,
    FormatFilter,
    MinTurnsFilter,
    ReflectionFilter,
    TerminationFilter,
    apply_filters,
    cold_start_filters,
)
from drawreason.filters.scoring import score_trajectory
from drawreason.schemas.records import LineOp

from tests.factories import make_trajectory


def _with(traj, **changes):
    traj = dataclasses.replace(traj, **changes)
    return dataclasses.replace(traj, scores=score_trajectory(traj))


def _turn(traj, i, **changes):
    turns = list(traj.turns)
    turns[i] = dataclasses.replace(turns[i], **changes)
    return _with(traj, turns=tuple(turns))


@pytest.fixture
def good():
    traj = make_trajectory()
    return dataclasses.replace(traj, scores=score_trajectory(traj))


def test_good_trajectory_passes_cold_start(good):
    assert apply_filters(good, cold_start_filters()).keep
    assert good.scores["accuracy"] == 1.0 and good.scores["format"] == 1.0


def test_termination_reason_is_the_rejection_reason(good):
    traj = _turn(
        _with(good, termination="bad_operation"),
        2,
        error="bad_operation",
        error_detail="operation 1: index 9 out of range 1..3",
    )
    verdict = TerminationFilter()(traj)
    assert (verdict.keep, verdict.reason) == (False, "bad_operation")
    assert "index 9 out of range" in verdict.detail


def test_wrong_answer_and_unscorable(good):
    wrong = _turn(good, 2, answer="5")
    verdict = AnswerFilter()(wrong)
    assert verdict.reason == "wrong_answer" and "answered '5', expected '2'" in verdict.detail
    free = _with(good, item=dataclasses.replace(good.item, question_type="free-form"))
    assert AnswerFilter()(free).reason == "unscorable_question"
    # Numerical answers within 5 % still score 1.0 under MRA.
    close = _with(good, item=dataclasses.replace(good.item, answer="2.05"))
    assert AnswerFilter()(close).keep


def test_format_issues_reject_with_the_turn(good):
    traj = _turn(good, 1, format_issues=("missing <think>",))
    verdict = FormatFilter()(traj)
    assert verdict.reason == "invalid_format" and verdict.detail == "turn 2: missing <think>"


def test_min_turns(good):
    short = _with(good, turns=good.turns[1:])
    verdict = MinTurnsFilter(min_turns=3)(short)
    assert verdict.reason == "too_few_turns" and "2 assistant turns" in verdict.detail


def test_first_failure_wins_and_others_are_listed(good):
    traj = _with(_turn(good, 2, answer="9"), turns=_turn(good, 2, answer="9").turns[1:])
    verdict = apply_filters(traj, cold_start_filters())
    assert verdict.reason == "wrong_answer"
    assert verdict.detail.endswith("| also: too_few_turns")


def test_reflection_filter(good):
    assert ReflectionFilter()(good).reason == "not_reflective"
    # Redraw "segment 2" on image 2 (lineage of image 1) at other coordinates: a correction.
    redo = dataclasses.replace(
        good.turns[1], operations=(LineOp(2, (50.0, 10.0), (90.0, 10.0), "segment 2"),)
    )
    turns = (good.turns[0], good.turns[1], redo, good.turns[2])
    assert ReflectionFilter()(_with(good, turns=turns)).keep
