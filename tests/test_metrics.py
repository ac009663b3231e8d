"""metrics.json: the typed record, its schema version, and the one loader's errors."""

import ast
import json
from pathlib import Path

import pytest
from drawreason.pipelines.outcomes import build_metrics
from drawreason.schemas.metrics import (
    CORRECTION,
    GROUNDED_OPERATIONS,
    GROUNDED_TRAJECTORY,
    GROUNDING_OPERATIONS,
    KEPT,
    PASS_RATE,
    REJECTED,
    SAMPLED,
    SAMPLED_REFLECTIVE,
    SCHEMA_VERSION,
    TURNS,
    USAGE,
    MetricsError,
    SkippedSource,
    StatKey,
    parse_metrics,
)

ROOT = Path(__file__).resolve().parent.parent


def _metrics():
    counts = {
        StatKey(KEPT, "maze"): 3,
        StatKey(REJECTED, "maze", "wrong_answer"): 1,
        StatKey(TURNS, "maze", 4): 3,
        StatKey(USAGE, "maze", "teacher_requests"): 12,
        StatKey(GROUNDED_TRAJECTORY, "maze"): 4,
        StatKey(GROUNDING_OPERATIONS, "maze"): 10,
        StatKey(GROUNDED_OPERATIONS, "maze"): 9,
        StatKey(CORRECTION, "maze", "line_moved"): 1,
        StatKey(SAMPLED, "maze"): 4,
        StatKey(SAMPLED_REFLECTIVE, "maze"): 1,
        StatKey(PASS_RATE, "qa", "0.500"): 2,
        StatKey(KEPT, "qa"): 2,
    }
    skipped = [SkippedSource(subset="x", source="spar:/data/x.jsonl", reason="no --teacher")]
    traces = {"maze": {"diversity": {"turns": 12}}}
    return build_metrics("cold_start", counts, {"maze": 4, "qa": 2}, traces, skipped)


def test_metrics_round_trip_through_json_with_their_version():
    metrics = _metrics()
    doc = json.loads(json.dumps(metrics.to_json()))
    assert doc["schema_version"] == SCHEMA_VERSION
    assert parse_metrics(doc, "run/metrics.json") == metrics
    maze = metrics.subsets["maze"]
    assert (maze.input, maze.kept, maze.rejected, maze.accounted) == (
        4,
        3,
        {"wrong_answer": 1},
        True,
    )
    assert maze.turns == {"4": 3} and maze.teacher_usage == {"teacher_requests": 12}
    assert (maze.grounding.operations, maze.grounding.grounded_share) == (10, 0.9)
    assert maze.grounding.corrections == {"line_moved": 1}
    assert (maze.sampled, maze.sampled_reflective, maze.sampled_reflection_rate) == (4, 1, 0.25)
    assert metrics.subsets["qa"].pass_rate == {"0.500": 2}
    assert "sampled" not in doc["subsets"]["qa"]  # None fields are left out
    assert metrics.teacher_usage == {"teacher_requests": 12} and metrics.accounted
    assert doc["skipped_sources"] == [
        {"subset": "x", "source": "spar:/data/x.jsonl", "reason": "no --teacher"}
    ]


def test_an_unknown_stat_kind_is_a_bug_not_a_silent_drop():
    with pytest.raises(ValueError, match="unknown stat kind 'typo'"):
        build_metrics("cold_start", {StatKey("typo", "maze"): 1}, {"maze": 1})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("schema_version"), "field schema_version: missing"),
        (lambda d: d.update(schema_version="2.0"), "field schema_version: 2.0 is newer"),
        (lambda d: d["subsets"]["maze"].update(kept="3"), "field subsets.maze.kept: expected an"),
        (lambda d: d.pop("stage"), "field stage: missing"),
        (lambda d: d["subsets"]["maze"].update(colour=1), "field subsets.maze: unknown field"),
        (
            lambda d: d["subsets"]["maze"]["token_length"].update(n=True),
            "field subsets.maze.token_length.n: expected an integer",
        ),
        (lambda d: d.update(accounted="yes"), "field accounted: expected true or false"),
        (lambda d: d.update(skipped_sources={}), "field skipped_sources: expected a list"),
    ],
)
def test_a_bad_or_newer_file_is_one_line_naming_the_file_and_field(edit, message):
    doc = _metrics().to_json()
    doc["subsets"]["maze"]["token_length"] = {"n": 1, "mean": 5.0, "min": 5, "max": 5}
    edit(doc)
    with pytest.raises(MetricsError) as err:
        parse_metrics(doc, "gs://b/run/metrics.json")
    text = str(err.value)
    assert text.startswith("gs://b/run/metrics.json: ") and message in text
    assert "\n" not in text


def test_a_newer_minor_version_only_adds_fields():
    doc = _metrics().to_json()
    major = SCHEMA_VERSION.split(".")[0]
    doc.update(schema_version=f"{major}.99", new_figure={"x": 1})
    doc["subsets"]["maze"]["new_count"] = 3
    assert parse_metrics(doc, "m.json").subsets["maze"].kept == 3


def test_no_code_splits_a_counting_key_from_a_string():
    """Stat keys are StatKeys: no module builds "kind|subset|detail" or splits on "|"."""
    found = []
    for folder in ("pipelines", "report", "publish", "trainer", "cli", "schemas"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                is_split = (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("split", "rsplit", "partition")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value == "|"
                )
                if is_split:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
