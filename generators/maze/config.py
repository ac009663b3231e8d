"""MazeConfig: grid sizes, image size, algorithms, question mix and trace settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from drawreason.generators.maze.grid import ALGORITHMS

QUESTION_KINDS: tuple[str, ...] = ("route", "moves", "turns")
MISTAKE_KINDS: tuple[str, ...] = ("wrong_turn", "through_wall")
TRACE_GRANULARITIES: tuple[str, ...] = ("segment", "junction", "route")
_MIN_CELL_PX = 8  # below this a cell's walls and marker no longer read clearly


@dataclass(frozen=True)
class MazeConfig:
    """Configuration of the maze generator (every field can be set from a config file).

    The start-goal route has at least max(min_path_cells, ceil(min_path_fraction * g)) moves
    and min_route_runs straight runs when the maze allows it (else the maze's longest route).
    """

    grid_sizes: tuple[int, ...] = (3, 4, 5, 6, 7, 8)
    image_size: int = 448  # a multiple of 28, so Qwen-style processors keep it unchanged
    algorithms: tuple[str, ...] = ("dfs", "kruskal", "wilson", "prim")
    min_path_cells: int = 2
    min_path_fraction: float = 1.0
    min_route_runs: int = 2
    question_mix: tuple[tuple[str, float], ...] = (("route", 0.5), ("moves", 0.25), ("turns", 0.25))
    reflective_share: float = 0.2
    # Of the reflective mazes, which mistake is staged: a wrong turn into a side branch, or a
    # segment drawn one move on through the wall at its end. A kind the maze cannot take falls
    # back to the other.
    mistake_mix: tuple[tuple[str, float], ...] = (("wrong_turn", 0.5), ("through_wall", 0.5))
    num_options: int = 4
    max_calls: int = 20
    # "segment": one straight run per Path Tracer turn; "junction": every run up to the next
    # cell with a choice of way (a corner is no choice) in one turn, when the budget allows;
    # "route": the whole route in one turn, then the answer turn checks the drawing first.
    trace_granularity: str = "segment"

    def __post_init__(self) -> None:
        if self.image_size < 56 or self.image_size % 28:
            raise ValueError(
                f"image_size must be a multiple of 28 and >= 56, got {self.image_size}"
            )
        if not self.grid_sizes:
            raise ValueError("grid_sizes must not be empty")
        largest = int(0.77 * self.image_size / _MIN_CELL_PX)
        for g in self.grid_sizes:
            if not 2 <= g <= largest:
                raise ValueError(
                    f"grid_sizes: {g} is outside [2, {largest}] for image_size {self.image_size}"
                )
        if not self.algorithms:
            raise ValueError("algorithms must not be empty")
        for name in self.algorithms:
            if name not in ALGORITHMS:
                raise ValueError(f"algorithms: unknown {name!r}; known: {sorted(ALGORITHMS)}")
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError(f"algorithms has duplicates: {self.algorithms}")
        if self.min_path_cells < 1:
            raise ValueError(f"min_path_cells must be >= 1, got {self.min_path_cells}")
        if not 0.0 <= self.min_path_fraction <= 4.0:
            raise ValueError(f"min_path_fraction must be in [0, 4], got {self.min_path_fraction}")
        if self.min_route_runs < 1:
            raise ValueError(f"min_route_runs must be >= 1, got {self.min_route_runs}")
        _check_mix("question_mix", self.question_mix, QUESTION_KINDS)
        if not 0.0 <= self.reflective_share <= 1.0:
            raise ValueError(f"reflective_share must be in [0, 1], got {self.reflective_share}")
        _check_mix("mistake_mix", self.mistake_mix, MISTAKE_KINDS)
        if not 2 <= self.num_options <= 26:
            raise ValueError(f"num_options must be in [2, 26], got {self.num_options}")
        if self.max_calls < 2:
            raise ValueError(
                f"max_calls must be >= 2 (one drawing and the answer), got {self.max_calls}"
            )

        if self.trace_granularity not in TRACE_GRANULARITIES:
            raise ValueError(
                f"trace_granularity must be one of {TRACE_GRANULARITIES}, "
                f"got {self.trace_granularity!r}"
            )

    def min_moves(self, g: int) -> int:
        """The shortest start-goal route wanted on a g x g maze, in moves."""
        return max(self.min_path_cells, math.ceil(self.min_path_fraction * g - 1e-9))


def _check_mix(key: str, mix: tuple[tuple[str, float], ...], known: tuple[str, ...]) -> None:
    """Distinct known kinds with weights >= 0 and a positive sum, else ValueError."""
    names = [name for name, _ in mix]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{key} needs distinct kinds, got {names}")
    for name, weight in mix:
        if name not in known:
            raise ValueError(f"{key}: unknown kind {name!r}; known: {known}")
        if not weight >= 0:
            raise ValueError(f"{key}: weight of {name!r} must be >= 0, got {weight}")
    if not sum(w for _, w in mix) > 0:
        raise ValueError(f"{key}: weights must have a positive sum")
