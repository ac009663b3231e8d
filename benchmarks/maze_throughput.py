"""Maze throughput: our generate+solve and complete samples against maze-dataset, one run.

Usage:
  python benchmarks/maze_throughput.py [--n 300] [--grid-sizes 3,4,5,6,7,8]
         [--baseline-python /path/to/venv-with-maze-dataset/bin/python]

Prints one table. The maze-dataset figures come from benchmarks/maze_dataset_baseline.py run
with --baseline-python (a venv with benchmarks/requirements-bench.txt); without it, only our
figures are printed. See performance notes: PNG encoding is the floor, so the complete-sample
rate is also reported as a share of the encode-only rate measured on the same images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drawreason.drawing.images import encode_png  # noqa: E402
from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.generators.maze import MazeConfig  # noqa: E402
from drawreason.generators.maze.grid import generate_maze  # noqa: E402
from drawreason.generators.maze.solve import solve_maze  # noqa: E402
from drawreason.generators.oracle import build_oracle_sample  # noqa: E402
from drawreason.generators.seeding import sample_rng  # noqa: E402
from drawreason.schemas.records import Provenance  # noqa: E402
from drawreason.schemas.sharegpt import image_path  # noqa: E402

PROVENANCE = Provenance("benchmark", "bench", 0, "bench")


def bench_generate_solve(grid_sizes: list[int], n: int, algorithm: str = "dfs") -> float:
    """Mazes/s for generating a perfect maze and solving it (no rendering)."""
    start = time.perf_counter()
    for i in range(n):
        g = grid_sizes[i % len(grid_sizes)]
        rng = sample_rng(0, f"bench-{i}")
        maze = generate_maze(g, algorithm, rng)
        solve_maze(maze, (0, 0), (g - 1, g - 1))
    return n / (time.perf_counter() - start)


def bench_complete(grid_sizes: list[int], n: int, out: Path) -> dict[str, float]:
    """Complete samples/s: generate, trace, render every step, PNG-encode, write every image."""
    prompts = Prompts.load()
    images = 0
    total_bytes = 0
    pils = []
    start = time.perf_counter()
    for i in range(n):
        config = MazeConfig(grid_sizes=(grid_sizes[i % len(grid_sizes)],))
        bundle = build_oracle_sample("maze", i, 0, config, prompts, PROVENANCE)
        for key, data in bundle.images:
            path = out / image_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            images += 1
            total_bytes += len(data)
    elapsed = time.perf_counter() - start
    # The encoding floor: encode the same kind of images alone, measured in the same run.
    from PIL import Image

    for p in sorted(out.rglob("*.png"))[: min(images, 400)]:
        with Image.open(p) as im:
            im.load()
            pils.append(im.copy())  # same mode as written (palette for mazes)
    t0 = time.perf_counter()
    for im in pils:
        encode_png(im)
    encode_s_per_image = (time.perf_counter() - t0) / max(len(pils), 1)
    return {
        "samples_per_s": n / elapsed,
        "images_per_s": images / elapsed,
        "images_per_sample": images / n,
        "bytes_per_image": total_bytes / max(images, 1),
        "encode_only_images_per_s": 1.0 / encode_s_per_image,
    }


def run_baseline(python: str, grid_sizes: list[int], n: int) -> dict[str, float] | None:
    script = ROOT / "benchmarks" / "maze_dataset_baseline.py"
    sizes = ",".join(map(str, grid_sizes))
    result = subprocess.run(
        [python, str(script), "--json", "--grid-sizes", sizes, "--n", str(n)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    if result.returncode != 0:
        print(f"maze-dataset baseline failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="samples per measurement")
    parser.add_argument("--grid-sizes", default="3,4,5,6,7,8")
    parser.add_argument("--baseline-python", help="python of a venv with maze-dataset installed")
    parser.add_argument("--baseline-n", type=int, default=60, help="maze-dataset render samples")
    args = parser.parse_args()
    sizes = [int(s) for s in args.grid_sizes.split(",")]

    gen = bench_generate_solve(sizes, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        complete = bench_complete(sizes, args.n, Path(tmp))
    base = (
        run_baseline(args.baseline_python, sizes, args.baseline_n) if args.baseline_python else None
    )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, one process"
    )
    print(f"grid sizes {sizes}, n={args.n}")
    print(f"{'measure':<52}{'ours':>12}{'maze-dataset':>14}{'ratio':>9}")
    rows = [
        ("generate+solve, mazes/s", gen, base and base["generate_per_s"]),
        (
            "rendered+encoded images/s (per image)",
            complete["images_per_s"],
            base and base["render_per_s"],
        ),
        ("complete samples/s (all images, written)", complete["samples_per_s"], None),
    ]
    for name, ours, theirs in rows:
        ratio = f"{ours / theirs:8.1f}x" if theirs else f"{'':>9}"
        theirs_s = f"{theirs:14.1f}" if theirs else f"{'-':>14}"
        print(f"{name:<52}{ours:12.1f}{theirs_s}{ratio}")
    print(
        f"images per sample: {complete['images_per_sample']:.2f}; "
        f"bytes per image: {complete['bytes_per_image']:.0f} (PNG, zlib level 6)"
    )
    share = complete["images_per_s"] / complete["encode_only_images_per_s"]
    print(
        f"encode-only floor: {complete['encode_only_images_per_s']:.1f} images/s; "
        f"the complete path runs at {share:.0%} of it"
    )


if __name__ == "__main__":
    main()
