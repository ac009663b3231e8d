"""Draws a maze with PIL in the axes area of matplotlib's default subplot margins."""

from __future__ import annotations

import networkx as nx
from drawreason.generators.maze.grid import Cell, grid_edges
from PIL import Image, ImageDraw

# Matplotlib's default subplot parameters, as fractions of the side (image y grows downward).
MARGIN_LEFT = 0.125
MARGIN_RIGHT = 0.10
MARGIN_TOP = 0.12
MARGIN_BOTTOM = 0.11

BACKGROUND = (255, 255, 255)
WALL_COLOR = (0, 0, 0)
START_COLOR = (0, 170, 0)
GOAL_COLOR = (220, 0, 0)
WALL_HALF_WIDTH = 1  # walls are 2 * 1 + 1 = 3 px thick
MARKER_FRACTION = 0.3  # marker half side, as a fraction of the smaller cell side


def axes_box(image_size: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) pixel bounds of the maze area in a square image."""
    s = float(image_size)
    return MARGIN_LEFT * s, MARGIN_TOP * s, (1 - MARGIN_RIGHT) * s, (1 - MARGIN_BOTTOM) * s


def cell_size(grid_size: int, image_size: int) -> tuple[float, float]:
    """(width, height) of one cell in pixels."""
    left, top, right, bottom = axes_box(image_size)
    return (right - left) / grid_size, (bottom - top) / grid_size


def cell_center(i: int, j: int, grid_size: int, image_size: int) -> tuple[float, float]:
    """Pixel (x, y) of the centre of cell (row i, column j), 0-based, unrounded."""
    left, top, _, _ = axes_box(image_size)
    cw, ch = cell_size(grid_size, image_size)
    return left + (j + 0.5) * cw, top + (i + 0.5) * ch


def cell_center_px(cell: Cell, grid_size: int, image_size: int) -> tuple[int, int]:
    """The centre of a cell rounded to integer pixels (what traces draw between)."""
    x, y = cell_center(cell[0], cell[1], grid_size, image_size)
    return int(round(x)), int(round(y))


def wall_segment(a: Cell, b: Cell, grid_size: int, image_size: int) -> tuple[float, ...]:
    """(x0, y0, x1, y1) of the boundary between grid-adjacent cells a and b."""
    (i, j), (k, m) = sorted((a, b))
    left, top, _, _ = axes_box(image_size)
    cw, ch = cell_size(grid_size, image_size)
    if i == k and m == j + 1:  # side by side: a vertical wall
        x = left + (j + 1) * cw
        return x, top + i * ch, x, top + (i + 1) * ch
    if j == m and k == i + 1:  # one above the other: a horizontal wall
        y = top + (i + 1) * ch
        return left + j * cw, y, left + (j + 1) * cw, y
    raise ValueError(f"cells {a} and {b} are not adjacent")


def _bar(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    w = WALL_HALF_WIDTH
    draw.rectangle(
        (
            round(min(x0, x1)) - w,
            round(min(y0, y1)) - w,
            round(max(x0, x1)) + w,
            round(max(y0, y1)) + w,
        ),
        fill=WALL_COLOR,
    )


def render_maze(
    tree: nx.Graph, grid_size: int, start: Cell, goal: Cell, image_size: int = 448
) -> Image.Image:
    """An image of the maze: white cells, 3 px black walls, closed border, start and goal.

    The start is a green filled square, the goal a red one; the solution is not drawn. The
    image is in palette mode: its few exact colours encode to PNG about 5x faster and half
    the size of RGB, and decode to the same RGB pixels (drawing on it keeps the mode).
    """
    image = Image.new("P", (image_size, image_size), 0)
    image.putpalette([*BACKGROUND, *WALL_COLOR, *START_COLOR, *GOAL_COLOR])
    draw = ImageDraw.Draw(image)
    cw, ch = cell_size(grid_size, image_size)
    half = MARKER_FRACTION * min(cw, ch)
    for cell, color in ((start, START_COLOR), (goal, GOAL_COLOR)):
        x, y = cell_center(cell[0], cell[1], grid_size, image_size)
        draw.rectangle(
            (round(x - half), round(y - half), round(x + half), round(y + half)), fill=color
        )
    for a, b in grid_edges(grid_size):
        if not tree.has_edge(a, b):
            _bar(draw, *wall_segment(a, b, grid_size, image_size))
    left, top, right, bottom = axes_box(image_size)
    _bar(draw, left, top, right, top)
    _bar(draw, left, bottom, right, bottom)
    _bar(draw, left, top, left, bottom)
    _bar(draw, right, top, right, bottom)
    return image
