"""What every scene family shares: the question record, visibility, boxes, staged mistakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from drawreason.drawing.format import format_tool_turn
from drawreason.generators.phrasing import names, say
from drawreason.generators.scenes import phrasing as P
from drawreason.generators.scenes.answerable import confusable, legible_order
from drawreason.generators.scenes.question import NoQuestion, Question
from drawreason.generators.scenes.trace import Phase
from drawreason.generators.scenes.world import Camera, SceneObject, box_2d
from drawreason.schemas.records import BoxOp

__all__ = ["NoQuestion", "Question"]

LETTERS = "ABCD"


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


def _bases_in_sight(
    named: Sequence[SceneObject],
    boxes: dict[str, tuple[float, ...]],
    objects: Sequence[SceneObject],
    camera: Camera,
) -> None:
    """NoQuestion when a line would end where a named object stands but a nearer object covers
    that point (the line would seem to end on the nearer one)."""
    eye = np.array(camera.eye)
    dist = {o.name: float(np.linalg.norm(np.array(o.center) - eye)) for o in objects}
    found = {o.name: b for o in objects if (b := box_2d(o, camera)) is not None}
    for obj in named:
        u, v = _base(boxes[obj.name])
        for name, b in found.items():
            if name != obj.name and dist[name] < dist[obj.name]:
                if b[0] + 3 < u < b[2] - 3 and b[1] + 3 < v < b[3] - 3:
                    raise NoQuestion(f"where the {obj.name} stands is hidden by the {name}")


def _box_turn(
    text: str, ops: Sequence[BoxOp], objects: Sequence[SceneObject], camera: Camera
) -> str:
    """A tool turn boxing on a clean image, its boxes in an order whose label tags contrast with
    what they sit on (drawing colours boxes by position); NoQuestion if no order does."""
    ordered = legible_order(ops, objects, camera)
    if ordered is None:
        raise NoQuestion("a label tag would sit on an object of its own colour")
    return format_tool_turn(text, ordered)


def _named_clearly(named: Sequence[SceneObject], objects: Sequence[SceneObject]) -> None:
    """NoQuestion when another object looks like one the question names (answerable.py)."""
    if confusable(named, objects):
        raise NoQuestion(f"{confusable(named, objects)} could be taken for another object")


def _mistake(rng: np.random.Generator, reflective: bool, kinds: Sequence[str]) -> str | None:
    """Which staged mistake a reflective trace makes (None for the others or if none fits)."""
    if not reflective or not kinds:
        return None
    return kinds[int(rng.integers(len(kinds)))]


def _wrong_box(op: BoxOp, box: tuple) -> BoxOp:
    return BoxOp(op.index, box, op.label)


def _box_notice(rng: np.random.Generator, label: str, wrong: str) -> Callable[[int, int], str]:
    """The notice of a wrong box, its wording drawn now (so the rng order is fixed)."""
    seen, fix = rng.integers(len(P.NOTICE_BOX)), rng.integers(len(P.REDRAW))

    def notice(img: int, before: int) -> str:
        return (
            P.NOTICE_BOX[int(seen)].format(img=img, label=label, wrong=wrong)
            + " "
            + P.REDRAW[int(fix)].format(before=before)
        )

    return notice


def _line_notice(
    rng: np.random.Generator, label: str, wrong: str | None, target: str
) -> Callable[[int, int], str]:
    """The notice of a line ending on `wrong` (or pointing the wrong way for None)."""
    if wrong is None:
        pool = P.NOTICE_LINE_SIDE
    else:
        pool = P.NOTICE_LINE_ON if label.endswith(" height") else P.NOTICE_LINE_END
    seen, fix = rng.integers(len(pool)), rng.integers(len(P.REDRAW))

    def notice(img: int, before: int) -> str:
        text = pool[int(seen)].format(img=img, label=label, wrong=wrong, target=target)
        return text + " " + P.REDRAW[int(fix)].format(before=before)

    return notice


def box_phase(rng: np.random.Generator, ops: Sequence[BoxOp], prefix: str = "") -> Phase:
    """The boxing phase of `ops` (in their drawing order), with `prefix` before its first
    turn's words, drawn together or one box per turn."""
    lead = f"{prefix} " if prefix else ""
    labels = [op.label for op in ops]
    singles = [lead + say(rng, P.BOX_ONE_FIRST, a=labels[0])]
    singles += [say(rng, P.BOX_ONE_NEXT, a=a) for a in labels[1:]]
    together = lead + say(rng, P.BOX_MANY, names=names(labels))
    return Phase(tuple(ops), together, tuple(singles))


def legible(ops: Sequence[BoxOp], objects: Sequence[SceneObject], camera: Camera) -> list[BoxOp]:
    """`ops` in a drawing order whose label tags contrast with what they sit on."""
    ordered = legible_order(ops, objects, camera)
    if ordered is None:
        raise NoQuestion("a label tag would sit on an object of its own colour")
    return ordered
