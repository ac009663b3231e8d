"""Phrasing diversity of the maze oracle traces, measured on samples from the real generator.

Usage:
  python benchmarks/trace_diversity.py [--n 2000] [--seed 0] [--reflective-share 0.2]
         [--granularity segment|junction] [--top 10] [--show 0]

Generates samples `maze-00000000`, `maze-00000001`, ... exactly as the pipeline does
(`sample_rng(seed, sample_id)` into `generate_maze_sample`), splits the think text of every
assistant turn into sentences and reduces each sentence to a pattern by replacing its digits
with N. Prints the turns, sentences, distinct patterns (also per 1,000 turns), the share of
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
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drawing.parse import parse_turn  # noqa: E402
from generators.maze import MazeConfig, generate_maze_sample  # noqa: E402
from generators.oracle import sample_id  # noqa: E402
from generators.seeding import sample_rng  # noqa: E402

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentences(text: str) -> list[str]:
    return [s for s in _SPLIT.split(text.strip()) if s]


def pattern(sentence: str) -> str:
    """The sentence with its numbers replaced by N (the measure of the issue)."""
    return re.sub(r"\d+", "N", sentence)


_DIRECTION = re.compile(r"\b(up|down|left|right)(ward)?\b")


def template(sentence: str) -> str:
    """Coarser: numbers, directions and move/moves folded too, so a pattern names its wording
    rather than its wording times the route (what the leak counts are meaningful on)."""
    return re.sub(r"\bmoves?\b", "move(s)", _DIRECTION.sub("D", pattern(sentence)))


def think_text(reply: str) -> str:
    return parse_turn(reply).think


def wrong_turn_reply(replies: Iterable[str]) -> int | None:
    """Index of the reply that draws the staged wrong turn: the first drawing of the one label
    a reflective trace draws twice (the next turn redraws it), or None."""
    first: dict[str, int] = {}
    for i, reply in enumerate(replies):
        for op in parse_turn(reply).operations:
            if op.label in first:
                return first[op.label]
            first[op.label] = i
    return None


@dataclass
class Diversity:
    turns: int = 0
    patterns: Counter = field(default_factory=Counter)
    pre_mistake: Counter = field(default_factory=Counter)  # the wrong-turn replies' patterns
    correct_steps: Counter = field(default_factory=Counter)  # tool turns of mistake-free traces
    reflective: Counter = field(default_factory=Counter)  # every pattern of traces with a mistake
    plain: Counter = field(default_factory=Counter)  # every pattern of mistake-free traces
    samples: int = 0
    reflective_samples: int = 0

    @property
    def sentences(self) -> int:
        return sum(self.patterns.values())

    def top_share(self, k: int = 10) -> float:
        return sum(c for _, c in self.patterns.most_common(k)) / max(self.sentences, 1)

    def pre_mistake_only(self) -> list[str]:
        return sorted(p for p in self.pre_mistake if p not in self.correct_steps)

    def non_reflective_only(self) -> list[str]:
        return sorted(p for p in self.plain if p not in self.reflective)


def measure(
    replies_per_sample: Iterable[tuple[tuple[str, ...], bool]],
    normalize: Callable[[str], str] = pattern,
) -> Diversity:
    """Diversity of (replies, reflective) pairs, sentences reduced by `normalize`."""
    out = Diversity()
    for replies, is_reflective in replies_per_sample:
        out.samples += 1
        out.reflective_samples += is_reflective
        wrong = wrong_turn_reply(replies) if is_reflective else None
        for i, reply in enumerate(replies):
            out.turns += 1
            pats = [normalize(s) for s in sentences(think_text(reply))]
            out.patterns.update(pats)
            (out.reflective if is_reflective else out.plain).update(pats)
            if i == wrong:
                out.pre_mistake.update(pats)
            if not is_reflective and i < len(replies) - 1:
                out.correct_steps.update(pats)
    return out


def maze_replies(n: int, seed: int = 0, **config: object) -> Iterable[tuple[tuple[str, ...], bool]]:
    cfg = MazeConfig(**config)  # type: ignore[arg-type]
    for i in range(n):
        sid = sample_id("maze", i)
        sample = generate_maze_sample(sid, sample_rng(seed, sid), cfg)
        yield sample.replies, bool(sample.meta["reflective"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reflective-share", type=float, default=0.2)
    parser.add_argument("--granularity", default=None, help="maze trace_granularity (if set)")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--show", type=int, default=0, help="print this many top patterns")
    args = parser.parse_args(argv)
    config: dict[str, object] = {"reflective_share": args.reflective_share}
    if args.granularity is not None:
        config["trace_granularity"] = args.granularity
    samples = list(maze_replies(args.n, args.seed, **config))
    d = measure(samples)
    coarse = measure(samples, template)
    rows = [
        ("samples (reflective)", f"{d.samples} ({d.reflective_samples})"),
        ("assistant turns", d.turns),
        ("reasoning sentences", d.sentences),
        ("distinct patterns", len(d.patterns)),
        ("distinct patterns per 1,000 turns", f"{1000 * len(d.patterns) / max(d.turns, 1):.1f}"),
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
