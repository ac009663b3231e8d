"""The `verl` RL record profile: verl's Parquet schema for our questions.

One row per question, what verl's `RLHFDataset` and `ToolAgentLoop` read:
`data_source`, `prompt` (system + user chat messages, one `<image>` per input image, the
project's own prompts, so the policy sees what our SFT data taught), `images` (embedded PNG
bytes), `ability`, `reward_model.ground_truth`, `agent_name` (`drawreason_agent`) and
`extra_info`: `index`, `item_id`, `subset`, `question_type`, `data_type` (read by the reward),
`options` (lettered), `oracle` (a generated question's oracle facts as compact JSON, "" for
real data: the reward's grounding term), `image_sizes`, the budgets `max_calls` /
`max_images`, `grid_size`, and `tools_kwargs.<tool>.create_kwargs` (the same fields, handed
by verl to the drawing tool).
No verl import: the Beam stage writes these rows in the project's own venv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drawreason.drawing.prompts import IMAGE_TOKEN, Prompts
from drawreason.integrations.session import TOOL_ACTIONS, Budgets
from drawreason.schemas.records import QAItem
from drawreason.schemas.rl import option_lines

AGENT_NAME = "drawreason_agent"  # integrations.verl.agent_loop registers it
ABILITY = "spatial_reasoning"


def verl_record(
    item: QAItem,
    pngs: Sequence[bytes],
    sizes: Sequence[tuple[int, int]],
    *,
    subset: str,
    index: int,
    max_calls: int,
    max_images: int,
    prompts: Prompts | None = None,
    answer: str = "",
    oracle: str = "",
) -> dict[str, Any]:
    """The verl row of one scorable question whose input images (as the policy sees them)
    have PNG bytes `pngs` and sizes `sizes` (width, height); `answer` (default: the item's)
    is the ground truth as stated (the rl_data stage passes the option letter); `oracle` the
    question's oracle facts as compact JSON in the pixels of `sizes` ("" for none).

    Raises ValueError for a free-form question or an image count mismatch."""
    if item.question_type not in ("multiple choice", "numerical"):
        raise ValueError(f"{item.id}: RL records are multiple choice or numerical only")
    if not (len(pngs) == len(sizes) == len(item.images)):
        raise ValueError(
            f"{item.id}: {len(pngs)} images, {len(sizes)} sizes, {len(item.images)} refs"
        )
    prompts = prompts or Prompts()
    # the prompts of the SFT trajectories (pipelines.real_data), image count and kind included
    system = prompts.system(*sizes[0], max_calls, len(sizes))
    user = prompts.question(
        item.question, item.options, item.question_type, list(sizes), item.data_type
    )
    if user.count(IMAGE_TOKEN) == 0:  # a template without image lines: images first
        user = f"{IMAGE_TOKEN}\n" * len(pngs) + user
    budgets = Budgets(
        max_calls, max_images, tuple(tuple(s) for s in sizes), item.id, item.grid_size
    )
    create = budgets.to_kwargs()
    extra = {
        "index": index,
        "subset": subset,
        "question_type": item.question_type,
        "data_type": item.data_type,
        "options": option_lines(item.options),  # lettered, as in the RL records
        "oracle": oracle,
        **create,
        "tools_kwargs": {tool: {"create_kwargs": dict(create)} for tool in TOOL_ACTIONS},
    }
    return {
        "data_source": f"drawreason/{subset}",
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "images": [{"bytes": png, "path": None} for png in pngs],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": answer or item.answer},
        "extra_info": extra,
        "agent_name": AGENT_NAME,
    }


def verl_features() -> Any:
    """Hugging Face features of the verl Parquet shards (images as `Image()`)."""
    import datasets

    text = datasets.Value("string")
    small = datasets.Value("int32")
    create = {
        "max_calls": small,
        "max_images": small,
        "image_sizes": datasets.List(datasets.List(small)),
        "item_id": text,
        "grid_size": small,
    }
    return datasets.Features(
        {
            "data_source": text,
            "prompt": datasets.List({"role": text, "content": text}),
            "images": datasets.List(datasets.Image()),
            "ability": text,
            "reward_model": {"style": text, "ground_truth": text},
            "extra_info": {
                "index": datasets.Value("int64"),
                "subset": text,
                "question_type": text,
                "data_type": text,
                "options": datasets.List(text),
                "oracle": text,
                **create,
                "tools_kwargs": {tool: {"create_kwargs": dict(create)} for tool in TOOL_ACTIONS},
            },
            "agent_name": text,
        }
    )


def write_verl_parquet(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Write rows to one Parquet file with the verl features (outside Beam: tests, scripts)."""
    import datasets

    datasets.Dataset.from_list(list(rows), features=verl_features()).to_parquet(path)
