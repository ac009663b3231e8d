"""Across every generated family (mazes and scenes): nothing before a staged mistake gives it
away, answers are balanced, and the wording is varied; measured with generators/diversity.py,
the functions metrics.json, the report and benchmarks/trace_diversity.py use.

Scenes are generated text-only (draw_scene_question: the same questions and replies as the
pipeline, without rendering), 1,800 of them and 4,300 mazes: about 45 s of CPU.
"""

import re
from types import SimpleNamespace

import pytest
from drawreason.generators.diversity import (
    MEASURED,
    Balance,
    TraceStats,
    add_answer,
    family_of,
    measure,
    pattern,
    template,
    wrong_turn_reply,
)
from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.oracle import sample_id
from drawreason.generators.scenes.config import FAMILIES
from drawreason.generators.seeding import sample_rng

from benchmarks.trace_diversity import maze_replies, scene_questions

# A pattern said before a mistake, in no mistake-free trace, this many times or more fails.
LEAK_MIN_COUNT = 3
# Answer balance: every value's share within this of its uniform share, per family (n >= 150).
BALANCE_BOUND = 0.10
# Words of a turn that notices a mistake; no other turn says them.
NOTICE = re.compile(r"\b(wrong|instead of|not on the|misses|elsewhere|redraw|again)\b")


def _scene_traces(n: int, seed: int, share: float) -> list:
    return list(scene_questions(n, seed, reflective_share=share))


@pytest.fixture(scope="module")
def scenes():
    """(reflective-only, mistake-free) scene questions: 600 with a mistake wherever the family
    has one, 1,200 without."""
    return _scene_traces(600, 21, 1.0), _scene_traces(1200, 22, 0.0)


@pytest.fixture(scope="module")
def mazes():
    return list(maze_replies(300, seed=23, reflective_share=1.0)), list(
        maze_replies(2000, seed=24, reflective_share=0.0)
    )


def _pairs(questions):
    return [(q.question.replies, bool(q.question.meta["reflective"])) for q in questions]


@pytest.mark.parametrize("subset", ["scenes", "maze"])
def test_no_pattern_before_a_mistake_is_exclusive_to_reflective_traces(subset, scenes, mazes):
    if subset == "scenes":
        reflective, plain = _pairs(scenes[0]), _pairs(scenes[1])
    else:
        reflective, plain = mazes
    assert sum(r for _, r in reflective) > 250
    coarse = measure(reflective + plain, template)
    assert sum(coarse.pre_mistake.values()) > 500
    assert coarse.pre_mistake_only() == []  # no wording at all is said only before a mistake
    d = measure(reflective + plain, pattern)
    leaks = {p: d.pre_mistake[p] for p in d.pre_mistake_only(LEAK_MIN_COUNT)}
    # Digit patterns keep directions and move/moves, so the maze's first-segment sentences
    # alone span ~1,000 combinations of pool entries, undersampled by 2,000 traces: one may
    # by chance be seen 3 times before a mistake and never in a correct step. Such a
    # combination is allowed only if its wording (template) is common in correct steps and
    # the combinations together are under 1% of what is said before mistakes.
    for p in leaks:
        assert coarse.correct_steps[template(p)] >= LEAK_MIN_COUNT, p
    assert sum(leaks.values()) < 0.01 * sum(d.pre_mistake.values()), leaks


def test_every_scene_mistake_kind_occurs_and_only_the_next_turn_notices_it(scenes):
    kinds = {}
    for q in scenes[0] + scenes[1]:
        replies, meta = q.question.replies, q.question.meta
        flagged = [i for i, r in enumerate(replies) if NOTICE.search(r.lower())]
        if meta["reflective"]:
            wrong = wrong_turn_reply(replies)
            assert flagged == [wrong + 1], replies
            kinds.setdefault(q.family, set()).add(meta["mistake"])
        else:
            assert flagged == [], replies
    assert kinds == {
        "size": {"box", "line"},
        "closest": {"box", "line"},
        "direction": {"box", "line"},
        "distance": {"box", "line"},
        "view_left_of": {"box"},
    }


def test_answers_are_balanced_in_every_family(scenes):
    balance = Balance()
    for q in scenes[0] + scenes[1]:
        item = SimpleNamespace(
            question_type=q.question.question_type,
            options=q.question.options,
            answer=q.question.answer,
        )
        add_answer(balance, {"family": q.family}, item)
    config = MazeConfig()
    for i in range(2000):
        sid = sample_id("maze", i)
        sample = generate_maze_sample(sid, sample_rng(25, sid), config)
        add_answer(balance, sample.meta, sample)
    balanced = set(FAMILIES) - MEASURED | {"route"}
    assert set(balance.observed) == balanced
    for family in sorted(balance.observed):
        n = sum(balance.observed[family].values())
        assert n >= 150, family
        assert balance.deviation(family) <= BALANCE_BOUND, (family, balance.summary()[family])
    # The direction family answers every quadrant, and counts run 1-3.
    assert set(balance.observed["direction"]) == {"A", "B", "C", "D"}
    assert set(balance.observed["count"]) == {"1", "2", "3"}


def test_balance_measures_a_skew():
    balance = Balance()
    for answer in "AAAAAAAB":
        balance.add("closest", answer, ["A", "B", "C"])
    assert balance.deviation("closest") == pytest.approx(7 / 8 - 1 / 3)
    summary = balance.summary()["closest"]
    assert summary["values"] == {"A": 7, "B": 1} and summary["expected"]["C"] == 2.67
    counts = Balance()
    for answer in "1112":
        counts.add("count", answer, [])
    assert counts.deviation("count") == pytest.approx(0.25)


def test_scene_wording_is_varied(scenes):
    d = measure(_pairs(scenes[1][:600]))
    assert d.sentences > 2000
    assert d.top_share(10) < 0.25, d.patterns.most_common(10)
    assert d.per_thousand_turns() > 100


def test_metrics_figures_are_the_benchmarks_figures(scenes):
    """TraceStats (metrics.json) and measure (the benchmark) agree on the same traces."""
    stats = TraceStats()
    pairs = _pairs(scenes[1][:200])
    for (replies, _), q in zip(pairs, scenes[1][:200], strict=True):
        item = SimpleNamespace(
            question_type=q.question.question_type,
            options=q.question.options,
            answer=q.question.answer,
        )
        stats.add("scenes", replies, {"family": q.family}, item)
    half = TraceStats()
    for (replies, _), q in zip(pairs[:100], scenes[1][:100], strict=True):
        half.add("scenes", replies, {"family": q.family}, q.question)
    other = TraceStats()
    for (replies, _), q in zip(pairs[100:], scenes[1][100:200], strict=True):
        other.add("scenes", replies, {"family": q.family}, q.question)
    merged = half.merge(other).summary()
    assert merged == stats.summary()  # merging in any split gives the same figures
    assert stats.summary()["scenes"]["diversity"] == measure(pairs).summary()
    assert family_of({"question_kind": "route"}) == "route"
