"""ViLaSR's training code as our records meet it, re-implemented from docs/consumers.md.

That trainer is not on PyPI, so its contract is written down in docs/consumers.md and checked
here in the form it really uses: the dataset class's prompt branches (what it reads from an RL
record and what raises) and the rollout's concatenation of the whole decoded sequence that its
reward manager passes to the score function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

VISION = "<|vision_start|><|image_pad|><|vision_end|>"
BRANCHES = {"maze": "single", "vqa": "single", "video": "frames", "spatial_r1": "frames"}
# Its multi-turn rollout's environment block (wording ours; the markup is what it emits).
THEIR_ENV_TEXT = "Here is the drawing. Check it, then go on."


def chat_prompt(system: str, user: str) -> str:
    """Qwen2-VL's chat template with the generation prompt, each `<image>` a vision block."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user.replace('<image>', VISION)}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def env_block(text: str) -> str:
    """What the rollout appends after a reply that drew (the reply's own end token included)."""
    shown = text.replace("<image>", VISION)
    return f"<|im_end|>\n<|im_start|>user\n{shown}\n<|im_end|>\n<|im_start|>assistant\n"


def response(conversations: list[dict[str, str]], end: str, their_env: bool = False) -> str:
    """Replies and environment blocks after the generation prompt, then the end token.

    `their_env` replaces our environment turns by a block of the trainer's own shape: one image,
    no index line (so nothing announces sizes or indices)."""
    out = []
    for turn in conversations[2:]:
        if turn["role"] == "assistant":
            out.append(turn["content"])
        else:
            text = f"{VISION}\n{THEIR_ENV_TEXT}" if their_env else turn["content"]
            out.append(env_block(text))
    return "".join(out) + end


def full_sequence(conversations: list[dict[str, str]], end: str, their_env: bool = False) -> str:
    """The whole decoded sequence: chat-templated system and question, then `response`."""
    system, user = conversations[0]["content"], conversations[1]["content"]
    return chat_prompt(system, user) + response(conversations, end, their_env)


def dataset_prompt(record: dict[str, Any], jsonl: Path) -> tuple[str, list[Image.Image]]:
    """The dataset class's prompt branches: (the user turn's text with one `<image>` per image
    item it shows, the images it hands the processor). Raises ValueError as that class does for
    an unknown `data_type`, and KeyError for a missing column it reads."""
    data_type = record["data_type"]
    if data_type not in BRANCHES:
        raise ValueError(f"Unknown data_type: {data_type}")
    record.pop("grid_size")  # popped from every record: a missing key raises
    paths = record["image_path"]
    images = [Image.open(_resolve(jsonl, p)) for p in paths]
    question = record["question"]
    if record["question_type"] == "multiple choice" and "options" in record:
        question += "\n" + "\n".join(o.strip() for o in record["options"])
    if BRANCHES[data_type] == "frames":
        shown = "<image>" * len(paths)
    else:
        shown = "<image>"
    return shown + question, images


def _resolve(jsonl: Path, path: str) -> Path:
    """Image paths are opened from the trainer's working directory: ours run from the JSONL's
    folder (docs/consumers.md)."""
    return Path(path) if Path(path).is_absolute() else jsonl.parent / path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
