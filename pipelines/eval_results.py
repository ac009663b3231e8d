"""Evaluation results (pure): one row per trajectory, accuracy with a confidence interval per
benchmark and sub-task, the behaviour table, and the relative change between two runs."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from drawreason.filters.scoring import REFLECTION_KINDS, trajectory_reflections
from drawreason.generators.seeding import derive_seed
from drawreason.schemas.records import BoxOp, LineOp, Trajectory

Z_95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 2000
# Behaviour rows --compare prints, in order: (key in `behaviour`, label).
BEHAVIOUR_ROWS: tuple[tuple[str, str], ...] = (
    ("reflective_share", "reflective trajectories"),
    ("mean_assistant_turns", "assistant turns"),
    ("mean_box_ops", "box ops"),
    ("mean_line_ops", "line ops"),
    ("format_valid_share", "format valid"),
)


@dataclass(frozen=True)
class EvalRow:
    """What one evaluation trajectory contributes to the results."""

    benchmark: str
    subtask: str
    question_id: str
    sample: int
    question_type: str
    accuracy: float
    format_valid: bool
    reflections: tuple[str, ...]  # distinct reflection kinds that fired, sorted
    assistant_turns: int
    box_ops: int
    line_ops: int
    termination: str


def eval_row(trajectory: Trajectory, subtask: str) -> EvalRow:
    """The row of a scored trajectory rolled out for question `meta["question_id"]`."""
    ops = [op for turn in trajectory.turns for op in turn.operations]
    kinds = sorted({r.kind for r in trajectory_reflections(trajectory)})
    scores = trajectory.scores
    return EvalRow(
        benchmark=trajectory.subset,
        subtask=subtask,
        question_id=str(trajectory.meta.get("question_id", trajectory.id.rsplit("#", 1)[0])),
        sample=int(trajectory.meta.get("sample_index", 0)),
        question_type=trajectory.item.question_type,
        accuracy=float(scores.get("accuracy", 0.0)),
        format_valid=scores.get("format", 0.0) == 1.0,
        reflections=tuple(kinds),
        assistant_turns=len(trajectory.turns),
        box_ops=sum(isinstance(op, BoxOp) for op in ops),
        line_ops=sum(isinstance(op, LineOp) for op in ops),
        termination=trajectory.termination,
    )


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 0) for n = 0."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    per_question: Sequence[float], seed: int, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float]:
    """The 95 % percentile bootstrap interval of the mean, resampling questions (so the K
    samples of a question stay together); seeded, so a rerun gives the same bounds."""
    if not per_question:
        return 0.0, 0.0
    values = np.asarray(per_question, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _r(value: float) -> float:
    return round(float(value), 4)


def accuracy_block(rows: Sequence[EvalRow], label: str) -> dict[str, Any]:
    """Accuracy of a set of rows: `mean` over every trajectory, `pass@1` (sample 0 of each
    question: the greedy answer when temperature is 0), `pass@k` (best of the K samples),
    and a 95 % interval of `mean`: Wilson when every score is 0/1 and each question has one
    trajectory, else a bootstrap over questions."""
    by_question: dict[str, list[EvalRow]] = defaultdict(list)
    for row in rows:
        by_question[row.question_id].append(row)
    if not rows:
        return {"questions": 0, "trajectories": 0, "mean": 0.0, "pass@1": 0.0, "pass@k": 0.0,
                "ci95": [0.0, 0.0], "ci_method": "none"}  # fmt: skip
    mean = sum(r.accuracy for r in rows) / len(rows)
    first = [min(group, key=lambda r: r.sample).accuracy for group in by_question.values()]
    best = [max(r.accuracy for r in group) for group in by_question.values()]
    binary = all(r.accuracy in (0.0, 1.0) for r in rows)
    single = all(len(group) == 1 for group in by_question.values())
    if binary and single:
        low, high = wilson_interval(sum(r.accuracy for r in rows), len(rows))
        method = "wilson"
    else:
        per_question = [
            sum(r.accuracy for r in group) / len(group) for _, group in sorted(by_question.items())
        ]
        low, high = bootstrap_interval(per_question, derive_seed(0, "bootstrap", label))
        method = "bootstrap"
    return {
        "questions": len(by_question),
        "trajectories": len(rows),
        "mean": _r(mean),
        "pass@1": _r(sum(first) / len(first)),
        "pass@k": _r(sum(best) / len(best)),
        "ci95": [_r(low), _r(high)],
        "ci_method": method,
    }


def behaviour_table(rows: Sequence[EvalRow]) -> dict[str, Any]:
    """Share of reflective trajectories (any kind, and per kind), mean assistant turns, box
    and line operations per trajectory, termination reasons, share with a valid format."""
    n = len(rows)
    if not n:
        return {"trajectories": 0}
    kinds = Counter(kind for row in rows for kind in row.reflections)
    return {
        "trajectories": n,
        "reflective_share": _r(sum(bool(r.reflections) for r in rows) / n),
        "reflective_by_kind": {kind: _r(kinds[kind] / n) for kind in REFLECTION_KINDS},
        "mean_assistant_turns": _r(sum(r.assistant_turns for r in rows) / n),
        "mean_box_ops": _r(sum(r.box_ops for r in rows) / n),
        "mean_line_ops": _r(sum(r.line_ops for r in rows) / n),
        "termination": dict(sorted(Counter(r.termination for r in rows).items())),
        "format_valid_share": _r(sum(r.format_valid for r in rows) / n),
    }


def summarize_benchmark(
    benchmark: str,
    rows: Iterable[EvalRow],
    errors: int = 0,
    rejected: Mapping[str, int] | None = None,
    samples_per_item: int = 1,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """eval/<benchmark>.json: accuracy and behaviour overall and per sub-task. `errors` and
    `rejected` count trajectories that never ran (malformed records, unusable media,
    free-form questions); they are reported, not scored."""
    rows = sorted(rows, key=lambda r: (r.subtask, r.question_id, r.sample))
    by_subtask: dict[str, list[EvalRow]] = defaultdict(list)
    for row in rows:
        by_subtask[row.subtask].append(row)
    return {
        "benchmark": benchmark,
        **dict(meta or {}),
        "samples_per_item": samples_per_item,
        "accuracy": accuracy_block(rows, benchmark),
        "behaviour": behaviour_table(rows),
        "subtasks": {
            name: {
                "accuracy": accuracy_block(group, f"{benchmark}/{name}"),
                "behaviour": behaviour_table(group),
            }
            for name, group in sorted(by_subtask.items())
        },
        "not_scored": {"errors": errors, "rejected": dict(sorted((rejected or {}).items()))},
    }


# --- comparing two evaluation runs -----------------------------------------------------------


def relative_change(before: float, after: float) -> float | None:
    """(after - before) / before, None when `before` is 0."""
    if before == 0:
        return None
    return (after - before) / before


def compare_results(
    run_a: Mapping[str, Mapping[str, Any]], run_b: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Rows (benchmark, metric, a, b, change) for every benchmark both runs evaluated:
    accuracy overall and per sub-task, then the behaviour rows (BEHAVIOUR_ROWS)."""
    out: list[dict[str, Any]] = []
    for name in sorted(set(run_a) & set(run_b)):
        a, b = run_a[name], run_b[name]
        pairs = [("accuracy", a["accuracy"]["mean"], b["accuracy"]["mean"])]
        for sub in sorted(set(a.get("subtasks", {})) & set(b.get("subtasks", {}))):
            pairs.append(
                (
                    f"accuracy {sub}",
                    a["subtasks"][sub]["accuracy"]["mean"],
                    b["subtasks"][sub]["accuracy"]["mean"],
                )
            )
        for key, label in BEHAVIOUR_ROWS:
            if key in a["behaviour"] and key in b["behaviour"]:
                pairs.append((label, a["behaviour"][key], b["behaviour"][key]))
        for metric, before, after in pairs:
            change = relative_change(before, after)
            out.append(
                {
                    "benchmark": name,
                    "metric": metric,
                    "a": before,
                    "b": after,
                    "change": None if change is None else round(change, 4),
                }
            )
    return out


def _percent(change: float | None) -> str:
    return "n/a" if change is None else f"{100 * change:+.1f}%"


def format_comparison(rows: Sequence[Mapping[str, Any]], label_a: str, label_b: str) -> str:
    """The ablation-style table: one line per (benchmark, metric) with the relative change
    ("+50.0%", "-25.0%", "n/a" when A is 0)."""
    header = ("benchmark", "metric", "A", "B", "change")
    lines = [
        (r["benchmark"], r["metric"], f"{r['a']:.4f}", f"{r['b']:.4f}", _percent(r["change"]))
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
    text = [f"A: {label_a}", f"B: {label_b}"]
    for line in (header, *lines):
        text.append("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    if not lines:
        text.append("(no benchmark was evaluated in both runs)")
    return "\n".join(text)
