"""A run directory as `datasets.DatasetDict`s: one config per stage, one split per subset.

SFT stages (cold_start, reflective) become a config named after the stage with the columns
`id`, `conversations` (a list of {role, content}) and `images` (`List(Image())`, the PNG bytes
embedded, so the Parquet files are self-contained and the Hub viewer shows the images). The
rl_data stage becomes the config `rl_data` with the RL record's columns and its images embedded
the same way (the features of `pipelines.rl_data.parquet_features`).

Rows come in id order: every JSONL file of a run is sorted by id, and a sharded subset's part
files are merged lazily by id, so the same run always gives the same Parquet bytes.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems
from drawreason.schemas import layout
from drawreason.schemas.metrics import MetricsError, StageMetrics, parse_metrics
from drawreason.schemas.rl import resolve_image
from drawreason.storage.files import exists, join, read_json

SFT_STAGES = ("cold_start", "reflective")
RL_STAGE = "rl_data"


class PublishError(RuntimeError):
    """The run directory cannot be published as it is (missing files, counts that disagree)."""


@dataclass(frozen=True)
class Run:
    """What a run directory says about itself (config.json, metrics.json)."""

    root: str
    stage: str
    config: dict[str, Any]
    config_hash: str
    seed: int
    code_version: str
    metrics: StageMetrics

    @property
    def config_name(self) -> str:
        """The Hub config this run's data goes to: the stage's name."""
        return self.stage


@dataclass(frozen=True)
class SplitSource:
    """One subset of a run: the split it becomes and the JSONL file(s) that hold it."""

    subset: str
    split: str
    files: tuple[str, ...]  # relative to the run root
    kept: int  # metrics.json's count, checked against the rows read
    extra: dict[str, Any] = field(default_factory=dict)


def read_run(output: str) -> Run:
    for name in (layout.CONFIG, layout.METRICS):
        if not exists(join(output, name)):
            raise PublishError(f"{output} is not a run directory: {name} is missing")
    config = read_json(join(output, layout.CONFIG))
    path = join(output, layout.METRICS)
    try:
        metrics = parse_metrics(read_json(path), path)
    except MetricsError as exc:
        raise PublishError(str(exc)) from exc
    stage = config.get("stage", "")
    if stage not in (*SFT_STAGES, RL_STAGE):
        raise PublishError(f"{output}: stage {stage!r} has no data to publish")
    return Run(
        root=output,
        stage=stage,
        config=config.get("config") or {},
        config_hash=str(config.get("config_hash", "")),
        seed=int(config.get("seed", 0)),
        code_version=str(config.get("code_version", "")),
        metrics=metrics,
    )


def split_name(subset: str) -> str:
    """A Hub split name (`\\w+(\\.\\w+)*`) for a subset name: other characters become `_`."""
    name = re.sub(r"[^\w.]", "_", subset).strip(".")
    name = re.sub(r"\.{2,}", ".", name)
    return name or "data"


def _match(pattern: str) -> list[str]:
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list)


def _relative(root: str, path: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def subset_files(root: str, folder: str, suffix: str = layout.JSONL) -> dict[str, tuple[str, ...]]:
    """{subset: its files relative to `root`} of the data folder `folder` (one file or every
    part, schemas.layout). Raises PublishError for a subset with missing parts."""
    base = join(root, folder)
    listing = _match(join(base, "*" + suffix)) + _match(join(base, "*", "*" + suffix))
    try:
        found = layout.find_subsets(base, listing, suffix)
    except ValueError as exc:
        raise PublishError(str(exc)) from exc
    return {s.name: tuple(_relative(root, p) for p in s.files) for s in found}


def split_sources(run: Run) -> list[SplitSource]:
    """The subsets with kept rows, in subset order, with the files holding them."""
    base = layout.sft_dir(run.stage) if run.stage in SFT_STAGES else layout.RL
    found = subset_files(run.root, base)
    sources = []
    used: dict[str, str] = {}
    for subset, entry in sorted(run.metrics.subsets.items()):
        kept = entry.kept
        if kept == 0:
            continue
        files = found.get(subset, ())
        if not files:
            single = layout.data_file(base, subset)
            raise PublishError(f"{run.root}: subset {subset} kept {kept} but {single} is missing")
        split = split_name(subset)
        if split in used:
            raise PublishError(f"subsets {used[split]!r} and {subset!r} both map to split {split}")
        used[split] = subset
        sources.append(SplitSource(subset, split, files, kept))
    if not sources:
        raise PublishError(f"{run.root}: the run kept no samples; nothing to publish")
    return sources


def read_records(path: str) -> Iterator[dict[str, Any]]:
    """The JSON records of a JSONL file, one a line."""
    with FileSystems.open(path) as f:
        for raw in f.read().decode("utf-8").splitlines():
            if raw.strip():
                yield json.loads(raw)


def iter_records(root: str, files: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The records of one subset in id order (each file is sorted by id; parts are merged)."""
    streams = [read_records(join(root, rel)) for rel in files]
    previous = None
    for record in heapq.merge(*streams, key=lambda r: r["id"]):
        if previous is not None and record["id"] < previous:
            raise PublishError(f"{root}: {files} are not sorted by id ({record['id']})")
        previous = record["id"]
        yield record


class _Images:
    """Reads image files of the run once each (a record may repeat an image)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def load(self, rel: str) -> dict[str, Any]:
        absolute = rel.startswith("/") or "://" in rel
        with FileSystems.open(rel if absolute else join(self.root, rel)) as f:
            return {"bytes": f.read(), "path": rel}


def sft_features() -> Any:
    import datasets

    text = datasets.Value("string")
    return datasets.Features(
        {
            "id": text,
            "conversations": datasets.List({"role": text, "content": text}),
            "images": datasets.List(datasets.Image()),
        }
    )


def rl_keys(run: Run) -> Any:
    """The RL columns the run wrote (schemas.rl.run_rl_keys)."""
    from drawreason.schemas.rl import run_rl_keys

    return run_rl_keys(run.config)


def rl_features(run: Run) -> Any:
    from drawreason.pipelines.rl_data import parquet_features

    return parquet_features(rl_keys(run))


def _sft_rows(root: str, files: Sequence[str]) -> Iterator[dict[str, Any]]:
    images = _Images(root)
    for record in iter_records(root, files):
        yield {
            "id": record["id"],
            "conversations": [
                {"role": turn["role"], "content": turn["content"]}
                for turn in record["conversations"]
            ],
            "images": [images.load(rel) for rel in record.get("images", [])],
        }


def _rl_rows(
    root: str, files: Sequence[str], columns: Sequence[str], embedded: str
) -> Iterator[dict[str, Any]]:
    images = _Images(root)
    for file in files:
        for record in iter_records(root, (file,)):
            row = {name: record.get(name) for name in columns}
            row[embedded] = [
                {**images.load(resolve_image(file, rel)), "path": rel}
                for rel in record.get(embedded) or []
            ]
            yield row


def features_for(run: Run) -> Any:
    return sft_features() if run.stage in SFT_STAGES else rl_features(run)


def build_dataset_dict(run: Run, sources: Sequence[SplitSource], cache_dir: str) -> Any:
    """The run's `DatasetDict` (one split per subset), written to Arrow files in `cache_dir`
    (a fresh folder per push: a reused cache could serve an older run's rows)."""
    import datasets

    features = features_for(run)
    splits = {}
    for source in sources:
        if run.stage in SFT_STAGES:
            gen, kwargs = _sft_rows, {"root": run.root, "files": tuple(source.files)}
        else:
            keys = rl_keys(run)
            kwargs = {
                "root": run.root,
                "files": tuple(source.files),
                "columns": tuple(features),
                "embedded": keys.images or keys.image_path,
            }
            gen = _rl_rows
        dataset = datasets.Dataset.from_generator(
            gen, features=features, gen_kwargs=kwargs, cache_dir=cache_dir, split=source.split
        )
        if len(dataset) != source.kept:
            raise PublishError(
                f"{run.root}: subset {source.subset} has {len(dataset)} rows in "
                f"{', '.join(source.files)} but metrics.json says kept {source.kept}"
            )
        splits[source.split] = dataset
    return datasets.DatasetDict(splits)


def build_datasets(output: str, cache_dir: str) -> tuple[Run, list[SplitSource], dict[str, Any]]:
    """Read the run in `output`; returns it, its subsets and {config name: DatasetDict}."""
    run = read_run(output)
    sources = split_sources(run)
    return run, sources, {run.config_name: build_dataset_dict(run, sources, cache_dir)}
