"""maze-dataset's own generate+solve and MazePlot render rates: the baseline of maze_throughput.py.

Runs in a separate environment (benchmarks/requirements-bench.txt: maze-dataset 1.4.2 needs
muutils 0.8.12, which the main environment does not carry):
  python benchmarks/maze_dataset_baseline.py [--json] [--grid-sizes 3,4,5,6,7,8] [--n 60]
"""

from __future__ import annotations

import argparse
import io
import json
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from maze_dataset import LatticeMazeGenerators, SolvedMaze  # noqa: E402
from maze_dataset.plotting import MazePlot  # noqa: E402


def _solved(g: int) -> SolvedMaze:
    maze = LatticeMazeGenerators.gen_dfs(np.array([g, g]))
    path = maze.find_shortest_path((0, 0), (g - 1, g - 1))
    return SolvedMaze.from_lattice_maze(maze, path)


def bench_generate(grid_sizes: list[int], n: int) -> float:
    """Mazes/s: maze-dataset's DFS generator plus its A* solver."""
    np.random.seed(0)
    start = time.perf_counter()
    for i in range(n):
        _solved(grid_sizes[i % len(grid_sizes)])
    return n / (time.perf_counter() - start)


def bench_render(grid_sizes: list[int], n: int) -> tuple[float, float]:
    """(images/s, bytes per image): MazePlot defaults, a solved maze with its path, to PNG."""
    np.random.seed(1)
    mazes = [_solved(grid_sizes[i % len(grid_sizes)]) for i in range(n)]
    total = 0
    start = time.perf_counter()
    for maze in mazes:
        plot = MazePlot(maze).add_true_path(maze.solution).plot()
        buffer = io.BytesIO()
        plot.fig.savefig(buffer, format="png")
        total += buffer.tell()
        plt.close(plot.fig)
    return n / (time.perf_counter() - start), total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grid-sizes", default="3,4,5,6,7,8")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    sizes = [int(s) for s in args.grid_sizes.split(",")]
    generate = bench_generate(sizes, max(args.n, 200))
    render, size = bench_render(sizes, args.n)
    result = {"generate_per_s": generate, "render_per_s": render, "render_bytes": size}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<16}{value:12.1f}")


if __name__ == "__main__":
    main()
