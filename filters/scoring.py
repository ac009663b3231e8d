"""Scoring shared by filters, rewards and evaluation: answers, accuracy, format, reflection."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from drawreason.schemas.records import BoxOp, LineOp, Operation, Trajectory, Turn

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_LETTER_RE = re.compile(r"^\(?\s*([A-Za-z])\s*\)?(?:[.:)\]]|\s|$)")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
MRA_THRESHOLDS: tuple[float, ...] = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))


def extract_answer(text: str) -> str | None:
    """The stripped text inside the last `<answer>...</answer>`; None without a tag.

    Deliberately no fallback to numbers found elsewhere: that would score box coordinates.
    """
    found = _ANSWER_RE.findall(text)
    return found[-1].strip() if found else None


def normalize_choice(text: str) -> str | None:
    """The option letter of a multiple-choice reply: `B`, `b`, `(B)`, `B.`, `B. left`, `"B"`."""
    cleaned = text.strip().strip("\"'`*").strip()
    match = _LETTER_RE.match(cleaned)
    return match.group(1).upper() if match else None


def parse_number(text: str) -> float | None:
    """A single number from a numerical reply: commas, a unit or a trailing period are allowed."""
    cleaned = text.strip().replace(",", "")
    cleaned = re.sub(r"[a-zA-Z%°\s]+\.?$", "", cleaned).rstrip(".").strip()
    if not _NUMBER_RE.match(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


def _exact(value: float) -> Fraction:
    """The decimal a float was written as (19.0 -> 19, 0.1 -> 1/10), not its binary value."""
    return Fraction(repr(value))


def mean_relative_accuracy(pred: float, gt: float) -> float:
    """MRA over thresholds t = 0.50, 0.55, ..., 0.95: the share of t with
    |pred - gt| / |gt| < 1 - t, evaluated in exact rationals (19 against 20 is a relative
    error of exactly 0.05 and scores 0.9). Ground truth 0 is scored by exact match."""
    if gt == 0:
        return 1.0 if pred == 0 else 0.0
    error, scale = abs(_exact(pred) - _exact(gt)), abs(_exact(gt))
    # 1 - t = (10 - i) / 20 for i = 0..9, so the test is 20 * error < (10 - i) * scale.
    hits = sum(20 * error < (10 - i) * scale for i in range(len(MRA_THRESHOLDS)))
    return hits / len(MRA_THRESHOLDS)


def unwrap_answer(ground_truth: str) -> str:
    """A ground truth written as `<answer>B</answer>` (as some datasets store it) is `B`."""
    inner = extract_answer(ground_truth)
    return ground_truth if inner is None else inner


def accuracy(answer: str | None, ground_truth: str, question_type: str) -> float:
    """Accuracy in [0, 1] of an extracted answer; no answer scores 0."""
    if answer is None:
        return 0.0
    ground_truth = unwrap_answer(ground_truth)
    if question_type == "multiple choice":
        gt = normalize_choice(ground_truth)
        return float(gt is not None and normalize_choice(answer) == gt)
    if question_type == "numerical":
        pred, gt = parse_number(answer), parse_number(ground_truth)
        if pred is None or gt is None:
            return 0.0
        return mean_relative_accuracy(pred, gt)
    raise ValueError(f"question_type {question_type!r} cannot be scored")


def format_score(turns: Sequence[Turn]) -> float:
    """1.0 iff every turn has the strict shape, only the last one answers, all ops executed."""
    if not turns:
        return 0.0
    for i, turn in enumerate(turns):
        last = i == len(turns) - 1
        if turn.error or turn.format_issues:
            return 0.0
        if (turn.action == "Answer") != last:
            return 0.0
    return 1.0


def rl_reward(acc: float, fmt: float, variant: str = "acc_gated") -> float:
    """The RL reward by name, both gated on a right answer (0 when accuracy is 0):
    `acc_gated` = acc + format; `mean` = 0.5 acc + 0.5 format (the reference trainer's)."""
    if variant not in ("acc_gated", "mean"):
        raise ValueError(f"unknown reward variant {variant!r}; known: acc_gated, mean")
    if acc <= 0:
        return 0.0
    return acc + fmt if variant == "acc_gated" else 0.5 * acc + 0.5 * fmt


# --- reflection ------------------------------------------------------------------------------

REFLECTION_KINDS: tuple[str, ...] = ("box_moved", "line_moved", "retargeted")


@dataclass(frozen=True)
class Reflection:
    """Which label was corrected, on which lineage, and how."""

    kind: str
    label: str
    lineage: int
    first_turn: int
    turn: int


def lineage_roots(num_inputs: int, parents: Sequence[int]) -> dict[int, int]:
    """Map every image index to the input image its drawing lineage starts from.

    `parents[k]` is the parent index of rendered image num_inputs + 1 + k.
    """
    roots = {i: i for i in range(1, num_inputs + 1)}
    for k, parent in enumerate(parents):
        roots[num_inputs + 1 + k] = roots.get(parent, parent)
    return roots


def operation_geometry(op: Operation) -> tuple:
    if isinstance(op, BoxOp):
        x1, y1, x2, y2 = op.bbox_2d
        return ("box", min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    if isinstance(op, LineOp):
        return ("line", *op.start_point_2d, *op.end_point_2d)
    raise TypeError(f"not an operation: {type(op).__name__}")


def detect_reflections(
    turns: Iterable[Turn], num_inputs: int, parents: Sequence[int]
) -> tuple[Reflection, ...]:
    """Every correction: a label drawn at two different turns on one lineage, differently.

    The same label on a different lineage (another view or frame) is tracking, not reflection.
    """
    roots = lineage_roots(num_inputs, parents)
    seen: dict[tuple[int, str], tuple[int, tuple]] = {}
    found: list[Reflection] = []
    for t, turn in enumerate(turns):
        for op in turn.operations:
            lineage = roots.get(op.index, op.index)
            key = (lineage, op.label)
            geometry = operation_geometry(op)
            if key in seen:
                first_turn, old = seen[key]
                if first_turn != t and old != geometry:
                    if old[0] != geometry[0]:
                        kind = "retargeted"
                    else:
                        kind = "box_moved" if geometry[0] == "box" else "line_moved"
                    found.append(Reflection(kind, op.label, lineage, first_turn, t))
            seen[key] = (t, geometry)
    return tuple(found)


def trajectory_reflections(trajectory: Trajectory) -> tuple[Reflection, ...]:
    return detect_reflections(
        trajectory.turns,
        len(trajectory.item.images),
        [r.parent for r in trajectory.rendered],
    )


def score_trajectory(trajectory: Trajectory) -> dict[str, float]:
    """Accuracy, format, both reward variants and reflection counts of a finished trajectory."""
    answer = trajectory.turns[-1].answer if trajectory.turns else None
    if trajectory.item.question_type in ("multiple choice", "numerical"):
        acc = accuracy(answer, trajectory.item.answer, trajectory.item.question_type)
    else:
        acc = 0.0
    fmt = format_score(trajectory.turns) if trajectory.termination == "answered" else 0.0
    reflections = trajectory_reflections(trajectory)
    scores = {
        "accuracy": acc,
        "format": fmt,
        "reward_acc_gated": rl_reward(acc, fmt, "acc_gated"),
        "reward_mean": rl_reward(acc, fmt, "mean"),
        "reflection": float(bool(reflections)),
    }
    for kind in REFLECTION_KINDS:
        scores[f"reflection_{kind}"] = float(sum(r.kind == kind for r in reflections))
    return scores
