"""Whole files through Beam's FileSystems, so local, gs:// and s3:// paths work alike.

No Beam pipeline here (only `apache_beam.io.filesystems`): the stages, the run readers (publish,
report) and the registry share these; the Beam transforms that write outputs are in
pipelines/io.py.
"""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems


def join(root: str, *parts: str) -> str:
    return FileSystems.join(root, *parts)


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file (Beam's local file system creates parent folders itself)."""
    with FileSystems.create(path, mime_type="application/octet-stream") as f:
        f.write(data)


def write_json(path: str, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_json(path: str) -> Any:
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def exists(path: str) -> bool:
    return FileSystems.exists(path)
