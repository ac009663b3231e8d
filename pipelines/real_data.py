"""Real data and model rollouts, shared by the stages: reading sources and preparing items
(ReadRecordsFn, PrepareItemFn: rejected for unusable media or free-form questions, errors for
malformed records), and SampleTrajectories: K jobs per item -> RolloutFn (one teacher per
worker process; up to `max_in_flight` trajectories open, each refilled as one ends; replies
cached for resume) -> SampleBundles for the stage's judge.
"""

from __future__ import annotations

import concurrent.futures
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.shared import Shared
from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.images import encode_png
from drawreason.drawing.prompts import Prompts
from drawreason.inputs.adapters import InputRecordError, record_key
from drawreason.inputs.media import InputRejected, MediaConfig
from drawreason.inputs.prepare import PreparedItem, adapt, build_item, load_media, record_id
from drawreason.inputs.sources import InputConfig, read_records
from drawreason.pipelines.accounting import ProgressLog
from drawreason.pipelines.outcomes import ERROR, REJECTED, error_outcome, rejection_outcome
from drawreason.rollout.assemble import build_teacher_sample
from drawreason.rollout.cache import ReplyCache
from drawreason.rollout.conversation import RolloutJob, RolloutRecord
from drawreason.rollout.service import RolloutService
from drawreason.schemas.records import Provenance
from drawreason.teachers.factory import TeacherConfig, build_teacher

_LOG = logging.getLogger(__name__)
USAGE_COUNTERS = (
    "teacher_requests",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "retries",
    "teacher_errors",
)


def trajectory_key(item_id: str, sample: int) -> str:
    return f"{item_id}#{sample}"


def unit_key(item_id: str, unit: int, per_sample: bool) -> str:
    """The outcome id of unit `unit` of a question: `<id>#<sample>` when a question stands for
    sampled trajectories, the question id itself when it stands for one record (RL)."""
    return trajectory_key(item_id, unit) if per_sample else item_id


class ReadRecordsFn(beam.DoFn):
    """(source index, position, raw record) for every record of one source, in order."""

    def __init__(self, inputs: Sequence[InputConfig]) -> None:
        self.inputs = tuple(inputs)

    def process(self, index: int) -> Iterator[tuple[int, int, Any]]:
        config = self.inputs[index]
        _LOG.warning("reading %s:%s as subset %s", config.kind, config.path, config.subset)
        for position, record in read_records(config):
            yield index, position, record


class PrepareItemFn(beam.DoFn):
    """A raw record -> a PreparedItem, or K rejections (unusable media, free-form question) or
    K error records (a malformed record), one per trajectory it would have made."""

    def __init__(
        self,
        stage: str,
        inputs: Sequence[InputConfig],
        media: MediaConfig,
        samples: int,
        per_sample: bool = True,
    ) -> None:
        self.stage = stage
        self.inputs = tuple(inputs)
        self.media = media
        self.samples = samples
        self.per_sample = per_sample

    def setup(self) -> None:
        self.progress = ProgressLog(f"{self.stage}: real-data items prepared")

    def process(self, element: tuple[int, int, Any]) -> Iterator[Any]:
        index, position, record = element
        config = self.inputs[index]
        subset = config.subset
        item_id = record_key(config.record_format, record, record_id(subset, position))
        try:
            source = adapt(config, position, record)
            images, refs = load_media(source, config.root, self.media)
            item = build_item(config, source, refs)
        except InputRejected as exc:
            beam.metrics.Metrics.counter(self.stage, f"input_rejected_{exc.reason}").inc()
            for s in range(self.samples):
                key = unit_key(item_id, s, self.per_sample)
                yield beam.pvalue.TaggedOutput(
                    REJECTED, rejection_outcome(self.stage, subset, key, exc.reason, exc.detail)
                )
            return
        except (InputRecordError, ValueError, OSError) as exc:
            beam.metrics.Metrics.counter(self.stage, "input_errors").inc()
            for s in range(self.samples):
                key = unit_key(item_id, s, self.per_sample)
                yield beam.pvalue.TaggedOutput(
                    ERROR, error_outcome(self.stage, subset, key, "prepare", exc)
                )
            return
        self.progress.tick()
        pngs = tuple(encode_png(image) for image in images)  # once, for all K samples
        yield PreparedItem(subset, item, tuple(images), tuple(refs), pngs=pngs)


class RolloutFn(beam.DoFn):
    """Rolls out (item, sample index) jobs against the teacher and assembles each finished
    trajectory, with continuous refill: `process` hands its job to the worker's RolloutService
    and returns at once, so up to `teacher.max_in_flight` trajectories stay open; it blocks only
    while that many of its own are unfinished, and emits every finished one as it goes. Only
    the end of a bundle waits for the rest (Beam commits a bundle's outputs together).

    The service (teacher, reply cache, event loop; a vLLM engine) is one per worker process,
    shared by every instance of this DoFn there through `apache_beam.utils.shared.Shared`.
    Outputs come in completion order; every writer sorts by id, so files are byte-stable.

    Beam's async DoFn wrapper (`apache_beam.transforms.async_dofn.AsyncWrapper`) would do the
    same job less well here: it needs keyed input, keeps elements in state and commits finished
    ones from a real-time timer (every 5 s by default; the local runner fires timers on its
    first worker only), while this DoFn emits a trajectory the moment it ends. `BatchElements`
    makes exactly the batches whose longest member holds the rest back. Beam shares work
    between workers by splitting splittable sources, which a shuffled PCollection is not;
    instead each worker opens many trajectories (`teacher.max_in_flight`), so both workers'
    trajectories sit in the engine's queue from the start and the split matters little.
    """

    def __init__(
        self,
        stage: str,
        teacher: TeacherConfig,
        cache: str,
        provenance: Provenance,
        seed: int,
        max_images: int,
        prompts_dir: str,
    ) -> None:
        self.stage = stage
        self.teacher_config = teacher
        self.cache_location = cache
        self.provenance = provenance
        self.seed = seed
        self.max_images = max_images
        self.prompts_dir = prompts_dir
        self.max_open = teacher.max_in_flight
        self._shared = Shared()  # its key is pickled along: one service per process

    def _make_service(self) -> RolloutService:
        teacher = build_teacher(self.teacher_config, self.max_images)
        return RolloutService(teacher, ReplyCache(self.cache_location), self.max_open)

    def setup(self) -> None:
        for name in ("httpx", "httpx2", "openai"):  # one INFO line per request otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        service = self._shared.acquire(self._make_service)
        if service.closed:  # an earlier user of this process released it
            service = self._shared.acquire(self._make_service, tag=uuid.uuid4().hex)
        self.service = service.acquire()
        self.prompts = Prompts.load(self.prompts_dir or None)
        self.env_config = EnvConfig(self.teacher_config.max_calls, self.max_images)
        self.params = self.teacher_config.sampling(self.seed)
        self.progress = ProgressLog(f"{self.stage}: teacher trajectories")

    def teardown(self) -> None:
        service = getattr(self, "service", None)
        if service is not None:
            self.service = None
            service.release()

    def start_bundle(self) -> None:
        self._open: dict[concurrent.futures.Future, PreparedItem] = {}

    def _job(self, prepared: PreparedItem, sample: int) -> RolloutJob:
        item = prepared.item
        env_config = self.env_config
        if prepared.max_calls:  # e.g. mazes run with their own budget
            env_config = EnvConfig(prepared.max_calls, self.max_images)
        sizes = [image.size for image in prepared.images]
        system = self.prompts.system(*sizes[0], env_config.max_calls, len(sizes))
        user = self.prompts.question(
            item.question, item.options, item.question_type, sizes, item.data_type
        )
        key = trajectory_key(item.id, sample)
        return RolloutJob(
            key, prepared.images, system, user, sample, env_config, pngs=prepared.pngs
        )

    def process(self, element: tuple[PreparedItem, int]) -> Iterator[Any]:
        prepared, sample = element
        job = self._job(prepared, sample)
        future = self.service.submit(job, self.params, self.env_config, self.prompts)
        self._open[future] = prepared
        done: set = {f for f in self._open if f.done()}
        if len(self._open) >= self.max_open and not done:
            done, _ = concurrent.futures.wait(
                self._open, return_when=concurrent.futures.FIRST_COMPLETED
            )
        for future in done:
            yield from self._finish(future.result(), self._open.pop(future))

    def finish_bundle(self) -> Iterator[Any]:
        while self._open:
            done, _ = concurrent.futures.wait(
                self._open, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                for out in self._finish(future.result(), self._open.pop(future)):
                    if isinstance(out, beam.pvalue.TaggedOutput):
                        yield beam.pvalue.TaggedOutput(
                            out.tag, GlobalWindows.windowed_value(out.value)
                        )
                    else:
                        yield GlobalWindows.windowed_value(out)

    def _finish(self, record: RolloutRecord, prepared: PreparedItem) -> Iterator[Any]:
        for name in USAGE_COUNTERS:
            if record.usage.get(name):
                beam.metrics.Metrics.counter(self.stage, name).inc(record.usage[name])
        try:
            bundle = build_teacher_sample(
                record,
                prepared.item,
                prepared.subset,
                self.provenance,
                meta={"question_id": prepared.item.id, "source_media": list(prepared.media)},
            )
        except ValueError as exc:
            yield beam.pvalue.TaggedOutput(
                ERROR, error_outcome(self.stage, prepared.subset, record.key, "assemble", exc)
            )
            return
        self.progress.tick()
        yield bundle


def expand_samples(prepared: PreparedItem, samples: int) -> Iterator[tuple[PreparedItem, int]]:
    for s in range(samples):
        yield prepared, s


class SampleTrajectories(beam.PTransform):
    """PreparedItems in; (SampleBundles, error outcomes) out: `samples` trajectories per item
    rolled out by the teacher. Every job goes straight to RolloutFn, which keeps up to
    `teacher.max_in_flight` trajectories open per worker and refills a slot the moment a
    trajectory ends (no fixed batches, so no batch waits for its longest trajectory)."""

    def __init__(
        self,
        stage: str,
        samples: int,
        teacher: TeacherConfig,
        cache: str,
        provenance: Provenance,
        seed: int,
        max_images: int,
        prompts_dir: str,
    ) -> None:
        super().__init__()
        self.samples = samples
        self.rollout = RolloutFn(stage, teacher, cache, provenance, seed, max_images, prompts_dir)

    def expand(self, items: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        rolled = (
            items
            | "Samples" >> beam.FlatMap(expand_samples, self.samples)
            | "Rollout" >> beam.ParDo(self.rollout).with_outputs(ERROR, main="bundles")
        )
        return rolled.bundles, rolled[ERROR]
