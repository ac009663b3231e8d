"""The whole-route maze trace (`trace_granularity: route`): one Path Tracer call draws every
segment, the answer turn checks the drawing first; a staged mistake sits inside that drawing,
worded like the rest, and is noticed from the image and redrawn. Also the trainer's reward on
oracle traces of every granularity."""

import json
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from drawreason.drawing.prompts import Prompts
from drawreason.generators.diversity import wrong_turn_reply
from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.maze.ascii import maze_from_ascii
from drawreason.generators.maze.config import TRACE_GRANULARITIES
from drawreason.generators.maze.render import cell_center
from drawreason.generators.oracle import build_oracle_sample
from drawreason.generators.seeding import sample_rng
from drawreason.pipelines.cold_start import ColdStartConfig, build_pipeline
from drawreason.trainer.reward import compute_score, trajectory_sequence

from benchmarks.trace_diversity import maze_replies, measure, pattern, template
from tests.factories import PROVENANCE

_TOOL = re.compile(r"^<think> (.+?) </think> Action: Path Tracer\n```json\n(.*)\n```$", re.DOTALL)
_ANSWER = re.compile(
    r"^<think> (.+?) </think> Action: Answer\n<answer> (.+?) </answer>$", re.DOTALL
)
# Words of the turn that notices a mistake (tests/test_trace_balance.py and
# tests/test_maze_phrasing.py use the same); no other turn says them.
_NOTICE = re.compile(
    r"\b(wrong|instead of|not on the|misses|elsewhere|redraw|again|dead end|side branch|mistake)\b"
)
# How a segment sentence joins its opener, body and goal ending (generators/maze/phrasing.py).
_CLAUSE = re.compile(r"; |, so |, which ")


def _sample(seed: int, **overrides):
    config = MazeConfig(**{"trace_granularity": "route", **overrides})
    sid = f"maze-{seed:08d}"
    return generate_maze_sample(sid, sample_rng(0, sid), config)


def _cells(sample) -> dict:
    g, size = sample.grid_size, sample.images[0].size[0]
    return {
        (round(x), round(y)): (i, j)
        for i in range(g)
        for j in range(g)
        for x, y in [cell_center(i, j, g, size)]
    }


def _chain(ops, sample) -> list:
    """The cells the lines visit, checked to chain from the start through open passages."""
    maze = maze_from_ascii(sample.meta["maze_ascii"])
    cells = _cells(sample)
    at, visited = maze.start, [maze.start]
    for op in ops:
        a, b = cells[tuple(op["start_point_2d"])], cells[tuple(op["end_point_2d"])]
        assert a == at, f"{op['label']} does not start where the previous line ended"
        step = ((b[0] > a[0]) - (b[0] < a[0]), (b[1] > a[1]) - (b[1] < a[1]))
        while at != b:
            nxt = (at[0] + step[0], at[1] + step[1])
            assert maze.tree.has_edge(at, nxt), f"{op['label']} crosses a wall at {at}->{nxt}"
            at = nxt
            visited.append(at)
    assert at == maze.goal
    return visited


@pytest.mark.parametrize("seed", range(40))
def test_one_call_draws_the_whole_route_then_the_answer_turn_checks_it(seed):
    sample = _sample(seed, reflective_share=0.0)
    assert len(sample.replies) == 2 and sample.meta["tool_turns"] == 1
    think, body = _TOOL.match(sample.replies[0]).groups()
    ops = json.loads(body)
    assert {op["index"] for op in ops} == {1}
    assert [op["label"] for op in ops] == [f"segment {k}" for k in range(1, len(ops) + 1)]
    assert len(ops) == sample.meta["runs"]
    assert len(_chain(ops, sample)) == sample.meta["path_length"] + 1
    check, answer = _ANSWER.match(sample.replies[1]).groups()
    assert answer == sample.answer and "image 2" in check.lower()
    assert not _NOTICE.search(think.lower()) and not _NOTICE.search(check.lower())


def test_route_granularity_keeps_the_maze_and_question_of_a_seed():
    for seed in range(30):
        route = _sample(seed, grid_sizes=(4, 6), reflective_share=0.0)
        plain = _sample(seed, grid_sizes=(4, 6), reflective_share=0.0, trace_granularity="segment")
        assert route.question == plain.question and route.answer == plain.answer
        assert route.images[0].tobytes() == plain.images[0].tobytes()


def test_no_whole_route_mistake_is_in_the_last_segment():
    """A correct whole-route turn always ends its text at the goal; a mistake in the last
    segment could not, so it is never staged there (the kinds' shares hold)."""
    samples = [_sample(s, reflective_share=1.0) for s in range(120)]
    staged = [s for s in samples if s.meta["reflective"]]
    assert len(staged) >= 100
    assert all(s.meta["mistake_at"]["segment"] < s.meta["runs"] for s in staged)
    for s in staged:
        think = _TOOL.match(s.replies[0]).group(1)
        assert re.search(r"goal\.$|goal is there\.$|reaches the goal\.$", think), think[-80:]


def test_a_mistake_is_drawn_inside_the_route_noticed_in_image_2_and_redrawn_there():
    kinds = {}
    for seed in range(40):
        sample = _sample(seed, grid_sizes=(4, 5), reflective_share=1.0)
        if not sample.meta["reflective"]:
            continue
        kinds[sample.meta["mistake"]] = kinds.get(sample.meta["mistake"], 0) + 1
        assert len(sample.replies) == 3 and wrong_turn_reply(sample.replies) == 0
        (first_think, first), (fix_think, fix) = (
            _TOOL.match(r).groups() for r in sample.replies[:2]
        )
        first, fix = json.loads(first), json.loads(fix)
        at = sample.meta["mistake_at"]
        label = f"segment {at['segment']}"
        assert len(first) == sample.meta["runs"] and {op["index"] for op in first} == {1}
        # the wrong line takes its segment's place in the one drawing, worded like the others
        (bad,) = [op for op in first if op["label"] == label]
        assert list(_cells(sample)[tuple(bad["end_point_2d"])]) == at["end"]
        assert not _NOTICE.search(first_think.lower()) and "stub" not in first_think
        # the next turn sees it in image 2 and redraws that label there
        (good,) = fix
        assert (good["label"], good["index"]) == (label, 2)
        assert good["start_point_2d"] == bad["start_point_2d"]
        seen = "dead end" if at.get("dead_end") else ("wall" if "wall" in at else "side branch")
        assert seen in fix_think.lower() and "image 2" in fix_think.lower()
        # the state of image 3 (image 2's lines, the label replaced) is the route
        final = {op["label"]: op for op in first} | {label: good}
        _chain([final[f"segment {k}"] for k in range(1, len(final) + 1)], sample)
        check, answer = _ANSWER.match(sample.replies[2]).groups()
        assert answer == sample.answer and "image 3" in check.lower()
        assert not _NOTICE.search(check.lower())
    assert kinds.get("wrong_turn", 0) >= 8 and kinds.get("through_wall", 0) >= 8, kinds


def test_whole_route_traces_take_far_fewer_images():
    def mean_images(granularity: str) -> float:
        samples = [_sample(s, trace_granularity=granularity) for s in range(60)]
        return sum(1 + s.meta["tool_turns"] for s in samples) / len(samples)

    route, segment = mean_images("route"), mean_images("segment")
    assert 2.0 <= route <= 2.5  # 2 images, 3 with a mistake (reflective_share 0.2)
    assert segment > 2 * route


def test_whole_route_wording_is_varied_and_silent_before_a_mistake():
    plain = list(maze_replies(1200, seed=31, reflective_share=0.0, trace_granularity="route"))
    reflective = list(maze_replies(300, seed=32, reflective_share=1.0, trace_granularity="route"))
    d = measure(plain[:200] + reflective[:50])
    assert d.sentences > 1500
    assert d.top_share(10) <= 0.30, d.patterns.most_common(10)
    coarse = measure(reflective + plain, template)
    said = sum(coarse.pre_mistake.values())
    assert said > 1000
    # The whole route is said before its mistake, goal sentence included: opener x joiner x
    # body x goal ending is ~1,000 combinations, undersampled by 1,200 traces, so a sentence
    # may be missing from correct steps by chance. Every clause of it must not be, and such
    # sentences stay rare.
    correct = {c for t in coarse.correct_steps for c in _CLAUSE.split(t)}
    unseen = coarse.pre_mistake_only()
    assert [t for t in unseen if not set(_CLAUSE.split(t)) <= correct] == []
    assert sum(coarse.pre_mistake[t] for t in unseen) < 0.02 * said, unseen
    digits = measure(reflective + plain, pattern)
    share = sum(digits.pre_mistake[p] for p in digits.pre_mistake_only())
    assert share / sum(digits.pre_mistake.values()) < 0.1
    for replies, is_reflective in reflective + plain:
        flagged = [i for i, r in enumerate(replies) if _NOTICE.search(r.lower())]
        assert flagged == ([1] if is_reflective else [])


@pytest.mark.parametrize("granularity", TRACE_GRANULARITIES)
def test_reward_gives_full_marks_to_correct_oracle_traces(granularity):
    prompts = Prompts.load()
    config = MazeConfig(trace_granularity=granularity, reflective_share=0.5)
    reflective = 0
    for i in range(16):
        traj = build_oracle_sample(
            "maze", i, 7, config, prompts, PROVENANCE, with_oracle=True
        ).trajectory
        assert traj.termination == "answered", traj.id
        sequence = trajectory_sequence(traj)
        got = compute_score(
            sequence, traj.item.answer, traj.item.question_type, oracle=traj.item.oracle
        )
        assert got["overall"] == 2.0 and got["accuracy"] == got["format"] == 1.0, traj.id
        if traj.meta["reflective"]:
            reflective += 1
            assert got["reflection"] == got["reflection_line_moved"] == 1.0
            # a line through a wall counts against the dense term; a wrong turn is a grounded
            # line, only off the route
            assert (got["grounding"] < 1.0) == (traj.meta["mistake"] == "through_wall")
        else:
            assert got["reflection"] == 0.0 and got["grounding"] == 1.0, traj.id
    assert reflective >= 3


def test_cold_start_refuses_route_traces_that_min_turns_would_reject():
    with pytest.raises(ValueError, match="set min_turns: 2"):
        ColdStartConfig(generators={"maze": MazeConfig(trace_granularity="route")})
    ColdStartConfig(generators={"maze": MazeConfig(trace_granularity="route")}, min_turns=2)
    ColdStartConfig(generators={"maze": MazeConfig(trace_granularity="route")}, mix={"scenes": 1.0})


def test_cold_start_keeps_every_whole_route_maze(tmp_path):
    config = ColdStartConfig(
        num_samples=12,
        mix={"maze": 1.0},
        generators={
            "maze": MazeConfig(trace_granularity="route", grid_sizes=(4, 5), reflective_share=0.5)
        },
        min_turns=2,
    )
    pipeline = TestPipeline(
        runner="FnApiRunner", options=beam.options.pipeline_options.PipelineOptions([])
    )
    metrics = build_pipeline(pipeline, config, str(tmp_path), PROVENANCE)
    summary = metrics | beam.Map(lambda m: (m.input, m.kept, m.rejected))
    assert_that(summary, equal_to([(12, 12, {})]))
    pipeline.run().wait_until_finish()
    records = [
        json.loads(line)
        for path in sorted((tmp_path / "sft").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(records) == 12
    images = sorted(len(r["images"]) for r in records)
    assert set(images) <= {2, 3} and 3 in images and 2 in images


def test_same_seed_same_bytes_other_seeds_other_words():
    first = [_sample(s, reflective_share=0.5) for s in range(6)]
    again = [_sample(s, reflective_share=0.5) for s in range(6)]
    for a, b in zip(first, again, strict=True):
        assert a.replies == b.replies and a.images[0].tobytes() == b.images[0].tobytes()
    openers = {_sample(s).replies[0].split(" row")[0] for s in range(30)}
    assert len(openers) >= 4
