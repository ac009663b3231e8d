"""The evaluate stage: a policy (any teacher back end) rolled out on held-out generated sets
and public benchmarks through the training environment, prompts and budgets (the same
SampleTrajectories as the data stages), scored with the shared scoring, summarised per
benchmark and sub-task in eval/<benchmark>.json with the behaviour table.

Held-out questions come from a seed derived from (run seed, `heldout_salt`), never the run
seed itself, so they are other mazes and scenes than any training run with a small seed
makes; eval/heldout_evalset.jsonl lists their image pHashes in the format `dedup.eval_sets`
reads, so training runs can keep any chance collision out.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from drawreason.filters.dedup import image_phash
from drawreason.generators.maze import MazeConfig
from drawreason.generators.oracle import generate_question, sample_id
from drawreason.generators.scenes import SceneConfig
from drawreason.generators.seeding import derive_seed
from drawreason.inputs.adapters import InputRecordError
from drawreason.inputs.benchmarks import (
    BenchmarkConfig,
    benchmark_record_id,
    prepare_benchmark_record,
    read_benchmark,
)
from drawreason.inputs.media import InputRejected, MediaConfig
from drawreason.inputs.prepare import PreparedItem
from drawreason.inputs.sources import InputConfig
from drawreason.pipelines.eval_results import EvalRow, eval_row, summarize_benchmark
from drawreason.pipelines.io import WriteImages, WriteSortedJsonl, join, write_json
from drawreason.pipelines.outcomes import ERROR, REJECTED, Outcome, error_outcome, rejection_outcome
from drawreason.pipelines.real_data import USAGE_COUNTERS, SampleTrajectories, unit_key
from drawreason.pipelines.stage import teacher_cache
from drawreason.schemas import layout
from drawreason.schemas.metrics import BenchmarkMetrics, StageMetrics
from drawreason.schemas.records import Provenance, to_json
from drawreason.teachers.factory import TeacherConfig

STAGE = "evaluate"
HELDOUT_MAZE, HELDOUT_SCENES = "heldout_maze", "heldout_scenes"


@dataclass(frozen=True)
class HeldoutConfig:
    """Held-out generated sets: `per_grid_size` mazes for each of `maze_grid_sizes` (sub-task
    `grid_<g>`) and `per_family` scenes for each of `scene_families` (sub-task: the family).
    Generator settings otherwise come from the stage's `maze` and `scenes`."""

    maze_grid_sizes: tuple[int, ...] = (3, 4, 5)
    per_grid_size: int = 0
    scene_families: tuple[str, ...] = ()
    per_family: int = 0

    def __post_init__(self) -> None:
        if self.per_grid_size < 0 or self.per_family < 0:
            raise ValueError("heldout per_grid_size and per_family must be >= 0")


@dataclass(frozen=True)
class EvaluateConfig:
    """Configuration of the evaluate stage (every key can be set in --config).

    The policy is `teacher` (--teacher vllm|openai, --teacher-model: a train_sft/train_grpo
    checkpoint or any served model). `greedy` (default): one trajectory per question at
    temperature 0, whatever `teacher.temperature` says; `greedy: false` samples
    `teacher.samples_per_item` (K) trajectories at `teacher.temperature`. `benchmarks` are
    public benchmark files (inputs/benchmarks.py); `heldout` the generated held-out sets.
    `compare`: two run directories; the stage then only prints the relative-change table of
    their results.
    """

    seed: int = 0
    heldout_salt: str = "heldout-eval"
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
    maze: MazeConfig = field(default_factory=MazeConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)
    benchmarks: tuple[BenchmarkConfig, ...] = ()
    media: MediaConfig = field(default_factory=MediaConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    greedy: bool = True
    max_images: int = 42
    prompts_dir: str = ""
    compare: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.compare:
            if len(self.compare) != 2:
                raise ValueError(f"compare takes two run directories, got {len(self.compare)}")
            return
        if not self.teacher.kind:
            raise ValueError(
                "evaluate rolls out a policy: pass --teacher openai|vllm and --teacher-model"
            )
        if not self.specs() and not self.benchmarks:
            raise ValueError(
                "nothing to evaluate: set heldout.per_grid_size / heldout.per_family or benchmarks"
            )
        if self.greedy and self.teacher.samples_per_item != 1:
            raise ValueError(
                "greedy evaluation takes one sample per question; set greedy: false to sample "
                f"teacher.samples_per_item = {self.teacher.samples_per_item}"
            )
        names = [b.benchmark for b in self.benchmarks]
        for name in names:
            if names.count(name) > 1 or name in (HELDOUT_MAZE, HELDOUT_SCENES):
                raise ValueError(f"benchmarks: name {name!r} is used twice; give each a `name`")

    @property
    def uses_teacher(self) -> bool:
        return not self.compare

    @property
    def inputs(self) -> tuple[InputConfig, ...]:
        """The benchmark files as sources, so the run checks they exist before it starts."""
        return tuple(b.input_config() for b in self.benchmarks if not b.hf)

    @property
    def policy(self) -> TeacherConfig:
        """The teacher config the rollouts use: temperature 0 when greedy."""
        if self.greedy:
            return dataclasses.replace(self.teacher, temperature=0.0, samples_per_item=1)
        return self.teacher

    @property
    def samples(self) -> int:
        return self.policy.samples_per_item

    @property
    def heldout_seed(self) -> int:
        return derive_seed(self.seed, self.heldout_salt)

    def specs(self) -> list[tuple[str, str, int]]:
        """(benchmark, sub-task, index) of every held-out question; indices are distinct
        within a benchmark, so ids are too."""
        held = self.heldout
        out = []
        for n, g in enumerate(held.maze_grid_sizes):
            for i in range(held.per_grid_size):
                out.append((HELDOUT_MAZE, f"grid_{g}", n * held.per_grid_size + i))
        for n, family in enumerate(held.scene_families):
            for i in range(held.per_family):
                out.append((HELDOUT_SCENES, family, n * held.per_family + i))
        return out

    def generator_config(self, benchmark: str, subtask: str) -> Any:
        if benchmark == HELDOUT_MAZE:
            return dataclasses.replace(self.maze, grid_sizes=(int(subtask.split("_", 1)[1]),))
        return dataclasses.replace(self.scenes, question_mix=((subtask, 1.0),))


@dataclass(frozen=True)
class EvalItem:
    benchmark: str
    subtask: str
    prepared: PreparedItem


def _units(k: int, item_id: str) -> Iterator[str]:
    for unit in range(k):
        yield unit_key(item_id, unit, True)


class GenerateHeldoutFn(beam.DoFn):
    """(benchmark, sub-task, index) -> an EvalItem and its eval-set line (image pHashes, for
    training runs' dedup.eval_sets), or K error outcomes."""

    def __init__(self, config: EvaluateConfig) -> None:
        self.config = config

    def process(self, spec: tuple[str, str, int]) -> Iterator[Any]:
        benchmark, subtask, index = spec
        generator = "maze" if benchmark == HELDOUT_MAZE else "scenes"
        config = self.config
        try:
            question = generate_question(
                generator, index, config.heldout_seed, config.generator_config(benchmark, subtask)
            )
        except (ValueError, OSError) as exc:
            for key in _units(config.samples, sample_id(generator, index)):
                yield beam.pvalue.TaggedOutput(
                    ERROR, error_outcome(STAGE, benchmark, key, "generate", exc)
                )
            return
        item = question.item
        prepared = PreparedItem(
            benchmark, item, question.images, max_calls=question.max_calls, pngs=question.pngs
        )
        hashes = [f"{image_phash(image):016x}" for image in question.images]
        # Images only: generated questions are templated, so their text would match (and drop)
        # every training question of the same template.
        line = to_json_line({"id": f"{benchmark}/{item.id}", "image_phash": hashes})
        yield beam.pvalue.TaggedOutput("evalset", (layout.EVAL_HELDOUT, (item.id, line)))
        yield EvalItem(benchmark, subtask, prepared)


def to_json_line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ReadBenchmarkFn(beam.DoFn):
    """A benchmark index -> (index, position, raw record) for each of its records."""

    def __init__(self, benchmarks: tuple[BenchmarkConfig, ...]) -> None:
        self.benchmarks = benchmarks

    def process(self, index: int) -> Iterator[tuple[int, int, Any]]:
        for position, record in read_benchmark(self.benchmarks[index]):
            yield index, position, record


class PrepareBenchmarkFn(beam.DoFn):
    """A raw benchmark record -> an EvalItem, or K rejections (unusable media, unscorable
    question) or K error records naming the record and the field."""

    def __init__(
        self, benchmarks: tuple[BenchmarkConfig, ...], media: MediaConfig, k: int, maze_calls: int
    ) -> None:
        self.benchmarks = benchmarks
        self.media = media
        self.k = k
        self.maze_calls = maze_calls

    def process(self, element: tuple[int, int, Any]) -> Iterator[Any]:
        index, position, record = element
        config = self.benchmarks[index]
        name = config.benchmark
        item_id = benchmark_record_id(config, record, position)
        try:
            subtask, prepared = prepare_benchmark_record(config, self.media, position, record)
        except InputRejected as exc:
            beam.metrics.Metrics.counter(STAGE, f"input_rejected_{exc.reason}").inc()
            for key in _units(self.k, item_id):
                yield beam.pvalue.TaggedOutput(
                    REJECTED, rejection_outcome(STAGE, name, key, exc.reason, exc.detail)
                )
            return
        except (InputRecordError, ValueError, OSError) as exc:
            beam.metrics.Metrics.counter(STAGE, "input_errors").inc()
            for key in _units(self.k, item_id):
                yield beam.pvalue.TaggedOutput(ERROR, error_outcome(STAGE, name, key, "read", exc))
            return
        if prepared.item.data_type == "maze":  # mazes run with the maze turn budget
            prepared = dataclasses.replace(prepared, max_calls=self.maze_calls)
        yield EvalItem(name, subtask, prepared)


class ScoreFn(beam.DoFn):
    """A rolled-out SampleBundle -> its EvalRow keyed by benchmark, its full trajectory line
    (for the report's viewer), its images and its usage."""

    def process(self, bundle: Any, subtasks: dict[tuple[str, str], str]) -> Iterator[Any]:
        trajectory = bundle.trajectory
        question = str(trajectory.meta.get("question_id", trajectory.id))
        subtask = subtasks.get((trajectory.subset, question), "")
        row = eval_row(trajectory, subtask)
        beam.metrics.Metrics.counter(STAGE, "trajectories").inc()
        yield (row.benchmark, row)
        path = layout.eval_trajectories(trajectory.subset)
        yield beam.pvalue.TaggedOutput("lines", (path, (trajectory.id, to_json(trajectory))))
        yield from (beam.pvalue.TaggedOutput("images", kv) for kv in bundle.images)
        yield beam.pvalue.TaggedOutput("usage", dict(bundle.usage))


class SummarizeFn(beam.DoFn):
    """(benchmark, {rows, outcomes, expected}) -> writes eval/<benchmark>.json; yields the
    benchmark's line for metrics.json."""

    def __init__(self, output: str, config: EvaluateConfig) -> None:
        self.output = output
        self.config = config

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[dict[str, Any]]:
        name, groups = element
        rows: list[EvalRow] = list(groups["rows"])
        outcomes: list[Outcome] = list(groups["outcomes"])
        errors = sum(o.status == ERROR for o in outcomes)
        rejected = Counter(o.reason for o in outcomes if o.status == REJECTED)
        teacher = self.config.policy
        meta = {
            "policy": f"{teacher.kind}:{teacher.model}",
            "temperature": teacher.temperature,
            "source": "generated" if name in (HELDOUT_MAZE, HELDOUT_SCENES) else "benchmark",
        }
        doc = summarize_benchmark(name, rows, errors, rejected, self.config.samples, meta)
        write_json(join(self.output, layout.eval_result(name)), doc)
        expected = sum(groups["expected"])
        yield {
            "benchmark": name,
            "expected": expected,
            "accounted": expected == len(rows) + errors + sum(rejected.values()),
            "trajectories": len(rows),
            "errors": errors,
            "rejected": sum(rejected.values()),
            "accuracy": doc["accuracy"]["mean"],
        }


def summary_text(entries: list[dict[str, Any]]) -> str:
    lines = []
    for e in sorted(entries, key=lambda e: e["benchmark"]):
        lines.append(
            f"  {e['benchmark']}: accuracy {e['accuracy']:.4f} over {e['trajectories']} "
            f"trajectories  errors {e['errors']}  rejected {e['rejected']}"
        )
    return "evaluate: results in eval/<benchmark>.json\n" + "\n".join(lines)


class WriteEvalMetricsFn(beam.DoFn):
    def __init__(self, output: str) -> None:
        self.output = output

    def process(
        self, entries: list[dict[str, Any]], usage: dict[str, int]
    ) -> Iterator[StageMetrics]:
        metrics = StageMetrics(
            stage=STAGE,
            input=sum(e["expected"] for e in entries),
            accounted=all(e["accounted"] for e in entries),
            benchmarks={
                e["benchmark"]: BenchmarkMetrics(**e)
                for e in sorted(entries, key=lambda e: e["benchmark"])
            },
            summary=summary_text(entries),
            teacher_usage=dict(sorted(usage.items())),
        )
        write_json(join(self.output, layout.METRICS), metrics.to_json())
        yield metrics


def _sum_usage(dicts: Any) -> dict[str, int]:
    total: Counter = Counter()
    for d in dicts:
        total.update({k: v for k, v in d.items() if k in USAGE_COUNTERS})
    return dict(total)


def build_pipeline(
    p: beam.Pipeline, config: EvaluateConfig, output: str, provenance: Provenance
) -> beam.PCollection:
    """Wire the stage into `p`; returns the single-element PCollection of the metrics dict."""
    k = config.samples
    items, errors, rejected, expected, evalset = [], [], [], [], []
    specs = config.specs()
    if specs:
        made = (
            p
            | "Heldout" >> beam.Create(specs)
            | "SpreadHeldout" >> beam.Reshuffle()
            | "Generate"
            >> beam.ParDo(GenerateHeldoutFn(config)).with_outputs(ERROR, "evalset", main="items")
        )
        items.append(made.items)
        errors.append(made[ERROR])
        evalset.append(made["evalset"])
        counts = Counter(benchmark for benchmark, _, _ in specs)
        expected.append(
            p | "ExpectedHeldout" >> beam.Create([(b, n * k) for b, n in counts.items()])
        )
    if config.benchmarks:
        raw = (
            p
            | "Benchmarks" >> beam.Create(list(range(len(config.benchmarks))))
            | "ReadBenchmarks" >> beam.ParDo(ReadBenchmarkFn(config.benchmarks))
            | "SpreadRecords" >> beam.Reshuffle()
        )
        names = [b.benchmark for b in config.benchmarks]
        expected.append(raw | "ExpectedBenchmarks" >> beam.Map(lambda e, n=names: (n[e[0]], k)))
        prepared = raw | "Prepare" >> beam.ParDo(
            PrepareBenchmarkFn(config.benchmarks, config.media, k, config.maze.max_calls)
        ).with_outputs(REJECTED, ERROR, main="items")
        items.append(prepared.items)
        errors.append(prepared[ERROR])
        rejected.append(prepared[REJECTED])
    all_items = items | "AllItems" >> beam.Flatten(pipeline=p)
    subtasks = all_items | "Subtasks" >> beam.Map(
        lambda e: ((e.benchmark, e.prepared.item.id), e.subtask)
    )
    teacher = config.policy
    policy = dataclasses.replace(provenance, producer=f"policy:{teacher.kind}:{teacher.model}")
    bundles, rollout_errors = (
        all_items
        | "Prepared" >> beam.Map(lambda e: e.prepared)
        | "Policy"
        >> SampleTrajectories(
            STAGE,
            k,
            teacher,
            teacher_cache(teacher, output),
            policy,
            config.seed,
            config.max_images,
            config.prompts_dir,
        )
    )
    errors.append(rollout_errors)
    scored = bundles | "Score" >> beam.ParDo(ScoreFn(), beam.pvalue.AsDict(subtasks)).with_outputs(
        "lines", "images", "usage", main="rows"
    )
    outcomes = (*errors, *rejected) | "NotScored" >> beam.Flatten(pipeline=p)
    lines = (
        scored["lines"],
        *evalset,
        outcomes | "OutcomeLines" >> beam.Map(lambda o: (o.relpath(), (o.sample_id, o.line))),
    ) | "AllLines" >> beam.Flatten(pipeline=p)
    # One file each: eval/heldout_evalset.jsonl is read back by path as a dedup eval set.
    _ = lines | "WriteJsonl" >> WriteSortedJsonl(output, layout.UNSPLIT)
    _ = scored["images"] | "WriteImages" >> WriteImages(output)
    grouped = {
        "rows": scored.rows,
        "outcomes": outcomes | "KeyOutcomes" >> beam.Map(lambda o: (o.subset, o)),
        "expected": expected | "AllExpected" >> beam.Flatten(pipeline=p),
    } | "ByBenchmark" >> beam.CoGroupByKey()
    entries = grouped | "Summarize" >> beam.ParDo(SummarizeFn(output, config))
    usage = scored["usage"] | "Usage" >> beam.CombineGlobally(_sum_usage)
    return (
        entries
        | "Entries" >> beam.combiners.ToList()
        | "WriteMetrics" >> beam.ParDo(WriteEvalMetricsFn(output), beam.pvalue.AsSingleton(usage))
    )
