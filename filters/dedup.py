"""Duplicate and contamination checks on questions: normalised text plus perceptual image hashes.

Two questions are duplicates when their normalised texts are equal and each of their images is
within `max_distance` bits (Hamming) of the other's image at the same position; exact duplicates
are at distance 0. Candidates are found by locality-sensitive blocking: the 64-bit pHash of the
first image is cut into `max_distance + 1` bands, and two hashes within `max_distance` bits
agree on at least one band (pigeonhole), so comparing only questions that share (text, band)
finds every pair without comparing all pairs.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import imagehash
from PIL import Image

HASH_BITS = 64
_WORD = re.compile(r"[^\w]+", re.UNICODE)
VIDEO_SUFFIX = re.compile(r"\.(mp4|avi|mov|mkv|webm|m4v)$", re.IGNORECASE)


def normalize_question(text: str) -> str:
    """Lower case, NFKC, punctuation dropped, whitespace collapsed: equal for texts that
    differ only in case, spacing or punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_WORD.sub(" ", text).split())


def image_phash(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (imagehash.phash) as an integer."""
    return int(str(imagehash.phash(image)), 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def bands(value: int, count: int) -> list[tuple[int, int]]:
    """(band index, band bits) of a 64-bit hash cut into `count` near-equal bands."""
    edges = [round(i * HASH_BITS / count) for i in range(count + 1)]
    return [(i, (value >> edges[i]) & ((1 << (edges[i + 1] - edges[i])) - 1)) for i in range(count)]


def video_id(ref: str) -> str:
    """The id of the video a media reference comes from (`scans/scene0001_00.mp4#frame3/16`
    -> `scene0001_00`), or "" for a reference that is not a video."""
    path = ref.split("#", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1]
    return VIDEO_SUFFIX.sub("", name) if VIDEO_SUFFIX.search(name) else ""


@dataclass(frozen=True)
class QuestionPrint:
    """What dedup and decontamination look at: normalised text, image hashes, video ids."""

    subset: str
    id: str
    text: str
    hashes: tuple[int, ...]
    videos: tuple[str, ...] = ()

    @property
    def order(self) -> tuple[str, str]:
        """Of a group of duplicates the first in this order is kept."""
        return (self.subset, self.id)

    def blocking_keys(self, max_distance: int) -> list[str]:
        first = self.hashes[0] if self.hashes else 0
        return [f"{i}:{b}:{self.text}" for i, b in bands(first, max_distance + 1)]


def distance(a: QuestionPrint, b: QuestionPrint) -> int | None:
    """The largest per-image Hamming distance of two questions with equal text and image
    count, else None (not comparable)."""
    if a.text != b.text or len(a.hashes) != len(b.hashes):
        return None
    return max((hamming(x, y) for x, y in zip(a.hashes, b.hashes, strict=True)), default=0)


def duplicates_in_block(
    block: Iterable[QuestionPrint], max_distance: int
) -> Iterator[tuple[QuestionPrint, str, QuestionPrint]]:
    """(duplicate, reason, the earlier question it duplicates) for every question of a block
    within `max_distance` of an earlier one; reason `duplicate` (distance 0) or
    `near_duplicate`."""
    ordered = sorted(block, key=lambda p: p.order)
    for n, later in enumerate(ordered):
        for earlier in ordered[:n]:
            d = distance(earlier, later)
            if d is not None and d <= max_distance:
                yield later, "duplicate" if d == 0 else "near_duplicate", earlier
                break


@dataclass
class EvalSet:
    """An evaluation set to keep out of training data: its normalised questions, image hashes
    and video ids. Questions shorter than `min_words` words never match on text alone
    (templated questions like "How many moves?" are not evidence of contamination)."""

    questions: set[str] = field(default_factory=set)
    hashes: list[int] = field(default_factory=list)
    videos: set[str] = field(default_factory=set)
    max_distance: int = 4
    min_words: int = 8
    _index: dict[tuple[int, int], list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for value in self.hashes:
            for band in bands(value, self.max_distance + 1):
                self._index.setdefault(band, []).append(value)

    def __len__(self) -> int:
        return len(self.questions) + len(self.hashes) + len(self.videos)

    def match(self, question: QuestionPrint) -> str:
        """Why `question` is contaminated (`eval_image`, `eval_video`, `eval_question`), or ""."""
        for value in question.hashes:
            for band in bands(value, self.max_distance + 1):
                if any(hamming(value, h) <= self.max_distance for h in self._index.get(band, ())):
                    return "eval_image"
        if any(v in self.videos for v in question.videos if v):
            return "eval_video"
        if len(question.text.split()) >= self.min_words and question.text in self.questions:
            return "eval_question"
        return ""


def load_eval_set(paths: Sequence[str], max_distance: int = 4, min_words: int = 8) -> EvalSet:
    """An EvalSet from files: JSON / JSONL records with any of `question` (or `problem`),
    image paths (`images`, `image`, `image_path`, relative to the file), `image_phash` (hex,
    one or a list), `video` / `video_id` / `scene_name`; or a `.txt` file with one hex pHash or
    video id per line. Raises ValueError naming the file and record it cannot read."""
    questions: set[str] = set()
    hashes: list[int] = []
    videos: set[str] = set()
    for path in paths:
        root = os.path.dirname(path)
        if path.endswith(".txt"):
            with open(path, encoding="utf-8") as handle:
                for line in filter(None, (raw.strip() for raw in handle)):
                    if re.fullmatch(r"[0-9a-fA-F]{16}", line):
                        hashes.append(int(line, 16))
                    else:
                        videos.add(video_id(line) or line)
            continue
        for n, record in enumerate(_records(path)):
            where = f"{path}: record {n}"
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object")
            text = record.get("question") or record.get("problem")
            if isinstance(text, str):
                questions.add(normalize_question(text))
            for key in ("images", "image", "image_path"):
                for ref in _as_list(record.get(key)):
                    try:
                        with Image.open(os.path.join(root, ref)) as image:
                            hashes.append(image_phash(image.convert("RGB")))
                    except OSError as exc:
                        raise ValueError(f"{where}: image {ref!r}: {exc}") from exc
            for value in _as_list(record.get("image_phash")):
                hashes.append(int(value, 16))
            for key in ("video", "video_id", "scene_name"):
                for ref in _as_list(record.get(key)):
                    videos.add(video_id(ref) or ref)
    return EvalSet(questions, hashes, videos, max_distance, min_words)


def _records(path: str) -> list:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    doc = json.loads(text)
    return doc if isinstance(doc, list) else [doc]


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
