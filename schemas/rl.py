"""RL records (SPEC §4): one per question, readable by the ViLaSR trainer and by EasyR1/verl."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.records import QAItem

IMAGE_PLACEHOLDER = "<image>"
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class RLKeys:
    """Column names of an RL record. The defaults write both trainers' keys: ViLaSR reads
    `question` and `image_path`, EasyR1's defaults read `problem` (with one `<image>` per
    image) and `images`. An empty name leaves that column out."""

    question: str = "question"
    problem: str = "problem"
    image_path: str = "image_path"
    images: str = "images"
    answer: str = "answer"

    def __post_init__(self) -> None:
        if not self.answer or not (self.question or self.problem):
            raise ValueError("RL keys need an answer column and a question or problem column")
        if not (self.image_path or self.images):
            raise ValueError("RL keys need an image_path or images column")


def option_lines(options: Sequence[str]) -> list[str]:
    """Options with their letters ("A. left"), keeping a letter an option already has."""
    out = []
    for letter, option in zip(OPTION_LETTERS, options, strict=False):
        text = option.strip()
        has = text[:2] in (f"{letter}.", f"{letter})") or text.startswith(f"({letter})")
        out.append(text if has else f"{letter}. {text}")
    return out


def problem_text(item: QAItem) -> str:
    """EasyR1's prompt: one `<image>` per image, the question, then the lettered options."""
    lines = [IMAGE_PLACEHOLDER * len(item.images) + item.question.strip()]
    lines += option_lines(item.options)
    return "\n".join(lines)


def to_rl_record(
    item: QAItem, image_paths: Sequence[str], keys: RLKeys = RLKeys()
) -> dict[str, Any]:
    """The RL record of a scorable question; `image_paths` replace the item's image references
    (relative to the dataset root). `grid_size` is always present (null unless a maze).

    Raises ValueError for a free-form question or an image count mismatch.
    """
    if item.question_type not in ("multiple choice", "numerical"):
        raise ValueError(f"{item.id}: RL records are multiple choice or numerical only")
    if len(image_paths) != len(item.images):
        raise ValueError(f"{item.id}: {len(image_paths)} image paths for {len(item.images)} images")
    record: dict[str, Any] = {"id": item.id}
    if keys.question:
        record[keys.question] = item.question
    if keys.problem:
        record[keys.problem] = problem_text(item)
    if keys.image_path:
        record[keys.image_path] = list(image_paths)
    if keys.images:
        record[keys.images] = list(image_paths)
    record[keys.answer] = item.answer
    record["question_type"] = item.question_type
    record["data_type"] = item.data_type
    record["options"] = list(item.options)
    record["grid_size"] = item.grid_size
    return record
