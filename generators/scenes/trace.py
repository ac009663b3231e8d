"""Laying out a single-view scene trace: phases of drawing drawn in one turn or one element per
turn, and a staged mistake drawn exactly like the step it replaces, then fixed.

A phase (the boxes, then the lines) is drawn either in one turn or one element per turn; which
is the sample's choice. A mistake is always a one-element turn, drawn in the words of the
correct one-element turn it replaces; the next turn notices it in the rendered image and
redraws that element on the image before the mistake, which holds everything drawn so far, so
nothing has to be issued twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from drawreason.drawing.format import format_tool_turn
from drawreason.generators.scenes.answerable import TAG_COVER, tag_cover
from drawreason.generators.scenes.question import NoQuestion
from drawreason.generators.scenes.world import Camera, SceneObject
from drawreason.schemas.records import BoxOp, LineOp

Operation = BoxOp | LineOp
SPLIT_SHARE = 0.4  # how often a phase without a mistake is drawn one element per turn


@dataclass(frozen=True)
class Phase:
    """Operations drawn on the current image (their `index` is set when laid out), the text of
    the turn that draws them all, and the text of each one-element turn."""

    ops: tuple[Operation, ...]
    together: str
    singles: tuple[str, ...]


@dataclass(frozen=True)
class Mistake:
    """Element `op` of phase `phase` is first drawn as `wrong` (same label); `notice(img,
    before)` is the text of the turn that sees it in image `img` and redraws on `before`."""

    phase: int
    op: int
    wrong: Operation
    notice: Callable[[int, int], str]


def split_choices(rng: np.random.Generator, phases: int, mistake_phase: int | None) -> list[bool]:
    """Which phases are drawn one element per turn: the mistake's phase always, others by rng."""
    return [p == mistake_phase or bool(rng.random() < SPLIT_SHARE) for p in range(phases)]


def lay_out(
    phases: Sequence[Phase],
    split: Sequence[bool],
    mistake: Mistake | None,
    objects: Sequence[SceneObject],
    camera: Camera,
) -> tuple[list[str], int]:
    """The tool turns of `phases` on one image lineage from image 1, and the index of the last
    image drawn. Boxes take colours by position on their image, so a staged wrong box whose
    label would sit on an object of its own colour raises NoQuestion."""
    if mistake is not None and not split[mistake.phase]:
        raise ValueError("a mistake is drawn in a one-element turn: split its phase")
    replies: list[str] = []
    image, fresh, boxes_on_image = 1, 2, 0
    for p, phase in enumerate(phases):
        groups = [[i] for i in range(len(phase.ops))] if split[p] else [list(range(len(phase.ops)))]
        for group in groups:
            text = phase.singles[group[0]] if split[p] else phase.together
            ops = [dataclasses.replace(phase.ops[i], index=image) for i in group]
            if mistake is not None and mistake.phase == p and group == [mistake.op]:
                wrong = dataclasses.replace(mistake.wrong, index=image)
                if isinstance(wrong, BoxOp) and (
                    tag_cover(wrong, boxes_on_image, objects, camera) >= TAG_COVER
                ):
                    raise NoQuestion("the wrong box's label would sit on its own colour")
                replies.append(format_tool_turn(text, [wrong]))
                shown, fresh = fresh, fresh + 1
                replies.append(format_tool_turn(mistake.notice(shown, image), ops))
            else:
                replies.append(format_tool_turn(text, ops))
            image, fresh = fresh, fresh + 1
            boxes_on_image += sum(isinstance(op, BoxOp) for op in ops)
    return replies, image
