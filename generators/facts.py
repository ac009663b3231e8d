"""The oracle facts of a generated sample (schemas/oracle.py), for step-level grounding.

Built from what the generator already returns (the maze's ASCII picture, start and goal; the
scene's objects and camera poses in `meta`) with the generators' own geometry, so a fact is
computed the way the images and traces were.
"""

from __future__ import annotations

import numpy as np
from drawreason.generators.base import GeneratedSample
from drawreason.generators.maze.ascii import maze_from_ascii
from drawreason.generators.maze.render import axes_box
from drawreason.generators.maze.solve import solve_maze
from drawreason.generators.scenes.world import SceneObject, orbit_camera, truck_camera
from drawreason.schemas.oracle import MazeOracle, ObjectBox, SceneOracle, SceneView


def maze_facts(sample: GeneratedSample) -> MazeOracle:
    """Passages, start, goal and shortest route of a maze sample, with its grid's pixel box."""
    meta = sample.meta
    maze = maze_from_ascii(meta["maze_ascii"])
    start, goal = tuple(meta["start"]), tuple(meta["goal"])
    route = solve_maze(maze.tree, start, goal)
    passages = tuple(sorted(tuple(sorted(edge)) for edge in maze.tree.edges))
    width = sample.images[0].width
    return MazeOracle(
        grid_size=maze.grid_size,
        axes=tuple(float(v) for v in axes_box(width)),
        passages=passages,
        start=start,
        goal=goal,
        route=tuple(route),
    )


def _clipped_box(obj: SceneObject, camera, size: int) -> tuple[float, ...] | None:
    """The object's projected box clipped to the image, None when no part is in front of the
    camera and inside the frame."""
    uv, depth = camera.project(obj.points())
    front = uv[depth > 1.0]
    if not len(front):
        return None
    x1, y1 = np.clip(front.min(axis=0), 0, size)
    x2, y2 = np.clip(front.max(axis=0), 0, size)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return (round(float(x1), 2), round(float(y1), 2), round(float(x2), 2), round(float(y2), 2))


def scene_facts(sample: GeneratedSample) -> SceneOracle:
    """Every object's box in every view of a scene sample, cameras rebuilt from its meta
    (orbit angles, and sideways offsets for a camera that slides)."""
    meta = sample.meta
    objects = [SceneObject(**o) for o in meta["objects"]]
    angles = meta["camera_angles"]
    offsets = meta.get("camera_offsets", [0.0] * len(angles))
    views = []
    for image, angle, offset in zip(sample.images, angles, offsets, strict=True):
        size = image.width
        camera = truck_camera(angle, size, offset) if offset else orbit_camera(angle, size)
        boxes = tuple(
            ObjectBox(o.name, o.color, o.shape, box)
            for o in objects
            if (box := _clipped_box(o, camera, size)) is not None
        )
        views.append(SceneView(image.width, image.height, boxes))
    names = {o.name for o in objects}
    options = sample.options if all(opt in names for opt in sample.options) else ()
    return SceneOracle(tuple(views), tuple(options))
