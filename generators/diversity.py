"""Trace diversity and answer balance: the one measure shared by metrics.json, the report,
benchmarks/trace_diversity.py and the tests.

A sentence's *pattern* is the sentence with its numbers replaced by N and every scene object
name (colour and shape) by X: what a model sees repeated across samples. A *template* folds
directions and move/moves too, so it names a wording rather than a wording times a route (the
leak counts are meaningful on templates). Answer balance is the share of each answer value per
family, against the uniform share over the values the family offers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drawreason.drawing.parse import parse_turn

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_OBJECT = re.compile(
    r"\b(?:red|green|blue|yellow|purple|orange) (?:cube|box|cylinder|ball|cone)\b", re.IGNORECASE
)
_DIRECTION = re.compile(r"\b(up|down|left|right)(ward)?\b")


def sentences(text: str) -> list[str]:
    """The sentences of a think text (split after . ! ? before a capital)."""
    return [s for s in _SPLIT.split(text.strip()) if s]


def pattern(sentence: str) -> str:
    """The sentence with numbers replaced by N and scene object names by X."""
    return re.sub(r"\d+", "N", _OBJECT.sub("X", sentence))


def template(sentence: str) -> str:
    """Coarser than `pattern`: directions and move/moves folded as well."""
    return re.sub(r"\bmoves?\b", "move(s)", _DIRECTION.sub("D", pattern(sentence)))


def wrong_turn_reply(replies: Iterable[str]) -> int | None:
    """Index of the reply that draws a staged mistake: the first drawing of the first label
    that a later reply draws again (the fix redraws it), or None."""
    first: dict[str, int] = {}
    for i, reply in enumerate(replies):
        for op in parse_turn(reply).operations:
            if op.label in first and first[op.label] < i:
                return first[op.label]
            first.setdefault(op.label, i)
    return None


@dataclass
class Diversity:
    """Sentence patterns of a set of traces, split by where they occur."""

    turns: int = 0
    patterns: Counter = field(default_factory=Counter)
    pre_mistake: Counter = field(default_factory=Counter)  # replies up to the mistake's reply
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

    def per_thousand_turns(self) -> float:
        return 1000 * len(self.patterns) / max(self.turns, 1)

    def pre_mistake_only(self, min_count: int = 1) -> list[str]:
        """Patterns said before a mistake (at least `min_count` times) that no tool turn of a
        mistake-free trace says: a model could learn that they announce a mistake."""
        return sorted(
            p for p, n in self.pre_mistake.items() if n >= min_count and p not in self.correct_steps
        )

    def non_reflective_only(self) -> list[str]:
        return sorted(p for p in self.plain if p not in self.reflective)

    def summary(self, k: int = 10) -> dict[str, Any]:
        """The figure metrics.json and the report show."""
        return {
            "turns": self.turns,
            "sentences": self.sentences,
            "distinct_patterns": len(self.patterns),
            "patterns_per_1000_turns": round(self.per_thousand_turns(), 1),
            f"top{k}_share": round(self.top_share(k), 4),
        }


def measure(
    replies_per_sample: Iterable[tuple[Sequence[str], bool]],
    normalize: Callable[[str], str] = pattern,
) -> Diversity:
    """Diversity of (replies, reflective) pairs, sentences reduced by `normalize`."""
    out = Diversity()
    for replies, is_reflective in replies_per_sample:
        add_trace(out, replies, is_reflective, normalize)
    return out


def add_trace(
    out: Diversity,
    replies: Sequence[str],
    is_reflective: bool,
    normalize: Callable[[str], str] = pattern,
) -> None:
    """Count one trace's sentences into `out`."""
    out.samples += 1
    out.reflective_samples += is_reflective
    wrong = wrong_turn_reply(replies) if is_reflective else None
    for i, reply in enumerate(replies):
        out.turns += 1
        pats = [normalize(s) for s in sentences(parse_turn(reply).think)]
        out.patterns.update(pats)
        (out.reflective if is_reflective else out.plain).update(pats)
        if wrong is not None and i <= wrong:
            out.pre_mistake.update(pats)
        if not is_reflective and i < len(replies) - 1:
            out.correct_steps.update(pats)


# --- answer balance ---------------------------------------------------------------------------

# Families whose answers are a measurement (cm, moves, turns): no uniform target to balance to.
MEASURED = frozenset({"size", "distance", "moves", "turns"})


def family_of(meta: dict[str, Any]) -> str:
    """A generated sample's question family: `family` (scenes) or `question_kind` (mazes)."""
    return str(meta.get("family") or meta.get("question_kind") or "")


def answer_values(question_type: str, options: Sequence[str]) -> list[str]:
    """The values a categorical answer may take: the option letters of a multiple-choice
    question; [] for a numerical one (its values are the counts seen)."""
    if question_type == "multiple choice":
        return [chr(ord("A") + i) for i in range(len(options))]
    return []


@dataclass
class Balance:
    """Answer values per family, with the uniform expectation over the values offered."""

    observed: dict[str, Counter] = field(default_factory=dict)
    expected: dict[str, Counter] = field(default_factory=dict)

    def add(self, family: str, answer: str, offered: Sequence[str]) -> None:
        self.observed.setdefault(family, Counter())[answer] += 1
        exp = self.expected.setdefault(family, Counter())
        for value in offered:
            exp[value] += 1.0 / len(offered)

    def deviation(self, family: str) -> float:
        """The largest |observed share - expected share| over the family's values; for a
        family without offered values (counts), against uniform over the values seen."""
        obs = self.observed[family]
        n = sum(obs.values())
        exp = self.expected_counts(family)
        return max(abs(obs.get(k, 0) - exp[k]) / n for k in exp) if n else 0.0

    def expected_counts(self, family: str) -> dict[str, float]:
        """Uniform expectation: over the offered values, else over the values seen."""
        obs = self.observed[family]
        n = sum(obs.values())
        exp = self.expected.get(family) or Counter({v: n / len(obs) for v in obs})
        return {k: exp.get(k, 0.0) for k in sorted(set(obs) | set(exp))}

    def summary(self) -> dict[str, Any]:
        """{family: {n, values, expected, max_deviation}} (JSON-native, sorted)."""
        out = {}
        for family in sorted(self.observed):
            obs = self.observed[family]
            out[family] = {
                "n": sum(obs.values()),
                "values": dict(sorted(obs.items())),
                "expected": {k: round(v, 2) for k, v in self.expected_counts(family).items()},
                "max_deviation": round(self.deviation(family), 4),
            }
        return out


def add_answer(balance: Balance, meta: dict[str, Any], item: Any) -> bool:
    """Count a generated sample's answer into `balance` unless its family is a measurement;
    True when counted. `item` has question_type, options and answer (a QAItem)."""
    family = family_of(meta)
    if not family or family in MEASURED:
        return False
    offered = answer_values(item.question_type, item.options)
    balance.add(family, str(item.answer), offered)
    return True


# --- whole-run figures (metrics.json) ---------------------------------------------------------


@dataclass
class TraceStats:
    """Per subset: sentence patterns of every assistant turn, and answer values per family.
    Mergeable (order-free), so a Beam combine gives the same figures on any worker count."""

    patterns: dict[str, Counter] = field(default_factory=dict)
    turns: Counter = field(default_factory=Counter)
    balance: dict[str, Balance] = field(default_factory=dict)

    def add(self, subset: str, replies: Sequence[str], meta: dict[str, Any], item: Any) -> None:
        """Count one trajectory's assistant replies and its question's answer."""
        pats = self.patterns.setdefault(subset, Counter())
        for reply in replies:
            self.turns[subset] += 1
            pats.update(pattern(s) for s in sentences(parse_turn(reply).think))
        add_answer(self.balance.setdefault(subset, Balance()), meta, item)

    def merge(self, other: TraceStats) -> TraceStats:
        for subset, pats in other.patterns.items():
            self.patterns.setdefault(subset, Counter()).update(pats)
        self.turns.update(other.turns)
        for subset, bal in other.balance.items():
            mine = self.balance.setdefault(subset, Balance())
            for family, obs in bal.observed.items():
                mine.observed.setdefault(family, Counter()).update(obs)
            for family, exp in bal.expected.items():
                mine.expected.setdefault(family, Counter()).update(exp)
        return self

    def summary(self, k: int = 10) -> dict[str, Any]:
        """{subset: {"diversity": {...}, "answer_balance": {family: {...}}}}."""
        out: dict[str, Any] = {}
        for subset in sorted(self.patterns):
            d = Diversity(turns=self.turns[subset], patterns=self.patterns[subset])
            entry: dict[str, Any] = {"diversity": d.summary(k)}
            balance = self.balance.get(subset)
            if balance is not None and balance.observed:
                entry["answer_balance"] = balance.summary()
            out[subset] = entry
        return out
