"""The rl_data stage: RL shards (one record per question) from generated and real questions.

Questions (generated mazes/scenes + `--input` sources) -> dedup and decontamination ->
optionally a pass-rate filter over K policy samples (drop questions every sample gets right or
every sample gets wrong) -> `rl/<subset>.jsonl` (relative image paths) and
`rl/<subset>.parquet` (embedded images, Hugging Face features), images, rejected with reasons,
metrics. With `rl_format: verl` the Parquet is verl's own row (`integrations.verl.data`) in
`verl/<subset>.parquet` instead. Multiple choice and numerical questions only (free-form ones
are rejected at input).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from drawreason.drawing.images import encode_png, image_key
from drawreason.drawing.prompts import Prompts
from drawreason.filters.dedup import EvalSet
from drawreason.filters.scoring import normalize_choice, unwrap_answer
from drawreason.inputs.media import smart_resize
from drawreason.inputs.prepare import PreparedItem
from drawreason.integrations.verl.data import verl_features, verl_record
from drawreason.pipelines.accounting import WriteMetrics
from drawreason.pipelines.io import (
    GroupIntoParts,
    WriteImages,
    WriteParquetFn,
    WriteSortedJsonl,
    join,
)
from drawreason.pipelines.outcomes import KEPT, REJECTED, Outcome, rejection_outcome
from drawreason.pipelines.pool import DropDuplicates, QuestionPool
from drawreason.pipelines.real_data import SampleTrajectories
from drawreason.pipelines.stage import QuestionStageConfig
from drawreason.schemas.layout import (
    PARQUET,
    RL,
    VERL,
    data_file,
    part_count,
    record_file,
    rollouts_dir,
)
from drawreason.schemas.metrics import PASS_RATE, StatKey
from drawreason.schemas.oracle import oracle_json, resize_oracle
from drawreason.schemas.records import Provenance, QAItem, to_json
from drawreason.schemas.rl import (
    DEFAULT_RL_FORMAT,
    OPTION_LETTERS,
    PATCH,
    VERL_FORMAT,
    RLImages,
    RLKeys,
    rl_keys,
    to_rl_record,
)
from drawreason.schemas.sharegpt import image_path
from PIL import Image

STAGE = "rl_data"


@dataclass(frozen=True)
class PassRateConfig:
    """Difficulty filtering by pass rate over `samples` policy samples per question: a sample
    is right when its accuracy reaches `correct_at` (numerical answers score by MRA); a
    question is kept iff min_rate < pass rate < max_rate (the defaults drop exactly the
    questions every sample gets wrong and those every sample gets right). Samples that end in
    `teacher_error` do not count; a question with no counted sample is rejected
    `no_valid_samples`."""

    enabled: bool = False
    samples: int = 8
    correct_at: float = 0.5
    min_rate: float = 0.0
    max_rate: float = 1.0

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"pass_rate samples must be >= 1, got {self.samples}")
        if not 0.0 <= self.min_rate < self.max_rate <= 1.0:
            raise ValueError("pass_rate needs 0 <= min_rate < max_rate <= 1")

    def verdict(self, right: int, counted: int) -> str:
        """ "" to keep, else the rejection reason."""
        if counted == 0:
            return "no_valid_samples"
        rate = right / counted
        if rate <= self.min_rate:
            return "too_hard"
        if rate >= self.max_rate:
            return "too_easy"
        return ""


@dataclass(frozen=True)
class RLDataConfig(QuestionStageConfig):
    """Configuration of the rl_data stage (every key can be set in --config); the keys every
    data stage takes are `DataStageConfig`'s, `teacher` being the policy for pass rates."""

    seed_salt: str = STAGE
    pass_rate: PassRateConfig = field(default_factory=PassRateConfig)
    rl_format: str = DEFAULT_RL_FORMAT  # record profile: vilasr_easyr1 | vilasr | easyr1 | verl
    keys: RLKeys | None = None  # column names; default: those of `rl_format`
    rl_images: RLImages = field(default_factory=RLImages)
    # Generated questions carry their oracle facts into every row (`reward_truth`, verl's
    # `extra_info.oracle`) for the reward's grounding term; false leaves them out.
    oracle: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pass_rate.enabled and not self.teacher.kind:
            raise ValueError(
                "pass_rate needs a policy model to sample: pass --teacher openai|vllm and "
                "--teacher-model (the cold-start checkpoint)"
            )
        rl_keys(self.rl_format)  # raises for an unknown profile

    @property
    def uses_teacher(self) -> bool:
        return self.pass_rate.enabled

    @property
    def verl(self) -> bool:
        """Whether the Parquet is verl's rows (`verl/<subset>.parquet`)."""
        return self.rl_format == VERL_FORMAT

    @property
    def columns(self) -> RLKeys:
        """The RL record's column names: `keys` if set, else the profile's."""
        return self.keys or rl_keys(self.rl_format)


def parquet_features(keys: RLKeys) -> Any:
    """Hugging Face features of the Parquet shards: images embedded as `Image()` in the
    `images` column (or `image_path` when `images` is off); every other column plain."""
    import datasets

    text = datasets.Value("string")
    columns: dict[str, Any] = {"id": text}
    if keys.question:
        columns[keys.question] = text
    if keys.problem:
        columns[keys.problem] = text
    embedded = keys.images or keys.image_path
    if keys.image_path and keys.image_path != embedded:
        columns[keys.image_path] = datasets.List(text)
    columns[embedded] = datasets.List(datasets.Image())
    columns[keys.answer] = text
    if keys.reward_truth:
        columns[keys.reward_truth] = text
    columns["question_type"] = text
    columns["data_type"] = text
    columns["options"] = datasets.List(text)
    columns["grid_size"] = datasets.Value("int32")
    return datasets.Features(columns)


def rl_answer(item: QAItem) -> str:
    """The ground truth as an RL record states it: the option letter for multiple choice (a
    `<answer>` wrapper removed). Raises ValueError when it names none of the item's options."""
    if item.question_type != "multiple choice":
        return unwrap_answer(item.answer)
    letter = normalize_choice(unwrap_answer(item.answer))
    if letter is None or OPTION_LETTERS.find(letter) >= max(len(item.options), 1):
        raise ValueError(
            f"{item.id}: field 'answer' {item.answer!r} is not the letter of one of its "
            f"{len(item.options)} options"
        )
    return letter


DEFAULT_RL_IMAGES = RLImages()


def trainer_size(width: int, height: int, images: RLImages = DEFAULT_RL_IMAGES) -> tuple[int, int]:
    """(width, height) the trainer's Qwen-VL processor resizes an image to at the profile's
    pixel bounds; an image already of that size is left alone by it."""
    h, w = smart_resize(height, width, PATCH, images.min_pixels, images.max_pixels)
    return w, h


def rl_image(image: Image.Image, png: bytes, images: RLImages) -> bytes:
    """The PNG of an RL image at the size the trainer's processor keeps (`trainer_size`)."""
    size = trainer_size(image.width, image.height, images)
    if size == image.size and png:
        return png
    return encode_png(image.resize(size, Image.Resampling.BICUBIC) if size != image.size else image)


@dataclass(frozen=True)
class VerlRows:
    """What the verl rows need besides the question: the turn budget (a question's own, e.g.
    a maze's, else `max_calls`), the image budget and the prompt set."""

    max_calls: int
    max_images: int
    prompts_dir: str = ""


def rl_oracle(prepared: PreparedItem, images: RLImages = DEFAULT_RL_IMAGES) -> str:
    """A question's oracle facts as compact JSON in the pixels of its RL images (resized to
    `trainer_size`), "" when it has none (real data)."""
    if prepared.item.oracle is None:
        return ""
    sizes = [(image.width, image.height) for image in prepared.images]
    shown = [trainer_size(w, h, images) for w, h in sizes]
    return oracle_json(resize_oracle(prepared.item.oracle, sizes, shown))


class RLRecordFn(beam.DoFn):
    """(PreparedItem, pass-rate tally or None) -> the kept Outcome with the JSONL record, the
    images, and the Parquet row with embedded image bytes (verl's row with `verl`)."""

    def __init__(
        self,
        keys: RLKeys,
        records_per_part: int,
        images: RLImages,
        output: str,
        verl: VerlRows | None = None,
    ) -> None:
        self.keys = keys
        self.records_per_part = records_per_part
        self.images = images
        self.output = output
        self.verl = verl

    def setup(self) -> None:
        self.prompts = Prompts.load(self.verl.prompts_dir or None) if self.verl else None

    def process(
        self, element: tuple[PreparedItem, dict[str, Any] | None], counts: dict[str, int]
    ) -> Iterator[Any]:
        prepared, tally = element
        single = data_file(RL, prepared.subset)
        parts = part_count(counts[single], self.records_per_part)
        given = list(prepared.pngs) or [b""] * len(prepared.images)
        pngs = [
            rl_image(image, png, self.images)
            for image, png in zip(prepared.images, given, strict=True)
        ]
        names = [image_key(png) for png in pngs]
        paths = [image_path(name) for name in names]  # relative to the run directory
        jsonl = record_file(single, prepared.item.id, parts)
        if self.images.paths == "absolute":
            shown = [join(self.output, path) for path in paths]
        else:
            shown = [posixpath.relpath(path, posixpath.dirname(jsonl)) for path in paths]
        try:
            answer = rl_answer(prepared.item)
            oracle = rl_oracle(prepared, self.images)
            record = to_rl_record(prepared.item, shown, self.keys, answer, oracle)
        except ValueError as exc:
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                rejection_outcome(STAGE, prepared.subset, prepared.item.id, "bad_answer", str(exc)),
            )
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        extra: tuple[StatKey, ...] = ()
        usage: tuple[tuple[str, int], ...] = ()
        if tally is not None:
            extra = (StatKey(PASS_RATE, prepared.subset, f"{tally['rate']:.3f}"),)
            usage = tuple(sorted(tally["usage"].items()))
        yield Outcome(
            KEPT, STAGE, prepared.subset, prepared.item.id, line, extra_keys=extra, usage=usage
        )
        for name, png in zip(names, pngs, strict=True):
            yield beam.pvalue.TaggedOutput("images", (name, png))
        if self.verl is not None:
            sizes = [trainer_size(im.width, im.height, self.images) for im in prepared.images]
            row = verl_record(
                prepared.item,
                pngs,
                sizes,
                subset=prepared.subset,
                index=0,  # the row's position in its file, set by VerlIndex
                max_calls=prepared.max_calls or self.verl.max_calls,
                max_images=self.verl.max_images,
                prompts=self.prompts,
                answer=answer,
                oracle=oracle,
            )
            folder = VERL
        else:
            row = dict(record)
            embedded = self.keys.images or self.keys.image_path
            row[embedded] = [
                {"bytes": png, "path": path} for png, path in zip(pngs, shown, strict=True)
            ]
            folder = RL
        relpath = data_file(folder, prepared.subset, PARQUET)
        yield beam.pvalue.TaggedOutput("parquet", (relpath, (prepared.item.id, row)))


def _record_files(subset: str, verl: bool) -> list[tuple[str, int]]:
    """(file, 1) for each file a question of `subset` is written to: its JSONL and Parquet."""
    parquet = data_file(VERL if verl else RL, subset, PARQUET)
    return [(data_file(RL, subset), 1), (parquet, 1)]


def verl_index(element: tuple[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """A verl Parquet file's rows sorted by id, `extra_info.index` their position in it."""
    relpath, rows = element
    out = []
    for i, (item_id, row) in enumerate(sorted(rows, key=lambda kv: kv[0])):
        out.append((item_id, {**row, "extra_info": {**row["extra_info"], "index": i}}))
    return relpath, out


class PassRateDecideFn(beam.DoFn):
    """Joins a question with its K sample votes and keeps or rejects it."""

    def __init__(self, config: PassRateConfig) -> None:
        self.config = config

    def process(self, element: tuple[tuple[str, str], dict[str, list]]) -> Iterator[Any]:
        (subset, item_id), groups = element
        votes = groups["vote"]
        right = sum(1 for vote, _ in votes if vote is True)
        counted = sum(1 for vote, _ in votes if vote is not None)
        usage: dict[str, int] = {}
        for _, vote_usage in votes:
            for name, n in vote_usage:
                usage[name] = usage.get(name, 0) + n
        rate = right / counted if counted else 0.0
        for prepared in groups["item"]:
            why = self.config.verdict(right, counted)
            if why:
                detail = f"{right} of {counted} counted samples right ({len(votes)} sampled)"
                outcome = rejection_outcome(STAGE, subset, item_id, why, detail)
                yield beam.pvalue.TaggedOutput(
                    REJECTED,
                    Outcome(
                        outcome.status,
                        outcome.stage,
                        outcome.subset,
                        outcome.sample_id,
                        outcome.line,
                        outcome.reason,
                        extra_keys=(StatKey(PASS_RATE, subset, f"{rate:.3f}"),),
                        usage=tuple(sorted(usage.items())),
                    ),
                )
            else:
                yield prepared, {"rate": rate, "usage": usage}


def _vote(bundle: Any, correct_at: float) -> tuple[tuple[str, str], tuple[bool | None, tuple]]:
    trajectory = bundle.trajectory
    key = (trajectory.subset, trajectory.meta["question_id"])
    if trajectory.termination == "teacher_error":
        return key, (None, bundle.usage)
    return key, (trajectory.scores.get("accuracy", 0.0) >= correct_at, bundle.usage)


def build_pipeline(
    p: beam.Pipeline,
    config: RLDataConfig,
    output: str,
    provenance: Provenance,
    eval_set: EvalSet | None = None,
) -> beam.PCollection:
    """Wire the stage into `p`; returns the single-element PCollection of the metrics dict."""
    expected, items, rejected, errors = p | "Pool" >> QuestionPool(
        STAGE,
        config.allocation(),
        config.generator_configs(),
        config.seed,
        config.inputs,
        config.media,
        units=1,
        per_sample=False,
        salt=config.seed_salt,
        oracle=config.oracle,
    )
    rejected_all, errors_all = [rejected], [errors]
    if config.dedup.enabled:
        items, dropped = items | "Dedup" >> DropDuplicates(
            STAGE, config.dedup, eval_set or EvalSet(), units=1, per_sample=False
        )
        rejected_all.append(dropped)
    if config.pass_rate.enabled:
        teacher = config.teacher
        bundles, rollout_errors = items | "Policy" >> SampleTrajectories(
            STAGE,
            config.pass_rate.samples,
            teacher,
            config.teacher_cache(output),
            dataclasses.replace(provenance, producer=f"policy:{teacher.kind}:{teacher.model}"),
            config.seed,
            config.max_images,
            config.prompts_dir,
        )
        # Every sampled trajectory is kept, with its images, for audit and reuse.
        _ = (
            bundles
            | "RolloutLines"
            >> beam.Map(
                lambda b: (
                    data_file(rollouts_dir(STAGE), b.trajectory.subset),
                    (b.trajectory.id, to_json(b.trajectory)),
                )
            )
            | "WriteRollouts" >> WriteSortedJsonl(output, config.records_per_part)
        )
        rollout_images = bundles | "RolloutImages" >> beam.FlatMap(lambda b: b.images)
        votes = bundles | "Vote" >> beam.Map(_vote, config.pass_rate.correct_at)
        failed_votes = rollout_errors | "FailedVote" >> beam.Map(
            lambda o: ((o.subset, o.sample_id.rsplit("#", 1)[0]), (None, ()))
        )
        keyed = items | "KeyItems" >> beam.Map(lambda it: ((it.subset, it.item.id), it))
        decided = (
            {"item": keyed, "vote": (votes, failed_votes) | "AllVotes" >> beam.Flatten()}
            | "JoinVotes" >> beam.CoGroupByKey()
            | "PassRate"
            >> beam.ParDo(PassRateDecideFn(config.pass_rate)).with_outputs(REJECTED, main="kept")
        )
        to_write = decided.kept
        rejected_all.append(decided[REJECTED])
    else:
        rollout_images = None
        to_write = items | "NoTally" >> beam.Map(lambda it: (it, None))
    # The parts of a subset's files are chosen from its questions before the records are made:
    # a JSONL record's image paths are relative to its part's folder.
    verl = config.verl
    counts = (
        to_write
        | "FilesPerItem" >> beam.FlatMap(lambda e: _record_files(e[0].subset, verl))
        | "CountPerFile" >> beam.CombinePerKey(sum)
    )
    records = to_write | "RLRecord" >> beam.ParDo(
        RLRecordFn(
            config.columns,
            config.records_per_part,
            config.rl_images,
            output,
            VerlRows(config.teacher.max_calls, config.max_images, config.prompts_dir)
            if config.verl
            else None,
        ),
        beam.pvalue.AsDict(counts),
    ).with_outputs("images", "parquet", REJECTED, main=KEPT)
    rejected_all.append(records[REJECTED])
    outcomes = (records[KEPT], *rejected_all, *errors_all) | "Outcomes" >> beam.Flatten()
    parts = config.records_per_part
    kept_lines = records[KEPT] | "RLLines" >> beam.Map(
        lambda o: (data_file(RL, o.subset), (o.sample_id, o.line))
    )
    _ = kept_lines | "WriteRL" >> WriteSortedJsonl(output, parts, counts)
    other = (*rejected_all, *errors_all) | "NotKept" >> beam.Flatten()
    _ = (
        other
        | "ByFile" >> beam.Map(lambda o: (o.relpath(), (o.sample_id, o.line)))
        | "WriteJsonl" >> WriteSortedJsonl(output, parts)
    )
    images = [records["images"]] if rollout_images is None else [records["images"], rollout_images]
    _ = images | "AllImages" >> beam.Flatten() | "WriteImages" >> WriteImages(output)
    grouped = records["parquet"] | "ParquetParts" >> GroupIntoParts(parts, counts)
    if config.verl:
        features = verl_features()
        grouped = grouped | "VerlIndex" >> beam.Map(verl_index)
    else:
        features = parquet_features(config.columns)
    _ = grouped | "WriteParquet" >> beam.ParDo(WriteParquetFn(output, features))
    return (outcomes, expected) | "Metrics" >> WriteMetrics(output, STAGE, sft=False)
