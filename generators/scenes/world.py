"""Scene objects on a floor, cameras orbiting them, pinhole projection to exact 2-D boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (205, 40, 40),
    "green": (40, 160, 60),
    "blue": (45, 85, 205),
    "yellow": (230, 195, 30),
    "purple": (130, 60, 170),
    "orange": (235, 125, 30),
}
SHAPES: tuple[str, ...] = ("cube", "box", "cylinder", "ball", "cone")
_RING = 16


@dataclass(frozen=True)
class SceneObject:
    """An object standing on the floor: centre (x, y) in cm, size (width, depth, height) in cm."""

    name: str
    shape: str
    color: str
    x: float
    y: float
    width: float
    depth: float
    height: float

    def points(self) -> np.ndarray:
        """3-D sample points of the object's surface silhouette (N x 3, cm)."""
        x, y, w, d, h = self.x, self.y, self.width, self.depth, self.height
        if self.shape in ("cube", "box"):
            return np.array(
                [
                    (x + sx * w / 2, y + sy * d / 2, z)
                    for sx in (-1, 1)
                    for sy in (-1, 1)
                    for z in (0.0, h)
                ]
            )
        angles = np.linspace(0, 2 * math.pi, _RING, endpoint=False)
        ring = np.stack([x + w / 2 * np.cos(angles), y + w / 2 * np.sin(angles)], axis=1)
        if self.shape == "cylinder":
            return np.concatenate([np.c_[ring, np.zeros(_RING)], np.c_[ring, np.full(_RING, h)]])
        if self.shape == "cone":
            return np.concatenate([np.c_[ring, np.zeros(_RING)], [[x, y, h]]])
        # ball: rings at several heights of a sphere of diameter w resting on the floor
        r = w / 2
        rings = []
        for z in np.linspace(0, 2 * r, 7):
            rr = math.sqrt(max(r * r - (z - r) ** 2, 0.0))
            rings.append(np.c_[x + rr * np.cos(angles), y + rr * np.sin(angles), np.full(_RING, z)])
        return np.concatenate(rings)

    def top(self) -> np.ndarray | None:
        """Points of the top face for shading (boxes and cylinders), else None."""
        if self.shape in ("cube", "box"):
            return self.points()[1::2]
        if self.shape == "cylinder":
            return self.points()[_RING:]
        return None

    @property
    def center(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.height / 2)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera at `eye` looking at `target`, focal length in pixels, square image."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    focal: float
    size: int

    def _basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._axes

    @cached_property
    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Computed once per camera: questions project through the same camera many times.
        eye, target = np.array(self.eye), np.array(self.target)
        forward = (target - eye) / np.linalg.norm(target - eye)
        right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        for axis in (forward, right, down):
            axis.flags.writeable = False
        return forward, right, down

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pixel coordinates N x 2, depth N) of world points; depth > 0 is in front."""
        forward, right, down = self._basis()
        rel = np.asarray(points, dtype=float) - np.array(self.eye)
        depth = rel @ forward
        safe = np.where(depth > 1e-6, depth, 1e-6)
        u = self.size / 2 + self.focal * (rel @ right) / safe
        v = self.size / 2 + self.focal * (rel @ down) / safe
        return np.stack([u, v], axis=1), depth


def orbit_camera(
    angle_deg: float, size: int, radius: float = 185.0, height: float = 120.0
) -> Camera:
    """A camera on a circle around the scene centre, looking down at it (50° field of view)."""
    a = math.radians(angle_deg)
    focal = size / 2 / math.tan(math.radians(25))
    return Camera(
        (radius * math.cos(a), radius * math.sin(a), height), (0.0, 0.0, 0.0), focal, size
    )


def truck_camera(
    angle_deg: float, size: int, offset: float, radius: float = 185.0, height: float = 120.0
) -> Camera:
    """The orbit camera at `angle_deg` slid sideways by `offset` cm along its own right axis
    (a trucking shot: same orientation, so objects enter the frame from one side)."""
    base = orbit_camera(angle_deg, size, radius, height)
    _, right, _ = base._basis()
    shift = right * offset
    return Camera(
        tuple(float(v) for v in np.array(base.eye) + shift),  # type: ignore[arg-type]
        tuple(float(v) for v in np.array(base.target) + shift),  # type: ignore[arg-type]
        base.focal,
        size,
    )


def depth_of(camera: Camera, point: Sequence[float]) -> float:
    """Depth of a world point along the camera's optical axis (cm): segments at one depth
    project with one scale, so their pixel lengths compare directly."""
    forward, _, _ = camera._basis()
    return float((np.asarray(point, dtype=float) - np.array(camera.eye)) @ forward)


def box_2d(obj: SceneObject, camera: Camera) -> tuple[float, float, float, float] | None:
    """The exact bounding box of the object's projection, or None if any part leaves the image
    or lies behind the camera (questions only use fully visible objects)."""
    uv, depth = camera.project(obj.points())
    if (depth <= 1.0).any():
        return None
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    if x1 < 0 or y1 < 0 or x2 > camera.size or y2 > camera.size:
        return None
    return (float(x1), float(y1), float(x2), float(y2))


def partly_in_frame(obj: SceneObject, camera: Camera) -> bool:
    """Whether any part of the object projects into the image (in front of the camera)."""
    uv, depth = camera.project(obj.points())
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= camera.size) & (uv[:, 1] >= 0)
    return bool((inside & (uv[:, 1] <= camera.size) & (depth > 1.0)).any())


def distance_cm(a: SceneObject, b: SceneObject) -> float:
    """Distance between the objects' centres on the floor."""
    return math.hypot(a.x - b.x, a.y - b.y)


def distance_3d_cm(a: SceneObject, b: SceneObject) -> float:
    """Distance between the objects' 3-D centres (the middle of each object's height)."""
    return math.dist(a.center, b.center)


def _combos(rng: np.random.Generator, count: int, same_color: int) -> list[tuple[str, str]]:
    """`count` distinct (colour, shape) pairs; with `same_color` > 0, exactly that many share one
    colour drawn first and the others have other colours."""
    combos = [(c, s) for c in COLORS for s in SHAPES]
    if not same_color:
        return [combos[int(i)] for i in rng.choice(len(combos), size=count, replace=False)]
    colors = list(COLORS)
    color = colors[int(rng.integers(len(colors)))]
    shapes = [SHAPES[int(i)] for i in rng.choice(len(SHAPES), size=same_color, replace=False)]
    rest = [c for c in combos if c[0] != color]
    picks = rng.choice(len(rest), size=count - same_color, replace=False)
    return [(color, s) for s in shapes] + [rest[int(i)] for i in picks]


def sample_objects(rng: np.random.Generator, count: int, same_color: int = 0) -> list[SceneObject]:
    """`count` objects with distinct (colour, shape), placed on the floor without overlap; with
    `same_color` > 0, exactly that many of them share one colour. A box is always clearly longer
    than it is deep (at least 1.4 times), so it is never mistaken for a cube of its colour."""
    if not 0 <= same_color <= min(count, len(SHAPES)):
        raise ValueError(f"same_color must be in [0, {min(count, len(SHAPES))}], got {same_color}")
    objects: list[SceneObject] = []
    for color, shape in _combos(rng, count, same_color):
        w = float(rng.uniform(26, 36)) if shape == "box" else float(rng.uniform(18, 34))
        d = float(rng.uniform(14, 18)) if shape == "box" else w
        h = {
            "cube": w,
            "box": float(rng.uniform(12, 24)),
            "cylinder": float(rng.uniform(26, 46)),
            "ball": w,
            "cone": float(rng.uniform(28, 44)),
        }[shape]
        for _ in range(200):
            x, y = (float(v) for v in rng.uniform(-70, 70, size=2))
            if all(
                math.hypot(x - o.x, y - o.y) > (max(w, d) + max(o.width, o.depth)) / 2 + 8
                for o in objects
            ):
                break
        else:
            raise ValueError(f"no room for {count} objects on the floor")
        objects.append(
            SceneObject(
                f"{color} {shape}",
                shape,
                color,
                round(x, 1),
                round(y, 1),
                round(w, 1),
                round(d, 1),
                round(h, 1),
            )
        )
    return objects
