"""TraceStats: sentence diversity and answer balance of a stage's trajectories, for
metrics.json (the figures of generators/diversity.py, combined order-free)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from drawreason.generators.diversity import TraceStats as Stats
from drawreason.generators.oracle import SampleBundle


class CombineTraceStatsFn(beam.CombineFn):
    """SampleBundles -> {subset: {"diversity": ..., "answer_balance": ...}}."""

    def create_accumulator(self) -> Stats:
        return Stats()

    def add_input(self, acc: Stats, bundle: SampleBundle) -> Stats:
        t = bundle.trajectory
        acc.add(t.subset, [turn.raw for turn in t.turns], t.meta, t.item)
        return acc

    def merge_accumulators(self, accs: Iterable[Stats]) -> Stats:
        total = Stats()
        for acc in accs:
            total.merge(acc)
        return total

    def extract_output(self, acc: Stats) -> dict[str, Any]:
        return {"traces": acc.summary()}


class TraceStats(beam.PTransform):
    """SampleBundles -> the single-element PCollection {"traces": {subset: figures}}."""

    def expand(self, bundles: beam.PCollection) -> beam.PCollection:
        return bundles | "Combine" >> beam.CombineGlobally(CombineTraceStatsFn())
