"""Beam-side accounting: counting outcomes into metrics, and worker progress logs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

import apache_beam as beam
from drawreason.pipelines.io import join, write_json
from drawreason.pipelines.outcomes import Outcome, build_metrics, stat_keys, stat_sums
from drawreason.pipelines.progress import ProgressTicker
from drawreason.schemas.layout import (
    DATASET_INFO,
    METRICS,
    RECORDS_PER_PART,
    data_file,
    entry_path,
    part_count,
    sft_dir,
)
from drawreason.schemas.metrics import SkippedSource, StageMetrics, StatKey
from drawreason.schemas.sharegpt import dataset_info


class CountOutcomesFn(beam.CombineFn):
    """Counts stat keys of outcomes and sums their teacher usage; order-free, so every runner
    gives the same totals."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, outcome: Outcome) -> Counter:
        acc.update(stat_keys(outcome))
        for key, amount in stat_sums(outcome):
            acc[key] += amount
        return acc

    def merge_accumulators(self, accs: Iterable[Counter]) -> Counter:
        total: Counter = Counter()
        for acc in accs:
            total.update(acc)
        return total

    def extract_output(self, acc: Counter) -> dict[StatKey, int]:
        return dict(acc)


class ProgressLog:
    """A worker's progress on one phase (`what` is "<stage>: <phase>"), shown by the driver's
    progress display (pipelines.progress); nothing is logged per worker."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.ticker = ProgressTicker(what.split(": ", 1)[-1])

    @property
    def count(self) -> int:
        return self.ticker.count

    def tick(self) -> None:
        self.ticker.tick()


class WriteSummaryFn(beam.DoFn):
    """Writes metrics.json (schemas/metrics.py; `notes` may name `skipped_sources`, the `extra`
    side input `traces`) once every outcome has been counted, and for SFT stages
    dataset_info.json registering each subset with kept records as `<stage>_<subset>`: its
    file, or the folder of its parts (schemas/layout.py; the writer splits a file of `kept`
    records by the same `records_per_part`)."""

    def __init__(
        self,
        root: str,
        stage: str,
        records_per_part: int = RECORDS_PER_PART,
        sft: bool = True,
        notes: dict | None = None,
    ) -> None:
        self.root = root
        self.stage = stage
        self.records_per_part = records_per_part
        self.sft = sft
        self.notes = dict(notes or {})

    def process(
        self, counts: dict[StatKey, int], inputs: dict[str, int], extra: dict | None = None
    ) -> Iterator[StageMetrics]:
        sides = {**self.notes, **(extra or {})}
        unknown = sorted(set(sides) - {"skipped_sources", "traces"})
        if unknown:
            raise ValueError(f"metrics.json has no field {unknown[0]!r} (schemas/metrics.py)")
        skipped = [SkippedSource(**s) for s in sides.get("skipped_sources") or ()]
        metrics = build_metrics(self.stage, counts, inputs, sides.get("traces"), skipped)
        write_json(join(self.root, METRICS), metrics.to_json())
        if self.sft:
            entries = []
            for subset, entry in metrics.subsets.items():
                if entry.kept:
                    path = data_file(sft_dir(self.stage), subset)
                    parts = part_count(entry.kept, self.records_per_part)
                    entries.append((f"{self.stage}_{subset}", entry_path(path, parts)))
            write_json(join(self.root, DATASET_INFO), dataset_info(entries))
        yield metrics


class WriteMetrics(beam.PTransform):
    """(outcomes, subset name per expected outcome) -> the single-element PCollection of the
    StageMetrics, written by WriteSummaryFn: inputs are counted from the stage's own input
    collection, independently of the outcomes, so metrics.json can check that they agree.
    `extra`, a single-element PCollection of a dict (e.g. TraceStats), is merged in."""

    def __init__(
        self,
        root: str,
        stage: str,
        records_per_part: int = RECORDS_PER_PART,
        sft: bool = True,
        notes: dict | None = None,
        extra: beam.PCollection | None = None,
    ) -> None:
        super().__init__()
        self.summary = WriteSummaryFn(root, stage, records_per_part, sft, notes)
        self.extra = extra

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        outcomes, expected = pcolls
        inputs = (
            expected
            | "CountInputs" >> beam.combiners.Count.PerElement()
            | "InputDict" >> beam.combiners.ToDict()
        )
        sides = [beam.pvalue.AsSingleton(inputs)]
        if self.extra is not None:
            sides.append(beam.pvalue.AsSingleton(self.extra))
        return (
            outcomes
            | "Count" >> beam.CombineGlobally(CountOutcomesFn())
            | "WriteSummary" >> beam.ParDo(self.summary, *sides)
        )
