"""Procedural 3-D scenes with known geometry: boxes, tracking and metric reasoning traces."""

from drawreason.generators.scenes.config import SceneConfig
from drawreason.generators.scenes.sample import generate_scene_sample

__all__ = ["SceneConfig", "generate_scene_sample"]
