"""Maze questions: which route reaches the goal (multiple choice), how many moves, turns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from drawreason.generators.maze.grid import Cell
from drawreason.generators.maze.solve import (
    DIRECTIONS,
    OPPOSITE,
    Run,
    count_turns,
    dead_ends,
    follow_route,
    normalize_runs,
    path_runs,
)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PERPENDICULAR = {
    "up": ("left", "right"),
    "down": ("left", "right"),
    "left": ("up", "down"),
    "right": ("up", "down"),
}
_RUN_TEXT = re.compile(r"^\s*(up|down|left|right)\s+(\d+)\s*$")

_INTRO = (
    "The image shows a {g}x{g} maze. The green square marks the start and the red square marks "
    "the goal. Black lines are walls. A move goes from a cell to an adjacent cell (up, down, "
    "left or right) that is not separated from it by a wall."
)
_ASK = {
    "route": (
        " Which move sequence leads from the start to the goal? Each step of a sequence is a "
        "direction and the number of cells moved in that direction."
    ),
    "moves": " How many moves does the shortest route from the start to the goal take?",
    "turns": (
        " How many times does the shortest route from the start to the goal change direction?"
    ),
}


@dataclass(frozen=True)
class MazeQuestion:
    """A question about one maze with its ground truth; `correct` is the option index for MC."""

    kind: str
    question: str
    question_type: str
    answer: str
    options: tuple[str, ...] = ()
    correct: int | None = None


def format_route(runs: Sequence[Run]) -> str:
    """'down 2, right 1, up 1'."""
    return ", ".join(f"{r.direction} {r.count}" for r in runs)


def parse_route(text: str) -> list[Run]:
    """The runs of a `format_route` string; raises ValueError on anything else."""
    runs = []
    for part in text.split(","):
        match = _RUN_TEXT.match(part)
        if not match or int(match.group(2)) < 1:
            raise ValueError(f"not a route step: {part!r} in {text!r}")
        runs.append(Run(match.group(1), int(match.group(2))))
    return runs


def _backtracks(runs: Sequence[Run]) -> bool:
    """True iff a run immediately reverses the previous one (an obviously silly route)."""
    return any(
        OPPOSITE[a.direction] == b.direction for a, b in zip(runs[:-1], runs[1:], strict=True)
    )


def _candidates(tree: nx.Graph, start: Cell, goal: Cell, runs: list[Run]) -> list[list[list[Run]]]:
    """Wrong-but-plausible routes grouped by kind of mistake (unverified)."""
    n = len(runs)
    miscount, turned, reordered, dead_end, other = [], [], [], [], []
    for k, run in enumerate(runs):
        for delta in (1, -1, 2):
            changed = runs[:k] + [Run(run.direction, run.count + delta)] + runs[k + 1 :]
            miscount.append(changed)
        for d in (OPPOSITE[run.direction], *_PERPENDICULAR[run.direction]):
            turned.append(runs[:k] + [Run(d, run.count)] + runs[k + 1 :])
        if k + 1 < n:
            reordered.append(runs[:k] + [runs[k + 1], run] + runs[k + 2 :])
    length = sum(r.count for r in runs)
    paths = nx.single_source_shortest_path(tree, start)
    routes = [path_runs(paths[c]) for c in dead_ends(tree) if c not in (start, goal)]
    routes.sort(key=lambda r: (abs(sum(x.count for x in r) - length), format_route(r)))
    dead_end.extend(routes[:4])
    other.append([Run(OPPOSITE[r.direction], r.count) for r in reversed(runs)])
    di, dj = goal[0] - start[0], goal[1] - start[1]
    vertical = Run("down" if di > 0 else "up", abs(di))
    horizontal = Run("right" if dj > 0 else "left", abs(dj))
    other.extend([[vertical, horizontal], [horizontal, vertical]])  # straight through walls
    if n >= 2:
        other.append(runs[:-1])
    return [miscount, turned, reordered, dead_end, other]


def route_distractors(
    tree: nx.Graph,
    start: Cell,
    goal: Cell,
    path: Sequence[Cell],
    rng: np.random.Generator,
    count: int,
) -> list[str]:
    """`count` distinct route strings that do not lead from start to goal, none the answer.

    Mistakes of different kinds are mixed (a run miscounted, a run turned the wrong way, two
    runs swapped, the route into a dead end, the reversed route, a route through walls);
    each candidate is checked by walking it through the maze.
    """
    correct = format_route(path_runs(path))
    chosen: list[str] = []
    seen = {correct}

    def take(runs: Sequence[Run], allow_backtrack: bool = False) -> bool:
        runs = normalize_runs(runs)
        text = format_route(runs)
        if not runs or text in seen or follow_route(tree, start, runs) == goal:
            return False
        if not allow_backtrack and _backtracks(runs):
            return False
        seen.add(text)
        chosen.append(text)
        return True

    groups = [g for g in _candidates(tree, start, goal, path_runs(path)) if g]
    order = [groups[int(k)] for k in rng.permutation(len(groups))]
    while len(chosen) < count and any(order):
        for group in order:
            while group and len(chosen) < count:
                if take(group.pop(int(rng.integers(len(group))))):
                    break
    # Tiny mazes can run out of natural mistakes: walk past the goal (never a valid route).
    runs = path_runs(path)
    extra = 1
    while len(chosen) < count:
        for d in sorted(DIRECTIONS):
            if len(chosen) < count:
                take(runs + [Run(d, extra)], allow_backtrack=True)
        extra += 1
    return chosen


def build_question(
    kind: str,
    tree: nx.Graph,
    g: int,
    start: Cell,
    goal: Cell,
    path: Sequence[Cell],
    rng: np.random.Generator,
    num_options: int = 4,
) -> MazeQuestion:
    """The question of `kind` ('route', 'moves' or 'turns') with its answer from the solver."""
    if kind not in _ASK:
        raise ValueError(f"unknown maze question kind {kind!r}; known: {sorted(_ASK)}")
    text = _INTRO.format(g=g) + _ASK[kind]
    runs = path_runs(path)
    if kind == "moves":
        return MazeQuestion(kind, text, "numerical", str(len(path) - 1))
    if kind == "turns":
        return MazeQuestion(kind, text, "numerical", str(count_turns(runs)))
    options = route_distractors(tree, start, goal, path, rng, num_options - 1)
    correct = int(rng.integers(num_options))
    options.insert(correct, format_route(runs))
    return MazeQuestion(kind, text, "multiple choice", LETTERS[correct], tuple(options), correct)
