"""Synthetic scenes: geometry, answers recomputed from ground truth, oracle traces, reflection."""

import math

import numpy as np
import pytest

from drawing.environment import EnvConfig, run_replies
from drawing.images import encode_png
from drawing.prompts import Prompts
from filters.scoring import accuracy, detect_reflections
from generators.scenes import SceneConfig, generate_scene_sample
from generators.scenes.world import SceneObject, box_2d, orbit_camera, sample_objects
from generators.seeding import sample_rng

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
        else:
            assert s.answer == str(round(objects[meta["target"]].height))
            assert (
                abs(meta["estimate_cm"] - objects[meta["target"]].height)
                / objects[meta["target"]].height
                < 0.15
            )
    assert families == {"size", "closest", "direction", "count"}


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
    ],
)
def test_config_errors_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**kwargs)
