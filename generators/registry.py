"""The explicit registry of sample generators: name -> (config class, generate function)."""

from __future__ import annotations

from typing import Any

from drawreason.generators.base import Generator
from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.scenes import SceneConfig, generate_scene_sample

GENERATORS: dict[str, tuple[type[Any], Generator]] = {
    "maze": (MazeConfig, generate_maze_sample),
    "scenes": (SceneConfig, generate_scene_sample),
}


def generator_config(stage_config: Any, subset: str) -> Any:
    """The generator config of `subset` in a stage config: its own field (`maze`, `scenes`)
    when the stage has one, else the generator's registered default."""
    return getattr(stage_config, subset, None) or get_generator(subset)[0]()


def get_generator(name: str) -> tuple[type[Any], Generator]:
    """The (config class, generate function) registered as `name`; KeyError names the known ones."""
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(sorted(GENERATORS)) or "(none)"
        raise KeyError(f"unknown generator {name!r}; known generators: {known}") from None
