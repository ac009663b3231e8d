"""The grounding figures of a run: how the drawing of teacher trajectories on generated tasks
held up against the questions' oracle facts (filters/grounding.py, docs/grounding.md).

Per-trajectory grounding scores come from the full records the stages write (`trajectories/`
for kept teacher trajectories, `rejected/` for rejections with their trajectory); rejection
reasons and redraw kinds from the stage's counters in metrics.json, read by
`grounding_metrics` alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from drawreason.filters.rules import CorrectiveFilter, GroundingFilter
from drawreason.report.svg import bar_chart
from drawreason.schemas.metrics import StageMetrics
from drawreason.schemas.oracle import CORRECTION_KINDS, Grounding

Figure = tuple[str, str, str, str]  # (title, html, note, warn)

# The rejection reasons of the grounding filters (an element left ungrounded, no valid maze
# route, a reflection that fixed nothing), in the order the plot shows them.
GROUNDING_REJECTIONS: tuple[str, ...] = (*GroundingFilter.reasons, *CorrectiveFilter.reasons)
NOTHING_DRAWN = "none"
# Score buckets: nothing drawn, [0, 0.1), ..., [0.9, 1), exactly 1 (every operation grounded).
SCORE_BUCKETS: tuple[str, ...] = (NOTHING_DRAWN, *(f"{k / 10:.1f}" for k in range(10)), "1")


def score_bucket(grounding: Grounding) -> str:
    """The bucket of a trajectory's grounding score (see SCORE_BUCKETS)."""
    if not grounding.checks:
        return NOTHING_DRAWN
    if all(check.grounded for check in grounding.checks):
        return "1"
    # the score is rounded to 4 digits; round again so 0.3 * 10 is 3, not 2.9999...
    return f"{min(int(round(grounding.score * 10, 6)), 9) / 10:.1f}"


def bucket_label(bucket: str) -> str:
    if bucket == NOTHING_DRAWN:
        return "nothing drawn"
    if bucket == "1":
        return "1 (all)"
    low = float(bucket)
    return f"{low:.1f}-{low + 0.1:.1f}"


@dataclass
class GroundingScores:
    """Per-trajectory grounding scores read from the full records: subset -> bucket -> n,
    and subset -> (kept, rejected) trajectories with a score, and their score sums."""

    buckets: dict[str, Counter] = field(default_factory=dict)
    kept: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    total: Counter = field(default_factory=Counter)  # subset -> sum of scores

    def add(self, subset: str, grounding: Grounding, kept: bool) -> None:
        self.buckets.setdefault(subset, Counter())[score_bucket(grounding)] += 1
        (self.kept if kept else self.rejected)[subset] += 1
        self.total[subset] += grounding.score


@dataclass(frozen=True)
class SubsetGrounding:
    """One subset's grounding counters of metrics.json."""

    trajectories: int = 0
    operations: int = 0
    grounded: int = 0
    corrections: dict[str, int] = field(default_factory=dict)  # redraw kind -> n
    rejected: dict[str, int] = field(default_factory=dict)  # grounding reason -> n


def grounding_metrics(metrics: StageMetrics | None) -> dict[str, SubsetGrounding]:
    """The grounding counters of every subset of the run's metrics record (`subsets.<s>.grounding`,
    the grounding reasons of `subsets.<s>.rejected`); subsets without either are left out, and
    a run without metrics.json has none."""
    out = {}
    for subset, entry in sorted((metrics.subsets if metrics else {}).items()):
        g = entry.grounding
        rejected = {r: n for r, n in entry.rejected.items() if r in GROUNDING_REJECTIONS}
        if g is not None or rejected:
            out[subset] = SubsetGrounding(
                trajectories=g.trajectories if g else 0,
                operations=g.operations if g else 0,
                grounded=g.grounded if g else 0,
                corrections=dict(g.corrections) if g else {},
                rejected=rejected,
            )
    return out


def _score_figure(scores: GroundingScores) -> Figure | None:
    subsets = sorted(scores.buckets)
    if not subsets:
        return None
    # Every score bucket, so the shape reads at a glance; "nothing drawn" only when it occurs.
    buckets = [
        b for b in SCORE_BUCKETS if b != NOTHING_DRAWN or any(scores.buckets[s][b] for s in subsets)
    ]
    chart = bar_chart(
        "Grounding score per trajectory",
        [bucket_label(b) for b in buckets],
        {s: [scores.buckets[s][b] for b in buckets] for s in subsets},
        x_label="share of operations grounded",
        y_label="trajectories",
        chart_id="p-grounding-scores",
    )
    rows = "; ".join(
        f"{s}: {scores.kept[s]} kept, {scores.rejected[s]} rejected, mean "
        f"{scores.total[s] / (scores.kept[s] + scores.rejected[s]):.2f}"
        for s in subsets
    )
    note = (
        "The share of each trajectory's drawing operations grounded in its question's oracle, "
        "for teacher trajectories on generated questions, kept and rejected, from their full "
        f"records (trajectories/, rejected/). {rows}."
    )
    return ("Grounding score per trajectory", chart, note, "")


NO_COUNTS = '<p class="empty">metrics.json has no grounding counts.</p>'


def _rejection_figure(found: dict[str, SubsetGrounding]) -> Figure:
    title = "Grounding rejections per reason"
    if not found:
        return (title, NO_COUNTS, "", "")
    subsets = sorted(found)
    reasons = [r for r in GROUNDING_REJECTIONS if any(found[s].rejected.get(r) for s in subsets)]
    if not reasons:
        return (title, '<p class="empty">No trajectory was rejected for its grounding.</p>', "", "")
    chart = bar_chart(
        title,
        reasons,
        {s: [found[s].rejected.get(r, 0) for r in reasons] for s in subsets},
        stacked=True,
        y_label="trajectories",
        chart_id="p-grounding-reasons",
    )
    note = (
        "ungrounded_box / ungrounded_line / line_off_grid / line_through_wall: an element left "
        "ungrounded in the final drawing; route_invalid: the maze drawing does not join start "
        "and goal; not_corrective: a required reflection fixed nothing. From metrics.json."
    )
    return (title, chart, note, "")


def _redraw_figure(found: dict[str, SubsetGrounding]) -> Figure:
    title = "Redraws judged against the oracle"
    if not found:
        return (title, NO_COUNTS, "", "")
    subsets = sorted(found)
    if not any(found[s].corrections for s in subsets):
        return (title, '<p class="empty">No label was redrawn on a generated question.</p>', "", "")
    chart = bar_chart(
        title,
        list(CORRECTION_KINDS),
        {s: [found[s].corrections.get(k, 0) for k in CORRECTION_KINDS] for s in subsets},
        y_label="redraws",
        chart_id="p-grounding-redraws",
    )
    shares = ", ".join(
        f"{s} {found[s].grounded / found[s].operations:.0%} of {found[s].operations}"
        for s in subsets
        if found[s].operations
    )
    note = (
        "Every label a reflective trajectory redrew on one image lineage: corrective (an "
        "ungrounded element made grounded, or a maze detour moved onto the route), cosmetic "
        "(no better, no worse), regressive (worse). From metrics.json."
    )
    if shares:
        note += f" Operations grounded: {shares}."
    return (title, chart, note, "")


def grounding_figures(metrics: StageMetrics | None, scores: GroundingScores) -> list[Figure]:
    """The grounding figures, or one empty figure when nothing in the run was grounded."""
    found = grounding_metrics(metrics)
    score = _score_figure(scores)
    if not found and score is None:
        why = (
            "Nothing in this run was grounded against an oracle: grounding checks teacher "
            "trajectories on generated questions (teacher_subsets, docs/grounding.md)."
        )
        return [("Grounding against the oracle", f'<p class="empty">{why}</p>', "", "")]
    figs = [score] if score is not None else []
    return figs + [_rejection_figure(found), _redraw_figure(found)]
