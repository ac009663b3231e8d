"""Per-image state (docs/protocol.md): boxes and lines keyed by label, replaced or appended."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drawreason.schemas.records import BoxOp, LineOp, Operation


@dataclass(frozen=True)
class ImageState:
    """What is drawn on an image: boxes (colour by position) and lines, each keyed by label."""

    boxes: tuple[BoxOp, ...] = ()
    lines: tuple[LineOp, ...] = ()


def normalize_box(op: BoxOp) -> BoxOp:
    """The same box with corners ordered (x1 <= x2, y1 <= y2)."""
    x1, y1, x2, y2 = op.bbox_2d
    return BoxOp(op.index, (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), op.label)


def merge_state(state: ImageState, ops: Iterable[Operation]) -> ImageState:
    """Apply operations in order.

    Boxes and lines are keyed by label separately: a label that exists in the same list is
    replaced in place (a box keeps its colour), a new label is appended. A box and a line may
    share a label and both stay drawn, as in the reference environment, so drawing a line never
    shifts the colours of the boxes after it.
    """
    boxes = list(state.boxes)
    lines = list(state.lines)
    for op in ops:
        if isinstance(op, BoxOp):
            same, new = boxes, normalize_box(op)
        elif isinstance(op, LineOp):
            same, new = lines, op
        else:
            raise TypeError(f"not an operation: {type(op).__name__}")
        for i, element in enumerate(same):
            if element.label == new.label:
                same[i] = new
                break
        else:
            same.append(new)
    return ImageState(tuple(boxes), tuple(lines))
