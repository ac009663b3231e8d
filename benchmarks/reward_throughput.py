"""Reward throughput: decoded multi-turn responses scored per second on one core.

python benchmarks/reward_throughput.py [--n 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawing.prompts import Prompts  # noqa: E402
from generators.maze import MazeConfig  # noqa: E402
from generators.oracle import build_oracle_sample  # noqa: E402
from schemas.records import Provenance  # noqa: E402
from trainer.reward import compute_score, trajectory_response  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="distinct maze trajectories")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    prompts = Prompts.load()
    provenance = Provenance("benchmark", "bench", 0, "bench")
    samples = []
    for i in range(args.n):
        traj = build_oracle_sample("maze", i, 0, MazeConfig(), prompts, provenance).trajectory
        samples.append((trajectory_response(traj), traj.item.answer, traj.item.question_type))
    turns = sum(s[0].count("<|im_start|>assistant") + 1 for s in samples) / len(samples)
    start = time.perf_counter()
    for _ in range(args.repeat):
        for response, answer, qtype in samples:
            compute_score(response, answer, qtype)
    elapsed = time.perf_counter() - start
    rate = args.n * args.repeat / elapsed
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, one process")
    print(f"maze responses, {turns:.1f} assistant turns on average")
    print(f"compute_score: {rate:,.0f} trajectories/s ({1e3 / rate:.3f} ms each)")


if __name__ == "__main__":
    main()
