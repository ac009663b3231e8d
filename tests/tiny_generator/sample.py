"""The tiny generator's config and sample: box the square, mark its centre, name its colour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.generators.base import GeneratedSample
from drawreason.schemas.records import BoxOp, LineOp
from PIL import Image

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "black": (0, 0, 0)}


@dataclass(frozen=True)
class TinyConfig:
    size: int = 112
    square: int = 28
    max_calls: int = 4  # the turn budget: two drawings and the answer, one turn to spare

    def __post_init__(self) -> None:
        if not 8 <= self.square < self.size:
            raise ValueError(f"square must be in [8, size), got {self.square}")


def generate_tiny_sample(sample_id: str, rng: np.random.Generator, config: TinyConfig):
    names = list(COLOURS)
    colour = names[int(rng.integers(len(names)))]
    x, y = (int(v) for v in rng.integers(0, config.size - config.square, size=2))
    image = Image.new("RGB", (config.size, config.size), (200, 200, 200))
    image.paste(COLOURS[colour], (x, y, x + config.square, y + config.square))
    box = (x, y, x + config.square, y + config.square)
    centre = (x + config.square // 2, y + config.square // 2)
    replies = (
        format_tool_turn("Find the square.", [BoxOp(1, box, "square")]),
        format_tool_turn("Mark its centre.", [LineOp(2, centre, (centre[0] + 1, centre[1]), "c")]),
        format_answer_turn(f"The square is {colour}.", "ABCD"[names.index(colour)]),
    )
    return GeneratedSample(
        question="What colour is the square?",
        question_type="multiple choice",
        answer="ABCD"[names.index(colour)],
        options=tuple(names),
        data_type="tiny",
        grid_size=None,
        images=(image,),
        replies=replies,
        max_calls=config.max_calls,
        meta={"colour": colour, "box": list(box)},
    )
