"""Scene throughput: complete scene samples per second on one core (scene rendered from every
view, oracle trace executed, every trajectory image rendered and PNG-encoded).

  python benchmarks/scene_throughput.py [--n 200]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drawreason.drawing.prompts import Prompts  # noqa: E402
from drawreason.generators.oracle import build_oracle_sample  # noqa: E402
from drawreason.generators.scenes import SceneConfig  # noqa: E402
from drawreason.schemas.records import Provenance  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    prompts = Prompts.load()
    provenance = Provenance("benchmark", "bench", 0, "bench")
    config = SceneConfig()
    images = 0
    size = 0
    families: Counter = Counter()
    start = time.perf_counter()
    for i in range(args.n):
        bundle = build_oracle_sample("scenes", i, 0, config, prompts, provenance)
        families[bundle.trajectory.meta["family"]] += 1
        images += len(bundle.images)
        size += sum(len(png) for _, png in bundle.images)
    elapsed = time.perf_counter() - start
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, one process")
    print(f"families: {dict(sorted(families.items()))}")
    print(f"complete scene samples/s: {args.n / elapsed:.1f}")
    print(
        f"images/s: {images / elapsed:.1f} ({images / args.n:.1f} per sample, "
        f"{size / images / 1024:.1f} KiB each, PNG level 6)"
    )


if __name__ == "__main__":
    main()
