"""Synthetic scenes: geometry, answers recomputed from ground truth, oracle traces, reflection."""

import itertools
import math

import numpy as np
import pytest
from drawreason.drawing.environment import EnvConfig, run_replies
from drawreason.drawing.images import encode_png
from drawreason.drawing.prompts import Prompts
from drawreason.filters.rules import apply_filters, cold_start_filters
from drawreason.filters.scoring import accuracy, detect_reflections, trajectory_reflections
from drawreason.generators.oracle import build_oracle_sample
from drawreason.generators.scenes import SceneConfig, generate_scene_sample
from drawreason.generators.scenes.config import FAMILIES
from drawreason.generators.scenes.world import (
    SceneObject,
    box_2d,
    orbit_camera,
    partly_in_frame,
    sample_objects,
    truck_camera,
)
from drawreason.generators.seeding import sample_rng
from drawreason.schemas.records import Provenance

PROMPTS = Prompts.load()


DEFAULT = SceneConfig()


def _samples(n, config=DEFAULT, seed=0):
    return [generate_scene_sample(f"s-{i}", sample_rng(seed, f"s-{i}"), config) for i in range(n)]


@pytest.fixture(scope="module")
def samples():
    return _samples(90)


def _objects(meta):
    return [
        SceneObject(
            o["name"], o["shape"], o["color"], o["x"], o["y"], o["width"], o["depth"], o["height"]
        )
        for o in meta["objects"]
    ]


def test_projected_boxes_contain_the_object_in_every_view():
    objects = sample_objects(np.random.default_rng(5), 5)
    for angle in (0, 40, 80, 200):
        camera = orbit_camera(angle, 448)
        for obj in objects:
            box = box_2d(obj, camera)
            if box is None:
                continue
            uv, depth = camera.project(obj.points())
            assert (depth > 0).all()
            assert (uv[:, 0] >= box[0] - 1e-6).all() and (uv[:, 0] <= box[2] + 1e-6).all()
            assert (uv[:, 1] >= box[1] - 1e-6).all() and (uv[:, 1] <= box[3] + 1e-6).all()
            cu, cv = camera.project(np.array([obj.center]))[0][0]
            assert box[0] <= cu <= box[2] and box[1] <= cv <= box[3]


def test_objects_do_not_overlap_and_are_distinct():
    objects = sample_objects(np.random.default_rng(1), 6)
    assert len({o.name for o in objects}) == 6
    for a in objects:
        for b in objects:
            if a is not b:
                assert (
                    math.hypot(a.x - b.x, a.y - b.y)
                    > (max(a.width, a.depth) + max(b.width, b.depth)) / 2
                )


def test_answers_recomputed_from_ground_truth(samples):
    families = set()
    for s in samples:
        meta = s.meta
        families.add(meta["family"])
        objects = {o.name: o for o in _objects(meta)}
        if meta["family"] == "closest":
            anchor = objects[meta["anchor"]]
            dist = [
                math.hypot(objects[c].x - anchor.x, objects[c].y - anchor.y)
                for c in meta["candidates"]
            ]
            assert s.answer == "ABCD"[int(np.argmin(dist))]
            assert list(s.options) == meta["candidates"]
        elif meta["family"] == "direction":
            a, f, o = (objects[meta[k]] for k in ("anchor", "facing", "other"))
            ahead = (f.x - a.x) * (o.x - a.x) + (f.y - a.y) * (o.y - a.y) > 0
            left = (f.x - a.x) * (o.y - a.y) - (f.y - a.y) * (o.x - a.x) > 0
            where = ("front" if ahead else "back") + "-" + ("left" if left else "right")
            assert s.options[("ABCD").index(s.answer)] == where
        elif meta["family"] == "count":
            cameras = [orbit_camera(a, 448) for a in meta["camera_angles"]]
            seen = {
                o.name
                for o in objects.values()
                if o.color == meta["color"] and any(box_2d(o, cam) is not None for cam in cameras)
            }
            assert s.answer == str(len(seen))
            assert s.data_type == "multi_view" and len(s.images) == meta["n_views"] >= 2
        elif meta["family"] in NEW_FAMILIES:
            _check_new_family_answer(s)
        elif meta["family"] == "size":
            assert s.answer == str(round(objects[meta["target"]].height))
            assert (
                abs(meta["estimate_cm"] - objects[meta["target"]].height)
                / objects[meta["target"]].height
                < 0.15
            )
    assert families == set(FAMILIES)


NEW_FAMILIES = ("distance", "view_left_of", "appearance_order")
PROVENANCE = Provenance("test", "test", 0, "test")


def _only(family, **kwargs):
    return SceneConfig(question_mix=((family, 1.0),), **kwargs)


@pytest.fixture(scope="module")
def new_family_bundles():
    """Thirty oracle trajectories per new family, built as the pipeline builds them."""
    return {
        family: [
            build_oracle_sample("scenes", i, 0, _only(family), PROMPTS, PROVENANCE)
            for i in range(30)
        ]
        for family in NEW_FAMILIES
    }


def _visible(objects, camera):
    """The visibility rule, restated: fully in the frame and at most 35% of the box covered
    by the boxes of nearer objects (overlaps counted twice)."""
    eye = np.array(camera.eye)
    boxes = {o.name: b for o in objects if (b := box_2d(o, camera)) is not None}
    dist = {o.name: math.dist(o.center, eye) for o in objects}
    visible = set()
    for name, (x1, y1, x2, y2) in boxes.items():
        covered = sum(
            max(min(x2, b[2]) - max(x1, b[0]), 0) * max(min(y2, b[3]) - max(y1, b[1]), 0)
            for n, b in boxes.items()
            if dist[n] < dist[name]
        )
        if covered <= 0.35 * (x2 - x1) * (y2 - y1):
            visible.add(name)
    return visible


def _cameras(meta):
    if meta["family"] == "appearance_order":
        return [
            truck_camera(a, 448, o)
            for a, o in zip(meta["camera_angles"], meta["camera_offsets"], strict=True)
        ]
    return [orbit_camera(a, 448) for a in meta["camera_angles"]]


def _check_new_family_answer(s):
    """The answer of a new family, recomputed from the scene without the family's code."""
    meta = s.meta
    objects = {o.name: o for o in _objects(meta)}
    cameras = _cameras(meta)
    if meta["family"] == "distance":
        a, b = objects[meta["object_a"]], objects[meta["object_b"]]
        truth = math.dist((a.x, a.y, a.height / 2), (b.x, b.y, b.height / 2))
        assert s.question_type == "numerical" and s.answer == str(round(truth))
        ref = objects[meta["reference"]]
        assert f"{ref.width:g} cm wide" in s.question and ref.shape in ("cylinder", "ball", "cone")
        assert len({ref.name, a.name, b.name}) == 3
        assert all(n in _visible(objects.values(), cameras[0]) for n in (ref.name, a.name, b.name))
    elif meta["family"] == "view_left_of":
        x, y = objects[meta["object_x"]], objects[meta["object_y"]]
        left = []
        for k, cam in enumerate(cameras, start=1):
            assert {x.name, y.name} <= _visible(objects.values(), cam)
            bx, by = box_2d(x, cam), box_2d(y, cam)
            if (bx[0] + bx[2]) / 2 < (by[0] + by[2]) / 2:
                left.append(k)
        assert len(left) == 1 and 2 <= len(cameras) <= 4
        assert s.options == tuple(f"view {k}" for k in range(1, len(cameras) + 1))
        assert s.answer == "ABCD"[left[0] - 1]
        assert s.data_type == "multi_view" and len(s.images) == len(cameras)
    elif meta["family"] == "appearance_order":
        assert 3 <= len(cameras) <= 6 and len(s.images) == len(cameras)
        visible = [_visible(objects.values(), cam) for cam in cameras]
        asked = meta["objects_asked"]
        assert 3 <= len(asked) <= 4 and len(s.options) == 4 and len(set(s.options)) == 4
        first = {n: min(k for k, v in enumerate(visible) if n in v) for n in asked}
        order = sorted(asked, key=first.get)
        # One clearly after another: an object is fully in view before any part of the next.
        for a, b in itertools.pairwise(order):
            assert first[a] < first[b]
            assert not any(partly_in_frame(objects[b], cameras[j]) for j in range(first[a] + 1))
        expected = ", then ".join(f"the {n}" for n in order)
        assert s.options["ABCD".index(s.answer)] == expected
    else:
        raise AssertionError(meta["family"])


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_new_family_answers_recomputed_from_the_scene(family, new_family_bundles):
    for i in range(30):
        s = generate_scene_sample(f"s-{i}", sample_rng(3, f"s-{i}"), _only(family))
        assert s.meta["family"] == family
        _check_new_family_answer(s)


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_new_family_oracles_pass_cold_start_filters(family, new_family_bundles):
    filters = cold_start_filters()
    verdicts = [apply_filters(b.trajectory, filters) for b in new_family_bundles[family]]
    kept = sum(v.keep for v in verdicts)
    assert kept == len(verdicts), [v for v in verdicts if not v.keep]
    for b in new_family_bundles[family]:
        assert b.trajectory.scores["accuracy"] == 1.0


def test_distance_estimate_is_what_the_trace_states():
    """The stated proportion uses the drawn lines' pixel lengths and is within 4% of the truth."""
    for i in range(20):
        s = generate_scene_sample(f"s-{i}", sample_rng(4, f"s-{i}"), _only("distance"))
        rollout = run_replies(s.images, s.replies, EnvConfig(max_calls=s.max_calls), PROMPTS)
        lines = {
            op.label: op for t in rollout.turns for op in t.operations if op.tool != "Object Mapper"
        }
        ab = lines[f"{s.meta['object_a']} to {s.meta['object_b']}"]
        ref = lines[f"{s.meta['reference']} width"]
        ab_px = round(math.dist(ab.start_point_2d, ab.end_point_2d))
        ref_px = round(math.dist(ref.start_point_2d, ref.end_point_2d))
        width = {o["name"]: o["width"] for o in s.meta["objects"]}[s.meta["reference"]]
        estimate = width * ab_px / ref_px
        assert f"{ab_px} px" in s.replies[-1] and f"{ref_px} px" in s.replies[-1]
        assert rollout.turns[-1].answer == str(round(estimate))
        assert abs(estimate - s.meta["distance_cm"]) / s.meta["distance_cm"] < 0.04
        assert abs(round(estimate) - int(s.answer)) / int(s.answer) < 0.04


def test_view_left_of_tracking_is_not_reflection_but_reflective_distance_is(
    new_family_bundles,
):
    plain = [b for b in new_family_bundles["view_left_of"] if not b.trajectory.meta["reflective"]]
    assert plain
    for b in plain:
        assert trajectory_reflections(b.trajectory) == ()
        labels = [op.label for t in b.trajectory.turns for op in t.operations]
        assert labels.count(b.trajectory.meta["object_x"]) == b.trajectory.meta["n_views"]
    for b in new_family_bundles["appearance_order"]:
        assert trajectory_reflections(b.trajectory) == ()
    config = _only("distance", reflective_share=1.0)
    reflective = [
        build_oracle_sample("scenes", i, 0, config, PROMPTS, PROVENANCE) for i in range(8)
    ]
    assert all(b.trajectory.meta["reflective"] for b in reflective)
    for b in reflective:
        found = trajectory_reflections(b.trajectory)
        meta = b.trajectory.meta
        if meta["mistake"] == "line":
            expected = [("line_moved", f"{meta['object_a']} to {meta['object_b']}")]
        else:
            named = (meta["object_a"], meta["object_b"], meta["reference"])
            expected = [("box_moved", n) for n in named if (("box_moved", n)) in found_pairs(found)]
            assert len(expected) == 1
        assert [(r.kind, r.label) for r in found] == expected
        assert apply_filters(b.trajectory, cold_start_filters()).keep
    config = _only("view_left_of", reflective_share=1.0)
    for i in range(6):
        b = build_oracle_sample("scenes", i, 0, config, PROMPTS, PROVENANCE)
        kinds = [r.kind for r in trajectory_reflections(b.trajectory)]
        assert kinds == (["box_moved"] if b.trajectory.meta["reflective"] else [])
        assert apply_filters(b.trajectory, cold_start_filters()).keep


def found_pairs(found):
    return [(r.kind, r.label) for r in found]


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_new_families_same_seed_same_sample(family):
    config = _only(family)
    a = [generate_scene_sample(f"s-{i}", sample_rng(9, f"s-{i}"), config) for i in range(3)]
    b = [generate_scene_sample(f"s-{i}", sample_rng(9, f"s-{i}"), config) for i in range(3)]
    for x, y in zip(a, b, strict=True):
        assert x.replies == y.replies and x.meta == y.meta and x.answer == y.answer
        assert [encode_png(i) for i in x.images] == [encode_png(i) for i in y.images]
    other = generate_scene_sample("s-0", sample_rng(10, "s-0"), config)
    assert other.replies != a[0].replies


def test_oracle_traces_execute_cleanly(samples):
    kinds = set()
    for s in samples:
        rollout = run_replies(s.images, s.replies, EnvConfig(max_calls=s.max_calls), PROMPTS)
        assert rollout.termination == "answered", s.meta
        assert len(rollout.turns) >= 3
        for turn in rollout.turns:
            assert not turn.error and not turn.format_issues, turn
        acc = accuracy(rollout.turns[-1].answer, s.answer, s.question_type)
        if s.meta["family"] != "size":
            assert acc == 1.0
        reflections = detect_reflections(
            rollout.turns, len(s.images), rollout.parents[len(s.images) :]
        )
        assert bool(reflections) == s.meta["reflective"], s.meta
        kinds.update(r.kind for r in reflections)
    assert {"box_moved", "line_moved"} <= kinds


def test_tracking_across_frames_is_not_reflection(samples):
    tracked = [
        s
        for s in samples
        if s.meta["family"] == "count"
        and any(len(frames) > 1 for frames in s.meta["seen_in"].values())
    ]
    assert tracked
    for s in tracked:
        rollout = run_replies(s.images, s.replies, EnvConfig(max_calls=s.max_calls), PROMPTS)
        assert (
            detect_reflections(rollout.turns, len(s.images), rollout.parents[len(s.images) :]) == ()
        )


def test_same_seed_same_sample():
    a, b = _samples(4, seed=9), _samples(4, seed=9)
    for x, y in zip(a, b, strict=True):
        assert x.replies == y.replies and x.meta == y.meta
        assert [encode_png(i) for i in x.images] == [encode_png(i) for i in y.images]
    assert _samples(1, seed=10)[0].replies != a[0].replies


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 450}, "image_size"),
        ({"min_objects": 2}, "min_objects"),
        ({"max_views": 9}, "max_views"),
        ({"question_mix": (("colour", 1.0),)}, "unknown family 'colour'"),
        ({"reflective_share": 1.5}, "reflective_share"),
        ({"min_frames": 2}, "min_frames"),
        ({"max_frames": 9}, "max_frames"),
    ],
)
def test_config_errors_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**kwargs)


def test_textured_floor_is_deterministic_and_off_by_default():
    assert SceneConfig().textured_floor is False
    textured = SceneConfig(textured_floor=True)
    a, b = _samples(3, textured, seed=5), _samples(3, textured, seed=5)
    plain = _samples(3, seed=5)
    for x, y, p in zip(a, b, plain, strict=True):
        assert [encode_png(i) for i in x.images] == [encode_png(i) for i in y.images]
        assert [encode_png(i) for i in x.images] != [encode_png(i) for i in p.images]
        # The floor is drawn from the seed after the question: same question, same trace.
        assert x.replies == p.replies and x.answer == p.answer
        assert x.meta["textured_floor"] and "textured_floor" not in p.meta
