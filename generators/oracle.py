"""Turns a generated sample into a rendered, scored trajectory by executing its oracle replies."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.drawing.environment import EnvConfig, run_replies
from drawreason.drawing.images import encode_png, image_key
from drawreason.drawing.prompts import Prompts
from drawreason.filters.scoring import score_trajectory
from drawreason.generators.base import GeneratedSample
from drawreason.generators.registry import get_generator
from drawreason.generators.seeding import sample_rng, stage_seed
from drawreason.schemas.oracle import OracleFacts
from drawreason.schemas.records import Provenance, QAItem, RenderedImage, Trajectory
from PIL import Image


@dataclass(frozen=True)
class SampleBundle:
    """A trajectory plus the PNG bytes of every image it references, keyed by content, and
    for teacher trajectories this run's teacher usage (requests, cache hits, retries, tokens):
    counted in metrics.json, never written into the record, so a resumed run writes the same
    records as an uninterrupted one."""

    trajectory: Trajectory
    images: tuple[tuple[str, bytes], ...]
    usage: tuple[tuple[str, int], ...] = ()


def sample_id(subset: str, index: int, salt: str = "") -> str:
    """`<subset>-<salt>-<index>` (`<subset>-<index>` without a salt): stages that draw other
    questions with another salt give them other ids too."""
    return f"{subset}-{salt}-{index:08d}" if salt else f"{subset}-{index:08d}"


def _generate(
    subset: str, index: int, run_seed: int, salt: str, generator_config: Any
) -> tuple[str, GeneratedSample]:
    """(id, sample) of question `index`: its generator is seeded from
    (stage_seed(run seed, salt), the unsalted id) and the id carries the salt, so another salt
    gives other questions under other ids, and an empty salt gives exactly the questions and
    ids of runs made before stages were salted."""
    generate = get_generator(subset).generate
    rng = sample_rng(stage_seed(run_seed, salt), sample_id(subset, index))
    sid = sample_id(subset, index, salt)
    return sid, generate(sid, rng, generator_config)


def oracle_facts(subset: str, sample: GeneratedSample) -> OracleFacts | None:
    """The oracle facts of a sample of `subset`, None for a generator that declares none."""
    facts = get_generator(subset).facts
    return facts(sample) if facts else None


def _item(
    sid: str,
    subset: str,
    sample: GeneratedSample,
    keys: Sequence[str],
    license: str,
    with_oracle: bool = False,
) -> QAItem:
    return QAItem(
        id=sid,
        images=tuple(keys),
        question=sample.question,
        question_type=sample.question_type,
        answer=sample.answer,
        options=sample.options,
        data_type=sample.data_type,
        grid_size=sample.grid_size,
        source=f"generated:{subset}",
        license=license,
        oracle=oracle_facts(subset, sample) if with_oracle else None,
    )


def build_oracle_sample(
    subset: str,
    index: int,
    run_seed: int,
    generator_config: Any,
    prompts: Prompts,
    provenance: Provenance,
    max_images: int = 42,
    license: str = "apache-2.0",
    salt: str = "",
    with_oracle: bool = False,
) -> SampleBundle:
    """Generate sample `index` of `subset`, run its oracle replies, encode and score it.

    Deterministic in (subset, index, run_seed, salt, configs). With `with_oracle` the item
    carries its oracle facts (its generator's `facts`). Raises ValueError if the generator's
    script does not finish a trajectory (a generator bug surfaced as a per-record error).
    """
    sid, sample = _generate(subset, index, run_seed, salt, generator_config)
    env_config = EnvConfig(max_calls=sample.max_calls, max_images=max_images)
    rollout = run_replies(sample.images, sample.replies, env_config, prompts)

    encoded = [encode_png(img) for img in rollout.images]
    keys = [image_key(png) for png in encoded]
    n_inputs = len(sample.images)
    item = _item(sid, subset, sample, keys[:n_inputs], license, with_oracle)
    rendered = tuple(
        RenderedImage(
            index=i + 1,
            parent=rollout.parents[i],
            key=keys[i],
            width=rollout.images[i].width,
            height=rollout.images[i].height,
        )
        for i in range(n_inputs, len(keys))
    )
    width, height = sample.images[0].size
    trajectory = Trajectory(
        item=item,
        subset=subset,
        system_prompt=prompts.system(width, height, sample.max_calls, len(sample.images)),
        user_prompt=prompts.question(
            sample.question,
            sample.options,
            sample.question_type,
            [img.size for img in sample.images],
            sample.data_type,
        ),
        input_sizes=tuple(img.size for img in sample.images),
        turns=rollout.turns,
        rendered=rendered,
        termination=rollout.termination,
        provenance=provenance,
        meta=dict(sample.meta),
    )
    trajectory = dataclasses.replace(trajectory, scores=score_trajectory(trajectory))
    unique = dict(zip(keys, encoded, strict=True))
    return SampleBundle(trajectory=trajectory, images=tuple(unique.items()))


@dataclass(frozen=True)
class GeneratedQuestion:
    """A generated question without its trace (for RL pools and policy sampling): the item
    (image references are the content keys of `pngs`), the input images, their PNG bytes,
    and the call budget its kind of sample is run with."""

    item: QAItem
    images: tuple[Image.Image, ...]
    pngs: tuple[bytes, ...]
    max_calls: int


def generate_question(
    subset: str,
    index: int,
    run_seed: int,
    generator_config: Any,
    license: str = "apache-2.0",
    salt: str = "",
    with_oracle: bool = False,
) -> GeneratedQuestion:
    """Question `index` of `subset`: the same question, images and id `build_oracle_sample`
    makes for that index, seed and salt, without running its trace; with `with_oracle` the
    item carries its oracle facts, for grounding a model's rollout."""
    sid, sample = _generate(subset, index, run_seed, salt, generator_config)
    pngs = tuple(encode_png(image) for image in sample.images)
    item = _item(sid, subset, sample, [image_key(png) for png in pngs], license, with_oracle)
    return GeneratedQuestion(item, tuple(sample.images), pngs, sample.max_calls)
