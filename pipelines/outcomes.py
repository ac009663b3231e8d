"""Per-record outcomes of a stage (pure): judging a trajectory, and the metrics they add up to."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
from drawreason.schemas.layout import (
    data_file,
    errors_file,
    rejected_dir,
    sft_dir,
    trajectories_dir,
)
from drawreason.schemas.records import ErrorRecord, Rejection, Trajectory, to_json
from drawreason.schemas.sharegpt import ExportError, to_sharegpt

KEPT, REJECTED, ERROR = "kept", "rejected", "error"


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
    record_line: str = ""  # a kept teacher trajectory's full record, for trajectories/
    extra_keys: tuple[str, ...] = ()  # more stat keys to count, e.g. "pass_rate|<subset>|0.5"
    canonicalized: tuple[str, ...] = ()  # kinds re-written in the SFT line, once per turn
    tokens: int = 0  # a kept SFT record's estimated token length (filters/length.py)
    # Grounding against the oracle (filters/grounding.py), for questions that carry one:
    # (grounded operations, checked operations) and the kind of every judged redraw.
    grounding: tuple[int, int] = ()
    corrections: tuple[str, ...] = ()

    def record_relpath(self) -> str:
        """Where a kept teacher trajectory's full record goes (before splitting into parts)."""
        return data_file(trajectories_dir(self.stage), self.subset)

    def relpath(self) -> str:
        """The output file of this outcome, relative to the run directory (before splitting
        into parts: pipelines.io.GroupIntoParts)."""
        if self.status == ERROR:
            return errors_file(self.stage)
        folder = sft_dir(self.stage) if self.status == KEPT else rejected_dir(self.stage)
        return data_file(folder, self.subset)


def file_lines(outcome: Outcome) -> Iterator[tuple[str, tuple[str, str]]]:
    """(relative path, (id, line)) pairs an outcome writes: its own line, and the full record
    of a kept model trajectory under trajectories/."""
    yield outcome.relpath(), (outcome.sample_id, outcome.line)
    if outcome.status == KEPT and outcome.record_line:
        yield outcome.record_relpath(), (outcome.sample_id, outcome.record_line)


def stat_keys(outcome: Outcome) -> list[str]:
    keys = [f"{outcome.status}|{outcome.subset}|{outcome.reason}", *outcome.extra_keys]
    if outcome.status == KEPT and outcome.turns:
        keys.append(f"turns|{outcome.subset}|{outcome.turns}")
        keys += [f"reflection|{outcome.subset}|{kind}" for kind in sorted(set(outcome.reflections))]
        if outcome.reflections:
            keys.append(f"reflective|{outcome.subset}|")
    if outcome.status == KEPT:
        keys += [f"canonicalized|{outcome.subset}|{kind}" for kind in outcome.canonicalized]
    if outcome.status == KEPT and outcome.tokens:
        keys.append(f"tokens|{outcome.subset}|{outcome.tokens}")
    if outcome.grounding:
        keys.append(f"grounding|{outcome.subset}|trajectories")
        keys += [f"correction|{outcome.subset}|{kind}" for kind in outcome.corrections]
    return keys


def stat_sums(outcome: Outcome) -> list[tuple[str, int]]:
    """(key, amount) pairs summed rather than counted: the teacher usage of a trajectory and
    its grounded / checked operations."""
    sums = [(f"usage|{outcome.subset}|{name}", n) for name, n in outcome.usage if n]
    if outcome.grounding:
        grounded, checked = outcome.grounding
        sums += [
            (f"grounding|{outcome.subset}|operations", checked),
            (f"grounding|{outcome.subset}|grounded", grounded),
        ]
    return sums


def _new_entry(n: int = 0) -> dict[str, Any]:
    return {
        "input": n,
        "kept": 0,
        "rejected": {},
        "errors": 0,
        "turns": {},
        "reflection": {},
    }


def build_metrics(stage: str, counts: dict[str, int], inputs: dict[str, int]) -> dict[str, Any]:
    """metrics.json: totals and per-subset counts, with the input = kept + rejected + errors check.

    `inputs` are counted from the stage's input collection itself, independently of outcomes.
    """
    subsets: dict[str, dict[str, Any]] = {s: _new_entry(n) for s, n in inputs.items()}
    usage: Counter = Counter()
    canonicalized: Counter = Counter()
    for key, n in counts.items():
        kind, subset, detail = key.split("|", 2)
        entry = subsets.setdefault(subset, _new_entry())
        if kind == KEPT:
            entry["kept"] += n
        elif kind == REJECTED:
            entry["rejected"][detail] = entry["rejected"].get(detail, 0) + n
        elif kind == ERROR:
            entry["errors"] += n
        elif kind == "turns":
            entry["turns"][detail] = n
        elif kind == "reflection":
            entry["reflection"][detail] = n
        elif kind == "reflective":
            entry["reflective_kept"] = n
        elif kind in ("sampled", "sampled_reflective"):
            entry[kind] = n
        elif kind == "pass_rate":
            entry.setdefault("pass_rate", {})[detail] = n
        elif kind == "usage":
            entry.setdefault("teacher_usage", {})[detail] = n
            usage[detail] += n
        elif kind == "canonicalized":
            entry[f"canonicalized_{detail}"] = n
            canonicalized[f"canonicalized_{detail}"] += n
        elif kind == "tokens":
            entry.setdefault("token_length", Counter())[int(detail)] += n
        elif kind == "grounding":
            entry.setdefault("grounding", {})[detail] = n
        elif kind == "correction":
            entry.setdefault("grounding", {}).setdefault("corrections", {})[detail] = n
    rejected: Counter = Counter()
    tokens: Counter = Counter()
    for entry in subsets.values():
        if "token_length" in entry:  # exact lengths counted -> their summary
            tokens.update(entry["token_length"])
            entry["token_length"] = length_summary(entry["token_length"])
        rejected.update(entry["rejected"])
        if "grounding" in entry:  # share of the checked operations that were grounded
            g = entry["grounding"]
            g["grounded_share"] = (
                round(g.get("grounded", 0) / g["operations"], 4) if g.get("operations") else 0.0
            )
        entry["accounted"] = entry["input"] == (
            entry["kept"] + sum(entry["rejected"].values()) + entry["errors"]
        )
        if "sampled" in entry:  # share of all sampled trajectories that reflected
            entry["sampled_reflection_rate"] = round(
                entry.get("sampled_reflective", 0) / entry["sampled"], 4
            )
        kept = entry["kept"]
        entry["reflective_rate"] = round(entry.get("reflective_kept", 0) / kept, 4) if kept else 0.0
    total_input = sum(inputs.values())
    kept = sum(e["kept"] for e in subsets.values())
    errors = sum(e["errors"] for e in subsets.values())
    metrics = {
        "stage": stage,
        "input": total_input,
        "kept": kept,
        "rejected": dict(sorted(rejected.items())),
        "errors": errors,
        "accounted": total_input == kept + sum(rejected.values()) + errors,
        "subsets": dict(sorted(subsets.items())),
    }
    if usage:
        metrics["teacher_usage"] = dict(sorted(usage.items()))
    metrics.update(sorted(canonicalized.items()))
    if tokens:
        metrics["token_length"] = length_summary(tokens)
    return metrics


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
    `usage` (teacher usage of this run) is carried for metrics; a kept teacher trajectory also
    carries its full record (turn logs, scores, provenance) in `record_line`.

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
                    record_line=to_json(trajectory) if is_teacher(trajectory) else "",
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
