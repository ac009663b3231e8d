"""What a person can read off the pixels: objects the words tell apart, lines that stay visible,
labels that contrast with what they sit on, 2-D angles that agree with the 3-D floor."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from drawreason.drawing.render import RenderStyle
from drawreason.generators.scenes.world import COLORS, Camera, SceneObject
from drawreason.schemas.records import BoxOp
from PIL import ImageFont

MIN_BOX_ASPECT = 1.4  # a "box" is this much longer on its longest side than its shortest
CLASH_RGB = 90.0  # box colours nearer than this (RGB distance) to an object colour clash
TAG_COVER = 0.25  # a label tag is illegible when this share of it lies on a clashing object
MIN_LINE_ANGLE_DEG = 8.0  # two lines from one point closer than this overlap when drawn
MIN_LINE_OFFSET_PX = 12.0  # ... unless the shorter one's end is this far from the longer one


def aspect(obj: SceneObject) -> float:
    sides = (obj.width, obj.depth, obj.height)
    return max(sides) / max(min(sides), 1e-6)


def looks_alike(a: SceneObject, b: SceneObject) -> bool:
    """Whether a reader could take one object for the other from its name: same colour, one a
    cube and the other a box that is not clearly longer than it is wide or tall."""
    if a.color != b.color or {a.shape, b.shape} != {"cube", "box"}:
        return False
    box = a if a.shape == "box" else b
    return aspect(box) < MIN_BOX_ASPECT


def confusable(named: Sequence[SceneObject], objects: Sequence[SceneObject]) -> list[str]:
    """Names among `named` that another object of the scene looks like ([] when every named
    object is told apart by its words)."""
    return sorted(
        {n.name for n in named for o in objects if o.name != n.name and looks_alike(n, o)}
    )


@lru_cache(maxsize=256)
def _tag_size(label: str) -> tuple[int, int]:
    style = RenderStyle()
    font = ImageFont.load_default(size=style.font_size)
    _, _, w, h = font.getbbox(label)
    return int(w) + 4, int(h) + 3


def _clashes(box_rgb: tuple[int, int, int], color: str) -> bool:
    return math.dist(box_rgb, COLORS[color]) < CLASH_RGB


def tag_cover(box: BoxOp, slot: int, objects: Sequence[SceneObject], camera: Camera) -> float:
    """The largest share of `box`'s label tag (drawn in the colour of position `slot`, at the
    box's top-left corner, as drawing.render draws it) lying on an object of a clashing colour."""
    style = RenderStyle()
    rgb = style.box_colors[slot % len(style.box_colors)]
    w, h = _tag_size(box.label)
    x0, y0 = box.bbox_2d[0] + style.box_width, box.bbox_2d[1] + style.box_width
    grid = [(x0 + w * (i + 0.5) / 6, y0 + h * (j + 0.5) / 3) for i in range(6) for j in range(3)]
    worst = 0.0
    for obj in objects:
        if not _clashes(rgb, obj.color):
            continue
        uv, depth = camera.project(obj.points())
        if (depth <= 1.0).any():
            continue
        hull = cv2.convexHull(uv.astype(np.float32))
        inside = sum(cv2.pointPolygonTest(hull, p, False) >= 0 for p in grid)
        worst = max(worst, inside / len(grid))
    return worst


def legible_order(
    ops: Sequence[BoxOp], objects: Sequence[SceneObject], camera: Camera
) -> list[BoxOp] | None:
    """`ops` (boxes drawn on a clean image, colours by position) in the first order in which no
    label tag lies on an object of its own colour, or None if there is none."""
    for perm in itertools.permutations(ops):
        if all(tag_cover(op, i, objects, camera) < TAG_COVER for i, op in enumerate(perm)):
            return list(perm)
    return None


def hidden_lines(start: tuple[int, int], ends: Sequence[tuple[int, int]]) -> list[int]:
    """Indices of lines from `start` to `ends` that a longer line from `start` covers: nearly
    the same direction and the shorter one's end within a line width of the longer one."""
    hidden = []
    for i, a in enumerate(ends):
        va = np.subtract(a, start).astype(float)
        la = float(np.hypot(*va))
        for j, b in enumerate(ends):
            vb = np.subtract(b, start).astype(float)
            lb = float(np.hypot(*vb))
            if i == j or lb <= la or la == 0:
                continue
            cos = float(va @ vb) / (la * lb)
            angle = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
            offset = abs(float(va[0] * vb[1] - va[1] * vb[0])) / lb
            if angle < MIN_LINE_ANGLE_DEG or offset < MIN_LINE_OFFSET_PX:
                hidden.append(i)
                break
    return hidden


def image_angle(
    start: tuple[float, float], facing: tuple[float, float], other: tuple[float, float]
) -> float:
    """Angle in degrees from the drawn facing line to the drawn line to `other`, as the image
    shows it (0 = straight along the facing line, positive = to the left of a person walking
    along it up the image; image y points down)."""
    fx, fy = facing[0] - start[0], -(facing[1] - start[1])
    ox, oy = other[0] - start[0], -(other[1] - start[1])
    return math.degrees(math.atan2(fx * oy - fy * ox, fx * ox + fy * oy))
