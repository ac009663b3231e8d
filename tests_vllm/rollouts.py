"""Jobs and structural checks shared by the vLLM teacher tests (the text is gibberish: the
checks look at structure, usage and images, never at what the model wrote)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.assemble import build_teacher_sample
from drawreason.rollout.conversation import RolloutJob, RolloutRecord, jobs_from_images
from drawreason.schemas.records import TERMINATIONS, Provenance, QAItem
from drawreason.teachers.base import SamplingParams
from PIL import Image

from tests_vllm.forced import (
    FORCED_ANSWER,
    FORCED_TAG,
    FORCED_TURNS,
    expected_images_per_turn,
    expected_parents,
)

SERVED_NAME = "tiny-qwen2vl"  # the model name the test server answers to
PROMPTS = Prompts()
ENV_CONFIG = EnvConfig()  # 10 calls
OPTIONS = ("cup", "plate")
# Free gibberish: a few tokens, so nearly every turn hits the limit.
FREE_PARAMS = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=12, seed=7)
# Forced turns are ~80-250 tokens with the tiny tokenizer; room to spare so they end on "stop".
FORCED_PARAMS = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=512, seed=11)
PROVENANCE = Provenance("teacher:vllm:tiny-qwen2vl", "cfg", 0, "test")
FINISH_REASONS = {"stop", "length"}


def images(n: int, size: tuple[int, int], seed: int) -> list[Image.Image]:
    """`n` random RGB images of `size` (width, height)."""
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")
        for _ in range(n)
    ]


def item_jobs(
    tag: str, n_images: int, samples: int, forced: bool = False, seed: int = 0
) -> list[RolloutJob]:
    """`samples` jobs for one question about `n_images` images built with our prompts; a forced
    question carries FORCED_TAG (tests_vllm/forced.py)."""
    ims = images(n_images, (64 + 8 * seed, 48), seed)
    question = f"[{tag}]{' ' + FORCED_TAG if forced else ''} Which object is on the left?"
    user = PROMPTS.question(question, OPTIONS, "multiple choice", [im.size for im in ims])
    system = PROMPTS.system(*ims[0].size, ENV_CONFIG.max_calls)
    return jobs_from_images(tag, ims, system, user, samples)


def mixed_jobs(forced: bool) -> list[RolloutJob]:
    """Two single-image items and one 3-view item, K = 3, 3 and 2 samples."""
    return [
        *item_jobs("single-a", 1, 3, forced, seed=1),
        *item_jobs("single-b", 1, 3, forced, seed=2),
        *item_jobs("multi-view", 3, 2, forced, seed=3),
    ]


def item_of(job: RolloutJob) -> QAItem:
    refs = tuple(f"img{i}.png" for i in range(len(job.images)))
    return QAItem(
        job.key,
        refs,
        "Which object is on the left?",
        "multiple choice",
        FORCED_ANSWER,
        OPTIONS,
        "vqa" if len(refs) == 1 else "spatial",
    )


def check_structure(jobs: Sequence[RolloutJob], records: Sequence[RolloutRecord]) -> None:
    """What every finished rollout of a live teacher satisfies, whatever the text."""
    assert [r.key for r in records] == [j.key for j in jobs]
    for job, record in zip(jobs, records, strict=True):
        n = len(job.images)
        assert record.termination in TERMINATIONS, record.termination
        assert record.termination != "teacher_error", record.error
        assert 1 <= len(record.turns) <= ENV_CONFIG.max_calls
        assert record.num_inputs == n and record.sample_index == job.sample_index
        assert len(record.turn_logs) == len(record.turns)
        assert record.usage["teacher_requests"] == len(record.turns)
        assert record.usage["cache_hits"] == 0 and record.usage["teacher_errors"] == 0
        assert record.usage["prompt_tokens"] == sum(t.prompt_tokens for t in record.turn_logs)
        seen = n
        for turn, log in zip(record.turns, record.turn_logs, strict=True):
            assert log.finish_reason in FINISH_REASONS and turn.finish_reason == log.finish_reason
            assert log.prompt_tokens > 0 and log.completion_tokens > 0
            assert len(log.request["image_sha256"]) == seen  # every image so far, once each
            seen += len(turn.new_images)
        assert len(record.pngs) == len(record.parents) == seen
        assert record.parents[:n] == (0,) * n
        if record.termination == "turn_truncated":
            assert record.turn_logs[-1].finish_reason == "length"


def check_free(records: Sequence[RolloutRecord]) -> None:
    """Gibberish ends the trajectory at its first turn: cut off by the token limit
    (turn_truncated) or, if the model stopped early, without an Action line (no_action)."""
    for record in records:
        assert len(record.turns) == 1
        finish = record.turn_logs[0].finish_reason
        assert record.termination == ("turn_truncated" if finish == "length" else "no_action")
        assert record.turn_logs[0].completion_tokens <= FREE_PARAMS.max_tokens
    assert any(r.termination == "turn_truncated" for r in records)


def check_forced(jobs: Sequence[RolloutJob], records: Sequence[RolloutRecord]) -> None:
    """Forced trajectories: box(es), a line on the last rendered image, the answer."""
    for job, record in zip(jobs, records, strict=True):
        n = len(job.images)
        assert record.termination == "answered"
        assert [t.action for t in record.turns] == ["Object Mapper", "Path Tracer", "Answer"]
        assert len(record.turns) == FORCED_TURNS
        assert [len(log.request["image_sha256"]) for log in record.turn_logs] == (
            expected_images_per_turn(n)
        )
        assert record.parents == expected_parents(n)
        assert [log.finish_reason for log in record.turn_logs] == ["stop"] * FORCED_TURNS
        assert all(t.error == "" and t.format_issues == () for t in record.turns)
        # each request carries the whole conversation so far, images included
        prompts = [log.prompt_tokens for log in record.turn_logs]
        assert prompts == sorted(prompts) and len(set(prompts)) == FORCED_TURNS


def check_samples(jobs: Sequence[RolloutJob], records: Sequence[RolloutRecord]) -> None:
    """build_teacher_sample turns each record into a Trajectory with all its images."""
    for job, record in zip(jobs, records, strict=True):
        bundle = build_teacher_sample(record, item_of(job), "teacher_vllm", PROVENANCE)
        trajectory = bundle.trajectory
        n = record.num_inputs
        assert trajectory.termination == record.termination
        assert len(trajectory.image_keys) == len(record.pngs)
        assert {key for key, _ in bundle.images} == set(trajectory.image_keys)
        assert [r.parent for r in trajectory.rendered] == list(record.parents[n:])
        assert len(trajectory.meta["turn_logs"]) == len(record.turns)
        assert trajectory.meta["teacher_tokens"] == {
            "prompt": record.usage["prompt_tokens"],
            "completion": record.usage["completion_tokens"],
        }
        if record.termination == "answered":
            assert trajectory.scores["accuracy"] == 1.0 and trajectory.scores["format"] == 1.0
