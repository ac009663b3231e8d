"""Solving a perfect maze: the unique route, its straight runs, endpoints and dead-end branches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from drawreason.generators.maze.grid import Cell

DIRECTIONS: dict[str, tuple[int, int]] = {
    "up": (-1, 0),
    "down": (1, 0),
    "left": (0, -1),
    "right": (0, 1),
}
OPPOSITE: dict[str, str] = {"up": "down", "down": "up", "left": "right", "right": "left"}
_BY_DELTA = {delta: name for name, delta in DIRECTIONS.items()}


@dataclass(frozen=True)
class Run:
    """A straight run of `count` moves in `direction` (up, down, left, right)."""

    direction: str
    count: int


@dataclass(frozen=True)
class SideBranch:
    """A passage leaving the route at the first cell of run `run_index` that is not the route.

    `end` is where a straight walk along it stops; `leaf` says whether that is a dead end.
    """

    run_index: int
    junction: Cell
    direction: str
    count: int
    end: Cell
    leaf: bool


@dataclass(frozen=True)
class WallCrossing:
    """Run `run_index` drawn one move too far: from its first cell `junction` `count` moves in
    `direction` to `end`, the last move through the wall after the run's last cell `through`."""

    run_index: int
    junction: Cell
    direction: str
    count: int
    end: Cell
    through: Cell


def step(cell: Cell, direction: str) -> Cell:
    di, dj = DIRECTIONS[direction]
    return (cell[0] + di, cell[1] + dj)


def solve_maze(tree: nx.Graph, start: Cell, goal: Cell) -> list[Cell]:
    """The shortest (in a perfect maze, the only) route from start to goal, both included.

    Raises ValueError if start or goal is not a cell of the maze or no route exists.
    """
    for name, cell in (("start", start), ("goal", goal)):
        if cell not in tree:
            raise ValueError(f"{name} {cell} is not a cell of the maze")
    try:
        return list(nx.shortest_path(tree, start, goal))
    except nx.NetworkXNoPath:
        raise ValueError(f"no route from {start} to {goal}") from None


def move_direction(a: Cell, b: Cell) -> str:
    """The direction of the single move from cell a to the adjacent cell b."""
    delta = (b[0] - a[0], b[1] - a[1])
    if delta not in _BY_DELTA:
        raise ValueError(f"cells {a} and {b} are not adjacent")
    return _BY_DELTA[delta]


def path_runs(path: Sequence[Cell]) -> list[Run]:
    """The route compressed into straight runs."""
    runs: list[Run] = []
    for a, b in zip(path[:-1], path[1:], strict=True):
        d = move_direction(a, b)
        if runs and runs[-1].direction == d:
            runs[-1] = Run(d, runs[-1].count + 1)
        else:
            runs.append(Run(d, 1))
    return runs


def run_spans(path: Sequence[Cell]) -> list[tuple[Cell, Cell]]:
    """The (first cell, last cell) of each straight run of the route."""
    spans: list[tuple[Cell, Cell]] = []
    pos = 0
    for run in path_runs(path):
        spans.append((path[pos], path[pos + run.count]))
        pos += run.count
    return spans


def count_turns(runs: Sequence[Run]) -> int:
    """How many times a route of straight runs changes direction."""
    return max(len(runs) - 1, 0)


def normalize_runs(runs: Sequence[Run]) -> list[Run]:
    """Drops empty runs and merges consecutive runs of the same direction."""
    out: list[Run] = []
    for run in runs:
        if run.count <= 0:
            continue
        if out and out[-1].direction == run.direction:
            out[-1] = Run(run.direction, out[-1].count + run.count)
        else:
            out.append(run)
    return out


def follow_route(tree: nx.Graph, start: Cell, runs: Sequence[Run]) -> Cell | None:
    """The cell a route of runs ends at, or None if it crosses a wall or leaves the maze."""
    cur = start
    for run in runs:
        for _ in range(run.count):
            nxt = step(cur, run.direction)
            if not tree.has_edge(cur, nxt):
                return None
            cur = nxt
    return cur


def route_reaches(tree: nx.Graph, start: Cell, goal: Cell, runs: Sequence[Run]) -> bool:
    """True iff the route stays in open passages and ends at the goal."""
    return follow_route(tree, start, runs) == goal


def farthest_pair(tree: nx.Graph) -> tuple[Cell, Cell]:
    """The two ends of a longest route in the tree (double sweep, ties to the smallest cell)."""

    def farthest(src: Cell) -> Cell:
        dist = nx.single_source_shortest_path_length(tree, src)
        return min(dist, key=lambda c: (-dist[c], c))

    a = farthest(min(tree.nodes))
    return a, farthest(a)


def choose_endpoints(
    tree: nx.Graph,
    rng: np.random.Generator,
    min_moves: int,
    min_runs: int = 1,
    accept: Callable[[list[Cell]], bool] | None = None,
    attempts: int = 64,
) -> tuple[Cell, Cell, list[Cell]] | None:
    """Random (start, goal, route) with >= min_moves moves and >= min_runs runs, or None.

    `accept` is an extra condition on the route. Only random distinct pairs are tried;
    callers fall back to `farthest_pair` when this gives up.
    """
    cells = sorted(tree.nodes)
    for _ in range(attempts):
        a, b = (int(k) for k in rng.choice(len(cells), size=2, replace=False))
        path = solve_maze(tree, cells[a], cells[b])
        if len(path) - 1 < min_moves or len(path_runs(path)) < min_runs:
            continue
        if accept is not None and not accept(path):
            continue
        return cells[a], cells[b], path
    return None


def side_branches(tree: nx.Graph, path: Sequence[Cell]) -> list[SideBranch]:
    """Every passage off the route at the first cell of a run (where a wrong turn is natural)."""
    on_route = set(path)
    out: list[SideBranch] = []
    pos = 0
    for k, run in enumerate(path_runs(path)):
        junction = path[pos]
        for nb in sorted(tree[junction]):
            if nb in on_route:
                continue
            d = move_direction(junction, nb)
            end, count = junction, 0
            while tree.has_edge(end, step(end, d)):
                end, count = step(end, d), count + 1
            out.append(SideBranch(k, junction, d, count, end, tree.degree(end) == 1))
        pos += run.count
    return out


def wall_crossings(tree: nx.Graph, path: Sequence[Cell], grid_size: int) -> list[WallCrossing]:
    """Every run of the route whose straight continuation past its last cell is a cell of the
    maze behind a wall (an overshoot there crosses the wall)."""
    out: list[WallCrossing] = []
    pos = 0
    for k, run in enumerate(path_runs(path)):
        first, last = path[pos], path[pos + run.count]
        beyond = step(last, run.direction)
        inside = 0 <= beyond[0] < grid_size and 0 <= beyond[1] < grid_size
        if inside and not tree.has_edge(last, beyond):
            out.append(WallCrossing(k, first, run.direction, run.count + 1, beyond, last))
        pos += run.count
    return out


def dead_ends(tree: nx.Graph) -> list[Cell]:
    """Cells with a single open neighbour, sorted."""
    return sorted(c for c in tree.nodes if tree.degree(c) == 1)
