"""The reply cache: stable keys, atomic one-file-per-key storage, unreadable entries."""

import dataclasses

from drawreason.rollout.cache import (
    FileSystemsBlobStore,
    LocalBlobStore,
    ReplyCache,
    cache_key,
    open_store,
)
from drawreason.teachers.base import ChatMessage, SamplingParams, TeacherReply

MESSAGES = [ChatMessage("system", "s"), ChatMessage("user", "<image> q", (b"\x89PNG-a",))]
PARAMS = SamplingParams()
REPLY = TeacherReply("text", "stop", 3, 4, {"id": "x", "choices": []})


def test_key_depends_on_every_part():
    key = cache_key("m", PARAMS, MESSAGES, 0)
    assert key == cache_key("m", PARAMS, list(MESSAGES), 0) and len(key) == 64
    other_image = [MESSAGES[0], ChatMessage("user", "<image> q", (b"\x89PNG-b",))]
    variants = [
        cache_key("m2", PARAMS, MESSAGES, 0),
        cache_key("m", dataclasses.replace(PARAMS, temperature=0.1), MESSAGES, 0),
        cache_key("m", PARAMS, MESSAGES, 1),
        cache_key("m", PARAMS, other_image, 0),
        cache_key("m", PARAMS, MESSAGES[:1], 0),
    ]
    assert len({key, *variants}) == 6


def test_precomputed_image_hashes_give_the_same_key():
    import hashlib

    hashes = [[], [hashlib.sha256(b"\x89PNG-a").hexdigest()]]
    assert cache_key("m", PARAMS, MESSAGES, 0, hashes) == cache_key("m", PARAMS, MESSAGES, 0)


def test_round_trip_one_file_per_key_no_temp_left(tmp_path):
    cache = ReplyCache(tmp_path)
    key = cache_key("m", PARAMS, MESSAGES, 0)
    assert cache.get(key) is None
    cache.put(key, REPLY)
    assert ReplyCache(tmp_path).get(key) == REPLY
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{key}.json"]
    assert len(LocalBlobStore(tmp_path)) == 1
    assert cache.stats() == {"cache_hits": 0, "cache_misses": 1, "cache_puts": 1}


def test_unreadable_entry_is_a_miss_then_overwritten(tmp_path):
    cache = ReplyCache(tmp_path)
    key = "ab" + "0" * 62
    path = tmp_path / "ab" / f"{key}.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert cache.get(key) is None
    cache.put(key, REPLY)
    assert cache.get(key) == REPLY


class MemoryStore:
    """A second BlobStore, as an object-storage implementation would plug in."""

    def __init__(self):
        self.blobs = {}

    def read(self, name):
        return self.blobs.get(name)

    def write(self, name, data):
        self.blobs[name] = data


def test_any_blob_store_plugs_in():
    store = MemoryStore()
    cache = ReplyCache(store)
    cache.put("k", REPLY)
    assert cache.get("k") == REPLY and list(store.blobs) == ["k.json"]


def test_filesystems_store_round_trip(tmp_path):
    """The store used for gs:// and s3:// caches, exercised through Beam's FileSystems on a
    local path (the same calls; only the backend differs)."""
    cache = ReplyCache(FileSystemsBlobStore(str(tmp_path / "cache")))
    assert cache.get("ab12") is None
    cache.put("ab12", REPLY)
    assert (tmp_path / "cache/ab/ab12.json").is_file()
    assert ReplyCache(FileSystemsBlobStore(str(tmp_path / "cache"))).get("ab12") == REPLY
    assert isinstance(open_store("gs://bucket/cache"), FileSystemsBlobStore)
    assert isinstance(open_store(tmp_path), LocalBlobStore)
