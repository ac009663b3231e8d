"""TRL training rows from the verl Parquet rows that the rl_data stage writes (`rl_format: verl`).

One export serves both trainers: the prompts (the project's own system and question text, one
`<image>` per input), the embedded input images, the ground truth and the budgets are
`integrations.verl.data.verl_record`'s; this module only reshapes a row into what TRL's
GRPOTrainer and `integrations.trl.environment` read:

- `prompt`: the chat messages with structured content, each `<image>` an image placeholder
  (TRL fills placeholders from `images` in order),
- `images`: the input images (PNG bytes, decoded by `datasets` as PIL images),
- `ground_truth`, `question_type`, `data_type`, `oracle` (a generated question's oracle facts
  as compact JSON, verl's `extra_info.oracle`; "" for real data): for `DrawingReward`,
- `budgets`: `integrations.session.Budgets` kwargs, for `DrawingEnvironment.reset`,
- `item_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from drawreason.drawing.prompts import IMAGE_TOKEN
from drawreason.integrations.session import Budgets


def content_parts(text: str) -> list[dict[str, Any]]:
    """Message text as structured parts: each `<image>` an image placeholder, the rest text."""
    parts: list[dict[str, Any]] = []
    for n, piece in enumerate(text.split(IMAGE_TOKEN)):
        if n:
            parts.append({"type": "image", "text": None})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def trl_row(verl_row: Mapping[str, Any]) -> dict[str, Any]:
    """The TRL row of one verl row. Raises ValueError if its prompt's `<image>` count differs
    from its number of images, or it has no ground truth."""
    images = list(verl_row["images"])
    prompt = [
        {"role": m["role"], "content": content_parts(m["content"])} for m in verl_row["prompt"]
    ]
    placeholders = sum(m["content"].count(IMAGE_TOKEN) for m in verl_row["prompt"])
    info = verl_row.get("extra_info") or {}
    item_id = str(info.get("item_id", ""))
    if placeholders != len(images):
        raise ValueError(f"{item_id}: {placeholders} {IMAGE_TOKEN} for {len(images)} images")
    truth = (verl_row.get("reward_model") or {}).get("ground_truth")
    if truth in (None, ""):
        raise ValueError(f"{item_id}: no reward_model.ground_truth")
    return {
        "prompt": prompt,
        "images": [{"bytes": im["bytes"], "path": None} for im in images],
        "ground_truth": str(truth),
        "question_type": str(info.get("question_type", "multiple choice")),
        "data_type": str(info.get("data_type", "")),
        "oracle": str(info.get("oracle") or ""),
        "budgets": Budgets.from_kwargs(info).to_kwargs(),
        "item_id": item_id,
    }


def trl_dataset(rows: Iterable[Mapping[str, Any]]) -> Any:
    """A `datasets.Dataset` of TRL rows from verl rows (images decoded to PIL on access)."""
    import datasets

    features = datasets.Features(
        {
            "prompt": [
                {
                    "role": datasets.Value("string"),
                    "content": [
                        {"type": datasets.Value("string"), "text": datasets.Value("string")}
                    ],
                }
            ],
            "images": [datasets.Image()],
            "ground_truth": datasets.Value("string"),
            "question_type": datasets.Value("string"),
            "data_type": datasets.Value("string"),
            "oracle": datasets.Value("string"),
            "budgets": {
                "max_calls": datasets.Value("int64"),
                "max_images": datasets.Value("int64"),
                "image_sizes": [[datasets.Value("int64")]],
                "item_id": datasets.Value("string"),
                "grid_size": datasets.Value("int64"),
            },
            "item_id": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_list([trl_row(r) for r in rows], features=features)


def read_verl_parquet(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of verl Parquet files (as written by `integrations.verl.data`)."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += pq.read_table(path).to_pylist()
    return rows
