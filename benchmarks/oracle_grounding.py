"""Grounds the oracle traces of every generator and scene family against their own oracle
facts and prints a table: traces, fully grounded, reflective traces whose redraw is judged
corrective, the time to build the facts and to ground one trajectory, and the mean images
(input and rendered) and estimated tokens per trajectory (filters/length.py: exact image
tokens, text estimated). Mazes get one row per trace granularity.

    .venv/bin/python benchmarks/oracle_grounding.py --mazes 300 --per-family 50
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.filters.grounding import ground_trajectory  # noqa: E402
from drawreason.filters.length import LengthConfig, estimate_text_tokens, image_tokens  # noqa: E402
from drawreason.generators.maze import MazeConfig  # noqa: E402
from drawreason.generators.maze.config import TRACE_GRANULARITIES  # noqa: E402
from drawreason.generators.oracle import build_oracle_sample  # noqa: E402
from drawreason.generators.scenes import SceneConfig  # noqa: E402
from drawreason.generators.scenes.config import FAMILIES  # noqa: E402
from drawreason.schemas.records import Provenance  # noqa: E402

PROVENANCE = Provenance("generator:bench", "bench", 0, "bench")
LENGTH = LengthConfig()


def measure(subset: str, config, n: int, seed: int) -> Counter:
    prompts = Prompts.load(None)
    row: Counter = Counter()
    for index in range(n):
        try:
            bundle = build_oracle_sample(
                subset, index, seed, config, prompts, PROVENANCE, with_oracle=True
            )
        except ValueError:
            row["no_scene"] += 1
            continue
        trajectory = bundle.trajectory
        start = time.perf_counter()
        grounding = ground_trajectory(trajectory)
        row["ground_us"] += int((time.perf_counter() - start) * 1e6)
        row["traces"] += 1
        sizes = [*trajectory.input_sizes, *((r.width, r.height) for r in trajectory.rendered)]
        row["images"] += len(sizes)
        row["tokens"] += sum(image_tokens(w, h, LENGTH) for w, h in sizes)
        text = [trajectory.system_prompt, trajectory.user_prompt]
        text += [t.raw + t.env_reply for t in trajectory.turns]
        row["tokens"] += sum(estimate_text_tokens(x) for x in text)
        row["operations"] += len(grounding.checks)
        route_ok = grounding.route is None or (grounding.route.valid and grounding.route.shortest)
        row["fully_grounded"] += not grounding.final_ungrounded and route_ok
        if trajectory.meta.get("reflective"):
            row["reflective"] += 1
            row["corrective"] += any(c.kind == "corrective" for c in grounding.corrections)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mazes", type=int, default=300)
    parser.add_argument("--per-family", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = [
        (f"maze {name}", measure("maze", MazeConfig(trace_granularity=name), args.mazes, args.seed))
        for name in TRACE_GRANULARITIES
    ]
    for family in FAMILIES:
        config = SceneConfig(question_mix=((family, 1.0),))
        rows.append((family, measure("scenes", config, args.per_family, args.seed)))
    print(
        f"{'generator':18} {'traces':>6} {'grounded':>8} {'ops':>6} {'reflect':>7} "
        f"{'corrective':>10} {'us/traj':>8} {'img/traj':>8} {'tok/traj':>8}"
    )
    for name, row in rows:
        n = max(row["traces"], 1)
        print(
            f"{name:18} {row['traces']:6d} {row['fully_grounded']:8d} {row['operations']:6d} "
            f"{row['reflective']:7d} {row['corrective']:10d} {row['ground_us'] / n:8.0f} "
            f"{row['images'] / n:8.2f} {row['tokens'] / n:8.0f}"
        )


if __name__ == "__main__":
    main()
