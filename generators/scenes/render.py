"""Renders a scene through a camera with PIL: floor grid, shaded objects in depth order."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from drawreason.generators.scenes.world import COLORS, Camera, SceneObject
from PIL import Image, ImageDraw

SKY = (222, 228, 236)
FLOOR = (196, 186, 168)
GRID = (170, 160, 142)
FLOOR_HALF = 140.0  # cm: the floor square's half side
GRID_STEP = 35.0


def _hull(uv: np.ndarray) -> list[tuple[float, float]]:
    hull = cv2.convexHull(uv.astype(np.float32)).reshape(-1, 2)
    return [(float(u), float(v)) for u, v in hull]


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, round(c * factor))) for c in color)  # type: ignore[return-value]


FLOOR_PALETTES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((196, 186, 168), (176, 164, 144)),  # sand tiles
    ((170, 128, 90), (140, 100, 66)),  # wood
    ((178, 180, 184), (140, 142, 148)),  # stone
    ((200, 200, 196), (120, 124, 128)),  # chequered
    ((150, 168, 136), (126, 144, 112)),  # moss
)
TILES = round(2 * FLOOR_HALF / GRID_STEP)


def floor_texture(rng: np.random.Generator) -> tuple[tuple[int, int, int], ...]:
    """Colours of the floor's TILES x TILES tiles (row-major): a palette from `rng`, a
    chequer or per-tile variation, so each seed has its own floor and the same one every time."""
    light, dark = FLOOR_PALETTES[int(rng.integers(len(FLOOR_PALETTES)))]
    chequer = bool(rng.random() < 0.5)
    noise = rng.uniform(-0.06, 0.06, size=TILES * TILES)
    tiles = []
    for k in range(TILES * TILES):
        row, col = divmod(k, TILES)
        base = dark if chequer and (row + col) % 2 else light
        tiles.append(_shade(base, 1.0 + float(noise[k])))
    return tuple(tiles)


def render_scene(
    objects: Sequence[SceneObject],
    camera: Camera,
    floor: Sequence[tuple[int, int, int]] | None = None,
) -> Image.Image:
    """An RGB image of the scene as seen by `camera`; `floor` gives tile colours
    (floor_texture), else the plain floor."""
    size = camera.size
    image = Image.new("RGB", (size, size), SKY)
    draw = ImageDraw.Draw(image)
    h = FLOOR_HALF
    corners = np.array([(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], dtype=float)
    uv, _ = camera.project(corners)
    draw.polygon([tuple(p) for p in uv], fill=FLOOR)
    if floor is not None:
        for k, color in enumerate(floor):
            row, col = divmod(k, TILES)
            x0, y0 = -h + col * GRID_STEP, -h + row * GRID_STEP
            tile = np.array(
                [
                    (x0, y0, 0),
                    (x0 + GRID_STEP, y0, 0),
                    (x0 + GRID_STEP, y0 + GRID_STEP, 0),
                    (x0, y0 + GRID_STEP, 0),
                ],
                dtype=float,
            )
            tuv, _ = camera.project(tile)
            draw.polygon([tuple(p) for p in tuv], fill=color)
    for t in np.arange(-h, h + 1e-6, GRID_STEP):
        for a, b in (((t, -h, 0), (t, h, 0)), ((-h, t, 0), (h, t, 0))):
            (p, q), _ = camera.project(np.array([a, b], dtype=float))
            draw.line((*p, *q), fill=GRID, width=1)
    eye = np.array(camera.eye)
    order = sorted(objects, key=lambda o: -float(np.linalg.norm(np.array(o.center) - eye)))
    for obj in order:
        color = COLORS[obj.color]
        # A soft contact shadow grounds the object on the floor.
        shadow, _ = camera.project(
            np.array(
                [
                    (obj.x + dx * obj.width * 0.6, obj.y + dy * obj.depth * 0.6, 0.0)
                    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
                ]
            )
        )
        draw.polygon(_hull(shadow), fill=_shade(floor[0] if floor else FLOOR, 0.8))
        uv, _ = camera.project(obj.points())
        outline = _hull(uv)
        draw.polygon(outline, fill=_shade(color, 0.78), outline=_shade(color, 0.45))
        top = obj.top()
        if top is not None:
            tuv, _ = camera.project(top)
            draw.polygon(_hull(tuv), fill=_shade(color, 1.12), outline=_shade(color, 0.45))
        elif obj.shape == "ball":
            cu, cv = camera.project(np.array([obj.center]))[0][0]
            r = (max(p[0] for p in outline) - min(p[0] for p in outline)) / 5
            draw.ellipse(
                (cu - r * 1.6, cv - r * 1.8, cu - r * 0.2, cv - r * 0.4), fill=_shade(color, 1.2)
            )
    return image
