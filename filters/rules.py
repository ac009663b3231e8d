"""Trajectory filters: each keeps a trajectory or names the reason code that rejects it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from drawreason.filters.grounding import GROUNDING_REASONS, GroundingConfig, ground_trajectory
from drawreason.filters.scoring import score_trajectory, trajectory_reflections
from drawreason.schemas.records import TERMINATIONS, Trajectory


@dataclass(frozen=True)
class Verdict:
    """Keep, or reject with a reason code and a human-readable detail."""

    keep: bool
    reason: str = ""
    detail: str = ""


KEEP = Verdict(True)


class Filter(Protocol):
    reasons: tuple[str, ...]

    def __call__(self, trajectory: Trajectory) -> Verdict: ...


def _scores(trajectory: Trajectory) -> dict[str, float]:
    return trajectory.scores or score_trajectory(trajectory)


@dataclass(frozen=True)
class TerminationFilter:
    """Keeps trajectories that ended by answering; the reason is the termination itself."""

    reasons: tuple[str, ...] = tuple(t for t in TERMINATIONS if t != "answered")

    def __call__(self, trajectory: Trajectory) -> Verdict:
        if trajectory.termination == "answered":
            return KEEP
        last = trajectory.turns[-1] if trajectory.turns else None
        detail = last.error_detail if last and last.error_detail else trajectory.termination
        return Verdict(False, trajectory.termination, detail)


@dataclass(frozen=True)
class FormatFilter:
    """Keeps trajectories whose every turn has the strict shape of the action protocol."""

    reasons: tuple[str, ...] = ("invalid_format",)

    def __call__(self, trajectory: Trajectory) -> Verdict:
        if _scores(trajectory)["format"] == 1.0:
            return KEEP
        for i, turn in enumerate(trajectory.turns):
            problems = list(turn.format_issues) + ([turn.error] if turn.error else [])
            if problems:
                return Verdict(False, "invalid_format", f"turn {i + 1}: {'; '.join(problems)}")
        return Verdict(False, "invalid_format", "an answer before the last turn, or none at all")


@dataclass(frozen=True)
class AnswerFilter:
    """Keeps correct answers: the option letter for multiple choice, MRA for numerical."""

    min_accuracy: float = 1.0
    reasons: tuple[str, ...] = ("unscorable_question", "wrong_answer")

    def __call__(self, trajectory: Trajectory) -> Verdict:
        item = trajectory.item
        if item.question_type not in ("multiple choice", "numerical"):
            return Verdict(False, "unscorable_question", f"question_type {item.question_type!r}")
        acc = _scores(trajectory)["accuracy"]
        if acc >= self.min_accuracy:
            return KEEP
        answer = trajectory.turns[-1].answer if trajectory.turns else None
        return Verdict(
            False,
            "wrong_answer",
            f"answered {answer!r}, expected {item.answer!r} (accuracy {acc:.2f})",
        )


@dataclass(frozen=True)
class MinTurnsFilter:
    """Keeps trajectories with at least `min_turns` assistant turns (the answer included)."""

    min_turns: int = 3
    reasons: tuple[str, ...] = ("too_few_turns",)

    def __call__(self, trajectory: Trajectory) -> Verdict:
        n = len(trajectory.turns)
        if n >= self.min_turns:
            return KEEP
        return Verdict(False, "too_few_turns", f"{n} assistant turns, need {self.min_turns}")


@dataclass(frozen=True)
class ReflectionFilter:
    """Keeps trajectories that corrected a drawing on the same image lineage (docs/scoring.md)."""

    reasons: tuple[str, ...] = ("not_reflective",)

    def __call__(self, trajectory: Trajectory) -> Verdict:
        if trajectory_reflections(trajectory):
            return KEEP
        return Verdict(False, "not_reflective", "no label was redrawn on the same lineage")


@dataclass(frozen=True)
class GroundingFilter:
    """Keeps trajectories whose final drawing is grounded in their question's oracle
    (filters/grounding.py): no element left ungrounded (the reason is the element's:
    `ungrounded_box`, `ungrounded_line`, `line_off_grid`, `line_through_wall`) and, for mazes
    with `require_route`, a route from start to goal (`route_invalid`). Questions without
    oracle facts (real data) pass."""

    config: GroundingConfig = GroundingConfig()
    reasons: tuple[str, ...] = GROUNDING_REASONS

    def __call__(self, trajectory: Trajectory) -> Verdict:
        grounding = trajectory.grounding or ground_trajectory(trajectory, self.config)
        if grounding is None:
            return KEEP
        if grounding.final_ungrounded:
            first = grounding.final_ungrounded[0]
            return Verdict(
                False, first.reason, f"turn {first.turn} {first.label!r}: {first.detail}"
            )
        route = grounding.route
        if route is not None and self.config.require_route and not route.valid:
            return Verdict(False, "route_invalid", route.detail)
        return KEEP


@dataclass(frozen=True)
class CorrectiveFilter:
    """Keeps trajectories on oracle-backed questions with at least one corrective redraw (an
    ungrounded element made grounded, or a maze detour moved onto the route); a reflection
    that changes nothing or makes it worse does not count. Questions without oracle facts
    pass."""

    config: GroundingConfig = GroundingConfig()
    reasons: tuple[str, ...] = ("not_corrective",)

    def __call__(self, trajectory: Trajectory) -> Verdict:
        grounding = trajectory.grounding or ground_trajectory(trajectory, self.config)
        if grounding is None:
            return KEEP
        kinds = [c.kind for c in grounding.corrections]
        if "corrective" in kinds:
            return KEEP
        found = ", ".join(kinds) if kinds else "none"
        return Verdict(False, "not_corrective", f"redraws judged against the oracle: {found}")


def apply_filters(trajectory: Trajectory, filters: Sequence[Filter]) -> Verdict:
    """The first rejecting filter's verdict; its detail also names every other failing filter."""
    failures = [v for v in (f(trajectory) for f in filters) if not v.keep]
    if not failures:
        return KEEP
    first, others = failures[0], failures[1:]
    detail = first.detail
    if others:
        detail += " | also: " + ", ".join(v.reason for v in others)
    return Verdict(False, first.reason, detail)


def cold_start_filters(
    min_turns: int = 3, min_accuracy: float = 1.0, grounding: GroundingConfig | None = None
) -> tuple[Filter, ...]:
    """Cold start (docs/stages.md): answered, valid format, correct, grounded in the oracle
    when the question has one, at least `min_turns` turns."""
    grounding = grounding or GroundingConfig()
    return (
        TerminationFilter(),
        FormatFilter(),
        AnswerFilter(min_accuracy=min_accuracy),
        *((GroundingFilter(grounding),) if grounding.enabled else ()),
        MinTurnsFilter(min_turns=min_turns),
    )


def reflective_filters(
    min_accuracy: float = 1.0,
    grounding: GroundingConfig | None = None,
    require_corrective: bool = False,
) -> tuple[Filter, ...]:
    """Reflective sampling (docs/stages.md): answered, valid format, correct, grounded when
    the question has an oracle, reflective, and with `require_corrective` a corrective redraw
    on oracle-backed questions."""
    grounding = grounding or GroundingConfig()
    return (
        TerminationFilter(),
        FormatFilter(),
        AnswerFilter(min_accuracy=min_accuracy),
        *((GroundingFilter(grounding),) if grounding.enabled else ()),
        ReflectionFilter(),
        *((CorrectiveFilter(grounding),) if require_corrective else ()),
    )


FILTERS: dict[str, type] = {
    "termination": TerminationFilter,
    "format": FormatFilter,
    "answer": AnswerFilter,
    "min_turns": MinTurnsFilter,
    "reflection": ReflectionFilter,
    "grounding": GroundingFilter,
    "corrective": CorrectiveFilter,
}
