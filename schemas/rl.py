"""RL records (docs/formats.md): one per question, for the ViLaSR trainer and EasyR1/verl."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.schemas.records import QAItem

IMAGE_PLACEHOLDER = "<image>"
OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class RLKeys:
    """Column names of an RL record. The defaults write both trainers' keys: ViLaSR reads
    `question` and `image_path`, EasyR1's defaults read `problem` (with one `<image>` per
    image) and `images`. `reward_truth` is the ground truth as the reward reads it (the answer,
    with a generated question's oracle facts: `reward_truth()`); a trainer whose reward sees
    only the answer column reads it instead of `answer` for the grounding term. An empty name
    leaves that column out."""

    question: str = "question"
    problem: str = "problem"
    image_path: str = "image_path"
    images: str = "images"
    answer: str = "answer"
    reward_truth: str = "reward_truth"

    def __post_init__(self) -> None:
        if not self.answer or not (self.question or self.problem):
            raise ValueError("RL keys need an answer column and a question or problem column")
        if not (self.image_path or self.images):
            raise ValueError("RL keys need an image_path or images column")


# ViLaSR's dataset class knows these data types only (any other raises); `maze` and `vqa` get
# the single-image prompt, `video` and `spatial_r1` the multi-frame prompt with every image.
VILASR_DATA_TYPES = ("maze", "vqa", "video", "spatial_r1")
# Record profiles by consumer (config `rl_format`): which columns each one reads. `verl` keeps
# the default JSONL columns (the run's record and accounting) and writes verl's own rows
# (integrations.verl.data) to `verl/<subset>.parquet` instead of `rl/<subset>.parquet`.
VERL_FORMAT = "verl"
DEFAULT_RL_FORMAT = "vilasr_easyr1"
RL_FORMATS: dict[str, RLKeys] = {
    "vilasr_easyr1": RLKeys(),
    "vilasr": RLKeys(problem="", images=""),
    "easyr1": RLKeys(question="", image_path=""),
    VERL_FORMAT: RLKeys(),
}
PATCH = 28  # Qwen2-VL / Qwen2.5-VL see images in 28-pixel patches
VILASR_MAX_PIXELS = 200_704  # its GRPO config: 256 * 28 * 28
VILASR_MIN_PIXELS = 16_384


@dataclass(frozen=True)
class RLImages:
    """How RL images are written: sides multiples of 28 inside [min_pixels, max_pixels] (the
    trainer's own resize then leaves them alone, so the coordinates the model draws match the
    pixels the environment renders), and image paths `relative` to the JSONL file's folder or
    `absolute` (joined with the output directory)."""

    max_pixels: int = VILASR_MAX_PIXELS
    min_pixels: int = VILASR_MIN_PIXELS
    paths: str = "relative"

    def __post_init__(self) -> None:
        if not PATCH * PATCH <= self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"rl_images needs {PATCH * PATCH} <= min_pixels <= max_pixels, "
                f"got {self.min_pixels} and {self.max_pixels}"
            )
        if self.paths not in ("relative", "absolute"):
            raise ValueError(f"rl_images.paths must be relative or absolute, got {self.paths!r}")


def resolve_image(jsonl: str, path: str) -> str:
    """Where an RL record's image path points, relative to the run directory, for a record of
    the file `jsonl` (a run-relative path): paths are relative to the file's folder; absolute
    paths and URIs are returned as they are."""
    if path.startswith("/") or "://" in path:
        return path
    return posixpath.normpath(posixpath.join(posixpath.dirname(jsonl), path))


def rl_keys(rl_format: str) -> RLKeys:
    """The columns of a record profile; raises ValueError for an unknown one."""
    if rl_format not in RL_FORMATS:
        raise ValueError(f"unknown rl_format {rl_format!r}; known: {', '.join(RL_FORMATS)}")
    return RL_FORMATS[rl_format]


def run_rl_keys(config: Mapping[str, Any]) -> RLKeys:
    """The RL columns a run wrote, from its resolved config (config.json's `config`): its
    `keys` when set, else those of its `rl_format` profile (the default profile for a run that
    names neither). Every reader of a run's RL records (report, trainer, hand-off, publish)
    takes the column names from here. Raises ValueError for an unknown profile."""
    keys = config.get("keys")
    if not keys:
        return rl_keys(config.get("rl_format") or DEFAULT_RL_FORMAT)
    return RLKeys(**{k: v for k, v in keys.items() if k in RLKeys.__dataclass_fields__})


def vilasr_data_type(data_type: str, num_images: int) -> str:
    """ViLaSR's branch for an item: mazes `maze`, multi-image and video items `video` (every
    image shown), single images `vqa`; a source's own known value is kept where it fits."""
    if num_images > 1:
        # `maze` and `vqa` show one image but pass all of them to the processor
        return data_type if data_type in ("video", "spatial_r1") else "video"
    return data_type if data_type in VILASR_DATA_TYPES else "vqa"


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


def reward_truth(answer: str, oracle: str = "") -> str:
    """The ground truth as the reward reads it from the one column EasyR1 and ViLaSR's fork
    hand their reward function: `answer` itself when there are no oracle facts, else compact
    JSON `{"answer": <answer>, "oracle": <facts>}` (`oracle` is `schemas.oracle.oracle_json`)."""
    if not oracle:
        return answer
    facts = json.loads(oracle)
    return json.dumps({"answer": answer, "oracle": facts}, sort_keys=True, separators=(",", ":"))


def split_reward_truth(truth: str) -> tuple[str, dict[str, Any] | None]:
    """(answer, oracle facts as a JSON dict or None) of a `reward_truth`; a plain answer is
    returned as it is. Raises ValueError for a JSON object that is not a reward truth."""
    text = truth.strip()
    if not text.startswith("{"):
        return truth, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reward truth: not JSON ({exc}): {text[:80]!r}") from exc
    if not isinstance(data, dict) or set(data) != {"answer", "oracle"}:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"reward truth: expected keys ['answer', 'oracle'], got {keys}")
    return str(data["answer"]), data["oracle"]


def to_rl_record(
    item: QAItem,
    image_paths: Sequence[str],
    keys: RLKeys = RLKeys(),
    answer: str = "",
    oracle: str = "",
) -> dict[str, Any]:
    """The RL record of a scorable question; `image_paths` replace the item's image references
    (as the consumer opens them). `data_type` is one of ViLaSR's branches, options carry their
    letters, `answer` (default: the item's) is stated as given, `grid_size` is always
    present (null unless a maze), and `reward_truth` is the answer with `oracle` (the facts'
    compact JSON in the pixels of the record's images, "" for none).

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
    record[keys.answer] = answer or item.answer
    if keys.reward_truth:
        record[keys.reward_truth] = reward_truth(record[keys.answer], oracle)
    record["question_type"] = item.question_type
    record["data_type"] = vilasr_data_type(item.data_type, len(image_paths))
    record["options"] = option_lines(item.options)
    record["grid_size"] = item.grid_size
    return record
