"""A test generator whose replies are scripted per sample index, to reach every outcome."""

from dataclasses import dataclass

import numpy as np
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.generators.base import GeneratedSample
from drawreason.schemas.records import LineOp
from PIL import Image

# index % len(OUTCOMES) decides what the sample does.
OUTCOMES = ("kept", "bad_operation", "no_action", "wrong_answer", "too_few_turns", "error")


@dataclass(frozen=True)
class ScriptedConfig:
    size: int = 64


def _line(index: int, y: int, label: str) -> LineOp:
    return LineOp(index, (4, y), (60, y), label)


def generate_scripted(sample_id: str, rng: np.random.Generator, config: ScriptedConfig):
    index = int(sample_id.rsplit("-", 1)[1])
    outcome = OUTCOMES[index % len(OUTCOMES)]
    if outcome == "error":
        raise ValueError(f"{sample_id}: scripted failure")
    shade = int(rng.integers(0, 200))
    image = Image.new("RGB", (config.size, config.size), (255, 255, shade))
    draw1 = format_tool_turn("first line", [_line(1, 10, "a")])
    draw2 = format_tool_turn("second line", [_line(2, 30, "b")])
    answer = format_answer_turn("two lines", "2")
    replies = {
        "kept": (draw1, draw2, answer),
        "bad_operation": (draw1, draw2.replace('"index": 2', '"index": 9'), answer),
        "no_action": (draw1, "I am not sure what to do.", answer),
        "wrong_answer": (draw1, draw2, format_answer_turn("three?", "3")),
        "too_few_turns": (draw1, answer),
    }[outcome]
    return GeneratedSample(
        question="How many lines are there?",
        question_type="numerical",
        answer="2",
        options=(),
        data_type="synthetic",
        grid_size=None,
        images=(image,),
        replies=replies,
        max_calls=10,
        meta={"outcome": outcome},
    )
