"""ASCII mazes for fixtures and debugging: '#' walls, ' ' open, 'S' start, 'G' goal, '.' route."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
from drawreason.generators.maze.grid import Cell, grid_cells


@dataclass(frozen=True)
class AsciiMaze:
    """A maze read from text: the passage graph, its side, and the marked start and goal."""

    tree: nx.Graph
    grid_size: int
    start: Cell | None
    goal: Cell | None
    route: frozenset[Cell]


def maze_to_ascii(
    tree: nx.Graph,
    g: int,
    start: Cell | None = None,
    goal: Cell | None = None,
    route: Iterable[Cell] = (),
) -> str:
    """A (2g+1) x (2g+1) character picture: cell (i, j) sits at text row 2i+1, column 2j+1."""
    rows = [["#"] * (2 * g + 1) for _ in range(2 * g + 1)]
    for cell in route:
        rows[2 * cell[0] + 1][2 * cell[1] + 1] = "."
    for i, j in grid_cells(g):
        if rows[2 * i + 1][2 * j + 1] == "#":
            rows[2 * i + 1][2 * j + 1] = " "
    for (i, j), (k, m) in tree.edges:
        rows[i + k + 1][j + m + 1] = " "
    if start is not None:
        rows[2 * start[0] + 1][2 * start[1] + 1] = "S"
    if goal is not None:
        rows[2 * goal[0] + 1][2 * goal[1] + 1] = "G"
    return "\n".join("".join(r) for r in rows)


def maze_from_ascii(text: str) -> AsciiMaze:
    """Reads `maze_to_ascii` output (surrounding blank lines ignored).

    Raises ValueError if the picture is not square with an odd side, a wall corner is open,
    or the border is not closed.
    """
    lines = [line for line in text.strip("\n").splitlines()]
    size = len(lines)
    if size < 3 or size % 2 == 0 or any(len(line) != size for line in lines):
        raise ValueError(f"an ASCII maze must be an odd square of side >= 3, got {size} lines")
    g = (size - 1) // 2
    for r in range(size):
        for c in range(size):
            border = r in (0, size - 1) or c in (0, size - 1)
            corner = r % 2 == 0 and c % 2 == 0
            if (border or corner) and lines[r][c] != "#":
                raise ValueError(f"ASCII maze: expected '#' at line {r + 1}, column {c + 1}")
    tree = nx.Graph()
    tree.add_nodes_from(grid_cells(g))
    start = goal = None
    route = set()
    for i, j in grid_cells(g):
        mark = lines[2 * i + 1][2 * j + 1]
        if mark == "S":
            start = (i, j)
        elif mark == "G":
            goal = (i, j)
        elif mark == ".":
            route.add((i, j))
        if j + 1 < g and lines[2 * i + 1][2 * j + 2] != "#":
            tree.add_edge((i, j), (i, j + 1))
        if i + 1 < g and lines[2 * i + 2][2 * j + 1] != "#":
            tree.add_edge((i, j), (i + 1, j))
    return AsciiMaze(tree, g, start, goal, frozenset(route))
