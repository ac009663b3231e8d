"""The explicit registry of sample generators: name -> what the generator declares of itself.

A generator is one package (its config dataclass, its generate function, optionally its oracle
facts) plus one line in `GENERATORS`. The stages take a config section per registered name
(`maze:`, `scenes:`), the trainer takes a generated subset's turn budget from the run's config
through `turn_budget`, and nothing else special-cases a generator by name (docs/generators.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from drawreason.generators.base import GeneratedSample, Generator
from drawreason.generators.facts import maze_facts, scene_facts
from drawreason.generators.maze import MazeConfig, generate_maze_sample
from drawreason.generators.scenes import SceneConfig, generate_scene_sample
from drawreason.schemas.config import build_config
from drawreason.schemas.oracle import OracleFacts


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator.

    config_class: a frozen dataclass whose defaults are a sensible generator; it has a
      `max_calls` field, the turn budget (assistant turns, answer included) its samples are
      drawn, traced, rolled out and trained with.
    generate: makes one sample from its id, its own random generator and a config.
    facts: the oracle facts of a sample for step-level grounding (schemas/oracle.py), or None
      when the generator has none (its rollouts are then not grounded).
    """

    config_class: type[Any]
    generate: Generator
    facts: Callable[[GeneratedSample], OracleFacts] | None = None

    def turn_budget(self, config: Any) -> int:
        """The turn budget of this generator's samples under `config`."""
        return int(config.max_calls)


GENERATORS: dict[str, GeneratorSpec] = {
    "maze": GeneratorSpec(MazeConfig, generate_maze_sample, maze_facts),
    "scenes": GeneratorSpec(SceneConfig, generate_scene_sample, scene_facts),
}


def get_generator(name: str) -> GeneratorSpec:
    """The generator registered as `name`; KeyError names the known ones."""
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(sorted(GENERATORS)) or "(none)"
        raise KeyError(f"unknown generator {name!r}; known generators: {known}") from None


def register_generator(name: str, spec: GeneratorSpec) -> None:
    """Add a generator under `name` (a plugin's, or a test's); ValueError if it is taken or
    not a subset name (lowercase letters, digits and `_`)."""
    if name in GENERATORS:
        raise ValueError(f"generator {name!r} is already registered")
    if not name or not all(c.islower() or c.isdigit() or c == "_" for c in name):
        raise ValueError(f"generator name {name!r}: use lowercase letters, digits and _")
    GENERATORS[name] = spec


def unregister_generator(name: str) -> None:
    """Remove the generator registered as `name`; KeyError names the known ones."""
    get_generator(name)
    del GENERATORS[name]


@contextmanager
def registered(name: str, spec: GeneratorSpec) -> Iterator[GeneratorSpec]:
    """`spec` registered as `name` for the duration of a `with` block."""
    register_generator(name, spec)
    try:
        yield spec
    finally:
        unregister_generator(name)


def default_generator_configs() -> dict[str, Any]:
    """Every registered generator's default config, by name."""
    return {name: spec.config_class() for name, spec in GENERATORS.items()}


def turn_budgets(stage_config: Mapping[str, Any]) -> dict[str, int]:
    """{subset: turn budget} of the generated subsets of a run, from its resolved config
    (config.json's `config`): every subset of its `mix` with a weight, by its generator's
    section of the config (`maze: {max_calls: 20}`). Raises KeyError for a generator not
    registered here, ConfigError for a section its config class refuses."""
    budgets = {}
    for name, weight in (stage_config.get("mix") or {}).items():
        if weight:
            spec = get_generator(name)
            section = build_config(spec.config_class, stage_config.get(name) or {}, name)
            budgets[name] = spec.turn_budget(section)
    return budgets
