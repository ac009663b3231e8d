"""SceneConfig: image size, objects, views, question mix and trace settings."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES: tuple[str, ...] = (
    "size",
    "closest",
    "direction",
    "count",
    "distance",
    "view_left_of",
    "appearance_order",
)


@dataclass(frozen=True)
class SceneConfig:
    """Configuration of the scene generator (every field can be set from a config file)."""

    image_size: int = 448  # a multiple of 28, so Qwen-style processors keep it unchanged
    min_objects: int = 4
    max_objects: int = 6
    min_views: int = 2  # for multi-view families (count, view_left_of)
    max_views: int = 4
    min_frames: int = 3  # for appearance_order (frames of a camera moving sideways)
    max_frames: int = 6
    question_mix: tuple[tuple[str, float], ...] = (
        ("size", 0.2),
        ("closest", 0.17),
        ("direction", 0.14),
        ("count", 0.14),
        ("distance", 0.15),
        ("view_left_of", 0.1),
        ("appearance_order", 0.1),
    )
    reflective_share: float = 0.2
    textured_floor: bool = False  # tiled, coloured floors drawn per seed instead of the plain one
    jitter_px: int = 2
    max_calls: int = 10

    def __post_init__(self) -> None:
        if self.image_size < 112 or self.image_size % 28:
            raise ValueError(
                f"image_size must be a multiple of 28 and >= 112, got {self.image_size}"
            )
        if not 3 <= self.min_objects <= self.max_objects <= 8:
            raise ValueError(
                f"min_objects/max_objects must satisfy 3 <= min <= max <= 8, got "
                f"{self.min_objects}/{self.max_objects}"
            )
        if not 2 <= self.min_views <= self.max_views <= 8:
            raise ValueError(
                f"min_views/max_views must satisfy 2 <= min <= max <= 8, got "
                f"{self.min_views}/{self.max_views}"
            )
        if not 3 <= self.min_frames <= self.max_frames <= 8:
            raise ValueError(
                f"min_frames/max_frames must satisfy 3 <= min <= max <= 8, got "
                f"{self.min_frames}/{self.max_frames}"
            )
        for name, weight in self.question_mix:
            if name not in FAMILIES:
                raise ValueError(f"question_mix: unknown family {name!r}; known: {FAMILIES}")
            if weight < 0:
                raise ValueError(f"question_mix: weight of {name!r} is negative")
        if not sum(w for _, w in self.question_mix) > 0:
            raise ValueError("question_mix needs a positive total weight")
        if not 0.0 <= self.reflective_share <= 1.0:
            raise ValueError(f"reflective_share must be in [0, 1], got {self.reflective_share}")
        if not 0 <= self.jitter_px <= 8:
            raise ValueError(f"jitter_px must be in [0, 8], got {self.jitter_px}")
        if self.max_calls < self.max_views + 1:
            raise ValueError(f"max_calls must be >= max_views + 1, got {self.max_calls}")
