"""generate_scene_sample: a scene, its views, one question and its oracle trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from drawreason.generators.base import GeneratedSample
from drawreason.generators.scenes.common import NoQuestion, Question
from drawreason.generators.scenes.config import SceneConfig
from drawreason.generators.scenes.direction import direction_question
from drawreason.generators.scenes.distance import distance_question
from drawreason.generators.scenes.families import closest_question, count_question, size_question
from drawreason.generators.scenes.frames import appearance_order_question, view_left_of_question
from drawreason.generators.scenes.render import floor_texture, render_scene
from drawreason.generators.scenes.world import (
    Camera,
    SceneObject,
    orbit_camera,
    sample_objects,
    truck_camera,
)

MAX_ATTEMPTS = 40
# Families whose scenes are rarer get more (cheap: nothing is rendered until a question fits).
ATTEMPTS = {
    "distance": 250,
    "appearance_order": 120,
    "direction": 120,
    "closest": 120,
    "view_left_of": 400,
}
NO_REFLECTIVE_VARIANT = ("count", "appearance_order")


def _pick(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, w in weighted if w > 0]
    weights = np.array([w for n, w in weighted if w > 0], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _cameras(
    family: str, rng: np.random.Generator, config: SceneConfig, views: int
) -> tuple[list[float], list[float], list[Camera]]:
    """(orbit angles, sideways offsets, cameras) of the views a family asks about; `views` is
    the number of views of `view_left_of` (drawn once per sample: the answer's range)."""
    start = float(rng.uniform(0, 360))
    if family == "count":
        n_views = int(rng.integers(config.min_views, config.max_views + 1))
        step = float(rng.uniform(25, 50))
        angles = [start + k * step for k in range(n_views)]
    elif family == "view_left_of":
        # 2-4 views far apart around the scene, so left and right swap between some of them
        # (with more views, left in exactly one of them is rare).
        n_views = views
        step = float(rng.uniform(60, max(60.0, 300 / (n_views - 1))))
        angles = [start + k * step for k in range(n_views)]
    elif family == "appearance_order":
        n_frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        # Slide from where few objects are in view across the scene: objects come into view
        # one after another from the side the camera moves towards.
        first = float(rng.uniform(120, 160))
        last = first - float(rng.uniform(110, 160))
        side = 1 if rng.random() < 0.5 else -1
        offsets = [round(side * float(v), 3) for v in np.linspace(-first, -last, n_frames)]
        start = round(start, 3)
        cameras = [truck_camera(start, config.image_size, o) for o in offsets]
        return [start] * n_frames, offsets, cameras
    else:
        angles = [start]
    angles = [round(a, 3) for a in angles]  # the meta records them so; tests rebuild from it
    return angles, [0.0] * len(angles), [orbit_camera(a, config.image_size) for a in angles]


@dataclass(frozen=True)
class SceneQuestion:
    """A drawn question before rendering: its scene, cameras and oracle question."""

    family: str
    objects: tuple[SceneObject, ...]
    angles: tuple[float, ...]
    offsets: tuple[float, ...]
    cameras: tuple[Camera, ...]
    question: Question


COUNT_VALUES = (1, 2, 3)  # count answers are drawn uniformly from these (answer balance)


def count_value(want: float) -> int:
    return COUNT_VALUES[int(want * len(COUNT_VALUES))]


def _ask(
    family: str,
    objects: list[SceneObject],
    cameras: list[Camera],
    rng: np.random.Generator,
    config: SceneConfig,
    reflective: bool,
    want: float,
) -> Question:
    jitter = config.jitter_px
    if family == "size":
        return size_question(objects, cameras[0], rng, jitter, reflective)
    if family == "closest":
        return closest_question(objects, cameras[0], rng, jitter, reflective, want)
    if family == "direction":
        return direction_question(objects, cameras[0], rng, jitter, reflective, want)
    if family == "distance":
        return distance_question(objects, cameras[0], rng, jitter, reflective)
    if family == "view_left_of":
        # The reflective variant spends two extra calls on view 1 (a box per turn, the fix).
        fits = len(cameras) + 3 <= config.max_calls
        return view_left_of_question(objects, cameras, rng, jitter, reflective and fits, want)
    if family == "appearance_order":
        return appearance_order_question(objects, cameras, rng, jitter, want)
    return count_question(objects, cameras, rng, jitter, count_value(want))


def draw_scene_question(
    sample_id: str, rng: np.random.Generator, config: SceneConfig
) -> SceneQuestion:
    """The family, scene, cameras and question of one sample, from `rng` alone (nothing is
    rendered: `generate_scene_sample` renders them with the same rng afterwards).

    Raises ValueError if no scene supporting the chosen family is found in its ATTEMPTS draws.
    """
    family = _pick(rng, config.question_mix)
    reflective = bool(rng.random() < config.reflective_share) and (
        family not in NO_REFLECTIVE_VARIANT
    )
    # Where the answer falls (a letter, a direction, a count), drawn once per sample and kept
    # through every scene tried, so hard-to-find answers are not traded for easy ones.
    want = float(rng.random())
    same_color = count_value(want) if family == "count" else 0
    views = int(rng.integers(min(config.min_views, 4), min(config.max_views, 4) + 1))
    attempts = ATTEMPTS.get(family, MAX_ATTEMPTS)
    for _ in range(attempts):
        count = int(rng.integers(config.min_objects, config.max_objects + 1))
        objects = sample_objects(rng, count, same_color=same_color)
        angles, offsets, cameras = _cameras(family, rng, config, views)
        try:
            q = _ask(family, objects, cameras, rng, config, reflective, want)
        except NoQuestion:
            continue
        return SceneQuestion(
            family, tuple(objects), tuple(angles), tuple(offsets), tuple(cameras), q
        )
    raise ValueError(f"{sample_id}: no scene for family {family!r} in {attempts} attempts")


def generate_scene_sample(
    sample_id: str, rng: np.random.Generator, config: SceneConfig
) -> GeneratedSample:
    """One scene question with its rendered views and oracle replies, from `rng` alone.

    Raises ValueError if no scene supporting the chosen family is found in its ATTEMPTS draws.
    """
    drawn = draw_scene_question(sample_id, rng, config)
    family, objects, cameras, q = drawn.family, drawn.objects, drawn.cameras, drawn.question
    angles, offsets = drawn.angles, drawn.offsets
    floor = floor_texture(rng) if config.textured_floor else None
    images = tuple(render_scene(objects, cam, floor) for cam in cameras)
    meta = {
        "family": family,
        "n_views": len(cameras),
        "camera_angles": [round(a, 3) for a in angles],
        **({"textured_floor": True} if floor is not None else {}),
        **({"camera_offsets": [round(o, 3) for o in offsets]} if any(offsets) else {}),
        "objects": [
            {
                "name": o.name,
                "shape": o.shape,
                "color": o.color,
                "x": o.x,
                "y": o.y,
                "width": o.width,
                "depth": o.depth,
                "height": o.height,
            }
            for o in objects
        ],
        **q.meta,
    }
    return GeneratedSample(
        question=q.text,
        question_type=q.question_type,
        answer=q.answer,
        options=q.options,
        data_type="multi_view" if len(cameras) > 1 else "scenes",
        grid_size=None,
        images=images,
        replies=q.replies,
        max_calls=config.max_calls,
        meta=meta,
    )
