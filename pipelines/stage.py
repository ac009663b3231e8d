"""The skeleton the data stages share: the config every one of them takes (questions from the
registered generators and `--input` sources, a teacher, outputs) and the output wiring of the
stages that write SFT shards. A stage module adds only what is its own (docs/architecture.md,
"One stage skeleton")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from drawreason.generators.registry import GENERATORS
from drawreason.generators.seeding import check_salt
from drawreason.inputs.media import MediaConfig
from drawreason.inputs.sources import InputConfig, check_subset_names
from drawreason.pipelines.accounting import WriteMetrics
from drawreason.pipelines.io import WriteImages, WriteSortedJsonl
from drawreason.pipelines.outcomes import file_lines, without_lines
from drawreason.pipelines.pool import DedupConfig
from drawreason.schemas.config import sections_field
from drawreason.schemas.layout import RECORDS_PER_PART, TEACHER_CACHE
from drawreason.storage.files import join
from drawreason.teachers.factory import TeacherConfig


def generator_classes() -> dict[str, type]:
    """The config section of each registered generator: its name and its config class."""
    return {name: spec.config_class for name, spec in GENERATORS.items()}


def allocate(num_samples: int, mix: dict[str, float]) -> dict[str, int]:
    """Samples per subset: `num_samples` split by `mix` (largest remainder, stable order)."""
    names = sorted(n for n, w in mix.items() if w > 0)
    total = sum(mix[n] for n in names)
    exact = {n: num_samples * mix[n] / total for n in names}
    counts = {n: int(exact[n]) for n in names}
    left = num_samples - sum(counts.values())
    for n in sorted(names, key=lambda n: (-(exact[n] - counts[n]), n))[:left]:
        counts[n] += 1
    return counts


def teacher_cache(teacher: TeacherConfig, output: str) -> str:
    """Where a stage writing to `output` caches teacher replies: `teacher.cache`, else
    `<output>/cache/teacher`."""
    return teacher.cache or join(output, TEACHER_CACHE)


@dataclass(frozen=True)
class DataStageConfig:
    """The keys every data stage takes (a stage subclass adds its own and may change a
    default): `num_samples` questions generated across the subsets of `mix`, each subset one
    registered generator whose config is the key of its name (`maze:`, `scenes:`; unset ones
    take the generator's defaults), real data `inputs` with their `media` limits, a `teacher`,
    and the outputs' images and part sizes."""

    num_samples: int = 400  # generated across subsets, before filtering
    seed: int = 0
    # Mixed into `seed` for the generated questions (generators.seeding.stage_seed) and part of
    # their ids, so the stages of one seed draw disjoint questions; give two stages the same
    # salt for the same questions, "" for the unsalted seeding of earlier versions. Each stage
    # defaults it to its own name.
    seed_salt: str = ""
    mix: dict[str, float] = field(default_factory=lambda: {"maze": 0.5, "scenes": 0.5})
    # One config per registered generator, keyed by its registry name (schemas.config
    # sections_field): the config file's `maze:` and `scenes:` keys.
    generators: dict[str, Any] = sections_field(generator_classes)
    inputs: tuple[InputConfig, ...] = ()
    media: MediaConfig = field(default_factory=MediaConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    max_images: int = 42
    prompts_dir: str = ""  # a folder of template files overriding drawing/templates
    # Records per part file: a subset above it is split into parts (schemas/layout.py).
    records_per_part: int = RECORDS_PER_PART

    def __post_init__(self) -> None:
        unknown = sorted(set(self.generators) - set(GENERATORS))
        if unknown:
            raise ValueError(f"unknown generator(s) {unknown}; known: {sorted(GENERATORS)}")
        configs = {}
        for name, spec in GENERATORS.items():
            given = self.generators.get(name)
            if given is not None and not isinstance(given, spec.config_class):
                raise ValueError(f"{name}: expected a {spec.config_class.__name__}, got {given!r}")
            configs[name] = spec.config_class() if given is None else given
        object.__setattr__(self, "generators", configs)
        for name in self.mix:
            if name not in GENERATORS:
                raise ValueError(f"mix: unknown subset {name!r}; known: {sorted(GENERATORS)}")
        check_subset_names(self.inputs, [*GENERATORS, *self.mix])
        check_salt(self.seed_salt)
        if self.records_per_part < 1:
            raise ValueError(f"records_per_part must be >= 1, got {self.records_per_part}")

    def allocation(self) -> dict[str, int]:
        """Generated questions per subset."""
        return allocate(self.num_samples, self.mix) if self.num_samples else {}

    def generator_configs(self, allocation: dict[str, int] | None = None) -> dict[str, Any]:
        """The generator config of every subset of `allocation` (default: this run's)."""
        subsets = self.allocation() if allocation is None else allocation
        return {name: self.generators[name] for name in subsets}

    def teacher_cache(self, output: str) -> str:
        """Where this run's teacher replies are cached (`teacher_cache`)."""
        return teacher_cache(self.teacher, output)


@dataclass(frozen=True)
class QuestionStageConfig(DataStageConfig):
    """A data stage that samples a pool of questions: dedup and decontamination first."""

    dedup: DedupConfig = field(default_factory=DedupConfig)

    def __post_init__(self) -> None:
        if self.num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {self.num_samples}")
        if self.num_samples and (not self.mix or not sum(self.mix.values())):
            raise ValueError(f"mix needs positive weights, got {self.mix}")
        if not self.num_samples and not self.inputs:
            raise ValueError("nothing to do: num_samples is 0 and there are no inputs")
        super().__post_init__()


def write_sft_outputs(
    outcomes: Sequence[beam.PCollection],
    expected: beam.PCollection,
    images: beam.PCollection,
    output: str,
    stage: str,
    records_per_part: int,
    notes: dict[str, Any] | None = None,
    extra: beam.PCollection | None = None,
) -> beam.PCollection:
    """The outputs of a stage that writes SFT shards: every outcome's lines into its files
    (kept, trajectories, rejected, errors), the images, and metrics.json from the outcomes and
    the subset of every expected outcome; returns the metrics' single-element PCollection.

    `outcomes` are the stage's outcome collections as they are made, not flattened: Beam's
    local runner materializes a Flatten in the driver, and a collection read by two stages
    twice, so each collection is turned into its file lines, their per-file counts and its
    outcomes without their lines (all fused where the outcomes are made) before anything is
    flattened. The driver then holds each line once, not every outcome twice."""
    lines, paths, counted = [], [], []
    for i, pcoll in enumerate(outcomes):
        lines.append(pcoll | f"ByFile{i}" >> beam.FlatMap(file_lines))
        paths.append(lines[-1] | f"FilePath{i}" >> beam.Map(lambda kv: (kv[0], 1)))
        counted.append(pcoll | f"WithoutLines{i}" >> beam.Map(without_lines))
    counts = paths | "AllFilePaths" >> beam.Flatten() | "CountPerFile" >> beam.CombinePerKey(sum)
    _ = (
        lines
        | "AllLines" >> beam.Flatten()
        | "WriteJsonl" >> WriteSortedJsonl(output, records_per_part, counts=counts)
    )
    _ = images | "WriteImages" >> WriteImages(output)
    return (counted | "Outcomes" >> beam.Flatten(), expected) | "Metrics" >> WriteMetrics(
        output, stage, records_per_part, notes=notes, extra=extra
    )
