"""Wording of the maze oracle traces: varied per step kind, seeded, and silent before a mistake.

Measured with benchmarks/trace_diversity.py (the numbers of docs/stages.md come from it)."""

from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.seeding import sample_rng

from benchmarks.trace_diversity import maze_replies, measure, pattern, template


def test_top_ten_patterns_cover_at_most_thirty_percent_of_sentences():
    d = measure(maze_replies(200))
    assert d.sentences > 2000
    assert d.top_share(10) <= 0.30, d.patterns.most_common(10)
    assert len(d.patterns) / d.turns > 0.2  # distinct patterns per turn (was 0.11 at 2,000)


def test_no_wording_before_a_mistake_is_exclusive_to_reflective_traces():
    reflective = list(maze_replies(300, seed=1, reflective_share=1.0))
    plain = list(maze_replies(2000, seed=2, reflective_share=0.0))
    d = measure(reflective + plain, template)
    assert sum(d.pre_mistake.values()) > 300  # wrong turns with their check sentences
    assert d.pre_mistake_only() == []
    # Every template of a wrong turn is common among correct steps, not a rare leftover.
    assert min(d.correct_steps[t] for t in d.pre_mistake) >= 2
    # The digit patterns (the measure) leak nothing either, bar rare combinations.
    digits = measure(reflective + plain, pattern)
    share = sum(digits.pre_mistake[p] for p in digits.pre_mistake_only())
    assert share / sum(digits.pre_mistake.values()) < 0.1


def test_noticing_a_mistake_only_follows_one():
    reflective = list(maze_replies(150, seed=3, reflective_share=1.0))
    plain = list(maze_replies(150, seed=4, reflective_share=0.0))
    words = ("dead end", "side branch", "wrong", "mistake", "redraw")
    for replies, is_reflective in plain + reflective:
        flagged = [i for i, r in enumerate(replies) if any(w in r.lower() for w in words)]
        assert len(flagged) == (1 if is_reflective else 0)


def test_same_seed_same_words_other_seeds_other_words():
    config = MazeConfig(grid_sizes=(5,))

    def replies(seed: int) -> tuple[str, ...]:
        return generate_maze_sample("maze-x", sample_rng(seed, "maze-x"), config).replies

    assert replies(7) == replies(7)
    firsts = {replies(s)[0].split(" row")[0] for s in range(30)}
    assert len(firsts) >= 4
