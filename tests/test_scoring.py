"""Scoring golden cases written from docs/scoring.md."""

import pytest
from drawreason.filters.scoring import (
    accuracy,
    detect_reflections,
    extract_answer,
    format_score,
    mean_relative_accuracy,
    normalize_choice,
    parse_number,
    rl_reward,
)
from drawreason.schemas.records import BoxOp, LineOp, Turn


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<answer>B</answer>", "B"),
        ("<answer> 12 </answer>", "12"),
        ("<answer>A</answer> then <answer>C</answer>", "C"),
        ("The box is at [10, 20, 30, 40], so 3.", None),
        ("<ANSWER>d</ANSWER>", "d"),
        ("<answer>unterminated", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "reply, letter",
    [
        ("B", "B"),
        ("b", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("B. left of the chair", "B"),
        ('"C"', "C"),
        ("  d)", "D"),
        ("Banana", None),
        ("", None),
    ],
)
def test_normalize_choice(reply, letter):
    assert normalize_choice(reply) == letter


@pytest.mark.parametrize(
    "reply, value",
    [
        ("12", 12.0),
        ("1,200", 1200.0),
        ("3.5 m", 3.5),
        ("-2", -2.0),
        ("7.", 7.0),
        ("45 cm", 45.0),
        ("about 3", None),
        ("3 or 4", None),
        ("nan", None),
    ],
)
def test_parse_number(reply, value):
    assert parse_number(reply) == value


def test_mra_thresholds():
    assert mean_relative_accuracy(10.0, 10.0) == 1.0
    # 4% off: below 1 - t for every t up to 0.95 (0.05), so all ten thresholds pass.
    assert mean_relative_accuracy(10.4, 10.0) == 1.0
    # 12% off passes t = 0.50 .. 0.85 (eight thresholds).
    assert mean_relative_accuracy(11.2, 10.0) == pytest.approx(0.8)
    assert mean_relative_accuracy(30.0, 10.0) == 0.0
    assert mean_relative_accuracy(-10.0, -10.0) == 1.0
    assert mean_relative_accuracy(0.0, 0.0) == 1.0
    assert mean_relative_accuracy(0.1, 0.0) == 0.0


def test_accuracy_by_type():
    assert accuracy("(b)", "B", "multiple choice") == 1.0
    assert accuracy("C", "B", "multiple choice") == 0.0
    assert accuracy(None, "5", "numerical") == 0.0
    assert accuracy("5", "5", "numerical") == 1.0
    with pytest.raises(ValueError):
        accuracy("x", "y", "free-form")


def _tool(ops, **kw):
    return Turn(raw="", action=ops[0].tool, operations=tuple(ops), **kw)


def _answer(text="B"):
    return Turn(raw="", action="Answer", answer=text)


def test_format_score():
    line = LineOp(1, (0, 0), (5, 5), "a")
    assert format_score([_tool([line]), _answer()]) == 1.0
    assert format_score([_answer(), _answer()]) == 0.0  # answer before the last turn
    assert format_score([_tool([line])]) == 0.0  # never answers
    assert format_score([_tool([line], format_issues=("missing <think>",)), _answer()]) == 0.0
    assert format_score([_tool([line], error="bad_operation"), _answer()]) == 0.0
    assert format_score([]) == 0.0


def test_rewards():
    assert rl_reward(1.0, 1.0) == 2.0
    assert rl_reward(0.0, 1.0) == 0.0
    assert rl_reward(0.0, 1.0, "mean") == 0.0  # gated like the reference: no answer, no reward
    assert rl_reward(0.4, 1.0, "mean") == 0.7
    with pytest.raises(ValueError):
        rl_reward(1, 1, "other")


def test_reflection_same_lineage_counts():
    # Image 1 input; turn 0 draws on 1 -> image 2; turn 1 redraws "a" on 1 (clean) elsewhere.
    turns = [
        _tool([LineOp(1, (0, 0), (5, 5), "a")]),
        _tool([LineOp(1, (0, 0), (9, 9), "a")]),
        _answer(),
    ]
    found = detect_reflections(turns, num_inputs=1, parents=[1, 1])
    assert [(r.kind, r.label, r.lineage) for r in found] == [("line_moved", "a", 1)]


def test_reflection_on_rendered_descendant_counts():
    turns = [
        _tool([BoxOp(1, (0, 0, 5, 5), "cup")]),
        _tool([BoxOp(2, (1, 1, 6, 6), "cup")]),  # image 2 descends from 1
        _answer(),
    ]
    assert [r.kind for r in detect_reflections(turns, 1, [1, 2])] == ["box_moved"]


def test_tracking_across_frames_is_not_reflection():
    turns = [
        _tool([BoxOp(1, (0, 0, 5, 5), "cup"), BoxOp(2, (3, 3, 8, 8), "cup")]),
        _tool([BoxOp(3, (0, 0, 5, 5), "cup")]),  # same box again on image 3 (child of 1)
        _answer(),
    ]
    assert detect_reflections(turns, num_inputs=2, parents=[1, 2, 3]) == ()


def test_retarget_and_same_turn_are_distinguished():
    turns = [
        _tool([BoxOp(1, (0, 0, 5, 5), "x")]),
        _tool([LineOp(2, (0, 0), (5, 5), "x")]),
        _answer(),
    ]
    assert [r.kind for r in detect_reflections(turns, 1, [1, 2])] == ["retargeted"]
    same_turn = [_tool([BoxOp(1, (0, 0, 5, 5), "x"), BoxOp(1, (1, 1, 5, 5), "x")]), _answer()]
    assert detect_reflections(same_turn, 1, [1]) == ()
    swapped = [_tool([BoxOp(1, (0, 0, 5, 5), "x")]), _tool([BoxOp(2, (5, 5, 0, 0), "x")])]
    assert detect_reflections(swapped, 1, [1, 2]) == ()  # same box, corners swapped
