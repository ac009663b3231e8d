"""Toy data for the trainer tests: a learnable RL shard, a matching warm-up SFT shard, short
prompt templates (the default system prompt is ~800 tiny-tokenizer tokens)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from drawreason.drawing.prompts import Prompts
from PIL import Image

LETTERS = "ABCD"
SHORT_TEMPLATES = {
    # Same placeholders as drawing/templates, much shorter text.
    "system.txt": "Draw or answer. Image {width}x{height}. At most {max_calls} replies.",
    "question.txt": "{images}\n{question}\n{options}{suffix}",
}
TOY_QUESTION = "Which letter is right?"
TOY_OPTIONS = ["red", "green", "blue", "gray"]


def write_prompts(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in SHORT_TEMPLATES.items():
        (directory / name).write_text(text + "\n", encoding="utf-8")
    return directory


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (56, 56), colour).save(path)


def write_toy_rl(run_dir: Path, n: int = 4, answer: str = "B") -> Path:
    """RL records (our rl_data schema) whose answer is always `answer`."""
    shard = run_dir / "rl" / "toy.jsonl"
    shard.parent.mkdir(parents=True, exist_ok=True)
    with open(shard, "w", encoding="utf-8") as handle:
        for i in range(n):
            rel = f"images/toy-{i}.png"
            _image(run_dir / rel, (40 * i, 200 - 40 * i, 90))
            options = "".join(f"\n{k}. {o}" for k, o in zip(LETTERS, TOY_OPTIONS, strict=True))
            record = {
                "id": f"toy-{i}",
                "question": TOY_QUESTION,
                "problem": f"<image>{TOY_QUESTION}{options}",
                "image_path": [rel],
                "images": [rel],
                "answer": answer,
                "question_type": "multiple choice",
                "data_type": "toy",
                "options": TOY_OPTIONS,
                "grid_size": None,
            }
            handle.write(json.dumps(record) + "\n")
    return shard


def write_warmup_sft(run_dir: Path, prompts_dir: Path, n: int = 16, seed: int = 0) -> Path:
    """Sharegpt answers in the docs/protocol.md answer format, uniformly random letter: after
    SFT on it the policy answers in format but right only ~1/4 of the time."""
    prompts = Prompts(prompts_dir)
    rng = random.Random(seed)
    shard = run_dir / "sft" / "warmup.jsonl"
    shard.parent.mkdir(parents=True, exist_ok=True)
    with open(shard, "w", encoding="utf-8") as handle:
        for i in range(n):
            rel = f"images/toy-{i % 4}.png"
            _image(run_dir / rel, (40 * (i % 4), 200 - 40 * (i % 4), 90))
            letter = LETTERS[i % 4] if i < 4 * (n // 4) else rng.choice(LETTERS)
            record = {
                "id": f"warm-{i}",
                "conversations": [
                    {"role": "system", "content": prompts.system(56, 56, 10)},
                    {
                        "role": "user",
                        "content": prompts.question(
                            TOY_QUESTION, TOY_OPTIONS, "multiple choice", [(56, 56)]
                        ),
                    },
                    {
                        "role": "assistant",
                        "content": "<think> ok </think> Action: Answer\n"
                        f"<answer> {letter} </answer>",
                    },
                ],
                "images": [rel],
            }
            handle.write(json.dumps(record) + "\n")
    return shard
