"""generate_scene_sample: a scene, its views, one question and its oracle trace."""

from __future__ import annotations

import numpy as np

from generators.base import GeneratedSample
from generators.scenes.config import SceneConfig
from generators.scenes.distance import distance_question
from generators.scenes.families import (
    NoQuestion,
    closest_question,
    count_question,
    direction_question,
    size_question,
)
from generators.scenes.frames import appearance_order_question, view_left_of_question
from generators.scenes.render import floor_texture, render_scene
from generators.scenes.world import Camera, orbit_camera, sample_objects, truck_camera

MAX_ATTEMPTS = 40
# Families whose scenes are rarer get more (cheap: nothing is rendered until a question fits).
ATTEMPTS = {"distance": 250, "appearance_order": 120}
NO_REFLECTIVE_VARIANT = ("count", "appearance_order")


def _pick(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, w in weighted if w > 0]
    weights = np.array([w for n, w in weighted if w > 0], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _cameras(
    family: str, rng: np.random.Generator, config: SceneConfig
) -> tuple[list[float], list[float], list[Camera]]:
    """(orbit angles, sideways offsets, cameras) of the views a family asks about."""
    start = float(rng.uniform(0, 360))
    if family == "count":
        n_views = int(rng.integers(config.min_views, config.max_views + 1))
        step = float(rng.uniform(25, 50))
        angles = [start + k * step for k in range(n_views)]
    elif family == "view_left_of":
        # 2-4 views far apart around the scene, so left and right swap between some of them
        # (with more views, left in exactly one of them is rare).
        n_views = int(rng.integers(min(config.min_views, 4), min(config.max_views, 4) + 1))
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


def generate_scene_sample(
    sample_id: str, rng: np.random.Generator, config: SceneConfig
) -> GeneratedSample:
    """One scene question with its rendered views and oracle replies, from `rng` alone.

    Raises ValueError if no scene supporting the chosen family is found in its ATTEMPTS draws.
    """
    family = _pick(rng, config.question_mix)
    reflective = bool(rng.random() < config.reflective_share) and (
        family not in NO_REFLECTIVE_VARIANT
    )
    attempts = ATTEMPTS.get(family, MAX_ATTEMPTS)
    for _ in range(attempts):
        objects = sample_objects(rng, int(rng.integers(config.min_objects, config.max_objects + 1)))
        angles, offsets, cameras = _cameras(family, rng, config)
        jitter = config.jitter_px
        try:
            if family == "size":
                q = size_question(objects, cameras[0], rng, jitter, reflective)
            elif family == "closest":
                q = closest_question(objects, cameras[0], rng, jitter, reflective)
            elif family == "direction":
                q = direction_question(objects, cameras[0], rng, jitter, reflective)
            elif family == "distance":
                q = distance_question(objects, cameras[0], rng, jitter, reflective)
            elif family == "view_left_of":
                # The reflective variant spends one extra call on view 1.
                fits = len(cameras) + 2 <= config.max_calls
                q = view_left_of_question(objects, cameras, rng, jitter, reflective and fits)
            elif family == "appearance_order":
                q = appearance_order_question(objects, cameras, rng, jitter)
            else:
                q = count_question(objects, cameras, rng, jitter)
        except NoQuestion:
            continue
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
    raise ValueError(f"{sample_id}: no scene for family {family!r} in {attempts} attempts")
