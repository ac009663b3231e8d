"""maze-dataset's own generate+solve and MazePlot render rates: the baseline of maze_throughput.py.

Runs in a separate environment (benchmarks/requirements-bench.txt: maze-dataset 1.4.2 needs
muutils 0.8.12, which the main environment does not carry), one process, matplotlib's Agg
backend:
  python benchmarks/maze_dataset_baseline.py [--json] [--grid-sizes 3,4,5,6,7,8] [--n 60]
      [--generate-n 200]
Generation is `LatticeMazeGenerators.gen_dfs` plus the A* `find_shortest_path` from corner to
corner; rendering is one `MazePlot` (default dpi) of a solved maze with its path, saved as PNG to
memory, figure closed, mazes made before the clock starts. With --json it prints one JSON line
with generate_per_s, render_per_s, render_bytes (mean PNG bytes per image) and the versions.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from importlib.metadata import version

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from maze_dataset import LatticeMazeGenerators, SolvedMaze  # noqa: E402
from maze_dataset.plotting import MazePlot  # noqa: E402


def solved_maze(grid_size: int) -> SolvedMaze:
    """A DFS maze of grid_size x grid_size cells, solved from (0, 0) to the far corner."""
    maze = LatticeMazeGenerators.gen_dfs(np.array([grid_size, grid_size]))
    path = maze.find_shortest_path((0, 0), (grid_size - 1, grid_size - 1))
    return SolvedMaze.from_lattice_maze(maze, path)


def render_png(maze: SolvedMaze) -> bytes:
    """One MazePlot image of the maze and its solution, as PNG bytes; closes the figure."""
    plot = MazePlot(maze).add_true_path(maze.solution).plot()
    buffer = io.BytesIO()
    try:
        plot.fig.savefig(buffer, format="png")
    finally:
        plt.close(plot.fig)
    return buffer.getvalue()


def bench_generate(grid_sizes: list[int], n: int) -> float:
    """Mazes/s: maze-dataset's DFS generator plus its A* solver, cycling through grid_sizes."""
    np.random.seed(0)  # maze-dataset's generators draw from numpy's global generator
    start = time.perf_counter()
    for i in range(n):
        solved_maze(grid_sizes[i % len(grid_sizes)])
    return n / (time.perf_counter() - start)


def bench_render_stats(grid_sizes: list[int], n: int) -> tuple[float, float]:
    """(images/s, mean PNG bytes per image) for n MazePlot renders, cycling through grid_sizes."""
    np.random.seed(1)
    mazes = [solved_maze(grid_sizes[i % len(grid_sizes)]) for i in range(n)]
    total_bytes = 0
    start = time.perf_counter()
    for maze in mazes:
        total_bytes += len(render_png(maze))
    return n / (time.perf_counter() - start), total_bytes / n


def bench_render(grid_sizes: list[int], n: int) -> float:
    """Images/s: MazePlot of a solved maze with its path, to PNG bytes in memory."""
    return bench_render_stats(grid_sizes, n)[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--grid-sizes", default="3,4,5,6,7,8")
    parser.add_argument("--n", type=int, default=60, help="images to render")
    parser.add_argument("--generate-n", type=int, default=200, help="mazes to generate+solve")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    sizes = [int(s) for s in args.grid_sizes.split(",")]
    generate = bench_generate(sizes, max(args.generate_n, 1))
    render, size = bench_render_stats(sizes, max(args.n, 1))
    result = {
        "generate_per_s": generate,
        "render_per_s": render,
        "render_bytes": size,
        "grid_sizes": sizes,
        "n": args.n,
        "generate_n": args.generate_n,
        "maze_dataset": version("maze-dataset"),
        "matplotlib": version("matplotlib"),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"maze-dataset {result['maze_dataset']}, matplotlib {result['matplotlib']}, grid {sizes}")
    print(f"{'generate+solve, mazes/s':<36}{generate:10.1f}  (n={args.generate_n})")
    print(f"{'MazePlot to PNG, images/s':<36}{render:10.1f}  (n={args.n})")
    print(f"{'PNG bytes per image':<36}{size:10.0f}")


if __name__ == "__main__":
    main()
