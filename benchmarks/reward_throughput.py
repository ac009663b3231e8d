"""Reward throughput: decoded multi-turn trajectories scored per second on one core, in the
response-only form and as the whole decoded sequence (system and question included).

python benchmarks/reward_throughput.py [--n 400] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.generators.maze import MazeConfig  # noqa: E402
from drawreason.generators.oracle import build_oracle_sample  # noqa: E402
from drawreason.schemas.records import Provenance  # noqa: E402
from drawreason.trainer.reward import compute_score, trajectory_response, trajectory_sequence  # noqa: E402


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
        samples.append((traj, traj.item.answer, traj.item.question_type))
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, one process")
    turns = sum(len(t.turns) for t, _, _ in samples) / len(samples)
    print(f"maze trajectories, {turns:.1f} assistant turns on average")
    for form, build in (
        ("response only", trajectory_response),
        ("whole sequence", trajectory_sequence),
    ):
        texts = [(build(t), answer, qtype) for t, answer, qtype in samples]
        start = time.perf_counter()
        for _ in range(args.repeat):
            for text, answer, qtype in texts:
                compute_score(text, answer, qtype)
        elapsed = time.perf_counter() - start
        rate = args.n * args.repeat / elapsed
        print(f"compute_score, {form}: {rate:,.0f} trajectories/s ({1e3 / rate:.3f} ms each)")


if __name__ == "__main__":
    main()
