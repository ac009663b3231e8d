"""The cold_start_data stage: generate -> trace -> render -> filter -> write SFT shards."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import apache_beam as beam
from drawreason.drawing.prompts import Prompts
from drawreason.filters.grounding import GroundingConfig
from drawreason.filters.length import LengthCheck, LengthConfig
from drawreason.filters.rules import cold_start_filters
from drawreason.generators.oracle import SampleBundle, build_oracle_sample, sample_id
from drawreason.pipelines.accounting import ProgressLog
from drawreason.pipelines.memory import TRIM_EVERY, release_free_memory
from drawreason.pipelines.outcomes import (
    ERROR,
    KEPT,
    REJECTED,
    error_outcome,
    judge_trajectory,
)
from drawreason.pipelines.pool import QuestionPool
from drawreason.pipelines.real_data import SampleTrajectories
from drawreason.pipelines.stage import DataStageConfig, write_sft_outputs
from drawreason.pipelines.trace_stats import TraceStats
from drawreason.schemas.records import Provenance

STAGE = "cold_start"
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColdStartConfig(DataStageConfig):
    """Configuration of the cold_start_data stage (every key can be set in --config); the keys
    every data stage takes are `DataStageConfig`'s. Real-data `inputs` are rolled out by the
    teacher, one subset per source (README, "Real data with a teacher"); without a teacher the
    sources are skipped, with a note."""

    seed_salt: str = STAGE
    min_turns: int = 3
    min_accuracy: float = 1.0
    chunk_size: int = 64  # sample indices per initial work item
    # Records estimated above length.max_tokens (default: the LLaMA-Factory hand-off's
    # cutoff_len; 0 off) are rejected as too_long, so the trainer never truncates one.
    length: LengthConfig = field(default_factory=LengthConfig)
    # Generated subsets whose questions go to the teacher (samples_per_item rollouts each)
    # instead of their oracle traces, or beside them with oracle_beside_teacher; the questions
    # carry their oracle facts and every rollout is grounded step by step against them
    # (filters/grounding.py, thresholds in `grounding`).
    teacher_subsets: tuple[str, ...] = ()
    oracle_beside_teacher: bool = False
    grounding: GroundingConfig = field(default_factory=GroundingConfig)

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if not self.mix or any(w < 0 for w in self.mix.values()) or not sum(self.mix.values()):
            raise ValueError(f"mix needs non-negative weights with a positive sum, got {self.mix}")
        super().__post_init__()
        for key in ("min_turns", "max_images", "chunk_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0.0 <= self.min_accuracy <= 1.0:
            raise ValueError(f"min_accuracy must be in [0, 1], got {self.min_accuracy}")
        for name in self.teacher_subsets:
            if not self.mix.get(name):
                raise ValueError(
                    f"teacher_subsets: {name!r} is not a generated subset of mix {self.mix}"
                )
        oracle_mazes = self.mix.get("maze") and (
            "maze" not in self.teacher_subsets or self.oracle_beside_teacher
        )
        granularity = self.generators["maze"].trace_granularity
        if oracle_mazes and granularity == "route" and self.min_turns > 2:
            # A whole-route trace is one drawing and the answer: all but the reflective ones
            # would be rejected too_few_turns.
            raise ValueError(
                f"maze.trace_granularity 'route' writes 2-turn traces; min_turns {self.min_turns}"
                " would reject them as too_few_turns: set min_turns: 2"
            )
        if self.teacher_subsets and not self.teacher.kind:
            raise ValueError(
                f"teacher_subsets {list(self.teacher_subsets)} need a teacher: pass --teacher "
                "openai|vllm and --teacher-model"
            )

    @property
    def uses_teacher(self) -> bool:
        return bool(self.inputs or self.teacher_subsets) and bool(self.teacher.kind)

    def oracle_allocation(self) -> dict[str, int]:
        """Samples per subset that get oracle traces: every generated subset but those the
        teacher rolls out instead of them."""
        allocation = self.allocation()
        if self.oracle_beside_teacher:
            return allocation
        return {s: n for s, n in allocation.items() if s not in self.teacher_subsets}

    def teacher_allocation(self) -> dict[str, int]:
        """Generated questions per subset that the teacher rolls out."""
        return {s: n for s, n in self.allocation().items() if s in self.teacher_subsets}

    def skipped_sources(self) -> list[dict[str, str]]:
        """The real-data sources this run leaves out, and why."""
        if not self.inputs or self.teacher.kind:
            return []
        why = "no teacher configured (pass --teacher openai|vllm and --teacher-model)"
        return [
            {"subset": s.subset, "source": f"{s.kind}:{s.path}", "reason": why} for s in self.inputs
        ]


def work_chunks(config: ColdStartConfig) -> list[tuple[str, int, int]]:
    """(subset, start, end) ranges covering every oracle-traced sample index once."""
    chunks = []
    for subset, count in config.oracle_allocation().items():
        for start in range(0, count, config.chunk_size):
            chunks.append((subset, start, min(start + config.chunk_size, count)))
    return chunks


class GenerateSampleFn(beam.DoFn):
    """Generates one sample and runs its oracle trace; per-record failures go to `errors`."""

    def __init__(self, config: ColdStartConfig, provenance: Provenance) -> None:
        self.config = config
        self.provenance = provenance
        self.generated = beam.metrics.Metrics.counter(STAGE, "generated")
        self.errors = beam.metrics.Metrics.counter(STAGE, "errors")

    def setup(self) -> None:
        self.prompts = Prompts.load(self.config.prompts_dir or None)
        self.progress = ProgressLog(f"{STAGE}: samples generated")

    def process(self, element: tuple[str, int]) -> Iterator[Any]:
        subset, index = element
        try:
            bundle = build_oracle_sample(
                subset,
                index,
                self.config.seed,
                self.config.generators[subset],
                self.prompts,
                self.provenance,
                max_images=self.config.max_images,
                salt=self.config.seed_salt,
            )
        except (ValueError, OSError) as exc:
            self.errors.inc()
            sid = sample_id(subset, index, self.config.seed_salt)
            yield beam.pvalue.TaggedOutput(
                ERROR, error_outcome(STAGE, subset, sid, "generate", exc)
            )
            return
        self.generated.inc()
        self.progress.tick()
        if self.progress.count % TRIM_EVERY == 0:
            release_free_memory()  # local workers' heaps otherwise grow with the run
        yield bundle


class JudgeSampleFn(beam.DoFn):
    """Applies the cold-start filters and the exporter; routes the outcome and the images."""

    def __init__(self, config: ColdStartConfig) -> None:
        self.config = config

    def setup(self) -> None:
        self.filters = cold_start_filters(
            self.config.min_turns, self.config.min_accuracy, self.config.grounding
        )
        self.length = LengthCheck.load(self.config.length)

    def process(self, bundle: SampleBundle) -> Iterator[Any]:
        outcome = judge_trajectory(
            bundle.trajectory, self.filters, STAGE, bundle.usage, self.length, self.config.grounding
        )
        for kind in outcome.corrections:
            beam.metrics.Metrics.counter(STAGE, f"correction_{kind}").inc()
        if outcome.status == KEPT:
            beam.metrics.Metrics.counter(STAGE, "kept").inc()
            for kind in outcome.canonicalized:
                beam.metrics.Metrics.counter(STAGE, f"canonicalized_{kind}").inc()
            yield outcome
        else:
            beam.metrics.Metrics.counter(STAGE, f"rejected_{outcome.reason}").inc()
            yield beam.pvalue.TaggedOutput(REJECTED, outcome)
        # Rejected trajectories keep their images too, so thresholds can be re-tuned offline.
        yield from (beam.pvalue.TaggedOutput("images", kv) for kv in bundle.images)


def build_pipeline(
    p: beam.Pipeline,
    config: ColdStartConfig,
    output: str,
    provenance: Provenance,
    teacher_provenance: Provenance | None = None,
) -> beam.PCollection:
    """Wire the stage into `p`; returns the single-element PCollection of the metrics dict.

    With real-data inputs and a teacher, their trajectories join the generated ones (same
    judge, same writers); `teacher_provenance` defaults to `provenance` with the teacher as
    producer.
    """
    for skipped in config.skipped_sources():
        _LOG.warning("skipping %s: %s", skipped["source"], skipped["reason"])
    items = (
        p
        | "Chunks" >> beam.Create(work_chunks(config))
        | "Indices" >> beam.FlatMap(lambda c: ((c[0], i) for i in range(c[1], c[2])))
        | "Spread" >> beam.Reshuffle()
    )
    input_subsets = [items | "InputSubset" >> beam.Map(lambda e: e[0])]
    generated = items | "Generate" >> beam.ParDo(GenerateSampleFn(config, provenance)).with_outputs(
        ERROR, main="samples"
    )
    samples = [generated.samples]
    early = [generated[ERROR]]
    if config.uses_teacher:
        k = config.teacher.samples_per_item
        teacher_allocation = config.teacher_allocation()
        expected, items_real, rejected, errors = p | "RealData" >> QuestionPool(
            STAGE,
            teacher_allocation,
            config.generator_configs(teacher_allocation),
            config.seed,
            config.inputs,
            config.media,
            units=k,
            per_sample=True,
            salt=config.seed_salt,
            oracle=config.grounding.enabled,
        )
        bundles, rollout_errors = items_real | "Teacher" >> SampleTrajectories(
            STAGE,
            k,
            config.teacher,
            config.teacher_cache(output),
            teacher_provenance or replace(provenance, producer=config.teacher.producer),
            config.seed,
            config.max_images,
            config.prompts_dir,
        )
        input_subsets.append(expected)
        samples.append(bundles)
        early += [rejected, errors, rollout_errors]
    expected_all = input_subsets | "AllInputs" >> beam.Flatten()
    pooled = samples | "AllSamples" >> beam.Flatten()
    judged = pooled | "Judge" >> beam.ParDo(JudgeSampleFn(config)).with_outputs(
        REJECTED, "images", main=KEPT
    )
    skipped = config.skipped_sources()
    return write_sft_outputs(
        (judged[KEPT], judged[REJECTED], *early),
        expected_all,
        judged["images"],
        output,
        STAGE,
        config.records_per_part,
        notes={"skipped_sources": skipped} if skipped else {},
        extra=pooled | "TraceStats" >> TraceStats(),
    )
