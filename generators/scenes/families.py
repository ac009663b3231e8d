"""Question families over a scene, each with its answer from ground truth and an oracle trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drawing.format import format_answer_turn, format_tool_turn
from generators.scenes.world import Camera, SceneObject, box_2d, distance_cm, partly_in_frame
from schemas.records import BoxOp, LineOp

LETTERS = "ABCD"


class NoQuestion(Exception):
    """This scene and these views do not support the family; the caller tries another scene."""


@dataclass(frozen=True)
class Question:
    text: str
    question_type: str
    answer: str
    options: tuple[str, ...]
    replies: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)


def _jittered(box: tuple[float, ...], rng: np.random.Generator, jitter: int, size: int) -> tuple:
    """Integer box corners moved by at most `jitter` px each, kept inside the image."""
    moved = [round(v + int(rng.integers(-jitter, jitter + 1))) for v in box]
    return tuple(min(max(v, 0), size) for v in moved)


def _covered(box: tuple[float, ...], nearer: Sequence[tuple[float, ...]]) -> float:
    """Share of `box` covered by the boxes of nearer objects (overlaps between them counted
    twice, so this errs towards calling an object hidden)."""
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
    total = 0.0
    for other in nearer:
        w = min(box[2], other[2]) - max(box[0], other[0])
        h = min(box[3], other[3]) - max(box[1], other[1])
        total += max(w, 0.0) * max(h, 0.0)
    return min(total / area, 1.0)


def _boxes(objects: Sequence[SceneObject], camera: Camera) -> dict[str, tuple[float, ...]]:
    """Boxes of the objects fully in the frame and at most 35% hidden behind nearer ones:
    a box around an object a person cannot see teaches the wrong thing."""
    eye = np.array(camera.eye)
    found = {o.name: b for o in objects if (b := box_2d(o, camera)) is not None}
    dist = {o.name: float(np.linalg.norm(np.array(o.center) - eye)) for o in objects}
    result = {}
    for name, box in found.items():
        nearer = [b for n, b in found.items() if dist[n] < dist[name]]
        if _covered(box, nearer) <= 0.35:
            result[name] = box
    return result


def _base(box: tuple[float, ...]) -> tuple[int, int]:
    """The bottom centre of a box: where the object stands on the floor in the image."""
    return (round((box[0] + box[2]) / 2), round(box[3]))


def _box_then_fix(
    label: str,
    wrong: str,
    box: tuple,
    boxes: dict,
    rng: np.random.Generator,
    jitter: int,
    size: int,
) -> list[str]:
    """A reflective pair of turns: box the wrong object under `label`, notice, redraw the box
    on the clean input (image 1 -> image 2 wrong, image 1 -> image 3 right)."""
    wrong_box = _jittered(boxes[wrong], rng, jitter, size)
    return [
        format_tool_turn(f"I look for the {label} and box it.", [BoxOp(1, wrong_box, label)]),
        format_tool_turn(
            f"The box labelled {label} sits on the {wrong}, not on the {label}. I redraw it on "
            f"image 1 around the {label}.",
            [BoxOp(1, box, label)],
        ),
    ]


def _height_line(obj: SceneObject, camera: Camera, label: str, image: int) -> LineOp:
    """A vertical line from where the object stands to its top, in pixels."""
    uv, _ = camera.project(np.array([(obj.x, obj.y, 0.0), (obj.x, obj.y, obj.height)]))
    (bx, by), (tx, ty) = (round(float(u)) for u in uv[0]), (round(float(u)) for u in uv[1])
    return LineOp(image, (bx, by), (tx, ty), label)


def _length(line: LineOp) -> float:
    (x1, y1), (x2, y2) = line.start_point_2d, line.end_point_2d
    return float(np.hypot(x2 - x1, y2 - y1))


def size_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
) -> Question:
    """Height of a target in cm from a reference of known height at a similar distance:
    box both, trace each one's height, convert by proportion."""
    boxes = _boxes(objects, camera)
    eye = np.array(camera.eye)
    visible = [o for o in objects if o.name in boxes]
    depth = {o.name: float(np.linalg.norm(np.array(o.center) - eye)) for o in visible}
    pairs = [
        (r, t)
        for r in visible
        for t in visible
        if r is not t and abs(depth[r.name] - depth[t.name]) / depth[r.name] < 0.025
    ]
    if not pairs:
        raise NoQuestion("no two visible objects at a similar distance")
    ref, target = pairs[int(rng.integers(len(pairs)))]
    size = camera.size
    ref_box = _jittered(boxes[ref.name], rng, jitter, size)
    target_box = _jittered(boxes[target.name], rng, jitter, size)
    others = [o.name for o in visible if o.name not in (ref.name, target.name)]
    reflective = reflective and bool(others)
    replies = []
    if reflective:
        wrong = others[int(rng.integers(len(others)))]
        replies += _box_then_fix(ref.name, wrong, ref_box, boxes, rng, jitter, size)
        replies.append(
            format_tool_turn(
                f"Now the {ref.name} is boxed. I box the {target.name} too.",
                [BoxOp(3, target_box, target.name)],
            )
        )
        image = 4
    else:
        replies.append(
            format_tool_turn(
                f"The reference is the {ref.name}, {ref.height:g} cm tall, and the target is the "
                f"{target.name}. I box both.",
                [BoxOp(1, ref_box, ref.name), BoxOp(1, target_box, target.name)],
            )
        )
        image = 2
    ref_line = _height_line(ref, camera, f"{ref.name} height", image)
    target_line = _height_line(target, camera, f"{target.name} height", image)
    ref_px, target_px = _length(ref_line), _length(target_line)
    if ref_px < 15 or target_px < 15:
        raise NoQuestion("objects too small to measure")
    estimate = ref.height * target_px / ref_px
    replies.append(
        format_tool_turn(
            "Both stand at a similar distance from the camera, so their heights in pixels "
            "compare directly. I trace each one's height from the floor to its top.",
            [ref_line, target_line],
        )
    )
    replies.append(
        format_answer_turn(
            f"The {ref.name}'s height line is {ref_px:.0f} px for {ref.height:g} cm and the "
            f"{target.name}'s is {target_px:.0f} px, so the {target.name} is about "
            f"{ref.height:g} * {target_px:.0f} / {ref_px:.0f} = {estimate:.1f} cm tall.",
            f"{round(estimate)}",
        )
    )
    return Question(
        f"The {ref.name} is {ref.height:g} cm tall. About how tall is the {target.name}, in "
        "centimetres? Use the reference object to measure.",
        "numerical",
        f"{round(target.height)}",
        (),
        tuple(replies),
        {
            "reference": ref.name,
            "target": target.name,
            "estimate_cm": round(estimate, 2),
            "reflective": reflective,
        },
    )


def closest_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
) -> Question:
    """Which object is closest to an anchor: lines on the floor from the anchor to each option."""
    boxes = _boxes(objects, camera)
    visible = [o for o in objects if o.name in boxes]
    if len(visible) < 4:
        raise NoQuestion("fewer than four visible objects")
    order = rng.permutation(len(visible))
    anchor = visible[int(order[0])]
    candidates = [visible[int(i)] for i in order[1:4]]
    real = sorted(candidates, key=lambda o: distance_cm(anchor, o))
    seen = sorted(
        candidates,
        key=lambda o: float(
            np.hypot(*np.subtract(_base(boxes[o.name]), _base(boxes[anchor.name])))
        ),
    )
    # Keep questions the drawing can decide: the image agrees with the floor, with a margin.
    if real[0] is not seen[0] or distance_cm(anchor, real[1]) < 1.25 * distance_cm(anchor, real[0]):
        raise NoQuestion("the nearest object is not clear in this view")
    size = camera.size
    anchor_box = _jittered(boxes[anchor.name], rng, jitter, size)
    replies = []
    image = 2
    if reflective:
        wrong = candidates[int(rng.integers(len(candidates)))].name
        replies += _box_then_fix(anchor.name, wrong, anchor_box, boxes, rng, jitter, size)
        image = 3
    else:
        replies.append(
            format_tool_turn(
                f"First I find the {anchor.name} and box it.", [BoxOp(1, anchor_box, anchor.name)]
            )
        )
    start = _base(anchor_box)
    lines = [LineOp(image, start, _base(boxes[o.name]), f"to {o.name}") for o in candidates]
    replies.append(
        format_tool_turn(
            f"I trace a line along the floor from the {anchor.name} to each candidate object.",
            lines,
        )
    )
    correct = real[0]
    letter = LETTERS[candidates.index(correct)]
    replies.append(
        format_answer_turn(
            f"The line to the {correct.name} is clearly the shortest on the floor, so the "
            f"{correct.name} is closest to the {anchor.name}: option {letter}.",
            letter,
        )
    )
    return Question(
        f"Which object is closest to the {anchor.name}?",
        "multiple choice",
        letter,
        tuple(o.name for o in candidates),
        tuple(replies),
        {
            "anchor": anchor.name,
            "candidates": [o.name for o in candidates],
            "reflective": reflective,
        },
    )


def count_question(
    objects: Sequence[SceneObject],
    cameras: Sequence[Camera],
    rng: np.random.Generator,
    jitter: int,
) -> Question:
    """How many distinct objects of a colour appear across frames (each counted once)."""
    per_view = [_boxes(objects, cam) for cam in cameras]
    for cam, boxes in zip(cameras, per_view, strict=True):
        if any(o.name not in boxes and partly_in_frame(o, cam) for o in objects):
            # A half-visible object could be counted or not: ambiguous, so no question.
            raise NoQuestion("an object is cut by the frame edge")
    colors = sorted({o.color for o in objects if any(o.name in b for b in per_view)})
    color = colors[int(rng.integers(len(colors)))]
    for cam, boxes in zip(cameras, per_view, strict=True):
        if any(o.color == color and o.name not in boxes and box_2d(o, cam) for o in objects):
            raise NoQuestion(f"a {color} object is hidden behind another in a frame")
    members = [o for o in objects if o.color == color and any(o.name in b for b in per_view)]
    replies = []
    seen_in: dict[str, list[int]] = {}
    skipped: list[int] = []
    for k, boxes in enumerate(per_view, start=1):
        here = [o for o in members if o.name in boxes]
        if not here:
            skipped.append(k)
            continue
        for o in here:
            seen_in.setdefault(o.name, []).append(k)
        names = " and the ".join(o.name for o in here)
        note = (
            f" Frame {skipped[-1]} showed no {color} object."
            if skipped and skipped[-1] == k - 1
            else ""
        )
        ops = [
            BoxOp(k, _jittered(boxes[o.name], rng, jitter, cameras[0].size), o.name) for o in here
        ]
        replies.append(
            format_tool_turn(
                f"In frame {k} I see the {names}; I box each with its own label so the same "
                f"object keeps its label across frames.{note}",
                ops,
            )
        )
    if len(replies) < 2:
        raise NoQuestion("the colour appears in fewer than two frames")
    repeated = [
        f"the {n} (frames {', '.join(map(str, ks))})" for n, ks in seen_in.items() if len(ks) > 1
    ]
    summary = "; ".join(repeated) if repeated else "no object appears twice"
    count = len(seen_in)
    replies.append(
        format_answer_turn(
            f"Across the frames the same objects come back: {summary}. Counting each object "
            f"once gives {count} distinct {color} object{'s' if count != 1 else ''}.",
            str(count),
        )
    )
    return Question(
        f"These {len(cameras)} frames show one scene from a moving camera. How many distinct "
        f"{color} objects appear in the frames, counting each object once?",
        "numerical",
        str(count),
        (),
        tuple(replies),
        {"color": color, "seen_in": seen_in, "reflective": False},
    )


DIRECTIONS = ("front-left", "front-right", "back-left", "back-right")


def relative_direction(
    anchor: SceneObject, facing: SceneObject, other: SceneObject
) -> tuple[str, float]:
    """Where `other` is for someone at `anchor` facing `facing`, and its angle in degrees
    (0 = straight ahead, positive = to the left)."""
    fx, fy = facing.x - anchor.x, facing.y - anchor.y
    ox, oy = other.x - anchor.x, other.y - anchor.y
    angle = float(np.degrees(np.arctan2(fx * oy - fy * ox, fx * ox + fy * oy)))
    side = "left" if angle > 0 else "right"
    return ("front" if abs(angle) < 90 else "back") + "-" + side, angle


def direction_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
) -> Question:
    """Standing at A facing B, in which quadrant is C: box the three, draw the facing line and
    the line to C, read off the turn."""
    boxes = _boxes(objects, camera)
    visible = [o for o in objects if o.name in boxes]
    if len(visible) < 3:
        raise NoQuestion("fewer than three visible objects")
    order = rng.permutation(len(visible))
    anchor, facing, other = (visible[int(i)] for i in order[:3])
    where, angle = relative_direction(anchor, facing, other)
    if min(abs(angle - edge) for edge in (-180, -90, 0, 90, 180)) < 20:
        raise NoQuestion("the direction is too close to a boundary to be clear")
    size = camera.size
    named = [anchor, facing, other]
    ops = [BoxOp(1, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in named]
    replies = [
        format_tool_turn(
            f"I box the {anchor.name} (where I stand), the {facing.name} (where I face) and the "
            f"{other.name}.",
            ops,
        )
    ]
    start = _base(boxes[anchor.name])
    facing_line = LineOp(2, start, _base(boxes[facing.name]), "facing")
    other_line = LineOp(2, start, _base(boxes[other.name]), f"to {other.name}")
    target = _base(boxes[other.name])
    wrong = (min(size, max(0, 2 * start[0] - target[0])), target[1])
    if reflective and abs(wrong[0] - target[0]) > 20:
        replies.append(
            format_tool_turn(
                f"I draw the facing direction and the direction to the {other.name}.",
                [facing_line, LineOp(2, start, wrong, f"to {other.name}")],
            )
        )
        replies.append(
            format_tool_turn(
                f"The line labelled to {other.name} misses the {other.name}; it points the wrong "
                "way. I redraw it on image 3 from where I stand to the object (the old stroke "
                "stays in the picture; the new line is the corrected one).",
                [LineOp(3, start, target, f"to {other.name}")],
            )
        )
    else:
        reflective = False
        replies.append(
            format_tool_turn(
                f"I draw the facing direction and the direction to the {other.name}.",
                [facing_line, other_line],
            )
        )
    options = DIRECTIONS
    letter = LETTERS[options.index(where)]
    ahead = "ahead of me" if abs(angle) < 90 else "behind me"
    side = "left" if angle > 0 else "right"
    replies.append(
        format_answer_turn(
            f"Facing the {facing.name}, the line to the {other.name} turns about "
            f"{abs(angle):.0f} degrees to the {side}, so it is {ahead} and to the {side}: "
            f"{where}, option {letter}.",
            letter,
        )
    )
    return Question(
        f"Imagine standing at the {anchor.name} and facing the {facing.name}. Where is the "
        f"{other.name}?",
        "multiple choice",
        letter,
        options,
        tuple(replies),
        {
            "anchor": anchor.name,
            "facing": facing.name,
            "other": other.name,
            "angle_deg": round(angle, 2),
            "reflective": reflective,
        },
    )
