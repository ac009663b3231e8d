"""Shards to model inputs: sharegpt SFT records and RL records, tokenised for Qwen2-VL / Qwen2.5-VL.

A conversation is rendered exactly as the Qwen chat template renders it
(`<|im_start|>{role}\\n{content}<|im_end|>\\n`, every `<image>` placeholder becoming
`<|vision_start|><|image_pad|><|vision_end|>`), then each `<|image_pad|>` is expanded to the
number of visual tokens of its image (grid t*h*w / merge_size^2), as the processor does.
Labels are -100 everywhere except the content tokens of assistant turns and the `<|im_end|>`
that closes each of them: system, user (question) and environment (feedback) turns, role
headers and the newline after `<|im_end|>` are masked. `assistant_mask` gives that per-token
mask for tests and for the GRPO loss.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drawreason.schemas import layout
from drawreason.schemas.oracle import OracleFacts, oracle_from_dict
from drawreason.schemas.rl import run_rl_keys, split_reward_truth
from PIL import Image

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
IMAGE_PLACEHOLDER = "<image>"
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
QWEN_IMAGE = VISION_START + IMAGE_PAD + VISION_END


# --- loading shards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SFTSample:
    """One sharegpt record: messages as (role, content) with `<image>` placeholders, and the
    absolute paths of its images in placeholder order."""

    id: str
    messages: tuple[tuple[str, str], ...]
    images: tuple[str, ...]
    subset: str = ""


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _image_root(jsonl: Path, relative: str) -> Path:
    """The directory that `relative` image paths of `jsonl` are relative to: the closest
    ancestor of the shard (the run directory for our layout) where the image exists."""
    for parent in jsonl.resolve().parents:
        if (parent / relative).is_file():
            return parent
    raise FileNotFoundError(f"{jsonl}: image {relative!r} not found under any parent directory")


def _entry_files(path: Path) -> list[Path]:
    """The JSONL files of a dataset_info.json `file_name`: the file, or every part in the folder
    it names (schemas.layout), in part order."""
    if not path.is_dir():
        return [path]
    listing = [str(p) for p in path.glob("*" + layout.JSONL)]
    found = layout.find_subsets(str(path.parent), listing)
    return [Path(f) for subset in found for f in subset.files]


def sft_shards(data: str | Path, datasets: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """(subset name, jsonl path) of SFT shards. `data` is a run directory (its
    dataset_info.json lists the shards, one file or a folder of parts per entry; `datasets`
    selects entries by name, default all) or one .jsonl file."""
    data = Path(data)
    if data.is_file():
        return [(data.stem, data)]
    info_path = data / layout.DATASET_INFO
    if not info_path.is_file():
        raise FileNotFoundError(f"{data}: no dataset_info.json (not a run directory with SFT data)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if not info:
        raise ValueError(f"{data} has no kept samples: dataset_info.json is empty")
    names = list(datasets) or list(info)
    unknown = [n for n in names if n not in info]
    if unknown:
        raise ValueError(f"{info_path}: unknown dataset(s) {unknown}; known: {sorted(info)}")
    return [(n, path) for n in names for path in _entry_files(data / info[n]["file_name"])]


def load_sft_samples(data: str | Path, datasets: Sequence[str] = ()) -> list[SFTSample]:
    """All sharegpt records of the selected shards, image paths made absolute.

    Raises ValueError when a record's `<image>` placeholders do not match its images."""
    samples = []
    for subset, path in sft_shards(data, datasets):
        for record in _jsonl(path):
            convs = record.get("conversations") or record.get("messages")
            messages = tuple((m["role"], m["content"]) for m in convs)
            rel = record.get("images") or []
            root = _image_root(path, rel[0]) if rel else path.parent
            images = tuple(str(root / r) for r in rel)
            found = sum(c.count(IMAGE_PLACEHOLDER) for _, c in messages)
            if found != len(images):
                raise ValueError(
                    f"{path}: record {record.get('id')!r} has {found} <image> placeholder(s) "
                    f"for {len(images)} image(s)"
                )
            samples.append(SFTSample(str(record.get("id", "")), messages, images, subset))
    return samples


@dataclass(frozen=True)
class RLSample:
    """One RL record (docs/formats.md, RL records) with absolute image paths, the subset it
    belongs to, its turn budget (`max_calls`, 0: the trainer's default) and `oracle`, the
    generated question's oracle facts its reward-truth column carries (None for real data, or a
    record written without the column)."""

    id: str
    question: str
    options: tuple[str, ...]
    answer: str
    question_type: str
    data_type: str
    images: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    subset: str = ""
    max_calls: int = 0
    oracle: OracleFacts | None = None


SCORED_TYPES = ("multiple choice", "numerical")


def rl_run_config(data: str | Path) -> dict[str, Any]:
    """The resolved config of the rl_data run that `data` is (a run directory) or lies in (a
    .jsonl file: the nearest folder above it with a config.json): config.json's `config`, {}
    for a loose file or a run of another stage. Column names and turn budgets are read from
    it, never guessed from the records."""
    path = Path(data).resolve()
    folders = [path] if path.is_dir() else list(path.parents)
    for folder in folders:
        config_path = folder / layout.CONFIG
        if config_path.is_file():
            doc = json.loads(config_path.read_text(encoding="utf-8"))
            return dict(doc.get("config") or {}) if doc.get("stage") == "rl_data" else {}
    return {}


def rl_subset_shards(data: str | Path) -> list[tuple[str, Path]]:
    """(subset, file) of every RL shard: each file of `data/rl/` (one per subset, or its
    parts) of a run directory, or one .jsonl file (its subset named by the layout)."""
    data = Path(data)
    if data.is_file():
        found = layout.find_subsets(str(data.parent), [str(data)])
        if not found:  # one part of a split subset: the subset is its folder
            found = layout.find_subsets(str(data.parent.parent), [str(data)])
        return [(found[0].name if found else data.stem, data)]
    folder = data / layout.RL
    pattern = "*" + layout.JSONL
    listing = [str(p) for p in (*folder.glob(pattern), *folder.glob("*/" + pattern))]
    shards = [
        (subset.name, Path(f))
        for subset in layout.find_subsets(str(folder), listing)
        for f in subset.files
    ]
    if not shards:
        raise FileNotFoundError(f"{data}: no rl/*.jsonl shards")
    return shards


def record_oracle(
    record: dict[str, Any], truth_key: str = "reward_truth", answer_key: str = "answer"
) -> OracleFacts | None:
    """The oracle facts of an RL record's reward-truth column (`truth_key`, schemas/rl.py), or
    None when it has none (real data, or the column left out). Raises ValueError for a
    malformed reward truth or facts, or one whose answer is not the record's `answer_key`."""
    truth = record.get(truth_key) if truth_key else None
    if not truth:
        return None
    answer, facts = split_reward_truth(str(truth))
    if answer != str(record[answer_key]):
        raise ValueError(
            f"record {record.get('id')!r}: {truth_key} answer {answer!r} is not its answer "
            f"{record[answer_key]!r}"
        )
    return oracle_from_dict(facts)


def rl_shards(data: str | Path) -> list[Path]:
    """RL shards: every file of `data/rl/` (one per subset, or its parts) of a run directory,
    or one .jsonl file."""
    return [path for _, path in rl_subset_shards(data)]


def load_rl_samples(data: str | Path) -> list[RLSample]:
    """RL records whose answers can be scored (multiple choice, numerical), read with the
    column names of the run that wrote them (schemas.rl.run_rl_keys of its config.json), and
    each generated subset's turn budget from the same config (generators.registry
    turn_budgets), and the oracle facts of generated questions from its reward-truth column
    (`record_oracle`). Raises ValueError when the run's records have no `question` column (the
    trainer renders the question itself) or a record lacks a column the run names."""
    # Imported here: the registry imports every generator (OpenCV among their dependencies),
    # which the trainer's encoder and the environments that import this module do not need.
    from drawreason.generators.registry import turn_budgets

    config = rl_run_config(data)
    keys = run_rl_keys(config)
    budgets = turn_budgets(config)
    if not keys.question:
        raise ValueError(
            f"{data}: the run's RL records have no question column (rl_format "
            f"{config.get('rl_format')!r}, keys {config.get('keys')}); the trainer needs one: "
            "set keys.question in the rl_data config"
        )
    image_keys = [k for k in (keys.images, keys.image_path) if k]  # either holds the paths
    samples = []
    for subset, path in rl_subset_shards(data):
        for record in _jsonl(path):
            if record.get("question_type") not in SCORED_TYPES:
                continue
            image_key = next((k for k in image_keys if k in record), image_keys[0])
            missing = [k for k in (keys.question, image_key, keys.answer) if k not in record]
            if missing:
                raise ValueError(
                    f"{path}: record {record.get('id')!r} has no column(s) {missing}, which "
                    "the run's config names"
                )
            rel = record[image_key] or []
            root = _image_root(path, rel[0])
            samples.append(
                RLSample(
                    id=str(record["id"]),
                    question=record[keys.question],
                    options=tuple(record.get("options") or ()),
                    answer=str(record[keys.answer]),
                    question_type=record["question_type"],
                    data_type=record.get("data_type", ""),
                    images=tuple(str(root / r) for r in rel),
                    oracle=record_oracle(record, keys.reward_truth, keys.answer),
                    extra={"grid_size": record.get("grid_size")},
                    subset=subset,
                    max_calls=budgets.get(subset, 0),
                )
            )
    return samples


def open_image(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


# --- tokenisation ------------------------------------------------------------------------------


def render_message(role: str, content: str) -> str:
    """One message as the Qwen chat template renders it, images as Qwen vision markup."""
    return f"{IM_START}{role}\n{content.replace(IMAGE_PLACEHOLDER, QWEN_IMAGE)}{IM_END}\n"


class Encoder:
    """Tokenises conversations with a Qwen2-VL processor: input ids, labels, pixel values."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.image_processor = processor.image_processor
        self.merge = int(getattr(self.image_processor, "merge_size", 2))
        self.image_pad_id = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        self.im_end_id = self.tokenizer.convert_tokens_to_ids(IM_END)
        self.mm_types = wants_mm_token_type_ids()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.convert_tokens_to_ids("<|endoftext|>")

    # images
    def images(self, images: Sequence[Image.Image]) -> dict[str, Any]:
        """pixel_values (patches of all images concatenated) and image_grid_thw, or {}."""
        if not images:
            return {}
        out = self.image_processor(images=list(images), return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"]}

    def image_tokens(self, grid_thw: Any) -> list[int]:
        """Visual tokens per image."""
        return [int(t * h * w) // (self.merge**2) for t, h, w in grid_thw.tolist()]

    def expand(self, text: str, counts: Sequence[int]) -> str:
        """Each `<|image_pad|>` in order repeated to its image's token count."""
        parts = text.split(IMAGE_PAD)
        if len(parts) - 1 != len(counts):
            raise ValueError(f"{len(parts) - 1} image pad(s) for {len(counts)} image(s)")
        out = [parts[0]]
        for n, part in zip(counts, parts[1:], strict=True):
            out.append(IMAGE_PAD * n + part)
        return "".join(out)

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_messages(
        self, messages: Sequence[tuple[str, str]], images: Sequence[Image.Image]
    ) -> dict[str, Any]:
        """input_ids, labels (assistant content + its <|im_end|>), and the visual inputs.

        The text is the chat template's rendering; the assistant spans are located by
        character offsets, so the mask is exact whatever the tokenizer merges."""
        visual = self.images(images)
        counts = self.image_tokens(visual["image_grid_thw"]) if visual else []
        pieces: list[tuple[str, bool]] = []  # (text, is trained)
        for role, content in messages:
            if role == "assistant":
                pieces += [
                    (f"{IM_START}assistant\n", False),
                    (content + IM_END, True),
                    ("\n", False),
                ]
            else:
                pieces.append((render_message(role, content), False))
        text, spans, pos = "", [], 0
        for piece, trained in pieces:
            if trained:
                spans.append((pos, pos + len(piece)))
            text += piece
            pos += len(piece)
        # Expand pads piece-aware: expansion shifts offsets, so expand first, then recompute.
        expanded, spans = self._expand_with_spans(text, spans, counts)
        enc = self.tokenizer(expanded, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        labels = []
        for token, (start, end) in zip(ids, enc["offset_mapping"], strict=True):
            inside = any(a <= start < b for a, b in spans) and end > start
            labels.append(token if inside else IGNORE_INDEX)
        return {"input_ids": ids, "labels": labels, "text": expanded, **visual}

    def _expand_with_spans(
        self, text: str, spans: list[tuple[int, int]], counts: Sequence[int]
    ) -> tuple[str, list[tuple[int, int]]]:
        parts = text.split(IMAGE_PAD)
        if len(parts) - 1 != len(counts):
            raise ValueError(f"{len(parts) - 1} image pad(s) for {len(counts)} image(s)")
        shifts: list[tuple[int, int]] = []  # (position in original text, added chars)
        pos = 0
        for n, part in zip(counts, parts[:-1], strict=True):
            pos += len(part) + len(IMAGE_PAD)
            shifts.append((pos, (n - 1) * len(IMAGE_PAD)))

        def moved(x: int) -> int:
            return x + sum(add for at, add in shifts if at <= x)

        return self.expand(text, counts), [(moved(a), moved(b)) for a, b in spans]


def assistant_mask(encoded: dict[str, Any]) -> list[bool]:
    """Per token: True where the loss applies (assistant content and its <|im_end|>)."""
    return [label != IGNORE_INDEX for label in encoded["labels"]]


def collate_for(encoder: Encoder, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return collate(features, encoder.pad_id, encoder.image_pad_id if encoder.mm_types else None)


def encode_sft_sample(encoder: Encoder, sample: SFTSample) -> dict[str, Any]:
    images = [open_image(p) for p in sample.images]
    return encoder.encode_messages(sample.messages, images)


# --- batching ----------------------------------------------------------------------------------


def wants_mm_token_type_ids() -> bool:
    """transformers >= 5 computes M-RoPE from `mm_token_type_ids`; 4.x does not take it."""
    import inspect

    from transformers import Qwen2VLForConditionalGeneration

    return (
        "mm_token_type_ids" in inspect.signature(Qwen2VLForConditionalGeneration.forward).parameters
    )


def collate(
    features: Sequence[dict[str, Any]], pad_id: int, image_pad_id: int | None = None
) -> dict[str, Any]:
    """Right-padded batch: input_ids, attention_mask, labels, and visual inputs concatenated in
    sample order (Qwen2-VL takes the images of a batch as one flat sequence). With
    `image_pad_id`, also `mm_token_type_ids` (1 on image tokens) for transformers >= 5."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"])
        labels[i, :n] = torch.tensor(f["labels"])
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if image_pad_id is not None:
        batch["mm_token_type_ids"] = (ids == image_pad_id).long() * mask
    with_images = [f for f in features if "pixel_values" in f]
    if with_images:
        batch["pixel_values"] = torch.cat([f["pixel_values"] for f in with_images])
        batch["image_grid_thw"] = torch.cat([f["image_grid_thw"] for f in with_images])
    return batch


def batch_order(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Sample indices per batch for one epoch, reproducible from (seed, epoch).

    With `group_by_length`, shuffled indices are cut into mega-batches of 50 batches, sorted by
    length inside each (less padding), and the batches shuffled again (as HF's
    LengthGroupedSampler does)."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * 50
        order = [
            i
            for k in range(0, len(order), mega)
            for i in sorted(order[k : k + mega], key=lambda j: -lengths[j])
        ]
    batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches
