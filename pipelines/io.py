"""Beam transforms that write a run's outputs through Beam's FileSystems (local, gs://, s3://).

The whole-file helpers live in storage/files.py, Beam-free; they are imported here for these
transforms and for the stage modules that write through pipelines.io.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from drawreason.schemas.layout import RECORDS_PER_PART, image_file, part_count, record_file

# Re-exported: the stage modules import these from pipelines.io with the transforms.
from drawreason.storage.files import exists, join, read_json, write_bytes, write_json  # noqa: F401


def pack_line(line: str) -> bytes:
    """A line as it travels to its writer: zlib-compressed UTF-8. Beam's local runner holds
    every line in the driver until its part is written (twice: waiting for the per-file counts,
    then grouped by part), and JSON lines compress about fivefold at level 1."""
    return zlib.compress(line.encode("utf-8"), 1)


def unpack_line(line: str | bytes) -> str:
    """The line of `pack_line`, or a line sent as text."""
    return zlib.decompress(line).decode("utf-8") if isinstance(line, bytes) else line


class WriteSortedLinesFn(beam.DoFn):
    """Writes one part file from its (id, line) pairs, lines as text or `pack_line` bytes,
    sorted by id (then line) so output is byte-stable; a worker holds one part, not a whole
    subset."""

    def __init__(self, root: str) -> None:
        self.root = root

    def process(self, element: tuple[str, Iterable[tuple[str, str | bytes]]]) -> Iterator[str]:
        relpath, records = element
        lines = sorted((record_id, unpack_line(line)) for record_id, line in records)
        with FileSystems.create(join(self.root, relpath), mime_type="application/jsonl") as f:
            for _, line in lines:
                f.write(line.encode("utf-8") + b"\n")
        yield relpath


class WriteImageFn(beam.DoFn):
    """Writes content-addressed images where they are made, without a shuffle: the file name is
    the sha256 of the bytes, so writing one twice (two samples, two workers) writes the same
    bytes, and nothing about the images is held per run."""

    RECENT = 4096  # keys written by this instance that are not written again (bounded)

    def __init__(self, root: str) -> None:
        self.root = root
        self.written = beam.metrics.Metrics.counter("images", "written")

    def setup(self) -> None:
        self.recent: set[str] = set()

    def process(self, element: tuple[str, bytes]) -> Iterator[str]:
        key, data = element
        if key in self.recent:
            return
        if len(self.recent) >= self.RECENT:
            self.recent.clear()
        self.recent.add(key)
        write_bytes(join(self.root, image_file(key)), data)
        self.written.inc()
        yield key


class WriteImages(beam.PTransform):
    """Writes (key, png) pairs under DIR/images/, each image once per worker (WriteImageFn)."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return pcoll | "WriteImage" >> beam.ParDo(WriteImageFn(self.root))


def _to_part(
    element: tuple[str, tuple[str, Any]], counts: Mapping[str, int], records_per_part: int
) -> tuple[str, tuple[str, Any]]:
    path, (record_id, payload) = element
    if path not in counts:
        raise KeyError(f"{path}: no record count for this file (a bug in the stage's wiring)")
    return record_file(path, record_id, part_count(counts[path], records_per_part)), (
        record_id,
        payload,
    )


def file_counts(pcoll: beam.PCollection, label: str = "CountPerFile") -> beam.PCollection:
    """(file path, records) of (file path, (id, payload)) pairs."""
    return (
        pcoll
        | f"{label}Keys" >> beam.Map(lambda kv: (kv[0], 1))
        | f"{label}Sum" >> beam.CombinePerKey(sum)
    )


class GroupIntoParts(beam.PTransform):
    """(file path, (id, payload)) -> (part path, [(id, payload), ...]).

    Each file is split into `part_count(records, records_per_part)` parts (schemas.layout) by a
    hash of the record id, so the split is the same for every worker count; records are counted
    per file here, or taken from `counts` ((file path, records) pairs) when the stage must know
    the parts before it makes the records (rl_data's image paths are relative to the part)."""

    def __init__(
        self, records_per_part: int = RECORDS_PER_PART, counts: beam.PCollection | None = None
    ) -> None:
        super().__init__()
        self.records_per_part = records_per_part
        self.counts = counts

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        counts = self.counts if self.counts is not None else file_counts(pcoll)
        return (
            pcoll
            | "ToPart" >> beam.Map(_to_part, beam.pvalue.AsDict(counts), self.records_per_part)
            | "GroupByPart" >> beam.GroupByKey()
        )


class WriteSortedJsonl(beam.PTransform):
    """Writes (file path, (id, json line)) pairs as JSONL files, each split into parts
    (GroupIntoParts) and each part sorted by id."""

    def __init__(
        self,
        root: str,
        records_per_part: int = RECORDS_PER_PART,
        counts: beam.PCollection | None = None,
    ) -> None:
        super().__init__()
        self.root = root
        self.parts = GroupIntoParts(records_per_part, counts)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll | "Parts" >> self.parts | "WriteFile" >> beam.ParDo(WriteSortedLinesFn(self.root))
        )


class WriteParquetFn(beam.DoFn):
    """Writes one Parquet part from (id, record) pairs sorted by id, in row groups through
    pyarrow's ParquetWriter (never a whole table in memory), with the Hugging Face feature
    metadata `datasets` writes, so `Image()` columns load as images. `features` is a
    `datasets.Features`; image columns hold {"bytes", "path"}."""

    def __init__(self, root: str, features: Any) -> None:
        self.root = root
        self.features = features

    def process(self, element: tuple[str, Iterable[tuple[str, dict]]]) -> Iterator[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from datasets.arrow_writer import (
            get_parquet_column_options,
            get_writer_batch_size_from_features,
        )

        relpath, records = element
        rows = sorted(records, key=lambda kv: kv[0])
        schema = self.features.arrow_schema
        group = get_writer_batch_size_from_features(self.features) or 1000
        options = get_parquet_column_options(self.features, schema)
        with FileSystems.create(join(self.root, relpath), mime_type="application/parquet") as f:
            with pq.ParquetWriter(f, schema=schema, **options) as writer:
                for start in range(0, len(rows), group):
                    batch = rows[start : start + group]
                    encoded = [self.features.encode_example(row) for _, row in batch]
                    writer.write_table(pa.Table.from_pylist(encoded, schema=schema))
        yield relpath
