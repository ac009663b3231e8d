"""generate_scene_sample: a scene, its views, one question and its oracle trace."""

from __future__ import annotations

import numpy as np

from generators.base import GeneratedSample
from generators.scenes.config import SceneConfig
from generators.scenes.families import (
    NoQuestion,
    closest_question,
    count_question,
    direction_question,
    size_question,
)
from generators.scenes.render import render_scene
from generators.scenes.world import orbit_camera, sample_objects

MAX_ATTEMPTS = 40


def _pick(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, w in weighted if w > 0]
    weights = np.array([w for n, w in weighted if w > 0], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def generate_scene_sample(
    sample_id: str, rng: np.random.Generator, config: SceneConfig
) -> GeneratedSample:
    """One scene question with its rendered views and oracle replies, from `rng` alone.

    Raises ValueError if no scene supporting the chosen family is found in MAX_ATTEMPTS draws.
    """
    family = _pick(rng, config.question_mix)
    reflective = bool(rng.random() < config.reflective_share) and family != "count"
    for _ in range(MAX_ATTEMPTS):
        objects = sample_objects(rng, int(rng.integers(config.min_objects, config.max_objects + 1)))
        start = float(rng.uniform(0, 360))
        if family == "count":
            n_views = int(rng.integers(config.min_views, config.max_views + 1))
            step = float(rng.uniform(25, 50))
            angles = [start + k * step for k in range(n_views)]
        else:
            angles = [start]
        cameras = [orbit_camera(a, config.image_size) for a in angles]
        try:
            if family == "size":
                q = size_question(objects, cameras[0], rng, config.jitter_px, reflective)
            elif family == "closest":
                q = closest_question(objects, cameras[0], rng, config.jitter_px, reflective)
            elif family == "direction":
                q = direction_question(objects, cameras[0], rng, config.jitter_px, reflective)
            else:
                q = count_question(objects, cameras, rng, config.jitter_px)
        except NoQuestion:
            continue
        images = tuple(render_scene(objects, cam) for cam in cameras)
        meta = {
            "family": family,
            "n_views": len(cameras),
            "camera_angles": [round(a, 3) for a in angles],
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
    raise ValueError(f"{sample_id}: no scene for family {family!r} in {MAX_ATTEMPTS} attempts")
