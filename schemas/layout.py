"""Every path of a run directory, relative to its root, and how data files split into parts.

The one place that spells out where a run's files live: the stages write through these names,
and the report, the card, the Hub push, the trainer and `dataset_info.json` read through them.
Pure and Beam-free: callers join the names to the root with their own file system.

A data file (`sft/<stage>/<subset>.jsonl`, `rl/<subset>.parquet`, ...) is one file while its
subset is small; above `records_per_part` records it becomes a folder of parts named the way
`datasets` and the Hub name split shards, `<subset>/<subset>-00000-of-00004.jsonl`. A record's
part is a stable hash (sha256) of its id, so the split is the same on every runner and worker
count. A folder keeps LLaMA-Factory working: its `file_name` may name a folder, and it then
reads every file in it.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

CONFIG = "config.json"
RUN = "run.json"
METRICS = "metrics.json"
DATASET_INFO = "dataset_info.json"
REPORT = "report.html"
IMAGES = "images"
RL = "rl"
VERL = "verl"
TEACHER_CACHE = "cache/teacher"
EVAL = "eval"
EVAL_HELDOUT = "eval/heldout_evalset.jsonl"  # the evaluate stage's items, as a dedup eval set

JSONL, PARQUET = ".jsonl", ".parquet"
# Data folders that hold one folder per stage (`<kind>/<stage>/<subset>.jsonl`).
SFT, REJECTED, TRAJECTORIES, ROLLOUTS = "sft", "rejected", "trajectories", "rollouts"
# The default target: small runs (the default 400 samples) keep one file per subset.
RECORDS_PER_PART = 2000
UNSPLIT = 2**62  # records_per_part of files that stay one file at any size (the evaluate stage's)

_PART_RE = re.compile(r"^(?P<subset>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})$")


def sft_dir(stage: str) -> str:
    """Kept SFT records of a stage, one sharegpt file (or part folder) per subset."""
    return f"{SFT}/{stage}"


def rejected_dir(stage: str) -> str:
    return f"{REJECTED}/{stage}"


def trajectories_dir(stage: str) -> str:
    """Full records of kept model-written trajectories."""
    return f"{TRAJECTORIES}/{stage}"


def rollouts_dir(stage: str) -> str:
    """Every policy sample of rl_data's pass-rate filter."""
    return f"{ROLLOUTS}/{stage}"


def errors_file(stage: str) -> str:
    return f"errors/{stage}{JSONL}"


def image_file(key: str) -> str:
    """A content-addressed image: `images/<first two hex digits>/<key>`."""
    return f"{IMAGES}/{key[:2]}/{key}"


def eval_trajectories(benchmark: str) -> str:
    return f"{EVAL}/trajectories/{benchmark}{JSONL}"


def eval_result(benchmark: str) -> str:
    return f"{EVAL}/{benchmark}.json"


def data_file(folder: str, subset: str, suffix: str = JSONL) -> str:
    """The one-part name of a subset's file: `<folder>/<subset><suffix>`."""
    return f"{folder}/{subset}{suffix}"


def stage_outputs(stage: str) -> tuple[str, ...]:
    """Files and folders a data stage rewrites (cleared by --overwrite, so stale parts of an
    earlier run do not sit beside the new ones)."""
    return (
        sft_dir(stage),
        rejected_dir(stage),
        errors_file(stage),
        trajectories_dir(stage),
        rollouts_dir(stage),
        RL,
        VERL,
    )


# --- parts ---------------------------------------------------------------------------------


def part_count(records: int, records_per_part: int) -> int:
    """How many parts a file of `records` records has: one up to `records_per_part`."""
    if records_per_part < 1:
        raise ValueError(f"records_per_part must be >= 1, got {records_per_part}")
    return max(1, math.ceil(records / records_per_part))


def part_index(record_id: str, count: int) -> int:
    """The part of a record: sha256 of its id modulo `count` (the same on every worker)."""
    if count <= 1:
        return 0
    return int(hashlib.sha256(record_id.encode("utf-8")).hexdigest(), 16) % count


def part_file(path: str, index: int, count: int) -> str:
    """Part `index` of `count` of the file `path` (`<folder>/<subset><suffix>`): the file itself
    when there is one part, else `<folder>/<subset>/<subset>-0000i-of-0000n<suffix>`."""
    if count <= 1:
        return path
    folder, name = posixpath.split(path)
    stem, suffix = posixpath.splitext(name)
    return posixpath.join(folder, stem, f"{stem}-{index:05d}-of-{count:05d}{suffix}")


def record_file(path: str, record_id: str, count: int) -> str:
    """The part of the file `path` that holds the record `record_id`."""
    return part_file(path, part_index(record_id, count), count)


def entry_path(path: str, count: int) -> str:
    """What names all of a file's parts at once: the file, or the folder of its parts
    (LLaMA-Factory's `file_name`, a trainer's data path)."""
    return path if count <= 1 else posixpath.splitext(path)[0]


@dataclass(frozen=True)
class Subset:
    """One subset's file in a data folder: its name and its files (one, or every part)."""

    name: str
    files: tuple[str, ...]


def find_subsets(folder: str, listing: Iterable[str], suffix: str = JSONL) -> list[Subset]:
    """The subsets of a data folder from a listing of the paths under it (relative to the run
    root or absolute, as long as they start with `folder`), in name order. Raises ValueError
    when a subset's parts are incomplete or a subset is both one file and parts."""
    prefix = folder.rstrip("/") + "/"
    singles: dict[str, str] = {}
    parts: dict[str, dict[int, str]] = {}
    counts: dict[str, set[int]] = {}
    for path in sorted(listing):
        if not path.startswith(prefix) or not path.endswith(suffix):
            continue
        rel = path[len(prefix) : -len(suffix)].split("/")
        if len(rel) == 1:
            singles[rel[0]] = path
            continue
        match = _PART_RE.match(rel[-1]) if len(rel) == 2 else None
        if not match or match["subset"] != rel[0]:
            continue  # not a file of this layout
        subset = rel[0]
        parts.setdefault(subset, {})[int(match["index"])] = path
        counts.setdefault(subset, set()).add(int(match["count"]))
    out = [Subset(name, (path,)) for name, path in singles.items()]
    for subset, found in parts.items():
        if subset in singles:
            raise ValueError(f"{prefix}{subset}: both one file and parts")
        (count,) = counts[subset] if len(counts[subset]) == 1 else (0,)
        if sorted(found) != list(range(count)):
            raise ValueError(
                f"{prefix}{subset}: incomplete parts {sorted(found)} (of {sorted(counts[subset])})"
            )
        out.append(Subset(subset, tuple(found[i] for i in range(count))))
    return sorted(out, key=lambda s: s.name)
