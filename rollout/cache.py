"""A content-addressed cache of teacher replies, so a rerun re-sends only what is missing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from drawreason.teachers.base import ChatMessage, SamplingParams, TeacherReply

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def cache_key(
    model: str,
    params: SamplingParams,
    messages: Sequence[ChatMessage],
    sample_index: int,
    image_hashes: Sequence[Sequence[str]] | None = None,
) -> str:
    """sha256 hex of canonical JSON of (model, sampling params, messages with every image
    replaced by the sha256 of its PNG bytes, sample index). `image_hashes` (one list per
    message) skips re-hashing images the caller already hashed."""
    rendered = []
    for n, message in enumerate(messages):
        hashes = (
            list(image_hashes[n])
            if image_hashes is not None
            else [hashlib.sha256(png).hexdigest() for png in message.images]
        )
        rendered.append({"role": message.role, "text": message.text, "images": hashes})
    document = {
        "v": CACHE_VERSION,
        "model": model,
        "params": params.to_dict(),
        "messages": rendered,
        "sample": sample_index,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class BlobStore(Protocol):
    """Where cache entries live: small named blobs. A Beam `FileSystems` or fsspec store for
    gs:// and s3:// implements these two calls; `write` must be atomic (all or nothing)."""

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...


class LocalBlobStore:
    """Blobs as files under a local directory, sharded by the first two characters of the
    name; writes go to a temp file in the same directory and are renamed into place, so a
    kill -9 leaves either the whole entry or none."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for p in self.root.glob("*/*.json") if not p.name.startswith(".tmp-"))


class FileSystemsBlobStore:
    """Blobs under a gs:// or s3:// (or any Beam FileSystems) prefix, sharded like
    LocalBlobStore. Object stores make an object visible only once its upload completes, so a
    killed writer leaves no partial entry."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name[:2]}/{name}"

    def read(self, name: str) -> bytes | None:
        from apache_beam.io.filesystems import FileSystems

        path = self._path(name)
        if not FileSystems.exists(path):
            return None
        try:
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(self._path(name), compression_type="uncompressed") as handle:
            handle.write(data)


def open_store(location: str | os.PathLike[str]) -> BlobStore:
    """A LocalBlobStore for a local folder, a FileSystemsBlobStore for a URI (gs://, s3://)."""
    text = os.fspath(location)
    return FileSystemsBlobStore(text) if "://" in text else LocalBlobStore(text)


class ReplyCache:
    """Teacher replies by `cache_key`, one small JSON document per key in a BlobStore.

    An entry that does not decode (written by something else) is logged and treated as a miss,
    then overwritten by the next `put`.
    """

    def __init__(self, store: BlobStore | str | os.PathLike[str]) -> None:
        self.store: BlobStore = open_store(store) if isinstance(store, str | os.PathLike) else store
        self.hits = 0
        self.misses = 0
        self.puts = 0

    @staticmethod
    def _name(key: str) -> str:
        return f"{key}.json"

    def get(self, key: str) -> TeacherReply | None:
        data = self.store.read(self._name(key))
        if data is None:
            self.misses += 1
            return None
        try:
            doc: dict[str, Any] = json.loads(data)
            reply = TeacherReply(
                text=doc["text"],
                finish_reason=doc["finish_reason"],
                prompt_tokens=int(doc["prompt_tokens"]),
                completion_tokens=int(doc["completion_tokens"]),
                raw=doc["raw"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("reply cache: entry %s unreadable (%s); treated as a miss", key, exc)
            self.misses += 1
            return None
        self.hits += 1
        return reply

    def put(self, key: str, reply: TeacherReply) -> None:
        doc = {
            "v": CACHE_VERSION,
            "text": reply.text,
            "finish_reason": reply.finish_reason,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "raw": reply.raw,
        }
        self.store.write(self._name(key), json.dumps(doc, sort_keys=True).encode("utf-8"))
        self.puts += 1

    def stats(self) -> dict[str, int]:
        return {"cache_hits": self.hits, "cache_misses": self.misses, "cache_puts": self.puts}
