"""Grounding against the oracle (filters/grounding.py): every oracle trace of every generator
and scene family is grounded; a perturbed box or line is not; redraws are judged."""

import dataclasses
import json
from collections import Counter

import pytest
from drawreason.drawing.prompts import Prompts
from drawreason.filters.grounding import (
    GroundingConfig,
    box_iou,
    ground_operations,
    ground_trajectory,
    named_objects,
)
from drawreason.filters.rules import CorrectiveFilter, GroundingFilter
from drawreason.generators.maze import MazeConfig
from drawreason.generators.maze.config import TRACE_GRANULARITIES
from drawreason.generators.oracle import build_oracle_sample
from drawreason.generators.scenes import SceneConfig
from drawreason.generators.scenes.config import FAMILIES
from drawreason.schemas.oracle import MazeOracle, ObjectBox, SceneOracle, SceneView
from drawreason.schemas.records import (
    BoxOp,
    LineOp,
    Provenance,
    Turn,
    to_json,
    trajectory_from_dict,
)

PROVENANCE = Provenance("generator:test", "cfg", 0, "test")
PROMPTS = Prompts.load(None)
MAZES = 120
PER_FAMILY = 25


def _oracle_samples(subset, config, n, seed=11):
    for index in range(n):
        try:
            bundle = build_oracle_sample(
                subset, index, seed, config, PROMPTS, PROVENANCE, with_oracle=True
            )
        except ValueError:  # no scene for this family in its attempts: not a trace
            continue
        yield bundle.trajectory


def _family_config(family: str) -> SceneConfig:
    return SceneConfig(question_mix=((family, 1.0),))


def _assert_fully_grounded(trajectory):
    g = ground_trajectory(trajectory)
    assert g is not None and g.checks, trajectory.id
    assert not g.final_ungrounded, (trajectory.id, g.final_ungrounded)
    if not trajectory.meta.get("reflective"):
        assert g.score == 1.0, (trajectory.id, [c for c in g.checks if not c.grounded])
        assert not g.corrections
    else:  # the staged mistake is corrected, never made worse
        assert g.corrections and all(c.kind != "regressive" for c in g.corrections)
    assert GroundingFilter()(dataclasses.replace(trajectory, grounding=g)).keep
    return g


def test_every_oracle_maze_trace_is_grounded_with_a_shortest_route():
    reflective, corrective = Counter(), Counter()
    for name in TRACE_GRANULARITIES:
        config = MazeConfig(trace_granularity=name)
        for trajectory in _oracle_samples("maze", config, MAZES // len(TRACE_GRANULARITIES)):
            g = _assert_fully_grounded(trajectory)
            assert g.route is not None and g.route.valid and g.route.shortest, trajectory.id
            kind = trajectory.meta["mistake"]
            if trajectory.meta["reflective"]:
                reflective[name, kind] += 1
                label = f"segment {trajectory.meta['mistake_at']['segment']}"
                wrong, fixed = [c for c in g.checks if c.label == label]
                assert fixed.grounded and fixed.on_route, (trajectory.id, fixed)
                if kind == "wrong_turn":  # a grounded line into a side branch, off the route
                    assert wrong.grounded and wrong.on_route is False, (trajectory.id, wrong)
                else:  # a line on through the wall at the run's end
                    assert (wrong.grounded, wrong.reason) == (False, "line_through_wall"), wrong
                corrective[name, kind] += [c.kind for c in g.corrections] == ["corrective"]
                assert trajectory.scores["reflection"] == 1.0, trajectory.id
                assert trajectory.scores["reflection_line_moved"] == 1.0, trajectory.id
            else:
                assert kind is None and trajectory.scores["reflection"] == 0.0
    kinds = {"wrong_turn", "through_wall"}
    assert set(reflective) == {(n, k) for n in TRACE_GRANULARITIES for k in kinds}, reflective
    assert corrective == reflective
    for kind in kinds:
        assert sum(c for (_, k), c in reflective.items() if k == kind) >= 5, reflective


@pytest.mark.parametrize("granularity", TRACE_GRANULARITIES)
def test_maze_mistake_kinds_follow_mistake_mix(granularity):
    for kind in ("wrong_turn", "through_wall"):
        config = MazeConfig(
            reflective_share=1.0, mistake_mix=((kind, 1.0),), trace_granularity=granularity
        )
        kinds = Counter(t.meta["mistake"] for t in _oracle_samples("maze", config, 20))
        assert kinds[kind] >= 18, kinds  # the other kind only where the maze lacks this one
        for t in _oracle_samples("maze", config, 6):
            assert [c.kind for c in ground_trajectory(t).corrections] == ["corrective"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_oracle_scene_trace_is_grounded(family):
    traces = list(_oracle_samples("scenes", _family_config(family), PER_FAMILY))
    assert len(traces) >= PER_FAMILY // 2
    for trajectory in traces:
        g = _assert_fully_grounded(trajectory)
        boxes = [c for c in g.checks if c.tool == "Object Mapper"]
        assert boxes and all(0.0 <= c.score <= 1.0 for c in boxes)


def _perturb_first(trajectory, **fields):
    """The trajectory with fields of the first operation of its first tool turn replaced."""
    turns = list(trajectory.turns)
    first = turns[0]
    ops = list(first.operations)
    ops[0] = dataclasses.replace(ops[0], **fields)
    turns[0] = dataclasses.replace(first, operations=tuple(ops))
    return dataclasses.replace(trajectory, turns=tuple(turns))


def test_a_box_moved_onto_another_object_is_ungrounded():
    moved = 0
    for family in ("size", "closest", "direction", "distance", "count"):
        for trajectory in _oracle_samples("scenes", _family_config(family), 8):
            oracle = trajectory.item.oracle
            op = trajectory.turns[0].operations[0]
            assert isinstance(op, BoxOp)
            view = oracle.views[op.index - 1]
            others = [o for o in view.objects if o.name != op.label]
            other = min(others, key=lambda o: box_iou(op.bbox_2d, o.box))
            if box_iou(op.bbox_2d, other.box) >= 0.5:
                continue
            bad = _perturb_first(trajectory, bbox_2d=other.box)
            g = ground_trajectory(bad)
            assert g.score < 1.0 and g.checks[0].reason == "ungrounded_box"
            verdict = GroundingFilter()(bad)
            if not trajectory.meta.get("reflective"):  # nothing redraws it later
                assert (verdict.keep, verdict.reason) == (False, "ungrounded_box")
            moved += 1
    assert moved >= 20


def test_a_maze_line_through_a_wall_or_off_the_grid_is_rejected():
    checked = 0
    for trajectory in _oracle_samples("maze", MazeConfig(), 40):
        if trajectory.meta["reflective"]:
            continue
        oracle = trajectory.item.oracle
        op = trajectory.turns[0].operations[0]
        left, top, right, bottom = oracle.axes
        ch = (bottom - top) / oracle.grid_size
        (x, y) = op.start_point_2d
        row = int((y - top) // ch)
        if row + 1 >= oracle.grid_size:
            continue
        col = int((x - left) // ((right - left) / oracle.grid_size))
        below = (row + 1, col)
        if tuple(sorted([(row, col), below])) in set(oracle.passages):
            continue  # open: no wall below this start
        through = _perturb_first(trajectory, end_point_2d=(x, round(y + ch)))
        g = ground_trajectory(through)
        assert g.checks[0].reason == "line_through_wall", g.checks[0]
        assert GroundingFilter()(through).reason == "line_through_wall"
        off = _perturb_first(trajectory, end_point_2d=(x + 7, y + 5 + ch / 3))
        assert ground_trajectory(off).checks[0].reason == "line_off_grid"
        checked += 1
    assert checked >= 10


def test_records_round_trip_with_oracle_and_grounding_and_leave_them_out_when_unset():
    trajectory = next(_oracle_samples("scenes", _family_config("closest"), 3))
    grounded = dataclasses.replace(trajectory, grounding=ground_trajectory(trajectory))
    assert trajectory_from_dict(json.loads(to_json(grounded))) == grounded
    plain = dataclasses.replace(trajectory, item=dataclasses.replace(trajectory.item, oracle=None))
    doc = json.loads(to_json(plain))
    assert "oracle" not in doc["item"] and "grounding" not in doc
    assert trajectory_from_dict(doc) == plain


# --- hand-made fixtures: the rules one by one ---------------------------------------------------

# A 3x3 maze in a 100 px square grid area at (0, 0): cell centres at 16.67 + 33.3 k.
#   S . .      passages: (0,0)-(0,1), (0,1)-(0,2), (0,2)-(1,2), (1,2)-(2,2), (0,0)-(1,0), ...
MAZE = MazeOracle(
    grid_size=3,
    axes=(0.0, 0.0, 99.0, 99.0),
    passages=(
        ((0, 0), (0, 1)),
        ((0, 0), (1, 0)),
        ((0, 1), (0, 2)),
        ((0, 2), (1, 2)),
        ((1, 0), (2, 0)),
        ((1, 1), (1, 2)),
        ((1, 2), (2, 2)),
        ((2, 0), (2, 1)),
    ),
    start=(0, 0),
    goal=(2, 2),
    route=((0, 0), (0, 1), (0, 2), (1, 2), (2, 2)),
)


def _c(i, j):
    return (16.5 + 33 * j, 16.5 + 33 * i)


def _line(index, a, b, label):
    return LineOp(index, _c(*a), _c(*b), label)


def _turns(*op_lists):
    return [Turn(raw="", action="Path Tracer", operations=tuple(ops)) for ops in op_lists]


def test_maze_route_valid_shortest_and_detours():
    route = [_line(1, (0, 0), (0, 2), "s1"), _line(2, (0, 2), (2, 2), "s2")]
    g = ground_operations(_turns(route[:1], route[1:]), 1, [1, 2], MAZE)
    assert g.score == 1.0 and g.route.valid and g.route.shortest
    detour = [*route, _line(3, (0, 0), (2, 0), "extra")]
    g = ground_operations(_turns(route[:1], route[1:], detour[2:]), 1, [1, 2, 3], MAZE)
    assert g.score == 1.0 and g.route.valid and not g.route.shortest
    half = ground_operations(_turns(route[:1]), 1, [1], MAZE)
    assert not half.route.valid
    wall = ground_operations(_turns([_line(1, (1, 0), (1, 1), "w")]), 1, [1], MAZE)
    assert wall.checks[0].reason == "line_through_wall"
    diagonal = ground_operations(_turns([_line(1, (0, 0), (1, 1), "d")]), 1, [1], MAZE)
    assert diagonal.checks[0].reason == "line_off_grid"


def test_maze_redraws_onto_the_route_are_corrective_a_shifted_redraw_is_cosmetic():
    wrong = _line(1, (0, 0), (2, 0), "segment 1")  # grounded, into the side branch
    right = _line(1, (0, 0), (0, 2), "segment 1")
    g = ground_operations(_turns([wrong], [right]), 1, [1, 1], MAZE)
    assert [c.kind for c in g.corrections] == ["corrective"]
    nudged = LineOp(
        2, (right.start_point_2d[0] + 1, right.start_point_2d[1]), right.end_point_2d, "segment 1"
    )
    g = ground_operations(_turns([right], [nudged]), 1, [1, 2], MAZE)
    assert [c.kind for c in g.corrections] == ["cosmetic"]
    g = ground_operations(_turns([right], [wrong]), 1, [1, 1], MAZE)
    assert [c.kind for c in g.corrections] == ["regressive"]


SCENE = SceneOracle(
    views=(
        SceneView(
            200,
            200,
            (
                ObjectBox("red cube", "red", "cube", (10.0, 10.0, 50.0, 50.0)),
                ObjectBox("blue ball", "blue", "ball", (120.0, 100.0, 160.0, 140.0)),
                ObjectBox("red ball", "red", "ball", (60.0, 150.0, 90.0, 180.0)),
            ),
        ),
        SceneView(200, 200, (ObjectBox("red cube", "red", "cube", (100.0, 10.0, 140.0, 50.0)),)),
    ),
    option_objects=("blue ball", "red ball"),
)


@pytest.mark.parametrize(
    "label, names",
    [
        ("red cube", ["red cube"]),
        ("The Red Cube (reference)", ["red cube"]),
        ("red cubes", ["red cube"]),
        ("both red balls", ["red ball"]),
        ("red cube to blue ball", ["blue ball", "red cube"]),
        ("red", []),
        ("cube", []),
        ("B", ["red ball"]),
        ("option A", ["blue ball"]),
        ("facing", []),
    ],
)
def test_labels_name_objects_by_colour_and_shape_or_option(label, names):
    assert named_objects(label, SCENE) == names


def _box_turns(*boxes):
    return [Turn(raw="", action="Object Mapper", operations=(b,)) for b in boxes]


def test_scene_boxes_by_iou_per_view_and_corrections():
    right = BoxOp(1, (12, 11, 49, 52), "red cube")
    wrong = BoxOp(1, (120, 100, 160, 140), "red cube")  # on the blue ball
    g = ground_operations(_box_turns(right), 2, [1], SCENE)
    assert g.score == 1.0 and g.checks[0].score > 0.8
    g = ground_operations(_box_turns(wrong), 2, [1], SCENE)
    assert g.checks[0].reason == "ungrounded_box" and g.final_ungrounded
    # the view is the input the image's lineage starts from: image 3 is drawn on input 2
    in_view2 = BoxOp(3, (100, 10, 140, 50), "red cube")
    g = ground_operations(
        _box_turns(BoxOp(2, (100, 10, 140, 50), "red cube"), in_view2), 2, [2, 3], SCENE
    )
    assert g.score == 1.0
    fixed = ground_operations(
        _box_turns(wrong, dataclasses.replace(right, index=1)), 2, [1, 1], SCENE
    )
    assert [c.kind for c in fixed.corrections] == ["corrective"] and not fixed.final_ungrounded
    nudge = ground_operations(
        _box_turns(right, BoxOp(3, (13, 11, 49, 52), "red cube")), 2, [1, 3], SCENE
    )
    assert [c.kind for c in nudge.corrections] == ["cosmetic"]
    unnamed = ground_operations(_box_turns(BoxOp(1, (12, 11, 49, 52), "target")), 2, [1], SCENE)
    assert unnamed.checks[0].reason == "ungrounded_box"
    config = GroundingConfig(iou_threshold=0.95)
    strict = ground_operations(_box_turns(right), 2, [1], SCENE, config)
    assert not strict.checks[0].grounded


def test_scene_lines_are_anchored_on_the_objects_they_name():
    height = LineOp(1, (30, 50), (30, 10), "red cube height")
    between = LineOp(1, (30, 30), (140, 120), "red cube to blue ball")
    to_ball = LineOp(1, (30, 52), (140, 140), "to blue ball")
    loose = LineOp(1, (30, 52), (190, 10), "to blue ball")
    facing = LineOp(1, (30, 50), (75, 180), "facing")
    nowhere = LineOp(1, (100, 60), (190, 10), "facing")
    ops = [height, between, to_ball, loose, facing, nowhere]
    g = ground_operations(
        [Turn(raw="", action="Path Tracer", operations=tuple(ops))], 2, [1], SCENE
    )
    assert [c.grounded for c in g.checks] == [True, True, True, False, True, False]
    assert g.checks[3].reason == "ungrounded_line"


def test_corrective_filter_needs_a_corrective_redraw():
    trajectory = next(_oracle_samples("scenes", _family_config("size"), 6))
    plain = dataclasses.replace(trajectory, grounding=ground_trajectory(trajectory))
    if plain.meta["reflective"]:
        assert CorrectiveFilter()(plain).keep
    else:
        verdict = CorrectiveFilter()(plain)
        assert (verdict.keep, verdict.reason) == (False, "not_corrective")
    no_oracle = dataclasses.replace(
        trajectory, item=dataclasses.replace(trajectory.item, oracle=None)
    )
    assert CorrectiveFilter()(no_oracle).keep and GroundingFilter()(no_oracle).keep


def test_reward_reports_grounding_and_adds_it_only_when_weighted():
    from drawreason.drawing.format import format_tool_turn
    from drawreason.schemas.records import to_dict
    from drawreason.trainer.reward import compute_score, trajectory_response, trajectory_sequence

    trajectory = next(t for t in _oracle_samples("scenes", _family_config("closest"), 6))
    oracle, item = trajectory.item.oracle, trajectory.item
    plain = compute_score(trajectory_sequence(trajectory), item.answer, item.question_type)
    assert "grounding" not in plain and plain["overall"] == 2.0
    expected = ground_trajectory(trajectory).score
    for text in (trajectory_sequence(trajectory), trajectory_response(trajectory)):
        scored = compute_score(
            text, item.answer, item.question_type, oracle=to_dict(item)["oracle"]
        )
        assert scored["grounding"] == expected == 1.0 and scored["overall"] == plain["overall"]
    weighted = compute_score(
        trajectory_sequence(trajectory),
        item.answer,
        item.question_type,
        oracle=oracle,
        grounding_weight=0.5,
    )
    assert weighted["overall"] == 2.0  # fully grounded: nothing taken off
    # a box moved onto another object: the reward's grounding drops with the filter's
    op = trajectory.turns[0].operations[0]
    other = min(
        (o for o in oracle.views[0].objects if o.name != op.label),
        key=lambda o: box_iou(op.bbox_2d, o.box),
    )
    bad = _perturb_first(trajectory, bbox_2d=tuple(round(v) for v in other.box))
    first = bad.turns[0]
    turns = (dataclasses.replace(first, raw=format_tool_turn(first.think, first.operations)),)
    bad = dataclasses.replace(bad, turns=turns + bad.turns[1:])
    scored = compute_score(trajectory_sequence(bad), item.answer, item.question_type, oracle=oracle)
    assert scored["grounding"] == ground_trajectory(bad).score < 1.0
