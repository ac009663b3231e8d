"""Phrasing diversity of the oracle traces, measured on samples from the real generators.

Usage:
  python benchmarks/trace_diversity.py [--subset maze|scenes] [--n 2000] [--seed 0]
         [--reflective-share 0.2] [--granularity segment|junction|route] [--top 10] [--show 0]

Generates samples `maze-00000000`, ... (or `scenes-00000000`, ..., text only) exactly as the
pipeline does (`sample_rng(seed, sample_id)` into the generator), splits the think text of every
assistant turn into sentences and reduces each sentence to a pattern (generators/diversity.py:
digits -> N, scene object names -> X; the same function metrics.json and the report use).
Prints the turns, sentences, distinct patterns (also per 1,000 turns), the share of
sentences covered by the most common patterns, and two leak counts:

  pre-mistake-only   patterns in the turn that draws a staged wrong turn which never occur in a
                     tool turn of a trace without a mistake (a model could learn "this sentence
                     means a mistake follows");
  non-reflective-only  patterns of traces without a mistake that occur nowhere in traces with one.

Both counts are printed for the digit patterns and for templates (directions and move/moves
folded as well): a wording picked from several pools has many digit patterns, so rare
combinations are missing from one side by chance; the template counts show the wording itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drawreason.generators.diversity import (  # noqa: E402
    Diversity,
    measure,
    pattern,
    sentences,
    template,
    wrong_turn_reply,
)
from drawreason.generators.maze import MazeConfig, generate_maze_sample  # noqa: E402
from drawreason.generators.oracle import sample_id  # noqa: E402
from drawreason.generators.scenes import SceneConfig  # noqa: E402
from drawreason.generators.scenes.sample import SceneQuestion, draw_scene_question  # noqa: E402
from drawreason.generators.seeding import sample_rng  # noqa: E402

__all__ = ["Diversity", "measure", "pattern", "sentences", "template", "wrong_turn_reply"]


def maze_replies(n: int, seed: int = 0, **config: object) -> Iterable[tuple[tuple[str, ...], bool]]:
    cfg = MazeConfig(**config)  # type: ignore[arg-type]
    for i in range(n):
        sid = sample_id("maze", i)
        sample = generate_maze_sample(sid, sample_rng(seed, sid), cfg)
        yield sample.replies, bool(sample.meta["reflective"])


def scene_questions(n: int, seed: int = 0, **config: object) -> Iterable[SceneQuestion]:
    """Scene questions of `scenes-00000000`, ... as the pipeline draws them (unsalted), without
    rendering their images (the text and answers are the same)."""
    cfg = SceneConfig(**config)  # type: ignore[arg-type]
    for i in range(n):
        sid = sample_id("scenes", i)
        yield draw_scene_question(sid, sample_rng(seed, sid), cfg)


def scene_replies(
    n: int, seed: int = 0, **config: object
) -> Iterable[tuple[tuple[str, ...], bool]]:
    for q in scene_questions(n, seed, **config):
        yield q.question.replies, bool(q.question.meta["reflective"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=("maze", "scenes"), default="maze")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reflective-share", type=float, default=0.2)
    parser.add_argument("--granularity", default=None, help="maze trace_granularity (if set)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--show", type=int, default=0, help="print this many top patterns")
    args = parser.parse_args(argv)
    config: dict[str, object] = {"reflective_share": args.reflective_share}
    if args.granularity is not None and args.subset == "maze":
        config["trace_granularity"] = args.granularity
    if args.subset == "scenes":
        samples = list(scene_replies(args.n, args.seed, **config))
    else:
        samples = list(maze_replies(args.n, args.seed, **config))
    d = measure(samples)
    coarse = measure(samples, template)
    rows = [
        ("samples (reflective)", f"{d.samples} ({d.reflective_samples})"),
        ("assistant turns", d.turns),
        ("reasoning sentences", d.sentences),
        ("distinct patterns", len(d.patterns)),
        ("distinct patterns per 1,000 turns", f"{d.per_thousand_turns():.1f}"),
        (f"share of the top {args.top} patterns", f"{d.top_share(args.top):.3f}"),
        ("patterns only before a mistake", len(d.pre_mistake_only())),
        ("patterns only in non-reflective traces", len(d.non_reflective_only())),
        ("templates (directions folded too)", len(coarse.patterns)),
        (f"share of the top {args.top} templates", f"{coarse.top_share(args.top):.3f}"),
        ("templates only before a mistake", len(coarse.pre_mistake_only())),
        ("templates only in non-reflective traces", len(coarse.non_reflective_only())),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for p, c in d.patterns.most_common(args.show):
        print(f"{c / d.sentences:7.3%}  {p}")
    if args.show:
        for p in coarse.pre_mistake_only()[: args.show]:
            print(f"template only before a mistake: {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
