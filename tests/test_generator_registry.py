"""Every registered generator through every data stage that takes generated questions
(cold_start_data, reflective_data, rl_data) on Beam, plus a tiny generator added the way a new
one is: its own package (tests/tiny_generator) and one registration through the registry's
public API. Each run accounts for every input (kept + rejected + errors, counted from the
files it wrote) and its outputs load with the trainer's loaders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.generators import registry
from drawreason.pipelines import cold_start, reflective, rl_data
from drawreason.schemas import layout
from drawreason.schemas.config import build_config, config_to_dict
from drawreason.schemas.records import BoxOp
from drawreason.trainer.data import load_rl_samples, load_sft_samples

from tests.factories import PROVENANCE
from tests.scripted_server import ScriptedServer, assistant_turns
from tests.tiny_generator import TinyConfig, generate_tiny_sample

TINY = "tiny"
GENERATORS = [*sorted(registry.GENERATORS), TINY]
K = 2  # policy samples per question in reflective_data


@pytest.fixture
def generator(request) -> Iterator[str]:
    """The parametrised generator's name, the tiny one registered for the test."""
    name = request.param
    if name != TINY:
        yield name
        return
    with registry.registered(TINY, registry.GeneratorSpec(TinyConfig, generate_tiny_sample)):
        yield name


def _policy(messages: list[dict]) -> str:
    """A policy that boxes something once, then answers A."""
    if assistant_turns(messages) == 0:
        return format_tool_turn("Box it.", [BoxOp(1, (2, 2, 20, 20), "it")])
    return format_answer_turn("Done.", "A")


def _run(build, config, out: Path) -> None:
    pipeline = TestPipeline(
        runner="FnApiRunner", options=beam.options.pipeline_options.PipelineOptions([])
    )
    build(pipeline, config, str(out), PROVENANCE)
    pipeline.run().wait_until_finish()


def _count(out: Path, folder: str) -> int:
    """Lines in every JSONL file under `out/folder` (a file or a folder)."""
    path = out / folder
    files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path] if path.exists() else []
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


def _accounted(out: Path, kept_folder: str, stage: str) -> int:
    return (
        _count(out, kept_folder)
        + _count(out, layout.rejected_dir(stage))
        + _count(out, layout.errors_file(stage))
    )


@pytest.mark.parametrize("generator", GENERATORS, indirect=True)
def test_cold_start_data(generator: str, tmp_path: Path) -> None:
    n = 4
    config = cold_start.ColdStartConfig(num_samples=n, mix={generator: 1.0})
    _run(cold_start.build_pipeline, config, tmp_path)
    stage_dir = layout.sft_dir(cold_start.STAGE)
    assert _accounted(tmp_path, stage_dir, cold_start.STAGE) == n
    kept = _count(tmp_path, stage_dir)
    assert kept, f"no {generator} sample kept from its own oracle traces"
    samples = load_sft_samples(tmp_path)
    assert len(samples) == kept and {s.subset for s in samples} == {f"cold_start_{generator}"}
    assert all(Path(image).is_file() for s in samples for image in s.images)


@pytest.mark.parametrize("generator", GENERATORS, indirect=True)
def test_reflective_data(generator: str, tmp_path: Path) -> None:
    n = 2
    with ScriptedServer(_policy) as server:
        teacher = {"kind": "openai", "model": "m", "endpoint": server.base_url}
        teacher["samples_per_item"] = K
        data = {"num_samples": n, "mix": {generator: 1.0}, "teacher": teacher}
        _run(reflective.build_pipeline, build_config(reflective.ReflectiveConfig, data), tmp_path)
        first_turns = [r for r in server.answered() if assistant_turns(r.body["messages"]) == 0]
        assert len(first_turns) == n * K  # every sample was rolled out
    stage_dir = layout.sft_dir(reflective.STAGE)
    assert _accounted(tmp_path, stage_dir, reflective.STAGE) == n * K
    if _count(tmp_path, stage_dir):
        assert all(Path(i).is_file() for s in load_sft_samples(tmp_path) for i in s.images)


@pytest.mark.parametrize("generator", GENERATORS, indirect=True)
def test_rl_data(generator: str, tmp_path: Path) -> None:
    n = 4
    config = rl_data.RLDataConfig(num_samples=n, mix={generator: 1.0})
    _run(rl_data.build_pipeline, config, tmp_path)
    assert _accounted(tmp_path, layout.RL, rl_data.STAGE) == n
    samples = load_rl_samples(tmp_path)
    assert len(samples) == _count(tmp_path, layout.RL) and samples
    assert {s.subset for s in samples} == {generator}
    assert all(Path(i).is_file() for s in samples for i in s.images)


def test_a_registered_generator_has_a_config_section_in_every_stage() -> None:
    """The config key of a new generator is its registry name, in every data stage, with its
    defaults when unset and its own validation when set; unregistered, the key is unknown."""
    spec = registry.GeneratorSpec(TinyConfig, generate_tiny_sample)
    for config_class in (
        cold_start.ColdStartConfig,
        reflective.ReflectiveConfig,
        rl_data.RLDataConfig,
    ):
        teacher = {"kind": "openai", "model": "m", "endpoint": "http://127.0.0.1:1/v1"}
        base = {"teacher": teacher}
        with registry.registered(TINY, spec):
            config = build_config(config_class, {**base, TINY: {"size": 84}, "mix": {TINY: 1}})
            assert config.generators[TINY] == TinyConfig(size=84)
            assert config.generator_configs() == {TINY: TinyConfig(size=84)}
            data = config_to_dict(config)
            assert data[TINY] == {"size": 84, "square": 28, "max_calls": 4}
            assert "generators" not in data
            assert build_config(config_class, data) == config
            with pytest.raises(ValueError, match=r"config\.tiny: square must be"):
                build_config(config_class, {**base, TINY: {"square": 500}})
            assert registry.turn_budgets({"mix": {TINY: 1.0}, TINY: {"max_calls": 6}}) == {TINY: 6}
        with pytest.raises(ValueError, match="unknown key.*tiny"):
            build_config(config_class, {**base, TINY: {"size": 84}})
        assert "tiny" not in config_to_dict(build_config(config_class, base))


def test_registry_refuses_a_taken_or_malformed_name() -> None:
    spec = registry.GeneratorSpec(TinyConfig, generate_tiny_sample)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_generator("maze", spec)
    with pytest.raises(ValueError, match="lowercase"):
        registry.register_generator("Tiny Squares", spec)
    with pytest.raises(KeyError, match="known generators"):
        registry.unregister_generator(TINY)


def test_turn_budgets_come_from_the_run_config() -> None:
    """The generated subsets of a run get their generator's budget under the run's own
    config: defaults where it says nothing, its value where it does."""
    assert registry.turn_budgets({"mix": {"maze": 0.5, "scenes": 0.5}}) == {
        "maze": 20,
        "scenes": 10,
    }
    config = {"mix": {"maze": 1.0, "scenes": 0.0}, "maze": {"max_calls": 14}}
    assert registry.turn_budgets(config) == {"maze": 14}
    assert json.loads(json.dumps(registry.turn_budgets({}))) == {}
