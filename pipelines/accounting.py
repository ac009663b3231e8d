"""Beam-side accounting: counting outcomes into metrics, and worker progress logs."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.io import join, write_json
from pipelines.outcomes import Outcome, build_metrics, stat_keys, stat_sums
from schemas.sharegpt import dataset_info

_LOG = logging.getLogger(__name__)


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

    def extract_output(self, acc: Counter) -> dict[str, int]:
        return dict(sorted(acc.items()))


class ProgressLog:
    """Logs a worker's progress at most every `every_s` seconds (long runs show they move)."""

    def __init__(self, what: str, every_s: float = 10.0) -> None:
        self.what = what
        self.every_s = every_s
        self.count = 0
        self.start = self.last = time.monotonic()

    def tick(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            rate = self.count / max(now - self.start, 1e-9)
            _LOG.warning("%s: %d done on this worker (%.1f/s)", self.what, self.count, rate)


class WriteSummaryFn(beam.DoFn):
    """Writes metrics.json (plus `notes`, e.g. skipped sources) once every outcome has been
    counted, and for SFT stages dataset_info.json registering each subset with kept records as
    `<stage>_<subset>` (a folder of part files when `shards` > 1)."""

    def __init__(
        self, root: str, stage: str, shards: int = 1, sft: bool = True, notes: dict | None = None
    ) -> None:
        self.root = root
        self.stage = stage
        self.shards = shards
        self.sft = sft
        self.notes = dict(notes or {})

    def process(self, counts: dict[str, int], inputs: dict[str, int]) -> Iterator[dict[str, Any]]:
        metrics = {**build_metrics(self.stage, counts, inputs), **self.notes}
        write_json(join(self.root, "metrics.json"), metrics)
        if self.sft:
            entries = []
            for subset, entry in metrics["subsets"].items():
                if entry["kept"]:
                    name = f"{self.stage}/{subset}"
                    name += ".jsonl" if self.shards <= 1 else ""
                    entries.append((f"{self.stage}_{subset}", f"sft/{name}"))
            write_json(join(self.root, "dataset_info.json"), dataset_info(entries))
        yield metrics


class WriteMetrics(beam.PTransform):
    """(outcomes, subset name per expected outcome) -> the single-element PCollection of the
    metrics dict, written by WriteSummaryFn: inputs are counted from the stage's own input
    collection, independently of the outcomes, so metrics.json can check that they agree."""

    def __init__(
        self, root: str, stage: str, shards: int = 1, sft: bool = True, notes: dict | None = None
    ) -> None:
        super().__init__()
        self.summary = WriteSummaryFn(root, stage, shards, sft, notes)

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        outcomes, expected = pcolls
        inputs = (
            expected
            | "CountInputs" >> beam.combiners.Count.PerElement()
            | "InputDict" >> beam.combiners.ToDict()
        )
        return (
            outcomes
            | "Count" >> beam.CombineGlobally(CountOutcomesFn())
            | "WriteSummary" >> beam.ParDo(self.summary, beam.pvalue.AsSingleton(inputs))
        )
