"""Teacher turns whose only format issues are cosmetic are exported canonically (SFT only)."""

import dataclasses
import json
from pathlib import Path

import pytest
from drawreason.drawing.format import format_tool_turn
from drawreason.drawing.parse import COSMETIC_ISSUES, cosmetic_kind, parse_to_turn
from drawreason.drawing.prompts import Prompts
from drawreason.filters.canonical import canonical_turn, canonicalize
from drawreason.filters.rules import cold_start_filters
from drawreason.filters.scoring import format_score, score_trajectory
from drawreason.generators.maze import MazeConfig
from drawreason.generators.oracle import build_oracle_sample
from drawreason.pipelines.accounting import CountOutcomesFn, WriteSummaryFn
from drawreason.pipelines.outcomes import KEPT, REJECTED, build_metrics, judge_trajectory, stat_keys
from drawreason.schemas.metrics import CANONICALIZED
from drawreason.schemas.records import LineOp
from drawreason.trainer.reward import compute_score, trajectory_response

from tests.factories import PROVENANCE, make_trajectory

TEACHER = dataclasses.replace(PROVENANCE, producer="teacher:openai:test")
HEAD = "<think> go </think> Action: Path Tracer"
OP = '{"index": 1, "start_point_2d": [10, 10], "end_point_2d": [50, 10], "label": "segment 1"}'
PY_OP = "{'index': 1, 'start_point_2d': (10, 10), 'end_point_2d': [50, 10], 'label': 'segment 1'"
OPS = (LineOp(1, (10, 10), (50, 10), "segment 1"),)
CANONICAL = format_tool_turn("go", OPS)
STRING_OP = OP.replace("[10, 10]", '["10", 10]')

COSMETIC = [
    ("fence_case", f"{HEAD}\n```JSON\n[{OP}]\n```", {"fence_case"}),
    ("fence_inline", f"{HEAD} ```json [{OP}] ```", {"fence_inline"}),
    ("trailing_commas", f"{HEAD}\n```json\n[{OP},\n]\n```", {"trailing_commas"}),
    ("python_literal", f"{HEAD}\n```json\n[{PY_OP}}}]\n```", {"python_literal"}),
    # JSON words can only sit in an extra key: operations hold numbers and strings.
    (
        "json_literals",
        f"{HEAD}\n```json\n[{PY_OP}, 'done': true}}]\n```",
        {"json_literals", "extra_keys"},
    ),
    ("extra_keys", f'{HEAD}\n```json\n[{OP[:-1]}, "color": "red"}}]\n```', {"extra_keys"}),
    ("all at once", f"{HEAD}```JSON[{OP[:-1]}, 'x': 1,}},]```", None),
]

REJECTING = [
    ("another language", f"{HEAD}\n```python\n[{OP}]\n```", "code block marked 'python'"),
    ("no language", f"{HEAD}\n```\n[{OP}]\n```", "code block not marked json"),
    ("no fence", f"{HEAD}\n[{OP}]", "operations not in a ```json code block"),
    ("text after", f"{HEAD}\n```json\n[{OP}]\n```\nOr maybe not.", "text after the operations"),
    ("missing think", f"Action: Path Tracer\n```json\n[{OP}]\n```", "missing <think>"),
    ("one object", f"{HEAD}\n```json\n{OP}\n```", "a single object instead of a list"),
    (
        "number as a string",
        f"{HEAD}\n```json\n[{STRING_OP}]\n```",
        "written as a string",
    ),
    ("cosmetic and not", f"{HEAD}\n```JSON\n[{OP}]\n```\nDone.", "text after the operations"),
]


def _teacher(first_raw: str, provenance=TEACHER):
    """The factory trajectory (kept by the cold-start filters) with its first turn replaced by
    the parse of `first_raw`, rolled out by a teacher."""
    traj = make_trajectory("real-1")
    first = dataclasses.replace(
        parse_to_turn(first_raw), new_images=(2,), env_reply=traj.turns[0].env_reply
    )
    turns = (first, *traj.turns[1:])
    traj = dataclasses.replace(traj, turns=turns, provenance=provenance, meta={"turn_logs": []})
    return dataclasses.replace(traj, scores=score_trajectory(traj))


@pytest.mark.parametrize(("name", "raw", "kinds"), COSMETIC, ids=[c[0] for c in COSMETIC])
def test_cosmetic_turn_is_exported_canonically(name, raw, kinds):
    traj = _teacher(raw)
    issues = traj.turns[0].format_issues
    assert issues and traj.turns[0].operations == OPS
    found = {cosmetic_kind(i) for i in issues}
    assert None not in found and (kinds is None or found == kinds), issues
    assert traj.scores["format"] == 0.0  # the raw text stays strictly scored

    outcome = judge_trajectory(traj, cold_start_filters(), "cold_start")
    assert outcome.status == KEPT, outcome.line
    exported = json.loads(outcome.line)["conversations"]
    assert exported[2] == {"role": "assistant", "content": CANONICAL}
    assert exported[4]["content"] == traj.turns[1].raw  # strict turns are left as written
    assert sorted(outcome.canonicalized) == sorted(found)

    full = json.loads(outcome.record_line)
    assert full["turns"][0]["raw"] == raw
    assert full["turns"][0]["format_issues"] == list(issues)
    assert full["scores"]["format"] == 0.0
    assert full["meta"]["canonicalized"] == [
        {
            "turn": 1,
            "kinds": list(dict.fromkeys(cosmetic_kind(i) for i in issues)),
            "format_issues": list(issues),
        }
    ]


@pytest.mark.parametrize(("name", "raw", "issue"), REJECTING, ids=[r[0] for r in REJECTING])
def test_ambiguous_turn_is_still_rejected_with_its_reason(name, raw, issue):
    traj = _teacher(raw)
    assert not traj.turns[0].error and traj.turns[0].operations == OPS
    assert canonical_turn(traj.turns[0]) is None
    outcome = judge_trajectory(traj, cold_start_filters(), "cold_start")
    assert (outcome.status, outcome.reason) == (REJECTED, "invalid_format")
    rejection = json.loads(outcome.line)
    assert rejection["detail"].startswith("turn 1: ") and issue in rejection["detail"]
    assert rejection["trajectory"]["turns"][0]["raw"] == raw
    assert outcome.canonicalized == ()


def test_a_rejecting_turn_names_itself_though_an_earlier_one_was_cosmetic():
    traj = _teacher(COSMETIC[0][1])
    second = parse_to_turn(traj.turns[1].raw.replace("```json", "```python"))
    turns = (
        traj.turns[0],
        dataclasses.replace(
            traj.turns[1], **{"raw": second.raw, "format_issues": second.format_issues}
        ),
        traj.turns[2],
    )
    traj = dataclasses.replace(traj, turns=turns)
    outcome = judge_trajectory(traj, cold_start_filters(), "cold_start")
    assert outcome.reason == "invalid_format"
    assert json.loads(outcome.line)["detail"].startswith("turn 2: code block marked 'python'")


def test_only_model_trajectories_are_canonicalized():
    generated = _teacher(COSMETIC[0][1], provenance=PROVENANCE)
    outcome = judge_trajectory(generated, cold_start_filters(), "cold_start")
    assert (outcome.status, outcome.reason) == (REJECTED, "invalid_format")
    policy = _teacher(COSMETIC[0][1], dataclasses.replace(PROVENANCE, producer="policy:ckpt"))
    assert judge_trajectory(policy, cold_start_filters(), "cold_start").status == KEPT


def test_rl_reward_keeps_the_strict_format_score():
    raw = COSMETIC[0][1]
    assert format_score([parse_to_turn(raw)]) == 0.0
    oracle = build_oracle_sample("maze", 1, 7, MazeConfig(), Prompts.load(), PROVENANCE).trajectory
    qa = (oracle.item.answer, oracle.item.question_type)
    response = trajectory_response(oracle)
    assert compute_score(response, *qa)["format"] == 1.0
    assert compute_score(response.replace("```json", "```JSON"), *qa)["format"] == 0.0

    # The same ```JSON turns from a teacher: SFT export gives back the oracle's own text.
    turns = tuple(
        dataclasses.replace(
            t,
            **{
                f: getattr(parse_to_turn(t.raw.replace("```json", "```JSON")), f)
                for f in ("raw", "format_issues")
            },
        )
        for t in oracle.turns
    )
    teacher = dataclasses.replace(oracle, turns=turns, provenance=TEACHER, scores={})
    canon = canonicalize(teacher)
    assert canon.trajectory.turns == oracle.turns
    assert canon.kinds == ("fence_case",) * (len(turns) - 1)
    assert score_trajectory(teacher)["format"] == 0.0  # what the full record and RL see


def test_metrics_count_each_kind_of_kept_records(tmp_path):
    kept = [
        judge_trajectory(_teacher(raw), cold_start_filters(), "cold_start")
        for _, raw, _ in COSMETIC[:3] + COSMETIC[5:6] + COSMETIC[:1]
    ]
    wrong = _teacher(COSMETIC[1][1])
    wrong = dataclasses.replace(wrong, item=dataclasses.replace(wrong.item, answer="7"))
    rejected = judge_trajectory(wrong, cold_start_filters(), "cold_start")
    assert rejected.reason == "wrong_answer" and rejected.canonicalized == ()
    assert not any(k.kind == CANONICALIZED for k in stat_keys(rejected))
    noted = json.loads(rejected.line)["trajectory"]["meta"]["canonicalized"]
    assert noted[0]["kinds"] == ["fence_inline"]  # noted on the record, not counted

    fn = CountOutcomesFn()
    acc = fn.create_accumulator()
    for outcome in [*kept, rejected]:
        acc = fn.add_input(acc, outcome)
    counts = fn.extract_output(acc)
    expected = {"fence_case": 2, "fence_inline": 1, "trailing_commas": 1, "extra_keys": 1}
    metrics = build_metrics("cold_start", counts, {"maze": 6})
    assert metrics.canonicalized == expected
    assert metrics.subsets["maze"].canonicalized == expected
    assert metrics.accounted and metrics.kept == 5

    list(WriteSummaryFn(str(tmp_path), "cold_start").process(counts, {"maze": 6}))
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["canonicalized"]["fence_case"] == 2
    assert written["subsets"]["maze"]["canonicalized"] == expected


def test_every_cosmetic_kind_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert all(f"`{kind}`" in doc for kind in COSMETIC_ISSUES)
