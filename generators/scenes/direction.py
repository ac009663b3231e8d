"""The `direction` family: standing at A facing B, in which quadrant is C, asked only when the
drawn 2-D lines show the same quadrant as the 3-D floor, with a margin, and stated in the
drawing's own angle."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from drawreason.drawing.format import format_answer_turn
from drawreason.generators.phrasing import say
from drawreason.generators.scenes import phrasing as P
from drawreason.generators.scenes.answerable import hidden_lines, image_angle
from drawreason.generators.scenes.common import (
    LETTERS,
    NoQuestion,
    Question,
    _base,
    _bases_in_sight,
    _box_notice,
    _boxes,
    _jittered,
    _line_notice,
    _mistake,
    _named_clearly,
    _wrong_box,
    box_phase,
    legible,
)
from drawreason.generators.scenes.trace import Mistake, Phase, lay_out, split_choices
from drawreason.generators.scenes.world import Camera, SceneObject
from drawreason.schemas.records import BoxOp, LineOp

DIRECTIONS = ("front-left", "front-right", "back-left", "back-right")
EDGE_MARGIN_DEG = 20.0  # both angles at least this far from front/back/left/right boundaries
AGREE_DEG = 12.0  # the drawn angle and the floor angle differ by at most this
MIN_LINE_PX = 30.0


def quadrant(angle: float) -> str:
    """'front-left' etc. of an angle from the facing direction (positive = left)."""
    return ("front" if abs(angle) < 90 else "back") + "-" + ("left" if angle > 0 else "right")


def relative_direction(
    anchor: SceneObject, facing: SceneObject, other: SceneObject
) -> tuple[str, float]:
    """Where `other` is for someone at `anchor` facing `facing`, and its angle in degrees on the
    floor (0 = straight ahead, positive = to the left)."""
    fx, fy = facing.x - anchor.x, facing.y - anchor.y
    ox, oy = other.x - anchor.x, other.y - anchor.y
    angle = float(np.degrees(np.arctan2(fx * oy - fy * ox, fx * ox + fy * oy)))
    return quadrant(angle), angle


def _clear(angle: float) -> bool:
    return min(abs(angle - edge) for edge in (-180, -90, 0, 90, 180)) >= EDGE_MARGIN_DEG


def drawing_agrees(floor_angle: float, drawn_angle: float) -> bool:
    """Whether the drawn lines show what the floor holds: both angles clear of every quadrant
    boundary, in the same quadrant, and within AGREE_DEG of each other."""
    diff = abs((floor_angle - drawn_angle + 180) % 360 - 180)
    return (
        _clear(floor_angle)
        and _clear(drawn_angle)
        and quadrant(floor_angle) == quadrant(drawn_angle)
        and diff <= AGREE_DEG
    )


def direction_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
    want: float = 0.0,
) -> Question:
    """Standing at A facing B, in which quadrant is C: box the three, draw the facing line and
    the line to C, read off the turn as drawn. The quadrant asked for is DIRECTIONS[want * 4]
    (`want` in [0, 1), drawn once per sample), so the answers are balanced. A reflective trace
    boxes one of the three on another object, or draws
    the line to C mirrored, then fixes it."""
    boxes = _boxes(objects, camera)
    visible = [o for o in objects if o.name in boxes]
    if len(visible) < 3:
        raise NoQuestion("fewer than three visible objects")
    want = DIRECTIONS[int(want * len(DIRECTIONS))]
    order = [visible[int(i)] for i in rng.permutation(len(visible))]
    found = None
    for anchor in order:
        for facing in order:
            for other in order:
                if len({anchor.name, facing.name, other.name}) < 3:
                    continue
                where, angle = relative_direction(anchor, facing, other)
                if where != want:
                    continue
                start = _base(boxes[anchor.name])
                ends = [_base(boxes[facing.name]), _base(boxes[other.name])]
                drawn = image_angle(start, ends[0], ends[1])
                lengths = [float(np.hypot(*np.subtract(e, start))) for e in ends]
                if (
                    drawing_agrees(angle, drawn)
                    and min(lengths) >= MIN_LINE_PX
                    and not hidden_lines(start, ends)
                ):
                    found = (anchor, facing, other, angle, drawn)
                    break
            if found:
                break
        if found:
            break
    if found is None:
        raise NoQuestion(f"no triple that is clearly {want} in the drawing")
    anchor, facing, other, angle, drawn = found
    named = [anchor, facing, other]
    _named_clearly(named, objects)
    _bases_in_sight(named, boxes, objects, camera)
    size = camera.size
    ops = legible(
        [BoxOp(0, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in named],
        objects,
        camera,
    )
    start = _base(boxes[anchor.name])
    target = _base(boxes[other.name])
    lines = (
        LineOp(0, start, _base(boxes[facing.name]), "facing"),
        LineOp(0, start, target, f"to {other.name}"),
    )
    who = {"anchor": anchor.name, "facing": facing.name, "other": other.name}
    roles = say(rng, P.DIRECTION_ROLES, **who)
    phases = [
        box_phase(rng, ops, roles),
        Phase(
            lines,
            say(rng, P.DIRECTION_LINES, **who),
            (say(rng, P.FACING_ONE, **who), say(rng, P.OTHER_ONE, **who)),
        ),
    ]
    mirrored = (min(size, max(0, 2 * start[0] - target[0])), target[1])
    spare = [o for o in visible if o not in named]
    kinds = (("box",) if spare else ()) + (("line",) if abs(mirrored[0] - target[0]) > 40 else ())
    kind = _mistake(rng, reflective, kinds)
    mistake = None
    if kind == "box":
        wrong = spare[int(rng.integers(len(spare)))]
        k = int(rng.integers(3))
        bad = _wrong_box(ops[k], _jittered(boxes[wrong.name], rng, jitter, size))
        mistake = Mistake(0, k, bad, _box_notice(rng, ops[k].label, wrong.name))
    elif kind == "line":
        bad = LineOp(0, start, mirrored, lines[1].label)
        mistake = Mistake(1, 1, bad, _line_notice(rng, lines[1].label, None, other.name))
    split = split_choices(rng, 2, mistake.phase if mistake else None)
    replies, _ = lay_out(phases, split, mistake, objects, camera)
    letter = LETTERS[DIRECTIONS.index(want)]
    side = "left" if drawn > 0 else "right"
    replies.append(
        format_answer_turn(
            say(
                rng,
                P.DIRECTION_ANSWER,
                other=other.name,
                deg=f"{abs(drawn):.0f}",
                side=side,
                ahead="ahead of me" if abs(drawn) < 90 else "behind me",
                where=want,
                letter=letter,
            ),
            letter,
        )
    )
    return Question(
        f"Imagine standing at the {anchor.name} and facing the {facing.name}. Where is the "
        f"{other.name}?",
        "multiple choice",
        letter,
        DIRECTIONS,
        tuple(replies),
        {
            "anchor": anchor.name,
            "facing": facing.name,
            "other": other.name,
            "angle_deg": round(angle, 2),
            "drawn_angle_deg": round(drawn, 2),
            "reflective": mistake is not None,
            "mistake": kind,
        },
    )
