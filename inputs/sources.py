"""Real-data sources: what `--input` names, and reading their raw records in order."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from drawreason.inputs.adapters import ADAPTERS

FILE_KINDS = tuple(ADAPTERS)  # generic, vilasr, spacer, spar
KINDS = (*FILE_KINDS, "hf")
_NAME_RE = re.compile(r"[^A-Za-z0-9_]+")


class SourceError(ValueError):
    """A source cannot be read at all (missing file, unknown kind): the run stops before it
    starts, naming the source."""


@dataclass(frozen=True)
class InputConfig:
    """One real-data source.

    kind: `generic` (our documented JSONL/JSON/Parquet format), `vilasr`, `spacer`, `spar`, or
      `hf` (a Hugging Face dataset: a `save_to_disk` folder, a folder of data files, or a hub
      name when online), read with `datasets`, then mapped by `adapter`.
    path: the file, folder or hub name (local or gs:// / s3://).
    name: the subset name in the outputs (default: from the file name); one LLaMA-Factory
      subset per source.
    image_root: where relative image paths point (default: the folder holding `path`).
    columns: renames before adapting: our field -> the source's column, e.g.
      {"question": "query", "images": "frames"}.
    adapter: for `hf`, which record format the (renamed) rows follow (default generic).
    split: for `hf`, the split to read (default train).
    limit: read at most this many records (0: all).
    license: the source's licence (a Hub licence id, e.g. cc-by-nc-4.0), carried into every
      record and onto the dataset card.
    """

    kind: str = "generic"
    path: str = ""
    name: str = ""
    image_root: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    adapter: str = "generic"
    split: str = "train"
    limit: int = 0
    license: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"input kind {self.kind!r} is not one of {KINDS}")
        if self.adapter not in ADAPTERS:
            raise ValueError(f"input adapter {self.adapter!r} is not one of {tuple(ADAPTERS)}")
        if not self.path:
            raise ValueError("an input needs a path")
        if self.limit < 0:
            raise ValueError(f"input limit must be >= 0, got {self.limit}")

    @property
    def subset(self) -> str:
        if self.name:
            return self.name
        base = self.path.rstrip("/").rsplit("/", 1)[-1]
        stem = base.split(".", 1)[0] or self.kind
        return _NAME_RE.sub("_", stem).strip("_").lower() or self.kind

    @property
    def root(self) -> str:
        if self.image_root:
            return self.image_root
        if self.kind == "hf" and _is_dir(self.path):
            return self.path
        return self.path.rstrip("/").rsplit("/", 1)[0] if "/" in self.path else "."

    @property
    def record_format(self) -> str:
        return self.adapter if self.kind == "hf" else self.kind


def check_subset_names(inputs: Sequence[InputConfig], taken: Iterable[str]) -> None:
    """Raises ValueError when two sources would write the same subset, or one would write a
    subset that `taken` (the generators) already writes."""
    names = [source.subset for source in inputs]
    taken = set(taken)
    for name in names:
        if names.count(name) > 1 or name in taken:
            raise ValueError(
                f"inputs: subset name {name!r} is used twice (or by a generator); give each "
                "source its own `name`"
            )


def parse_input(text: str) -> InputConfig:
    """`KIND:PATH` or a bare PATH (generic) from the command line, e.g. `vilasr:/d/rl.json`,
    `spacer:gs://b/sr91k.jsonl`, `hf:/data/my_saved_dataset`. Raises ValueError."""
    kind, sep, rest = text.partition(":")
    if sep and kind in KINDS and not rest.startswith("//"):
        return InputConfig(kind=kind, path=rest)
    return InputConfig(kind="generic", path=text)


def _is_dir(path: str) -> bool:
    return "://" not in path and os.path.isdir(path)


def _open(path: str) -> io.IOBase:
    from apache_beam.io.filesystems import FileSystems

    try:
        return FileSystems.open(path, compression_type="uncompressed")
    except (OSError, FileNotFoundError) as exc:
        raise SourceError(f"input {path}: cannot open ({exc})") from exc


def check_source(config: InputConfig) -> None:
    """Fail fast, before a pipeline starts, if a source is not there. Raises SourceError."""
    if config.kind == "hf":
        return  # a hub name cannot be checked offline; read_records says what went wrong
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(config.path):
        raise SourceError(f"input {config.kind}:{config.path}: no such file")


def read_records(config: InputConfig) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(position, record) for each raw record in order; a record that is not a JSON object
    comes as (position, error text) so it is accounted for as an error record.

    JSONL (`.jsonl`), a JSON array (`.json`) or Parquet (`.parquet`) for file kinds; anything
    `datasets` loads for `hf`. Raises SourceError when the source cannot be read at all.
    """
    records = _read_hf(config) if config.kind == "hf" else _read_file(config.path)
    for position, record in records:
        if config.limit and position >= config.limit:
            return
        if isinstance(record, dict) and config.columns:
            from drawreason.inputs.adapters import remap

            record = remap(record, config.columns)
        yield position, record


def _read_file(path: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    lower = path.lower()
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        with _open(path) as handle:
            table = pq.read_table(handle)
        for position, row in enumerate(table.to_pylist()):
            yield position, row
        return
    with _open(path) as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"input {path}: not UTF-8 text ({exc})") from exc
    if lower.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"input {path}: not valid JSON ({exc})") from exc
        if isinstance(doc, dict) and isinstance(doc.get("data"), list):
            doc = doc["data"]
        if not isinstance(doc, list):
            raise SourceError(f"input {path}: a .json input must hold a list of records")
        for position, record in enumerate(doc):
            yield position, record if isinstance(record, dict) else _not_object(record, position)
        return
    if not lower.endswith(".jsonl"):
        raise SourceError(f"input {path}: expected .jsonl, .json or .parquet")
    position = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield position, f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
        else:
            yield position, record if isinstance(record, dict) else _not_object(record, position)
        position += 1


def _not_object(value: Any, position: int) -> str:
    return f"record {position}: expected a JSON object, got {type(value).__name__}"


def _read_hf(config: InputConfig) -> Iterator[tuple[int, dict[str, Any] | str]]:
    import datasets

    path = config.path
    try:
        if (
            _is_dir(path)
            and os.path.exists(os.path.join(path, "dataset_info.json"))
            or (_is_dir(path) and os.path.exists(os.path.join(path, "dataset_dict.json")))
        ):
            loaded = datasets.load_from_disk(path)
        else:
            loaded = datasets.load_dataset(path, split=config.split)
    except (FileNotFoundError, ValueError, OSError, ConnectionError) as exc:
        raise SourceError(f"input hf:{path}: cannot load with datasets ({exc})") from exc
    if isinstance(loaded, datasets.DatasetDict):
        if config.split not in loaded:
            raise SourceError(
                f"input hf:{path}: no split {config.split!r}; it has {sorted(loaded)}"
            )
        loaded = loaded[config.split]
    loaded = _undecoded_images(loaded)
    for position, row in enumerate(loaded):
        yield position, dict(row)


def _undecoded_images(dataset: Any) -> Any:
    """Image columns as {"bytes", "path"} instead of decoded PIL images: the pipeline decodes
    them itself, with its pixel limit."""
    import datasets

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image):
            dataset = dataset.cast_column(name, datasets.Image(decode=False))
        elif isinstance(feature, datasets.List | datasets.Sequence) and isinstance(
            feature.feature, datasets.Image
        ):
            dataset = dataset.cast_column(name, datasets.List(datasets.Image(decode=False)))
    return dataset
