"""Beam transforms that write a run's outputs through Beam's FileSystems (local, gs://, s3://).

The whole-file helpers live in storage/files.py, Beam-free; they are imported here for these
transforms and for the stage modules that write through pipelines.io.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam

# Re-exported: the stage modules import these from pipelines.io with the transforms.
from storage.files import exists, join, read_json, write_bytes, write_json  # noqa: F401


class WriteSortedLinesFn(beam.DoFn):
    """Writes one file per key: its lines sorted by record id, so output is byte-stable."""

    def __init__(self, root: str) -> None:
        self.root = root

    def process(self, element: tuple[str, Iterable[tuple[str, str]]]) -> Iterable[str]:
        relpath, records = element
        lines = [line for _, line in sorted(records)]
        path = join(self.root, relpath)
        write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
        yield relpath


class WriteImageFn(beam.DoFn):
    """Writes one content-addressed image; the key is the file name, so rewrites are no-ops."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.written = beam.metrics.Metrics.counter("images", "written")

    def process(self, element: tuple[str, bytes]) -> Iterable[str]:
        from schemas.sharegpt import image_path

        key, data = element
        write_bytes(join(self.root, image_path(key)), data)
        self.written.inc()
        yield key


class FirstFn(beam.CombineFn):
    """Keeps one of equal values (content-addressed images): dedupes before writing."""

    def create_accumulator(self) -> bytes | None:
        return None

    def add_input(self, acc: bytes | None, value: bytes) -> bytes:
        return value if acc is None else acc

    def merge_accumulators(self, accs: Iterable[bytes | None]) -> bytes | None:
        return next((a for a in accs if a is not None), None)

    def extract_output(self, acc: bytes | None) -> bytes | None:
        return acc


class WriteImages(beam.PTransform):
    """Dedupes (key, png) pairs by key and writes each image once under DIR/images/."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "DedupeImages" >> beam.CombinePerKey(FirstFn())
            | "WriteImage" >> beam.ParDo(WriteImageFn(self.root))
        )


class WriteSortedJsonl(beam.PTransform):
    """Writes (relative path, (id, json line)) pairs as files sorted by id."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteFile" >> beam.ParDo(WriteSortedLinesFn(self.root))
        )


class WriteParquetFn(beam.DoFn):
    """Writes one Parquet file per key from (id, record) pairs sorted by id, through
    `datasets` so the file carries Hugging Face feature metadata (`Image()` columns load as
    images). `features` is a `datasets.Features`; image columns hold {"bytes", "path"}."""

    def __init__(self, root: str, features: Any) -> None:
        self.root = root
        self.features = features

    def process(self, element: tuple[str, Iterable[tuple[str, dict]]]) -> Iterable[str]:
        import os
        import tempfile

        import datasets

        relpath, records = element
        rows = [record for _, record in sorted(records, key=lambda kv: kv[0])]
        dataset = datasets.Dataset.from_list(rows, features=self.features)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, "part.parquet")
            dataset.to_parquet(local)
            with open(local, "rb") as handle:
                write_bytes(join(self.root, relpath), handle.read())
        yield relpath
