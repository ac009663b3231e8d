"""Maze rendering: matplotlib-margin geometry, walls, open passages, start and goal markers."""

import numpy as np
import pytest
from drawreason.generators.maze.grid import generate_maze, grid_edges
from drawreason.generators.maze.render import (
    GOAL_COLOR,
    START_COLOR,
    cell_center,
    cell_center_px,
    render_maze,
    wall_segment,
)

S = 448


def test_cell_center_exact_values_for_3x3_at_448():
    cw = (0.9 * S - 0.125 * S) / 3  # 115.7333...
    ch = (0.89 * S - 0.12 * S) / 3  # 114.9866...
    assert cell_center(0, 0, 3, S) == pytest.approx((56 + cw / 2, 53.76 + ch / 2))
    assert cell_center(0, 0, 3, S) == pytest.approx((113.866667, 111.253333))
    assert cell_center(1, 1, 3, S) == pytest.approx((229.6, 226.24))
    assert cell_center(2, 2, 3, S) == pytest.approx((345.333333, 341.226667))
    assert cell_center(2, 0, 3, S) == pytest.approx((113.866667, 341.226667))
    assert cell_center_px((2, 0), 3, S) == (114, 341)


@pytest.mark.parametrize("g", [3, 4, 5, 8])
def test_cells_tile_the_axes_area(g):
    cw = 0.775 * S / g
    ch = 0.77 * S / g
    for i in range(g):
        for j in range(g):
            x, y = cell_center(i, j, g, S)
            assert x == pytest.approx(0.125 * S + (j + 0.5) * cw)
            assert y == pytest.approx(0.12 * S + (i + 0.5) * ch)


def _pixel(image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((int(round(x)), int(round(y))))


@pytest.mark.parametrize("algorithm", ["dfs", "kruskal", "wilson", "prim"])
@pytest.mark.parametrize("g", [3, 4, 5])
def test_walls_are_dark_passages_white_markers_coloured(algorithm, g):
    tree = generate_maze(g, algorithm, np.random.default_rng(g))
    start, goal = (0, 0), (g - 1, g - 1)
    image = render_maze(tree, g, start, goal, S)
    assert image.size == (S, S) and image.mode == "P"  # exact palette colours, fast PNG
    image = image.convert("RGB")
    for a, b in grid_edges(g):
        x0, y0, x1, y1 = wall_segment(a, b, g, S)
        mid = _pixel(image, (x0 + x1) / 2, (y0 + y1) / 2)
        if tree.has_edge(a, b):
            assert mid == (255, 255, 255), (a, b)
        else:
            assert max(mid) < 60, (a, b)
    assert _pixel(image, *cell_center(*start, g, S)) == START_COLOR
    assert _pixel(image, *cell_center(*goal, g, S)) == GOAL_COLOR
    # The outer border is closed: midpoints of each cell's outer side are dark.
    for k in range(g):
        x, y = cell_center(k, k, g, S)
        for px, py in ((0.125 * S, y), (0.9 * S, y), (x, 0.12 * S), (x, 0.89 * S)):
            assert max(_pixel(image, px, py)) < 60
    # Outside the axes area stays white.
    assert _pixel(image, 5, 5) == (255, 255, 255)
    assert _pixel(image, S - 5, S - 5) == (255, 255, 255)


def test_solution_is_not_drawn():
    tree = generate_maze(4, "dfs", np.random.default_rng(0))
    image = np.asarray(render_maze(tree, 4, (0, 0), (3, 3), S).convert("RGB"))
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours == {(255, 255, 255), (0, 0, 0), START_COLOR, GOAL_COLOR}
