"""The reflective_data stage (stage 2, docs/stages.md): reflective rejection sampling.

Questions (generated mazes/scenes + `--input` sources) -> dedup and decontamination -> K
trajectories per question from a policy model (the cold-start checkpoint, through the same
teacher back ends) -> keep those that answered correctly in valid format AND reflected (a label
redrawn on the same image lineage) -> at most `max_per_question` per question, then at most
`max_per_kind` per (subset, reflection kind) and `max_per_subset` per subset -> SFT shards
exactly like cold start, every other trajectory rejected with its reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from drawreason.filters.dedup import EvalSet
from drawreason.filters.grounding import GroundingConfig
from drawreason.filters.length import LengthCheck, LengthConfig
from drawreason.filters.rules import reflective_filters
from drawreason.filters.scoring import trajectory_reflections
from drawreason.generators.oracle import SampleBundle
from drawreason.pipelines.outcomes import (
    KEPT,
    REJECTED,
    Outcome,
    judge_trajectory,
    rejection_outcome,
)
from drawreason.pipelines.pool import DropDuplicates, QuestionPool
from drawreason.pipelines.real_data import SampleTrajectories
from drawreason.pipelines.stage import QuestionStageConfig, write_sft_outputs
from drawreason.schemas.metrics import SAMPLED, SAMPLED_REFLECTIVE, StatKey
from drawreason.schemas.records import Provenance
from drawreason.teachers.factory import TeacherConfig

STAGE = "reflective"


@dataclass(frozen=True)
class ReflectiveConfig(QuestionStageConfig):
    """Configuration of the reflective_data stage (every key can be set in --config); the keys
    every data stage takes are `DataStageConfig`'s.

    The policy is `teacher` (kind, model, endpoint, ...); `teacher.samples_per_item` is K
    (default 8). Caps: `max_per_question` kept trajectories per question; `max_per_kind` per
    (subset, first reflection kind) and `max_per_subset` per subset, 0 for no cap; which ones
    stay is decided by a hash of the trajectory id, so it is stable across runs.
    """

    num_samples: int = 200  # generated questions across subsets, before dedup
    seed_salt: str = STAGE
    teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig(samples_per_item=8))
    min_accuracy: float = 1.0
    max_per_question: int = 2
    max_per_kind: int = 0
    max_per_subset: int = 0
    # too_long above length.max_tokens (default: the hand-off's cutoff_len), as in cold start.
    length: LengthConfig = field(default_factory=LengthConfig)
    # Generated questions carry their oracle facts and every sample is grounded against them
    # (filters/grounding.py); with require_corrective a sample on a generated question is kept
    # only if a redraw turned an ungrounded element into a grounded one (not_corrective).
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    require_corrective: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.require_corrective and not self.grounding.enabled:
            raise ValueError("require_corrective needs grounding.enabled")
        if not self.teacher.kind:
            raise ValueError(
                "reflective_data samples from a policy model: pass --teacher openai|vllm and "
                "--teacher-model (the cold-start checkpoint)"
            )
        if self.max_per_question < 1:
            raise ValueError(f"max_per_question must be >= 1, got {self.max_per_question}")
        for key in ("max_per_kind", "max_per_subset"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0 (0: no cap), got {getattr(self, key)}")

    @property
    def uses_teacher(self) -> bool:
        return True

    @property
    def samples(self) -> int:
        return self.teacher.samples_per_item


class JudgeFn(beam.DoFn):
    """Reflective filters on one sampled trajectory; every trajectory counts as sampled (and
    as reflective if it reflected, right or wrong) for the stage's reflection rate."""

    def __init__(
        self,
        min_accuracy: float,
        length: LengthConfig | None = None,
        grounding: GroundingConfig | None = None,
        require_corrective: bool = False,
    ) -> None:
        self.min_accuracy = min_accuracy
        self.length_config = length or LengthConfig()
        self.grounding = grounding or GroundingConfig()
        self.require_corrective = require_corrective

    def setup(self) -> None:
        self.filters = reflective_filters(
            self.min_accuracy, self.grounding, self.require_corrective
        )
        self.length = LengthCheck.load(self.length_config)

    def process(self, bundle: SampleBundle) -> Iterator[Any]:
        trajectory = bundle.trajectory
        outcome = judge_trajectory(
            trajectory, self.filters, STAGE, bundle.usage, self.length, self.grounding
        )
        for kind in outcome.corrections:
            beam.metrics.Metrics.counter(STAGE, f"correction_{kind}").inc()
        extra = [StatKey(SAMPLED, trajectory.subset)]
        if trajectory_reflections(trajectory):
            extra.append(StatKey(SAMPLED_REFLECTIVE, trajectory.subset))
        outcome = dataclasses.replace(outcome, extra_keys=tuple(extra))
        if outcome.status == KEPT:
            for kind in outcome.canonicalized:
                beam.metrics.Metrics.counter(STAGE, f"canonicalized_{kind}").inc()
            yield outcome
        else:
            beam.metrics.Metrics.counter(STAGE, f"rejected_{outcome.reason}").inc()
            yield beam.pvalue.TaggedOutput(REJECTED, outcome)
        yield from (beam.pvalue.TaggedOutput("images", kv) for kv in bundle.images)


def _rank(outcome: Outcome) -> str:
    return hashlib.sha256(outcome.sample_id.encode()).hexdigest()


class CapFn(beam.DoFn):
    """Keeps the first `cap` outcomes of a group in hash order; rejects the rest as `reason`
    (the trajectory's full record goes with it, rebuilt from the kept line's record)."""

    def __init__(self, cap: int, reason: str) -> None:
        self.cap = cap
        self.reason = reason

    def process(self, element: tuple[Any, Iterable[Outcome]]) -> Iterator[Any]:
        group, outcomes = element
        for n, outcome in enumerate(sorted(outcomes, key=_rank)):
            if n < self.cap:
                yield outcome
                continue
            detail = f"group {group} already has {self.cap} kept"
            rejected = rejection_outcome(
                STAGE, outcome.subset, outcome.sample_id, self.reason, detail
            )
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                dataclasses.replace(
                    rejected,
                    line=_with_trajectory(rejected.line, outcome.record_line),
                    usage=outcome.usage,
                    extra_keys=outcome.extra_keys,
                    grounding=outcome.grounding,
                    corrections=outcome.corrections,
                ),
            )


def _with_trajectory(rejection_line: str, record_line: str) -> str:
    """A Rejection line carrying the full trajectory record, when there is one."""
    if not record_line:
        return rejection_line
    doc = json.loads(rejection_line)
    doc["trajectory"] = json.loads(record_line)
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _cap(
    kept: beam.PCollection, label: str, key: Any, cap: int, reason: str
) -> tuple[beam.PCollection, beam.PCollection]:
    capped = (
        kept
        | f"{label}Key" >> beam.Map(lambda o: (key(o), o))
        | f"{label}Group" >> beam.GroupByKey()
        | label >> beam.ParDo(CapFn(cap, reason)).with_outputs(REJECTED, main="kept")
    )
    return capped.kept, capped[REJECTED]


def build_pipeline(
    p: beam.Pipeline,
    config: ReflectiveConfig,
    output: str,
    provenance: Provenance,
    eval_set: EvalSet | None = None,
) -> beam.PCollection:
    """Wire the stage into `p`; returns the single-element PCollection of the metrics dict."""
    k = config.samples
    expected, items, rejected, errors = p | "Pool" >> QuestionPool(
        STAGE,
        config.allocation(),
        config.generator_configs(),
        config.seed,
        config.inputs,
        config.media,
        units=k,
        per_sample=True,
        salt=config.seed_salt,
        oracle=config.grounding.enabled,
    )
    rejected_all, errors_all = [rejected], [errors]
    if config.dedup.enabled:
        items, dropped = items | "Dedup" >> DropDuplicates(
            STAGE, config.dedup, eval_set or EvalSet(), units=k, per_sample=True
        )
        rejected_all.append(dropped)
    teacher = config.teacher
    policy = dataclasses.replace(provenance, producer=f"policy:{teacher.kind}:{teacher.model}")
    bundles, rollout_errors = items | "Policy" >> SampleTrajectories(
        STAGE,
        k,
        teacher,
        config.teacher_cache(output),
        policy,
        config.seed,
        config.max_images,
        config.prompts_dir,
    )
    errors_all.append(rollout_errors)
    judge = JudgeFn(config.min_accuracy, config.length, config.grounding, config.require_corrective)
    judged = bundles | "Judge" >> beam.ParDo(judge).with_outputs(REJECTED, "images", main=KEPT)
    rejected_all.append(judged[REJECTED])
    kept, over = _cap(
        judged[KEPT],
        "PerQuestion",
        lambda o: f"{o.subset}/{o.sample_id.rsplit('#', 1)[0]}",
        config.max_per_question,
        "question_cap",
    )
    rejected_all.append(over)
    if config.max_per_kind:
        kept, over = _cap(
            kept,
            "PerKind",
            lambda o: f"{o.subset}/{sorted(o.reflections)[0]}",
            config.max_per_kind,
            "balance_cap",
        )
        rejected_all.append(over)
    if config.max_per_subset:
        kept, over = _cap(
            kept, "PerSubset", lambda o: o.subset, config.max_per_subset, "subset_cap"
        )
        rejected_all.append(over)
    return write_sft_outputs(
        (kept, *rejected_all, *errors_all),
        expected,
        judged["images"],
        output,
        STAGE,
        config.records_per_part,
    )
