"""Per-record outcomes of a stage and the metrics.json they add up to."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

_LOG = logging.getLogger(__name__)

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

    def relpath(self, shards: int = 1) -> str:
        """The output file of this outcome, relative to the run directory."""
        if self.status == ERROR:
            return f"errors/{self.stage}.jsonl"
        folder = "sft" if self.status == KEPT else "rejected"
        if shards <= 1:
            return f"{folder}/{self.stage}/{self.subset}.jsonl"
        shard = int(hashlib.sha256(self.sample_id.encode()).hexdigest(), 16) % shards
        return f"{folder}/{self.stage}/{self.subset}/part-{shard:05d}-of-{shards:05d}.jsonl"


def stat_keys(outcome: Outcome) -> list[str]:
    keys = [f"{outcome.status}|{outcome.subset}|{outcome.reason}"]
    if outcome.status == KEPT:
        keys.append(f"turns|{outcome.subset}|{outcome.turns}")
        keys += [f"reflection|{outcome.subset}|{kind}" for kind in sorted(set(outcome.reflections))]
        if outcome.reflections:
            keys.append(f"reflective|{outcome.subset}|")
    return keys


class CountOutcomesFn(beam.CombineFn):
    """Counts stat keys of outcomes; order-free, so every runner gives the same totals."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, outcome: Outcome) -> Counter:
        acc.update(stat_keys(outcome))
        return acc

    def merge_accumulators(self, accs: Iterable[Counter]) -> Counter:
        total: Counter = Counter()
        for acc in accs:
            total.update(acc)
        return total

    def extract_output(self, acc: Counter) -> dict[str, int]:
        return dict(sorted(acc.items()))


def build_metrics(stage: str, counts: dict[str, int], inputs: dict[str, int]) -> dict[str, Any]:
    """metrics.json: totals and per-subset counts, with the input = kept + rejected + errors check.

    `inputs` are counted from the stage's input collection itself, independently of outcomes.
    """
    subsets: dict[str, dict[str, Any]] = {
        s: {"input": n, "kept": 0, "rejected": {}, "errors": 0, "turns": {}, "reflection": {}}
        for s, n in inputs.items()
    }
    for key, n in counts.items():
        kind, subset, detail = key.split("|", 2)
        entry = subsets.setdefault(
            subset,
            {"input": 0, "kept": 0, "rejected": {}, "errors": 0, "turns": {}, "reflection": {}},
        )
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
    rejected: Counter = Counter()
    for entry in subsets.values():
        rejected.update(entry["rejected"])
        entry["accounted"] = entry["input"] == (
            entry["kept"] + sum(entry["rejected"].values()) + entry["errors"]
        )
        kept = entry["kept"]
        entry["reflective_rate"] = round(entry.get("reflective_kept", 0) / kept, 4) if kept else 0.0
    total_input = sum(inputs.values())
    kept = sum(e["kept"] for e in subsets.values())
    errors = sum(e["errors"] for e in subsets.values())
    return {
        "stage": stage,
        "input": total_input,
        "kept": kept,
        "rejected": dict(sorted(rejected.items())),
        "errors": errors,
        "accounted": total_input == kept + sum(rejected.values()) + errors,
        "subsets": dict(sorted(subsets.items())),
    }


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
