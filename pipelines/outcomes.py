"""Per-record outcomes of a stage (pure): judging a trajectory, and the metrics they add up to."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from drawreason.filters.canonical import Canonicalized, canonicalize, with_canonical_meta
from drawreason.filters.grounding import (
    GroundingConfig,
    correction_kinds,
    ground_trajectory,
    with_grounding,
)
from drawreason.filters.length import LengthCheck, length_summary
from drawreason.filters.rules import Filter, apply_filters
from drawreason.filters.scoring import trajectory_reflections
from drawreason.pipelines.io import pack_line
from drawreason.schemas import metrics as m
from drawreason.schemas.layout import (
    data_file,
    errors_file,
    rejected_dir,
    sft_dir,
    trajectories_dir,
)
from drawreason.schemas.metrics import (
    ERROR,
    KEPT,
    REJECTED,
    Grounding,
    SkippedSource,
    StageMetrics,
    StatKey,
    SubsetMetrics,
    TokenLengths,
)
from drawreason.schemas.records import ErrorRecord, Rejection, Trajectory, to_json
from drawreason.schemas.sharegpt import ExportError, to_sharegpt


@dataclass(frozen=True)
class Outcome:
    """What became of one input sample: the line to write and what to count."""

    status: str  # kept | rejected | error
    stage: str
    subset: str
    sample_id: str
    line: str
    reason: str = ""  # rejection reason code, or the exception type of an error
    turns: int = 0
    reflections: tuple[str, ...] = ()
    usage: tuple[tuple[str, int], ...] = ()  # teacher usage of the trajectory, summed in metrics
    record_line: str = ""  # a kept trajectory's full record, for trajectories/
    extra_keys: tuple[StatKey, ...] = ()  # more to count, e.g. StatKey(PASS_RATE, subset, "0.5")
    canonicalized: tuple[str, ...] = ()  # kinds re-written in the SFT line, once per turn
    tokens: int = 0  # a kept SFT record's estimated token length (filters/length.py)
    # Grounding against the oracle (filters/grounding.py), for questions that carry one:
    # (grounded operations, checked operations) and the kind of every judged redraw.
    grounding: tuple[int, int] = ()
    corrections: tuple[str, ...] = ()

    def record_relpath(self) -> str:
        """Where a kept trajectory's full record goes (before splitting into parts)."""
        return data_file(trajectories_dir(self.stage), self.subset)

    def relpath(self) -> str:
        """The output file of this outcome, relative to the run directory (before splitting
        into parts: pipelines.io.GroupIntoParts)."""
        if self.status == ERROR:
            return errors_file(self.stage)
        folder = sft_dir(self.stage) if self.status == KEPT else rejected_dir(self.stage)
        return data_file(folder, self.subset)


def file_lines(outcome: Outcome) -> Iterator[tuple[str, tuple[str, bytes]]]:
    """(relative path, (id, packed line)) pairs an outcome writes: its own line, and the full
    record of a kept trajectory under trajectories/ (lines packed: pipelines.io.pack_line)."""
    yield outcome.relpath(), (outcome.sample_id, pack_line(outcome.line))
    if outcome.status == KEPT and outcome.record_line:
        yield outcome.record_relpath(), (outcome.sample_id, pack_line(outcome.record_line))


def without_lines(outcome: Outcome) -> Outcome:
    """The outcome with its lines dropped: what the metrics count (stat_keys, stat_sums)."""
    return replace(outcome, line="", record_line="")


def stat_keys(outcome: Outcome) -> list[StatKey]:
    """What one outcome counts once each (schemas/metrics.py)."""
    subset = outcome.subset
    keys = [StatKey(outcome.status, subset, outcome.reason), *outcome.extra_keys]
    if outcome.status == KEPT and outcome.turns:
        keys.append(StatKey(m.TURNS, subset, outcome.turns))
        keys += [StatKey(m.REFLECTION, subset, k) for k in sorted(set(outcome.reflections))]
        if outcome.reflections:
            keys.append(StatKey(m.REFLECTIVE, subset))
    if outcome.status == KEPT:
        keys += [StatKey(m.CANONICALIZED, subset, kind) for kind in outcome.canonicalized]
    if outcome.status == KEPT and outcome.tokens:
        keys.append(StatKey(m.TOKENS, subset, outcome.tokens))
    if outcome.grounding:
        keys.append(StatKey(m.GROUNDED_TRAJECTORY, subset))
        keys += [StatKey(m.CORRECTION, subset, kind) for kind in outcome.corrections]
    return keys


def stat_sums(outcome: Outcome) -> list[tuple[StatKey, int]]:
    """(key, amount) pairs summed rather than counted: the teacher usage of a trajectory and
    its grounded / checked operations."""
    sums = [(StatKey(m.USAGE, outcome.subset, name), n) for name, n in outcome.usage if n]
    if outcome.grounding:
        grounded, checked = outcome.grounding
        sums += [
            (StatKey(m.GROUNDING_OPERATIONS, outcome.subset), checked),
            (StatKey(m.GROUNDED_OPERATIONS, outcome.subset), grounded),
        ]
    return sums


@dataclass
class _Tally:
    """A subset's counts while they are added up (frozen into SubsetMetrics at the end)."""

    input: int = 0
    kept: int = 0
    errors: int = 0
    reflective_kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    turns: Counter = field(default_factory=Counter)
    reflection: Counter = field(default_factory=Counter)
    canonicalized: Counter = field(default_factory=Counter)
    usage: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)
    pass_rate: Counter = field(default_factory=Counter)
    corrections: Counter = field(default_factory=Counter)
    grounding: Counter = field(default_factory=Counter)  # trajectories, operations, grounded
    sampled: Counter = field(default_factory=Counter)  # sampled, sampled_reflective

    def add(self, key: StatKey, n: int) -> None:
        kind, detail = key.kind, key.detail
        if kind == KEPT:
            self.kept += n
        elif kind == REJECTED:
            self.rejected[str(detail)] += n
        elif kind == ERROR:
            self.errors += n
        elif kind == m.REFLECTIVE:
            self.reflective_kept += n
        elif kind in _COUNTERS:
            getattr(self, _COUNTERS[kind])[str(detail)] += n
        elif kind == m.TOKENS:
            self.tokens[int(detail)] += n
        elif kind in _GROUNDING:
            self.grounding[_GROUNDING[kind]] += n
        elif kind in (m.SAMPLED, m.SAMPLED_REFLECTIVE):
            self.sampled[kind] += n
        else:
            raise ValueError(f"unknown stat kind {kind!r}")

    def freeze(self) -> SubsetMetrics:
        g = self.grounding
        share = round(g["grounded"] / g["operations"], 4) if g["operations"] else 0.0
        sampled = self.sampled.get(m.SAMPLED)
        return SubsetMetrics(
            input=self.input,
            kept=self.kept,
            rejected=dict(sorted(self.rejected.items())),
            errors=self.errors,
            accounted=self.input == self.kept + sum(self.rejected.values()) + self.errors,
            turns=dict(sorted(self.turns.items())),
            reflection=dict(sorted(self.reflection.items())),
            reflective_kept=self.reflective_kept,
            reflective_rate=round(self.reflective_kept / self.kept, 4) if self.kept else 0.0,
            canonicalized=dict(sorted(self.canonicalized.items())),
            teacher_usage=dict(sorted(self.usage.items())),
            token_length=token_lengths(self.tokens) if self.tokens else None,
            grounding=Grounding(
                trajectories=g["trajectories"],
                operations=g["operations"],
                grounded=g["grounded"],
                grounded_share=share,
                corrections=dict(sorted(self.corrections.items())),
            )
            if g
            else None,
            sampled=sampled,
            sampled_reflective=self.sampled[m.SAMPLED_REFLECTIVE] if sampled else None,
            sampled_reflection_rate=(
                round(self.sampled[m.SAMPLED_REFLECTIVE] / sampled, 4) if sampled else None
            ),
            pass_rate=dict(sorted(self.pass_rate.items())),
        )


_COUNTERS = {
    m.TURNS: "turns",
    m.REFLECTION: "reflection",
    m.CANONICALIZED: "canonicalized",
    m.USAGE: "usage",
    m.PASS_RATE: "pass_rate",
    m.CORRECTION: "corrections",
}
_GROUNDING = {
    m.GROUNDED_TRAJECTORY: "trajectories",
    m.GROUNDING_OPERATIONS: "operations",
    m.GROUNDED_OPERATIONS: "grounded",
}


def token_lengths(counts: Counter) -> TokenLengths:
    """{exact token length: n} -> its summary (filters/length.py)."""
    return TokenLengths(**length_summary(counts))


def build_metrics(
    stage: str,
    counts: dict[StatKey, int],
    inputs: dict[str, int],
    traces: dict[str, dict[str, Any]] | None = None,
    skipped: Sequence[SkippedSource] = (),
) -> StageMetrics:
    """metrics.json: totals and per-subset counts, with the input = kept + rejected + errors check.

    `inputs` are counted from the stage's input collection itself, independently of outcomes.
    """
    tallies: dict[str, _Tally] = {s: _Tally(input=n) for s, n in inputs.items()}
    for key, n in counts.items():
        tallies.setdefault(key.subset, _Tally()).add(key, n)
    subsets = {s: tallies[s].freeze() for s in sorted(tallies)}
    rejected: Counter = Counter()
    usage: Counter = Counter()
    canonicalized: Counter = Counter()
    tokens: Counter = Counter()
    for s in sorted(tallies):
        rejected.update(tallies[s].rejected)
        usage.update(tallies[s].usage)
        canonicalized.update(tallies[s].canonicalized)
        tokens.update(tallies[s].tokens)
    total_input = sum(inputs.values())
    kept = sum(e.kept for e in subsets.values())
    errors = sum(e.errors for e in subsets.values())
    return StageMetrics(
        stage=stage,
        input=total_input,
        kept=kept,
        rejected=dict(sorted(rejected.items())),
        errors=errors,
        accounted=total_input == kept + sum(rejected.values()) + errors,
        subsets=subsets,
        teacher_usage=dict(sorted(usage.items())),
        canonicalized=dict(sorted(canonicalized.items())),
        token_length=token_lengths(tokens) if tokens else None,
        traces=dict(traces or {}),
        skipped_sources=list(skipped),
    )


def judge_trajectory(
    trajectory: Trajectory,
    filters: Sequence[Filter],
    stage: str,
    usage: Sequence[tuple[str, int]] = (),
    length: LengthCheck | None = None,
    grounding: GroundingConfig | None = None,
) -> Outcome:
    """Kept (the sharegpt line) or rejected (the Rejection with the full trajectory).

    A trajectory every filter keeps but the exporter refuses is rejected as `export_invalid`;
    one whose record `length` estimates above its `max_tokens` as `too_long`. A kept record
    carries its estimated token length for the metrics.
    `usage` (teacher usage of this run) is carried for metrics; a kept trajectory, generated or
    model-written, also carries its full record (turn logs, scores, provenance, question facts)
    in `record_line`, so no reader of the run recovers a fact from the rendered prompts.

    A model-written trajectory is judged and exported with its cosmetic-only turns re-written
    canonically (filters/canonical.py); its full record and a rejection keep the raw replies,
    the strict scores and `meta["canonicalized"]`, and the outcome counts the kinds re-written.

    A question with oracle facts is grounded first (`grounding`, default GroundingConfig()):
    the full record and the rejection carry the step-level result and `scores["grounding"]`,
    and the outcome counts grounded operations and the kinds of redraws.
    """
    found = ground_trajectory(trajectory, grounding or GroundingConfig())
    trajectory = with_grounding(trajectory, found)
    grounded_fields: dict[str, Any] = {}
    if found is not None:
        checked = len(found.checks)
        grounded = sum(c.grounded for c in found.checks)
        grounded_fields = {"grounding": (grounded, checked), "corrections": correction_kinds(found)}
    canon = canonicalize(trajectory) if is_teacher(trajectory) else Canonicalized(trajectory)
    judged = with_grounding(canon.trajectory, found)
    trajectory = with_canonical_meta(trajectory, canon)
    verdict = apply_filters(judged, filters)
    reason, detail = verdict.reason, verdict.detail
    if verdict.keep:
        try:
            record = to_sharegpt(judged)
        except ExportError as exc:
            reason, detail = "export_invalid", str(exc)
        else:
            tokens, too_long = 0, ""
            if length is not None:
                estimate, too_long = length.measure(record, trajectory_sizes(trajectory))
                tokens = estimate.total
            if too_long:
                reason, detail = "too_long", too_long
            else:
                return Outcome(
                    status=KEPT,
                    stage=stage,
                    subset=trajectory.subset,
                    sample_id=trajectory.id,
                    line=json.dumps(record, ensure_ascii=False, separators=(",", ":")),
                    turns=len(trajectory.turns),
                    reflections=tuple(r.kind for r in trajectory_reflections(trajectory)),
                    usage=tuple(usage),
                    record_line=to_json(trajectory),
                    tokens=tokens,
                    canonicalized=canon.kinds,
                    **grounded_fields,
                )
    rejection = Rejection(trajectory.id, stage, trajectory.subset, reason, detail, trajectory)
    return Outcome(
        status=REJECTED,
        stage=stage,
        subset=trajectory.subset,
        sample_id=trajectory.id,
        line=to_json(rejection),
        reason=reason,
        usage=tuple(usage),
        **grounded_fields,
    )


def trajectory_sizes(trajectory: Trajectory) -> list[tuple[int, int]]:
    """(width, height) of every image of a trajectory, in the order of its record's images
    (`Trajectory.image_keys`: inputs, then rendered)."""
    rendered = [(r.width, r.height) for r in trajectory.rendered]
    return [*((int(w), int(h)) for w, h in trajectory.input_sizes), *rendered]


def is_teacher(trajectory: Trajectory) -> bool:
    """Rolled out by a model (a teacher, or the policy in reflective sampling)."""
    return trajectory.provenance.producer.split(":", 1)[0] in ("teacher", "policy")


def rejection_outcome(stage: str, subset: str, sample_id: str, reason: str, detail: str) -> Outcome:
    """A sample rejected before it had a trajectory (e.g. its image does not decode)."""
    rejection = Rejection(sample_id, stage, subset, reason, detail)
    return Outcome(REJECTED, stage, subset, sample_id, to_json(rejection), reason)


def error_outcome(stage: str, subset: str, sample_id: str, step: str, exc: Exception) -> Outcome:
    """An unexpected per-record failure, kept with its exception type and message."""
    record = ErrorRecord(sample_id, stage, step, type(exc).__name__, str(exc))
    return Outcome(ERROR, stage, subset, sample_id, to_json(record), type(exc).__name__)
