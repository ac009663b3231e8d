"""Scene questions a person can answer from the pixels: the words tell the named objects apart,
directions are stated as the drawing shows them, lines the text relies on are visible, labels
contrast with what they sit on. Unit tests on constructed scenes, then the same properties
recomputed on generated samples (text only: draw_scene_question)."""

import math
import re

import numpy as np
import pytest
from drawreason.drawing.parse import parse_turn
from drawreason.drawing.state import ImageState, merge_state
from drawreason.generators.scenes import SceneConfig
from drawreason.generators.scenes.answerable import (
    TAG_COVER,
    confusable,
    hidden_lines,
    image_angle,
    legible_order,
    looks_alike,
    tag_cover,
)
from drawreason.generators.scenes.direction import (
    AGREE_DEG,
    drawing_agrees,
    quadrant,
    relative_direction,
)
from drawreason.generators.scenes.sample import draw_scene_question
from drawreason.generators.scenes.world import SceneObject, box_2d, orbit_camera, sample_objects
from drawreason.generators.seeding import sample_rng
from drawreason.schemas.records import BoxOp, LineOp


def _obj(name, x=0.0, y=0.0, w=20.0, d=20.0, h=20.0):
    color, shape = name.split()
    return SceneObject(name, shape, color, x, y, w, d, h)


# --- objects the words tell apart -------------------------------------------------------------


def test_a_nearly_cubic_box_beside_a_cube_of_its_colour_is_not_answerable():
    cube = _obj("blue cube", 0, 0, 20.8, 20.8, 20.8)
    box = _obj("blue box", 50, 0, 19.2, 21.7, 18.0)  # the pair
    assert looks_alike(cube, box) and looks_alike(box, cube)
    assert confusable([cube], [cube, box]) == ["blue cube"]
    long_box = _obj("blue box", 50, 0, 30.0, 16.0, 18.0)
    assert not looks_alike(cube, long_box)
    assert not looks_alike(cube, _obj("red box", 50, 0, 19.2, 21.7, 18.0))  # other colour
    assert confusable([cube], [cube, long_box, _obj("blue ball", -50)]) == []


def test_generated_scenes_never_hold_two_objects_the_words_confuse():
    for seed in range(300):
        rng = np.random.default_rng(seed)
        objects = sample_objects(rng, 6, same_color=int(rng.integers(0, 4)))
        assert confusable(objects, objects) == []
        assert all(o.width / o.depth >= 1.4 for o in objects if o.shape == "box")


def test_same_color_gives_exactly_that_many_objects_of_one_colour():
    for k in (1, 2, 3):
        objects = sample_objects(np.random.default_rng(k), 5, same_color=k)
        colors = [o.color for o in objects]
        assert colors.count(objects[0].color) == k
    with pytest.raises(ValueError, match="same_color"):
        sample_objects(np.random.default_rng(0), 4, same_color=6)


# --- directions as the drawing shows them -----------------------------------------------------


def test_drawing_agrees_only_when_the_quadrants_match_with_a_margin():
    assert drawing_agrees(40.0, 30.0)
    assert not drawing_agrees(40.0, 40.0 + AGREE_DEG + 1)  # angles too far apart
    assert not drawing_agrees(80.0, 100.0)  # front on the floor, back in the drawing
    assert not drawing_agrees(10.0, 12.0)  # too close to straight ahead to call a side
    assert drawing_agrees(-150.0, -160.0) and quadrant(-150.0) == "back-right"
    assert drawing_agrees(155.0, 160.0)
    # image y points down: a point up and to the left of the facing line is on the left
    assert image_angle((100, 100), (100, 0), (50, 50)) == pytest.approx(45.0)
    assert image_angle((100, 100), (100, 0), (150, 150)) == pytest.approx(-135.0)


def _final_lines(replies):
    lines = {}
    for reply in replies:
        for op in parse_turn(reply).operations:
            if isinstance(op, LineOp):
                lines[op.label] = op
    return lines


def _objects(q):
    return {o.name: o for o in q.objects}


@pytest.fixture(scope="module")
def single_view():
    out = {}
    for family in ("direction", "closest", "size", "distance"):
        config = SceneConfig(question_mix=((family, 1.0),), reflective_share=0.3)
        out[family] = [
            draw_scene_question(f"a-{i}", sample_rng(31, f"a-{i}"), config) for i in range(60)
        ]
    return out


def _nearer_box_covers(point, target, objects, camera):
    eye = np.array(camera.eye)
    dist = {o.name: math.dist(o.center, eye) for o in objects}
    for o in objects:
        b = box_2d(o, camera)
        if b and o.name != target and dist[o.name] < dist[target]:
            if b[0] + 3 < point[0] < b[2] - 3 and b[1] + 3 < point[1] < b[3] - 3:
                return o.name
    return None


def test_direction_is_stated_as_drawn_and_agrees_with_the_floor(single_view):
    quadrants = set()
    for q in single_view["direction"]:
        meta, objects = q.question.meta, _objects(q)
        lines = _final_lines(q.question.replies)
        facing, other = lines["facing"], lines[f"to {meta['other']}"]
        drawn = image_angle(facing.start_point_2d, facing.end_point_2d, other.end_point_2d)
        where, floor = relative_direction(
            *(objects[meta[k]] for k in ("anchor", "facing", "other"))
        )
        assert quadrant(drawn) == where == q.question.options["ABCD".index(q.question.answer)]
        assert abs(drawn - floor) <= AGREE_DEG
        stated = re.search(r"(\d+) degrees", q.question.replies[-1])
        assert int(stated.group(1)) == round(abs(drawn))
        for name, line in ((meta["facing"], facing), (meta["other"], other)):
            assert _nearer_box_covers(line.end_point_2d, name, q.objects, q.cameras[0]) is None
        quadrants.add(where)
    assert quadrants == {"front-left", "front-right", "back-left", "back-right"}


# --- lines the text relies on are visible -----------------------------------------------------


def test_a_line_under_a_longer_collinear_line_is_hidden():
    start = (100, 100)
    assert hidden_lines(start, [(300, 100), (200, 103)]) == [1]  # on top of the longer one
    assert hidden_lines(start, [(300, 100), (200, 160)]) == []
    assert hidden_lines(start, [(300, 100), (100, 300)]) == []


def test_closest_lines_are_visible_and_clearly_ordered(single_view):
    for q in single_view["closest"]:
        meta = q.question.meta
        lines = _final_lines(q.question.replies)
        ends = [lines[f"to {c}"].end_point_2d for c in meta["candidates"]]
        start = lines[f"to {meta['candidates'][0]}"].start_point_2d
        assert hidden_lines(start, ends) == []
        px = sorted(math.dist(start, e) for e in ends)
        assert px[0] <= 0.8 * px[1]
        assert f"{px[0]:.0f} px" in q.question.replies[-1]
        for c, end in zip(meta["candidates"], ends, strict=True):
            assert _nearer_box_covers(end, c, q.objects, q.cameras[0]) is None


# --- labels contrast with what they sit on ----------------------------------------------------


def test_a_label_in_the_objects_own_colour_is_reordered_away():
    camera = orbit_camera(0.0, 448)
    red = _obj("red cube", 0, 0, 40, 40, 40)
    x1, y1, x2, y2 = box_2d(red, camera)
    # A box whose tag (top-left corner) lies on the red cube itself.
    on_red = BoxOp(1, (round(x1 + 10), round(y1 + 25), round(x2), round(y2)), "red cube")
    assert tag_cover(on_red, 0, [red], camera) >= TAG_COVER  # slot 0 draws red
    assert tag_cover(on_red, 1, [red], camera) < TAG_COVER  # slot 1 draws green
    other = BoxOp(1, (10, 10, 60, 60), "other")
    assert legible_order([on_red, other], [red], camera) == [other, on_red]


def test_generated_labels_never_sit_on_their_own_colour(single_view):
    checked = 0
    for family in ("size", "closest", "direction", "distance"):
        for q in single_view[family]:
            if q.question.meta["reflective"]:
                continue
            states = [ImageState()]
            for reply in q.question.replies[:-1]:
                ops = parse_turn(reply).operations
                states.append(merge_state(states[ops[0].index - 1], ops))
            for i, box in enumerate(states[-1].boxes):
                assert tag_cover(box, i, q.objects, q.cameras[0]) < TAG_COVER
                checked += 1
    assert checked > 300
