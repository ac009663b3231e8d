"""Question pools for the sampling stages: generated questions plus real-data questions, then
dedup and decontamination. Every question is accounted for as `units` expected outcomes (1 for
RL records, K for K sampled trajectories), so a question dropped here yields `units` rejections.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from drawreason.filters.dedup import (
    EvalSet,
    QuestionPrint,
    duplicates_in_block,
    image_phash,
    normalize_question,
    video_id,
)
from drawreason.generators.oracle import generate_question, sample_id
from drawreason.inputs.media import MediaConfig
from drawreason.inputs.prepare import PreparedItem
from drawreason.inputs.sources import InputConfig
from drawreason.pipelines.outcomes import ERROR, REJECTED, error_outcome, rejection_outcome
from drawreason.pipelines.real_data import PrepareItemFn, ReadRecordsFn, unit_key


@dataclass(frozen=True)
class DedupConfig:
    """Dedup within and across subsets, and decontamination against evaluation sets.

    max_distance: pHash bits two images may differ by and still be the same image (0 keeps
      only exact duplicates out).
    eval_sets: files describing evaluation sets to keep out (filters/dedup.py load_eval_set:
      JSON/JSONL with questions, image paths, pHashes or video ids; or .txt lists).
    min_words: an evaluation question matches on text alone only from this many words on.
    """

    enabled: bool = True
    max_distance: int = 4
    eval_sets: tuple[str, ...] = ()
    min_words: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.max_distance < 32:
            raise ValueError(f"dedup max_distance must be in [0, 31], got {self.max_distance}")


class GenerateQuestionFn(beam.DoFn):
    """(subset, index) -> the generated question as a PreparedItem (no trace is run)."""

    def __init__(
        self,
        stage: str,
        seed: int,
        configs: dict[str, Any],
        units: int,
        per_sample: bool,
        salt: str = "",
        oracle: bool = False,
    ) -> None:
        self.stage = stage
        self.seed = seed
        self.configs = configs
        self.units = units
        self.per_sample = per_sample
        self.salt = salt
        self.oracle = oracle

    def process(self, element: tuple[str, int]) -> Iterator[Any]:
        subset, index = element
        try:
            question = generate_question(
                subset,
                index,
                self.seed,
                self.configs[subset],
                salt=self.salt,
                with_oracle=self.oracle,
            )
        except (ValueError, OSError) as exc:
            for unit in range(self.units):
                key = unit_key(sample_id(subset, index, self.salt), unit, self.per_sample)
                yield beam.pvalue.TaggedOutput(
                    ERROR, error_outcome(self.stage, subset, key, "generate", exc)
                )
            return
        yield PreparedItem(
            subset, question.item, question.images, max_calls=question.max_calls, pngs=question.pngs
        )


class QuestionPool(beam.PTransform):
    """Applied to the pipeline: (subset name per expected outcome, PreparedItems, rejected
    outcomes, error outcomes) for `allocation[subset]` generated questions per subset plus
    every record of `inputs`; each question stands for `units` outcomes (ids per `unit_key`
    with `per_sample`). Generated questions are drawn with `salt` (generators.seeding
    `stage_seed`), which their ids carry too, and with `oracle` carry their oracle facts
    (for grounding a model's rollouts)."""

    def __init__(
        self,
        stage: str,
        allocation: dict[str, int],
        generator_configs: dict[str, Any],
        seed: int,
        inputs: Sequence[InputConfig],
        media: MediaConfig,
        units: int,
        per_sample: bool,
        salt: str = "",
        oracle: bool = False,
    ) -> None:
        super().__init__()
        self.stage = stage
        self.allocation = dict(allocation)
        self.generator_configs = generator_configs
        self.seed = seed
        self.inputs = tuple(inputs)
        self.media = media
        self.units = units
        self.per_sample = per_sample
        self.salt = salt
        self.oracle = oracle

    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, ...]:
        p, units, per_sample = pbegin.pipeline, self.units, self.per_sample
        expected, items, rejected, errors = [], [], [], []
        if self.allocation:
            generated = (
                pbegin
                | "Questions"
                >> beam.Create(
                    [(s, i) for s, n in sorted(self.allocation.items()) for i in range(n)]
                )
                | "SpreadQuestions" >> beam.Reshuffle()
            )
            expected.append(
                generated | "ExpectedGenerated" >> beam.FlatMap(lambda e, k=units: [e[0]] * k)
            )
            made = generated | "Generate" >> beam.ParDo(
                GenerateQuestionFn(
                    self.stage,
                    self.seed,
                    self.generator_configs,
                    units,
                    per_sample,
                    self.salt,
                    self.oracle,
                )
            ).with_outputs(ERROR, main="items")
            items.append(made.items)
            errors.append(made[ERROR])
        if self.inputs:
            names = [config.subset for config in self.inputs]
            raw = (
                pbegin
                | "Sources" >> beam.Create(list(range(len(self.inputs))))
                | "ReadRecords" >> beam.ParDo(ReadRecordsFn(self.inputs))
                | "SpreadRecords" >> beam.Reshuffle()
            )
            expected.append(
                raw | "ExpectedReal" >> beam.FlatMap(lambda e, k=units, n=names: [n[e[0]]] * k)
            )
            prepared = raw | "Prepare" >> beam.ParDo(
                PrepareItemFn(self.stage, self.inputs, self.media, units, per_sample)
            ).with_outputs(REJECTED, ERROR, main="items")
            items.append(prepared.items)
            rejected.append(prepared[REJECTED])
            errors.append(prepared[ERROR])
        return (
            expected | "AllExpected" >> beam.Flatten(pipeline=p),
            items | "AllItems" >> beam.Flatten(pipeline=p),
            rejected | "PoolRejected" >> beam.Flatten(pipeline=p),
            errors | "PoolErrors" >> beam.Flatten(pipeline=p),
        )


# --- dedup and decontamination -------------------------------------------------------------


def question_print(prepared: PreparedItem) -> QuestionPrint:
    return QuestionPrint(
        subset=prepared.subset,
        id=prepared.item.id,
        text=normalize_question(prepared.item.question),
        hashes=tuple(image_phash(image) for image in prepared.images),
        videos=tuple(sorted({v for v in map(video_id, prepared.media) if v})),
    )


@dataclass(frozen=True)
class Verdict:
    reason: str
    detail: str = field(default="", compare=False)


class DropDuplicates(beam.PTransform):
    """PreparedItems in; (kept PreparedItems, rejected outcomes) out. The first question of
    each duplicate group in (subset, id) order is kept; later ones are rejected `duplicate` /
    `near_duplicate` naming the kept one; questions matching an evaluation set are rejected
    `eval_image` / `eval_video` / `eval_question`."""

    def __init__(
        self, stage: str, config: DedupConfig, eval_set: EvalSet, units: int, per_sample: bool
    ) -> None:
        super().__init__()
        self.stage = stage
        self.config = config
        self.eval_set = eval_set
        self.units = units
        self.per_sample = per_sample

    def expand(self, items: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        max_distance = self.config.max_distance
        eval_set = self.eval_set
        prints = items | "Print" >> beam.Map(question_print)
        duplicates = (
            prints
            | "Block" >> beam.FlatMap(lambda q: [(k, q) for k in q.blocking_keys(max_distance)])
            | "GroupBlocks" >> beam.GroupByKey()
            | "Compare"
            >> beam.FlatMap(
                lambda kv: (
                    ((dup.subset, dup.id), (reason, f"same question as {of.subset}/{of.id}"))
                    for dup, reason, of in duplicates_in_block(kv[1], max_distance)
                )
            )
        )
        contaminated = prints | "Decontaminate" >> beam.FlatMap(
            lambda q: (
                [((q.subset, q.id), (why, "matches the evaluation set"))]
                if (why := eval_set.match(q))
                else []
            )
        )
        verdicts = (
            (duplicates, contaminated)
            | "Verdicts" >> beam.Flatten()
            | "FirstVerdict" >> beam.CombinePerKey(min)
        )
        keyed = items | "KeyItems" >> beam.Map(lambda it: ((it.subset, it.item.id), it))
        joined = (
            {"item": keyed, "verdict": verdicts}
            | "Join" >> beam.CoGroupByKey()
            | "Decide"
            >> beam.ParDo(_DecideFn(self.stage, self.units, self.per_sample)).with_outputs(
                REJECTED, main="kept"
            )
        )
        return joined.kept, joined[REJECTED]


class _DecideFn(beam.DoFn):
    def __init__(self, stage: str, units: int, per_sample: bool) -> None:
        self.stage = stage
        self.units = units
        self.per_sample = per_sample

    def process(self, element: tuple[tuple[str, str], dict[str, list]]) -> Iterator[Any]:
        (subset, item_id), groups = element
        verdicts = sorted(groups["verdict"])
        for n, prepared in enumerate(groups["item"]):
            if verdicts or n > 0:  # n > 0: the same id twice in one subset
                reason, detail = verdicts[0] if verdicts else ("duplicate", "repeated id")
                beam.metrics.Metrics.counter(self.stage, f"dropped_{reason}").inc()
                for unit in range(self.units):
                    yield beam.pvalue.TaggedOutput(
                        REJECTED,
                        rejection_outcome(
                            self.stage,
                            subset,
                            unit_key(item_id, unit, self.per_sample),
                            reason,
                            detail,
                        ),
                    )
            else:
                yield prepared
